//! The member portal end to end: the real daemon with `[portal]` enabled in
//! an invite-only program with terms, driven by a real headless Chromium
//! where a member would click (enrolling, signing in, redeeming) and by
//! plain HTTP where only the answer matters (refused links, another
//! account's pages). Every page a member sees passes axe-core without a
//! serious violation, and leaves a screenshot under
//! `target/test-artifacts/screenshots/portal-*.png`.
//!
//! Two points per euro, rounded down; tiers Member (from EUR 0) and Gold
//! (from EUR 5,000); rewards `descaling` (500 points), `vip-day` (2,000,
//! Gold only) and `gift-card` (10,000).
//!
//! | account | contact | paid orders (EUR) | balance |
//! |---|---|---|---|
//! | C-1 Brandt | P-1 Anna Becker | 1200.00, 345.50 | 2 x 1545.50 = 3091 |
//! | C-2 Kessler | P-2 Lena Vogel | 800.00 | 1600 |

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use fantoccini::Locator;
use hmac::{Hmac, Mac};
use loyalty_e2e::browser::Browser;
use loyalty_e2e::daemon::{Daemon, ProgramRules, Setup, random_token};
use reqwest::Method;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};
use sha2::Sha256;

/// Tiers, rewards, the terms in force and the portal. The enrollment is set
/// by [`Portal::start`]: the harness writes `[program]` itself.
const PROGRAM: &str = r##"
[program.tiers]
levels = [
  { id = "member", name = "Member", min_spend = "0" },
  { id = "gold", name = "Gold", min_spend = "5000" },
]

[[program.engagement]]
kind = "nps_response"
points = 10

[[program.rewards]]
id = "descaling"
name = "Machine descaling service"
kind = "service"
points = 500
description = "A technician descales one machine on site."

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

[[program.terms]]
version = "2026-01"
effective_from = 2026-01-01T00:00:00Z
text = "# Rheinwerk Rewards terms\n\nPoints belong to the company, not to its contacts."

[portal]
title = "Rheinwerk Rewards"
secret = { file = "secrets/portal" }
link_minutes = 60
session_minutes = 480
invitation_days = 14
"##;

const MINUTE: i64 = 60_000;
const DAY: i64 = 86_400_000;
/// The version of the terms in force.
const TERMS: &str = "2026-01";

/// A company of the book and the contact who uses the portal for it.
struct Company {
    erp: &'static str,
    name: &'static str,
    contact: &'static str,
    email: &'static str,
}

const BRANDT: Company = Company {
    erp: "C-1",
    name: "Brandt Maschinenbau GmbH",
    contact: "P-1",
    email: "anna.becker@brandt.example",
};

const KESSLER: Company = Company {
    erp: "C-2",
    name: "Kessler Hydraulik KG",
    contact: "P-2",
    email: "lena.vogel@kessler.example",
};

/// The daemon's ids of a company and of its contact.
#[derive(Debug, Clone, Copy)]
struct Ids {
    account: i64,
    contact: i64,
}

fn now_ms() -> i64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    i64::try_from(since_epoch.as_millis()).unwrap()
}

/// A daemon serving the portal, with its admin token and portal secret.
struct Portal {
    daemon: Daemon,
    token: String,
    secret: String,
    /// Follows no redirect, so a test sees each answer of the portal.
    http: reqwest::Client,
}

impl Portal {
    async fn start() -> Self {
        let (token, secret) = (random_token().unwrap(), random_token().unwrap());
        let setup = Setup {
            admin_token: token.clone(),
            program: ProgramRules::default(),
            shopify: None,
            extra_toml: PROGRAM.to_owned(),
            secrets: vec![("portal".to_owned(), secret.clone())],
        };
        let daemon = Daemon::start(&setup).await.unwrap();
        // TOML cannot reopen the `[program]` table the harness writes, so
        // the enrollment goes in by editing the file and restarting on the
        // same, still empty, store.
        daemon.kill().unwrap();
        let config = std::fs::read_to_string(daemon.config_path()).unwrap();
        let invite_only = "[program]\nenrollment = \"invite_only\"\n";
        let edited = config.replacen("[program]\n", invite_only, 1);
        assert_ne!(edited, config, "no [program] table in\n{config}");
        std::fs::write(daemon.config_path(), edited).unwrap();
        daemon.restart().await.unwrap();
        let redirect = reqwest::redirect::Policy::none();
        let http = reqwest::Client::builder().redirect(redirect).build();
        let http = http.unwrap();
        Self {
            daemon,
            token,
            secret,
            http,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.daemon.base_url())
    }

    /// An admin API call: its status and its JSON body.
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

    async fn post(&self, path: &str, body: Value, expected: u16) -> Value {
        let (status, answer) = self.admin(Method::POST, path, Some(body)).await;
        assert_eq!(status, expected, "POST {path}: {answer}");
        answer
    }

    async fn events(&self, events: Value) {
        let body = json!({ "source": "erp", "events": events });
        self.post("/api/v1/events", body, 201).await;
    }

    /// Adds the company and its contact, and returns their ids.
    async fn add(&self, company: &Company) -> Ids {
        self.events(json!([
            { "type": "account", "id": company.erp, "version": 1, "name": company.name },
            { "type": "contact", "id": company.contact, "version": 1, "account_id": company.erp,
              "email": company.email, "role": "procurement" },
        ]))
        .await;
        let listed = self.get("/api/v1/accounts").await;
        let accounts = listed["accounts"].as_array().unwrap();
        let account = accounts.iter().find(|a| a["name"] == json!(company.name));
        let account = account.unwrap_or_else(|| panic!("{}: {listed}", company.name));
        let account = account["id"].as_i64().unwrap();
        let detail = self.get(&format!("/api/v1/accounts/{account}")).await;
        let contacts = detail["contacts"].as_array().unwrap();
        let contact = contacts.iter().find(|c| c["email"] == json!(company.email));
        let contact = contact.unwrap_or_else(|| panic!("{}: {detail}", company.email));
        let contact = contact["id"].as_i64().unwrap();
        Ids { account, contact }
    }

    /// Makes the account a member, as an admin may without an invitation.
    async fn activate(&self, ids: Ids) {
        let path = format!("/api/v1/accounts/{}/membership", ids.account);
        let body = Some(json!({ "status": "active" }));
        let (status, answer) = self.admin(Method::PUT, &path, body).await;
        assert!(
            (200..300).contains(&status),
            "PUT {path}: {status} {answer}"
        );
    }

    /// Paid orders of the company, placed an hour ago, `(id, EUR)` each.
    async fn buy(&self, company: &Company, orders: &[(&str, &str)]) {
        let placed_at = now_ms() - 60 * MINUTE;
        let events: Vec<Value> = orders
            .iter()
            .map(|(id, amount)| {
                json!({
                    "type": "purchase", "id": id, "version": 1, "account_id": company.erp,
                    "status": "paid", "placed_at": placed_at,
                    "net_amount": { "amount": amount, "currency": "EUR" },
                })
            })
            .collect();
        self.events(Value::Array(events)).await;
    }

    async fn account(&self, ids: Ids) -> Value {
        self.get(&format!("/api/v1/accounts/{}", ids.account)).await
    }

    /// The terms acceptances of the account, newest first.
    async fn acceptances(&self, ids: Ids) -> Vec<Value> {
        let path = format!("/api/v1/accounts/{}/terms-acceptances", ids.account);
        let accepted = self.get(&path).await;
        accepted["acceptances"].as_array().unwrap().clone()
    }

    /// A link the admin API issues, checked to expire `valid_ms` after it
    /// was asked for and to lead to `page` with a `purpose` token.
    async fn link(&self, path: &str, body: Value, valid_ms: i64, page: &str) -> Value {
        let before = now_ms();
        let link = self.post(path, body, 201).await;
        let expires_at = link["expires_at"].as_i64().unwrap();
        let window = before + valid_ms..=now_ms() + valid_ms;
        assert!(window.contains(&expires_at), "{link}");
        let url = link["url"].as_str().unwrap();
        assert!(url.starts_with(&self.url(page)), "{url}");
        link
    }

    /// A sign-in link, valid for the configured hour.
    async fn sign_in_link(&self, ids: Ids) -> String {
        let body = json!({ "account_id": ids.account, "contact_id": ids.contact });
        let page = "/portal/sign-in?token=signin.";
        let link = self.link("/api/v1/portal/sign-in-links", body, 60 * MINUTE, page);
        link.await["url"].as_str().unwrap().to_owned()
    }

    /// Invites the account and returns the contact's enrollment link, valid
    /// for the configured 14 days.
    async fn invite(&self, ids: Ids) -> String {
        let path = format!("/api/v1/accounts/{}/invitations", ids.account);
        let body = json!({ "contact_id": ids.contact });
        let page = "/portal/join?token=enroll.";
        let invitation = self.link(&path, body, 14 * DAY, page).await;
        assert_eq!(invitation["membership"], json!("invited"), "{invitation}");
        invitation["url"].as_str().unwrap().to_owned()
    }

    /// GETs a portal page (a path or a whole URL), with a session cookie
    /// when given; returns the status and the HTML.
    async fn page(&self, target: &str, session: Option<&str>) -> (u16, String) {
        let url = if target.starts_with("http") {
            target.to_owned()
        } else {
            self.url(target)
        };
        let mut request = self.http.get(url);
        if let Some(session) = session {
            request = request.header(COOKIE, format!("loyalty_session={session}"));
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    /// Signs the contact in through a fresh link and returns the session
    /// cookie's value.
    async fn session(&self, ids: Ids) -> String {
        let link = self.sign_in_link(ids).await;
        // Opening the link only asks to continue; the button signs in.
        let (status, html) = self.page(&link, None).await;
        assert_eq!((status, h1(&html)), (200, "Sign in to Rheinwerk Rewards"));
        let response = self
            .http
            .post(self.url("/portal/sign-in"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={}", token_of(&link)))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 303, "sign-in with {link}");
        assert_eq!(response.headers()[LOCATION], "/portal");
        let cookie = response.headers()[SET_COOKIE].to_str().unwrap();
        assert!(cookie.contains("HttpOnly"), "{cookie}");
        assert!(cookie.contains("Path=/portal"), "{cookie}");
        let pair = cookie.split(';').next().unwrap();
        let value = pair.strip_prefix("loyalty_session=");
        value.unwrap_or_else(|| panic!("{cookie}")).to_owned()
    }

    /// A token signed with the portal's secret, as the daemon signs them.
    fn forge(&self, purpose: &str, ids: Ids, expires_at: i64) -> String {
        let (account, contact) = (ids.account, ids.contact);
        let nonce = "00112233445566778899aabbccddeeff";
        let payload = format!("{purpose}.{account}.{contact}.{expires_at}.{nonce}");
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.secret.as_bytes()).unwrap();
        mac.update(payload.as_bytes());
        let tag = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{payload}.{tag}")
    }
}

/// The text of a page's first `<h1>`.
fn h1(html: &str) -> &str {
    let inner = html
        .split_once("<h1>")
        .and_then(|(_, rest)| rest.split_once("</h1>"));
    inner.unwrap_or_else(|| panic!("no <h1> in\n{html}")).0
}

/// The token of a link (`...?token=TOKEN`).
fn token_of(link: &str) -> &str {
    link.split_once("?token=").unwrap().1
}

/// The text of the element, once the page shows it.
async fn text(browser: &Browser, css: &str) -> String {
    let wait = browser.client().wait();
    let element = wait.for_element(Locator::Css(css)).await;
    let element = element.unwrap_or_else(|e| panic!("no `{css}`: {e}"));
    element.text().await.unwrap()
}

/// An attribute of the element, empty when it has none.
async fn attr(browser: &Browser, css: &str, name: &str) -> String {
    let element = browser.client().find(Locator::Css(css)).await.unwrap();
    element.attr(name).await.unwrap().unwrap_or_default()
}

async fn click(browser: &Browser, css: &str) {
    let element = browser.client().find(Locator::Css(css)).await.unwrap();
    element.click().await.unwrap();
}

async fn visit(browser: &Browser, portal: &Portal, path: &str) {
    browser.open(&portal.url(path)).await.unwrap();
}

async fn path(browser: &Browser) -> String {
    browser
        .client()
        .current_url()
        .await
        .unwrap()
        .path()
        .to_owned()
}

/// The cells of each row of a table's body.
async fn rows(browser: &Browser, table: &str) -> Vec<Vec<String>> {
    let css = format!("{table} tbody tr");
    let mut rows = Vec::new();
    for row in browser.client().find_all(Locator::Css(&css)).await.unwrap() {
        let mut cells = Vec::new();
        for cell in row.find_all(Locator::Css("th, td")).await.unwrap() {
            cells.push(cell.text().await.unwrap());
        }
        rows.push(cells);
    }
    rows
}

/// Checks the page with axe-core and saves its screenshot.
async fn audit(browser: &Browser, name: &str) {
    let report = browser.axe().await.unwrap();
    assert!(report.serious().is_empty(), "{name}: {report}");
    browser.screenshot(name).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invited_contact_enrolls_and_accepts_the_terms_in_the_browser() {
    let portal = Portal::start().await;
    let brandt = portal.add(&BRANDT).await;
    let link = portal.invite(brandt).await;

    let browser = Browser::start().await.unwrap();
    browser.open(&link).await.unwrap();
    assert_eq!(text(&browser, "h1").await, "Join Rheinwerk Rewards");
    let intro = text(&browser, "main > p").await;
    let invited = "anna.becker@brandt.example, Brandt Maschinenbau GmbH is invited";
    assert!(intro.starts_with(invited), "{intro}");
    let terms = r#"section[aria-label="Terms, version 2026-01"] h3"#;
    assert_eq!(text(&browser, terms).await, "Rheinwerk Rewards terms");
    audit(&browser, "portal-join").await;
    let form_token = attr(&browser, "input[name=token]", "value").await;
    assert_eq!(form_token, token_of(&link));

    click(&browser, "#accept").await;
    click(&browser, "#join").await;
    assert_eq!(text(&browser, "#balance").await, "0 points");
    assert_eq!(path(&browser).await, "/portal");
    assert_eq!(text(&browser, "h1").await, BRANDT.name);

    let account = portal.account(brandt).await;
    assert_eq!(account["membership"], json!("active"), "{account}");
    let acceptances = portal.acceptances(brandt).await;
    assert_eq!(acceptances.len(), 1, "{acceptances:?}");
    assert_eq!(acceptances[0]["version"], json!(TERMS));
    assert_eq!(acceptances[0]["contact"], json!(BRANDT.email));

    // The same form sent again: an invitation works once.
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("token", &form_token);
    form.append_pair("terms_version", TERMS);
    form.append_pair("accept", "yes");
    let request = portal.http.post(portal.url("/portal/join"));
    let request = request.header("content-type", "application/x-www-form-urlencoded");
    let again = request.body(form.finish()).send().await.unwrap();
    assert_eq!(again.status().as_u16(), 409);
    let html = again.text().await.unwrap();
    assert_eq!(h1(&html), "This invitation was used already");
    // The link itself now says the company is in.
    browser.open(&link).await.unwrap();
    assert_eq!(text(&browser, "h1").await, "Already a member");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_member_signs_in_sees_the_balance_redeems_and_sees_it_in_history() {
    let portal = Portal::start().await;
    let brandt = portal.add(&BRANDT).await;
    portal.activate(brandt).await;
    // 2 x (1200.00 + 345.50) = 3091 points; EUR 1545.50 of the 5000 Gold
    // needs is 30.91 %, shown as 31, with 3454.50 to go.
    let orders = [("SO-1", "1200.00"), ("SO-2", "345.50")];
    portal.buy(&BRANDT, &orders).await;
    assert_eq!(portal.account(brandt).await["balance"], json!(3091));
    let link = portal.sign_in_link(brandt).await;

    let browser = Browser::start().await.unwrap();
    browser.open(&link).await.unwrap();
    audit(&browser, "portal-sign-in").await;
    click(&browser, "#sign-in").await;
    browser
        .client()
        .wait()
        .for_element(Locator::Css("#balance"))
        .await
        .unwrap();
    assert_eq!(path(&browser).await, "/portal");
    assert_eq!(text(&browser, "#balance").await, "3091 points");
    assert_eq!(text(&browser, "#tier").await, "Member");
    let progress = r#"[role="progressbar"]"#;
    assert_eq!(attr(&browser, progress, "aria-valuenow").await, "31");
    let source = browser.client().source().await.unwrap();
    let spent = "spent 1545.50 EUR over the last 365 days. 3454.50 EUR more reaches";
    assert!(source.contains(spent), "{source}");
    // Within reach: the descaling service; the factory tour is for Gold.
    assert!(source.contains(">1 of 3<"), "{source}");
    assert!(source.contains("nps response: 10 points"), "{source}");
    audit(&browser, "portal-overview").await;

    visit(&browser, &portal, "/portal/history").await;
    let earned = rows(&browser, "#history").await;
    assert!(
        earned.iter().all(|r| r[1].starts_with("Earned")),
        "{earned:?}"
    );
    let earned: Vec<_> = earned.iter().map(|r| (&*r[2], &*r[3])).collect();
    assert_eq!(earned, [("SO-2", "691"), ("SO-1", "2400")]);
    audit(&browser, "portal-history").await;

    visit(&browser, &portal, "/portal/rewards").await;
    let catalog = rows(&browser, "#catalog").await;
    let offers: Vec<_> = catalog.iter().map(|r| (&*r[1], &*r[2])).collect();
    let expected = [
        ("500", "Redeem"),
        ("2000", "Not in your tier"),
        ("10000", "6909 more points needed"),
    ];
    assert_eq!(offers, expected);
    audit(&browser, "portal-rewards").await;

    visit(&browser, &portal, "/portal/referrals").await;
    let code = format!("/api/v1/accounts/{}/referral-code", brandt.account);
    let code = portal.get(&code).await["code"].as_str().unwrap().to_owned();
    assert_eq!(text(&browser, "#referral-code").await, code);
    audit(&browser, "portal-referrals").await;

    // Made a member by an admin, the company has not accepted the terms.
    visit(&browser, &portal, "/portal/terms").await;
    audit(&browser, "portal-terms").await;
    click(&browser, "#accept").await;
    click(&browser, r#"form[action="/portal/terms"] button"#).await;
    let accepted = text(&browser, "#accepted").await;
    assert_eq!(accepted, "Your company has accepted this version.");
    let acceptances = portal.acceptances(brandt).await;
    assert_eq!(acceptances[0]["version"], json!(TERMS));
    assert_eq!(acceptances[0]["contact"], json!(BRANDT.email));

    visit(&browser, &portal, "/portal/rewards").await;
    click(&browser, r#"a[href="/portal/rewards/descaling"]"#).await;
    text(&browser, "#confirm").await;
    assert_eq!(path(&browser).await, "/portal/rewards/descaling");
    let question = text(&browser, "h1").await;
    assert_eq!(question, "Redeem Machine descaling service?");
    audit(&browser, "portal-confirm").await;
    click(&browser, "#confirm").await;
    let status = text(&browser, "#status").await;
    assert_eq!(status, "Being prepared: the points are held.");
    assert_eq!(attr(&browser, "#status", "data-status").await, "reserved");
    let page = path(&browser).await;
    let redemption = page.strip_prefix("/portal/redemptions/").unwrap();
    let redemption: i64 = redemption.parse().unwrap();
    audit(&browser, "portal-redemption").await;

    visit(&browser, &portal, "/portal/rewards").await;
    let made = rows(&browser, "#redemptions").await;
    assert_eq!(made.len(), 1, "{made:?}");
    assert_eq!(made[0][1..3], ["Machine descaling service", "500"]);
    let cell = "#redemptions td[data-status]";
    assert_eq!(attr(&browser, cell, "data-status").await, "reserved");

    let fulfil = format!("/api/v1/redemptions/{redemption}/fulfil");
    let body = json!({ "detail": "Technician booked" });
    let fulfilled = portal.post(&fulfil, body, 200).await;
    assert_eq!(fulfilled["status"], json!("fulfilled"), "{fulfilled}");

    // The hold and its release are not shown: the redemption is.
    visit(&browser, &portal, "/portal/history").await;
    let history = rows(&browser, "#history").await;
    assert_eq!(history.len(), 3, "{history:?}");
    assert!(history[0][1].starts_with("Redeemed"), "{history:?}");
    let redeemed = [redemption.to_string(), "-500".to_owned()];
    assert_eq!(history[0][2..4], redeemed);
    visit(&browser, &portal, "/portal").await;
    assert_eq!(text(&browser, "#balance").await, "2591 points");
    assert_eq!(portal.account(brandt).await["balance"], json!(3091 - 500));
    let page = format!("/portal/redemptions/{redemption}");
    visit(&browser, &portal, &page).await;
    assert_eq!(attr(&browser, "#status", "data-status").await, "fulfilled");

    browser.open(&link).await.unwrap();
    assert_eq!(text(&browser, "h1").await, "This link was used already");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_contact_of_one_account_cannot_reach_another_accounts_pages() {
    let portal = Portal::start().await;
    let brandt = portal.add(&BRANDT).await;
    let kessler = portal.add(&KESSLER).await;
    portal.activate(brandt).await;
    portal.activate(kessler).await;
    portal.buy(&BRANDT, &[("SO-1", "1200.00")]).await;
    portal.buy(&KESSLER, &[("SO-2", "800.00")]).await;
    let mut redemptions = Vec::new();
    for ids in [brandt, kessler] {
        let path = format!("/api/v1/accounts/{}/redemptions", ids.account);
        let made = portal.post(&path, json!({ "reward": "descaling" }), 201);
        redemptions.push(made.await["id"].as_i64().unwrap());
    }
    let (own, others) = (redemptions[0], redemptions[1]);
    let session = portal.session(brandt).await;

    let other = format!("/portal/redemptions/{others}");
    let (status, html) = portal.page(&other, Some(&session)).await;
    assert_eq!((status, h1(&html)), (404, "Not found"));
    assert!(!html.contains(KESSLER.name), "{html}");
    let mine = format!("/portal/redemptions/{own}");
    let (status, html) = portal.page(&mine, Some(&session)).await;
    assert_eq!((status, h1(&html)), (200, "Machine descaling service"));

    // The session names its account in clear; naming another one breaks
    // the signature.
    let (from, to) = (brandt.account, kessler.account);
    let forged = session.replacen(&format!("session.{from}."), &format!("session.{to}."), 1);
    assert_ne!(forged, session);
    for page in ["/portal", &other] {
        let (status, html) = portal.page(page, Some(&forged)).await;
        assert_eq!((status, h1(&html)), (401, "Please sign in"), "{page}");
        assert!(!html.contains(KESSLER.name), "{page}: {html}");
    }

    for page in [
        "/portal",
        "/portal/history",
        "/portal/rewards",
        "/portal/terms",
    ] {
        let (status, html) = portal.page(page, Some(&session)).await;
        assert_eq!(status, 200, "{page}: {html}");
        assert!(html.contains(BRANDT.name), "{page}: {html}");
        assert!(!html.contains(KESSLER.name), "{page}: {html}");
        assert!(!html.contains("SO-2"), "{page}: {html}");
    }
    // 2 x 1200.00 = 2400, less the 500 its redemption holds.
    let (_, overview) = portal.page("/portal", Some(&session)).await;
    let balance = r#"id="balance">1900 points<"#;
    assert!(overview.contains(balance), "{overview}");
    let (status, html) = portal.page("/portal/redemptions/abc", Some(&session)).await;
    assert_eq!((status, h1(&html)), (404, "Not found"));

    // A form from elsewhere (without the session's token) does nothing.
    let forged_form = portal
        .http
        .post(portal.url("/portal/rewards/descaling"))
        .header(COOKIE, format!("loyalty_session={session}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("csrf=0123456789abcdef0123456789abcdef&request=forged")
        .send()
        .await
        .unwrap();
    assert_eq!(forged_form.status().as_u16(), 403);
    let path = format!("/api/v1/accounts/{}/redemptions", brandt.account);
    let made = portal.get(&path).await;
    assert_eq!(made["redemptions"].as_array().unwrap().len(), 1, "{made}");

    // Signing out ends the session for every copy of its cookie.
    let csrf = overview.split("name=\"csrf\" value=\"").nth(1).unwrap();
    let csrf = &csrf[..csrf.find('"').unwrap()];
    let signed_out = portal
        .http
        .post(portal.url("/portal/sign-out"))
        .header(COOKIE, format!("loyalty_session={session}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}"))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_out.status().as_u16(), 200);
    let (status, html) = portal.page("/portal", Some(&session)).await;
    assert_eq!((status, h1(&html)), (401, "Please sign in"));
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_tampered_and_missing_links_are_refused() {
    let portal = Portal::start().await;
    let brandt = portal.add(&BRANDT).await;
    portal.activate(brandt).await;
    let kessler = portal.add(&KESSLER).await;
    let sign_in = |token: &str| format!("/portal/sign-in?token={token}");

    let expired = portal.forge("signin", brandt, now_ms() - MINUTE);
    let (status, html) = portal.page(&sign_in(&expired), None).await;
    // A wrong signature would be refused first, as not valid.
    assert_eq!((status, h1(&html)), (401, "This link has expired"));

    let link = portal.sign_in_link(brandt).await;
    let (claims, signature) = link.rsplit_once('.').unwrap();
    let changed = if signature.starts_with('A') { 'B' } else { 'A' };
    let tampered = format!("{claims}.{changed}{}", &signature[1..]);
    let (status, html) = portal.page(&tampered, None).await;
    assert_eq!((status, h1(&html)), (400, "This link is not valid"));
    // Refusing the altered link did not use up the real one.
    let (status, html) = portal.page(&link, None).await;
    assert_eq!((status, h1(&html)), (200, "Sign in to Rheinwerk Rewards"));

    let invitation = portal.invite(kessler).await;
    let enrollment = sign_in(token_of(&invitation));
    let (status, html) = portal.page(&enrollment, None).await;
    assert_eq!((status, h1(&html)), (400, "This link is not valid"));

    for target in ["/portal/sign-in", "/portal/sign-in?token=", "/portal/join"] {
        let (status, html) = portal.page(target, None).await;
        let refused = (status, h1(&html));
        assert_eq!(refused, (400, "This link is not valid"), "{target}");
    }
    for session in [None, Some("garbage")] {
        let (status, html) = portal.page("/portal", session).await;
        assert_eq!((status, h1(&html)), (401, "Please sign in"), "{session:?}");
    }
}
