//! Companies become accounts.

use loyalty_sdk::decimal::money;
use loyalty_sdk::types::{Account, Attribute, Error, Event, ExternalRef};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use crate::crm::{CrmObject, ObjectType};
use crate::settings::Settings;

const KIND: ObjectType = ObjectType::Company;

/// The properties read for a company, the configured tax id and SAP number
/// properties included.
pub fn properties(settings: &Settings) -> Vec<String> {
    let mut names: Vec<String> = [
        "name",
        "domain",
        "industry",
        "numberofemployees",
        "annualrevenue",
        "country",
        "hs_parent_company_id",
        "createdate",
        "hs_lastmodifieddate",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    for extra in [&settings.tax_id_property, &settings.sap_number_property]
        .into_iter()
        .flatten()
    {
        if !names.contains(extra) {
            names.push(extra.clone());
        }
    }
    names
}

/// The account event for a company.
pub fn to_event(object: &CrmObject, settings: &Settings) -> Result<Event, Error> {
    let mut attributes = Vec::new();
    let country = match object.text("country") {
        Some(code) if code.len() == 2 && code.bytes().all(|b| b.is_ascii_alphabetic()) => {
            Some(code.to_ascii_uppercase())
        }
        Some(name) => {
            // HubSpot's default `country` is free text ("Germany"); only a
            // two-letter code is an ISO 3166-1 alpha-2 country.
            attributes.push(Attribute {
                name: "country".to_owned(),
                value: name.to_owned(),
            });
            None
        }
        None => None,
    };
    let annual_revenue = match (object.decimal(KIND, "annualrevenue")?, &settings.currency) {
        (Some(amount), Some(currency)) => Some(money(amount, currency)),
        _ => None,
    };
    let external_refs = settings
        .sap_number_property
        .as_deref()
        .and_then(|property| object.text(property))
        .map(|number| ExternalRef {
            system: settings.sap_connector.clone(),
            id: sap_number(number),
        })
        .into_iter()
        .collect();
    Ok(Event::Account(Account {
        id: object.id.to_string(),
        version: object.version(KIND)?,
        name: object
            .text("name")
            .or_else(|| object.text("domain"))
            .map_or_else(|| format!("HubSpot company {}", object.id), str::to_owned),
        domain: object.text("domain").and_then(normalize_domain),
        tax_id: settings
            .tax_id_property
            .as_deref()
            .and_then(|property| object.text(property))
            .map(str::to_owned),
        industry: object.text("industry").map(str::to_owned),
        employees: employees(object)?,
        annual_revenue,
        parent_id: object
            .id_property(KIND, "hs_parent_company_id")?
            .map(String::from),
        country,
        external_refs,
        attributes,
    }))
}

/// `numberofemployees` as a whole number.
fn employees(object: &CrmObject) -> Result<Option<u32>, Error> {
    let Some(count) = object.decimal(KIND, "numberofemployees")? else {
        return Ok(None);
    };
    if count.fract() != Decimal::ZERO {
        return Err(object.malformed(
            KIND,
            "numberofemployees",
            &count.to_string(),
            "a whole number",
        ));
    }
    count.to_u32().map(Some).ok_or_else(|| {
        object.malformed(
            KIND,
            "numberofemployees",
            &count.to_string(),
            "a count from 0 to 4294967295",
        )
    })
}

/// A business partner number as SAP compares it: digits lose their leading
/// zeros (`0000100001` is `100001`); anything else is kept as written.
pub fn sap_number(raw: &str) -> String {
    let raw = raw.trim();
    if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) {
        let stripped = raw.trim_start_matches('0');
        if stripped.is_empty() {
            "0".to_owned()
        } else {
            stripped.to_owned()
        }
    } else {
        raw.to_owned()
    }
}

/// A company domain as a bare lower-case host: `https://www.Acme.com/about`
/// is `acme.com`. `None` when nothing is left.
pub fn normalize_domain(raw: &str) -> Option<String> {
    let lower = raw.trim().to_ascii_lowercase();
    let without_scheme = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
        .unwrap_or(&lower);
    let host = without_scheme
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default();
    let host = host.strip_prefix("www.").unwrap_or(host);
    (!host.is_empty()).then(|| host.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sap_numbers_lose_leading_zeros_only_when_numeric() {
        assert_eq!(sap_number("0000100001"), "100001");
        assert_eq!(sap_number(" 100001 "), "100001");
        assert_eq!(sap_number("0000"), "0");
        assert_eq!(sap_number("BP-0042"), "BP-0042");
    }

    #[test]
    fn domains_become_bare_hosts() {
        assert_eq!(
            normalize_domain("https://www.Acme-Tools.example/about").as_deref(),
            Some("acme-tools.example")
        );
        assert_eq!(
            normalize_domain("acme.example").as_deref(),
            Some("acme.example")
        );
        assert_eq!(normalize_domain("https://"), None);
    }
}
