//! The Salesforce connector on the native test host: query pages in, events
//! out; campaigns and rewards out, in Salesforce's REST shapes.

#![allow(clippy::unwrap_used, reason = "test helpers fail loudly")]

use std::cell::RefCell;
use std::rc::Rc;

use loyalty_sdk::prelude::*;
use loyalty_sdk::testing::TestHost;
use salesforce::Salesforce;
use serde_json::{Value, json};

const INSTANCE: &str = "https://acme.my.salesforce.com";
const OPPORTUNITIES: &[u8] = include_bytes!("fixtures/opportunities_page.json");
const ACCOUNT_ID: &str = "001Dn00000Qx7YzIAJ";
const CONTACT_ID: &str = "003Dn00000Lm4NoIAJ";

fn host() -> TestHost {
    TestHost::new()
        .setting("instance_url", INSTANCE)
        .setting("currency", "EUR")
}

/// Decodes a percent-encoded query value.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push(u8::from_str_radix(&text[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// The SOQL of a `queryAll` request, `None` for other requests.
fn soql(request: &OutgoingRequest) -> Option<String> {
    request
        .url
        .split_once("/queryAll?q=")
        .map(|(_, q)| decode(q))
}

/// The object a SOQL statement reads.
fn object_of(soql: &str) -> &str {
    let rest = soql.rsplit(" FROM ").next().unwrap();
    rest.split(' ').next().unwrap()
}

fn empty_page() -> Vec<u8> {
    br#"{"totalSize":0,"done":true,"records":[]}"#.to_vec()
}

fn poll(host: &TestHost, cursor: Option<String>, page_size: u32) -> Result<PollPage, Error> {
    host.run(|| {
        Salesforce::poll(PollRequest {
            cursor,
            page_size,
            since: None,
        })
    })
}

fn purchases(events: &[Event]) -> Vec<&Purchase> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Purchase(p) => Some(p),
            _ => None,
        })
        .collect()
}

mod describe {
    use super::*;

    #[test]
    fn declares_its_credential_hosts_and_settings() {
        let info = Salesforce::describe();
        assert_eq!(info.name, "salesforce");
        assert_eq!(info.credentials, ["api"]);
        assert!(info.secrets.is_empty());
        assert!(
            info.hosts
                .contains(&"https://*.my.salesforce.com".to_owned())
        );
        // The org the operator names is declared through its setting.
        assert_eq!(info.host_settings, ["instance_url"]);
        let required: Vec<&str> = info
            .settings
            .iter()
            .filter(|s| s.required)
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(required, ["instance_url", "currency"]);
        for name in [
            "api_version",
            "purchases",
            "tax_id_field",
            "referral_code_field",
            "sap_number_field",
            "sap_connector",
            "attended_status",
            "campaign_member_status",
        ] {
            let setting = info.settings.iter().find(|s| s.name == name).unwrap();
            assert!(!setting.description.is_empty(), "{name}");
        }
    }
}

mod mapping {
    use super::*;

    /// Polls once with only the Opportunity query answered by the fixture.
    fn opportunity_events(host: TestHost) -> Vec<Event> {
        let host = host.respond(|request| match soql(request) {
            Some(q) if object_of(&q) == "Opportunity" => (200, OPPORTUNITIES.to_vec()),
            _ => (200, empty_page()),
        });
        let cursor = r#"{"stage":"Opportunity","marks":{}}"#.to_owned();
        poll(&host, Some(cursor), 100).unwrap().events
    }

    #[test]
    fn exponent_amounts_and_lines_are_exact_in_the_org_currency() {
        let events = opportunity_events(host());
        let won = purchases(&events)[0];
        assert_eq!(won.id, "006Dn00000A1b2cIAB");
        assert_eq!(won.status, PurchaseStatus::Paid);
        assert_eq!(won.net_amount.amount, "12850");
        assert_eq!(won.net_amount.currency, "EUR");
        assert_eq!(won.account_id.as_deref(), Some(ACCOUNT_ID));
        assert_eq!(won.contact_id.as_deref(), Some(CONTACT_ID));
        // CloseDate 2026-04-30 at midnight UTC.
        assert_eq!(won.placed_at, 1_777_507_200_000);
        let press = &won.lines[0];
        assert_eq!(press.sku.as_deref(), Some("HP-200"));
        assert_eq!(press.title, "Hydraulic press HP-200");
        assert_eq!(press.category.as_deref(), Some("Machines"));
        assert_eq!(press.quantity, 2);
        assert_eq!(press.unit_price.amount, "6000.0");
        assert_eq!(press.discount.amount, "600");
        assert_eq!(press.net_amount.amount, "11400.0");
        let install = &won.lines[1];
        assert_eq!(install.title, "Brandt press line retrofit Installation");
        assert_eq!(install.category, None);
        assert_eq!(install.quantity, 13, "12.5 hours count as 13 units begun");
        assert_eq!(install.discount.amount, "0");
    }

    #[test]
    fn offsets_without_a_colon_become_exact_utc_versions() {
        let events = opportunity_events(host());
        let versions: Vec<u64> = events
            .iter()
            .map(|e| match e {
                Event::Purchase(p) => p.version,
                Event::Deleted(d) => d.version,
                other => panic!("{other:?}"),
            })
            .collect();
        // 07:25:37.000+0000, 09:25:37.250+0200 (= 07:25:37.250Z), 08:00:00+0000.
        assert_eq!(
            versions,
            [1_777_620_337_000, 1_777_620_337_250, 1_777_622_400_000]
        );
    }

    #[test]
    fn a_closed_deal_that_is_not_won_is_cancelled() {
        let events = opportunity_events(host());
        let lost = purchases(&events)[1];
        assert_eq!(lost.status, PurchaseStatus::Cancelled);
        assert_eq!(lost.net_amount.amount, "980.5");
        assert!(lost.lines.is_empty());
    }

    #[test]
    fn records_in_the_recycle_bin_become_deletions() {
        let events = opportunity_events(host());
        match &events[2] {
            Event::Deleted(d) => {
                assert_eq!(d.kind, EntityKind::Purchase);
                assert_eq!(d.id, "006Dn00000A1b2eIAB");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_multi_currency_org_uses_each_records_currency() {
        let mut page: Value = serde_json::from_slice(OPPORTUNITIES).unwrap();
        page["records"][0]["CurrencyIsoCode"] = json!("usd");
        let body = serde_json::to_vec(&page).unwrap();
        let host = host()
            .setting("multi_currency", "true")
            .respond(move |request| match soql(request) {
                Some(q) if object_of(&q) == "Opportunity" => {
                    assert!(q.contains("CurrencyIsoCode"), "{q}");
                    (200, body.clone())
                }
                _ => (200, empty_page()),
            });
        let cursor = r#"{"stage":"Opportunity","marks":{}}"#.to_owned();
        let events = poll(&host, Some(cursor), 100).unwrap().events;
        let won = purchases(&events)[0];
        assert_eq!(won.net_amount.currency, "USD");
        assert_eq!(won.lines[0].net_amount.currency, "USD");
        assert_eq!(purchases(&events)[1].net_amount.currency, "EUR");
    }

    #[test]
    fn a_single_currency_org_never_selects_currency_iso_code() {
        let queries = Rc::new(RefCell::new(Vec::new()));
        let seen = queries.clone();
        let host = host().respond(move |request| {
            seen.borrow_mut().extend(soql(request));
            (200, empty_page())
        });
        poll(&host, None, 10).unwrap();
        assert_eq!(queries.borrow().len(), 5);
        for q in queries.borrow().iter() {
            assert!(!q.contains("CurrencyIsoCode"), "{q}");
        }
    }

    #[test]
    fn accounts_map_country_domain_tax_id_and_sap_number() {
        let page = json!({"totalSize": 1, "done": true, "records": [{
            "attributes": {"type": "Account", "url": "/services/data/v60.0/sobjects/Account/001Dn00000Qx7YzIAJ"},
            "Id": ACCOUNT_ID, "IsDeleted": false, "SystemModstamp": "2026-05-01T07:25:37.000+0000",
            "Name": "Brandt Maschinenbau GmbH", "Industry": "Manufacturing", "NumberOfEmployees": 420,
            "AnnualRevenue": serde_json::from_str::<Value>("8.5E7").unwrap(), "ParentId": null, "BillingCountry": "Germany",
            "Website": "https://www.brandt-maschinenbau.de/en/", "VAT_Number__c": "DE811234567",
            "SAP_BP_Number__c": "0000100042"
        }]});
        let host = host()
            .setting("tax_id_field", "VAT_Number__c")
            .setting("sap_number_field", "SAP_BP_Number__c")
            .setting("sap_connector", "sap-s4")
            .respond(move |request| match soql(request) {
                Some(q) if object_of(&q) == "Account" => {
                    assert!(
                        q.contains(", VAT_Number__c, SAP_BP_Number__c FROM Account"),
                        "{q}"
                    );
                    (200, serde_json::to_vec(&page).unwrap())
                }
                _ => (200, empty_page()),
            });
        let events = poll(&host, None, 10).unwrap().events;
        let Event::Account(account) = &events[0] else {
            panic!("{events:?}")
        };
        assert_eq!(account.name, "Brandt Maschinenbau GmbH");
        assert_eq!(account.country.as_deref(), Some("DE"));
        assert_eq!(account.domain.as_deref(), Some("brandt-maschinenbau.de"));
        assert_eq!(account.tax_id.as_deref(), Some("DE811234567"));
        assert_eq!(account.employees, Some(420));
        assert_eq!(account.annual_revenue.as_ref().unwrap().amount, "85000000");
        assert_eq!(account.external_refs.len(), 1);
        assert_eq!(account.external_refs[0].system, "sap-s4");
        assert_eq!(account.external_refs[0].id, "100042");
    }

    /// The fixture page with a referral code on the won opportunity (padded
    /// with blanks) and a blank one on the lost opportunity.
    fn opportunities_with_referral_codes() -> Vec<u8> {
        let mut page: Value = serde_json::from_slice(OPPORTUNITIES).unwrap();
        page["records"][0]["Referral_Code__c"] = json!("  RW-7K2M9Q4X ");
        page["records"][1]["Referral_Code__c"] = json!("   ");
        serde_json::to_vec(&page).unwrap()
    }

    #[test]
    fn a_configured_referral_code_field_is_selected_and_its_trimmed_value_is_the_code() {
        let body = opportunities_with_referral_codes();
        let host = host()
            .setting("referral_code_field", "Referral_Code__c")
            .respond(move |request| match soql(request) {
                Some(q) if object_of(&q) == "Opportunity" => {
                    assert!(
                        q.contains("CloseDate, Referral_Code__c, (SELECT Id, ProductCode"),
                        "{q}"
                    );
                    (200, body.clone())
                }
                _ => (200, empty_page()),
            });
        let cursor = r#"{"stage":"Opportunity","marks":{}}"#.to_owned();
        let events = poll(&host, Some(cursor), 100).unwrap().events;
        let purchases = purchases(&events);
        assert_eq!(purchases[0].referral_code.as_deref(), Some("RW-7K2M9Q4X"));
        assert_eq!(purchases[1].referral_code, None, "a blank code is no code");
    }

    #[test]
    fn without_the_setting_no_referral_code_is_selected_or_carried() {
        let body = opportunities_with_referral_codes();
        let host = host().respond(move |request| match soql(request) {
            Some(q) => {
                assert!(!q.contains("Referral_Code__c"), "{q}");
                if object_of(&q) == "Opportunity" {
                    (200, body.clone())
                } else {
                    (200, empty_page())
                }
            }
            None => (200, empty_page()),
        });
        let events = poll(&host, None, 100).unwrap().events;
        let purchases = purchases(&events);
        assert_eq!(purchases.len(), 2);
        assert!(purchases.iter().all(|p| p.referral_code.is_none()));
    }

    #[test]
    fn with_orders_as_purchases_the_referral_code_field_is_an_order_field() {
        let page = json!({"totalSize": 1, "done": true, "records": [{
            "attributes": {"type": "Order", "url": "/services/data/v60.0/sobjects/Order/801Dn00000Ab1CdIAJ"},
            "Id": "801Dn00000Ab1CdIAJ", "IsDeleted": false, "SystemModstamp": "2026-05-01T07:25:37.000+0000",
            "AccountId": ACCOUNT_ID, "BillToContactId": CONTACT_ID, "OrderNumber": "00000107",
            "StatusCode": "Activated", "EffectiveDate": "2026-04-30", "TotalAmount": 2400,
            "Referral_Code__c": "RW-7K2M9Q4X", "OrderItems": null
        }]});
        let host = host()
            .setting("purchases", "orders")
            .setting("referral_code_field", "Referral_Code__c")
            .respond(move |request| match soql(request) {
                Some(q) if object_of(&q) == "Order" => {
                    assert!(
                        q.contains("TotalAmount, Referral_Code__c, (SELECT Id, Quantity"),
                        "{q}"
                    );
                    (200, serde_json::to_vec(&page).unwrap())
                }
                Some(q) => {
                    assert!(!q.contains("Referral_Code__c"), "{q}");
                    (200, empty_page())
                }
                None => (200, empty_page()),
            });
        let cursor = r#"{"stage":"Order","marks":{}}"#.to_owned();
        let events = poll(&host, Some(cursor), 100).unwrap().events;
        let order = purchases(&events)[0];
        assert_eq!(order.status, PurchaseStatus::Paid);
        assert_eq!(order.referral_code.as_deref(), Some("RW-7K2M9Q4X"));
    }

    #[test]
    fn a_referral_code_field_that_is_not_an_api_name_is_refused_before_any_query() {
        let host = host()
            .setting("referral_code_field", "Referral_Code__c FROM User")
            .respond(|_| (200, empty_page()));
        match poll(&host, None, 10) {
            Err(Error::Permanent(m)) => {
                assert!(m.contains("`referral_code_field`"), "{m}");
                assert!(m.contains("[connectors.salesforce.settings]"), "{m}");
            }
            other => panic!("{other:?}"),
        }
        assert!(host.requests().is_empty());
    }

    #[test]
    fn bad_record_data_names_the_record_and_the_field() {
        let mut page: Value = serde_json::from_slice(OPPORTUNITIES).unwrap();
        page["records"][1]["CloseDate"] = json!("30.04.2026");
        let body = serde_json::to_vec(&page).unwrap();
        let host = host().respond(move |request| match soql(request) {
            Some(q) if object_of(&q) == "Opportunity" => (200, body.clone()),
            _ => (200, empty_page()),
        });
        let cursor = r#"{"stage":"Opportunity","marks":{}}"#.to_owned();
        match poll(&host, Some(cursor), 100) {
            Err(Error::InvalidInput(m)) => {
                assert!(
                    m.contains("006Dn00000A1b2dIAB") && m.contains("`CloseDate`"),
                    "{m}"
                );
            }
            other => panic!("{other:?}"),
        }
    }
}

mod cursor {
    use super::*;

    fn account(id: &str, modstamp: &str) -> Value {
        json!({"attributes": {"type": "Account", "url": format!("/services/data/v60.0/sobjects/Account/{id}")},
               "Id": id, "IsDeleted": false, "SystemModstamp": modstamp, "Name": format!("Company {id}")})
    }

    #[test]
    fn the_first_sync_has_no_lower_bound_and_reads_the_objects_in_order() {
        let queries = Rc::new(RefCell::new(Vec::new()));
        let seen = queries.clone();
        let host = host().respond(move |request| {
            seen.borrow_mut().extend(soql(request));
            (200, empty_page())
        });
        let page = poll(&host, None, 3).unwrap();
        assert!(!page.more);
        let queries = queries.borrow();
        let objects: Vec<&str> = queries.iter().map(|q| object_of(q)).collect();
        assert_eq!(
            objects,
            [
                "Account",
                "Contact",
                "Opportunity",
                "Contract",
                "CampaignMember"
            ]
        );
        assert_eq!(
            queries[0],
            "SELECT Id, IsDeleted, SystemModstamp, Name, Industry, NumberOfEmployees, AnnualRevenue, ParentId, BillingCountry, Website FROM Account ORDER BY SystemModstamp, Id LIMIT 3"
        );
        assert!(queries[2].ends_with(
            "FROM OpportunityLineItems) FROM Opportunity WHERE IsClosed = true ORDER BY SystemModstamp, Id LIMIT 3"
        ));
        assert!(
            queries[4].contains("WHERE Status = 'Attended' ORDER BY"),
            "{}",
            queries[4]
        );
    }

    #[test]
    fn a_full_page_continues_after_its_last_record_and_the_next_sync_starts_at_the_mark() {
        let queries = Rc::new(RefCell::new(Vec::new()));
        let seen = queries.clone();
        let host = host().respond(move |request| {
            let q = soql(request).unwrap();
            seen.borrow_mut().push(q.clone());
            let records = if object_of(&q) != "Account" {
                vec![]
            } else if q.contains("Id > ") {
                vec![account(
                    "001000000000003AAA",
                    "2026-05-01T07:25:37.000+0000",
                )]
            } else {
                vec![
                    account("001000000000001AAA", "2026-05-01T07:00:00.000+0000"),
                    account("001000000000002AAA", "2026-05-01T07:25:37.000+0000"),
                ]
            };
            let total = records.len();
            (
                200,
                serde_json::to_vec(&json!({"totalSize": total, "done": true, "records": records}))
                    .unwrap(),
            )
        });
        let first = poll(&host, None, 2).unwrap();
        assert!(first.more);
        assert_eq!(first.events.len(), 2);
        let second = poll(&host, first.next_cursor, 2).unwrap();
        assert_eq!(second.events.len(), 1);
        // The rest of the objects have nothing: the sync ends in this call.
        let third = if second.more {
            poll(&host, second.next_cursor, 2).unwrap()
        } else {
            second
        };
        assert!(!third.more);
        let queries = queries.borrow();
        assert!(
            queries[1].contains(
                "WHERE (SystemModstamp > 2026-05-01T07:25:37.000Z OR (SystemModstamp = 2026-05-01T07:25:37.000Z AND Id > '001000000000002AAA')) ORDER BY SystemModstamp, Id LIMIT 2"
            ),
            "{}",
            queries[1]
        );
        let cursor: Value = serde_json::from_str(third.next_cursor.as_deref().unwrap()).unwrap();
        assert_eq!(cursor["stage"], "Account");
        assert_eq!(cursor["marks"]["Account"], "2026-05-01T07:25:37.000Z");
        assert!(cursor.get("after").is_none());

        // The next sync starts every object at its mark, inclusively.
        drop(queries);
        let next = poll(&host, third.next_cursor, 2).unwrap();
        let queries = host.requests();
        let last_account = queries
            .iter()
            .filter_map(soql)
            .rfind(|q| object_of(q) == "Account")
            .unwrap();
        assert!(
            last_account.contains("WHERE SystemModstamp >= 2026-05-01T07:25:37.000Z ORDER BY"),
            "{last_account}"
        );
        assert!(next.more);
    }

    #[test]
    fn batches_follow_next_records_url_and_an_expired_locator_queries_again() {
        let host = host().respond(|request| {
            if request.url.contains("/query/01gD0000002HU6KIAW-2") {
                return (
                    400,
                    br#"[{"message":"invalid query locator","errorCode":"INVALID_QUERY_LOCATOR"}]"#
                        .to_vec(),
                );
            }
            let q = soql(request).unwrap();
            if object_of(&q) != "Account" {
                return (200, empty_page());
            }
            let page = json!({"totalSize": 2, "done": false,
                "nextRecordsUrl": "/services/data/v60.0/query/01gD0000002HU6KIAW-2",
                "records": [account("001000000000001AAA", "2026-05-01T07:00:00.000+0000")]});
            (200, serde_json::to_vec(&page).unwrap())
        });
        let first = poll(&host, None, 2).unwrap();
        assert!(first.more);
        let cursor: Value = serde_json::from_str(first.next_cursor.as_deref().unwrap()).unwrap();
        assert_eq!(
            cursor["next"]["url"],
            "/services/data/v60.0/query/01gD0000002HU6KIAW-2"
        );
        poll(&host, first.next_cursor, 2).unwrap();
        let requests = host.requests();
        assert_eq!(
            requests[1].url,
            format!("{INSTANCE}/services/data/v60.0/query/01gD0000002HU6KIAW-2")
        );
        let retried = soql(&requests[2]).unwrap();
        assert!(retried.contains("Id > '001000000000001AAA'"), "{retried}");
    }

    #[test]
    fn a_backfill_starts_every_object_at_since() {
        let host = host().respond(|_| (200, empty_page()));
        let page = host
            .run(|| {
                Salesforce::poll(PollRequest {
                    cursor: Some(r#"{"stage":"Contract","marks":{}}"#.to_owned()),
                    page_size: 5,
                    since: Some(1_767_225_600_000),
                })
            })
            .unwrap();
        assert!(!page.more);
        let queries: Vec<String> = host.requests().iter().filter_map(soql).collect();
        assert_eq!(queries.len(), 5);
        assert!(
            queries[0].contains("FROM Account WHERE SystemModstamp >= 2026-01-01T00:00:00.000Z")
        );
    }
}

mod errors {
    use super::*;

    fn answer(status: u16, headers: &[(&str, &str)], body: &str) -> TestHost {
        let headers: Vec<Header> = headers
            .iter()
            .map(|(n, v)| Header {
                name: (*n).to_owned(),
                value: (*v).to_owned(),
            })
            .collect();
        let body = body.as_bytes().to_vec();
        host().respond_with(move |_| {
            Ok(IncomingResponse {
                status,
                headers: headers.clone(),
                body: body.clone(),
            })
        })
    }

    #[test]
    fn vendor_answers_map_to_retry_decisions() {
        match poll(&answer(429, &[("Retry-After", "3")], "[]"), None, 2) {
            Err(Error::RateLimited(r)) => assert_eq!(r.delay_ms, Some(3_000)),
            other => panic!("{other:?}"),
        }
        let limit =
            r#"[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]"#;
        match poll(&answer(403, &[], limit), None, 2) {
            Err(Error::RateLimited(r)) => assert_eq!(r.delay_ms, Some(60_000)),
            other => panic!("{other:?}"),
        }
        let session =
            r#"[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]"#;
        assert!(matches!(
            poll(&answer(401, &[], session), None, 2),
            Err(Error::Unauthorized(_))
        ));
        assert!(matches!(
            poll(&answer(500, &[], "[]"), None, 2),
            Err(Error::Transient(_))
        ));
        let field = r#"[{"message":"No such column 'VAT__c' on entity 'Account'.","errorCode":"INVALID_FIELD"}]"#;
        match poll(&answer(400, &[], field), None, 2) {
            Err(Error::Permanent(m)) => assert!(m.contains("VAT__c"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_cursor_that_is_not_ours_is_a_permanent_error() {
        let host = host().respond(|_| (200, empty_page()));
        assert!(matches!(
            poll(&host, Some("page=2".to_owned()), 2),
            Err(Error::Permanent(_))
        ));
    }
}

mod outbound {
    use super::*;

    fn recipient(account: &str, contact: Option<&str>) -> Recipient {
        Recipient {
            account_id: account.to_owned(),
            contact_id: contact.map(str::to_owned),
            email: None,
            fields: Vec::new(),
        }
    }

    fn delivery(recipients: Vec<Recipient>) -> CampaignDelivery {
        CampaignDelivery {
            idempotency_key: "spring-2026:salesforce:1".to_owned(),
            campaign_id: "spring-2026".to_owned(),
            name: "Spring offer".to_owned(),
            subject: Some("10% off in spring".to_owned()),
            body: Some("Dear customer".to_owned()),
            offer: Some(Offer {
                id: "spring10".to_owned(),
                code: Some("SPRING10".to_owned()),
                percent_off: Some("10".to_owned()),
                amount_off: None,
                ends_at: None,
            }),
            recipients,
        }
    }

    /// A contact id numbered `n`.
    fn contact(n: usize) -> String {
        format!("003Dn{n:013}")
    }

    /// An org that creates campaigns, rejects one contact as unknown and
    /// one as already a member.
    fn org() -> TestHost {
        host().respond(|request| {
            let body: Value = serde_json::from_slice(request.body.as_deref().unwrap()).unwrap();
            if request.url.ends_with("/sobjects/Campaign") {
                return (201, br#"{"id":"701Dn000001AbCdIAK","success":true,"errors":[]}"#.to_vec());
            }
            let results: Vec<Value> = body["records"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| match r["ContactId"].as_str().unwrap() {
                    c if c.ends_with("0000000000007") => json!({"success": false, "errors": [
                        {"statusCode": "INVALID_CROSS_REFERENCE_KEY", "message": "invalid cross reference id", "fields": ["ContactId"]}]}),
                    c if c.ends_with("0000000000008") => json!({"success": false, "errors": [
                        {"statusCode": "DUPLICATE_VALUE", "message": "Already a campaign member.", "fields": []}]}),
                    _ => json!({"id": "00vDn000000AaAaIAK", "success": true, "errors": []}),
                })
                .collect();
            (200, serde_json::to_vec(&results).unwrap())
        })
    }

    #[test]
    fn a_campaign_is_created_once_and_members_go_in_chunks_of_200() {
        let host = org();
        let mut recipients: Vec<Recipient> = (0..250)
            .map(|n| recipient(&format!("acc-{n}"), Some(&contact(n))))
            .collect();
        recipients.push(recipient("acc-none", None));
        let report = host
            .run(|| Salesforce::push_campaign(delivery(recipients.clone())))
            .unwrap();
        assert_eq!(report.external_id.as_deref(), Some("701Dn000001AbCdIAK"));
        assert_eq!(
            report.accepted, 249,
            "the duplicate member counts as accepted"
        );
        let reasons: Vec<(&str, &str)> = report
            .rejected
            .iter()
            .map(|r| (r.account_id.as_str(), r.reason.as_str()))
            .collect();
        assert_eq!(reasons.len(), 2, "{reasons:?}");
        assert_eq!(reasons[0].0, "acc-none");
        assert!(reasons[0].1.contains("no Salesforce contact"));
        assert_eq!(reasons[1].0, "acc-7");
        assert!(reasons[1].1.contains("INVALID_CROSS_REFERENCE_KEY"));

        let requests = host.requests();
        assert_eq!(requests.len(), 3);
        assert_eq!(
            requests[0].url,
            format!("{INSTANCE}/services/data/v60.0/sobjects/Campaign")
        );
        assert_eq!(requests[0].credential.as_deref(), Some("api"));
        let campaign: Value = serde_json::from_slice(requests[0].body.as_deref().unwrap()).unwrap();
        assert_eq!(campaign["Name"], "Spring offer");
        assert_eq!(campaign["IsActive"], true);
        assert!(
            campaign["Description"]
                .as_str()
                .unwrap()
                .contains("SPRING10 (10% off)")
        );
        let sizes: Vec<usize> = requests[1..]
            .iter()
            .map(|r| {
                let body: Value = serde_json::from_slice(r.body.as_deref().unwrap()).unwrap();
                assert_eq!(body["allOrNone"], false);
                assert_eq!(body["records"][0]["attributes"]["type"], "CampaignMember");
                assert_eq!(body["records"][0]["CampaignId"], "701Dn000001AbCdIAK");
                assert_eq!(body["records"][0]["Status"], "Sent");
                body["records"].as_array().unwrap().len()
            })
            .collect();
        assert_eq!(sizes, [200, 50]);

        // The next batch reuses the campaign.
        host.run(|| Salesforce::push_campaign(delivery(vec![recipient("a", Some(&contact(1)))])))
            .unwrap();
        assert!(host.requests()[3].url.ends_with("/composite/sobjects"));
    }

    fn reward() -> RewardRequest {
        RewardRequest {
            idempotency_key: "redemption-17".to_owned(),
            redemption_id: "17".to_owned(),
            account_id: ACCOUNT_ID.to_owned(),
            contact_id: Some(CONTACT_ID.to_owned()),
            kind: RewardKind::Service,
            reward_id: "training-day".to_owned(),
            name: "Operator training day".to_owned(),
            offer: None,
            attributes: Vec::new(),
        }
    }

    #[test]
    fn a_reward_becomes_one_task_for_the_account_owner_however_often_it_is_retried() {
        let host = host().respond(|request| {
            if request.method == "GET" {
                (200, br#"{"attributes":{"type":"Account"},"OwnerId":"005Dn000001XyZaIAK","Id":"001Dn00000Qx7YzIAJ"}"#.to_vec())
            } else {
                (201, br#"{"id":"00TDn00000KkLmNIAV","success":true,"errors":[]}"#.to_vec())
            }
        });
        let first = host.run(|| Salesforce::fulfil_reward(reward())).unwrap();
        assert_eq!(first.external_id, "00TDn00000KkLmNIAV");
        assert_eq!(first.status, FulfilmentStatus::Pending);
        let again = host.run(|| Salesforce::fulfil_reward(reward())).unwrap();
        assert_eq!(again.external_id, "00TDn00000KkLmNIAV");
        let requests = host.requests();
        assert_eq!(requests.len(), 2, "the retry sends nothing");
        assert_eq!(
            requests[0].url,
            format!("{INSTANCE}/services/data/v60.0/sobjects/Account/{ACCOUNT_ID}?fields=OwnerId")
        );
        let task: Value = serde_json::from_slice(requests[1].body.as_deref().unwrap()).unwrap();
        assert_eq!(task["WhatId"], ACCOUNT_ID);
        assert_eq!(task["WhoId"], CONTACT_ID);
        assert_eq!(task["OwnerId"], "005Dn000001XyZaIAK");
        assert_eq!(task["Subject"], "Loyalty reward: Operator training day");
        assert_eq!(task["Status"], "Not Started");
        assert!(
            task["Description"]
                .as_str()
                .unwrap()
                .contains("Redemption: 17")
        );
    }
}
