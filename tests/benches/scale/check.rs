//! The bulk writer checked against the daemon: the same requests, sent to a
//! real daemon through `POST /api/v1/events` and written in bulk into
//! another database, must leave the same rows in every table. Only what
//! depends on the moment of processing differs and is left out: the
//! processing times (`created_at`, `since`, `at`, ...) and the ledger
//! hashes, which cover `created_at` and which `loyaltyd ledger verify`
//! checks instead; and the daemon's leases and job runs.

use std::path::Path;

use anyhow::{Context as _, ensure};
use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags};

/// The tables the stream writes, the columns compared and their order.
const TABLES: [(&str, &str, &str); 12] = [
    (
        "accounts",
        "id, name, domain, tax_id, industry, employees, country, tax_key, domain_key, tags, membership, merged_into, annual_revenue, annual_revenue_currency",
        "id",
    ),
    (
        "account_refs",
        "source, external_id, account_id, version",
        "source, external_id",
    ),
    (
        "account_claims",
        "system, external_id, account_id",
        "system, external_id",
    ),
    (
        "contacts",
        "id, source, external_id, account_id, email, first_name, last_name, role, version",
        "id",
    ),
    (
        "purchases",
        "source, external_id, account_id, placed_at, record",
        "source, external_id",
    ),
    (
        "ledger",
        "id, account_id, kind, points, effect_key, source, reference, rule_version, amount, currency, rate, occurred_at, reason",
        "id",
    ),
    ("tier_states", "account_id, tier, below_since", "account_id"),
    (
        "tier_history",
        "id, account_id, from_tier, to_tier, kind, spend",
        "id",
    ),
    (
        "membership_history",
        "id, account_id, from_status, to_status",
        "id",
    ),
    (
        "inbox",
        "id, connector, delivery_id, topic, method, url, status, attempts, last_error",
        "id",
    ),
    ("inbox_bodies", "inbox_id, headers, body", "inbox_id"),
    ("program_versions", "version", "version"),
];

/// The daemon's own coordination records (who holds which lease, which
/// hourly jobs ran): written because it runs, not because of the stream.
const COORDINATION: [&str; 2] = ["leases", "scheduled_runs"];

fn open(path: &Path) -> anyhow::Result<Connection> {
    Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("opening {}", path.display()))
}

fn rows(conn: &Connection, sql: &str) -> anyhow::Result<Vec<Vec<Value>>> {
    let mut stmt = conn.prepare(sql)?;
    let width = stmt.column_count();
    let rows = stmt.query_map([], |row| {
        (0..width)
            .map(|i| row.get::<_, Value>(i))
            .collect::<rusqlite::Result<Vec<Value>>>()
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn same(what: &str, bulk: &[Vec<Value>], daemon: &[Vec<Value>]) -> anyhow::Result<()> {
    if let Some((i, (b, d))) = bulk
        .iter()
        .zip(daemon)
        .enumerate()
        .find(|(_, (b, d))| b != d)
    {
        anyhow::bail!("{what}: row {i} differs\n  bulk:   {b:?}\n  daemon: {d:?}");
    }
    ensure!(
        bulk.len() == daemon.len(),
        "{what}: {} rows in bulk, {} written by the daemon",
        bulk.len(),
        daemon.len()
    );
    Ok(())
}

/// Compares the database the bulk writer wrote with the one the daemon
/// wrote; returns the rows compared.
pub fn compare(bulk: &Path, daemon: &Path) -> anyhow::Result<usize> {
    let (b, d) = (open(bulk)?, open(daemon)?);
    let version = "PRAGMA user_version";
    same("schema version", &rows(&b, version)?, &rows(&d, version)?)?;
    let schema = "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name";
    same("schema", &rows(&b, schema)?, &rows(&d, schema)?)?;
    let mut compared = 0;
    for (table, columns, order) in TABLES {
        let sql = format!("SELECT {columns} FROM {table} ORDER BY {order}");
        let (in_bulk, by_daemon) = (rows(&b, &sql)?, rows(&d, &sql)?);
        same(table, &in_bulk, &by_daemon)?;
        compared += in_bulk.len();
    }
    let tables = rows(
        &b,
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )?;
    for table in tables {
        let Some(Value::Text(name)) = table.first() else {
            continue;
        };
        if TABLES.iter().any(|(t, ..)| t == name) || COORDINATION.contains(&name.as_str()) {
            continue;
        }
        let count = format!("SELECT COUNT(*) FROM {name}");
        same(name, &rows(&b, &count)?, &rows(&d, &count)?)?;
    }
    Ok(compared)
}
