//! What the store answers about referral codes, commissions and payouts.

use rust_decimal::Decimal;
use serde::Serialize;

use crate::core::accounts::AccountId;
use crate::core::commissions::PayoutSchedule;

/// A commission as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommissionView {
    /// Id.
    pub id: i64,
    /// The referrer paid.
    pub referrer: AccountId,
    /// The referred account it is for.
    pub referred: AccountId,
    /// The rule that made it.
    pub rule: String,
    /// `flat`, `revenue_share` or `goal_bonus`.
    pub kind: String,
    /// What it is for: `purchase:SOURCE/ID` or `goal:PERIOD-START-MS`.
    pub basis: String,
    /// Money; negative for a clawback.
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    /// Its currency.
    pub currency: String,
    /// Points; negative for a clawback.
    pub points: i64,
    /// When it accrued.
    pub occurred_at: i64,
    /// The payout batch that settled it.
    pub payout_id: Option<i64>,
}

/// One referred account in the referral report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReferredAccount {
    /// The referred account.
    pub account_id: AccountId,
    /// Its name.
    pub name: String,
    /// `admin` or `code`.
    pub source: String,
    /// When the referral was recorded.
    pub referred_at: i64,
    /// When it qualified.
    pub qualified_at: Option<i64>,
    /// Its revenue in the report's period, program currency, net of refunds.
    #[serde(with = "rust_decimal::serde::str")]
    pub revenue: Decimal,
}

/// One referrer in the referral report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReferrerLine {
    /// The referrer.
    pub account_id: AccountId,
    /// Its name.
    pub name: String,
    /// Whom it referred (recorded in the period).
    pub referred: Vec<ReferredAccount>,
    /// Of them, how many qualified.
    pub qualified: u32,
    /// Revenue of all its referred accounts in the period.
    #[serde(with = "rust_decimal::serde::str")]
    pub revenue: Decimal,
    /// Money commissions accrued in the period, net of clawbacks.
    #[serde(with = "rust_decimal::serde::str")]
    pub commission: Decimal,
    /// Points commissions accrued in the period, net of clawbacks.
    pub commission_points: i64,
}

/// Referrals over a period: how many, who referred whom, what the referred
/// accounts bought, what it cost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReferralReport {
    /// Start of the period (included), ms.
    pub from: i64,
    /// End of the period (excluded), ms.
    pub to: i64,
    /// The program currency.
    pub currency: String,
    /// Referrals recorded in the period.
    pub referrals: u32,
    /// Of them, qualified (by the end of the period).
    pub qualified: u32,
    /// Revenue of referred accounts in the period (purchases placed in it).
    #[serde(with = "rust_decimal::serde::str")]
    pub revenue: Decimal,
    /// Money commissions accrued in the period.
    #[serde(with = "rust_decimal::serde::str")]
    pub commission: Decimal,
    /// Points commissions accrued in the period.
    pub commission_points: i64,
    /// By referrer, most referrals first.
    pub referrers: Vec<ReferrerLine>,
}

/// A payout batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Payout {
    /// Id.
    pub id: i64,
    /// `monthly:YYYY-MM` or `through:COMMISSION-ID`: a run never makes the
    /// same batch twice.
    pub key: String,
    /// The schedule that made it.
    pub schedule: PayoutSchedule,
    /// First moment of the month it settles (monthly batches).
    pub period_start: Option<i64>,
    /// Commissions accrued before this moment are in it.
    pub period_end: i64,
    /// Its currency.
    pub currency: String,
    /// Sum of its lines.
    #[serde(with = "rust_decimal::serde::str")]
    pub total: Decimal,
    /// When it was made.
    pub created_at: i64,
    /// When an admin marked it paid.
    pub paid_at: Option<i64>,
    /// Who marked it paid.
    pub paid_by: Option<String>,
    /// The payment reference given then (a bank transfer id).
    pub reference: Option<String>,
    /// One line per referrer.
    pub lines: Vec<PayoutLineView>,
}

/// What one batch pays one referrer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PayoutLineView {
    /// The referrer.
    pub referrer: AccountId,
    /// Its name.
    pub name: String,
    /// Its tax id, for the accounts-payable export.
    pub tax_id: Option<String>,
    /// The amount.
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    /// How many commissions it settles.
    pub commissions: u32,
}

/// What marking a payout paid did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaidOutcome {
    /// Marked now.
    Marked(Payout),
    /// It was marked paid before: nothing changed.
    AlreadyPaid(Payout),
    /// No such payout.
    Unknown,
}
