//! The append-only points ledger. Points change only by entries; a
//! correction is a new entry, and a balance is the sum of an account's
//! entries.

use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

use crate::event::{Money, TimestampMs};

/// Why points changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// Earned by a paid purchase.
    Earn,
    /// A bonus: a milestone reached, an engagement rewarded.
    Bonus,
    /// Held for a redemption until it is fulfilled or fails.
    Reserve,
    /// A hold given back: the redemption failed, or it was fulfilled and
    /// the points are taken by a `Redeem` entry instead.
    Release,
    /// Spent on a fulfilled redemption.
    Redeem,
    /// Expired unspent.
    Expire,
    /// Reversed by a refund or cancellation.
    Reverse,
    /// Corrected by an authenticated admin, with a reason.
    Adjust,
    /// Moved between accounts by a merge.
    Transfer,
}

impl EntryKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Earn => "earn",
            Self::Bonus => "bonus",
            Self::Reserve => "reserve",
            Self::Release => "release",
            Self::Redeem => "redeem",
            Self::Expire => "expire",
            Self::Reverse => "reverse",
            Self::Adjust => "adjust",
            Self::Transfer => "transfer",
        }
    }

    /// Every kind.
    pub const ALL: [Self; 9] = [
        Self::Earn,
        Self::Bonus,
        Self::Reserve,
        Self::Release,
        Self::Redeem,
        Self::Expire,
        Self::Reverse,
        Self::Adjust,
        Self::Transfer,
    ];

    /// Parses a stored name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// A ledger entry the core decided to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    /// What happened.
    pub kind: EntryKind,
    /// Signed points.
    pub points: i64,
    /// Makes the effect happen once: a second entry with the same key is
    /// never written.
    pub effect_key: String,
    /// The connector the triggering event came from.
    pub source: String,
    /// The source's id of the purchase or refund.
    pub reference: String,
    /// The money the points were computed from, when there is one.
    pub amount: Option<Money>,
    /// The exchange rate into the program currency that was applied.
    pub rate: Option<Decimal>,
    /// Why: an admin's reason, or how the core computed the points
    /// ("base 120 x tier gold 1.25").
    pub reason: Option<String>,
    /// When the effect happened in the world (a purchase's placing, a
    /// refund's time, an admin's request): points expire counted from it,
    /// and caps and limits are per period of it.
    pub occurred_at: TimestampMs,
}

/// The longest reason an adjustment may carry, in characters.
pub const REASON_CHARS_MAX: usize = 500;

/// Why an adjustment is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdjustmentError {
    /// Zero points change nothing.
    #[error("points must not be zero")]
    ZeroPoints,
    /// Every correction needs a reason.
    #[error("reason must not be empty")]
    MissingReason,
    /// The reason is too long.
    #[error("reason is longer than {REASON_CHARS_MAX} characters")]
    ReasonTooLong,
}

/// An admin's correction of an account's points. `actor` names the admin
/// credential used; `key` is the request's idempotency key, which makes the
/// correction happen once.
pub fn adjustment(
    points: i64,
    reason: &str,
    actor: &str,
    key: &str,
    now: TimestampMs,
) -> Result<NewEntry, AdjustmentError> {
    let reason = reason.trim();
    if points == 0 {
        return Err(AdjustmentError::ZeroPoints);
    }
    if reason.is_empty() {
        return Err(AdjustmentError::MissingReason);
    }
    if reason.chars().count() > REASON_CHARS_MAX {
        return Err(AdjustmentError::ReasonTooLong);
    }
    Ok(NewEntry {
        kind: EntryKind::Adjust,
        points,
        effect_key: format!("adjust/{key}"),
        source: "admin".to_owned(),
        reference: actor.to_owned(),
        amount: None,
        rate: None,
        reason: Some(reason.to_owned()),
        occurred_at: now,
    })
}

/// The stored fields of an entry that its hash covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chained<'a> {
    /// The account.
    pub account_id: i64,
    /// The kind, as stored.
    pub kind: &'a str,
    /// Signed points.
    pub points: i64,
    /// The effect key.
    pub effect_key: &'a str,
    /// The source connector.
    pub source: &'a str,
    /// The purchase or refund id.
    pub reference: &'a str,
    /// The rule version.
    pub rule_version: &'a str,
    /// The amount, as stored.
    pub amount: Option<&'a str>,
    /// The currency.
    pub currency: Option<&'a str>,
    /// The rate, as stored.
    pub rate: Option<&'a str>,
    /// When the effect happened.
    pub occurred_at: i64,
    /// When it was written.
    pub created_at: i64,
    /// An admin's reason.
    pub reason: Option<&'a str>,
}

/// The hash of an entry chained to the previous entry of the same account
/// (`""` for the first): hex SHA-256 of a JSON array of the fields, so that
/// no two different entries serialize alike.
pub fn chain_hash(previous: &str, entry: &Chained<'_>) -> String {
    let canonical = serde_json::json!([
        "loyalty-ledger-v1",
        previous,
        entry.account_id,
        entry.kind,
        entry.points,
        entry.effect_key,
        entry.source,
        entry.reference,
        entry.rule_version,
        entry.amount,
        entry.currency,
        entry.rate,
        entry.occurred_at,
        entry.created_at,
        entry.reason,
    ]);
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(points: i64) -> Chained<'static> {
        Chained {
            account_id: 1,
            kind: "earn",
            points,
            effect_key: "earn/shop/1",
            source: "shop",
            reference: "1",
            rule_version: "v",
            amount: Some("10.00"),
            currency: Some("EUR"),
            rate: Some("1"),
            occurred_at: 4,
            created_at: 5,
            reason: None,
        }
    }

    #[test]
    fn the_hash_covers_the_fields_and_the_previous_hash() {
        let first = chain_hash("", &entry(10));
        assert_eq!(first.len(), 64);
        assert_ne!(first, chain_hash("", &entry(11)));
        assert_ne!(first, chain_hash("00", &entry(10)));
        assert_eq!(first, chain_hash("", &entry(10)));
    }

    #[test]
    fn an_adjustment_needs_points_and_a_reason() {
        assert_eq!(
            adjustment(0, "x", "admin", "k", 0),
            Err(AdjustmentError::ZeroPoints)
        );
        assert_eq!(
            adjustment(5, "  ", "admin", "k", 0),
            Err(AdjustmentError::MissingReason)
        );
        assert_eq!(
            adjustment(5, &"x".repeat(501), "admin", "k", 0),
            Err(AdjustmentError::ReasonTooLong)
        );
        let entry = adjustment(-50, " goodwill correction ", "token:ab12", "k-1", 0).unwrap();
        assert_eq!(
            (entry.points, entry.effect_key.as_str()),
            (-50, "adjust/k-1")
        );
        assert_eq!(entry.reason.as_deref(), Some("goodwill correction"));
    }
}
