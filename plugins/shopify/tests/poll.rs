//! Polling on the native test host: the cursor, the URLs it asks for, the
//! `Link` header it follows, and the pages' events, against a scripted
//! Admin API that answers with our fixtures wrapped in Shopify's list
//! envelopes.

#![allow(clippy::unwrap_used, reason = "test helpers fail loudly")]

use loyalty_sdk::prelude::*;
use loyalty_sdk::testing::TestHost;
use shopify::Shopify;
use shopify::admin::next_page_info;
use shopify::poll::{Cursor, Resource};

const SHOP: &str = "acme-tools.myshopify.com";
const BASE: &str = "http://127.0.0.1:8089";
const ORDER_B2B: &str = include_str!("fixtures/order_b2b.json");
const ORDER_LEGACY: &str = include_str!("fixtures/order_legacy_sparse.json");
const CUSTOMER: &str = include_str!("fixtures/customer_b2b_buyer.json");

/// `2024-04-02T09:15:00+02:00`, the customer's `updated_at`.
const CUSTOMER_UPDATED_MS: i64 = 1_712_042_100_000;
/// `2024-04-03T16:00:02+02:00`, the B2B order's `updated_at`.
const ORDER_UPDATED_MS: i64 = 1_712_152_802_000;

fn header(name: &str, value: &str) -> Header {
    Header {
        name: name.to_owned(),
        value: value.to_owned(),
    }
}

fn answer(status: u16, headers: Vec<Header>, body: String) -> IncomingResponse {
    IncomingResponse {
        status,
        headers,
        body: body.into_bytes(),
    }
}

/// Shopify's answer to a `nodes` query: a company for every id asked for,
/// named after its number, and `null` for the ids in `deleted`.
fn nodes_answer(request: &OutgoingRequest, deleted: &[String]) -> String {
    let body: serde_json::Value =
        serde_json::from_slice(request.body.as_deref().unwrap_or_default()).unwrap();
    assert_eq!(body["query"], shopify::company::QUERY);
    let nodes: Vec<serde_json::Value> = body["variables"]["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|gid| {
            let gid = gid.as_str().unwrap();
            let id = gid.strip_prefix("gid://shopify/Company/").unwrap();
            if deleted.iter().any(|d| d == id) {
                return serde_json::Value::Null;
            }
            serde_json::json!({
                "id": gid,
                "name": company_name(id),
                "externalId": format!("ERP-{id}"),
                "note": null,
                "updatedAt": "2024-04-02T10:00:00Z",
            })
        })
        .collect();
    serde_json::json!({ "data": { "nodes": nodes } }).to_string()
}

/// The name [`nodes_answer`] gives company `id`.
fn company_name(id: &str) -> String {
    format!("Werkzeugbau {id}")
}

/// A host whose Admin API serves `customers` and `orders` pages by URL:
/// `pages` maps a URL's path and query (after the API root) to its body and
/// `Link` header. GraphQL knows every company.
fn shop(pages: Vec<(&'static str, String, Option<String>)>) -> TestHost {
    shop_without(pages, Vec::new())
}

/// [`shop`], where GraphQL knows no company in `deleted`.
fn shop_without(
    pages: Vec<(&'static str, String, Option<String>)>,
    deleted: Vec<String>,
) -> TestHost {
    TestHost::new()
        .setting("shop_domain", SHOP)
        .setting("admin_base_url", BASE)
        .respond_with(move |request| {
            let path = request
                .url
                .strip_prefix(&format!("{BASE}/admin/api/2024-04/"))
                .unwrap_or(&request.url);
            if path == "graphql.json" {
                return Ok(answer(200, Vec::new(), nodes_answer(request, &deleted)));
            }
            match pages.iter().find(|(p, _, _)| *p == path) {
                Some((_, body, link)) => {
                    let mut headers = vec![header("X-Shopify-Shop-Api-Call-Limit", "1/40")];
                    if let Some(link) = link {
                        headers.push(header("Link", link));
                    }
                    Ok(answer(200, headers, body.clone()))
                }
                None => Ok(answer(
                    404,
                    Vec::new(),
                    format!(r#"{{"errors":"Not Found: {path}"}}"#),
                )),
            }
        })
}

fn poll(host: &TestHost, cursor: Option<String>, since: Option<i64>) -> Result<PollPage, Error> {
    host.run(|| {
        Shopify::poll(PollRequest {
            cursor,
            page_size: 2,
            since,
        })
    })
}

fn cursor_of(page: &PollPage) -> Cursor {
    Cursor::parse(page.next_cursor.as_deref().unwrap()).unwrap()
}

mod link_header {
    use super::*;

    #[test]
    fn next_is_found_after_previous() {
        let link = r#"<https://acme.myshopify.com/admin/api/2024-04/orders.json?limit=50&page_info=cHJldg>; rel="previous", <https://acme.myshopify.com/admin/api/2024-04/orders.json?limit=50&page_info=bmV4dA>; rel="next""#;
        assert_eq!(next_page_info(link).as_deref(), Some("bmV4dA"));
    }

    #[test]
    fn only_previous_means_the_last_page() {
        let link = r#"<https://acme.myshopify.com/admin/api/2024-04/orders.json?limit=50&page_info=cHJldg>; rel="previous""#;
        assert_eq!(next_page_info(link), None);
        assert_eq!(next_page_info(""), None);
    }

    #[test]
    fn commas_inside_urls_and_unquoted_rels_are_understood() {
        let link = "<https://a.myshopify.com/admin/api/2024-04/customers.json?fields=id,tags&page_info=YQ%3D%3D&limit=3>;rel=next";
        assert_eq!(next_page_info(link).as_deref(), Some("YQ%3D%3D"));
    }
}

mod cursor {
    use super::*;

    #[test]
    fn the_first_sync_reads_every_customer_oldest_change_first() {
        assert_eq!(
            Cursor::default().query(100),
            "customers.json?limit=100&order=updated_at+asc"
        );
    }

    #[test]
    fn later_passes_filter_on_the_bound_to_the_second() {
        let cursor = Cursor {
            customers_from: Some(CUSTOMER_UPDATED_MS + 999),
            orders_from: Some(ORDER_UPDATED_MS),
            phase: Resource::Orders,
            page_info: None,
            newest: None,
        };
        assert_eq!(
            cursor.query(500),
            "orders.json?status=any&updated_at_min=2024-04-03T14%3A00%3A02Z&limit=250&order=updated_at+asc"
        );
        let customers = Cursor {
            phase: Resource::Customers,
            ..cursor
        };
        assert_eq!(
            customers.query(0),
            "customers.json?updated_at_min=2024-04-02T07%3A15%3A00Z&limit=1&order=updated_at+asc"
        );
    }

    #[test]
    fn a_page_token_goes_alone_with_the_limit() {
        let cursor = Cursor {
            orders_from: Some(ORDER_UPDATED_MS),
            phase: Resource::Orders,
            page_info: Some("bmV4dA".to_owned()),
            ..Cursor::default()
        };
        assert_eq!(cursor.query(3), "orders.json?limit=3&page_info=bmV4dA");
    }

    #[test]
    fn a_pass_goes_through_customers_then_orders_and_keeps_the_newest_change() {
        let mut cursor = Cursor::default();
        assert!(cursor.advance(Some(10), Some("p2".to_owned())));
        assert_eq!(cursor.page_info.as_deref(), Some("p2"));
        assert!(cursor.advance(Some(20), None));
        assert_eq!(cursor.phase, Resource::Orders);
        assert_eq!(cursor.customers_from, Some(20));
        assert_eq!(cursor.page_info, None);
        // An empty orders pass keeps the orders' bound and ends the sync.
        assert!(!cursor.advance(None, None));
        assert_eq!(cursor.phase, Resource::Customers);
        assert_eq!(cursor.orders_from, None);
        assert_eq!(cursor.newest, None);
        assert_eq!(Cursor::parse(&cursor.encode()).unwrap(), cursor);
    }

    #[test]
    fn an_unreadable_cursor_is_permanent() {
        match Cursor::parse("page=2") {
            Err(Error::Permanent(m)) => assert!(m.contains("reset"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}

mod pages {
    use super::*;

    #[test]
    fn a_sync_pages_through_customers_then_orders() {
        let next = format!(
            r#"<{BASE}/admin/api/2024-04/orders.json?limit=2&page_info=b3JkZXJzMg>; rel="next""#
        );
        let host = shop(vec![
            (
                "customers.json?limit=2&order=updated_at+asc",
                format!(r#"{{"customers":[{CUSTOMER}]}}"#),
                None,
            ),
            (
                "orders.json?status=any&limit=2&order=updated_at+asc",
                format!(r#"{{"orders":[{ORDER_LEGACY}]}}"#),
                Some(next),
            ),
            (
                "orders.json?limit=2&page_info=b3JkZXJzMg",
                format!(r#"{{"orders":[{ORDER_B2B}]}}"#),
                None,
            ),
        ]);

        let first = poll(&host, None, None).unwrap();
        assert!(first.more);
        assert!(matches!(&first.events[..], [Event::Contact(c)] if c.id == "9007199254740995"));
        let cursor = cursor_of(&first);
        assert_eq!(cursor.phase, Resource::Orders);
        assert_eq!(cursor.customers_from, Some(CUSTOMER_UPDATED_MS));

        let second = poll(&host, first.next_cursor, None).unwrap();
        assert!(second.more);
        assert!(matches!(second.events.last(), Some(Event::Purchase(p)) if p.id == "408812345"));
        assert_eq!(cursor_of(&second).page_info.as_deref(), Some("b3JkZXJzMg"));

        let third = poll(&host, second.next_cursor, None).unwrap();
        assert!(!third.more);
        let kinds: Vec<&str> = third
            .events
            .iter()
            .map(|e| match e {
                Event::Account(_) => "account",
                Event::Contact(_) => "contact",
                Event::Refund(_) => "refund",
                Event::Purchase(_) => "purchase",
                _ => "other",
            })
            .collect();
        assert_eq!(kinds.first(), Some(&"account"));
        assert_eq!(kinds.last(), Some(&"purchase"));
        let cursor = cursor_of(&third);
        assert_eq!(cursor.phase, Resource::Customers);
        assert_eq!(cursor.orders_from, Some(ORDER_UPDATED_MS));
        assert_eq!(cursor.customers_from, Some(CUSTOMER_UPDATED_MS));

        let urls: Vec<String> = host.requests().iter().map(|r| r.url.clone()).collect();
        assert!(
            host.requests()
                .iter()
                .all(|r| r.credential.as_deref() == Some("admin")),
            "{urls:?}"
        );
        assert_eq!(urls.len(), 4, "three pages and one company read: {urls:?}");
    }

    #[test]
    fn a_backfill_starts_from_since_whatever_the_cursor() {
        let host = shop(vec![(
            "customers.json?updated_at_min=2024-01-01T00%3A00%3A00Z&limit=2&order=updated_at+asc",
            r#"{"customers":[]}"#.to_owned(),
            None,
        )]);
        let cursor = Cursor {
            customers_from: Some(CUSTOMER_UPDATED_MS),
            orders_from: Some(ORDER_UPDATED_MS),
            phase: Resource::Orders,
            page_info: Some("stale".to_owned()),
            newest: None,
        };
        let page = poll(&host, Some(cursor.encode()), Some(1_704_067_200_000)).unwrap();
        assert!(page.events.is_empty());
        assert!(page.more);
        let next = cursor_of(&page);
        assert_eq!(next.phase, Resource::Orders);
        assert_eq!(next.orders_from, Some(1_704_067_200_000));
    }

    #[test]
    fn a_malformed_listed_order_is_invalid_input_naming_it() {
        let bad = ORDER_LEGACY.replacen("\"quantity\": 1", "\"quantity\": \"one\"", 1);
        assert_ne!(bad, ORDER_LEGACY);
        let host = shop(vec![(
            "orders.json?status=any&limit=2&order=updated_at+asc",
            format!(r#"{{"orders":[{ORDER_B2B},{bad}]}}"#),
            None,
        )]);
        let cursor = Cursor {
            phase: Resource::Orders,
            ..Cursor::default()
        };
        match poll(&host, Some(cursor.encode()), None) {
            Err(Error::InvalidInput(m)) => {
                assert!(m.contains("orders[1]"), "{m}");
                assert!(m.contains("quantity"), "{m}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rate_limits_and_outages_map_to_retry_decisions() {
        let host = TestHost::new()
            .setting("shop_domain", SHOP)
            .respond_with(|request| {
                assert!(request.url.starts_with(&format!("https://{SHOP}/admin/api/2024-04/customers.json?")));
                Ok(answer(
                    429,
                    vec![header("Retry-After", "2.0")],
                    r#"{"errors":"Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."}"#.to_owned(),
                ))
            });
        match poll(&host, None, None) {
            Err(Error::RateLimited(r)) => assert_eq!(r.delay_ms, Some(2000)),
            other => panic!("{other:?}"),
        }
        let host = TestHost::new()
            .setting("shop_domain", SHOP)
            .respond(|_| {
                (
                    401,
                    br#"{"errors":"[API] Invalid API key or access token (unrecognized login or wrong password)"}"#.to_vec(),
                )
            });
        assert!(matches!(
            poll(&host, None, None),
            Err(Error::Unauthorized(_))
        ));
    }
}

mod companies {
    use super::*;
    use serde_json::{Value, json};

    const COMPANY_BASE: u64 = 7_100_000_000_000;
    const ORDER_BASE: u64 = 5_400_000_000_000;

    /// The B2B order fixture as order `n`, placed for company `company`.
    fn order(n: u64, company: u64) -> Value {
        let mut order: Value = serde_json::from_str(ORDER_B2B).unwrap();
        order["id"] = json!(ORDER_BASE + n);
        order["company"]["id"] = json!(company);
        order
    }

    fn page(orders: &[Value]) -> String {
        json!({ "orders": orders }).to_string()
    }

    /// A cursor for the orders page `orders.json?limit=2&page_info={token}`.
    fn at_page(token: &str) -> Option<String> {
        let cursor = Cursor {
            phase: Resource::Orders,
            page_info: Some(token.to_owned()),
            ..Cursor::default()
        };
        Some(cursor.encode())
    }

    /// The company ids of each GraphQL request so far, sorted.
    fn asked(host: &TestHost) -> Vec<Vec<u64>> {
        host.requests()
            .iter()
            .filter(|r| r.url.ends_with("/graphql.json"))
            .map(|r| {
                let body: Value = serde_json::from_slice(r.body.as_deref().unwrap()).unwrap();
                let mut ids: Vec<u64> = body["variables"]["ids"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|gid| {
                        let gid = gid.as_str().unwrap();
                        gid.strip_prefix("gid://shopify/Company/")
                            .unwrap()
                            .parse()
                            .unwrap()
                    })
                    .collect();
                ids.sort_unstable();
                ids
            })
            .collect()
    }

    fn companies(range: std::ops::Range<u64>) -> Vec<u64> {
        range.map(|n| COMPANY_BASE + n).collect()
    }

    /// Checks that every purchase follows its company's account, as GraphQL
    /// named it, and returns the company of each purchase.
    fn purchases_with_their_accounts(events: &[Event]) -> Vec<(String, String)> {
        let mut account = None;
        let mut purchases = Vec::new();
        for event in events {
            match event {
                Event::Account(a) => account = Some(a),
                Event::Purchase(p) => {
                    let a = account.take().unwrap();
                    assert_eq!(p.account_id.as_deref(), Some(a.id.as_str()), "{p:?}");
                    assert_eq!(a.name, company_name(&a.id));
                    assert_eq!(a.external_refs.len(), 1, "{a:?}");
                    assert_eq!(a.external_refs[0].id, format!("ERP-{}", a.id));
                    purchases.push((p.id.clone(), a.id.clone()));
                }
                _ => {}
            }
        }
        purchases
    }

    #[test]
    fn a_page_from_120_companies_reads_them_in_one_request() {
        // One order from each of 120 companies, and a second from the first.
        let mut orders: Vec<Value> = (0..120).map(|n| order(n, COMPANY_BASE + n)).collect();
        orders.push(order(120, COMPANY_BASE));
        let host = shop(vec![(
            "orders.json?limit=2&page_info=many",
            page(&orders),
            None,
        )]);

        let polled = poll(&host, at_page("many"), None).unwrap();

        assert_eq!(host.requests().len(), 2, "the page and one GraphQL read");
        assert_eq!(asked(&host), [companies(0..120)]);
        let want: Vec<(String, String)> = (0..121)
            .map(|n| {
                let company = COMPANY_BASE + n % 120;
                ((ORDER_BASE + n).to_string(), company.to_string())
            })
            .collect();
        assert_eq!(purchases_with_their_accounts(&polled.events), want);
        for id in companies(0..120) {
            let cached: Value =
                serde_json::from_slice(&host.state(&format!("company/{id}")).unwrap()).unwrap();
            assert_eq!(cached["company"]["name"], company_name(&id.to_string()));
        }
    }

    #[test]
    fn companies_fresh_in_the_cache_are_not_read_again() {
        let first: Vec<Value> = (0..60).map(|n| order(n, COMPANY_BASE + n)).collect();
        let second: Vec<Value> = (0..120).map(|n| order(100 + n, COMPANY_BASE + n)).collect();
        let host = shop(vec![
            ("orders.json?limit=2&page_info=first", page(&first), None),
            ("orders.json?limit=2&page_info=second", page(&second), None),
        ]);
        let start = 1_767_225_600_000;
        poll(&host.clone().at(start), at_page("first"), None).unwrap();
        assert_eq!(asked(&host), [companies(0..60)]);

        // Half the companies of the next page were read a minute ago.
        let polled = poll(&host.clone().at(start + 60_000), at_page("second"), None).unwrap();
        assert_eq!(asked(&host), [companies(0..60), companies(60..120)]);
        assert_eq!(purchases_with_their_accounts(&polled.events).len(), 120);

        // Within company_cache_seconds, the page reads nothing.
        let again = poll(&host.clone().at(start + 120_000), at_page("second"), None).unwrap();
        assert_eq!(asked(&host).len(), 2);
        assert_eq!(
            purchases_with_their_accounts(&again.events),
            purchases_with_their_accounts(&polled.events)
        );
    }

    #[test]
    fn more_companies_than_one_query_takes_are_read_250_at_a_time() {
        let orders: Vec<Value> = (0..300).map(|n| order(n, COMPANY_BASE + n)).collect();
        let host = shop(vec![(
            "orders.json?limit=2&page_info=many",
            page(&orders),
            None,
        )]);

        let polled = poll(&host, at_page("many"), None).unwrap();

        let asked = asked(&host);
        assert_eq!(
            asked.iter().map(Vec::len).collect::<Vec<_>>(),
            [shopify::company::NODES_MAX, 50]
        );
        assert_eq!(asked.concat(), companies(0..300));
        assert_eq!(purchases_with_their_accounts(&polled.events).len(), 300);
    }

    #[test]
    fn a_company_missing_from_a_batch_is_permanent_naming_it() {
        let orders: Vec<Value> = (0..80).map(|n| order(n, COMPANY_BASE + n)).collect();
        let missing = COMPANY_BASE + 7;
        let host = shop_without(
            vec![("orders.json?limit=2&page_info=many", page(&orders), None)],
            vec![missing.to_string()],
        );
        match poll(&host, at_page("many"), None) {
            Err(Error::Permanent(m)) => {
                assert!(
                    m.contains(&format!("gid://shopify/Company/{missing}")),
                    "{m}"
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
