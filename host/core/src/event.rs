//! Normalized events, as the core sees them: validated, with exact money.
//! Connectors produce them (through the WIT contract); the runtime converts
//! and validates them before they get here.

use rust_decimal::Decimal;

/// Milliseconds since the Unix epoch, UTC.
pub type TimestampMs = i64;

/// An exact amount in an ISO 4217 currency (upper-case code, checked).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Money {
    /// The amount.
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    /// ISO 4217 code.
    pub currency: String,
}

/// Where an event came from: the connector's name and the entity's id there.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct SourceRef {
    /// The connector (source system) name.
    pub source: String,
    /// The entity's id in that system.
    pub id: String,
}

/// A company was created or changed in a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountUpsert {
    /// Source and id.
    pub source_id: String,
    /// Entity version (grows with each change).
    pub version: u64,
    /// Name.
    pub name: String,
    /// Verified business domain.
    pub domain: Option<String>,
    /// Tax id.
    pub tax_id: Option<String>,
    /// Industry.
    pub industry: Option<String>,
    /// Employees.
    pub employees: Option<u32>,
    /// Annual revenue as the source reports it.
    pub annual_revenue: Option<Money>,
    /// ISO 3166-1 alpha-2 country.
    pub country: Option<String>,
    /// Ids of the same company in other systems, as (system, id).
    pub external_refs: Vec<(String, String)>,
}

/// A person was created or changed in a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactUpsert {
    /// The source's id of the person.
    pub source_id: String,
    /// Entity version.
    pub version: u64,
    /// The source's id of the person's account, if the event names one.
    pub account_id: Option<String>,
    /// Email.
    pub email: Option<String>,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Role in the buying committee.
    pub role: Option<String>,
}

/// Where a purchase stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PurchaseStatus {
    /// Not paid yet.
    Pending,
    /// Paid: earns.
    Paid,
    /// Cancelled: whatever it earned is reversed.
    Cancelled,
}

/// A purchase was created or changed in a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purchase {
    /// The source's id.
    pub source_id: String,
    /// Entity version.
    pub version: u64,
    /// The source's id of the buying account.
    pub account_id: Option<String>,
    /// The source's id of the buying contact.
    pub contact_id: Option<String>,
    /// Status.
    pub status: PurchaseStatus,
    /// When placed.
    pub placed_at: TimestampMs,
    /// Merchandise after discounts, before tax and shipping, merchant currency.
    pub net_amount: Money,
    /// The lines; empty when the source only knows a total.
    pub lines: Vec<PurchaseLine>,
    /// A referral code the purchase carries.
    pub referral_code: Option<String>,
}

/// One line of a purchase.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PurchaseLine {
    /// The source's id of the line.
    pub id: String,
    /// Stock keeping unit.
    pub sku: Option<String>,
    /// Product category.
    pub category: Option<String>,
    /// Quantity.
    pub quantity: u32,
    /// What the line contributes after its discounts, before tax.
    pub net_amount: Money,
}

/// A purchase was refunded, fully or in part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    /// The source's id of the refund.
    pub source_id: String,
    /// Entity version.
    pub version: u64,
    /// The source's id of the purchase.
    pub purchase_id: String,
    /// Merchandise refunded, in the purchase's currency.
    pub net_amount: Money,
    /// When the refund happened.
    pub refunded_at: TimestampMs,
    /// The refunded lines, when the source itemizes; part of `net_amount`.
    pub lines: Vec<RefundLine>,
}

/// One refunded line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RefundLine {
    /// The purchase line's id.
    pub line_id: String,
    /// Units refunded.
    pub quantity: u32,
    /// Merchandise refunded for the line, in the purchase's currency.
    pub net_amount: Money,
}

/// Where a contract stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContractStatus {
    /// Being negotiated.
    Draft,
    /// In force (between its start and end, when it has them).
    Active,
    /// Ran out.
    Expired,
    /// Ended early.
    Cancelled,
}

/// A contract or subscription was created or changed in a source.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Contract {
    /// The source's id.
    pub source_id: String,
    /// Entity version.
    pub version: u64,
    /// The source's id of the account holding it.
    pub account_id: String,
    /// Status.
    pub status: ContractStatus,
    /// Plan or product name.
    pub name: Option<String>,
    /// First moment in force.
    pub starts_at: Option<TimestampMs>,
    /// Last moment in force.
    pub ends_at: Option<TimestampMs>,
    /// Contract value.
    pub value: Option<Money>,
}

/// What a contact or account did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EngagementAction {
    /// Answered an NPS survey with this score (0 to 10).
    NpsResponse(u8),
    /// Answered the named survey.
    SurveyAnswered(String),
    /// Attended the named event.
    EventAttended(String),
    /// Took the named social action.
    SocialAction(String),
    /// Submitted the named form.
    FormSubmitted(String),
    /// Anything else, by name; earns nothing.
    Other(String),
}

/// A contact or account engaged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Engagement {
    /// The source's id.
    pub source_id: String,
    /// Entity version.
    pub version: u64,
    /// The source's id of the account.
    pub account_id: Option<String>,
    /// The source's id of the contact.
    pub contact_id: Option<String>,
    /// What happened.
    pub action: EngagementAction,
    /// When.
    pub occurred_at: TimestampMs,
    /// Free text that came with it.
    pub comment: Option<String>,
}

/// A validated event from one source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A company.
    Account(AccountUpsert),
    /// A person.
    Contact(ContactUpsert),
    /// A purchase.
    Purchase(Purchase),
    /// A refund.
    Refund(Refund),
    /// A contract.
    Contract(Contract),
    /// An engagement.
    Engagement(Engagement),
    /// A kind of event the core does not act on yet (deletions); kept so
    /// that its arrival is counted and logged.
    NotYetHandled {
        /// The event kind.
        kind: &'static str,
        /// The source's id.
        source_id: String,
    },
}
