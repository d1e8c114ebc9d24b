//! Orders: the body of `orders/create`, `orders/paid`, `orders/updated` and
//! `orders/cancelled`. Every one carries the whole order, so all four map the
//! same way; the engine keeps the newest version and earns once, when paid.
//!
//! An order becomes, in this order: the B2B company's account (read through
//! GraphQL), the customer's contact, one refund per embedded refund, and the
//! purchase. The account and contact come first so that the purchase never
//! names an account or contact the engine has not seen.

use loyalty_sdk::types::{Attribute, Error, Event, Purchase, PurchaseLine, PurchaseStatus};
use rust_decimal::Decimal;
use serde::Deserialize;

use crate::company::Companies;
use crate::customer::{self, Customer, present};
use crate::ids::Id;
use crate::money::{self, Amount, MoneySet};
use crate::refund::{self, Refund};
use crate::timestamp::{timestamp_ms, version_ms};

/// The fields of a REST Order the engine uses. Old and sparse orders lack
/// most of them; only the id and the two timestamps are required.
#[derive(Debug, Clone, Deserialize)]
pub struct Order {
    /// The order id.
    pub id: Id,
    /// When the order was placed.
    pub created_at: String,
    /// Last change; the purchase's version.
    pub updated_at: String,
    /// Set once the order is cancelled.
    #[serde(default)]
    pub cancelled_at: Option<String>,
    /// `pending`, `authorized`, `partially_paid`, `paid`,
    /// `partially_refunded`, `refunded` or `voided`.
    #[serde(default)]
    pub financial_status: Option<String>,
    /// The shop currency, for payloads without `*_set` amounts.
    #[serde(default)]
    pub currency: Option<String>,
    /// The buyer's currency; kept as an attribute, never used for amounts.
    #[serde(default)]
    pub presentment_currency: Option<String>,
    /// The order's name as the merchant sees it (`#1001`).
    #[serde(default)]
    pub name: Option<String>,
    /// Merchandise after discounts, before shipping and tax (bare amount).
    #[serde(default, with = "loyalty_sdk::decimal::exact::option")]
    pub subtotal_price: Option<Decimal>,
    /// The same in shop and presentment money.
    #[serde(default)]
    pub subtotal_price_set: Option<MoneySet>,
    /// Everything the buyer pays, tax and shipping included (bare amount).
    #[serde(default, with = "loyalty_sdk::decimal::exact::option")]
    pub total_price: Option<Decimal>,
    /// The same in shop and presentment money.
    #[serde(default)]
    pub total_price_set: Option<MoneySet>,
    /// The ordered lines.
    #[serde(default)]
    pub line_items: Option<Vec<LineItem>>,
    /// Discount codes applied.
    #[serde(default)]
    pub discount_codes: Option<Vec<DiscountCode>>,
    /// Cart attributes; `referral_code` carries a referral.
    #[serde(default)]
    pub note_attributes: Option<Vec<NoteAttribute>>,
    /// The buyer, absent for guest and some draft orders.
    #[serde(default)]
    pub customer: Option<Customer>,
    /// The B2B company the order was placed for.
    #[serde(default)]
    pub company: Option<CompanyRef>,
    /// Refunds made so far.
    #[serde(default)]
    pub refunds: Option<Vec<Refund>>,
}

/// A B2B order's purchasing company.
#[derive(Debug, Clone, Deserialize)]
pub struct CompanyRef {
    /// The company id.
    pub id: Id,
    /// The company location (branch) that ordered.
    #[serde(default)]
    pub location_id: Option<Id>,
}

/// One ordered line.
#[derive(Debug, Clone, Deserialize)]
pub struct LineItem {
    /// The line id.
    pub id: Id,
    /// Stock keeping unit; often `""` or `null`.
    #[serde(default)]
    pub sku: Option<String>,
    /// Product title.
    #[serde(default)]
    pub title: Option<String>,
    /// Product and variant title, used when `title` is missing.
    #[serde(default)]
    pub name: Option<String>,
    /// Product type, when the payload carries it.
    #[serde(default)]
    pub product_type: Option<String>,
    /// Units ordered.
    pub quantity: u32,
    /// Unit price before discounts (bare amount).
    #[serde(default, with = "loyalty_sdk::decimal::exact::option")]
    pub price: Option<Decimal>,
    /// The same in shop and presentment money.
    #[serde(default)]
    pub price_set: Option<MoneySet>,
    /// The discounts allocated to this line, order-level codes included.
    #[serde(default)]
    pub discount_allocations: Option<Vec<DiscountAllocation>>,
    /// Deprecated total discount (bare amount), for payloads without
    /// allocations.
    #[serde(default, with = "loyalty_sdk::decimal::exact::option")]
    pub total_discount: Option<Decimal>,
    /// The same in shop and presentment money.
    #[serde(default)]
    pub total_discount_set: Option<MoneySet>,
}

/// Part of a discount allocated to one line.
#[derive(Debug, Clone, Deserialize)]
pub struct DiscountAllocation {
    /// The allocated amount (bare).
    #[serde(default, with = "loyalty_sdk::decimal::exact::option")]
    pub amount: Option<Decimal>,
    /// The same in shop and presentment money.
    #[serde(default)]
    pub amount_set: Option<MoneySet>,
}

/// A discount code applied to the order.
#[derive(Debug, Clone, Deserialize)]
pub struct DiscountCode {
    /// The code the buyer entered.
    pub code: String,
}

/// A cart attribute.
#[derive(Debug, Clone, Deserialize)]
pub struct NoteAttribute {
    /// Attribute name.
    pub name: String,
    /// Attribute value; a string, though apps sometimes store numbers.
    #[serde(default)]
    pub value: Option<serde_json::Value>,
}

/// The cart attribute that carries a referral code.
const REFERRAL_ATTRIBUTE: &str = "referral_code";

/// Maps an order webhook body to its events. Everything is parsed and
/// checked before the company is read, so a malformed order costs no request.
pub fn handle(body: &[u8]) -> Result<Vec<Event>, Error> {
    let order: Order = loyalty_sdk::json::parse(body)?;
    let mapped = Mapped::new(&order)?;
    let companies = Companies::read(mapped.company())?;
    mapped.events(&companies)
}

/// An order's events (a webhook body or a listed order) but its company's
/// account. The orders of a call are mapped and checked first, then their
/// companies read together, and the account added.
#[derive(Debug)]
pub struct Mapped {
    /// The B2B company, whose account leads the events.
    company: Option<Id>,
    /// The contact, the refunds and the purchase.
    events: Vec<Event>,
}

impl Mapped {
    /// Maps and checks an order; reads nothing.
    pub fn new(order: &Order) -> Result<Self, Error> {
        let purchase = purchase(order)?;
        let version = purchase.version;
        let shop_currency = purchase.net_amount.currency.clone();
        let company_id = order.company.as_ref().map(|c| c.id.to_string());

        let mut refunds = Vec::new();
        for (i, r) in order.refunds.iter().flatten().enumerate() {
            let path = format!("refunds[{i}].");
            refunds.push(Event::Refund(refund::event(
                r,
                Some(&shop_currency),
                &path,
            )?));
        }
        let contact = match &order.customer {
            Some(c) => {
                let version = match &c.updated_at {
                    Some(at) => version_ms("customer.updated_at", at)?,
                    // Sparse embedded customers have no timestamp of their own.
                    None => version,
                };
                Some(Event::Contact(customer::contact(c, version, company_id)))
            }
            None => None,
        };

        let mut events = Vec::with_capacity(refunds.len() + 2);
        events.extend(contact);
        events.extend(refunds);
        events.push(Event::Purchase(purchase));
        Ok(Self {
            company: order.company.as_ref().map(|c| c.id.clone()),
            events,
        })
    }

    /// The company the order was placed for, if any.
    pub fn company(&self) -> Option<&Id> {
        self.company.as_ref()
    }

    /// The order's events in the order described at the top of this module,
    /// the account taken from `companies`, which must hold the order's
    /// company.
    pub fn events(self, companies: &Companies) -> Result<Vec<Event>, Error> {
        let mut events = Vec::with_capacity(self.events.len() + 1);
        if let Some(id) = &self.company {
            events.push(companies.account(id)?);
        }
        events.extend(self.events);
        Ok(events)
    }
}

/// The purchase for an order.
pub fn purchase(order: &Order) -> Result<Purchase, Error> {
    let net = money::shop_amount(
        order.subtotal_price_set.as_ref(),
        order.subtotal_price,
        order.currency.as_deref(),
        "subtotal_price",
    )?;
    let total = money::shop_amount(
        order.total_price_set.as_ref(),
        order.total_price,
        order.currency.as_deref(),
        "total_price",
    )?;
    if total.currency != net.currency {
        return Err(Error::InvalidInput(format!(
            "JSON field `total_price_set`: shop currency `{}` differs from `subtotal_price_set`'s `{}`",
            total.currency, net.currency
        )));
    }
    let lines = order
        .line_items
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, line)| purchase_line(line, &net.currency, &format!("line_items[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;

    let account_id = match (&order.company, &order.customer) {
        (Some(company), _) => Some(company.id.to_string()),
        // A buyer outside B2B is an account of one.
        (None, Some(customer)) => Some(format!("customer/{}", customer.id)),
        (None, None) => None,
    };

    let mut attributes = Vec::new();
    let mut attribute = |name: &str, value: Option<String>| {
        if let Some(value) = value {
            attributes.push(Attribute {
                name: name.to_owned(),
                value,
            });
        }
    };
    attribute("name", present(order.name.as_deref()));
    attribute(
        "presentment_currency",
        present(order.presentment_currency.as_deref()).map(|c| c.to_ascii_uppercase()),
    );
    attribute(
        "company_location_id",
        order
            .company
            .as_ref()
            .and_then(|c| c.location_id.as_ref())
            .map(Id::to_string),
    );

    Ok(Purchase {
        id: order.id.to_string(),
        version: version_ms("updated_at", &order.updated_at)?,
        account_id,
        contact_id: order.customer.as_ref().map(|c| c.id.to_string()),
        status: status(
            order.cancelled_at.as_deref(),
            order.financial_status.as_deref(),
        ),
        placed_at: timestamp_ms("created_at", &order.created_at)?,
        net_amount: net.to_money(),
        total_amount: total.to_money(),
        lines,
        discount_codes: order
            .discount_codes
            .iter()
            .flatten()
            .filter_map(|d| present(Some(&d.code)))
            .collect(),
        referral_code: order
            .note_attributes
            .iter()
            .flatten()
            .find(|a| a.name.trim().eq_ignore_ascii_case(REFERRAL_ATTRIBUTE))
            .and_then(|a| a.value.as_ref())
            .and_then(|v| match v {
                serde_json::Value::String(s) => present(Some(s)),
                serde_json::Value::Number(n) => Some(n.to_string()),
                _ => None,
            }),
        attributes,
    })
}

/// Where an order stands: cancelled or voided orders are cancelled; paid
/// orders stay paid through partial and full refunds (refund events reverse
/// what they earned); anything else, payment terms included, is pending.
pub fn status(cancelled_at: Option<&str>, financial_status: Option<&str>) -> PurchaseStatus {
    if cancelled_at.is_some_and(|at| !at.trim().is_empty()) {
        return PurchaseStatus::Cancelled;
    }
    match financial_status.map(str::trim) {
        Some("voided") => PurchaseStatus::Cancelled,
        Some("paid" | "partially_refunded" | "refunded") => PurchaseStatus::Paid,
        _ => PurchaseStatus::Pending,
    }
}

/// One purchase line, in the shop currency. `path` names the line in errors.
fn purchase_line(line: &LineItem, shop_currency: &str, path: &str) -> Result<PurchaseLine, Error> {
    let unit = money::shop_amount(
        line.price_set.as_ref(),
        line.price,
        Some(shop_currency),
        &format!("{path}.price"),
    )?;
    let discount = match &line.discount_allocations {
        Some(allocations) => {
            let mut sum = Some(Amount::zero(&unit.currency));
            for (j, a) in allocations.iter().enumerate() {
                let field = format!("{path}.discount_allocations[{j}].amount");
                let amount = money::shop_amount(
                    a.amount_set.as_ref(),
                    a.amount,
                    Some(shop_currency),
                    &field,
                )?;
                money::add(&mut sum, amount, &format!("{path}: price and discounts"))?;
            }
            sum.unwrap_or_else(|| Amount::zero(&unit.currency))
        }
        None if line.total_discount_set.is_some() || line.total_discount.is_some() => {
            money::shop_amount(
                line.total_discount_set.as_ref(),
                line.total_discount,
                Some(shop_currency),
                &format!("{path}.total_discount"),
            )?
        }
        None => Amount::zero(&unit.currency),
    };
    if discount.currency != unit.currency {
        return Err(Error::InvalidInput(format!(
            "{path}: discount currency `{}` differs from price currency `{}`",
            discount.currency, unit.currency
        )));
    }
    let net = Amount {
        value: unit.value * Decimal::from(line.quantity) - discount.value,
        currency: unit.currency.clone(),
    };
    Ok(PurchaseLine {
        id: line.id.to_string(),
        sku: present(line.sku.as_deref()),
        title: present(line.title.as_deref())
            .or_else(|| present(line.name.as_deref()))
            .unwrap_or_default(),
        category: present(line.product_type.as_deref()),
        quantity: line.quantity,
        unit_price: unit.to_money(),
        discount: discount.to_money(),
        net_amount: net.to_money(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_mapping_table() {
        use PurchaseStatus::{Cancelled, Paid, Pending};
        let cases: [(Option<&str>, Option<&str>, PurchaseStatus); 12] = [
            (None, Some("pending"), Pending),
            (None, Some("authorized"), Pending),
            (None, Some("partially_paid"), Pending),
            (None, None, Pending),
            (None, Some("something_new"), Pending),
            (None, Some("paid"), Paid),
            (None, Some("partially_refunded"), Paid),
            (None, Some("refunded"), Paid),
            (None, Some("voided"), Cancelled),
            (Some("2024-04-02T08:48:11-04:00"), Some("paid"), Cancelled),
            (
                Some("2024-04-02T08:48:11-04:00"),
                Some("refunded"),
                Cancelled,
            ),
            (Some("2024-04-02T08:48:11-04:00"), None, Cancelled),
        ];
        for (cancelled_at, financial, want) in cases {
            assert_eq!(
                status(cancelled_at, financial),
                want,
                "{cancelled_at:?} {financial:?}"
            );
        }
    }
}
