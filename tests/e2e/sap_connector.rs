//! The SAP S/4HANA connector end to end, against its emulator: the real
//! daemon polls the real `sap.wasm` component, which reads business
//! partners and sales orders over OData V2 from the loopback emulator and
//! writes pricing condition records through the host's CSRF handling.
//!
//! The connector polls only (S/4HANA publishes business events through SAP
//! Event Mesh), so there is no webhook test.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

use std::time::Duration;

use loyalty_e2e::daemon::admin::SyncStatus;
use loyalty_e2e::daemon::{Daemon, ProgramRules, Setup, Snapshot, random_token};
use loyalty_e2e::sap::emulator::PRICING_SERVICE;
use loyalty_e2e::sap::{
    BusinessPartner, EntitySet, Failure, SalesOrder, SalesOrderItem, SapEmulator, wire,
};
use serde_json::{Value, json};

const USER: &str = "LOYALTY_COMM";
const PASSWORD: &str = "Welcome1!";
/// 2026-05-01T08:00:00Z.
const T0: i64 = 1_777_622_400_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

/// The partners every test starts with: four organizations created a week
/// before `T0`, on different days, and one person.
fn partners() -> Vec<BusinessPartner> {
    let mut acme = BusinessPartner::organization("17100001", "Acme Industrie", T0 - 7 * DAY);
    acme.name2 = "GmbH".to_owned();
    acme.industry = "MACH".to_owned();
    acme.tax_numbers = vec![
        ("DE1".to_owned(), "21/815/08150".to_owned()),
        ("DE0".to_owned(), "DE123456789".to_owned()),
    ];
    acme.website = Some("https://www.acme-industrie.de/".to_owned());
    let mut bolt = BusinessPartner::organization("17100002", "Bolt Logistics", T0 - 6 * DAY);
    bolt.country = "fr".to_owned();
    bolt.email = Some("purchasing@gmail.com".to_owned());
    let mut cog = BusinessPartner::organization("17100003", "Cog Werke AG", T0 - 5 * DAY);
    cog.email = Some("einkauf@cog-werke.de".to_owned());
    let dyn_ = BusinessPartner::organization("17100004", "Dynamo Parts", T0 - 4 * DAY);
    let mut person = BusinessPartner::organization("17100009", "", T0 - 4 * DAY);
    person.category = "1".to_owned();
    vec![acme, bolt, cog, dyn_, person]
}

fn item(number: &str, material: &str, quantity: &str, net: &str) -> SalesOrderItem {
    SalesOrderItem::new(number, material, quantity, net)
}

/// Five orders, changed an hour apart from `T0`:
/// 1001 Acme 250.00 (500 points), 1002 Bolt 99.99 (199), 1003 Cog 40.00
/// (80), 1004 Acme 125.00 for 2.5 units (250), 1005 Dynamo 10.00 (20).
fn orders() -> Vec<SalesOrder> {
    vec![
        SalesOrder::new(
            "1001",
            "17100001",
            T0,
            vec![item("10", "TG11", "2", "250.00")],
        ),
        SalesOrder::new(
            "1002",
            "17100002",
            T0 + HOUR,
            vec![item("10", "TG12", "1", "99.99")],
        ),
        SalesOrder::new(
            "1003",
            "17100003",
            T0 + 2 * HOUR,
            vec![
                item("10", "TG11", "1", "15.00"),
                item("20", "TG13", "5", "25.00"),
            ],
        ),
        SalesOrder::new(
            "1004",
            "17100001",
            T0 + 3 * HOUR,
            vec![item("10", "BULK1", "2.5", "125.00")],
        ),
        SalesOrder::new(
            "1005",
            "17100004",
            T0 + 4 * HOUR,
            vec![item("10", "TG14", "1", "10.00")],
        ),
    ]
}

struct Harness {
    emulator: SapEmulator,
    daemon: Daemon,
    admin_token: String,
}

async fn emulator(server_page_size: usize) -> SapEmulator {
    let emulator = SapEmulator::start(USER, PASSWORD, server_page_size)
        .await
        .unwrap();
    for partner in partners() {
        emulator.put_partner(partner);
    }
    for order in orders() {
        emulator.put_order(order);
    }
    emulator
}

fn connector_toml(emulator: &SapEmulator, page_size: u32, extra: &str) -> String {
    let base = Value::from(emulator.base_url());
    format!(
        r#"
[connectors.sap]
plugin = {plugin}
allowed_hosts = [{base}]
settings = {{ base_url = {base}, sap_client = "100", sales_organization = "1010", distribution_channel = "10", amount_condition_type = "ZLOA" }}

[connectors.sap.poll]
interval_seconds = 3600
page_size = {page_size}

[connectors.sap.credentials.api]
inject = "basic"
username = "{USER}"
file = "secrets/sap_password"
hosts = [{base}]
csrf = true
{extra}"#,
        plugin = Value::from(loyalty_e2e::official_plugin("sap").to_string_lossy()),
    )
}

async fn start(emulator: SapEmulator, page_size: u32, password: &str, extra: &str) -> Harness {
    let setup = Setup {
        admin_token: random_token().unwrap(),
        program: ProgramRules::default(),
        shopify: None,
        extra_toml: connector_toml(&emulator, page_size, extra),
        secrets: vec![("sap_password".to_owned(), password.to_owned())],
    };
    let daemon = Daemon::start(&setup).await.unwrap();
    Harness {
        emulator,
        daemon,
        admin_token: setup.admin_token,
    }
}

impl Harness {
    /// Runs a sync to its end, waits until no sync runs (the daemon also
    /// syncs when it starts), and returns the snapshot then.
    async fn sync(&self) -> Snapshot {
        let status = self.daemon.admin().sync("sap").await.unwrap();
        assert_eq!(status.last_error, None, "{status:?}\n{}", self.daemon.log());
        self.idle().await;
        self.daemon.admin().snapshot().await.unwrap()
    }

    /// Waits until no sync of the connector runs.
    async fn idle(&self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while self
            .daemon
            .admin()
            .sync_status("sap")
            .await
            .unwrap()
            .running
        {
            assert!(
                std::time::Instant::now() < deadline,
                "{}",
                self.daemon.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn http(&self) -> (reqwest::Client, String) {
        (reqwest::Client::new(), self.daemon.base_url().to_owned())
    }

    /// Starts a sync without waiting for it.
    async fn start_sync(&self) {
        let (client, base) = self.http();
        let response = client
            .post(format!("{base}/api/v1/connectors/sap/sync"))
            .bearer_auth(&self.admin_token)
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{response:?}");
    }
}

fn balance(snapshot: &Snapshot, partner: &str) -> i64 {
    snapshot
        .balance_of("sap", partner)
        .unwrap_or_else(|| panic!("no account known to sap as {partner}: {snapshot:#?}"))
}

fn earn_entries(snapshot: &Snapshot, partner: &str) -> usize {
    snapshot.ledger_of("sap", partner).unwrap().entries.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_sync_reads_every_organization_and_order_across_pages() {
    // Three records per poll, two per server response: every query is
    // continued once through `__next`.
    let sap = start(emulator(2).await, 3, PASSWORD, "").await;
    let snapshot = sap.sync().await;

    assert_eq!(
        snapshot.accounts.len(),
        4,
        "the person is not an account: {snapshot:#?}"
    );
    let acme = snapshot.account_known_as("sap", "17100001").unwrap();
    assert_eq!(acme.name, "Acme Industrie GmbH");
    assert_eq!(
        acme.tax_id.as_deref(),
        Some("DE123456789"),
        "the VAT number wins"
    );
    assert_eq!(acme.domain.as_deref(), Some("acme-industrie.de"));
    assert_eq!(acme.industry.as_deref(), Some("MACH"));
    assert_eq!(acme.country.as_deref(), Some("DE"));
    let bolt = snapshot.account_known_as("sap", "17100002").unwrap();
    assert_eq!(bolt.domain, None, "free mail is no company's domain");
    assert_eq!(bolt.country.as_deref(), Some("FR"));
    let cog = snapshot.account_known_as("sap", "17100003").unwrap();
    assert_eq!(cog.domain.as_deref(), Some("cog-werke.de"));

    // Two points per euro, rounded down; SoldToParty and BusinessPartner
    // name the same account although only one is zero-padded.
    assert_eq!(balance(&snapshot, "17100001"), 500 + 250);
    assert_eq!(balance(&snapshot, "17100002"), 199);
    assert_eq!(balance(&snapshot, "17100003"), 80);
    assert_eq!(balance(&snapshot, "17100004"), 20);
    assert!(snapshot.dead_letters.is_empty());

    let requests = sap.emulator.requests();
    assert!(requests.iter().all(|r| r.status == 200), "{requests:#?}");
    assert!(
        requests
            .iter()
            .all(|r| r.param("sap-client").as_deref() == Some("100")),
        "every request names the client, `__next` links included"
    );
    let partner_pages = sap.emulator.requests_to(EntitySet::BusinessPartners);
    assert_eq!(
        partner_pages[0].param("$filter").as_deref(),
        Some(
            "BusinessPartnerCategory eq '2' and (LastChangeDate ge datetime'1970-01-01T00:00:00' or CreationDate ge datetime'1970-01-01T00:00:00')"
        )
    );
    assert!(
        partner_pages
            .iter()
            .any(|r| r.param("$skiptoken").is_some())
    );
    assert!(
        partner_pages
            .iter()
            .any(|r| r.param("$skip").as_deref() == Some("3"))
    );
    let order_pages = sap.emulator.requests_to(EntitySet::SalesOrders);
    assert!(
        order_pages.iter().any(|r| r.param("$skiptoken").is_some()),
        "relative `__next` links are followed"
    );
    assert_eq!(order_pages[0].param("$expand").as_deref(), Some("to_Item"));

    let status = sap.daemon.admin().sync_status("sap").await.unwrap();
    let cursor: Value = serde_json::from_str(status.cursor.as_deref().unwrap()).unwrap();
    assert_eq!(cursor["stage"], "partners");
    assert_eq!(cursor["orders"]["since_ms"], T0 + 4 * HOUR);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incremental_sync_reads_only_what_changed_after_the_cursor() {
    let sap = start(emulator(50).await, 50, PASSWORD, "").await;
    let before = sap.sync().await;
    let seen = sap.emulator.requests().len();

    let later = T0 + 2 * DAY;
    let mut bolt = partners().remove(1);
    bolt.name1 = "Bolt Logistics International".to_owned();
    bolt.changed_ms = Some(later);
    sap.emulator.put_partner(bolt);
    sap.emulator.put_order(SalesOrder::new(
        "1006",
        "17100003",
        later + HOUR,
        vec![item("10", "TG11", "4", "100.00")],
    ));
    let after = sap.sync().await;

    let new_requests = &sap.emulator.requests()[seen..];
    let partner_filter = new_requests
        .iter()
        .find(|r| r.is_to(EntitySet::BusinessPartners))
        .and_then(|r| r.param("$filter"))
        .unwrap();
    // The newest partner of the first sync was Dynamo (and the person),
    // created on 2026-04-27.
    assert!(
        partner_filter.contains("ge datetime'2026-04-27T00:00:00'"),
        "{partner_filter}"
    );
    let order_request = new_requests
        .iter()
        .find(|r| r.is_to(EntitySet::SalesOrders))
        .unwrap();
    assert_eq!(
        order_request.param("$filter").as_deref(),
        Some("LastChangeDateTime ge datetimeoffset'2026-05-01T12:00:00.000Z'"),
        "the orders continue from the newest order read"
    );
    assert_eq!(
        order_request.param("$skip").as_deref(),
        Some("1"),
        "the order read at that instant is skipped"
    );

    assert_eq!(
        after.account_known_as("sap", "17100002").unwrap().name,
        "Bolt Logistics International"
    );
    assert_eq!(
        balance(&after, "17100003"),
        80 + 200,
        "the new order 1006 earned"
    );
    for unchanged in ["17100001", "17100002", "17100004"] {
        assert_eq!(
            after.ledger_of("sap", unchanged),
            before.ledger_of("sap", unchanged),
            "no new entries for {unchanged}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_killed_between_pages_resumes_from_the_committed_cursor() {
    let emulator = emulator(50).await;
    // Partners take three pages; hold the second page of orders of the
    // first sync (the daemon syncs when it starts).
    let gate = emulator.hold(EntitySet::SalesOrders, 1);
    let sap = start(emulator, 2, PASSWORD, "").await;
    sap.start_sync().await;
    tokio::time::timeout(Duration::from_secs(30), gate.arrived())
        .await
        .expect("the second page of orders is asked for");

    let at_orders = |s: &SyncStatus| {
        s.cursor
            .as_deref()
            .and_then(|c| serde_json::from_str::<Value>(c).ok())
            .is_some_and(|c| c["stage"] == "orders" && c["orders"]["since_ms"] == T0 + HOUR)
    };
    let status = sap
        .daemon
        .admin()
        .sync_committed("sap", at_orders)
        .await
        .unwrap();
    let cursor: Value = serde_json::from_str(status.cursor.as_deref().unwrap()).unwrap();
    assert_eq!(cursor["stage"], "orders");
    assert_eq!(cursor["orders"]["since_ms"], T0 + HOUR, "{cursor}");
    let committed = sap.daemon.admin().snapshot().await.unwrap();
    assert_eq!(
        balance(&committed, "17100001"),
        500,
        "the first page of orders is committed"
    );

    sap.daemon.kill().unwrap();
    gate.release();
    let before_restart = sap.emulator.requests().len();
    sap.daemon.restart().await.unwrap();
    let snapshot = sap.sync().await;

    let resumed = sap.emulator.requests()[before_restart..]
        .iter()
        .find(|r| r.is_to(EntitySet::SalesOrders))
        .cloned()
        .unwrap();
    assert_eq!(
        resumed.param("$filter").as_deref(),
        Some("LastChangeDateTime ge datetimeoffset'2026-05-01T09:00:00.000Z'")
    );
    assert_eq!(resumed.param("$skip").as_deref(), Some("1"));
    assert_eq!(balance(&snapshot, "17100001"), 750);
    assert_eq!(balance(&snapshot, "17100002"), 199);
    assert_eq!(balance(&snapshot, "17100003"), 80);
    assert_eq!(balance(&snapshot, "17100004"), 20);
    assert_eq!(earn_entries(&snapshot, "17100001"), 2, "nothing doubled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_is_waited_out_and_a_server_error_retried() {
    let emulator = emulator(50).await;
    emulator.fail_next(
        EntitySet::SalesOrders,
        Failure::TooManyRequests {
            retry_after_seconds: 2,
        },
    );
    emulator.fail_next(EntitySet::BusinessPartners, Failure::ServerError);
    let sap = start(emulator, 50, PASSWORD, "").await;
    let snapshot = sap.sync().await;
    assert_eq!(balance(&snapshot, "17100001"), 750);

    let partner_requests = sap.emulator.requests_to(EntitySet::BusinessPartners);
    assert_eq!(partner_requests[0].status, 500);
    assert_eq!(partner_requests[1].status, 200, "retried");
    let order_requests = sap.emulator.requests_to(EntitySet::SalesOrders);
    assert_eq!(order_requests[0].status, 429);
    assert_eq!(order_requests[1].status, 200);
    let waited = order_requests[1].at - order_requests[0].at;
    assert!(
        waited >= Duration::from_secs(2),
        "retried after {waited:?}, before Retry-After"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_items_earn_nothing_and_a_fully_rejected_order_is_cancelled() {
    let emulator = emulator(50).await;
    emulator.put_order(SalesOrder::new(
        "2001",
        "17100004",
        T0 + 5 * HOUR,
        vec![
            item("10", "TG11", "1", "100.00"),
            item("20", "TG12", "3", "300.00").rejected("02"),
        ],
    ));
    let sap = start(emulator, 50, PASSWORD, "").await;
    let snapshot = sap.sync().await;
    // 1005: 10.00, 2001: 100.00 of its 400.00.
    assert_eq!(balance(&snapshot, "17100004"), 20 + 200);

    sap.emulator.update_order("1003", |order| {
        for item in &mut order.items {
            item.rejection_reason = "50".to_owned();
        }
        order.update_rejection_status();
        order.changed_ms = T0 + DAY;
    });
    let snapshot = sap.sync().await;
    assert_eq!(
        balance(&snapshot, "17100003"),
        0,
        "the 80 points of 1003 are reversed"
    );
    let ledger = snapshot.ledger_of("sap", "17100003").unwrap();
    assert_eq!(
        ledger.of_kind("reverse").map(|e| e.points).sum::<i64>(),
        -80
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_order_stops_the_sync_with_an_error_naming_it() {
    let emulator = emulator(50).await;
    emulator.update_order("1003", |order| {
        order.items[1].net_amount = "25,00".to_owned()
    });
    let sap = start(emulator, 2, PASSWORD, "").await;
    let status = sap.daemon.admin().sync("sap").await.unwrap();
    let error = status.last_error.unwrap_or_default();
    assert!(error.contains("SalesOrder `1003`"), "{error}");
    assert!(
        error.contains("NetAmount") && error.contains("25,00"),
        "{error}"
    );

    let snapshot = sap.daemon.admin().snapshot().await.unwrap();
    assert_eq!(snapshot.accounts.len(), 4, "the pages before it are kept");
    assert_eq!(balance(&snapshot, "17100001"), 500);

    sap.emulator.update_order("1003", |order| {
        order.items[1].net_amount = "25.00".to_owned()
    });
    let snapshot = sap.sync().await;
    assert_eq!(balance(&snapshot, "17100003"), 80);
    assert_eq!(balance(&snapshot, "17100001"), 750);
}

/// Runs `loyaltyd backfill sap` beside the daemon; returns whether it
/// succeeded and what it printed.
fn backfill(sap: &Harness, since: &str) -> (bool, String) {
    let output = std::process::Command::new(loyalty_e2e::loyaltyd_binary())
        .args(["backfill", "sap", "--since", since, "--config"])
        .arg(sap.daemon.config_path())
        .current_dir(sap.daemon.dir())
        .output()
        .unwrap();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), printed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_backfill_keeps_its_pages_and_resumes_after_the_fix() {
    let emulator = emulator(50).await;
    let sap = start(emulator, 2, PASSWORD, "").await;
    let before = sap.sync().await;

    // History has a bad order: the backfill stops there, keeping the pages
    // before it, and says how to go on.
    sap.emulator.update_order("1003", |order| {
        order.items[1].net_amount = "25,00".to_owned()
    });
    let (ok, printed) = backfill(&sap, "2026-01-01");
    assert!(!ok, "{printed}");
    assert!(
        printed.contains("stopped after") && printed.contains("SalesOrder `1003`"),
        "{printed}"
    );
    assert!(
        printed.contains("run the same command again to resume"),
        "{printed}"
    );

    sap.emulator.update_order("1003", |order| {
        order.items[1].net_amount = "25.00".to_owned()
    });
    let (ok, printed) = backfill(&sap, "2026-01-01");
    assert!(ok, "{printed}");
    assert!(printed.contains("resuming after"), "{printed}");
    assert!(printed.contains("backfill of `sap` finished"), "{printed}");

    // Records the sync had already applied change nothing.
    let after = sap.daemon.admin().snapshot().await.unwrap();
    assert_eq!(after.accounts.len(), before.accounts.len());
    assert_eq!(
        balance(&after, "17100001"),
        balance(&before, "17100001"),
        "nothing counted twice"
    );
    assert!(after.dead_letters.is_empty(), "{:?}", after.dead_letters);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_reported_as_unauthorized() {
    let sap = start(emulator(50).await, 50, "not-the-password", "").await;
    let status = sap.daemon.admin().sync("sap").await.unwrap();
    let error = status.last_error.unwrap_or_default();
    assert!(
        error.to_lowercase().contains("unauthorized") && error.contains("401"),
        "{error}"
    );
    let refused = sap.emulator.requests();
    assert!(refused.iter().all(|r| r.status == 401));
}

/// The account ids the daemon gave the partners.
fn internal_ids(snapshot: &Snapshot, partners: &[&str]) -> Vec<i64> {
    partners
        .iter()
        .map(|p| snapshot.account_known_as("sap", p).unwrap().id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_offer_becomes_condition_records_written_with_the_hosts_csrf_token() {
    let sap = start(emulator(50).await, 50, PASSWORD, "").await;
    let snapshot = sap.sync().await;
    // Dynamo is archived in SAP after the sync: SAP refuses its record.
    sap.emulator.remove_partner("17100004");
    // The host's clock is the real one: the offer ends in 60 days.
    let now_ms = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    let ends_at = wire::day_of(now_ms) + 60 * DAY;
    let accounts = internal_ids(&snapshot, &["17100001", "17100002", "17100004"]);
    let answer = sap
        .daemon
        .admin()
        .push_campaign(
            "sap",
            &json!({"campaign_id": "spring-2026", "name": "Spring offer",
                    "offer": {"id": "spring10", "code": "SPRING10", "percent_off": "10", "ends_at": ends_at},
                    "accounts": accounts}),
        )
        .await
        .unwrap();
    let batch = &answer["batches"][0];
    assert_eq!(batch["accepted"], 2, "{answer}");
    assert_eq!(batch["rejected"][0]["account_id"], "17100004", "{answer}");
    let reason = batch["rejected"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("not defined for sales area 1010/10"),
        "SAP's message: {reason}"
    );

    let records = sap.emulator.condition_records();
    assert_eq!(records.len(), 2);
    let acme = records
        .iter()
        .find(|r| r.body["Customer"] == "17100001")
        .unwrap();
    assert_eq!(acme.body["ConditionType"], "ZLOY");
    assert_eq!(acme.body["SalesOrganization"], "1010");
    assert_eq!(acme.body["DistributionChannel"], "10");
    assert_eq!(
        acme.body["to_SlsPrcgConditionRecord"]["ConditionRateValue"],
        "10"
    );
    assert_eq!(
        acme.body["to_SlsPrcgConditionRecord"]["ConditionRateValueUnit"],
        "%"
    );
    // The offer ends at midnight: its last day is the day before.
    assert_eq!(
        acme.body["ConditionValidityEndDate"],
        wire::date(wire::day_of(ends_at - 1))
    );

    // The host fetched the token at the service root and sent it, with the
    // session cookie, on every write.
    let requests = sap.emulator.requests();
    let fetch = requests
        .iter()
        .position(|r| {
            r.header("x-csrf-token")
                .is_some_and(|v| v.eq_ignore_ascii_case("fetch"))
        })
        .unwrap();
    assert_eq!(requests[fetch].method, "GET");
    assert_eq!(requests[fetch].path, format!("{PRICING_SERVICE}/"));
    let writes = sap.emulator.requests_to(EntitySet::ConditionRecords);
    assert_eq!(writes.len(), 3);
    let tokens = sap.emulator.csrf_tokens();
    for write in &writes {
        assert!(write.at > requests[fetch].at);
        assert!(
            tokens
                .iter()
                .any(|t| Some(t.as_str()) == write.header("x-csrf-token")),
            "{write:?}"
        );
        assert!(
            write
                .header("cookie")
                .unwrap_or_default()
                .contains("SAP_SESSIONID_XXX_100=")
        );
    }

    // The session times out: the host fetches a new token once and repeats
    // the refused write.
    sap.emulator.expire_csrf_tokens();
    let answer = sap
        .daemon
        .admin()
        .push_campaign(
            "sap",
            &json!({"campaign_id": "summer-2026", "name": "Summer offer",
                    "offer": {"id": "summer5", "percent_off": "5"},
                    "accounts": [accounts[0]]}),
        )
        .await
        .unwrap();
    assert_eq!(answer["batches"][0]["accepted"], 1, "{answer}");
    let writes = sap.emulator.requests_to(EntitySet::ConditionRecords);
    assert_eq!(writes.len(), 5);
    assert_eq!(writes[3].status, 403);
    assert_eq!(writes[4].status, 201);
    assert_ne!(
        writes[3].header("x-csrf-token"),
        writes[4].header("x-csrf-token")
    );
    let records = sap.emulator.condition_records();
    assert_eq!(records.len(), 3);
    assert_eq!(
        records[2].body["ConditionValidityEndDate"],
        "/Date(253402214400000)/"
    );

    // Pushing a campaign again writes nothing new.
    sap.daemon
        .admin()
        .push_campaign(
            "sap",
            &json!({"campaign_id": "spring-2026", "name": "Spring offer",
                    "offer": {"id": "spring10", "percent_off": "10", "ends_at": ends_at},
                    "accounts": accounts}),
        )
        .await
        .unwrap();
    assert_eq!(sap.emulator.condition_records().len(), 3);
}

const REWARDS: &str = r#"
[[program.rewards]]
id = "discount-50"
name = "50 EUR off your next order"
kind = "discount"
points = 300
value = { amount = "50.00", currency = "EUR" }
connector = "sap"

[[program.rewards]]
id = "gift-card-25"
name = "Gift card worth 25 EUR"
kind = "gift_card"
points = 100
value = { amount = "25.00", currency = "EUR" }
connector = "sap"
"#;

async fn redeem(sap: &Harness, account: i64, reward: &str) -> i64 {
    let (client, base) = sap.http();
    let response = client
        .post(format!("{base}/api/v1/accounts/{account}/redemptions"))
        .bearer_auth(&sap.admin_token)
        .header("Idempotency-Key", format!("redeem-{reward}"))
        .header("content-type", "application/json")
        .body(json!({ "reward": reward }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    body["id"].as_i64().unwrap()
}

async fn settled(sap: &Harness, account: i64, id: i64) -> Value {
    let (client, base) = sap.http();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let response = client
            .get(format!("{base}/api/v1/accounts/{account}/redemptions"))
            .bearer_auth(&sap.admin_token)
            .send()
            .await
            .unwrap();
        let list: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
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
            "{redemption}\n{}",
            sap.daemon.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_discount_reward_becomes_a_condition_record_and_other_kinds_are_refused() {
    let sap = start(emulator(50).await, 50, PASSWORD, REWARDS).await;
    let snapshot = sap.sync().await;
    let acme = snapshot.account_known_as("sap", "17100001").unwrap().id;

    let discount = redeem(&sap, acme, "discount-50").await;
    let redemption = settled(&sap, acme, discount).await;
    assert_eq!(redemption["status"], "fulfilled", "{redemption}");
    let records = sap.emulator.condition_records();
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert!(
        redemption["detail"]
            .as_str()
            .unwrap()
            .contains(record.number.trim_start_matches('0')),
        "the condition record is the external id: {redemption}"
    );
    assert_eq!(record.body["Customer"], "17100001");
    assert_eq!(
        record.body["ConditionType"], "ZLOA",
        "amounts use amount_condition_type"
    );
    assert_eq!(
        record.body["to_SlsPrcgConditionRecord"]["ConditionRateValue"],
        "50"
    );
    assert_eq!(
        record.body["to_SlsPrcgConditionRecord"]["ConditionRateValueUnit"],
        "EUR"
    );

    let card = redeem(&sap, acme, "gift-card-25").await;
    let redemption = settled(&sap, acme, card).await;
    assert_eq!(redemption["status"], "failed", "{redemption}");
    assert!(
        redemption["detail"].as_str().unwrap().contains("gift-card"),
        "{redemption}"
    );
    assert_eq!(sap.emulator.condition_records().len(), 1);
    // 750 earned, 300 redeemed, the gift card's 100 released.
    let ledger = sap.daemon.admin().snapshot().await.unwrap();
    assert_eq!(balance(&ledger, "17100001"), 450);
}
