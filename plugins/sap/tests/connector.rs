//! The connector's calls through a [`TestHost`]: the queries a cursor
//! builds, paging through `__next` and `$skip`, and idempotent writes.

#![allow(clippy::unwrap_used, reason = "test helpers fail loudly")]

use std::cell::RefCell;
use std::rc::Rc;

use loyalty_sdk::prelude::*;
use loyalty_sdk::testing::TestHost;
use sap::Sap;
use sap::cursor::{Cursor, Stage};
use serde_json::json;

const BASE: &str = "https://my.s4.example";

fn host() -> TestHost {
    TestHost::new()
        .setting("base_url", "https://my.s4.example/")
        .setting("sap_client", "100")
        .setting("sales_organization", "1010")
        .setting("distribution_channel", "10")
}

fn poll(host: &TestHost, cursor: Option<String>, page_size: u32, since: Option<i64>) -> PollPage {
    host.run(|| {
        Sap::poll(PollRequest {
            cursor,
            page_size,
            since,
        })
    })
    .unwrap()
}

/// Decodes the `%XX` escapes of a URL, for readable assertions.
fn decoded(url: &str) -> String {
    let mut out = Vec::new();
    let bytes = url.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push(u8::from_str_radix(&url[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

fn partner(number: &str, changed: &str) -> serde_json::Value {
    json!({"BusinessPartner": number, "BusinessPartnerCategory": "2", "OrganizationBPName1": format!("Org {number}"),
           "CreationDate": "/Date(1700000000000)/", "CreationTime": "PT00H00M00S",
           "LastChangeDate": changed, "LastChangeTime": "PT10H00M00S"})
}

fn sales_order(number: &str, changed_ms: i64) -> serde_json::Value {
    json!({"SalesOrder": number, "SoldToParty": "17100001", "CreationDate": "/Date(1777593600000)/",
           "LastChangeDateTime": format!("/Date({changed_ms}+0000)/"), "TransactionCurrency": "EUR",
           "OverallSDDocumentRejectionSts": "A", "OverallSDProcessStatus": "A",
           "to_Item": {"results": [{"SalesOrderItem": "10", "RequestedQuantity": "1", "NetAmount": "10.00"}]}})
}

#[test]
fn a_first_sync_reads_partners_then_orders_from_the_beginning() {
    let answers = Rc::new(RefCell::new(vec![
        // Partners: one page, not full, with an absolute `__next`.
        json!({"d": {"results": [partner("0017100001", "/Date(1777593600000)/")],
                     "__next": format!("{BASE}/sap/opu/odata/sap/API_BUSINESS_PARTNER/A_BusinessPartner?$skiptoken=X1")}}),
        json!({"d": {"results": [partner("0017100002", "/Date(1777680000000)/")]}}),
        // Orders: a full page, then an empty one.
        json!({"d": {"results": [sales_order("0000001001", 1_777_640_400_000), sales_order("0000001002", 1_777_640_400_000), sales_order("0000001003", 1_777_640_400_000)]}}),
        json!({"d": {"results": []}}),
    ]));
    let queue = answers.clone();
    let host =
        host().respond(move |_| (200, queue.borrow_mut().remove(0).to_string().into_bytes()));

    let page = poll(&host, None, 3, None);
    assert!(page.more);
    assert_eq!(page.events.len(), 1);
    let requests = host.requests();
    let first = decoded(&requests[0].url);
    assert_eq!(
        first,
        format!(
            "{BASE}/sap/opu/odata/sap/API_BUSINESS_PARTNER/A_BusinessPartner?$filter=BusinessPartnerCategory eq '2' and (LastChangeDate ge datetime'1970-01-01T00:00:00' or CreationDate ge datetime'1970-01-01T00:00:00')&$expand=to_BusinessPartnerAddress/to_EmailAddress,to_BusinessPartnerAddress/to_URLAddress,to_BusinessPartnerTax&$orderby=BusinessPartner&$top=3&$format=json&sap-client=100"
        )
    );
    assert!(
        requests[0].url.contains("%20eq%20%272%27"),
        "spaces and quotes are encoded: {}",
        requests[0].url
    );
    assert_eq!(requests[0].credential.as_deref(), Some("api"));

    // The `__next` link is followed, with the client added.
    let page = poll(&host, page.next_cursor, 3, None);
    assert!(page.more, "the orders come next");
    assert_eq!(
        host.requests()[1].url,
        format!(
            "{BASE}/sap/opu/odata/sap/API_BUSINESS_PARTNER/A_BusinessPartner?$skiptoken=X1&sap-client=100"
        )
    );
    let cursor = Cursor::parse(page.next_cursor.as_deref().unwrap()).unwrap();
    assert_eq!(cursor.stage, Stage::Orders);
    // Two partners read in a query asked for three: the pass is over, and
    // the next one starts on the newest partner's day.
    assert_eq!(cursor.partners.since_ms, 1_777_680_000_000);

    let page = poll(&host, page.next_cursor, 3, None);
    assert!(page.more, "a full page may have more behind it");
    assert_eq!(page.events.len(), 3);
    assert!(decoded(&host.requests()[2].url).contains(
        "A_SalesOrder?$filter=LastChangeDateTime ge datetimeoffset'1970-01-01T00:00:00.000Z'&$orderby=LastChangeDateTime,SalesOrder&$expand=to_Item&$top=3&$format=json&sap-client=100"
    ));

    let page = poll(&host, page.next_cursor, 3, None);
    assert!(!page.more);
    let url = decoded(&host.requests()[3].url);
    assert!(
        url.contains("LastChangeDateTime ge datetimeoffset'2026-05-01T13:00:00.000Z'")
            && url.contains("&$skip=3&"),
        "the three orders changed at that instant are skipped: {url}"
    );
    let cursor = Cursor::parse(page.next_cursor.as_deref().unwrap()).unwrap();
    assert_eq!(cursor.stage, Stage::Partners);
    assert!(answers.borrow().is_empty());
}

#[test]
fn a_relative_next_link_resolves_against_the_request() {
    let mut cursor = Cursor::starting_at(0);
    cursor.stage = Stage::Orders;
    let host = host().respond(|request| {
        let body = if request.url.contains("skiptoken") {
            json!({"d": {"results": []}})
        } else {
            json!({"d": {"results": [sales_order("1", 5)], "__next": "A_SalesOrder?$filter=x&$skiptoken=7"}})
        };
        (200, body.to_string().into_bytes())
    });
    let page = poll(&host, Some(cursor.to_json()), 10, None);
    assert!(page.more);
    poll(&host, page.next_cursor, 10, None);
    assert_eq!(
        host.requests()[1].url,
        format!(
            "{BASE}/sap/opu/odata/sap/API_SALES_ORDER_SRV/A_SalesOrder?$filter=x&$skiptoken=7&sap-client=100"
        )
    );
}

#[test]
fn a_backfill_replaces_the_lower_bounds_of_the_first_page() {
    let host = host().respond(|_| (200, br#"{"d":{"results":[]}}"#.to_vec()));
    let mut cursor = Cursor::starting_at(1_900_000_000_000);
    cursor.stage = Stage::Orders;
    // 2026-05-01T13:00:00.123Z
    poll(&host, Some(cursor.to_json()), 5, Some(1_777_640_400_123));
    let url = decoded(&host.requests()[0].url);
    assert!(
        url.contains("A_BusinessPartner?"),
        "a backfill starts with the partners: {url}"
    );
    assert!(
        url.contains("LastChangeDate ge datetime'2026-05-01T00:00:00'"),
        "{url}"
    );
}

#[test]
fn a_partner_pass_pages_by_skip_and_ends_on_the_newest_day() {
    let pages = Rc::new(RefCell::new(vec![
        json!({"d": {"results": [partner("1", "/Date(1777593600000)/"), partner("2", "/Date(1777766400000)/")]}}),
        json!({"d": {"results": [partner("3", "/Date(1777680000000)/")]}}),
    ]));
    let queue = pages.clone();
    let host =
        host().respond(move |_| (200, queue.borrow_mut().remove(0).to_string().into_bytes()));
    let mut start = Cursor::starting_at(1_777_593_600_000);
    start.stage = Stage::Partners;
    let page = poll(&host, Some(start.to_json()), 2, None);
    assert!(page.more);
    let page = poll(&host, page.next_cursor, 2, None);
    let second = decoded(&host.requests()[1].url);
    assert!(second.contains("$top=2&$skip=2&"), "{second}");
    assert!(
        second.contains("ge datetime'2026-05-01T00:00:00'"),
        "the pass keeps its lower bound: {second}"
    );
    let cursor = Cursor::parse(page.next_cursor.as_deref().unwrap()).unwrap();
    assert_eq!(cursor.stage, Stage::Orders);
    // The newest partner changed on 2026-05-03 at 10:00.
    assert_eq!(cursor.partners.since_ms, 1_777_766_400_000);
    assert_eq!(cursor.partners.skip, 0);
}

#[test]
fn a_foreign_cursor_is_a_permanent_error() {
    let host = host();
    let result = host.run(|| {
        Sap::poll(PollRequest {
            cursor: Some("page=2".to_owned()),
            page_size: 5,
            since: None,
        })
    });
    assert!(matches!(result, Err(Error::Permanent(_))), "{result:?}");
    assert!(host.requests().is_empty());
}

fn campaign(offer: Option<Offer>, accounts: &[&str]) -> CampaignDelivery {
    CampaignDelivery {
        idempotency_key: "spring:sap:0".to_owned(),
        campaign_id: "spring".to_owned(),
        name: "Spring".to_owned(),
        subject: None,
        body: None,
        offer,
        recipients: accounts
            .iter()
            .map(|a| Recipient {
                account_id: (*a).to_owned(),
                contact_id: None,
                email: None,
                fields: Vec::new(),
            })
            .collect(),
    }
}

fn percent(value: &str) -> Offer {
    Offer {
        id: "spring10".to_owned(),
        code: None,
        percent_off: Some(value.to_owned()),
        amount_off: None,
        ends_at: None,
    }
}

#[test]
fn a_campaign_creates_one_record_per_account_and_remembers_it() {
    let created = Rc::new(RefCell::new(0));
    let counter = created.clone();
    let host = host().respond(move |request| {
        let body: serde_json::Value = serde_json::from_slice(request.body.as_deref().unwrap()).unwrap();
        if body["Customer"] == "17100004" {
            return (400, br#"{"error":{"code":"VK/021","message":{"lang":"en","value":"Customer 17100004 is blocked"}}}"#.to_vec());
        }
        *counter.borrow_mut() += 1;
        (201, json!({"d": {"ConditionRecord": format!("00000120{:02}", *counter.borrow())}}).to_string().into_bytes())
    });
    let delivery = campaign(Some(percent("10")), &["0017100001", "17100001", "17100004"]);
    let report = host.run(|| Sap::push_campaign(delivery.clone())).unwrap();
    assert_eq!(report.accepted, 2, "two contacts of one account");
    assert_eq!(report.rejected.len(), 1);
    assert_eq!(report.rejected[0].account_id, "17100004");
    assert!(
        report.rejected[0]
            .reason
            .contains("VK/021: Customer 17100004 is blocked")
    );
    let request = &host.requests()[0];
    assert_eq!(request.method, "POST");
    assert_eq!(
        request.url,
        format!(
            "{BASE}/sap/opu/odata/sap/API_SLSPRICINGCONDITIONRECORD_SRV/A_SlsPrcgCndnRecdValidity?sap-client=100"
        )
    );
    assert_eq!(request.credential.as_deref(), Some("api"));
    let body: serde_json::Value = serde_json::from_slice(request.body.as_deref().unwrap()).unwrap();
    assert_eq!(
        body,
        json!({"ConditionType": "ZLOY", "ConditionValidityStartDate": "/Date(1767225600000)/",
               "ConditionValidityEndDate": "/Date(253402214400000)/", "SalesOrganization": "1010",
               "DistributionChannel": "10", "Customer": "17100001",
               "to_SlsPrcgConditionRecord": {"ConditionType": "ZLOY", "ConditionRateValue": "10", "ConditionRateValueUnit": "%"}})
    );
    assert_eq!(
        host.state("campaign/spring:sap:0/17100001").as_deref(),
        Some(&b"12001"[..])
    );

    // A retry of the batch creates nothing for the account already done.
    let report = host.run(|| Sap::push_campaign(delivery)).unwrap();
    assert_eq!(report.accepted, 2);
    assert_eq!(*created.borrow(), 1);
}

#[test]
fn an_outage_before_any_record_fails_the_batch_and_after_one_rejects_the_rest() {
    let host = host().respond(|_| (503, b"Service Unavailable".to_vec()));
    let result = host.run(|| Sap::push_campaign(campaign(Some(percent("10")), &["1", "2"])));
    assert!(matches!(result, Err(Error::Transient(_))), "{result:?}");

    let calls = Rc::new(RefCell::new(0));
    let count = calls.clone();
    let host = host_with_sequence(move || {
        *count.borrow_mut() += 1;
        if *count.borrow() == 1 {
            (201, br#"{"d":{"ConditionRecord":"1"}}"#.to_vec())
        } else {
            (503, Vec::new())
        }
    });
    let report = host
        .run(|| Sap::push_campaign(campaign(Some(percent("10")), &["1", "2", "3"])))
        .unwrap();
    assert_eq!(report.accepted, 1);
    let rejected: Vec<&str> = report
        .rejected
        .iter()
        .map(|r| r.account_id.as_str())
        .collect();
    assert_eq!(rejected, ["2", "3"]);
    assert_eq!(
        *calls.borrow(),
        2,
        "nothing is sent after SAP stops answering"
    );
    assert!(host.state("campaign/spring:sap:0/1").is_some());
}

fn host_with_sequence(mut next: impl FnMut() -> (u16, Vec<u8>) + 'static) -> TestHost {
    host().respond(move |_| next())
}

#[test]
fn campaigns_without_an_offer_and_rewards_other_than_discounts_are_unsupported() {
    let host = host();
    match host.run(|| Sap::push_campaign(campaign(None, &["1"]))) {
        Err(Error::Unsupported(m)) => assert!(m.contains("offers only"), "{m}"),
        other => panic!("{other:?}"),
    }
    let reward = reward(RewardKind::GiftCard);
    match host.run(|| Sap::fulfil_reward(reward)) {
        Err(Error::Unsupported(m)) => assert!(m.contains("gift-card"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(host.requests().is_empty());
}

fn reward(kind: RewardKind) -> RewardRequest {
    RewardRequest {
        idempotency_key: "redemption-7".to_owned(),
        redemption_id: "7".to_owned(),
        account_id: "0017100001".to_owned(),
        contact_id: None,
        kind,
        reward_id: "discount-50".to_owned(),
        name: "50 off".to_owned(),
        offer: Some(Offer {
            id: "discount-50".to_owned(),
            code: None,
            percent_off: None,
            amount_off: Some(Money {
                amount: "50.00".to_owned(),
                currency: "eur".to_owned(),
            }),
            ends_at: None,
        }),
        attributes: Vec::new(),
    }
}

#[test]
fn a_discount_reward_is_one_condition_record_created_once() {
    let host = host()
        .setting("amount_condition_type", "ZLOA")
        .respond(|_| (201, br#"{"d":{"ConditionRecord":"0000012345"}}"#.to_vec()));
    let fulfilment = host
        .run(|| Sap::fulfil_reward(reward(RewardKind::Discount)))
        .unwrap();
    assert_eq!(fulfilment.external_id, "12345");
    assert_eq!(fulfilment.status, FulfilmentStatus::Fulfilled);
    let body: serde_json::Value =
        serde_json::from_slice(host.requests()[0].body.as_deref().unwrap()).unwrap();
    assert_eq!(body["Customer"], "17100001");
    assert_eq!(body["ConditionType"], "ZLOA");
    assert_eq!(
        body["to_SlsPrcgConditionRecord"]["ConditionRateValue"],
        "50"
    );
    assert_eq!(
        body["to_SlsPrcgConditionRecord"]["ConditionRateValueUnit"],
        "EUR"
    );

    let again = host
        .run(|| Sap::fulfil_reward(reward(RewardKind::Discount)))
        .unwrap();
    assert_eq!(again.external_id, "12345");
    assert_eq!(host.requests().len(), 1);
}

#[test]
fn writes_without_a_sales_area_are_a_permanent_error_naming_the_setting() {
    let host = TestHost::new().setting("base_url", BASE);
    match host.run(|| Sap::fulfil_reward(reward(RewardKind::Discount))) {
        Err(Error::Permanent(m)) => assert!(m.contains("`sales_organization`"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(host.requests().is_empty());
}
