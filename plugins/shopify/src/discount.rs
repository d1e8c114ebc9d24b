//! Discounts: a REST price rule (what the discount is worth and who may use
//! it) and a discount code under it (what the buyer types).
//!
//! Each discount is created once per key (a campaign, a redemption). A
//! retry must not create a second one, and the host keeps state only from
//! calls that succeed, so three things guard it:
//!
//! 1. state `{key}` remembers what a successful call created;
//! 2. the code is looked up first (`GET discount_codes/lookup.json`): a
//!    code that exists was created by a call whose result the host lost, or
//!    by the merchant, and is honoured as it is;
//! 3. when the code cannot be created, the price rule just created for it is
//!    deleted again, so that a retry starts clean instead of leaving a
//!    second rule behind.

use loyalty_sdk::decimal::parse_decimal;
use loyalty_sdk::host;
use loyalty_sdk::http::{Request, check_status};
use loyalty_sdk::request::find_header;
use loyalty_sdk::types::{Error, IncomingResponse, Offer};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::admin::{self, Client};
use crate::ids::Id;
use crate::settings;
use crate::timestamp::format_rfc3339_utc;

/// What a price rule's `value_type` and `value` say an offer is worth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Worth {
    /// `percentage` or `fixed_amount`.
    pub value_type: &'static str,
    /// Negative, as Shopify wants it (`"-10.0"`).
    pub value: String,
}

impl Worth {
    /// Reads an offer's `percent-off` (more than 0, at most 100) or
    /// `amount-off` (more than 0, in the shop's currency when
    /// `shop_currency` is set); exactly one of them.
    pub fn of(offer: &Offer) -> Result<Self, Error> {
        let invalid = |why: String| Error::InvalidInput(format!("offer `{}`: {why}", offer.id));
        match (&offer.percent_off, &offer.amount_off) {
            (Some(_), Some(_)) => Err(invalid(
                "has both percent-off and amount-off; a Shopify price rule takes one".to_owned(),
            )),
            (None, None) => Err(invalid(
                "has neither percent-off nor amount-off; a Shopify discount needs a value"
                    .to_owned(),
            )),
            (Some(percent), None) => {
                let percent = parse_decimal(percent)?;
                if percent <= Decimal::ZERO || percent > Decimal::ONE_HUNDRED {
                    return Err(invalid(format!(
                        "percent-off `{percent}` is not more than 0 and at most 100"
                    )));
                }
                Ok(Self {
                    value_type: "percentage",
                    value: negative(percent),
                })
            }
            (None, Some(amount)) => {
                let value = parse_decimal(&amount.amount)?;
                if value <= Decimal::ZERO {
                    return Err(invalid(format!("amount-off `{value}` is not more than 0")));
                }
                let currency = amount.currency.trim().to_ascii_uppercase();
                if let Some(shop) = settings::shop_currency()
                    && shop != currency
                {
                    return Err(Error::Permanent(format!(
                        "offer `{}` is worth {value} {currency}, but the shop's currency is {shop} (setting `shop_currency`) and Shopify takes fixed amounts in it",
                        offer.id
                    )));
                }
                Ok(Self {
                    value_type: "fixed_amount",
                    value: negative(value),
                })
            }
        }
    }
}

/// `-10.0` for 10, `-12.5` for 12.50: Shopify's own spelling of values.
fn negative(value: Decimal) -> String {
    let value = value.normalize();
    if value.scale() == 0 {
        format!("-{value}.0")
    } else {
        format!("-{value}")
    }
}

/// A Shopify id as a JSON number with its exact digits (ids exceed 2^53;
/// serde_json keeps the text with `arbitrary_precision`).
pub fn id_number(id: &Id) -> Value {
    serde_json::from_str::<serde_json::Number>(id.as_str())
        .map_or_else(|_| Value::String(id.to_string()), Value::Number)
}

/// The price rule of a campaign's shared code: anyone with the code may use
/// it once, on every line, until the offer ends.
pub fn campaign_price_rule(title: &str, offer: &Offer, now_ms: i64) -> Result<Value, Error> {
    let worth = Worth::of(offer)?;
    Ok(json!({ "price_rule": {
        "title": title,
        "target_type": "line_item",
        "target_selection": "all",
        "allocation_method": "across",
        "value_type": worth.value_type,
        "value": worth.value,
        "customer_selection": "all",
        "once_per_customer": true,
        "starts_at": format_rfc3339_utc(now_ms),
        "ends_at": offer.ends_at.map(format_rfc3339_utc),
    }}))
}

/// The price rule of a reward's code: one customer, one use.
pub fn reward_price_rule(
    title: &str,
    offer: &Offer,
    customer: &Id,
    now_ms: i64,
) -> Result<Value, Error> {
    let worth = Worth::of(offer)?;
    Ok(json!({ "price_rule": {
        "title": title,
        "target_type": "line_item",
        "target_selection": "all",
        "allocation_method": "across",
        "value_type": worth.value_type,
        "value": worth.value,
        "customer_selection": "prerequisite",
        "prerequisite_customer_ids": [id_number(customer)],
        "usage_limit": 1,
        "once_per_customer": true,
        "starts_at": format_rfc3339_utc(now_ms),
        "ends_at": offer.ends_at.map(format_rfc3339_utc),
    }}))
}

/// A code derived from a key: `LOYAL-` and 8 upper-case letters and digits
/// of its FNV-1a hash, so that a retry with the same key asks for the same
/// code.
pub fn derived_code(key: &str) -> String {
    const ALPHABET: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut code = String::from("LOYAL-");
    for _ in 0..8 {
        code.push(char::from(ALPHABET[(hash % 36) as usize]));
        hash /= 36;
    }
    code
}

/// A discount the connector created or found, as kept in state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discount {
    /// The price rule's id.
    pub price_rule_id: Id,
    /// The discount code's id.
    pub discount_code_id: Id,
    /// The code.
    pub code: String,
}

/// `POST price_rules.json` answers `{"price_rule": {"id": …, …}}`.
#[derive(Debug, Deserialize)]
struct PriceRuleAnswer {
    price_rule: Created,
}

/// `POST price_rules/{id}/discount_codes.json` answers
/// `{"discount_code": {"id": …, "code": …, …}}`.
#[derive(Debug, Deserialize)]
struct DiscountCodeAnswer {
    discount_code: Created,
}

/// The id of something Shopify created.
#[derive(Debug, Deserialize)]
struct Created {
    id: Id,
}

/// The discount under `state_key`: remembered, found by its code, or
/// created from `price_rule` (a body from [`campaign_price_rule`] or
/// [`reward_price_rule`]) and `code`.
pub fn ensure(
    client: &mut Client,
    state_key: &str,
    code: &str,
    price_rule: &Value,
) -> Result<Discount, Error> {
    if let Some(known) = remembered(state_key) {
        return Ok(known);
    }
    let discount = match lookup(client, code)? {
        Some(found) => found,
        None => create(client, code, price_rule)?,
    };
    let bytes = serde_json::to_vec(&discount)
        .map_err(|e| Error::Permanent(format!("cannot encode state `{state_key}`: {e}")))?;
    host::state_set(state_key, Some(&bytes));
    Ok(discount)
}

/// The discount a successful call stored under `key`.
fn remembered(key: &str) -> Option<Discount> {
    let bytes = host::state_get(key)?;
    match serde_json::from_slice(&bytes) {
        Ok(discount) => Some(discount),
        Err(e) => {
            host::warn(&format!("ignoring unreadable state `{key}`: {e}"));
            None
        }
    }
}

/// Finds a code: Shopify answers `303 See Other` with `Location:
/// …/price_rules/{id}/discount_codes/{id}.json`, or 404.
fn lookup(client: &mut Client, code: &str) -> Result<Option<Discount>, Error> {
    let url = settings::admin_url(&format!(
        "discount_codes/lookup.json?code={}",
        admin::encode_query_value(code)
    ))?;
    let response = client.send(Request::get(&url))?;
    match response.status {
        404 => Ok(None),
        300..=399 => {
            let location = find_header(&response.headers, "Location").unwrap_or_default();
            let found = location_ids(location).ok_or_else(|| {
                Error::Permanent(format!(
                    "Shopify's lookup of discount code `{code}` pointed at `{location}`, not at a price rule's discount code"
                ))
            })?;
            Ok(Some(Discount {
                price_rule_id: found.0,
                discount_code_id: found.1,
                code: code.to_owned(),
            }))
        }
        _ => {
            check_status(&response)?;
            Err(Error::Permanent(format!(
                "Shopify's lookup of discount code `{code}` answered {} instead of a redirect",
                response.status
            )))
        }
    }
}

/// `(price rule id, discount code id)` from
/// `…/price_rules/{id}/discount_codes/{id}.json`.
pub fn location_ids(location: &str) -> Option<(Id, Id)> {
    let path = location.split(['?', '#']).next().unwrap_or(location);
    let mut segments = path.rsplit('/');
    let code = Id::parse(segments.next()?.strip_suffix(".json")?)?;
    (segments.next()? == "discount_codes").then_some(())?;
    let rule = Id::parse(segments.next()?)?;
    (segments.next()? == "price_rules").then_some(())?;
    Some((rule, code))
}

/// Creates the price rule, then its code; deletes the rule again when the
/// code fails.
fn create(client: &mut Client, code: &str, price_rule: &Value) -> Result<Discount, Error> {
    let response =
        client.send(Request::post(&settings::admin_url("price_rules.json")?).json(price_rule)?)?;
    refused(&response, "the price rule")?;
    let rule: PriceRuleAnswer = loyalty_sdk::json::parse(&response.body)?;
    let rule_id = rule.price_rule.id;

    let body = json!({ "discount_code": { "code": code } });
    let url = settings::admin_url(&format!("price_rules/{rule_id}/discount_codes.json"))?;
    let created = client
        .send(Request::post(&url).json(&body)?)
        .and_then(|response| {
            refused(&response, &format!("discount code `{code}`"))?;
            loyalty_sdk::json::parse::<DiscountCodeAnswer>(&response.body)
        });
    match created {
        Ok(answer) => Ok(Discount {
            price_rule_id: rule_id,
            discount_code_id: answer.discount_code.id,
            code: code.to_owned(),
        }),
        Err(error) => {
            delete_rule(&rule_id);
            Err(error)
        }
    }
}

/// Deletes a price rule left without its code. Best effort: a rule that
/// stays behind has no code, so nobody can use it.
fn delete_rule(id: &Id) {
    let outcome = settings::admin_url(&format!("price_rules/{id}.json")).and_then(|url| {
        Request::new("DELETE", &url)
            .credential(crate::company::CREDENTIAL)
            .send_ok()
    });
    if let Err(e) = outcome {
        host::warn(&format!(
            "price rule {id} has no discount code and could not be deleted: {}",
            e.message()
        ));
    }
}

/// A 422 names Shopify's validation errors (`permanent`: the same body
/// fails again); other statuses map as usual.
fn refused(response: &IncomingResponse, what: &str) -> Result<(), Error> {
    if response.status == 422 {
        return Err(Error::Permanent(format!(
            "Shopify refused {what}: {}",
            admin::vendor_errors(response)
        )));
    }
    check_status(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_and_shaped_like_shopify_codes() {
        let code = derived_code("redemption-42");
        assert_eq!(code, derived_code("redemption-42"));
        assert_ne!(code, derived_code("redemption-43"));
        assert_eq!(code.len(), 14);
        assert!(code.starts_with("LOYAL-"));
        assert!(
            code[6..]
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        );
    }

    #[test]
    fn values_are_negative_in_shopify_spelling() {
        assert_eq!(negative(Decimal::TEN), "-10.0");
        assert_eq!(negative(Decimal::new(1250, 2)), "-12.5");
    }

    #[test]
    fn locations_name_the_rule_and_the_code() {
        let (rule, code) = location_ids(
            "https://acme.myshopify.com/admin/api/2024-04/price_rules/9007199254740993/discount_codes/507328175.json",
        )
        .unwrap();
        assert_eq!(rule.as_str(), "9007199254740993");
        assert_eq!(code.as_str(), "507328175");
        assert_eq!(
            location_ids("https://acme.myshopify.com/admin/orders/1.json"),
            None
        );
    }
}
