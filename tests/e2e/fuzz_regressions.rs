//! What the fuzz targets (`fuzz/`) check, on every test run, without a
//! nightly toolchain: every input saved under `fuzz/regressions/<target>/`
//! (inputs that once failed, kept after the fix) and hand-written malformed
//! inputs go through the same parsers, and each must end in a typed outcome
//! (a value or located errors) with the targets' properties holding.
//!
//! Webhook findings would be replayed here through the real components; the
//! webhook targets have none so far.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use loyalty_e2e::repo_root;
use loyaltyd::config::schema::{NonNegativeDecimal, Percent, PositiveDecimal, SignedDecimal};
use loyaltyd::config::{self, Config, ConfigErrors};
use loyaltyd::runtime::convert::{self, AMOUNT_MAX};
use loyaltyd::runtime::wit::latest::loyalty::connector::types as wit;
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;

/// What every environment variable holds (those named `*UNSET*` are unset).
const ENV_VALUE: &str = "env-secret-5b1f0c9e8d27a463";
/// What every secret file holds.
const FILE_SECRET: &str = "file-secret-c4e9a1d07f3b6258";

fn env(name: &str) -> Option<OsString> {
    (!name.contains("UNSET")).then(|| OsString::from(ENV_VALUE))
}

/// The saved inputs of one fuzz target, by file name.
fn regressions(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = repo_root().join("fuzz/regressions").join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    files.sort();
    files
}

/// A directory laid out as the `config` target's: the files configurations
/// commonly name, secrets readable by their owner only.
fn config_dir() -> (tempfile::TempDir, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let ui = dir.path().join("ui");
    for (name, content, mode) in [
        ("plugins/placeholder.wasm", "", 0o644),
        ("plugins/shopify.wasm", "", 0o644),
        ("../valid/plugins/placeholder.wasm", "", 0o644),
        ("secrets/webhook", FILE_SECRET, 0o600),
        ("secrets/hubspot_client_secret", FILE_SECRET, 0o600),
        ("terms/2026-01.md", "# Terms\n\nPoints expire.\n", 0o644),
    ] {
        let path = ui.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    (dir, ui.join("loyalty.toml"))
}

/// Parses `text` and checks the `config` target's properties.
fn parse(path: &Path, text: &str) -> Result<Config, ConfigErrors> {
    let result = config::parse(path, text, &env);
    match &result {
        Ok(config) => {
            let debug = format!("{config:?}");
            for secret in [ENV_VALUE, FILE_SECRET] {
                assert!(text.contains(secret) || !debug.contains(secret), "{debug}");
            }
            assert_eq!(
                config::program_version(&config.program),
                config.program.version
            );
        }
        Err(errors) => {
            assert!(!errors.0.is_empty());
            let lines = text.split('\n').count();
            let positions: Vec<_> = errors.0.iter().map(|e| (e.line, e.column)).collect();
            assert!(positions.is_sorted(), "{errors}");
            for error in &errors.0 {
                assert_eq!(error.file, path, "{error}");
                assert!(error.line <= lines, "{error}");
                assert_ne!(error.message, "the configuration is incomplete");
            }
            let shown = errors.to_string();
            for secret in [ENV_VALUE, FILE_SECRET] {
                assert!(text.contains(secret) || !shown.contains(secret), "{shown}");
            }
        }
    }
    result
}

/// The smallest valid configuration; the cases below break it.
const MINIMAL: &str = r#"[server]
public_base_url = "http://localhost:8080"

[store]
type = "sqlite"
path = "loyalty.db"

[program]
currency = "CHF"
points_per_unit = 2
rounding = "floor"
"#;

#[test]
fn every_saved_config_input_is_a_config_or_located_errors() {
    let (_dir, path) = config_dir();
    for (name, bytes) in regressions("config") {
        // The daemon reads the file as UTF-8 first; the target skips the rest.
        if let Ok(text) = std::str::from_utf8(&bytes) {
            let _ = parse(&path, text);
        } else {
            panic!("{name} is not UTF-8: the config target never saves such inputs");
        }
    }
}

#[test]
fn the_minimal_config_loads_and_its_secrets_stay_out_of_debug_output() {
    let (_dir, path) = config_dir();
    let config = parse(&path, MINIMAL).unwrap();
    assert_eq!(config.program.currency, "CHF");
    let with_secret = format!(
        "{MINIMAL}\n[connectors.shopify]\nplugin = \"plugins/shopify.wasm\"\nsecrets.webhook = {{ file = \"secrets/webhook\" }}\nsecrets.previous = {{ env = \"SHOPIFY_PREVIOUS\" }}\n"
    );
    let config = parse(&path, &with_secret).unwrap();
    let grants = &config.connectors["shopify"].grants;
    assert_eq!(grants.secrets["webhook"].expose(), FILE_SECRET.as_bytes());
    assert_eq!(grants.secrets["previous"].expose(), ENV_VALUE.as_bytes());
}

#[test]
fn malformed_configs_are_errors_at_their_line_and_key() {
    let (_dir, path) = config_dir();
    let deep = format!("a = {}{}\n", "[".repeat(5_000), "]".repeat(5_000));
    let cases: Vec<(&str, String, usize, &str)> = vec![
        ("empty", String::new(), 1, "server"),
        (
            "unclosed table header",
            format!("[server\n{MINIMAL}"),
            1,
            "",
        ),
        (
            "nul byte",
            MINIMAL.replace("CHF", "CH\0F"),
            9,
            "program.currency",
        ),
        (
            "duplicate key",
            MINIMAL.replace("type = \"sqlite\"", "type = \"sqlite\"\ntype = \"sqlite\""),
            6,
            "",
        ),
        (
            "points beyond i64",
            MINIMAL.replace(
                "points_per_unit = 2",
                "points_per_unit = 99999999999999999999",
            ),
            10,
            "",
        ),
        (
            "decimal beyond 96 bits",
            MINIMAL.replace(
                "points_per_unit = 2",
                "points_per_unit = \"79228162514264337593543950336\"",
            ),
            10,
            "program.points_per_unit",
        ),
        (
            "unset variable",
            format!(
                "{MINIMAL}\n[connectors.x]\nplugin = \"plugins/shopify.wasm\"\nsecrets.webhook = {{ env = \"LOYALTY_UNSET\" }}\n"
            ),
            15,
            "connectors.x.secrets.webhook.env",
        ),
        ("nesting 5000 deep", deep, 1, ""),
    ];
    for (case, text, line, key) in cases {
        let errors = match parse(&path, &text) {
            Err(errors) => errors,
            Ok(_) => panic!("{case}: loaded"),
        };
        let first = &errors.0[0];
        assert_eq!(first.line, line, "{case}: {errors}");
        assert!(first.key.starts_with(key), "{case}: {errors}");
    }
}

/// Parses `text` as every decimal parser of the host does and checks the
/// `decimal` target's properties; returns the value.
fn decimal(text: &str) -> Option<Decimal> {
    let value = convert::parse_decimal(text).ok();
    if let Some(value) = value {
        let printed = value.to_string();
        let again = convert::parse_decimal(&printed).unwrap();
        assert_eq!((again, again.to_string()), (value, printed.clone()));
    }
    config_decimal::<SignedDecimal>(text, |d| d.0, |_| true);
    config_decimal::<PositiveDecimal>(text, |d| d.0, |v| v > Decimal::ZERO);
    config_decimal::<NonNegativeDecimal>(text, |d| d.0, |v| v >= Decimal::ZERO);
    config_decimal::<Percent>(
        text,
        |d| d.0,
        |v| (Decimal::ZERO..=Decimal::ONE_HUNDRED).contains(&v),
    );
    let event = wit::Event::Account(wit::Account {
        id: "A-1".to_owned(),
        version: 1,
        name: "Acme".to_owned(),
        domain: None,
        tax_id: None,
        industry: None,
        employees: None,
        annual_revenue: Some(wit::Money {
            amount: text.to_owned(),
            currency: "EUR".to_owned(),
        }),
        parent_id: None,
        country: None,
        external_refs: Vec::new(),
        attributes: Vec::new(),
    });
    let limit = Decimal::from(AMOUNT_MAX);
    match convert::to_core(&event) {
        Ok(loyaltyd::core::event::Event::Account(account)) => {
            assert_eq!(account.annual_revenue.map(|m| m.amount), value, "{text}");
        }
        Ok(other) => panic!("{other:?}"),
        Err(_) => assert!(value.is_none_or(|v| v.abs() > limit), "{text}"),
    }
    value
}

fn config_decimal<T: DeserializeOwned>(
    text: &str,
    value: impl Fn(&T) -> Decimal,
    in_range: impl Fn(Decimal) -> bool,
) {
    let Ok(parsed) = serde_json::from_value::<T>(serde_json::Value::from(text)) else {
        return;
    };
    let parsed = value(&parsed);
    assert!(in_range(parsed), "{text}");
    let again = serde_json::from_value::<T>(serde_json::Value::from(parsed.to_string())).unwrap();
    assert_eq!(value(&again), parsed, "{text}");
}

#[test]
fn every_saved_decimal_input_parses_the_same_everywhere() {
    for (name, bytes) in regressions("decimal") {
        let text = std::str::from_utf8(&bytes).unwrap_or_else(|_| {
            panic!("{name} is not UTF-8: the decimal target never saves such inputs")
        });
        decimal(text);
    }
}

#[test]
fn decimal_edges_parse_exactly_or_are_refused() {
    let exact = |s: &str| Some(Decimal::from_str(s).unwrap());
    for (text, want) in [
        (" 19.90 ", exact("19.90")),
        ("1.285E9", exact("1285000000")),
        ("-0", exact("0")),
        ("2.5e-3", exact("0.0025")),
        (
            "0.0000000000000000000000000001",
            exact("0.0000000000000000000000000001"),
        ),
        (
            "79228162514264337593543950335",
            exact("79228162514264337593543950335"),
        ),
        ("79228162514264337593543950336", None),
        ("1e400", None),
        ("1e-400", None),
        ("", None),
        ("NaN", None),
        ("1,5", None),
        ("1.2.3", None),
        ("١٢", None),
        ("+", None),
        ("e5", None),
    ] {
        assert_eq!(decimal(text), want, "`{text}`");
    }
}

#[test]
fn amounts_beyond_the_limit_are_refused_as_events() {
    let at_limit = AMOUNT_MAX.to_string();
    assert_eq!(decimal(&at_limit), Some(Decimal::from(AMOUNT_MAX)));
    let beyond = format!("{at_limit}.01");
    assert!(
        decimal(&beyond).is_some(),
        "parses, but the event is refused"
    );
}
