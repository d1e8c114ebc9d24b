//! The connector guide (`docs/connectors.md`) end to end: its shell blocks
//! run as written create a crate with `loyaltyd plugins new` that passes
//! its own tests, builds as a component, is described by `plugins inspect`
//! and digested for pinning; loaded with the guide's configuration (its
//! first ```toml block), the component turns the guide's order (its first
//! ```json block), signed, into points in the real daemon.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

use std::path::Path;
use std::process::{Command, Output};

use loyalty_e2e::daemon::{Daemon, ProgramRules, Setup, random_token};
use loyalty_e2e::{ensure_wasm_target, loyaltyd_binary, repo_root};
use loyalty_sdk::testing::sign_base64_hmac_sha256;
use sha2::Digest as _;

const SECRET: &str = "a-webhook-secret";

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

/// The fenced blocks of `docs/connectors.md` tagged `tag`, in order.
fn guide_blocks(tag: &str) -> Vec<String> {
    let guide = std::fs::read_to_string(repo_root().join("docs/connectors.md")).unwrap();
    let fence = format!("```{tag}");
    let mut blocks = Vec::new();
    let mut open: Option<String> = None;
    for line in guide.lines() {
        match open.as_mut() {
            None if line == fence => open = Some(String::new()),
            None => {}
            Some(_) if line == "```" => blocks.extend(open.take()),
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
        }
    }
    assert!(
        open.is_none(),
        "a ```{tag} block of the guide is not closed"
    );
    blocks
}

/// The guide's shell blocks as one script. After the block that creates
/// the crate, the script copies in the official connectors' lock file: it
/// pins the SDK's dependencies to the versions the repository is tested
/// with (cargo drops what the crate does not use), so the walkthrough does
/// not depend on what crates.io published today.
fn walkthrough(lock: &Path) -> String {
    let blocks = guide_blocks("sh");
    let created = blocks
        .iter()
        .position(|b| b.contains("loyaltyd plugins new"))
        .expect("the guide creates a crate with `loyaltyd plugins new`");
    let mut script = String::from("set -euo pipefail\n");
    for (n, block) in blocks.iter().enumerate() {
        script.push_str(block);
        if n == created {
            let quoted = lock.to_str().unwrap().replace('\'', "'\\''");
            script.push_str(&format!("cp '{quoted}' Cargo.lock\n"));
        }
    }
    script
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guide_walkthrough_builds_a_connector_that_earns_points() {
    ensure_wasm_target().unwrap();
    let work = tempfile::tempdir().unwrap();
    // The guide runs beside a checkout's `sdk` folder.
    std::os::unix::fs::symlink(repo_root().join("sdk"), work.path().join("sdk")).unwrap();
    let bin = loyaltyd_binary();
    let path = std::env::join_paths(std::iter::once(bin.parent().unwrap().to_owned()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .unwrap();
    let script = walkthrough(&repo_root().join("plugins/Cargo.lock"));
    let ran = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(work.path())
        .env("PATH", path)
        // Settings meant for this test's build must not leak into the crate's.
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_MAKEFLAGS")
        .output()
        .unwrap();
    let report = text(&ran);
    assert!(ran.status.success(), "{script}\n{report}");
    let dir = work.path().join("acme-orders");
    for file in ["Cargo.toml", "src/lib.rs", "tests/webhooks.rs", "README.md"] {
        assert!(dir.join(file).is_file(), "{file} missing\n{report}");
    }
    assert!(report.contains("test result: ok. 4 passed"), "{report}");
    assert!(report.contains("loyalty:connector@0.2.0"), "{report}");
    assert!(report.contains("acme-orders 0.1.0"), "{report}");
    assert!(report.contains("secrets:     webhook"), "{report}");
    let wasm = dir.join("target/wasm32-wasip2/release/acme_orders.wasm");
    let bytes = std::fs::read(&wasm).unwrap();
    let digest = hex::encode(sha2::Sha256::digest(&bytes));
    assert!(
        report.contains(&format!(
            "{digest}  target/wasm32-wasip2/release/acme_orders.wasm"
        )),
        "{report}"
    );

    // Nothing is overwritten, and a bad name is explained.
    let dir_arg = dir.to_str().unwrap();
    let again = loyaltyd(&["plugins", "new", "acme-orders", "--dir", dir_arg]);
    assert!(!again.status.success());
    assert!(text(&again).contains("not empty"), "{}", text(&again));
    let bad = loyaltyd(&["plugins", "new", "Acme_Orders", "--dir", dir_arg]);
    assert!(!bad.status.success());
    assert!(text(&bad).contains("lower-case"), "{}", text(&bad));

    // Loaded with the guide's configuration, pinned, it earns points.
    let toml = guide_blocks("toml")
        .into_iter()
        .next()
        .expect("the guide shows the connector's configuration");
    let plugin = serde_json::Value::from(wasm.to_str().unwrap()).to_string();
    let extra_toml: String = toml
        .lines()
        .map(|line| {
            if line.starts_with("plugin = ") {
                format!("plugin = {plugin}\n")
            } else if line.starts_with("# sha256 = ") {
                // Pinned to the digest the walkthrough printed.
                format!("sha256 = \"{digest}\"\n")
            } else {
                format!("{line}\n")
            }
        })
        .collect();
    assert!(extra_toml.contains(&plugin), "{toml}");
    assert!(extra_toml.contains(&digest), "{toml}");
    let setup = Setup {
        admin_token: random_token().unwrap(),
        program: ProgramRules::default(),
        shopify: None,
        extra_toml,
        secrets: vec![("acme_orders_webhook".to_owned(), SECRET.to_owned())],
    };
    let daemon = Daemon::start(&setup).await.unwrap();
    // The order the guide shows, sent as it says.
    let order = guide_blocks("json")
        .into_iter()
        .next()
        .expect("the guide shows an order");
    let http = reqwest::Client::new();
    let post = |signature: String| {
        http.post(format!("{}/webhooks/acme-orders", daemon.base_url()))
            .header("x-delivery-id", "d-77")
            .header("x-topic", "order.paid")
            .header("x-signature", signature)
            .body(order.clone())
            .send()
    };
    let forged = post(sign_base64_hmac_sha256(b"not the secret", order.as_bytes()))
        .await
        .unwrap();
    assert_eq!(forged.status().as_u16(), 401);
    for _ in 0..2 {
        let accepted = post(sign_base64_hmac_sha256(SECRET.as_bytes(), order.as_bytes()))
            .await
            .unwrap();
        assert_eq!(accepted.status().as_u16(), 200);
    }
    // Two points per euro of 1,250.40 net, rounded down, once.
    let seen = daemon
        .wait_until("the order earned", |s| {
            s.balance_of("acme-orders", "C-42") == Some(2500)
        })
        .await
        .unwrap();
    let account = seen.account_known_as("acme-orders", "C-42").unwrap();
    assert_eq!(account.name, "Acme Tools GmbH");
    let ledger = seen.ledger_of("acme-orders", "C-42").unwrap();
    let earned: Vec<_> = ledger
        .entries
        .iter()
        .map(|e| (e.kind.as_str(), e.points))
        .collect();
    assert_eq!(earned, [("earn", 2500)], "the redelivery counted again");
}
