//! `POST /api/v1/events`: normalized events submitted directly, for systems
//! without a connector. They go through the same validation as a connector's
//! events and are applied at once, once per `Idempotency-Key`.
//!
//! ```json
//! {"source": "erp", "events": [
//!   {"type": "account", "id": "C-1001", "version": 3, "name": "Acme GmbH"},
//!   {"type": "purchase", "id": "SO-77", "version": 1, "account_id": "C-1001", "status": "paid",
//!    "net_amount": {"amount": "1250.00", "currency": "EUR"}}
//! ]}
//! ```

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::core::event::Event;
use crate::runtime::convert;
use crate::runtime::wit::latest::loyalty::connector::types as wit;

/// The longest list of events one request may carry.
pub(crate) const EVENTS_MAX: usize = 1_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Submission {
    source: String,
    events: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MoneyBody {
    amount: String,
    currency: String,
}

impl From<MoneyBody> for wit::Money {
    fn from(m: MoneyBody) -> Self {
        Self {
            amount: m.amount,
            currency: m.currency,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountBody {
    id: String,
    version: u64,
    name: String,
    domain: Option<String>,
    tax_id: Option<String>,
    industry: Option<String>,
    employees: Option<u32>,
    annual_revenue: Option<MoneyBody>,
    country: Option<String>,
    #[serde(default)]
    external_refs: Vec<ExternalRefBody>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExternalRefBody {
    system: String,
    id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LineBody {
    id: String,
    sku: Option<String>,
    title: Option<String>,
    category: Option<String>,
    #[serde(default = "one")]
    quantity: u32,
    net_amount: MoneyBody,
}

fn one() -> u32 {
    1
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum ContractStatusBody {
    Draft,
    Active,
    Expired,
    Cancelled,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ContractBody {
    id: String,
    version: u64,
    account_id: String,
    status: ContractStatusBody,
    name: Option<String>,
    starts_at: Option<i64>,
    ends_at: Option<i64>,
    value: Option<MoneyBody>,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum EngagementKindBody {
    NpsResponse,
    SurveyAnswered,
    EventAttended,
    SocialAction,
    FormSubmitted,
    Other,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EngagementBody {
    id: String,
    version: u64,
    account_id: Option<String>,
    contact_id: Option<String>,
    kind: EngagementKindBody,
    /// The NPS score, for `nps_response`.
    score: Option<u8>,
    /// The survey, event, action or form, for the other kinds.
    name: Option<String>,
    occurred_at: Option<i64>,
    comment: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ContactBody {
    id: String,
    version: u64,
    account_id: Option<String>,
    email: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    role: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum StatusBody {
    Pending,
    Paid,
    Cancelled,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PurchaseBody {
    id: String,
    version: u64,
    account_id: Option<String>,
    contact_id: Option<String>,
    status: StatusBody,
    placed_at: Option<i64>,
    net_amount: MoneyBody,
    total_amount: Option<MoneyBody>,
    #[serde(default)]
    lines: Vec<LineBody>,
    referral_code: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefundBody {
    id: String,
    version: u64,
    purchase_id: String,
    net_amount: MoneyBody,
    refunded_at: Option<i64>,
    #[serde(default)]
    lines: Vec<RefundLineBody>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefundLineBody {
    line_id: String,
    #[serde(default = "one")]
    quantity: u32,
    net_amount: MoneyBody,
}

/// A parsed submission: the source name and its validated events.
pub(crate) struct Parsed {
    pub(crate) source: String,
    pub(crate) events: Vec<Event>,
}

fn field<T: DeserializeOwned>(index: usize, value: serde_json::Value) -> Result<T, String> {
    serde_json::from_value(value).map_err(|e| format!("events[{index}]: {e}"))
}

/// Whether a source name can name a source: the same rule as connector names.
pub(crate) fn valid_source(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// Parses and validates a submission body; times left out are `now`.
pub(crate) fn parse(body: &[u8], now: i64) -> Result<Parsed, String> {
    let submission: Submission =
        serde_json::from_slice(body).map_err(|e| format!("invalid body: {e}"))?;
    if !valid_source(&submission.source) {
        return Err(format!(
            "source `{}` is not valid: use lower-case letters, digits, `_` and `-`, starting with a letter",
            submission.source
        ));
    }
    if submission.events.is_empty() || submission.events.len() > EVENTS_MAX {
        return Err(format!("events must hold 1 to {EVENTS_MAX} events"));
    }
    let mut events = Vec::with_capacity(submission.events.len());
    for (index, mut value) in submission.events.into_iter().enumerate() {
        let kind = value
            .as_object_mut()
            .and_then(|o| o.remove("type"))
            .and_then(|t| t.as_str().map(str::to_owned))
            .ok_or_else(|| {
                format!(
                    "events[{index}]: `type` is missing (account, contact, purchase, refund, contract or engagement)"
                )
            })?;
        let event = match kind.as_str() {
            "account" => {
                let a: AccountBody = field(index, value)?;
                wit::Event::Account(wit::Account {
                    id: a.id,
                    version: a.version,
                    name: a.name,
                    domain: a.domain,
                    tax_id: a.tax_id,
                    industry: a.industry,
                    employees: a.employees,
                    annual_revenue: a.annual_revenue.map(Into::into),
                    parent_id: None,
                    country: a.country,
                    external_refs: a
                        .external_refs
                        .into_iter()
                        .map(|r| wit::ExternalRef {
                            system: r.system,
                            id: r.id,
                        })
                        .collect(),
                    attributes: Vec::new(),
                })
            }
            "contact" => {
                let c: ContactBody = field(index, value)?;
                wit::Event::Contact(wit::Contact {
                    id: c.id,
                    version: c.version,
                    account_id: c.account_id,
                    email: c.email,
                    first_name: c.first_name,
                    last_name: c.last_name,
                    role: c.role,
                    attributes: Vec::new(),
                })
            }
            "purchase" => {
                let p: PurchaseBody = field(index, value)?;
                let net_amount: wit::Money = p.net_amount.into();
                wit::Event::Purchase(wit::Purchase {
                    id: p.id,
                    version: p.version,
                    account_id: p.account_id,
                    contact_id: p.contact_id,
                    status: match p.status {
                        StatusBody::Pending => wit::PurchaseStatus::Pending,
                        StatusBody::Paid => wit::PurchaseStatus::Paid,
                        StatusBody::Cancelled => wit::PurchaseStatus::Cancelled,
                    },
                    placed_at: p.placed_at.unwrap_or(now),
                    total_amount: p
                        .total_amount
                        .map_or_else(|| net_amount.clone(), Into::into),
                    lines: p
                        .lines
                        .into_iter()
                        .map(|l| wit::PurchaseLine {
                            id: l.id,
                            sku: l.sku,
                            title: l.title.unwrap_or_default(),
                            category: l.category,
                            quantity: l.quantity,
                            unit_price: wit::Money {
                                amount: "0".to_owned(),
                                currency: net_amount.currency.clone(),
                            },
                            discount: wit::Money {
                                amount: "0".to_owned(),
                                currency: net_amount.currency.clone(),
                            },
                            net_amount: l.net_amount.into(),
                        })
                        .collect(),
                    net_amount,
                    discount_codes: Vec::new(),
                    referral_code: p.referral_code,
                    attributes: Vec::new(),
                })
            }
            "refund" => {
                let r: RefundBody = field(index, value)?;
                wit::Event::Refund(wit::Refund {
                    id: r.id,
                    version: r.version,
                    purchase_id: r.purchase_id,
                    net_amount: r.net_amount.into(),
                    refunded_at: r.refunded_at.unwrap_or(now),
                    lines: r
                        .lines
                        .into_iter()
                        .map(|l| wit::RefundLine {
                            line_id: l.line_id,
                            quantity: l.quantity,
                            net_amount: l.net_amount.into(),
                        })
                        .collect(),
                })
            }
            "contract" => {
                let c: ContractBody = field(index, value)?;
                wit::Event::Contract(wit::Contract {
                    id: c.id,
                    version: c.version,
                    account_id: c.account_id,
                    status: match c.status {
                        ContractStatusBody::Draft => wit::ContractStatus::Draft,
                        ContractStatusBody::Active => wit::ContractStatus::Active,
                        ContractStatusBody::Expired => wit::ContractStatus::Expired,
                        ContractStatusBody::Cancelled => wit::ContractStatus::Cancelled,
                    },
                    name: c.name,
                    starts_at: c.starts_at,
                    ends_at: c.ends_at,
                    value: c.value.map(Into::into),
                })
            }
            "engagement" => {
                let e: EngagementBody = field(index, value)?;
                let named = |name: Option<String>| {
                    name.ok_or_else(|| format!("events[{index}]: `name` is required for this kind"))
                };
                let kind = match e.kind {
                    EngagementKindBody::NpsResponse => {
                        wit::EngagementKind::NpsResponse(e.score.ok_or_else(|| {
                            format!("events[{index}]: `score` is required for nps_response")
                        })?)
                    }
                    EngagementKindBody::SurveyAnswered => {
                        wit::EngagementKind::SurveyAnswered(named(e.name)?)
                    }
                    EngagementKindBody::EventAttended => {
                        wit::EngagementKind::EventAttended(named(e.name)?)
                    }
                    EngagementKindBody::SocialAction => {
                        wit::EngagementKind::SocialAction(named(e.name)?)
                    }
                    EngagementKindBody::FormSubmitted => {
                        wit::EngagementKind::FormSubmitted(named(e.name)?)
                    }
                    EngagementKindBody::Other => wit::EngagementKind::Other(named(e.name)?),
                };
                wit::Event::Engagement(wit::Engagement {
                    id: e.id,
                    version: e.version,
                    account_id: e.account_id,
                    contact_id: e.contact_id,
                    kind,
                    occurred_at: e.occurred_at.unwrap_or(now),
                    comment: e.comment,
                    attributes: Vec::new(),
                })
            }
            other => {
                return Err(format!(
                    "events[{index}]: unknown type `{other}` (expected account, contact, purchase, refund, contract or engagement)"
                ));
            }
        };
        events.push(convert::to_core(&event).map_err(|e| format!("events[{index}]: {e}"))?);
    }
    Ok(Parsed {
        source: submission.source,
        events,
    })
}
