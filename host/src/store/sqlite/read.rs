//! Read queries of the SQLite store.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, params};

use crate::core::accounts::AccountId;
use crate::core::ledger::EntryKind;
use crate::store::sqlite::{cached_row, db_error};
use crate::store::{
    AccountDetail, AccountSummary, ChainCheck, ContactView, DeadLetter, ExternalRef, InboxCounts,
    InboxStatus, LedgerEntry, MetricsCounts, NewDelivery, PendingCount, StoreError, StoredDelivery,
};

fn unsigned(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn delivery_from(
    row: &rusqlite::Row<'_>,
    offset: usize,
) -> rusqlite::Result<(NewDelivery, String)> {
    let headers: String = row.get(offset + 5)?;
    Ok((
        NewDelivery {
            connector: row.get(offset)?,
            delivery_id: row.get(offset + 1)?,
            topic: row.get(offset + 2)?,
            method: row.get(offset + 3)?,
            url: row.get(offset + 4)?,
            headers: Vec::new(),
            body: row.get(offset + 6)?,
            received_at: row.get(offset + 7)?,
        },
        headers,
    ))
}

fn with_headers((mut delivery, headers): (NewDelivery, String)) -> Result<NewDelivery, StoreError> {
    delivery.headers = serde_json::from_str(&headers)
        .map_err(|e| StoreError::Corrupt(format!("inbox headers: {e}")))?;
    Ok(delivery)
}

const DELIVERY_COLUMNS: &str =
    "connector, delivery_id, topic, method, url, headers, body, received_at";

pub(crate) fn delivery(
    conn: &Connection,
    id: i64,
) -> Result<Option<(StoredDelivery, InboxStatus)>, StoreError> {
    let row = cached_row(
        conn,
        &format!("SELECT id, attempts, status, {DELIVERY_COLUMNS} FROM inbox WHERE id = ?1"),
        [id],
        |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, u32>(1)?,
                row.get::<_, String>(2)?,
                delivery_from(row, 3)?,
            ))
        },
    )
    .optional()
    .map_err(db_error)?;
    let Some((id, attempts, status, raw)) = row else {
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
            delivery: with_headers(raw)?,
            attempts,
        },
        status,
    )))
}

/// One statement, so that both figures come from the same snapshot.
pub(crate) fn pending_count(
    conn: &Connection,
    connector: &str,
) -> Result<PendingCount, StoreError> {
    conn.prepare_cached(
        "SELECT (SELECT COUNT(*) FROM inbox WHERE connector = ?1 AND status = 'pending'),
                (SELECT COALESCE(MAX(id), 0) FROM inbox)",
    )
    .and_then(|mut count| {
        count.query_row(params![connector], |row| {
            Ok(PendingCount {
                pending: unsigned(row.get(0)?),
                last_id: row.get(1)?,
            })
        })
    })
    .map_err(db_error)
}

pub(crate) fn pending(
    conn: &Connection,
    connector: &str,
    after: i64,
    limit: usize,
) -> Result<Vec<StoredDelivery>, StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT id, attempts, {DELIVERY_COLUMNS} FROM inbox WHERE connector = ?1 AND status = 'pending' AND id > ?3 ORDER BY id LIMIT ?2"
        ))
        .map_err(db_error)?;
    let rows = stmt
        .query_map(
            params![connector, i64::try_from(limit).unwrap_or(i64::MAX), after],
            |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, u32>(1)?,
                    delivery_from(row, 2)?,
                ))
            },
        )
        .map_err(db_error)?;
    rows.map(|row| {
        let (id, attempts, raw) = row.map_err(db_error)?;
        Ok(StoredDelivery {
            id,
            delivery: with_headers(raw)?,
            attempts,
        })
    })
    .collect()
}

/// Index range reads only: the ledger by id from `after_ledger_id`, the
/// inbox by (connector, status).
pub(crate) fn metrics_counts(
    conn: &Connection,
    after_ledger_id: i64,
    connectors: &[String],
) -> Result<MetricsCounts, StoreError> {
    let ledger_last_id: i64 =
        cached_row(conn, "SELECT COALESCE(MAX(id), 0) FROM ledger", [], |row| {
            row.get(0)
        })
        .map_err(db_error)?;
    let mut by_kind = conn
        .prepare_cached(
            "SELECT kind, COUNT(*) FROM ledger WHERE id > ?1 AND id <= ?2 GROUP BY kind",
        )
        .map_err(db_error)?;
    let ledger_by_kind = by_kind
        .query_map(params![after_ledger_id, ledger_last_id], |row| {
            Ok((row.get::<_, String>(0)?, unsigned(row.get(1)?)))
        })
        .map_err(db_error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(db_error)?;
    let mut count = conn
        .prepare_cached("SELECT COUNT(*) FROM inbox WHERE connector = ?1 AND status = ?2")
        .map_err(db_error)?;
    let mut inbox = Vec::with_capacity(connectors.len());
    for connector in connectors {
        let mut status = |status: &str| {
            count
                .query_row(params![connector, status], |row| row.get::<_, i64>(0))
                .map(unsigned)
                .map_err(db_error)
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
    conn: &Connection,
    connector: Option<&str>,
) -> Result<Vec<DeadLetter>, StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT d.inbox_id, d.error, d.plugin_sha256, d.failed_at, {DELIVERY_COLUMNS}
             FROM dead_letters d JOIN inbox i ON i.id = d.inbox_id
             WHERE i.status = 'dead' AND (?1 IS NULL OR i.connector = ?1) ORDER BY d.inbox_id"
        ))
        .map_err(db_error)?;
    let rows = stmt
        .query_map(params![connector], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, i64>(3)?,
                delivery_from(row, 4)?,
            ))
        })
        .map_err(db_error)?;
    rows.map(|row| {
        let (inbox_id, error, plugin_sha256, failed_at, raw) = row.map_err(db_error)?;
        Ok(DeadLetter {
            inbox_id,
            delivery: with_headers(raw)?,
            error,
            plugin_sha256,
            failed_at,
        })
    })
    .collect()
}

fn refs(
    conn: &Connection,
    account: Option<AccountId>,
) -> Result<BTreeMap<AccountId, Vec<ExternalRef>>, StoreError> {
    // One statement per case: `?1 IS NULL OR account_id = ?1` would scan
    // every account's references to read one account's.
    let mut stmt = conn
        .prepare_cached(if account.is_some() {
            "SELECT account_id, source, external_id, version FROM account_refs
             WHERE account_id = ?1 ORDER BY account_id, source, external_id"
        } else {
            "SELECT account_id, source, external_id, version FROM account_refs
             WHERE ?1 IS NULL ORDER BY account_id, source, external_id"
        })
        .map_err(db_error)?;
    let rows = stmt
        .query_map(params![account], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                ExternalRef {
                    source: row.get(1)?,
                    id: row.get(2)?,
                    version: unsigned(row.get(3)?),
                },
            ))
        })
        .map_err(db_error)?;
    let mut map: BTreeMap<AccountId, Vec<ExternalRef>> = BTreeMap::new();
    for row in rows {
        let (account, reference) = row.map_err(db_error)?;
        map.entry(account).or_default().push(reference);
    }
    Ok(map)
}

pub(crate) fn accounts(conn: &Connection) -> Result<Vec<AccountSummary>, StoreError> {
    let mut all_refs = refs(conn, None)?;
    let mut stmt = conn
        .prepare_cached(
            "SELECT a.id, a.name, COALESCE((SELECT SUM(points) FROM ledger l WHERE l.account_id = a.id), 0),
                    a.merged_into
             FROM accounts a ORDER BY a.id",
        )
        .map_err(db_error)?;
    let rows = stmt
        .query_map([], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, i64>(2)?,
                row.get::<_, Option<i64>>(3)?,
            ))
        })
        .map_err(db_error)?;
    rows.map(|row| {
        let (id, name, balance, merged_into) = row.map_err(db_error)?;
        Ok(AccountSummary {
            id,
            name,
            balance,
            external_refs: all_refs.remove(&id).unwrap_or_default(),
            merged_into,
        })
    })
    .collect()
}

pub(crate) fn account(
    conn: &Connection,
    id: AccountId,
) -> Result<Option<AccountDetail>, StoreError> {
    let found = cached_row(
        conn,
        "SELECT a.name, a.domain, a.tax_id, a.industry, a.country,
                    COALESCE((SELECT SUM(points) FROM ledger l WHERE l.account_id = a.id), 0),
                    a.membership, a.tags, t.tier, t.since, a.merged_into
             FROM accounts a LEFT JOIN tier_states t ON t.account_id = a.id WHERE a.id = ?1",
        [id],
        |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, Option<String>>(1)?,
                row.get::<_, Option<String>>(2)?,
                row.get::<_, Option<String>>(3)?,
                row.get::<_, Option<String>>(4)?,
                row.get::<_, i64>(5)?,
                (
                    row.get::<_, Option<String>>(6)?,
                    row.get::<_, String>(7)?,
                    row.get::<_, Option<String>>(8)?,
                    row.get::<_, Option<i64>>(9)?,
                    row.get::<_, Option<i64>>(10)?,
                ),
            ))
        },
    )
    .optional()
    .map_err(db_error)?;
    let Some((name, domain, tax_id, industry, country, balance, standing)) = found else {
        return Ok(None);
    };
    let (membership, tags, tier, tier_since, merged_into) = standing;
    let tags: Vec<String> = serde_json::from_str(&tags)
        .map_err(|e| StoreError::Corrupt(format!("account {id}: tags: {e}")))?;
    let mut stmt = conn
        .prepare_cached(
            "SELECT source, external_id, email, first_name, last_name, role, version, id FROM contacts
             WHERE account_id = ?1 ORDER BY id",
        )
        .map_err(db_error)?;
    let contacts = stmt
        .query_map([id], |row| {
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
        })
        .map_err(db_error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(db_error)?;
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

fn entry_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(String, LedgerEntry)> {
    Ok((
        row.get(2)?,
        LedgerEntry {
            id: row.get(0)?,
            account_id: row.get(1)?,
            kind: EntryKind::Earn,
            points: row.get(3)?,
            effect_key: row.get(4)?,
            source: row.get(5)?,
            reference: row.get(6)?,
            rule_version: row.get(7)?,
            amount: row.get(8)?,
            currency: row.get(9)?,
            rate: row.get(10)?,
            occurred_at: row.get(11)?,
            created_at: row.get(12)?,
            hash: row.get(13)?,
            reason: row.get(14)?,
        },
    ))
}

fn with_kind((kind, mut entry): (String, LedgerEntry)) -> Result<LedgerEntry, StoreError> {
    entry.kind = EntryKind::parse(&kind)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown entry kind `{kind}`")))?;
    Ok(entry)
}

/// One account's entries, or with `None` every account's, ordered by account
/// and then entry id.
pub(crate) fn ledger(
    conn: &Connection,
    id: Option<AccountId>,
) -> Result<Vec<LedgerEntry>, StoreError> {
    // One statement per case: `?1 IS NULL OR account_id = ?1` would scan
    // the whole ledger to read one account's entries.
    let filter = if id.is_some() {
        "account_id = ?1"
    } else {
        "?1 IS NULL"
    };
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {ENTRY_COLUMNS} FROM ledger WHERE {filter} ORDER BY account_id, id"
        ))
        .map_err(db_error)?;
    let rows = stmt.query_map([id], entry_row).map_err(db_error)?;
    rows.map(|row| with_kind(row.map_err(db_error)?)).collect()
}

/// Every hash chain, checked as the rows are read.
pub(crate) fn verify_ledger(conn: &Connection) -> Result<ChainCheck, StoreError> {
    let mut stmt = conn
        .prepare(&format!(
            "SELECT {ENTRY_COLUMNS} FROM ledger ORDER BY account_id, id"
        ))
        .map_err(db_error)?;
    let mut rows = stmt.query_map([], entry_row).map_err(db_error)?;
    let mut check = ChainCheck::default();
    rows.try_for_each(|row| {
        check.push(&with_kind(row.map_err(db_error)?)?);
        Ok::<_, StoreError>(())
    })?;
    Ok(check)
}

/// One entry by id.
pub(crate) fn entry(conn: &Connection, id: i64) -> Result<LedgerEntry, StoreError> {
    let row = cached_row(
        conn,
        &format!("SELECT {ENTRY_COLUMNS} FROM ledger WHERE id = ?1"),
        [id],
        entry_row,
    )
    .map_err(db_error)?;
    with_kind(row)
}
