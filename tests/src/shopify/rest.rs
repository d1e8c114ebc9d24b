//! Our own Shopify REST bodies in the exact wire format of Admin API
//! 2024-04: an Order (the body of `orders/create|paid|updated|cancelled`), a
//! Refund (`refunds/create`) and a Customer (`customers/create|update`).
//!
//! Every figure is derived from a few inputs kept in cents (quantities, unit
//! prices, a merchant's line discount, a percentage code), the way Shopify
//! derives them: code discounts are allocated per line, `subtotal_price` is
//! after discounts and before tax and shipping, `current_*` fields are after
//! refunds, and presentment (USD) amounts differ from shop (EUR) amounts.
//! Fields a connector must not use for points (`total_price`,
//! `current_subtotal_price`, presentment money, refund transactions) are
//! present and deliberately different.

use std::fmt;

use serde_json::{Number, Value, json};

/// The shop's currency: what `shop_money` amounts are in.
pub const SHOP_CURRENCY: &str = "EUR";
/// The buyer's currency: what `presentment_money` amounts are in.
pub const PRESENTMENT_CURRENCY: &str = "USD";
/// Presentment (USD) per shop (EUR) unit, in thousandths.
const PRESENTMENT_PER_MILLE: i64 = 1085;

/// An amount of money in hundredths, so that figures stay exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Cents(pub i64);

impl Cents {
    /// The presentment (USD) counterpart of a shop (EUR) amount.
    pub fn presentment(self) -> Self {
        Self(div_round(self.0 * PRESENTMENT_PER_MILLE, 1000))
    }

    /// `self x numerator / denominator`, rounded half up to the cent.
    pub fn scaled(self, numerator: i64, denominator: i64) -> Self {
        Self(div_round(self.0 * numerator, denominator))
    }

    /// The amount as a JSON number written like Shopify writes the few
    /// amounts that are numbers (`"subtotal": 195.66`).
    fn number(self) -> Value {
        self.to_string()
            .parse::<Number>()
            .map_or(Value::Null, Value::Number)
    }
}

impl fmt::Display for Cents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

impl std::ops::Add for Cents {
    type Output = Self;
    fn add(self, other: Self) -> Self {
        Self(self.0 + other.0)
    }
}

impl std::ops::Sub for Cents {
    type Output = Self;
    fn sub(self, other: Self) -> Self {
        Self(self.0 - other.0)
    }
}

impl std::iter::Sum for Cents {
    fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
        Self(iter.map(|c| c.0).sum())
    }
}

/// `n / d` rounded half up, for non-negative `n` and positive `d`.
fn div_round(n: i64, d: i64) -> i64 {
    (n + d / 2) / d
}

/// A `*_set` object: the amount in shop and presentment money.
fn money_set(amount: Cents) -> Value {
    json!({
        "shop_money": { "amount": amount.to_string(), "currency_code": SHOP_CURRENCY },
        "presentment_money": { "amount": amount.presentment().to_string(), "currency_code": PRESENTMENT_CURRENCY },
    })
}

/// The fields of several JSON objects in one.
fn merged<const N: usize>(parts: [Value; N]) -> Value {
    let mut fields = serde_json::Map::new();
    for part in parts {
        if let Value::Object(map) = part {
            fields.extend(map);
        }
    }
    Value::Object(fields)
}

/// A postal address; `company` is the buyer's company as typed at checkout.
#[derive(Debug, Clone)]
pub struct Address {
    /// Street.
    pub address1: String,
    /// City.
    pub city: String,
    /// Postal code.
    pub zip: String,
    /// Country name.
    pub country: String,
    /// ISO 3166-1 alpha-2.
    pub country_code: String,
    /// Company line.
    pub company: Option<String>,
}

impl Address {
    fn json(&self, first_name: &str, last_name: &str, phone: Option<&str>) -> Value {
        json!({
            "first_name": first_name,
            "address1": self.address1,
            "phone": phone,
            "city": self.city,
            "zip": self.zip,
            "province": null,
            "country": self.country,
            "last_name": last_name,
            "address2": "",
            "company": self.company,
            "latitude": null,
            "longitude": null,
            "name": format!("{first_name} {last_name}"),
            "country_code": self.country_code,
            "province_code": null,
        })
    }
}

/// A Shopify customer: the buyer, a person.
#[derive(Debug, Clone)]
pub struct Customer {
    /// Customer id.
    pub id: u64,
    /// Email.
    pub email: String,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// Phone.
    pub phone: Option<String>,
    /// Default address.
    pub address: Address,
    /// Created, RFC 3339 with offset as Shopify writes it.
    pub created_at: String,
    /// Last modified: the version a connector compares.
    pub updated_at: String,
}

impl Customer {
    /// The body of `customers/create` and `customers/update`.
    pub fn body(&self) -> Value {
        let mut body = self.embedded();
        let address = self.address_json();
        let fields = [
            ("orders_count", json!(1)),
            ("total_spent", json!("0.00")),
            ("last_order_id", Value::Null),
            ("last_order_name", Value::Null),
            ("addresses", json!([address])),
        ];
        if let Value::Object(map) = &mut body {
            for (key, value) in fields {
                map.insert(key.to_owned(), value);
            }
        }
        body
    }

    /// The customer as embedded in an order.
    fn embedded(&self) -> Value {
        json!({
            "id": self.id,
            "email": self.email,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "state": "enabled",
            "note": null,
            "verified_email": true,
            "multipass_identifier": null,
            "tax_exempt": false,
            "phone": self.phone,
            "email_marketing_consent": {
                "state": "subscribed",
                "opt_in_level": "confirmed_opt_in",
                "consent_updated_at": self.created_at,
            },
            "sms_marketing_consent": null,
            "tags": "b2b, wholesale",
            "currency": SHOP_CURRENCY,
            "tax_exemptions": [],
            "admin_graphql_api_id": format!("gid://shopify/Customer/{}", self.id),
            "default_address": self.address_json(),
        })
    }

    fn address_json(&self) -> Value {
        let mut address =
            self.address
                .json(&self.first_name, &self.last_name, self.phone.as_deref());
        if let Value::Object(map) = &mut address {
            map.insert("id".to_owned(), json!(self.id + 1));
            map.insert("customer_id".to_owned(), json!(self.id));
            map.insert(
                "country_name".to_owned(),
                json!(self.address.country.clone()),
            );
            map.insert("default".to_owned(), json!(true));
        }
        address
    }
}

/// One line of an order.
#[derive(Debug, Clone)]
pub struct LineItem {
    /// Line id.
    pub id: u64,
    /// Product id.
    pub product_id: u64,
    /// Variant id.
    pub variant_id: u64,
    /// Product title.
    pub title: String,
    /// Variant title.
    pub variant_title: String,
    /// SKU.
    pub sku: String,
    /// Vendor.
    pub vendor: String,
    /// Units ordered.
    pub quantity: i64,
    /// Unit price.
    pub unit_price: Cents,
    /// A merchant's manual discount on the whole line (its own discount
    /// application, allocated to this line only).
    pub line_discount: Cents,
    /// Weight of one unit.
    pub grams: i64,
}

/// A percentage discount code applied across all lines.
#[derive(Debug, Clone)]
pub struct DiscountCode {
    /// The code.
    pub code: String,
    /// Whole percent off.
    pub percent: i64,
}

/// The B2B company location an order was placed for (REST shows ids only;
/// details need the GraphQL `company` query).
#[derive(Debug, Clone, Copy)]
pub struct CompanyRef {
    /// Company id.
    pub id: u64,
    /// Company location id.
    pub location_id: u64,
}

/// One line of a refund.
#[derive(Debug, Clone)]
pub struct RefundLine {
    /// Refund line id.
    pub id: u64,
    /// The refunded order line.
    pub line_item_id: u64,
    /// Units refunded.
    pub quantity: i64,
    /// Merchandise refunded, after discounts, before tax.
    pub subtotal: Cents,
    /// Tax refunded.
    pub total_tax: Cents,
    /// The order line as Shopify nests it in the refund line.
    line_item: Value,
}

/// A refund of some order lines.
#[derive(Debug, Clone)]
pub struct Refund {
    /// Refund id.
    pub id: u64,
    /// The refunded order.
    pub order_id: u64,
    /// When it was made.
    pub created_at: String,
    /// Why.
    pub note: String,
    /// The refunded lines.
    pub lines: Vec<RefundLine>,
}

impl Refund {
    /// Merchandise refunded: the sum of the lines' subtotals.
    pub fn subtotal(&self) -> Cents {
        self.lines.iter().map(|l| l.subtotal).sum()
    }

    /// Tax refunded.
    pub fn total_tax(&self) -> Cents {
        self.lines.iter().map(|l| l.total_tax).sum()
    }

    /// The body of `refunds/create` (also how an order embeds its refunds).
    pub fn body(&self) -> Value {
        let zero = money_set(Cents(0));
        let refunded = self.subtotal() + self.total_tax();
        json!({
            "id": self.id,
            "order_id": self.order_id,
            "created_at": self.created_at,
            "note": self.note,
            "user_id": 110_493_000_001_u64,
            "processed_at": self.created_at,
            "restock": true,
            "duties": [],
            "total_duties_set": zero,
            "additional_fees": [],
            "total_additional_fees_set": zero,
            "return": null,
            "admin_graphql_api_id": format!("gid://shopify/Refund/{}", self.id),
            "refund_line_items": self.lines.iter().map(|line| json!({
                "id": line.id,
                "quantity": line.quantity,
                "line_item_id": line.line_item_id,
                "location_id": 71_234_000_001_u64,
                "restock_type": "return",
                "subtotal": line.subtotal.number(),
                "total_tax": line.total_tax.number(),
                "subtotal_set": money_set(line.subtotal),
                "total_tax_set": money_set(line.total_tax),
                "line_item": line.line_item,
            })).collect::<Vec<_>>(),
            // Money goes back in the buyer's currency and includes tax: a
            // connector must not measure the refund by it.
            "transactions": [{
                "id": self.id + 50,
                "order_id": self.order_id,
                "kind": "refund",
                "gateway": "manual",
                "status": "success",
                "message": "Refunded",
                "created_at": self.created_at,
                "test": false,
                "authorization": null,
                "location_id": null,
                "user_id": null,
                "parent_id": self.order_id + 50,
                "processed_at": self.created_at,
                "device_id": null,
                "error_code": null,
                "source_name": "1830279",
                "receipt": {},
                "amount": refunded.presentment().to_string(),
                "currency": PRESENTMENT_CURRENCY,
                "payment_id": format!("r{}", self.id),
                "manual_payment_gateway": true,
                "admin_graphql_api_id": format!("gid://shopify/OrderTransaction/{}", self.id + 50),
            }],
            "order_adjustments": [],
        })
    }
}

/// An order and everything Shopify derives from it.
#[derive(Debug, Clone)]
pub struct Order {
    /// Order id.
    pub id: u64,
    /// Order number (`name` is `#<number>`).
    pub number: u64,
    /// The B2B company location, if it is a B2B order.
    pub company: Option<CompanyRef>,
    /// The buyer.
    pub customer: Customer,
    /// Lines.
    pub lines: Vec<LineItem>,
    /// A percentage code applied across all lines.
    pub discount_code: Option<DiscountCode>,
    /// Shipping (untaxed here).
    pub shipping: Cents,
    /// VAT rate on merchandise, whole percent.
    pub tax_percent: i64,
    /// `pending`, `authorized`, `paid`, `partially_refunded`, `refunded`.
    pub financial_status: String,
    /// Placed.
    pub created_at: String,
    /// Last modified: the version a connector compares.
    pub updated_at: String,
    /// Set once cancelled.
    pub cancelled_at: Option<String>,
    /// Refunds so far, as the order embeds them.
    pub refunds: Vec<Refund>,
    /// The buyer's purchase order number.
    pub po_number: Option<String>,
}

/// One line's derived figures.
struct LineFigures {
    gross: Cents,
    /// (discount application index, amount).
    allocations: Vec<(usize, Cents)>,
    net: Cents,
    tax: Cents,
}

impl Order {
    fn figures(&self) -> Vec<LineFigures> {
        let code_index = self.lines.iter().filter(|l| l.line_discount.0 > 0).count();
        let mut manual_index = 0;
        self.lines
            .iter()
            .map(|line| {
                let gross = Cents(line.unit_price.0 * line.quantity);
                let mut allocations = Vec::new();
                if line.line_discount.0 > 0 {
                    allocations.push((manual_index, line.line_discount));
                    manual_index += 1;
                }
                if let Some(code) = &self.discount_code {
                    let base = gross - line.line_discount;
                    allocations.push((code_index, base.scaled(code.percent, 100)));
                }
                let net = gross - allocations.iter().map(|(_, a)| *a).sum();
                let tax = net.scaled(self.tax_percent, 100);
                LineFigures {
                    gross,
                    allocations,
                    net,
                    tax,
                }
            })
            .collect()
    }

    /// Merchandise after discounts, before tax and shipping, in shop money:
    /// what the order earns on.
    pub fn subtotal(&self) -> Cents {
        self.figures().iter().map(|f| f.net).sum()
    }

    /// Units of a line refunded so far.
    fn refunded_quantity(&self, line_item_id: u64) -> i64 {
        self.refunds
            .iter()
            .flat_map(|r| &r.lines)
            .filter(|l| l.line_item_id == line_item_id)
            .map(|l| l.quantity)
            .sum()
    }

    /// A refund of `(line id, units)`, priced as Shopify prices it: each
    /// unit's share of the line after its discounts, rounded cumulatively so
    /// that refunding every unit refunds the line's net exactly. Add it to
    /// `refunds` once it is announced.
    pub fn refund(&self, id: u64, created_at: &str, units: &[(u64, i64)]) -> Refund {
        let figures = self.figures();
        let lines = units
            .iter()
            .enumerate()
            .filter_map(|(i, &(line_item_id, quantity))| {
                let index = self.lines.iter().position(|l| l.id == line_item_id)?;
                let (line, figure) = (&self.lines[index], &figures[index]);
                let before = self.refunded_quantity(line_item_id);
                let share = |f: Cents| {
                    f.scaled(before + quantity, line.quantity) - f.scaled(before, line.quantity)
                };
                Some(RefundLine {
                    id: id + 1 + i as u64,
                    line_item_id,
                    quantity,
                    subtotal: share(figure.net),
                    total_tax: share(figure.tax),
                    line_item: self.line_json(line, figure),
                })
            })
            .collect();
        Refund {
            id,
            order_id: self.id,
            created_at: created_at.to_owned(),
            note: "Returned by the buyer".to_owned(),
            lines,
        }
    }

    /// A refund of every unit not refunded yet.
    pub fn refund_everything_left(&self, id: u64, created_at: &str) -> Refund {
        let units: Vec<(u64, i64)> = self
            .lines
            .iter()
            .map(|l| (l.id, l.quantity - self.refunded_quantity(l.id)))
            .filter(|&(_, left)| left > 0)
            .collect();
        self.refund(id, created_at, &units)
    }

    fn line_json(&self, line: &LineItem, figure: &LineFigures) -> Value {
        let current = line.quantity - self.refunded_quantity(line.id);
        json!({
            "id": line.id,
            "admin_graphql_api_id": format!("gid://shopify/LineItem/{}", line.id),
            "attributed_staffs": [],
            "current_quantity": current,
            "fulfillable_quantity": current,
            "fulfillment_service": "manual",
            "fulfillment_status": null,
            "gift_card": false,
            "grams": line.grams,
            "name": format!("{} - {}", line.title, line.variant_title),
            "price": line.unit_price.to_string(),
            "price_set": money_set(line.unit_price),
            "product_exists": true,
            "product_id": line.product_id,
            "properties": [],
            "quantity": line.quantity,
            "requires_shipping": true,
            "sku": line.sku,
            "taxable": true,
            "title": line.title,
            // Deprecated and left at zero by Shopify even when discounted.
            "total_discount": "0.00",
            "total_discount_set": money_set(Cents(0)),
            "variant_id": line.variant_id,
            "variant_inventory_management": "shopify",
            "variant_title": line.variant_title,
            "vendor": line.vendor,
            "tax_lines": [{
                "channel_liable": false,
                "price": figure.tax.to_string(),
                "price_set": money_set(figure.tax),
                "rate": self.tax_rate(),
                "title": "DE MwSt",
            }],
            "duties": [],
            "discount_allocations": figure.allocations.iter().map(|(index, amount)| json!({
                "amount": amount.to_string(),
                "amount_set": money_set(*amount),
                "discount_application_index": index,
            })).collect::<Vec<_>>(),
        })
    }

    fn tax_rate(&self) -> Value {
        Cents(self.tax_percent).number()
    }

    fn discount_applications(&self) -> Vec<Value> {
        let mut applications: Vec<Value> = self
            .lines
            .iter()
            .filter(|l| l.line_discount.0 > 0)
            .map(|l| {
                json!({
                    "target_type": "line_item",
                    "type": "manual",
                    "value": l.line_discount.to_string(),
                    "value_type": "fixed_amount",
                    "allocation_method": "one",
                    "target_selection": "explicit",
                    "title": "Volume pricing",
                    "description": "Volume pricing",
                })
            })
            .collect();
        if let Some(code) = &self.discount_code {
            applications.push(json!({
                "target_type": "line_item",
                "type": "discount_code",
                "value": format!("{}.0", code.percent),
                "value_type": "percentage",
                "allocation_method": "across",
                "target_selection": "all",
                "code": code.code,
            }));
        }
        applications
    }

    /// The body of `orders/create`, `orders/paid`, `orders/updated` and
    /// `orders/cancelled`.
    pub fn body(&self) -> Value {
        let figures = self.figures();
        let line_items: Vec<Value> = self
            .lines
            .iter()
            .zip(&figures)
            .map(|(line, figure)| self.line_json(line, figure))
            .collect();
        let gross: Cents = figures.iter().map(|f| f.gross).sum();
        let subtotal = self.subtotal();
        let discounts = gross - subtotal;
        let tax: Cents = figures.iter().map(|f| f.tax).sum();
        let total = subtotal + tax + self.shipping;
        let refunded_subtotal: Cents = self.refunds.iter().map(Refund::subtotal).sum();
        let refunded_tax: Cents = self.refunds.iter().map(Refund::total_tax).sum();
        let current_subtotal = subtotal - refunded_subtotal;
        let current_tax = tax - refunded_tax;
        let current_total = current_subtotal + current_tax + self.shipping;
        let code_amount: Cents = figures
            .iter()
            .filter_map(|f| f.allocations.last().copied())
            .filter(|_| self.discount_code.is_some())
            .map(|(_, a)| a)
            .sum();
        let paid = !matches!(self.financial_status.as_str(), "pending" | "authorized");
        let outstanding = if paid { Cents(0) } else { total };
        let customer = &self.customer;
        let address = customer.address.json(
            &customer.first_name,
            &customer.last_name,
            customer.phone.as_deref(),
        );
        let weight: i64 = self.lines.iter().map(|l| l.grams * l.quantity).sum();
        // In parts: one `json!` of the whole order exceeds the macro recursion
        // limit.
        let head = json!({
            "id": self.id,
            "admin_graphql_api_id": format!("gid://shopify/Order/{}", self.id),
            "app_id": 1_354_745,
            "browser_ip": null,
            "buyer_accepts_marketing": false,
            "cancel_reason": self.cancelled_at.as_ref().map(|_| "customer"),
            "cancelled_at": self.cancelled_at,
            "cart_token": null,
            "checkout_id": self.id + 100,
            "checkout_token": format!("c{:031x}", self.id),
            "client_details": null,
            "closed_at": null,
            "company": self.company.map(|c| json!({ "id": c.id, "location_id": c.location_id })),
            "confirmation_number": format!("B2B{:06}", self.number),
            "confirmed": true,
            "contact_email": customer.email,
            "created_at": self.created_at,
            "currency": SHOP_CURRENCY,
            "current_subtotal_price": current_subtotal.to_string(),
            "current_subtotal_price_set": money_set(current_subtotal),
            "current_total_additional_fees_set": null,
            "current_total_discounts": discounts.to_string(),
            "current_total_discounts_set": money_set(discounts),
            "current_total_duties_set": null,
            "current_total_price": current_total.to_string(),
            "current_total_price_set": money_set(current_total),
            "current_total_tax": current_tax.to_string(),
            "current_total_tax_set": money_set(current_tax),
            "customer_locale": "de-DE",
            "device_id": null,
            "discount_codes": self.discount_code.as_ref().map_or_else(Vec::new, |code| vec![json!({
                "code": code.code,
                "amount": code_amount.to_string(),
                "type": "percentage",
            })]),
        });
        let tail = json!({
            "email": customer.email,
            "estimated_taxes": false,
            "financial_status": self.financial_status,
            "fulfillment_status": null,
            "landing_site": null,
            "landing_site_ref": null,
            "location_id": null,
            "merchant_of_record_app_id": null,
            "name": format!("#{}", self.number),
            "note": null,
            "note_attributes": [],
            "number": self.number - 1000,
            "order_number": self.number,
            "order_status_url": format!("https://acme-supplies.myshopify.com/71234000001/orders/{:032x}/authenticate?key=k{:x}", self.id, self.id),
            "original_total_additional_fees_set": null,
            "original_total_duties_set": null,
            "payment_gateway_names": ["manual"],
            "phone": null,
            "po_number": self.po_number,
            "presentment_currency": PRESENTMENT_CURRENCY,
            "processed_at": self.created_at,
            "reference": null,
            "referring_site": null,
            "source_identifier": null,
            "source_name": "shopify_draft_order",
            "source_url": null,
        });
        let totals = json!({
            "subtotal_price": subtotal.to_string(),
            "subtotal_price_set": money_set(subtotal),
            "tags": "b2b",
            "tax_exempt": false,
            "tax_lines": [{
                "price": tax.to_string(),
                "rate": self.tax_rate(),
                "title": "DE MwSt",
                "price_set": money_set(tax),
                "channel_liable": false,
            }],
            "taxes_included": false,
            "test": false,
            "token": format!("{:032x}", self.id),
            "total_discounts": discounts.to_string(),
            "total_discounts_set": money_set(discounts),
            "total_line_items_price": gross.to_string(),
            "total_line_items_price_set": money_set(gross),
            "total_outstanding": outstanding.to_string(),
            "total_price": total.to_string(),
            "total_price_set": money_set(total),
            "total_shipping_price_set": money_set(self.shipping),
            "total_tax": tax.to_string(),
            "total_tax_set": money_set(tax),
            "total_tip_received": "0.00",
            "total_weight": weight,
            "updated_at": self.updated_at,
            "user_id": null,
        });
        let nested = json!({
            "billing_address": address,
            "customer": customer.embedded(),
            "discount_applications": self.discount_applications(),
            "fulfillments": [],
            "line_items": line_items,
            "payment_terms": self.company.map(|_| json!({
                "id": self.id + 200,
                "created_at": self.created_at,
                "due_in_days": 30,
                "payment_schedules": [{
                    "id": self.id + 201,
                    "amount": total.to_string(),
                    "currency": SHOP_CURRENCY,
                    "issued_at": self.created_at,
                    "due_at": null,
                    "completed_at": if paid { Value::from(self.updated_at.clone()) } else { Value::Null },
                    "created_at": self.created_at,
                    "updated_at": self.updated_at,
                }],
                "payment_terms_name": "Net 30",
                "payment_terms_type": "net",
                "updated_at": self.updated_at,
            })),
            "refunds": self.refunds.iter().map(Refund::body).collect::<Vec<_>>(),
            "shipping_address": address,
            "shipping_lines": [{
                "id": self.id + 300,
                "carrier_identifier": null,
                "code": "Freight",
                "discounted_price": self.shipping.to_string(),
                "discounted_price_set": money_set(self.shipping),
                "is_removed": false,
                "phone": null,
                "price": self.shipping.to_string(),
                "price_set": money_set(self.shipping),
                "requested_fulfillment_service_id": null,
                "source": "shopify",
                "title": "Pallet freight",
                "tax_lines": [],
                "discount_allocations": [],
            }],
        });
        merged([head, tail, totals, nested])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cents_print_like_shopify_amounts() {
        assert_eq!(Cents(104_405).to_string(), "1044.05");
        assert_eq!(Cents(5).to_string(), "0.05");
        assert_eq!(Cents(-1990).to_string(), "-19.90");
        assert_eq!(Cents(7562).number().to_string(), "75.62");
    }
}
