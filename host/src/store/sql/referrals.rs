//! Referral codes, commission listings, the referral report and payout
//! batches over SQLite.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde_json::json;

use crate::core::accounts::AccountId;
use crate::core::commissions::{self, PayoutSchedule, Unpaid};
use crate::core::program::Period;
use crate::store::StoreError;
use crate::store::apply::Book;
use crate::store::db::{Db, Money, Param, Row};
use crate::store::payouts::{
    CommissionView, PaidOutcome, Payout, PayoutLineView, ReferralReport, ReferredAccount,
    ReferrerLine,
};
use crate::store::sql::Env;
use crate::store::sql::admin::audit;
use crate::store::sql::book::SqlBook;

/// Letters of generated codes: no 0/O or 1/I to misread.
const CODE_ALPHABET: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
/// Characters after the prefix.
const CODE_LENGTH: usize = 8;

/// The account's referral code, made on first request; `None` for an
/// unknown account. A merged account's code belongs to the survivor.
pub(crate) fn referral_code(
    conn: &dyn Db,
    env: &Env,
    account: AccountId,
    prefix: &str,
) -> Result<Option<String>, StoreError> {
    let known: Option<Option<i64>> = conn.row(
        "SELECT merged_into FROM accounts WHERE id = ?1",
        &[&account],
        |row| row.get(0),
    )?;
    let Some(merged_into) = known else {
        return Ok(None);
    };
    let account = merged_into.unwrap_or(account);
    let existing: Option<String> = conn.row(
        "SELECT code FROM referral_codes WHERE account_id = ?1",
        &[&account],
        |row| row.get(0),
    )?;
    if let Some(code) = existing {
        return Ok(Some(code));
    }
    loop {
        let suffix: String = (0..CODE_LENGTH)
            .map(|_| char::from(CODE_ALPHABET[fastrand::usize(..CODE_ALPHABET.len())]))
            .collect();
        let code = format!("{prefix}-{suffix}");
        let inserted = conn.execute(
            "INSERT INTO referral_codes (code, account_id, created_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (code) DO NOTHING",
            &[&code, &account, &env.now],
        )?;
        if inserted == 1 {
            return Ok(Some(code));
        }
    }
}

/// The account owning a code (the survivor of a merge).
pub(crate) fn code_owner(conn: &dyn Db, code: &str) -> Result<Option<AccountId>, StoreError> {
    conn.row(
        "SELECT COALESCE(a.merged_into, a.id) FROM referral_codes c
         JOIN accounts a ON a.id = c.account_id WHERE c.code = ?1",
        &[&code.trim().to_ascii_uppercase()],
        |row| row.get(0),
    )
}

const COMMISSION_COLUMNS: &str =
    "id, referrer, referred, rule, kind, basis, amount, currency, points, occurred_at, payout_id";

fn commission_row(row: &dyn Row) -> Result<CommissionView, StoreError> {
    Ok(CommissionView {
        id: row.get(0)?,
        referrer: row.get(1)?,
        referred: row.get(2)?,
        rule: row.get(3)?,
        kind: row.get(4)?,
        basis: row.get(5)?,
        amount: row.get(6)?,
        currency: row.get(7)?,
        points: row.get(8)?,
        occurred_at: row.get(9)?,
        payout_id: row.get(10)?,
    })
}

fn commissions_where(
    conn: &dyn Db,
    clause: &str,
    args: &[&dyn Param],
) -> Result<Vec<CommissionView>, StoreError> {
    conn.rows(
        &format!("SELECT {COMMISSION_COLUMNS} FROM commissions WHERE {clause} ORDER BY id"),
        args,
        commission_row,
    )
}

/// Every commission accrued to a referrer, oldest first.
pub(crate) fn commissions_of(
    conn: &dyn Db,
    referrer: AccountId,
) -> Result<Vec<CommissionView>, StoreError> {
    commissions_where(conn, "referrer = ?1", &[&referrer])
}

fn name_of(conn: &dyn Db, account: AccountId) -> Result<String, StoreError> {
    conn.one(
        "SELECT name FROM accounts WHERE id = ?1",
        &[&account],
        |row| row.get(0),
    )
}

/// Revenue of an account's purchases placed in `[from, to)`, in the program
/// currency, net of refunds.
fn revenue_between(
    conn: &dyn Db,
    account: AccountId,
    from: i64,
    to: i64,
) -> Result<Decimal, StoreError> {
    let items = SqlBook::new(conn, 0).spend_items(account, from.saturating_sub(1))?;
    Ok(items
        .iter()
        .filter(|item| item.placed_at < to)
        .fold(Decimal::ZERO, |sum, item| sum.saturating_add(item.amount)))
}

/// The referral report for `[from, to)`: referrals recorded in it, with
/// the referred accounts' revenue and the commissions accrued in it.
pub(crate) fn report(
    conn: &dyn Db,
    from: i64,
    to: i64,
    currency: &str,
) -> Result<ReferralReport, StoreError> {
    let rows = conn.rows(
        "SELECT r.referrer, r.referred, r.source, r.created_at, r.qualified_at, a.name
         FROM referrals r JOIN accounts a ON a.id = r.referred
         WHERE r.created_at >= ?1 AND r.created_at < ?2 ORDER BY r.id",
        &[&from, &to],
        |row| {
            Ok((
                row.get::<i64>(0)?,
                row.get::<i64>(1)?,
                row.get::<String>(2)?,
                row.get::<i64>(3)?,
                row.get::<Option<i64>>(4)?,
                row.get::<String>(5)?,
            ))
        },
    )?;
    let mut referrers: BTreeMap<AccountId, ReferrerLine> = BTreeMap::new();
    let mut report = ReferralReport {
        from,
        to,
        currency: currency.to_owned(),
        referrals: 0,
        qualified: 0,
        revenue: Decimal::ZERO,
        commission: Decimal::ZERO,
        commission_points: 0,
        referrers: Vec::new(),
    };
    for (referrer, referred, source, referred_at, qualified_at, name) in rows {
        let qualified_at = qualified_at.filter(|at| *at < to);
        let revenue = revenue_between(conn, referred, from, to)?;
        let line = match referrers.entry(referrer) {
            std::collections::btree_map::Entry::Occupied(line) => line.into_mut(),
            std::collections::btree_map::Entry::Vacant(slot) => slot.insert(ReferrerLine {
                account_id: referrer,
                name: name_of(conn, referrer)?,
                referred: Vec::new(),
                qualified: 0,
                revenue: Decimal::ZERO,
                commission: Decimal::ZERO,
                commission_points: 0,
            }),
        };
        report.referrals += 1;
        if qualified_at.is_some() {
            report.qualified += 1;
            line.qualified += 1;
        }
        report.revenue = report.revenue.saturating_add(revenue);
        line.revenue = line.revenue.saturating_add(revenue);
        line.referred.push(ReferredAccount {
            account_id: referred,
            name,
            source,
            referred_at,
            qualified_at,
            revenue,
        });
    }
    for commission in commissions_where(
        conn,
        "occurred_at >= ?1 AND occurred_at < ?2",
        &[&from, &to],
    )? {
        report.commission = report.commission.saturating_add(commission.amount);
        report.commission_points = report.commission_points.saturating_add(commission.points);
        let line = match referrers.entry(commission.referrer) {
            std::collections::btree_map::Entry::Occupied(line) => line.into_mut(),
            std::collections::btree_map::Entry::Vacant(slot) => slot.insert(ReferrerLine {
                account_id: commission.referrer,
                name: name_of(conn, commission.referrer)?,
                referred: Vec::new(),
                qualified: 0,
                revenue: Decimal::ZERO,
                commission: Decimal::ZERO,
                commission_points: 0,
            }),
        };
        line.commission = line.commission.saturating_add(commission.amount);
        line.commission_points = line.commission_points.saturating_add(commission.points);
    }
    report.referrers = referrers.into_values().collect();
    report.referrers.sort_by(|a, b| {
        b.referred
            .len()
            .cmp(&a.referred.len())
            .then(a.account_id.cmp(&b.account_id))
    });
    Ok(report)
}

/// The batch a run at `now` makes: its key, the first moment of the month
/// it settles (monthly) and the moment commissions must have accrued before.
fn batch_window(
    conn: &dyn Db,
    schedule: PayoutSchedule,
    now: i64,
) -> Result<Option<(String, Option<i64>, i64)>, StoreError> {
    match schedule {
        PayoutSchedule::Monthly => {
            let (this_month, _) = Period::Month.bounds(now);
            let (last_month, _) = Period::Month.bounds(this_month.saturating_sub(1));
            let label = jiff::Timestamp::from_millisecond(last_month)
                .map(|t| t.strftime("%Y-%m").to_string())
                .map_err(|e| StoreError::Corrupt(format!("month start {last_month}: {e}")))?;
            Ok(Some((
                format!("monthly:{label}"),
                Some(last_month),
                this_month,
            )))
        }
        PayoutSchedule::PerPurchase => {
            // The newest unpaid commission worth money, compared as a
            // number in Rust whatever the backend stores amounts as.
            let mut newest = None;
            conn.query(
                "SELECT id, amount FROM commissions WHERE payout_id IS NULL ORDER BY id DESC",
                &[],
                &mut |row| {
                    if row.get::<Decimal>(1)?.is_zero() {
                        return Ok(true);
                    }
                    newest = Some(row.get::<i64>(0)?);
                    Ok(false)
                },
            )?;
            Ok(newest.map(|id| (format!("through:{id}"), None, now.saturating_add(1))))
        }
    }
}

/// Makes the payout batch due at `env.now` under `schedule`, if any
/// commissions are owed and that batch does not exist yet; returns it.
/// Each unpaid money commission accrued before the batch's end joins one
/// line per referrer whose sum is above zero (see
/// [`commissions::payout_lines`]); a commission is in one batch at most.
pub(crate) fn run(
    conn: &dyn Db,
    env: &Env,
    schedule: PayoutSchedule,
    currency: &str,
    actor: &str,
) -> Result<Option<Payout>, StoreError> {
    let Some((key, period_start, period_end)) = batch_window(conn, schedule, env.now)? else {
        return Ok(None);
    };
    let existing: Option<i64> =
        conn.row("SELECT id FROM payouts WHERE key = ?1", &[&key], |row| {
            row.get(0)
        })?;
    if existing.is_some() {
        return Ok(None);
    }
    let unpaid: Vec<Unpaid> = commissions_where(
        conn,
        "payout_id IS NULL AND occurred_at < ?1",
        &[&period_end],
    )?
    .into_iter()
    .filter(|c| !c.amount.is_zero())
    .map(|c| Unpaid {
        id: c.id,
        referrer: c.referrer,
        amount: c.amount,
    })
    .collect();
    let lines = commissions::payout_lines(&unpaid);
    if lines.is_empty() {
        return Ok(None);
    }
    let total = lines
        .iter()
        .fold(Decimal::ZERO, |sum, line| sum.saturating_add(line.amount));
    let id: i64 = conn.one(
        "INSERT INTO payouts (key, schedule, period_start, period_end, currency, total, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
        &[
            &key,
            &schedule.as_str(),
            &period_start,
            &period_end,
            &currency,
            &Money(total),
            &env.now,
        ],
        |row| row.get(0),
    )?;
    for line in &lines {
        conn.execute(
            "INSERT INTO payout_lines (payout_id, referrer, amount, commissions) VALUES (?1, ?2, ?3, ?4)",
            &[
                &id,
                &line.referrer,
                &Money(line.amount),
                &i64::try_from(line.commissions.len()).unwrap_or(i64::MAX),
            ],
        )?;
        for commission in &line.commissions {
            conn.execute(
                "UPDATE commissions SET payout_id = ?1 WHERE id = ?2 AND payout_id IS NULL",
                &[&id, commission],
            )?;
        }
    }
    let payout =
        payout(conn, id)?.ok_or_else(|| StoreError::Corrupt(format!("payout {id} vanished")))?;
    audit(
        conn,
        actor,
        "payout.create",
        &format!("payout:{id}"),
        None,
        Some(
            &json!({ "key": payout.key, "total": payout.total.to_string(), "lines": payout.lines.len() }),
        ),
        env.now,
    )?;
    Ok(Some(payout))
}

const PAYOUT_COLUMNS: &str = "id, key, schedule, period_start, period_end, currency, total, created_at, paid_at, paid_by, reference";

/// One payout with its lines.
pub(crate) fn payout(conn: &dyn Db, id: i64) -> Result<Option<Payout>, StoreError> {
    let row = conn.row(
        &format!("SELECT {PAYOUT_COLUMNS} FROM payouts WHERE id = ?1"),
        &[&id],
        payout_row,
    )?;
    let Some((mut payout, schedule)) = row else {
        return Ok(None);
    };
    payout.schedule = PayoutSchedule::parse(&schedule)
        .ok_or_else(|| StoreError::Corrupt(format!("payout {id} has schedule `{schedule}`")))?;
    payout.lines = conn.rows(
        "SELECT l.referrer, a.name, a.tax_id, l.amount, l.commissions FROM payout_lines l
         JOIN accounts a ON a.id = l.referrer WHERE l.payout_id = ?1 ORDER BY l.referrer",
        &[&id],
        |row| {
            Ok(PayoutLineView {
                referrer: row.get(0)?,
                name: row.get(1)?,
                tax_id: row.get(2)?,
                amount: row.get(3)?,
                commissions: row.get(4)?,
            })
        },
    )?;
    Ok(Some(payout))
}

fn payout_row(row: &dyn Row) -> Result<(Payout, String), StoreError> {
    Ok((
        Payout {
            id: row.get(0)?,
            key: row.get(1)?,
            schedule: PayoutSchedule::Monthly,
            period_start: row.get(3)?,
            period_end: row.get(4)?,
            currency: row.get(5)?,
            total: row.get(6)?,
            created_at: row.get(7)?,
            paid_at: row.get(8)?,
            paid_by: row.get(9)?,
            reference: row.get(10)?,
            lines: Vec::new(),
        },
        row.get(2)?,
    ))
}

/// Every payout, newest first, with its lines.
pub(crate) fn payouts(conn: &dyn Db) -> Result<Vec<Payout>, StoreError> {
    let ids: Vec<i64> = conn.rows("SELECT id FROM payouts ORDER BY id DESC", &[], |row| {
        row.get(0)
    })?;
    ids.into_iter()
        .filter_map(|id| payout(conn, id).transpose())
        .collect()
}

/// Marks a payout paid once, with the payment's reference.
pub(crate) fn mark_paid(
    conn: &dyn Db,
    env: &Env,
    id: i64,
    actor: &str,
    reference: Option<&str>,
) -> Result<PaidOutcome, StoreError> {
    let Some(before) = payout(conn, id)? else {
        return Ok(PaidOutcome::Unknown);
    };
    if before.paid_at.is_some() {
        return Ok(PaidOutcome::AlreadyPaid(before));
    }
    conn.execute(
        "UPDATE payouts SET paid_at = ?2, paid_by = ?3, reference = ?4 WHERE id = ?1 AND paid_at IS NULL",
        &[&id, &env.now, &actor, &reference],
    )?;
    let after =
        payout(conn, id)?.ok_or_else(|| StoreError::Corrupt(format!("payout {id} vanished")))?;
    audit(
        conn,
        actor,
        "payout.paid",
        &format!("payout:{id}"),
        Some(&json!({ "paid_at": null })),
        Some(&json!({ "paid_at": after.paid_at, "reference": after.reference })),
        env.now,
    )?;
    Ok(PaidOutcome::Marked(after))
}
