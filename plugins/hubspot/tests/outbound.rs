//! Campaigns and rewards on the native test host: static lists with their
//! memberships, and tasks, in HubSpot's request formats.

// clippy.toml allows these inside tests, but not in this file's helpers; a
// helper that cannot read what it built should fail loudly.
#![allow(clippy::unwrap_used, reason = "test helpers fail loudly")]

#[path = "support/portal.rs"]
mod portal;

use std::cell::RefCell;
use std::rc::Rc;

use hubspot::HubSpot;
use loyalty_sdk::prelude::*;
use loyalty_sdk::testing::TestHost;
use portal::{body, host, json, not_found, path};
use serde_json::json;

fn recipient(account: &str, contact: Option<&str>) -> Recipient {
    Recipient {
        account_id: account.to_owned(),
        contact_id: contact.map(str::to_owned),
        email: None,
        fields: Vec::new(),
    }
}

fn campaign(recipients: Vec<Recipient>) -> CampaignDelivery {
    CampaignDelivery {
        idempotency_key: "spring-2026:hubspot:1".to_owned(),
        campaign_id: "spring-2026".to_owned(),
        name: "Spring offer".to_owned(),
        subject: Some("10% off in spring".to_owned()),
        body: None,
        offer: None,
        recipients,
    }
}

/// A portal whose lists are answered: no list named so yet, list 123
/// created, and contact 404 missing from the CRM.
fn list_portal() -> TestHost {
    host().respond_with(|request| match (request.method.as_str(), path(request)) {
        ("GET", "/crm/v3/lists/object-type-id/0-1/name/Spring%20offer%20%28spring-2026%29") => not_found(),
        ("POST", "/crm/v3/lists/") => json(
            200,
            &json!({"list": {"listId": "123", "listVersion": 1, "name": "Spring offer (spring-2026)",
                    "objectTypeId": "0-1", "processingType": "MANUAL", "processingStatus": "COMPLETE"}}),
        ),
        ("PUT", "/crm/v3/lists/123/memberships/add") => {
            let ids: Vec<String> = serde_json::from_value(body(request)).unwrap();
            let (missing, added): (Vec<_>, Vec<_>) = ids.into_iter().partition(|id| id == "404");
            json(200, &json!({"recordsIdsAdded": added, "recordIdsMissing": missing}))
        }
        other => panic!("unexpected request {other:?}"),
    })
}

#[test]
fn a_campaign_becomes_a_static_list_of_its_contacts() {
    let host = list_portal();
    let report = host
        .run(|| {
            HubSpot::push_campaign(campaign(vec![
                recipient("512", Some("1801")),
                recipient("512", Some("1802")),
                recipient("600", Some("404")),
                recipient("700", None),
                recipient("701", Some("jana@example.com")),
            ]))
        })
        .unwrap();
    assert_eq!(report.external_id.as_deref(), Some("123"));
    assert_eq!(report.accepted, 2);
    let mut reasons: Vec<(String, String)> = report
        .rejected
        .iter()
        .map(|r| (r.account_id.clone(), r.reason.clone()))
        .collect();
    reasons.sort();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(reasons[0].1.contains("no contact 404"), "{reasons:?}");
    assert!(reasons[1].1.contains("no HubSpot contact"), "{reasons:?}");
    assert!(
        reasons[2].1.contains("not a HubSpot record id"),
        "{reasons:?}"
    );

    let requests = host.requests();
    let created = body(&requests[1]);
    assert_eq!(
        created,
        json!({"name": "Spring offer (spring-2026)", "objectTypeId": "0-1", "processingType": "MANUAL"})
    );
    assert_eq!(body(&requests[2]), json!(["1801", "1802", "404"]));
    assert!(
        requests
            .iter()
            .all(|r| r.credential.as_deref() == Some("api"))
    );
    assert_eq!(host.state("list/spring-2026").as_deref(), Some(&b"123"[..]));

    // The next batch of the same campaign reuses the list.
    host.run(|| HubSpot::push_campaign(campaign(vec![recipient("513", Some("1900"))])))
        .unwrap();
    let requests = host.requests();
    assert_eq!(requests.len(), 4);
    assert_eq!(path(&requests[3]), "/crm/v3/lists/123/memberships/add");
}

#[test]
fn a_list_created_by_a_failed_attempt_is_found_by_its_name() {
    let host = host().respond_with(|request| match (request.method.as_str(), path(request)) {
        ("GET", "/crm/v3/lists/object-type-id/0-1/name/Spring%20offer%20%28spring-2026%29") => {
            json(
                200,
                &json!({"list": {"listId": "77", "name": "Spring offer (spring-2026)"}}),
            )
        }
        ("PUT", "/crm/v3/lists/77/memberships/add") => {
            json(200, &json!({"recordsIdsAdded": [], "recordIdsMissing": []}))
        }
        other => panic!("unexpected request {other:?}"),
    });
    let report = host
        .run(|| HubSpot::push_campaign(campaign(vec![recipient("512", Some("1801"))])))
        .unwrap();
    assert_eq!(report.external_id.as_deref(), Some("77"));
    assert_eq!(
        report.accepted, 1,
        "a contact already in the list is accepted"
    );
}

#[test]
fn memberships_are_added_250_at_a_time() {
    let chunks = Rc::new(RefCell::new(Vec::new()));
    let seen = chunks.clone();
    let host = host().respond_with(move |request| match path(request) {
        "/crm/v3/lists/123/memberships/add" => {
            let ids: Vec<String> = serde_json::from_value(body(request)).unwrap();
            seen.borrow_mut().push(ids.len());
            json(
                200,
                &json!({"recordsIdsAdded": ids, "recordIdsMissing": []}),
            )
        }
        other => panic!("unexpected request {other}"),
    });
    host.run(|| host::state_set("list/spring-2026", Some(b"123")));
    let recipients = (0..600)
        .map(|n| recipient(&format!("{}", 10_000 + n), Some(&format!("{}", 20_000 + n))))
        .collect();
    let report = host
        .run(|| HubSpot::push_campaign(campaign(recipients)))
        .unwrap();
    assert_eq!(report.accepted, 600);
    assert_eq!(*chunks.borrow(), vec![250, 250, 100]);
}

fn reward() -> RewardRequest {
    RewardRequest {
        idempotency_key: "redemption-41".to_owned(),
        redemption_id: "41".to_owned(),
        account_id: "512".to_owned(),
        contact_id: Some("1801".to_owned()),
        kind: RewardKind::Discount,
        reward_id: "voucher-50".to_owned(),
        name: "50 EUR voucher".to_owned(),
        offer: Some(Offer {
            id: "voucher-50".to_owned(),
            code: Some("LOYAL-50-41".to_owned()),
            percent_off: None,
            amount_off: Some(Money {
                amount: "50".to_owned(),
                currency: "EUR".to_owned(),
            }),
            ends_at: None,
        }),
        attributes: Vec::new(),
    }
}

#[test]
fn a_reward_becomes_one_task_for_the_company_and_contact() {
    let host = host().respond_with(|request| match (request.method.as_str(), path(request)) {
        ("POST", "/crm/v3/objects/tasks") => json(
            201,
            &json!({"id": "88001", "properties": {"hs_task_status": "NOT_STARTED"},
                    "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z", "archived": false}),
        ),
        other => panic!("unexpected request {other:?}"),
    });
    let fulfilment = host.run(|| HubSpot::fulfil_reward(reward())).unwrap();
    assert_eq!(fulfilment.external_id, "88001");
    assert_eq!(fulfilment.status, FulfilmentStatus::Pending);
    assert_eq!(fulfilment.code.as_deref(), Some("LOYAL-50-41"));
    let task = body(&host.requests()[0]);
    assert_eq!(
        task["properties"]["hs_task_subject"],
        "Loyalty reward: 50 EUR voucher"
    );
    assert_eq!(task["properties"]["hs_task_status"], "NOT_STARTED");
    assert_eq!(
        task["properties"]["hs_timestamp"],
        "2026-01-01T00:00:00.000Z"
    );
    let text = task["properties"]["hs_task_body"].as_str().unwrap();
    assert!(text.contains("Redemption 41"), "{text}");
    assert!(text.contains("LOYAL-50-41"), "{text}");
    assert_eq!(
        task["associations"],
        json!([
            {"to": {"id": "512"}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 192}]},
            {"to": {"id": "1801"}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 204}]}
        ])
    );

    let again = host.run(|| HubSpot::fulfil_reward(reward())).unwrap();
    assert_eq!(again.external_id, "88001");
    assert_eq!(host.requests().len(), 1, "a retry creates no second task");
}
