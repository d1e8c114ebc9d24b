//! Recorded HubSpot API exchanges replayed on the native test host: two
//! pages of deals read with their company, contact and line item
//! associations and their line items, and a campaign pushed as a new static
//! list of its contacts. The deals' events compare with
//! `cassettes/deals.events.json`, and every recorded exchange must be asked
//! for.

use hubspot::HubSpot;
use loyalty_sdk::prelude::*;
use loyalty_sdk::testing::{Cassette, TestHost, assert_events, assert_json, load_json};

const CASSETTES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cassettes");

/// A host for the recorded portal, answering from cassette `name`.
fn portal(name: &str) -> TestHost {
    let cassette = Cassette::load(format!("{CASSETTES}/{name}.json"))
        .unwrap_or_else(|error| panic!("{error}"));
    TestHost::new()
        .setting("portal_id", "24681357")
        .setting("api_base_url", "https://api.hubapi.com")
        .setting("currency", "EUR")
        .replay(cassette)
}

fn poll(host: &TestHost, cursor: &str) -> PollPage {
    host.run(|| {
        HubSpot::poll(PollRequest {
            cursor: Some(cursor.to_owned()),
            page_size: 2,
            since: None,
        })
    })
    .unwrap_or_else(|error| panic!("poll failed: {error:?}"))
}

#[test]
fn two_pages_of_deals_become_purchases_with_their_company_contact_and_lines() {
    let host = portal("deals");
    // Companies and contacts are read up to 2026-03-02; deals from 2026-03-01.
    let committed = r#"{"stage":"deals","window":1772323200000,"seen":1772323200000,"marks":{"companies":1772409600000,"contacts":1772409600000,"deals":1772323200000,"feedback_submissions":1772323200000}}"#;

    let first = poll(&host, committed);
    assert!(first.more);
    assert_eq!(
        first.next_cursor.as_deref(),
        Some(
            r#"{"stage":"deals","window":1772323200000,"after":"2","seen":1772701364010,"marks":{"companies":1772409600000,"contacts":1772409600000,"deals":1772323200000,"feedback_submissions":1772323200000}}"#
        )
    );

    let second = poll(&host, first.next_cursor.as_deref().unwrap_or_default());
    assert!(second.more, "feedback submissions come next");
    assert_eq!(
        second.next_cursor.as_deref(),
        Some(
            r#"{"stage":"feedback_submissions","window":1772323200000,"seen":1772323200000,"marks":{"companies":1772409600000,"contacts":1772409600000,"deals":1772797500000,"feedback_submissions":1772323200000}}"#
        )
    );

    let events: Vec<Event> = first.events.into_iter().chain(second.events).collect();
    assert_events(&events, format!("{CASSETTES}/deals.events.json"));
    assert!(host.unplayed().is_empty(), "{:?}", host.unplayed());
}

#[test]
fn a_campaign_becomes_a_new_static_list_of_its_contacts() {
    let host = portal("campaign");
    let delivery: CampaignDelivery = load_json(format!("{CASSETTES}/campaign.request.json"));

    let report = host.run(|| HubSpot::push_campaign(delivery)).unwrap();

    assert_eq!(report.external_id.as_deref(), Some("1187"));
    assert_eq!(report.accepted, 2);
    let rejected: Vec<&str> = report
        .rejected
        .iter()
        .map(|r| r.account_id.as_str())
        .collect();
    assert_eq!(rejected, ["19283746677"]);
    assert!(
        report.rejected[0].reason.contains("no HubSpot contact"),
        "{}",
        report.rejected[0].reason
    );
    assert_eq!(
        host.state("list/fruehjahr-2026").as_deref(),
        Some(&b"1187"[..])
    );
    assert_json(&report, format!("{CASSETTES}/campaign.report.json"));
    assert!(host.unplayed().is_empty(), "{:?}", host.unplayed());
}
