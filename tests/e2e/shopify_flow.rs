//! The Shopify connector end to end: the real `loyaltyd` binary with the
//! official `shopify.wasm`, fed signed webhooks in Shopify's wire format,
//! reading B2B companies from an emulated Admin API, and checked through the
//! admin API only.
//!
//! Every test runs its own daemon and emulator. Program: 2 points per EUR,
//! rounded down. Points are worked out by hand in the comments; the sample
//! order is itemised in `loyalty_e2e::shopify::samples`.
//!
//! Processing is asynchronous and in arrival order, so a test that must know
//! a delivery was processed (not merely still pending) sends a later
//! *marker* whose effect is visible and waits for that.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

use loyalty_e2e::daemon::admin::{Account, LedgerEntry};
use loyalty_e2e::daemon::{Daemon, ProgramRules, Setup, ShopifySetup, Snapshot, random_token};
use loyalty_e2e::official_plugin;
use loyalty_e2e::shopify::rest::{CompanyRef, LineItem};
use loyalty_e2e::shopify::samples::{
    self, API_VERSION, COMPANY_ID, CUSTOMER_ID, DRILL_LINE_ID, GLOVES_LINE_ID, ORDER_ID,
    SHOP_DOMAIN,
};
use loyalty_e2e::shopify::webhook::hmac_sha256_base64;
use loyalty_e2e::shopify::{
    Cents, Company, Customer, Order, ShopifyEmulator, WebhookAnswer, WebhookSender,
};
use serde_json::json;

const WEBHOOK_SECRET: &str = "e2e-shopify-app-webhook-secret";
const ACCESS_TOKEN: &str = "shpat_e2e0000000000000000000000000";
/// The connector's name, which is the source of everything it produces.
const SOURCE: &str = "shopify";

/// A daemon with the Shopify connector, the emulated shop it reads from and
/// a sender of the shop's webhooks.
struct Shop {
    emulator: ShopifyEmulator,
    daemon: Daemon,
    webhooks: WebhookSender,
    /// The daemon's directory when the test chose its `[server]` keys.
    _dir: Option<tempfile::TempDir>,
}

async fn shop() -> Shop {
    shop_with("").await
}

/// [`shop`] with more `[server]` keys.
async fn shop_with(server_keys: &str) -> Shop {
    let plugin = official_plugin("shopify");
    let emulator = ShopifyEmulator::start(ACCESS_TOKEN).await.unwrap();
    emulator.put_company(samples::company());
    let setup = Setup {
        admin_token: random_token().unwrap(),
        program: ProgramRules::default(),
        shopify: Some(ShopifySetup {
            plugin,
            shop_domain: SHOP_DOMAIN.to_owned(),
            api_version: API_VERSION.to_owned(),
            admin_base_url: emulator.base_url(),
            webhook_secret: WEBHOOK_SECRET.to_owned(),
            admin_access_token: ACCESS_TOKEN.to_owned(),
        }),
        extra_toml: String::new(),
        secrets: Vec::new(),
    };
    let (daemon, dir) = if server_keys.is_empty() {
        (Daemon::start(&setup).await.unwrap(), None)
    } else {
        let dir = tempfile::tempdir().unwrap();
        let daemon = Daemon::start_with_server_keys(dir.path(), &setup, server_keys)
            .await
            .unwrap();
        (daemon, Some(dir))
    };
    let webhooks = WebhookSender::new(daemon.base_url(), WEBHOOK_SECRET, SHOP_DOMAIN, API_VERSION);
    Shop {
        emulator,
        daemon,
        webhooks,
        _dir: dir,
    }
}

impl Shop {
    /// Delivers a correctly signed webhook and expects it accepted.
    async fn deliver(
        &self,
        topic: &str,
        webhook_id: &str,
        body: &serde_json::Value,
    ) -> WebhookAnswer {
        let answer = self.webhooks.send(topic, webhook_id, body).await.unwrap();
        assert_eq!(answer.status, 200, "{topic} {webhook_id}: {answer:?}");
        answer
    }

    async fn wait_until(&self, what: &str, condition: impl Fn(&Snapshot) -> bool) -> Snapshot {
        self.daemon.wait_until(what, condition).await.unwrap()
    }

    /// Sends the buyer's profile update number `n` (newer than anything
    /// before it) and waits until it shows: everything delivered earlier has
    /// been processed by then.
    async fn marker(&self, n: u32) -> Snapshot {
        let mut buyer = samples::buyer();
        buyer.email = format!("jana.brandt+{n}@brandt-maschinenbau.example");
        buyer.updated_at = format!("2026-04-{n:02}T08:00:00+02:00");
        self.deliver("customers/update", &format!("wh-marker-{n}"), &buyer.body())
            .await;
        let email = buyer.email;
        self.wait_until(&format!("marker {n} ({email}) is applied"), |s| {
            company_account(s)
                .and_then(|a| a.contact(SOURCE, &CUSTOMER_ID.to_string()))
                .is_some_and(|c| c.email.as_deref() == Some(email.as_str()))
        })
        .await
    }
}

fn company_account(state: &Snapshot) -> Option<&Account> {
    state.account_known_as(SOURCE, &COMPANY_ID.to_string())
}

fn company_balance(state: &Snapshot) -> Option<i64> {
    state.balance_of(SOURCE, &COMPANY_ID.to_string())
}

fn company_entries(state: &Snapshot) -> Vec<LedgerEntry> {
    state
        .ledger_of(SOURCE, &COMPANY_ID.to_string())
        .map(|l| l.entries.clone())
        .unwrap_or_default()
}

/// (kind, points, amount) of each entry, oldest first.
fn summary(entries: &[LedgerEntry]) -> Vec<(&str, i64, Option<&str>)> {
    entries
        .iter()
        .map(|e| (e.kind.as_str(), e.points, e.amount.as_deref()))
        .collect()
}

/// A paid single-line order of 2 x 50.00 EUR = 100.00 net: 200 points.
fn hundred_euro_order(id: u64, company: CompanyRef, customer: Customer) -> Order {
    let mut order = samples::paid(samples::b2b_order(), "2026-03-03T12:00:00+01:00");
    order.id = id;
    order.number = 1018;
    order.company = Some(company);
    order.customer = customer;
    order.discount_code = None;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b2b_order_earns_once_across_create_paid_retry_and_second_subscription() {
    let shop = shop().await;
    // Net in shop money: 855.00 (drills) + 189.05 (gloves) = 1044.05 EUR,
    // the program's currency. floor(1044.05 x 2) = floor(2088.10) = 2088.
    let created = samples::b2b_order();
    let paid = samples::paid(created.clone(), "2026-03-05T16:40:12+01:00");
    assert_eq!(created.subtotal(), Cents(104_405));

    let answer = shop
        .deliver("orders/create", "wh-create-1", &created.body())
        .await;
    assert_eq!(answer.outcome(), Some("stored"));
    let first = shop.deliver("orders/paid", "wh-paid-1", &paid.body()).await;
    assert_eq!(first.outcome(), Some("stored"));
    // Shopify retries with the same webhook id.
    let retry = shop.deliver("orders/paid", "wh-paid-1", &paid.body()).await;
    assert_eq!(retry.outcome(), Some("duplicate"));
    assert_eq!(retry.inbox_id(), first.inbox_id());
    // A second subscription to orders/paid gets the same change under a new id.
    let second = shop.deliver("orders/paid", "wh-paid-2", &paid.body()).await;
    assert_eq!(second.outcome(), Some("stored"));
    assert_ne!(second.inbox_id(), first.inbox_id());

    let state = shop.marker(1).await;
    assert_eq!(state.accounts.len(), 1, "{state:#?}");
    let account = &state.accounts[0];
    assert_eq!(account.name, "Brandt Maschinenbau GmbH");
    let shopify_ref = account
        .external_refs
        .iter()
        .find(|r| r.source == SOURCE)
        .unwrap();
    assert_eq!(shopify_ref.id, "9007199254740995");
    assert_eq!(account.balance, 2088);
    let entries = company_entries(&state);
    assert_eq!(entries.len(), 1, "{entries:#?}");
    let earn = &entries[0];
    assert_eq!(earn.kind, "earn");
    assert_eq!(earn.points, 2088);
    assert_eq!(earn.source, SOURCE);
    assert_eq!(earn.reference, "9007199254740993");
    assert_eq!(earn.reference, ORDER_ID.to_string());
    assert_eq!(earn.amount.as_deref(), Some("1044.05"));
    assert_eq!(earn.currency.as_deref(), Some("EUR"));
    assert!(state.dead_letters.is_empty(), "{:#?}", state.dead_letters);
    // Read once for the created order, then cached for the paid ones.
    assert_eq!(shop.emulator.company_reads(COMPANY_ID), 1);
    assert_eq!(shop.emulator.refused_requests(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_in_small_batches_reads_the_company_once_and_earns_each_order_once() {
    // Batches of three: each is handled while the one before it commits,
    // and sees that batch's cached company before it is committed.
    let shop = shop_with("inbox_batch_max = 3").await;
    let orders: u64 = 60;
    for wave in 0..orders / 10 {
        let sends: Vec<_> = (0..10)
            .map(|i| {
                let n = wave * 10 + i;
                let mut order = samples::b2b_order();
                order.id = ORDER_ID + 1 + n;
                let paid = samples::paid(order, "2026-03-05T16:40:12+01:00");
                let webhooks = shop.webhooks.clone();
                tokio::spawn(async move {
                    webhooks
                        .send("orders/paid", &format!("wh-burst-{n}"), &paid.body())
                        .await
                        .unwrap()
                })
            })
            .collect();
        for send in sends {
            let answer = send.await.unwrap();
            assert_eq!(answer.outcome(), Some("stored"), "{answer:?}");
        }
    }
    let state = shop
        .wait_until("every order of the burst applied", |s| {
            u64::try_from(company_entries(s).len()).unwrap() == orders
        })
        .await;
    let account = company_account(&state).unwrap();
    assert_eq!(account.balance, 2088 * i64::try_from(orders).unwrap());
    let mut references: Vec<String> = company_entries(&state)
        .into_iter()
        .map(|e| e.reference)
        .collect();
    references.dedup();
    assert_eq!(references.len(), 60, "{references:?}");
    assert!(state.dead_letters.is_empty(), "{:#?}", state.dead_letters);
    assert_eq!(shop.emulator.company_reads(COMPANY_ID), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_refunds_reverse_proportionally_without_residue_or_double_reversal() {
    let shop = shop().await;
    let mut order = samples::paid(samples::b2b_order(), "2026-03-05T16:40:12+01:00");
    shop.deliver("orders/paid", "wh-paid-1", &order.body())
        .await;
    // Earned: floor(1044.05 x 2) = 2088.
    shop.wait_until("the paid order earns 2088", |s| {
        company_balance(s) == Some(2088)
    })
    .await;

    // Refund 1: 4 of the 10 gloves. Refunds are measured after discounts:
    // the gloves line nets 199.00 - 9.95 = 189.05, 4/10 of it is 75.62.
    // Reversed so far: floor(2088 x 75.62 / 1044.05) = floor(151.23) = 151.
    let gloves = order.refund(
        9_007_199_254_742_001,
        "2026-03-09T11:20:00+01:00",
        &[(GLOVES_LINE_ID, 4)],
    );
    assert_eq!(gloves.subtotal(), Cents(7562));
    shop.deliver("refunds/create", "wh-refund-1", &gloves.body())
        .await;
    order.refunds.push(gloves);
    shop.wait_until("refund 1 reverses 151", |s| {
        company_balance(s) == Some(2088 - 151)
    })
    .await;

    // Refund 2: 1 of the 4 drills. The drills line nets 1000.00 - 100.00 -
    // 45.00 = 855.00, a quarter of it is 213.75. Refunded 75.62 + 213.75 =
    // 289.37; reversed: floor(2088 x 289.37 / 1044.05) = floor(578.71) = 578,
    // that is 427 more.
    let drill = order.refund(
        9_007_199_254_742_011,
        "2026-03-10T09:05:00+01:00",
        &[(DRILL_LINE_ID, 1)],
    );
    assert_eq!(drill.subtotal(), Cents(21_375));
    shop.deliver("refunds/create", "wh-refund-2", &drill.body())
        .await;
    order.refunds.push(drill);
    shop.wait_until("refund 2 reverses 427 more", |s| {
        company_balance(s) == Some(2088 - 578)
    })
    .await;

    // The order, updated, now embeds both refunds: already applied, nothing
    // more to reverse.
    order.financial_status = "partially_refunded".to_owned();
    order.updated_at = "2026-03-10T09:05:02+01:00".to_owned();
    shop.deliver("orders/updated", "wh-updated-1", &order.body())
        .await;
    let state = shop.marker(1).await;
    assert_eq!(company_balance(&state), Some(1510));
    assert_eq!(
        summary(&company_entries(&state)),
        [
            ("earn", 2088, Some("1044.05")),
            ("reverse", -151, Some("75.62")),
            ("reverse", -427, Some("213.75")),
        ]
    );

    // Refund 3: everything left, 3 drills (641.25) and 6 gloves (113.43) =
    // 754.68. 75.62 + 213.75 + 754.68 = 1044.05, the whole net: the rest of
    // the points is reversed exactly, 2088 - 578 = 1510, down to 0.
    let rest = order.refund_everything_left(9_007_199_254_742_021, "2026-03-12T14:30:00+01:00");
    assert_eq!(rest.subtotal(), Cents(75_468));
    shop.deliver("refunds/create", "wh-refund-3", &rest.body())
        .await;
    order.refunds.push(rest);
    order.financial_status = "refunded".to_owned();
    order.updated_at = "2026-03-12T14:30:03+01:00".to_owned();
    shop.deliver("orders/updated", "wh-updated-2", &order.body())
        .await;
    let state = shop.marker(2).await;
    let entries = company_entries(&state);
    assert_eq!(
        summary(&entries),
        [
            ("earn", 2088, Some("1044.05")),
            ("reverse", -151, Some("75.62")),
            ("reverse", -427, Some("213.75")),
            ("reverse", -1510, Some("754.68")),
        ]
    );
    let reversed: i64 = entries
        .iter()
        .filter(|e| e.kind == "reverse")
        .map(|e| e.points)
        .sum();
    assert_eq!(reversed, -2088);
    assert_eq!(company_balance(&state), Some(0));
    assert!(entries.iter().all(|e| e.reference == "9007199254740993"));
    assert!(state.dead_letters.is_empty(), "{:#?}", state.dead_letters);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancellation_announced_twice_reverses_once() {
    let shop = shop().await;
    let company = CompanyRef {
        id: COMPANY_ID,
        location_id: samples::COMPANY_LOCATION_ID,
    };
    let mut order = hundred_euro_order(9_007_199_254_741_201, company, samples::buyer());
    shop.deliver("orders/paid", "wh-paid-1", &order.body())
        .await;
    // floor(100.00 x 2) = 200.
    shop.wait_until("the paid order earns 200", |s| {
        company_balance(s) == Some(200)
    })
    .await;

    // Cancelled and refunded in full: Shopify announces the cancellation
    // (embedding the refund) to two subscriptions, and the refund itself.
    let refund = order.refund_everything_left(9_007_199_254_742_101, "2026-03-04T10:00:00+01:00");
    assert_eq!(refund.subtotal(), Cents(10_000));
    order.refunds.push(refund.clone());
    order.cancelled_at = Some("2026-03-04T10:00:00+01:00".to_owned());
    order.financial_status = "refunded".to_owned();
    order.updated_at = "2026-03-04T10:00:01+01:00".to_owned();
    shop.deliver("orders/cancelled", "wh-cancelled-1", &order.body())
        .await;
    shop.deliver("orders/cancelled", "wh-cancelled-2", &order.body())
        .await;
    shop.deliver("refunds/create", "wh-refund-1", &refund.body())
        .await;

    let state = shop.marker(1).await;
    let entries = company_entries(&state);
    let reversals: Vec<i64> = entries
        .iter()
        .filter(|e| e.kind == "reverse")
        .map(|e| e.points)
        .collect();
    assert_eq!(reversals, [-200], "{entries:#?}");
    assert_eq!(entries.len(), 2, "{entries:#?}");
    assert_eq!(company_balance(&state), Some(0));
    assert!(state.dead_letters.is_empty(), "{:#?}", state.dead_letters);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_signature_is_refused_and_nothing_is_stored() {
    let shop = shop().await;
    let body = serde_json::to_vec(
        &samples::paid(samples::b2b_order(), "2026-03-05T16:40:12+01:00").body(),
    )
    .unwrap();

    // Signed with another secret.
    let forged = hmac_sha256_base64(b"not-the-app-secret", &body);
    let answer = shop
        .webhooks
        .send_raw("orders/paid", "wh-forged-1", body.clone(), &forged)
        .await
        .unwrap();
    assert_eq!(answer.status, 401, "{answer:?}");
    // Signed correctly, then altered in transit.
    let signature = hmac_sha256_base64(WEBHOOK_SECRET.as_bytes(), &body);
    let original = String::from_utf8(body).unwrap();
    let tampered = original.replace(
        "\"subtotal_price\":\"1044.05\"",
        "\"subtotal_price\":\"9044.05\"",
    );
    assert_ne!(tampered, original);
    let answer = shop
        .webhooks
        .send_raw(
            "orders/paid",
            "wh-tampered-1",
            tampered.into_bytes(),
            &signature,
        )
        .await
        .unwrap();
    assert_eq!(answer.status, 401, "{answer:?}");

    // A genuine order of another company, delivered afterwards, is processed:
    // had the refused ones been stored, they would have been processed first.
    let other = Company {
        id: 9_007_199_254_741_301,
        name: "Nordlicht Logistik AG".to_owned(),
        external_id: None,
        note: None,
        created_at: "2025-12-01T08:00:00Z".to_owned(),
        updated_at: "2025-12-01T08:00:00Z".to_owned(),
    };
    shop.emulator.put_company(other.clone());
    let mut customer = samples::buyer();
    customer.id = 9_007_199_254_741_303;
    customer.email = "einkauf@nordlicht-logistik.example".to_owned();
    let genuine = hundred_euro_order(
        9_007_199_254_741_305,
        CompanyRef {
            id: other.id,
            location_id: 9_007_199_254_741_302,
        },
        customer,
    );
    shop.deliver("orders/paid", "wh-genuine-1", &genuine.body())
        .await;
    let state = shop
        .wait_until("the genuine order earns 200", |s| {
            s.balance_of(SOURCE, &other.id.to_string()) == Some(200)
        })
        .await;
    assert_eq!(state.accounts.len(), 1, "{state:#?}");
    assert_eq!(state.accounts[0].name, "Nordlicht Logistik AG");
    assert!(state.dead_letters.is_empty(), "{:#?}", state.dead_letters);
    assert_eq!(shop.emulator.company_reads(COMPANY_ID), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_body_the_connector_cannot_parse_becomes_a_dead_letter() {
    let shop = shop().await;
    let mut body = samples::paid(samples::b2b_order(), "2026-03-05T16:40:12+01:00").body();
    body["id"] = json!("not-a-number");

    let answer = shop.deliver("orders/paid", "wh-unparseable-1", &body).await;
    assert_eq!(answer.outcome(), Some("stored"));
    let state = shop
        .wait_until("the delivery is a dead letter", |s| {
            !s.dead_letters.is_empty()
        })
        .await;
    assert_eq!(state.dead_letters.len(), 1, "{:#?}", state.dead_letters);
    let dead = &state.dead_letters[0];
    assert_eq!(dead.connector, SOURCE);
    assert_eq!(dead.delivery_id, "wh-unparseable-1");
    assert_eq!(dead.topic, "orders/paid");
    assert_eq!(Some(dead.inbox_id), answer.inbox_id());
    assert!(
        dead.error.contains("`id`"),
        "the error names the field: {}",
        dead.error
    );
    assert!(state.accounts.is_empty(), "{:#?}", state.accounts);
    assert!(state.ledgers.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_out_of_order_customer_update_does_not_overwrite_a_newer_one() {
    let shop = shop().await;
    // The order links the buyer to the company.
    let order = samples::paid(samples::b2b_order(), "2026-03-05T16:40:12+01:00");
    shop.deliver("orders/paid", "wh-paid-1", &order.body())
        .await;
    let customer_id = CUSTOMER_ID.to_string();
    shop.wait_until("the buyer is a contact of the company", |s| {
        company_account(s).is_some_and(|a| a.contact(SOURCE, &customer_id).is_some())
    })
    .await;

    // The newer update (T2) arrives first, the older one (T1) after it.
    let mut newer = samples::buyer();
    newer.email = "new@brandt-maschinenbau.example".to_owned();
    newer.updated_at = "2026-03-20T10:00:00+01:00".to_owned();
    let mut older = samples::buyer();
    older.email = "old@brandt-maschinenbau.example".to_owned();
    older.updated_at = "2026-03-10T10:00:00+01:00".to_owned();
    shop.deliver("customers/update", "wh-customer-t2", &newer.body())
        .await;
    shop.deliver("customers/update", "wh-customer-t1", &older.body())
        .await;

    // Marker: a colleague's order for the same company, after both updates.
    // 200 points on top of the first order's 2088.
    let mut colleague = samples::buyer();
    colleague.id = 9_007_199_254_741_401;
    colleague.email = "tim.kuhn@brandt-maschinenbau.example".to_owned();
    colleague.first_name = "Tim".to_owned();
    colleague.last_name = "Kuhn".to_owned();
    let marker = hundred_euro_order(
        9_007_199_254_741_403,
        CompanyRef {
            id: COMPANY_ID,
            location_id: samples::COMPANY_LOCATION_ID,
        },
        colleague,
    );
    shop.deliver("orders/paid", "wh-marker-1", &marker.body())
        .await;
    let state = shop
        .wait_until("the colleague's order earns", |s| {
            company_balance(s) == Some(2088 + 200)
        })
        .await;

    let account = company_account(&state).unwrap();
    let buyer = account.contact(SOURCE, &customer_id).unwrap();
    assert_eq!(
        buyer.email.as_deref(),
        Some("new@brandt-maschinenbau.example")
    );
    // 2026-03-20T10:00:00+01:00 in ms since the epoch.
    assert_eq!(buyer.version, 1_773_997_200_000);
    assert!(account.contact(SOURCE, "9007199254741401").is_some());
    assert!(state.dead_letters.is_empty(), "{:#?}", state.dead_letters);
}
