//! The conformance kit as a built component: `loyaltyd plugins replay`
//! syncs each official connector's wasm build against the cassette its
//! native tests replay (`plugins/NAME/tests/recorded.rs`), in the sandbox,
//! and must produce the very events file those tests compare with. A
//! changed expectation or a missing exchange fails the replay, saying why.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

use std::path::PathBuf;
use std::process::{Command, Output};

use loyalty_e2e::{loyaltyd_binary, official_plugin, repo_root};

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

    let mut events: serde_json::Value =
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

    let mut shorter: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&cassette).unwrap()).unwrap();
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
