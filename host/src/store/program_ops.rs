//! Requests and answers of the program operations a store performs besides
//! applying events: redemptions, membership and tags set by admins, and the
//! scheduled jobs (tier downgrades, contract memberships, points expiry).

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::core::accounts::AccountId;
use crate::core::expiry::Expiration;
use crate::core::membership::MembershipStatus;
use crate::core::program::Program;
use crate::core::rewards::{RedemptionError, RedemptionStatus};

/// A member's request for a reward.
#[derive(Debug, Clone)]
pub struct RedeemRequest {
    /// The account.
    pub account_id: AccountId,
    /// The reward.
    pub reward_id: String,
    /// The contact who asked, as given.
    pub contact: Option<String>,
    /// The request's `Idempotency-Key`.
    pub idempotency_key: String,
    /// SHA-256 of the canonical request, to tell a replay from a conflict.
    pub request_sha256: String,
    /// The program in force.
    pub program: Arc<Program>,
    /// Who asked (an admin token or a portal session), for the audit log.
    pub actor: String,
}

/// A redemption as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Redemption {
    /// Id.
    pub id: i64,
    /// The account.
    pub account_id: AccountId,
    /// The reward.
    pub reward_id: String,
    /// Points it costs.
    pub points: i64,
    /// Where it stands.
    pub status: RedemptionStatus,
    /// `"manual"` or `"connector:NAME"`.
    pub fulfilment: String,
    /// The contact who asked.
    pub contact: Option<String>,
    /// What fulfilment said (a gift card code, an error).
    pub detail: Option<String>,
    /// The rule version it was made under.
    pub rule_version: String,
    /// When it was made.
    pub created_at: i64,
    /// When it last changed.
    pub updated_at: i64,
}

/// What became of a redemption request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedeemOutcome {
    /// Points reserved.
    Created(Redemption),
    /// The same request was made before: its redemption.
    Replayed(Redemption),
    /// The key was used for another request.
    Conflict,
    /// No such account.
    UnknownAccount,
    /// The program refuses it.
    Refused(RedemptionError),
}

/// The outcome of fulfilling a reserved redemption.
#[derive(Debug, Clone)]
pub struct SettleRequest {
    /// The redemption.
    pub redemption_id: i64,
    /// Whether the reward was delivered.
    pub fulfilled: bool,
    /// What fulfilment said.
    pub detail: Option<String>,
    /// Who settled it (an admin token, or `connector:NAME`).
    pub actor: String,
    /// State writes of the connector that fulfilled it, committed with the
    /// settlement: `(connector, writes)`.
    pub state: Option<(String, crate::runtime::StateWrites)>,
}

/// What became of a settlement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettleOutcome {
    /// Settled now.
    Settled(Redemption),
    /// Settled the same way before.
    AlreadySettled(Redemption),
    /// Settled the other way before.
    Conflict(Redemption),
    /// No such redemption.
    Unknown,
}

/// What a run of the scheduled jobs did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct JobReport {
    /// When the jobs ran (ms since the epoch).
    pub at: i64,
    /// Accounts whose tier changed.
    pub tier_changes: usize,
    /// Accounts whose membership changed with their contracts.
    pub membership_changes: usize,
    /// Expire entries appended.
    pub expirations: usize,
    /// Points expired.
    pub points_expired: i64,
    /// Milestone bonuses appended.
    pub bonuses: usize,
}

/// What an admin may change about an account's standing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountChange {
    /// Move its membership.
    Membership(MembershipStatus),
    /// Replace its segment tags.
    Tags(BTreeSet<String>),
}

/// What became of an account change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeOutcome {
    /// Changed.
    Changed,
    /// No such account.
    UnknownAccount,
    /// The membership cannot move from where it is to there.
    NotAllowed {
        /// Where it is.
        from: Option<MembershipStatus>,
    },
    /// The account does not meet the program's eligibility rules.
    NotEligible(Vec<String>),
}

/// An account's points that expire soon.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Expiring {
    /// The account.
    pub account_id: AccountId,
    /// Lots expiring within the window, soonest first.
    pub lots: Vec<Expiration>,
    /// Their total.
    pub points: i64,
}

/// A tier change in an account's history.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TierHistoryEntry {
    /// The tier before.
    pub from: Option<String>,
    /// The tier after.
    pub to: Option<String>,
    /// `"upgrade"` or `"downgrade"`.
    pub kind: String,
    /// Qualifying spend at the change (decimal string, program currency).
    pub spend: String,
    /// When.
    pub at: i64,
}

/// A registered version of the program.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProgramVersion {
    /// The version (a hash of the rules).
    pub version: String,
    /// When it comes into force (ms since the epoch).
    pub effective_from: i64,
    /// When the daemon first ran it.
    pub registered_at: i64,
}

/// An admin's merge of two accounts that are one company.
#[derive(Debug, Clone)]
pub struct MergeRequest {
    /// The account that stays.
    pub into: AccountId,
    /// The account merged into it.
    pub from: AccountId,
    /// Why.
    pub reason: String,
    /// The admin.
    pub actor: String,
    /// The request's `Idempotency-Key`.
    pub idempotency_key: String,
    /// SHA-256 of the canonical request.
    pub request_sha256: String,
    /// The program in force (tiers are re-evaluated on the merged spend).
    pub program: Arc<Program>,
}

/// A merge as recorded.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Merge {
    /// Id.
    pub id: i64,
    /// The account merged away.
    pub from: AccountId,
    /// The account that stays.
    pub into: AccountId,
    /// Points moved by the transfer entries.
    pub points_moved: i64,
    /// The admin.
    pub actor: String,
    /// Why.
    pub reason: String,
    /// When.
    pub at: i64,
}

/// What became of a merge request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeOutcome {
    /// Merged now.
    Merged(Merge),
    /// The same request was made before.
    Replayed(Merge),
    /// The key was used for another request.
    Conflict,
    /// One of the accounts does not exist.
    UnknownAccount(AccountId),
    /// The accounts cannot be merged (the same account, or one merged already).
    Refused(String),
}

/// An account's acceptance of a version of the terms.
#[derive(Debug, Clone)]
pub struct TermsAcceptance {
    /// The account.
    pub account_id: AccountId,
    /// The terms version accepted.
    pub version: String,
    /// The contact who accepted (email or id).
    pub contact: String,
    /// Who recorded it.
    pub actor: String,
    /// The program in force.
    pub program: Arc<Program>,
}

/// What became of an acceptance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcceptanceOutcome {
    /// Recorded; `enrolled` when it made an invited account a member.
    Recorded {
        /// Whether the account became an active member.
        enrolled: bool,
    },
    /// No such account.
    UnknownAccount,
    /// Not the version in force.
    NotCurrent {
        /// The version in force, if any.
        current: Option<String>,
    },
}

/// One admin mutation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditEntry {
    /// Id.
    pub id: i64,
    /// Who.
    pub actor: String,
    /// What (`adjust`, `redeem`, `settle`, `membership`, `tags`, `merge`, `terms`).
    pub action: String,
    /// On what (`account:7`, `redemption:3`).
    pub target: String,
    /// State before, as JSON.
    pub before: Option<serde_json::Value>,
    /// State after, as JSON.
    pub after: Option<serde_json::Value>,
    /// When.
    pub at: i64,
}

/// An admin's record that one account referred another.
#[derive(Debug, Clone)]
pub struct ReferralRequest {
    /// The referring account.
    pub referrer: AccountId,
    /// The referred account.
    pub referred: AccountId,
    /// The admin.
    pub actor: String,
    /// The program in force.
    pub program: Arc<Program>,
}

/// A referral as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Referral {
    /// Id.
    pub id: i64,
    /// The referring account.
    pub referrer: AccountId,
    /// The referred account.
    pub referred: AccountId,
    /// `admin` (recorded through the API).
    pub source: String,
    /// When it was recorded.
    pub created_at: i64,
    /// When the referred account's first earning purchase qualified it.
    pub qualified_at: Option<i64>,
    /// The bonus the referrer got for it.
    pub points: i64,
}

/// What became of a referral record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReferralOutcome {
    /// Recorded (and qualified at once if the referred account has earned already).
    Recorded(Referral),
    /// The referred account was referred already, by this referral.
    AlreadyReferred(Referral),
    /// No such account.
    UnknownAccount(AccountId),
    /// An account cannot refer itself.
    SelfReferral,
}
