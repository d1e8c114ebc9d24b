//! Crash safety: the real `loyaltyd` is fed a sustained stream of signed
//! Shopify webhooks, killed with SIGKILL at random moments and restarted on
//! the same directory and port, while the sender redelivers, under the same
//! `X-Shopify-Webhook-Id`, every delivery that was not answered 200 (a
//! connection error, a timeout, a 503), as Shopify does. Once everything is
//! acknowledged and the inbox is drained, every account's balance, tier and
//! number of ledger entries, and every order's earned and reversed points,
//! must equal an independent model computed from the generated payloads:
//! nothing lost, nothing doubled. No effect key may appear twice, and after
//! one more kill `loyaltyd ledger verify` must pass and a restarted daemon
//! must show the same state.
//!
//! This is what the README's "Operations" promises: SQLite in WAL mode with
//! `synchronous = NORMAL` keeps every committed transaction through a
//! process kill, a webhook is answered 200 only after its commit, and a
//! delivery interrupted half-way is applied once after the restart.
//!
//! The workload is seeded; the seed is printed, and
//! `CRASH_SAFETY_SEED=<seed>` reruns one (the kills land at the same points
//! of the stream, not at the same instants). `CRASH_SAFETY_SCALE=<n>`
//! multiplies the orders, the kills and the deadlines by n for a longer run
//! than CI's. B2B orders of several
//! companies are created (on payment terms, or paid at checkout), paid or
//! left unpaid, updated, and refunded once or several times; some orders'
//! updates embed their refunds, as Shopify's do. Some deliveries are sent
//! twice under the same webhook id (a retry), some under a new one (a
//! second subscription), and some are held back (a vendor's delayed retry),
//! so refunds may arrive before their payment.
//!
//! The model counts entries exactly whatever the arrival order: an order
//! earns one `earn` entry of floor(net x 2); an order refunded once gets one
//! `reverse` entry (if the refund is worth a point) whether the refund
//! arrives before its payment (remembered, reversed when the order earns)
//! or after it. Refunds that arrive before the payment are reversed
//! together in one entry, so the refunds of an order refunded several times
//! are sent only once its `orders/paid` is acknowledged (in life they follow
//! the payment by days), and each is worth at least a point: one entry
//! each. Tiers have no grace period, so an account's tier is the one its
//! final qualifying spend reaches, whatever path it took there.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    reason = "a test prints its seed and figures, and fails loudly"
)]

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;
use std::os::unix::process::ExitStatusExt as _;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use loyalty_e2e::daemon::{Daemon, ProgramRules, Setup, ShopifySetup, Snapshot, random_token};
use loyalty_e2e::shopify::rest::{Address, CompanyRef, DiscountCode, LineItem};
use loyalty_e2e::shopify::samples::{API_VERSION, SHOP_DOMAIN};
use loyalty_e2e::shopify::{Cents, Company, Customer, Order, ShopifyEmulator, WebhookSender};
use loyalty_e2e::{loyaltyd_binary, official_plugin};
use serde_json::Value;
use tokio::task::JoinSet;

const WEBHOOK_SECRET: &str = "e2e-shopify-app-webhook-secret";
const ACCESS_TOKEN: &str = "shpat_e2e0000000000000000000000000";
/// The connector's name, which is the source of everything it produces.
const SOURCE: &str = "shopify";

/// Points per EUR of net order value (the harness's default program).
const POINTS_PER_EUR: i64 = 2;
/// The tiers, lowest first: id and minimum qualifying spend in EUR cents.
const TIERS: [(&str, i64); 3] = [
    ("silver", 300_000),
    ("gold", 1_000_000),
    ("platinum", 2_500_000),
];
/// The program's tiers: no grace period, so a refund that takes an
/// account's spend below its tier moves it down at once, and the final
/// tier does not depend on the order refunds and payments arrived in.
const TIERS_TOML: &str = r#"
[program.tiers]
window_days = 365
grace_days = 0

[[program.tiers.levels]]
id = "silver"
name = "Silver"
min_spend = "3000"

[[program.tiers.levels]]
id = "gold"
name = "Gold"
min_spend = "10000"
discount_percent = "3"
perks = ["Free standard shipping"]

[[program.tiers.levels]]
id = "platinum"
name = "Platinum"
min_spend = "25000"
discount_percent = "5"
perks = ["Free express shipping", "Dedicated account manager"]
"#;

/// The buying companies.
const COMPANY_NAMES: [&str; 6] = [
    "Brandt Maschinenbau GmbH",
    "Nordlicht Logistik AG",
    "Huber Feinmechanik KG",
    "Vossberg Anlagenbau GmbH",
    "Keller & Söhne Metallbau",
    "Rheintal Pumpen AG",
];
/// Orders in the stream, times the scale.
const ORDERS: usize = 100;

/// Deliveries in flight at once, as a vendor's webhook workers send them.
const IN_FLIGHT_MAX: usize = 8;
/// A delivery not answered within this is not acknowledged.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The first redelivery waits this long, doubling up to
/// [`REDELIVERY_DELAY_MAX`]: a vendor's exponential backoff, scaled down
/// from minutes to milliseconds.
const REDELIVERY_DELAY: Duration = Duration::from_millis(25);
const REDELIVERY_DELAY_MAX: Duration = Duration::from_millis(800);
/// Kills during the stream, at least and at most, times the scale.
const KILLS_MIN: usize = 3;
const KILLS_MAX: usize = 6;
/// Liveness guards, far above what a run takes: the whole stream
/// acknowledged, and the inbox drained after it; times the scale.
const STREAM_DEADLINE: Duration = Duration::from_secs(180);
const DRAIN_DEADLINE: Duration = Duration::from_secs(120);
/// Lines of the daemon's log a failure shows.
const LOG_TAIL: usize = 120;

const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;

/// `CRASH_SAFETY_SCALE`, 1 unless set to a larger whole number.
fn scale() -> usize {
    std::env::var("CRASH_SAFETY_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
        .max(1)
}

fn scaled(duration: Duration) -> Duration {
    duration * u32::try_from(scale()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_webhook_load_loses_and_doubles_nothing() {
    let started = Instant::now();
    let seed = std::env::var("CRASH_SAFETY_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    println!("crash safety seed: {seed} (rerun with CRASH_SAFETY_SEED={seed})");
    let mut rng = fastrand::Rng::with_seed(seed);
    let workload = Workload::generate(&mut rng, now_ms());
    let kill_points = kill_points(&mut rng, workload.deliveries.len());

    let emulator = ShopifyEmulator::start(ACCESS_TOKEN).await.unwrap();
    for company in &workload.companies {
        emulator.put_company(company.clone());
    }
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
        extra_toml: TIERS_TOML.to_owned(),
        secrets: Vec::new(),
    };
    let daemon = Arc::new(Daemon::start(&setup).await.unwrap());
    let webhooks = WebhookSender::new(daemon.base_url(), WEBHOOK_SECRET, SHOP_DOMAIN, API_VERSION);
    let ready = started.elapsed();

    // The stream, and the crashes beside it.
    let progress = Arc::new(Progress::default());
    let crashes = tokio::spawn(crash_repeatedly(
        daemon.clone(),
        progress.clone(),
        kill_points,
        rng.u64(..),
    ));
    let stream_started = Instant::now();
    let sent = send_all(&webhooks, &workload.deliveries, &progress).await;
    progress.done.store(true, Ordering::SeqCst);
    let kills = match crashes.await.unwrap() {
        Ok(kills) => kills,
        Err(error) => panic!(
            "seed {seed}: crashing and restarting loyaltyd failed: {error:#}\n{}",
            daemon.log_tail(LOG_TAIL)
        ),
    };
    let stats = match sent {
        Ok(stats) => stats,
        Err(error) => panic!(
            "seed {seed}: the stream was not acknowledged: {error:#}\n{}",
            daemon.log_tail(LOG_TAIL)
        ),
    };
    let stream_time = stream_started.elapsed();
    assert!(
        kills.len() >= KILLS_MIN * scale(),
        "seed {seed}: only {} kills",
        kills.len()
    );
    assert!(
        stats.anomalies.is_empty(),
        "seed {seed}: the answers show the inbox lost or doubled an acknowledged delivery:\n{}\n{}",
        stats.anomalies.join("\n"),
        daemon.log_tail(LOG_TAIL)
    );

    // Drained: deliveries are processed in the order they were stored, so
    // once a marker stored after everything else shows, all were processed.
    let drain_started = Instant::now();
    let marker = workload.marker(now_ms());
    deliver_until_acknowledged(&webhooks, &marker)
        .await
        .unwrap_or_else(|e| panic!("seed {seed}: {e:#}\n{}", daemon.log_tail(LOG_TAIL)));
    let (company, customer, email) = workload.marker_contact(&marker);
    let state = daemon
        .wait_until_within(
            &format!("the marker ({email}) is applied after the whole stream"),
            scaled(DRAIN_DEADLINE),
            // A dead letter fails the comparison below at once.
            |s| {
                !s.dead_letters.is_empty()
                    || s.account_known_as(SOURCE, &company)
                        .and_then(|a| a.contact(SOURCE, &customer))
                        .is_some_and(|c| c.email.as_deref() == Some(email.as_str()))
            },
        )
        .await
        .unwrap_or_else(|e| panic!("seed {seed}: {e:#}"));
    let drain_time = drain_started.elapsed();

    let model = Model::of(&workload.orders);
    let problems = compare(&model, &state);
    assert!(
        problems.is_empty(),
        "seed {seed}: the daemon's state differs from the model after {} kills:\n{}\n\n\
         stream: {stats:?}\n{}",
        kills.len(),
        problems.join("\n"),
        daemon.log_tail(LOG_TAIL)
    );

    // One more crash, now idle: the state is the same after it, and every
    // hash chain holds.
    let status = daemon.kill().unwrap();
    assert_eq!(
        status.signal(),
        Some(9),
        "seed {seed}: loyaltyd had exited on its own ({status}) before the last kill\n{}",
        daemon.log_tail(LOG_TAIL)
    );
    let verify = Command::new(loyaltyd_binary())
        .args(["ledger", "verify", "--config"])
        .arg(daemon.config_path())
        .output()
        .unwrap();
    let verified = format!(
        "{}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
    assert!(
        verify.status.success(),
        "seed {seed}: loyaltyd ledger verify failed ({}):\n{verified}",
        verify.status
    );
    daemon.restart().await.unwrap();
    let after = daemon.admin().snapshot().await.unwrap();
    assert!(
        after == state,
        "seed {seed}: the state changed across a kill of an idle daemon:\n{}\n{}",
        compare(&model, &after).join("\n"),
        daemon.log_tail(LOG_TAIL)
    );

    let entries: usize = state.ledgers.values().map(|l| l.entries.len()).sum();
    println!(
        "  {} deliveries ({} webhook ids: {} retries under the same id, {} second \
         subscriptions, {} held back) for {} orders of {} companies",
        workload.deliveries.len(),
        workload
            .deliveries
            .iter()
            .map(|d| &d.webhook_id)
            .collect::<HashSet<_>>()
            .len(),
        workload.copies.retries,
        workload.copies.subscriptions,
        workload.copies.delayed,
        workload.orders.len(),
        workload.companies.len(),
    );
    println!(
        "  {} attempts: {} stored, {} duplicate ({} committed although their answer was lost); \
         {} redelivered ({} attempts at most) after {} connection errors, {} timeouts, {} 503s, \
         {} other 5xx",
        stats.attempts,
        stats.stored,
        stats.duplicate,
        stats.committed_unanswered,
        stats.redelivered,
        stats.attempts_max,
        stats.connection_errors,
        stats.timeouts,
        stats.unavailable,
        stats.server_errors,
    );
    if let Some(error) = &stats.last_server_error {
        // Redelivered like any 5xx, so not a failure here, but worth a look.
        println!("  the last 5xx other than 503: {error}; the log's errors:");
        for line in daemon
            .log()
            .lines()
            .filter(|l| l.contains(" ERROR "))
            .take(5)
        {
            println!("    {line}");
        }
    }
    for kill in &kills {
        println!(
            "  killed after {} deliveries acknowledged, {} in flight; ready again {} ms later",
            kill.after_acknowledged,
            kill.in_flight,
            kill.down.as_millis()
        );
    }
    println!(
        "  {} accounts, {entries} ledger entries, all as the model has them; {}",
        state.accounts.len(),
        verified.trim()
    );
    for (company, expected) in &model.accounts {
        let Some(account) = state.account_known_as(SOURCE, company) else {
            continue;
        };
        println!(
            "    {}: {} points, {} entries, tier {} (spend {} EUR)",
            account.name,
            account.balance,
            expected.entries,
            account.tier.as_deref().unwrap_or("none"),
            Cents(expected.spend)
        );
    }
    println!(
        "  time: {} ms to start, {} ms streaming, {} ms draining, {} ms in all",
        ready.as_millis(),
        stream_time.as_millis(),
        drain_time.as_millis(),
        started.elapsed().as_millis()
    );
}

// ---------------------------------------------------------------------------
// The workload
// ---------------------------------------------------------------------------

/// One webhook delivery as the vendor sends it.
#[derive(Debug, Clone)]
struct Delivery {
    topic: &'static str,
    webhook_id: String,
    body: Arc<Value>,
    /// A webhook id that must be acknowledged before this is sent.
    after: Option<String>,
}

/// What the model needs of an order.
#[derive(Debug, Clone)]
struct PlannedOrder {
    id: u64,
    company: u64,
    /// The buyer's customer id.
    buyer: u64,
    paid: bool,
    /// Net (`subtotal_price`, shop money) in cents.
    net: i64,
    /// Each refund's merchandise subtotal in cents, in the order made.
    refunds: Vec<i64>,
    /// Whether its refunds are sent only after its payment is acknowledged.
    refunds_after_payment: bool,
}

/// How many deliveries were added to the orders' own.
#[derive(Debug, Default)]
struct Copies {
    retries: usize,
    subscriptions: usize,
    delayed: usize,
}

#[derive(Debug)]
struct Workload {
    companies: Vec<Company>,
    /// Each company's buyers.
    buyers: BTreeMap<u64, Vec<Customer>>,
    orders: Vec<PlannedOrder>,
    /// In sending order.
    deliveries: Vec<Delivery>,
    copies: Copies,
}

const COMPANY_BASE: u64 = 9_007_199_254_800_000;
const ORDER_BASE: u64 = 9_007_199_255_000_000;
const REFUND_BASE: u64 = 9_007_199_256_000_000;

impl Workload {
    fn generate(rng: &mut fastrand::Rng, now: i64) -> Self {
        let companies: Vec<Company> = COMPANY_NAMES
            .iter()
            .enumerate()
            .map(|(i, name)| Company {
                id: COMPANY_BASE + 1000 * i as u64,
                name: (*name).to_owned(),
                external_id: Some(format!("ERP-{}", 20_001 + i)),
                note: None,
                created_at: "2025-06-02T09:00:00Z".to_owned(),
                updated_at: "2025-06-02T09:00:00Z".to_owned(),
            })
            .collect();
        let buyers: BTreeMap<u64, Vec<Customer>> = companies
            .iter()
            .map(|c| (c.id, (1..=2).map(|n| buyer(c, n)).collect()))
            .collect();
        let mut timelines = Vec::new();
        let mut orders = Vec::new();
        let mut ids = Ids::default();
        for n in 0..ORDERS * scale() {
            // Later companies buy more, so that accounts end in every tier.
            let company = &companies[weighted(rng, companies.len())];
            let buyer = &buyers[&company.id][rng.usize(..2)];
            // Placed 70 to 190 days ago: inside the tiers' 365-day window.
            let placed = now - 190 * DAY_MS + rng.i64(0..120 * DAY_MS);
            let (planned, steps) = order_life(rng, &mut ids, n, company, buyer, placed);
            orders.push(planned);
            timelines.push(steps);
        }
        let (deliveries, copies) = interleave(rng, &mut ids, timelines);
        Self {
            companies,
            buyers,
            orders,
            deliveries,
            copies,
        }
    }

    /// A profile update of the first order's buyer, newer than anything
    /// before it: once it shows on the company's contact, everything stored
    /// before it has been processed.
    fn marker(&self, now: i64) -> Delivery {
        let first = &self.orders[0];
        let mut buyer = self.buyers[&first.company]
            .iter()
            .find(|b| b.id == first.buyer)
            .expect("the first order's buyer")
            .clone();
        buyer.email = format!("marker+{now}@example.com");
        buyer.updated_at = rfc3339(now);
        Delivery {
            topic: "customers/update",
            webhook_id: format!("marker-{now}"),
            body: Arc::new(buyer.body()),
            after: None,
        }
    }

    /// (company id, customer id, email) of the marker's contact.
    fn marker_contact(&self, marker: &Delivery) -> (String, String, String) {
        let first = &self.orders[0];
        (
            first.company.to_string(),
            first.buyer.to_string(),
            marker.body["email"].as_str().unwrap_or_default().to_owned(),
        )
    }
}

/// A random index below `n`, `i` with weight `i + 1`.
fn weighted(rng: &mut fastrand::Rng, n: usize) -> usize {
    let mut pick = rng.usize(..n * (n + 1) / 2);
    for i in 0..n {
        if pick <= i {
            return i;
        }
        pick -= i + 1;
    }
    n - 1
}

/// A company's buyer `n`.
fn buyer(company: &Company, n: u64) -> Customer {
    let (first, last) = [("Jana", "Brandt"), ("Tim", "Kuhn")][usize::from(n == 2)];
    let domain = company
        .name
        .split_whitespace()
        .next()
        .unwrap_or("buyer")
        .to_lowercase();
    Customer {
        id: company.id + 100 + n,
        email: format!(
            "{}.{}@{domain}.example",
            first.to_lowercase(),
            last.to_lowercase()
        ),
        first_name: first.to_owned(),
        last_name: last.to_owned(),
        phone: None,
        address: Address {
            address1: "Werftstraße 12".to_owned(),
            city: "Hamburg".to_owned(),
            zip: "20457".to_owned(),
            country: "Germany".to_owned(),
            country_code: "DE".to_owned(),
            company: Some(company.name.clone()),
        },
        created_at: "2025-06-02T10:00:00+02:00".to_owned(),
        updated_at: "2025-06-02T10:00:00+02:00".to_owned(),
    }
}

/// Webhook ids, unique within a run.
#[derive(Default)]
struct Ids {
    used: HashSet<String>,
}

impl Ids {
    /// A UUID, as Shopify's webhook ids are.
    fn fresh(&mut self, rng: &mut fastrand::Rng) -> String {
        loop {
            let h = format!("{:032x}", rng.u128(..));
            let id = format!(
                "{}-{}-4{}-a{}-{}",
                &h[..8],
                &h[8..12],
                &h[13..16],
                &h[17..20],
                &h[20..32]
            );
            if self.used.insert(id.clone()) {
                return id;
            }
        }
    }
}

/// One order's deliveries in the order Shopify would send them, and what
/// the model needs of it.
fn order_life(
    rng: &mut fastrand::Rng,
    ids: &mut Ids,
    n: usize,
    company: &Company,
    buyer: &Customer,
    placed: i64,
) -> (PlannedOrder, Vec<Delivery>) {
    let id = ORDER_BASE + 100 * n as u64;
    let lines = (0..rng.u64(1..=3))
        .map(|k| {
            let quantity = rng.i64(1..=12);
            let unit_price = Cents(rng.i64(500..=40_000));
            // Volume pricing on some lines: 5 to 15 % off the line.
            let line_discount = if rng.u8(..10) < 3 {
                Cents(unit_price.0 * quantity * rng.i64(5..=15) / 100)
            } else {
                Cents(0)
            };
            LineItem {
                id: id + 1 + k,
                product_id: 8_412_345_690_000 + k,
                variant_id: 45_123_456_790_000 + k,
                title: ["Ball valve DN50", "Bearing 6205-2RS", "Hex bolts M12"][k as usize]
                    .to_owned(),
                variant_title: "Standard".to_owned(),
                sku: format!("RW-{n:03}-{k}"),
                vendor: "Rheinwerk".to_owned(),
                quantity,
                unit_price,
                line_discount,
                grams: 900,
            }
        })
        .collect();
    let mut order = Order {
        id,
        number: 3001 + n as u64,
        company: Some(CompanyRef {
            id: company.id,
            location_id: company.id + 50,
        }),
        customer: buyer.clone(),
        lines,
        discount_code: (rng.u8(..10) < 3).then(|| DiscountCode {
            code: "PARTNER".to_owned(),
            percent: rng.i64(2..=10),
        }),
        shipping: Cents(rng.i64(0..=8000)),
        tax_percent: 19,
        financial_status: "pending".to_owned(),
        created_at: rfc3339(placed),
        updated_at: rfc3339(placed),
        cancelled_at: None,
        refunds: Vec::new(),
        po_number: Some(format!("PO-{n:04}")),
    };
    let mut steps = Vec::new();
    let mut send = |rng: &mut fastrand::Rng, topic, body: Value, after: Option<&String>| {
        let webhook_id = ids.fresh(rng);
        steps.push(Delivery {
            topic,
            webhook_id: webhook_id.clone(),
            body: Arc::new(body),
            after: after.cloned(),
        });
        webhook_id
    };

    let paid = rng.u8(..10) < 9;
    let paid_at = placed + 2 * DAY_MS + rng.i64(0..DAY_MS);
    let mut paid_id = None;
    if paid && rng.u8(..10) < 3 {
        // Paid at checkout: `orders/create` and `orders/paid` carry the same
        // version.
        order.financial_status = "paid".to_owned();
        send(rng, "orders/create", order.body(), None);
        paid_id = Some(send(rng, "orders/paid", order.body(), None));
    } else {
        send(rng, "orders/create", order.body(), None);
        if paid {
            order.financial_status = "paid".to_owned();
            order.updated_at = rfc3339(paid_at);
            paid_id = Some(send(rng, "orders/paid", order.body(), None));
        } else if rng.bool() {
            // An edit of the purchase order number, still on payment terms.
            order.po_number = Some(format!("PO-{n:04}-B"));
            order.updated_at = rfc3339(placed + HOUR_MS);
            send(rng, "orders/updated", order.body(), None);
        }
    }
    if paid && rng.u8(..10) < 3 {
        order.po_number = Some(format!("PO-{n:04}-R"));
        order.updated_at = rfc3339(paid_at + HOUR_MS);
        send(rng, "orders/updated", order.body(), None);
    }

    // Refunds: none, one (which may arrive before the payment), or several
    // (sent once the payment is acknowledged).
    let refund_count = match (paid, rng.u8(..20)) {
        (false, _) | (true, 0..=8) => 0,
        (true, 9..=14) => 1,
        (true, _) => rng.usize(2..=3),
    };
    let after_payment = refund_count > 1;
    let gate = if after_payment {
        paid_id.as_ref()
    } else {
        None
    };
    let earned = order.subtotal().0 * POINTS_PER_EUR / 100;
    for k in 0..refund_count {
        let refund_id = REFUND_BASE + 100 * n as u64 + 10 * k as u64;
        let at = paid_at + (k as i64 + 1) * DAY_MS;
        let last = k + 1 == refund_count;
        let refund = if last && rng.bool() {
            order.refund_everything_left(refund_id, &rfc3339(at))
        } else {
            let left: Vec<(u64, i64)> = order
                .lines
                .iter()
                .map(|l| (l.id, l.quantity - refunded_units(&order, l.id)))
                .filter(|&(_, left)| left > 0)
                .collect();
            if left.is_empty() {
                break;
            }
            let (line, left) = left[rng.usize(..left.len())];
            order.refund(refund_id, &rfc3339(at), &[(line, rng.i64(1..=left))])
        };
        if refund.lines.is_empty() {
            break;
        }
        let subtotal = refund.subtotal().0;
        assert!(
            !after_payment || earned * subtotal >= order.subtotal().0,
            "generator: refund {refund_id} of order {id} is worth less than a point"
        );
        send(rng, "refunds/create", refund.body(), gate);
        order.refunds.push(refund);
        if rng.bool() {
            // The order's update announces the refund again, embedded.
            let everything = order
                .lines
                .iter()
                .all(|l| refunded_units(&order, l.id) == l.quantity);
            order.financial_status = if everything {
                "refunded"
            } else {
                "partially_refunded"
            }
            .to_owned();
            order.updated_at = rfc3339(at + 60_000);
            send(rng, "orders/updated", order.body(), gate);
        }
    }
    let planned = PlannedOrder {
        id,
        company: company.id,
        buyer: buyer.id,
        paid,
        net: order.subtotal().0,
        refunds: order.refunds.iter().map(|r| r.subtotal().0).collect(),
        refunds_after_payment: after_payment,
    };
    (planned, steps)
}

/// Units of an order line refunded so far.
fn refunded_units(order: &Order, line: u64) -> i64 {
    order
        .refunds
        .iter()
        .flat_map(|r| &r.lines)
        .filter(|l| l.line_item_id == line)
        .map(|l| l.quantity)
        .sum()
}

/// Merges the orders' timelines at random, each in its own order, then
/// holds some deliveries back (a vendor's delayed retry) and adds copies:
/// the same delivery again under its webhook id, or under a new one.
fn interleave(
    rng: &mut fastrand::Rng,
    ids: &mut Ids,
    timelines: Vec<Vec<Delivery>>,
) -> (Vec<Delivery>, Copies) {
    let mut queues: Vec<std::collections::VecDeque<Delivery>> =
        timelines.into_iter().map(Into::into).collect();
    let mut merged = Vec::new();
    loop {
        let open: Vec<usize> = (0..queues.len())
            .filter(|&i| !queues[i].is_empty())
            .collect();
        if open.is_empty() {
            break;
        }
        let pick = open[rng.usize(..open.len())];
        merged.extend(queues[pick].pop_front());
    }
    let mut copies = Copies::default();
    // (position, tie-break, delivery): sorted into the sending order.
    let mut keyed = Vec::new();
    for (i, delivery) in merged.into_iter().enumerate() {
        let mut at = i;
        if rng.u8(..100) < 10 {
            at += rng.usize(5..=40);
            copies.delayed += 1;
        }
        if rng.u8(..100) < 8 {
            copies.retries += 1;
            keyed.push((at + rng.usize(1..=60), keyed.len(), delivery.clone()));
        }
        if rng.u8(..100) < 5 {
            copies.subscriptions += 1;
            let second = Delivery {
                webhook_id: ids.fresh(rng),
                ..delivery.clone()
            };
            keyed.push((at + rng.usize(..=30), keyed.len(), second));
        }
        keyed.push((at, keyed.len(), delivery));
    }
    keyed.sort_by_key(|(at, tie, _)| (*at, *tie));
    (keyed.into_iter().map(|(_, _, d)| d).collect(), copies)
}

/// Where the kills land: after how many deliveries were acknowledged,
/// between 10 % and 90 % of the stream. Two may fall close together: the
/// second then hits the daemon while it catches up after the first.
fn kill_points(rng: &mut fastrand::Rng, deliveries: usize) -> Vec<usize> {
    let count = rng.usize(KILLS_MIN * scale()..=KILLS_MAX * scale());
    let mut points: Vec<usize> = (0..count)
        .map(|_| rng.usize(deliveries / 10..=deliveries * 9 / 10))
        .collect();
    points.sort_unstable();
    points
}

// ---------------------------------------------------------------------------
// The sender
// ---------------------------------------------------------------------------

/// What the sender and the crasher share.
#[derive(Debug, Default)]
struct Progress {
    /// Deliveries answered 200.
    acknowledged: AtomicUsize,
    /// Requests under way.
    in_flight: AtomicUsize,
    /// Set once the stream is acknowledged.
    done: AtomicBool,
    /// Set when the crasher failed: nothing will answer any more.
    crasher_failed: AtomicBool,
}

#[derive(Debug, Default)]
struct SendStats {
    attempts: usize,
    stored: usize,
    duplicate: usize,
    /// Webhook ids never answered `stored`, only `duplicate`: the attempt
    /// that stored them was committed, then its answer was lost in a kill.
    committed_unanswered: usize,
    /// Deliveries that needed more than one attempt.
    redelivered: usize,
    attempts_max: u32,
    connection_errors: usize,
    timeouts: usize,
    unavailable: usize,
    server_errors: usize,
    last_server_error: Option<String>,
    last_connection_error: Option<String>,
    /// Answers that show the inbox forgot an acknowledged delivery.
    anomalies: Vec<String>,
}

/// The acknowledgements of one webhook id.
struct Acks {
    /// The inbox id the first one named; every other must name it too.
    inbox_id: i64,
    /// How many said `stored`: at most one may.
    stored: usize,
}

/// How one attempt ended.
enum Attempt {
    Answered(u16, Value),
    Failed(String),
    TimedOut,
}

/// Sends every delivery until each is answered 200, at most
/// [`IN_FLIGHT_MAX`] at a time, redelivering the others with backoff.
async fn send_all(
    webhooks: &WebhookSender,
    deliveries: &[Delivery],
    progress: &Progress,
) -> anyhow::Result<SendStats> {
    let deadline = Instant::now() + scaled(STREAM_DEADLINE);
    let mut stats = SendStats::default();
    let mut attempts = vec![0_u32; deliveries.len()];
    let mut acknowledged = vec![false; deliveries.len()];
    let mut acked_ids: HashMap<&str, Acks> = HashMap::new();
    let mut next = 0;
    let mut held: Vec<usize> = Vec::new();
    let mut redeliveries: BTreeSet<(Instant, usize)> = BTreeSet::new();
    let mut in_flight: JoinSet<(usize, Attempt)> = JoinSet::new();
    let mut left = deliveries.len();
    while left > 0 {
        anyhow::ensure!(
            !progress.crasher_failed.load(Ordering::SeqCst),
            "the crasher failed with {left} deliveries not acknowledged"
        );
        anyhow::ensure!(
            Instant::now() < deadline,
            "{left} deliveries not acknowledged after {} s: {stats:?}",
            scaled(STREAM_DEADLINE).as_secs()
        );
        while in_flight.len() < IN_FLIGHT_MAX {
            let ready = |i: usize, acked: &HashMap<&str, Acks>| {
                deliveries[i]
                    .after
                    .as_deref()
                    .is_none_or(|id| acked.contains_key(id))
            };
            let pick = if let Some(&(due, i)) = redeliveries.first()
                && due <= Instant::now()
            {
                redeliveries.pop_first();
                Some(i)
            } else if let Some(at) = held.iter().position(|&i| ready(i, &acked_ids)) {
                Some(held.remove(at))
            } else if next < deliveries.len() {
                let i = next;
                next += 1;
                if !ready(i, &acked_ids) {
                    held.push(i);
                    continue;
                }
                Some(i)
            } else {
                None
            };
            let Some(i) = pick else { break };
            attempts[i] += 1;
            stats.attempts += 1;
            progress.in_flight.fetch_add(1, Ordering::SeqCst);
            let (webhooks, delivery) = (webhooks.clone(), deliveries[i].clone());
            in_flight.spawn(async move {
                let sent = tokio::time::timeout(
                    REQUEST_TIMEOUT,
                    webhooks.send(delivery.topic, &delivery.webhook_id, &delivery.body),
                )
                .await;
                let attempt = match sent {
                    Ok(Ok(answer)) => Attempt::Answered(answer.status, answer.body),
                    Ok(Err(error)) => Attempt::Failed(format!("{error:#}")),
                    Err(_) => Attempt::TimedOut,
                };
                (i, attempt)
            });
        }
        // Wait for an answer, or for a redelivery to fall due if there is
        // room to send it.
        let due = redeliveries
            .first()
            .map(|&(due, _)| due)
            .filter(|_| in_flight.len() < IN_FLIGHT_MAX);
        let finished = match (in_flight.is_empty(), due) {
            (true, None) => anyhow::bail!(
                "nothing to send, nothing in flight, {left} not acknowledged: \
                 {} held for deliveries never acknowledged",
                held.len()
            ),
            (true, Some(due)) => {
                tokio::time::sleep_until(due.into()).await;
                continue;
            }
            (false, Some(due)) => tokio::select! {
                finished = in_flight.join_next() => finished,
                () = tokio::time::sleep_until(due.into()) => continue,
            },
            (false, None) => in_flight.join_next().await,
        };
        let Some(finished) = finished else { continue };
        let (i, attempt) = finished?;
        progress.in_flight.fetch_sub(1, Ordering::SeqCst);
        let delivery = &deliveries[i];
        match attempt {
            Attempt::Answered(200, body) => {
                acknowledged[i] = true;
                left -= 1;
                progress.acknowledged.fetch_add(1, Ordering::SeqCst);
                if attempts[i] > 1 {
                    stats.redelivered += 1;
                }
                stats.attempts_max = stats.attempts_max.max(attempts[i]);
                let inbox_id = body["inbox_id"].as_i64().unwrap_or_default();
                let acks = acked_ids
                    .entry(delivery.webhook_id.as_str())
                    .or_insert(Acks {
                        inbox_id,
                        stored: 0,
                    });
                let outcome = body["status"].as_str().unwrap_or_default();
                match outcome {
                    "stored" => {
                        stats.stored += 1;
                        acks.stored += 1;
                    }
                    "duplicate" => stats.duplicate += 1,
                    _ => {}
                }
                if acks.inbox_id != inbox_id || acks.stored > 1 || outcome.is_empty() {
                    stats.anomalies.push(format!(
                        "{} {}: answered {body} (attempt {}) after an acknowledgement as inbox \
                         id {}",
                        delivery.topic, delivery.webhook_id, attempts[i], acks.inbox_id
                    ));
                }
            }
            Attempt::Answered(status, body) if status >= 500 => {
                if status == 503 {
                    stats.unavailable += 1;
                } else {
                    stats.server_errors += 1;
                    stats.last_server_error = Some(format!("{status} {body}"));
                }
                redeliveries.insert((redelivery_time(attempts[i]), i));
            }
            Attempt::Answered(status, body) => anyhow::bail!(
                "{} {} was refused with {status}: {body}",
                delivery.topic,
                delivery.webhook_id
            ),
            Attempt::Failed(error) => {
                stats.connection_errors += 1;
                stats.last_connection_error = Some(error);
                redeliveries.insert((redelivery_time(attempts[i]), i));
            }
            Attempt::TimedOut => {
                stats.timeouts += 1;
                redeliveries.insert((redelivery_time(attempts[i]), i));
            }
        }
    }
    debug_assert!(acknowledged.iter().all(|a| *a));
    stats.committed_unanswered = acked_ids.values().filter(|a| a.stored == 0).count();
    Ok(stats)
}

/// When to redeliver after `attempts` failed attempts.
fn redelivery_time(attempts: u32) -> Instant {
    let delay = REDELIVERY_DELAY
        .saturating_mul(1 << attempts.saturating_sub(1).min(10))
        .min(REDELIVERY_DELAY_MAX);
    Instant::now() + delay + Duration::from_millis(fastrand::u64(..25))
}

/// Sends one delivery until it is answered 200.
async fn deliver_until_acknowledged(
    webhooks: &WebhookSender,
    delivery: &Delivery,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + DRAIN_DEADLINE;
    let mut last = String::new();
    let mut attempt = 0;
    loop {
        attempt += 1;
        anyhow::ensure!(
            Instant::now() < deadline,
            "{} {} not acknowledged: {last}",
            delivery.topic,
            delivery.webhook_id
        );
        match webhooks
            .send(delivery.topic, &delivery.webhook_id, &delivery.body)
            .await
        {
            Ok(answer) if answer.status == 200 => return Ok(()),
            Ok(answer) => last = format!("{} {}", answer.status, answer.body),
            Err(error) => last = format!("{error:#}"),
        }
        tokio::time::sleep_until(redelivery_time(attempt).into()).await;
    }
}

// ---------------------------------------------------------------------------
// The crashes
// ---------------------------------------------------------------------------

#[derive(Debug)]
struct Kill {
    after_acknowledged: usize,
    in_flight: usize,
    /// From the kill until the restarted daemon was ready.
    down: Duration,
}

/// Kills the daemon with SIGKILL once the stream reaches each point (a
/// few milliseconds later, so that some land while requests are in
/// flight), leaves it down a moment while the sender keeps trying, and
/// restarts it on the same directory and port.
async fn crash_repeatedly(
    daemon: Arc<Daemon>,
    progress: Arc<Progress>,
    points: Vec<usize>,
    seed: u64,
) -> anyhow::Result<Vec<Kill>> {
    let crashed = crash_at(&daemon, &progress, points, seed).await;
    if crashed.is_err() {
        progress.crasher_failed.store(true, Ordering::SeqCst);
    }
    crashed
}

async fn crash_at(
    daemon: &Daemon,
    progress: &Progress,
    points: Vec<usize>,
    seed: u64,
) -> anyhow::Result<Vec<Kill>> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut kills = Vec::new();
    for point in points {
        while progress.acknowledged.load(Ordering::SeqCst) < point
            && !progress.done.load(Ordering::SeqCst)
        {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        tokio::time::sleep(Duration::from_millis(rng.u64(..20))).await;
        let after_acknowledged = progress.acknowledged.load(Ordering::SeqCst);
        let in_flight = progress.in_flight.load(Ordering::SeqCst);
        let killed = Instant::now();
        let status = daemon.kill()?;
        anyhow::ensure!(
            status.signal() == Some(9),
            "loyaltyd had exited on its own ({status}) before kill {}",
            kills.len() + 1
        );
        tokio::time::sleep(Duration::from_millis(rng.u64(..250))).await;
        daemon.restart().await?;
        kills.push(Kill {
            after_acknowledged,
            in_flight,
            down: killed.elapsed(),
        });
    }
    Ok(kills)
}

// ---------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------

/// What an account must show.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Expected {
    balance: i64,
    tier: Option<&'static str>,
    entries: usize,
    /// Qualifying spend in cents.
    spend: i64,
    /// Per order id: points earned and points reversed.
    orders: BTreeMap<String, (i64, i64)>,
}

#[derive(Debug)]
struct Model {
    /// By company id.
    accounts: BTreeMap<String, Expected>,
}

impl Model {
    fn of(orders: &[PlannedOrder]) -> Self {
        let mut accounts: BTreeMap<String, Expected> = BTreeMap::new();
        for order in orders {
            let account = accounts.entry(order.company.to_string()).or_default();
            if !order.paid {
                continue;
            }
            // floor(net x 2), the net in cents.
            let earned = order.net * POINTS_PER_EUR / 100;
            let refunded: i64 = order.refunds.iter().sum();
            // Cumulative: floor(earned x refunded / net).
            let reversed = earned * refunded / order.net;
            let reversals = if order.refunds_after_payment {
                order.refunds.len()
            } else {
                usize::from(reversed > 0)
            };
            account.balance += earned - reversed;
            account.entries += usize::from(earned > 0) + reversals;
            account.spend += order.net - refunded;
            account
                .orders
                .insert(order.id.to_string(), (earned, reversed));
        }
        for account in accounts.values_mut() {
            account.tier = TIERS
                .iter()
                .rev()
                .find(|(_, min)| account.spend >= *min)
                .map(|(id, _)| *id);
        }
        Self { accounts }
    }
}

/// Every difference between the daemon's state and the model.
fn compare(model: &Model, state: &Snapshot) -> Vec<String> {
    let mut problems = Vec::new();
    if let Some(first) = state.dead_letters.first() {
        problems.push(format!(
            "{} dead letters, the first: {first:#?}",
            state.dead_letters.len()
        ));
    }
    if state.accounts.len() != model.accounts.len() {
        problems.push(format!(
            "{} accounts, the model has {}",
            state.accounts.len(),
            model.accounts.len()
        ));
    }
    problems.extend(state.ledger_problems());
    for (company, expected) in &model.accounts {
        let Some(account) = state.account_known_as(SOURCE, company) else {
            problems.push(format!("company {company}: no account"));
            continue;
        };
        let ledger = state.ledgers.get(&account.id);
        let entries = ledger.map_or(&[][..], |l| &l.entries[..]);
        let mut orders: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        for entry in entries {
            let (earned, reversed) = orders.entry(entry.reference.clone()).or_default();
            match entry.kind.as_str() {
                "earn" => *earned += entry.points,
                "reverse" => *reversed -= entry.points,
                other => problems.push(format!(
                    "{}: unexpected {other} entry {entry:?}",
                    account.name
                )),
            }
        }
        let mut differences = String::new();
        if account.balance != expected.balance {
            let _ = write!(
                differences,
                " balance {} (model {});",
                account.balance, expected.balance
            );
        }
        if account.tier.as_deref() != expected.tier {
            let _ = write!(
                differences,
                " tier {:?} (model {:?}, spend {});",
                account.tier,
                expected.tier,
                Cents(expected.spend)
            );
        }
        if entries.len() != expected.entries {
            let _ = write!(
                differences,
                " {} ledger entries (model {});",
                entries.len(),
                expected.entries
            );
        }
        for (order, want) in &expected.orders {
            let got = orders.remove(order).unwrap_or_default();
            if got != *want {
                let _ = write!(
                    differences,
                    " order {order} earned/reversed {got:?} (model {want:?});"
                );
            }
        }
        for (order, got) in orders {
            let _ = write!(
                differences,
                " entries for order {order} the model does not know: {got:?};"
            );
        }
        if !differences.is_empty() {
            problems.push(format!(
                "{} (account {}):{differences}\n  ledger: {:#?}",
                account.name,
                account.id,
                entries
                    .iter()
                    .map(|e| (&e.kind, e.points, &e.effect_key))
                    .collect::<Vec<_>>()
            ));
        }
    }
    problems
}

// ---------------------------------------------------------------------------
// Time
// ---------------------------------------------------------------------------

fn now_ms() -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}

/// `ms` since the epoch as Shopify writes times, with an offset:
/// `2026-08-14T09:30:05+00:00`.
fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's `civil_from_days`.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}+00:00",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[test]
fn rfc3339_writes_gregorian_dates() {
    assert_eq!(rfc3339(0), "1970-01-01T00:00:00+00:00");
    assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00+00:00");
    assert_eq!(rfc3339(1_772_439_245_000), "2026-03-02T08:14:05+00:00");
}
