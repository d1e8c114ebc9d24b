//! The member portal's reads and its used links.

use crate::core::accounts::AccountId;
use crate::core::campaigns::Offer;
use crate::core::program::Program;
use crate::core::tiers;
use crate::store::StoreError;
use crate::store::apply::Book;
use crate::store::db::Db;
use crate::store::portal::{MemberView, OfferView};
use crate::store::sql::book::SqlBook;

const DAY_MS: i64 = 86_400_000;

/// What the portal shows of `account` at `now`; `None` for an unknown or
/// merged account.
pub(crate) fn member_view(
    conn: &dyn Db,
    program: &Program,
    account: AccountId,
    now: i64,
) -> Result<Option<MemberView>, StoreError> {
    let Some(name) = conn.row(
        "SELECT name FROM accounts WHERE id = ?1 AND merged_into IS NULL",
        &[&account],
        |row| row.get::<String>(0),
    )?
    else {
        return Ok(None);
    };
    let mut book = SqlBook::new(conn, now);
    let state = book.account_state(account)?;
    let window = i64::from(program.tiers.window_days).saturating_mul(DAY_MS);
    let items = book.spend_items(account, now.saturating_sub(window))?;
    let spend = tiers::qualifying_spend(&items, program.tiers.window_days, now);
    let tier = tiers::progress(&program.tiers, state.tier.as_ref(), spend);
    let balance = book.balance(account)?;
    let rows = conn.rows(
        "SELECT c.id, c.name, c.offer, m.offer_code FROM campaign_members m
         JOIN campaigns c ON c.id = m.campaign
         WHERE m.account_id = ?1 AND m.grp = 'target' AND c.offer IS NOT NULL
           AND c.status IN ('sending', 'completed')
         ORDER BY c.started_at DESC",
        &[&account],
        |row| {
            Ok((
                row.get::<String>(0)?,
                row.get::<String>(1)?,
                row.get::<String>(2)?,
                row.get::<Option<String>>(3)?,
            ))
        },
    )?;
    let mut offers = Vec::new();
    for (campaign, name, offer, code) in rows {
        let offer: Offer = serde_json::from_str(&offer)
            .map_err(|e| StoreError::Corrupt(format!("offer of campaign {campaign}: {e}")))?;
        let current = match &offer {
            Offer::Multiplier { ends_at, .. } => now < *ends_at,
            Offer::DiscountCode { ends_at, .. } => ends_at.is_none_or(|end| now < end),
            Offer::BonusPoints { .. } | Offer::Reward { .. } => true,
        };
        if current {
            offers.push(OfferView {
                campaign,
                name,
                offer,
                code,
            });
        }
    }
    Ok(Some(MemberView {
        account_id: account,
        name,
        membership: state.membership,
        balance,
        tier,
        offers,
    }))
}

/// Records the use of a sign-in or enrollment link; false when it was used
/// before.
pub(crate) fn use_link(
    conn: &dyn Db,
    nonce: &str,
    purpose: &str,
    account: AccountId,
    contact: i64,
    now: i64,
) -> Result<bool, StoreError> {
    let inserted = conn.execute(
        "INSERT INTO portal_links_used (nonce, purpose, account_id, contact_id, used_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT DO NOTHING",
        &[&nonce, &purpose, &account, &contact, &now],
    )?;
    Ok(inserted == 1)
}

/// Whether the link or session with `nonce` was used up.
pub(crate) fn link_used(conn: &dyn Db, nonce: &str) -> Result<bool, StoreError> {
    conn.row(
        "SELECT 1 FROM portal_links_used WHERE nonce = ?1",
        &[&nonce],
        |_| Ok(()),
    )
    .map(|found| found.is_some())
}

/// The statements recorded for `period`.
pub(crate) fn statements(
    conn: &dyn Db,
    period: &str,
) -> Result<Vec<crate::store::statements::StatementRecord>, StoreError> {
    conn.rows(
        "SELECT account_id, period, contact_id, status, destination, error, attempts, at
         FROM statements WHERE period = ?1 ORDER BY account_id, contact_id",
        &[&period],
        |row| {
            Ok(crate::store::statements::StatementRecord {
                account_id: row.get(0)?,
                period: row.get(1)?,
                contact_id: row.get(2)?,
                status: row.get(3)?,
                destination: row.get(4)?,
                error: row.get(5)?,
                attempts: row.get(6)?,
                at: row.get(7)?,
            })
        },
    )
}

/// Records a statement's attempt; a statement sent stays sent.
pub(crate) fn record_statement(
    conn: &dyn Db,
    record: &crate::store::statements::StatementRecord,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO statements (account_id, period, contact_id, status, destination, error, attempts, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7)
         ON CONFLICT (period, account_id, contact_id) DO UPDATE SET
             status = excluded.status, destination = excluded.destination,
             error = excluded.error, attempts = statements.attempts + 1, at = excluded.at
         WHERE statements.status <> 'sent'",
        &[
            &record.account_id,
            &record.period,
            &record.contact_id,
            &record.status,
            &record.destination,
            &record.error,
            &record.at,
        ],
    )?;
    Ok(())
}
