//! Campaigns as the store keeps them: definitions, lifecycle, members with
//! their group, per-recipient deliveries and the batches they go out in.

use rust_decimal::Decimal;
use serde::Serialize;

use crate::core::accounts::AccountId;
use crate::core::campaigns::{Attribution, CampaignKind, CampaignStatus, Offer};
use crate::store::segments::Origin;

/// A campaign's definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CampaignDefinition {
    /// Stable id, `[a-z0-9][a-z0-9_-]*`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// What it asks.
    pub kind: CampaignKind,
    /// The segment it targets.
    pub segment: String,
    /// The connector whose `push-campaign` delivers it.
    pub channel: String,
    /// Subject template.
    pub subject: Option<String>,
    /// Message template (`{{ first_name }}`, `{{ balance }}`, ...).
    pub template: String,
    /// What it offers.
    pub offer: Option<Offer>,
    /// Share of the segment kept out of the send, percent.
    #[serde(with = "rust_decimal::serde::str")]
    pub holdout_percent: Decimal,
    /// Days after the start that purchases are attributed to it.
    pub attribution_days: u32,
    /// When it is to be sent; `None`: a draft until scheduled.
    pub send_at: Option<i64>,
    /// Where it was defined.
    pub origin: Origin,
}

/// How many deliveries are in each state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeliveryCounts {
    /// Waiting for a batch (first try or a retry).
    pub pending: u64,
    /// In a batch being pushed.
    pub queued: u64,
    /// Accepted by the vendor.
    pub sent: u64,
    /// Given up.
    pub failed: u64,
    /// Not known in the channel's system.
    pub skipped: u64,
}

/// A campaign with where it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CampaignView {
    /// The definition.
    #[serde(flatten)]
    pub definition: CampaignDefinition,
    /// Its lifecycle state.
    pub status: CampaignStatus,
    /// When members were chosen.
    pub started_at: Option<i64>,
    /// When the last delivery settled.
    pub finished_at: Option<i64>,
    /// The last failure.
    pub last_error: Option<String>,
    /// Targeted accounts.
    pub targeted: u64,
    /// Held-out accounts.
    pub held_out: u64,
    /// Deliveries by state.
    pub deliveries: DeliveryCounts,
}

/// A lifecycle change an admin asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Send at this time (now if in the past).
    Schedule(i64),
    /// Stop for good before the start (`cancelled` is final).
    Cancel,
}

/// What a definition change or transition did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CampaignOutcome {
    /// Done; the campaign as it is now.
    Done(CampaignView),
    /// The campaign was created.
    Created(CampaignView),
    /// Not allowed in this state.
    NotAllowed(CampaignStatus),
    /// Defined in the configuration file.
    ConfigOwned,
    /// No such campaign.
    Unknown,
}

/// One recipient of a batch, with what its message needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recipient {
    /// The delivery.
    pub delivery: i64,
    /// The account.
    pub account_id: AccountId,
    /// The account's id in the channel's system.
    pub account_ref: String,
    /// The contact's id there; `None` for the account itself.
    pub contact_ref: Option<String>,
    /// Email.
    pub email: Option<String>,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// The account's name.
    pub account_name: String,
    /// Its tier's name.
    pub tier: Option<String>,
    /// The next tier's name.
    pub next_tier: Option<String>,
    /// Qualifying spend still needed for the next tier.
    pub spend_to_next_tier: Option<Decimal>,
    /// Its balance.
    pub balance: i64,
    /// Its unique discount code, if the offer made one.
    pub offer_code: Option<String>,
}

/// A batch to push: its key (the vendor dedupes on it) and recipients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// `CAMPAIGN:N`.
    pub key: String,
    /// Its recipients.
    pub recipients: Vec<Recipient>,
}

/// A targeted account that still needs its discount code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRequest {
    /// The account.
    pub account_id: AccountId,
    /// Its id in the channel's system.
    pub account_ref: String,
    /// A contact there, if any.
    pub contact_ref: Option<String>,
}

/// One message of a campaign, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveryView {
    /// The account.
    pub account_id: AccountId,
    /// The contact (internal id); `None` for the account itself.
    pub contact_id: Option<i64>,
    /// The account's id in the channel's system.
    pub account_ref: Option<String>,
    /// The contact's id there.
    pub contact_ref: Option<String>,
    /// `pending`, `queued`, `sent`, `failed` or `skipped`.
    pub status: String,
    /// Pushes so far.
    pub attempts: u32,
    /// The batch it went out in (or is queued in).
    pub batch: Option<String>,
    /// Why the last attempt failed, or why it was skipped.
    pub last_error: Option<String>,
    /// When the vendor accepted it.
    pub sent_at: Option<i64>,
    /// The account's discount code, if the offer made one.
    pub offer_code: Option<String>,
}

/// A campaign's results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CampaignReport {
    /// The campaign.
    pub campaign: CampaignView,
    /// Purchases of targeted accounts against the holdout.
    pub attribution: Option<Attribution>,
    /// For surveys: NPS responses from targeted contacts since the start.
    pub survey_responses: Option<u64>,
}
