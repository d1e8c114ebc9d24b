//! Campaign push: the campaign's tag on every recipient customer and, when
//! the campaign has an offer, one shared discount code for it.
//!
//! Shopify has no campaign object an app can fill; merchants reach a group
//! of customers through a customer tag (Shopify Email and Flow segment on
//! tags), and an offer is a price rule with a discount code. The price rule
//! and code are made once per campaign (see [`crate::discount`]); every
//! batch tags its own recipients. Tagging reads the customer and writes the
//! merged tags back only when the tag is missing, so a retried batch changes
//! nothing twice.

use loyalty_sdk::host;
use loyalty_sdk::http::{Request, check_status};
use loyalty_sdk::types::{CampaignDelivery, CampaignReport, Error, Recipient, RejectedRecipient};
use serde::Deserialize;
use serde_json::json;

use crate::admin::{self, Client};
use crate::customer::present;
use crate::discount::{self, campaign_price_rule};
use crate::ids::Id;
use crate::settings;

/// Shopify's longest tag.
const TAG_CHARS_MAX: usize = 255;

/// The tag that marks a campaign's recipients: `loyalty-{campaign id}`,
/// without commas (they separate Shopify tags) and at most 255 characters.
pub fn tag(campaign_id: &str) -> String {
    format!("loyalty-{}", campaign_id.trim())
        .replace(',', "-")
        .chars()
        .take(TAG_CHARS_MAX)
        .collect()
}

/// `tags` with `tag` added, in Shopify's `a, b, c` spelling; `None` when it
/// is there already (Shopify compares tags without case).
pub fn merged_tags(tags: &str, tag: &str) -> Option<String> {
    let mut all: Vec<&str> = tags
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    if all.iter().any(|t| t.eq_ignore_ascii_case(tag)) {
        return None;
    }
    all.push(tag);
    Some(all.join(", "))
}

/// The Shopify customer a recipient is: its contact id, else the customer
/// behind an account of one (`customer/{id}`).
pub fn customer_of(recipient: &Recipient) -> Option<Id> {
    match recipient.contact_id.as_deref() {
        Some(contact) => Id::parse(contact),
        None => recipient
            .account_id
            .strip_prefix("customer/")
            .and_then(Id::parse),
    }
}

/// Pushes one batch.
pub fn push(delivery: &CampaignDelivery) -> Result<CampaignReport, Error> {
    let mut client = Client::new();
    let tag = tag(&delivery.campaign_id);
    let external_id = match &delivery.offer {
        Some(offer) => {
            let code = present(offer.code.as_deref())
                .unwrap_or_else(|| discount::derived_code(&delivery.campaign_id));
            let title = present(Some(&delivery.name)).unwrap_or_else(|| tag.clone());
            let body = campaign_price_rule(&title, offer, host::now())?;
            let key = format!("campaign/{}", delivery.campaign_id);
            discount::ensure(&mut client, &key, &code, &body)?
                .price_rule_id
                .to_string()
        }
        None => tag.clone(),
    };
    let mut accepted = 0;
    let mut rejected = Vec::new();
    for recipient in &delivery.recipients {
        let outcome = match customer_of(recipient) {
            Some(customer) => tag_customer(&mut client, &customer, &tag)?,
            None => Err(match &recipient.contact_id {
                Some(contact) => format!("contact id `{contact}` is not a Shopify customer id"),
                None => "no Shopify customer: the account has no contact from Shopify".to_owned(),
            }),
        };
        match outcome {
            Ok(()) => accepted += 1,
            Err(reason) => rejected.push(RejectedRecipient {
                account_id: recipient.account_id.clone(),
                reason,
            }),
        }
    }
    Ok(CampaignReport {
        external_id: Some(external_id),
        accepted,
        rejected,
    })
}

/// `GET customers/{id}.json` answers `{"customer": {"tags": "a, b", …}}`.
#[derive(Debug, Deserialize)]
struct CustomerAnswer {
    customer: Tags,
}

/// A customer's tags.
#[derive(Debug, Deserialize)]
struct Tags {
    #[serde(default)]
    tags: Option<String>,
}

/// Adds `tag` to a customer. The outer error stops the batch (rate limits,
/// outages, a bad token); the inner one rejects this recipient only.
fn tag_customer(
    client: &mut Client,
    customer: &Id,
    tag: &str,
) -> Result<Result<(), String>, Error> {
    let url = settings::admin_url(&format!("customers/{customer}.json"))?;
    let response = client.send(Request::get(&url))?;
    if let Some(reason) = recipient_refusal(&response, customer) {
        return Ok(Err(reason));
    }
    check_status(&response)?;
    let current: CustomerAnswer = loyalty_sdk::json::parse(&response.body)?;
    let Some(tags) = merged_tags(current.customer.tags.as_deref().unwrap_or_default(), tag) else {
        return Ok(Ok(()));
    };
    let body = json!({ "customer": { "id": discount::id_number(customer), "tags": tags } });
    let response = client.send(Request::new("PUT", &url).json(&body)?)?;
    if let Some(reason) = recipient_refusal(&response, customer) {
        return Ok(Err(reason));
    }
    check_status(&response)?;
    Ok(Ok(()))
}

/// Why Shopify refused one customer (404, 422), if it did.
fn recipient_refusal(
    response: &loyalty_sdk::types::IncomingResponse,
    customer: &Id,
) -> Option<String> {
    match response.status {
        404 => Some(format!("Shopify has no customer {customer}")),
        422 => Some(format!(
            "Shopify refused tagging customer {customer}: {}",
            admin::vendor_errors(response)
        )),
        _ => None,
    }
}
