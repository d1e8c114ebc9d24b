//! The append-only points ledger. Points change only by entries; a
//! correction is a new entry, and a balance is the sum of an account's
//! entries.

use rust_decimal::Decimal;

use crate::core::event::Money;

/// Why points changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// Earned by a paid purchase.
    Earn,
    /// Reversed by a refund or cancellation.
    Reverse,
}

impl EntryKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Earn => "earn",
            Self::Reverse => "reverse",
        }
    }

    /// Parses a stored name.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "earn" => Some(Self::Earn),
            "reverse" => Some(Self::Reverse),
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
}
