//! Schema migrations, applied in order and tracked in `PRAGMA user_version`.

use rusqlite::Connection;

/// Each entry moves the schema one version forward. Never edit a released
/// migration; append a new one.
const MIGRATIONS: &[&str] = &[
    r#"
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
    -- Matching forms of tax_id and domain (see core::identity).
    tax_key TEXT,
    domain_key TEXT,
    -- Segment tags, a JSON array of strings.
    tags TEXT NOT NULL DEFAULT '[]',
    -- NULL: not a member; else core::membership::MembershipStatus.
    membership TEXT,
    -- Set when an admin merged this account into another: its history
    -- stays here, its balance moved there.
    merged_into INTEGER REFERENCES accounts (id),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX accounts_tax_key ON accounts (tax_key);
CREATE INDEX accounts_domain_key ON accounts (domain_key);

-- Other systems' ids a source record names for its company: a record that
-- later arrives from that system with that id joins the claiming account.
CREATE TABLE account_claims (
    system TEXT NOT NULL,
    external_id TEXT NOT NULL,
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    PRIMARY KEY (system, external_id)
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
    placed_at INTEGER,
    record TEXT NOT NULL,
    PRIMARY KEY (source, external_id)
);
CREATE INDEX purchases_account ON purchases (account_id, placed_at);

CREATE TABLE contracts (
    source TEXT NOT NULL,
    external_id TEXT NOT NULL,
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    version INTEGER NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (source, external_id)
);
CREATE INDEX contracts_account ON contracts (account_id);

CREATE TABLE engagements (
    source TEXT NOT NULL,
    external_id TEXT NOT NULL,
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    contact_id INTEGER REFERENCES contacts (id),
    kind TEXT NOT NULL,
    name TEXT,
    score INTEGER,
    occurred_at INTEGER NOT NULL,
    points INTEGER NOT NULL,
    comment TEXT,
    PRIMARY KEY (source, external_id)
);
CREATE INDEX engagements_account ON engagements (account_id, kind, occurred_at);

CREATE TABLE tier_states (
    account_id INTEGER PRIMARY KEY REFERENCES accounts (id),
    tier TEXT,
    since INTEGER NOT NULL,
    below_since INTEGER
);

CREATE TABLE tier_history (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    from_tier TEXT,
    to_tier TEXT,
    kind TEXT NOT NULL,
    spend TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX tier_history_account ON tier_history (account_id, id);

CREATE TABLE redemptions (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    reward_id TEXT NOT NULL,
    points INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('reserved', 'fulfilled', 'failed')),
    fulfilment TEXT NOT NULL,
    contact TEXT,
    detail TEXT,
    rule_version TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX redemptions_account ON redemptions (account_id, id);
CREATE INDEX redemptions_reward ON redemptions (reward_id, status);

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
    occurred_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    reason TEXT,
    -- SHA-256 over this entry and the previous entry's hash of the same
    -- account: editing or deleting a row breaks the chain.
    hash TEXT NOT NULL
);
CREATE INDEX ledger_account ON ledger (account_id, id);
CREATE INDEX ledger_account_kind ON ledger (account_id, kind, occurred_at);

-- Admin API requests by Idempotency-Key: the same key and body get the
-- first answer again; the same key with another body is a conflict.
CREATE TABLE idempotency_keys (
    key TEXT PRIMARY KEY,
    request_sha256 TEXT NOT NULL,
    -- What the key was used for and the id of what it made (a ledger
    -- entry for an adjustment, a redemption).
    operation TEXT NOT NULL,
    result_id INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);

-- Who referred whom. A referral qualifies with the referred account's
-- first earning purchase; the referrer's bonus is then paid once.
CREATE TABLE referrals (
    id INTEGER PRIMARY KEY,
    referrer INTEGER NOT NULL REFERENCES accounts (id),
    referred INTEGER NOT NULL UNIQUE REFERENCES accounts (id),
    source TEXT NOT NULL,
    actor TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    qualified_at INTEGER,
    points INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX referrals_referrer ON referrals (referrer, qualified_at);

CREATE TABLE account_merges (
    id INTEGER PRIMARY KEY,
    from_account INTEGER NOT NULL REFERENCES accounts (id),
    into_account INTEGER NOT NULL REFERENCES accounts (id),
    points_moved INTEGER NOT NULL,
    actor TEXT NOT NULL,
    reason TEXT NOT NULL,
    at INTEGER NOT NULL
);

CREATE TABLE terms_acceptances (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    version TEXT NOT NULL,
    contact TEXT NOT NULL,
    actor TEXT NOT NULL,
    accepted_at INTEGER NOT NULL,
    UNIQUE (account_id, version, contact)
);

-- Every admin mutation: who, what, when, and the state before and after.
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    before TEXT,
    after TEXT,
    at INTEGER NOT NULL
);

-- Every version of the program rules the daemon has run, so that events
-- are judged by the version in force when they happened.
CREATE TABLE program_versions (
    version TEXT PRIMARY KEY,
    effective_from INTEGER NOT NULL,
    body TEXT NOT NULL,
    registered_at INTEGER NOT NULL
);

CREATE TABLE connector_state (
    connector TEXT NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (connector, key)
);

CREATE TABLE campaign_batches (
    connector TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    campaign_id TEXT NOT NULL,
    report TEXT NOT NULL,
    pushed_at INTEGER NOT NULL,
    PRIMARY KEY (connector, idempotency_key)
);

CREATE TABLE poll_cursors (
    connector TEXT NOT NULL,
    stream TEXT NOT NULL CHECK (stream IN ('sync', 'backfill')),
    cursor TEXT,
    pages INTEGER NOT NULL DEFAULT 0,
    events INTEGER NOT NULL DEFAULT 0,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (connector, stream)
);
"#,
    r#"
-- The newest applied delivery, found without a scan (segments are refreshed
-- when it moves).
CREATE INDEX inbox_done ON inbox (status, id);

-- Annual revenue as a source reports it (a decimal string and its currency).
ALTER TABLE accounts ADD COLUMN annual_revenue TEXT;
ALTER TABLE accounts ADD COLUMN annual_revenue_currency TEXT;

-- The purchase that qualified a referral, as `source/id`; NULL when an admin
-- recorded the referral of an account that had earned already.
ALTER TABLE referrals ADD COLUMN qualified_by TEXT;

-- Each account's referral code, made when first asked for.
CREATE TABLE referral_codes (
    code TEXT PRIMARY KEY,
    account_id INTEGER NOT NULL UNIQUE REFERENCES accounts (id),
    created_at INTEGER NOT NULL
);

-- Commissions accrued to referrers, append-only: a refund appends a
-- negative row. `basis` says what a row is for (`purchase:SOURCE/ID`,
-- `goal:PERIOD-START`); a payout settles a row once.
CREATE TABLE commissions (
    id INTEGER PRIMARY KEY,
    referral_id INTEGER NOT NULL REFERENCES referrals (id),
    referrer INTEGER NOT NULL REFERENCES accounts (id),
    referred INTEGER NOT NULL REFERENCES accounts (id),
    rule TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('flat', 'revenue_share', 'goal_bonus')),
    basis TEXT NOT NULL,
    amount TEXT NOT NULL,
    currency TEXT NOT NULL,
    points INTEGER NOT NULL,
    occurred_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    payout_id INTEGER REFERENCES payouts (id)
);
CREATE INDEX commissions_basis ON commissions (rule, referral_id, basis);
CREATE INDEX commissions_referrer ON commissions (referrer, id);
CREATE INDEX commissions_unpaid ON commissions (payout_id, occurred_at);

-- Payout batches: `key` names the batch (`monthly:2026-11`,
-- `through:COMMISSION-ID`), so a run never makes the same batch twice.
CREATE TABLE payouts (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    schedule TEXT NOT NULL,
    period_start INTEGER,
    period_end INTEGER NOT NULL,
    currency TEXT NOT NULL,
    total TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    paid_at INTEGER,
    paid_by TEXT,
    reference TEXT
);

CREATE TABLE payout_lines (
    payout_id INTEGER NOT NULL REFERENCES payouts (id),
    referrer INTEGER NOT NULL REFERENCES accounts (id),
    amount TEXT NOT NULL,
    commissions INTEGER NOT NULL,
    PRIMARY KEY (payout_id, referrer)
);

-- Segments from the configuration (replaced at each start) or the API,
-- and their materialized membership.
CREATE TABLE segments (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT,
    filter TEXT NOT NULL,
    contacts TEXT,
    origin TEXT NOT NULL CHECK (origin IN ('config', 'api')),
    size INTEGER NOT NULL DEFAULT 0,
    refreshed_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE segment_members (
    segment TEXT NOT NULL REFERENCES segments (id),
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    since INTEGER NOT NULL,
    PRIMARY KEY (segment, account_id)
);

-- Campaigns: a segment, a channel, a template and an offer, with their
-- lifecycle (core::campaigns::CampaignStatus).
CREATE TABLE campaigns (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    segment TEXT NOT NULL,
    channel TEXT NOT NULL,
    subject TEXT,
    template TEXT NOT NULL,
    offer TEXT,
    holdout_percent TEXT NOT NULL,
    attribution_days INTEGER NOT NULL,
    origin TEXT NOT NULL CHECK (origin IN ('config', 'api')),
    status TEXT NOT NULL,
    send_at INTEGER,
    started_at INTEGER,
    finished_at INTEGER,
    batches INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Who a campaign chose when it started: targeted or held out, and the
-- unique discount code made for a targeted account.
CREATE TABLE campaign_members (
    campaign TEXT NOT NULL REFERENCES campaigns (id),
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    grp TEXT NOT NULL CHECK (grp IN ('target', 'holdout')),
    offer_code TEXT,
    offer_error TEXT,
    PRIMARY KEY (campaign, account_id)
);
CREATE INDEX campaign_members_account ON campaign_members (account_id, grp);

-- One message per reached contact (contact_id 0: the account itself).
CREATE TABLE campaign_deliveries (
    id INTEGER PRIMARY KEY,
    campaign TEXT NOT NULL REFERENCES campaigns (id),
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    contact_id INTEGER NOT NULL,
    account_ref TEXT,
    contact_ref TEXT,
    status TEXT NOT NULL CHECK (status IN ('pending', 'queued', 'sent', 'failed', 'skipped')),
    batch TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    sent_at INTEGER,
    UNIQUE (campaign, account_id, contact_id)
);
CREATE INDEX campaign_deliveries_status ON campaign_deliveries (campaign, status, next_attempt_at);
"#,
    r#"
-- Every change of an account's membership, for analytics (participation at
-- a date, enrollment for the baseline). Triggers record it, so that no path
-- that writes `accounts.membership` can forget to.
CREATE TABLE membership_history (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    from_status TEXT,
    to_status TEXT,
    at INTEGER NOT NULL
);
CREATE INDEX membership_history_account ON membership_history (account_id, id);
INSERT INTO membership_history (account_id, from_status, to_status, at)
    SELECT id, NULL, membership, created_at FROM accounts WHERE membership IS NOT NULL;
CREATE TRIGGER membership_inserted AFTER INSERT ON accounts
    WHEN NEW.membership IS NOT NULL
BEGIN
    INSERT INTO membership_history (account_id, from_status, to_status, at)
        VALUES (NEW.id, NULL, NEW.membership, NEW.created_at);
END;
CREATE TRIGGER membership_changed AFTER UPDATE OF membership ON accounts
    WHEN OLD.membership IS NOT NEW.membership
BEGIN
    INSERT INTO membership_history (account_id, from_status, to_status, at)
        VALUES (NEW.id, OLD.membership, NEW.membership, NEW.updated_at);
END;

-- Sign-in and enrollment links are used once, and a session ends when its
-- member signs out: their nonce is kept here.
CREATE TABLE portal_links_used (
    nonce TEXT PRIMARY KEY,
    purpose TEXT NOT NULL,
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    contact_id INTEGER NOT NULL,
    used_at INTEGER NOT NULL
);

-- Reward statements: one per account, period and recipient contact; a
-- statement sent is never sent again, a failed one is retried.
CREATE TABLE statements (
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    period TEXT NOT NULL,
    contact_id INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('sent', 'failed')),
    destination TEXT,
    error TEXT,
    attempts INTEGER NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (period, account_id, contact_id)
);
"#,
    r#"
-- Balances are sums of points by account: with the points in the index,
-- one account's balance and every account's (segment refresh, scores) are
-- read from the index alone, without visiting the table's rows. It
-- replaces the index it extends, so writes cost no more.
DROP INDEX ledger_account;
CREATE INDEX ledger_account ON ledger (account_id, id, points);
"#,
    r#"
-- What a purchase counts for in the program currency (a decimal string),
-- kept beside its record so that tiers and segments read spend without
-- parsing every record. NULL on rows written before it: their record is
-- read instead until the purchase is next written.
ALTER TABLE purchases ADD COLUMN qualifying TEXT;
"#,
    r#"
-- Every account's balance, kept by the ledger's own insert trigger (the
-- ledger is append-only), so that reading all balances at once (segment
-- refresh, scores) reads one row per account instead of summing every
-- ledger entry.
CREATE TABLE account_balances (
    account_id INTEGER PRIMARY KEY REFERENCES accounts (id),
    points INTEGER NOT NULL
);
INSERT INTO account_balances (account_id, points)
    SELECT account_id, SUM(points) FROM ledger GROUP BY account_id;
CREATE TRIGGER ledger_balance AFTER INSERT ON ledger BEGIN
    INSERT INTO account_balances (account_id, points) VALUES (NEW.account_id, NEW.points)
        ON CONFLICT (account_id) DO UPDATE SET points = points + excluded.points;
END;
"#,
    r#"
-- Work done once for the whole cluster of daemons sharing this database (a
-- connector's polling, fulfilment, campaign dispatch, segment refresh,
-- statements) is done by the holder of its lease. The holder renews it
-- while it works; once it expires, another daemon takes it over.
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    acquired_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);

-- Scheduled jobs run once per period across the cluster: a run's row
-- commits with the run's own work.
CREATE TABLE scheduled_runs (
    job TEXT NOT NULL,
    period TEXT NOT NULL,
    holder TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (job, period)
);
"#,
    r#"
-- An account's purchases with what each counts for, in placed order, from
-- the index alone: tiers after every purchase and segment refreshes over
-- every account read spend without visiting the rows and their records.
-- It replaces the index it extends.
DROP INDEX purchases_account;
CREATE INDEX purchases_account ON purchases (account_id, placed_at, qualifying);
"#,
    r#"
-- A delivery's headers and body, written once. Kept apart from its inbox
-- row, which changes as the delivery is handled: marking a row done then
-- rewrites a few bytes, not the body with its overflow pages.
CREATE TABLE inbox_bodies (
    inbox_id INTEGER PRIMARY KEY REFERENCES inbox (id),
    headers TEXT NOT NULL,
    body BLOB NOT NULL
);
INSERT INTO inbox_bodies (inbox_id, headers, body) SELECT id, headers, body FROM inbox;
ALTER TABLE inbox DROP COLUMN headers;
ALTER TABLE inbox DROP COLUMN body;
"#,
];

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

#[cfg(test)]
mod tests {
    use rusqlite::params;

    use super::*;

    fn entry(conn: &Connection, account: i64, points: i64, key: &str) {
        conn.execute(
            "INSERT INTO ledger (account_id, kind, points, effect_key, source, reference,
                                 rule_version, occurred_at, created_at, hash)
             VALUES (?1, 'earn', ?2, ?3, 'test', 'r', 'v', 0, 0, 'h')",
            params![account, points, key],
        )
        .unwrap();
    }

    fn balances(conn: &Connection) -> Vec<(i64, i64)> {
        let mut stmt = conn
            .prepare("SELECT account_id, points FROM account_balances ORDER BY account_id")
            .unwrap();
        stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn balances_follow_the_ledger_from_the_migration_on() {
        let mut conn = Connection::open_in_memory().unwrap();
        let balances_migration = MIGRATIONS
            .iter()
            .position(|sql| sql.contains("CREATE TABLE account_balances"))
            .unwrap();
        // A store from before the balances, with entries.
        for sql in &MIGRATIONS[..balances_migration] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(
            None,
            "user_version",
            i64::try_from(balances_migration).unwrap(),
        )
        .unwrap();
        conn.execute_batch(
            "INSERT INTO accounts (id, name, created_at, updated_at)
             VALUES (1, 'A', 0, 0), (2, 'B', 0, 0), (3, 'C', 0, 0)",
        )
        .unwrap();
        entry(&conn, 1, 100, "a");
        entry(&conn, 1, -30, "b");
        entry(&conn, 2, 5, "c");

        migrate(&mut conn).unwrap();
        assert_eq!(balances(&conn), [(1, 70), (2, 5)]);

        entry(&conn, 2, 10, "d");
        entry(&conn, 3, 7, "e");
        entry(&conn, 1, -70, "f");
        assert_eq!(balances(&conn), [(1, 0), (2, 15), (3, 7)]);
        // A refused insert (a repeated effect) changes no balance.
        assert!(
            conn.execute(
                "INSERT INTO ledger (account_id, kind, points, effect_key, source, reference,
                                     rule_version, occurred_at, created_at, hash)
                 VALUES (3, 'earn', 1000, 'e', 'test', 'r', 'v', 0, 0, 'h')",
                [],
            )
            .is_err()
        );
        assert_eq!(balances(&conn), [(1, 0), (2, 15), (3, 7)]);
    }

    #[test]
    fn deliveries_keep_their_headers_and_bodies_when_these_move_to_their_own_table() {
        let mut conn = Connection::open_in_memory().unwrap();
        let bodies_migration = MIGRATIONS
            .iter()
            .position(|sql| sql.contains("CREATE TABLE inbox_bodies"))
            .unwrap();
        for sql in &MIGRATIONS[..bodies_migration] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(
            None,
            "user_version",
            i64::try_from(bodies_migration).unwrap(),
        )
        .unwrap();
        conn.execute(
            "INSERT INTO inbox (id, connector, delivery_id, topic, method, url, headers, body,
                                received_at, status, processed_at)
             VALUES (7, 'shopify', 'd-7', 'orders/paid', 'POST', '/webhooks/shopify',
                     '[[\"x-shopify-topic\",\"orders/paid\"]]', ?1, 5, 'done', 6)",
            [b"{\"id\":7}".as_slice()],
        )
        .unwrap();

        migrate(&mut conn).unwrap();
        let moved: (String, Vec<u8>, String) = conn
            .query_row(
                "SELECT b.headers, b.body, i.status FROM inbox i
                 JOIN inbox_bodies b ON b.inbox_id = i.id WHERE i.id = 7",
                [],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .unwrap();
        assert_eq!(
            moved,
            (
                r#"[["x-shopify-topic","orders/paid"]]"#.to_owned(),
                br#"{"id":7}"#.to_vec(),
                "done".to_owned()
            )
        );
        let columns: Vec<String> = conn
            .prepare("SELECT name FROM pragma_table_info('inbox')")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(
            !columns.iter().any(|c| c == "body" || c == "headers"),
            "{columns:?}"
        );
    }
}
