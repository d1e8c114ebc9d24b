//! Loads every account's records for scoring: profile fields, tier,
//! balance, paid purchases, contacts and NPS responses, in a few queries
//! over the whole program, then scores them with the core.

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::Connection;
use rust_decimal::Decimal;

use crate::core::accounts::AccountId;
use crate::core::profiles::{self, AccountRecords, ProgramScores, Scored};
use crate::core::program::Program;
use crate::core::scoring::NpsResponse;
use crate::core::segments::{ContactProfile, Profile};
use crate::store::StoreError;
use crate::store::sqlite::book::{SPEND_COLUMNS, spend_item, spend_row_at};
use crate::store::sqlite::db_error;

/// Annual revenue in the program currency, when its currency has a rate.
fn annual_revenue(
    program: &Program,
    amount: Option<String>,
    currency: Option<String>,
) -> Option<Decimal> {
    let amount: Decimal = amount?.parse().ok()?;
    let currency = currency?;
    if currency == program.currency {
        return Some(amount);
    }
    program
        .exchange_rates
        .get(&currency)
        .map(|rate| amount.saturating_mul(*rate))
}

/// Every active (not merged) account's records.
pub(crate) fn records(
    conn: &Connection,
    program: &Program,
) -> Result<Vec<AccountRecords>, StoreError> {
    let mut accounts: BTreeMap<AccountId, AccountRecords> = BTreeMap::new();
    {
        let mut stmt = conn
            .prepare(
                "SELECT a.id, a.name, a.industry, a.country, a.employees, a.annual_revenue,
                        a.annual_revenue_currency, a.membership, a.tags, t.tier
                 FROM accounts a LEFT JOIN tier_states t ON t.account_id = a.id
                 WHERE a.merged_into IS NULL",
            )
            .map_err(db_error)?;
        let rows = stmt
            .query_map([], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, Option<String>>(2)?,
                    row.get::<_, Option<String>>(3)?,
                    row.get::<_, Option<u32>>(4)?,
                    row.get::<_, Option<String>>(5)?,
                    row.get::<_, Option<String>>(6)?,
                    row.get::<_, Option<String>>(7)?,
                    row.get::<_, String>(8)?,
                    row.get::<_, Option<String>>(9)?,
                ))
            })
            .map_err(db_error)?;
        for row in rows {
            let (id, name, industry, country, employees, revenue, currency, status, tags, tier) =
                row.map_err(db_error)?;
            let tags: Vec<String> = serde_json::from_str(&tags)
                .map_err(|e| StoreError::Corrupt(format!("tags of account {id}: {e}")))?;
            accounts.insert(
                id,
                AccountRecords {
                    profile: Profile {
                        id,
                        name,
                        industry,
                        country,
                        employees,
                        annual_revenue: annual_revenue(program, revenue, currency),
                        tier,
                        status,
                        tags,
                        ..Profile::default()
                    },
                    responses: Vec::new(),
                },
            );
        }
    }
    {
        let mut stmt = conn
            .prepare("SELECT account_id, points FROM account_balances")
            .map_err(db_error)?;
        let rows = stmt
            .query_map([], |row| Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?)))
            .map_err(db_error)?;
        for row in rows {
            let (id, balance) = row.map_err(db_error)?;
            if let Some(account) = accounts.get_mut(&id) {
                account.profile.balance = balance;
            }
        }
    }
    {
        let mut stmt = conn
            .prepare(&format!(
                "SELECT account_id, {SPEND_COLUMNS} FROM purchases WHERE account_id IS NOT NULL"
            ))
            .map_err(db_error)?;
        let rows = stmt
            .query_map([], |row| Ok((row.get::<_, i64>(0)?, spend_row_at(row, 1)?)))
            .map_err(db_error)?;
        for row in rows {
            let (id, spend) = row.map_err(db_error)?;
            let Some(account) = accounts.get_mut(&id) else {
                continue;
            };
            let item = spend_item(spend)
                .map_err(|e| StoreError::Corrupt(format!("purchase of account {id}: {e}")))?;
            if let Some(item) = item.filter(|item| item.amount > Decimal::ZERO) {
                account.profile.purchases.push(item);
            }
        }
    }
    {
        let mut stmt = conn
            .prepare(
                "SELECT id, account_id, email, first_name, last_name, role FROM contacts
                 WHERE account_id IS NOT NULL ORDER BY id",
            )
            .map_err(db_error)?;
        let rows = stmt
            .query_map([], |row| {
                Ok((
                    row.get::<_, i64>(1)?,
                    ContactProfile {
                        id: row.get(0)?,
                        email: row.get(2)?,
                        first_name: row.get(3)?,
                        last_name: row.get(4)?,
                        role: row.get(5)?,
                    },
                ))
            })
            .map_err(db_error)?;
        for row in rows {
            let (id, contact) = row.map_err(db_error)?;
            if let Some(account) = accounts.get_mut(&id) {
                account.profile.contacts.push(contact);
            }
        }
    }
    {
        let mut stmt = conn
            .prepare(
                "SELECT account_id, contact_id, score, occurred_at FROM engagements
                 WHERE kind = 'nps_response' AND score IS NOT NULL ORDER BY occurred_at",
            )
            .map_err(db_error)?;
        let rows = stmt
            .query_map([], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, Option<i64>>(1)?,
                    row.get::<_, u8>(2)?,
                    row.get::<_, i64>(3)?,
                ))
            })
            .map_err(db_error)?;
        for row in rows {
            let (id, contact, score, at) = row.map_err(db_error)?;
            if let Some(account) = accounts.get_mut(&id) {
                // A response without a contact speaks for the account as a
                // whole: one respondent per account, numbered below zero.
                let respondent = contact.unwrap_or(-id);
                account.responses.push(NpsResponse {
                    respondent,
                    score,
                    at,
                });
            }
        }
    }
    Ok(accounts.into_values().collect())
}

/// Every account scored as of `now`, with the program's scores.
pub(crate) fn scored(
    conn: &Connection,
    program: &Program,
    now: i64,
) -> Result<(Vec<Scored>, ProgramScores), StoreError> {
    Ok(profiles::score(
        records(conn, program)?,
        &program.scoring,
        now,
    ))
}

/// The loyal accounts as of `now`.
pub(crate) fn loyal_accounts(
    conn: &Connection,
    program: &Program,
    now: i64,
) -> Result<BTreeSet<AccountId>, StoreError> {
    let (scored, _) = scored(conn, program, now)?;
    Ok(scored
        .into_iter()
        .filter(|s| s.profile.loyal)
        .map(|s| s.profile.id)
        .collect())
}
