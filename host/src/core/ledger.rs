//! The append-only points ledger. Points change only by entries; a
//! correction is a new entry, and a balance is the sum of an account's
//! entries.

use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

use crate::core::event::Money;

/// Why points changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// Earned by a paid purchase.
    Earn,
    /// Reversed by a refund or cancellation.
    Reverse,
    /// Corrected by an authenticated admin, with a reason.
    Adjust,
}

impl EntryKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Earn => "earn",
            Self::Reverse => "reverse",
            Self::Adjust => "adjust",
        }
    }

    /// Parses a stored name.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "earn" => Some(Self::Earn),
            "reverse" => Some(Self::Reverse),
            "adjust" => Some(Self::Adjust),
            _ => None,
        }
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
    /// Why an admin made the entry.
    pub reason: Option<String>,
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
            adjustment(0, "x", "admin", "k"),
            Err(AdjustmentError::ZeroPoints)
        );
        assert_eq!(
            adjustment(5, "  ", "admin", "k"),
            Err(AdjustmentError::MissingReason)
        );
        assert_eq!(
            adjustment(5, &"x".repeat(501), "admin", "k"),
            Err(AdjustmentError::ReasonTooLong)
        );
        let entry = adjustment(-50, " goodwill correction ", "token:ab12", "k-1").unwrap();
        assert_eq!(
            (entry.points, entry.effect_key.as_str()),
            (-50, "adjust/k-1")
        );
        assert_eq!(entry.reason.as_deref(), Some("goodwill correction"));
    }
}
