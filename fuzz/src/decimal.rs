//! The `decimal` target: one text through every exact-decimal parser the
//! engine has — the SDK's [`parse_decimal`] and [`decimal_from_json`] that
//! connectors use, the host's event conversion
//! ([`loyaltyd::runtime::convert`]) that reads connector and events-API
//! amounts, and the configuration's decimal values
//! ([`loyaltyd::config::schema`]).
//!
//! Properties: none panics; the SDK's and the host's parser agree; a value
//! printed and parsed again is the same value, printed the same; the
//! configuration's ranges hold; an accepted event amount is the parsed
//! value and within [`AMOUNT_MAX`].

use loyalty_sdk::decimal::{decimal_from_json, parse_decimal};
use loyaltyd::config::schema::{NonNegativeDecimal, Percent, PositiveDecimal, SignedDecimal};
use loyaltyd::runtime::convert::{self, AMOUNT_MAX};
use loyaltyd::runtime::wit::latest::loyalty::connector::types as wit;
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Runs every parser on `text` and checks the properties above.
pub fn check(text: &str) {
    let sdk = parse_decimal(text).ok();
    let host = convert::parse_decimal(text).ok();
    assert_eq!(sdk, host, "the SDK and the host parse `{text}` differently");
    if let Some(value) = sdk {
        round_trip(value);
    }

    let as_string = decimal_from_json(&Value::String(text.to_owned())).ok();
    assert_eq!(as_string, sdk, "a JSON string parses unlike its text");
    if let Ok(number @ Value::Number(_)) = serde_json::from_str::<Value>(text) {
        let from_json = decimal_from_json(&number).ok();
        assert_eq!(
            from_json,
            parse_decimal(&number.to_string()).ok(),
            "a JSON number parses unlike its text"
        );
        if let Some(value) = from_json {
            round_trip(value);
        }
    }

    config_decimal::<SignedDecimal>(text, |d| d.0, |_| true);
    config_decimal::<PositiveDecimal>(text, |d| d.0, |v| v > Decimal::ZERO);
    config_decimal::<NonNegativeDecimal>(text, |d| d.0, |v| v >= Decimal::ZERO);
    config_decimal::<Percent>(text, |d| d.0, |v| {
        (Decimal::ZERO..=Decimal::ONE_HUNDRED).contains(&v)
    });

    event_amount(text, sdk);
}

/// A value printed and parsed again is the same value, printed the same.
fn round_trip(value: Decimal) {
    let printed = value.to_string();
    let again = parse_decimal(&printed).ok();
    assert_eq!(again, Some(value), "`{printed}` does not parse back");
    assert_eq!(
        again.map(|v| v.to_string()),
        Some(printed.clone()),
        "`{printed}` prints differently once parsed again"
    );
}

/// A configuration decimal, as the configuration file writes it (a string):
/// within its range, and the same once printed and read again.
fn config_decimal<T: DeserializeOwned>(
    text: &str,
    value: impl Fn(&T) -> Decimal,
    in_range: impl Fn(Decimal) -> bool,
) {
    let Ok(parsed) = serde_json::from_value::<T>(Value::String(text.to_owned())) else {
        return;
    };
    let parsed = value(&parsed);
    assert!(in_range(parsed), "`{text}` was accepted out of range");
    let printed = parsed.to_string();
    let again = serde_json::from_value::<T>(Value::String(printed.clone()))
        .ok()
        .map(|d| value(&d));
    assert_eq!(again, Some(parsed), "config decimal `{printed}` does not read back");
}

/// An amount a connector or the events API sends, converted as the host
/// converts events.
fn event_amount(text: &str, parsed: Option<Decimal>) {
    let event = wit::Event::Account(wit::Account {
        id: "A-1".to_owned(),
        version: 1,
        name: "Acme".to_owned(),
        domain: None,
        tax_id: None,
        industry: None,
        employees: None,
        annual_revenue: Some(wit::Money {
            amount: text.to_owned(),
            currency: "EUR".to_owned(),
        }),
        parent_id: None,
        country: None,
        external_refs: Vec::new(),
        attributes: Vec::new(),
    });
    let limit = Decimal::from(AMOUNT_MAX);
    match convert::to_core(&event) {
        Ok(loyaltyd::core::event::Event::Account(account)) => {
            let amount = account.annual_revenue.map(|m| m.amount);
            assert_eq!(amount, parsed, "the event's amount is not `{text}`");
            assert!(amount.is_some_and(|a| a.abs() <= limit), "beyond AMOUNT_MAX");
        }
        Ok(other) => panic!("an account converted to {other:?}"),
        Err(_) => assert!(
            parsed.is_none_or(|v| v.abs() > limit),
            "`{text}` parses but the event was refused"
        ),
    }
}
