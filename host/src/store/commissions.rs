//! Referral attribution and commissions inside a store transaction, shared
//! by every backend: a purchase carrying a referral code attributes its
//! account to the code's owner; a referred account's purchases accrue the
//! program's commissions (see [`crate::core::commissions`]), and their
//! refunds claw them back.

use crate::core::accounts::AccountId;
use crate::core::commissions::{self, CommissionKind, Due};
use crate::core::event::Purchase;
use crate::core::ledger::{EntryKind, NewEntry};
use crate::core::program::Program;
use crate::core::purchases::PurchaseRecord;
use crate::store::StoreError;
use crate::store::apply::{Book, Context, NewCommission, ReferralState};

/// The basis of commissions for a purchase.
pub(crate) fn purchase_basis(source: &str, id: &str) -> String {
    format!("purchase:{source}/{id}")
}

/// Attributes `account` to the owner of the purchase's referral code when
/// this is the account's first paid purchase and nobody referred it yet.
/// An unknown code, or an account's own code, attributes nothing.
pub(crate) fn attribute(
    book: &mut impl Book,
    cx: &Context<'_>,
    account: AccountId,
    purchase: &Purchase,
) -> Result<(), StoreError> {
    let Some(code) = purchase.referral_code.as_deref().map(str::trim) else {
        return Ok(());
    };
    if code.is_empty() || book.referral_of(account)?.is_some() {
        return Ok(());
    }
    if !book.spend_items(account, i64::MIN)?.is_empty() {
        return Ok(());
    }
    match book.referral_code_owner(&code.to_ascii_uppercase())? {
        Some(referrer) if referrer != account => {
            let actor = format!("purchase:{}/{}", cx.source, purchase.source_id);
            book.insert_referral(referrer, account, "code", &actor)?;
            tracing::info!(
                referrer,
                referred = account,
                code,
                "referral attributed by code"
            );
        }
        Some(_) => tracing::info!(account, code, "an account's own referral code is ignored"),
        None => tracing::warn!(
            account,
            code,
            source = cx.source,
            purchase = purchase.source_id.as_str(),
            "unknown referral code on a purchase"
        ),
    }
    Ok(())
}

/// Accrues what the flat and revenue-share rules owe for one purchase of a
/// referred account, given the purchase's current state: the difference
/// from what was accrued before (a refund makes it negative). Points are
/// credited (or taken back) in the referrer's ledger at once. Returns the
/// ledger entries appended.
pub(crate) fn after_purchase(
    book: &mut impl Book,
    cx: &Context<'_>,
    program: &Program,
    record: &PurchaseRecord,
    referred: AccountId,
) -> Result<usize, StoreError> {
    let rules = &cx.program.referrals.commissions;
    if rules.is_empty() {
        return Ok(0);
    }
    let Some(ReferralState {
        id: referral,
        referrer,
        qualified_at: Some(qualified_at),
        qualified_by,
    }) = book.referral_of(referred)?
    else {
        return Ok(0);
    };
    let basis = purchase_basis(&record.source, &record.id);
    let net = record.qualifying_amount();
    let placed_at = record.placed_at.unwrap_or(qualified_at);
    let mut appended = 0;
    for rule in rules {
        let (kind, due) = match &rule.kind {
            CommissionKind::Flat { amount, points } => {
                let key = format!("{}/{}", record.source, record.id);
                if qualified_by.as_deref() != Some(key.as_str()) {
                    continue;
                }
                ("flat", commissions::flat_due(*amount, *points, net))
            }
            CommissionKind::RevenueShare {
                percent,
                months,
                pay_in,
            } => (
                "revenue_share",
                commissions::share_due(
                    *percent,
                    *months,
                    *pay_in,
                    qualified_at,
                    placed_at,
                    net,
                    program.points_per_unit,
                ),
            ),
            CommissionKind::GoalBonus { .. } => continue,
        };
        let accrued = book.accrued(&rule.id, referral, &basis)?;
        let Some(delta) = due.beyond(accrued) else {
            continue;
        };
        let commission = NewCommission {
            referral,
            referrer,
            referred,
            rule: &rule.id,
            kind,
            basis: &basis,
            due: delta,
            currency: &cx.program.currency,
            occurred_at: cx.now,
        };
        appended += accrue(book, cx, &commission)?;
    }
    Ok(appended)
}

/// Pays the goal bonuses a referrer reached with the referral that
/// qualified at `at`: once per rule and period.
pub(crate) fn after_qualification(
    book: &mut impl Book,
    cx: &Context<'_>,
    referral: i64,
    referrer: AccountId,
    referred: AccountId,
    at: i64,
) -> Result<usize, StoreError> {
    let mut appended = 0;
    for rule in &cx.program.referrals.commissions {
        let CommissionKind::GoalBonus {
            referrals,
            period,
            amount,
            points,
        } = &rule.kind
        else {
            continue;
        };
        let (from, to) = period.bounds(at);
        let basis = format!("goal:{from}");
        if book.qualified_between(referrer, from, to)? < *referrals
            || book.accrued_to(&rule.id, referrer, &basis)?
        {
            continue;
        }
        let due = Due {
            amount: amount.map_or(rust_decimal::Decimal::ZERO, commissions::round_money),
            points: points.unwrap_or(0),
        };
        let commission = NewCommission {
            referral,
            referrer,
            referred,
            rule: &rule.id,
            kind: "goal_bonus",
            basis: &basis,
            due,
            currency: &cx.program.currency,
            occurred_at: at,
        };
        appended += accrue(book, cx, &commission)?;
    }
    Ok(appended)
}

/// Appends the commission and, for points, its ledger entry.
fn accrue(
    book: &mut impl Book,
    cx: &Context<'_>,
    commission: &NewCommission<'_>,
) -> Result<usize, StoreError> {
    let id = book.add_commission(commission)?;
    tracing::info!(
        referrer = commission.referrer,
        referred = commission.referred,
        rule = commission.rule,
        basis = commission.basis,
        amount = %commission.due.amount,
        points = commission.due.points,
        "commission accrued"
    );
    if commission.due.points == 0 {
        return Ok(0);
    }
    let entry = NewEntry {
        kind: if commission.due.points > 0 {
            EntryKind::Bonus
        } else {
            EntryKind::Reverse
        },
        points: commission.due.points,
        effect_key: format!("commission/{id}"),
        source: "program".to_owned(),
        reference: commission.basis.to_owned(),
        amount: None,
        rate: None,
        reason: Some(format!(
            "referral commission `{}` for account {}",
            commission.rule, commission.referred
        )),
        occurred_at: commission.occurred_at,
    };
    Ok(usize::from(book.append_entry(
        commission.referrer,
        &entry,
        &cx.program.version,
        cx.now,
    )?))
}
