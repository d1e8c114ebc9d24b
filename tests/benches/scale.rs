//! The daemon at scale, through its public interfaces: the real `loyaltyd`
//! binary on an SQLite store holding N accounts and M ledger entries,
//! driven over loopback HTTP.
//!
//! Seeding. The store is filled before the daemon starts, in bulk, with
//! exactly what the daemon writes when an ERP sends it the seed through
//! `POST /api/v1/events` (requests of 1,000 events: every account with one
//! contact, then M paid purchases over 280 days, each earning one ledger
//! entry; 10 % in USD; tiers at 5,000 and 20,000 EUR of yearly spend, gold
//! earning 1.25 times the points). The daemon's own store creates the
//! schema and registers the program; the rows are computed with the host's
//! event conversion and the core's earning, tier and hash-chain functions
//! (`scale/seed.rs`). Before that, the same stream cut to 1,000 accounts
//! goes once through a real daemon's events API and once through the bulk
//! writer, and every row of both databases must agree (`scale/check.rs`);
//! that run also gives the events API's rate, the route the bulk writer is
//! measured against. After seeding, `loyaltyd ledger verify` must pass; on
//! start the daemon's scheduled jobs must find no tier to change; every
//! balance and ledger read is checked against the seeded sums. K of the
//! accounts name a HubSpot company as theirs: the HubSpot emulator holds
//! those companies and one contact each, and the daemon's HubSpot
//! connector syncs them in at start (through its poll, as in production).
//!
//! Measured: balance reads (`GET /api/v1/accounts/{id}`) and ledger reads
//! (`GET /api/v1/accounts/{id}/ledger`) of random accounts, one at a time
//! (p50/p99) and from 1 and 4 concurrent clients (reads/s); the refresh of
//! two segments over every account (`POST /api/v1/segments/refresh`; one
//! on tier and yearly spend, one on country); a message campaign with a
//! bonus offer to the K accounts through the HubSpot connector and the
//! emulator, from its start to its completion (the daemon's `started_at`
//! and `finished_at`); the daemon's RSS after seeding and after the reads.
//! The per-token API rate limit is turned off (`api_per_second = 0`): it
//! would cap the concurrent reads at 1,000/s. Client, emulator and daemon
//! share the machine's cores.
//!
//! `cargo bench -p loyalty-e2e --bench scale`: N = 20,000, M = 200,000,
//! K = 2,000, a few minutes on two cores.
//! `LOYALTY_BENCH_SCALE=medium`: N = 200,000, M = 4,000,000, K = 20,000,
//! a quarter of an hour and about 3 GB of disk.
//! `LOYALTY_BENCH_SCALE=wide`: N = 1,000,000, M = 5,000,000, K = 20,000:
//! the full run's accounts (what balance reads and segment refreshes grow
//! with) at a tenth of its entries, about half an hour and 5 GB.
//! `LOYALTY_BENCH_SCALE=full`: N = 1,000,000, M = 50,000,000, K = 100,000
//! (hours and about 40 GB of disk); read series then stop at their time
//! budget.

#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    reason = "a benchmark prints its figures and fails loudly"
)]

#[path = "scale/check.rs"]
mod check;
#[path = "scale/seed.rs"]
mod seed;

use std::fs;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use loyalty_e2e::bench::{Percentiles, Report, Target, ms, rss_mib};
use loyalty_e2e::daemon::{Daemon, ProgramRules, Setup, random_token, sha256_hex};
use loyalty_e2e::hubspot::{HubSpotEmulator, ObjectType, Record};
use loyalty_e2e::{loyaltyd_binary, official_plugin};
use loyaltyd::config::Config;
use serde_json::{Value, json};

use seed::{Plan, Written};

/// The program's tiers, beside the harness's rules (2 points per EUR,
/// rounded down, USD at 0.92).
const TIERS_TOML: &str = r#"
[program.tiers]
window_days = 365
grace_days = 90

[[program.tiers.levels]]
id = "silver"
name = "Silver"
min_spend = "5000"

[[program.tiers.levels]]
id = "gold"
name = "Gold"
min_spend = "20000"
earn_multiplier = "1.25"
"#;

/// The per-token limit would cap the concurrent reads.
const LIMITS_TOML: &str = "
[server.rate_limits]
api_per_second = 0
";

/// One segment on tier and yearly spend (a fraction of the accounts), one
/// on country (the accounts with a HubSpot company).
const SEGMENTS_TOML: &str = r#"
[[segments]]
id = "top-spenders"
name = "Silver and gold accounts spending 15,000 a year"
filter = 'tier in ["silver", "gold"] and monetary(365) >= 15000'

[[segments]]
id = "austria"
name = "Austrian accounts"
filter = 'country = "AT"'
"#;

const HUBSPOT_TOKEN: &str = "pat-eu1-7c1d0e42-scale-bench-000000000001";
const HUBSPOT_PORTAL: &str = "143553137";
const CAMPAIGN: &str = "scale-austria";
const BONUS: i64 = 100;
/// Concurrent clients of the throughput runs.
const CLIENTS: usize = 4;

/// The sizes of one run.
#[derive(Debug, Clone, Copy)]
struct Scale {
    name: &'static str,
    accounts: usize,
    purchases: usize,
    members: usize,
    /// Reads per latency series, unless its budget runs out first.
    reads: usize,
    read_budget: Duration,
    throughput_for: Duration,
    /// How long start-up work, syncs and the campaign may take.
    patience: Duration,
}

impl Scale {
    fn from_env() -> Self {
        match std::env::var("LOYALTY_BENCH_SCALE").as_deref() {
            Ok("full") => Self {
                name: "full",
                accounts: 1_000_000,
                purchases: 50_000_000,
                members: 100_000,
                reads: 3_000,
                read_budget: Duration::from_secs(180),
                throughput_for: Duration::from_secs(30),
                patience: Duration::from_secs(6 * 3600),
            },
            Ok("wide") => Self {
                name: "wide",
                accounts: 1_000_000,
                purchases: 5_000_000,
                members: 20_000,
                reads: 3_000,
                read_budget: Duration::from_secs(120),
                throughput_for: Duration::from_secs(10),
                patience: Duration::from_secs(3 * 3600),
            },
            Ok("medium") => Self {
                name: "medium",
                accounts: 200_000,
                purchases: 4_000_000,
                members: 20_000,
                reads: 3_000,
                read_budget: Duration::from_secs(120),
                throughput_for: Duration::from_secs(10),
                patience: Duration::from_secs(3600),
            },
            Ok("small") | Err(_) => Self {
                name: "small",
                accounts: 20_000,
                purchases: 200_000,
                members: 2_000,
                reads: 3_000,
                read_budget: Duration::from_secs(120),
                throughput_for: Duration::from_secs(5),
                patience: Duration::from_secs(600),
            },
            Ok(other) => {
                panic!(
                    "LOYALTY_BENCH_SCALE is `small` (default), `medium`, `wide` or `full`, not `{other}`"
                )
            }
        }
    }
}

fn main() {
    let scale = Scale::from_env();
    // Build everything before timing anything.
    let binary = loyaltyd_binary();
    let hubspot = official_plugin("hubspot");
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let report = tokio.block_on(run(scale, &binary, &hubspot)).unwrap();
    report.publish().unwrap();
}

/// A configuration for the CLI and for loading the program in-process: the
/// same `[program]` the harness writes, the same store path.
fn seed_config(dir: &Path) -> anyhow::Result<(PathBuf, Config)> {
    let rules = ProgramRules::default();
    let rates: String = rules
        .exchange_rates
        .iter()
        .map(|(currency, rate)| format!("{currency} = {}\n", json!(rate)))
        .collect();
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:8080\"\npublic_base_url = \"http://127.0.0.1:8080\"\n\
         admin_token_sha256 = [{token}]\n\n\
         [store]\ntype = \"sqlite\"\npath = \"data/loyalty.db\"\n\n\
         [runtime]\ncache_dir = \"data/cache\"\n\n\
         [program]\ncurrency = {currency}\npoints_per_unit = {points}\nrounding = {rounding}\n\n\
         [program.exchange_rates]\n{rates}{TIERS_TOML}",
        token = json!(sha256_hex(&random_token()?)),
        currency = json!(rules.currency),
        points = json!(rules.points_per_unit),
        rounding = json!(rules.rounding),
    );
    let path = dir.join("seed.toml");
    fs::create_dir_all(dir.join("data"))?;
    fs::write(&path, text)?;
    let config = loyaltyd::config::load(&path).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((path, config))
}

/// Creates the store as the daemon does (schema, program registered).
async fn create_store(config: &Config) -> anyhow::Result<()> {
    let store = loyaltyd::daemon::open_store(config)?;
    store.register_program(config.program.clone()).await?;
    Ok(())
}

fn db_path(dir: &Path) -> PathBuf {
    dir.join("data/loyalty.db")
}

/// Bulk-writes `plan` into `dir`'s store, printing progress.
async fn bulk(dir: &Path, config: &Config, plan: Plan, base_url: &str) -> anyhow::Result<Written> {
    create_store(config).await?;
    let (path, program, identity, base_url) = (
        db_path(dir),
        config.program.clone(),
        config.identity.clone(),
        base_url.to_owned(),
    );
    tokio::task::spawn_blocking(move || {
        let total = plan.events();
        let started = Instant::now();
        let mut shown = Instant::now();
        seed::write(&path, &program, &identity, &plan, &base_url, |done| {
            if shown.elapsed() >= Duration::from_secs(5) || done == total {
                shown = Instant::now();
                let rate = done as f64 / started.elapsed().as_secs_f64();
                println!(
                    "seeding: {done} of {total} events ({:.1} %), {rate:.0} events/s",
                    done as f64 * 100.0 / total as f64
                );
            }
        })
    })
    .await?
}

/// Sends `plan`'s requests to a real daemon one after the other; returns
/// the time they took.
async fn through_events_api(daemon: &Daemon, token: &str, plan: &Plan) -> anyhow::Result<Duration> {
    let client = reqwest::Client::new();
    let url = format!("{}/api/v1/events", daemon.base_url());
    let started = Instant::now();
    for request in plan.stream() {
        let response = client
            .post(&url)
            .bearer_auth(token)
            .header("Idempotency-Key", request.key())
            .header("content-type", "application/json")
            .body(request.body())
            .send()
            .await?;
        let status = response.status();
        let text = response.text().await?;
        ensure!(
            status.as_u16() == 201,
            "events {}: {status}: {text}",
            request.key()
        );
    }
    Ok(started.elapsed())
}

async fn get_json(client: &reqwest::Client, url: &str, token: &str) -> anyhow::Result<Value> {
    let response = client.get(url).bearer_auth(token).send().await?;
    let status = response.status();
    let text = response.text().await?;
    ensure!(status.is_success(), "GET {url}: {status}: {text}");
    Ok(serde_json::from_str(&text)?)
}

async fn post_json(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    body: &Value,
) -> anyhow::Result<(u16, Value)> {
    let response = client
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await?;
    let status = response.status().as_u16();
    let text = response.text().await?;
    Ok((
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    ))
}

/// The sample's stream through a real daemon and through the bulk writer
/// must leave the same rows; returns the events API's rate (events/s).
async fn check_against_daemon(now: i64) -> anyhow::Result<(f64, Plan)> {
    let plan = Plan {
        accounts: 1_000,
        purchases: 10_000,
        claimed: 100,
        seed: 7,
        now,
    };
    let token = random_token()?;
    let daemon = Daemon::start(&Setup {
        admin_token: token.clone(),
        program: ProgramRules::default(),
        shopify: None,
        extra_toml: format!("{TIERS_TOML}{LIMITS_TOML}"),
        secrets: Vec::new(),
    })
    .await?;
    let took = through_events_api(&daemon, &token, &plan).await?;
    let dir = tempfile::Builder::new()
        .prefix("loyalty-bench-check-")
        .tempdir()?;
    let (_, config) = seed_config(dir.path())?;
    let program = get_json(
        &reqwest::Client::new(),
        &format!("{}/api/v1/program", daemon.base_url()),
        &token,
    )
    .await?;
    ensure!(
        program["version"] == json!(config.program.version),
        "the daemon runs program {}, the seed {}",
        program["version"],
        config.program.version
    );
    bulk(dir.path(), &config, plan, daemon.base_url()).await?;
    let rows = check::compare(&db_path(dir.path()), &db_path(daemon.dir()))
        .context("the bulk writer and the daemon disagree")?;
    println!(
        "check: {} requests ({} events) through the events API and in bulk leave the same {rows} rows",
        plan.requests(),
        plan.events()
    );
    Ok((plan.events() as f64 / took.as_secs_f64(), plan))
}

/// Runs `loyaltyd ledger verify`; returns its time, peak RSS (MiB) and
/// output.
fn ledger_verify(binary: &Path, config: &Path) -> anyhow::Result<(Duration, f64, String)> {
    let started = Instant::now();
    let mut child = Command::new(binary)
        .args(["ledger", "verify", "--config"])
        .arg(config)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let pid = child.id();
    let mut peak: f64 = 0.0;
    let status = loop {
        if let Ok((_, hwm)) = rss_mib(pid) {
            peak = peak.max(hwm);
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = started.elapsed();
    let mut out = String::new();
    let mut err = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        stdout.read_to_string(&mut out)?;
    }
    if let Some(mut stderr) = child.stderr.take() {
        stderr.read_to_string(&mut err)?;
    }
    ensure!(
        status.success(),
        "loyaltyd ledger verify failed ({status}) after {:.1} s at a peak RSS of {peak:.0} MiB:\n{out}{err}",
        took.as_secs_f64()
    );
    Ok((took, peak, out.trim().to_owned()))
}

/// `[connectors.hubspot]`, polled at start.
fn hubspot_toml(portal: &HubSpotEmulator, plugin: &Path) -> String {
    let s = |text: &str| Value::from(text).to_string();
    let base = s(&portal.base_url());
    format!(
        r#"
[connectors.hubspot]
plugin = {plugin}
allowed_hosts = [{base}]
settings = {{ portal_id = "{HUBSPOT_PORTAL}", api_base_url = {base}, currency = "EUR" }}
poll = {{ interval_seconds = 3600, page_size = 200 }}

[connectors.hubspot.secrets.webhook]
file = "secrets/hubspot_webhook"

[connectors.hubspot.credentials.api]
inject = "bearer"
file = "secrets/hubspot_token"
hosts = [{base}]
"#,
        plugin = s(&plugin.to_string_lossy()),
    )
}

/// The claimed companies and one contact each, as HubSpot holds them.
fn load_hubspot(portal: &HubSpotEmulator, plan: &Plan) {
    let t0 = plan.now - 10 * 86_400_000;
    let k = i64::try_from(plan.claimed).unwrap_or(0);
    for (j, (index, company, contact)) in (1_i64..).zip(plan.companies()) {
        portal.put(
            ObjectType::Companies,
            Record::new(company, t0 + j)
                .with("name", &seed::account_name(index))
                .with("country", "AT"),
        );
        let (first, last) = seed::contact_names(index);
        portal.put(
            ObjectType::Contacts,
            Record::new(contact, t0 + k + j)
                .with("firstname", first)
                .with("lastname", last)
                .with(
                    "email",
                    &format!("procurement{index}@company{index}.example"),
                )
                .with("jobtitle", "Procurement"),
        );
        portal.associate(
            (ObjectType::Contacts, contact),
            (ObjectType::Companies, company),
            true,
        );
    }
}

/// Waits until the daemon's log holds `needle`; returns the line.
async fn logged(daemon: &Daemon, needle: &str, patience: Duration) -> anyhow::Result<String> {
    let deadline = Instant::now() + patience;
    loop {
        if let Some(line) = daemon.log().lines().find(|l| l.contains(needle)) {
            return Ok(line.to_owned());
        }
        if Instant::now() >= deadline {
            bail!("no `{needle}` in the log\n{}", daemon.log_tail(40));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Which read.
#[derive(Debug, Clone, Copy)]
enum Read {
    /// `GET /api/v1/accounts/{id}`.
    Balance,
    /// `GET /api/v1/accounts/{id}/ledger`.
    Ledger,
}

impl Read {
    fn url(self, base: &str, id: usize) -> String {
        match self {
            Self::Balance => format!("{base}/api/v1/accounts/{id}"),
            Self::Ledger => format!("{base}/api/v1/accounts/{id}/ledger"),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Balance => "balance",
            Self::Ledger => "ledger",
        }
    }
}

/// One timed GET: the time until the whole body is in, and the body.
async fn timed_get(
    client: &reqwest::Client,
    url: &str,
    token: &str,
) -> anyhow::Result<(Duration, Vec<u8>)> {
    let started = Instant::now();
    let response = client.get(url).bearer_auth(token).send().await?;
    let status = response.status();
    let body = response.bytes().await?;
    let took = started.elapsed();
    ensure!(status.is_success(), "GET {url}: {status}");
    Ok((took, body.to_vec()))
}

/// Reads random accounts one at a time, checking each answer against the
/// seed; stops after `count` reads or when `budget` is spent.
async fn latency(
    http: &Http,
    read: Read,
    written: &Written,
    count: usize,
    budget: Duration,
) -> anyhow::Result<Vec<Duration>> {
    let accounts = written.balances.len() - 1;
    let mut rng = fastrand::Rng::with_seed(11);
    let mut samples = Vec::with_capacity(count);
    let started = Instant::now();
    while samples.len() < count && (samples.len() < 20 || started.elapsed() < budget) {
        let id = rng.usize(1..=accounts);
        let (took, body) = timed_get(&http.client, &read.url(&http.base, id), &http.token).await?;
        let answer: Value = serde_json::from_slice(&body)?;
        ensure!(
            answer["balance"] == json!(written.balances[id]),
            "account {id}: balance {} read, {} seeded",
            answer["balance"],
            written.balances[id]
        );
        if let Read::Ledger = read {
            let entries = answer["entries"].as_array().map_or(0, Vec::len);
            ensure!(
                entries == usize::try_from(written.entry_counts[id])?,
                "account {id}: {entries} entries read, {} seeded",
                written.entry_counts[id]
            );
        }
        samples.push(took);
    }
    Ok(samples)
}

/// Reads random accounts from `clients` clients for `run`; returns reads/s.
async fn throughput(
    http: &Http,
    read: Read,
    accounts: usize,
    clients: usize,
    run: Duration,
) -> anyhow::Result<f64> {
    let started = Instant::now();
    let deadline = started + run;
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let http = http.clone();
            tokio::spawn(async move {
                let mut rng = fastrand::Rng::with_seed(100 + c as u64);
                let mut done = 0_usize;
                while Instant::now() < deadline {
                    let id = rng.usize(1..=accounts);
                    timed_get(&http.client, &read.url(&http.base, id), &http.token).await?;
                    done += 1;
                }
                anyhow::Ok(done)
            })
        })
        .collect();
    let mut total = 0;
    for task in tasks {
        total += task.await??;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}

/// A client of one daemon's admin API.
#[derive(Debug, Clone)]
struct Http {
    client: reqwest::Client,
    base: String,
    token: String,
}

impl Http {
    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        get_json(&self.client, &format!("{}{path}", self.base), &self.token).await
    }

    async fn post(&self, path: &str, body: &Value, expected: u16) -> anyhow::Result<Value> {
        let (status, answer) = post_json(
            &self.client,
            &format!("{}{path}", self.base),
            &self.token,
            body,
        )
        .await?;
        ensure!(status == expected, "POST {path}: {status}: {answer}");
        Ok(answer)
    }
}

/// `1234567` as `1,234,567`.
fn grouped(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn mib(pid: u32) -> anyhow::Result<f64> {
    Ok(rss_mib(pid)?.0)
}

#[allow(
    clippy::too_many_lines,
    reason = "the benchmark's steps in the order they run"
)]
async fn run(scale: Scale, binary: &Path, plugin: &Path) -> anyhow::Result<Report> {
    let (n, m, k) = (scale.accounts, scale.purchases, scale.members);
    let kk = grouped(k);
    let mut report = Report::new("scale");
    report.setup("scale", scale.name);
    report.setup("accounts (N)", n);
    report.setup("ledger entries (M)", m);
    report.setup("campaign members (K)", k);

    // 1. The bulk writer against the daemon's events API, on a sample.
    let now = seed::now_ms();
    let (api_rate, sample) = check_against_daemon(now).await?;

    // 2. The store, in bulk, before the daemon starts.
    let plan = Plan {
        accounts: n,
        purchases: m,
        claimed: k,
        seed: 42,
        now,
    };
    let temp = tempfile::Builder::new()
        .prefix("loyalty-bench-scale-")
        .tempdir()?;
    let dir = temp.path();
    let (seed_toml, config) = seed_config(dir)?;
    let started = Instant::now();
    let written = bulk(dir, &config, plan, "http://127.0.0.1:8080").await?;
    let seeding = started.elapsed();
    ensure!(
        written.entries == m
            && written.events == plan.events()
            && written.requests == plan.requests(),
        "{} entries of {} events in {} requests written for {m} purchases",
        written.entries,
        written.events,
        written.requests
    );
    let db_bytes = fs::metadata(db_path(dir))?.len()
        + fs::metadata(dir.join("data/loyalty.db-wal")).map_or(0, |w| w.len());
    report.setup("store", format!("{:.0} MiB", db_bytes as f64 / 1_048_576.0));
    report.figure(
        &format!(
            "events API, 1 client ({} events of {} accounts, every row checked against bulk)",
            grouped(sample.events()),
            grouped(sample.accounts)
        ),
        api_rate,
        "events/s",
    );
    report.figure(
        &format!(
            "bulk seed of {} events ({} accounts, {} entries)",
            grouped(plan.events()),
            grouped(n),
            grouped(m)
        ),
        seeding.as_secs_f64(),
        "s",
    );
    report
        .figure(
            "bulk seed rate",
            plan.events() as f64 / seeding.as_secs_f64(),
            "events/s",
        )
        .against("events API, 1 client", api_rate);

    // 3. `loyaltyd ledger verify`.
    let (binary_owned, seed_owned) = (binary.to_path_buf(), seed_toml.clone());
    let (took, peak, said) =
        tokio::task::spawn_blocking(move || ledger_verify(&binary_owned, &seed_owned)).await??;
    println!("{said}");
    ensure!(
        said.contains(&format!("ledger verified: {m} entries")),
        "unexpected verify output: {said}"
    );
    report.figure(
        &format!("ledger verify, {} entries", grouped(m)),
        took.as_secs_f64(),
        "s",
    );
    report.figure("ledger verify, peak RSS", peak, "MiB");

    // 4. The daemon on the seeded store, with the HubSpot connector.
    let portal = HubSpotEmulator::start(HUBSPOT_TOKEN).await?;
    load_hubspot(&portal, &plan);
    let token = random_token()?;
    let setup = Setup {
        admin_token: token.clone(),
        program: ProgramRules::default(),
        shopify: None,
        extra_toml: format!(
            "{TIERS_TOML}{LIMITS_TOML}{}{SEGMENTS_TOML}",
            hubspot_toml(&portal, plugin)
        ),
        secrets: vec![
            ("hubspot_token".to_owned(), HUBSPOT_TOKEN.to_owned()),
            (
                "hubspot_webhook".to_owned(),
                "scale-bench-hubspot-secret".to_owned(),
            ),
        ],
    };
    let daemon = Daemon::start_in(dir, &setup).await?;
    let ready = seed::now_ms();
    let http = Http {
        client: reqwest::Client::new(),
        base: daemon.base_url().to_owned(),
        token,
    };
    let program = http.get("/api/v1/program").await?;
    ensure!(
        program["version"] == json!(config.program.version),
        "the daemon runs program {}, the seed {}",
        program["version"],
        config.program.version
    );
    let jobs = logged(&daemon, "scheduled jobs ran", scale.patience).await?;
    ensure!(
        jobs.contains("tier_changes=0") && jobs.contains("bonuses=0"),
        "the start-up jobs changed the seeded store: {jobs}"
    );
    logged(&daemon, "segments refreshed", scale.patience).await?;
    let deadline = Instant::now() + scale.patience;
    let sync = loop {
        let status = daemon.admin().sync_status("hubspot").await?;
        if status.completed > 0 && !status.running {
            break status;
        }
        ensure!(
            status.failures == 0 && Instant::now() < deadline,
            "the HubSpot sync did not complete: {status:?}\n{}",
            daemon.log_tail(40)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    ensure!(sync.last_error.is_none(), "HubSpot sync: {sync:?}");
    {
        let db = rusqlite::Connection::open_with_flags(
            db_path(dir),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )?;
        let count = |sql: &str| -> rusqlite::Result<i64> { db.query_row(sql, [], |r| r.get(0)) };
        let accounts = count("SELECT COUNT(*) FROM accounts")?;
        let joined = count("SELECT COUNT(*) FROM account_refs WHERE source = 'hubspot'")?;
        let contacts = count("SELECT COUNT(*) FROM contacts WHERE source = 'hubspot'")?;
        ensure!(
            usize::try_from(accounts)? == n
                && usize::try_from(joined)? == k
                && usize::try_from(contacts)? == k,
            "after the HubSpot sync: {accounts} accounts, {joined} HubSpot references, {contacts} HubSpot contacts"
        );
    }
    report.figure(
        &format!("HubSpot sync of {kk} companies + {kk} contacts, from ready"),
        sync.last_completed_at
            .unwrap_or(ready)
            .saturating_sub(ready) as f64
            / 1e3,
        "s",
    );
    report.figure("daemon RSS after seeding", mib(daemon.pid())?, "MiB");

    // 5. Reads.
    for read in [Read::Balance, Read::Ledger] {
        latency(&http, read, &written, 20, scale.read_budget).await?;
        let mut samples = latency(&http, read, &written, scale.reads, scale.read_budget).await?;
        let count = samples.len();
        let p = Percentiles::of(&mut samples).context("no reads")?;
        report.figure(&format!("{} read p50", read.name()), ms(p.p50), "ms");
        let p99 = report.figure(
            &format!("{} read p99 ({} reads)", read.name(), grouped(count)),
            ms(p.p99),
            "ms",
        );
        if let Read::Balance = read {
            p99.target(Target::AtMost(5.0));
        }
        report.figure(&format!("{} read max", read.name()), ms(p.max), "ms");
    }
    for read in [Read::Balance, Read::Ledger] {
        let one = throughput(&http, read, n, 1, scale.throughput_for).await?;
        let many = throughput(&http, read, n, CLIENTS, scale.throughput_for).await?;
        report
            .figure(
                &format!("{} reads, {CLIENTS} clients", read.name()),
                many,
                "reads/s",
            )
            .against("1 client", one);
    }
    report.figure("daemon RSS after the reads", mib(daemon.pid())?, "MiB");

    // 6. Segment refresh.
    let mut refreshes = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        let answer = http
            .post("/api/v1/segments/refresh", &json!({}), 200)
            .await?;
        refreshes.push(started.elapsed());
        ensure!(answer["segments"] == json!(2), "refresh: {answer}");
    }
    refreshes.sort_unstable();
    let segments = http.get("/api/v1/segments").await?;
    let size = |id: &str| -> u64 {
        segments["segments"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| s["id"] == json!(id))
            .and_then(|s| s["size"].as_u64())
            .unwrap_or(0)
    };
    ensure!(
        size("austria") == u64::try_from(k)?,
        "segment austria: {segments}"
    );
    report.setup(
        "segments",
        format!(
            "top-spenders {} and austria {} members",
            size("top-spenders"),
            k
        ),
    );
    report
        .figure(
            &format!(
                "segment refresh, 2 segments over {} accounts, median of 3",
                grouped(n)
            ),
            ms(refreshes[1]),
            "ms",
        )
        .target(Target::AtMost(10_000.0));

    // 7. A campaign to the K accounts through HubSpot.
    http.post(
        "/api/v1/campaigns",
        &json!({
            "id": CAMPAIGN, "name": "Scale offer", "segment": "austria", "channel": "hubspot",
            "subject": "{{ first_name }}, a bonus for {{ account_name }}",
            "template": "Hello {{ first_name }}, {{ account_name }} holds {{ balance }} points: {{ offer }}.",
            "offer": {"kind": "bonus_points", "points": BONUS},
        }),
        201,
    )
    .await?;
    let scheduled = Instant::now();
    http.post(
        &format!("/api/v1/campaigns/{CAMPAIGN}/schedule"),
        &json!({}),
        200,
    )
    .await?;
    let deadline = Instant::now() + scale.patience;
    let campaign = loop {
        let campaign = http.get(&format!("/api/v1/campaigns/{CAMPAIGN}")).await?;
        if matches!(campaign["status"].as_str(), Some("completed" | "failed")) {
            break campaign;
        }
        ensure!(
            Instant::now() < deadline,
            "the campaign did not finish: {campaign}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let wall = scheduled.elapsed();
    ensure!(
        campaign["status"] == "completed"
            && campaign["targeted"] == json!(k)
            && campaign["deliveries"]["sent"] == json!(k),
        "campaign: {campaign:#}"
    );
    let lists = portal.lists();
    ensure!(
        lists.len() == 1 && lists[0].members.len() == k,
        "HubSpot lists: {} with {:?} members",
        lists.len(),
        lists.iter().map(|l| l.members.len()).collect::<Vec<_>>()
    );
    if let Some((index, ..)) = plan.companies().next() {
        let account = http.get(&format!("/api/v1/accounts/{index}")).await?;
        ensure!(
            account["balance"] == json!(written.balances[index] + BONUS),
            "account {index} after the campaign's bonus: {}",
            account["balance"]
        );
    }
    let started_at = campaign["started_at"].as_i64().context("started_at")?;
    let finished_at = campaign["finished_at"].as_i64().context("finished_at")?;
    let sending = Duration::from_millis(u64::try_from(finished_at - started_at)?);
    report.figure(
        &format!("campaign to {kk} members, start to completed"),
        ms(sending),
        "ms",
    );
    report.figure(
        "campaign members",
        k as f64 / sending.as_secs_f64(),
        "members/s",
    );
    report.figure("campaign, schedule to seen completed", ms(wall), "ms");
    report.figure("daemon RSS at the end", mib(daemon.pid())?, "MiB");
    drop(daemon);
    Ok(report)
}
