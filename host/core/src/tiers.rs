//! Tiers on rolling qualifying spend. An account moves up as soon as its
//! spend over the window reaches a higher tier, but moves down only once its
//! spend has stayed below its tier for the grace period, so that a quiet
//! month does not cost a member benefits they will earn back next month.
//!
//! A tier's rank is its index in [`TierRules::tiers`] (lowest first); having
//! no tier ranks below every tier, and a stored tier id the rules no longer
//! list counts as no tier.

use rust_decimal::Decimal;

use crate::event::TimestampMs;
use crate::program::{Tier, TierRules};

/// One day in milliseconds.
const DAY_MS: i64 = 86_400_000;

/// A number of days in milliseconds. Cannot overflow: `u32::MAX` days is
/// about 3.7e17 ms, far below `i64::MAX`.
fn days_ms(days: u32) -> i64 {
    i64::from(days) * DAY_MS
}

/// One purchase's contribution to qualifying spend, already in the program
/// currency and net of its refunds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpendItem {
    /// When the purchase was placed.
    pub placed_at: TimestampMs,
    /// What it counts for, in the program currency.
    pub amount: Decimal,
}

/// Sum of the items placed in `(now - window_days, now]`: the window includes
/// `now` and excludes its start, so an item counts for exactly
/// `window_days` days; items placed after `now` do not count yet. A window
/// of zero days is empty. The sum saturates instead of overflowing.
pub fn qualifying_spend(items: &[SpendItem], window_days: u32, now: TimestampMs) -> Decimal {
    let start = now.saturating_sub(days_ms(window_days));
    items
        .iter()
        .filter(|item| item.placed_at > start && item.placed_at <= now)
        .fold(Decimal::ZERO, |sum, item| sum.saturating_add(item.amount))
}

/// The rank of the highest tier whose `min_spend` is at most `spend`.
fn qualifying_rank(rules: &TierRules, spend: Decimal) -> Option<usize> {
    rules.tiers.iter().rposition(|tier| tier.min_spend <= spend)
}

/// The rank of a stored tier id; `None` for no tier or a removed one.
fn rank_of(rules: &TierRules, id: Option<&str>) -> Option<usize> {
    id.and_then(|id| rules.tiers.iter().position(|tier| tier.id == id))
}

/// The highest tier whose `min_spend` is at most `spend` (tiers are listed
/// lowest first in [`TierRules::tiers`]); `None` if `spend` is below all.
pub fn qualifying_tier(rules: &TierRules, spend: Decimal) -> Option<&Tier> {
    qualifying_rank(rules, spend).and_then(|rank| rules.tiers.get(rank))
}

/// An account's tier as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TierState {
    /// The tier id; `None`: no tier.
    pub tier: Option<String>,
    /// When the account entered this tier (or was first evaluated, for no
    /// tier).
    pub since: TimestampMs,
    /// When its spend first fell below this tier, while the grace period
    /// runs; `None` while the spend keeps the tier.
    pub below_since: Option<TimestampMs>,
}

/// Which way a tier change went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TierChangeKind {
    /// To a higher tier.
    Upgrade,
    /// To a lower tier, or to no tier.
    Downgrade,
}

impl TierChangeKind {
    /// The stored and published name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Upgrade => "upgrade",
            Self::Downgrade => "downgrade",
        }
    }
}

/// A move between tiers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TierChange {
    /// The tier id left, as it was stored (it may be one the rules no longer
    /// list); `None`: no tier.
    pub from: Option<String>,
    /// The tier id entered; `None`: no tier.
    pub to: Option<String>,
    /// Up or down.
    pub kind: TierChangeKind,
    /// When.
    pub at: TimestampMs,
    /// The qualifying spend that caused it.
    #[serde(with = "rust_decimal::serde::str")]
    pub spend: Decimal,
}

/// The outcome of evaluating an account's tier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierDecision {
    /// The state to store. Equal to the state passed in when nothing
    /// changed, so `decision.state != *current` says whether to write it.
    pub state: TierState,
    /// The move between tiers, if there was one.
    pub change: Option<TierChange>,
}

/// Evaluates an account's tier for its qualifying `spend` at `now`.
///
/// - Spend reaching a higher tier upgrades at once, skipping tiers if need
///   be, and ends any grace period.
/// - Spend keeping the current tier ends any grace period.
/// - Spend below the current tier starts the grace period (`below_since =
///   now`); once `grace_days` days have passed since then (at once for zero
///   days), the account moves straight down to the tier its spend reaches,
///   possibly no tier.
///
/// Without a current state the account starts with no tier, `since = now`.
/// A stored tier id the rules no longer list counts as no tier: any
/// qualifying tier is an upgrade from it, and when none qualifies the stale
/// id is cleared (`since = now`) without a [`TierChange`], because the
/// account lost the tier by the program changing, not by its spend.
///
/// When nothing changed, the returned state equals `*current`, so that the
/// caller can compare and skip the write; without a current state there is
/// always a state to write.
pub fn evaluate(
    rules: &TierRules,
    current: Option<&TierState>,
    spend: Decimal,
    now: TimestampMs,
) -> TierDecision {
    let state = current.cloned().unwrap_or(TierState {
        tier: None,
        since: now,
        below_since: None,
    });
    let current_rank = rank_of(rules, state.tier.as_deref());
    let qualified_rank = qualifying_rank(rules, spend);
    let qualified_id = qualified_rank
        .and_then(|rank| rules.tiers.get(rank))
        .map(|tier| tier.id.clone());
    // `Option`'s order puts `None` (no tier) below every `Some(rank)`.
    if qualified_rank > current_rank {
        return moved(state, qualified_id, TierChangeKind::Upgrade, spend, now);
    }
    if qualified_rank == current_rank {
        // Only a removed tier id can differ from the qualified id here.
        let since = if state.tier == qualified_id {
            state.since
        } else {
            now
        };
        let state = TierState {
            tier: qualified_id,
            since,
            below_since: None,
        };
        return TierDecision {
            state,
            change: None,
        };
    }
    let below_since = state.below_since.unwrap_or(now);
    if now.saturating_sub(below_since) >= days_ms(rules.grace_days) {
        return moved(state, qualified_id, TierChangeKind::Downgrade, spend, now);
    }
    TierDecision {
        state: TierState {
            below_since: Some(below_since),
            ..state
        },
        change: None,
    }
}

/// The decision to move from `state`'s tier to `to`.
fn moved(
    state: TierState,
    to: Option<String>,
    kind: TierChangeKind,
    spend: Decimal,
    now: TimestampMs,
) -> TierDecision {
    TierDecision {
        state: TierState {
            tier: to.clone(),
            since: now,
            below_since: None,
        },
        change: Some(TierChange {
            from: state.tier,
            to,
            kind,
            at: now,
            spend,
        }),
    }
}

/// How far an account is from the next tier.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TierProgress {
    /// The current tier id; `None`: no tier (or one the rules no longer
    /// list).
    pub current: Option<String>,
    /// The lowest tier ranked above the current one; `None` at the top.
    pub next: Option<String>,
    /// The qualifying spend.
    #[serde(with = "rust_decimal::serde::str")]
    pub spend: Decimal,
    /// Spend still needed for `next`: its `min_spend` minus `spend`, never
    /// below zero; zero without a next tier.
    #[serde(with = "rust_decimal::serde::str")]
    pub needed: Decimal,
}

/// How far an account in `state` with qualifying `spend` is from the next
/// tier. The current tier is the stored one, not the one the spend reaches,
/// so during a grace period the next tier is still above the stored tier.
pub fn progress(rules: &TierRules, state: Option<&TierState>, spend: Decimal) -> TierProgress {
    let rank = rank_of(rules, state.and_then(|s| s.tier.as_deref()));
    let next_rank = rank.map_or(0, |rank| rank.saturating_add(1));
    let current = rank
        .and_then(|rank| rules.tiers.get(rank))
        .map(|tier| tier.id.clone());
    let next = rules.tiers.get(next_rank);
    let needed = next.map_or(Decimal::ZERO, |tier| {
        tier.min_spend.saturating_sub(spend).max(Decimal::ZERO)
    });
    TierProgress {
        current,
        next: next.map(|tier| tier.id.clone()),
        spend,
        needed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: TimestampMs = 1_000 * DAY_MS;

    fn dec(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    fn tier(id: &str, min_spend: &str) -> Tier {
        Tier {
            id: id.to_owned(),
            name: id.to_owned(),
            min_spend: dec(min_spend),
            discount_percent: Decimal::ZERO,
            earn_multiplier: Decimal::ONE,
            perks: Vec::new(),
        }
    }

    /// silver from 1000, gold from 5000, platinum from 20000; 365-day
    /// window, 30 days of grace.
    fn rules() -> TierRules {
        TierRules {
            window_days: 365,
            grace_days: 30,
            tiers: vec![
                tier("silver", "1000"),
                tier("gold", "5000"),
                tier("platinum", "20000"),
            ],
        }
    }

    fn state(tier: Option<&str>, since: TimestampMs, below: Option<TimestampMs>) -> TierState {
        TierState {
            tier: tier.map(str::to_owned),
            since,
            below_since: below,
        }
    }

    #[test]
    fn qualifying_spend_includes_now_and_excludes_the_window_start() {
        let item = |placed_at, amount| SpendItem {
            placed_at,
            amount: dec(amount),
        };
        let items = [
            // Exactly at the window start (now - 30 days): excluded.
            item(T0 - 30 * DAY_MS, "1"),
            // One ms later: included.
            item(T0 - 30 * DAY_MS + 1, "10"),
            // Exactly now: included.
            item(T0, "100.50"),
            // After now: not yet.
            item(T0 + 1, "1000"),
            // A refund larger than its purchase nets negative and lowers it.
            item(T0 - DAY_MS, "-0.25"),
        ];
        // 10 + 100.50 - 0.25 = 110.25
        assert_eq!(qualifying_spend(&items, 30, T0), dec("110.25"));
        // A zero-day window (now, now] is empty.
        assert_eq!(qualifying_spend(&items, 0, T0), Decimal::ZERO);
        assert_eq!(qualifying_spend(&[], 30, T0), Decimal::ZERO);
    }

    #[test]
    fn qualifying_spend_does_not_overflow_at_the_edges() {
        let items = [
            SpendItem {
                placed_at: TimestampMs::MIN,
                amount: Decimal::MAX,
            },
            SpendItem {
                placed_at: TimestampMs::MIN + 1,
                amount: Decimal::MAX,
            },
            SpendItem {
                placed_at: TimestampMs::MIN + 1,
                amount: Decimal::MAX,
            },
        ];
        // now - window saturates at MIN, which is excluded; the two items
        // left sum past MAX and saturate there.
        assert_eq!(
            qualifying_spend(&items, u32::MAX, TimestampMs::MIN + 1),
            Decimal::MAX
        );
    }

    #[test]
    fn the_qualifying_tier_is_the_highest_reached() {
        let rules = rules();
        let id = |spend| qualifying_tier(&rules, dec(spend)).map(|t| t.id.as_str());
        assert_eq!(id("999.99"), None);
        assert_eq!(id("1000"), Some("silver"));
        assert_eq!(id("19999.99"), Some("gold"));
        assert_eq!(id("1000000"), Some("platinum"));
    }

    #[test]
    fn a_first_evaluation_starts_with_no_tier() {
        let decision = evaluate(&rules(), None, dec("10"), T0);
        assert_eq!(decision.state, state(None, T0, None));
        assert_eq!(decision.change, None);
    }

    #[test]
    fn an_upgrade_happens_at_once_and_may_skip_a_tier() {
        let current = state(Some("silver"), T0 - DAY_MS, Some(T0 - 2 * DAY_MS));
        // 25000 reaches platinum, skipping gold.
        let decision = evaluate(&rules(), Some(&current), dec("25000"), T0);
        assert_eq!(decision.state, state(Some("platinum"), T0, None));
        assert_eq!(
            decision.change,
            Some(TierChange {
                from: Some("silver".to_owned()),
                to: Some("platinum".to_owned()),
                kind: TierChangeKind::Upgrade,
                at: T0,
                spend: dec("25000"),
            })
        );
        // From no state at all, straight to gold.
        let decision = evaluate(&rules(), None, dec("5000"), T0);
        assert_eq!(decision.state, state(Some("gold"), T0, None));
        let change = decision.change.unwrap();
        assert_eq!((change.from, change.kind), (None, TierChangeKind::Upgrade));
    }

    #[test]
    fn an_unchanged_tier_returns_the_state_it_was_given() {
        let current = state(Some("gold"), T0 - 100 * DAY_MS, None);
        let decision = evaluate(&rules(), Some(&current), dec("7000"), T0);
        assert_eq!(decision.state, current);
        assert_eq!(decision.change, None);
    }

    #[test]
    fn downgrade_waits_for_the_grace_period() {
        let rules = rules();
        let gold = state(Some("gold"), T0 - 100 * DAY_MS, None);
        // 1200 only reaches silver: the grace period starts now.
        let first = evaluate(&rules, Some(&gold), dec("1200"), T0);
        assert_eq!(
            first.state,
            state(Some("gold"), T0 - 100 * DAY_MS, Some(T0))
        );
        assert_eq!(first.change, None);
        // 30 days of grace less one ms: still gold, state unchanged.
        let waiting = evaluate(
            &rules,
            Some(&first.state),
            dec("1200"),
            T0 + 30 * DAY_MS - 1,
        );
        assert_eq!(waiting.state, first.state);
        assert_eq!(waiting.change, None);
        // Exactly 30 days later: down to silver.
        let over = evaluate(&rules, Some(&first.state), dec("1200"), T0 + 30 * DAY_MS);
        assert_eq!(over.state, state(Some("silver"), T0 + 30 * DAY_MS, None));
        assert_eq!(
            over.change,
            Some(TierChange {
                from: Some("gold".to_owned()),
                to: Some("silver".to_owned()),
                kind: TierChangeKind::Downgrade,
                at: T0 + 30 * DAY_MS,
                spend: dec("1200"),
            })
        );
    }

    #[test]
    fn a_downgrade_goes_straight_to_the_qualified_tier_or_none() {
        let platinum = state(Some("platinum"), T0 - 400 * DAY_MS, Some(T0 - 31 * DAY_MS));
        // 500 reaches no tier: platinum falls past gold and silver to none.
        let decision = evaluate(&rules(), Some(&platinum), dec("500"), T0);
        assert_eq!(decision.state, state(None, T0, None));
        let change = decision.change.unwrap();
        assert_eq!(
            (change.from.as_deref(), change.to, change.kind),
            (Some("platinum"), None, TierChangeKind::Downgrade)
        );
    }

    #[test]
    fn zero_grace_days_downgrade_at_once() {
        let rules = TierRules {
            grace_days: 0,
            ..rules()
        };
        let gold = state(Some("gold"), T0 - DAY_MS, None);
        let decision = evaluate(&rules, Some(&gold), dec("1000"), T0);
        assert_eq!(decision.state, state(Some("silver"), T0, None));
        assert_eq!(
            decision.change.map(|c| c.kind),
            Some(TierChangeKind::Downgrade)
        );
    }

    #[test]
    fn recovery_during_grace_clears_below_since() {
        let rules = rules();
        let gold = state(Some("gold"), T0 - 100 * DAY_MS, Some(T0 - 10 * DAY_MS));
        // Back to 5000 within the grace period: keeps gold, grace ends.
        let decision = evaluate(&rules, Some(&gold), dec("5000"), T0);
        assert_eq!(decision.state, state(Some("gold"), T0 - 100 * DAY_MS, None));
        assert_eq!(decision.change, None);
        // Falling again later starts a new grace period from then, not from
        // the old below_since (which would be over by now).
        let later = T0 + 25 * DAY_MS;
        let again = evaluate(&rules, Some(&decision.state), dec("10"), later);
        assert_eq!(
            again.state,
            state(Some("gold"), T0 - 100 * DAY_MS, Some(later))
        );
        assert_eq!(again.change, None);
    }

    #[test]
    fn a_clock_going_back_does_not_end_the_grace_period() {
        let gold = state(Some("gold"), T0 - 100 * DAY_MS, Some(T0));
        let decision = evaluate(&rules(), Some(&gold), dec("10"), T0 - DAY_MS);
        assert_eq!(decision.state, gold);
        assert_eq!(decision.change, None);
    }

    #[test]
    fn a_removed_tier_id_counts_as_no_tier() {
        let rules = rules();
        let diamond = state(Some("diamond"), T0 - 100 * DAY_MS, Some(T0 - DAY_MS));
        // Silver reached: an upgrade from the removed tier, without grace.
        let decision = evaluate(&rules, Some(&diamond), dec("1000"), T0);
        assert_eq!(decision.state, state(Some("silver"), T0, None));
        let change = decision.change.unwrap();
        assert_eq!(
            (change.from.as_deref(), change.to.as_deref(), change.kind),
            (Some("diamond"), Some("silver"), TierChangeKind::Upgrade)
        );
        // Nothing reached: the stale id is cleared, with no tier change.
        let decision = evaluate(&rules, Some(&diamond), dec("10"), T0);
        assert_eq!(decision.state, state(None, T0, None));
        assert_eq!(decision.change, None);
        // Once cleared, the next evaluation changes nothing.
        let next = evaluate(&rules, Some(&decision.state), dec("10"), T0 + DAY_MS);
        assert_eq!(next.state, decision.state);
    }

    #[test]
    fn empty_tiers_never_assign_a_tier() {
        let rules = TierRules::default();
        let decision = evaluate(&rules, None, dec("1000000"), T0);
        assert_eq!(decision.state, state(None, T0, None));
        assert_eq!(decision.change, None);
        let unchanged = evaluate(&rules, Some(&decision.state), dec("1000000"), T0 + DAY_MS);
        assert_eq!(unchanged.state, decision.state);
        assert!(qualifying_tier(&rules, dec("1000000")).is_none());
    }

    #[test]
    fn progress_points_to_the_next_tier() {
        let rules = rules();
        let silver = state(Some("silver"), T0, None);
        // gold needs 5000: 5000 - 1234.56 = 3765.44
        assert_eq!(
            progress(&rules, Some(&silver), dec("1234.56")),
            TierProgress {
                current: Some("silver".to_owned()),
                next: Some("gold".to_owned()),
                spend: dec("1234.56"),
                needed: dec("3765.44"),
            }
        );
        // No tier (or no state): the next tier is the lowest, 1000 - 250 = 750.
        let none = progress(&rules, None, dec("250"));
        assert_eq!(
            (none.current, none.next.as_deref(), none.needed),
            (None, Some("silver"), dec("750"))
        );
        // A removed tier counts as none.
        let diamond = state(Some("diamond"), T0, None);
        let stale = progress(&rules, Some(&diamond), dec("250"));
        assert_eq!(
            (stale.current, stale.next.as_deref()),
            (None, Some("silver"))
        );
        // During a grace period the stored tier counts, and spend already
        // past the next tier's minimum needs nothing more.
        let gold = state(Some("gold"), T0, Some(T0));
        let graced = progress(&rules, Some(&gold), dec("30000"));
        assert_eq!(
            (graced.next.as_deref(), graced.needed),
            (Some("platinum"), Decimal::ZERO)
        );
        // At the top there is no next tier and nothing needed.
        let platinum = state(Some("platinum"), T0, None);
        let top = progress(&rules, Some(&platinum), dec("20000"));
        assert_eq!((top.next, top.needed), (None, Decimal::ZERO));
        // Without tiers there is nothing to progress to.
        let empty = progress(&TierRules::default(), None, dec("5"));
        assert_eq!((empty.next, empty.needed), (None, Decimal::ZERO));
    }

    #[test]
    fn change_kinds_have_stable_names() {
        for kind in [TierChangeKind::Upgrade, TierChangeKind::Downgrade] {
            assert_eq!(
                serde_json::to_string(&kind).unwrap(),
                format!("\"{}\"", kind.as_str())
            );
        }
        assert_eq!(TierChangeKind::Upgrade.as_str(), "upgrade");
        assert_eq!(TierChangeKind::Downgrade.as_str(), "downgrade");
    }
}
