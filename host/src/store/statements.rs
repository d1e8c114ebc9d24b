//! Reward statements as recorded: which recipient got which period's.

use crate::core::accounts::AccountId;

/// One recipient's statement for a period.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StatementRecord {
    /// The account.
    pub account_id: AccountId,
    /// The period (`2026-11`, `2026Q4`).
    pub period: String,
    /// The recipient contact.
    pub contact_id: i64,
    /// `sent` or `failed`.
    pub status: String,
    /// Where it went (a file in the outbox).
    pub destination: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// Attempts so far.
    pub attempts: u32,
    /// When it was last attempted.
    pub at: i64,
}
