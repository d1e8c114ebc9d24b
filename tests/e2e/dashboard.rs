//! The admin dashboard end to end: the real daemon with `[portal]`, a small
//! seeded book, and a real headless Chromium signing in with an admin
//! token, reading the overview (whose charts draw the same figures as
//! `GET /api/v1/analytics` for the quarter), searching an account and
//! opening its ledger, and the segments, campaigns and goals pages. Every
//! page passes axe-core without a serious violation and leaves a
//! screenshot under `target/test-artifacts/screenshots/admin-*.png`.
//!
//! Two points per euro; every account is a member (open enrollment).
//!
//! | account | paid orders (EUR), days ago | points |
//! |---|---|---|
//! | C-1 Brandt Maschinenbau | 1200.00 (3), 800.00 (2) | 4000 |
//! | C-2 Kessler Hydraulik | 300.00 (1) | 600 |

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

use std::time::{SystemTime, UNIX_EPOCH};

use fantoccini::Locator;
use loyalty_e2e::browser::Browser;
use loyalty_e2e::daemon::{Daemon, ProgramRules, Setup, random_token};
use serde_json::{Value, json};

const PROGRAM: &str = r#"
[[program.tiers.levels]]
id = "silver"
name = "Silver"
min_spend = "1000"

[[program.tiers.levels]]
id = "gold"
name = "Gold"
min_spend = "10000"

[[program.rewards]]
id = "descaling"
name = "Machine descaling service"
kind = "service"
points = 500
description = "A technician descales one machine on site."

[program.analytics]
point_cost = "0.01"

[[segments]]
id = "big-buyers"
name = "Big buyers"
filter = 'monetary(365) >= 1000'

[[goals]]
id = "members"
name = "Ten members"
metric = "members"
baseline = "0"
target = "10"
start = 2026-01-01
deadline = 2030-12-31
owner = "Head of partner sales"

[portal]
title = "Rheinwerk Rewards"
secret = { file = "secrets/portal" }
"#;

const DAY: i64 = 86_400_000;

struct Dashboard {
    daemon: Daemon,
    token: String,
    http: reqwest::Client,
}

impl Dashboard {
    async fn start() -> Self {
        let token = random_token().unwrap();
        let setup = Setup {
            admin_token: token.clone(),
            program: ProgramRules::default(),
            shopify: None,
            extra_toml: PROGRAM.to_owned(),
            secrets: vec![("portal".to_owned(), random_token().unwrap())],
        };
        let daemon = Daemon::start(&setup).await.unwrap();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let dashboard = Self {
            daemon,
            token,
            http,
        };
        dashboard.seed().await;
        dashboard
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.daemon.base_url())
    }

    async fn get(&self, path: &str) -> Value {
        let response = self
            .http
            .get(self.url(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "GET {path}: {}",
            response.status()
        );
        serde_json::from_str(&response.text().await.unwrap()).unwrap()
    }

    async fn seed(&self) {
        let now = i64::try_from(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_millis(),
        )
        .unwrap();
        let purchase = |id: &str, account: &str, amount: &str, days: i64| {
            json!({
                "type": "purchase", "id": id, "version": 1, "account_id": account,
                "status": "paid", "placed_at": now - days * DAY,
                "net_amount": { "amount": amount, "currency": "EUR" },
            })
        };
        let events = json!([
            { "type": "account", "id": "C-1", "version": 1, "name": "Brandt Maschinenbau GmbH", "country": "DE" },
            { "type": "account", "id": "C-2", "version": 1, "name": "Kessler Hydraulik KG", "country": "DE" },
            { "type": "contact", "id": "P-1", "version": 1, "account_id": "C-1",
              "first_name": "Anna", "last_name": "Becker", "email": "anna@brandt.example", "role": "procurement" },
            purchase("SO-1", "C-1", "1200.00", 3),
            purchase("SO-2", "C-1", "800.00", 2),
            purchase("SO-3", "C-2", "300.00", 1),
        ]);
        let response = self
            .http
            .post(self.url("/api/v1/events"))
            .bearer_auth(&self.token)
            .header("Idempotency-Key", "seed")
            .header("content-type", "application/json")
            .body(json!({ "source": "erp", "events": events }).to_string())
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{}",
            response.text().await.unwrap()
        );
    }
}

async fn text_of(browser: &Browser, css: &str) -> String {
    let element = browser.client().find(Locator::Css(css)).await.unwrap();
    element.text().await.unwrap()
}

async fn assert_accessible(browser: &Browser, name: &str) {
    let report = browser.axe().await.unwrap();
    let source = browser.client().source().await.unwrap();
    assert!(report.serious().is_empty(), "{name}: {report}\n{source}");
    browser.screenshot(name).await.unwrap();
}

/// The `data-value` of the mark of `series` at `label` in chart `chart`.
fn mark(page: &str, chart: &str, series: &str, label: &str) -> Option<String> {
    let start = page.find(&format!("data-chart=\"{chart}\""))?;
    let end = start + page[start..].find("</figure>")?;
    let figure = &page[start..end];
    let needle =
        format!("class=\"mark\" data-series=\"{series}\" data-label=\"{label}\" data-value=\"");
    let at = figure.find(&needle)? + needle.len();
    Some(figure[at..at + figure[at..].find('"')?].to_owned())
}

#[tokio::test]
async fn an_admin_signs_in_and_reads_the_program_in_the_browser() {
    let dashboard = Dashboard::start().await;
    let analytics = dashboard.get("/api/v1/analytics").await;
    let quarter = analytics["period"]["label"].as_str().unwrap().to_owned();
    assert_eq!(analytics["points"]["issued"], json!(4600));

    let browser = Browser::start().await.unwrap();
    // Without a session the dashboard asks for a token.
    browser.open(&dashboard.url("/admin")).await.unwrap();
    let here = browser.client().current_url().await.unwrap();
    assert_eq!(here.path(), "/admin/sign-in");
    assert_accessible(&browser, "admin-sign-in").await;

    // A wrong token is refused on the same page.
    let field = browser.client().find(Locator::Css("#token")).await.unwrap();
    field.send_keys("not-a-token").await.unwrap();
    browser
        .client()
        .find(Locator::Css("#sign-in"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .client()
        .wait()
        .for_element(Locator::Css("[role=alert]"))
        .await
        .unwrap();
    assert!(
        text_of(&browser, "[role=alert]")
            .await
            .contains("not an admin or analyst token")
    );

    let field = browser.client().find(Locator::Css("#token")).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(&dashboard.token).await.unwrap();
    browser
        .client()
        .find(Locator::Css("#sign-in"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // The form posts and the answer redirects: wait for the overview.
    browser
        .client()
        .wait()
        .for_element(Locator::Css("#kpis"))
        .await
        .unwrap();
    let here = browser.client().current_url().await.unwrap();
    assert_eq!(here.path(), "/admin");
    assert!(text_of(&browser, "h1").await.contains(&quarter));
    assert_eq!(
        text_of(&browser, "[data-kpi=\"points.issued\"]").await,
        "4600"
    );
    assert_accessible(&browser, "admin-overview").await;

    // The overview's charts draw the analytics of the same quarter.
    let page = browser.client().source().await.unwrap();
    assert_eq!(
        mark(&page, "points", "Issued", &quarter).as_deref(),
        Some("4600")
    );
    let members = analytics["participation"]["members"].to_string();
    assert_eq!(mark(&page, "members", "Members", &quarter), Some(members));
    let revenue = analytics["revenue"]["members"].as_str().unwrap().to_owned();
    assert_eq!(mark(&page, "revenue", "Members", &quarter), Some(revenue));
    assert_eq!(
        mark(
            &page,
            "tiers",
            "Members by tier at the quarter's end",
            "silver"
        )
        .as_deref(),
        Some("1")
    );

    // Search, then the account's page with its whole ledger.
    browser
        .open(&dashboard.url("/admin/accounts"))
        .await
        .unwrap();
    let search = browser.client().find(Locator::Css("#q")).await.unwrap();
    search.send_keys("brandt").await.unwrap();
    search.send_keys("\u{E007}").await.unwrap();
    let searched = url::Url::parse(&dashboard.url("/admin/accounts?q=brandt")).unwrap();
    browser.client().wait().for_url(&searched).await.unwrap();
    let rows = browser
        .client()
        .find_all(Locator::Css("#accounts tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_accessible(&browser, "admin-accounts").await;
    browser
        .client()
        .find(Locator::LinkText("Brandt Maschinenbau GmbH"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .client()
        .wait()
        .for_element(Locator::Css("#balance"))
        .await
        .unwrap();
    assert_eq!(text_of(&browser, "#balance").await, "4000 points");
    let id = browser
        .client()
        .current_url()
        .await
        .unwrap()
        .path()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let ledger = dashboard
        .get(&format!("/api/v1/accounts/{id}/ledger"))
        .await;
    let entries = browser
        .client()
        .find_all(Locator::Css("#ledger tbody tr"))
        .await
        .unwrap();
    assert_eq!(entries.len(), ledger["entries"].as_array().unwrap().len());
    assert_accessible(&browser, "admin-account").await;

    for (path, name) in [
        ("/admin/segments", "admin-segments"),
        ("/admin/campaigns", "admin-campaigns"),
        ("/admin/goals", "admin-goals"),
    ] {
        browser.open(&dashboard.url(path)).await.unwrap();
        assert_accessible(&browser, name).await;
    }
    // The goal counts the two members of ten.
    browser.open(&dashboard.url("/admin/goals")).await.unwrap();
    let row = text_of(&browser, "#goals tbody tr").await;
    assert!(row.contains("Ten members"), "{row}");
    assert!(row.contains("20.0"), "{row}");
    browser.close().await;
}

#[tokio::test]
async fn the_dashboard_refuses_whoever_has_no_session_or_token() {
    let dashboard = Dashboard::start().await;
    for path in [
        "/admin",
        "/admin/accounts",
        "/admin/accounts/1",
        "/admin/goals",
    ] {
        let response = dashboard
            .http
            .get(dashboard.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 303, "{path}");
        assert_eq!(response.headers()["location"], "/admin/sign-in", "{path}");
        let forged = dashboard
            .http
            .get(dashboard.url(path))
            .header("cookie", "loyalty_admin=admin.0.0.99999999999999.00.AAAA")
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status(), 303, "{path} with a forged cookie");
        let bearer = dashboard
            .http
            .get(dashboard.url(path))
            .bearer_auth("wrong")
            .send()
            .await
            .unwrap();
        assert_eq!(bearer.status(), 401, "{path} with a wrong token");
    }
    let answer = dashboard
        .http
        .post(dashboard.url("/admin/sign-in"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("token=wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 401);
    let answer = dashboard
        .http
        .post(dashboard.url("/admin/sign-in"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={}", dashboard.token))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 303);
    let cookie = answer.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap().to_owned();
    let page = dashboard
        .http
        .get(dashboard.url("/admin/accounts/1"))
        .header("cookie", session)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
}
