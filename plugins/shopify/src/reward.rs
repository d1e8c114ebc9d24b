//! Reward fulfilment: a discount or gift-card reward becomes a single-use
//! discount code only its customer can redeem.
//!
//! The code (`LOYAL-` and 8 letters and digits) is derived from the
//! redemption's idempotency key, and the discount is kept in state under
//! `reward/{key}`, so a retried fulfilment answers the same code without a
//! second price rule (see [`crate::discount`]).

use loyalty_sdk::host;
use loyalty_sdk::types::{Error, Fulfilment, FulfilmentStatus, RewardKind, RewardRequest};

use crate::admin::Client;
use crate::customer::present;
use crate::discount::{self, reward_price_rule};
use crate::ids::Id;

/// The kind's name as the program's catalog spells it.
pub fn kind_name(kind: RewardKind) -> &'static str {
    match kind {
        RewardKind::Discount => "discount",
        RewardKind::GiftCard => "gift_card",
        RewardKind::Product => "product",
        RewardKind::Service => "service",
        RewardKind::Event => "event",
        RewardKind::Other => "other",
    }
}

/// The customer the code is for: the redemption's contact, else the
/// customer behind an account of one (`customer/{id}`).
pub fn customer_of(request: &RewardRequest) -> Result<Id, Error> {
    if let Some(contact) = request.contact_id.as_deref() {
        return Id::parse(contact).ok_or_else(|| {
            Error::Permanent(format!(
                "redemption {}: contact `{contact}` is not a Shopify customer id",
                request.redemption_id
            ))
        });
    }
    request
        .account_id
        .strip_prefix("customer/")
        .and_then(Id::parse)
        .ok_or_else(|| {
            Error::Permanent(format!(
                "redemption {}: account `{}` is a Shopify company, and a discount code is tied to one customer; redeem with `contact` set to the buyer's Shopify customer id",
                request.redemption_id, request.account_id
            ))
        })
}

/// The title of a reward's price rule, as the merchant sees it in the
/// admin.
pub fn title(request: &RewardRequest) -> String {
    let name = present(Some(&request.name)).unwrap_or_else(|| request.reward_id.clone());
    format!("{name} (loyalty redemption {})", request.redemption_id)
}

/// Fulfils one redemption.
pub fn fulfil(request: &RewardRequest) -> Result<Fulfilment, Error> {
    if !matches!(request.kind, RewardKind::Discount | RewardKind::GiftCard) {
        return Err(Error::Unsupported(format!(
            "Shopify fulfils discount and gift_card rewards (as discount codes); reward `{}` is a `{}` reward",
            request.reward_id,
            kind_name(request.kind)
        )));
    }
    let offer = request.offer.as_ref().ok_or_else(|| {
        Error::Permanent(format!(
            "reward `{}` has no value to make a discount code of (set its `value` in [[program.rewards]])",
            request.reward_id
        ))
    })?;
    let customer = customer_of(request)?;
    let body = reward_price_rule(&title(request), offer, &customer, host::now())?;
    let code = discount::derived_code(&request.idempotency_key);
    let key = format!("reward/{}", request.idempotency_key);
    let created = discount::ensure(&mut Client::new(), &key, &code, &body)?;
    Ok(Fulfilment {
        external_id: created.discount_code_id.to_string(),
        status: FulfilmentStatus::Fulfilled,
        code: Some(created.code),
    })
}
