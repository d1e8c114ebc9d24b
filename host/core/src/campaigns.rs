//! Campaigns: a message with an offer sent to a segment through a
//! connector, with a holdout group kept out of the send to measure what the
//! campaign changed.
//!
//! - **Holdout**: an account of the segment is held out when the first 8
//!   bytes of `SHA-256("{campaign}:{account}")`, as a big-endian number
//!   modulo 10 000, are below `holdout_percent x 100`. The choice is stable
//!   (a restart or a re-run holds out the same accounts) and independent of
//!   the order accounts are listed in.
//! - **Retries**: a recipient the vendor refuses, or a batch that fails in
//!   passing, is tried again after `2^attempt` seconds (2, 4, 8, 16),
//!   [`ATTEMPTS_MAX`] attempts in all.
//! - **Attribution**: for the targeted and the held-out accounts, over the
//!   purchases placed in `[started_at, started_at + attribution_days)` (net
//!   of refunds, program currency): `conversion = purchasers / accounts x
//!   100` (1 dp), `revenue_per_account = revenue / accounts` (2 dp),
//!   `lift = (target conversion - holdout conversion) / holdout conversion x
//!   100` (1 dp; none when the holdout converted nobody), and
//!   `incremental_revenue = (target revenue_per_account - holdout
//!   revenue_per_account) x target accounts` (2 dp).

use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

use crate::event::TimestampMs;
use crate::scoring::round;
use crate::tiers::SpendItem;

/// Attempts per recipient before it is given up.
pub const ATTEMPTS_MAX: u32 = 5;

/// What a campaign asks of its recipients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CampaignKind {
    /// A message, usually with an offer.
    Message,
    /// An NPS survey: answers come back as `nps_response` engagements.
    NpsSurvey,
    /// An invitation to join the program.
    Invitation,
}

impl CampaignKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Message => "message",
            Self::NpsSurvey => "nps_survey",
            Self::Invitation => "invitation",
        }
    }

    /// Parses a stored name.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Message, Self::NpsSurvey, Self::Invitation]
            .into_iter()
            .find(|k| k.as_str() == text)
    }
}

/// Where a campaign stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CampaignStatus {
    /// Being written; sends nothing.
    Draft,
    /// Sends at its `send_at`.
    Scheduled,
    /// Members chosen, offers granted, batches going out.
    Sending,
    /// Every recipient reached or given up, at least one reached.
    Completed,
    /// Nobody could be reached.
    Failed,
    /// Stopped before it started.
    Cancelled,
}

impl CampaignStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Scheduled => "scheduled",
            Self::Sending => "sending",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// Parses a stored name.
    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Draft,
            Self::Scheduled,
            Self::Sending,
            Self::Completed,
            Self::Failed,
            Self::Cancelled,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// What a campaign offers its targeted accounts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Offer {
    /// Points credited to each targeted account when the campaign starts.
    BonusPoints {
        /// The points.
        points: i64,
    },
    /// Purchases placed from the start until `ends_at` earn `factor` times.
    Multiplier {
        /// The factor, above 1.
        #[serde(with = "rust_decimal::serde::str")]
        factor: Decimal,
        /// When the window ends.
        ends_at: TimestampMs,
    },
    /// A unique discount code per account, made by the channel's
    /// `fulfil-reward`.
    DiscountCode {
        /// Percent off.
        #[serde(
            with = "rust_decimal::serde::str_option",
            default,
            skip_serializing_if = "Option::is_none"
        )]
        percent_off: Option<Decimal>,
        /// Amount off, in the program currency.
        #[serde(
            with = "rust_decimal::serde::str_option",
            default,
            skip_serializing_if = "Option::is_none"
        )]
        amount_off: Option<Decimal>,
        /// When the code stops working.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ends_at: Option<TimestampMs>,
    },
    /// An invitation to redeem a reward of the catalog.
    Reward {
        /// The reward's id.
        reward: String,
    },
}

/// Whether `account` is held out of `campaign`.
pub fn in_holdout(campaign: &str, account: i64, holdout_percent: Decimal) -> bool {
    let digest = Sha256::digest(format!("{campaign}:{account}").as_bytes());
    let mut head = [0_u8; 8];
    head.copy_from_slice(&digest[..8]);
    let bucket = u64::from_be_bytes(head) % 10_000;
    Decimal::from(bucket) < holdout_percent.saturating_mul(Decimal::ONE_HUNDRED)
}

/// How long to wait before attempt `attempt + 1`, in milliseconds.
pub fn retry_delay_ms(attempt: u32) -> i64 {
    1_000_i64.saturating_mul(1_i64 << attempt.clamp(1, 10))
}

/// One group's outcome.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Group {
    /// Accounts in the group.
    pub accounts: usize,
    /// Of them, accounts with a purchase in the window.
    pub purchasers: usize,
    /// `purchasers / accounts x 100`, 1 dp.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub conversion_percent: Option<Decimal>,
    /// Revenue of the window's purchases.
    #[serde(with = "rust_decimal::serde::str")]
    pub revenue: Decimal,
    /// `revenue / accounts`, 2 dp.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub revenue_per_account: Option<Decimal>,
}

/// The targeted group against the holdout.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Attribution {
    /// First moment counted.
    pub from: TimestampMs,
    /// First moment no longer counted.
    pub to: TimestampMs,
    /// The accounts the campaign went to.
    pub target: Group,
    /// The accounts held out.
    pub holdout: Group,
    /// Relative lift in conversion, percent, 1 dp.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub lift_percent: Option<Decimal>,
    /// Revenue the campaign added beyond the holdout's rate, 2 dp.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub incremental_revenue: Option<Decimal>,
}

fn group(accounts: &[Vec<SpendItem>], from: TimestampMs, to: TimestampMs) -> Group {
    let mut purchasers = 0;
    let mut revenue = Decimal::ZERO;
    for purchases in accounts {
        let mut bought = false;
        for item in purchases
            .iter()
            .filter(|i| i.placed_at >= from && i.placed_at < to)
        {
            bought = true;
            revenue = revenue.saturating_add(item.amount);
        }
        purchasers += usize::from(bought);
    }
    let count = Decimal::from(accounts.len());
    let ratio = |part: Decimal, dp: u32, scale: Decimal| {
        (!accounts.is_empty()).then(|| round(part.saturating_mul(scale) / count, dp))
    };
    Group {
        accounts: accounts.len(),
        purchasers,
        conversion_percent: ratio(Decimal::from(purchasers), 1, Decimal::ONE_HUNDRED),
        revenue,
        revenue_per_account: ratio(revenue, 2, Decimal::ONE),
    }
}

/// Compares the targeted accounts' purchases with the holdout's over
/// `[from, to)`; each element is one account's purchases.
pub fn attribution(
    target: &[Vec<SpendItem>],
    holdout: &[Vec<SpendItem>],
    from: TimestampMs,
    to: TimestampMs,
) -> Attribution {
    let target = group(target, from, to);
    let holdout = group(holdout, from, to);
    let lift_percent = match (target.conversion_percent, holdout.conversion_percent) {
        (Some(t), Some(h)) if !h.is_zero() => Some(round(
            t.saturating_sub(h).saturating_mul(Decimal::ONE_HUNDRED) / h,
            1,
        )),
        _ => None,
    };
    let incremental_revenue = match (target.revenue_per_account, holdout.revenue_per_account) {
        (Some(t), Some(h)) => Some(round(
            t.saturating_sub(h)
                .saturating_mul(Decimal::from(target.accounts)),
            2,
        )),
        _ => None,
    };
    Attribution {
        from,
        to,
        target,
        holdout,
        lift_percent,
        incremental_revenue,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    fn bought(at: &[(i64, &str)]) -> Vec<SpendItem> {
        at.iter()
            .map(|(placed_at, amount)| SpendItem {
                placed_at: *placed_at,
                amount: dec(amount),
            })
            .collect()
    }

    #[test]
    fn the_holdout_is_stable_and_close_to_its_share() {
        let held: Vec<i64> = (1..=1000)
            .filter(|a| in_holdout("spring", *a, dec("20")))
            .collect();
        // A fair hash holds out about 200 of 1000.
        assert!((150..=250).contains(&held.len()), "{}", held.len());
        let again: Vec<i64> = (1..=1000)
            .rev()
            .filter(|a| in_holdout("spring", *a, dec("20")))
            .collect();
        assert_eq!(held.len(), again.len());
        assert!(held.iter().all(|a| again.contains(a)));
        assert!(!(1..=1000).any(|a| in_holdout("spring", a, Decimal::ZERO)));
        assert!((1..=1000).all(|a| in_holdout("spring", a, Decimal::ONE_HUNDRED)));
    }

    #[test]
    fn offers_survive_a_round_trip_through_json() {
        let offers = [
            Offer::BonusPoints { points: 500 },
            Offer::Multiplier {
                factor: dec("1.5"),
                ends_at: 99,
            },
            Offer::DiscountCode {
                percent_off: Some(dec("10")),
                amount_off: None,
                ends_at: None,
            },
            Offer::DiscountCode {
                percent_off: None,
                amount_off: Some(dec("25.00")),
                ends_at: Some(7),
            },
            Offer::Reward {
                reward: "gift-card-100".to_owned(),
            },
        ];
        for offer in offers {
            let json = serde_json::to_string(&offer).unwrap();
            assert_eq!(
                serde_json::from_str::<Offer>(&json).unwrap(),
                offer,
                "{json}"
            );
        }
    }

    #[test]
    fn retries_back_off_doubling_from_two_seconds() {
        assert_eq!(retry_delay_ms(0), 2_000);
        assert_eq!(retry_delay_ms(1), 2_000);
        assert_eq!(retry_delay_ms(2), 4_000);
        assert_eq!(retry_delay_ms(4), 16_000);
        assert_eq!(retry_delay_ms(40), 1_024_000);
    }

    #[test]
    fn attribution_compares_conversion_and_revenue_with_the_holdout() {
        // Window [100, 200). Target: 4 accounts, 3 buy in the window
        // (one bought only before it): 75.0 %; revenue 300 + 200 + 100 = 600,
        // 150.00 per account. Holdout: 2 accounts, 1 buys 100: 50.0 %, 50.00
        // per account. Lift (75 - 50) / 50 x 100 = 50.0 %; incremental
        // (150 - 50) x 4 = 400.00.
        let target = [
            bought(&[(100, "300")]),
            bought(&[(150, "120"), (199, "80")]),
            bought(&[(50, "999"), (120, "100")]),
            bought(&[(200, "500")]),
        ];
        let holdout = [bought(&[(110, "100")]), Vec::new()];
        let report = attribution(&target, &holdout, 100, 200);
        assert_eq!(report.target.purchasers, 3);
        assert_eq!(report.target.conversion_percent, Some(dec("75.0")));
        assert_eq!(report.target.revenue, dec("600"));
        assert_eq!(report.target.revenue_per_account, Some(dec("150.00")));
        assert_eq!(report.holdout.conversion_percent, Some(dec("50.0")));
        assert_eq!(report.lift_percent, Some(dec("50.0")));
        assert_eq!(report.incremental_revenue, Some(dec("400.00")));
    }

    #[test]
    fn without_holdout_buyers_there_is_no_lift() {
        let report = attribution(&[bought(&[(1, "10")])], &[Vec::new()], 0, 10);
        assert_eq!(report.lift_percent, None);
        assert_eq!(report.incremental_revenue, Some(dec("10.00")));
        let empty = attribution(&[bought(&[(1, "10")])], &[], 0, 10);
        assert_eq!(empty.holdout.conversion_percent, None);
        assert_eq!(empty.incremental_revenue, None);
    }
}
