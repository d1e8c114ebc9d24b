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

fn company_answer() -> String {
    r#"{"data":{"company":{"id":"gid://shopify/Company/9007199254740997","name":"Acme Industrie GmbH","externalId":"SAP-100001","note":null,"updatedAt":"2024-04-02T10:00:00Z"}}}"#.to_owned()
}

/// A host whose Admin API serves `customers` and `orders` pages by URL:
/// `pages` maps a URL's path and query (after the API root) to its body and
/// `Link` header.
fn shop(pages: Vec<(&'static str, String, Option<String>)>) -> TestHost {
    TestHost::new()
        .setting("shop_domain", SHOP)
        .setting("admin_base_url", BASE)
        .respond_with(move |request| {
            let path = request
                .url
                .strip_prefix(&format!("{BASE}/admin/api/2024-04/"))
                .unwrap_or(&request.url);
            if path == "graphql.json" {
                return Ok(answer(200, Vec::new(), company_answer()));
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
