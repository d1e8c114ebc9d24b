//! The daemon's configuration: one TOML file, read, checked and resolved by
//! [`load`].
//!
//! [`schema`] documents every table and key. Loading reports every problem
//! at once, each with its file, line, column and dotted key; it resolves
//! relative paths against the configuration file's directory, reads the
//! secret values from the environment or from files and the terms texts from
//! their files, and versions the program by its content, so that a daemon
//! that starts has everything it needs.

mod document;
mod errors;
pub mod schema;
mod secrets;
mod validate;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub use errors::{ConfigError, ConfigErrors};

use crate::core::identity::IdentityRules;
use crate::core::program::Program;
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
    /// `[program]`: the loyalty program's rules, with their terms read
    /// from their files and their version computed from their content.
    pub program: Program,
    /// `[identity]`: when records from several systems are one company.
    pub identity: IdentityRules,
    /// `[[segments]]`, their filters checked.
    pub segments: Vec<crate::store::segments::SegmentDefinition>,
    /// `[[campaigns]]`, checked.
    pub campaigns: Vec<crate::store::campaigns::CampaignDefinition>,
    /// `[[goals]]`, checked.
    pub goals: Vec<crate::core::goals::Goal>,
    /// `[portal]`, when the portal and the dashboard are served.
    pub portal: Option<PortalConfig>,
    /// `[statements]`, when reward statements are made.
    pub statements: Option<StatementsConfig>,
    /// `[connectors.NAME]`, by name.
    pub connectors: BTreeMap<String, ConnectorConfig>,
}

/// Reward statements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementsConfig {
    /// Monthly or quarterly.
    pub period: schema::StatementPeriod,
    /// Where they are written.
    pub outbox: PathBuf,
    /// Validity of a statement's sign-in link, in days.
    pub link_days: u32,
    /// Points expiring within this many days are called out.
    pub expiring_days: u32,
}

/// The member portal and the admin dashboard.
#[derive(Debug, Clone)]
pub struct PortalConfig {
    /// Signs links and sessions.
    pub secret: crate::runtime::Secret,
    /// The program's name as members see it.
    pub title: String,
    /// How long a sign-in link stays valid.
    pub link_minutes: u32,
    /// How long a session lasts.
    pub session_minutes: u32,
    /// How long an enrollment link stays valid.
    pub invitation_days: u32,
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
    /// Named tokens with a scope.
    pub tokens: Vec<ApiToken>,
    /// Deliveries an inbox worker takes in one batch.
    pub inbox_batch_max: usize,
    /// Deliveries a connector may hold unapplied before its webhooks are
    /// refused.
    pub inbox_backlog_max: usize,
    /// Webhook requests handled at once before more are refused.
    pub webhooks_in_flight_max: usize,
    /// Largest request body outside webhooks, in bytes.
    pub body_bytes_max: usize,
    /// Reverse proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// `[server.rate_limits]`.
    pub rate_limits: schema::RateLimits,
    /// The certificate and key, when the API is served over HTTPS.
    pub tls: Option<crate::http_edge::Tls>,
    /// How long shutdown waits for in-flight work, in seconds.
    pub shutdown_grace_seconds: u64,
    /// This daemon's name in the leases, when configured.
    pub instance_id: Option<String>,
    /// How long a lease holds without renewal.
    pub lease: std::time::Duration,
}

/// A named API token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    /// Its name, as the audit log shows it (`token:NAME`).
    pub name: String,
    /// SHA-256 of the token.
    pub sha256: [u8; 32],
    /// What it may do.
    pub scope: TokenScope,
}

pub use schema::TokenScope;

/// Where the ledger lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// An SQLite database file.
    Sqlite {
        /// The database file, resolved against the configuration file's
        /// directory.
        path: PathBuf,
    },
    /// A PostgreSQL database that several daemons may share.
    Postgres {
        /// Where it is, without a password (`postgres://user@host:port/db`).
        url: String,
        /// The password, read from `[store.password]`, if one is needed.
        password: Option<crate::runtime::Secret>,
        /// Read connections at most.
        pool_size: u32,
    },
}

/// The connector runtime.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// Where compiled connectors are cached, resolved against the
    /// configuration file's directory; `None` compiles on every start.
    pub cache_dir: Option<PathBuf>,
}

/// One connector, ready for the runtime.
#[derive(Debug, Clone)]
pub struct ConnectorConfig {
    /// Its component file, resolved against the configuration file's
    /// directory; it existed when the configuration was loaded.
    pub plugin: PathBuf,
    /// Scheduled polling, if enabled.
    pub poll: Option<PollConfig>,
    /// Its sandbox limits.
    pub limits: Limits,
    /// Allowed hosts, credentials (values read, bound to their hosts),
    /// webhook secrets (values read) and settings.
    pub grants: Grants,
}

/// `[connectors.NAME.poll]`: scheduled incremental sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollConfig {
    /// From the end of one sync to the start of the next, before jitter.
    pub interval: std::time::Duration,
    /// Most records per page.
    pub page_size: u32,
}

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

/// Reads, parses and checks the configuration file at `path`, resolving
/// relative paths against its directory and reading secret values from the
/// environment and from files, and terms texts from their files. Reports
/// every problem found, in file order.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    load_with_env(path, &|name| std::env::var_os(name))
}

/// [`load`], reading environment variables through `env` rather than from
/// the process environment (which tests cannot change safely).
pub fn load_with_env(
    path: &Path,
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Result<Config, ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: path.to_path_buf(),
            line: 0,
            column: 0,
            key: String::new(),
            message: format!("cannot read the configuration file: {e}"),
        }])
    })?;
    parse(path, &text, env)
}

/// Parses and checks `text` as the configuration file at `path`: relative
/// paths resolve against `path`'s directory and problems name `path`, but
/// `path` itself is not read. Like [`load_with_env`], it reads secret and
/// terms files, never panics on any text, and reports every problem found.
pub fn parse(
    path: &Path,
    text: &str,
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Result<Config, ConfigErrors> {
    let mut document = document::Document::parse(path, text)?;
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

/// The version of `program`'s rules: the first 12 hex digits of the SHA-256
/// of its JSON (`serde_json`) with `version` empty. The same rules always
/// get the same version, whatever the file's layout and comments; any
/// change to a rule or a terms text gets a new one.
pub fn program_version(program: &Program) -> String {
    let unversioned = Program {
        version: String::new(),
        ..program.clone()
    };
    // Serializing cannot fail (every map key is a string); should it ever,
    // the debug form still changes with every rule.
    let json = serde_json::to_string(&unversioned).unwrap_or_else(|_| format!("{unversioned:?}"));
    let mut version = hex::encode(Sha256::digest(json.as_bytes()));
    version.truncate(12);
    version
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    use rust_decimal::Decimal;

    use super::*;
    use crate::config::secrets::tests::TempDir;
    use crate::core::program::Rounding;
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

    /// Program rules beyond the base rate, appended to [`CONFIG`] (TOML
    /// allows a table's subtables after other tables).
    const RULES: &str = r#"
[[program.tiers.levels]]
id = "silver"
name = "Silver"
min_spend = "0"

[[program.tiers.levels]]
id = "gold"
name = "Gold"
min_spend = "10000"
discount_percent = "5"

[[program.terms]]
version = "2026-01"
effective_from = 2026-01-01T00:00:00Z
file = "terms/2026-01.md"
"#;

    /// The same rules as `CONFIG` + `RULES`, laid out differently: other
    /// key order, inline tables, comments, equal decimals written otherwise.
    const RULES_RELAID: &str = r#"
# Tiers, lowest first.
[program.tiers]
levels = [
  { name = "Silver", id = "silver", min_spend = 0 },        # everyone
  { id = "gold", name = "Gold", min_spend = "10000.00", discount_percent = "5.0" },
]

[[program.terms]]
file = "terms/2026-01.md"   # read at load
effective_from = 2026-01-01T01:00:00+01:00
version = "2026-01"
"#;

    fn with_rules(dir: &TempDir, name: &str, rules: &str) -> Program {
        let path = dir.file(name, &format!("{CONFIG}{rules}"), 0o644);
        load_with_env(&path, &env).unwrap().program
    }

    #[test]
    fn terms_are_read_from_their_file_relative_to_the_config() {
        let (dir, _) = setup();
        dir.file("terms/2026-01.md", "# Terms\n\nPoints expire.\n", 0o644);
        let program = with_rules(&dir, "rules.toml", RULES);
        assert_eq!(program.terms.len(), 1);
        assert_eq!(program.terms[0].text, "# Terms\n\nPoints expire.\n");
        assert_eq!(program.terms[0].effective_from, 1_767_225_600_000);
        let tiers: Vec<_> = program.tiers.tiers.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(tiers, ["silver", "gold"]);
        assert_eq!(
            (program.tiers.window_days, program.tiers.grace_days),
            (365, 90)
        );
    }

    #[test]
    fn the_version_is_a_digest_of_the_rules_not_of_the_file() {
        let (dir, _) = setup();
        dir.file("terms/2026-01.md", "# Terms\n", 0o644);
        let program = with_rules(&dir, "rules.toml", RULES);
        assert_eq!(program.version.len(), 12);
        assert!(program.version.bytes().all(|b| b.is_ascii_hexdigit()));
        let json = serde_json::to_string(&Program {
            version: String::new(),
            ..program.clone()
        })
        .unwrap();
        assert_eq!(
            program.version,
            hex::encode(Sha256::digest(json.as_bytes()))[..12]
        );

        let relaid = with_rules(&dir, "relaid.toml", RULES_RELAID);
        assert_eq!(relaid, program, "the same rules, however written");

        let changed = with_rules(
            &dir,
            "changed.toml",
            &RULES.replace("min_spend = \"10000\"", "min_spend = \"12000\""),
        );
        assert_ne!(changed.version, program.version);

        dir.file("terms/2026-01.md", "# Terms, corrected\n", 0o644);
        let new_terms = with_rules(&dir, "rules.toml", RULES);
        assert_ne!(new_terms.version, program.version, "the terms text counts");
    }

    #[test]
    fn the_base_rules_alone_still_get_a_version_and_the_defaults() {
        let (_dir, path) = setup();
        let config = load_with_env(&path, &env).unwrap();
        let program = &config.program;
        assert_eq!(program.version, program_version(program));
        assert_eq!(program.effective_from, None);
        assert_eq!(
            program.membership,
            crate::core::program::Membership::default()
        );
        assert_eq!(program.expiry, None);
        assert!(program.rewards.is_empty() && program.terms.is_empty());
        assert_eq!(config.identity, IdentityRules::default());
    }
}
