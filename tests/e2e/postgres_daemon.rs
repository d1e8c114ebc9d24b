//! Two real `loyaltyd` daemons on one PostgreSQL database, as an operator
//! runs them behind a load balancer: the official Shopify connector in each,
//! the same program, the same webhook secret, the same shop (emulated).
//!
//! Signed `orders/paid` webhooks are spread over both daemons, and others
//! are sent to both at the same moment under the same
//! `X-Shopify-Webhook-Id` (two attempts of one delivery that a load
//! balancer sent different ways), released together behind a barrier. Both
//! inbox workers take their work from the shared inbox, so a delivery may be
//! handled by both at once. Once the inbox is drained, each daemon's admin
//! API must show, for every company, exactly one account whose ledger holds
//! one `earn` entry per order, of floor(net x 2) points, and a balance that
//! is their sum: an order counted twice, or lost, fails the test. Both
//! daemons must show the same.
//!
//! Then one daemon is killed with SIGKILL right after acknowledging more
//! orders, and the other keeps taking webhooks: it must apply what the dead
//! one acknowledged, answer the dead one's deliveries as duplicates, lose
//! nothing written before the kill, and `loyaltyd ledger verify` on its
//! configuration must pass. The killed daemon, restarted, must show the same
//! as the survivor. Neither daemon may log an error.
//!
//! A second test starts two daemons that both poll the shop's orders: only
//! the holder of the `poll:shopify` lease polls, and it is killed while it
//! waits for its second page. The survivor must take the lease over once it
//! lapses, finish the sync from the committed cursor and count every order
//! once; the hourly jobs must have run once for the hour.
//!
//! Needs the PostgreSQL test server that `tests/run` starts.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    reason = "a test prints its figures and fails loudly on the first surprise"
)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::os::unix::process::ExitStatusExt as _;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use loyalty_e2e::daemon::{Daemon, ProgramRules, Setup, ShopifySetup, Snapshot, random_token};
use loyalty_e2e::postgres::postgres_database;
use loyalty_e2e::shopify::rest::{Address, CompanyRef, LineItem};
use loyalty_e2e::shopify::samples::{API_VERSION, SHOP_DOMAIN};
use loyalty_e2e::shopify::{
    Cents, Company, Customer, Order, RequestMatch, ShopifyEmulator, WebhookAnswer, WebhookSender,
};
use loyalty_e2e::{loyaltyd_binary, official_plugin};
use serde_json::Value;
use tokio::sync::Barrier;
use tokio::task::JoinSet;

const WEBHOOK_SECRET: &str = "e2e-shopify-app-webhook-secret";
const ACCESS_TOKEN: &str = "shpat_e2e0000000000000000000000000";
/// The connector's name, which is the source of everything it produces.
const SOURCE: &str = "shopify";
const TOPIC: &str = "orders/paid";

/// Points per EUR of net order value (the harness's default program).
const POINTS_PER_EUR: i64 = 2;
/// The buying companies; order `n` is bought by company `n % 4`.
const COMPANY_NAMES: [&str; 4] = [
    "Brandt Maschinenbau GmbH",
    "Nordlicht Logistik AG",
    "Huber Feinmechanik KG",
    "Rheintal Pumpen AG",
];
const COMPANY_BASE: u64 = 9_007_199_257_000_000;
const ORDER_BASE: u64 = 9_007_199_258_000_000;

/// Orders sent once each, alternately to either daemon.
const SPREAD: usize = 40;
/// Orders sent to both daemons at the same moment.
const RACED: usize = 20;
/// Orders acknowledged by the daemon that is killed right after.
const BEFORE_KILL: usize = 10;
/// Of those, how many are sent again to the survivor (a vendor's retry).
const RETRIED_AFTER_KILL: usize = 4;
/// Orders sent to the survivor after the kill.
const AFTER_KILL: usize = 10;

/// Liveness guard, far above what processing takes.
const APPLY_DEADLINE: Duration = Duration::from_secs(90);
/// Lines of a daemon's log a failure shows.
const LOG_TAIL: usize = 80;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_daemons_on_one_postgres_database_count_every_order_once() {
    let started = Instant::now();
    let emulator = ShopifyEmulator::start(ACCESS_TOKEN).await.unwrap();
    for n in 0..COMPANY_NAMES.len() {
        emulator.put_company(company(n));
    }
    let setup = shop_setup(&emulator, String::new());
    let database = postgres_database();
    let store = format!(
        "[store]\ntype = \"postgres\"\nurl = {}\npool_size = 4\n",
        Value::from(database.as_str())
    );
    let (a, b) = tokio::join!(
        Node::start("a", &setup, &store),
        Node::start("b", &setup, &store)
    );
    let nodes = [a, b];
    let ready = started.elapsed();

    let mut orders = (0..SPREAD + RACED + BEFORE_KILL + AFTER_KILL).map(planned);
    let spread: Vec<Planned> = orders.by_ref().take(SPREAD).collect();
    let raced: Vec<Planned> = orders.by_ref().take(RACED).collect();
    let before_kill: Vec<Planned> = orders.by_ref().take(BEFORE_KILL).collect();
    let after_kill: Vec<Planned> = orders.collect();

    // Both daemons at once: the spread orders, and beside them the raced
    // ones, one after another, each released to both daemons together.
    let sending = Instant::now();
    let senders = [nodes[0].webhooks.clone(), nodes[1].webhooks.clone()];
    let (spread_answers, raced_answers) =
        tokio::join!(send_spread(&senders, &spread), send_raced(&senders, &raced));
    let mut anomalies = Vec::new();
    let mut inbox_ids: HashMap<i64, String> = HashMap::new();
    for (planned, node, answer) in &spread_answers {
        let who = format!(
            "{} sent to daemon {}",
            planned.webhook_id, nodes[*node].name
        );
        expect_stored(&who, answer, &mut inbox_ids, &mut anomalies);
    }
    for (planned, [to_a, to_b]) in &raced_answers {
        let mut outcomes = [to_a.outcome(), to_b.outcome()];
        outcomes.sort_unstable();
        if to_a.status != 200
            || to_b.status != 200
            || outcomes != [Some("duplicate"), Some("stored")]
            || to_a.inbox_id().is_none()
            || to_a.inbox_id() != to_b.inbox_id()
        {
            anomalies.push(format!(
                "{} sent to both daemons at once: daemon a answered {} {}, daemon b {} {}; \
                 expected both 200, one `stored` and one `duplicate` of the same inbox id",
                planned.webhook_id, to_a.status, to_a.body, to_b.status, to_b.body
            ));
        } else if let Some(id) = to_a.inbox_id()
            && let Some(other) = inbox_ids.insert(id, planned.webhook_id.clone())
        {
            anomalies.push(format!(
                "{} was stored as inbox id {id}, which {other} was stored as too",
                planned.webhook_id
            ));
        }
    }
    assert!(
        anomalies.is_empty(),
        "the daemons' answers to the webhooks are wrong:\n{}\n{}\n{}",
        anomalies.join("\n"),
        nodes[0].daemon.log_tail(LOG_TAIL),
        nodes[1].daemon.log_tail(LOG_TAIL)
    );
    let sent_in = sending.elapsed();

    let first: Vec<&Planned> = spread.iter().chain(&raced).collect();
    let first_model = Model::of(&first);
    let applying = Instant::now();
    let shared = nodes[0].applied(&first_model, &setup.admin_token).await;
    let applied_in = applying.elapsed();
    let seen_by_b = nodes[1].applied(&first_model, &setup.admin_token).await;
    for (node, state) in [(&nodes[0], &shared), (&nodes[1], &seen_by_b)] {
        let problems = first_model.compare(state);
        assert!(
            problems.is_empty(),
            "after {SPREAD} orders spread over both daemons and {RACED} sent to both at \
             once, daemon {} shows:\n{}\n{}\n{}",
            node.name,
            problems.join("\n"),
            nodes[0].daemon.log_tail(LOG_TAIL),
            nodes[1].daemon.log_tail(LOG_TAIL)
        );
    }
    assert!(
        shared == seen_by_b,
        "the two daemons on one database show different states:\n\
         daemon a: {shared:#?}\ndaemon b: {seen_by_b:#?}"
    );

    // Daemon b acknowledges more orders and is killed at once, before or
    // while its inbox worker applies them.
    let (survivor, killed) = (&nodes[0], &nodes[1]);
    let mut acknowledged: BTreeMap<String, i64> = BTreeMap::new();
    let mut anomalies = Vec::new();
    for (planned, _, answer) in
        send_spread(std::slice::from_ref(&killed.webhooks), &before_kill).await
    {
        let who = format!("{} sent to daemon b", planned.webhook_id);
        if let Some(id) = expect_stored(&who, &answer, &mut inbox_ids, &mut anomalies) {
            acknowledged.insert(planned.webhook_id.clone(), id);
        }
    }
    let status = killed.daemon.kill().unwrap();
    assert_eq!(
        status.signal(),
        Some(9),
        "daemon b had exited on its own ({status}) before it was killed\n{}",
        killed.daemon.log_tail(LOG_TAIL)
    );
    assert!(
        anomalies.is_empty(),
        "daemon b's answers before it was killed are wrong:\n{}\n{}",
        anomalies.join("\n"),
        killed.daemon.log_tail(LOG_TAIL)
    );

    // The survivor: the dead daemon's deliveries, redelivered to it, are
    // known already; new ones are stored.
    for planned in &before_kill[..RETRIED_AFTER_KILL] {
        let answer = deliver(&survivor.webhooks, planned).await;
        let stored_as = acknowledged.get(&planned.webhook_id).copied();
        assert!(
            answer.status == 200
                && answer.outcome() == Some("duplicate")
                && answer.inbox_id() == stored_as,
            "{} was acknowledged by daemon b as inbox id {stored_as:?} before it was killed; \
             redelivered to daemon a it was answered {} {} instead of 200 `duplicate` of that id\n{}",
            planned.webhook_id,
            answer.status,
            answer.body,
            survivor.daemon.log_tail(LOG_TAIL)
        );
    }
    let mut anomalies = Vec::new();
    for (planned, _, answer) in
        send_spread(std::slice::from_ref(&survivor.webhooks), &after_kill).await
    {
        let who = format!("{} sent to daemon a after b was killed", planned.webhook_id);
        expect_stored(&who, &answer, &mut inbox_ids, &mut anomalies);
    }
    assert!(
        anomalies.is_empty(),
        "daemon a's answers after daemon b was killed are wrong:\n{}\n{}",
        anomalies.join("\n"),
        survivor.daemon.log_tail(LOG_TAIL)
    );

    let all: Vec<&Planned> = first
        .iter()
        .copied()
        .chain(&before_kill)
        .chain(&after_kill)
        .collect();
    let model = Model::of(&all);
    let state = survivor.applied(&model, &setup.admin_token).await;
    let problems = model.compare(&state);
    assert!(
        problems.is_empty(),
        "after daemon b was killed, daemon a shows:\n{}\n{}\n{}",
        problems.join("\n"),
        survivor.daemon.log_tail(LOG_TAIL),
        killed.daemon.log_tail(LOG_TAIL)
    );
    let lost = lost_entries(&shared, &state);
    assert!(
        lost.is_empty(),
        "ledger entries written before the kill are gone or changed after it:\n{}",
        lost.join("\n")
    );

    let verify = Command::new(loyaltyd_binary())
        .args(["ledger", "verify", "--config"])
        .arg(survivor.daemon.config_path())
        .output()
        .unwrap();
    let verified = format!(
        "{}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
    assert!(
        verify.status.success(),
        "loyaltyd ledger verify on daemon a's configuration failed ({}):\n{verified}",
        verify.status
    );
    let counted = format!("{} entries in {} accounts", all.len(), COMPANY_NAMES.len());
    assert!(
        verified.contains(&counted),
        "loyaltyd ledger verify did not count {counted}: {verified}"
    );

    // The killed daemon, restarted, shows what the survivor shows.
    killed.daemon.restart().await.unwrap();
    let restarted = killed.applied(&model, &setup.admin_token).await;
    let state = survivor.daemon.admin().snapshot().await.unwrap();
    assert!(
        restarted == state,
        "daemon b, restarted after its kill, shows another state than daemon a:\n\
         {}\ndaemon a: {state:#?}\ndaemon b: {restarted:#?}",
        model.compare(&restarted).join("\n")
    );

    let errors: Vec<String> = nodes
        .iter()
        .flat_map(|node| {
            node.daemon
                .log()
                .lines()
                .filter(|line| line.contains(" ERROR "))
                .map(|line| format!("daemon {}: {line}", node.name))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        errors.is_empty(),
        "the daemons logged errors:\n{}",
        errors.join("\n")
    );

    let entries: usize = state.ledgers.values().map(|l| l.entries.len()).sum();
    println!(
        "  {} orders: {SPREAD} spread over both daemons, {RACED} sent to both at once, \
         {BEFORE_KILL} acknowledged by daemon b before its SIGKILL ({RETRIED_AFTER_KILL} \
         redelivered to a), {AFTER_KILL} sent to a after it",
        all.len()
    );
    println!(
        "  {} accounts, {entries} ledger entries, {} points in all; {}",
        state.accounts.len(),
        state.accounts.iter().map(|a| a.balance).sum::<i64>(),
        verified.trim()
    );
    for node in &nodes {
        let warnings = node
            .daemon
            .log()
            .lines()
            .filter(|line| line.contains(" WARN "))
            .count();
        println!("  daemon {}: {warnings} warnings in its log", node.name);
    }
    println!(
        "  time: {} ms to start both, {} ms sending, {} ms until applied, {} ms in all",
        ready.as_millis(),
        sent_in.as_millis(),
        applied_in.as_millis(),
        started.elapsed().as_millis()
    );
}

/// Orders in the shop when the lease test's daemons start, polled in pages
/// of [`POLL_PAGE`].
const POLLED: usize = 12;
const POLL_PAGE: usize = 4;
/// `[server] lease_seconds` of the lease test: the survivor takes over
/// within this and a third of it after the holder's last renewal.
const LEASE_SECONDS: u64 = 3;

/// Both daemons poll the shop's orders on the same schedule, but only the
/// holder of the `poll:shopify` lease does: the other says who does, and
/// refuses a sync request. The holder is killed while it waits for its
/// second page; the survivor takes the lease over once it lapses, resumes
/// from the committed cursor and imports every order once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_poll_lease_moves_to_the_survivor_when_its_holder_dies() {
    let emulator = ShopifyEmulator::start(ACCESS_TOKEN).await.unwrap();
    emulator.lift_call_limit();
    for n in 0..COMPANY_NAMES.len() {
        emulator.put_company(company(n));
    }
    let orders: Vec<Planned> = (0..POLLED).map(planned).collect();
    for planned in &orders {
        emulator.put_order_json(planned.order_id.parse().unwrap(), (*planned.body).clone());
    }
    let second_page =
        emulator.hold_next(RequestMatch::path("orders.json").query_contains("page_info="));
    let setup = shop_setup(
        &emulator,
        format!("[connectors.shopify.poll]\ninterval_seconds = 3600\npage_size = {POLL_PAGE}\n"),
    );
    let store = format!(
        "[store]\ntype = \"postgres\"\nurl = {}\npool_size = 4\n",
        Value::from(postgres_database().as_str())
    );
    let server_keys = format!("lease_seconds = {LEASE_SECONDS}");
    let (a, b) = tokio::join!(
        Node::start_with("a", &setup, &server_keys, &store),
        Node::start_with("b", &setup, &server_keys, &store)
    );
    let nodes = [a, b];
    assert!(
        second_page.arrived(Duration::from_secs(60)).await,
        "no daemon asked for the second page of orders\n{}\n{}",
        nodes[0].daemon.log_tail(LOG_TAIL),
        nodes[1].daemon.log_tail(LOG_TAIL)
    );

    // One daemon holds the lease and waits for its second page; the other
    // names it.
    let cluster = nodes[0].daemon.admin().cluster().await.unwrap();
    let lease = cluster
        .leases
        .iter()
        .find(|l| l.name == "poll:shopify")
        .unwrap_or_else(|| panic!("no poll lease: {cluster:#?}"))
        .clone();
    let instances = [
        cluster.instance.clone(),
        nodes[1].daemon.admin().cluster().await.unwrap().instance,
    ];
    assert_ne!(instances[0], instances[1], "the instances share a name");
    let holder = instances
        .iter()
        .position(|i| *i == lease.holder)
        .unwrap_or_else(|| panic!("the lease is held by neither daemon: {lease:?} {instances:?}"));
    let (holding, other) = (&nodes[holder], &nodes[1 - holder]);
    assert_eq!(
        cluster
            .leases
            .iter()
            .filter(|l| l.name.starts_with("poll:"))
            .count(),
        1,
        "{cluster:#?}"
    );
    // The other daemon names the holder once it has tried the lease (at
    // its start, then every heartbeat).
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut followed = other.daemon.admin().sync_status(SOURCE).await.unwrap();
    while followed.polled_by.is_none() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        followed = other.daemon.admin().sync_status(SOURCE).await.unwrap();
    }
    assert_eq!(
        followed.polled_by.as_deref(),
        Some(lease.holder.as_str()),
        "daemon {} does not name the instance that polls",
        other.name
    );
    assert!(!followed.running, "daemon {} polls too", other.name);
    let refused = reqwest::Client::new()
        .post(format!(
            "{}/api/v1/connectors/{SOURCE}/sync",
            other.daemon.base_url()
        ))
        .bearer_auth(&setup.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        refused.status(),
        409,
        "a sync request to the daemon that does not poll"
    );
    assert!(
        refused.text().await.unwrap().contains(&lease.holder),
        "the refusal names the instance that polls"
    );
    let order_pages_before = emulator.requests_to("orders.json").len();

    // The holder dies holding the lease: the survivor takes it over once
    // it lapses, and finishes the sync from the committed cursor.
    let killed_at = Instant::now();
    let status = holding.daemon.kill().unwrap();
    assert_eq!(
        status.signal(),
        Some(9),
        "{}",
        holding.daemon.log_tail(LOG_TAIL)
    );
    let deadline = Duration::from_secs(LEASE_SECONDS * 4 + 30);
    let synced = loop {
        let status = other.daemon.admin().sync_status(SOURCE).await.unwrap();
        if status.completed > 0 {
            break status;
        }
        assert!(
            killed_at.elapsed() < deadline,
            "daemon {} did not take the polling over within {} s: {status:?}\n{}",
            other.name,
            deadline.as_secs(),
            other.daemon.log_tail(LOG_TAIL)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let took_over_in = killed_at.elapsed();
    assert_eq!(synced.polled_by, None, "{synced:?}");
    assert_eq!(synced.last_error, None, "{synced:?}");
    let moved = other.daemon.admin().cluster().await.unwrap();
    let now_held = moved
        .leases
        .iter()
        .find(|l| l.name == "poll:shopify")
        .unwrap();
    assert_eq!(now_held.holder, instances[1 - holder], "{moved:#?}");
    assert!(now_held.mine && !now_held.lapsed, "{moved:#?}");
    assert!(
        emulator.requests_to("orders.json").len() > order_pages_before,
        "the survivor did not fetch the rest of the orders"
    );

    // Every order once, as though one daemon had polled them all.
    let model = Model::of(&orders.iter().collect::<Vec<_>>());
    let state = other.applied(&model, &setup.admin_token).await;
    let problems = model.compare(&state);
    assert!(
        problems.is_empty(),
        "after the poll lease moved, daemon {} shows:\n{}\n{}",
        other.name,
        problems.join("\n"),
        other.daemon.log_tail(LOG_TAIL)
    );

    // The hourly jobs ran once for this hour, by one of the two.
    let runs: Vec<_> = moved.runs.iter().filter(|r| r.job == "jobs").collect();
    assert!(
        !runs.is_empty() && runs.iter().all(|r| instances.contains(&r.holder)),
        "{moved:#?}"
    );
    let mut periods: Vec<&str> = runs.iter().map(|r| r.period.as_str()).collect();
    periods.dedup();
    assert_eq!(periods.len(), runs.len(), "a period ran twice: {runs:?}");

    println!(
        "  {POLLED} orders polled in pages of {POLL_PAGE}; the holder was killed waiting for \
         its second page; the survivor held the lease and completed the sync {} ms later \
         (lease_seconds = {LEASE_SECONDS})",
        took_over_in.as_millis()
    );
}

// ---------------------------------------------------------------------------
// The daemons
// ---------------------------------------------------------------------------

/// The daemons' configuration: the official Shopify connector on the
/// emulated shop, the harness's program, and `extra_toml`.
fn shop_setup(emulator: &ShopifyEmulator, extra_toml: String) -> Setup {
    Setup {
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
        extra_toml,
        secrets: Vec::new(),
    }
}

/// One of the daemons and a sender of the shop's webhooks to it.
struct Node {
    name: &'static str,
    daemon: Daemon,
    webhooks: WebhookSender,
    /// Its directory, removed after the daemon is dropped.
    _dir: tempfile::TempDir,
}

impl Node {
    async fn start(name: &'static str, setup: &Setup, store: &str) -> Self {
        Self::start_with(name, setup, "", store).await
    }

    /// [`Self::start`] with more `[server]` keys.
    async fn start_with(name: &'static str, setup: &Setup, server_keys: &str, store: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix(&format!("loyaltyd-postgres-{name}-"))
            .tempdir()
            .unwrap();
        let daemon = Daemon::start_with_store(dir.path(), setup, server_keys, store)
            .await
            .unwrap_or_else(|e| panic!("daemon {name} did not start: {e:#}"));
        let webhooks =
            WebhookSender::new(daemon.base_url(), WEBHOOK_SECRET, SHOP_DOMAIN, API_VERSION);
        Self {
            name,
            daemon,
            webhooks,
            _dir: dir,
        }
    }

    /// Waits until every order of `model` shows in this daemon's admin API
    /// and the shared inbox holds nothing pending, and returns the state
    /// then. A dead letter ends the wait: the comparison shows it.
    async fn applied(&self, model: &Model, admin_token: &str) -> Snapshot {
        self.daemon
            .wait_until_within(
                &format!(
                    "daemon {} shows every one of the {} orders",
                    self.name,
                    model.orders()
                ),
                APPLY_DEADLINE,
                |s| !s.dead_letters.is_empty() || model.all_shown(s),
            )
            .await
            .unwrap_or_else(|e| panic!("{e:#}"));
        let client = reqwest::Client::new();
        let deadline = Instant::now() + APPLY_DEADLINE;
        loop {
            let metrics = client
                .get(format!("{}/metrics", self.daemon.base_url()))
                .bearer_auth(admin_token)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let pending = metrics.lines().find_map(|line| {
                line.strip_prefix(r#"loyalty_inbox_pending{connector="shopify"} "#)
                    .and_then(|value| value.trim().parse::<f64>().ok())
            });
            if pending == Some(0.0) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "daemon {}: the inbox still holds deliveries after {} s: \
                 loyalty_inbox_pending is {pending:?}\n{}",
                self.name,
                APPLY_DEADLINE.as_secs(),
                self.daemon.log_tail(LOG_TAIL)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.daemon.admin().snapshot().await.unwrap()
    }
}

/// Sends each order once, all at once, order `i` to `senders[i % len]`;
/// returns each order with the index of the sender it went through and
/// the answer, in the orders' order.
async fn send_spread(
    senders: &[WebhookSender],
    orders: &[Planned],
) -> Vec<(Planned, usize, WebhookAnswer)> {
    let mut in_flight = JoinSet::new();
    for (i, planned) in orders.iter().enumerate() {
        let node = i % senders.len();
        let (sender, planned) = (senders[node].clone(), planned.clone());
        in_flight.spawn(async move {
            let answer = deliver(&sender, &planned).await;
            (i, node, answer)
        });
    }
    let mut answers: Vec<(usize, usize, WebhookAnswer)> = in_flight.join_all().await;
    answers.sort_by_key(|(i, _, _)| *i);
    answers
        .into_iter()
        .map(|(i, node, answer)| (orders[i].clone(), node, answer))
        .collect()
}

/// Sends each order to both daemons at the same moment, one order after
/// another; returns each order with daemon a's and daemon b's answers.
async fn send_raced(
    senders: &[WebhookSender; 2],
    orders: &[Planned],
) -> Vec<(Planned, [WebhookAnswer; 2])> {
    let mut answers = Vec::new();
    for planned in orders {
        let barrier = Arc::new(Barrier::new(2));
        let both = senders.clone().map(|sender| {
            let (barrier, planned) = (barrier.clone(), planned.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                deliver(&sender, &planned).await
            })
        });
        let [to_a, to_b] = both;
        let (to_a, to_b) = (to_a.await.unwrap(), to_b.await.unwrap());
        answers.push((planned.clone(), [to_a, to_b]));
    }
    answers
}

async fn deliver(sender: &WebhookSender, planned: &Planned) -> WebhookAnswer {
    sender
        .send(TOPIC, &planned.webhook_id, &planned.body)
        .await
        .unwrap_or_else(|e| panic!("{}: {e:#}", planned.webhook_id))
}

/// Checks that `answer` stored a new delivery under an inbox id no other
/// delivery has; returns the id, or records what is wrong in `anomalies`.
fn expect_stored(
    who: &str,
    answer: &WebhookAnswer,
    inbox_ids: &mut HashMap<i64, String>,
    anomalies: &mut Vec<String>,
) -> Option<i64> {
    let id = answer.inbox_id().filter(|_| answer.status == 200);
    let Some(id) = id.filter(|_| answer.outcome() == Some("stored")) else {
        anomalies.push(format!(
            "{who}: answered {} {}, expected 200 `stored`",
            answer.status, answer.body
        ));
        return None;
    };
    if let Some(other) = inbox_ids.insert(id, who.to_owned()) {
        anomalies.push(format!(
            "{who}: stored as inbox id {id}, which {other} was stored as too"
        ));
    }
    Some(id)
}

// ---------------------------------------------------------------------------
// The orders and what they must earn
// ---------------------------------------------------------------------------

/// An order's `orders/paid` delivery and what it must earn.
#[derive(Debug, Clone)]
struct Planned {
    webhook_id: String,
    body: Arc<Value>,
    order_id: String,
    /// The buying company's id.
    company: String,
    /// floor(net x 2).
    points: i64,
}

fn company_id(n: usize) -> u64 {
    COMPANY_BASE + 1000 * n as u64
}

/// Company `n` as the shop's Admin API shows it.
fn company(n: usize) -> Company {
    Company {
        id: company_id(n),
        name: COMPANY_NAMES[n].to_owned(),
        external_id: Some(format!("ERP-{}", 30_001 + n)),
        note: None,
        created_at: "2025-06-02T09:00:00Z".to_owned(),
        updated_at: "2025-06-02T09:00:00Z".to_owned(),
    }
}

/// Company `n`'s buyer.
fn buyer(n: usize) -> Customer {
    let id = company_id(n) + 100;
    Customer {
        id,
        email: format!("einkauf-{n}@buyer.example"),
        first_name: "Jana".to_owned(),
        last_name: "Brandt".to_owned(),
        phone: None,
        address: Address {
            address1: "Werftstraße 12".to_owned(),
            city: "Hamburg".to_owned(),
            zip: "20457".to_owned(),
            country: "Germany".to_owned(),
            country_code: "DE".to_owned(),
            company: Some(COMPANY_NAMES[n].to_owned()),
        },
        created_at: "2025-06-02T10:00:00+02:00".to_owned(),
        updated_at: "2025-06-02T10:00:00+02:00".to_owned(),
    }
}

/// Order `n`, paid: one line of 1 to 4 units at 19.99 EUR and up, with odd
/// cents, so that the points are rounded down.
fn planned(n: usize) -> Planned {
    let buying = n % COMPANY_NAMES.len();
    let id = ORDER_BASE + 10 * n as u64;
    let order = Order {
        id,
        number: 5001 + n as u64,
        company: Some(CompanyRef {
            id: company_id(buying),
            location_id: company_id(buying) + 50,
        }),
        customer: buyer(buying),
        lines: vec![LineItem {
            id: id + 1,
            product_id: 8_412_345_691_000,
            variant_id: 45_123_456_791_000,
            title: "Ball valve DN50".to_owned(),
            variant_title: "Standard".to_owned(),
            sku: "BV-DN50".to_owned(),
            vendor: "Rheinwerk".to_owned(),
            quantity: 1 + (n % 4) as i64,
            unit_price: Cents(1_999 + 137 * n as i64),
            line_discount: Cents(0),
            grams: 900,
        }],
        discount_code: None,
        shipping: Cents(1500),
        tax_percent: 19,
        financial_status: "paid".to_owned(),
        created_at: "2026-03-02T09:00:00+01:00".to_owned(),
        updated_at: "2026-03-04T10:00:00+01:00".to_owned(),
        cancelled_at: None,
        refunds: Vec::new(),
        po_number: Some(format!("PO-PG-{n:03}")),
    };
    Planned {
        webhook_id: format!("pg-paid-{n:03}"),
        body: Arc::new(order.body()),
        order_id: id.to_string(),
        company: company_id(buying).to_string(),
        // The net in cents, so floor(net x 2) is this integer division.
        points: order.subtotal().0 * POINTS_PER_EUR / 100,
    }
}

/// What the daemons must show.
#[derive(Debug)]
struct Model {
    /// Company id -> order id -> points its one `earn` entry holds.
    accounts: BTreeMap<String, BTreeMap<String, i64>>,
}

impl Model {
    fn of(orders: &[&Planned]) -> Self {
        let mut accounts: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
        for planned in orders {
            let earlier = accounts
                .entry(planned.company.clone())
                .or_default()
                .insert(planned.order_id.clone(), planned.points);
            assert!(
                earlier.is_none(),
                "order {} planned twice",
                planned.order_id
            );
        }
        Self { accounts }
    }

    fn orders(&self) -> usize {
        self.accounts.values().map(BTreeMap::len).sum()
    }

    /// Whether every order has earned, once or more.
    fn all_shown(&self, state: &Snapshot) -> bool {
        self.accounts.iter().all(|(company, orders)| {
            state.ledger_of(SOURCE, company).is_some_and(|ledger| {
                orders
                    .keys()
                    .all(|order| ledger.entries.iter().any(|e| &e.reference == order))
            })
        })
    }

    /// Every difference between `state` and the model.
    fn compare(&self, state: &Snapshot) -> Vec<String> {
        let mut problems = Vec::new();
        for dead in &state.dead_letters {
            problems.push(format!("dead letter: {dead:?}"));
        }
        if state.accounts.len() != self.accounts.len() {
            problems.push(format!(
                "{} accounts ({:?}), expected one per company: {}",
                state.accounts.len(),
                state
                    .accounts
                    .iter()
                    .map(|a| (a.id, &a.name))
                    .collect::<Vec<_>>(),
                self.accounts.len()
            ));
        }
        problems.extend(state.ledger_problems());
        for (company, orders) in &self.accounts {
            let holders: Vec<_> = state
                .accounts
                .iter()
                .filter(|a| a.is_known_as(SOURCE, company))
                .collect();
            let [account] = holders[..] else {
                problems.push(format!(
                    "company {company}: {} accounts know it, expected one: {:?}",
                    holders.len(),
                    holders.iter().map(|a| a.id).collect::<Vec<_>>()
                ));
                continue;
            };
            let name = format!(
                "{} (company {company}, account {})",
                account.name, account.id
            );
            let entries = state
                .ledgers
                .get(&account.id)
                .map_or(&[][..], |l| &l.entries[..]);
            let mut earned: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
            for entry in entries {
                if entry.kind == "earn" && entry.source == SOURCE {
                    earned
                        .entry(entry.reference.as_str())
                        .or_default()
                        .push(entry.points);
                } else {
                    problems.push(format!("{name}: unexpected entry {entry:?}"));
                }
            }
            for (order, points) in orders {
                match earned.remove(order.as_str()) {
                    Some(got) if got == [*points] => {}
                    Some(got) => problems.push(format!(
                        "{name}: order {order} earned {got:?}, expected one entry of {points}"
                    )),
                    None => problems.push(format!(
                        "{name}: order {order} earned nothing, expected {points}"
                    )),
                }
            }
            for (order, got) in earned {
                problems.push(format!("{name}: entries {got:?} for unknown order {order}"));
            }
            let expected: i64 = orders.values().sum();
            if account.balance != expected {
                problems.push(format!(
                    "{name}: balance {}, expected {expected} from {} orders",
                    account.balance,
                    orders.len()
                ));
            }
        }
        problems
    }
}

/// The entries of `before` that `after` no longer holds unchanged.
fn lost_entries(before: &Snapshot, after: &Snapshot) -> Vec<String> {
    let kept: BTreeSet<(i64, i64)> = after
        .ledgers
        .values()
        .flat_map(|l| l.entries.iter().map(move |e| (l.account_id, e.id)))
        .collect();
    let mut lost = Vec::new();
    for ledger in before.ledgers.values() {
        let now = after.ledgers.get(&ledger.account_id);
        for entry in &ledger.entries {
            let same = now.is_some_and(|l| l.entries.iter().any(|e| e == entry));
            if !same {
                let how = if kept.contains(&(ledger.account_id, entry.id)) {
                    "changed"
                } else {
                    "gone"
                };
                lost.push(format!(
                    "account {}: entry {how}: {entry:?}",
                    ledger.account_id
                ));
            }
        }
    }
    lost
}
