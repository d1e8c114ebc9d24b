//! Recorded Admin API exchanges replayed on the native test host: a first
//! sync that reads a page of customers, then a page with one B2B order and
//! its company through GraphQL, and a discount reward that becomes a price
//! rule with its single-use code, once however often it is retried, and a
//! signed `orders/paid` delivery whose company is read through GraphQL.
//! Events and results compare with the JSON files next to each cassette,
//! and every recorded exchange must be asked for.

use loyalty_sdk::prelude::*;
use loyalty_sdk::testing::{
    Cassette, TestHost, assert_events, assert_json, load_json, load_webhook,
};
use shopify::Shopify;

const CASSETTES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cassettes");

/// A host for the recorded shop, answering from cassette `name`.
fn shop(name: &str) -> TestHost {
    let cassette = Cassette::load(format!("{CASSETTES}/{name}.json"))
        .unwrap_or_else(|error| panic!("{error}"));
    TestHost::new()
        .setting("shop_domain", "nordlicht-werkzeuge.myshopify.com")
        .setting(
            "admin_base_url",
            "https://nordlicht-werkzeuge.myshopify.com",
        )
        .setting("external_id_system", "sap")
        .replay(cassette)
}

fn poll(host: &TestHost, cursor: Option<String>) -> PollPage {
    host.run(|| {
        Shopify::poll(PollRequest {
            cursor,
            page_size: 2,
            since: None,
        })
    })
    .unwrap_or_else(|error| panic!("poll failed: {error:?}"))
}

#[test]
fn a_first_sync_reads_the_customers_then_a_b2b_order_and_its_company() {
    let host = shop("sync");

    let customers = poll(&host, None);
    assert!(customers.more, "the orders come next");
    assert_eq!(
        customers.next_cursor.as_deref(),
        Some(r#"{"customers_from":1772439245000,"phase":"orders"}"#)
    );

    let orders = poll(&host, customers.next_cursor);
    assert!(!orders.more, "the orders were the last list");
    assert_eq!(
        orders.next_cursor.as_deref(),
        Some(r#"{"customers_from":1772439245000,"orders_from":1772529662000,"phase":"customers"}"#)
    );

    let events: Vec<Event> = customers.events.into_iter().chain(orders.events).collect();
    assert_events(&events, format!("{CASSETTES}/sync.events.json"));
    assert!(host.unplayed().is_empty(), "{:?}", host.unplayed());
}

#[test]
fn a_discount_reward_becomes_a_price_rule_and_a_single_use_code() {
    let host = shop("reward");
    let request = || -> RewardRequest { load_json(format!("{CASSETTES}/reward.request.json")) };

    let fulfilment = host.run(|| Shopify::fulfil_reward(request())).unwrap();

    assert_eq!(fulfilment.external_id, "19023847561234");
    assert_eq!(fulfilment.status, FulfilmentStatus::Fulfilled);
    assert_eq!(fulfilment.code.as_deref(), Some("LOYAL-69ZYC3YK"));
    assert_json(&fulfilment, format!("{CASSETTES}/reward.fulfilment.json"));
    assert!(host.unplayed().is_empty(), "{:?}", host.unplayed());

    // A retry answers from state: any request would find the cassette spent.
    let again = host.run(|| Shopify::fulfil_reward(request())).unwrap();
    assert_eq!(
        (again.external_id, again.code),
        (fulfilment.external_id, fulfilment.code)
    );
}

#[test]
fn a_signed_paid_order_webhook_reads_its_company_and_becomes_four_events() {
    let host = shop("order-paid").secret("webhook", b"nordlicht-webhook-secret");
    let request = || load_webhook(format!("{CASSETTES}/order-paid.webhook.json"));

    let delivery = host
        .run(|| Shopify::verify_webhook(request()))
        .unwrap_or_else(|error| panic!("verify-webhook failed: {error:?}"));
    assert_eq!(delivery.id, "3f9b6c1e-2d4a-4e8b-9c7f-5a1d0e2b8c64");
    assert_eq!(delivery.topic, "orders/paid");
    let events = host
        .run(|| Shopify::handle_webhook(request()))
        .unwrap_or_else(|error| panic!("handle-webhook failed: {error:?}"));
    assert_events(&events, format!("{CASSETTES}/order-paid.events.json"));
    assert!(host.unplayed().is_empty(), "{:?}", host.unplayed());

    // One byte more and the signature no longer holds.
    let mut forged = request();
    forged.body.push(b' ');
    let refused = host.run(|| Shopify::verify_webhook(forged));
    assert!(
        matches!(refused, Err(Error::Unauthorized(_))),
        "{refused:?}"
    );
}
