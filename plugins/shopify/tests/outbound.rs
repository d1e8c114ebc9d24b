//! Campaign push and reward fulfilment on the native test host: the exact
//! REST bodies sent, what a retry does, and how refusals are reported,
//! against a scripted Admin API.

#![allow(clippy::unwrap_used, reason = "test helpers fail loudly")]

use std::cell::RefCell;
use std::rc::Rc;

use loyalty_sdk::prelude::*;
use loyalty_sdk::testing::TestHost;
use serde_json::{Value, json};
use shopify::Shopify;
use shopify::discount::derived_code;

const SHOP: &str = "acme-tools.myshopify.com";
const API: &str = "https://acme-tools.myshopify.com/admin/api/2024-04";
/// A customer id above 2^53.
const CUSTOMER: &str = "9007199254740995";
/// 2026-01-01T00:00:00Z, the test host's clock.
const NOW: &str = "2026-01-01T00:00:00Z";

/// A scripted shop: answers by method and URL; `codes` are the discount
/// codes that exist (code, price rule id, code id).
struct Script {
    codes: Vec<(String, u64, u64)>,
    /// Customers and their tags; others are unknown (404).
    tags: Vec<(String, String)>,
    /// Status of `POST .../discount_codes.json`.
    code_status: u16,
}

fn answer(status: u16, headers: Vec<Header>, body: Value) -> IncomingResponse {
    IncomingResponse {
        status,
        headers,
        body: body.to_string().into_bytes(),
    }
}

fn host(script: Script) -> TestHost {
    let script = Rc::new(RefCell::new(script));
    TestHost::new()
        .setting("shop_domain", SHOP)
        .respond_with(move |request| {
            let script = script.borrow();
            let path = request.url.strip_prefix(API).unwrap();
            let body: Value = request
                .body
                .as_deref()
                .map_or(Value::Null, |b| serde_json::from_slice(b).unwrap());
            let limit = || vec![Header { name: "X-Shopify-Shop-Api-Call-Limit".into(), value: "3/40".into() }];
            Ok(match (request.method.as_str(), path) {
                ("GET", p) if p.starts_with("/discount_codes/lookup.json?code=") => {
                    let code = p.rsplit('=').next().unwrap();
                    match script.codes.iter().find(|(c, _, _)| c == code) {
                        Some((_, rule, id)) => answer(
                            303,
                            vec![Header {
                                name: "Location".into(),
                                value: format!("{API}/price_rules/{rule}/discount_codes/{id}.json"),
                            }],
                            Value::Null,
                        ),
                        None => answer(404, limit(), json!({"errors": "Not Found"})),
                    }
                }
                ("POST", "/price_rules.json") => answer(
                    201,
                    limit(),
                    json!({"price_rule": merge(&body["price_rule"], json!({"id": 9_007_199_254_750_001_u64}))}),
                ),
                ("POST", "/price_rules/9007199254750001/discount_codes.json") => {
                    if script.code_status == 201 {
                        answer(201, limit(), json!({"discount_code": {
                            "id": 9_007_199_254_760_001_u64,
                            "price_rule_id": 9_007_199_254_750_001_u64,
                            "code": body["discount_code"]["code"],
                            "usage_count": 0,
                            "created_at": "2026-01-01T01:00:00+01:00",
                            "updated_at": "2026-01-01T01:00:00+01:00"
                        }}))
                    } else {
                        answer(script.code_status, limit(), json!({"errors": {"code": ["must be unique. Please try a different code."]}}))
                    }
                }
                ("DELETE", "/price_rules/9007199254750001.json") => answer(204, limit(), Value::Null),
                (method, p) if p.starts_with("/customers/") => {
                    let id = p.trim_start_matches("/customers/").trim_end_matches(".json");
                    match script.tags.iter().find(|(c, _)| c == id) {
                        None => answer(404, limit(), json!({"errors": "Not Found"})),
                        Some((_, tags)) if method == "GET" => {
                            answer(200, limit(), json!({"customer": {"id": 1, "tags": tags}}))
                        }
                        Some(_) => answer(200, limit(), json!({"customer": body["customer"]})),
                    }
                }
                _ => answer(404, Vec::new(), json!({"errors": format!("unexpected {} {path}", request.method)})),
            })
        })
}

fn merge(base: &Value, extra: Value) -> Value {
    let mut merged = base.clone();
    for (k, v) in extra.as_object().unwrap() {
        merged[k] = v.clone();
    }
    merged
}

/// Every request as `METHOD path`, with its JSON body.
fn sent(host: &TestHost) -> Vec<(String, Value)> {
    host.requests()
        .iter()
        .map(|r| {
            (
                format!("{} {}", r.method, r.url.strip_prefix(API).unwrap()),
                r.body
                    .as_deref()
                    .map_or(Value::Null, |b| serde_json::from_slice(b).unwrap()),
            )
        })
        .collect()
}

fn recipient(account: &str, contact: Option<&str>) -> Recipient {
    Recipient {
        account_id: account.to_owned(),
        contact_id: contact.map(str::to_owned),
        email: None,
        fields: Vec::new(),
    }
}

fn offer(percent: Option<&str>, amount: Option<(&str, &str)>) -> Offer {
    Offer {
        id: "spring10".to_owned(),
        code: Some("SPRING10".to_owned()),
        percent_off: percent.map(str::to_owned),
        amount_off: amount.map(|(a, c)| Money {
            amount: a.to_owned(),
            currency: c.to_owned(),
        }),
        ends_at: Some(1_767_225_600_000 + 30 * 86_400_000),
    }
}

fn delivery(recipients: Vec<Recipient>, offer: Option<Offer>) -> CampaignDelivery {
    CampaignDelivery {
        idempotency_key: "spring-2026:shopify:0".to_owned(),
        campaign_id: "spring-2026".to_owned(),
        name: "Spring offer".to_owned(),
        subject: None,
        body: None,
        offer,
        recipients,
    }
}

fn reward(kind: RewardKind, contact: Option<&str>, account: &str) -> RewardRequest {
    RewardRequest {
        idempotency_key: "redemption-7".to_owned(),
        redemption_id: "7".to_owned(),
        account_id: account.to_owned(),
        contact_id: contact.map(str::to_owned),
        kind,
        reward_id: "voucher-25".to_owned(),
        name: "25 EUR voucher".to_owned(),
        offer: Some(Offer {
            id: "voucher-25".to_owned(),
            code: None,
            percent_off: None,
            amount_off: Some(Money {
                amount: "25.00".to_owned(),
                currency: "EUR".to_owned(),
            }),
            ends_at: None,
        }),
        attributes: Vec::new(),
    }
}

fn script() -> Script {
    Script {
        codes: Vec::new(),
        tags: vec![
            (CUSTOMER.to_owned(), "b2b, Großkunde".to_owned()),
            ("42".to_owned(), "loyalty-spring-2026".to_owned()),
        ],
        code_status: 201,
    }
}

mod campaign {
    use super::*;

    #[test]
    fn an_offer_becomes_one_price_rule_and_code_and_recipients_are_tagged() {
        let host = host(script());
        let report = host
            .run(|| {
                Shopify::push_campaign(delivery(
                    vec![
                        recipient("9007199254740997", Some(CUSTOMER)),
                        recipient("customer/42", None),
                        recipient("9007199254740998", None),
                        recipient("9007199254740999", Some("77")),
                    ],
                    Some(offer(Some("10"), None)),
                ))
            })
            .unwrap();
        assert_eq!(report.external_id.as_deref(), Some("9007199254750001"));
        assert_eq!(report.accepted, 2);
        let rejected: Vec<(&str, &str)> = report
            .rejected
            .iter()
            .map(|r| (r.account_id.as_str(), r.reason.as_str()))
            .collect();
        assert_eq!(
            rejected,
            [
                (
                    "9007199254740998",
                    "no Shopify customer: the account has no contact from Shopify"
                ),
                ("9007199254740999", "Shopify has no customer 77"),
            ]
        );

        let sent = sent(&host);
        let calls: Vec<&str> = sent.iter().map(|(c, _)| c.as_str()).collect();
        assert_eq!(
            calls,
            [
                "GET /discount_codes/lookup.json?code=SPRING10",
                "POST /price_rules.json",
                "POST /price_rules/9007199254750001/discount_codes.json",
                "GET /customers/9007199254740995.json",
                "PUT /customers/9007199254740995.json",
                // Customer 42 carries the tag already: read, not written.
                "GET /customers/42.json",
                "GET /customers/77.json",
            ]
        );
        assert_eq!(
            sent[1].1,
            json!({"price_rule": {
                "title": "Spring offer",
                "target_type": "line_item",
                "target_selection": "all",
                "allocation_method": "across",
                "value_type": "percentage",
                "value": "-10.0",
                "customer_selection": "all",
                "once_per_customer": true,
                "starts_at": NOW,
                "ends_at": "2026-01-31T00:00:00Z",
            }})
        );
        assert_eq!(sent[2].1, json!({"discount_code": {"code": "SPRING10"}}));
        assert_eq!(
            sent[4].1.to_string(),
            r#"{"customer":{"id":9007199254740995,"tags":"b2b, Großkunde, loyalty-spring-2026"}}"#
        );
        assert!(
            host.requests()
                .iter()
                .all(|r| r.credential.as_deref() == Some("admin"))
        );
        assert!(host.state("campaign/spring-2026").is_some());
    }

    #[test]
    fn a_later_batch_reuses_the_campaign_discount_from_state() {
        let host = host(script());
        let batch = || {
            delivery(
                vec![recipient("a", Some("42"))],
                Some(offer(Some("10"), None)),
            )
        };
        host.run(|| Shopify::push_campaign(batch())).unwrap();
        let before = host.requests().len();
        let report = host.run(|| Shopify::push_campaign(batch())).unwrap();
        assert_eq!(report.external_id.as_deref(), Some("9007199254750001"));
        let calls: Vec<String> = sent(&host)[before..]
            .iter()
            .map(|(c, _)| c.clone())
            .collect();
        assert_eq!(calls, ["GET /customers/42.json"]);
    }

    #[test]
    fn an_existing_code_is_honoured_without_a_new_price_rule() {
        let mut script = script();
        script.codes.push(("SPRING10".to_owned(), 555, 666));
        let host = host(script);
        let report = host
            .run(|| Shopify::push_campaign(delivery(Vec::new(), Some(offer(Some("10"), None)))))
            .unwrap();
        assert_eq!(report.external_id.as_deref(), Some("555"));
        assert_eq!(host.requests().len(), 1);
    }

    #[test]
    fn a_campaign_without_offer_only_tags() {
        let host = host(script());
        let report = host
            .run(|| Shopify::push_campaign(delivery(vec![recipient("a", Some(CUSTOMER))], None)))
            .unwrap();
        assert_eq!(report.external_id.as_deref(), Some("loyalty-spring-2026"));
        assert_eq!(report.accepted, 1);
        assert_eq!(host.requests().len(), 2);
    }

    #[test]
    fn an_offer_with_two_values_is_invalid_input() {
        let host = host(script());
        let result = host.run(|| {
            Shopify::push_campaign(delivery(
                Vec::new(),
                Some(offer(Some("10"), Some(("5", "EUR")))),
            ))
        });
        assert!(matches!(result, Err(Error::InvalidInput(_))), "{result:?}");
        assert!(host.requests().is_empty());
    }

    #[test]
    fn a_full_call_bucket_stops_before_the_next_request() {
        let host = TestHost::new()
            .setting("shop_domain", SHOP)
            .respond_with(|_| {
                Ok(answer(
                    200,
                    vec![Header {
                        name: "X-Shopify-Shop-Api-Call-Limit".into(),
                        value: "40/40".into(),
                    }],
                    json!({"customer": {"id": 42, "tags": "loyalty-spring-2026"}}),
                ))
            });
        let result = host.run(|| {
            Shopify::push_campaign(delivery(
                vec![recipient("a", Some("42")), recipient("b", Some("43"))],
                None,
            ))
        });
        match result {
            Err(Error::RateLimited(r)) => {
                assert_eq!(r.delay_ms, Some(1000));
                assert!(r.message.contains("40/40"), "{}", r.message);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(host.requests().len(), 1);
    }
}

mod reward {
    use super::*;

    #[test]
    fn a_discount_reward_is_a_single_use_code_for_its_customer() {
        let host = host(script());
        let fulfilment = host
            .run(|| {
                Shopify::fulfil_reward(reward(
                    RewardKind::Discount,
                    Some(CUSTOMER),
                    "9007199254740997",
                ))
            })
            .unwrap();
        let code = derived_code("redemption-7");
        assert_eq!(fulfilment.code.as_deref(), Some(code.as_str()));
        assert_eq!(fulfilment.external_id, "9007199254760001");
        assert_eq!(fulfilment.status, FulfilmentStatus::Fulfilled);

        let sent = sent(&host);
        assert_eq!(
            sent[0].0,
            format!("GET /discount_codes/lookup.json?code={code}")
        );
        assert_eq!(sent[1].0, "POST /price_rules.json");
        assert_eq!(
            sent[1].1,
            json!({"price_rule": {
                "title": "25 EUR voucher (loyalty redemption 7)",
                "target_type": "line_item",
                "target_selection": "all",
                "allocation_method": "across",
                "value_type": "fixed_amount",
                "value": "-25.0",
                "customer_selection": "prerequisite",
                "prerequisite_customer_ids": [9_007_199_254_740_995_u64],
                "usage_limit": 1,
                "once_per_customer": true,
                "starts_at": NOW,
                "ends_at": null,
            }})
        );
        // The customer id stays exact: a JSON number with all its digits.
        let raw = String::from_utf8(host.requests()[1].body.clone().unwrap()).unwrap();
        assert!(
            raw.contains(&format!(r#""prerequisite_customer_ids":[{CUSTOMER}]"#)),
            "{raw}"
        );
        assert_eq!(sent[2].1, json!({"discount_code": {"code": code}}));

        // A retry answers from state.
        let again = host
            .run(|| {
                Shopify::fulfil_reward(reward(
                    RewardKind::Discount,
                    Some(CUSTOMER),
                    "9007199254740997",
                ))
            })
            .unwrap();
        assert_eq!(again.code, fulfilment.code);
        assert_eq!(again.external_id, fulfilment.external_id);
        assert_eq!(host.requests().len(), 3);
    }

    #[test]
    fn a_consumer_account_is_its_customer() {
        let host = host(script());
        host.run(|| Shopify::fulfil_reward(reward(RewardKind::GiftCard, None, "customer/42")))
            .unwrap();
        assert_eq!(
            sent(&host)[1].1["price_rule"]["prerequisite_customer_ids"],
            json!([42])
        );
    }

    #[test]
    fn a_failed_code_deletes_its_price_rule() {
        let mut script = script();
        script.code_status = 503;
        let host = host(script);
        let result =
            host.run(|| Shopify::fulfil_reward(reward(RewardKind::Discount, Some(CUSTOMER), "x")));
        assert!(matches!(result, Err(Error::Transient(_))), "{result:?}");
        let calls: Vec<String> = sent(&host).into_iter().map(|(c, _)| c).collect();
        assert_eq!(
            calls.last().unwrap(),
            "DELETE /price_rules/9007199254750001.json"
        );
        assert!(host.state("reward/redemption-7").is_none());
    }

    #[test]
    fn other_kinds_are_unsupported_naming_the_kind() {
        let host = host(script());
        match host.run(|| Shopify::fulfil_reward(reward(RewardKind::Event, Some(CUSTOMER), "x"))) {
            Err(Error::Unsupported(m)) => assert!(m.contains("`event`"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert!(host.requests().is_empty());
    }

    #[test]
    fn a_company_without_contact_cannot_get_a_personal_code() {
        let host = host(script());
        match host
            .run(|| Shopify::fulfil_reward(reward(RewardKind::Discount, None, "9007199254740997")))
        {
            Err(Error::Permanent(m)) => assert!(m.contains("contact"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_amount_in_another_currency_than_the_shop_is_refused() {
        let host = host(script()).setting("shop_currency", "usd");
        match host.run(|| Shopify::fulfil_reward(reward(RewardKind::Discount, Some(CUSTOMER), "x")))
        {
            Err(Error::Permanent(m)) => assert!(m.contains("USD") && m.contains("EUR"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert!(host.requests().is_empty());
    }
}
