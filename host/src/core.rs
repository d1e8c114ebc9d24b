//! The loyalty core: pure domain logic. Functions here take the current
//! records and an event and return decisions (records to save, ledger entries
//! to append); they do no I/O, so they are tested without a database or a
//! plugin.

pub mod accounts;
pub mod event;
pub mod ledger;
pub mod program;
pub mod purchases;

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
    /// A negative amount where only amounts of zero or more make sense.
    #[error("{what} must not be negative (got {amount})")]
    NegativeAmount {
        /// Which amount.
        what: String,
        /// Its value.
        amount: String,
    },
    /// A points amount too large to represent.
    #[error("{0} points is out of range")]
    PointsOutOfRange(String),
}
