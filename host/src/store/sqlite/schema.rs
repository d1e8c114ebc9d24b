//! Schema migrations, applied in order and tracked in `PRAGMA user_version`.

use rusqlite::Connection;

/// Each entry moves the schema one version forward. Never edit a released
/// migration; append a new one.
const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE inbox (
    id INTEGER PRIMARY KEY,
    connector TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    method TEXT NOT NULL,
    url TEXT NOT NULL,
    headers TEXT NOT NULL,
    body BLOB NOT NULL,
    received_at INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'dead')),
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    processed_at INTEGER,
    UNIQUE (connector, delivery_id)
);
CREATE INDEX inbox_pending ON inbox (connector, status, id);

CREATE TABLE dead_letters (
    inbox_id INTEGER PRIMARY KEY REFERENCES inbox (id),
    error TEXT NOT NULL,
    plugin_sha256 TEXT NOT NULL,
    failed_at INTEGER NOT NULL
);

CREATE TABLE accounts (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    domain TEXT,
    tax_id TEXT,
    industry TEXT,
    employees INTEGER,
    country TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE account_refs (
    source TEXT NOT NULL,
    external_id TEXT NOT NULL,
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    version INTEGER NOT NULL,
    PRIMARY KEY (source, external_id)
);
CREATE INDEX account_refs_account ON account_refs (account_id);

CREATE TABLE contacts (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    external_id TEXT NOT NULL,
    account_id INTEGER REFERENCES accounts (id),
    email TEXT,
    first_name TEXT,
    last_name TEXT,
    role TEXT,
    version INTEGER NOT NULL,
    UNIQUE (source, external_id)
);
CREATE INDEX contacts_account ON contacts (account_id);

-- Processed effects of purchases and refunds: what each purchase earned,
-- which refunds were applied and how much was reversed.
CREATE TABLE purchases (
    source TEXT NOT NULL,
    external_id TEXT NOT NULL,
    account_id INTEGER REFERENCES accounts (id),
    record TEXT NOT NULL,
    PRIMARY KEY (source, external_id)
);

CREATE TABLE ledger (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    kind TEXT NOT NULL,
    points INTEGER NOT NULL,
    effect_key TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL,
    reference TEXT NOT NULL,
    rule_version TEXT NOT NULL,
    amount TEXT,
    currency TEXT,
    rate TEXT,
    created_at INTEGER NOT NULL,
    reason TEXT,
    -- SHA-256 over this entry and the previous entry's hash of the same
    -- account: editing or deleting a row breaks the chain.
    hash TEXT NOT NULL
);
CREATE INDEX ledger_account ON ledger (account_id, id);

-- Admin API requests by Idempotency-Key: the same key and body get the
-- first answer again; the same key with another body is a conflict.
CREATE TABLE idempotency_keys (
    key TEXT PRIMARY KEY,
    request_sha256 TEXT NOT NULL,
    ledger_id INTEGER NOT NULL REFERENCES ledger (id),
    created_at INTEGER NOT NULL
);

CREATE TABLE connector_state (
    connector TEXT NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (connector, key)
);
"#];

/// Brings the schema up to date.
pub(crate) fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    let current = usize::try_from(current).unwrap_or(0);
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(
            None,
            "user_version",
            i64::try_from(index + 1).unwrap_or(i64::MAX),
        )?;
        tx.commit()?;
    }
    Ok(())
}
