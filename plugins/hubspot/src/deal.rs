//! Deals become purchases, their line items purchase lines.
//!
//! A deal is won when `hs_is_closed_won` is `"true"`. Stage names are not
//! used: every pipeline has its own (`closedwon` only exists in the default
//! one), while HubSpot keeps `hs_is_closed_won` and `hs_is_closed_lost`
//! right in all of them.
//!
//! With `referral_code_property` set, that deal property is the referral
//! code the purchase carries: the host attributes the company to the code's
//! owner when the deal is its first paid purchase.

use std::collections::BTreeMap;

use loyalty_sdk::decimal::money;
use loyalty_sdk::host;
use loyalty_sdk::types::{Attribute, Error, Event, Purchase, PurchaseStatus};
use rust_decimal::Decimal;

use crate::associations::Related;
use crate::crm::{CrmObject, ObjectType};
use crate::ids::Id;
use crate::line_item;
use crate::settings::Settings;

const KIND: ObjectType = ObjectType::Deal;

/// The properties read for every deal.
pub const PROPERTIES: &[&str] = &[
    "dealname",
    "amount",
    "deal_currency_code",
    "closedate",
    "createdate",
    "dealstage",
    "pipeline",
    "hs_is_closed_won",
    "hs_is_closed_lost",
    "hs_lastmodifieddate",
];

/// The properties read for a deal, the configured referral code property
/// included.
pub fn properties(settings: &Settings) -> Vec<String> {
    let mut names: Vec<String> = PROPERTIES.iter().map(|s| (*s).to_owned()).collect();
    if let Some(extra) = &settings.referral_code_property
        && !names.contains(extra)
    {
        names.push(extra.clone());
    }
    names
}

/// Where a deal stands: lost is `cancelled` (which reverses what it earned
/// if it was won before), won is `paid`, anything else `pending`.
pub fn status(object: &CrmObject) -> PurchaseStatus {
    if object.is_true("hs_is_closed_lost") {
        PurchaseStatus::Cancelled
    } else if object.is_true("hs_is_closed_won") {
        PurchaseStatus::Paid
    } else {
        PurchaseStatus::Pending
    }
}

/// The deal's currency: `deal_currency_code`, else the `currency` setting.
pub fn currency(object: &CrmObject, settings: &Settings) -> Result<String, Error> {
    if let Some(code) = object.text("deal_currency_code") {
        if code.len() == 3 && code.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Ok(code.to_ascii_uppercase());
        }
        return Err(object.malformed(KIND, "deal_currency_code", code, "an ISO 4217 code"));
    }
    settings.currency.clone().ok_or_else(|| {
        Error::Permanent(format!(
            "HubSpot deal {} has no `deal_currency_code` and the setting `currency` is not set (add the portal's company currency to [connectors.hubspot.settings])",
            object.id
        ))
    })
}

/// The purchase event for a deal, its associations and the line items read
/// for it (a line item that is gone is left out with a warning).
pub fn to_event(
    object: &CrmObject,
    related: &Related,
    line_items: &BTreeMap<Id, CrmObject>,
    settings: &Settings,
) -> Result<Event, Error> {
    let currency = currency(object, settings)?;
    let version = object.version(KIND)?;
    let mut lines = Vec::new();
    let mut lines_total = Decimal::ZERO;
    for linked in related.of(ObjectType::LineItem) {
        match line_items.get(&linked.id) {
            Some(item) => {
                lines.push(line_item::to_line(item, &currency, settings)?);
                lines_total += line_item::net_amount(item)?;
            }
            None => host::warn(&format!(
                "HubSpot deal {}: line item {} is gone; the purchase is sent without it",
                object.id, linked.id
            )),
        }
    }
    // An open deal often has no amount yet; its lines still say what it is worth.
    let amount = object.decimal(KIND, "amount")?.unwrap_or(lines_total);
    if amount.is_sign_negative() && !amount.is_zero() {
        return Err(object.malformed(
            KIND,
            "amount",
            &amount.to_string(),
            "an amount of 0 or more",
        ));
    }
    let placed_at = match object.timestamp(KIND, "closedate")? {
        Some(ms) => ms,
        None => object
            .created_ms(KIND)?
            .unwrap_or_else(|| i64::try_from(version).unwrap_or(i64::MAX)),
    };
    let attributes = ["dealname", "dealstage", "pipeline"]
        .into_iter()
        .filter_map(|name| {
            object.text(name).map(|value| Attribute {
                name: name.to_owned(),
                value: value.to_owned(),
            })
        })
        .collect();
    Ok(Event::Purchase(Purchase {
        id: object.id.to_string(),
        version,
        account_id: related.company().map(ToString::to_string),
        contact_id: related.contact().map(ToString::to_string),
        status: status(object),
        placed_at,
        net_amount: money(amount, &currency),
        total_amount: money(amount, &currency),
        lines,
        discount_codes: Vec::new(),
        referral_code: settings
            .referral_code_property
            .as_deref()
            .and_then(|name| object.text(name))
            .map(str::to_owned),
        attributes,
    }))
}
