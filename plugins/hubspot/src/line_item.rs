//! Line items become purchase lines. They are read in batches
//! (`POST /crm/v3/objects/line_items/batch/read`) once a deal's associations
//! name them.

use std::collections::BTreeMap;

use loyalty_sdk::decimal::money;
use loyalty_sdk::host;
use loyalty_sdk::types::{Error, PurchaseLine};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::Deserialize;

use crate::api::Call;
use crate::crm::{CrmObject, ObjectType};
use crate::ids::Id;
use crate::settings::Settings;

const KIND: ObjectType = ObjectType::LineItem;

/// HubSpot's limit on the inputs of one object batch read.
pub const BATCH_READ_MAX: usize = 100;

/// The properties read for a line item, the configured category property
/// included.
pub fn properties(settings: &Settings) -> Vec<String> {
    let mut names: Vec<String> = [
        "hs_sku",
        "name",
        "quantity",
        "price",
        "hs_total_discount",
        "amount",
        "hs_product_type",
        "hs_lastmodifieddate",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    if !names.contains(&settings.line_item_category_property) {
        names.push(settings.line_item_category_property.clone());
    }
    names
}

/// A batch read's answer; ids HubSpot no longer has are in `errors`.
#[derive(Debug, Deserialize)]
struct BatchAnswer {
    #[serde(default)]
    results: Vec<CrmObject>,
}

/// Reads the line items `ids`, 100 at a time. A line item that is gone is
/// simply absent from the answer.
pub fn read(settings: &Settings, ids: &[Id]) -> Result<BTreeMap<Id, CrmObject>, Error> {
    let mut found = BTreeMap::new();
    let properties = properties(settings);
    for chunk in ids.chunks(BATCH_READ_MAX) {
        let inputs: Vec<_> = chunk
            .iter()
            .map(|id| serde_json::json!({ "id": id }))
            .collect();
        let answer: BatchAnswer =
            Call::post(settings, "/crm/v3/objects/line_items/batch/read".to_owned())
                .fetch(&serde_json::json!({ "properties": properties, "inputs": inputs }))?;
        for item in answer.results {
            found.insert(item.id.clone(), item);
        }
    }
    Ok(found)
}

/// What a line item contributes after discounts: its `amount`, which
/// HubSpot computes as quantity x price - discounts; when it is missing,
/// computed the same way.
pub fn net_amount(object: &CrmObject) -> Result<Decimal, Error> {
    if let Some(amount) = object.decimal(KIND, "amount")? {
        return Ok(amount);
    }
    let quantity = object.decimal(KIND, "quantity")?.unwrap_or(Decimal::ONE);
    let price = object.decimal(KIND, "price")?.unwrap_or(Decimal::ZERO);
    let discount = object
        .decimal(KIND, "hs_total_discount")?
        .unwrap_or(Decimal::ZERO);
    Ok(price * quantity - discount)
}

/// The purchase line for a line item, in the deal's currency.
pub fn to_line(
    object: &CrmObject,
    currency: &str,
    settings: &Settings,
) -> Result<PurchaseLine, Error> {
    let quantity = object.decimal(KIND, "quantity")?.unwrap_or(Decimal::ONE);
    if quantity.is_sign_negative() {
        return Err(object.malformed(
            KIND,
            "quantity",
            &quantity.to_string(),
            "a quantity of 0 or more",
        ));
    }
    let whole = quantity.round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero);
    if whole != quantity {
        host::warn(&format!(
            "HubSpot line item {}: quantity {quantity} is counted as {whole} whole units",
            object.id
        ));
    }
    let units = whole.to_u32().ok_or_else(|| {
        object.malformed(
            KIND,
            "quantity",
            &quantity.to_string(),
            "a quantity below 4294967296",
        )
    })?;
    let price = object.decimal(KIND, "price")?.unwrap_or(Decimal::ZERO);
    let discount = object
        .decimal(KIND, "hs_total_discount")?
        .unwrap_or(Decimal::ZERO);
    let net = net_amount(object)?;
    Ok(PurchaseLine {
        id: object.id.to_string(),
        sku: object.text("hs_sku").map(str::to_owned),
        title: object
            .text("name")
            .map_or_else(|| format!("HubSpot line item {}", object.id), str::to_owned),
        category: object
            .text(&settings.line_item_category_property)
            .map(str::to_owned),
        quantity: units,
        unit_price: money(price, currency),
        discount: money(discount, currency),
        net_amount: money(net, currency),
    })
}
