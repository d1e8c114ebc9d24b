//! A released contract stays runnable: `legacy` (`tests/components/legacy`),
//! built with `wit-bindgen` straight from the frozen `wit/since_v0.1.0`,
//! loads in today's `loyaltyd` and syncs organizations from the Pipedrive
//! emulator, with its API token injected by the host and its address named
//! the 0.1.0 way (a `{base_url}` host entry); its signed webhooks are
//! accepted and its forged ones refused. In the same daemon `echo`, built
//! with the SDK on the newest contract, keeps working.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use loyalty_e2e::daemon::admin::SyncStatus;
use loyalty_e2e::daemon::{Daemon, ProgramRules, Setup, Snapshot, random_token};
use loyalty_e2e::pipedrive::{Organization, PipedriveEmulator};
use loyalty_e2e::{loyaltyd_binary, repo_root, test_component};
use serde_json::{Value, json};
use sha2::Sha256;

const LEGACY: &str = "legacy";
const ECHO: &str = "echo";
const TOKEN: &str = "9c2e4a6b8d0f1e3a5c7b9d1f2a4c6e8b0d2f4a6c";
const LEGACY_SECRET: &str = "legacy-signing-secret";
const ECHO_SECRET: &str = "echo-signing-secret";

/// The sample company: three organizations, read in pages of two.
fn organizations() -> [Organization; 3] {
    let organization = |id: u64, name: &str| Organization {
        id,
        name: name.to_owned(),
        update_time: "2026-10-01 08:30:00".to_owned(),
    };
    [
        organization(101, "Brandt Maschinenbau GmbH"),
        organization(102, "Nordwind Logistik AG"),
        organization(103, "Keller Werkzeuge KG"),
    ]
}

/// The base64 HMAC-SHA256 of `body` under `secret`, as both connectors
/// check it.
fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// `loyaltyd ARGS`; fails the test unless it exits 0. Returns its stdout.
fn loyaltyd(args: &[&str], path: &Path) -> String {
    let output = Command::new(loyaltyd_binary())
        .args(args)
        .arg(path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "loyaltyd {args:?} {}: {}\n{stdout}\n{}",
        path.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The newest contract version in `wit/` (`since_v0.2.0` is `0.2.0`),
/// which the SDK builds against.
fn newest_contract() -> String {
    std::fs::read_dir(repo_root().join("wit"))
        .unwrap()
        .filter_map(|entry| {
            let name = entry.unwrap().file_name().into_string().ok()?;
            let version = name.strip_prefix("since_v")?.to_owned();
            let key: Vec<u64> = version.split('.').map(|n| n.parse().unwrap()).collect();
            Some((key, version))
        })
        .max()
        .map(|(_, version)| version)
        .expect("no since_vX.Y.Z folder in wit/")
}

struct Harness {
    emulator: PipedriveEmulator,
    daemon: Daemon,
    http: reqwest::Client,
}

async fn start() -> Harness {
    let emulator = PipedriveEmulator::start(TOKEN).await.unwrap();
    for organization in organizations() {
        emulator.put_organization(organization);
    }
    let base = Value::from(emulator.base_url());
    let setup = Setup {
        admin_token: random_token().unwrap(),
        program: ProgramRules::default(),
        shopify: None,
        extra_toml: format!(
            r#"
[connectors.{LEGACY}]
plugin = {legacy}
allowed_hosts = [{base}]
allow_private_networks = true
settings = {{ base_url = {base} }}

[connectors.{LEGACY}.credentials.api]
file = "secrets/pipedrive_token"
inject = "header"
header = "x-api-token"
hosts = [{base}]

[connectors.{LEGACY}.secrets.webhook]
file = "secrets/legacy_webhook"

[connectors.{LEGACY}.poll]
interval_seconds = 3600
page_size = 2

[connectors.{ECHO}]
plugin = {echo}

[connectors.{ECHO}.secrets.webhook]
file = "secrets/echo_webhook"
"#,
            legacy = Value::from(test_component(LEGACY).to_string_lossy()),
            echo = Value::from(test_component(ECHO).to_string_lossy()),
        ),
        secrets: vec![
            ("pipedrive_token".to_owned(), TOKEN.to_owned()),
            ("legacy_webhook".to_owned(), LEGACY_SECRET.to_owned()),
            ("echo_webhook".to_owned(), ECHO_SECRET.to_owned()),
        ],
    };
    let daemon = Daemon::start(&setup).await.unwrap();
    Harness {
        emulator,
        daemon,
        http: reqwest::Client::new(),
    }
}

impl Harness {
    /// Waits for the sync the daemon runs when it starts to end (no sync is
    /// requested meanwhile, so none is queued behind it).
    async fn first_sync(&self) -> SyncStatus {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let status = self.daemon.admin().sync_status(LEGACY).await.unwrap();
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

    /// Posts a webhook to `connector` with its delivery id and a signature
    /// in `signature_header`; returns the status and the answer's
    /// `status` field.
    async fn webhook(
        &self,
        connector: &str,
        delivery: &str,
        signature_header: &str,
        signature: &str,
        body: &str,
    ) -> (u16, Option<String>) {
        let response = self
            .http
            .post(format!("{}/webhooks/{connector}", self.daemon.base_url()))
            .header("x-delivery-id", delivery)
            .header(signature_header, signature)
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let answer: Value =
            serde_json::from_str(&response.text().await.unwrap()).unwrap_or_default();
        (status, answer["status"].as_str().map(str::to_owned))
    }

    async fn snapshot(&self) -> Snapshot {
        self.daemon.admin().snapshot().await.unwrap()
    }
}

/// The names of the accounts `source` knows, by its id.
fn known_to(snapshot: &Snapshot, source: &str) -> Vec<(String, String)> {
    let mut known: Vec<(String, String)> = snapshot
        .accounts
        .iter()
        .flat_map(|a| {
            a.external_refs
                .iter()
                .filter(|r| r.source == source)
                .map(|r| (r.id.clone(), a.name.clone()))
        })
        .collect();
    known.sort();
    known
}

#[test]
fn plugins_inspect_reads_the_legacy_component_as_contract_0_1_0() {
    let stdout = loyaltyd(&["plugins", "inspect"], &test_component(LEGACY));
    let field = |name: &str| {
        stdout
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .map(str::trim)
            .unwrap_or_else(|| panic!("no `{name}` in\n{stdout}"))
    };
    assert_eq!(field("contract:"), "loyalty:connector@0.1.0");
    assert_eq!(field("connector:"), "legacy 0.1.0");
    assert_eq!(field("hosts:"), "{base_url}");
    assert_eq!(field("credentials:"), "api");
    assert_eq!(field("secrets:"), "webhook");
    assert!(
        field("setting:").starts_with("base_url (required): "),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_0_1_0_component_syncs_and_takes_webhooks_beside_an_sdk_component() {
    let h = start().await;

    // The first sync reads the three organizations in two pages, with the
    // token the host injected for the host the `{base_url}` entry names.
    let first = h.first_sync().await;
    assert_eq!(first.last_error, None, "{first:?}\n{}", h.daemon.log());
    assert_eq!((first.pages, first.events), (2, 3), "{first:?}");
    assert_eq!(
        first.cursor.as_deref(),
        Some("0"),
        "the last page starts the next sync over: {first:?}"
    );
    let requests = h.emulator.requests();
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
        ]
    );
    for request in &requests {
        assert_eq!(request.token_header.as_deref(), Some(TOKEN), "{request:?}");
        assert_eq!(request.status, 200, "{request:?}");
    }
    let synced = h.snapshot().await;
    let expected: Vec<(String, String)> = organizations()
        .into_iter()
        .map(|o| (o.id.to_string(), o.name))
        .collect();
    assert_eq!(known_to(&synced, LEGACY), expected, "{synced:#?}");
    assert_eq!(synced.accounts.len(), 3, "{synced:#?}");

    // A second sync reads the same pages again and changes nothing; the
    // page counter the connector keeps in its state went on from 2.
    let second = h.daemon.admin().sync(LEGACY).await.unwrap();
    assert_eq!(second.last_error, None, "{second:?}\n{}", h.daemon.log());
    assert_eq!((second.pages, second.events), (4, 6), "{second:?}");
    assert_eq!(h.snapshot().await, synced, "a re-sync adds nothing");
    let log = h.daemon.log();
    let last_page = log
        .lines()
        .rev()
        .find(|line| line.contains(LEGACY) && line.contains("organizations from "))
        .unwrap_or_else(|| panic!("no page logged by `{LEGACY}`\n{log}"));
    assert!(
        last_page.contains("organizations from 2: 1 read; page 4 since"),
        "{last_page}"
    );

    // A signed webhook adds an organization; its repeat is a duplicate.
    let body =
        json!({"id": 150, "name": "Ostsee Stahlbau GmbH", "update_time": "2026-11-03 09:00:00"})
            .to_string();
    let signature = sign(LEGACY_SECRET, body.as_bytes());
    for expected in ["stored", "duplicate"] {
        assert_eq!(
            h.webhook(LEGACY, "pd-150", "x-legacy-signature", &signature, &body)
                .await,
            (200, Some(expected.to_owned()))
        );
    }
    // One signed with another secret is refused and stores nothing.
    let forged =
        json!({"id": 151, "name": "Forged GmbH", "update_time": "2026-11-03 09:00:00"}).to_string();
    let (status, _) = h
        .webhook(
            LEGACY,
            "pd-151",
            "x-legacy-signature",
            &sign("not-the-secret", forged.as_bytes()),
            &forged,
        )
        .await;
    assert_eq!(status, 401);

    // The SDK-built echo, on the newest contract, in the same daemon.
    let (status, outcome) = h
        .webhook(
            ECHO,
            "e-1",
            "x-echo-signature",
            &sign(ECHO_SECRET, b"Echo Handel GmbH"),
            "Echo Handel GmbH",
        )
        .await;
    assert_eq!((status, outcome.as_deref()), (200, Some("stored")));

    let done = h
        .daemon
        .wait_until("both webhooks are applied", |s| {
            s.account_known_as(LEGACY, "150").is_some() && s.account_known_as(ECHO, "e-1").is_some()
        })
        .await
        .unwrap();
    assert_eq!(
        done.account_known_as(LEGACY, "150").unwrap().name,
        "Ostsee Stahlbau GmbH"
    );
    assert_eq!(
        done.account_known_as(ECHO, "e-1").unwrap().name,
        "Echo Handel GmbH"
    );
    assert_eq!(done.accounts.len(), 5, "{done:#?}");
    assert!(done.account_known_as(LEGACY, "151").is_none(), "{done:#?}");
    assert!(done.dead_letters.is_empty(), "{:#?}", done.dead_letters);

    // The operator's view: each connector on its own contract.
    let table = loyaltyd(&["plugins", "list", "--config"], h.daemon.config_path());
    let contract = |connector: &str| {
        table
            .lines()
            .find(|line| line.split_whitespace().next() == Some(connector))
            .and_then(|line| line.split_whitespace().last())
            .unwrap_or_else(|| panic!("no `{connector}` in\n{table}"))
            .to_owned()
    };
    assert_eq!(contract(LEGACY), "loyalty:connector@0.1.0", "{table}");
    assert_eq!(
        contract(ECHO),
        format!("loyalty:connector@{}", newest_contract()),
        "echo is built with the SDK, on the newest contract in wit/\n{table}"
    );
}
