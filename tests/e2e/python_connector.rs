//! The connector contract is not Rust's: the Python example connector
//! (`examples/connector-python`, built with componentize-py) syncs
//! organizations and won deals from a loopback Pipedrive emulator into the
//! real daemon, with the API token injected by the host.
//!
//! Program: 2 points per EUR, rounded down, USD at 0.92 EUR. The sample
//! company is in [`company`]; its points are worked out there.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

use std::process::Command;
use std::time::{Duration, Instant};

use loyalty_e2e::daemon::admin::SyncStatus;
use loyalty_e2e::daemon::{Daemon, ProgramRules, Setup, Snapshot, random_token};
use loyalty_e2e::pipedrive::{
    Deal, DealStatus, OrgLink, Organization, PipedriveEmulator, python_component,
};
use serde_json::{Value, json};

const SOURCE: &str = "pipedrive";
const TOKEN: &str = "3f1c0e8a9b2d4c6e8f0a1b3c5d7e9f1a2b4c6d8e";

/// The sample company: four organizations and seven deals, of which five
/// are won. Pages of two records.
///
/// | deal | organization | value | points |
/// |---|---|---|---|
/// | 201, won | 101 (as an object) | 1234.56 EUR | floor(2469.12) = 2469 |
/// | 202, won | 102 (as a number) | 500 USD = 460.00 EUR | 920 |
/// | 203, open | 103 | 300.00 EUR | not read |
/// | 204, lost | 103 | 800.00 EUR | not read |
/// | 205, won | 101 | 99.99 EUR | floor(199.98) = 199 |
/// | 206, won | 104 | 999999999999999.99 EUR | 1999999999999999 |
/// | 207, won | none | 50.00 EUR | stored, earns nothing |
///
/// Deal 206's value has 17 significant digits: read through a float it
/// would become 1000000000000000.0 and earn 2000000000000000.
mod company {
    use super::*;

    pub fn organization(id: u64, name: &str, update_time: &str) -> Organization {
        Organization {
            id,
            name: name.to_owned(),
            update_time: update_time.to_owned(),
        }
    }

    pub fn deal(id: u64, org: Option<OrgLink>, value: &str, currency: &str) -> Deal {
        Deal {
            id,
            title: format!("Deal {id}"),
            org,
            value: value.parse().unwrap(),
            currency: currency.to_owned(),
            status: DealStatus::Won,
            won_time: Some("2026-11-02 10:15:00".to_owned()),
            update_time: "2026-11-02 10:15:07".to_owned(),
        }
    }

    pub fn load(emulator: &PipedriveEmulator) {
        for (id, name) in [
            (101, "Brandt Maschinenbau GmbH"),
            (102, "Nordwind Logistik AG"),
            (103, "Keller Werkzeuge KG"),
            (104, "Hanse Rahmenvertrag AG"),
        ] {
            emulator.put_organization(organization(id, name, "2026-10-01 08:30:00"));
        }
        emulator.put_deal(deal(201, Some(OrgLink::Object(101)), "1234.56", "EUR"));
        emulator.put_deal(deal(202, Some(OrgLink::Number(102)), "500", "USD"));
        emulator.put_deal(Deal {
            status: DealStatus::Open,
            won_time: None,
            ..deal(203, Some(OrgLink::Object(103)), "300.00", "EUR")
        });
        emulator.put_deal(Deal {
            status: DealStatus::Lost,
            won_time: None,
            ..deal(204, Some(OrgLink::Object(103)), "800.00", "EUR")
        });
        emulator.put_deal(deal(205, Some(OrgLink::Object(101)), "99.99", "EUR"));
        emulator.put_deal(deal(
            206,
            Some(OrgLink::Object(104)),
            "999999999999999.99",
            "EUR",
        ));
        emulator.put_deal(deal(207, None, "50.00", "EUR"));
    }
}

struct Harness {
    emulator: PipedriveEmulator,
    daemon: Daemon,
}

async fn start(token: &str) -> Harness {
    let emulator = PipedriveEmulator::start(TOKEN).await.unwrap();
    company::load(&emulator);
    let base = Value::from(emulator.base_url());
    let setup = Setup {
        admin_token: random_token().unwrap(),
        program: ProgramRules::default(),
        shopify: None,
        extra_toml: format!(
            r#"
[connectors.{SOURCE}]
plugin = {plugin}
allowed_hosts = [{base}]
allow_private_networks = true
settings = {{ base_url = {base} }}

[connectors.{SOURCE}.credentials.api]
file = "secrets/pipedrive_token"
inject = "header"
header = "x-api-token"
hosts = [{base}]

[connectors.{SOURCE}.poll]
interval_seconds = 3600
page_size = 2
"#,
            plugin = Value::from(python_component().to_string_lossy()),
        ),
        secrets: vec![("pipedrive_token".to_owned(), token.to_owned())],
    };
    let daemon = Daemon::start(&setup).await.unwrap();
    Harness { emulator, daemon }
}

impl Harness {
    /// Waits for the sync the daemon runs when it starts to end (no sync is
    /// requested meanwhile, so none is queued behind it).
    async fn first_sync(&self) -> SyncStatus {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let status = self.daemon.admin().sync_status(SOURCE).await.unwrap();
            if !status.running && status.completed + status.failures > 0 {
                return status;
            }
            assert!(
                Instant::now() < deadline,
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
}

fn balance(snapshot: &Snapshot, organization: u64) -> i64 {
    snapshot
        .balance_of(SOURCE, &organization.to_string())
        .unwrap_or_else(|| panic!("no account known to pipedrive as {organization}: {snapshot:#?}"))
}

/// Points, amount, currency and exchange rate of an earn entry.
type Earn = (i64, Option<String>, Option<String>, Option<String>);

/// The earn entries of a deal, over every account.
fn earns_of(snapshot: &Snapshot, deal: u64) -> Vec<Earn> {
    snapshot
        .ledgers
        .values()
        .flat_map(|l| l.of_kind("earn"))
        .filter(|e| e.reference == deal.to_string())
        .map(|e| {
            (
                e.points,
                e.amount.clone(),
                e.currency.clone(),
                e.rate.clone(),
            )
        })
        .collect()
}

/// One earn entry.
fn earn(points: i64, amount: &str, currency: &str, rate: &str) -> Vec<Earn> {
    let text = |s: &str| Some(s.to_owned());
    vec![(points, text(amount), text(currency), text(rate))]
}

fn assert_sample(snapshot: &Snapshot) {
    let mut names: Vec<&str> = snapshot.accounts.iter().map(|a| a.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "Brandt Maschinenbau GmbH",
            "Hanse Rahmenvertrag AG",
            "Keller Werkzeuge KG",
            "Nordwind Logistik AG"
        ],
        "{snapshot:#?}"
    );
    assert_eq!(balance(snapshot, 101), 2469 + 199);
    assert_eq!(balance(snapshot, 102), 920);
    assert_eq!(balance(snapshot, 103), 0, "open and lost deals do not earn");
    assert_eq!(balance(snapshot, 104), 1_999_999_999_999_999);
    assert_eq!(earns_of(snapshot, 201), earn(2469, "1234.56", "EUR", "1"));
    assert_eq!(earns_of(snapshot, 205), earn(199, "99.99", "EUR", "1"));
    assert_eq!(
        earns_of(snapshot, 206),
        earn(1_999_999_999_999_999, "999999999999999.99", "EUR", "1")
    );
    assert_eq!(earns_of(snapshot, 202), earn(920, "500", "USD", "0.92"));
    for deal in [203, 204, 207] {
        assert!(
            earns_of(snapshot, deal).is_empty(),
            "deal {deal} earns nothing"
        );
    }
    assert!(
        snapshot.dead_letters.is_empty(),
        "{:#?}",
        snapshot.dead_letters
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_connector_syncs_organizations_and_won_deals_exactly_once() {
    let pd = start(TOKEN).await;
    let first = pd.first_sync().await;
    assert_eq!(first.last_error, None, "{first:?}\n{}", pd.daemon.log());
    // Four organizations and five won deals in pages of two: 2 + 3 pages.
    assert_eq!((first.pages, first.events), (5, 9), "{first:?}");
    let cursor: Value = serde_json::from_str(first.cursor.as_deref().unwrap()).unwrap();
    assert_eq!(cursor, json!({"phase": "organizations", "start": 0}));
    let snapshot = pd.snapshot().await;
    assert_sample(&snapshot);

    // The host injected the token; the connector never put it in a URL.
    let requests = pd.emulator.requests();
    let pages: Vec<String> = requests
        .iter()
        .map(|r| {
            let query: Vec<String> = r.query.iter().map(|(n, v)| format!("{n}={v}")).collect();
            format!("{}?{}", r.path, query.join("&"))
        })
        .collect();
    assert_eq!(
        pages,
        [
            "/v1/organizations?start=0&limit=2",
            "/v1/organizations?start=2&limit=2",
            "/v1/deals?start=0&limit=2&status=won",
            "/v1/deals?start=2&limit=2&status=won",
            "/v1/deals?start=4&limit=2&status=won",
        ]
    );
    for request in &requests {
        assert_eq!(request.token_header.as_deref(), Some(TOKEN), "{request:?}");
        assert_eq!(request.status, 200, "{request:?}");
    }

    // A second cycle reads everything again and changes nothing.
    let second = pd.sync().await;
    assert_eq!(
        (second.pages, second.events),
        (10, 18),
        "the second sync reads every page again: {second:?}"
    );
    assert_eq!(
        pd.snapshot().await,
        snapshot,
        "a re-sync counts nothing twice"
    );

    // A new won deal and a renamed organization arrive with the next cycle;
    // what was there before still earns once.
    pd.emulator.put_deal(company::deal(
        208,
        Some(OrgLink::Object(102)),
        "10.01",
        "EUR",
    ));
    pd.emulator.put_organization(company::organization(
        103,
        "Keller Werkzeuge GmbH & Co. KG",
        "2026-11-03 09:00:00",
    ));
    pd.sync().await;
    let after = pd.snapshot().await;
    assert_eq!(balance(&after, 102), 920 + 20);
    assert_eq!(earns_of(&after, 208), earn(20, "10.01", "EUR", "1"));
    assert_eq!(
        after.account_known_as(SOURCE, "103").unwrap().name,
        "Keller Werkzeuge GmbH & Co. KG"
    );
    for deal in [201, 202, 205, 206] {
        assert_eq!(
            earns_of(&after, deal),
            earns_of(&snapshot, deal),
            "deal {deal}"
        );
    }
    assert_eq!(balance(&after, 101), 2469 + 199);
    assert_eq!(balance(&after, 104), 1_999_999_999_999_999);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_pipedrive_refuses_fails_the_sync_as_unauthorized() {
    let pd = start("0000000000000000000000000000000000000000").await;
    let status = pd.first_sync().await;
    let error = status.last_error.clone().unwrap_or_default();
    assert!(
        error.contains("unauthorized") && error.contains("401"),
        "{status:?}\n{}",
        pd.daemon.log()
    );
    assert_eq!(status.completed, 0, "{status:?}");
    assert!(pd.snapshot().await.accounts.is_empty());
    let requests = pd.emulator.requests();
    assert!(!requests.is_empty());
    assert!(requests.iter().all(|r| r.status == 401), "{requests:?}");
}

#[test]
fn plugins_inspect_reads_the_python_component() {
    let output = Command::new(loyalty_e2e::loyaltyd_binary())
        .args(["plugins", "inspect"])
        .arg(python_component())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let field = |name: &str| {
        stdout
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .map(str::trim)
            .unwrap_or_else(|| panic!("no `{name}` in\n{stdout}"))
    };
    assert_eq!(field("contract:"), "loyalty:connector@0.2.0");
    assert_eq!(field("connector:"), "pipedrive-py 0.1.0");
    assert_eq!(field("credentials:"), "api");
    assert_eq!(field("secrets:"), "-");
    assert_eq!(
        field("hosts:"),
        "https://api.pipedrive.com, https://*.pipedrive.com, {base_url}"
    );
    assert!(
        field("setting:").starts_with("base_url (optional): "),
        "{stdout}"
    );
}
