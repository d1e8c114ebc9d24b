//! Customers by id (read, and their tags written), price rules and their
//! discount codes, in Shopify's REST shapes: `201` with the created object,
//! `422` with `{"errors": {"field": ["message"]}}`, the code lookup's `303`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::{Data, answer, not_found};
use crate::shopify::webhook::rfc3339_now;

/// Shopify's tags (`"b2b, wholesale"`) one by one.
pub(super) fn split_tags(tags: &str) -> Vec<String> {
    tags.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Shopify's 422.
fn unprocessable(errors: &Map<String, Value>) -> Response {
    answer(
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({ "errors": errors }),
    )
}

/// Shopify's 400 for a body without the resource's root key.
fn missing_root(root: &str) -> Response {
    answer(
        StatusCode::BAD_REQUEST,
        json!({ "errors": { root: "Required parameter missing or invalid" } }),
    )
}

/// `GET customers/{id}.json`.
pub(super) fn customer(data: &Data, id: &str) -> Response {
    match id
        .parse::<u64>()
        .ok()
        .and_then(|id| data.customers.get(&id))
    {
        Some(customer) => axum::Json(json!({ "customer": customer })).into_response(),
        None => not_found(),
    }
}

/// `PUT customers/{id}.json`: the emulator applies `tags` (a comma string,
/// replacing the customer's tags) and bumps `updated_at` as Shopify does.
pub(super) fn update_customer(data: &mut Data, id: &str, body: &[u8]) -> Response {
    let Some(customer) = id
        .parse::<u64>()
        .ok()
        .and_then(|id| data.record_mut(super::listing::Resource::Customers, id))
    else {
        return not_found();
    };
    let Ok(update) = serde_json::from_slice::<Value>(body) else {
        return missing_root("customer");
    };
    let Some(fields) = update["customer"].as_object() else {
        return missing_root("customer");
    };
    if let Some(tags) = fields.get("tags") {
        let Some(tags) = tags.as_str() else {
            let mut errors = Map::new();
            errors.insert("tags".to_owned(), json!(["must be a string"]));
            return unprocessable(&errors);
        };
        if split_tags(tags).iter().any(|t| t.chars().count() > 255) {
            let mut errors = Map::new();
            errors.insert(
                "tags".to_owned(),
                json!(["is too long (maximum is 255 characters)"]),
            );
            return unprocessable(&errors);
        }
        customer["tags"] = json!(split_tags(tags).join(", "));
    }
    customer["updated_at"] = json!(rfc3339_now());
    axum::Json(json!({ "customer": customer })).into_response()
}

/// A decimal's whole part and whether its fraction is non-zero (`"12.50"`
/// is `(12, true)`); `None` when it is not a plain decimal.
fn magnitude(text: &str) -> Option<(u64, bool)> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((whole.parse().ok()?, fraction.bytes().any(|b| b != b'0')))
}

/// The text of a field that must be one of `allowed`, recording an error
/// otherwise.
fn one_of(
    rule: &Map<String, Value>,
    field: &str,
    allowed: &[&str],
    errors: &mut Map<String, Value>,
) -> Option<String> {
    match rule.get(field).and_then(Value::as_str) {
        Some(value) if allowed.contains(&value) => Some(value.to_owned()),
        Some(_) => {
            errors.insert(field.to_owned(), json!(["is not included in the list"]));
            None
        }
        None => {
            errors.insert(field.to_owned(), json!(["can't be blank"]));
            None
        }
    }
}

/// `POST price_rules.json`.
pub(super) fn create_price_rule(data: &mut Data, body: &[u8]) -> Response {
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return missing_root("price_rule");
    };
    let Some(rule) = request["price_rule"].as_object() else {
        return missing_root("price_rule");
    };
    let mut errors = Map::new();
    if rule
        .get("title")
        .and_then(Value::as_str)
        .is_none_or(|t| t.trim().is_empty())
    {
        errors.insert("title".to_owned(), json!(["can't be blank"]));
    }
    one_of(
        rule,
        "target_type",
        &["line_item", "shipping_line"],
        &mut errors,
    );
    one_of(rule, "target_selection", &["all", "entitled"], &mut errors);
    one_of(rule, "allocation_method", &["across", "each"], &mut errors);
    let value_type = one_of(
        rule,
        "value_type",
        &["percentage", "fixed_amount"],
        &mut errors,
    );
    let selection = one_of(
        rule,
        "customer_selection",
        &["all", "prerequisite"],
        &mut errors,
    );
    if rule
        .get("starts_at")
        .and_then(Value::as_str)
        .and_then(super::listing::parse_rfc3339_ms)
        .is_none()
    {
        errors.insert("starts_at".to_owned(), json!(["can't be blank"]));
    }
    // Shopify wants a negative value; a percentage takes at most 100 off.
    let value = rule.get("value").and_then(|v| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    });
    match value
        .as_deref()
        .and_then(|v| v.strip_prefix('-'))
        .and_then(magnitude)
    {
        Some((whole, fraction)) if whole > 0 || fraction => {
            if value_type.as_deref() == Some("percentage")
                && (whole > 100 || (whole == 100 && fraction))
            {
                errors.insert(
                    "value".to_owned(),
                    json!(["must be greater than or equal to -100"]),
                );
            }
        }
        _ => {
            errors.insert("value".to_owned(), json!(["must be less than 0"]));
        }
    }
    let customers = rule
        .get("prerequisite_customer_ids")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if selection.as_deref() == Some("prerequisite") && customers.is_empty() {
        errors.insert(
            "customer_selection".to_owned(),
            json!(["must have at least one prerequisite customer or customer segment"]),
        );
    }
    if customers.iter().any(|id| {
        id.as_u64()
            .is_none_or(|id| !data.customers.contains_key(&id))
    }) {
        errors.insert(
            "prerequisite_customer_ids".to_owned(),
            json!(["contains customers that do not exist"]),
        );
    }
    if !errors.is_empty() {
        return unprocessable(&errors);
    }

    let id = data.new_id();
    let now = rfc3339_now();
    let field = |name: &str| rule.get(name).cloned().unwrap_or(Value::Null);
    let created = json!({
        "id": id,
        "value_type": field("value_type"),
        "value": value,
        "customer_selection": field("customer_selection"),
        "target_type": field("target_type"),
        "target_selection": field("target_selection"),
        "allocation_method": field("allocation_method"),
        "allocation_limit": field("allocation_limit"),
        "once_per_customer": rule.get("once_per_customer").cloned().unwrap_or(json!(false)),
        "usage_limit": field("usage_limit"),
        "starts_at": field("starts_at"),
        "ends_at": field("ends_at"),
        "created_at": now,
        "updated_at": now,
        "entitled_product_ids": [],
        "entitled_variant_ids": [],
        "entitled_collection_ids": [],
        "entitled_country_ids": [],
        "prerequisite_product_ids": [],
        "prerequisite_variant_ids": [],
        "prerequisite_collection_ids": [],
        "customer_segment_prerequisite_ids": [],
        "prerequisite_customer_ids": customers,
        "prerequisite_subtotal_range": null,
        "prerequisite_quantity_range": null,
        "prerequisite_shipping_price_range": null,
        "prerequisite_to_entitlement_quantity_ratio": { "prerequisite_quantity": null, "entitled_quantity": null },
        "prerequisite_to_entitlement_purchase": { "prerequisite_amount": null },
        "title": field("title"),
        "admin_graphql_api_id": format!("gid://shopify/PriceRule/{id}"),
    });
    data.price_rules.insert(id, created.clone());
    answer(StatusCode::CREATED, json!({ "price_rule": created }))
}

/// `DELETE price_rules/{id}.json`: the rule and its codes go.
pub(super) fn delete_price_rule(data: &mut Data, id: &str) -> Response {
    let Some(id) = id
        .parse::<u64>()
        .ok()
        .filter(|id| data.price_rules.contains_key(id))
    else {
        return not_found();
    };
    data.price_rules.remove(&id);
    data.deleted_price_rules.push(id);
    data.discount_codes
        .retain(|_, code| code["price_rule_id"].as_u64() != Some(id));
    StatusCode::NO_CONTENT.into_response()
}

/// `POST price_rules/{id}/discount_codes.json`.
pub(super) fn create_discount_code(data: &mut Data, rule: &str, body: &[u8]) -> Response {
    let Some(rule) = rule
        .parse::<u64>()
        .ok()
        .filter(|id| data.price_rules.contains_key(id))
    else {
        return not_found();
    };
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return missing_root("discount_code");
    };
    let Some(code) = request["discount_code"]["code"].as_str().map(str::trim) else {
        return missing_root("discount_code");
    };
    let mut errors = Map::new();
    if code.is_empty() {
        errors.insert("code".to_owned(), json!(["can't be blank"]));
    } else if data.discount_codes.values().any(|c| {
        c["code"]
            .as_str()
            .is_some_and(|c| c.eq_ignore_ascii_case(code))
    }) {
        errors.insert(
            "code".to_owned(),
            json!(["must be unique. Please try a different code."]),
        );
    }
    if !errors.is_empty() {
        return unprocessable(&errors);
    }
    let id = data.new_id();
    let now = rfc3339_now();
    let created = json!({
        "id": id,
        "price_rule_id": rule,
        "code": code,
        "usage_count": 0,
        "created_at": now,
        "updated_at": now,
    });
    data.discount_codes.insert(id, created.clone());
    answer(StatusCode::CREATED, json!({ "discount_code": created }))
}

/// `GET discount_codes/lookup.json?code=…`: `303 See Other` to the code.
pub(super) fn lookup(data: &Data, api: &str, query: &[(String, String)]) -> Response {
    let wanted = query
        .iter()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.as_str())
        .unwrap_or_default();
    let found = data.discount_codes.values().find(|c| {
        c["code"]
            .as_str()
            .is_some_and(|c| c.eq_ignore_ascii_case(wanted))
    });
    let Some(code) = found else {
        return not_found();
    };
    let location = format!(
        "{api}/price_rules/{}/discount_codes/{}.json",
        code["price_rule_id"], code["id"]
    );
    let mut response = (
        StatusCode::SEE_OTHER,
        format!("<html><body>You are being <a href=\"{location}\">redirected</a>.</body></html>"),
    )
        .into_response();
    if let Ok(value) = location.parse() {
        response.headers_mut().insert("location", value);
    }
    response
}
