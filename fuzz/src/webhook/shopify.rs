//! Shopify deliveries: `X-Shopify-Hmac-Sha256` over the raw body, the shop,
//! topic and delivery id in headers, the order, refund or customer as the
//! body (see `plugins/shopify/src/webhook.rs`).

use std::sync::OnceLock;

use arbitrary::{Arbitrary, Result, Unstructured};
use loyaltyd::runtime::wit::latest::loyalty::connector::types::WebhookRequest;

use crate::json::{Body, Vocabulary};
use crate::webhook::vendor::{Answer, Api};
use crate::webhook::{BASE_URL, Harness, Setup, header, sign};
use loyaltyd::runtime::Injection;

/// The app's webhook secret the connector is granted.
pub const SECRET: &[u8] = b"shopify-fuzz-webhook-secret";
/// The shop the connector serves.
pub const SHOP: &str = "acme-supplies.myshopify.com";

const ORDER_TOPICS: &[&str] = &[
    "orders/create",
    "orders/paid",
    "orders/updated",
    "orders/cancelled",
];

/// Strings Shopify payloads carry beyond those of the samples.
const EXTRA: &[&str] = &[
    "", " ", "EUR", "USD", "eur", "XXX", "0.00", "-1.00", "1.285E9", "1e400", "NaN", "-0",
    "19.90", "paid", "pending", "refunded", "voided", "partially_paid", "partially_refunded",
    "success", "failure", "refund", "sale", "2024-04-06T11:00:00+02:00", "2024-02-30T25:61:61Z",
    "1970-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "gid://shopify/Company/9007199254740995",
    "gid://shopify/Company/", "gid://shopify/Customer/1", "shipping_refund", "refund_discrepancy",
];

fn vocabulary(topic: Topic) -> &'static Vocabulary {
    static ORDERS: OnceLock<Vocabulary> = OnceLock::new();
    static REFUNDS: OnceLock<Vocabulary> = OnceLock::new();
    static CUSTOMERS: OnceLock<Vocabulary> = OnceLock::new();
    let fixture = |name| include_fixture(name);
    match topic {
        Topic::Order | Topic::Other => ORDERS.get_or_init(|| {
            Vocabulary::from_templates(
                &[fixture("order_b2b"), fixture("order_legacy_sparse")],
                EXTRA,
            )
        }),
        Topic::Refund => REFUNDS.get_or_init(|| {
            Vocabulary::from_templates(
                &[
                    fixture("refund_shipping_only"),
                    fixture("refund_two_lines_and_shipping"),
                ],
                EXTRA,
            )
        }),
        Topic::Customer => CUSTOMERS.get_or_init(|| {
            Vocabulary::from_templates(&[fixture("customer_b2b_buyer")], EXTRA)
        }),
    }
}

fn include_fixture(name: &str) -> &'static str {
    match name {
        "order_b2b" => include_str!("../../../plugins/shopify/tests/fixtures/order_b2b.json"),
        "order_legacy_sparse" => {
            include_str!("../../../plugins/shopify/tests/fixtures/order_legacy_sparse.json")
        }
        "refund_shipping_only" => {
            include_str!("../../../plugins/shopify/tests/fixtures/refund_shipping_only.json")
        }
        "refund_two_lines_and_shipping" => include_str!(
            "../../../plugins/shopify/tests/fixtures/refund_two_lines_and_shipping.json"
        ),
        _ => include_str!("../../../plugins/shopify/tests/fixtures/customer_b2b_buyer.json"),
    }
}

#[derive(Debug, Clone, Copy, Arbitrary)]
enum Topic {
    Order,
    Refund,
    Customer,
    Other,
}

/// How the delivery is signed.
#[derive(Debug, Arbitrary)]
enum Signature {
    /// With the granted secret over the body sent.
    Valid,
    /// Not at all.
    Missing,
    /// With another value.
    Other(String),
    /// Valid, with whitespace around it.
    Padded,
}

/// Which shop the delivery names.
#[derive(Debug, Arbitrary)]
enum Shop {
    /// The served one.
    Served,
    /// The served one as an operator might write it.
    Variant,
    /// None.
    Missing,
    /// Another.
    Other(String),
}

/// One fuzzed Shopify delivery.
#[derive(Debug)]
pub struct Input {
    signature: Signature,
    shop: Shop,
    topic_header: Option<String>,
    webhook_id: Option<String>,
    path: String,
    extra_headers: Vec<(String, String)>,
    handle_unverified: bool,
    body: Body,
    api: Answer,
}

impl<'a> Arbitrary<'a> for Input {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let signature = Signature::arbitrary(u)?;
        let shop = Shop::arbitrary(u)?;
        let topic = Topic::arbitrary(u)?;
        let topic_header = match topic {
            _ if crate::rarely(u, 16)? => None,
            Topic::Order => Some((*u.choose(ORDER_TOPICS)?).to_owned()),
            Topic::Refund => Some("refunds/create".to_owned()),
            Topic::Customer => Some(
                (*u.choose(&["customers/create", "customers/update"])?).to_owned(),
            ),
            Topic::Other => Some(String::arbitrary(u)?),
        };
        let webhook_id = if crate::rarely(u, 16)? {
            None
        } else if crate::rarely(u, 8)? {
            Some(String::arbitrary(u)?)
        } else {
            Some(format!("b54557e4-{}", u32::arbitrary(u)?))
        };
        let path = if crate::rarely(u, 8)? {
            String::arbitrary(u)?
        } else {
            "/webhooks/shopify".to_owned()
        };
        let mut extra_headers = Vec::new();
        while extra_headers.len() < 4 && crate::rarely(u, 8)? {
            extra_headers.push(<(String, String)>::arbitrary(u)?);
        }
        let handle_unverified = crate::rarely(u, 8)?;
        let body = Body::generate(u, vocabulary(topic))?;
        let api = api().answer(u)?;
        Ok(Self {
            signature,
            shop,
            topic_header,
            webhook_id,
            path,
            extra_headers,
            handle_unverified,
            body,
            api,
        })
    }
}

impl Input {
    /// The request the daemon would pass the connector.
    pub fn request(&self) -> WebhookRequest {
        let body = self.body.bytes().to_vec();
        let mut headers = vec![header("content-type", "application/json")];
        match &self.signature {
            Signature::Valid => headers.push(header("x-shopify-hmac-sha256", &sign(SECRET, &body))),
            Signature::Padded => headers.push(header(
                "x-shopify-hmac-sha256",
                &format!(" {} ", sign(SECRET, &body)),
            )),
            Signature::Missing => {}
            Signature::Other(value) => headers.push(header("x-shopify-hmac-sha256", value)),
        }
        match &self.shop {
            Shop::Served => headers.push(header("x-shopify-shop-domain", SHOP)),
            Shop::Variant => headers.push(header(
                "x-shopify-shop-domain",
                "https://Acme-Supplies.myshopify.com/",
            )),
            Shop::Missing => {}
            Shop::Other(shop) => headers.push(header("x-shopify-shop-domain", shop)),
        }
        if let Some(topic) = &self.topic_header {
            headers.push(header("x-shopify-topic", topic));
        }
        if let Some(id) = &self.webhook_id {
            headers.push(header("x-shopify-webhook-id", id));
        }
        headers.push(header("x-shopify-api-version", "2024-04"));
        for (name, value) in &self.extra_headers {
            headers.push(header(name, value));
        }
        WebhookRequest {
            method: "POST".to_owned(),
            url: format!("{BASE_URL}{}", self.path),
            headers,
            body,
        }
    }

    /// Delivers it.
    pub fn run(&self) {
        harness().deliver(&self.request(), self.handle_unverified, self.api.clone());
    }
}

/// The Shopify connector, loaded once per process.
pub fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        Harness::load(
            "shopify",
            SECRET,
            Setup {
                settings: &[("shop_domain", SHOP)],
                base_url_setting: "admin_base_url",
                credential: (
                    "admin",
                    Injection::Header {
                        name: "X-Shopify-Access-Token".to_owned(),
                    },
                ),
            },
        )
    })
}

/// The Admin API: the GraphQL company read B2B orders need.
fn api() -> &'static Api {
    static API: OnceLock<Api> = OnceLock::new();
    API.get_or_init(|| Api {
        keys: &["graphql"],
        words: Vocabulary::from_templates(
            &[r#"{"data": {"company": {"id": "gid://shopify/Company/9007199254740995",
                 "name": "Brandt Maschinenbau GmbH", "externalId": "0000010042", "note": null,
                 "updatedAt": "2026-02-27T15:30:00Z"}},
               "extensions": {"cost": {"requestedQueryCost": 1, "actualQueryCost": 1,
                 "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": 1999,
                 "restoreRate": 100.0}}}}"#],
            &["THROTTLED", "ACCESS_DENIED", "gid://shopify/Company/1"],
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Needs the built connector, as the fuzz target does.
    #[test]
    fn an_input_of_zeros_is_a_signed_order_that_yields_events() {
        let input = Input::arbitrary(&mut Unstructured::new(&[0; 64])).unwrap();
        let request = input.request();
        let delivered = harness().deliver(&request, false, input.api.clone());
        assert!(delivered.verified, "{:?}", request.headers);
        let events = delivered.events.expect(delivered.error.as_deref().unwrap_or_default());
        assert!(events.len() >= 2, "{events:?}");
    }
}
