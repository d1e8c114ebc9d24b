//! The cost of the plugin boundary, in isolation: the same Shopify
//! order-webhook mapping (`Shopify::handle_webhook`, an `orders/paid` body
//! turned into a contact, its embedded refunds and a purchase) compiled
//! natively and called inside a `TestHost`, versus compiled to
//! `wasm32-wasip2` and called through `loyaltyd::runtime::Runtime`, which
//! instantiates a fresh component instance from the pooling allocator for
//! every call, copies the request in and the events out. The same wasm
//! calls are also made on one instance per round through a
//! `WebhookSession`, the way the inbox worker calls `handle-webhook` for a
//! batch of deliveries.
//!
//! Method: two realistic order bodies built with `loyalty_e2e::shopify::rest`
//! (one line; ten lines with a discount code, manual line discounts and an
//! embedded refund), B2B company left off so the mapping makes no GraphQL
//! request. Before timing, both builds map each body once and must produce
//! the same events. Every measure is then taken in rounds, native and wasm
//! interleaved within a round so both see the same machine noise, and the
//! median round is reported. The fresh-instance cost is that of `describe`,
//! which does next to no work. Throughput runs two tasks on a two-worker
//! tokio runtime.
//!
//! `cargo bench -p loyalty-e2e --bench mapping`

#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    reason = "a benchmark prints its figures and fails loudly"
)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use loyalty_e2e::bench::{Report, Target};
use loyalty_e2e::official_plugin;
use loyalty_e2e::shopify::rest::{Cents, DiscountCode, LineItem, Order};
use loyalty_e2e::shopify::samples;
use loyalty_sdk::Connector;
use loyalty_sdk::testing::TestHost;
use loyaltyd::runtime::wit::latest::loyalty::connector::types as wit;
use loyaltyd::runtime::{
    FixedClock, Grants, Limits, MemoryState, Plugin, PluginSpec, Runtime, RuntimeOptions, Secret,
    WebhookSession,
};
use shopify::Shopify;

/// Calls per measure, split over the rounds.
const CALLS: u32 = 20_000;
/// Rounds per measure; the median round is reported.
const ROUNDS: u32 = 5;
/// Untimed calls of each kind before the first round.
const WARM_UP: u32 = 500;
/// The clock both hosts read: 2026-01-01T00:00:00Z, the `TestHost` default.
const NOW_MS: i64 = 1_767_225_600_000;
const TOPIC: &str = "orders/paid";
const SECRET: &[u8] = b"shpss_bench";

/// One product line of the larger order: title, variant, SKU, vendor,
/// units, unit price and manual line discount in cents, grams.
type Product = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    i64,
    i64,
    i64,
    i64,
);

const PRODUCTS: [Product; 10] = [
    (
        "Cordless drill 18V",
        "Kit with 2 batteries",
        "DRL-18V-K2",
        "Acme Tools",
        4,
        25_000,
        10_000,
        2100,
    ),
    (
        "Cut-resistant gloves",
        "Size 9",
        "GLV-CR5-09",
        "Acme Safety",
        10,
        1990,
        0,
        120,
    ),
    (
        "Impact driver 18V",
        "Bare tool",
        "IMP-18V-BT",
        "Acme Tools",
        2,
        14_900,
        0,
        1400,
    ),
    (
        "Safety goggles",
        "Clear, anti-fog",
        "GOG-AF-CL",
        "Acme Safety",
        25,
        690,
        2500,
        60,
    ),
    (
        "HSS drill bit set",
        "19 pieces",
        "BIT-HSS-19",
        "Acme Tools",
        6,
        3450,
        0,
        850,
    ),
    (
        "Ear defenders",
        "SNR 33 dB",
        "EAR-SNR33",
        "Acme Safety",
        12,
        1890,
        0,
        240,
    ),
    (
        "Angle grinder 125 mm",
        "1100 W",
        "AGR-125-11",
        "Acme Tools",
        1,
        12_900,
        0,
        2300,
    ),
    (
        "Cutting discs",
        "125 mm, pack of 25",
        "DSC-125-25",
        "Acme Abrasives",
        8,
        2490,
        1500,
        1100,
    ),
    (
        "Work light LED",
        "2000 lm",
        "LGT-LED-20",
        "Acme Tools",
        3,
        5990,
        0,
        900,
    ),
    (
        "Hard hat",
        "White, EN 397",
        "HAT-397-WH",
        "Acme Safety",
        20,
        1290,
        0,
        380,
    ),
];

fn line(index: usize) -> LineItem {
    let (title, variant, sku, vendor, quantity, price, discount, grams) = PRODUCTS[index];
    let i = index as u64;
    LineItem {
        id: 9_007_199_254_742_001 + 2 * i,
        product_id: 8_412_345_671_001 + i,
        variant_id: 45_123_456_781_001 + i,
        title: title.to_owned(),
        variant_title: variant.to_owned(),
        sku: sku.to_owned(),
        vendor: vendor.to_owned(),
        quantity,
        unit_price: Cents(price),
        line_discount: Cents(discount),
        grams,
    }
}

/// A paid one-line order from the sample buyer, without a company.
fn small_order() -> Order {
    Order {
        id: 9_007_199_254_750_001,
        number: 1101,
        company: None,
        customer: samples::buyer(),
        lines: vec![line(1)],
        discount_code: None,
        shipping: Cents(690),
        tax_percent: 19,
        financial_status: "paid".to_owned(),
        created_at: "2026-03-04T10:21:37+01:00".to_owned(),
        updated_at: "2026-03-04T10:21:40+01:00".to_owned(),
        cancelled_at: None,
        refunds: Vec::new(),
        po_number: None,
    }
}

/// A ten-line order with a 5 % code, manual line discounts and one
/// embedded refund of two lines, without a company.
fn large_order() -> Order {
    let mut order = Order {
        id: 9_007_199_254_750_101,
        number: 1102,
        company: None,
        customer: samples::buyer(),
        lines: (0..PRODUCTS.len()).map(line).collect(),
        discount_code: Some(DiscountCode {
            code: "B2B5".to_owned(),
            percent: 5,
        }),
        shipping: Cents(8900),
        tax_percent: 19,
        financial_status: "partially_refunded".to_owned(),
        created_at: "2026-03-05T08:02:11+01:00".to_owned(),
        updated_at: "2026-03-12T14:40:03+01:00".to_owned(),
        cancelled_at: None,
        refunds: Vec::new(),
        po_number: Some("PO-2026-0142".to_owned()),
    };
    let refund = order.refund(
        9_007_199_254_760_001,
        "2026-03-12T14:40:01+01:00",
        &[(line(1).id, 3), (line(3).id, 5)],
    );
    order.refunds.push(refund);
    order
}

fn headers() -> Vec<(String, String)> {
    vec![
        ("Content-Type".to_owned(), "application/json".to_owned()),
        (
            "X-Shopify-Shop-Domain".to_owned(),
            samples::SHOP_DOMAIN.to_owned(),
        ),
        ("X-Shopify-Topic".to_owned(), TOPIC.to_owned()),
        (
            "X-Shopify-Api-Version".to_owned(),
            samples::API_VERSION.to_owned(),
        ),
        (
            "X-Shopify-Webhook-Id".to_owned(),
            "b7f0c2d4-8e31-4e1a-9a63-5f0e2d1c9b11".to_owned(),
        ),
        (
            "X-Shopify-Hmac-Sha256".to_owned(),
            "oBd1q4QmV3xk6x0p2mJ8m9tTq7yC4kq9q0sZ1f3nHk8=".to_owned(),
        ),
    ]
}

/// The same delivery as the native SDK type and as the host's WIT type.
struct Case {
    name: &'static str,
    native: loyalty_sdk::types::WebhookRequest,
    wasm: wit::WebhookRequest,
    lines: usize,
}

impl Case {
    fn new(name: &'static str, order: &Order) -> Self {
        let body = serde_json::to_vec(&order.body()).unwrap();
        let headers = headers();
        let url = "https://loyalty.example/webhooks/shopify".to_owned();
        Self {
            name,
            native: loyalty_sdk::types::WebhookRequest {
                method: "POST".to_owned(),
                url: url.clone(),
                headers: headers
                    .iter()
                    .map(|(name, value)| loyalty_sdk::types::Header {
                        name: name.clone(),
                        value: value.clone(),
                    })
                    .collect(),
                body: body.clone(),
            },
            wasm: wit::WebhookRequest {
                method: "POST".to_owned(),
                url,
                headers: headers
                    .into_iter()
                    .map(|(name, value)| wit::Header { name, value })
                    .collect(),
                body,
            },
            lines: order.lines.len(),
        }
    }

    fn body_bytes(&self) -> usize {
        self.native.body.len()
    }
}

fn test_host() -> TestHost {
    TestHost::new()
        .at(NOW_MS)
        .setting("shop_domain", samples::SHOP_DOMAIN)
        .setting("api_version", samples::API_VERSION)
        .secret(shopify::webhook::SECRET, SECRET)
}

fn load(runtime: &Runtime) -> Plugin {
    let mut grants = Grants::default();
    grants
        .secrets
        .insert(shopify::webhook::SECRET.to_owned(), Secret::new(SECRET));
    grants
        .settings
        .insert("shop_domain".to_owned(), samples::SHOP_DOMAIN.to_owned());
    grants
        .settings
        .insert("api_version".to_owned(), samples::API_VERSION.to_owned());
    runtime
        .load(PluginSpec {
            name: "shopify".to_owned(),
            wasm: official_plugin("shopify"),
            limits: Limits {
                instances_max: 4,
                // A bench that fails loudly must never be paused instead.
                breaker_failures: 0,
                ..Limits::default()
            },
            grants,
            state: Arc::new(MemoryState::default()),
        })
        .unwrap()
}

fn native_events(host: &TestHost, case: &Case) -> Vec<loyalty_sdk::types::Event> {
    host.run(|| Shopify::handle_webhook(case.native.clone()))
        .unwrap_or_else(|e| panic!("native mapping of the {} order failed: {e:?}", case.name))
}

async fn session_events(session: &mut WebhookSession, case: &Case) -> Vec<wit::Event> {
    session
        .handle_webhook(&case.wasm)
        .await
        .unwrap_or_else(|e| panic!("wasm mapping of the {} order failed: {e}", case.name))
        .value
}

async fn wasm_events(plugin: &Plugin, case: &Case) -> Vec<wit::Event> {
    plugin
        .handle_webhook(&case.wasm)
        .await
        .unwrap_or_else(|e| panic!("wasm mapping of the {} order failed: {e}", case.name))
        .value
}

/// Fails unless both builds map the case to the same events; returns how
/// many there are.
async fn verify(host: &TestHost, plugin: &Plugin, case: &Case) -> usize {
    let native = native_events(host, case);
    let wasm = wasm_events(plugin, case).await;
    assert_eq!(
        native.len(),
        wasm.len(),
        "the {} order maps to {} events natively but {} in wasm",
        case.name,
        native.len(),
        wasm.len()
    );
    let native_text = format!("{native:#?}");
    let wasm_text = format!("{wasm:#?}");
    assert_eq!(
        native_text, wasm_text,
        "the {} order maps to different events natively and in wasm",
        case.name
    );
    match native.last() {
        Some(loyalty_sdk::types::Event::Purchase(p)) => assert_eq!(
            p.lines.len(),
            case.lines,
            "the {} order's purchase lost lines",
            case.name
        ),
        other => panic!(
            "the {} order does not end in its purchase: {other:?}",
            case.name
        ),
    }
    native.len()
}

fn micros_per_call(elapsed: Duration, calls: u32) -> f64 {
    elapsed.as_secs_f64() * 1e6 / f64::from(calls)
}

fn median(mut rounds: Vec<f64>) -> f64 {
    rounds.sort_by(f64::total_cmp);
    rounds[rounds.len() / 2]
}

fn time_native<R>(calls: u32, mut call: impl FnMut() -> R) -> f64 {
    let started = Instant::now();
    for _ in 0..calls {
        black_box(call());
    }
    micros_per_call(started.elapsed(), calls)
}

/// Per-call microseconds of each measure, one entry per round.
#[derive(Default)]
struct Rounds {
    native: Vec<f64>,
    wasm: Vec<f64>,
    /// Wasm calls on one instance, the way the inbox worker makes them.
    session: Vec<f64>,
}

fn main() {
    // Build the component before timing anything.
    official_plugin("shopify");
    let runtime = Runtime::new(RuntimeOptions {
        instance_slots: 16,
        clock: Arc::new(FixedClock(NOW_MS)),
        ..RuntimeOptions::default()
    })
    .unwrap();
    let started = Instant::now();
    let plugin = load(&runtime);
    let load_ms = started.elapsed().as_secs_f64() * 1e3;
    let host = test_host();

    let small = Case::new("small", &small_order());
    let large = Case::new("large", &large_order());
    let per_round = CALLS / ROUNDS;

    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    let (small_events, large_events, small_t, large_t, describe_t, parallel) =
        tokio.block_on(async {
            let small_events = verify(&host, &plugin, &small).await;
            let large_events = verify(&host, &plugin, &large).await;
            let native_info = host.run(Shopify::describe);
            let wasm_info = plugin.describe().await.unwrap();
            assert_eq!(
                format!("{native_info:?}"),
                format!("{wasm_info:?}"),
                "describe differs natively and in wasm"
            );

            for case in [&small, &large] {
                for _ in 0..WARM_UP {
                    black_box(native_events(&host, case));
                    black_box(wasm_events(&plugin, case).await);
                }
            }
            for _ in 0..WARM_UP {
                black_box(host.run(Shopify::describe));
                black_box(plugin.describe().await.unwrap());
            }

            let (mut small_t, mut large_t, mut describe_t) =
                (Rounds::default(), Rounds::default(), Rounds::default());
            for _ in 0..ROUNDS {
                for (case, rounds) in [(&small, &mut small_t), (&large, &mut large_t)] {
                    rounds
                        .native
                        .push(time_native(per_round, || native_events(&host, case)));
                    let started = Instant::now();
                    for _ in 0..per_round {
                        black_box(wasm_events(&plugin, case).await);
                    }
                    rounds
                        .wasm
                        .push(micros_per_call(started.elapsed(), per_round));
                    let mut session = plugin.webhook_session();
                    let started = Instant::now();
                    for _ in 0..per_round {
                        black_box(session_events(&mut session, case).await);
                    }
                    rounds
                        .session
                        .push(micros_per_call(started.elapsed(), per_round));
                }
                describe_t
                    .native
                    .push(time_native(per_round, || host.run(Shopify::describe)));
                let started = Instant::now();
                for _ in 0..per_round {
                    black_box(plugin.describe().await.unwrap());
                }
                describe_t
                    .wasm
                    .push(micros_per_call(started.elapsed(), per_round));
            }

            let started = Instant::now();
            let tasks: Vec<_> = (0..2)
                .map(|_| {
                    let plugin = plugin.clone();
                    let request = large.wasm.clone();
                    tokio::spawn(async move {
                        for _ in 0..CALLS / 2 {
                            black_box(plugin.handle_webhook(&request).await.unwrap());
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
            let parallel = started.elapsed();
            (
                small_events,
                large_events,
                small_t,
                large_t,
                describe_t,
                parallel,
            )
        });

    let mut report = Report::new("mapping");
    report.setup("calls per figure", CALLS);
    report.setup("rounds (median reported)", ROUNDS);
    report.setup("warm-up calls", WARM_UP);
    report.setup(
        "small order",
        format!(
            "{} line, {} B body, {small_events} events",
            small.lines,
            small.body_bytes()
        ),
    );
    report.setup(
        "large order",
        format!(
            "{} lines, code, 1 refund, {} B body, {large_events} events",
            large.lines,
            large.body_bytes()
        ),
    );
    report.setup("component load", format!("{load_ms:.0} ms"));

    let mut per_event = Vec::new();
    for (case, events, rounds) in [
        (&small, small_events, small_t),
        (&large, large_events, large_t),
    ] {
        let native = median(rounds.native);
        let wasm = median(rounds.wasm);
        let session = median(rounds.session);
        report.figure(
            &format!("{} order, native, per call", case.name),
            native,
            "µs",
        );
        report
            .figure(&format!("{} order, wasm, per call", case.name), wasm, "µs")
            .against("native", native);
        report
            .figure(
                &format!(
                    "{} order, wasm, one instance per session, per call",
                    case.name
                ),
                session,
                "µs",
            )
            .against("a fresh instance per call", wasm);
        let events = events as f64;
        report.figure(
            &format!("{} order, native, per event", case.name),
            native / events,
            "µs",
        );
        report
            .figure(
                &format!("{} order, wasm, per event", case.name),
                wasm / events,
                "µs",
            )
            .against("native", native / events);
        per_event.push((case.name, native / events, wasm / events, session / events));
    }
    for (name, native, wasm, session) in per_event {
        for (how, per_event) in [("", wasm), (", one instance per session", session)] {
            let figure = report.figure(
                &format!("wasm/native per event, {name} order{how}"),
                per_event / native,
                "x",
            );
            if name == "large" {
                figure.target(Target::AtMost(1.5));
            }
        }
    }

    let describe_native = median(describe_t.native);
    let describe_wasm = median(describe_t.wasm);
    report
        .figure(
            "fresh instance: describe, wasm, per call",
            describe_wasm,
            "µs",
        )
        .against("native", describe_native);
    let large_wasm = report
        .figures
        .iter()
        .find(|f| f.name == "large order, wasm, per call")
        .map_or(f64::NAN, |f| f.value);
    report.figure(
        "fresh instance share of a large-order wasm call",
        100.0 * (describe_wasm - describe_native) / large_wasm,
        "%",
    );
    report
        .figure(
            "large order, wasm, 2 tasks on 2 cores",
            f64::from(CALLS) / parallel.as_secs_f64(),
            "calls/s",
        )
        .against("1 task", 1e6 / large_wasm);

    report.publish().unwrap();
}
