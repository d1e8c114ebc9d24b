//! Campaigns end to end, through the real daemon, the real HubSpot and
//! Shopify connectors and their emulators on loopback.
//!
//! Ten companies are in HubSpot (eight in Germany, two in Austria), each
//! with a procurement and a finance contact. Each German company is also a
//! Shopify B2B company with one buyer and one order placed months ago; the
//! company's `externalId` is its HubSpot id, so the Shopify record joins the
//! HubSpot account. Firm `k` is account `k`: HubSpot's sync creates the
//! accounts in the order the companies changed.
//!
//! Two campaigns go to the German companies, each holding out 30 %:
//! `spring-list` reaches their procurement contacts as a HubSpot list with
//! 500 bonus points; `spring-tags` tags their Shopify buyers with a 10 %
//! discount code each. The SHA-256 holdout keeps firms 3, 4 and 5 out of
//! `spring-list` and firms 1, 2 and 4 out of `spring-tags`.
//!
//! The first list creation fails with a 500 (the whole batch is retried),
//! and firm 3's buyer reads as 404 once (that recipient alone is retried);
//! both go through on the retry, two seconds later.
//!
//! Purchases after the start, from the ERP (2 points per EUR):
//!
//! | firm | spring-list | spring-tags | bought in the window |
//! |---|---|---|---|
//! | 1 | target | holdout | 120.00 |
//! | 2 | target | holdout | |
//! | 3 | holdout | target | 80.00 |
//! | 4 | holdout | holdout | |
//! | 5 | holdout | target | |
//! | 6 | target | target | 300.00 |
//! | 7 | target | target | 200.00 + 100.00 |
//! | 8 | target | target | (999.00 the day before the start) |
//!
//! `spring-list`: target 3 of 5 bought (60.0 %), 720.00, 144.00 each;
//! holdout 1 of 3 (33.3 %), 80.00, 26.67 each. Lift (60.0 - 33.3) / 33.3 =
//! 80.2 %; incremental (144.00 - 26.67) x 5 = 586.65.
//! `spring-tags`: target 3 of 5 (60.0 %), 680.00, 136.00 each; holdout 1 of
//! 3 (33.3 %), 120.00, 40.00 each. Lift 80.2 %; incremental (136.00 -
//! 40.00) x 5 = 480.00.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use loyalty_e2e::daemon::{Daemon, ProgramRules, Setup, Snapshot, random_token};
use loyalty_e2e::hubspot::webhook::now_ms;
use loyalty_e2e::hubspot::{self, HubSpotEmulator, ObjectType, Record};
use loyalty_e2e::official_plugin;
use loyalty_e2e::shopify::rest::{CompanyRef, Customer};
use loyalty_e2e::shopify::{self, Company, RequestMatch, ShopifyEmulator, samples};
use loyaltyd::core::campaigns::in_holdout;
use reqwest::Method;
use rust_decimal::Decimal;
use serde_json::{Value, json};

const HUBSPOT_TOKEN: &str = "pat-eu1-7c1d0e42-campaigns-e2e-0000000001";
const SHOPIFY_TOKEN: &str = "shpat_campaigns_e2e_00000000000000001";
const PORTAL: &str = "143553137";
/// 2026-06-01T00:00:00Z: when the HubSpot records last changed.
const T0: i64 = 1_780_272_000_000;
const MINUTE: i64 = 60_000;
const DAY: i64 = 86_400_000;

/// Name, country, procurement contact, finance contact, Shopify buyer.
const FIRMS: [(&str, &str, &str, &str, &str); 10] = [
    ("Brandt Maschinenbau GmbH", "DE", "Jana", "Tobias", "Lea"),
    ("Keller Werkzeuge KG", "DE", "Lena", "Jonas", "Mia"),
    ("Lindner Hydraulik AG", "DE", "Paul", "Sabine", "Ben"),
    ("Vogt Antriebstechnik GmbH", "DE", "Anna", "Frank", "Emil"),
    ("Hoffmann Stahlbau GmbH", "DE", "Lukas", "Petra", "Ida"),
    ("Albrecht Pumpen GmbH", "DE", "Marie", "Stefan", "Noah"),
    ("Seidel Foerdertechnik KG", "DE", "Felix", "Heike", "Ella"),
    ("Krueger Elektro GmbH", "DE", "Sophie", "Uwe", "Finn"),
    ("Gruber Metall GmbH", "AT", "Laura", "Georg", "Lina"),
    ("Huber Armaturen GmbH", "AT", "David", "Karin", "Moritz"),
];
/// The German firms, `1..=8`.
const GERMAN: std::ops::RangeInclusive<usize> = 1..=8;

/// The ids of firm `k` (1-based) in the two systems.
fn company(k: usize) -> u64 {
    5_200_000 + k as u64
}
fn procurement(k: usize) -> u64 {
    6_100_000 + k as u64
}
fn finance(k: usize) -> u64 {
    6_200_000 + k as u64
}
fn shop_company(k: usize) -> u64 {
    9_007_199_254_900_000 + k as u64
}
fn buyer(k: usize) -> u64 {
    9_007_199_254_910_000 + k as u64
}

fn domain(k: usize) -> String {
    let (name, ..) = FIRMS[k - 1];
    let first = name.split(' ').next().unwrap().to_lowercase();
    format!("{first}-{k}.example")
}

/// Every firm as a HubSpot company with its two contacts.
fn load_hubspot(portal: &HubSpotEmulator, firms: std::ops::RangeInclusive<usize>) {
    use ObjectType::{Companies, Contacts};
    for k in firms {
        let (name, country, buyer_name, finance_name, _) = FIRMS[k - 1];
        let at = T0 + k as i64 * MINUTE;
        portal.put(
            Companies,
            Record::new(company(k), at)
                .with("name", name)
                .with("domain", &domain(k))
                .with("country", country),
        );
        for (id, first, role) in [
            (procurement(k), buyer_name, "Procurement"),
            (finance(k), finance_name, "Finance"),
        ] {
            portal.put(
                Contacts,
                Record::new(id, at + 60 * MINUTE)
                    .with("firstname", first)
                    .with("lastname", name.split(' ').next().unwrap())
                    .with("email", &format!("{}@{}", first.to_lowercase(), domain(k)))
                    .with("jobtitle", role),
            );
            portal.associate((Contacts, id), (Companies, company(k)), true);
        }
    }
}

/// Every German firm as a Shopify B2B company, its buyer and one paid
/// order placed in March 2026.
fn load_shopify(shop: &ShopifyEmulator) {
    for k in GERMAN {
        let (name, _, _, _, first) = FIRMS[k - 1];
        shop.put_company(Company {
            id: shop_company(k),
            name: name.to_owned(),
            external_id: Some(company(k).to_string()),
            note: None,
            created_at: "2025-11-18T10:02:44Z".to_owned(),
            updated_at: "2026-02-27T15:30:00Z".to_owned(),
        });
        let mut customer: Customer = samples::buyer();
        customer.id = buyer(k);
        customer.first_name = first.to_owned();
        customer.last_name = name.split(' ').next().unwrap().to_owned();
        customer.email = format!("shop@{}", domain(k));
        customer.address.company = Some(name.to_owned());
        customer.updated_at = format!("2026-02-{k:02}T11:05:10+01:00");
        shop.put_customer(&customer);
        let mut order = samples::b2b_order();
        order.id = 9_007_199_254_920_000 + k as u64;
        order.number = 2000 + k as u64;
        order.company = Some(CompanyRef {
            id: shop_company(k),
            location_id: 9_007_199_254_930_000 + k as u64,
        });
        order.customer = customer;
        for (i, line) in order.lines.iter_mut().enumerate() {
            line.id = 9_007_199_254_940_000 + 10 * k as u64 + i as u64;
        }
        order.created_at = format!("2026-03-{k:02}T09:14:05+01:00");
        order.updated_at = format!("2026-03-{k:02}T10:00:00+01:00");
        order.financial_status = "paid".to_owned();
        shop.put_order(&order);
    }
}

fn connectors_toml(portal: &HubSpotEmulator, shop: Option<&ShopifyEmulator>) -> String {
    let s = |text: &str| Value::from(text).to_string();
    let hubspot = s(&portal.base_url());
    let mut toml = format!(
        r#"
[connectors.hubspot]
plugin = {plugin}
allowed_hosts = [{hubspot}]
settings = {{ portal_id = "{PORTAL}", api_base_url = {hubspot}, currency = "EUR" }}
poll = {{ interval_seconds = 3600, page_size = 50 }}

[connectors.hubspot.secrets.webhook]
file = "secrets/hubspot_webhook"

[connectors.hubspot.credentials.api]
inject = "bearer"
file = "secrets/hubspot_token"
hosts = [{hubspot}]
"#,
        plugin = s(&official_plugin("hubspot").to_string_lossy()),
    );
    if let Some(shop) = shop {
        let base = s(&shop.base_url());
        toml.push_str(&format!(
            r#"
[connectors.shopify]
plugin = {plugin}
allowed_hosts = [{base}]
settings = {{ shop_domain = "{domain}", api_version = "{version}", admin_base_url = {base}, external_id_system = "hubspot" }}
poll = {{ interval_seconds = 3600, page_size = 50 }}

[connectors.shopify.secrets.webhook]
file = "secrets/shopify_webhook"

[connectors.shopify.credentials.admin]
file = "secrets/shopify_token"
inject = "header"
header = "X-Shopify-Access-Token"
hosts = [{base}]
"#,
            plugin = s(&official_plugin("shopify").to_string_lossy()),
            domain = samples::SHOP_DOMAIN,
            version = samples::API_VERSION,
        ));
    }
    toml
}

const PROCUREMENT_SEGMENT: &str = r#"
[[segments]]
id = "de-procurement"
name = "German procurement"
filter = 'country = "DE"'
contacts = 'role = "procurement"'
"#;

/// A daemon and an admin client of its API.
struct Harness {
    daemon: Daemon,
    token: String,
    http: reqwest::Client,
}

impl Harness {
    /// A daemon with the HubSpot connector, the Shopify one when given, and
    /// the `de-procurement` segment.
    async fn start(portal: &HubSpotEmulator, shop: Option<&ShopifyEmulator>) -> Self {
        Self::start_with(portal, shop, "").await
    }

    /// The same, with `more_toml` after the connectors.
    async fn start_with(
        portal: &HubSpotEmulator,
        shop: Option<&ShopifyEmulator>,
        more_toml: &str,
    ) -> Self {
        let extra_toml = format!(
            "{}{more_toml}{PROCUREMENT_SEGMENT}",
            connectors_toml(portal, shop)
        );
        let token = random_token().unwrap();
        let setup = Setup {
            admin_token: token.clone(),
            program: ProgramRules::default(),
            shopify: None,
            extra_toml,
            secrets: [
                ("hubspot_token", HUBSPOT_TOKEN),
                ("hubspot_webhook", "campaigns-e2e-hubspot-client-secret"),
                ("shopify_token", SHOPIFY_TOKEN),
                ("shopify_webhook", "campaigns-e2e-shopify-webhook-secret"),
            ]
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect(),
        };
        Self {
            daemon: Daemon::start(&setup).await.unwrap(),
            token,
            http: reqwest::Client::new(),
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.daemon.base_url()))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn get(&self, path: &str) -> Value {
        let (status, body) = self.call(Method::GET, path, None).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    async fn post(&self, path: &str, body: Value, expected: u16) -> Value {
        let (status, answer) = self.call(Method::POST, path, Some(body)).await;
        assert_eq!(status, expected, "POST {path}: {answer}");
        answer
    }

    /// Sends a request the daemon must refuse with `expected`; returns the
    /// error message.
    async fn refused(&self, method: Method, path: &str, body: Value, expected: u16) -> String {
        let (status, answer) = self.call(method, path, Some(body)).await;
        assert_eq!(status, expected, "{path}: {answer}");
        answer["error"].as_str().unwrap().to_owned()
    }

    async fn sync(&self, connector: &str) {
        let status = self.daemon.admin().sync(connector).await.unwrap();
        assert_eq!(
            status.last_error,
            None,
            "{connector}: {status:?}\n{}",
            self.daemon.log_tail(80)
        );
    }

    /// Waits until the campaign has settled (completed or failed).
    async fn settled(&self, id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let campaign = self.get(&format!("/api/v1/campaigns/{id}")).await;
            if matches!(campaign["status"].as_str(), Some("completed" | "failed")) {
                return campaign;
            }
            assert!(
                Instant::now() < deadline,
                "campaign {id} did not settle in 60 s: {campaign:#}\n{}",
                self.daemon.log_tail(120)
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Submits ERP events under one idempotency key.
    async fn erp(&self, key: &str, events: Value) {
        let response = self
            .http
            .post(format!("{}/api/v1/events", self.daemon.base_url()))
            .bearer_auth(&self.token)
            .header("Idempotency-Key", key)
            .header("content-type", "application/json")
            .body(json!({ "source": "erp", "events": events }).to_string())
            .send()
            .await
            .unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(status.is_success(), "events {key}: {status}: {text}");
    }
}

/// The account of HubSpot company `k`.
fn account_of(state: &Snapshot, k: usize) -> i64 {
    state
        .account_known_as("hubspot", &company(k).to_string())
        .unwrap_or_else(|| panic!("no account for firm {k}: {:#?}", state.accounts))
        .id
}

/// The bonus entries a campaign wrote to an account's ledger.
fn bonuses(state: &Snapshot, account: i64, campaign: &str) -> Vec<(i64, String)> {
    let prefix = format!("campaign/{campaign}/");
    state.ledgers[&account]
        .of_kind("bonus")
        .filter(|e| e.effect_key.starts_with(&prefix))
        .map(|e| (e.points, e.effect_key.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_segment_campaign_reaches_hubspot_and_shopify_with_a_retry_and_shows_lift_over_the_holdout()
 {
    let portal = HubSpotEmulator::start(HUBSPOT_TOKEN).await.unwrap();
    load_hubspot(&portal, 1..=10);
    let shop = ShopifyEmulator::start(SHOPIFY_TOKEN).await.unwrap();
    let harness = Harness::start(&portal, Some(&shop)).await;

    // HubSpot first, so that its companies make the accounts, in order;
    // the Shopify records then join them.
    harness.sync("hubspot").await;
    load_shopify(&shop);
    harness.sync("shopify").await;
    let state = harness.daemon.admin().snapshot().await.unwrap();
    assert_eq!(state.accounts.len(), 10, "{:#?}", state.accounts);
    for k in 1..=10 {
        let account = state
            .account_known_as("hubspot", &company(k).to_string())
            .unwrap();
        assert_eq!(account.id, k as i64, "firm {k} is account {k}");
        let shopify_ref = shop_company(k).to_string();
        assert_eq!(
            account.is_known_as("shopify", &shopify_ref),
            GERMAN.contains(&k),
            "{account:#?}"
        );
        let sources: Vec<&str> = account.contacts.iter().map(|c| c.source.as_str()).collect();
        let expected = if GERMAN.contains(&k) {
            vec!["hubspot", "hubspot", "shopify"]
        } else {
            vec!["hubspot", "hubspot"]
        };
        assert_eq!(sources, expected, "{account:#?}");
    }

    // A segment through the API, beside the configured one.
    let buyers = harness
        .post(
            "/api/v1/segments",
            json!({"id": "de-buyers", "name": "German buyers", "filter": "country = \"DE\""}),
            201,
        )
        .await;
    assert_eq!(buyers["size"], 8, "{buyers}");
    let procurement_segment = harness.get("/api/v1/segments/de-procurement").await;
    assert_eq!(
        procurement_segment["segment"]["size"], 8,
        "{procurement_segment}"
    );

    // The groups, as the daemon will choose them.
    let thirty: Decimal = "30".parse().unwrap();
    let held_out = |campaign: &str| -> Vec<usize> {
        GERMAN
            .filter(|k| in_holdout(campaign, account_of(&state, *k), thirty))
            .collect()
    };
    assert_eq!(held_out("spring-list"), [3, 4, 5]);
    assert_eq!(held_out("spring-tags"), [1, 2, 4]);
    let list_targets = [1, 2, 6, 7, 8];
    let tag_targets = [3, 5, 6, 7, 8];

    portal.fail_next("/crm/v3/lists/", hubspot::Failure::ServerError);
    let refused = format!("customers/{}.json", buyer(3));
    shop.fail_next(
        RequestMatch::path(&refused).method(Method::GET),
        shopify::Failure::NotFound,
    );

    let template = "Hello {{ first_name }}, you hold {{ balance }} points: {{ offer }}.";
    let list_campaign = harness
        .post(
            "/api/v1/campaigns",
            json!({
                "id": "spring-list", "name": "Spring offer", "segment": "de-procurement",
                "channel": "hubspot", "subject": "{{ first_name }}, a spring bonus",
                "template": template, "offer": {"kind": "bonus_points", "points": 500},
                "holdout_percent": "30",
            }),
            201,
        )
        .await;
    assert_eq!(list_campaign["status"], "draft", "{list_campaign}");
    assert_eq!(list_campaign["attribution_days"], 30, "{list_campaign}");
    harness
        .post(
            "/api/v1/campaigns",
            json!({
                "id": "spring-tags", "name": "Spring discount", "segment": "de-buyers",
                "channel": "shopify",
                "template": format!("{template} Your code: {{{{ offer_code }}}}"),
                "offer": {"kind": "discount_code", "percent_off": "10"},
                "holdout_percent": "30", "attribution_days": 30,
            }),
            201,
        )
        .await;
    // A draft waits for its schedule.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let draft = harness.get("/api/v1/campaigns/spring-list").await;
    assert_eq!(draft["status"], "draft", "{draft}");
    assert!(portal.requests_to("/crm/v3/lists/").is_empty());
    for id in ["spring-list", "spring-tags"] {
        let scheduled = harness
            .post(&format!("/api/v1/campaigns/{id}/schedule"), json!({}), 200)
            .await;
        assert_eq!(scheduled["status"], "scheduled", "{scheduled}");
    }

    let sent = json!({"pending": 0, "queued": 0, "sent": 5, "failed": 0, "skipped": 0});
    let mut started = Vec::new();
    for id in ["spring-list", "spring-tags"] {
        let campaign = harness.settled(id).await;
        assert_eq!(campaign["status"], "completed", "{campaign:#}");
        assert_eq!(campaign["targeted"], 5, "{campaign:#}");
        assert_eq!(campaign["held_out"], 3, "{campaign:#}");
        assert_eq!(campaign["deliveries"], sent, "{campaign:#}");
        assert_eq!(campaign["last_error"], Value::Null, "{campaign:#}");
        started.push(campaign["started_at"].as_i64().unwrap());
    }

    // HubSpot: the list creation failed once and the batch was retried
    // after two seconds; the list holds the targeted procurement contacts.
    let creations = portal.requests_to("/crm/v3/lists/");
    let statuses: Vec<u16> = creations.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [500, 200]);
    assert!(creations[1].at - creations[0].at >= Duration::from_secs(2));
    let lists = portal.lists();
    assert_eq!(lists.len(), 1, "{lists:?}");
    assert_eq!(lists[0].name, "Spring offer (spring-list)");
    assert_eq!(lists[0].processing_type, "MANUAL");
    let members: BTreeSet<u64> = lists[0].members.iter().copied().collect();
    let expected: BTreeSet<u64> = list_targets.iter().map(|k| procurement(*k)).collect();
    assert_eq!(members, expected, "no finance contact, nobody held out");
    let adds = portal.requests_to(&format!("/crm/v3/lists/{}/memberships/add", lists[0].id));
    assert_eq!(adds.len(), 1, "each contact is added once");

    // Shopify: firm 3's buyer was refused once, then tagged on the retry.
    let reads: Vec<_> = shop
        .requests_to(&refused)
        .into_iter()
        .filter(|r| r.method == "GET")
        .collect();
    assert_eq!(reads.len(), 2, "one refused read, one retried read");
    assert!(reads[1].at - reads[0].at >= Duration::from_secs(2));
    let writes = shop
        .requests_to(&refused)
        .iter()
        .filter(|r| r.method == "PUT")
        .count();
    assert_eq!(writes, 1);
    // The delivery records say the same: firm 3's buyer took two attempts,
    // every other targeted buyer one, all sent with their own code.
    let records = harness
        .get("/api/v1/campaigns/spring-tags/deliveries")
        .await;
    let records = records["deliveries"].as_array().unwrap();
    assert_eq!(records.len(), 5, "{records:#?}");
    for record in records {
        assert_eq!(record["status"], "sent", "{record}");
        let id = buyer(3).to_string();
        let retried = record["contact_ref"]
            .as_str()
            .is_some_and(|c| c == id || c.ends_with(&format!("/{id}")));
        assert_eq!(
            record["attempts"],
            json!(if retried { 2 } else { 1 }),
            "{record}"
        );
        assert!(
            record["offer_code"]
                .as_str()
                .is_some_and(|c| c.starts_with("LOYAL-")),
            "{record}"
        );
    }
    for k in 1..=10 {
        let tagged = shop
            .customer_tags(buyer(k))
            .iter()
            .filter(|t| *t == "loyalty-spring-tags")
            .count();
        assert_eq!(tagged, usize::from(tag_targets.contains(&k)), "firm {k}");
    }
    // One single-use code per targeted buyer and no code for everybody: the
    // delivery names no shared offer.
    let rules = shop.price_rules();
    let personal: Vec<u64> = rules
        .iter()
        .filter(|r| r["customer_selection"] == "prerequisite")
        .inspect(|r| {
            assert_eq!(r["value_type"], "percentage", "{r}");
            assert_eq!(r["value"], "-10.0", "{r}");
            assert_eq!(r["usage_limit"], 1, "{r}");
        })
        .flat_map(|r| r["prerequisite_customer_ids"].as_array().unwrap().clone())
        .map(|id| id.as_u64().unwrap())
        .collect();
    let expected: BTreeSet<u64> = tag_targets.iter().map(|k| buyer(*k)).collect();
    assert_eq!(personal.len(), 5, "{rules:#?}");
    assert_eq!(
        personal.into_iter().collect::<BTreeSet<u64>>(),
        expected,
        "codes for the targeted buyers only"
    );
    assert!(
        rules
            .iter()
            .all(|r| r["customer_selection"] == "prerequisite"),
        "{rules:#?}"
    );
    let codes = shop.discount_codes();
    assert_eq!(codes.len(), 5, "{codes:#?}");
    assert!(
        codes
            .iter()
            .all(|c| c["code"].as_str().unwrap().starts_with("LOYAL-")),
        "{codes:#?}"
    );

    // Bonus points went to the targeted accounts of `spring-list` only.
    let state = harness.daemon.admin().snapshot().await.unwrap();
    for k in 1..=10 {
        let account = account_of(&state, k);
        let expected = if list_targets.contains(&k) {
            vec![(500, format!("campaign/spring-list/{account}"))]
        } else {
            Vec::new()
        };
        assert_eq!(
            bonuses(&state, account, "spring-list"),
            expected,
            "firm {k}"
        );
        assert_eq!(bonuses(&state, account, "spring-tags"), [], "firm {k}");
    }

    // Purchases from the ERP, which names each company by its HubSpot id.
    let now = now_ms();
    let before = started.iter().min().unwrap() - DAY;
    let bought = [
        (1, "120.00", now),
        (3, "80.00", now),
        (6, "300.00", now),
        (7, "200.00", now),
        (7, "100.00", now + 1),
        (8, "999.00", before),
    ];
    let mut events: Vec<Value> = [1, 3, 6, 7, 8]
        .into_iter()
        .map(|k| {
            json!({
                "type": "account", "id": format!("ERP-{k}"), "version": 1,
                "name": FIRMS[k - 1].0, "country": "DE",
                "external_refs": [{"system": "hubspot", "id": company(k).to_string()}],
            })
        })
        .collect();
    for (i, (k, amount, placed_at)) in bought.iter().enumerate() {
        events.push(json!({
            "type": "purchase", "id": format!("SO-{i}"), "version": 1,
            "account_id": format!("ERP-{k}"), "status": "paid", "placed_at": placed_at,
            "net_amount": {"amount": amount, "currency": "EUR"},
        }));
    }
    harness.erp("spring-purchases", Value::Array(events)).await;
    let accounts = harness.daemon.admin().accounts().await.unwrap();
    assert_eq!(accounts.len(), 10, "the ERP records joined: {accounts:#?}");

    let group = |accounts: u64, purchasers: u64, conversion: &str, revenue: &str, each: &str| {
        json!({
            "accounts": accounts, "purchasers": purchasers, "conversion_percent": conversion,
            "revenue": revenue, "revenue_per_account": each,
        })
    };
    let expected = [
        (
            "spring-list",
            group(5, 3, "60.0", "720.00", "144.00"),
            group(3, 1, "33.3", "80.00", "26.67"),
            "80.2",
            "586.65",
        ),
        (
            "spring-tags",
            group(5, 3, "60.0", "680.00", "136.00"),
            group(3, 1, "33.3", "120.00", "40.00"),
            "80.2",
            "480.00",
        ),
    ];
    for ((id, target, holdout, lift, incremental), started_at) in expected.into_iter().zip(started)
    {
        let report = harness.get(&format!("/api/v1/campaigns/{id}/report")).await;
        let attribution = &report["attribution"];
        assert_eq!(attribution["from"], started_at, "{report:#}");
        assert_eq!(attribution["to"], started_at + 30 * DAY, "{report:#}");
        assert_eq!(attribution["target"], target, "{id}: {report:#}");
        assert_eq!(attribution["holdout"], holdout, "{id}: {report:#}");
        assert_eq!(attribution["lift_percent"], lift, "{id}: {report:#}");
        assert_eq!(
            attribution["incremental_revenue"], incremental,
            "{id}: {report:#}"
        );
        assert_eq!(report["campaign"]["status"], "completed");
    }

    // A finished campaign is not sent again.
    for id in ["spring-list", "spring-tags"] {
        let path = format!("/api/v1/campaigns/{id}/schedule");
        let error = harness.refused(Method::POST, &path, json!({}), 409).await;
        assert!(error.contains("is completed"), "{error}");
    }
    // Longer than a dispatcher tick.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after = harness.daemon.admin().snapshot().await.unwrap();
    for k in 1..=10 {
        let account = account_of(&after, k);
        assert_eq!(
            bonuses(&after, account, "spring-list"),
            bonuses(&state, account, "spring-list"),
            "firm {k}"
        );
    }
    assert_eq!(portal.requests_to("/crm/v3/lists/").len(), 2);
    let memberships = format!("/crm/v3/lists/{}/memberships/add", lists[0].id);
    assert_eq!(portal.requests_to(&memberships).len(), 1);
    assert_eq!(shop.price_rules().len(), 5);
    assert_eq!(shop.requests_to(&refused).len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_refused_by_an_open_circuit_waits_for_it_without_spending_attempts() {
    let portal = HubSpotEmulator::start(HUBSPOT_TOKEN).await.unwrap();
    load_hubspot(&portal, 1..=3);
    // One failed push opens the circuit for 8 s; the batch's retry, due
    // after 2 s, finds it open.
    let limits = "\n[connectors.hubspot.limits]\nbreaker_failures = 1\nbreaker_open_seconds = 8\n";
    let harness = Harness::start_with(&portal, None, limits).await;
    harness.sync("hubspot").await;
    portal.fail_next("/crm/v3/lists/", hubspot::Failure::ServerError);
    harness
        .post(
            "/api/v1/campaigns",
            json!({
                "id": "patient", "name": "Patient", "segment": "de-procurement",
                "channel": "hubspot", "template": "Hello {{ first_name }}",
                "offer": {"kind": "bonus_points", "points": 100},
            }),
            201,
        )
        .await;
    harness
        .post("/api/v1/campaigns/patient/schedule", json!({}), 200)
        .await;

    // While the circuit is open the deliveries wait with the one attempt
    // the failed push spent, naming the open circuit.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let records = harness.get("/api/v1/campaigns/patient/deliveries").await;
        let records = records["deliveries"].as_array().unwrap().clone();
        if !records.is_empty()
            && records.iter().all(|r| {
                r["last_error"]
                    .as_str()
                    .is_some_and(|e| e.contains("circuit"))
            })
        {
            for record in &records {
                assert_eq!(record["status"], "pending", "{record}");
                assert_eq!(record["attempts"], 1, "{record}");
            }
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the batch never met the open circuit: {records:#?}\n{}",
            harness.daemon.log_tail(80)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The trial call after the pause sends them: two attempts each, the
    // failed one and the one that went through, however often the circuit
    // refused the batch in between.
    let campaign = harness.settled("patient").await;
    assert_eq!(campaign["status"], "completed", "{campaign:#}");
    assert_eq!(
        campaign["deliveries"],
        json!({"pending": 0, "queued": 0, "sent": 3, "failed": 0, "skipped": 0})
    );
    let creations = portal.requests_to("/crm/v3/lists/");
    let statuses: Vec<u16> = creations.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [500, 200]);
    assert!(creations[1].at - creations[0].at >= Duration::from_secs(7));
    let records = harness.get("/api/v1/campaigns/patient/deliveries").await;
    for record in records["deliveries"].as_array().unwrap() {
        assert_eq!(record["status"], "sent", "{record}");
        assert_eq!(record["attempts"], 2, "{record}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_campaign_whose_send_time_has_passed_starts_with_the_daemon() {
    let portal = HubSpotEmulator::start(HUBSPOT_TOKEN).await.unwrap();
    load_hubspot(&portal, 1..=3);
    let harness = Harness::start(&portal, None).await;
    harness.sync("hubspot").await;
    let state = harness.daemon.admin().snapshot().await.unwrap();
    assert_eq!(state.accounts.len(), 3);
    let campaigns = harness.get("/api/v1/campaigns").await;
    assert_eq!(campaigns["campaigns"], json!([]));

    // The operator adds a campaign due at New Year and restarts the daemon.
    harness.daemon.kill().unwrap();
    let mut config = std::fs::read_to_string(harness.daemon.config_path()).unwrap();
    config.push_str(
        r#"
[[campaigns]]
id = "welcome-back"
name = "Welcome back"
segment = "de-procurement"
channel = "hubspot"
template = "Hello {{ first_name }}, {{ offer }} are waiting for you."
offer = { kind = "bonus_points", points = 250 }
send_at = 2026-01-01T00:00:00Z
"#,
    );
    std::fs::write(harness.daemon.config_path(), config).unwrap();
    let restarted_at = now_ms();
    harness.daemon.restart().await.unwrap();

    let campaign = harness.settled("welcome-back").await;
    assert_eq!(campaign["status"], "completed", "{campaign:#}");
    assert_eq!(campaign["origin"], "config", "{campaign:#}");
    assert_eq!(campaign["send_at"], 1_767_225_600_000_i64, "{campaign:#}");
    assert!(campaign["started_at"].as_i64().unwrap() >= restarted_at);
    assert_eq!(campaign["targeted"], 3, "{campaign:#}");
    assert_eq!(campaign["held_out"], 0, "{campaign:#}");
    assert_eq!(
        campaign["deliveries"],
        json!({"pending": 0, "queued": 0, "sent": 3, "failed": 0, "skipped": 0})
    );
    let lists = portal.lists();
    assert_eq!(lists.len(), 1, "{lists:?}");
    assert_eq!(lists[0].name, "Welcome back (welcome-back)");
    let members: BTreeSet<u64> = lists[0].members.iter().copied().collect();
    assert_eq!(members, (1..=3).map(procurement).collect());
    let state = harness.daemon.admin().snapshot().await.unwrap();
    for k in 1..=3 {
        let account = account_of(&state, k);
        assert_eq!(
            bonuses(&state, account, "welcome-back"),
            [(250, format!("campaign/welcome-back/{account}"))]
        );
    }

    // It belongs to the configuration file.
    let replacement = json!({
        "name": "Welcome back", "segment": "de-procurement", "channel": "hubspot",
        "template": "Hello",
    });
    let error = harness
        .refused(
            Method::PUT,
            "/api/v1/campaigns/welcome-back",
            replacement,
            409,
        )
        .await;
    assert!(
        error.contains("defined in the configuration file"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_campaign_definition_is_refused_with_every_problem() {
    let portal = HubSpotEmulator::start(HUBSPOT_TOKEN).await.unwrap();
    let harness = Harness::start(&portal, None).await;

    let bad = json!({
        "id": "Spring Offer", "name": "  ", "segment": "Gold Buyers",
        "channel": "mailchimp", "subject": "{% if %}", "template": "Hello {{ first_name",
        "offer": {"kind": "bonus_points", "points": 0, "percent_off": "10"},
        "holdout_percent": "100", "attribution_days": 0,
    });
    let error = harness
        .refused(Method::POST, "/api/v1/campaigns", bad, 422)
        .await;
    for problem in [
        "`id` `Spring Offer` is not an id",
        "`name` must not be empty",
        "`segment` `Gold Buyers` is not a segment id",
        "`channel` `mailchimp` is not a configured connector (hubspot)",
        "`template`: ",
        "`subject`: ",
        "`offer.percent_off` does not apply to an offer of kind `bonus_points`",
        "`offer.points` must be a whole number above 0",
        "`holdout_percent` is 100: use 0 or more and below 100",
        "`attribution_days` must be above 0",
    ] {
        assert!(error.contains(problem), "missing {problem:?} in {error}");
    }
    assert_eq!(error.split("; ").count(), 10, "{error}");

    // A sound definition for a segment nobody defined.
    let orphan = json!({
        "id": "spring", "name": "Spring", "segment": "gold-buyers",
        "channel": "hubspot", "template": "Hello {{ first_name }}",
    });
    let error = harness
        .refused(Method::POST, "/api/v1/campaigns", orphan, 422)
        .await;
    assert!(
        error.contains("`segment` `gold-buyers` does not exist"),
        "{error}"
    );
    let campaigns = harness.get("/api/v1/campaigns").await;
    assert_eq!(campaigns["campaigns"], json!([]), "nothing was saved");
}
