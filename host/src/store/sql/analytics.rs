//! Loads the book analytics read: every active account's history
//! (membership changes, paid purchases, ledger entries, redemptions, tier
//! changes, eligibility now), every referral and every money commission.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use crate::core::accounts::AccountId;
use crate::core::analytics::{
    AccountHistory, Book, CommissionFact, PointsMove, RedemptionFact, ReferralFact, StatusChange,
    TierChange,
};
use crate::core::ledger::EntryKind;
use crate::core::membership::MembershipStatus;
use crate::core::program::Program;
use crate::core::rewards::RedemptionStatus;
use crate::store::StoreError;
use crate::store::db::{Db, Row};
use crate::store::sql::profiles;

/// Rows of one query, each handed to `each`.
fn rows<T>(
    conn: &dyn Db,
    sql: &str,
    mut map: impl FnMut(&dyn Row) -> Result<T, StoreError>,
    mut each: impl FnMut(T) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    conn.query(sql, &[], &mut |row| {
        each(map(row)?)?;
        Ok(true)
    })
}

fn corrupt(what: &str, id: AccountId, value: &str) -> StoreError {
    StoreError::Corrupt(format!("account {id}: {what} `{value}`"))
}

/// The whole book as of `now`.
pub(crate) fn book(conn: &dyn Db, program: &Program, now: i64) -> Result<Book, StoreError> {
    let (scored, _) = profiles::scored(conn, program, now)?;
    let rules = &program.membership.eligibility;
    let mut accounts: BTreeMap<AccountId, AccountHistory> = scored
        .into_iter()
        .map(|s| {
            let eligible = s.meets(rules, now);
            let history = AccountHistory {
                id: s.profile.id,
                name: s.profile.name,
                eligible,
                purchases: s.profile.purchases,
                ..AccountHistory::default()
            };
            (history.id, history)
        })
        .collect();
    rows(
        conn,
        "SELECT id, created_at FROM accounts WHERE merged_into IS NULL",
        |row| Ok((row.get::<i64>(0)?, row.get::<i64>(1)?)),
        |(id, at)| {
            if let Some(account) = accounts.get_mut(&id) {
                account.known_since = at;
            }
            Ok(())
        },
    )?;
    rows(
        conn,
        "SELECT account_id, to_status, at FROM membership_history ORDER BY id",
        |row| {
            Ok((
                row.get::<i64>(0)?,
                row.get::<Option<String>>(1)?,
                row.get::<i64>(2)?,
            ))
        },
        |(id, status, at)| {
            if let Some(account) = accounts.get_mut(&id) {
                let status = status
                    .map(|s| {
                        MembershipStatus::parse(&s).ok_or_else(|| corrupt("membership", id, &s))
                    })
                    .transpose()?;
                account.membership.push(StatusChange { at, status });
            }
            Ok(())
        },
    )?;
    rows(
        conn,
        "SELECT account_id, kind, points, occurred_at FROM ledger",
        |row| {
            Ok((
                row.get::<i64>(0)?,
                row.get::<String>(1)?,
                row.get::<i64>(2)?,
                row.get::<i64>(3)?,
            ))
        },
        |(id, kind, points, at)| {
            if let Some(account) = accounts.get_mut(&id) {
                let kind =
                    EntryKind::parse(&kind).ok_or_else(|| corrupt("entry kind", id, &kind))?;
                account.points.push(PointsMove { at, kind, points });
            }
            Ok(())
        },
    )?;
    rows(
        conn,
        "SELECT account_id, reward_id, points, status, updated_at FROM redemptions",
        |row| {
            Ok((
                row.get::<i64>(0)?,
                row.get::<String>(1)?,
                row.get::<i64>(2)?,
                row.get::<String>(3)?,
                row.get::<i64>(4)?,
            ))
        },
        |(id, reward, points, status, at)| {
            if let Some(account) = accounts.get_mut(&id) {
                let status = RedemptionStatus::parse(&status)
                    .ok_or_else(|| corrupt("redemption status", id, &status))?;
                account.redemptions.push(RedemptionFact {
                    reward,
                    points,
                    status,
                    at,
                });
            }
            Ok(())
        },
    )?;
    rows(
        conn,
        "SELECT account_id, to_tier, at FROM tier_history ORDER BY id",
        |row| {
            Ok((
                row.get::<i64>(0)?,
                row.get::<Option<String>>(1)?,
                row.get::<i64>(2)?,
            ))
        },
        |(id, tier, at)| {
            if let Some(account) = accounts.get_mut(&id) {
                account.tiers.push(TierChange { at, tier });
            }
            Ok(())
        },
    )?;
    let mut referrals = Vec::new();
    rows(
        conn,
        "SELECT referrer, referred, qualified_at FROM referrals",
        |row| {
            Ok(ReferralFact {
                referrer: row.get(0)?,
                referred: row.get(1)?,
                qualified_at: row.get(2)?,
            })
        },
        |referral| {
            referrals.push(referral);
            Ok(())
        },
    )?;
    let mut commissions = Vec::new();
    rows(
        conn,
        "SELECT amount, currency, occurred_at FROM commissions",
        |row| {
            Ok((
                row.get::<Decimal>(0)?,
                row.get::<String>(1)?,
                row.get::<i64>(2)?,
            ))
        },
        |(amount, currency, at)| {
            // Commissions are paid in the program currency; a row in another
            // currency (a program whose currency changed) converts when it can.
            if let Ok(rate) = program.rate(&currency) {
                commissions.push(CommissionFact {
                    at,
                    amount: amount * rate,
                });
            }
            Ok(())
        },
    )?;
    Ok(Book {
        accounts: accounts.into_values().collect(),
        referrals,
        commissions,
    })
}
