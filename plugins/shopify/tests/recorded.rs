//! Recorded Admin API exchanges replayed on the native test host: a first
//! sync that reads a page of customers, then a page with one B2B order and
//! its company through GraphQL, and a discount reward that becomes a price
//! rule with its single-use code, once however often it is retried. The
//! sync's events compare with `cassettes/sync.events.json`, and every
//! recorded exchange must be asked for.

use loyalty_sdk::prelude::*;
use loyalty_sdk::testing::{Cassette, TestHost, assert_events};
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
    let request = || RewardRequest {
        idempotency_key: "redemption-311".to_owned(),
        redemption_id: "311".to_owned(),
        account_id: "4719362341".to_owned(),
        contact_id: Some("7421853901234".to_owned()),
        kind: RewardKind::Discount,
        reward_id: "voucher-40".to_owned(),
        name: "40 EUR Gutschein".to_owned(),
        offer: Some(Offer {
            id: "voucher-40".to_owned(),
            code: None,
            percent_off: None,
            amount_off: Some(Money {
                amount: "40.00".to_owned(),
                currency: "EUR".to_owned(),
            }),
            ends_at: Some(1_775_001_600_000),
        }),
        attributes: Vec::new(),
    };

    let fulfilment = host.run(|| Shopify::fulfil_reward(request())).unwrap();

    assert_eq!(fulfilment.external_id, "19023847561234");
    assert_eq!(fulfilment.status, FulfilmentStatus::Fulfilled);
    assert_eq!(fulfilment.code.as_deref(), Some("LOYAL-69ZYC3YK"));
    assert!(host.unplayed().is_empty(), "{:?}", host.unplayed());

    // A retry answers from state: any request would find the cassette spent.
    let again = host.run(|| Shopify::fulfil_reward(request())).unwrap();
    assert_eq!(
        (again.external_id, again.code),
        (fulfilment.external_id, fulfilment.code)
    );
}
