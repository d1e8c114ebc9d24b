//! Recorded OData V2 exchanges with S/4HANA replayed on the native test
//! host: an incremental sync that reads a page of business partners and
//! then a page of sales orders with their items, and a discount reward
//! created as one pricing condition record. The sync's events compare with
//! `cassettes/sync.events.json`, and every recorded exchange must be asked
//! for.

use loyalty_sdk::prelude::*;
use loyalty_sdk::testing::{Cassette, TestHost, assert_events, assert_json, load_json};
use sap::Sap;

const CASSETTES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cassettes");

/// A host for the recorded system, answering from cassette `name`.
fn system(name: &str) -> TestHost {
    let cassette = Cassette::load(format!("{CASSETTES}/{name}.json"))
        .unwrap_or_else(|error| panic!("{error}"));
    TestHost::new()
        .setting("base_url", "https://my401735-api.s4hana.cloud.sap")
        .setting("sap_client", "100")
        .setting("sales_organization", "1010")
        .setting("distribution_channel", "10")
        .replay(cassette)
}

fn poll(host: &TestHost, cursor: &str) -> PollPage {
    host.run(|| {
        Sap::poll(PollRequest {
            cursor: Some(cursor.to_owned()),
            page_size: 3,
            since: None,
        })
    })
    .unwrap_or_else(|error| panic!("poll failed: {error:?}"))
}

#[test]
fn a_sync_reads_the_changed_partners_then_the_changed_sales_orders() {
    let host = system("sync");
    // The last sync read partners up to 2026-03-01 and orders up to one
    // changed at 2026-03-03T09:21:02Z.
    let committed = r#"{"stage":"partners","partners":{"since_ms":1772323200000,"skip":0,"newest_ms":null},"orders":{"since_ms":1772529662000,"skip":1}}"#;

    let partners = poll(&host, committed);
    assert!(partners.more, "the sales orders come next");
    // Two partners where three were asked for: the pass is over, and the
    // next one starts on the newest partner's day.
    assert_eq!(
        partners.next_cursor.as_deref(),
        Some(
            r#"{"stage":"orders","partners":{"since_ms":1772496000000,"skip":0,"newest_ms":null},"orders":{"since_ms":1772529662000,"skip":1},"taken":0}"#
        )
    );

    let orders = poll(&host, partners.next_cursor.as_deref().unwrap_or_default());
    assert!(!orders.more, "a page short of the page size ends the sync");
    assert_eq!(
        orders.next_cursor.as_deref(),
        Some(
            r#"{"stage":"partners","partners":{"since_ms":1772496000000,"skip":0,"newest_ms":null},"orders":{"since_ms":1772718000000,"skip":1},"taken":0}"#
        )
    );

    let events: Vec<Event> = partners.events.into_iter().chain(orders.events).collect();
    assert_events(&events, format!("{CASSETTES}/sync.events.json"));
    assert!(host.unplayed().is_empty(), "{:?}", host.unplayed());
}

#[test]
fn a_discount_reward_is_one_condition_record_for_the_customer() {
    let host = system("reward");
    let request = || -> RewardRequest { load_json(format!("{CASSETTES}/reward.request.json")) };

    let fulfilment = host.run(|| Sap::fulfil_reward(request())).unwrap();

    assert_eq!(fulfilment.external_id, "12057");
    assert_eq!(fulfilment.status, FulfilmentStatus::Fulfilled);
    assert_json(&fulfilment, format!("{CASSETTES}/reward.fulfilment.json"));
    assert!(host.unplayed().is_empty(), "{:?}", host.unplayed());

    // A retry answers from state: any request would find the cassette spent.
    let again = host.run(|| Sap::fulfil_reward(request())).unwrap();
    assert_eq!(again.external_id, fulfilment.external_id);
}
