//! Refunds: the body of `refunds/create`, and the `refunds` embedded in an
//! order (so a lost `refunds/create` is recovered by the next order webhook;
//! the host deduplicates by refund id).
//!
//! The refunded value the engine reverses points on is merchandise after
//! discounts and before tax: the sum of `refund_line_items[].subtotal_set`.
//! Shipping refunds and order adjustments (`order_adjustments`) earn nothing,
//! so they refund nothing either; a refund made only of them is worth 0.

use loyalty_sdk::types::{Error, Event, Refund as RefundEvent, RefundLine};
use rust_decimal::Decimal;
use serde::Deserialize;

use crate::ids::Id;
use crate::money::{self, Amount, MoneySet};
use crate::timestamp::{timestamp_ms, version_ms};

/// The fields of a REST Refund the engine uses.
#[derive(Debug, Clone, Deserialize)]
pub struct Refund {
    /// The refund id.
    pub id: Id,
    /// The refunded order.
    pub order_id: Id,
    /// When the refund was created; refunds never change, so this is also
    /// the version.
    pub created_at: String,
    /// The refunded lines, with their value after discounts, before tax.
    #[serde(default)]
    pub refund_line_items: Option<Vec<RefundLineItem>>,
    /// Refunded duties; read only for the shop currency.
    #[serde(default)]
    pub total_duties_set: Option<MoneySet>,
    /// Refunded additional fees; read only for the shop currency.
    #[serde(default)]
    pub total_additional_fees_set: Option<MoneySet>,
    /// Shipping refunds and discrepancies; read only for the shop currency.
    #[serde(default)]
    pub order_adjustments: Option<Vec<OrderAdjustment>>,
}

/// One refunded line.
#[derive(Debug, Clone, Deserialize)]
pub struct RefundLineItem {
    /// The order line refunded.
    #[serde(default)]
    pub line_item_id: Option<Id>,
    /// Units refunded.
    #[serde(default)]
    pub quantity: Option<u32>,
    /// The line's refunded value after discounts, before tax.
    #[serde(default)]
    pub subtotal_set: Option<MoneySet>,
    /// The same in the shop currency, in payloads without `subtotal_set`
    /// (a JSON number, read exactly).
    #[serde(default, with = "loyalty_sdk::decimal::exact::option")]
    pub subtotal: Option<Decimal>,
}

/// A shipping refund or a refund discrepancy.
#[derive(Debug, Clone, Deserialize)]
pub struct OrderAdjustment {
    /// The adjustment's amount.
    #[serde(default)]
    pub amount_set: Option<MoneySet>,
}

/// Maps a `refunds/create` body to its refund event.
pub fn handle(body: &[u8]) -> Result<Vec<Event>, Error> {
    let refund: Refund = loyalty_sdk::json::parse(body)?;
    Ok(vec![Event::Refund(event(&refund, None, "")?)])
}

/// The refund event. `shop_currency` is the order's shop currency when the
/// refund is embedded in an order; `path` prefixes field names in errors
/// (`refunds[0].`).
pub fn event(
    refund: &Refund,
    shop_currency: Option<&str>,
    path: &str,
) -> Result<RefundEvent, Error> {
    let mut net: Option<Amount> = None;
    let mut lines = Vec::new();
    for (i, line) in refund.refund_line_items.iter().flatten().enumerate() {
        let field = format!("{path}refund_line_items[{i}].subtotal");
        let amount = money::shop_amount(
            line.subtotal_set.as_ref(),
            line.subtotal,
            shop_currency,
            &field,
        )?;
        if let Some(line_id) = &line.line_item_id {
            lines.push(RefundLine {
                line_id: line_id.to_string(),
                quantity: line.quantity.unwrap_or(0),
                net_amount: amount.to_money(),
            });
        }
        money::add(&mut net, amount, &format!("{path}refund_line_items"))?;
    }
    let net = match net {
        Some(net) => net,
        None => {
            let currency = currency_without_lines(refund, shop_currency).ok_or_else(|| {
                Error::InvalidInput(format!(
                    "JSON field `{path}refund_line_items`: empty, and no shop-money amount tells the shop currency"
                ))
            })?;
            Amount::zero(&currency)
        }
    };
    // Refunds never change after creation, so their creation time is both
    // when the money went back and the entity version.
    let created_at = format!("{path}created_at");
    let version = version_ms(&created_at, &refund.created_at)?;
    Ok(RefundEvent {
        id: refund.id.to_string(),
        version,
        purchase_id: refund.order_id.to_string(),
        net_amount: net.to_money(),
        refunded_at: timestamp_ms(&created_at, &refund.created_at)?,
        lines,
    })
}

/// The shop currency of a refund without refunded lines, from any other
/// shop-money amount it carries.
fn currency_without_lines(refund: &Refund, shop_currency: Option<&str>) -> Option<String> {
    shop_currency
        .map(str::to_owned)
        .or_else(|| refund.total_duties_set.as_ref().map(|s| s.shop().currency))
        .or_else(|| {
            refund
                .total_additional_fees_set
                .as_ref()
                .map(|s| s.shop().currency)
        })
        .or_else(|| {
            refund
                .order_adjustments
                .iter()
                .flatten()
                .find_map(|a| a.amount_set.as_ref().map(|s| s.shop().currency))
        })
}
