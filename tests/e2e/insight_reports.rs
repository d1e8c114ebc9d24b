//! Program analytics, goals and the quarterly review end to end, through the
//! real daemon over loopback HTTP and the `loyaltyd` command line run on the
//! same configuration while the daemon runs: a period's figures checked by
//! hand, goals' progress, and a review page whose every chart draws exactly
//! what its JSON says, without script or network resources, and which
//! axe-core finds accessible in a real Chromium.
//!
//! The book is six accounts, everything placed relative to the moment the
//! test seeds them (`now`) so that no figure depends on the calendar, except
//! the fixed costs, which prorate by the calendar months the period
//! overlaps. Two points per euro, rounded down.
//!
//! | account | country | membership | paid orders (days before now: EUR) | other |
//! |---|---|---|---|---|
//! | C-1 Brandt | DE | active | 18: 1000, 250 refunded 10 days ago | event attended 12 days ago (500 points); redeems `training` (1000 points, no money value) |
//! | C-2 Kessler | DE | active | 15: 600 | redeems `gift-card` (500 points, worth EUR 25.00) |
//! | C-3 Alpen | AT | active | 5: 400; 3: 300, 100 refunded 2 days ago | |
//! | C-4 Lindqvist | DE | active | none | |
//! | C-5 Rhône | FR | suspended after buying | 8: 200 | not eligible (country) |
//! | C-6 Nordwind | DE | suspended | none | eligible |
//!
//! Nobody redeems `lounge`, and nobody reaches the `platinum` tier.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use loyalty_e2e::browser::Browser;
use loyalty_e2e::daemon::{Daemon, ProgramRules, Setup, random_token};
use loyalty_e2e::loyaltyd_binary;
use reqwest::Method;
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{Value, json};

const DAY: i64 = 86_400_000;

/// The civil date `(year, month, day)` of a day counted from 1970-01-01
/// (H. Hinnant's algorithm, proleptic Gregorian).
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let (era, doe) = (z.div_euclid(146_097), z.rem_euclid(146_097));
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, doy - (153 * mp + 2) / 5 + 1)
}

/// `2026-11-04`.
fn date(days: i64) -> String {
    let (year, month, day) = civil(days);
    format!("{year:04}-{month:02}-{day:02}")
}

fn month_days(year: i64, month: i64) -> i64 {
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    match month {
        2 => 28 + i64::from(leap),
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Fixed costs of the days `[from, to)`: each month overlapped adds
/// `monthly x overlap / days in the month`; rounded to cents at the end.
fn prorated(monthly: &[Decimal], from: i64, to: i64) -> Decimal {
    let mut overlaps: BTreeMap<(i64, i64), i64> = BTreeMap::new();
    for day in from..to {
        let (year, month, _) = civil(day);
        *overlaps.entry((year, month)).or_default() += 1;
    }
    let mut total = Decimal::ZERO;
    for ((year, month), days) in overlaps {
        for cost in monthly {
            total += *cost * Decimal::from(days) / Decimal::from(month_days(year, month));
        }
    }
    total.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

fn dec(text: &str) -> Decimal {
    text.parse().unwrap()
}

/// `value.a.0.b`, for a path `a.0.b`.
fn at<'a>(value: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(value, |v, key| {
        key.parse().map_or(&v[key], |i: usize| &v[i])
    })
}

/// A figure of the JSON as a number: a decimal string, an integer, or null
/// (which a chart draws as zero).
fn figure(value: &Value) -> Decimal {
    match value {
        Value::Null => Decimal::ZERO,
        Value::String(text) => dec(text),
        other => dec(&other.to_string()),
    }
}

/// Asserts each `path=figure` (whitespace-separated) of `json`, comparing
/// numbers.
fn assert_figures(json: &Value, expected: &str) {
    for pair in expected.split_whitespace() {
        let (path, value) = pair.split_once('=').unwrap();
        assert_eq!(figure(at(json, path)), dec(value), "{path} in {json}");
    }
}

/// The program: analytics settings, a catalog of three rewards, two tiers,
/// an engagement bonus, and two goals running from 30 days before `today`
/// (a day number) to 60 days after it.
fn program_toml(today: i64) -> String {
    let (start, deadline) = (date(today - 30), date(today + 60));
    format!(
        r#"
[program.eligibility]
countries = ["DE", "AT"]

[program.scoring]
margin_percent = "30"

[program.analytics]
point_cost = "0.01"
baseline_days = 365
fixed_costs = [{{ name = "platform", monthly = "300" }}, {{ name = "agency", monthly = "125.50" }}]

[[program.engagement]]
kind = "event_attended"
points = 500

[program.tiers]
levels = [
  {{ id = "partner", name = "Partner", min_spend = "500" }},
  {{ id = "platinum", name = "Platinum", min_spend = "250000" }},
]

[[program.rewards]]
id = "training"
name = "On-site training day"
kind = "service"
points = 1000

[[program.rewards]]
id = "gift-card"
name = "EUR 25 gift card"
kind = "gift_card"
points = 500
value = {{ amount = "25.00", currency = "EUR" }}

[[program.rewards]]
id = "lounge"
name = "Trade fair lounge access"
kind = "vip_event"
points = 3000

[[goals]]
id = "members"
name = "Five members"
metric = "members"
baseline = "2"
target = "5"
start = {start}
deadline = {deadline}
owner = "Partner sales"

[[goals]]
id = "referrals"
name = "Ten referrals"
metric = "referrals"
baseline = "0"
target = "10"
start = {start}
deadline = {deadline}
owner = "Marketing"
"#
    )
}

struct Program {
    daemon: Daemon,
    token: String,
    http: reqwest::Client,
    /// When the book was seeded: every date in it is relative to this.
    now: i64,
    /// The day of `now`, counted from 1970-01-01.
    today: i64,
}

impl Program {
    /// Starts the daemon and seeds the book in the module docs.
    async fn start() -> Self {
        let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let now = i64::try_from(since_epoch.as_millis()).unwrap();
        let token = random_token().unwrap();
        let setup = Setup {
            admin_token: token.clone(),
            program: ProgramRules::default(),
            shopify: None,
            extra_toml: program_toml(now.div_euclid(DAY)),
            secrets: Vec::new(),
        };
        let program = Self {
            daemon: Daemon::start(&setup).await.unwrap(),
            token,
            http: reqwest::Client::new(),
            now,
            today: now.div_euclid(DAY),
        };
        program.seed().await;
        program
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.daemon.base_url())
    }

    /// Status and body (JSON when it parses, else the text).
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let key = random_token().unwrap();
        let mut request = self.http.request(method, self.url(path));
        request = request
            .bearer_auth(&self.token)
            .header("Idempotency-Key", key);
        if let Some(body) = body {
            request = request.header("content-type", "application/json");
            request = request.body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, body)
    }

    /// A call that must succeed.
    async fn ok(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, answer) = self.call(method, path, body).await;
        assert!((200..300).contains(&status), "{path}: {status}: {answer}");
        answer
    }

    async fn get(&self, path: &str) -> Value {
        self.ok(Method::GET, path, None).await
    }

    async fn events(&self, events: Value) {
        let body = json!({ "source": "erp", "events": events });
        self.ok(Method::POST, "/api/v1/events", Some(body)).await;
    }

    async fn seed(&self) {
        let ago = |days: i64| self.now - days * DAY;
        self.events(json!([
            { "type": "account", "id": "C-1", "version": 1, "name": "Brandt Maschinenbau GmbH", "country": "DE" },
            { "type": "account", "id": "C-2", "version": 1, "name": "Kessler Hydraulik KG", "country": "DE" },
            { "type": "account", "id": "C-3", "version": 1, "name": "Alpen Logistik AG", "country": "AT" },
            { "type": "account", "id": "C-4", "version": 1, "name": "Lindqvist Components GmbH", "country": "DE" },
            { "type": "account", "id": "C-5", "version": 1, "name": "Rhône Industrie SA", "country": "FR" },
            { "type": "account", "id": "C-6", "version": 1, "name": "Nordwind Technik GmbH", "country": "DE" },
        ]))
        .await;
        let paid = |id: &str, account: &str, amount: &str, days: i64| {
            json!({ "type": "purchase", "id": id, "version": 1, "account_id": account, "status": "paid",
                    "placed_at": ago(days), "net_amount": { "amount": amount, "currency": "EUR" } })
        };
        let refund = |id: &str, purchase: &str, amount: &str, days: i64| {
            json!({ "type": "refund", "id": id, "version": 1, "purchase_id": purchase,
                    "refunded_at": ago(days), "net_amount": { "amount": amount, "currency": "EUR" } })
        };
        self.events(json!([
            paid("SO-1", "C-1", "1000.00", 18),
            paid("SO-2", "C-2", "600.00", 15),
            paid("SO-3", "C-3", "400.00", 5),
            paid("SO-4", "C-3", "300.00", 3),
            paid("SO-5", "C-5", "200.00", 8),
            refund("RF-1", "SO-1", "250.00", 10),
            refund("RF-4", "SO-4", "100.00", 2),
            { "type": "engagement", "id": "EV-1", "version": 1, "account_id": "C-1",
              "kind": "event_attended", "name": "Hannover Messe", "occurred_at": ago(12) },
        ]))
        .await;
        let snapshot = self.daemon.admin().snapshot().await.unwrap();
        let id = |erp: &str| snapshot.account_known_as("erp", erp).unwrap().id;
        for erp in ["C-5", "C-6"] {
            let path = format!("/api/v1/accounts/{}/membership", id(erp));
            let body = json!({ "status": "suspended" });
            self.ok(Method::PUT, &path, Some(body)).await;
        }
        for (erp, reward) in [("C-1", "training"), ("C-2", "gift-card")] {
            let path = format!("/api/v1/accounts/{}/redemptions", id(erp));
            let reserved = self
                .ok(Method::POST, &path, Some(json!({ "reward": reward })))
                .await;
            let path = format!("/api/v1/redemptions/{}/fulfil", reserved["id"]);
            let fulfilled = self.ok(Method::POST, &path, Some(json!({}))).await;
            assert_eq!(fulfilled["status"], json!("fulfilled"), "{fulfilled}");
        }
    }

    /// Runs `loyaltyd ARGS -c CONFIG` on the daemon's configuration and
    /// returns what it printed.
    fn loyaltyd(&self, args: &[&str]) -> String {
        let output = Command::new(loyaltyd_binary())
            .args(args)
            .arg("-c")
            .arg(self.daemon.config_path())
            .current_dir(self.daemon.dir())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "loyaltyd {args:?}: {stderr}");
        String::from_utf8(output.stdout).unwrap()
    }

    /// `loyaltyd report quarterly` into `dir`: the page and the review.
    fn write_review(&self, dir: &Path) -> (String, Value) {
        self.loyaltyd(&["report", "quarterly", "--out", dir.to_str().unwrap()]);
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
        (
            read("index.html"),
            serde_json::from_str(&read("review.json")).unwrap(),
        )
    }
}

/// `goal: current, percent, status` of each goal.
fn standings(goals: &Value) -> Vec<String> {
    let list = goals.as_array().unwrap().iter();
    list.map(|g| {
        let p = &g["progress"];
        format!(
            "{}: {}, {}, {}",
            g["goal"]["id"], p["current"], p["percent"], p["status"]
        )
    })
    .collect()
}

/// The text of an HTML attribute value or text node.
fn unescape(text: &str) -> String {
    let entities = [
        ("&lt;", "<"),
        ("&gt;", ">"),
        ("&quot;", "\""),
        ("&#39;", "'"),
    ];
    let text = entities
        .iter()
        .fold(text.to_owned(), |t, (entity, c)| t.replace(entity, c));
    text.replace("&amp;", "&")
}

/// Where `key` ends in `text`, and the text from there up to `close`.
fn after<'a>(text: &'a str, key: &str, close: &str) -> Option<&'a str> {
    let start = text.find(key)? + key.len();
    Some(&text[start..start + text[start..].find(close)?])
}

/// `name="value"` of one tag, unescaped.
fn attr(tag: &str, name: &str) -> Option<String> {
    after(tag, &format!(" {name}=\""), "\"").map(unescape)
}

/// `(series, label) -> value`.
type Figures = BTreeMap<(String, String), Decimal>;

/// A chart of the page: its markup and caption, and the figures of its
/// drawn marks and of its table cells.
struct Drawn {
    markup: String,
    caption: String,
    marks: Figures,
    cells: Figures,
}

/// Every `<figure class="chart">` of `page`, by its `data-chart`.
fn charts(page: &str) -> BTreeMap<String, Drawn> {
    let mut found = BTreeMap::new();
    for (start, _) in page.match_indices("<figure class=\"chart\"") {
        let end = start + page[start..].find("</figure>").unwrap();
        let markup = &page[start..end];
        let id = attr(&markup[..markup.find('>').unwrap()], "data-chart").unwrap();
        let caption = after(markup, "-title\">", "</figcaption>").unwrap();
        let mut drawn = Drawn {
            markup: markup.to_owned(),
            caption: unescape(caption),
            marks: Figures::new(),
            cells: Figures::new(),
        };
        for (value_at, _) in markup.match_indices(" data-value=\"") {
            let tag_start = markup[..value_at].rfind('<').unwrap();
            let tag = &markup[tag_start..value_at + markup[value_at..].find('>').unwrap()];
            let series = attr(tag, "data-series").unwrap();
            let key = (series, attr(tag, "data-label").unwrap());
            let value = dec(&attr(tag, "data-value").unwrap());
            let into = if tag.starts_with("<td") {
                &mut drawn.cells
            } else {
                assert!(tag.contains("class=\"mark\""), "chart {id}: {tag}");
                &mut drawn.marks
            };
            assert!(into.insert(key, value).is_none(), "chart {id}: {tag} twice");
        }
        assert!(
            found.insert(id.clone(), drawn).is_none(),
            "chart {id} twice"
        );
    }
    found
}

/// What each chart draws from the review's JSON, one chart a line:
/// `id | the list it draws | the field labelling an item | series=field;
/// ...`, where a series without a name is the chart's caption.
const DRAWN_FROM: &str = "
    members | trend | period.label | Members=participation.members; Active members=participation.active_members
    points | trend | period.label | Issued=points.issued; Redeemed=points.redeemed; Expired=points.expired
    revenue | trend | period.label | Members=revenue.members; Non-members=revenue.non_members; Incremental=revenue.incremental
    retention | quarter.retention.cohorts | cohort | Members=members.rate; Non-members=non_members.rate
    tiers | quarter.tiers | tier | =members
    redemptions | quarter.redemption_mix | reward | =redemptions
    campaigns | campaigns | id | Targeted=attribution.target.conversion_percent; Holdout=attribution.holdout.conversion_percent
    goals | goals | goal.id | =progress.percent
";

/// What chart `id`, captioned `caption`, must show according to `review`.
fn expected(review: &Value, id: &str, caption: &str) -> Figures {
    let line = DRAWN_FROM
        .lines()
        .find(|l| l.trim().starts_with(&format!("{id} |")));
    let parts: Vec<&str> = line.unwrap().split('|').map(str::trim).collect();
    let (list, label, series) = (parts[1], parts[2], parts[3]);
    let mut figures = Figures::new();
    for item in at(review, list).as_array().unwrap() {
        // Only the members below the lowest tier have no label: `no tier`.
        let label = at(item, label).as_str().unwrap_or("no tier");
        for (name, field) in series.split("; ").map(|s| s.split_once('=').unwrap()) {
            let name = if name.is_empty() { caption } else { name };
            // A figure the data lacks (a rate without a base) draws no
            // mark; a goal without a figure is drawn at zero.
            let value = at(item, field);
            if value.is_null() && id != "goals" {
                continue;
            }
            let key = (name.to_owned(), label.to_owned());
            figures.insert(key, figure(value));
        }
    }
    figures
}

/// Asserts that every chart of `page` draws and tabulates exactly what
/// `review` says; a chart whose figures are all zero draws none (goals are
/// drawn even at zero). Returns the charts.
fn assert_charts_match(page: &str, review: &Value) -> BTreeMap<String, Drawn> {
    let drawn = charts(page);
    let ids: BTreeSet<&str> = drawn.keys().map(String::as_str).collect();
    let lines = DRAWN_FROM.lines().filter_map(|l| l.split_once(" |"));
    assert_eq!(ids, lines.map(|(id, _)| id.trim()).collect());
    for (id, chart) in &drawn {
        let mut want = expected(review, id, &chart.caption);
        if id != "goals" && want.values().all(Decimal::is_zero) {
            want.clear();
        }
        assert_eq!(chart.marks, want, "marks of chart {id}: {}", chart.markup);
        assert_eq!(chart.cells, want, "table of chart {id}: {}", chart.markup);
    }
    drawn
}

/// Asserts that `page` is one HTML document that loads nothing.
fn assert_self_contained(page: &str) {
    let page = page.trim();
    assert!(page.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
    assert!(page.ends_with("</html>"));
    let lower = page.to_lowercase();
    for (tag, count) in [("<html", 1), ("<h1", 1), ("<script", 0), ("@import", 0)] {
        assert_eq!(lower.matches(tag).count(), count, "{tag}");
    }
    for reference in ["src=\"", "href=\"", "src='", "href='", "url("] {
        for (start, _) in lower.match_indices(reference) {
            let target = lower[start + reference.len()..].trim_start_matches(['"', '\'', ' ']);
            let remote = ["http:", "https:", "//"]
                .iter()
                .any(|p| target.starts_with(p));
            let shown: String = target.chars().take(40).collect();
            assert!(!remote, "{reference}{shown} loads from the network");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn analytics_follow_the_events_through_the_api() {
    let program = Program::start().await;
    let (from, to) = (program.today - 30, program.today + 1);
    let label = format!("{}..{}", date(from), date(to));
    let report = program
        .get(&format!("/api/v1/analytics?period={label}"))
        .await;
    assert_eq!(
        (&report["period"], &report["currency"]),
        (
            &json!({ "label": label, "from": from * DAY, "to": to * DAY }),
            &json!("EUR")
        )
    );
    // Members at the end: C-1 to C-4 (C-5 and C-6 are suspended). Eligible:
    // those four and the German C-6; C-5 is French: 4 / 5 = 80.0 %. Active:
    // C-1, C-2 and C-3 earned; C-4 did nothing. All four enrolled today.
    assert_eq!(
        report["participation"],
        json!({ "eligible": 5, "members": 4, "rate": "80.0", "active_members": 3, "new_members": 4 })
    );
    // Issued: 2 points a euro on 1000 + 600 + 400 + 300 + 200 = 5000, and
    // the 500 bonus. Reversed: 250 / 1000 of SO-1's 2000 is 500, 100 / 300
    // of SO-4's 600 is 200. Redeemed 1000 + 500: 1500 / (5500 - 700) =
    // 31.25 % -> 31.3. Outstanding 5500 - 700 - 1500 = 3300 (C-5 keeps its
    // 400 while suspended), at 0.01 a point: 33.00.
    //
    // Members' revenue net of refunds: 750 + 600 + (400 + 200) + 0 = 1950;
    // the others': C-5's 200. Per member 487.50, per non-member 200 / 2 =
    // 100.00: (487.50 - 100.00) x 4 = 1550.00. Everyone enrolled in the
    // period, so nobody has a baseline and nothing is incremental.
    //
    // Rewards at cost: the training day at 1000 x 0.01 = 10.00 and the gift
    // card at its value, 25.00. Every member joined in the period, so none
    // has a baseline: no incremental revenue and no ROI, and a note says so.
    assert_figures(
        &report,
        "points.issued=5500 points.reversed=700 points.redeemed=1500 points.expired=0
         points.redemption_rate=31.3 points.outstanding=3300 points.liability=33.00
         revenue.members=1950 revenue.non_members=200 revenue.per_member=487.50
         revenue.per_non_member=100.00 revenue.incremental_vs_non_members=1550.00
         revenue.baseline_members=0 revenue.baseline=0 revenue.incremental=0
         referrals.qualified=0 cost.rewards=35.00 cost.commissions=0",
    );
    assert_eq!(
        report["roi"],
        json!({ "incremental_gross_margin": null, "percent": null })
    );
    // Fixed costs prorate by calendar month: 300 and 125.50 a month.
    let fixed = prorated(&[dec("300"), dec("125.50")], from, to);
    assert_eq!(
        figure(&report["cost"]["fixed"]),
        fixed,
        "{}",
        report["cost"]
    );
    assert_eq!(figure(&report["cost"]["total"]), dec("35.00") + fixed);
    // Nobody bought in the 31 days before the period: no retention base.
    let none = json!({ "of": 0, "count": 0, "rate": null });
    assert_eq!(
        report["retention"],
        json!({ "members": none, "non_members": none, "cohorts": [] })
    );
    // C-1 (750), C-2 (600) and C-3 (600) spent the partner tier's 500.
    assert_eq!(
        report["tiers"],
        json!([
            { "tier": null, "members": 1 },
            { "tier": "partner", "members": 3 },
            { "tier": "platinum", "members": 0 },
        ])
    );
    // Every reward of the catalog, in its order, with what it was used for.
    let rewards: Vec<&Value> = (0..3)
        .map(|i| &report["redemption_mix"][i]["reward"])
        .collect();
    assert_eq!(
        rewards,
        [&json!("training"), &json!("gift-card"), &json!("lounge")]
    );
    assert_figures(
        &report["redemption_mix"],
        "0.redemptions=1 0.points=1000 1.redemptions=1 1.points=500 2.redemptions=0 2.points=0",
    );
    let notes = report["notes"].as_array().unwrap();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].as_str().unwrap().contains("without a baseline"));

    // The command line reads the same store while the daemon runs.
    let printed = program.loyaltyd(&["analytics", "--period", &label]);
    assert_eq!(serde_json::from_str::<Value>(&printed).unwrap(), report);

    let path = "/api/v1/analytics?period=2026Q5";
    let (status, refused) = program.call(Method::GET, path, None).await;
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused["error"].as_str().unwrap().contains("2026Q3"),
        "{refused}"
    );
    let anonymous = program.http.get(program.url("/api/v1/analytics")).send();
    assert_eq!(anonymous.await.unwrap().status().as_u16(), 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn goals_progress_from_the_analytics() {
    let program = Program::start().await;
    let answer = program.get("/api/v1/goals").await;
    let asked = answer["at"].as_i64().unwrap();
    assert!(asked >= program.now, "{answer}");

    // Both run from 30 days ago to the end of the day 60 days ahead: 91
    // days, of which `asked` has used a little over 30.
    let (start, deadline) = ((program.today - 30) * DAY, (program.today + 61) * DAY);
    let elapsed =
        Decimal::from(asked - start) * Decimal::ONE_HUNDRED / Decimal::from(deadline - start);
    let elapsed = elapsed.round_dp_with_strategy(1, RoundingStrategy::MidpointAwayFromZero);
    let goals = answer["goals"].as_array().unwrap();
    assert_eq!(goals.len(), 2, "{answer}");
    for goal in goals {
        assert_eq!(
            (&goal["goal"]["start"], &goal["goal"]["deadline"]),
            (&json!(start), &json!(deadline))
        );
        assert_eq!(
            figure(&goal["progress"]["elapsed_percent"]),
            elapsed,
            "{goal}"
        );
    }
    // Members: 4 over the goal's days, from 2 towards 5: 2 / 3 = 66.7 %,
    // ahead of the third of the time gone. Referrals: none of 10, behind.
    assert_eq!(
        standings(&answer["goals"]),
        [
            r#""members": "4", "66.7", "on_track""#,
            r#""referrals": "0", "0.0", "at_risk""#,
        ]
    );

    // The command line prints the same standings; only the time elapsed
    // may have moved on by a tenth in between.
    let printed: Value = serde_json::from_str(&program.loyaltyd(&["goals"])).unwrap();
    assert_eq!(standings(&printed["goals"]), standings(&answer["goals"]));
    for (cli, api) in printed["goals"].as_array().unwrap().iter().zip(goals) {
        assert_eq!(cli["goal"], api["goal"]);
        let elapsed = |standing: &Value| figure(&standing["progress"]["elapsed_percent"]);
        let moved = elapsed(cli) - elapsed(api);
        assert!(
            moved >= Decimal::ZERO && moved <= dec("0.1"),
            "{cli} against {api}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_quarterly_review_draws_what_its_json_says() {
    let program = Program::start().await;
    let review = program.get("/api/v1/reports/quarterly").await;
    let (year, month, _) = civil(program.today);
    let quarter = format!("{year}Q{}", (month - 1) / 3 + 1);
    assert_eq!(review["quarter"]["period"]["label"], json!(quarter));
    let trend = review["trend"].as_array().unwrap();
    assert_eq!((trend.len(), &trend[3]), (4, &review["quarter"]));

    let html = program.url("/api/v1/reports/quarterly?format=html");
    let response = program.http.get(html).bearer_auth(&program.token).send();
    let response = response.await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert_eq!(content_type, "text/html; charset=utf-8");
    let page = response.text().await.unwrap();
    assert_self_contained(&page);
    let drawn = assert_charts_match(&page, &review);
    // The seeded figures are drawn, not just agreed with: this quarter's
    // 5500 points issued, the members goal's 66.7 %.
    let issued = ("Issued".to_owned(), quarter.clone());
    assert_eq!(drawn["points"].marks.get(&issued), Some(&dec("5500")));
    let goals = &drawn["goals"];
    let members = (goals.caption.clone(), "members".to_owned());
    assert_eq!(goals.marks.get(&members), Some(&dec("66.7")));

    for query in ["format=pdf", "quarter=2026-07", "quarter=2026Q5"] {
        let path = format!("/api/v1/reports/quarterly?{query}");
        let (status, refused) = program.call(Method::GET, &path, None).await;
        assert_eq!(status, 400, "{query}: {refused}");
    }

    // The command line writes the same charts and data.
    let out = tempfile::tempdir().unwrap();
    let (written, data) = program.write_review(out.path());
    assert_self_contained(&written);
    assert_eq!(data["quarter"]["period"]["label"], json!(quarter));
    assert_eq!(data["trend"], review["trend"]);
    let from_cli = assert_charts_match(&written, &data);
    for (id, chart) in &drawn {
        assert_eq!(from_cli[id].markup, chart.markup, "chart {id}");
    }

    // Nobody redeemed the lounge in the four quarters, nobody is platinum;
    // the redeemed rewards and the reached tier call for nothing.
    let recommendations = review["recommendations"].as_array().unwrap();
    let about = |topic: &str| -> Vec<&str> {
        let found = recommendations.iter().filter(|r| r["topic"] == topic);
        found.map(|r| r["finding"].as_str().unwrap()).collect()
    };
    let (unused, unreached) = (about("reward_unused"), about("tier_unreached"));
    assert!(
        unused.len() == 1 && unused[0].contains("`lounge`"),
        "{unused:?}"
    );
    assert!(
        unreached.len() == 1 && unreached[0].contains("`platinum`"),
        "{unreached:?}"
    );
    for recommendation in recommendations {
        let topic = format!("data-topic={}", recommendation["topic"]);
        assert!(page.contains(&topic), "{topic} is not on the page");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_quarterly_review_is_accessible_in_chromium() {
    let program = Program::start().await;
    let out = tempfile::tempdir().unwrap();
    program.write_review(out.path());
    let url = url::Url::from_file_path(out.path().join("index.html")).unwrap();

    let browser = Browser::start().await.unwrap();
    browser.open(url.as_str()).await.unwrap();
    let report = browser.axe().await.unwrap();
    assert!(report.serious().is_empty(), "{report}");
    browser.screenshot("quarterly-review").await.unwrap();
    browser.close().await;
}

#[test]
fn fixed_costs_prorate_by_the_days_of_each_calendar_month() {
    let day = |date: &str| (0..30_000).find(|d| self::date(*d) == date).unwrap();
    // November 4 to December 5: 27 of November's 30 days, 4 of December's
    // 31. 300 x 27 / 30 = 270 and 300 x 4 / 31 = 38.709...: 308.71.
    let from = day("2026-11-04");
    assert_eq!(prorated(&[dec("300")], from, from + 31), dec("308.71"));
    // The 29th of February 2024 is a 29th of its month, and December 31
    // a 31st.
    let leap_day = day("2024-02-29");
    assert_eq!(
        prorated(&[dec("290")], leap_day, leap_day + 1),
        dec("10.00")
    );
    let new_year = day("2027-01-01");
    assert_eq!(prorated(&[dec("31")], new_year - 1, new_year), dec("1.00"));
}
