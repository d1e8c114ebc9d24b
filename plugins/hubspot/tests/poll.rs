//! The sync on the native test host: the search bodies the cursor builds,
//! how the cursor moves (pages, the end of a type, the 10,000-result cap),
//! and a page read with its associations and line items.

// clippy.toml allows these inside tests, but not in this file's helpers; a
// helper that cannot read what it built should fail loudly.
#![allow(clippy::unwrap_used, reason = "test helpers fail loudly")]

#[path = "support/portal.rs"]
mod portal;

use hubspot::HubSpot;
use hubspot::crm::ObjectType;
use hubspot::poll::{Cursor, SYNCED};
use hubspot::settings::Settings;
use loyalty_sdk::prelude::*;
use loyalty_sdk::testing::TestHost;
use portal::{body, host, json, path};
use serde_json::json;

fn settings() -> Settings {
    host().run(Settings::load).unwrap()
}

fn poll(
    host: &TestHost,
    cursor: Option<&Cursor>,
    page_size: u32,
    since: Option<i64>,
) -> Result<PollPage, Error> {
    let request = PollRequest {
        cursor: cursor.map(|c| c.encode().unwrap()),
        page_size,
        since,
    };
    host.run(|| HubSpot::poll(request))
}

#[test]
fn the_first_search_asks_for_every_company_oldest_change_first() {
    let search = Cursor::start(0).search(&settings(), 100).unwrap();
    assert_eq!(search.path(), "/crm/v3/objects/companies/search");
    let body = search.body();
    assert_eq!(
        body["filterGroups"],
        json!([{"filters": [{"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": "0"}]}])
    );
    assert_eq!(
        body["sorts"],
        json!([{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}])
    );
    assert_eq!(body["limit"], 100);
    assert!(body.get("after").is_none(), "{body}");
    let properties: Vec<&str> = body["properties"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    for wanted in [
        "name",
        "domain",
        "numberofemployees",
        "hs_parent_company_id",
    ] {
        assert!(properties.contains(&wanted), "{properties:?}");
    }
}

#[test]
fn a_cursor_in_the_middle_of_contacts_searches_lastmodifieddate_after_its_token() {
    let mut cursor = Cursor::start(0);
    cursor.stage = "contacts".to_owned();
    cursor.window = 1_767_225_600_000;
    cursor.after = Some("200".to_owned());
    let body = cursor.search(&settings(), 1000).unwrap().body();
    assert_eq!(
        body["filterGroups"][0]["filters"][0],
        json!({"propertyName": "lastmodifieddate", "operator": "GTE", "value": "1767225600000"})
    );
    assert_eq!(body["sorts"][0]["propertyName"], "lastmodifieddate");
    assert_eq!(body["after"], "200");
    assert_eq!(body["limit"], 200, "HubSpot's largest page");
}

#[test]
fn the_configured_properties_are_searched_too() {
    let host = host()
        .setting("tax_id_property", "vat_number")
        .setting("sap_number_property", "sap_bp_number");
    let settings = host.run(Settings::load).unwrap();
    let body = Cursor::start(0).search(&settings, 10).unwrap().body();
    let properties = body["properties"].as_array().unwrap();
    assert!(properties.contains(&json!("vat_number")), "{body}");
    assert!(properties.contains(&json!("sap_bp_number")), "{body}");
}

#[test]
fn deals_are_searched_with_the_referral_code_property_only_when_it_is_set() {
    let mut cursor = Cursor::start(0);
    cursor.stage = "deals".to_owned();
    let properties = |settings: &Settings| -> Vec<String> {
        let body = cursor.search(settings, 10).unwrap().body();
        serde_json::from_value(body["properties"].clone()).unwrap()
    };
    assert!(
        !properties(&settings()).contains(&"referral_code".to_owned()),
        "nothing extra without the setting"
    );
    let host = host().setting("referral_code_property", " referral_code ");
    let configured = host.run(Settings::load).unwrap();
    let searched = properties(&configured);
    assert!(
        searched.contains(&"referral_code".to_owned()),
        "{searched:?}"
    );
    assert!(
        searched.contains(&"hs_is_closed_won".to_owned()),
        "{searched:?}"
    );
}

#[test]
fn a_referral_code_property_that_is_not_a_property_name_stops_the_sync() {
    let host = host().setting("referral_code_property", "referral code");
    match poll(&host, None, 10, None) {
        Err(Error::Permanent(m)) => {
            assert!(m.contains("`referral_code_property`"), "{m}");
            assert!(m.contains("[connectors.hubspot.settings]"), "{m}");
        }
        other => panic!("{other:?}"),
    }
    assert!(host.requests().is_empty(), "refused before any request");
}

#[test]
fn the_cursor_pages_then_moves_to_the_next_type_from_its_mark() {
    let mut start = Cursor::start(0);
    start.marks.insert("contacts".to_owned(), 500);
    let paged = start.advance(Some(100), Some("2"), 10_000).unwrap();
    assert!(paged.more);
    assert_eq!(paged.cursor.after.as_deref(), Some("2"));
    assert_eq!(paged.cursor.window, 0);
    assert_eq!(paged.cursor.seen, 100);

    let done = paged.cursor.advance(Some(150), None, 10_000).unwrap();
    assert!(done.more);
    assert_eq!(done.cursor.mark(ObjectType::Company), 150);
    assert_eq!(done.cursor.stage, "contacts");
    assert_eq!(
        done.cursor.window, 500,
        "contacts start from their own mark"
    );
    assert_eq!(done.cursor.after, None);

    let empty = done.cursor.advance(None, None, 10_000).unwrap();
    assert_eq!(
        empty.cursor.mark(ObjectType::Contact),
        500,
        "nothing new keeps the mark"
    );
    assert_eq!(empty.cursor.stage, "deals");
}

#[test]
fn the_last_type_ends_the_sync_and_the_next_sync_starts_from_the_marks() {
    let mut cursor = Cursor::start(0);
    cursor.stage = SYNCED[3].path().to_owned();
    cursor.marks.insert("companies".to_owned(), 700);
    let end = cursor.advance(Some(900), None, 10_000).unwrap();
    assert!(!end.more);
    assert_eq!(end.cursor.stage, "companies");
    assert_eq!(end.cursor.window, 700);
    assert_eq!(end.cursor.mark(ObjectType::FeedbackSubmission), 900);
}

#[test]
fn reaching_the_result_cap_starts_a_new_window_at_the_last_change() {
    let cursor = Cursor::start(1000);
    let below = cursor.advance(Some(1500), Some("9800"), 10_000).unwrap();
    assert_eq!(below.cursor.after.as_deref(), Some("9800"));
    let capped = below
        .cursor
        .advance(Some(2000), Some("10000"), 10_000)
        .unwrap();
    assert!(capped.more);
    assert_eq!(capped.cursor.window, 2000);
    assert_eq!(capped.cursor.after, None);
    assert_eq!(capped.cursor.stage, "companies", "the same type goes on");

    // A whole window changed in one millisecond: the next starts after it.
    let host = TestHost::new();
    let stuck = host
        .run(|| Cursor::start(2000).advance(Some(2000), Some("4"), 4))
        .unwrap();
    assert_eq!(stuck.cursor.window, 2001);
    assert!(host.logs().iter().any(|(l, _)| *l == LogLevel::Warn));
}

#[test]
fn an_unreadable_cursor_is_a_permanent_error() {
    let request = PollRequest {
        cursor: Some("page=3".to_owned()),
        page_size: 10,
        since: None,
    };
    match host().run(|| HubSpot::poll(request)) {
        Err(Error::Permanent(m)) => assert!(m.contains("page=3"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_backfill_replaces_the_lower_bound_on_its_first_page() {
    let host = host().respond_with(|request| {
        assert_eq!(path(request), "/crm/v3/objects/companies/search");
        json(200, &json!({"total": 0, "results": []}))
    });
    let mut committed = Cursor::start(0);
    committed.window = 1_800_000_000_000;
    let page = poll(&host, Some(&committed), 50, Some(1_767_225_600_000)).unwrap();
    let sent = body(&host.requests()[0]);
    assert_eq!(
        sent["filterGroups"][0]["filters"][0]["value"],
        "1767225600000"
    );
    let next = Cursor::parse(page.next_cursor.as_deref().unwrap()).unwrap();
    assert_eq!(next.stage, "contacts");
    assert_eq!(
        next.window, 1_767_225_600_000,
        "every type of the backfill starts there"
    );
    assert!(page.more);
}

#[test]
fn a_page_of_deals_reads_associations_and_line_items() {
    let host = host().respond_with(|request| match path(request) {
        "/crm/v3/objects/deals/search" => json(
            200,
            &json!({
                "total": 3,
                "results": [
                    {"id": "9001", "properties": {"amount": "1000.00", "deal_currency_code": "EUR", "hs_is_closed_won": "true",
                     "hs_is_closed_lost": "false", "closedate": "2026-02-01T00:00:00Z", "dealstage": "contractsigned",
                     "hs_lastmodifieddate": "2026-02-01T10:00:00Z"},
                     "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-02-01T10:00:00Z", "archived": false},
                    {"id": "9002", "properties": {"amount": "50", "hs_is_closed_won": "false",
                     "hs_lastmodifieddate": "2026-02-02T10:00:00Z"},
                     "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-02-02T10:00:00Z", "archived": false}
                ],
                "paging": {"next": {"after": "2"}}
            }),
        ),
        "/crm/v4/associations/deals/companies/batch/read" => json(
            200,
            &json!({"status": "COMPLETE", "results": [
                {"from": {"id": "9001"}, "to": [
                    {"toObjectId": 600, "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 341, "label": null}]},
                    {"toObjectId": 512, "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 5, "label": "Primary"},
                                                              {"category": "HUBSPOT_DEFINED", "typeId": 341, "label": null}]}]}
            ], "startedAt": "2026-02-03T00:00:00Z", "completedAt": "2026-02-03T00:00:00Z"}),
        ),
        "/crm/v4/associations/deals/contacts/batch/read" => json(
            207,
            &json!({"status": "COMPLETE", "results": [
                {"from": {"id": "9001"}, "to": [{"toObjectId": 1801, "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 3, "label": null}]}]}
            ], "numErrors": 1, "errors": [{"status": "error", "category": "OBJECT_NOT_FOUND",
               "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND", "context": {"fromObjectId": ["9002"]},
               "message": "No contact is associated with deal 9002."}]}),
        ),
        "/crm/v4/associations/deals/line_items/batch/read" => json(
            200,
            &json!({"status": "COMPLETE", "results": [
                {"from": {"id": "9001"}, "to": [{"toObjectId": 71, "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 19, "label": null}]}]}
            ]}),
        ),
        "/crm/v3/objects/line_items/batch/read" => {
            let sent = body(request);
            assert_eq!(sent["inputs"], json!([{"id": "71"}]));
            json(
                200,
                &json!({"status": "COMPLETE", "results": [
                    {"id": "71", "properties": {"hs_sku": "PRS-200", "name": "Press", "quantity": "1", "price": "1000.00",
                     "hs_total_discount": "0", "amount": "1000.00", "hs_product_type": "inventory"}}
                ]}),
            )
        }
        other => panic!("unexpected request {other}"),
    });
    let mut cursor = Cursor::start(0);
    cursor.stage = "deals".to_owned();
    let page = poll(&host, Some(&cursor), 2, None).unwrap();
    assert!(page.more);
    let next = Cursor::parse(page.next_cursor.as_deref().unwrap()).unwrap();
    assert_eq!(next.stage, "deals");
    assert_eq!(next.after.as_deref(), Some("2"));
    assert_eq!(next.seen, 1_770_026_400_000);
    let association_body = body(&host.requests()[1]);
    assert_eq!(
        association_body,
        json!({"inputs": [{"id": "9001"}, {"id": "9002"}]})
    );
    match page.events.as_slice() {
        [Event::Purchase(won), Event::Purchase(open)] => {
            assert_eq!(
                won.account_id.as_deref(),
                Some("512"),
                "the primary company"
            );
            assert_eq!(won.contact_id.as_deref(), Some("1801"));
            assert_eq!(won.status, PurchaseStatus::Paid);
            assert_eq!(won.lines.len(), 1);
            assert_eq!(won.lines[0].sku.as_deref(), Some("PRS-200"));
            assert_eq!(open.account_id, None);
            assert_eq!(open.status, PurchaseStatus::Pending);
            assert_eq!(open.net_amount.currency, "EUR", "the `currency` setting");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn hubspot_refusals_become_the_right_errors() {
    let limited = host().respond_with(|_| {
        Ok(IncomingResponse {
            status: 429,
            headers: vec![Header {
                name: "Retry-After".to_owned(),
                value: "7".to_owned(),
            }],
            body: br#"{"status":"error","message":"You have reached your secondly limit.","errorType":"RATE_LIMIT","policyName":"SECONDLY"}"#.to_vec(),
        })
    });
    match poll(&limited, None, 10, None) {
        Err(Error::RateLimited(r)) => assert_eq!(r.delay_ms, Some(7000)),
        other => panic!("{other:?}"),
    }
    let invalid = host().respond_with(|_| {
        json(
            400,
            &json!({"status": "error", "message": "There was a problem with the request.", "category": "VALIDATION_ERROR",
                    "errors": [{"message": "Property 'vat_numbr' does not exist"}]}),
        )
    });
    match poll(&invalid, None, 10, None) {
        Err(Error::Permanent(m)) => assert!(m.contains("vat_numbr"), "{m}"),
        other => panic!("{other:?}"),
    }
    let down =
        host().respond_with(|_| json(503, &json!({"status": "error", "message": "unavailable"})));
    assert!(matches!(
        poll(&down, None, 10, None),
        Err(Error::Transient(_))
    ));
}

#[test]
fn feedback_submissions_can_be_left_out() {
    let host = host()
        .setting("feedback_submissions", "false")
        .respond_with(|request| panic!("nothing is searched: {}", request.url));
    let mut cursor = Cursor::start(0);
    cursor.stage = "feedback_submissions".to_owned();
    cursor.marks.insert("companies".to_owned(), 42);
    let page = poll(&host, Some(&cursor), 10, None).unwrap();
    assert!(!page.more);
    assert!(page.events.is_empty());
    let next = Cursor::parse(page.next_cursor.as_deref().unwrap()).unwrap();
    assert_eq!(next.stage, "companies");
    assert_eq!(next.window, 42);
}
