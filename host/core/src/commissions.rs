//! Referral commissions: what a referrer is owed for the accounts it
//! brought in.
//!
//! A referral *qualifies* with the referred account's first earning
//! purchase. Three kinds of rule then pay the referrer, in money (in the
//! program currency, rounded to the cent, half away from zero) and/or in
//! points:
//!
//! - **flat**: a fixed amount per qualified referral. It is owed while the
//!   purchase that qualified the referral keeps a net amount above zero, so
//!   refunding or cancelling that purchase in full claws it back.
//! - **revenue share**: `percent` of each paid purchase the referred account
//!   places from the qualification until `months` calendar months later,
//!   measured on the purchase's net amount after refunds in the program
//!   currency: `round(net x percent / 100, 2)`. A refund lowers what is owed,
//!   so it claws back its share. Paid in points instead, the share is
//!   `floor(share x points_per_unit)` points.
//! - **goal bonus**: once, when a referrer's qualified referrals within one
//!   calendar period (month, quarter, year) reach `referrals`. It is not
//!   clawed back.
//!
//! What is owed is always recomputed from the purchase's current state and
//! compared with what was already accrued; the difference is accrued, so a
//! repeated or reordered event never pays twice.

use rust_decimal::{Decimal, RoundingStrategy};

use crate::event::TimestampMs;
use crate::program::Period;

/// How the program pays referrers.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReferralRules {
    /// Prefix of generated referral codes (`"RW"` gives `RW-7KQ2M9XD`).
    pub code_prefix: String,
    /// Where a referral link sends a visitor, with `?ref=CODE` added.
    pub landing_url: Option<String>,
    /// Commission rules, each with a unique id.
    pub commissions: Vec<CommissionRule>,
    /// When money commissions are gathered into payout batches.
    pub payouts: PayoutSchedule,
}

/// One commission rule.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CommissionRule {
    /// Recorded with every commission it produces: never rename it.
    pub id: String,
    /// What it pays.
    pub kind: CommissionKind,
}

/// What a commission rule pays.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommissionKind {
    /// A fixed amount per qualified referral.
    Flat {
        /// Money, in the program currency.
        #[serde(with = "rust_decimal::serde::str_option")]
        amount: Option<Decimal>,
        /// Points.
        points: Option<i64>,
    },
    /// A share of the referred account's revenue for a while.
    RevenueShare {
        /// Percent of the net purchase amount.
        #[serde(with = "rust_decimal::serde::str")]
        percent: Decimal,
        /// Calendar months after the qualification the share runs for.
        months: u32,
        /// Paid in money or in points.
        pay_in: PayIn,
    },
    /// A bonus for reaching a number of qualified referrals in a period.
    GoalBonus {
        /// Qualified referrals needed within one period.
        referrals: u32,
        /// The calendar period they are counted in.
        period: Period,
        /// Money, in the program currency.
        #[serde(with = "rust_decimal::serde::str_option")]
        amount: Option<Decimal>,
        /// Points.
        points: Option<i64>,
    },
}

/// Whether a revenue share is paid in money or points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayIn {
    /// Money in the program currency.
    Money,
    /// Points, at the program's `points_per_unit`.
    Points,
}

/// When money commissions become payout batches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayoutSchedule {
    /// One batch per calendar month, after the month ends.
    #[default]
    Monthly,
    /// A batch as soon as commissions accrue.
    PerPurchase,
}

impl PayoutSchedule {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Monthly => "monthly",
            Self::PerPurchase => "per_purchase",
        }
    }

    /// Parses a stored name.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Monthly, Self::PerPurchase]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// Money and points owed, or (negative) clawed back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Due {
    /// Money in the program currency.
    pub amount: Decimal,
    /// Points.
    pub points: i64,
}

impl Due {
    /// Nothing owed.
    pub const ZERO: Self = Self {
        amount: Decimal::ZERO,
        points: 0,
    };

    /// What is owed beyond `accrued`; `None` when nothing changes.
    pub fn beyond(self, accrued: Self) -> Option<Self> {
        let delta = Self {
            amount: self.amount.saturating_sub(accrued.amount),
            points: self.points.saturating_sub(accrued.points),
        };
        (delta != Self::ZERO).then_some(delta)
    }
}

/// Money rounded to the cent, half away from zero, written with two
/// decimals (`100.00`).
pub fn round_money(amount: Decimal) -> Decimal {
    let mut cents = amount.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    cents.rescale(2);
    cents
}

/// What a flat rule owes for a referral whose qualifying purchase now nets
/// `qualifying_net` (after refunds; zero once cancelled).
pub fn flat_due(amount: Option<Decimal>, points: Option<i64>, qualifying_net: Decimal) -> Due {
    if qualifying_net <= Decimal::ZERO {
        return Due::ZERO;
    }
    Due {
        amount: amount.map_or(Decimal::ZERO, round_money),
        points: points.unwrap_or(0),
    }
}

/// Whether a purchase placed at `placed_at` falls in the revenue share of a
/// referral qualified at `qualified_at`: from the qualification until the
/// same instant `months` calendar months later (excluded).
pub fn in_share_window(qualified_at: TimestampMs, months: u32, placed_at: TimestampMs) -> bool {
    let Some(end) = add_months(qualified_at, months) else {
        return placed_at >= qualified_at;
    };
    placed_at >= qualified_at && placed_at < end
}

fn add_months(at: TimestampMs, months: u32) -> Option<TimestampMs> {
    let start = jiff::Timestamp::from_millisecond(at).ok()?;
    let zoned = start.to_zoned(jiff::tz::TimeZone::UTC);
    let later = zoned
        .checked_add(jiff::Span::new().months(i64::from(months)))
        .ok()?;
    Some(later.timestamp().as_millisecond())
}

/// What a revenue share owes for one purchase netting `net` in the program
/// currency (after refunds; zero once cancelled), placed at `placed_at`.
pub fn share_due(
    percent: Decimal,
    months: u32,
    pay_in: PayIn,
    qualified_at: TimestampMs,
    placed_at: TimestampMs,
    net: Decimal,
    points_per_unit: Decimal,
) -> Due {
    if !in_share_window(qualified_at, months, placed_at) || net <= Decimal::ZERO {
        return Due::ZERO;
    }
    let share = round_money(
        net.saturating_mul(percent)
            .checked_div(Decimal::ONE_HUNDRED)
            .unwrap_or(Decimal::ZERO),
    );
    match pay_in {
        PayIn::Money => Due {
            amount: share,
            points: 0,
        },
        PayIn::Points => Due {
            amount: Decimal::ZERO,
            points: points_of(share.saturating_mul(points_per_unit)),
        },
    }
}

fn points_of(value: Decimal) -> i64 {
    let floored = value.floor();
    i64::try_from(floored).unwrap_or(if floored.is_sign_negative() {
        i64::MIN
    } else {
        i64::MAX
    })
}

/// A referrer's payout line: what one batch pays one referrer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutLine {
    /// The referrer.
    pub referrer: i64,
    /// The commissions the line settles.
    pub commissions: Vec<i64>,
    /// Their sum, above zero.
    pub amount: Decimal,
}

/// Unpaid money commission, as a payout run sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unpaid {
    /// The commission's id.
    pub id: i64,
    /// Who it is owed to.
    pub referrer: i64,
    /// Its amount (negative for a clawback).
    pub amount: Decimal,
}

/// Gathers unpaid commissions into one line per referrer whose sum is above
/// zero. A referrer whose clawbacks outweigh its new commissions gets no
/// line: its commissions stay unpaid and are netted in a later batch.
pub fn payout_lines(unpaid: &[Unpaid]) -> Vec<PayoutLine> {
    let mut lines: std::collections::BTreeMap<i64, PayoutLine> = std::collections::BTreeMap::new();
    for commission in unpaid {
        let line = lines
            .entry(commission.referrer)
            .or_insert_with(|| PayoutLine {
                referrer: commission.referrer,
                commissions: Vec::new(),
                amount: Decimal::ZERO,
            });
        line.commissions.push(commission.id);
        line.amount = line.amount.saturating_add(commission.amount);
    }
    lines
        .into_values()
        .filter(|line| line.amount > Decimal::ZERO)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;
    /// 2026-01-31T00:00:00Z.
    const JAN_31: i64 = 1_769_817_600_000;

    fn dec(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    #[test]
    fn a_flat_commission_is_owed_until_its_qualifying_purchase_nets_nothing() {
        let owed = flat_due(Some(dec("100")), Some(500), dec("1200.00"));
        assert_eq!(
            owed,
            Due {
                amount: dec("100.00"),
                points: 500
            }
        );
        // A partial refund leaves 200 of the order: still owed.
        assert_eq!(
            flat_due(Some(dec("100")), None, dec("200")).amount,
            dec("100")
        );
        // Refunded in full: nothing owed, so the accrued 100 is clawed back.
        let refunded = flat_due(Some(dec("100")), Some(500), Decimal::ZERO);
        assert_eq!(refunded, Due::ZERO);
        assert_eq!(
            refunded.beyond(owed),
            Some(Due {
                amount: dec("-100.00"),
                points: -500
            })
        );
    }

    #[test]
    fn a_revenue_share_is_a_percentage_of_the_net_rounded_to_the_cent() {
        // 1234.57 x 5 / 100 = 61.7285 -> 61.73
        let due = share_due(
            dec("5"),
            12,
            PayIn::Money,
            JAN_31,
            JAN_31 + DAY,
            dec("1234.57"),
            Decimal::ONE,
        );
        assert_eq!(due.amount, dec("61.73"));
        assert_eq!(due.points, 0);
        // 2.5 % of 0.30 = 0.0075 -> 0.01 (half away from zero)
        let tiny = share_due(dec("2.5"), 1, PayIn::Money, 0, 0, dec("0.30"), Decimal::ONE);
        assert_eq!(tiny.amount, dec("0.01"));
    }

    #[test]
    fn a_revenue_share_in_points_floors_the_share_times_the_earning_rate() {
        // 3 % of 999.99 = 29.9997 -> 30.00 money -> x 1.5 points per unit = 45 points
        let due = share_due(
            dec("3"),
            6,
            PayIn::Points,
            JAN_31,
            JAN_31,
            dec("999.99"),
            dec("1.5"),
        );
        assert_eq!(
            due,
            Due {
                amount: Decimal::ZERO,
                points: 45
            }
        );
    }

    #[test]
    fn the_share_window_runs_whole_calendar_months_from_the_qualification() {
        // Qualified 2026-01-31: one month later is 2026-02-28 (jiff clamps
        // to the month's last day), so 2026-02-27 is in, 2026-02-28 out.
        let feb_28 = JAN_31 + 28 * DAY;
        assert!(in_share_window(JAN_31, 1, JAN_31));
        assert!(in_share_window(JAN_31, 1, feb_28 - 1));
        assert!(!in_share_window(JAN_31, 1, feb_28));
        assert!(!in_share_window(JAN_31, 12, JAN_31 - 1));
        assert_eq!(
            share_due(
                dec("5"),
                1,
                PayIn::Money,
                JAN_31,
                feb_28,
                dec("100"),
                Decimal::ONE
            ),
            Due::ZERO
        );
    }

    #[test]
    fn a_partial_refund_claws_back_its_share() {
        let before = share_due(dec("10"), 12, PayIn::Money, 0, 5, dec("800"), Decimal::ONE);
        let after = share_due(dec("10"), 12, PayIn::Money, 0, 5, dec("550"), Decimal::ONE);
        // 80.00 accrued; after a 250 refund 55.00 is owed: -25.00
        assert_eq!(after.beyond(before).map(|d| d.amount), Some(dec("-25.00")));
        assert_eq!(after.beyond(after), None);
    }

    #[test]
    fn payout_lines_net_clawbacks_and_hold_back_referrers_who_owe() {
        let unpaid = [
            Unpaid {
                id: 1,
                referrer: 7,
                amount: dec("100.00"),
            },
            Unpaid {
                id: 2,
                referrer: 7,
                amount: dec("-25.00"),
            },
            Unpaid {
                id: 3,
                referrer: 9,
                amount: dec("-40.00"),
            },
            Unpaid {
                id: 4,
                referrer: 9,
                amount: dec("15.00"),
            },
            Unpaid {
                id: 5,
                referrer: 11,
                amount: dec("0.01"),
            },
        ];
        assert_eq!(
            payout_lines(&unpaid),
            [
                PayoutLine {
                    referrer: 7,
                    commissions: vec![1, 2],
                    amount: dec("75.00")
                },
                PayoutLine {
                    referrer: 11,
                    commissions: vec![5],
                    amount: dec("0.01")
                },
            ]
        );
    }
}
