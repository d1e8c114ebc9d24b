//! The HubSpot connector end to end, against its emulator: the real daemon
//! runs the real `hubspot.wasm`, which syncs companies, contacts, deals with
//! line items and NPS feedback through the CRM search API of the loopback
//! emulator, reads webhook batches signed like HubSpot signs them, and
//! pushes campaigns and rewards back as lists and tasks.
//!
//! Every test runs its own daemon and emulator. Program: 2 points per EUR,
//! rounded down, USD at 0.92 EUR, 50 points per NPS answer. The sample
//! portal is in [`portal`]; its points are worked out there.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

use std::time::Duration;

use loyalty_e2e::daemon::admin::SyncStatus;
use loyalty_e2e::daemon::{Daemon, ProgramRules, Setup, Snapshot, random_token};
use loyalty_e2e::hubspot::crm::iso;
use loyalty_e2e::hubspot::webhook::{event, now_ms, retried};
use loyalty_e2e::hubspot::{Failure, HubSpotEmulator, ObjectType, Record, Recorded, WebhookSender};
use serde_json::{Value, json};

const SOURCE: &str = "hubspot";
const PORTAL: u64 = 143_553_137;
const TOKEN: &str = "pat-eu1-2f0c9a5e-e2e0-4c1b-9d7e-000000000001";
const CLIENT_SECRET: &str = "e2e-hubspot-app-client-secret";
/// 2026-01-01T00:00:00Z.
const T0: i64 = 1_767_225_600_000;
const HOUR: i64 = 3_600_000;

const COMPANIES: &str = "/crm/v3/objects/companies/search";
const CONTACTS: &str = "/crm/v3/objects/contacts/search";
const DEALS: &str = "/crm/v3/objects/deals/search";
const FEEDBACK: &str = "/crm/v3/objects/feedback_submissions/search";

/// The sample portal: three companies, three contacts, four deals and one
/// NPS answer, each changed an hour after the one before.
///
/// | record | account | points |
/// |---|---|---|
/// | deal 9001, won in a custom pipeline, 1200.00 EUR in two line items | 512 | 2400 |
/// | deal 9002, won, 500.00 USD = 460.00 EUR | 513 | 920 |
/// | deal 9003, open, 300.00 EUR | 514 | 0 |
/// | deal 9004, won, 99.99 in the portal currency (EUR) | 512 | 199 |
/// | feedback 3301, NPS 9 from contact 1801 | 512 | 50 |
mod portal {
    use super::*;

    pub fn company(id: u64, at: i64, name: &str, domain: &str) -> Record {
        Record::new(id, at)
            .with("name", name)
            .with("domain", domain)
    }

    pub fn contact(id: u64, at: i64, first: &str, last: &str, email: &str) -> Record {
        Record::new(id, at)
            .with("firstname", first)
            .with("lastname", last)
            .with("email", email)
    }

    pub fn deal(id: u64, at: i64, amount: &str, won: bool) -> Record {
        Record::new(id, at)
            .with("dealname", &format!("Deal {id}"))
            .with("amount", amount)
            .with("closedate", &iso(at))
            .with("pipeline", "75e28846-ad0d-4be2-a027-5e1da6590b98")
            .with("dealstage", if won { "104857361" } else { "104857358" })
            .with("hs_is_closed_won", if won { "true" } else { "false" })
            .with("hs_is_closed_lost", "false")
    }

    pub fn load(emulator: &HubSpotEmulator) {
        use ObjectType::{Companies, Contacts, Deals, FeedbackSubmissions, LineItems};
        emulator.put(
            Companies,
            company(
                512,
                T0 + HOUR,
                "Brandt Maschinenbau GmbH",
                "brandt-maschinenbau.example",
            )
            .with("industry", "MACHINERY")
            .with("numberofemployees", "250")
            .with("country", "DE")
            .with("vat_number", "DE811907980")
            .with("sap_bp_number", "0000100001"),
        );
        emulator.put(
            Companies,
            company(
                513,
                T0 + 2 * HOUR,
                "Nordwind Logistik AG",
                "nordwind-logistik.example",
            )
            .with("country", "Netherlands"),
        );
        emulator.put(
            Companies,
            company(
                514,
                T0 + 3 * HOUR,
                "Keller Werkzeuge KG",
                "keller-werkzeuge.example",
            ),
        );
        emulator.put(
            Contacts,
            contact(
                1801,
                T0 + 4 * HOUR,
                "Jana",
                "Brandt",
                "jana.brandt@brandt-maschinenbau.example",
            )
            .with("jobtitle", "Head of Purchasing"),
        );
        emulator.put(
            Contacts,
            contact(
                1802,
                T0 + 5 * HOUR,
                "Piet",
                "Nordmann",
                "piet.nordmann@nordwind-logistik.example",
            ),
        );
        emulator.put(
            Contacts,
            contact(
                1803,
                T0 + 6 * HOUR,
                "Lena",
                "Keller",
                "lena.keller@keller-werkzeuge.example",
            ),
        );
        for (contact, company) in [(1801, 512), (1802, 513), (1803, 514)] {
            emulator.associate((Contacts, contact), (Companies, company), true);
        }
        emulator.put(
            Deals,
            deal(9001, T0 + 7 * HOUR, "1200.00", true).with("deal_currency_code", "EUR"),
        );
        emulator.put(
            Deals,
            deal(9002, T0 + 8 * HOUR, "500.00", true).with("deal_currency_code", "USD"),
        );
        emulator.put(Deals, deal(9003, T0 + 9 * HOUR, "300.00", false));
        emulator.put(Deals, deal(9004, T0 + 10 * HOUR, "99.99", true));
        for (deal, company) in [(9001, 512), (9002, 513), (9003, 514), (9004, 512)] {
            emulator.associate((Deals, deal), (Companies, company), true);
        }
        emulator.associate((Deals, 9001), (Contacts, 1801), false);
        emulator.put(
            LineItems,
            Record::new(71, T0 + 7 * HOUR)
                .with("hs_sku", "PRS-200")
                .with("name", "Hydraulic press")
                .with("quantity", "1")
                .with("price", "1000.00")
                .with("amount", "1000.00")
                .with("hs_product_type", "inventory"),
        );
        emulator.put(
            LineItems,
            Record::new(72, T0 + 7 * HOUR)
                .with("hs_sku", "SRV-INSTALL")
                .with("name", "Installation")
                .with("quantity", "2")
                .with("price", "100.00")
                .with("amount", "200.00")
                .with("hs_product_type", "service"),
        );
        emulator.associate((Deals, 9001), (LineItems, 71), false);
        emulator.associate((Deals, 9001), (LineItems, 72), false);
        emulator.put(
            FeedbackSubmissions,
            Record::new(3301, T0 + 11 * HOUR)
                .with("hs_survey_type", "NPS")
                .with("hs_survey_name", "Customer loyalty 2026")
                .with("hs_response_value", "9")
                .with("hs_content", "Fast delivery, great support."),
        );
        emulator.associate((FeedbackSubmissions, 3301), (Contacts, 1801), false);
    }
}

/// How the connector is configured for a test.
struct Options {
    /// Records per poll; `None` configures no polling (webhooks only).
    page_size: Option<u32>,
    /// More `key = "value"` pairs for the settings table.
    settings: &'static str,
    /// More TOML (rewards).
    toml: String,
    /// The private app token the daemon sends.
    token: &'static str,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            page_size: Some(2),
            settings: "",
            toml: String::new(),
            token: TOKEN,
        }
    }
}

struct Harness {
    emulator: HubSpotEmulator,
    daemon: Daemon,
    admin_token: String,
}

async fn emulator() -> HubSpotEmulator {
    let emulator = HubSpotEmulator::start(TOKEN).await.unwrap();
    portal::load(&emulator);
    emulator
}

fn connector_toml(emulator: &HubSpotEmulator, options: &Options) -> String {
    let base = Value::from(emulator.base_url());
    let poll = options.page_size.map_or_else(String::new, |page_size| {
        format!("[connectors.hubspot.poll]\ninterval_seconds = 3600\npage_size = {page_size}\n")
    });
    format!(
        r#"
[[program.engagement]]
kind = "nps_response"
points = 50
{rewards}
[connectors.hubspot]
plugin = {plugin}
allowed_hosts = [{base}]
settings = {{ portal_id = "{PORTAL}", api_base_url = {base}, currency = "EUR", tax_id_property = "vat_number", sap_number_property = "sap_bp_number"{settings} }}

{poll}
[connectors.hubspot.secrets.webhook]
file = "secrets/hubspot_webhook"

[connectors.hubspot.credentials.api]
inject = "bearer"
file = "secrets/hubspot_token"
hosts = [{base}]
"#,
        rewards = options.toml,
        plugin = Value::from(loyalty_e2e::official_plugin("hubspot").to_string_lossy()),
        settings = options.settings,
    )
}

async fn start(emulator: HubSpotEmulator, options: Options) -> Harness {
    let setup = Setup {
        admin_token: random_token().unwrap(),
        program: ProgramRules::default(),
        shopify: None,
        extra_toml: connector_toml(&emulator, &options),
        secrets: vec![
            ("hubspot_webhook".to_owned(), CLIENT_SECRET.to_owned()),
            ("hubspot_token".to_owned(), options.token.to_owned()),
        ],
    };
    let daemon = Daemon::start(&setup).await.unwrap();
    Harness {
        emulator,
        daemon,
        admin_token: setup.admin_token,
    }
}

impl Harness {
    /// Waits for the sync the daemon runs when it starts to end (no sync is
    /// requested meanwhile, so none is queued behind it).
    async fn first_sync(&self) -> SyncStatus {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let status = self.daemon.admin().sync_status(SOURCE).await.unwrap();
            if !status.running && status.completed + status.failures > 0 {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the first sync did not end: {status:?}\n{}",
                self.daemon.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Runs one more sync to its end; it must succeed.
    async fn sync(&self) -> SyncStatus {
        let status = self.daemon.admin().sync(SOURCE).await.unwrap();
        assert_eq!(status.last_error, None, "{status:?}\n{}", self.daemon.log());
        status
    }

    async fn snapshot(&self) -> Snapshot {
        self.daemon.admin().snapshot().await.unwrap()
    }

    /// Waits until a redemption is no longer `reserved` and returns it.
    async fn redemption_settled(&self, account: i64, id: i64) -> Value {
        let url = format!(
            "{}/api/v1/accounts/{account}/redemptions",
            self.daemon.base_url()
        );
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let text = reqwest::Client::new()
                .get(&url)
                .bearer_auth(&self.admin_token)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let list: Value = serde_json::from_str(&text).unwrap();
            let redemption = list["redemptions"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["id"] == id)
                .cloned()
                .unwrap();
            if redemption["status"] != "reserved" {
                return redemption;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "redemption {id} is still reserved\n{}",
                self.daemon.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn webhooks(&self) -> WebhookSender {
        WebhookSender::new(self.daemon.base_url(), SOURCE, CLIENT_SECRET)
    }

    /// `GET` on the admin API; it must answer 200 with JSON.
    async fn get(&self, path: &str) -> Value {
        let response = reqwest::Client::new()
            .get(format!("{}{path}", self.daemon.base_url()))
            .bearer_auth(&self.admin_token)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(status, 200, "GET {path}: {text}");
        serde_json::from_str(&text).unwrap()
    }

    async fn post(&self, path: &str, key: Option<&str>, body: &Value) -> (u16, Value) {
        let mut request = reqwest::Client::new()
            .post(format!("{}{path}", self.daemon.base_url()))
            .bearer_auth(&self.admin_token)
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

fn balance(snapshot: &Snapshot, company: u64) -> i64 {
    snapshot
        .balance_of(SOURCE, &company.to_string())
        .unwrap_or_else(|| panic!("no account known to hubspot as {company}: {snapshot:#?}"))
}

/// The earn entries of a deal, over every account.
fn earns_of(snapshot: &Snapshot, deal: u64) -> usize {
    snapshot
        .ledgers
        .values()
        .flat_map(|l| l.of_kind("earn"))
        .filter(|e| e.reference == deal.to_string())
        .count()
}

fn cursor(status: &SyncStatus) -> Value {
    serde_json::from_str(status.cursor.as_deref().unwrap()).unwrap()
}

/// The balances of the sample portal once everything is read.
fn assert_sample_balances(snapshot: &Snapshot) {
    assert_eq!(balance(snapshot, 512), 2400 + 199 + 50);
    assert_eq!(balance(snapshot, 513), 920);
    assert_eq!(balance(snapshot, 514), 0);
    for deal in [9001, 9002, 9004] {
        assert_eq!(earns_of(snapshot, deal), 1, "deal {deal} earns once");
    }
    assert_eq!(earns_of(snapshot, 9003), 0, "an open deal does not earn");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_sync_reads_every_record_across_pages() {
    let hub = start(emulator().await, Options::default()).await;
    let status = hub.first_sync().await;
    assert_eq!(status.last_error, None, "{status:?}\n{}", hub.daemon.log());
    let snapshot = hub.snapshot().await;

    assert_eq!(snapshot.accounts.len(), 3, "{snapshot:#?}");
    let brandt = snapshot.account_known_as(SOURCE, "512").unwrap();
    assert_eq!(brandt.name, "Brandt Maschinenbau GmbH");
    assert_eq!(
        brandt.domain.as_deref(),
        Some("brandt-maschinenbau.example")
    );
    assert_eq!(brandt.tax_id.as_deref(), Some("DE811907980"));
    assert_eq!(brandt.industry.as_deref(), Some("MACHINERY"));
    assert_eq!(brandt.country.as_deref(), Some("DE"));
    let jana = brandt.contact(SOURCE, "1801").unwrap();
    assert_eq!(
        jana.email.as_deref(),
        Some("jana.brandt@brandt-maschinenbau.example")
    );
    assert_eq!(jana.first_name.as_deref(), Some("Jana"));
    assert_eq!(jana.role.as_deref(), Some("Head of Purchasing"));
    let nordwind = snapshot.account_known_as(SOURCE, "513").unwrap();
    assert_eq!(nordwind.country, None, "a country name is not an ISO code");
    assert!(nordwind.contact(SOURCE, "1802").is_some());
    assert!(
        snapshot
            .account_known_as(SOURCE, "514")
            .unwrap()
            .contact(SOURCE, "1803")
            .is_some()
    );
    assert_sample_balances(&snapshot);
    assert!(
        snapshot.dead_letters.is_empty(),
        "{:?}",
        snapshot.dead_letters
    );

    // Two records a page: 2 + 1 companies, 2 + 1 contacts, 2 + 2 deals, 1
    // feedback submission.
    assert_eq!(status.pages, 7, "{status:?}");
    let requests = hub.emulator.requests();
    assert!(
        requests.iter().all(|r| r.status == 200 || r.status == 207),
        "{requests:#?}"
    );
    assert!(
        requests
            .iter()
            .all(|r| r.header("authorization") == Some(&format!("Bearer {TOKEN}"))),
        "every request carries the private app token"
    );
    let companies = hub.emulator.requests_to(COMPANIES);
    assert_eq!(companies.len(), 2);
    assert_eq!(companies[0].search_since().as_deref(), Some("0"));
    assert_eq!(companies[0].search_after(), None);
    assert_eq!(companies[1].search_after().as_deref(), Some("2"));
    assert_eq!(companies[0].json()["limit"], 2);
    assert_eq!(
        companies[0].json()["sorts"],
        json!([{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}])
    );
    assert_eq!(
        hub.emulator.requests_to(CONTACTS)[0].json()["filterGroups"][0]["filters"][0]["propertyName"],
        "lastmodifieddate"
    );
    let line_items = hub
        .emulator
        .requests_to("/crm/v3/objects/line_items/batch/read");
    assert_eq!(line_items.len(), 1);
    assert_eq!(
        line_items[0].json()["inputs"],
        json!([{"id": "71"}, {"id": "72"}])
    );
    assert!(
        !hub.emulator
            .requests_to("/crm/v4/associations/deals/companies/batch/read")
            .is_empty()
    );

    let committed = cursor(&status);
    assert_eq!(committed["stage"], "companies", "the next sync starts over");
    assert_eq!(committed["marks"]["companies"], T0 + 3 * HOUR);
    assert_eq!(committed["marks"]["contacts"], T0 + 6 * HOUR);
    assert_eq!(committed["marks"]["deals"], T0 + 10 * HOUR);
    assert_eq!(committed["marks"]["feedback_submissions"], T0 + 11 * HOUR);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incremental_sync_reads_from_the_committed_cursor_and_changes_only_what_changed() {
    let hub = start(emulator().await, Options::default()).await;
    let first = hub.first_sync().await;
    assert_eq!(first.last_error, None, "{first:?}");
    let before = hub.snapshot().await;
    let marks = cursor(&first)["marks"].clone();
    hub.emulator.clear_requests();

    // Deal 9003 is won, Nordwind is renamed, a contact joins Nordwind.
    hub.emulator
        .update(ObjectType::Deals, 9003, T0 + 30 * HOUR, |deal| {
            deal.properties
                .insert("hs_is_closed_won".to_owned(), "true".to_owned());
            deal.properties
                .insert("dealstage".to_owned(), "104857361".to_owned());
        });
    hub.emulator
        .update(ObjectType::Companies, 513, T0 + 31 * HOUR, |company| {
            company
                .properties
                .insert("name".to_owned(), "Nordwind Logistik SE".to_owned());
        });
    hub.emulator.put(
        ObjectType::Contacts,
        portal::contact(
            1804,
            T0 + 32 * HOUR,
            "Ole",
            "Hansen",
            "ole.hansen@nordwind-logistik.example",
        ),
    );
    hub.emulator.associate(
        (ObjectType::Contacts, 1804),
        (ObjectType::Companies, 513),
        true,
    );
    hub.sync().await;

    for (path, kind) in [
        (COMPANIES, "companies"),
        (CONTACTS, "contacts"),
        (DEALS, "deals"),
        (FEEDBACK, "feedback_submissions"),
    ] {
        let first_page = &hub.emulator.requests_to(path)[0];
        assert_eq!(
            first_page.search_since(),
            Some(marks[kind].as_i64().unwrap().to_string()),
            "{kind} are searched from their committed mark"
        );
    }
    assert_eq!(
        hub.emulator.requests_to(DEALS)[0].search_since().as_deref(),
        Some((T0 + 10 * HOUR).to_string().as_str())
    );

    let after = hub.snapshot().await;
    assert_eq!(balance(&after, 514), 600, "deal 9003 earns 300.00 x 2");
    let nordwind = after.account_known_as(SOURCE, "513").unwrap();
    assert_eq!(nordwind.name, "Nordwind Logistik SE");
    assert!(nordwind.contact(SOURCE, "1804").is_some());
    for unchanged in [512, 513] {
        assert_eq!(
            after.ledger_of(SOURCE, &unchanged.to_string()),
            before.ledger_of(SOURCE, &unchanged.to_string()),
            "no new entries for {unchanged}"
        );
    }
    assert_eq!(earns_of(&after, 9003), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_killed_between_two_pages_resumes_from_the_committed_cursor() {
    let emulator = emulator().await;
    // The second page of deals is held: the first (9001, 9002) is committed.
    let gate = emulator.hold(DEALS, 1);
    let hub = start(emulator, Options::default()).await;
    tokio::time::timeout(Duration::from_secs(30), gate.arrived())
        .await
        .expect("the second page of deals was never asked for");

    let held = hub
        .daemon
        .admin()
        .sync_committed(SOURCE, |s| {
            s.cursor.is_some() && cursor(s)["stage"] == "deals" && cursor(s)["after"] == "2"
        })
        .await
        .unwrap();
    let committed = cursor(&held);
    assert_eq!(committed["stage"], "deals");
    assert_eq!(committed["after"], "2");
    let before_kill = hub.snapshot().await;
    assert_eq!(earns_of(&before_kill, 9001), 1);
    assert_eq!(
        earns_of(&before_kill, 9004),
        0,
        "the second page is not in yet"
    );

    hub.daemon.kill().unwrap();
    gate.release();
    hub.emulator.clear_requests();
    hub.daemon.restart().await.unwrap();
    let status = hub.first_sync().await;
    assert_eq!(status.last_error, None, "{status:?}\n{}", hub.daemon.log());

    let resumed = &hub.emulator.requests()[0];
    assert_eq!(resumed.path, DEALS, "the sync resumes with the held page");
    assert_eq!(resumed.search_after().as_deref(), Some("2"));
    assert!(
        hub.emulator.requests_to(COMPANIES).is_empty(),
        "no page is read twice"
    );
    let snapshot = hub.snapshot().await;
    assert_sample_balances(&snapshot);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_search_is_retried_no_sooner_than_retry_after() {
    let emulator = emulator().await;
    emulator.fail_next(
        COMPANIES,
        Failure::TooManyRequests {
            retry_after_seconds: Some(2),
        },
    );
    emulator.fail_next(DEALS, Failure::ServerError);
    let hub = start(emulator, Options::default()).await;
    let status = hub.first_sync().await;
    assert_eq!(status.last_error, None, "{status:?}\n{}", hub.daemon.log());

    let companies = hub.emulator.requests_to(COMPANIES);
    assert_eq!(companies[0].status, 429);
    assert_eq!(companies[1].status, 200);
    let waited = companies[1].at.duration_since(companies[0].at);
    assert!(waited >= Duration::from_secs(2), "retried after {waited:?}");
    assert_eq!(
        companies[1].search_after(),
        None,
        "the refused page is asked for again"
    );
    let deals = hub.emulator.requests_to(DEALS);
    assert_eq!(deals[0].status, 500);
    assert_eq!(deals[1].status, 200);
    assert_eq!(
        deals[1].json(),
        deals[0].json(),
        "the failed page is asked for again"
    );
    assert_sample_balances(&hub.snapshot().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_webhook_batches_are_applied_once_and_bad_ones_are_refused() {
    let hub = start(
        emulator().await,
        Options {
            page_size: None,
            ..Options::default()
        },
    )
    .await;
    let webhooks = hub.webhooks();
    let at = now_ms() - 2000;
    let batch = json!([
        event(PORTAL, 101, "company.creation", 512, at),
        event(PORTAL, 102, "contact.creation", 1801, at),
        event(PORTAL, 103, "contact.propertyChange", 1801, at),
        event(PORTAL, 104, "deal.creation", 9001, at),
        event(PORTAL, 105, "deal.propertyChange", 9001, at),
    ]);
    let answer = webhooks.send(&batch).await.unwrap();
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.outcome(), Some("stored"));
    let snapshot = hub
        .daemon
        .wait_until("deal 9001 is applied", |s| {
            s.balance_of(SOURCE, "512") == Some(2400)
        })
        .await
        .unwrap();
    let brandt = snapshot.account_known_as(SOURCE, "512").unwrap();
    assert_eq!(brandt.name, "Brandt Maschinenbau GmbH");
    assert!(brandt.contact(SOURCE, "1801").is_some());
    let reads = |path: &str| hub.emulator.requests_to(path).len();
    assert_eq!(
        reads("/crm/v3/objects/contacts/1801"),
        1,
        "one read per record"
    );
    assert_eq!(reads("/crm/v3/objects/deals/9001"), 1);

    // HubSpot retries the batch with a higher attempt number: same events,
    // same delivery.
    let again = webhooks.send(&retried(&batch, 1)).await.unwrap();
    assert_eq!(again.status, 200, "{again:?}");
    assert_eq!(again.outcome(), Some("duplicate"));

    // Refused: a wrong signature, a stale one, and another portal's events.
    let sneaky = json!([event(PORTAL, 201, "deal.creation", 9002, now_ms())]);
    let forged = webhooks
        .send_with_signature(&sneaky, "bm90IGEgcmVhbCBzaWduYXR1cmUgYXQgYWxsIQ==")
        .await
        .unwrap();
    assert_eq!(forged.status, 401, "{forged:?}");
    let stale = webhooks
        .send_signed_at(&sneaky, now_ms() - 6 * 60 * 1000)
        .await
        .unwrap();
    assert_eq!(stale.status, 401, "{stale:?}");
    let foreign = webhooks
        .send(&json!([event(999, 202, "deal.creation", 9002, now_ms())]))
        .await
        .unwrap();
    assert_eq!(foreign.status, 401, "{foreign:?}");

    // Deliveries are processed in arrival order: once this one shows, the
    // refused ones would have too, had they been stored.
    let marker = json!([
        event(PORTAL, 301, "company.creation", 514, now_ms()),
        event(PORTAL, 302, "deal.creation", 9003, now_ms()),
    ]);
    assert_eq!(webhooks.send(&marker).await.unwrap().status, 200);
    let snapshot = hub
        .daemon
        .wait_until("the marker batch is applied", |s| {
            s.account_known_as(SOURCE, "514").is_some()
        })
        .await
        .unwrap();
    assert_eq!(
        reads("/crm/v3/objects/deals/9002"),
        0,
        "refused batches are never read"
    );
    assert!(snapshot.account_known_as(SOURCE, "513").is_none());
    assert_eq!(
        reads("/crm/v3/objects/contacts/1801"),
        1,
        "the retry was not applied again"
    );
    assert_eq!(balance(&snapshot, 512), 2400);
    assert_eq!(earns_of(&snapshot, 9001), 1);
    assert!(
        snapshot.dead_letters.is_empty(),
        "{:?}",
        snapshot.dead_letters
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_becomes_a_list_and_a_reward_becomes_a_task() {
    let emulator = emulator().await;
    emulator.put(
        ObjectType::Companies,
        portal::company(
            515,
            T0 + 3 * HOUR,
            "Ostsee Handel GmbH",
            "ostsee-handel.example",
        ),
    );
    let rewards = r#"
[[program.rewards]]
id = "voucher-50"
name = "50 EUR voucher"
kind = "discount"
points = 500
value = { amount = "50.00", currency = "EUR" }
connector = "hubspot"
"#;
    let hub = start(
        emulator,
        Options {
            toml: rewards.to_owned(),
            ..Options::default()
        },
    )
    .await;
    assert_eq!(hub.first_sync().await.last_error, None);
    let snapshot = hub.snapshot().await;
    let internal = |company: u64| {
        snapshot
            .account_known_as(SOURCE, &company.to_string())
            .unwrap()
            .id
    };
    // Lena (1803) leaves the CRM after the sync; Ostsee has no contact.
    hub.emulator.archive(ObjectType::Contacts, 1803);

    let campaign = json!({
        "campaign_id": "spring-2026",
        "name": "Spring offer",
        "subject": "10% off in spring",
        "offer": {"id": "spring10", "code": "SPRING10", "percent_off": "10"},
        "accounts": [internal(512), internal(513), internal(514), internal(515)],
    });
    let report = hub
        .daemon
        .admin()
        .push_campaign(SOURCE, &campaign)
        .await
        .unwrap();
    let batch = &report["batches"][0];
    assert_eq!(batch["accepted"], 2, "{report}");
    let list = hub.emulator.lists().pop().unwrap();
    assert_eq!(batch["external_id"], list.id.to_string());
    assert_eq!(list.name, "Spring offer (spring-2026)");
    assert_eq!(list.object_type_id, "0-1");
    assert_eq!(list.processing_type, "MANUAL");
    let mut members = list.members.clone();
    members.sort_unstable();
    assert_eq!(members, [1801, 1802]);
    let rejected = batch["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 2, "{report}");
    assert!(
        batch["rejected"].to_string().contains("no contact 1803"),
        "{report}"
    );
    assert!(
        batch["rejected"].to_string().contains("no HubSpot contact"),
        "{report}"
    );
    let memberships = format!("/crm/v3/lists/{}/memberships/add", list.id);
    assert_eq!(hub.emulator.requests_to(&memberships).len(), 1);

    // The same campaign again: nothing is pushed twice.
    hub.daemon
        .admin()
        .push_campaign(SOURCE, &campaign)
        .await
        .unwrap();
    assert_eq!(hub.emulator.requests_to(&memberships).len(), 1);
    assert_eq!(hub.emulator.lists().len(), 1);

    // A reward fulfilled through HubSpot is a task for Brandt's team.
    let account = internal(512);
    let (status, redemption) = hub
        .post(
            &format!("/api/v1/accounts/{account}/redemptions"),
            Some("redeem-voucher-1"),
            &json!({"reward": "voucher-50"}),
        )
        .await;
    assert_eq!(status, 201, "{redemption}");
    let id = redemption["id"].as_i64().unwrap();
    let settled = hub.redemption_settled(account, id).await;
    assert_eq!(settled["status"], "fulfilled", "{settled}");
    let task = hub.emulator.tasks().pop().expect("no task was created");
    assert!(
        settled["detail"]
            .as_str()
            .unwrap()
            .contains(&task.id.to_string()),
        "{settled}"
    );
    assert_eq!(
        task.properties["hs_task_subject"],
        "Loyalty reward: 50 EUR voucher"
    );
    assert_eq!(task.properties["hs_task_status"], "NOT_STARTED");
    let body = task.properties["hs_task_body"].as_str().unwrap();
    assert!(body.contains(&format!("Redemption {id}")), "{body}");
    assert!(body.contains("Discount: 50 EUR"), "{body}");
    assert_eq!(task.associations, [(192, 512)]);
    assert_eq!(hub.emulator.tasks().len(), 1);
    assert_eq!(balance(&hub.snapshot().await, 512), 2649 - 500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_deal_stops_the_sync_with_a_clear_error_until_it_is_fixed() {
    let emulator = emulator().await;
    emulator.update(ObjectType::Deals, 9004, T0 + 10 * HOUR, |deal| {
        deal.properties
            .insert("amount".to_owned(), "99,99".to_owned());
    });
    let hub = start(emulator, Options::default()).await;
    let failed = hub.first_sync().await;
    let error = failed.last_error.clone().unwrap_or_default();
    assert!(error.contains("deal 9004"), "{failed:?}");
    assert!(error.contains("`amount`"), "{failed:?}");
    assert!(error.contains("99,99"), "{failed:?}");
    // What came before the bad page is committed.
    let committed = cursor(&failed);
    assert_eq!(committed["stage"], "deals");
    assert_eq!(committed["after"], "2");
    assert_eq!(earns_of(&hub.snapshot().await, 9001), 1);

    hub.emulator
        .update(ObjectType::Deals, 9004, T0 + 12 * HOUR, |deal| {
            deal.properties
                .insert("amount".to_owned(), "99.99".to_owned());
        });
    hub.sync().await;
    assert_sample_balances(&hub.snapshot().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_stops_the_sync_as_unauthorized() {
    let hub = start(
        emulator().await,
        Options {
            token: "pat-eu1-revoked",
            ..Options::default()
        },
    )
    .await;
    let failed = hub.first_sync().await;
    let error = failed.last_error.unwrap_or_default();
    assert!(error.contains("INVALID_AUTHENTICATION"), "{error}");
    assert!(error.contains("credentials"), "{error}");
    assert!(hub.snapshot().await.accounts.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_that_reaches_the_result_cap_goes_on_in_a_new_window() {
    let emulator = HubSpotEmulator::start(TOKEN).await.unwrap();
    // Four results per search stand in for HubSpot's 10,000.
    emulator.set_search_result_cap(4);
    for n in 1..=7 {
        emulator.put(
            ObjectType::Companies,
            portal::company(
                600 + n,
                T0 + i64::try_from(n).unwrap() * HOUR,
                &format!("Company {n}"),
                &format!("c{n}.example"),
            ),
        );
    }
    let hub = start(
        emulator,
        Options {
            settings: r#", search_result_limit = "4""#,
            ..Options::default()
        },
    )
    .await;
    let status = hub.first_sync().await;
    assert_eq!(status.last_error, None, "{status:?}\n{}", hub.daemon.log());
    let snapshot = hub.snapshot().await;
    assert_eq!(snapshot.accounts.len(), 7, "{snapshot:#?}");

    let pages: Vec<(Option<String>, Option<String>)> = hub
        .emulator
        .requests_to(COMPANIES)
        .iter()
        .map(|r: &Recorded| {
            assert_eq!(r.status, 200, "{r:?}");
            (r.search_since(), r.search_after())
        })
        .collect();
    let window = (T0 + 4 * HOUR).to_string();
    assert_eq!(
        pages,
        [
            (Some("0".to_owned()), None),
            (Some("0".to_owned()), Some("2".to_owned())),
            (Some(window.clone()), None),
            (Some(window), Some("2".to_owned())),
        ],
        "the window restarts at the fourth company's change instead of asking for after=4"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_won_deal_carrying_a_customers_referral_code_makes_its_company_a_referral() {
    let hub = start(
        emulator().await,
        Options {
            settings: ", referral_code_property = \"referral_code\"",
            ..Options::default()
        },
    )
    .await;
    let first = hub.first_sync().await;
    assert_eq!(first.last_error, None, "{first:?}\n{}", hub.daemon.log());
    let brandt = hub
        .snapshot()
        .await
        .account_known_as(SOURCE, "512")
        .unwrap()
        .id;
    let code = hub
        .get(&format!("/api/v1/accounts/{brandt}/referral-code"))
        .await["code"]
        .as_str()
        .unwrap()
        .to_owned();

    // A new company's first deal, closed won, carries Brandt's code,
    // padded as typed.
    hub.emulator.put(
        ObjectType::Companies,
        portal::company(
            516,
            T0 + 30 * HOUR,
            "Lindqvist Automation AB",
            "lindqvist.example",
        ),
    );
    hub.emulator.put(
        ObjectType::Deals,
        portal::deal(9006, T0 + 31 * HOUR, "500.00", true)
            .with("referral_code", &format!(" {code} ")),
    );
    hub.emulator.associate(
        (ObjectType::Deals, 9006),
        (ObjectType::Companies, 516),
        true,
    );
    hub.sync().await;
    for search in hub.emulator.requests_to(DEALS) {
        assert!(
            search.json()["properties"]
                .as_array()
                .unwrap()
                .contains(&json!("referral_code")),
            "{}",
            search.json()
        );
    }

    let snapshot = hub.snapshot().await;
    assert_eq!(balance(&snapshot, 516), 1000, "500.00 EUR earns as usual");
    let lindqvist = snapshot.account_known_as(SOURCE, "516").unwrap().id;
    let referrals = hub
        .get(&format!("/api/v1/accounts/{brandt}/referrals"))
        .await;
    let referred: Vec<i64> = referrals["referrals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["referred"].as_i64().unwrap())
        .collect();
    assert_eq!(referred, [lindqvist], "{referrals}");
}
