//! `push-campaign`: a Salesforce Campaign with the recipients as campaign
//! members.
//!
//! The first batch of a campaign creates the Campaign
//! (`POST /sobjects/Campaign`) and remembers its id in state under
//! `campaign/<campaign-id>`; every batch then adds its recipients with
//! `POST /composite/sobjects` (at most 200 records a request,
//! `allOrNone: false`, so one bad contact does not sink the others).
//! Salesforce refuses a contact that is already a member with
//! `DUPLICATE_VALUE`; that counts as accepted, so a retried batch reports
//! the same as the first attempt.

use loyalty_sdk::host;
use loyalty_sdk::types::{CampaignDelivery, CampaignReport, Error, Offer, RejectedRecipient};
use serde::Deserialize;
use serde_json::json;

use crate::api;
use crate::settings;

/// The most records `composite/sobjects` takes in one request.
pub const CHUNK: usize = 200;
/// The longest Campaign `Name` Salesforce stores.
const NAME_CHARS_MAX: usize = 80;
/// The longest Campaign `Description` Salesforce stores.
const DESCRIPTION_CHARS_MAX: usize = 32_000;

/// Salesforce's answer to a create: `{"id","success","errors"}`.
#[derive(Debug, Clone, Deserialize)]
pub struct SaveResult {
    /// The new record's id, when it succeeded.
    #[serde(default)]
    pub id: Option<String>,
    /// Whether it succeeded.
    pub success: bool,
    /// Why not.
    #[serde(default)]
    pub errors: Vec<SaveError>,
}

/// One reason a record was not saved.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SaveError {
    /// `DUPLICATE_VALUE`, `INVALID_CROSS_REFERENCE_KEY`, ...
    #[serde(default)]
    pub status_code: String,
    /// Salesforce's message.
    #[serde(default)]
    pub message: String,
    /// The fields concerned.
    #[serde(default)]
    pub fields: Vec<String>,
}

/// Pushes one batch of a campaign.
pub fn push(delivery: &CampaignDelivery) -> Result<CampaignReport, Error> {
    let member_status = settings::campaign_member_status();
    let campaign_id = campaign(delivery)?;
    let mut rejected = Vec::new();
    let mut members = Vec::new();
    for recipient in &delivery.recipients {
        match &recipient.contact_id {
            Some(contact) if api::is_record_id(contact) => {
                members.push((recipient.account_id.clone(), contact.clone()));
            }
            Some(contact) => rejected.push(RejectedRecipient {
                account_id: recipient.account_id.clone(),
                reason: format!("`{contact}` is not a Salesforce contact id"),
            }),
            None => rejected.push(RejectedRecipient {
                account_id: recipient.account_id.clone(),
                reason: "the account has no Salesforce contact, and only contacts can be campaign members".to_owned(),
            }),
        }
    }
    let mut accepted = 0_u32;
    for chunk in members.chunks(CHUNK) {
        let records = chunk
            .iter()
            .map(|(_, contact)| {
                json!({
                    "attributes": {"type": "CampaignMember"},
                    "CampaignId": campaign_id,
                    "ContactId": contact,
                    "Status": member_status,
                })
            })
            .collect::<Vec<_>>();
        let body = json!({"allOrNone": false, "records": records});
        let results: Vec<SaveResult> = api::post("/composite/sobjects", &body)?;
        if results.len() != chunk.len() {
            return Err(Error::InvalidInput(format!(
                "Salesforce answered {} results for {} campaign members",
                results.len(),
                chunk.len()
            )));
        }
        for ((account_id, contact), result) in chunk.iter().zip(results) {
            if result.success || is_already_member(&result) {
                accepted += 1;
            } else {
                rejected.push(RejectedRecipient {
                    account_id: account_id.clone(),
                    reason: format!("contact {contact}: {}", reasons(&result.errors)),
                });
            }
        }
    }
    Ok(CampaignReport {
        external_id: Some(campaign_id),
        accepted,
        rejected,
    })
}

/// The Salesforce Campaign of this campaign, created on its first batch.
fn campaign(delivery: &CampaignDelivery) -> Result<String, Error> {
    let key = format!("campaign/{}", delivery.campaign_id);
    if let Some(id) = host::state_get_string(&key) {
        return Ok(id);
    }
    let body = json!({
        "Name": truncate(&delivery.name, NAME_CHARS_MAX),
        "IsActive": true,
        "Description": truncate(&description(delivery), DESCRIPTION_CHARS_MAX),
    });
    let created: SaveResult = api::post("/sobjects/Campaign", &body)?;
    let id = match (created.success, created.id) {
        (true, Some(id)) => id,
        _ => {
            return Err(Error::Permanent(format!(
                "Salesforce did not create the campaign `{}`: {}",
                delivery.name,
                reasons(&created.errors)
            )));
        }
    };
    host::state_set(&key, Some(id.as_bytes()));
    Ok(id)
}

/// The Campaign's description: where it comes from, the subject, the offer
/// and the message.
pub fn description(delivery: &CampaignDelivery) -> String {
    let mut lines = vec![format!("Loyalty campaign {}", delivery.campaign_id)];
    if let Some(subject) = &delivery.subject {
        lines.push(format!("Subject: {subject}"));
    }
    if let Some(offer) = &delivery.offer {
        lines.push(format!("Offer: {}", offer_text(offer)));
    }
    if let Some(body) = &delivery.body {
        lines.push(String::new());
        lines.push(body.clone());
    }
    lines.join("\n")
}

/// `SPRING10 (10% off)`, `spring10 (50 EUR off)`.
pub fn offer_text(offer: &Offer) -> String {
    let name = offer.code.as_deref().unwrap_or(&offer.id);
    let value = match (&offer.percent_off, &offer.amount_off) {
        (Some(percent), _) => format!(" ({percent}% off)"),
        (None, Some(amount)) => format!(" ({} {} off)", amount.amount, amount.currency),
        (None, None) => String::new(),
    };
    format!("{name}{value}")
}

/// Whether the only error is that the contact is already a member.
fn is_already_member(result: &SaveResult) -> bool {
    !result.errors.is_empty()
        && result
            .errors
            .iter()
            .all(|e| e.status_code == "DUPLICATE_VALUE")
}

/// `CODE: message (fields: A, B); ...`.
fn reasons(errors: &[SaveError]) -> String {
    if errors.is_empty() {
        return "no reason given".to_owned();
    }
    errors
        .iter()
        .map(|e| {
            let mut text = format!("{}: {}", e.status_code, e.message);
            if !e.fields.is_empty() {
                text.push_str(&format!(" (fields: {})", e.fields.join(", ")));
            }
            text
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The first `max` characters of `text`.
pub fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}
