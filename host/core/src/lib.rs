//! The loyalty core: pure domain logic. Functions here take the current
//! records and an event and return decisions (records to save, ledger entries
//! to append); they do no I/O, so they are tested without a database or a
//! plugin.

pub mod accounts;
pub mod analytics;
pub mod campaigns;
pub mod commissions;
pub mod event;
pub mod expiry;
pub mod goals;
pub mod identity;
pub mod ledger;
pub mod membership;
pub mod profiles;
pub mod program;
pub mod purchases;
pub mod rewards;
pub mod rules;
pub mod scoring;
pub mod segments;
pub mod tiers;

/// Why the core cannot apply an event. The delivery becomes a dead letter
/// with this message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoreError {
    /// A purchase in a currency the program has no rate for.
    #[error(
        "no exchange rate from {from} to the program currency {to} (add {from} to [program.exchange_rates])"
    )]
    NoExchangeRate {
        /// The purchase's currency.
        from: String,
        /// The program's currency.
        to: String,
    },
    /// A refund in another currency than its purchase.
    #[error(
        "refund `{refund}` is in {refund_currency} but purchase `{purchase}` is in {purchase_currency}"
    )]
    CurrencyMismatch {
        /// The refund id.
        refund: String,
        /// The refund's currency.
        refund_currency: String,
        /// The purchase id.
        purchase: String,
        /// The purchase's currency.
        purchase_currency: String,
    },
    /// A purchase line in another currency than its purchase.
    #[error("purchase `{purchase}` is in {currency} but its line `{line}` is in {line_currency}")]
    LineCurrency {
        /// The purchase id.
        purchase: String,
        /// The line id.
        line: String,
        /// The line's currency.
        line_currency: String,
        /// The purchase's currency.
        currency: String,
    },
    /// A negative amount where only amounts of zero or more make sense.
    #[error("{what} must not be negative (got {amount})")]
    NegativeAmount {
        /// Which amount.
        what: String,
        /// Its value.
        amount: String,
    },
    /// An engagement naming no account, by a contact not known to belong to one.
    #[error(
        "engagement `{0}` names no account and its contact is unknown or has no account (send the contact first)"
    )]
    UnattributedEngagement(String),
    /// A points amount too large to represent.
    #[error("{0} points is out of range")]
    PointsOutOfRange(String),
}
