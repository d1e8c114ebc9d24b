//! Webhook authentication and routing.
//!
//! Shopify signs the raw body with the app's secret and names the shop, the
//! topic and the delivery in headers. The secret is shared by every shop that
//! installs the app, so a valid signature alone does not prove the delivery is
//! for *this* shop: the shop domain is checked too.

use loyalty_sdk::prelude::*;
use loyalty_sdk::signature::verify_base64_hmac_sha256;

use crate::settings;

/// `base64(HMAC-SHA256(secret, raw body))`.
pub const HMAC_HEADER: &str = "X-Shopify-Hmac-Sha256";
/// The shop the delivery comes from (`acme.myshopify.com`).
pub const SHOP_HEADER: &str = "X-Shopify-Shop-Domain";
/// The topic (`orders/paid`).
pub const TOPIC_HEADER: &str = "X-Shopify-Topic";
/// The delivery id; a retry of the same delivery carries the same one.
pub const WEBHOOK_ID_HEADER: &str = "X-Shopify-Webhook-Id";

/// The webhook secret's name, as declared in `describe`.
pub const SECRET: &str = "webhook";

/// The topics this connector turns into events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    /// `orders/create`, `orders/paid`, `orders/updated`, `orders/cancelled`:
    /// the body is the whole order, so all four map the same way.
    Order,
    /// `refunds/create`.
    Refund,
    /// `customers/create`, `customers/update`.
    Customer,
}

impl Topic {
    /// The topic for an `X-Shopify-Topic` value, or `Unsupported` naming it.
    pub fn parse(topic: &str) -> Result<Self, Error> {
        match topic.trim() {
            "orders/create" | "orders/paid" | "orders/updated" | "orders/cancelled" => {
                Ok(Self::Order)
            }
            "refunds/create" => Ok(Self::Refund),
            "customers/create" | "customers/update" => Ok(Self::Customer),
            other => Err(Error::Unsupported(format!(
                "Shopify topic `{other}` is not handled (handled: orders/create, orders/paid, orders/updated, orders/cancelled, refunds/create, customers/create, customers/update); remove its webhook subscription"
            ))),
        }
    }
}

/// Checks the signature and the shop, and names the delivery. Makes no
/// outbound calls.
pub fn verify(request: &WebhookRequest) -> Result<Delivery, Error> {
    let signature = request
        .header(HMAC_HEADER)
        .ok_or_else(|| Error::Unauthorized(format!("missing header `{HMAC_HEADER}`")))?;
    verify_base64_hmac_sha256(SECRET, &request.body, signature)?;

    let expected = settings::shop_domain()?;
    // The header is not covered by the signature; the check guards against a
    // delivery meant for another shop that shares the app, not an attacker.
    let sent = request
        .header(SHOP_HEADER)
        .map(settings::normalize_domain)
        .ok_or_else(|| Error::Unauthorized(format!("missing header `{SHOP_HEADER}`")))?;
    if sent != expected {
        return Err(Error::Unauthorized(format!(
            "webhook is for shop `{sent}` but this connector serves `{expected}` (setting `shop_domain`)"
        )));
    }

    Ok(Delivery {
        id: request.require_header(WEBHOOK_ID_HEADER)?.trim().to_owned(),
        topic: request.require_header(TOPIC_HEADER)?.trim().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_handled_topic_routes_and_others_are_unsupported() {
        for (topic, want) in [
            ("orders/create", Topic::Order),
            ("orders/paid", Topic::Order),
            ("orders/updated", Topic::Order),
            ("orders/cancelled", Topic::Order),
            ("refunds/create", Topic::Refund),
            ("customers/create", Topic::Customer),
            ("customers/update", Topic::Customer),
        ] {
            assert_eq!(Topic::parse(topic).unwrap(), want, "{topic}");
        }
        match Topic::parse("products/update") {
            Err(Error::Unsupported(m)) => assert!(m.contains("`products/update`"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}
