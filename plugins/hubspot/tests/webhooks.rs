//! Webhooks on the native test host: HubSpot's v3 signature (checked
//! against the public test vector of HubSpot's Python SDK), the clock and
//! portal checks, stable delivery ids, and batches read into events.

// clippy.toml allows these inside tests, but not in this file's helpers; a
// helper that cannot read what it built should fail loudly.
#![allow(clippy::unwrap_used, reason = "test helpers fail loudly")]

#[path = "support/portal.rs"]
mod portal;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use hubspot::HubSpot;
use hubspot::webhook::{signed_message, signed_uri};
use loyalty_sdk::prelude::*;
use loyalty_sdk::signature::verify_base64_hmac_sha256;
use portal::{CLIENT_SECRET, PORTAL_ID, host, json, not_found, path, query};
use serde_json::{Value, json};

/// 2026-01-01T00:00:00Z, the test host's clock.
const NOW: i64 = 1_767_225_600_000;
const URL: &str = "https://loyalty.example/webhooks/hubspot";

fn sign(method: &str, url: &str, body: &[u8], timestamp: &str) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(CLIENT_SECRET.as_bytes()).unwrap();
    mac.update(&signed_message(method, url, body, timestamp));
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn header(name: &str, value: &str) -> Header {
    Header {
        name: name.to_owned(),
        value: value.to_owned(),
    }
}

/// A batch posted and signed as HubSpot does, at `timestamp`.
fn delivery(events: &Value, timestamp: i64) -> WebhookRequest {
    let body = events.to_string().into_bytes();
    let ts = timestamp.to_string();
    WebhookRequest {
        method: "POST".to_owned(),
        url: URL.to_owned(),
        headers: vec![
            header("Content-Type", "application/json"),
            header("X-HubSpot-Signature-v3", &sign("POST", URL, &body, &ts)),
            header("X-HubSpot-Request-Timestamp", &ts),
            header("X-HubSpot-Signature-Version", "v1"),
        ],
        body,
    }
}

/// The events HubSpot sends when a contact is created in the CRM: a
/// creation and one property change per filled property, ids as numbers.
fn contact_created(attempt: u32) -> Value {
    json!([
        {"eventId": 2409503945_u64, "subscriptionId": 2426762, "portalId": 143553137, "appId": 2633736,
         "occurredAt": 1767225590000_i64, "subscriptionType": "contact.propertyChange", "attemptNumber": attempt,
         "objectId": 1801, "propertyName": "email", "propertyValue": "jana.brandt@brandt-maschinenbau.example",
         "changeSource": "CRM_UI", "sourceId": "userId:51430432"},
        {"eventId": 4023112300_u64, "subscriptionId": 2426754, "portalId": 143553137, "appId": 2633736,
         "occurredAt": 1767225590000_i64, "subscriptionType": "contact.creation", "attemptNumber": attempt,
         "objectId": 1801, "changeFlag": "CREATED", "changeSource": "CRM_UI", "sourceId": "userId:51430432"},
        {"eventId": 848652288, "subscriptionId": 2426761, "portalId": 143553137, "appId": 2633736,
         "occurredAt": 1767225590000_i64, "subscriptionType": "contact.propertyChange", "attemptNumber": attempt,
         "objectId": 1801, "propertyName": "lastname", "propertyValue": "Brandt",
         "changeSource": "CRM_UI", "sourceId": "userId:51430432"}
    ])
}

fn unauthorized(result: Result<Delivery, Error>) -> String {
    match result {
        Err(Error::Unauthorized(m)) => m,
        other => panic!("expected unauthorized, got {other:?}"),
    }
}

#[test]
fn the_hubspot_python_sdk_vector_is_what_the_connector_signs() {
    let message = signed_message(
        "POST",
        "https://www.example.com/webhook_uri",
        b"{'example_field':'example_value'}",
        "1693657560000",
    );
    assert_eq!(
        message,
        b"POSThttps://www.example.com/webhook_uri{'example_field':'example_value'}1693657560000"
    );
    host().run(|| {
        verify_base64_hmac_sha256(
            "webhook",
            &message,
            "K36dawei4A+QBNolUOqo7s91KQDWQ5MXZ/QufNYuk/Y=",
        )
        .unwrap();
    });
    assert_eq!(
        sign(
            "POST",
            "https://www.example.com/webhook_uri",
            b"{'example_field':'example_value'}",
            "1693657560000"
        ),
        "K36dawei4A+QBNolUOqo7s91KQDWQ5MXZ/QufNYuk/Y="
    );
}

#[test]
fn the_signed_uri_decodes_the_characters_hubspot_decodes() {
    assert_eq!(
        signed_uri("https://loyalty.example/webhooks/hubspot?from=a%3Ab%2Cc%20d%2"),
        "https://loyalty.example/webhooks/hubspot?from=a:b,c%20d%2"
    );
}

#[test]
fn a_signed_batch_is_a_delivery_named_by_its_events() {
    let delivery_first = host()
        .run(|| HubSpot::verify_webhook(delivery(&contact_created(0), NOW - 10_000)))
        .unwrap();
    assert_eq!(
        delivery_first.topic,
        "contact.creation,contact.propertyChange"
    );
    assert!(
        delivery_first.id.starts_with(&format!("{PORTAL_ID}:")),
        "{}",
        delivery_first.id
    );
    let retry = host()
        .run(|| HubSpot::verify_webhook(delivery(&contact_created(3), NOW - 1000)))
        .unwrap();
    assert_eq!(
        retry.id, delivery_first.id,
        "a retry carries the same events"
    );

    let mut other_events = contact_created(0);
    other_events[0]["eventId"] = json!(1);
    let other = host()
        .run(|| HubSpot::verify_webhook(delivery(&other_events, NOW)))
        .unwrap();
    assert_ne!(other.id, delivery_first.id);
}

#[test]
fn the_older_event_type_field_names_the_subscription() {
    let events = json!([{"eventId": 1, "eventType": "deal.deletion", "portalId": 143553137,
                         "objectId": 9001, "occurredAt": NOW - 5000}]);
    let answer = host().run(|| HubSpot::verify_webhook(delivery(&events, NOW)));
    assert_eq!(answer.unwrap().topic, "deal.deletion");
}

#[test]
fn a_wrong_signature_or_secret_is_unauthorized() {
    let mut request = delivery(&contact_created(0), NOW);
    request.body = contact_created(1).to_string().into_bytes();
    let message = unauthorized(host().run(|| HubSpot::verify_webhook(request)));
    assert!(message.contains("does not match"), "{message}");

    let wrong_secret = host().secret("webhook", b"another-app-secret");
    let message = unauthorized(
        wrong_secret.run(|| HubSpot::verify_webhook(delivery(&contact_created(0), NOW))),
    );
    assert!(message.contains("does not match"), "{message}");

    let mut unsigned = delivery(&contact_created(0), NOW);
    unsigned
        .headers
        .retain(|h| !h.name.eq_ignore_ascii_case("X-HubSpot-Signature-v3"));
    let message = unauthorized(host().run(|| HubSpot::verify_webhook(unsigned)));
    assert!(message.contains("X-HubSpot-Signature-v3"), "{message}");
}

#[test]
fn a_request_signed_more_than_five_minutes_away_is_unauthorized() {
    let stale = unauthorized(
        host().run(|| HubSpot::verify_webhook(delivery(&contact_created(0), NOW - 300_001))),
    );
    assert!(stale.contains("older than 5 minutes"), "{stale}");
    let future = unauthorized(
        host().run(|| HubSpot::verify_webhook(delivery(&contact_created(0), NOW + 300_001))),
    );
    assert!(future.contains("future"), "{future}");
    for edge in [NOW - 300_000, NOW + 300_000] {
        host()
            .run(|| HubSpot::verify_webhook(delivery(&contact_created(0), edge)))
            .unwrap();
    }
}

#[test]
fn events_of_another_portal_are_refused() {
    let mut events = contact_created(0);
    events[2]["portalId"] = json!(999);
    let message = unauthorized(host().run(|| HubSpot::verify_webhook(delivery(&events, NOW))));
    assert!(message.contains("portal 999"), "{message}");
}

#[test]
fn a_signed_body_that_is_not_a_batch_is_invalid_input() {
    for body in [json!({"eventId": 1}), json!([])] {
        match host().run(|| HubSpot::verify_webhook(delivery(&body, NOW))) {
            Err(Error::InvalidInput(_)) => {}
            other => panic!("{body}: {other:?}"),
        }
    }
}

#[test]
fn a_batch_reads_each_named_record_once_and_maps_it() {
    let host = host().respond_with(|request| match (request.method.as_str(), path(request)) {
        ("GET", "/crm/v3/objects/contacts/1801") => json(
            200,
            &json!({
                "id": "1801",
                "properties": {"email": "jana.brandt@brandt-maschinenbau.example", "firstname": "Jana",
                               "lastname": "Brandt", "jobtitle": null, "lastmodifieddate": "2025-12-31T23:59:50.000Z",
                               "createdate": "2025-12-31T23:59:50.000Z", "hs_object_id": "1801"},
                "createdAt": "2025-12-31T23:59:50.000Z",
                "updatedAt": "2025-12-31T23:59:50.000Z",
                "archived": false,
                "associations": {"companies": {"results": [
                    {"id": "512", "type": "contact_to_company"},
                    {"id": "512", "type": "contact_to_company_unlabeled"}]}}
            }),
        ),
        other => panic!("unexpected request {other:?}"),
    });
    let events = host
        .run(|| HubSpot::handle_webhook(delivery(&contact_created(0), NOW)))
        .unwrap();
    let requests = host.requests();
    assert_eq!(requests.len(), 1, "three events, one contact, one read");
    assert_eq!(requests[0].credential.as_deref(), Some("api"));
    let query = query(&requests[0]);
    assert!(
        query.contains("properties=email,firstname,lastname,jobtitle"),
        "{query}"
    );
    assert!(query.contains("associations=companies"), "{query}");
    match events.as_slice() {
        [Event::Contact(contact)] => {
            assert_eq!(contact.id, "1801");
            assert_eq!(contact.account_id.as_deref(), Some("512"));
            assert_eq!(contact.version, 1_767_225_590_000);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn deletions_are_deleted_events_and_vanished_records_are_skipped() {
    let events = json!([
        {"eventId": 11, "subscriptionType": "deal.deletion", "portalId": 143553137, "objectId": 9001,
         "occurredAt": 1767225500000_i64, "attemptNumber": 0},
        {"eventId": 12, "subscriptionType": "company.propertyChange", "portalId": 143553137, "objectId": 512,
         "propertyName": "name", "propertyValue": "Brandt", "occurredAt": 1767225500000_i64, "attemptNumber": 0},
        {"eventId": 13, "subscriptionType": "ticket.creation", "portalId": 143553137, "objectId": 4,
         "occurredAt": 1767225500000_i64, "attemptNumber": 0}
    ]);
    let host = host().respond_with(|request| match path(request) {
        "/crm/v3/objects/companies/512" => not_found(),
        other => panic!("unexpected request {other}"),
    });
    let out = host
        .run(|| HubSpot::handle_webhook(delivery(&events, NOW)))
        .unwrap();
    match out.as_slice() {
        [Event::Deleted(deletion)] => {
            assert_eq!(deletion.kind, EntityKind::Purchase);
            assert_eq!(deletion.id, "9001");
            assert_eq!(deletion.version, 1_767_225_500_000);
        }
        other => panic!("{other:?}"),
    }
    assert!(
        host.logs()
            .iter()
            .any(|(level, m)| *level == LogLevel::Warn && m.contains("company 512 is gone")),
        "{:?}",
        host.logs()
    );
}

#[test]
fn an_association_change_reads_the_record_it_starts_from() {
    let events = json!([
        {"eventId": 21, "subscriptionType": "deal.associationChange", "portalId": 143553137,
         "fromObjectId": 9001, "toObjectId": 512, "associationType": "DEAL_TO_COMPANY",
         "associationRemoved": false, "isPrimaryAssociation": true, "occurredAt": 1767225500000_i64}
    ]);
    let host = host().respond_with(|request| match path(request) {
        "/crm/v3/objects/deals/9001" => json(
            200,
            &json!({"id": "9001", "properties": {"amount": "100", "hs_is_closed_won": "true",
                    "hs_lastmodifieddate": "2025-12-31T23:58:20Z", "closedate": "2025-12-30T00:00:00Z"},
                    "associations": {"companies": {"results": [{"id": "512", "type": "deal_to_company"}]}}}),
        ),
        other => panic!("unexpected request {other}"),
    });
    let out = host
        .run(|| HubSpot::handle_webhook(delivery(&events, NOW)))
        .unwrap();
    match out.as_slice() {
        [Event::Purchase(deal)] => {
            assert_eq!(deal.account_id.as_deref(), Some("512"));
            assert_eq!(deal.status, PurchaseStatus::Paid);
            assert!(deal.lines.is_empty());
        }
        other => panic!("{other:?}"),
    }
    assert!(
        query(&host.requests()[0]).contains("associations=companies,contacts,line_items"),
        "{}",
        host.requests()[0].url
    );
}

#[test]
fn a_deal_read_for_a_webhook_carries_its_referral_code() {
    let events = json!([
        {"eventId": 31, "subscriptionType": "deal.propertyChange", "portalId": 143553137, "objectId": 9001,
         "propertyName": "hs_is_closed_won", "propertyValue": "true", "occurredAt": 1767225500000_i64, "attemptNumber": 0}
    ]);
    let host = host()
        .setting("referral_code_property", "referral_code")
        .respond_with(|request| match path(request) {
            "/crm/v3/objects/deals/9001" => json(
                200,
                &json!({"id": "9001", "properties": {"amount": "100", "hs_is_closed_won": "true",
                        "referral_code": " RW-7K2M9Q4X", "hs_lastmodifieddate": "2025-12-31T23:58:20Z",
                        "closedate": "2025-12-30T00:00:00Z"},
                        "associations": {"companies": {"results": [{"id": "513", "type": "deal_to_company"}]}}}),
            ),
            other => panic!("unexpected request {other}"),
        });
    let out = host
        .run(|| HubSpot::handle_webhook(delivery(&events, NOW)))
        .unwrap();
    match out.as_slice() {
        [Event::Purchase(deal)] => {
            assert_eq!(deal.account_id.as_deref(), Some("513"));
            assert_eq!(deal.referral_code.as_deref(), Some("RW-7K2M9Q4X"));
        }
        other => panic!("{other:?}"),
    }
    let requests = host.requests();
    let query = query(&requests[0]);
    assert!(query.contains(",referral_code&associations="), "{query}");
}
