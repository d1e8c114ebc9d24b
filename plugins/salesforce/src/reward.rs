//! `fulfil-reward`: a Task for the account's owner.
//!
//! Salesforce has no reward or voucher object, so a redemption becomes
//! work for the people who own the customer: a Task on the account
//! (`WhatId`), about the contact if there is one (`WhoId`), assigned to the
//! account's owner, who fulfils it and closes the Task. The fulfilment is
//! therefore `pending`, and its external id is the Task id.
//!
//! The Task id is kept in state under `reward/<idempotency-key>`, so a
//! retried fulfilment answers with the same Task instead of creating
//! another.

use loyalty_sdk::host;
use loyalty_sdk::types::{Error, Fulfilment, FulfilmentStatus, RewardKind, RewardRequest};
use serde::Deserialize;
use serde_json::json;

use crate::api;
use crate::campaign::{SaveResult, offer_text, truncate};
use crate::settings;

/// The longest Task `Subject` Salesforce stores.
const SUBJECT_CHARS_MAX: usize = 255;

/// The fields of the account the Task needs.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AccountOwner {
    /// The user who owns the account.
    owner_id: String,
}

/// Fulfils one redemption.
pub fn fulfil(request: &RewardRequest) -> Result<Fulfilment, Error> {
    let key = format!("reward/{}", request.idempotency_key);
    let code = request.offer.as_ref().and_then(|o| o.code.clone());
    if let Some(task_id) = host::state_get_string(&key) {
        return Ok(Fulfilment {
            external_id: task_id,
            status: FulfilmentStatus::Pending,
            code,
        });
    }
    if !api::is_record_id(&request.account_id) {
        return Err(Error::InvalidInput(format!(
            "redemption {}: `{}` is not a Salesforce account id",
            request.redemption_id, request.account_id
        )));
    }
    let owner: AccountOwner = api::get(&format!(
        "/services/data/{}/sobjects/Account/{}?fields=OwnerId",
        settings::api_version()?,
        request.account_id
    ))?;
    let mut task = json!({
        "WhatId": request.account_id,
        "OwnerId": owner.owner_id,
        "Subject": truncate(&format!("Loyalty reward: {}", request.name), SUBJECT_CHARS_MAX),
        "Description": description(request),
        "Status": "Not Started",
        "Priority": "Normal",
    });
    if let Some(contact) = request
        .contact_id
        .as_deref()
        .filter(|c| api::is_record_id(c))
    {
        task["WhoId"] = json!(contact);
    }
    let created: SaveResult = api::post("/sobjects/Task", &task)?;
    let task_id = match (created.success, created.id) {
        (true, Some(id)) => id,
        _ => {
            return Err(Error::Permanent(format!(
                "Salesforce did not create the Task for redemption {}",
                request.redemption_id
            )));
        }
    };
    host::state_set(&key, Some(task_id.as_bytes()));
    Ok(Fulfilment {
        external_id: task_id,
        status: FulfilmentStatus::Pending,
        code,
    })
}

/// What the owner needs to know to fulfil it.
pub fn description(request: &RewardRequest) -> String {
    let mut lines = vec![
        format!("Redemption: {}", request.redemption_id),
        format!("Reward: {} ({})", request.reward_id, kind(request.kind)),
    ];
    if let Some(offer) = &request.offer {
        lines.push(format!("Offer: {}", offer_text(offer)));
    }
    for attribute in &request.attributes {
        lines.push(format!("{}: {}", attribute.name, attribute.value));
    }
    lines.push("Close this task once the reward is delivered.".to_owned());
    lines.join("\n")
}

/// The reward kind in words.
fn kind(kind: RewardKind) -> &'static str {
    match kind {
        RewardKind::Discount => "discount",
        RewardKind::GiftCard => "gift card",
        RewardKind::Product => "product",
        RewardKind::Service => "service",
        RewardKind::Event => "event",
        RewardKind::Other => "other",
    }
}
