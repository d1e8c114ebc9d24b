//! The loyalty classification: an account is loyal when it is among the most
//! valuable by CLV and its customers say they would recommend the program.
//! The formulas are in the [parent module's docs](super).

use std::cmp::Reverse;
use std::collections::BTreeSet;

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use super::{NpsClass, round};

/// What makes an account loyal; part of the program.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LoyaltyRule {
    /// The NPS classes a loyal account may have; empty accepts any class,
    /// including none.
    #[serde(default)]
    pub nps_classes: Vec<NpsClass>,
    /// The share of accounts by CLV that counts as top, in percent
    /// (`0 < p <= 100`).
    #[serde(with = "rust_decimal::serde::str")]
    pub clv_top_percent: Decimal,
}

/// One account as the classification sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// The account id.
    pub account: i64,
    /// The account's NPS class, if anyone has answered.
    pub nps_class: Option<NpsClass>,
    /// The CLV the rule ranks by.
    pub clv: Decimal,
}

/// The accounts in the top `top_percent` % by CLV: of the `n` candidates
/// with a CLV above 0, sorted by CLV descending, the first
/// `ceil(n x top_percent / 100)`, plus any tied with the last one taken.
/// Accounts with a CLV of 0 are never top. A percentage of 0 or less takes
/// none, one above 100 takes all.
pub fn top_clv(candidates: &[Candidate], top_percent: Decimal) -> BTreeSet<i64> {
    let mut ranked: Vec<&Candidate> = candidates
        .iter()
        .filter(|candidate| candidate.clv > Decimal::ZERO)
        .collect();
    ranked.sort_by_key(|candidate| Reverse(candidate.clv));
    let n = ranked.len();
    let take = Decimal::from(n)
        .checked_mul(top_percent)
        .map(|scaled| scaled / Decimal::ONE_HUNDRED)
        .map_or(n, |share| {
            // A negative share has no `usize`; it takes none.
            share.ceil().to_usize().unwrap_or(0)
        })
        .min(n);
    let Some(last) = take.checked_sub(1).and_then(|index| ranked.get(index)) else {
        return BTreeSet::new();
    };
    ranked
        .iter()
        .take_while(|candidate| candidate.clv >= last.clv)
        .map(|candidate| candidate.account)
        .collect()
}

/// The loyal accounts: in [`top_clv`] by the rule's percentage, with an NPS
/// class the rule lists (an empty list accepts any class, including none).
pub fn loyal_accounts(rule: &LoyaltyRule, candidates: &[Candidate]) -> BTreeSet<i64> {
    let top = top_clv(candidates, rule.clv_top_percent);
    candidates
        .iter()
        .filter(|candidate| top.contains(&candidate.account))
        .filter(|candidate| {
            rule.nps_classes.is_empty()
                || candidate
                    .nps_class
                    .is_some_and(|class| rule.nps_classes.contains(&class))
        })
        .map(|candidate| candidate.account)
        .collect()
}

/// `loyal / total x 100`, rounded half away from zero to 1 dp; `None` when
/// `total` is 0.
pub fn loyalty_rate(loyal: usize, total: usize) -> Option<Decimal> {
    (total > 0).then(|| {
        round(
            Decimal::from(loyal) * Decimal::ONE_HUNDRED / Decimal::from(total),
            1,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    fn candidate(account: i64, nps_class: Option<NpsClass>, clv: i64) -> Candidate {
        Candidate {
            account,
            nps_class,
            clv: Decimal::from(clv),
        }
    }

    /// Ten accounts with a CLV (two tied at 700) and two without.
    fn candidates() -> Vec<Candidate> {
        vec![
            candidate(1, Some(NpsClass::Promoter), 900),
            candidate(2, Some(NpsClass::Detractor), 800),
            candidate(3, None, 700),
            candidate(4, Some(NpsClass::Promoter), 700),
            candidate(5, Some(NpsClass::Promoter), 600),
            candidate(6, None, 500),
            candidate(7, None, 400),
            candidate(8, None, 300),
            candidate(9, None, 200),
            candidate(10, None, 100),
            candidate(11, Some(NpsClass::Promoter), 0),
            candidate(12, None, 0),
        ]
    }

    fn set(accounts: &[i64]) -> BTreeSet<i64> {
        accounts.iter().copied().collect()
    }

    #[test]
    fn the_top_quartile_includes_ties_with_the_last_account_taken() {
        // n = 10 (zeros left out); ceil(10 x 25 / 100) = ceil(2.5) = 3:
        // 900, 800, 700 (account 3), and account 4 tied at 700.
        assert_eq!(top_clv(&candidates(), dec("25")), set(&[1, 2, 3, 4]));
    }

    #[test]
    fn a_small_share_still_takes_one_account() {
        // ceil(10 x 1 / 100) = ceil(0.1) = 1
        assert_eq!(top_clv(&candidates(), dec("1")), set(&[1]));
    }

    #[test]
    fn accounts_with_no_clv_are_never_top() {
        // ceil(10 x 100 / 100) = 10: every account with a CLV, not 11 and 12.
        assert_eq!(
            top_clv(&candidates(), dec("100")),
            set(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
        );
        let nobody = [candidate(1, None, 0), candidate(2, None, 0)];
        assert!(top_clv(&nobody, dec("100")).is_empty());
    }

    #[test]
    fn a_share_outside_zero_to_a_hundred_takes_none_or_all() {
        assert!(top_clv(&candidates(), Decimal::ZERO).is_empty());
        assert!(top_clv(&candidates(), dec("-5")).is_empty());
        assert_eq!(top_clv(&candidates(), dec("250")).len(), 10);
    }

    #[test]
    fn loyal_accounts_are_top_promoters() {
        let rule = LoyaltyRule {
            nps_classes: vec![NpsClass::Promoter],
            clv_top_percent: dec("50"),
        };
        // Top: ceil(10 x 50 / 100) = 5: accounts 1 to 5. Promoters among
        // them: 1, 4, 5. Account 11 is a promoter without CLV.
        assert_eq!(loyal_accounts(&rule, &candidates()), set(&[1, 4, 5]));
    }

    #[test]
    fn an_empty_class_list_accepts_any_class_and_none() {
        let rule = LoyaltyRule {
            nps_classes: Vec::new(),
            clv_top_percent: dec("25"),
        };
        assert_eq!(loyal_accounts(&rule, &candidates()), set(&[1, 2, 3, 4]));
    }

    #[test]
    fn the_loyalty_rate_rounds_half_away_from_zero() {
        // 1 / 3 x 100 = 33.333.. -> 33.3
        assert_eq!(loyalty_rate(1, 3), Some(dec("33.3")));
        // 2 / 3 x 100 = 66.666.. -> 66.7
        assert_eq!(loyalty_rate(2, 3), Some(dec("66.7")));
        // 1 / 8 x 100 = 12.5 -> 12.5; 1 / 16 x 100 = 6.25 -> 6.3
        assert_eq!(loyalty_rate(1, 8), Some(dec("12.5")));
        assert_eq!(loyalty_rate(1, 16), Some(dec("6.3")));
        assert_eq!(loyalty_rate(0, 4), Some(dec("0.0")));
        assert_eq!(loyalty_rate(0, 0), None);
    }

    #[test]
    fn the_rule_round_trips_through_json() {
        let rule = LoyaltyRule {
            nps_classes: vec![NpsClass::Promoter, NpsClass::Passive],
            clv_top_percent: dec("20"),
        };
        let json = serde_json::to_value(&rule).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"nps_classes": ["promoter", "passive"], "clv_top_percent": "20"})
        );
        assert_eq!(serde_json::from_value::<LoyaltyRule>(json).unwrap(), rule);
    }
}
