//! Redeeming rewards in two phases. Choosing a reward reserves its points
//! (a `reserve` entry, so the points cannot be spent twice while the reward
//! is being fulfilled); fulfilment then settles the reservation: on success
//! the hold is released and the points are redeemed, on failure the hold is
//! released and nothing is lost. Every entry's effect key names the
//! redemption, so each step happens once.

use crate::event::TimestampMs;
use crate::ledger::{EntryKind, NewEntry};
use crate::program::{Program, Reward};

/// Where a redemption stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RedemptionStatus {
    /// Points held; fulfilment pending.
    Reserved,
    /// Fulfilled; points redeemed.
    Fulfilled,
    /// Fulfilment failed; points given back.
    Failed,
}

impl RedemptionStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reserved => "reserved",
            Self::Fulfilled => "fulfilled",
            Self::Failed => "failed",
        }
    }

    /// Parses a stored name.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Reserved, Self::Fulfilled, Self::Failed]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// The account asking for a reward, as redemption sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Redeemer<'a> {
    /// Its balance.
    pub balance: i64,
    /// Its tier.
    pub tier: Option<&'a str>,
    /// Whether it is an active member.
    pub member: bool,
}

/// Why a reward cannot be redeemed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedemptionError {
    /// No such reward in the catalog.
    #[error("no reward `{0}` in the catalog")]
    UnknownReward(String),
    /// Only active members redeem.
    #[error("the account is not an active member")]
    NotMember,
    /// The reward is for other tiers.
    #[error("reward `{reward}` is for tiers {tiers} only")]
    TierNotEligible {
        /// The reward.
        reward: String,
        /// Its tiers, comma-separated.
        tiers: String,
    },
    /// No stock left.
    #[error("reward `{0}` is out of stock")]
    OutOfStock(String),
    /// Not enough points.
    #[error("the reward costs {cost} points and the balance is {balance}")]
    InsufficientPoints {
        /// The balance.
        balance: i64,
        /// The reward's price.
        cost: i64,
    },
}

/// Checks that `redeemer` may redeem `reward_id` now; `taken` is how many of
/// the reward are reserved or fulfilled already.
pub fn check<'p>(
    program: &'p Program,
    reward_id: &str,
    redeemer: &Redeemer<'_>,
    taken: u32,
) -> Result<&'p Reward, RedemptionError> {
    let reward = program
        .reward(reward_id)
        .ok_or_else(|| RedemptionError::UnknownReward(reward_id.to_owned()))?;
    if !redeemer.member {
        return Err(RedemptionError::NotMember);
    }
    if !reward.tiers.is_empty()
        && !redeemer
            .tier
            .is_some_and(|t| reward.tiers.iter().any(|r| r == t))
    {
        return Err(RedemptionError::TierNotEligible {
            reward: reward.id.clone(),
            tiers: reward.tiers.join(", "),
        });
    }
    if reward.stock.is_some_and(|stock| taken >= stock) {
        return Err(RedemptionError::OutOfStock(reward.id.clone()));
    }
    if redeemer.balance < reward.points {
        return Err(RedemptionError::InsufficientPoints {
            balance: redeemer.balance,
            cost: reward.points,
        });
    }
    Ok(reward)
}

fn entry(
    kind: EntryKind,
    points: i64,
    redemption: i64,
    reward: &str,
    now: TimestampMs,
) -> NewEntry {
    NewEntry {
        kind,
        points,
        effect_key: format!("{}/redemption/{redemption}", kind.as_str()),
        source: "rewards".to_owned(),
        reference: redemption.to_string(),
        amount: None,
        rate: None,
        reason: Some(format!("reward {reward}")),
        occurred_at: now,
    }
}

/// The entry holding a redemption's points.
pub fn reserve_entry(redemption: i64, reward: &str, points: i64, now: TimestampMs) -> NewEntry {
    entry(EntryKind::Reserve, -points, redemption, reward, now)
}

/// The entries settling a reservation of `points`: release and redeem when
/// fulfilled, release alone when fulfilment failed.
pub fn settle_entries(
    redemption: i64,
    reward: &str,
    points: i64,
    fulfilled: bool,
    now: TimestampMs,
) -> Vec<NewEntry> {
    let mut entries = vec![entry(EntryKind::Release, points, redemption, reward, now)];
    if fulfilled {
        entries.push(entry(EntryKind::Redeem, -points, redemption, reward, now));
    }
    entries
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;

    use super::*;
    use crate::program::{Fulfilment, RewardKind, Rounding};

    fn program() -> Program {
        let mut program = Program::basic("EUR", Decimal::ONE, Rounding::Floor);
        program.rewards = vec![Reward {
            id: "training".to_owned(),
            name: "On-site training".to_owned(),
            kind: RewardKind::Service,
            points: 5000,
            value: None,
            stock: Some(2),
            tiers: vec!["gold".to_owned(), "platinum".to_owned()],
            fulfilment: Fulfilment::Manual,
            description: String::new(),
        }];
        program
    }

    fn gold(balance: i64) -> Redeemer<'static> {
        Redeemer {
            balance,
            tier: Some("gold"),
            member: true,
        }
    }

    #[test]
    fn eligibility_stock_and_balance_are_checked() {
        let p = program();
        assert!(check(&p, "training", &gold(5000), 1).is_ok());
        assert_eq!(
            check(&p, "lunch", &gold(5000), 0),
            Err(RedemptionError::UnknownReward("lunch".to_owned()))
        );
        let silver = Redeemer {
            tier: Some("silver"),
            ..gold(9000)
        };
        assert!(matches!(
            check(&p, "training", &silver, 0),
            Err(RedemptionError::TierNotEligible { .. })
        ));
        assert_eq!(
            check(&p, "training", &gold(9000), 2),
            Err(RedemptionError::OutOfStock("training".to_owned()))
        );
        assert_eq!(
            check(&p, "training", &gold(4999), 0),
            Err(RedemptionError::InsufficientPoints {
                balance: 4999,
                cost: 5000
            })
        );
        let lapsed = Redeemer {
            member: false,
            ..gold(9000)
        };
        assert_eq!(
            check(&p, "training", &lapsed, 0),
            Err(RedemptionError::NotMember)
        );
    }

    #[test]
    fn a_settled_redemption_nets_to_its_price_and_a_failed_one_to_zero() {
        let reserve = reserve_entry(9, "training", 5000, 1);
        let fulfilled: i64 = settle_entries(9, "training", 5000, true, 2)
            .iter()
            .map(|e| e.points)
            .sum();
        let failed: i64 = settle_entries(9, "training", 5000, false, 2)
            .iter()
            .map(|e| e.points)
            .sum();
        assert_eq!(reserve.points + fulfilled, -5000);
        assert_eq!(reserve.points + failed, 0);
        assert_eq!(reserve.effect_key, "reserve/redemption/9");
    }
}
