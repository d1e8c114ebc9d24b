//! Reward statements end to end: the real daemon with `[portal]` and
//! `[statements]`, seeded through the events API, asked to run the current
//! month's statements through the admin API. Every member contact with an
//! email gets one HTML and one text file in the outbox with the month's
//! figures and a sign-in link that opens the portal; a second run sends
//! nothing; a suspended account's contacts get nothing; the preview carries
//! no link. The HTML statement passes axe-core in a real headless Chromium
//! and leaves `target/test-artifacts/screenshots/statement.png`.
//!
//! Two points per euro, rounded down; tiers Member (from EUR 0) and Gold
//! (from EUR 5,000); 250 points for an event attended; rewards `descaling`
//! (500 points), `vip-day` (2,000, Gold only) and `gift-card` (10,000).
//!
//! | account | contacts | this month | balance |
//! |---|---|---|---|
//! | C-1 Brandt, member | P-1 Anna (email), P-3 (email), P-4 (no email) | orders 1200.00 + 345.50 = 3091, fair 250, descaling -500 | 2841 |
//! | C-2 Kessler, suspended | P-2 Lena (email) | order 800.00 = 1600 | 1600 |

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use loyalty_e2e::browser::Browser;
use loyalty_e2e::daemon::{Daemon, ProgramRules, Setup, random_token};
use reqwest::Method;
use serde_json::{Value, json};

/// Tiers, an engagement bonus, rewards, the portal and the statements.
const PROGRAM: &str = r##"
[program.tiers]
levels = [
  { id = "member", name = "Member", min_spend = "0" },
  { id = "gold", name = "Gold", min_spend = "5000" },
]

[[program.engagement]]
kind = "event_attended"
points = 250

[[program.rewards]]
id = "descaling"
name = "Machine descaling service"
kind = "service"
points = 500

[[program.rewards]]
id = "vip-day"
name = "Factory tour and dinner"
kind = "vip_event"
points = 2000
tiers = ["gold"]

[[program.rewards]]
id = "gift-card"
name = "EUR 100 gift card"
kind = "gift_card"
points = 10000
value = { amount = "100.00", currency = "EUR" }

[portal]
title = "Rheinwerk Rewards"
secret = { file = "secrets/portal" }
link_minutes = 60
session_minutes = 480
invitation_days = 14

[statements]
period = "monthly"
outbox = "data/statements"
link_days = 14
expiring_days = 60
"##;

const DAY: i64 = 86_400_000;

fn now_ms() -> i64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    i64::try_from(since_epoch.as_millis()).unwrap()
}

/// The UTC month of a millisecond timestamp, as `2026-11`.
fn month_of(at: i64) -> String {
    // Days to a civil date, after Howard Hinnant's `civil_from_days`.
    let days = at.div_euclid(DAY) + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}")
}

/// A daemon with the portal and statements on, and its admin token.
struct Rewards {
    daemon: Daemon,
    token: String,
    http: reqwest::Client,
}

impl Rewards {
    async fn start() -> Self {
        let setup = Setup {
            admin_token: random_token().unwrap(),
            program: ProgramRules::default(),
            shopify: None,
            extra_toml: PROGRAM.to_owned(),
            secrets: vec![("portal".to_owned(), random_token().unwrap())],
        };
        let daemon = Daemon::start(&setup).await.unwrap();
        let redirect = reqwest::redirect::Policy::none();
        let http = reqwest::Client::builder().redirect(redirect).build();
        Self {
            daemon,
            token: setup.admin_token,
            http: http.unwrap(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.daemon.base_url())
    }

    /// An admin API call: its status and its body, JSON when it parses.
    async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.http.request(method, self.url(path));
        request = request.bearer_auth(&self.token);
        request = request.header("Idempotency-Key", random_token().unwrap());
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

    async fn get(&self, path: &str) -> Value {
        let (status, body) = self.admin(Method::GET, path, None).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// A GET answered with text (an HTML or text preview).
    async fn get_text(&self, path: &str) -> String {
        match self.get(path).await {
            Value::String(text) => text,
            other => panic!("GET {path}: not text but {other}"),
        }
    }

    async fn send(&self, method: Method, path: &str, body: Value, expected: u16) -> Value {
        let (status, answer) = self.admin(method.clone(), path, Some(body)).await;
        assert_eq!(status, expected, "{method} {path}: {answer}");
        answer
    }

    async fn events(&self, events: Value) {
        let body = json!({ "source": "erp", "events": events });
        self.send(Method::POST, "/api/v1/events", body, 201).await;
    }

    /// The daemon's id of the account named `name`, and its contacts' ids
    /// by email (`None` for the one without).
    async fn ids(&self, name: &str) -> (i64, Vec<(Option<String>, i64)>) {
        let listed = self.get("/api/v1/accounts").await;
        let accounts = listed["accounts"].as_array().unwrap();
        let account = accounts.iter().find(|a| a["name"] == json!(name));
        let account = account.unwrap_or_else(|| panic!("{name}: {listed}"));
        let account = account["id"].as_i64().unwrap();
        let detail = self.get(&format!("/api/v1/accounts/{account}")).await;
        let contacts = detail["contacts"].as_array().unwrap();
        let contacts = contacts
            .iter()
            .map(|c| {
                let email = c["email"].as_str().map(str::to_owned);
                (email, c["id"].as_i64().unwrap())
            })
            .collect();
        (account, contacts)
    }

    /// Runs the statements of `period`; the report.
    async fn run(&self, period: &str) -> Value {
        let body = json!({ "period": period });
        self.send(Method::POST, "/api/v1/statements/run", body, 200)
            .await
    }

    fn outbox(&self, period: &str) -> PathBuf {
        self.daemon.dir().join("data/statements").join(period)
    }
}

/// The contact whose email is `email`.
fn contact(contacts: &[(Option<String>, i64)], email: &str) -> i64 {
    let found = contacts.iter().find(|(e, _)| e.as_deref() == Some(email));
    found
        .unwrap_or_else(|| panic!("no {email} in {contacts:?}"))
        .1
}

/// The files of a directory, by name.
fn files(dir: &Path) -> BTreeSet<String> {
    let entries = std::fs::read_dir(dir).unwrap();
    let names = entries.map(|e| e.unwrap().file_name().to_string_lossy().into_owned());
    names.collect()
}

/// The text of a page's first `<h1>`.
fn h1(html: &str) -> &str {
    let inner = html
        .split_once("<h1>")
        .and_then(|(_, rest)| rest.split_once("</h1>"));
    inner.unwrap_or_else(|| panic!("no <h1> in\n{html}")).0
}

/// The `href` of the statement's button, with HTML's escapes undone.
fn button_link(html: &str) -> String {
    let href = html.split_once("<a href=\"").map(|(_, rest)| rest);
    let href = href.and_then(|rest| rest.split_once('"'));
    let href = href.unwrap_or_else(|| panic!("no link in\n{html}")).0;
    let escapes = [
        ("&#x2f;", "/"),
        ("&#x27;", "'"),
        ("&quot;", "\""),
        ("&lt;", "<"),
        ("&gt;", ">"),
        ("&amp;", "&"),
    ];
    let unescape = |text: String, (from, to): &(&str, &str)| text.replace(from, to);
    escapes.iter().fold(href.to_owned(), unescape)
}

/// The sign-in link of a text statement: the line after the invitation.
fn text_link(text: &str) -> String {
    let mut lines = text.lines();
    let found = lines.find(|l| l.starts_with("Open your rewards"));
    assert!(found.is_some(), "no link in\n{text}");
    lines.next().unwrap().to_owned()
}

/// What a statement of Brandt for `period` says, in the text and the HTML.
fn assert_figures(period: &str, text: &str, html: &str) {
    for line in [
        "Balance:              2841 points".to_owned(),
        format!("Earned in {period}:    3341 points"),
        format!("Redeemed in {period}:  500 points"),
        "You are in Member. 3454.50 EUR more spend reaches Gold.".to_owned(),
        "- Machine descaling service (500 points)".to_owned(),
    ] {
        assert!(text.lines().any(|l| l == line), "no `{line}` in\n{text}");
    }
    for cell in [
        r#"id="balance">2841 points<"#,
        r#"id="earned">3341 points<"#,
        r#"id="redeemed">500 points<"#,
        "<p>You are in Member. 3454.50 EUR more spend reaches Gold.</p>",
        "<li>Machine descaling service (500 points)</li>",
    ] {
        assert!(html.contains(cell), "no `{cell}` in\n{html}");
    }
    // The Gold-only tour and the gift card are out of reach.
    for far in ["Factory tour", "gift card"] {
        assert!(!text.contains(far) && !html.contains(far), "{far}:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn member_contacts_with_an_email_get_the_months_statement_once_with_a_sign_in_link() {
    let rewards = Rewards::start().await;
    let at = now_ms() - 60_000;
    let period = month_of(at);
    rewards
        .events(json!([
            { "type": "account", "id": "C-1", "version": 1, "name": "Brandt Maschinenbau GmbH" },
            { "type": "account", "id": "C-2", "version": 1, "name": "Kessler Hydraulik KG" },
            { "type": "contact", "id": "P-1", "version": 1, "account_id": "C-1",
              "email": "anna.becker@brandt.example", "first_name": "Anna", "role": "procurement" },
            { "type": "contact", "id": "P-3", "version": 1, "account_id": "C-1",
              "email": "einkauf@brandt.example", "role": "procurement" },
            { "type": "contact", "id": "P-4", "version": 1, "account_id": "C-1",
              "first_name": "Jonas", "role": "workshop" },
            { "type": "contact", "id": "P-2", "version": 1, "account_id": "C-2",
              "email": "lena.vogel@kessler.example", "first_name": "Lena" },
            { "type": "purchase", "id": "SO-1", "version": 1, "account_id": "C-1", "status": "paid",
              "placed_at": at, "net_amount": { "amount": "1200.00", "currency": "EUR" } },
            { "type": "purchase", "id": "SO-2", "version": 1, "account_id": "C-1", "status": "paid",
              "placed_at": at, "net_amount": { "amount": "345.50", "currency": "EUR" } },
            { "type": "purchase", "id": "SO-3", "version": 1, "account_id": "C-2", "status": "paid",
              "placed_at": at, "net_amount": { "amount": "800.00", "currency": "EUR" } },
            { "type": "engagement", "id": "EV-1", "version": 1, "account_id": "C-1",
              "kind": "event_attended", "name": "Hannover Messe", "occurred_at": at },
        ]))
        .await;
    let (brandt, brandt_contacts) = rewards.ids("Brandt Maschinenbau GmbH").await;
    let (kessler, kessler_contacts) = rewards.ids("Kessler Hydraulik KG").await;
    assert_eq!(brandt_contacts.len(), 3, "{brandt_contacts:?}");
    let anna = contact(&brandt_contacts, "anna.becker@brandt.example");
    let buying = contact(&brandt_contacts, "einkauf@brandt.example");
    let lena = contact(&kessler_contacts, "lena.vogel@kessler.example");
    let membership = format!("/api/v1/accounts/{kessler}/membership");
    let body = json!({ "status": "suspended" });
    rewards.send(Method::PUT, &membership, body, 200).await;

    let redemptions = format!("/api/v1/accounts/{brandt}/redemptions");
    let body = json!({ "reward": "descaling" });
    let made = rewards.send(Method::POST, &redemptions, body, 201).await;
    let fulfil = format!("/api/v1/redemptions/{}/fulfil", made["id"]);
    let body = json!({ "detail": "Technician booked" });
    let fulfilled = rewards.send(Method::POST, &fulfil, body, 200).await;
    assert_eq!(fulfilled["status"], json!("fulfilled"), "{fulfilled}");
    let account = rewards.get(&format!("/api/v1/accounts/{brandt}")).await;
    // 2 x (1200.00 + 345.50) + 250 - 500.
    assert_eq!(account["balance"], json!(2841), "{account}");
    assert_eq!(account["membership"], json!("active"), "{account}");

    // Brandt's two contacts with an email; not its third, nor Kessler's.
    let report = rewards.run(&period).await;
    let expected = json!({ "period": period, "accounts": 1, "sent": 2, "skipped": 0, "failed": 0 });
    assert_eq!(report, expected);
    let outbox = rewards.outbox(&period);
    let stems = [format!("{brandt}-{anna}"), format!("{brandt}-{buying}")];
    let written: BTreeSet<String> = stems
        .iter()
        .flat_map(|s| [format!("{s}.html"), format!("{s}.txt")])
        .collect();
    assert_eq!(files(&outbox), written);
    assert!(!outbox.join(format!("{kessler}-{lena}.html")).exists());

    let read = |name: String| std::fs::read_to_string(outbox.join(name)).unwrap();
    let mut links = BTreeSet::new();
    for (stem, greeting) in stems.iter().zip(["Hello Anna,", "Hello,"]) {
        let (html, text) = (read(format!("{stem}.html")), read(format!("{stem}.txt")));
        assert_figures(&period, &text, &html);
        assert!(text.lines().any(|l| l == greeting), "{text}");
        assert!(html.contains(&format!("<p>{greeting}</p>")), "{html}");
        let heading =
            format!("Rheinwerk Rewards: Brandt Maschinenbau GmbH, statement for {period}");
        assert_eq!(text.lines().next(), Some(heading.as_str()));
        let link = text_link(&text);
        assert_eq!(button_link(&html), link);
        let signs_in = rewards.url("/portal/sign-in?token=signin.");
        assert!(link.starts_with(&signs_in), "{link}");
        links.insert(link);
    }
    assert_eq!(links.len(), 2, "one link per contact: {links:?}");
    for link in &links {
        // Opening it only asks to continue: the link stays usable.
        let response = rewards.http.get(link).send().await.unwrap();
        let status = response.status().as_u16();
        let html = response.text().await.unwrap();
        assert_eq!((status, h1(&html)), (200, "Sign in to Rheinwerk Rewards"));
    }

    // Sent once: a second run leaves every file alone.
    let modified = |name: &String| {
        let metadata = std::fs::metadata(outbox.join(name)).unwrap();
        (metadata.modified().unwrap(), read(name.clone()))
    };
    let before: Vec<_> = written.iter().map(modified).collect();
    let again = rewards.run(&period).await;
    let expected = json!({ "period": period, "accounts": 1, "sent": 0, "skipped": 2, "failed": 0 });
    assert_eq!(again, expected);
    let after: Vec<_> = written.iter().map(modified).collect();
    assert_eq!(before, after);
    assert_eq!(files(&outbox), written);

    let listed = rewards
        .get(&format!("/api/v1/statements?period={period}"))
        .await;
    assert_eq!(listed["period"], json!(period), "{listed}");
    let mut records: Vec<(i64, i64, String, String, u64)> = listed["statements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let text = |field: &str| r[field].as_str().unwrap_or_default().to_owned();
            let id = |field: &str| r[field].as_i64().unwrap();
            let attempts = r["attempts"].as_u64().unwrap();
            (
                id("account_id"),
                id("contact_id"),
                text("status"),
                text("destination"),
                attempts,
            )
        })
        .collect();
    records.sort();
    let mut expected: Vec<_> = [anna, buying]
        .into_iter()
        .map(|c| {
            let path = outbox.join(format!("{brandt}-{c}.html"));
            let path = path.display().to_string();
            (brandt, c, "sent".to_owned(), path, 1)
        })
        .collect();
    expected.sort();
    assert_eq!(records, expected, "{listed}");

    // The preview shows the same figures, without a link or a recipient.
    let preview = format!("/api/v1/accounts/{brandt}/statement?period={period}");
    let statement = rewards.get(&format!("{preview}&format=json")).await;
    let figures = [
        ("balance", json!(2841)),
        ("earned", json!(3341)),
        ("redeemed", json!(500)),
        ("tier", json!("Member")),
        ("next_tier", json!("Gold")),
        ("needed", json!("3454.50")),
        ("link", Value::Null),
        ("email", Value::Null),
        ("period", json!(period)),
    ];
    for (field, value) in figures {
        assert_eq!(statement[field], value, "{field}: {statement}");
    }
    let html = rewards.get_text(&format!("{preview}&format=html")).await;
    let text = rewards.get_text(&format!("{preview}&format=text")).await;
    assert_figures(&period, &text, &html);
    for shown in [&html, &text] {
        assert!(!shown.contains("Open your rewards"), "{shown}");
        assert!(!shown.contains("sign-in"), "{shown}");
    }

    // Refused: not a month or quarter, an unknown format or account.
    let bad = json!({ "period": "2026" });
    rewards
        .send(Method::POST, "/api/v1/statements/run", bad, 400)
        .await;
    for (path, status) in [
        (format!("{preview}&format=pdf"), 400),
        ("/api/v1/statements?period=2026".to_owned(), 400),
        (
            format!("/api/v1/accounts/999999/statement?period={period}"),
            404,
        ),
    ] {
        let (answered, body) = rewards.admin(Method::GET, &path, None).await;
        assert_eq!(answered, status, "GET {path}: {body}");
    }
    // Nothing was written for the suspended account meanwhile.
    assert_eq!(files(&outbox), written);

    let browser = Browser::start().await.unwrap();
    let page = outbox.join(format!("{brandt}-{anna}.html"));
    let page = url::Url::from_file_path(&page).unwrap();
    browser.open(page.as_str()).await.unwrap();
    let report = browser.axe().await.unwrap();
    assert!(report.serious().is_empty(), "statement: {report}");
    browser.screenshot("statement").await.unwrap();
    browser.close().await;
}
