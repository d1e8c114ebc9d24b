//! The daemon's configuration: one TOML file, read, checked and resolved by
//! [`load`].
//!
//! [`schema`] documents every table and key. Loading reports every problem
//! at once, each with its file, line, column and dotted key; it resolves
//! relative paths against the configuration file's directory and reads the
//! secret values from the environment or from files, so that a daemon that
//! starts has everything it needs.

mod document;
mod errors;
pub mod schema;
mod secrets;
mod validate;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use rust_decimal::Decimal;
use serde::Deserialize;

pub use errors::{ConfigError, ConfigErrors};

use crate::runtime::{Grants, Limits, RuntimeOptions};

/// A loaded, checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was loaded from, as named to [`load`].
    pub path: PathBuf,
    /// `[server]`.
    pub server: ServerConfig,
    /// `[store]`.
    pub store: StoreConfig,
    /// `[runtime]`.
    pub runtime: RuntimeConfig,
    /// `[program]`.
    pub program: ProgramConfig,
    /// `[connectors.NAME]`, by name.
    pub connectors: BTreeMap<String, ConnectorConfig>,
}

/// The HTTP API.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address the API listens on.
    pub listen: SocketAddr,
    /// The URL vendors reach the API at.
    pub public_base_url: url::Url,
    /// SHA-256 digests of the accepted admin bearer tokens.
    pub admin_token_sha256: Vec<[u8; 32]>,
    /// Deliveries an inbox worker takes in one batch.
    pub inbox_batch_max: usize,
}

/// Where the ledger lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// An SQLite database file.
    Sqlite {
        /// The database file, resolved against the configuration file's
        /// directory.
        path: PathBuf,
    },
}

/// The connector runtime.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// Where compiled connectors are cached, resolved against the
    /// configuration file's directory; `None` compiles on every start.
    pub cache_dir: Option<PathBuf>,
}

/// How purchases earn points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramConfig {
    /// ISO 4217 code of the currency points are earned in.
    pub currency: String,
    /// Points per one unit of `currency`; greater than zero.
    pub points_per_unit: Decimal,
    /// How fractional points become whole points.
    pub rounding: Rounding,
    /// For each other currency, the rate converting one unit of it into
    /// `currency`; greater than zero.
    pub exchange_rates: BTreeMap<String, Decimal>,
}

/// How a fractional point amount becomes an integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rounding {
    /// `"floor"`: down to the whole point, never awarding a fraction not
    /// earned.
    Floor,
    /// `"half_up"`: to the nearest, halves away from zero.
    HalfUp,
    /// `"half_even"`: to the nearest, halves to even (banker's rounding).
    HalfEven,
}

/// One connector, ready for the runtime.
#[derive(Debug, Clone)]
pub struct ConnectorConfig {
    /// Its component file, resolved against the configuration file's
    /// directory; it existed when the configuration was loaded.
    pub plugin: PathBuf,
    /// Its sandbox limits.
    pub limits: Limits,
    /// Allowed hosts, credentials (values read, bound to their hosts),
    /// webhook secrets (values read) and settings.
    pub grants: Grants,
}

/// Reads, parses and checks the configuration file at `path`, resolving
/// relative paths against its directory and reading secret values from the
/// environment and from files. Reports every problem found, in file order.
impl Config {
    /// The runtime's engine settings: a pool slot for every instance any
    /// connector may run at once, memory slots as large as the largest cap.
    pub fn runtime_options(&self) -> RuntimeOptions {
        let connectors = self.connectors.values();
        RuntimeOptions {
            instance_slots: connectors
                .clone()
                .map(|c| c.limits.instances_max.max(1))
                .sum::<u32>()
                .max(1),
            memory_mib_max: connectors
                .map(|c| c.limits.memory_mib_max)
                .max()
                .unwrap_or(64),
            cache_dir: self.runtime.cache_dir.clone(),
            ..RuntimeOptions::default()
        }
    }
}

pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    load_with_env(path, &|name| std::env::var_os(name))
}

/// [`load`], reading environment variables through `env`.
pub(crate) fn load_with_env(path: &Path, env: secrets::Env<'_>) -> Result<Config, ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: path.to_path_buf(),
            line: 0,
            column: 0,
            key: String::new(),
            message: format!("cannot read the configuration file: {e}"),
        }])
    })?;
    let mut document = document::Document::parse(path, &text)?;
    let config = validate::config(&mut document, path, env);
    document.finish()?;
    // Every check that yields `None` reports why, so this is unreachable;
    // it is still an error rather than a panic.
    config.ok_or_else(|| {
        ConfigErrors(vec![ConfigError {
            file: path.to_path_buf(),
            line: 0,
            column: 0,
            key: String::new(),
            message: "the configuration is incomplete".to_owned(),
        }])
    })
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    use super::*;
    use crate::config::secrets::tests::TempDir;
    use crate::runtime::Injection;

    const CONFIG: &str = r#"
[server]
public_base_url = "https://loyalty.example.com"
admin_token_sha256 = ["9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"]

[store]
type = "sqlite"
path = "data/loyalty.db"

[runtime]
cache_dir = "cache"

[program]
currency = "EUR"
points_per_unit = "1.5"
rounding = "half_up"
exchange_rates = { USD = "0.92" }

[connectors.shopify]
plugin = "plugins/shopify.wasm"
allowed_hosts = ["https://*.myshopify.com"]
settings = { shop_domain = "demo.myshopify.com" }
secrets.webhook = { file = "secrets/webhook" }
credentials.admin = { env = "ADMIN_TOKEN", inject = "header", header = "X-Shopify-Access-Token", hosts = ["https://demo.myshopify.com"] }
"#;

    fn env(name: &str) -> Option<OsString> {
        (name == "ADMIN_TOKEN").then(|| OsString::from("shpat_admin"))
    }

    fn setup() -> (TempDir, PathBuf) {
        let dir = TempDir::new();
        let config = dir.file("loyalty.toml", CONFIG, 0o644);
        dir.file("plugins/shopify.wasm", "", 0o644);
        dir.file("secrets/webhook", "whsec_webhook\n", 0o600);
        (dir, config)
    }

    #[test]
    fn load_resolves_paths_and_secrets() {
        let (dir, path) = setup();
        let config = load_with_env(&path, &env).unwrap();
        assert_eq!(config.path, path);
        assert_eq!(
            config.store,
            StoreConfig::Sqlite {
                path: dir.0.join("data/loyalty.db")
            }
        );
        assert_eq!(config.runtime.cache_dir, Some(dir.0.join("cache")));
        assert_eq!(config.server.admin_token_sha256[0][0], 0x9f);
        assert_eq!(config.program.rounding, Rounding::HalfUp);
        assert_eq!(config.program.exchange_rates["USD"], Decimal::new(92, 2));
        let shopify = &config.connectors["shopify"];
        assert_eq!(shopify.plugin, dir.0.join("plugins/shopify.wasm"));
        assert_eq!(shopify.limits, Limits::default());
        let grants = &shopify.grants;
        assert_eq!(grants.secrets["webhook"].expose(), b"whsec_webhook");
        let admin = &grants.credentials["admin"];
        assert_eq!(admin.value.expose(), b"shpat_admin");
        assert_eq!(
            admin.injection,
            Injection::Header {
                name: "X-Shopify-Access-Token".to_owned()
            }
        );
        assert_eq!(admin.hosts, ["https://demo.myshopify.com".parse().unwrap()]);
        assert_eq!(grants.settings["shop_domain"], "demo.myshopify.com");
    }

    #[test]
    fn secret_values_never_reach_debug_output() {
        let (_dir, path) = setup();
        let config = load_with_env(&path, &env).unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains("whsec_webhook"), "{debug}");
        assert!(!debug.contains("shpat_admin"), "{debug}");
    }

    #[test]
    fn a_missing_env_var_is_reported_at_its_env_key() {
        let (_dir, path) = setup();
        let errors = load_with_env(&path, &|_| None).unwrap_err();
        assert_eq!(errors.0.len(), 1, "{errors}");
        let error = &errors.0[0];
        assert_eq!(error.key, "connectors.shopify.credentials.admin.env");
        assert_eq!((error.line, error.column), (24, 29));
        assert!(
            error.message.contains("`ADMIN_TOKEN` is not set"),
            "{error}"
        );
    }

    #[test]
    fn problems_in_different_tables_are_all_reported_in_file_order() {
        let (dir, _) = setup();
        let broken = CONFIG
            .replace("currency = \"EUR\"", "currency = \"EURO\"")
            .replace("type = \"sqlite\"", "type = \"sqlite\"\nwal = true")
            .replace("\"https://demo.myshopify.com\"", "\"https://evil.example\"");
        let path = dir.file("broken.toml", &broken, 0o644);
        let errors = load_with_env(&path, &env).unwrap_err();
        let keys: Vec<_> = errors.0.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "store.wal",
                "program.currency",
                "connectors.shopify.credentials.admin.hosts[0]"
            ],
            "{errors}"
        );
        assert!(
            errors
                .to_string()
                .lines()
                .all(|l| l.starts_with(&*path.to_string_lossy()))
        );
    }
}
