//! The configuration's messages, through the real `loyaltyd` binary: each
//! `tests/ui/invalid/NAME.toml` must make `loyaltyd validate` fail and print
//! exactly `NAME.err`; each `tests/ui/valid/*.toml` must pass.
//!
//! `BLESS=1 cargo test --release -p loyalty-e2e --test config_ui` rewrites
//! the `.err` files from the actual output. Read them before committing: the
//! messages are the product.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use loyalty_e2e::{loyaltyd_binary, repo_root, test_component};
use sha2::{Digest, Sha256};

/// Environment variables the fixtures read their secrets from.
const FIXTURE_ENV: &[(&str, &str)] = &[
    ("LOYALTY_UI_SHOPIFY_WEBHOOK", "ui-shopify-webhook-secret"),
    ("LOYALTY_UI_SHOPIFY_TOKEN", "ui-shopify-admin-token"),
    ("LOYALTY_UI_HUBSPOT_TOKEN", "ui-hubspot-token"),
];

/// The variable the fixtures name when they need one that is not set.
const UNSET_VAR: &str = "LOYALTY_UI_UNSET";

/// Runs `loyaltyd ARGS` from the repository root, so that the paths it
/// prints are the fixtures' paths relative to the root.
fn loyaltyd(args: &[&str]) -> Output {
    let mut command = Command::new(loyaltyd_binary());
    command
        .current_dir(repo_root())
        .args(args)
        .env_remove(UNSET_VAR);
    for (name, value) in FIXTURE_ENV {
        command.env(name, value);
    }
    command.output().expect("running loyaltyd")
}

/// The `.toml` files of a fixture directory, relative to the repository
/// root, sorted.
fn fixtures(dir: &str) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(repo_root().join(dir))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".toml"))
        .map(|name| format!("{dir}/{name}"))
        .collect();
    files.sort();
    files
}

/// Git keeps only the executable bit, so the fixtures' secret files get
/// their modes here: the valid ones private, the invalid ones readable by
/// everyone.
fn set_secret_file_modes() {
    #[cfg(unix)]
    for (dir, mode) in [
        ("tests/ui/valid/secrets", 0o600),
        ("tests/ui/invalid/secrets", 0o644),
    ] {
        use std::os::unix::fs::PermissionsExt;
        for entry in std::fs::read_dir(repo_root().join(dir)).unwrap() {
            let permissions = std::fs::Permissions::from_mode(mode);
            std::fs::set_permissions(entry.unwrap().path(), permissions).unwrap();
        }
    }
}

fn blessing() -> bool {
    std::env::var_os("BLESS").is_some_and(|v| !v.is_empty() && v != "0")
}

#[test]
fn invalid_configs_fail_with_exactly_their_snapshot() {
    set_secret_file_modes();
    let configs = fixtures("tests/ui/invalid");
    assert!(configs.len() >= 8, "fixtures went missing: {configs:?}");
    let mut failures = Vec::new();
    for config in &configs {
        let output = loyaltyd(&["validate", "--config", config]);
        let stderr = String::from_utf8(output.stderr).unwrap();
        if output.status.code() != Some(1) {
            failures.push(format!(
                "{config}: exit status {}, expected 1",
                output.status
            ));
        }
        if !output.stdout.is_empty() {
            let stdout = String::from_utf8_lossy(&output.stdout);
            failures.push(format!("{config}: printed to stdout:\n{stdout}"));
        }
        for (_, value) in FIXTURE_ENV {
            if stderr.contains(value) {
                failures.push(format!("{config}: a secret value was printed:\n{stderr}"));
            }
        }
        let snapshot = repo_root().join(Path::new(config).with_extension("err"));
        if blessing() {
            std::fs::write(&snapshot, &stderr).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&snapshot).unwrap_or_default();
        if stderr != expected {
            failures.push(format!(
                "{config}: stderr differs from {}\n--- expected\n{expected}--- actual\n{stderr}",
                snapshot.display()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{}\n\nIf the new output is right, rerun with BLESS=1 and read the .err files.",
        failures.join("\n\n")
    );
}

#[test]
fn every_snapshot_has_its_config() {
    let dir = repo_root().join("tests/ui/invalid");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "err") {
            assert!(
                path.with_extension("toml").is_file(),
                "{} has no .toml beside it",
                path.display()
            );
        }
    }
}

#[test]
fn valid_configs_pass() {
    set_secret_file_modes();
    let configs = fixtures("tests/ui/valid");
    assert!(!configs.is_empty());
    for config in &configs {
        let output = loyaltyd(&["validate", "--config", config]);
        let stdout = String::from_utf8(output.stdout).unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(output.status.success(), "{config}:\n{stderr}");
        assert!(stderr.is_empty(), "{config}:\n{stderr}");
        assert!(stdout.starts_with(&format!("{config}: ok (")), "{stdout}");
    }
    let output = loyaltyd(&["validate", "--config", "tests/ui/valid/full.toml"]);
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        "tests/ui/valid/full.toml: ok (2 connectors)\n"
    );
}

#[test]
fn a_config_that_does_not_exist_is_one_problem() {
    let output = loyaltyd(&["validate", "--config", "tests/ui/nowhere.toml"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(output.stderr).unwrap(),
        "tests/ui/nowhere.toml: cannot read the configuration file: No such file or directory (os error 2)\n"
    );
}

#[test]
fn minimal_config_loads_with_defaults_and_paths_resolved_against_its_directory() {
    let path = repo_root().join("tests/ui/valid/minimal.toml");
    let config = loyaltyd::config::load(&path).unwrap();
    assert_eq!(config.server.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(config.server.inbox_batch_max, 64);
    assert!(config.server.admin_token_sha256.is_empty());
    assert_eq!(
        config.store,
        loyaltyd::config::StoreConfig::Sqlite {
            path: repo_root().join("tests/ui/valid/loyalty.db")
        }
    );
    assert_eq!(config.runtime.cache_dir, None);
    assert_eq!(config.program.currency, "CHF");
    assert_eq!(config.program.points_per_unit, 2.into());
    assert_eq!(config.program.rounding, loyaltyd::config::Rounding::Floor);
    assert!(config.connectors.is_empty());
}

/// A scratch directory for one test, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("loyalty-config-ui-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn plugins_list_shows_each_connectors_file_digest_and_contract() {
    let echo = test_component("echo");
    let scratch = Scratch::new("plugins-list");
    let config = scratch.0.join("loyalty.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[server]
public_base_url = "https://loyalty.example.com"

[store]
type = "sqlite"
path = "loyalty.db"

[program]
currency = "EUR"
points_per_unit = "1"
rounding = "floor"

[connectors.echo]
plugin = {echo:?}
allowed_hosts = ["http://127.0.0.1:9"]
secrets.webhook = {{ env = "LOYALTY_UI_SHOPIFY_WEBHOOK" }}
"#
        ),
    )
    .unwrap();
    let output = loyaltyd(&["plugins", "list", "--config", config.to_str().unwrap()]);
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(output.status.success(), "{stderr}");
    let sha256 = hex_sha256(&std::fs::read(&echo).unwrap());
    let lines: Vec<Vec<&str>> = stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        lines[0],
        ["CONNECTOR", "PLUGIN", "SHA256", "CONTRACT"],
        "{stdout}"
    );
    assert_eq!(
        lines[1],
        [
            "echo",
            echo.to_str().unwrap(),
            sha256.as_str(),
            "loyalty:connector@0.1.0"
        ],
        "{stdout}"
    );
    assert_eq!(lines.len(), 2, "{stdout}");
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
