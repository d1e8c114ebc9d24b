//! The official connectors' own unit and integration tests. They live in the
//! separate `plugins/` workspace (built for wasm32-wasip2 by default); this
//! runs them natively through the SDK's test host, so that `cargo test` at
//! the repository root covers them too.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

use std::process::Command;

use loyalty_e2e::repo_root;

fn host_triple() -> String {
    let output = Command::new("rustc")
        .arg("-vV")
        .output()
        .expect("running rustc -vV");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .expect("rustc -vV names the host triple")
        .to_owned()
}

#[test]
fn official_connector_tests_pass_natively() {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(repo_root().join("plugins"))
        .args([
            "test",
            "--locked",
            "--workspace",
            "--target",
            &host_triple(),
            "--target-dir",
        ])
        .arg(repo_root().join("target/wasm"))
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_MAKEFLAGS")
        .output()
        .expect("running cargo test in plugins/");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the official connectors' tests failed:\n{stdout}\n{stderr}"
    );
    let passed: usize = stdout
        .lines()
        .filter_map(|line| line.strip_prefix("test result: ok. "))
        .filter_map(|rest| rest.split(' ').next()?.parse::<usize>().ok())
        .sum();
    assert!(
        passed > 20,
        "expected the connectors' test suites to run, saw {passed} tests:\n{stdout}"
    );
}
