//! Rewards become HubSpot tasks for the account owner's team: a to-do
//! associated with the company (and the contact, when known) that says what
//! to deliver. The fulfilment stays `pending` until someone does it.
//!
//! The task id is kept in state under `reward/<idempotency key>`, so a
//! retried fulfilment answers with the same task instead of creating
//! another.

use loyalty_sdk::host;
use loyalty_sdk::prelude::*;
use serde::Deserialize;

use crate::api::Call;
use crate::ids::Id;
use crate::settings::Settings;
use crate::time::format_ms;

/// HubSpot-defined association type id of task to company.
pub const TASK_TO_COMPANY: u32 = 192;
/// HubSpot-defined association type id of task to contact.
pub const TASK_TO_CONTACT: u32 = 204;

/// The created task.
#[derive(Debug, Deserialize)]
struct Created {
    id: Id,
}

/// The task's subject.
pub fn subject(request: &RewardRequest) -> String {
    format!("Loyalty reward: {}", request.name.trim())
}

/// The task's body: what was redeemed and what to hand over.
pub fn body(request: &RewardRequest) -> String {
    let mut lines = vec![format!(
        "Redemption {} of reward `{}` ({}).",
        request.redemption_id,
        request.reward_id,
        kind_name(request.kind)
    )];
    if let Some(offer) = &request.offer {
        if let Some(code) = &offer.code {
            lines.push(format!("Code: {code}"));
        }
        if let Some(percent) = &offer.percent_off {
            lines.push(format!("Discount: {percent}%"));
        }
        if let Some(amount) = &offer.amount_off {
            lines.push(format!("Discount: {} {}", amount.amount, amount.currency));
        }
        if let Some(ends_at) = offer.ends_at {
            lines.push(format!("Valid until: {}", format_ms(ends_at)));
        }
    }
    for attribute in &request.attributes {
        lines.push(format!("{}: {}", attribute.name, attribute.value));
    }
    lines.join("\n")
}

fn kind_name(kind: RewardKind) -> &'static str {
    match kind {
        RewardKind::Discount => "discount",
        RewardKind::GiftCard => "gift card",
        RewardKind::Product => "product",
        RewardKind::Service => "service",
        RewardKind::Event => "event",
        RewardKind::Other => "other",
    }
}

/// The request body of `POST /crm/v3/objects/tasks`.
pub fn task(request: &RewardRequest, now_ms: i64) -> Result<serde_json::Value, Error> {
    let company = Id::parse(&request.account_id).ok_or_else(|| {
        Error::Permanent(format!(
            "account id `{}` is not a HubSpot company id",
            request.account_id
        ))
    })?;
    let association = |id: &Id, type_id: u32| {
        serde_json::json!({
            "to": { "id": id },
            "types": [{ "associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id }],
        })
    };
    let mut associations = vec![association(&company, TASK_TO_COMPANY)];
    if let Some(contact) = request.contact_id.as_deref().and_then(Id::parse) {
        associations.push(association(&contact, TASK_TO_CONTACT));
    }
    Ok(serde_json::json!({
        "properties": {
            "hs_task_subject": subject(request),
            "hs_task_body": body(request),
            "hs_timestamp": format_ms(now_ms),
            "hs_task_status": "NOT_STARTED",
            "hs_task_type": "TODO",
        },
        "associations": associations,
    }))
}

/// Creates the task once per idempotency key.
pub fn fulfil(request: &RewardRequest) -> Result<Fulfilment, Error> {
    let code = request.offer.as_ref().and_then(|o| o.code.clone());
    let key = format!("reward/{}", request.idempotency_key);
    if let Some(task_id) = host::state_get_string(&key) {
        return Ok(Fulfilment {
            external_id: task_id,
            status: FulfilmentStatus::Pending,
            code,
        });
    }
    let settings = Settings::load()?;
    let created: Created = Call::post(&settings, "/crm/v3/objects/tasks".to_owned())
        .fetch(&task(request, host::now())?)?;
    host::state_set(&key, Some(created.id.as_str().as_bytes()));
    Ok(Fulfilment {
        external_id: created.id.to_string(),
        status: FulfilmentStatus::Pending,
        code,
    })
}
