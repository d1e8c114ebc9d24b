//! Scoring: NPS classes of contacts and accounts, program NPS, historical and
//! predicted customer lifetime value, and the loyalty classification that
//! combines them.
//!
//! Every rounding here is half away from zero (`2.345` to 2 dp is `2.35`), so
//! a figure an operator recomputes by hand comes out the same. A day is
//! 86 400 000 ms and a year is 365 days. Windows `(a, b]` exclude their start
//! and include their end.
//!
//! # NPS
//!
//! - A score of 0 to 6 is a detractor, 7 or 8 a passive, 9 or 10 a promoter
//!   (scores above 10 count as 10).
//! - Only each respondent's latest response answered in
//!   `(now - window_days, now]` counts; responses after `now` are ignored and
//!   of two responses at the same instant the one later in the input wins.
//! - `nps = (promoters - detractors) / respondents x 100`, to 1 dp; none
//!   without respondents.
//! - `mean_score = sum of scores / respondents`, to 2 dp; none without
//!   respondents.
//! - `class` is the class of `mean_score` as rounded: at least 9 promoter, at
//!   least 7 passive, otherwise detractor (8.99 is passive).
//! - An account's NPS summarizes the latest responses of its contacts; the
//!   program's summarizes those of all contacts. An account's class is the
//!   class of its mean score.
//!
//! # CLV
//!
//! Over the purchases placed at or before `now` (net amounts after refunds,
//! in the program currency):
//!
//! - `orders` = their count; `revenue` = the sum of their amounts.
//! - `gross_margin = revenue x margin_rate`, to 2 dp (`margin_rate` is a
//!   fraction: 0.35 is 35 %); none without a margin rate.
//! - `average_order_value = revenue / orders`, to 2 dp.
//! - `tenure_years = (now - first placed_at) / 365 days`, and
//!   `orders_per_year = orders / max(1, tenure_years)`, to 4 dp, so a
//!   newcomer is never extrapolated above its real count.
//! - `predicted = average_order_value x orders_per_year x
//!   expected_lifetime_years`, to 2 dp, from the rounded factors;
//!   `predicted_margin = predicted x margin_rate`, to 2 dp.
//! - Without orders every figure is 0 (margins too, when a rate is given).
//!
//! Retention over a window of `w` days: the `base` is the accounts with a
//! purchase in `(now - 2w, now - w]`, `retained` those of them that also
//! have one in `(now - w, now]`, and `rate = retained / base`, to 4 dp; none
//! without a base. From it,
//! `expected_lifetime_years = min(cap_years, 1 / (1 - rate))`, to 4 dp, with
//! 1 year when there is no rate and `cap_years` when the rate is 1.
//!
//! # Loyalty
//!
//! - The top `p` % by CLV: of the `n` accounts with a CLV above 0, sorted by
//!   CLV descending, the first `ceil(n x p / 100)`, plus every account tied
//!   with the last one taken. An account with a CLV of 0 is never top.
//! - An account is loyal when it is in the top `clv_top_percent` % and its
//!   NPS class is one of the rule's `nps_classes`; an empty list accepts any
//!   class, including none.
//! - `loyalty_rate = loyal / total x 100`, to 1 dp; none when there are no
//!   accounts.

mod clv;
mod loyalty;
mod nps;

pub use clv::{Clv, Retention, clv, expected_lifetime_years, retention};
pub use loyalty::{Candidate, LoyaltyRule, loyal_accounts, loyalty_rate, top_clv};
pub use nps::{NpsResponse, NpsSummary, latest_responses, summarize};

use rust_decimal::{Decimal, RoundingStrategy};

use crate::event::TimestampMs;

/// One day in milliseconds.
const DAY_MS: i64 = 86_400_000;

/// The start of the window of `days` days that ends at `now`.
fn window_start(now: TimestampMs, days: u32) -> TimestampMs {
    // u32::MAX days is about 3.7e17 ms, so only the subtraction can overflow.
    now.saturating_sub(i64::from(days) * DAY_MS)
}

/// `value` to `dp` decimal places, half away from zero, written with exactly
/// `dp` places so that 30 shows as `30.0` and 0 as `0.00`.
pub(crate) fn round(value: Decimal, dp: u32) -> Decimal {
    let mut rounded = value.round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero);
    rounded.rescale(dp);
    rounded
}

/// A count as a `u32`, saturating; no realistic set comes near the limit.
fn count_u32(count: usize) -> u32 {
    u32::try_from(count).unwrap_or(u32::MAX)
}

/// Where an NPS score puts a respondent.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum NpsClass {
    /// Scored 0 to 6.
    Detractor,
    /// Scored 7 or 8.
    Passive,
    /// Scored 9 or 10.
    Promoter,
}

impl NpsClass {
    /// The class of a score from 0 to 10 (scores above 10 count as 10).
    pub fn of(score: u8) -> Self {
        match score {
            0..=6 => Self::Detractor,
            7 | 8 => Self::Passive,
            _ => Self::Promoter,
        }
    }

    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Detractor => "detractor",
            Self::Passive => "passive",
            Self::Promoter => "promoter",
        }
    }

    /// Parses a name as [`Self::as_str`] writes it.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Detractor, Self::Passive, Self::Promoter]
            .into_iter()
            .find(|c| c.as_str() == text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn six_and_below_detract_seven_and_eight_are_passive_nine_and_up_promote() {
        assert_eq!(NpsClass::of(0), NpsClass::Detractor);
        assert_eq!(NpsClass::of(6), NpsClass::Detractor);
        assert_eq!(NpsClass::of(7), NpsClass::Passive);
        assert_eq!(NpsClass::of(8), NpsClass::Passive);
        assert_eq!(NpsClass::of(9), NpsClass::Promoter);
        assert_eq!(NpsClass::of(10), NpsClass::Promoter);
    }

    #[test]
    fn class_names_round_trip() {
        for class in [NpsClass::Detractor, NpsClass::Passive, NpsClass::Promoter] {
            assert_eq!(NpsClass::parse(class.as_str()), Some(class));
        }
        assert_eq!(NpsClass::parse("Promoter"), None);
    }

    #[test]
    fn rounding_is_half_away_from_zero() {
        let dec = |text: &str| text.parse::<Decimal>().unwrap();
        // Banker's rounding would give 2.34 and -2.34.
        assert_eq!(round(dec("2.345"), 2), dec("2.35"));
        assert_eq!(round(dec("-2.345"), 2), dec("-2.35"));
        assert_eq!(round(dec("0.25"), 1), dec("0.3"));
        assert_eq!(round(dec("30"), 1).to_string(), "30.0");
    }

    #[test]
    fn a_window_starts_whole_days_before_now() {
        assert_eq!(window_start(10 * DAY_MS, 3), 7 * DAY_MS);
        assert_eq!(window_start(i64::MIN + 1, 1), i64::MIN);
    }
}
