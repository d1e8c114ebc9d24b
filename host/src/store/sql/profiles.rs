//! Loads every account's records for scoring: profile fields, tier,
//! balance, paid purchases, contacts and NPS responses, in a few queries
//! over the whole program, then scores them with the core.

use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::Decimal;

use crate::core::accounts::AccountId;
use crate::core::profiles::{self, AccountRecords, ProgramScores, Scored};
use crate::core::program::Program;
use crate::core::scoring::NpsResponse;
use crate::core::segments::{ContactProfile, Profile};
use crate::store::StoreError;
use crate::store::db::Db;
use crate::store::sql::book::read_spend;

/// Annual revenue in the program currency, when its currency has a rate.
fn annual_revenue(
    program: &Program,
    amount: Option<Decimal>,
    currency: Option<String>,
) -> Option<Decimal> {
    let amount = amount?;
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
pub(crate) fn records(conn: &dyn Db, program: &Program) -> Result<Vec<AccountRecords>, StoreError> {
    let mut accounts: BTreeMap<AccountId, AccountRecords> = BTreeMap::new();
    conn.query(
        "SELECT a.id, a.name, a.industry, a.country, a.employees, a.annual_revenue,
                a.annual_revenue_currency, a.membership, a.tags, t.tier
         FROM accounts a LEFT JOIN tier_states t ON t.account_id = a.id
         WHERE a.merged_into IS NULL",
        &[],
        &mut |row| {
            let id: i64 = row.get(0)?;
            let name: String = row.get(1)?;
            let industry: Option<String> = row.get(2)?;
            let country: Option<String> = row.get(3)?;
            let employees: Option<u32> = row.get(4)?;
            let revenue: Option<Decimal> = row.get(5)?;
            let currency: Option<String> = row.get(6)?;
            let status: Option<String> = row.get(7)?;
            let tags: String = row.get(8)?;
            let tier: Option<String> = row.get(9)?;
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
            Ok(true)
        },
    )?;
    conn.query(
        "SELECT account_id, points FROM account_balances",
        &[],
        &mut |row| {
            let id: i64 = row.get(0)?;
            let balance: i64 = row.get(1)?;
            if let Some(account) = accounts.get_mut(&id) {
                account.profile.balance = balance;
            }
            Ok(true)
        },
    )?;
    read_spend(conn, "account_id IS NOT NULL", &[], &mut |id, item| {
        if let Some(account) = accounts.get_mut(&id)
            && item.amount > Decimal::ZERO
        {
            account.profile.purchases.push(item);
        }
        Ok(())
    })?;
    conn.query(
        "SELECT id, account_id, email, first_name, last_name, role FROM contacts
         WHERE account_id IS NOT NULL ORDER BY id",
        &[],
        &mut |row| {
            let id: i64 = row.get(1)?;
            let contact = ContactProfile {
                id: row.get(0)?,
                email: row.get(2)?,
                first_name: row.get(3)?,
                last_name: row.get(4)?,
                role: row.get(5)?,
            };
            if let Some(account) = accounts.get_mut(&id) {
                account.profile.contacts.push(contact);
            }
            Ok(true)
        },
    )?;
    conn.query(
        "SELECT account_id, contact_id, score, occurred_at FROM engagements
         WHERE kind = 'nps_response' AND score IS NOT NULL ORDER BY occurred_at",
        &[],
        &mut |row| {
            let id: i64 = row.get(0)?;
            let contact: Option<i64> = row.get(1)?;
            let score: i64 = row.get(2)?;
            let score = u8::try_from(score).map_err(|_| {
                StoreError::Corrupt(format!("account {id}: NPS score {score} out of range"))
            })?;
            let at: i64 = row.get(3)?;
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
            Ok(true)
        },
    )?;
    Ok(accounts.into_values().collect())
}

/// Every account scored as of `now`, with the program's scores.
pub(crate) fn scored(
    conn: &dyn Db,
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
    conn: &dyn Db,
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
