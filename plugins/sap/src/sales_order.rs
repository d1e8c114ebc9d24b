//! Sales orders (`API_SALES_ORDER_SRV`, entity set `A_SalesOrder` with its
//! items `to_Item`) become purchases.
//!
//! Rejection is per item: an item with a `SalesDocumentRjcnReason` is not
//! delivered nor billed, yet `TotalNetAmount` still includes it. A
//! purchase's value is therefore the sum of the non-rejected items'
//! `NetAmount`, and rejected items are left out of its lines. An order whose
//! every item is rejected (`OverallSDDocumentRejectionSts` `C`) is
//! cancelled, which reverses whatever it earned.

use loyalty_sdk::decimal::{money, parse_decimal};
use loyalty_sdk::types::{Attribute, Error, Purchase, PurchaseLine, PurchaseStatus};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::Deserialize;
use serde_json::Value;

use crate::ids;
use crate::odata::{self, Expanded, present};
use crate::settings::{PaidWhen, Settings};
use crate::time;

/// The entity set's path below `base_url`.
pub const PATH: &str = "/sap/opu/odata/sap/API_SALES_ORDER_SRV/A_SalesOrder";

/// `OverallSDDocumentRejectionSts` and `OverallSDProcessStatus` value
/// meaning "completely" (all items rejected; fully processed).
const COMPLETELY: &str = "C";

/// The fields of `A_SalesOrder` the connector reads. Amounts and quantities
/// are decimal strings; they are parsed where they are used, so that an
/// error names the order and the field.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SalesOrder {
    /// The order number, zero-padded or not.
    pub sales_order: String,
    /// The customer who ordered.
    #[serde(default)]
    pub sold_to_party: Option<String>,
    /// Created on, `/Date(ms)/`.
    #[serde(default)]
    pub creation_date: Option<String>,
    /// Last changed at, `/Date(ms+0000)/`.
    #[serde(default)]
    pub last_change_date_time: Option<String>,
    /// ISO 4217 currency of every amount.
    #[serde(default)]
    pub transaction_currency: Option<String>,
    /// `A` open, `B` in process, `C` completed.
    #[serde(default, rename = "OverallSDProcessStatus")]
    pub overall_sd_process_status: Option<String>,
    /// `A` nothing rejected, `B` partly, `C` every item rejected.
    #[serde(default, rename = "OverallSDDocumentRejectionSts")]
    pub overall_sd_document_rejection_sts: Option<String>,
    /// Order type (`OR` standard order).
    #[serde(default)]
    pub sales_order_type: Option<String>,
    /// Sales organization.
    #[serde(default)]
    pub sales_organization: Option<String>,
    /// Distribution channel.
    #[serde(default)]
    pub distribution_channel: Option<String>,
    /// The buyer's purchase order number.
    #[serde(default)]
    pub purchase_order_by_customer: Option<String>,
    /// The items.
    #[serde(default, rename = "to_Item")]
    pub items: Option<Expanded<Item>>,
}

/// The fields of `A_SalesOrderItem` the connector reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Item {
    /// The item number (`10`, `20`).
    pub sales_order_item: String,
    /// Material number.
    #[serde(default)]
    pub material: Option<String>,
    /// Item description.
    #[serde(default)]
    pub sales_order_item_text: Option<String>,
    /// Material group.
    #[serde(default)]
    pub material_group: Option<String>,
    /// Quantity ordered, a decimal string.
    #[serde(default)]
    pub requested_quantity: Option<String>,
    /// Net value after pricing, a decimal string.
    #[serde(default)]
    pub net_amount: Option<String>,
    /// The item's currency.
    #[serde(default)]
    pub transaction_currency: Option<String>,
    /// Why the item was rejected; empty for an item that stands.
    #[serde(default)]
    pub sales_document_rjcn_reason: Option<String>,
}

impl Item {
    /// Whether the item is rejected.
    pub fn is_rejected(&self) -> bool {
        present(self.sales_document_rjcn_reason.as_deref()).is_some()
    }
}

/// The query of the orders changed at or after `since_ms`, in change order,
/// skipping the first `skip` of them (those changed exactly at `since_ms`
/// that earlier pages returned).
pub fn query_url(settings: &Settings, since_ms: i64, skip: u32, top: u32) -> String {
    let mut query = vec![
        (
            "$filter",
            format!(
                "LastChangeDateTime ge {}",
                time::datetimeoffset_literal(since_ms)
            ),
        ),
        ("$orderby", "LastChangeDateTime,SalesOrder".to_owned()),
        ("$expand", "to_Item".to_owned()),
        ("$top", top.to_string()),
    ];
    if skip > 0 {
        query.push(("$skip", skip.to_string()));
    }
    query.push(("$format", "json".to_owned()));
    odata::url(settings, PATH, &query)
}

/// Maps one record of the collection.
pub fn purchase(record: Value, paid_when: PaidWhen) -> Result<Purchase, Error> {
    let number = record
        .get("SalesOrder")
        .and_then(Value::as_str)
        .map(ids::normalize)
        .unwrap_or_default();
    let order: SalesOrder = serde_json::from_value(record)
        .map_err(|e| Error::InvalidInput(format!("SalesOrder `{number}`: {e}")))?;
    map(&order, paid_when)
}

/// The purchase of a sales order.
pub fn map(order: &SalesOrder, paid_when: PaidWhen) -> Result<Purchase, Error> {
    let id = ids::normalize(&order.sales_order);
    let invalid = |message: String| Error::InvalidInput(format!("SalesOrder `{id}`: {message}"));
    let required = |field: &str, value: &Option<String>| {
        present(value.as_deref()).ok_or_else(|| invalid(format!("`{field}` is missing")))
    };
    if id.is_empty() {
        return Err(Error::InvalidInput(
            "a sales order has an empty `SalesOrder`".to_owned(),
        ));
    }
    let changed = required("LastChangeDateTime", &order.last_change_date_time)?;
    let version = time::parse_date("LastChangeDateTime", &changed)
        .map_err(|e| invalid(e.message()))
        .and_then(|ms| {
            u64::try_from(ms).map_err(|_| invalid("`LastChangeDateTime` is before 1970".to_owned()))
        })?;
    let created = required("CreationDate", &order.creation_date)?;
    let placed_at = time::parse_date("CreationDate", &created).map_err(|e| invalid(e.message()))?;
    let currency =
        required("TransactionCurrency", &order.transaction_currency)?.to_ascii_uppercase();

    let mut lines = Vec::new();
    let mut rejected = Vec::new();
    let mut net = Decimal::ZERO;
    for item in order.items.iter().flat_map(|i| &i.results) {
        let line = line(item, &currency).map_err(|e| invalid(e.message()))?;
        if item.is_rejected() {
            rejected.push(line.id);
        } else {
            net += parse_decimal(&line.net_amount.amount)?;
            lines.push(line);
        }
    }

    let mut attributes = Vec::new();
    let mut attribute = |name: &str, value: Option<String>| {
        if let Some(value) = value {
            attributes.push(Attribute {
                name: name.to_owned(),
                value,
            });
        }
    };
    attribute(
        "sales_order_type",
        present(order.sales_order_type.as_deref()),
    );
    attribute(
        "sales_organization",
        present(order.sales_organization.as_deref()),
    );
    attribute(
        "distribution_channel",
        present(order.distribution_channel.as_deref()),
    );
    attribute(
        "purchase_order_by_customer",
        present(order.purchase_order_by_customer.as_deref()),
    );
    attribute(
        "overall_sd_process_status",
        present(order.overall_sd_process_status.as_deref()),
    );
    attribute(
        "rejected_items",
        (!rejected.is_empty()).then(|| rejected.join(",")),
    );

    let net = money(net, &currency);
    Ok(Purchase {
        id,
        version,
        account_id: ids::normalize_present(order.sold_to_party.as_deref()),
        contact_id: None,
        status: status(
            order.overall_sd_document_rejection_sts.as_deref(),
            order.overall_sd_process_status.as_deref(),
            paid_when,
        ),
        placed_at,
        total_amount: net.clone(),
        net_amount: net,
        lines,
        discount_codes: Vec::new(),
        referral_code: None,
        attributes,
    })
}

/// Where an order stands: fully rejected is cancelled; otherwise paid, or
/// with `paid_when = completed` paid only once completely processed.
pub fn status(
    rejection: Option<&str>,
    process: Option<&str>,
    paid_when: PaidWhen,
) -> PurchaseStatus {
    if rejection.map(str::trim) == Some(COMPLETELY) {
        return PurchaseStatus::Cancelled;
    }
    match paid_when {
        PaidWhen::Created => PurchaseStatus::Paid,
        PaidWhen::Completed if process.map(str::trim) == Some(COMPLETELY) => PurchaseStatus::Paid,
        PaidWhen::Completed => PurchaseStatus::Pending,
    }
}

/// One item as a purchase line.
///
/// `RequestedQuantity` is a decimal in the item's sales unit (`2.5` KG);
/// the line's whole-unit quantity rounds it up, and the unit price is the
/// net amount divided by that quantity. Points are earned on net amounts,
/// so the rounding never changes what a purchase earns.
pub fn line(item: &Item, currency: &str) -> Result<PurchaseLine, Error> {
    let item_id = ids::normalize(&item.sales_order_item);
    let invalid = |message: String| Error::InvalidInput(format!("item `{item_id}`: {message}"));
    let decimal = |field: &str, value: &Option<String>| {
        let text =
            present(value.as_deref()).ok_or_else(|| invalid(format!("`{field}` is missing")))?;
        parse_decimal(&text)
            .map_err(|_| invalid(format!("`{field}` is `{text}`, not a decimal number")))
    };
    if let Some(item_currency) = present(item.transaction_currency.as_deref())
        && !item_currency.eq_ignore_ascii_case(currency)
    {
        return Err(invalid(format!(
            "`TransactionCurrency` `{item_currency}` differs from the order's `{currency}`"
        )));
    }
    let net = decimal("NetAmount", &item.net_amount)?;
    let requested = decimal("RequestedQuantity", &item.requested_quantity)?;
    if requested.is_sign_negative() {
        return Err(invalid(format!(
            "`RequestedQuantity` is `{requested}`, a negative quantity"
        )));
    }
    let quantity = requested
        .ceil()
        .to_u32()
        .ok_or_else(|| invalid(format!("`RequestedQuantity` `{requested}` is too large")))?;
    let unit_price = if quantity == 0 {
        Decimal::ZERO
    } else {
        net.checked_div(Decimal::from(quantity))
            .map(|d| d.normalize())
            .ok_or_else(|| invalid("the unit price overflows".to_owned()))?
    };
    Ok(PurchaseLine {
        id: item_id.clone(),
        sku: present(item.material.as_deref()),
        title: present(item.sales_order_item_text.as_deref())
            .or_else(|| present(item.material.as_deref()))
            .unwrap_or_else(|| format!("item {item_id}")),
        category: present(item.material_group.as_deref()),
        quantity,
        unit_price: money(unit_price, currency),
        discount: money(Decimal::ZERO, currency),
        net_amount: money(net, currency),
    })
}
