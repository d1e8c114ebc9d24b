//! `loyaltyd plugins new` end to end: the created crate passes its own
//! tests, builds as a component, is described by `plugins inspect`, and
//! turns a signed delivery into points in the real daemon.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use loyalty_e2e::daemon::{Daemon, ProgramRules, Setup, random_token};
use loyalty_e2e::{ensure_wasm_target, loyaltyd_binary, repo_root};
use loyalty_sdk::testing::sign_base64_hmac_sha256;

const SECRET: &str = "a-webhook-secret";
/// The order of the created crate's own test, with another id.
const ORDER: &str = r#"{
  "id": "SO-2001",
  "updated_at": "2026-03-02T09:30:00Z",
  "status": "paid",
  "company": { "id": "C-77", "name": "Nordlicht Werkzeuge AG" },
  "currency": "EUR",
  "net_total": 1250.40,
  "total": "1488.98"
}"#;

fn loyaltyd(args: &[&str]) -> Output {
    Command::new(loyaltyd_binary()).args(args).output().unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Runs cargo in the created crate, sharing one target folder across runs
/// so that the SDK and its dependencies compile once.
fn cargo(dir: &Path, args: &[&str]) -> Output {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    Command::new(cargo)
        .current_dir(dir)
        .args(args)
        .env("CARGO_TARGET_DIR", target_dir())
        // Flags meant for this test's build must not leak into the crate's.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_MAKEFLAGS")
        .output()
        .unwrap()
}

fn target_dir() -> PathBuf {
    repo_root().join("target/new-connector")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_connector_builds_passes_its_tests_and_earns_points() {
    ensure_wasm_target().unwrap();
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("acme-orders");
    let dir_arg = dir.to_str().unwrap();
    let sdk = repo_root().join("sdk");

    let created = loyaltyd(&[
        "plugins",
        "new",
        "acme-orders",
        "--dir",
        dir_arg,
        "--sdk",
        sdk.to_str().unwrap(),
    ]);
    assert!(created.status.success(), "{}", text(&created));
    let said = String::from_utf8_lossy(&created.stdout);
    for file in ["Cargo.toml", "src/lib.rs", "tests/webhooks.rs", "README.md"] {
        assert!(dir.join(file).is_file(), "{file} missing\n{said}");
    }
    assert!(
        said.contains("cargo build --release --target wasm32-wasip2"),
        "{said}"
    );

    // Nothing is overwritten, and a bad name is explained.
    let again = loyaltyd(&["plugins", "new", "acme-orders", "--dir", dir_arg]);
    assert!(!again.status.success());
    assert!(text(&again).contains("not empty"), "{}", text(&again));
    let bad = loyaltyd(&["plugins", "new", "Acme_Orders", "--dir", dir_arg]);
    assert!(!bad.status.success());
    assert!(text(&bad).contains("lower-case"), "{}", text(&bad));

    // The official connectors' lock file pins the SDK's dependencies to
    // versions this machine has built before; cargo drops what is unused.
    std::fs::copy(
        repo_root().join("plugins/Cargo.lock"),
        dir.join("Cargo.lock"),
    )
    .unwrap();
    let tested = cargo(&dir, &["test"]);
    assert!(tested.status.success(), "{}", text(&tested));
    let report = text(&tested);
    assert!(report.contains("test result: ok. 4 passed"), "{report}");

    let built = cargo(&dir, &["build", "--release", "--target", "wasm32-wasip2"]);
    assert!(built.status.success(), "{}", text(&built));
    let wasm = target_dir().join("wasm32-wasip2/release/acme_orders.wasm");
    let inspected = loyaltyd(&["plugins", "inspect", wasm.to_str().unwrap()]);
    assert!(inspected.status.success(), "{}", text(&inspected));
    let described = String::from_utf8_lossy(&inspected.stdout);
    assert!(described.contains("loyalty:connector@0.1.0"), "{described}");
    assert!(described.contains("acme-orders 0.1.0"), "{described}");
    assert!(described.contains("secrets:     webhook"), "{described}");

    // Loaded by the daemon as its README says, it earns points.
    let toml_path = serde_json::Value::from(wasm.to_str().unwrap()).to_string();
    let setup = Setup {
        admin_token: random_token().unwrap(),
        program: ProgramRules::default(),
        shopify: None,
        extra_toml: format!(
            "[connectors.acme-orders]\nplugin = {toml_path}\n\n\
             [connectors.acme-orders.secrets.webhook]\nfile = \"secrets/acme_webhook\"\n"
        ),
        secrets: vec![("acme_webhook".to_owned(), SECRET.to_owned())],
    };
    let daemon = Daemon::start(&setup).await.unwrap();
    let http = reqwest::Client::new();
    let post = |signature: String| {
        http.post(format!("{}/webhooks/acme-orders", daemon.base_url()))
            .header("x-delivery-id", "d-77")
            .header("x-topic", "order.paid")
            .header("x-signature", signature)
            .body(ORDER)
            .send()
    };
    let forged = post(sign_base64_hmac_sha256(b"not the secret", ORDER.as_bytes()))
        .await
        .unwrap();
    assert_eq!(forged.status().as_u16(), 401);
    for _ in 0..2 {
        let accepted = post(sign_base64_hmac_sha256(SECRET.as_bytes(), ORDER.as_bytes()))
            .await
            .unwrap();
        assert_eq!(accepted.status().as_u16(), 200);
    }
    // Two points per euro of 1,250.40 net, rounded down, once.
    let seen = daemon
        .wait_until("the order earned", |s| {
            s.balance_of("acme-orders", "C-77") == Some(2500)
        })
        .await
        .unwrap();
    let account = seen.account_known_as("acme-orders", "C-77").unwrap();
    assert_eq!(account.name, "Nordlicht Werkzeuge AG");
    let ledger = seen.ledger_of("acme-orders", "C-77").unwrap();
    let earned: Vec<_> = ledger
        .entries
        .iter()
        .map(|e| (e.kind.as_str(), e.points))
        .collect();
    assert_eq!(earned, [("earn", 2500)], "the redelivery counted again");
}
