//! Accounts and contacts: the companies and the people at them.

use loyalty_sdk::decimal::money;
use loyalty_sdk::types::{Account, Contact, Error, Event, ExternalRef};
use rust_decimal::Decimal;

use crate::country;
use crate::record::Record;

/// What account mapping needs from the settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountOptions {
    /// The org currency, for records without `CurrencyIsoCode`.
    pub currency: String,
    /// The custom field holding the tax id.
    pub tax_id_field: Option<String>,
    /// The custom field holding the SAP business partner number.
    pub sap_number_field: Option<String>,
    /// The system name of SAP references.
    pub sap_connector: String,
}

/// An Account record as an account event.
pub fn account(record: &Record<'_>, options: &AccountOptions) -> Result<Event, Error> {
    let currency = record_currency(record, &options.currency)?;
    let annual_revenue = record
        .decimal("AnnualRevenue")?
        .map(|amount| money(amount, &currency));
    let employees = record.whole("NumberOfEmployees")?;
    let tax_id = match &options.tax_id_field {
        Some(field) => record.text(field)?,
        None => None,
    };
    let mut external_refs = Vec::new();
    if let Some(field) = &options.sap_number_field
        && let Some(number) = sap_number(record, field)?
    {
        external_refs.push(ExternalRef {
            system: options.sap_connector.clone(),
            id: number,
        });
    }
    Ok(Event::Account(Account {
        id: record.id().to_owned(),
        version: record.version()?,
        name: record.required_text("Name")?,
        domain: record.text("Website")?.as_deref().and_then(domain),
        tax_id,
        industry: record.text("Industry")?,
        employees,
        annual_revenue,
        parent_id: record.text("ParentId")?,
        country: record
            .text("BillingCountry")?
            .as_deref()
            .and_then(country::alpha2),
        external_refs,
        attributes: Vec::new(),
    }))
}

/// A Contact record as a contact event.
pub fn contact(record: &Record<'_>) -> Result<Event, Error> {
    Ok(Event::Contact(Contact {
        id: record.id().to_owned(),
        version: record.version()?,
        account_id: record.text("AccountId")?,
        email: record.text("Email")?,
        first_name: record.text("FirstName")?,
        last_name: record.text("LastName")?,
        role: record.text("Title")?,
        attributes: Vec::new(),
    }))
}

/// The record's `CurrencyIsoCode` (multi-currency orgs), else the org's.
pub fn record_currency(record: &Record<'_>, org_currency: &str) -> Result<String, Error> {
    match record.text("CurrencyIsoCode")? {
        Some(code) if code.len() == 3 && code.bytes().all(|b| b.is_ascii_alphabetic()) => {
            Ok(code.to_ascii_uppercase())
        }
        Some(code) => Err(record.invalid(
            "CurrencyIsoCode",
            format!("`{code}` is not an ISO 4217 code"),
        )),
        None => Ok(org_currency.to_owned()),
    }
}

/// The SAP business partner number in `field`: a text or number field,
/// leading zeros stripped from an all-digit number (SAP pads it to ten
/// digits in some places and not in others).
fn sap_number(record: &Record<'_>, field: &str) -> Result<Option<String>, Error> {
    let text = match record.value(field) {
        None => return Ok(None),
        Some(serde_json::Value::Number(_)) => {
            let number = record.decimal(field)?.unwrap_or_default();
            if number.fract() != Decimal::ZERO || number.is_sign_negative() {
                return Err(record.invalid(
                    field,
                    format!("`{number}` is not a business partner number"),
                ));
            }
            number.trunc().normalize().to_string()
        }
        Some(_) => match record.text(field)? {
            Some(text) => text,
            None => return Ok(None),
        },
    };
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        let stripped = text.trim_start_matches('0');
        return Ok(Some(
            if stripped.is_empty() { "0" } else { stripped }.to_owned(),
        ));
    }
    Ok(Some(text))
}

/// The business domain of a `Website` value: lower case, without scheme,
/// `www.`, port, path, query or trailing dot. `None` when nothing like a
/// domain is left.
pub fn domain(website: &str) -> Option<String> {
    let text = website.trim().to_ascii_lowercase();
    let without_scheme = match text.split_once("://") {
        Some((_, rest)) => rest,
        None => text.as_str(),
    };
    let host = without_scheme
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default();
    // `user@host` and `host:port`.
    let host = host.rsplit('@').next().unwrap_or(host);
    let host = host.split(':').next().unwrap_or(host);
    let host = host.trim_end_matches('.');
    let host = host.strip_prefix("www.").unwrap_or(host);
    let valid = host.contains('.')
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.'));
    valid.then(|| host.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websites_become_bare_domains() {
        assert_eq!(
            domain("https://www.Brandt-Maschinenbau.de/kontakt?x=1").as_deref(),
            Some("brandt-maschinenbau.de")
        );
        assert_eq!(domain("acme.com").as_deref(), Some("acme.com"));
        assert_eq!(
            domain("http://shop.acme.co.uk:8080").as_deref(),
            Some("shop.acme.co.uk")
        );
        assert_eq!(domain("WWW.ACME.COM.").as_deref(), Some("acme.com"));
        assert_eq!(domain("n/a"), None);
        assert_eq!(domain("   "), None);
    }
}
