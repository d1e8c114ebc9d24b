//! Purchases: closed opportunities with their products, or activated orders
//! with their items (setting `purchases`).
//!
//! A won opportunity is `paid` and earns; a closed one that is not won is
//! `cancelled`, so that a deal won and later moved to a lost stage reverses
//! what it earned (the host keeps the newest version). A lost deal that was
//! never won is recorded as cancelled and earns nothing.
//!
//! With `referral_code_field` set, that field of the Opportunity or Order
//! is the referral code the purchase carries: the host attributes the
//! account to the code's owner when it is the account's first paid purchase.

use loyalty_sdk::decimal::money;
use loyalty_sdk::types::{Error, Event, Purchase, PurchaseLine, PurchaseStatus};
use rust_decimal::Decimal;
use serde_json::Value;

use crate::account::record_currency;
use crate::query::QueryResult;
use crate::record::Record;

/// One hundred, for percentages.
const HUNDRED: Decimal = Decimal::ONE_HUNDRED;

/// A closed Opportunity record as a purchase event; `referral_code_field`
/// names the field holding its referral code, if one is configured.
pub fn opportunity(
    record: &Record<'_>,
    org_currency: &str,
    referral_code_field: Option<&str>,
) -> Result<Event, Error> {
    let currency = record_currency(record, org_currency)?;
    let status = if record.flag("IsWon")? {
        PurchaseStatus::Paid
    } else {
        PurchaseStatus::Cancelled
    };
    let close_date = record
        .date("CloseDate")?
        .ok_or_else(|| record.invalid("CloseDate", "missing"))?;
    let lines = children(record, "OpportunityLineItems")?
        .iter()
        .map(|line| {
            let line = Record::new("OpportunityLineItem", line)?;
            purchase_line(&line, "ProductCode", &currency)
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let amount = match record.decimal("Amount")? {
        Some(amount) => amount,
        None => line_total(&lines)?,
    };
    Ok(Event::Purchase(Purchase {
        id: record.id().to_owned(),
        version: record.version()?,
        account_id: record.text("AccountId")?,
        contact_id: record.text("ContactId")?,
        status,
        placed_at: close_date,
        net_amount: money(amount, &currency),
        total_amount: money(amount, &currency),
        lines,
        discount_codes: Vec::new(),
        referral_code: referral_code(record, referral_code_field)?,
        attributes: attributes(&[
            ("name", record.text("Name")?),
            ("stage", record.text("StageName")?),
        ]),
    }))
}

/// An activated Order record as a paid purchase event; `referral_code_field`
/// names the field holding its referral code, if one is configured.
pub fn order(
    record: &Record<'_>,
    org_currency: &str,
    referral_code_field: Option<&str>,
) -> Result<Event, Error> {
    let currency = record_currency(record, org_currency)?;
    let effective = record
        .date("EffectiveDate")?
        .ok_or_else(|| record.invalid("EffectiveDate", "missing"))?;
    let lines = children(record, "OrderItems")?
        .iter()
        .map(|line| {
            let line = Record::new("OrderItem", line)?;
            purchase_line(&line, "Product2.ProductCode", &currency)
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let amount = match record.decimal("TotalAmount")? {
        Some(amount) => amount,
        None => line_total(&lines)?,
    };
    Ok(Event::Purchase(Purchase {
        id: record.id().to_owned(),
        version: record.version()?,
        account_id: record.text("AccountId")?,
        contact_id: record.text("BillToContactId")?,
        status: PurchaseStatus::Paid,
        placed_at: effective,
        net_amount: money(amount, &currency),
        total_amount: money(amount, &currency),
        lines,
        discount_codes: Vec::new(),
        referral_code: referral_code(record, referral_code_field)?,
        attributes: attributes(&[("order_number", record.text("OrderNumber")?)]),
    }))
}

/// The referral code in `field`, trimmed; none when no field is configured
/// or the record's is blank.
fn referral_code(record: &Record<'_>, field: Option<&str>) -> Result<Option<String>, Error> {
    match field {
        Some(field) => record.text(field),
        None => Ok(None),
    }
}

/// An OpportunityLineItem or OrderItem as a purchase line. `TotalPrice` is
/// what the line contributes after its discount; the discount is what the
/// list of units at `UnitPrice` lost to get there.
fn purchase_line(
    line: &Record<'_>,
    sku_field: &str,
    currency: &str,
) -> Result<PurchaseLine, Error> {
    let quantity = line
        .decimal("Quantity")?
        .ok_or_else(|| line.invalid("Quantity", "missing"))?;
    if quantity.is_sign_negative() {
        return Err(line.invalid("Quantity", format!("`{quantity}` is negative")));
    }
    let unit_price = line
        .decimal("UnitPrice")?
        .ok_or_else(|| line.invalid("UnitPrice", "missing"))?;
    let gross = unit_price
        .checked_mul(quantity)
        .ok_or_else(|| line.invalid("Quantity", "UnitPrice x Quantity overflows"))?;
    let net = match line.decimal("TotalPrice")? {
        Some(total) => total,
        None => match line.decimal("Discount")? {
            Some(percent) => gross - gross * percent / HUNDRED,
            None => gross,
        },
    };
    let discount = (gross - net).max(Decimal::ZERO);
    // The engine counts whole units; services sold by the hour (2.5) count
    // as the units begun. The amounts stay exact.
    let units = u32::try_from(quantity.ceil())
        .map_err(|_| line.invalid("Quantity", format!("`{quantity}` is out of range")))?;
    let title = match line.text("Product2.Name")? {
        Some(name) => name,
        None => line.text("Name")?.unwrap_or_else(|| line.id().to_owned()),
    };
    Ok(PurchaseLine {
        id: line.id().to_owned(),
        sku: line.text(sku_field)?,
        title,
        category: line.text("Product2.Family")?,
        quantity: units,
        unit_price: money(unit_price, currency),
        discount: money(discount.normalize(), currency),
        net_amount: money(net, currency),
    })
}

/// The sum of the lines' net amounts, for a purchase without a total.
fn line_total(lines: &[PurchaseLine]) -> Result<Decimal, Error> {
    lines.iter().try_fold(Decimal::ZERO, |sum, line| {
        let amount = loyalty_sdk::decimal::parse_decimal(&line.net_amount.amount)?;
        Ok(sum + amount)
    })
}

/// The child records of a relationship subquery, following its
/// `nextRecordsUrl` when Salesforce split a large one.
fn children(record: &Record<'_>, relationship: &str) -> Result<Vec<Value>, Error> {
    let Some(result) = record.children(relationship)? else {
        return Ok(Vec::new());
    };
    let mut page: QueryResult = serde_json::from_value(Value::Object(result.clone()))
        .map_err(|e| record.invalid(relationship, e))?;
    let mut records = std::mem::take(&mut page.records);
    while let (false, Some(next)) = (page.done, page.next_records_url.take()) {
        page = crate::query::more(&next)?.ok_or_else(|| {
            Error::Transient(format!(
                "the query locator of {relationship} of {} expired; the page is read again",
                record.id()
            ))
        })?;
        records.append(&mut page.records);
    }
    Ok(records)
}

/// Named attributes, the absent ones left out.
fn attributes(pairs: &[(&str, Option<String>)]) -> Vec<loyalty_sdk::types::Attribute> {
    pairs
        .iter()
        .filter_map(|(name, value)| {
            value.as_ref().map(|value| loyalty_sdk::types::Attribute {
                name: (*name).to_owned(),
                value: value.clone(),
            })
        })
        .collect()
}
