//! The Shopify connector end to end on the native test host: webhooks in,
//! events out, GraphQL reads answered by a scripted Admin API.
//!
//! The fixtures under `tests/fixtures/` are written in Shopify's REST shapes
//! (API 2024-04) with our own data: a B2B shop in EUR selling to a buyer who
//! sees USD, with ids above 2^53.

// clippy.toml allows these inside tests, but not in this file's helpers; a
// test that cannot read its own fixture should fail loudly.
#![allow(clippy::unwrap_used, reason = "test helpers fail loudly")]

use loyalty_sdk::prelude::*;
use loyalty_sdk::testing::TestHost;
use shopify::Shopify;

const SHOP: &str = "acme-tools.myshopify.com";
const ORDER_B2B: &[u8] = include_bytes!("fixtures/order_b2b.json");
const ORDER_LEGACY: &[u8] = include_bytes!("fixtures/order_legacy_sparse.json");
const REFUND: &[u8] = include_bytes!("fixtures/refund_two_lines_and_shipping.json");
const REFUND_SHIPPING_ONLY: &[u8] = include_bytes!("fixtures/refund_shipping_only.json");
const CUSTOMER: &[u8] = include_bytes!("fixtures/customer_b2b_buyer.json");

/// The order's company, customer and order ids: all above 2^53.
const COMPANY_ID: &str = "9007199254740997";
const CUSTOMER_ID: &str = "9007199254740995";
const ORDER_ID: &str = "9007199254740993";

/// Shopify's public signature test vector.
const VECTOR_SECRET: &[u8] = b"test_secret_key";
const VECTOR_BODY: &[u8] = br#"{"foo": "bar"}"#;
const VECTOR_SIGNATURE: &str = "B23tXN681gZ0qIWNRrgtzBE9XSDo5yaUu6wfmhu3a7g=";

/// `2024-04-02T10:00:00Z`, the company's `updatedAt` in [`company_answer`].
const COMPANY_UPDATED_MS: u64 = 1_712_052_000_000;

fn host() -> TestHost {
    TestHost::new()
        .setting("shop_domain", SHOP)
        .secret("webhook", VECTOR_SECRET)
}

/// A host whose Admin API answers every request with the company.
fn host_with_admin_api() -> TestHost {
    host().respond(|_| (200, company_answer()))
}

fn company_answer() -> Vec<u8> {
    format!(
        r#"{{"data":{{"nodes":[{{"id":"gid://shopify/Company/{COMPANY_ID}","name":"Acme Industrie GmbH","externalId":"SAP-100001","note":null,"updatedAt":"2024-04-02T10:00:00Z"}}]}},"extensions":{{"cost":{{"requestedQueryCost":1,"actualQueryCost":1,"throttleStatus":{{"maximumAvailable":2000.0,"currentlyAvailable":1999,"restoreRate":100.0}}}}}}}}"#
    )
    .into_bytes()
}

fn header(name: &str, value: &str) -> Header {
    Header {
        name: name.to_owned(),
        value: value.to_owned(),
    }
}

/// A delivery as Shopify sends it, signed with the test vector's signature
/// (valid only for the vector's body).
fn request(topic: &str, body: &[u8]) -> WebhookRequest {
    WebhookRequest {
        method: "POST".to_owned(),
        url: "https://loyalty.example/webhooks/shopify".to_owned(),
        headers: vec![
            header("Content-Type", "application/json"),
            header("X-Shopify-Topic", topic),
            header("X-Shopify-Hmac-Sha256", VECTOR_SIGNATURE),
            header("X-Shopify-Shop-Domain", SHOP),
            header("X-Shopify-API-Version", "2024-04"),
            header(
                "X-Shopify-Webhook-Id",
                "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
            ),
        ],
        body: body.to_vec(),
    }
}

fn without(mut request: WebhookRequest, name: &str) -> WebhookRequest {
    request
        .headers
        .retain(|h| !h.name.eq_ignore_ascii_case(name));
    request
}

fn replace(mut request: WebhookRequest, name: &str, value: &str) -> WebhookRequest {
    request = without(request, name);
    request.headers.push(header(name, value));
    request
}

fn handle(host: &TestHost, topic: &str, body: &[u8]) -> Result<Vec<Event>, Error> {
    host.run(|| Shopify::handle_webhook(request(topic, body)))
}

fn purchase(events: &[Event]) -> &Purchase {
    match events.last() {
        Some(Event::Purchase(p)) => p,
        other => panic!("expected the purchase last, got {other:?}"),
    }
}

fn refunds(events: &[Event]) -> Vec<&Refund> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Refund(r) => Some(r),
            _ => None,
        })
        .collect()
}

fn money_of(m: &Money) -> (&str, &str) {
    (m.amount.as_str(), m.currency.as_str())
}

/// The B2B order fixture with some top-level fields replaced.
fn order_with(changes: &[(&str, serde_json::Value)]) -> Vec<u8> {
    let mut order: serde_json::Value = serde_json::from_slice(ORDER_B2B).unwrap();
    for (field, value) in changes {
        order[*field] = value.clone();
    }
    serde_json::to_vec(&order).unwrap()
}

fn invalid_input(result: Result<Vec<Event>, Error>) -> String {
    match result {
        Err(Error::InvalidInput(m)) => m,
        other => panic!("expected invalid input, got {other:?}"),
    }
}

mod describe {
    use super::*;

    #[test]
    fn declares_its_secret_credential_host_and_settings() {
        let info = Shopify::describe();
        assert_eq!(info.name, "shopify");
        assert_eq!(info.secrets, ["webhook"]);
        assert_eq!(info.credentials, ["admin"]);
        assert_eq!(info.hosts, ["https://*.myshopify.com"]);
        assert_eq!(info.host_settings, ["admin_base_url"]);
        let settings: Vec<(&str, bool)> = info
            .settings
            .iter()
            .map(|s| (s.name.as_str(), s.required))
            .collect();
        assert_eq!(
            settings,
            [
                ("shop_domain", true),
                ("api_version", false),
                ("admin_base_url", false),
                ("company_cache_seconds", false),
                ("external_id_system", false),
                ("shop_currency", false)
            ]
        );
    }
}

mod verify {
    use super::*;

    fn verify(host: &TestHost, request: WebhookRequest) -> Result<Delivery, Error> {
        host.run(|| Shopify::verify_webhook(request))
    }

    #[test]
    fn public_test_vector_is_accepted_and_names_the_delivery() {
        let host = host();
        let delivery = verify(&host, request("orders/paid", VECTOR_BODY)).unwrap();
        assert_eq!(delivery.id, "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043");
        assert_eq!(delivery.topic, "orders/paid");
        assert!(host.requests().is_empty(), "verification makes no calls");
    }

    #[test]
    fn tampered_body_is_unauthorized() {
        let result = verify(&host(), request("orders/paid", br#"{"foo": "baz"}"#));
        assert!(matches!(result, Err(Error::Unauthorized(_))), "{result:?}");
    }

    #[test]
    fn wrong_secret_is_unauthorized() {
        let host = TestHost::new()
            .setting("shop_domain", SHOP)
            .secret("webhook", b"another_secret");
        let result = verify(&host, request("orders/paid", VECTOR_BODY));
        assert!(matches!(result, Err(Error::Unauthorized(_))), "{result:?}");
    }

    #[test]
    fn missing_signature_is_unauthorized() {
        let result = verify(
            &host(),
            without(request("orders/paid", VECTOR_BODY), "X-Shopify-Hmac-Sha256"),
        );
        match result {
            Err(Error::Unauthorized(m)) => assert!(m.contains("X-Shopify-Hmac-Sha256"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn delivery_for_another_shop_is_unauthorized_naming_both() {
        let result = verify(
            &host(),
            replace(
                request("orders/paid", VECTOR_BODY),
                "X-Shopify-Shop-Domain",
                "other-shop.myshopify.com",
            ),
        );
        match result {
            Err(Error::Unauthorized(m)) => {
                assert!(m.contains("other-shop.myshopify.com"), "{m}");
                assert!(m.contains(SHOP), "{m}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn shop_domain_setting_may_carry_a_scheme_and_other_case() {
        let host = TestHost::new()
            .setting("shop_domain", "https://Acme-Tools.myshopify.com/")
            .secret("webhook", VECTOR_SECRET);
        assert!(verify(&host, request("orders/paid", VECTOR_BODY)).is_ok());
    }

    #[test]
    fn missing_shop_domain_header_is_unauthorized() {
        let result = verify(
            &host(),
            without(request("orders/paid", VECTOR_BODY), "X-Shopify-Shop-Domain"),
        );
        assert!(matches!(result, Err(Error::Unauthorized(_))), "{result:?}");
    }

    #[test]
    fn webhook_id_and_topic_are_required() {
        for name in ["X-Shopify-Webhook-Id", "X-Shopify-Topic"] {
            match verify(&host(), without(request("orders/paid", VECTOR_BODY), name)) {
                Err(Error::InvalidInput(m)) => assert!(m.contains(name), "{m}"),
                other => panic!("{name}: {other:?}"),
            }
        }
    }
}

mod orders {
    use super::*;

    #[test]
    fn a_company_external_id_names_the_configured_system_without_leading_zeros() {
        let answer = String::from_utf8(company_answer())
            .unwrap()
            .replace("SAP-100001", "0001000042");
        let host = host()
            .setting("external_id_system", "sap")
            .respond(move |_| (200, answer.clone().into_bytes()));
        let events = handle(&host, "orders/paid", ORDER_B2B).unwrap();
        let Event::Account(account) = &events[0] else {
            panic!("expected the account first: {events:?}");
        };
        assert_eq!(account.external_refs.len(), 1);
        assert_eq!(
            (
                account.external_refs[0].system.as_str(),
                account.external_refs[0].id.as_str()
            ),
            ("sap", "1000042")
        );
    }

    #[test]
    fn b2b_order_emits_account_contact_refund_then_purchase() {
        let events = handle(&host_with_admin_api(), "orders/paid", ORDER_B2B).unwrap();
        assert_eq!(events.len(), 4, "{events:?}");

        let Event::Account(account) = &events[0] else {
            panic!("expected the account first: {events:?}");
        };
        assert_eq!(account.id, COMPANY_ID);
        assert_eq!(account.name, "Acme Industrie GmbH");
        assert_eq!(account.version, COMPANY_UPDATED_MS);
        assert_eq!(account.external_refs.len(), 1);
        assert_eq!(account.external_refs[0].system, "external-id");
        assert_eq!(account.external_refs[0].id, "SAP-100001");

        let Event::Contact(contact) = &events[1] else {
            panic!("expected the contact second: {events:?}");
        };
        assert_eq!(contact.id, CUSTOMER_ID);
        assert_eq!(contact.account_id.as_deref(), Some(COMPANY_ID));
        assert_eq!(
            contact.email.as_deref(),
            Some("greta.hoffmann@acme-industrie.example")
        );
        assert_eq!(contact.first_name.as_deref(), Some("Greta"));
        assert_eq!(contact.last_name.as_deref(), Some("Hoffmann"));
        assert_eq!(contact.role, None);
        // 2024-04-02T09:15:00+02:00 is 07:15 UTC.
        assert_eq!(contact.version, 1_712_042_100_000);

        let Event::Refund(refund) = &events[2] else {
            panic!("expected the embedded refund third: {events:?}");
        };
        assert_eq!(refund.id, "9007199254741011");
        assert_eq!(refund.purchase_id, ORDER_ID);
        assert_eq!(money_of(&refund.net_amount), ("6.17", "EUR"));

        let p = purchase(&events);
        assert_eq!(p.account_id.as_deref(), Some(COMPANY_ID));
        assert_eq!(p.contact_id.as_deref(), Some(CUSTOMER_ID));
        assert_eq!(p.status, PurchaseStatus::Paid);
        // created_at 2024-04-02T10:30:00+02:00, updated_at 2024-04-03T16:00:02+02:00.
        assert_eq!(p.placed_at, 1_712_046_600_000);
        assert_eq!(p.version, 1_712_152_802_000);
        assert_eq!(p.discount_codes, ["WELCOME50"]);
        assert_eq!(p.referral_code.as_deref(), Some("REF-NORDWERK-7"));
        let attributes: Vec<(&str, &str)> = p
            .attributes
            .iter()
            .map(|a| (a.name.as_str(), a.value.as_str()))
            .collect();
        assert_eq!(
            attributes,
            [
                ("name", "#2041"),
                ("presentment_currency", "USD"),
                ("company_location_id", "9007199254740999")
            ]
        );
    }

    #[test]
    fn ids_above_two_to_the_53_are_kept_exact() {
        let events = handle(&host_with_admin_api(), "orders/create", ORDER_B2B).unwrap();
        let p = purchase(&events);
        // Through an f64 these would read ...992, ...996 and ...000.
        assert_eq!(p.id, "9007199254740993");
        assert_eq!(p.contact_id.as_deref(), Some("9007199254740995"));
        let line_ids: Vec<&str> = p.lines.iter().map(|l| l.id.as_str()).collect();
        assert_eq!(
            line_ids,
            ["9007199254741001", "9007199254741003", "9007199254741005"]
        );
    }

    #[test]
    fn amounts_are_shop_money_not_presentment_money() {
        let events = handle(&host_with_admin_api(), "orders/paid", ORDER_B2B).unwrap();
        let p = purchase(&events);
        // subtotal_price_set: 373.10 EUR shop, 410.41 USD presentment.
        assert_eq!(money_of(&p.net_amount), ("373.10", "EUR"));
        // total_price_set, not current_total_price_set (after refunds).
        assert_eq!(money_of(&p.total_amount), ("461.84", "EUR"));
        for line in &p.lines {
            assert_eq!(line.unit_price.currency, "EUR");
            assert_eq!(line.discount.currency, "EUR");
            assert_eq!(line.net_amount.currency, "EUR");
        }
    }

    #[test]
    fn lines_carry_discount_allocations_including_the_order_code() {
        let events = handle(&host_with_admin_api(), "orders/paid", ORDER_B2B).unwrap();
        let lines = &purchase(&events).lines;
        assert_eq!(lines.len(), 3);

        let drill = &lines[0];
        assert_eq!(drill.title, "Industrial Drill Bit Set");
        assert_eq!(drill.sku.as_deref(), Some("DB-100-HSS"));
        assert_eq!(drill.category.as_deref(), Some("Tools"));
        assert_eq!(drill.quantity, 10);
        assert_eq!(money_of(&drill.unit_price), ("24.90", "EUR"));
        // 24.90 automatic + 26.48 share of WELCOME50; total_discount says 0.00.
        assert_eq!(money_of(&drill.discount), ("51.38", "EUR"));
        assert_eq!(money_of(&drill.net_amount), ("197.62", "EUR"));

        let gloves = &lines[1];
        assert_eq!(gloves.sku, None, "an empty sku is no sku");
        assert_eq!(money_of(&gloves.discount), ("8.27", "EUR"));
        assert_eq!(money_of(&gloves.net_amount), ("61.73", "EUR"));

        let mat = &lines[2];
        assert_eq!(mat.sku, None);
        assert_eq!(mat.category, None);
        assert_eq!(money_of(&mat.net_amount), ("113.75", "EUR"));

        // The lines add up to the order's subtotal.
        let sum: rust_decimal::Decimal = lines
            .iter()
            .map(|l| parse_decimal(&l.net_amount.amount).unwrap())
            .sum();
        assert_eq!(sum.to_string(), "373.10");
    }

    #[test]
    fn status_follows_cancellation_and_financial_status() {
        use serde_json::json;
        let host = host_with_admin_api();
        let cases = [
            (json!(null), json!("pending"), PurchaseStatus::Pending),
            (json!(null), json!("authorized"), PurchaseStatus::Pending),
            (
                json!(null),
                json!("partially_paid"),
                PurchaseStatus::Pending,
            ),
            (json!(null), json!(null), PurchaseStatus::Pending),
            (json!(null), json!("paid"), PurchaseStatus::Paid),
            (
                json!(null),
                json!("partially_refunded"),
                PurchaseStatus::Paid,
            ),
            (json!(null), json!("refunded"), PurchaseStatus::Paid),
            (json!(null), json!("voided"), PurchaseStatus::Cancelled),
            (
                json!("2024-04-04T08:00:00+02:00"),
                json!("refunded"),
                PurchaseStatus::Cancelled,
            ),
        ];
        for (cancelled_at, financial_status, want) in cases {
            let body = order_with(&[
                ("cancelled_at", cancelled_at.clone()),
                ("financial_status", financial_status.clone()),
            ]);
            let events = handle(&host, "orders/updated", &body).unwrap();
            assert_eq!(
                purchase(&events).status,
                want,
                "cancelled_at {cancelled_at}, financial_status {financial_status}"
            );
        }
    }

    #[test]
    fn consumer_order_makes_no_request_and_belongs_to_the_customer() {
        let host = host();
        let body = order_with(&[("company", serde_json::Value::Null)]);
        let events = handle(&host, "orders/create", &body).unwrap();
        assert!(host.requests().is_empty());
        assert!(matches!(events[0], Event::Contact(ref c) if c.account_id.is_none()));
        let p = purchase(&events);
        assert_eq!(p.account_id.as_deref(), Some("customer/9007199254740995"));
        assert!(!p.attributes.iter().any(|a| a.name == "company_location_id"));
    }

    #[test]
    fn guest_order_has_no_account_or_contact() {
        let body = order_with(&[
            ("company", serde_json::Value::Null),
            ("customer", serde_json::Value::Null),
        ]);
        let events = handle(&host(), "orders/create", &body).unwrap();
        assert_eq!(events.len(), 2, "the embedded refund and the purchase");
        let p = purchase(&events);
        assert_eq!(p.account_id, None);
        assert_eq!(p.contact_id, None);
    }

    #[test]
    fn legacy_sparse_order_falls_back_to_bare_amounts() {
        let host = host();
        let events = handle(&host, "orders/updated", ORDER_LEGACY).unwrap();
        assert!(host.requests().is_empty());
        assert_eq!(events.len(), 2, "{events:?}");

        let Event::Contact(contact) = &events[0] else {
            panic!("{events:?}");
        };
        assert_eq!(contact.id, "207100001");
        assert_eq!(contact.account_id, None);
        // No customer updated_at: the order's (2013-06-14T17:06:30-07:00).
        assert_eq!(contact.version, 1_371_254_790_000);

        let p = purchase(&events);
        assert_eq!(p.id, "408812345");
        assert_eq!(p.status, PurchaseStatus::Pending);
        assert_eq!(p.account_id.as_deref(), Some("customer/207100001"));
        assert_eq!(money_of(&p.net_amount), ("120.00", "CAD"));
        assert_eq!(money_of(&p.total_amount), ("135.60", "CAD"));
        assert!(p.discount_codes.is_empty());
        assert_eq!(p.referral_code, None);
        assert_eq!(p.lines.len(), 2);
        assert_eq!(money_of(&p.lines[0].unit_price), ("40.00", "CAD"));
        assert_eq!(money_of(&p.lines[0].discount), ("0", "CAD"));
        assert_eq!(money_of(&p.lines[0].net_amount), ("80.00", "CAD"));
        assert_eq!(p.lines[1].sku, None);
        assert_eq!(p.lines[1].category, None);
    }

    #[test]
    fn malformed_order_is_invalid_input_naming_the_field() {
        let host = host_with_admin_api();
        let message = invalid_input(handle(&host, "orders/paid", b"{not json"));
        assert!(message.contains("JSON"), "{message}");

        let body = order_with(&[(
            "line_items",
            serde_json::json!([{"id": 1, "quantity": "ten"}]),
        )]);
        let message = invalid_input(handle(&host, "orders/paid", &body));
        assert!(message.contains("`line_items[0].quantity`"), "{message}");

        let mut order: serde_json::Value = serde_json::from_slice(ORDER_B2B).unwrap();
        order.as_object_mut().unwrap().remove("updated_at");
        let body = serde_json::to_vec(&order).unwrap();
        let message = invalid_input(handle(&host, "orders/paid", &body));
        assert!(message.contains("updated_at"), "{message}");

        let body = order_with(&[("created_at", serde_json::json!("last tuesday"))]);
        let message = invalid_input(handle(&host, "orders/paid", &body));
        assert!(message.contains("`created_at`"), "{message}");

        let body = order_with(&[("id", serde_json::json!(1.5))]);
        let message = invalid_input(handle(&host, "orders/paid", &body));
        assert!(message.contains("`id`"), "{message}");

        assert!(
            host.requests().is_empty(),
            "a malformed order costs no request"
        );
    }
}

mod companies {
    use super::*;

    const HOUR_MS: i64 = 3_600_000;

    #[test]
    fn graphql_request_names_the_company_with_the_admin_credential() {
        let host = host_with_admin_api();
        handle(&host, "orders/create", ORDER_B2B).unwrap();
        let requests = host.requests();
        assert_eq!(requests.len(), 1);
        let r = &requests[0];
        assert_eq!(r.method, "POST");
        assert_eq!(
            r.url,
            "https://acme-tools.myshopify.com/admin/api/2024-04/graphql.json"
        );
        assert_eq!(r.credential.as_deref(), Some("admin"));
        let body: serde_json::Value = serde_json::from_slice(r.body.as_deref().unwrap()).unwrap();
        assert_eq!(
            body["query"],
            "query Companies($ids: [ID!]!) { nodes(ids: $ids) { ... on Company { id name externalId note updatedAt } } }"
        );
        assert_eq!(
            body["variables"]["ids"],
            serde_json::json!(["gid://shopify/Company/9007199254740997"])
        );
    }

    #[test]
    fn admin_base_url_and_api_version_point_at_an_emulator() {
        let host = host_with_admin_api()
            .setting("admin_base_url", "http://127.0.0.1:8089/")
            .setting("api_version", "2025-01");
        handle(&host, "orders/create", ORDER_B2B).unwrap();
        assert_eq!(
            host.requests()[0].url,
            "http://127.0.0.1:8089/admin/api/2025-01/graphql.json"
        );
    }

    #[test]
    fn company_is_fetched_once_then_served_from_state_until_the_ttl() {
        let start = 1_767_225_600_000;
        let host = host_with_admin_api().at(start);
        let first = handle(&host, "orders/create", ORDER_B2B).unwrap();
        assert_eq!(host.requests().len(), 1);
        let cached: serde_json::Value =
            serde_json::from_slice(&host.state(&format!("company/{COMPANY_ID}")).unwrap()).unwrap();
        assert_eq!(cached["fetched_at"], start);
        assert_eq!(cached["company"]["name"], "Acme Industrie GmbH");

        // A burst of orders within the hour: served from state.
        for minutes in [1, 30, 59] {
            let host = host.clone().at(start + minutes * 60_000);
            let events = handle(&host, "orders/paid", ORDER_B2B).unwrap();
            let (Event::Account(a), Event::Account(b)) = (&first[0], &events[0]) else {
                panic!("{events:?}");
            };
            assert_eq!(
                (a.id.as_str(), a.version, a.name.as_str()),
                (b.id.as_str(), b.version, b.name.as_str())
            );
        }
        assert_eq!(host.requests().len(), 1);

        // After company_cache_seconds (default 3600): read again.
        let later = host.clone().at(start + HOUR_MS);
        handle(&later, "orders/updated", ORDER_B2B).unwrap();
        assert_eq!(host.requests().len(), 2);
        let cached: serde_json::Value =
            serde_json::from_slice(&host.state(&format!("company/{COMPANY_ID}")).unwrap()).unwrap();
        assert_eq!(cached["fetched_at"], start + HOUR_MS);
    }

    #[test]
    fn cache_ttl_follows_the_setting_and_zero_disables_it() {
        let start = 1_767_225_600_000;
        let host = host_with_admin_api()
            .setting("company_cache_seconds", "60")
            .at(start);
        handle(&host, "orders/create", ORDER_B2B).unwrap();
        handle(&host.clone().at(start + 59_000), "orders/paid", ORDER_B2B).unwrap();
        assert_eq!(host.requests().len(), 1);
        handle(&host.clone().at(start + 60_000), "orders/paid", ORDER_B2B).unwrap();
        assert_eq!(host.requests().len(), 2);

        let host = host_with_admin_api().setting("company_cache_seconds", "0");
        handle(&host, "orders/create", ORDER_B2B).unwrap();
        handle(&host, "orders/paid", ORDER_B2B).unwrap();
        assert_eq!(host.requests().len(), 2);
        assert_eq!(host.state(&format!("company/{COMPANY_ID}")), None);
    }

    #[test]
    fn graphql_errors_are_surfaced_as_permanent() {
        let host = host().respond(|_| {
            (
                200,
                br#"{"errors":[{"message":"Access denied for company field.","locations":[{"line":1,"column":29}],"path":["nodes",0],"extensions":{"code":"ACCESS_DENIED"}}],"data":{"nodes":[null]}}"#.to_vec(),
            )
        });
        match handle(&host, "orders/paid", ORDER_B2B) {
            Err(Error::Permanent(m)) => {
                assert!(m.contains("Access denied for company field."), "{m}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(host.state(&format!("company/{COMPANY_ID}")), None);
    }

    #[test]
    fn unknown_company_is_permanent() {
        let host = host().respond(|_| (200, br#"{"data":{"nodes":[null]}}"#.to_vec()));
        match handle(&host, "orders/paid", ORDER_B2B) {
            Err(Error::Permanent(m)) => assert!(m.contains(COMPANY_ID), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn throttled_query_is_rate_limited() {
        let host = host().respond(|_| {
            (
                200,
                br#"{"errors":[{"message":"Throttled","extensions":{"code":"THROTTLED","documentation":"https://shopify.dev/api/usage/rate-limits"}}],"extensions":{"cost":{"requestedQueryCost":1,"actualQueryCost":null,"throttleStatus":{"maximumAvailable":2000.0,"currentlyAvailable":0,"restoreRate":100.0}}}}"#.to_vec(),
            )
        });
        match handle(&host, "orders/paid", ORDER_B2B) {
            Err(Error::RateLimited(r)) => assert_eq!(r.delay_ms, Some(10)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn http_429_is_rate_limited_with_retry_after() {
        let host = host().respond_with(|_| {
            Ok(IncomingResponse {
                status: 429,
                headers: vec![header("Retry-After", "2.0")],
                body: br#"{"errors":"Exceeded 2 calls per second for api client."}"#.to_vec(),
            })
        });
        match handle(&host, "orders/paid", ORDER_B2B) {
            Err(Error::RateLimited(r)) => assert_eq!(r.delay_ms, Some(2000)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn server_errors_are_transient_and_bad_tokens_unauthorized() {
        let unavailable = host().respond(|_| (503, b"upstream unavailable".to_vec()));
        assert!(matches!(
            handle(&unavailable, "orders/paid", ORDER_B2B),
            Err(Error::Transient(_))
        ));
        let rejected = host().respond(|_| {
            (
                401,
                br#"{"errors":"[API] Invalid API key or access token (unrecognized login or wrong password)"}"#.to_vec(),
            )
        });
        assert!(matches!(
            handle(&rejected, "orders/paid", ORDER_B2B),
            Err(Error::Unauthorized(_))
        ));
    }
}

mod refunds {
    use super::*;

    #[test]
    fn refund_net_amount_is_the_line_subtotals_in_shop_money() {
        let host = host();
        let events = handle(&host, "refunds/create", REFUND).unwrap();
        assert!(host.requests().is_empty());
        let refunds = refunds(&events);
        assert_eq!(refunds.len(), 1);
        let r = refunds[0];
        assert_eq!(r.id, "9007199254741013");
        assert_eq!(r.purchase_id, ORDER_ID);
        // 113.75 + 39.52 EUR; not the USD transaction (219.63), not tax, not
        // the shipping adjustment.
        assert_eq!(money_of(&r.net_amount), ("153.27", "EUR"));
        // 2024-04-05T09:12:30+02:00.
        assert_eq!(r.refunded_at, 1_712_301_150_000);
        assert_eq!(r.version, 1_712_301_150_000);
        // Each refunded line names its order line, so the host reverses what
        // that line earned.
        let lines: Vec<(&str, u32, (&str, &str))> = r
            .lines
            .iter()
            .map(|l| (l.line_id.as_str(), l.quantity, money_of(&l.net_amount)))
            .collect();
        assert_eq!(
            lines,
            [
                ("9007199254741005", 1, ("113.75", "EUR")),
                ("9007199254741001", 2, ("39.52", "EUR")),
            ]
        );
    }

    #[test]
    fn shipping_only_refund_is_worth_zero() {
        let events = handle(&host(), "refunds/create", REFUND_SHIPPING_ONLY).unwrap();
        let refunds = refunds(&events);
        assert_eq!(refunds.len(), 1);
        assert_eq!(money_of(&refunds[0].net_amount), ("0", "EUR"));
        assert_eq!(refunds[0].id, "9007199254741015");
    }

    #[test]
    fn embedded_refund_maps_like_refunds_create() {
        let events = handle(&host_with_admin_api(), "orders/updated", ORDER_B2B).unwrap();
        let embedded = refunds(&events)[0].clone();
        let mut order: serde_json::Value = serde_json::from_slice(ORDER_B2B).unwrap();
        let body = serde_json::to_vec(&order["refunds"][0].take()).unwrap();
        let events = handle(&host(), "refunds/create", &body).unwrap();
        let standalone = refunds(&events)[0];
        assert_eq!(embedded.id, standalone.id);
        assert_eq!(embedded.version, standalone.version);
        assert_eq!(embedded.purchase_id, standalone.purchase_id);
        assert_eq!(
            money_of(&embedded.net_amount),
            money_of(&standalone.net_amount)
        );
        assert_eq!(embedded.refunded_at, standalone.refunded_at);
        let ids =
            |r: &Refund| -> Vec<String> { r.lines.iter().map(|l| l.line_id.clone()).collect() };
        assert_eq!(ids(&embedded), ids(standalone));
        assert_eq!(ids(&embedded), ["9007199254741003"]);
    }

    #[test]
    fn refund_without_order_id_is_invalid_input() {
        let mut refund: serde_json::Value = serde_json::from_slice(REFUND).unwrap();
        refund.as_object_mut().unwrap().remove("order_id");
        let body = serde_json::to_vec(&refund).unwrap();
        let message = invalid_input(handle(&host(), "refunds/create", &body));
        assert!(message.contains("order_id"), "{message}");
    }
}

mod customers {
    use super::*;

    #[test]
    fn customer_update_becomes_a_contact_versioned_in_utc() {
        for topic in ["customers/create", "customers/update"] {
            let host = host();
            let events = handle(&host, topic, CUSTOMER).unwrap();
            assert!(host.requests().is_empty());
            let [Event::Contact(c)] = events.as_slice() else {
                panic!("{events:?}");
            };
            assert_eq!(c.id, CUSTOMER_ID);
            assert_eq!(c.version, 1_712_042_100_000);
            assert_eq!(c.account_id, None);
            assert_eq!(
                c.email.as_deref(),
                Some("greta.hoffmann@acme-industrie.example")
            );
            assert_eq!(c.first_name.as_deref(), Some("Greta"));
            assert_eq!(c.last_name.as_deref(), Some("Hoffmann"));
            assert_eq!(c.role, None);
        }
    }

    #[test]
    fn customer_without_id_is_invalid_input_naming_it() {
        let message = invalid_input(handle(
            &host(),
            "customers/update",
            br#"{"email": "x@example.com", "updated_at": "2024-04-02T09:15:00+02:00"}"#,
        ));
        assert!(message.contains("id"), "{message}");
    }
}

mod topics {
    use super::*;

    #[test]
    fn unknown_topic_is_unsupported_naming_it() {
        match handle(&host(), "products/update", b"{}") {
            Err(Error::Unsupported(m)) => assert!(m.contains("products/update"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn missing_topic_is_invalid_input() {
        let result = host().run(|| {
            Shopify::handle_webhook(without(
                request("orders/paid", ORDER_B2B),
                "X-Shopify-Topic",
            ))
        });
        assert!(matches!(result, Err(Error::InvalidInput(_))), "{result:?}");
    }
}
