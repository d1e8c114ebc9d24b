//! The Shopify connector's polling and outbound calls end to end: the real
//! `loyaltyd` with the official `shopify.wasm`, syncing customers and orders
//! from the emulated Admin API page by page, pushing a campaign as customer
//! tags and a discount code, and fulfilling a reward as a single-use code.
//!
//! Every test runs its own emulator and daemon. The shop's data is put in
//! the emulator before the daemon starts, because the daemon syncs once at
//! start; later syncs are started through the admin API. Program: 2 points
//! per EUR, rounded down.
//!
//! The shop: Brandt Maschinenbau (company A) with its buyer Jana and her
//! colleague Tim, Nordlicht Logistik (company B) whose buyer exists only
//! inside her orders, and a consumer without a company.
//!
//! | order | account | status | net EUR | points |
//! |---|---|---|---|---|
//! | the sample B2B order | A | paid | 1044.05 | 2088 |
//! | Tim's torque wrenches | A | paid | 100.00 | 200 |
//! | Nordlicht's torque wrenches | B | paid | 100.00 | 200 |
//! | Nordlicht's second order | B | pending | 100.00 | 0 |
//! | the consumer's torque wrenches | consumer | paid | 100.00 | 200 |

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

use std::time::Duration;

use axum::http::Method;
use loyalty_e2e::daemon::admin::{LedgerEntry, SyncStatus};
use loyalty_e2e::daemon::{Daemon, ProgramRules, Setup, ShopifySetup, Snapshot, random_token};
use loyalty_e2e::official_plugin;
use loyalty_e2e::shopify::rest::{CompanyRef, LineItem};
use loyalty_e2e::shopify::samples::{
    self, API_VERSION, COMPANY_ID, COMPANY_LOCATION_ID, CUSTOMER_ID, SHOP_DOMAIN,
};
use loyalty_e2e::shopify::{
    Cents, Company, Customer, Failure, Order, RequestMatch, ShopifyEmulator, WebhookSender,
};
use serde_json::{Value, json};

const WEBHOOK_SECRET: &str = "e2e-shopify-app-webhook-secret";
const ACCESS_TOKEN: &str = "shpat_e2e0000000000000000000000000";
const SOURCE: &str = "shopify";

const COLLEAGUE_ID: u64 = 9_007_199_254_741_401;
const COMPANY_B_ID: u64 = 9_007_199_254_741_301;
const COMPANY_B_BUYER_ID: u64 = 9_007_199_254_741_303;
const CONSUMER_ID: u64 = 9_007_199_254_741_501;

const ORDER_TIM: u64 = 9_007_199_254_741_403;
const ORDER_B_PAID: u64 = 9_007_199_254_741_305;
const ORDER_B_PENDING: u64 = 9_007_199_254_741_307;
const ORDER_CONSUMER: u64 = 9_007_199_254_741_503;

/// The newest customer change: Tim's, `2026-01-12T10:30:00+01:00`.
const NEWEST_CUSTOMER_UTC: &str = "2026-01-12T09:30:00Z";
/// The newest order change: the consumer's, `2026-03-06T18:00:00+01:00`.
const NEWEST_ORDER_UTC: &str = "2026-03-06T17:00:00Z";

fn company_b() -> Company {
    Company {
        id: COMPANY_B_ID,
        name: "Nordlicht Logistik AG".to_owned(),
        external_id: None,
        note: None,
        created_at: "2025-12-01T08:00:00Z".to_owned(),
        updated_at: "2025-12-01T08:00:00Z".to_owned(),
    }
}

fn person(id: u64, email: &str, first: &str, last: &str, updated_at: &str) -> Customer {
    let mut customer = samples::buyer();
    customer.id = id;
    customer.email = email.to_owned();
    customer.first_name = first.to_owned();
    customer.last_name = last.to_owned();
    customer.updated_at = updated_at.to_owned();
    customer
}

fn colleague() -> Customer {
    person(
        COLLEAGUE_ID,
        "tim.kuhn@brandt-maschinenbau.example",
        "Tim",
        "Kuhn",
        "2026-01-12T10:30:00+01:00",
    )
}

fn company_b_buyer() -> Customer {
    person(
        COMPANY_B_BUYER_ID,
        "einkauf@nordlicht-logistik.example",
        "Ole",
        "Hansen",
        "2025-12-01T09:00:00+01:00",
    )
}

fn consumer() -> Customer {
    let mut consumer = person(
        CONSUMER_ID,
        "max.mustermann@mail.example",
        "Max",
        "Mustermann",
        "2025-12-20T19:45:00+01:00",
    );
    consumer.address.company = None;
    consumer
}

/// A paid single-line order of 2 x 50.00 EUR = 100.00 net: 200 points.
fn hundred_euro_order(
    id: u64,
    company: Option<CompanyRef>,
    customer: Customer,
    updated_at: &str,
) -> Order {
    let mut order = samples::paid(samples::b2b_order(), updated_at);
    order.id = id;
    order.number = 1100 + id % 100;
    order.company = company;
    order.customer = customer;
    order.discount_code = None;
    order.created_at = "2026-03-03T12:00:00+01:00".to_owned();
    order.lines = vec![LineItem {
        id: id + 10,
        product_id: 8_412_345_670_003,
        variant_id: 45_123_456_780_003,
        title: "Torque wrench".to_owned(),
        variant_title: "40-200 Nm".to_owned(),
        sku: "TQW-200".to_owned(),
        vendor: "Acme Tools".to_owned(),
        quantity: 2,
        unit_price: Cents(5000),
        line_discount: Cents(0),
        grams: 1400,
    }];
    order
}

fn company_a() -> Option<CompanyRef> {
    Some(CompanyRef {
        id: COMPANY_ID,
        location_id: COMPANY_LOCATION_ID,
    })
}

fn company_b_ref() -> Option<CompanyRef> {
    Some(CompanyRef {
        id: COMPANY_B_ID,
        location_id: 9_007_199_254_741_302,
    })
}

fn sample_order() -> Order {
    samples::paid(samples::b2b_order(), "2026-03-05T16:40:12+01:00")
}

fn pending_order_b() -> Order {
    let mut order = hundred_euro_order(
        ORDER_B_PENDING,
        company_b_ref(),
        company_b_buyer(),
        "2026-03-04T08:00:00+01:00",
    );
    order.financial_status = "pending".to_owned();
    order
}

/// The emulated shop with every customer and order of the table above.
async fn shop() -> ShopifyEmulator {
    let emulator = ShopifyEmulator::start(ACCESS_TOKEN).await.unwrap();
    emulator.put_company(samples::company());
    emulator.put_company(company_b());
    // Nordlicht's buyer is not in the customer list: she exists only
    // inside her orders.
    for customer in [samples::buyer(), colleague(), consumer()] {
        emulator.put_customer(&customer);
    }
    for order in [
        sample_order(),
        hundred_euro_order(
            ORDER_TIM,
            company_a(),
            colleague(),
            "2026-03-03T12:30:00+01:00",
        ),
        hundred_euro_order(
            ORDER_B_PAID,
            company_b_ref(),
            company_b_buyer(),
            "2026-03-03T15:00:00+01:00",
        ),
        pending_order_b(),
        hundred_euro_order(
            ORDER_CONSUMER,
            None,
            consumer(),
            "2026-03-06T18:00:00+01:00",
        ),
    ] {
        emulator.put_order(&order);
    }
    emulator
}

/// A daemon polling the emulator `page_size` records at a time (once at
/// start, then only when asked), with `extra` TOML.
async fn daemon(emulator: &ShopifyEmulator, page_size: u32, extra: &str) -> Daemon {
    daemon_and_token(emulator, page_size, extra).await.0
}

/// [`daemon`] and its admin token.
async fn daemon_and_token(
    emulator: &ShopifyEmulator,
    page_size: u32,
    extra: &str,
) -> (Daemon, String) {
    let setup = Setup {
        admin_token: random_token().unwrap(),
        program: ProgramRules::default(),
        shopify: Some(ShopifySetup {
            plugin: official_plugin("shopify"),
            shop_domain: SHOP_DOMAIN.to_owned(),
            api_version: API_VERSION.to_owned(),
            admin_base_url: emulator.base_url(),
            webhook_secret: WEBHOOK_SECRET.to_owned(),
            admin_access_token: ACCESS_TOKEN.to_owned(),
        }),
        extra_toml: format!(
            "[connectors.shopify.poll]\ninterval_seconds = 3600\npage_size = {page_size}\n\n{extra}"
        ),
        secrets: Vec::new(),
    };
    (Daemon::start(&setup).await.unwrap(), setup.admin_token)
}

/// Waits until the daemon's syncs since it started have ended `ended`
/// times (completed or failed).
async fn syncs_ended(daemon: &Daemon, ended: u64) -> SyncStatus {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let status = daemon.admin().sync_status(SOURCE).await.unwrap();
        if status.completed + status.failures >= ended && !status.running {
            return status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the sync did not end: {status:?}\n{}",
            daemon.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn snapshot(daemon: &Daemon) -> Snapshot {
    daemon.admin().snapshot().await.unwrap()
}

fn balance(state: &Snapshot, id: &str) -> Option<i64> {
    state.balance_of(SOURCE, id)
}

fn entries(state: &Snapshot, id: &str) -> Vec<(String, i64, String)> {
    state
        .ledger_of(SOURCE, id)
        .map(|l| {
            l.entries
                .iter()
                .map(|e: &LedgerEntry| (e.kind.clone(), e.points, e.reference.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// The balances the whole shop earns: A 2088 + 200, B 200 (its pending
/// order earns nothing yet), the consumer 200.
fn assert_whole_shop(state: &Snapshot) {
    let a = COMPANY_ID.to_string();
    let b = COMPANY_B_ID.to_string();
    let consumer = format!("customer/{CONSUMER_ID}");
    assert_eq!(balance(state, &a), Some(2288), "{state:#?}");
    assert_eq!(balance(state, &b), Some(200), "{state:#?}");
    assert_eq!(balance(state, &consumer), Some(200), "{state:#?}");
    assert_eq!(
        entries(state, &a),
        [
            ("earn".to_owned(), 200, ORDER_TIM.to_string()),
            ("earn".to_owned(), 2088, samples::ORDER_ID.to_string()),
        ]
    );
    assert_eq!(
        entries(state, &b),
        [("earn".to_owned(), 200, ORDER_B_PAID.to_string())]
    );
    assert!(state.dead_letters.is_empty(), "{:#?}", state.dead_letters);
}

/// The REST list requests (not GraphQL) received, as `path?query`.
fn list_requests(emulator: &ShopifyEmulator) -> Vec<String> {
    emulator
        .requests()
        .into_iter()
        .filter(|r| {
            r.path_only().ends_with("customers.json") || r.path_only().ends_with("orders.json")
        })
        .map(|r| r.path)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_initial_sync_across_pages_brings_every_account_contact_and_purchase() {
    let emulator = shop().await;
    let daemon = daemon(&emulator, 2, "").await;
    let status = syncs_ended(&daemon, 1).await;
    assert_eq!(status.completed, 1, "{status:?}");
    assert_eq!(status.last_error, None);
    // Customers in 2 pages (2 + 1), orders in 3 (2 + 2 + 1).
    assert_eq!(status.pages, 5, "{status:?}");

    let state = snapshot(&daemon).await;
    assert_whole_shop(&state);
    assert_eq!(state.accounts.len(), 3, "{state:#?}");
    let a = state
        .account_known_as(SOURCE, &COMPANY_ID.to_string())
        .unwrap();
    assert_eq!(a.name, "Brandt Maschinenbau GmbH");
    let jana = a.contact(SOURCE, &CUSTOMER_ID.to_string()).unwrap();
    assert_eq!(
        jana.email.as_deref(),
        Some("jana.brandt@brandt-maschinenbau.example")
    );
    assert!(a.contact(SOURCE, &COLLEAGUE_ID.to_string()).is_some());
    let b = state
        .account_known_as(SOURCE, &COMPANY_B_ID.to_string())
        .unwrap();
    assert_eq!(b.name, "Nordlicht Logistik AG");
    assert!(b.contact(SOURCE, &COMPANY_B_BUYER_ID.to_string()).is_some());

    let token = |i: usize| -> String {
        let requests = emulator.requests_to(".json");
        requests
            .iter()
            .filter(|r| {
                r.path_only().ends_with("orders.json") || r.path_only().ends_with("customers.json")
            })
            .nth(i)
            .and_then(|r| r.query("page_info"))
            .unwrap_or_default()
    };
    let lists = list_requests(&emulator);
    let prefix = "/admin/api/2024-04/";
    assert_eq!(
        lists,
        [
            format!("{prefix}customers.json?limit=2&order=updated_at+asc"),
            format!("{prefix}customers.json?limit=2&page_info={}", token(1)),
            format!("{prefix}orders.json?status=any&limit=2&order=updated_at+asc"),
            format!("{prefix}orders.json?limit=2&page_info={}", token(3)),
            format!("{prefix}orders.json?limit=2&page_info={}", token(4)),
        ]
    );
    assert!(
        emulator
            .requests()
            .iter()
            .all(|r| r.header("x-shopify-access-token") == Some(ACCESS_TOKEN))
    );
    assert_eq!(emulator.refused_requests(), 0);
    // Each company read once, then from the connector's cache.
    assert_eq!(emulator.company_reads(COMPANY_ID), 1);
    assert_eq!(emulator.company_reads(COMPANY_B_ID), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_of_orders_from_more_companies_than_requests_allowed_per_call_syncs() {
    // 120 companies, each with one paid 100 EUR order from its own buyer,
    // all on one page: read one by one, the companies alone would pass the
    // host's default of 50 requests per call.
    const COMPANIES: u64 = 120;
    const FIRST_COMPANY_ID: u64 = 9_007_199_254_760_000;
    let emulator = ShopifyEmulator::start(ACCESS_TOKEN).await.unwrap();
    let companies: Vec<u64> = (0..COMPANIES).map(|n| FIRST_COMPANY_ID + n * 100).collect();
    for (n, &id) in companies.iter().enumerate() {
        emulator.put_company(Company {
            id,
            name: format!("Werkzeugbau {n} GmbH"),
            external_id: None,
            note: None,
            created_at: "2025-12-01T08:00:00Z".to_owned(),
            updated_at: "2025-12-01T08:00:00Z".to_owned(),
        });
        let buyer = person(
            id + 1,
            &format!("einkauf@werkzeugbau-{n}.example"),
            "Kim",
            "Becker",
            "2025-12-01T09:00:00+01:00",
        );
        emulator.put_order(&hundred_euro_order(
            id + 2,
            Some(CompanyRef {
                id,
                location_id: id + 3,
            }),
            buyer,
            "2026-03-03T12:30:00+01:00",
        ));
    }
    let daemon = daemon(&emulator, 250, "").await;
    let status = syncs_ended(&daemon, 1).await;
    assert_eq!(status.completed, 1, "{status:?}\n{}", daemon.log());
    assert_eq!(status.last_error, None);

    let state = snapshot(&daemon).await;
    assert!(state.dead_letters.is_empty(), "{:#?}", state.dead_letters);
    for (n, &id) in companies.iter().enumerate() {
        let account = state.account_known_as(SOURCE, &id.to_string()).unwrap();
        assert_eq!(account.name, format!("Werkzeugbau {n} GmbH"));
        assert_eq!(
            entries(&state, &id.to_string()),
            [("earn".to_owned(), 200, (id + 2).to_string())]
        );
        assert_eq!(emulator.company_reads(id), 1, "company {id}");
    }
    // Every company of the page in one GraphQL request.
    assert_eq!(emulator.requests_to("graphql.json").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incremental_sync_reads_from_the_committed_cursor_and_applies_only_changes() {
    let emulator = shop().await;
    let daemon = daemon(&emulator, 2, "").await;
    syncs_ended(&daemon, 1).await;
    let before = snapshot(&daemon).await;
    assert_whole_shop(&before);
    let cursor = daemon
        .admin()
        .sync_status(SOURCE)
        .await
        .unwrap()
        .cursor
        .unwrap();
    let seen = emulator.requests().len();

    // Nordlicht pays its pending order; Jana changes her email.
    emulator.put_order(&samples::paid(
        pending_order_b(),
        "2026-03-08T09:00:00+01:00",
    ));
    let mut jana = samples::buyer();
    jana.email = "jana@brandt-maschinenbau.example".to_owned();
    jana.updated_at = "2026-03-08T10:00:00+01:00".to_owned();
    emulator.put_customer(&jana);

    let status = daemon.admin().sync(SOURCE).await.unwrap();
    assert_eq!(status.last_error, None, "{status:?}");
    assert_eq!(status.completed, 2);
    assert_ne!(status.cursor.as_deref(), Some(cursor.as_str()));

    let requests = emulator.requests()[seen..].to_vec();
    let customers = requests
        .iter()
        .find(|r| r.path_only().ends_with("customers.json"))
        .unwrap();
    assert_eq!(
        customers.query("updated_at_min").as_deref(),
        Some(NEWEST_CUSTOMER_UTC)
    );
    let orders = requests
        .iter()
        .find(|r| r.path_only().ends_with("orders.json"))
        .unwrap();
    assert_eq!(
        orders.query("updated_at_min").as_deref(),
        Some(NEWEST_ORDER_UTC)
    );
    assert_eq!(orders.query("status").as_deref(), Some("any"));
    // Only changed records (and those changed in the bound's second) come
    // back: Tim and Jana; the consumer's order and Nordlicht's paid one.
    assert_eq!(requests.len(), 2, "one page each: {requests:#?}");

    let after = snapshot(&daemon).await;
    let b = COMPANY_B_ID.to_string();
    assert_eq!(balance(&after, &b), Some(400));
    assert_eq!(
        entries(&after, &b),
        [
            ("earn".to_owned(), 200, ORDER_B_PAID.to_string()),
            ("earn".to_owned(), 200, ORDER_B_PENDING.to_string()),
        ]
    );
    // Unchanged records produced no new entries.
    let a = COMPANY_ID.to_string();
    assert_eq!(entries(&after, &a), entries(&before, &a));
    let consumer = format!("customer/{CONSUMER_ID}");
    assert_eq!(entries(&after, &consumer), entries(&before, &consumer));
    let jana = after
        .account_known_as(SOURCE, &a)
        .and_then(|acc| acc.contact(SOURCE, &CUSTOMER_ID.to_string()))
        .unwrap();
    assert_eq!(
        jana.email.as_deref(),
        Some("jana@brandt-maschinenbau.example")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_killed_between_pages_resumes_from_the_committed_cursor() {
    let emulator = shop().await;
    // The second orders page waits until the test lets it through.
    let gate = emulator.hold_next(RequestMatch::path("orders.json").query_contains("page_info="));
    let daemon = daemon(&emulator, 2, "").await;
    assert!(
        gate.arrived(Duration::from_secs(30)).await,
        "{}",
        daemon.log()
    );
    let held = emulator.requests_to("orders.json").last().unwrap().clone();
    // Fetching a page overlaps committing the one before: wait until every
    // page before the held one has committed.
    let before_held = emulator.requests_to("customers.json").len()
        + emulator.requests_to("orders.json").len()
        - 1;
    daemon
        .admin()
        .sync_committed(SOURCE, |s| s.pages >= before_held as u64)
        .await
        .unwrap();
    let before_kill = emulator.requests().len();

    daemon.kill().unwrap();
    daemon.restart().await.unwrap();
    gate.open();
    let status = syncs_ended(&daemon, 1).await;
    assert_eq!(status.completed, 1, "{status:?}");

    // The restarted daemon went on with the page it was waiting for, not
    // from the start.
    let resumed: Vec<String> = emulator.requests()[before_kill..]
        .iter()
        .filter(|r| {
            r.path_only().ends_with("customers.json") || r.path_only().ends_with("orders.json")
        })
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(resumed.first(), Some(&held.path), "{resumed:#?}");
    assert!(
        resumed.iter().all(|p| !p.contains("customers.json")),
        "{resumed:#?}"
    );
    // Nothing lost, nothing doubled.
    assert_whole_shop(&snapshot(&daemon).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_page_is_retried_no_sooner_than_retry_after() {
    let emulator = shop().await;
    emulator.fail_next(
        RequestMatch::path("orders.json").method(Method::GET),
        Failure::RateLimited {
            retry_after: "2.0".to_owned(),
        },
    );
    let daemon = daemon(&emulator, 2, "").await;
    let status = syncs_ended(&daemon, 1).await;
    assert_eq!(status.completed, 1, "{status:?}");

    let orders = emulator.requests_to("orders.json");
    // The refused first page, then the same page again.
    assert_eq!(orders[0].path, orders[1].path);
    let waited = orders[1].at.duration_since(orders[0].at);
    assert!(waited >= Duration::from_secs(2), "retried after {waited:?}");
    assert_whole_shop(&snapshot(&daemon).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_delivered_by_webhook_and_by_poll_earns_once() {
    let emulator = ShopifyEmulator::start(ACCESS_TOKEN).await.unwrap();
    emulator.put_company(samples::company());
    let daemon = daemon(&emulator, 2, "").await;
    syncs_ended(&daemon, 1).await;
    let webhooks = WebhookSender::new(daemon.base_url(), WEBHOOK_SECRET, SHOP_DOMAIN, API_VERSION);
    let a = COMPANY_ID.to_string();

    let order = sample_order();
    let answer = webhooks
        .send("orders/paid", "wh-paid-1", &order.body())
        .await
        .unwrap();
    assert_eq!(answer.status, 200, "{answer:?}");
    daemon
        .wait_until("the webhook earns 2088", |s| {
            s.balance_of(SOURCE, &a) == Some(2088)
        })
        .await
        .unwrap();

    // The same order, then listed by the Admin API.
    emulator.put_customer(&samples::buyer());
    emulator.put_order(&order);
    let status = daemon.admin().sync(SOURCE).await.unwrap();
    assert_eq!(status.last_error, None, "{status:?}");
    assert!(emulator.requests_to("orders.json").len() >= 2);
    let state = snapshot(&daemon).await;
    assert_eq!(
        entries(&state, &a),
        [("earn".to_owned(), 2088, samples::ORDER_ID.to_string())]
    );
    assert!(state.dead_letters.is_empty(), "{:#?}", state.dead_letters);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_is_pushed_as_customer_tags_and_one_discount_code() {
    let emulator = shop().await;
    let daemon = daemon(&emulator, 50, "").await;
    syncs_ended(&daemon, 1).await;
    let state = snapshot(&daemon).await;
    let id_of = |source_id: &str| state.account_known_as(SOURCE, source_id).unwrap().id;
    let accounts = [
        id_of(&COMPANY_ID.to_string()),
        id_of(&COMPANY_B_ID.to_string()),
        id_of(&format!("customer/{CONSUMER_ID}")),
    ];
    let campaign = json!({
        "campaign_id": "spring-2026",
        "name": "Spring offer",
        "subject": "10 % off until May",
        "offer": {"id": "spring10", "code": "SPRING10", "percent_off": "10", "ends_at": 1_777_593_600_000_i64},
        "accounts": accounts,
    });
    let report = daemon
        .admin()
        .push_campaign(SOURCE, &campaign)
        .await
        .unwrap();
    let batches = report["batches"].as_array().unwrap();
    assert_eq!(batches.len(), 1, "{report}");
    let batch = &batches[0];
    // Jana, Tim and the consumer; Nordlicht's buyer is no customer there.
    assert_eq!(batch["accepted"], 3, "{report}");
    let rejected = batch["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 1, "{report}");
    assert_eq!(rejected[0]["account_id"], COMPANY_B_ID.to_string());
    assert_eq!(
        rejected[0]["reason"],
        format!("Shopify has no customer {COMPANY_B_BUYER_ID}")
    );

    let rules = emulator.price_rules();
    assert_eq!(rules.len(), 1, "{rules:#?}");
    let rule = &rules[0];
    assert_eq!(batch["external_id"], rule["id"].to_string());
    for (field, want) in [
        ("title", json!("Spring offer")),
        ("value_type", json!("percentage")),
        ("value", json!("-10.0")),
        ("target_type", json!("line_item")),
        ("target_selection", json!("all")),
        ("allocation_method", json!("across")),
        ("customer_selection", json!("all")),
        ("ends_at", json!("2026-05-01T00:00:00Z")),
    ] {
        assert_eq!(rule[field], want, "{field}: {rule:#}");
    }
    let codes = emulator.discount_codes();
    assert_eq!(codes.len(), 1, "{codes:#?}");
    assert_eq!(codes[0]["code"], "SPRING10");
    assert_eq!(codes[0]["price_rule_id"], rule["id"]);

    // Tags are added to what the customers had.
    for id in [CUSTOMER_ID, COLLEAGUE_ID, CONSUMER_ID] {
        assert_eq!(
            emulator.customer_tags(id),
            ["b2b", "wholesale", "loyalty-spring-2026"],
            "customer {id}"
        );
    }
    let put = emulator
        .requests()
        .into_iter()
        .find(|r| {
            r.method == "PUT"
                && r.path_only()
                    .ends_with(&format!("customers/{CUSTOMER_ID}.json"))
        })
        .unwrap();
    assert_eq!(
        String::from_utf8(put.body).unwrap(),
        format!(
            r#"{{"customer":{{"id":{CUSTOMER_ID},"tags":"b2b, wholesale, loyalty-spring-2026"}}}}"#
        )
    );

    // The same campaign again changes nothing in the shop.
    let requests = emulator.requests().len();
    daemon
        .admin()
        .push_campaign(SOURCE, &campaign)
        .await
        .unwrap();
    assert_eq!(emulator.requests().len(), requests);
    assert_eq!(emulator.price_rules().len(), 1);
}

/// The admin API's redemption calls, which the harness client lacks.
struct Redemptions<'a> {
    daemon: &'a Daemon,
    token: String,
}

impl Redemptions<'_> {
    async fn redeem(&self, account: i64, reward: &str, contact: Option<String>) -> i64 {
        let response = reqwest::Client::new()
            .post(format!(
                "{}/api/v1/accounts/{account}/redemptions",
                self.daemon.base_url()
            ))
            .bearer_auth(&self.token)
            .header("Idempotency-Key", format!("redeem-{reward}"))
            .header("Content-Type", "application/json")
            .body(json!({ "reward": reward, "contact": contact }).to_string())
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        assert_eq!(status, 201, "{body}");
        body["id"].as_i64().unwrap()
    }

    /// Waits until the redemption is no longer reserved and returns it.
    async fn settled(&self, account: i64, id: i64) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let response = reqwest::Client::new()
                .get(format!(
                    "{}/api/v1/accounts/{account}/redemptions",
                    self.daemon.base_url()
                ))
                .bearer_auth(&self.token)
                .send()
                .await
                .unwrap();
            let list: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
            let redemption = list["redemptions"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["id"] == id)
                .cloned()
                .unwrap();
            if redemption["status"] != "reserved" {
                return redemption;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "not settled: {redemption}\n{}",
                self.daemon.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

const REWARDS: &str = r#"
[[program.rewards]]
id = "voucher-25"
name = "25 EUR off your next order"
kind = "discount"
points = 500
value = { amount = "25.00", currency = "EUR" }
connector = "shopify"

[[program.rewards]]
id = "training"
name = "Product training"
kind = "service"
points = 100
connector = "shopify"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reward_becomes_a_single_use_code_for_its_customer_even_after_a_failed_attempt() {
    let emulator = shop().await;
    let (daemon, token) = daemon_and_token(&emulator, 50, REWARDS).await;
    syncs_ended(&daemon, 1).await;
    let state = snapshot(&daemon).await;
    let account = state
        .account_known_as(SOURCE, &COMPANY_ID.to_string())
        .unwrap()
        .id;
    let redemptions = Redemptions {
        daemon: &daemon,
        token,
    };
    // The first attempt's code fails once: its price rule is deleted and
    // the retry starts clean.
    emulator.fail_next(
        RequestMatch::path("discount_codes.json").method(Method::POST),
        Failure::ServerError,
    );
    let voucher = redemptions
        .redeem(account, "voucher-25", Some(CUSTOMER_ID.to_string()))
        .await;
    let voucher = redemptions.settled(account, voucher).await;
    assert_eq!(voucher["status"], "fulfilled", "{voucher}");

    let codes = emulator.discount_codes();
    assert_eq!(codes.len(), 1, "{codes:#?}");
    let code = codes[0]["code"].as_str().unwrap();
    assert!(code.starts_with("LOYAL-") && code.len() == 14, "{code}");
    let detail = voucher["detail"].as_str().unwrap();
    assert!(detail.contains(code), "{detail}");
    assert!(detail.contains(&codes[0]["id"].to_string()), "{detail}");

    let rules = emulator.price_rules();
    assert_eq!(rules.len(), 1, "{rules:#?}");
    assert_eq!(emulator.deleted_price_rules().len(), 1);
    let rule = &rules[0];
    assert_eq!(codes[0]["price_rule_id"], rule["id"]);
    for (field, want) in [
        ("value_type", json!("fixed_amount")),
        ("value", json!("-25.0")),
        ("customer_selection", json!("prerequisite")),
        ("usage_limit", json!(1)),
        ("once_per_customer", json!(true)),
        ("target_selection", json!("all")),
    ] {
        assert_eq!(rule[field], want, "{field}: {rule:#}");
    }
    // The customer id went out exactly, above 2^53.
    let created = emulator
        .requests()
        .into_iter()
        .rfind(|r| r.method == "POST" && r.path_only().ends_with("price_rules.json"))
        .unwrap();
    let body = String::from_utf8(created.body).unwrap();
    assert!(
        body.contains(&format!(r#""prerequisite_customer_ids":[{CUSTOMER_ID}]"#)),
        "{body}"
    );

    // A kind Shopify cannot deliver fails, naming it, and gives the points
    // back.
    let training = redemptions
        .redeem(account, "training", Some(CUSTOMER_ID.to_string()))
        .await;
    let training = redemptions.settled(account, training).await;
    assert_eq!(training["status"], "failed", "{training}");
    assert!(
        training["detail"].as_str().unwrap().contains("`service`"),
        "{training}"
    );
    // 2288 earned, 500 redeemed.
    let state = snapshot(&daemon).await;
    assert_eq!(balance(&state, &COMPANY_ID.to_string()), Some(1788));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_listed_order_stops_the_sync_with_an_error_naming_it() {
    let emulator = shop().await;
    let mut broken = hundred_euro_order(
        9_007_199_254_741_601,
        company_a(),
        colleague(),
        "2026-03-07T08:00:00+01:00",
    )
    .body();
    broken["line_items"][0]["quantity"] = json!("two");
    emulator.put_order_json(9_007_199_254_741_601, broken);
    let daemon = daemon(&emulator, 50, "").await;
    let status = syncs_ended(&daemon, 1).await;
    assert_eq!(status.failures, 1, "{status:?}");
    let error = status.last_error.unwrap();
    assert!(
        error.contains("orders[5]") && error.contains("quantity"),
        "the error names the record and the field: {error}"
    );
    // Nothing of the failed page was committed; the customers were.
    let state = snapshot(&daemon).await;
    assert!(
        state.ledgers.values().all(|l| l.entries.is_empty()),
        "{state:#?}"
    );

    // Once the shop's data is fixed, the next sync goes on.
    emulator.put_order(&hundred_euro_order(
        9_007_199_254_741_601,
        company_a(),
        colleague(),
        "2026-03-07T08:00:00+01:00",
    ));
    let status = daemon.admin().sync(SOURCE).await.unwrap();
    assert_eq!(status.last_error, None, "{status:?}");
    let state = snapshot(&daemon).await;
    assert_eq!(balance(&state, &COMPANY_ID.to_string()), Some(2288 + 200));
}
