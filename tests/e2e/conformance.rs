//! The conformance kit as a built component: `loyaltyd plugins replay`
//! runs each official connector's wasm build against the cassettes its
//! native tests replay (`plugins/NAME/tests/recorded.rs`), in the sandbox:
//! a sync, a reward or campaign, and a signed webhook, read from the same
//! request files, must produce the very events and results files those
//! tests compare with. A changed expectation, a missing exchange or a
//! wrong secret fails the replay, saying why. `loyaltyd plugins record`
//! writes such a cassette from a connector's real exchanges (here with the
//! Shopify emulator), and replaying it gives the events it recorded.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use loyalty_e2e::daemon::{Daemon, ProgramRules, Setup, ShopifySetup, random_token};
use loyalty_e2e::shopify::ShopifyEmulator;
use loyalty_e2e::shopify::samples::{self, API_VERSION, COMPANY_ID, ORDER_ID, SHOP_DOMAIN};
use loyalty_e2e::{loyaltyd_binary, official_plugin, repo_root};
use serde_json::Value;

/// One recorded sync of an official connector, as its native test runs it.
struct Recorded {
    connector: &'static str,
    cassette: &'static str,
    settings: &'static [&'static str],
    cursor: Option<&'static str>,
    page_size: u32,
}

const RECORDED: [Recorded; 4] = [
    Recorded {
        connector: "shopify",
        cassette: "sync",
        settings: &[
            "shop_domain=nordlicht-werkzeuge.myshopify.com",
            "external_id_system=sap",
        ],
        cursor: None,
        page_size: 2,
    },
    Recorded {
        connector: "hubspot",
        cassette: "deals",
        settings: &["portal_id=24681357", "currency=EUR"],
        cursor: Some(
            r#"{"stage":"deals","window":1772323200000,"seen":1772323200000,"marks":{"companies":1772409600000,"contacts":1772409600000,"deals":1772323200000,"feedback_submissions":1772323200000}}"#,
        ),
        page_size: 2,
    },
    Recorded {
        connector: "salesforce",
        cassette: "opportunities",
        settings: &["currency=EUR", "referral_code_field=Referral_Code__c"],
        cursor: Some(
            r#"{"stage":"Opportunity","marks":{"Account":"2026-03-02T00:00:00.000Z","Contact":"2026-03-02T00:00:00.000Z","Opportunity":"2026-03-01T00:00:00.000Z"}}"#,
        ),
        page_size: 2,
    },
    Recorded {
        connector: "sap",
        cassette: "sync",
        settings: &[
            "sap_client=100",
            "sales_organization=1010",
            "distribution_channel=10",
        ],
        cursor: Some(
            r#"{"stage":"partners","partners":{"since_ms":1772323200000,"skip":0,"newest_ms":null},"orders":{"since_ms":1772529662000,"skip":1}}"#,
        ),
        page_size: 3,
    },
];

/// One recorded call other than a sync, as its native test makes it.
struct RecordedCall {
    connector: &'static str,
    cassette: &'static str,
    /// `--reward`, `--campaign` or `--webhook`.
    flag: &'static str,
    request: &'static str,
    expect: &'static str,
    settings: &'static [&'static str],
}

const NORDLICHT_SHOP: [&str; 2] = [
    "shop_domain=nordlicht-werkzeuge.myshopify.com",
    "external_id_system=sap",
];

const CALLS: [RecordedCall; 5] = [
    RecordedCall {
        connector: "shopify",
        cassette: "reward",
        flag: "--reward",
        request: "reward.request.json",
        expect: "reward.fulfilment.json",
        settings: &NORDLICHT_SHOP,
    },
    RecordedCall {
        connector: "shopify",
        cassette: "order-paid",
        flag: "--webhook",
        request: "order-paid.webhook.json",
        expect: "order-paid.events.json",
        settings: &NORDLICHT_SHOP,
    },
    RecordedCall {
        connector: "hubspot",
        cassette: "campaign",
        flag: "--campaign",
        request: "campaign.request.json",
        expect: "campaign.report.json",
        settings: &["portal_id=24681357", "currency=EUR"],
    },
    RecordedCall {
        connector: "salesforce",
        cassette: "reward",
        flag: "--reward",
        request: "reward.request.json",
        expect: "reward.fulfilment.json",
        settings: &["currency=EUR", "referral_code_field=Referral_Code__c"],
    },
    RecordedCall {
        connector: "sap",
        cassette: "reward",
        flag: "--reward",
        request: "reward.request.json",
        expect: "reward.fulfilment.json",
        settings: &[
            "sap_client=100",
            "sales_organization=1010",
            "distribution_channel=10",
        ],
    },
];

/// The secret the recorded Shopify delivery is signed with.
const SHOPIFY_WEBHOOK_SECRET: &str = "webhook=nordlicht-webhook-secret";

fn call(recorded: &RecordedCall, expect: &Path, secret: &str) -> Output {
    let dir = cassettes(recorded.connector);
    let mut command = Command::new(loyaltyd_binary());
    command
        .args(["plugins", "replay"])
        .arg(official_plugin(recorded.connector))
        .arg("--cassette")
        .arg(dir.join(format!("{}.json", recorded.cassette)))
        .arg(recorded.flag)
        .arg(dir.join(recorded.request))
        .arg("--expect")
        .arg(expect)
        .args(["--secret", secret]);
    for setting in recorded.settings {
        command.args(["--setting", setting]);
    }
    command.output().unwrap()
}

fn cassettes(connector: &str) -> PathBuf {
    repo_root().join(format!("plugins/{connector}/tests/cassettes"))
}

fn replay(recorded: &Recorded, cassette: &PathBuf, expect: &PathBuf) -> Output {
    let mut command = Command::new(loyaltyd_binary());
    command
        .args(["plugins", "replay"])
        .arg(official_plugin(recorded.connector))
        .arg("--cassette")
        .arg(cassette)
        .arg("--expect")
        .arg(expect)
        .args(["--pages", "2", "--page-size"])
        .arg(recorded.page_size.to_string());
    for setting in recorded.settings {
        command.args(["--setting", setting]);
    }
    if let Some(cursor) = recorded.cursor {
        command.args(["--cursor", cursor]);
    }
    command.output().unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn each_official_component_replays_its_cassette_into_the_events_of_its_native_test() {
    for recorded in &RECORDED {
        let dir = cassettes(recorded.connector);
        let output = replay(
            recorded,
            &dir.join(format!("{}.json", recorded.cassette)),
            &dir.join(format!("{}.events.json", recorded.cassette)),
        );
        let said = text(&output);
        assert!(output.status.success(), "{}: {said}", recorded.connector);
        assert!(said.contains(" as in "), "{}: {said}", recorded.connector);
    }
}

#[test]
fn a_changed_expectation_or_a_missing_exchange_fails_the_replay() {
    let recorded = &RECORDED[3];
    let dir = cassettes(recorded.connector);
    let cassette = dir.join("sync.json");
    let work = tempfile::tempdir().unwrap();

    let mut events: Value =
        serde_json::from_slice(&std::fs::read(dir.join("sync.events.json")).unwrap()).unwrap();
    events[0]["Account"]["name"] = "Somebody Else GmbH".into();
    let changed = work.path().join("changed.events.json");
    std::fs::write(&changed, events.to_string()).unwrap();
    let output = replay(recorded, &cassette, &changed);
    let said = text(&output);
    assert_eq!(output.status.code(), Some(1), "{said}");
    assert!(
        said.contains("events differ") && said.contains("Somebody Else GmbH"),
        "{said}"
    );

    let mut shorter: Value = serde_json::from_slice(&std::fs::read(&cassette).unwrap()).unwrap();
    let dropped = shorter["exchanges"].as_array_mut().unwrap().pop().unwrap();
    let short = work.path().join("short.json");
    std::fs::write(&short, shorter.to_string()).unwrap();
    let output = replay(recorded, &short, &dir.join("sync.events.json"));
    let said = text(&output);
    assert!(!output.status.success(), "{said}");
    let path = dropped["request"]["path"].as_str().unwrap();
    assert!(
        said.contains(&format!("{path} is not in the cassette")),
        "{path}: {said}"
    );
}

#[test]
fn rewards_a_campaign_and_a_webhook_replay_into_the_results_of_their_native_tests() {
    for recorded in &CALLS {
        let expect = cassettes(recorded.connector).join(recorded.expect);
        let output = call(recorded, &expect, SHOPIFY_WEBHOOK_SECRET);
        let said = text(&output);
        let which = format!("{} {}", recorded.connector, recorded.flag);
        assert!(output.status.success(), "{which}: {said}");
        assert!(said.contains(" as in "), "{which}: {said}");
    }
    let webhook = &CALLS[1];
    let said = text(&call(
        webhook,
        &cassettes("shopify").join(webhook.expect),
        SHOPIFY_WEBHOOK_SECRET,
    ));
    assert!(
        said.contains("delivery: 3f9b6c1e-2d4a-4e8b-9c7f-5a1d0e2b8c64 (orders/paid)"),
        "{said}"
    );
}

#[test]
fn a_changed_result_or_the_wrong_secret_fails_the_replay() {
    let reward = &CALLS[0];
    let dir = cassettes(reward.connector);
    let work = tempfile::tempdir().unwrap();
    let mut fulfilment: Value =
        serde_json::from_slice(&std::fs::read(dir.join(reward.expect)).unwrap()).unwrap();
    fulfilment["code"] = "LOYAL-SOMETHING-ELSE".into();
    let changed = work.path().join("changed.json");
    std::fs::write(&changed, fulfilment.to_string()).unwrap();
    let output = call(reward, &changed, SHOPIFY_WEBHOOK_SECRET);
    let said = text(&output);
    assert_eq!(output.status.code(), Some(1), "{said}");
    assert!(
        said.contains("fulfilment differs") && said.contains("LOYAL-SOMETHING-ELSE"),
        "{said}"
    );

    let webhook = &CALLS[1];
    let output = call(
        webhook,
        &cassettes("shopify").join(webhook.expect),
        "webhook=not-the-secret",
    );
    let said = text(&output);
    assert!(!output.status.success(), "{said}");
    assert!(said.contains("verify-webhook failed"), "{said}");
}

const ACCESS_TOKEN: &str = "shpat_record0000000000000000000000";

fn run(mut command: Command) -> Output {
    command.output().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sync_recorded_from_the_vendor_replays_into_the_events_it_recorded() {
    let emulator = ShopifyEmulator::start(ACCESS_TOKEN).await.unwrap();
    emulator.put_company(samples::company());
    emulator.put_customer(&samples::buyer());
    emulator.put_order(&samples::paid(
        samples::b2b_order(),
        "2026-03-03T10:00:00+01:00",
    ));
    // The daemon writes the configuration (grants, secret files) that
    // `plugins record` reads; it is not asked for anything.
    let setup = Setup {
        admin_token: random_token().unwrap(),
        program: ProgramRules::default(),
        shopify: Some(ShopifySetup {
            plugin: official_plugin("shopify"),
            shop_domain: SHOP_DOMAIN.to_owned(),
            api_version: API_VERSION.to_owned(),
            admin_base_url: emulator.base_url(),
            webhook_secret: "record-webhook-secret".to_owned(),
            admin_access_token: ACCESS_TOKEN.to_owned(),
        }),
        extra_toml: "[connectors.shopify.poll]\ninterval_seconds = 3600\n".to_owned(),
        secrets: Vec::new(),
    };
    let daemon = Daemon::start(&setup).await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let cassette = work.path().join("sync.json");
    let events = work.path().join("sync.events.json");

    let mut record = Command::new(loyaltyd_binary());
    record
        .args(["plugins", "record", "--config"])
        .arg(daemon.config_path())
        .args(["--connector", "shopify", "--cassette"])
        .arg(&cassette)
        .arg("--result")
        .arg(&events)
        .args(["--page-size", "1", "--pages", "6"]);
    let output = tokio::task::spawn_blocking(move || run(record))
        .await
        .unwrap();
    let said = text(&output);
    assert!(output.status.success(), "{said}");
    // The clock the connector read while recording, for the replay.
    let now = said
        .split("(replay with --now ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .unwrap_or_else(|| panic!("no --now in: {said}"))
        .to_owned();

    let written = std::fs::read_to_string(&cassette).unwrap();
    assert!(!written.contains(ACCESS_TOKEN), "{written}");
    let recorded: Value = serde_json::from_str(&written).unwrap();
    let exchanges = recorded["exchanges"].as_array().unwrap();
    let paths: Vec<&str> = exchanges
        .iter()
        .map(|e| e["request"]["path"].as_str().unwrap())
        .collect();
    assert!(
        paths.iter().any(|p| p.contains("/customers.json")),
        "{paths:?}"
    );
    assert!(
        paths.iter().any(|p| p.contains("/orders.json")),
        "{paths:?}"
    );
    assert!(
        paths.iter().any(|p| p.ends_with("/graphql.json")),
        "{paths:?}"
    );
    for exchange in exchanges {
        assert_eq!(exchange["request"]["credential"], "admin", "{exchange}");
        assert_eq!(exchange["response"]["status"], 200, "{exchange}");
    }
    let result: Value = serde_json::from_slice(&std::fs::read(&events).unwrap()).unwrap();
    let ids: Vec<(String, String)> = result
        .as_array()
        .unwrap()
        .iter()
        .map(|event| {
            let (kind, body) = event.as_object().unwrap().iter().next().unwrap();
            (
                kind.clone(),
                body["id"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert!(
        ids.contains(&("Account".to_owned(), COMPANY_ID.to_string())),
        "{ids:?}"
    );
    assert!(
        ids.contains(&("Purchase".to_owned(), ORDER_ID.to_string())),
        "{ids:?}"
    );

    let mut replay = Command::new(loyaltyd_binary());
    replay
        .args(["plugins", "replay"])
        .arg(official_plugin("shopify"))
        .arg("--cassette")
        .arg(&cassette)
        .args(["--setting", &format!("shop_domain={SHOP_DOMAIN}")])
        .args(["--setting", &format!("api_version={API_VERSION}")])
        .args(["--setting", "external_id_system=sap"])
        .args([
            "--page-size",
            "1",
            "--pages",
            "6",
            "--now",
            &now,
            "--expect",
        ])
        .arg(&events);
    let output = tokio::task::spawn_blocking(move || run(replay))
        .await
        .unwrap();
    let said = text(&output);
    assert!(output.status.success(), "{said}");
    assert!(said.contains(" as in "), "{said}");
    drop(daemon);
}
