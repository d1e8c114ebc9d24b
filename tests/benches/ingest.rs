//! Ingestion through the real daemon: signed Shopify `orders/paid` webhooks
//! over loopback HTTP into `loyaltyd` with its SQLite store (and
//! PostgreSQL), and the same kind of orders polled from the Shopify
//! emulator's Admin API.
//!
//! `cargo bench -p loyalty-e2e --bench ingest` (`LOYALTY_BENCH_SCALE=full`
//! for a longer run). Method, in `BENCHMARKS.md`:
//!
//! - **saturation**: 64 concurrent senders post pre-signed webhooks as fast
//!   as the daemon answers. Stored/s is the deliveries answered 200 per
//!   second; applied/s is the deliveries whose events were committed to the
//!   ledger per second, until the last one. The same run against a daemon
//!   with `inbox_batch_max = 1` (one commit per delivery) is the baseline.
//! - **fixed offered load**: webhooks sent open-loop on a fixed schedule
//!   (5,000/s by default). The answer latency runs from a delivery's
//!   scheduled send time to its answer, so a daemon that falls behind is
//!   charged for the queue it causes. The time until the balance reflects
//!   a delivery runs from its scheduled send time until a reader of the
//!   database sees it processed: the inbox row turns `done` in the same
//!   transaction that writes its ledger entries, so that is the moment the
//!   balance API shows the points.
//! - **poll**: the emulator holds N paid orders; a sync is started through
//!   the admin API and timed until it completes, for pages of 100 and 250
//!   (Shopify's largest page) records.
//! - **memory**: the daemon's resident set idle after start, and its peak
//!   and current resident set after the load.
//! - **PostgreSQL** (when `LOYALTY_TEST_POSTGRES` names a server, as
//!   `tests/run --bench ingest` does): the saturation run against one daemon
//!   on PostgreSQL and against two daemons sharing one database (the
//!   senders split between them), and the poll run in pages of 250.
//!
//! At the end the ledger must hold exactly the points the orders earn:
//! nothing lost, nothing doubled.

#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::cast_precision_loss,
    reason = "a benchmark prints its figures and fails loudly"
)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use loyalty_e2e::bench::{Percentiles, Report, Target, ms, rss_mib};
use loyalty_e2e::daemon::{Daemon, ProgramRules, Setup, ShopifySetup, random_token};
use loyalty_e2e::official_plugin;
use loyalty_e2e::postgres::{SERVER, postgres_database};
use loyalty_e2e::shopify::rest::{Address, CompanyRef, LineItem};
use loyalty_e2e::shopify::samples::{API_VERSION, SHOP_DOMAIN};
use loyalty_e2e::shopify::webhook::hmac_sha256_base64;
use loyalty_e2e::shopify::{Cents, Company, Customer, Order, ShopifyEmulator, WebhookSender};
use serde_json::Value;
use tokio::sync::Semaphore;

const WEBHOOK_SECRET: &str = "bench-shopify-app-webhook-secret";
const ACCESS_TOKEN: &str = "shpat_bench000000000000000000000000";
const COMPANY_BASE: u64 = 7_100_000_000_000;
const ORDER_BASE: u64 = 5_400_000_000_000;
/// Concurrent senders in the saturation run.
const SENDERS: usize = 64;
/// Requests in flight at most in the open-loop run; beyond it a send is
/// late, and its lateness counts in its latency.
const IN_FLIGHT_MAX: usize = 2048;
/// How often the watcher reads the inbox.
const WATCH_INTERVAL: Duration = Duration::from_millis(2);
/// How long the watcher finds nothing new before it reads every processed
/// delivery again.
const CATCH_UP_AFTER: Duration = Duration::from_millis(50);

/// The run's sizes.
struct Sizes {
    companies: usize,
    saturation: usize,
    offered_per_second: usize,
    offered_seconds: usize,
    poll_orders: usize,
}

fn sizes() -> Sizes {
    if std::env::var("LOYALTY_BENCH_SCALE").is_ok_and(|s| s == "full") {
        Sizes {
            companies: 2_000,
            saturation: 200_000,
            offered_per_second: 5_000,
            offered_seconds: 60,
            poll_orders: 100_000,
        }
    } else {
        Sizes {
            companies: 200,
            saturation: 20_000,
            offered_per_second: 5_000,
            offered_seconds: 8,
            poll_orders: 20_000,
        }
    }
}

fn company(i: usize) -> Company {
    Company {
        id: COMPANY_BASE + i as u64,
        name: format!("Werkzeugbau {i} GmbH"),
        external_id: Some(format!("ERP-{}", 40_000 + i)),
        note: None,
        created_at: "2025-06-02T09:00:00Z".to_owned(),
        updated_at: "2025-06-02T09:00:00Z".to_owned(),
    }
}

/// Paid B2B order `n` of `company`, 1 to 3 lines.
fn order(n: usize, company: &Company) -> Order {
    let id = ORDER_BASE + 10 * n as u64;
    let lines = (0..1 + n % 3)
        .map(|k| LineItem {
            id: id + 1 + k as u64,
            product_id: 8_412_345_690_000 + k as u64,
            variant_id: 45_123_456_790_000 + k as u64,
            title: ["Ball valve DN50", "Bearing 6205-2RS", "Hex bolts M12"][k].to_owned(),
            variant_title: "Standard".to_owned(),
            sku: format!("RW-{k}"),
            vendor: "Rheinwerk".to_owned(),
            quantity: 1 + (n % 7) as i64,
            unit_price: Cents(1_000 + (n % 50) as i64 * 137),
            line_discount: Cents(0),
            grams: 900,
        })
        .collect();
    let minute = n % 50_000;
    let at = format!(
        "2026-{:02}-{:02}T{:02}:{:02}:00Z",
        1 + minute / 4_464 % 10,
        1 + minute / 144 % 28,
        minute / 60 % 24,
        minute % 60
    );
    Order {
        id,
        number: 10_001 + n as u64,
        company: Some(CompanyRef {
            id: company.id,
            location_id: company.id + 50,
        }),
        customer: Customer {
            id: company.id + 100,
            email: format!("buyer@werkzeugbau-{}.example", company.id - COMPANY_BASE),
            first_name: "Jana".to_owned(),
            last_name: "Brandt".to_owned(),
            phone: None,
            address: Address {
                address1: "Werftstraße 12".to_owned(),
                city: "Hamburg".to_owned(),
                zip: "20457".to_owned(),
                country: "Germany".to_owned(),
                country_code: "DE".to_owned(),
                company: Some(company.name.clone()),
            },
            created_at: "2025-06-02T10:00:00Z".to_owned(),
            updated_at: "2025-06-02T10:00:00Z".to_owned(),
        },
        lines,
        discount_code: None,
        shipping: Cents(1_500),
        tax_percent: 19,
        financial_status: "paid".to_owned(),
        created_at: at.clone(),
        updated_at: at,
        cancelled_at: None,
        refunds: Vec::new(),
        po_number: Some(format!("PO-{n}")),
    }
}

/// The points an order earns: two per euro of its net merchandise, rounded
/// down.
fn points(order: &Order) -> i64 {
    order.subtotal().0 * 2 / 100
}

/// A webhook ready to send: body and signature computed up front, so the
/// sender spends its time sending.
#[derive(Clone)]
struct Prepared {
    webhook_id: String,
    body: Vec<u8>,
    signature: String,
}

fn prepare(orders: &[Order], prefix: &str) -> Vec<Prepared> {
    orders
        .iter()
        .map(|o| {
            let body = serde_json::to_vec(&o.body()).unwrap();
            Prepared {
                webhook_id: format!("{prefix}-{}", o.id),
                signature: hmac_sha256_base64(WEBHOOK_SECRET.as_bytes(), &body),
                body,
            }
        })
        .collect()
}

struct Bench {
    emulator: ShopifyEmulator,
    companies: Vec<Company>,
    next_order: AtomicUsize,
}

impl Bench {
    async fn start(companies: usize) -> Self {
        let emulator = ShopifyEmulator::start(ACCESS_TOKEN).await.unwrap();
        emulator.lift_call_limit();
        let companies: Vec<Company> = (0..companies).map(company).collect();
        for c in &companies {
            emulator.put_company(c.clone());
        }
        Self {
            emulator,
            companies,
            next_order: AtomicUsize::new(0),
        }
    }

    /// `count` fresh orders spread over the companies.
    fn orders(&self, count: usize) -> Vec<Order> {
        let first = self.next_order.fetch_add(count, Ordering::SeqCst);
        (first..first + count)
            .map(|n| order(n, &self.companies[n % self.companies.len()]))
            .collect()
    }

    /// A daemon with these `[server]` keys, in `dir`, on SQLite.
    async fn daemon(&self, dir: &Path, server_keys: &str) -> Daemon {
        self.daemon_on(dir, server_keys, None).await
    }

    /// A daemon with these `[server]` keys, in `dir`, on the PostgreSQL
    /// database `postgres` or else SQLite.
    async fn daemon_on(&self, dir: &Path, server_keys: &str, postgres: Option<&str>) -> Daemon {
        let setup = Setup {
            admin_token: random_token().unwrap(),
            program: ProgramRules::default(),
            shopify: Some(ShopifySetup {
                plugin: official_plugin("shopify"),
                shop_domain: SHOP_DOMAIN.to_owned(),
                api_version: API_VERSION.to_owned(),
                admin_base_url: self.emulator.base_url(),
                webhook_secret: WEBHOOK_SECRET.to_owned(),
                admin_access_token: ACCESS_TOKEN.to_owned(),
            }),
            // The benchmark measures capacity: the per-connector webhook
            // limit (1,000/s by default) is lifted.
            extra_toml: "[server.rate_limits]\nwebhooks_per_second = 0\n".to_owned(),
            secrets: Vec::new(),
        };
        match postgres {
            Some(url) => Daemon::start_with_store(dir, &setup, server_keys, &postgres_store(url))
                .await
                .unwrap(),
            None => Daemon::start_with_server_keys(dir, &setup, server_keys)
                .await
                .unwrap(),
        }
    }
}

/// Reads the daemons' database beside them: when each delivery was first
/// seen processed.
enum Watcher {
    /// The SQLite file of one daemon.
    Sqlite(PathBuf),
    /// The PostgreSQL database the daemons share.
    Postgres(String),
}

/// Processed deliveries after an inbox id, newest last. Through the
/// `(status, id)` index: a scan of the pending rows would read their
/// bodies to reach their status, taking a good part of a core from the
/// daemon it measures.
const PROCESSED_AFTER: &str = "SELECT id, delivery_id, status FROM inbox
     WHERE status IN ('done', 'dead') AND id > $1 ORDER BY id";
/// The newest processed inbox id.
const LAST_PROCESSED: &str =
    "SELECT COALESCE(MAX(id), 0) FROM inbox WHERE status IN ('done', 'dead')";
/// Every ledger point.
const LEDGER_POINTS: &str = "SELECT CAST(COALESCE(SUM(points), 0) AS BIGINT) FROM ledger";

impl Watcher {
    /// The SQLite store of `daemon`.
    fn sqlite(daemon: &Daemon) -> Self {
        Self::Sqlite(daemon.dir().join("data/loyalty.db"))
    }

    /// The newest processed inbox id, read before the deliveries are sent:
    /// every delivery the watch waits for comes after it.
    fn last_processed(&self) -> i64 {
        match self {
            Self::Sqlite(db) => rusqlite::Connection::open_with_flags(
                db,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
            )
            .unwrap()
            .query_row(LAST_PROCESSED, [], |r| r.get(0))
            .unwrap(),
            Self::Postgres(url) => postgres::Client::connect(url, postgres::NoTls)
                .unwrap()
                .query_one(LAST_PROCESSED, &[])
                .unwrap()
                .get(0),
        }
    }

    /// Watches until `expected` deliveries (by webhook id) after inbox id
    /// `start` are processed; returns when each was first seen so.
    fn watch(&self, start: i64, expected: usize, deadline: Duration) -> HashMap<String, Instant> {
        match self {
            Self::Sqlite(db) => {
                let conn = rusqlite::Connection::open_with_flags(
                    db,
                    rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
                )
                .unwrap();
                let mut query = conn.prepare(&PROCESSED_AFTER.replace("$1", "?1")).unwrap();
                watch_rows(expected, deadline, start, |after| {
                    query
                        .query_map([after], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                        .unwrap()
                        .map(Result::unwrap)
                        .collect()
                })
            }
            Self::Postgres(url) => {
                let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
                let query = client.prepare(PROCESSED_AFTER).unwrap();
                watch_rows(expected, deadline, start, |after| {
                    client
                        .query(&query, &[&after])
                        .unwrap()
                        .iter()
                        .map(|r| (r.get(0), r.get(1), r.get(2)))
                        .collect()
                })
            }
        }
    }

    fn ledger_points(&self) -> i64 {
        match self {
            Self::Sqlite(db) => rusqlite::Connection::open_with_flags(
                db,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
            )
            .unwrap()
            .query_row(LEDGER_POINTS, [], |r| r.get(0))
            .unwrap(),
            // The synchronous client runs a runtime of its own: off the
            // benchmark's threads.
            Self::Postgres(url) => std::thread::scope(|scope| {
                scope
                    .spawn(|| {
                        let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
                        client.query_one(LEDGER_POINTS, &[]).unwrap().get(0)
                    })
                    .join()
                    .unwrap()
            }),
        }
    }
}

/// Starts watching for `count` deliveries processed after those processed
/// now, once the baseline is read (so that none sent after this returns is
/// missed).
async fn watch(
    watcher: Watcher,
    count: usize,
) -> tokio::task::JoinHandle<HashMap<String, Instant>> {
    tokio::task::spawn_blocking(move || {
        let start = watcher.last_processed();
        (watcher, start)
    })
    .await
    .map(|(watcher, start)| {
        tokio::task::spawn_blocking(move || watcher.watch(start, count, Duration::from_secs(600)))
    })
    .unwrap()
}

/// Reads processed deliveries after the last one seen, every
/// [`WATCH_INTERVAL`], until `expected` are; when each was first seen.
fn watch_rows(
    expected: usize,
    deadline: Duration,
    start: i64,
    mut processed_after: impl FnMut(i64) -> Vec<(i64, String, String)>,
) -> HashMap<String, Instant> {
    let mut seen = HashMap::with_capacity(expected);
    let mut after = start;
    let mut found_at = Instant::now();
    let until = Instant::now() + deadline;
    while seen.len() < expected {
        assert!(
            Instant::now() < until,
            "only {} of {expected} deliveries processed within {deadline:?}",
            seen.len()
        );
        let now = Instant::now();
        let mut rows = processed_after(after);
        if rows.is_empty() && now.duration_since(found_at) >= CATCH_UP_AFTER {
            // Daemons sharing a database finish deliveries out of id order:
            // one the scan passed while it was pending is found here.
            rows = processed_after(start);
            found_at = now;
        }
        for (id, delivery, status) in rows {
            assert_eq!(status, "done", "delivery {delivery} became a dead letter");
            after = after.max(id);
            if let std::collections::hash_map::Entry::Vacant(entry) = seen.entry(delivery) {
                entry.insert(now);
                found_at = now;
            }
        }
        std::thread::sleep(WATCH_INTERVAL);
    }
    seen
}

/// When one delivery was answered: first (200, or a refusal), and at last
/// with 200.
struct Answered {
    first: Instant,
    stored: Instant,
    refusals: u32,
}

/// Posts one delivery until it is answered 200 (a 429 or 503 is retried
/// after a while, as a vendor would).
async fn deliver(sender: &WebhookSender, d: &Prepared) -> Answered {
    let mut refusals = 0;
    let mut first = None;
    loop {
        let answer = sender
            .send_raw("orders/paid", &d.webhook_id, d.body.clone(), &d.signature)
            .await
            .unwrap();
        let now = Instant::now();
        let first = *first.get_or_insert(now);
        match answer.status {
            200 => {
                return Answered {
                    first,
                    stored: now,
                    refusals,
                };
            }
            429 | 503 => {
                refusals += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => panic!(
                "delivery {} answered {other}: {}",
                d.webhook_id, answer.body
            ),
        }
    }
}

struct Saturation {
    stored_per_second: f64,
    applied_per_second: f64,
    answer: Percentiles,
    refusals: u32,
}

/// Sends every delivery with [`SENDERS`] concurrent senders, as fast as the
/// daemon answers.
async fn saturate(daemon: &Daemon, deliveries: Vec<Prepared>) -> Saturation {
    saturate_over(&[daemon], Watcher::sqlite(daemon), deliveries).await
}

/// Sends every delivery with [`SENDERS`] concurrent senders spread evenly
/// over `daemons`, as fast as they answer; `watcher` reads their store.
async fn saturate_over(
    daemons: &[&Daemon],
    watcher: Watcher,
    deliveries: Vec<Prepared>,
) -> Saturation {
    let count = deliveries.len();
    let watching = watch(watcher, count).await;
    let senders: Vec<WebhookSender> = daemons
        .iter()
        .map(|d| WebhookSender::new(d.base_url(), WEBHOOK_SECRET, SHOP_DOMAIN, API_VERSION))
        .collect();
    let deliveries = Arc::new(deliveries);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..SENDERS)
        .map(|i| {
            let (sender, deliveries, next) = (
                senders[i % senders.len()].clone(),
                deliveries.clone(),
                next.clone(),
            );
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut refusals = 0;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(d) = deliveries.get(i) else {
                        return (latencies, refusals);
                    };
                    let sent = Instant::now();
                    let answered = deliver(&sender, d).await;
                    latencies.push(answered.stored - sent);
                    refusals += answered.refusals;
                }
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(count);
    let mut refusals = 0;
    for task in tasks {
        let (l, r) = task.await.unwrap();
        latencies.extend(l);
        refusals += r;
    }
    let stored = started.elapsed();
    let seen = watching.await.unwrap();
    let applied = seen.values().max().unwrap().duration_since(started);
    Saturation {
        stored_per_second: count as f64 / stored.as_secs_f64(),
        applied_per_second: count as f64 / applied.as_secs_f64(),
        answer: Percentiles::of(&mut latencies).unwrap(),
        refusals,
    }
}

struct Offered {
    achieved_per_second: f64,
    /// Until the first answer, 200 or a refusal.
    answer: Percentiles,
    /// Until the answer 200, refusals and waits included.
    stored: Percentiles,
    refusals: u32,
    balance: Percentiles,
}

/// Sends the deliveries open-loop, `per_second` of them a second.
async fn offer(daemon: &Daemon, deliveries: Vec<Prepared>, per_second: usize) -> Offered {
    let count = deliveries.len();
    let watching = watch(Watcher::sqlite(daemon), count).await;
    let sender = WebhookSender::new(daemon.base_url(), WEBHOOK_SECRET, SHOP_DOMAIN, API_VERSION);
    let slots = Arc::new(Semaphore::new(IN_FLIGHT_MAX));
    let start = Instant::now() + Duration::from_millis(50);
    let interval = Duration::from_secs(1) / u32::try_from(per_second).unwrap();
    let mut scheduled = HashMap::with_capacity(count);
    let mut tasks = Vec::with_capacity(count);
    for (i, d) in deliveries.into_iter().enumerate() {
        let at = start + interval * u32::try_from(i).unwrap();
        tokio::time::sleep_until(at.into()).await;
        scheduled.insert(d.webhook_id.clone(), at);
        let slot = slots.clone().acquire_owned().await.unwrap();
        let sender = sender.clone();
        tasks.push(tokio::spawn(async move {
            let answered = deliver(&sender, &d).await;
            drop(slot);
            (at, answered)
        }));
    }
    let mut answers = Vec::with_capacity(count);
    let mut stored = Vec::with_capacity(count);
    let mut refusals = 0;
    for task in tasks {
        let (at, answered) = task.await.unwrap();
        answers.push(answered.first - at);
        stored.push(answered.stored - at);
        refusals += answered.refusals;
    }
    let sent = start.elapsed();
    let seen = watching.await.unwrap();
    let mut balance: Vec<Duration> = seen
        .iter()
        .map(|(id, at)| at.saturating_duration_since(scheduled[id]))
        .collect();
    Offered {
        achieved_per_second: count as f64 / sent.as_secs_f64(),
        answer: Percentiles::of(&mut answers).unwrap(),
        stored: Percentiles::of(&mut stored).unwrap(),
        refusals,
        balance: Percentiles::of(&mut balance).unwrap(),
    }
}

/// Puts `orders` in the shop, starts a sync and times it until it ends.
async fn poll(bench: &Bench, daemon: &Daemon, token: &str, orders: &[Order]) -> f64 {
    let client = reqwest::Client::new();
    let url = format!("{}/api/v1/connectors/shopify/sync", daemon.base_url());
    let status = || async {
        let text = client
            .get(&url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        serde_json::from_str::<Value>(&text).unwrap()
    };
    // The sync at start, of the empty shop, ends first.
    let mut before = status().await;
    while before["completed"].as_u64().unwrap() == 0 {
        assert_eq!(
            before["failures"], 0,
            "the first sync failed: {}",
            before["last_error"]
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        before = status().await;
    }
    for o in orders {
        bench.emulator.put_order(o);
    }
    let (completed, events) = (
        before["completed"].as_u64().unwrap(),
        before["events"].as_u64().unwrap(),
    );
    let started = Instant::now();
    let answer = client.post(&url).bearer_auth(token).send().await.unwrap();
    assert_eq!(answer.status(), 202, "starting a sync");
    loop {
        let now = status().await;
        assert_eq!(
            now["failures"], before["failures"],
            "the sync failed: {}",
            now["last_error"]
        );
        if now["completed"].as_u64().unwrap() > completed {
            assert!(
                now["last_error"].is_null(),
                "the sync failed: {}",
                now["last_error"]
            );
            let polled = now["events"].as_u64().unwrap() - events;
            assert!(
                polled >= orders.len() as u64,
                "the sync saw {polled} events for {} orders",
                orders.len()
            );
            return orders.len() as f64 / started.elapsed().as_secs_f64();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The daemon for the poll runs, with its admin token.
async fn poll_daemon(
    bench: &Bench,
    dir: &Path,
    page_size: usize,
    postgres: Option<&str>,
) -> (Daemon, String) {
    let token = random_token().unwrap();
    let setup = Setup {
        admin_token: token.clone(),
        program: ProgramRules::default(),
        shopify: Some(ShopifySetup {
            plugin: official_plugin("shopify"),
            shop_domain: SHOP_DOMAIN.to_owned(),
            api_version: API_VERSION.to_owned(),
            admin_base_url: bench.emulator.base_url(),
            webhook_secret: WEBHOOK_SECRET.to_owned(),
            admin_access_token: ACCESS_TOKEN.to_owned(),
        }),
        extra_toml: format!(
            "[server.rate_limits]\napi_per_second = 0\n\n\
             [connectors.shopify.poll]\ninterval_seconds = 86400\npage_size = {page_size}\n"
        ),
        secrets: Vec::new(),
    };
    let daemon = match postgres {
        Some(url) => Daemon::start_with_store(dir, &setup, "", &postgres_store(url))
            .await
            .unwrap(),
        None => Daemon::start_in(dir, &setup).await.unwrap(),
    };
    (daemon, token)
}

/// The `[store]` section of a daemon on the PostgreSQL database `url`.
fn postgres_store(url: &str) -> String {
    format!("[store]\ntype = \"postgres\"\nurl = {}\n", Value::from(url))
}

/// The same saturation and poll runs on PostgreSQL.
struct OnPostgres {
    /// One daemon.
    one: Saturation,
    /// Two daemons on one database, the senders split between them.
    two: Saturation,
    /// Orders/s polled in pages of 250.
    poll: f64,
}

/// Saturates one daemon on a fresh PostgreSQL database, then two daemons
/// sharing another, then polls into a third.
async fn on_postgres(sizes: &Sizes, dirs: &Path) -> OnPostgres {
    let bench = Bench::start(sizes.companies).await;
    let database = postgres_database();
    let daemon = bench
        .daemon_on(&dirs.join("pg-one"), "", Some(&database))
        .await;
    let watcher = || Watcher::Postgres(database.clone());
    let warm = bench.orders(bench.companies.len());
    let mut expected: i64 = warm.iter().map(points).sum();
    saturate_over(&[&daemon], watcher(), prepare(&warm, "warm")).await;
    let orders = bench.orders(sizes.saturation);
    expected += orders.iter().map(points).sum::<i64>();
    println!("PostgreSQL, 1 daemon: {} webhooks", orders.len());
    let one = saturate_over(&[&daemon], watcher(), prepare(&orders, "sat")).await;
    assert_eq!(watcher().ledger_points(), expected);
    drop(daemon);

    let database = postgres_database();
    let (dir_a, dir_b) = (dirs.join("pg-a"), dirs.join("pg-b"));
    let (a, b) = tokio::join!(
        bench.daemon_on(&dir_a, "", Some(&database)),
        bench.daemon_on(&dir_b, "", Some(&database))
    );
    let watcher = || Watcher::Postgres(database.clone());
    let warm = bench.orders(bench.companies.len());
    let mut expected: i64 = warm.iter().map(points).sum();
    saturate_over(&[&a, &b], watcher(), prepare(&warm, "warm")).await;
    let orders = bench.orders(sizes.saturation);
    expected += orders.iter().map(points).sum::<i64>();
    println!("PostgreSQL, 2 daemons: {} webhooks", orders.len());
    let two = saturate_over(&[&a, &b], watcher(), prepare(&orders, "sat")).await;
    assert_eq!(watcher().ledger_points(), expected);
    drop((a, b));

    let bench = Bench::start(sizes.companies).await;
    let database = postgres_database();
    let (daemon, token) = poll_daemon(&bench, &dirs.join("pg-poll"), 250, Some(&database)).await;
    let orders = bench.orders(sizes.poll_orders);
    println!("PostgreSQL poll: {} orders in pages of 250", orders.len());
    let poll = poll(&bench, &daemon, &token, &orders).await;
    OnPostgres { one, two, poll }
}

/// Which parts of the bench run: `LOYALTY_BENCH_PARTS`, a comma-separated
/// list of `webhooks`, `poll` and `postgres` (all by default; `postgres`
/// also needs a server).
struct Parts {
    webhooks: bool,
    poll: bool,
    postgres: bool,
}

fn parts() -> Parts {
    let Ok(list) = std::env::var("LOYALTY_BENCH_PARTS") else {
        return Parts {
            webhooks: true,
            poll: true,
            postgres: true,
        };
    };
    let mut parts = Parts {
        webhooks: false,
        poll: false,
        postgres: false,
    };
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part {
            "webhooks" => parts.webhooks = true,
            "poll" => parts.poll = true,
            "postgres" => parts.postgres = true,
            other => {
                panic!("LOYALTY_BENCH_PARTS lists `webhooks`, `poll` and `postgres`, not `{other}`")
            }
        }
    }
    parts
}

/// The SQLite webhook runs: saturated (batched and unbatched), offered
/// load, memory.
struct Webhooks {
    baseline: Saturation,
    saturation: Saturation,
    offered: Offered,
    idle: f64,
    loaded: f64,
    peak: f64,
}

async fn webhooks(sizes: &Sizes, dirs: &Path) -> Webhooks {
    let bench = Bench::start(sizes.companies).await;
    // Baseline: one commit per delivery.
    let unbatched = bench
        .daemon(&dirs.join("unbatched"), "inbox_batch_max = 1")
        .await;
    let warm = bench.orders(bench.companies.len());
    let mut expected: i64 = warm.iter().map(points).sum();
    saturate(&unbatched, prepare(&warm, "warm")).await;
    let orders = bench.orders(sizes.saturation / 2);
    expected += orders.iter().map(points).sum::<i64>();
    println!("baseline: {} webhooks, inbox_batch_max = 1", orders.len());
    let baseline = saturate(&unbatched, prepare(&orders, "sat")).await;
    assert_eq!(Watcher::sqlite(&unbatched).ledger_points(), expected);
    drop(unbatched);

    let daemon = bench.daemon(&dirs.join("batched"), "").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (idle, _) = rss_mib(daemon.pid()).unwrap();
    // Every company read once, as a running shop's would be.
    let warm = bench.orders(bench.companies.len());
    let mut expected: i64 = warm.iter().map(points).sum();
    saturate(&daemon, prepare(&warm, "warm")).await;

    let orders = bench.orders(sizes.saturation);
    expected += orders.iter().map(points).sum::<i64>();
    println!("saturation: {} webhooks", orders.len());
    let saturation = saturate(&daemon, prepare(&orders, "sat")).await;

    let orders = bench.orders(sizes.offered_per_second * sizes.offered_seconds);
    expected += orders.iter().map(points).sum::<i64>();
    println!("offered load: {} webhooks", orders.len());
    let offered = offer(&daemon, prepare(&orders, "offer"), sizes.offered_per_second).await;
    let (loaded, peak) = rss_mib(daemon.pid()).unwrap();
    assert_eq!(
        Watcher::sqlite(&daemon).ledger_points(),
        expected,
        "the ledger holds other points than the orders earn"
    );
    Webhooks {
        baseline,
        saturation,
        offered,
        idle,
        loaded,
        peak,
    }
}

/// Orders/s polled into SQLite, by page size.
async fn polls(sizes: &Sizes, dirs: &Path) -> Vec<(usize, f64)> {
    let mut polled = Vec::new();
    for page_size in [100, 250] {
        // A shop of its own: the daemon's first sync finds it empty.
        let bench = Bench::start(sizes.companies).await;
        let dir = dirs.join(format!("poll-{page_size}"));
        let (daemon, token) = poll_daemon(&bench, &dir, page_size, None).await;
        let orders = bench.orders(sizes.poll_orders);
        println!("poll: {} orders in pages of {page_size}", orders.len());
        let rate = poll(&bench, &daemon, &token, &orders).await;
        polled.push((page_size, rate));
    }
    polled
}

fn report_webhooks(report: &mut Report, w: &Webhooks) {
    let (saturation, baseline, offered) = (&w.saturation, &w.baseline, &w.offered);
    report
        .figure(
            "webhooks stored, saturated",
            saturation.stored_per_second,
            "webhooks/s",
        )
        .against("inbox_batch_max = 1", baseline.stored_per_second)
        .target(Target::AtLeast(10_000.0));
    report
        .figure(
            "webhooks applied, saturated",
            saturation.applied_per_second,
            "webhooks/s",
        )
        .against("inbox_batch_max = 1", baseline.applied_per_second)
        .target(Target::AtLeast(10_000.0));
    report
        .figure("answer p50, saturated", ms(saturation.answer.p50), "ms")
        .against("inbox_batch_max = 1", ms(baseline.answer.p50));
    report
        .figure("answer p99, saturated", ms(saturation.answer.p99), "ms")
        .against("inbox_batch_max = 1", ms(baseline.answer.p99));
    report.figure(
        "refusals (429/503), saturated",
        f64::from(saturation.refusals),
        "answers",
    );
    report.figure(
        "offered load achieved",
        offered.achieved_per_second,
        "webhooks/s",
    );
    report.figure("answer p50, offered load", ms(offered.answer.p50), "ms");
    report
        .figure("answer p99, offered load", ms(offered.answer.p99), "ms")
        .target(Target::AtMost(50.0));
    report.figure(
        "refusals (429/503), offered load",
        f64::from(offered.refusals),
        "answers",
    );
    report.figure(
        "until stored p99 (redeliveries included), offered load",
        ms(offered.stored.p99),
        "ms",
    );
    report.figure(
        "until the balance shows it p50, offered load",
        ms(offered.balance.p50),
        "ms",
    );
    report
        .figure(
            "until the balance shows it p99, offered load",
            ms(offered.balance.p99),
            "ms",
        )
        .target(Target::AtMost(250.0));
    report
        .figure("RSS idle", w.idle, "MiB")
        .target(Target::AtMost(150.0));
    report
        .figure("RSS after load", w.loaded, "MiB")
        .against("idle", w.idle);
    report
        .figure("RSS peak under load", w.peak, "MiB")
        .against("idle", w.idle);
}

fn report_postgres(
    report: &mut Report,
    pg: &OnPostgres,
    sqlite: Option<&Saturation>,
    sqlite_poll: Option<f64>,
) {
    let with = |figure: &mut loyalty_e2e::bench::Figure, baseline: Option<f64>| {
        if let Some(baseline) = baseline {
            figure.against("SQLite", baseline);
        }
    };
    with(
        report.figure(
            "PostgreSQL: webhooks stored, saturated",
            pg.one.stored_per_second,
            "webhooks/s",
        ),
        sqlite.map(|s| s.stored_per_second),
    );
    with(
        report.figure(
            "PostgreSQL: webhooks applied, saturated",
            pg.one.applied_per_second,
            "webhooks/s",
        ),
        sqlite.map(|s| s.applied_per_second),
    );
    with(
        report.figure(
            "PostgreSQL: answer p99, saturated",
            ms(pg.one.answer.p99),
            "ms",
        ),
        sqlite.map(|s| ms(s.answer.p99)),
    );
    report
        .figure(
            "PostgreSQL, 2 daemons: webhooks stored, saturated",
            pg.two.stored_per_second,
            "webhooks/s",
        )
        .against("1 daemon", pg.one.stored_per_second);
    report
        .figure(
            "PostgreSQL, 2 daemons: webhooks applied, saturated",
            pg.two.applied_per_second,
            "webhooks/s",
        )
        .against("1 daemon", pg.one.applied_per_second);
    with(
        report.figure("PostgreSQL: poll, pages of 250", pg.poll, "orders/s"),
        sqlite_poll,
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let sizes = sizes();
    let parts = parts();
    let mut report = Report::new("ingest");
    report.setup("companies", sizes.companies);
    report.setup("saturation webhooks", sizes.saturation);
    report.setup("senders", SENDERS);
    report.setup(
        "offered load",
        format!(
            "{}/s for {} s",
            sizes.offered_per_second, sizes.offered_seconds
        ),
    );
    report.setup("polled orders", sizes.poll_orders);
    // Build everything before timing anything.
    official_plugin("shopify");
    loyalty_e2e::loyaltyd_binary();

    let dirs = tempfile::Builder::new()
        .prefix("loyaltyd-bench-")
        .tempdir()
        .unwrap();

    let webhooks = if parts.webhooks {
        Some(webhooks(&sizes, dirs.path()).await)
    } else {
        None
    };
    let polled = if parts.poll {
        polls(&sizes, dirs.path()).await
    } else {
        Vec::new()
    };
    let on_postgres = match std::env::var(SERVER) {
        Ok(_) if parts.postgres => Some(on_postgres(&sizes, dirs.path()).await),
        Ok(_) => None,
        Err(_) => {
            println!(
                "PostgreSQL: skipped ({SERVER} is not set; `tests/run --bench ingest` sets it)"
            );
            None
        }
    };

    if let Some(w) = &webhooks {
        report_webhooks(&mut report, w);
    }
    if let Some(&(_, per_100)) = polled.first() {
        for &(page_size, rate) in &polled {
            report
                .figure(&format!("poll, pages of {page_size}"), rate, "orders/s")
                .against("pages of 100", per_100)
                .target(Target::AtLeast(100_000.0));
        }
    }
    if let Some(pg) = &on_postgres {
        let sqlite_poll = polled.iter().find(|(size, _)| *size == 250).map(|p| p.1);
        report_postgres(
            &mut report,
            pg,
            webhooks.as_ref().map(|w| &w.saturation),
            sqlite_poll,
        );
    }
    report.publish().unwrap();
}
