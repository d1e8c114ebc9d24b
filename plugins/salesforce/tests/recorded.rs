//! Recorded Salesforce REST exchanges replayed on the native test host: two
//! pages of closed opportunities with their products, the second continuing
//! after the last record of the first, and a reward that becomes a Task for
//! the account's owner. The opportunities' events compare with
//! `cassettes/opportunities.events.json`, and every recorded exchange must
//! be asked for.

use loyalty_sdk::prelude::*;
use loyalty_sdk::testing::{Cassette, TestHost, assert_events, assert_json, load_json};
use salesforce::Salesforce;

const CASSETTES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cassettes");

/// A host for the recorded org, answering from cassette `name`.
fn org(name: &str) -> TestHost {
    let cassette = Cassette::load(format!("{CASSETTES}/{name}.json"))
        .unwrap_or_else(|error| panic!("{error}"));
    TestHost::new()
        .setting("instance_url", "https://nordlicht.my.salesforce.com")
        .setting("currency", "EUR")
        .setting("referral_code_field", "Referral_Code__c")
        .replay(cassette)
}

fn poll(host: &TestHost, cursor: &str) -> PollPage {
    host.run(|| {
        Salesforce::poll(PollRequest {
            cursor: Some(cursor.to_owned()),
            page_size: 2,
            since: None,
        })
    })
    .unwrap_or_else(|error| panic!("poll failed: {error:?}"))
}

#[test]
fn two_pages_of_closed_opportunities_become_purchases_with_their_lines() {
    let host = org("opportunities");
    let committed = r#"{"stage":"Opportunity","marks":{"Account":"2026-03-02T00:00:00.000Z","Contact":"2026-03-02T00:00:00.000Z","Opportunity":"2026-03-01T00:00:00.000Z"}}"#;

    let first = poll(&host, committed);
    assert!(first.more, "a full page may have more behind it");
    assert_eq!(
        first.next_cursor.as_deref(),
        Some(
            r#"{"stage":"Opportunity","marks":{"Account":"2026-03-02T00:00:00.000Z","Contact":"2026-03-02T00:00:00.000Z","Opportunity":"2026-03-06T11:45:00.000Z"},"after":{"modstamp":"2026-03-06T11:45:00.000Z","id":"006Nd00000F9aB7IAJ"}}"#
        )
    );

    let second = poll(&host, first.next_cursor.as_deref().unwrap_or_default());
    assert!(second.more, "contracts come next");
    assert_eq!(
        second.next_cursor.as_deref(),
        Some(
            r#"{"stage":"Contract","marks":{"Account":"2026-03-02T00:00:00.000Z","Contact":"2026-03-02T00:00:00.000Z","Opportunity":"2026-03-09T08:30:12.000Z"}}"#
        )
    );

    let events: Vec<Event> = first.events.into_iter().chain(second.events).collect();
    assert_events(&events, format!("{CASSETTES}/opportunities.events.json"));
    assert!(host.unplayed().is_empty(), "{:?}", host.unplayed());
}

#[test]
fn a_reward_becomes_one_task_for_the_account_owner() {
    let host = org("reward");
    let request = || -> RewardRequest { load_json(format!("{CASSETTES}/reward.request.json")) };

    let fulfilment = host.run(|| Salesforce::fulfil_reward(request())).unwrap();

    assert_eq!(fulfilment.external_id, "00TNd00000LpQ3aIAF");
    assert_eq!(fulfilment.status, FulfilmentStatus::Pending);
    assert_eq!(fulfilment.code, None);
    assert_json(&fulfilment, format!("{CASSETTES}/reward.fulfilment.json"));
    assert!(host.unplayed().is_empty(), "{:?}", host.unplayed());

    // A retry answers from state: any request would find the cassette spent.
    let again = host.run(|| Salesforce::fulfil_reward(request())).unwrap();
    assert_eq!(again.external_id, fulfilment.external_id);
}
