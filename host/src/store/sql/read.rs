//! Read queries of the SQLite store.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use crate::core::accounts::AccountId;
use crate::core::ledger::EntryKind;
use crate::store::db::{Db, Row};
use crate::store::{
    AccountDetail, AccountSummary, ChainCheck, ContactView, DeadLetter, ExternalRef, InboxCounts,
    InboxStatus, LedgerEntry, MetricsCounts, NewDelivery, PendingCount, StoreError, StoredDelivery,
};

fn unsigned(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn delivery_from(row: &dyn Row, offset: usize) -> Result<NewDelivery, StoreError> {
    let headers: String = row.get(offset + 5)?;
    Ok(NewDelivery {
        connector: row.get(offset)?,
        delivery_id: row.get(offset + 1)?,
        topic: row.get(offset + 2)?,
        method: row.get(offset + 3)?,
        url: row.get(offset + 4)?,
        headers: serde_json::from_str(&headers)
            .map_err(|e| StoreError::Corrupt(format!("inbox headers: {e}")))?,
        body: row.get(offset + 6)?,
        received_at: row.get(offset + 7)?,
    })
}

/// The columns [`delivery_from`] reads, from `inbox i` joined with
/// `inbox_bodies b`.
const DELIVERY_COLUMNS: &str =
    "i.connector, i.delivery_id, i.topic, i.method, i.url, b.headers, b.body, i.received_at";

/// Inbox rows `i` with their headers and bodies `b`.
const WITH_BODIES: &str = "inbox i JOIN inbox_bodies b ON b.inbox_id = i.id";

pub(crate) fn delivery(
    conn: &dyn Db,
    id: i64,
) -> Result<Option<(StoredDelivery, InboxStatus)>, StoreError> {
    let row = conn.row(
        &format!(
            "SELECT i.id, i.attempts, i.status, {DELIVERY_COLUMNS} FROM {WITH_BODIES} WHERE i.id = ?1"
        ),
        &[&id],
        |row| {
            Ok((
                row.get::<i64>(0)?,
                row.get::<u32>(1)?,
                row.get::<String>(2)?,
                delivery_from(row, 3)?,
            ))
        },
    )?;
    let Some((id, attempts, status, delivery)) = row else {
        return Ok(None);
    };
    let status = match status.as_str() {
        "pending" => InboxStatus::Pending,
        "done" => InboxStatus::Done,
        "dead" => InboxStatus::Dead,
        other => {
            return Err(StoreError::Corrupt(format!(
                "inbox item {id} has status `{other}`"
            )));
        }
    };
    Ok(Some((
        StoredDelivery {
            id,
            delivery,
            attempts,
        },
        status,
    )))
}

/// One statement, so that both figures come from the same snapshot.
pub(crate) fn pending_count(conn: &dyn Db, connector: &str) -> Result<PendingCount, StoreError> {
    conn.one(
        "SELECT (SELECT COUNT(*) FROM inbox WHERE connector = ?1 AND status = 'pending'),
                (SELECT COALESCE(MAX(id), 0) FROM inbox)",
        &[&connector],
        |row| {
            Ok(PendingCount {
                pending: unsigned(row.get(0)?),
                last_id: row.get(1)?,
            })
        },
    )
}

pub(crate) fn pending(
    conn: &dyn Db,
    connector: &str,
    after: i64,
    limit: usize,
) -> Result<Vec<StoredDelivery>, StoreError> {
    conn.rows(
        &format!(
            "SELECT i.id, i.attempts, {DELIVERY_COLUMNS} FROM {WITH_BODIES}
             WHERE i.connector = ?1 AND i.status = 'pending' AND i.id > ?3 ORDER BY i.id LIMIT ?2"
        ),
        &[
            &connector,
            &i64::try_from(limit).unwrap_or(i64::MAX),
            &after,
        ],
        |row| {
            Ok(StoredDelivery {
                id: row.get(0)?,
                attempts: row.get(1)?,
                delivery: delivery_from(row, 2)?,
            })
        },
    )
}

/// Index range reads only: the ledger by id from `after_ledger_id`, the
/// inbox by (connector, status).
pub(crate) fn metrics_counts(
    conn: &dyn Db,
    after_ledger_id: i64,
    connectors: &[String],
) -> Result<MetricsCounts, StoreError> {
    let ledger_last_id: i64 = conn.one("SELECT COALESCE(MAX(id), 0) FROM ledger", &[], |row| {
        row.get(0)
    })?;
    let ledger_by_kind = conn.rows(
        "SELECT kind, COUNT(*) FROM ledger WHERE id > ?1 AND id <= ?2 GROUP BY kind ORDER BY kind",
        &[&after_ledger_id, &ledger_last_id],
        |row| Ok((row.get::<String>(0)?, unsigned(row.get(1)?))),
    )?;
    let mut inbox = Vec::with_capacity(connectors.len());
    for connector in connectors {
        let status = |status: &str| {
            conn.one(
                "SELECT COUNT(*) FROM inbox WHERE connector = ?1 AND status = ?2",
                &[connector, &status],
                |row| row.get::<i64>(0),
            )
            .map(unsigned)
        };
        let dead = status("dead")?;
        let pending = status("pending")?;
        inbox.push(InboxCounts {
            connector: connector.clone(),
            dead,
            pending,
        });
    }
    Ok(MetricsCounts {
        ledger_last_id,
        ledger_by_kind,
        inbox,
    })
}

pub(crate) fn dead_letters(
    conn: &dyn Db,
    connector: Option<&str>,
) -> Result<Vec<DeadLetter>, StoreError> {
    // One statement per case: PostgreSQL rejects `?1 IS NULL OR i.connector
    // = ?1`, as it cannot determine the type of the first `?1`.
    let filter = if connector.is_some() {
        "AND i.connector = ?1"
    } else {
        ""
    };
    let sql = format!(
        "SELECT d.inbox_id, d.error, d.plugin_sha256, d.failed_at, {DELIVERY_COLUMNS}
         FROM dead_letters d JOIN inbox i ON i.id = d.inbox_id
             JOIN inbox_bodies b ON b.inbox_id = i.id
         WHERE i.status = 'dead' {filter} ORDER BY d.inbox_id"
    );
    let dead_letter = |row: &dyn Row| {
        Ok(DeadLetter {
            inbox_id: row.get(0)?,
            error: row.get(1)?,
            plugin_sha256: row.get(2)?,
            failed_at: row.get(3)?,
            delivery: delivery_from(row, 4)?,
        })
    };
    match &connector {
        Some(connector) => conn.rows(&sql, &[connector], dead_letter),
        None => conn.rows(&sql, &[], dead_letter),
    }
}

fn refs(
    conn: &dyn Db,
    account: Option<AccountId>,
) -> Result<BTreeMap<AccountId, Vec<ExternalRef>>, StoreError> {
    // One statement per case: `?1 IS NULL OR account_id = ?1` would scan
    // every account's references to read one account's.
    let sql = "SELECT account_id, source, external_id, version FROM account_refs";
    let reference = |row: &dyn Row| {
        Ok((
            row.get::<i64>(0)?,
            ExternalRef {
                source: row.get(1)?,
                id: row.get(2)?,
                version: unsigned(row.get(3)?),
            },
        ))
    };
    let rows = match &account {
        Some(account) => conn.rows(
            &format!("{sql} WHERE account_id = ?1"),
            &[account],
            reference,
        )?,
        None => conn.rows(sql, &[], reference)?,
    };
    let mut map: BTreeMap<AccountId, Vec<ExternalRef>> = BTreeMap::new();
    for (account, reference) in rows {
        map.entry(account).or_default().push(reference);
    }
    // Sorted here rather than in SQL, by byte order whatever the database's
    // collation.
    for references in map.values_mut() {
        references.sort_by(|a, b| (&a.source, &a.id).cmp(&(&b.source, &b.id)));
    }
    Ok(map)
}

pub(crate) fn accounts(conn: &dyn Db) -> Result<Vec<AccountSummary>, StoreError> {
    let mut all_refs = refs(conn, None)?;
    conn.rows(
        "SELECT a.id, a.name, COALESCE((SELECT SUM(points) FROM ledger l WHERE l.account_id = a.id), 0),
                a.merged_into
         FROM accounts a ORDER BY a.id",
        &[],
        |row| {
            let id: AccountId = row.get(0)?;
            Ok(AccountSummary {
                id,
                name: row.get(1)?,
                balance: row.get(2)?,
                external_refs: all_refs.remove(&id).unwrap_or_default(),
                merged_into: row.get(3)?,
            })
        },
    )
}

pub(crate) fn account(conn: &dyn Db, id: AccountId) -> Result<Option<AccountDetail>, StoreError> {
    let found = conn.row(
        "SELECT a.name, a.domain, a.tax_id, a.industry, a.country,
                    COALESCE((SELECT SUM(points) FROM ledger l WHERE l.account_id = a.id), 0),
                    a.membership, a.tags, t.tier, t.since, a.merged_into
             FROM accounts a LEFT JOIN tier_states t ON t.account_id = a.id WHERE a.id = ?1",
        &[&id],
        |row| {
            Ok((
                row.get::<String>(0)?,
                row.get::<Option<String>>(1)?,
                row.get::<Option<String>>(2)?,
                row.get::<Option<String>>(3)?,
                row.get::<Option<String>>(4)?,
                row.get::<i64>(5)?,
                (
                    row.get::<Option<String>>(6)?,
                    row.get::<String>(7)?,
                    row.get::<Option<String>>(8)?,
                    row.get::<Option<i64>>(9)?,
                    row.get::<Option<i64>>(10)?,
                ),
            ))
        },
    )?;
    let Some((name, domain, tax_id, industry, country, balance, standing)) = found else {
        return Ok(None);
    };
    let (membership, tags, tier, tier_since, merged_into) = standing;
    let tags: Vec<String> = serde_json::from_str(&tags)
        .map_err(|e| StoreError::Corrupt(format!("account {id}: tags: {e}")))?;
    let contacts = conn.rows(
        "SELECT source, external_id, email, first_name, last_name, role, version, id FROM contacts
         WHERE account_id = ?1 ORDER BY id",
        &[&id],
        |row| {
            Ok(ContactView {
                id: row.get(7)?,
                source: row.get(0)?,
                external_id: row.get(1)?,
                email: row.get(2)?,
                first_name: row.get(3)?,
                last_name: row.get(4)?,
                role: row.get(5)?,
                version: unsigned(row.get(6)?),
            })
        },
    )?;
    let external_refs = refs(conn, Some(id))?.remove(&id).unwrap_or_default();
    Ok(Some(AccountDetail {
        summary: AccountSummary {
            id,
            name,
            balance,
            external_refs,
            merged_into,
        },
        domain,
        tax_id,
        industry,
        country,
        membership,
        tags,
        tier,
        tier_since,
        contacts,
    }))
}

const ENTRY_COLUMNS: &str = "id, account_id, kind, points, effect_key, source, reference, rule_version, amount, \
                             currency, rate, occurred_at, created_at, hash, reason";

/// An entry; its amount and rate read as decimals and written back in the
/// form the book hashed (`Decimal::to_string`), whichever way the database
/// stores them.
fn entry_row(row: &dyn Row) -> Result<LedgerEntry, StoreError> {
    let kind: String = row.get(2)?;
    Ok(LedgerEntry {
        id: row.get(0)?,
        account_id: row.get(1)?,
        kind: EntryKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown entry kind `{kind}`")))?,
        points: row.get(3)?,
        effect_key: row.get(4)?,
        source: row.get(5)?,
        reference: row.get(6)?,
        rule_version: row.get(7)?,
        amount: row.get::<Option<Decimal>>(8)?.map(|a| a.to_string()),
        currency: row.get(9)?,
        rate: row.get::<Option<Decimal>>(10)?.map(|r| r.to_string()),
        occurred_at: row.get(11)?,
        created_at: row.get(12)?,
        hash: row.get(13)?,
        reason: row.get(14)?,
    })
}

/// One account's entries, or with `None` every account's, ordered by account
/// and then entry id.
pub(crate) fn ledger(conn: &dyn Db, id: Option<AccountId>) -> Result<Vec<LedgerEntry>, StoreError> {
    // One statement per case: `?1 IS NULL OR account_id = ?1` would scan
    // the whole ledger to read one account's entries.
    match &id {
        Some(id) => conn.rows(
            &format!(
                "SELECT {ENTRY_COLUMNS} FROM ledger WHERE account_id = ?1 ORDER BY account_id, id"
            ),
            &[id],
            entry_row,
        ),
        None => conn.rows(
            &format!("SELECT {ENTRY_COLUMNS} FROM ledger ORDER BY account_id, id"),
            &[],
            entry_row,
        ),
    }
}

/// Every hash chain, checked as the rows are read.
pub(crate) fn verify_ledger(conn: &dyn Db) -> Result<ChainCheck, StoreError> {
    let mut check = ChainCheck::default();
    conn.query(
        &format!("SELECT {ENTRY_COLUMNS} FROM ledger ORDER BY account_id, id"),
        &[],
        &mut |row| {
            check.push(&entry_row(row)?);
            Ok(true)
        },
    )?;
    Ok(check)
}

/// One entry by id.
pub(crate) fn entry(conn: &dyn Db, id: i64) -> Result<LedgerEntry, StoreError> {
    conn.one(
        &format!("SELECT {ENTRY_COLUMNS} FROM ledger WHERE id = ?1"),
        &[&id],
        entry_row,
    )
}
