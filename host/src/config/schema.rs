//! The configuration file as written: every table and key, its meaning and
//! its default. These types are what the TOML deserializes into; they check
//! the form of each value (an address, a currency code, a host pattern) so
//! that a bad value is reported at its own position. Checks that involve
//! several keys, the environment or the filesystem happen afterwards, in
//! `validate`.
//!
//! A key that is required is an `Option` here so that its absence is reported
//! with a message of its own, and without hiding the other problems of its
//! table.
//!
//! ```toml
//! [server]
//! public_base_url = "https://loyalty.example.com"
//!
//! [store]
//! type = "sqlite"
//! path = "data/loyalty.db"
//!
//! [program]
//! currency = "EUR"
//! points_per_unit = "1"
//! rounding = "floor"
//!
//! [connectors.shopify]
//! plugin = "plugins/shopify.wasm"
//! allowed_hosts = ["https://*.myshopify.com"]
//! secrets.webhook = { env = "SHOPIFY_WEBHOOK_SECRET" }
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use toml::Spanned;
use url::Url;

use crate::config::Rounding;
use crate::runtime::{HostPattern, Limits};

/// The top-level tables, in the order they are documented.
pub const SECTIONS: &[&str] = &["server", "store", "runtime", "program", "connectors"];

/// The store types `[store] type` accepts.
pub const STORE_TYPES: &[&str] = &["sqlite"];

/// Default of `[server] listen`.
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 8080);

/// Default of `[server] inbox_batch_max`.
pub const DEFAULT_INBOX_BATCH_MAX: usize = 64;

/// `[server]`: the HTTP API vendors and administrators call.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    /// Address and port the API listens on. Default `127.0.0.1:8080`.
    #[serde(default = "default_listen", deserialize_with = "socket_addr")]
    pub listen: SocketAddr,
    /// The URL vendors reach the API at, as they see it (behind any proxy).
    /// Webhook signatures may cover it. Required.
    pub public_base_url: Option<PublicUrl>,
    /// SHA-256 digests (64 lower-case hex characters) of the accepted admin
    /// bearer tokens; the tokens themselves are never stored. Default: none,
    /// which disables the admin API.
    #[serde(default)]
    pub admin_token_sha256: Vec<TokenDigest>,
    /// Webhook deliveries a connector's inbox worker takes in one batch.
    /// Default 64.
    #[serde(default = "default_inbox_batch_max", deserialize_with = "at_least_one")]
    pub inbox_batch_max: usize,
}

/// `[store]`: where the ledger lives. The key `type` chooses the variant;
/// the other keys belong to that variant.
#[derive(Debug)]
pub enum Store {
    /// `type = "sqlite"`.
    Sqlite(SqliteStore),
}

/// `[store]` with `type = "sqlite"`: one database file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqliteStore {
    /// `"sqlite"`: the key that chose this variant.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The database file, created if missing. Relative to the configuration
    /// file's directory. Required.
    pub path: Option<PathBuf>,
}

/// `[runtime]`: the connector runtime. Optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Runtime {
    /// Directory for compiled connectors, so restarts do not recompile.
    /// Relative to the configuration file's directory. Default: no cache.
    #[serde(default)]
    pub cache_dir: Option<PathBuf>,
}

/// `[program]`: how purchases earn points.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Program {
    /// ISO 4217 code of the currency points are earned in, e.g. `"EUR"`.
    /// Required.
    pub currency: Option<CurrencyCode>,
    /// Points earned per one unit of `currency`, as a decimal string
    /// (`"1"`, `"0.5"`), never a float. Required.
    pub points_per_unit: Option<PositiveDecimal>,
    /// How a fractional point amount becomes whole points: `"floor"`,
    /// `"half_up"` or `"half_even"`. Required.
    pub rounding: Option<Rounding>,
    /// `[program.exchange_rates]`: for each other currency (ISO 4217 code),
    /// the decimal string converting one unit of it into `currency`.
    /// Purchases in a currency without a rate earn nothing. Default: none.
    #[serde(default)]
    pub exchange_rates: BTreeMap<CurrencyCode, PositiveDecimal>,
}

/// `[connectors.NAME]`: one connector. `NAME` matches `[a-z][a-z0-9_-]*`;
/// it appears in the connector's webhook URL, `/webhooks/NAME`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Connector {
    /// The connector's component file (`.wasm`). Relative to the
    /// configuration file's directory; must exist. Required.
    pub plugin: Option<Spanned<PathBuf>>,
    /// Destinations the connector may call, as `scheme://host[:port]`;
    /// `https://*.example.com` allows every subdomain. Default: none.
    #[serde(default)]
    pub allowed_hosts: Vec<Spanned<Host>>,
    /// Non-secret settings the connector reads with `config-get`.
    /// Default: none.
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
    /// `[connectors.NAME.secrets.SECRET]`: webhook signing secrets, which
    /// never enter the sandbox. Default: none.
    #[serde(default)]
    pub secrets: BTreeMap<String, Spanned<SecretSource>>,
    /// `[connectors.NAME.credentials.CREDENTIAL]`: credentials the host puts
    /// into the connector's requests to the hosts they are bound to.
    /// Default: none.
    #[serde(default)]
    pub credentials: BTreeMap<String, Spanned<CredentialSource>>,
    /// `[connectors.NAME.limits]`: the sandbox's limits for this connector.
    /// Default: the runtime's defaults.
    #[serde(default)]
    pub limits: Limits,
}

/// Where a secret value comes from: exactly one of `env` and `file`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSource {
    /// An environment variable holding the value.
    pub env: Option<Spanned<String>>,
    /// A file holding the value (one trailing newline is ignored), relative
    /// to the configuration file's directory, readable by its owner only.
    pub file: Option<Spanned<PathBuf>>,
}

/// A credential: where its value comes from (exactly one of `env` and
/// `file`), how it is put into a request, and the only hosts it is sent to.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialSource {
    /// An environment variable holding the value.
    pub env: Option<Spanned<String>>,
    /// A file holding the value (one trailing newline is ignored), relative
    /// to the configuration file's directory, readable by its owner only.
    pub file: Option<Spanned<PathBuf>>,
    /// How the value is put into a request: `"bearer"`, `"header"` or
    /// `"basic"`. Default `"bearer"`.
    pub inject: Option<Spanned<Inject>>,
    /// The header's name, for `inject = "header"` only (there required).
    pub header: Option<Spanned<HeaderName>>,
    /// The user name, for `inject = "basic"` only (there required).
    pub username: Option<Spanned<String>>,
    /// The hosts this credential may be sent to, as `scheme://host[:port]`;
    /// each must be covered by the connector's `allowed_hosts`. Required and
    /// non-empty.
    pub hosts: Option<Vec<Spanned<Host>>>,
}

/// How a credential is put into a request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Inject {
    /// `Authorization: Bearer <value>`.
    #[default]
    Bearer,
    /// `<header>: <value>`.
    Header,
    /// `Authorization: Basic base64(<username>:<value>)`.
    Basic,
}

/// An absolute `http` or `https` URL without query or fragment.
#[derive(Debug, Clone)]
pub struct PublicUrl(pub Url);

/// The SHA-256 digest of an admin token.
#[derive(Clone)]
pub struct TokenDigest(pub [u8; 32]);

/// An ISO 4217 currency code in use for payments.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CurrencyCode(pub String);

/// A decimal number greater than zero, written as a string (or an integer).
#[derive(Debug, Clone, Copy)]
pub struct PositiveDecimal(pub Decimal);

/// A host pattern, with the text it was written as.
#[derive(Debug, Clone)]
pub struct Host {
    /// As written in the file, for messages.
    pub text: String,
    /// Parsed.
    pub pattern: HostPattern,
}

/// An HTTP header name.
#[derive(Debug, Clone)]
pub struct HeaderName(pub String);

fn default_listen() -> SocketAddr {
    DEFAULT_LISTEN
}

fn default_inbox_batch_max() -> usize {
    DEFAULT_INBOX_BATCH_MAX
}

/// Deserializes a string and parses it with `parse`, whose error message is
/// reported at the value's position. The parsing happens inside the
/// deserializer's visitor so that an element of a list is reported at its
/// own position rather than at the list's.
/// `expecting` describes the string for a type error, e.g. `listen = 8080`.
fn parse_string<'de, D, T>(
    deserializer: D,
    expecting: &'static str,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    deserializer.deserialize_str(ParseVisitor { expecting, parse })
}

struct ParseVisitor<F> {
    expecting: &'static str,
    parse: F,
}

impl<'de, T, F: FnOnce(&str) -> Result<T, String>> Visitor<'de> for ParseVisitor<F> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<T, E> {
        (self.parse)(text).map_err(E::custom)
    }
}

fn socket_addr<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SocketAddr, D::Error> {
    parse_string(
        deserializer,
        "an address and port as a string, e.g. \"127.0.0.1:8080\"",
        |text| {
            text.parse().map_err(|_| {
            format!("`{text}` is not an address and port: write it like \"127.0.0.1:8080\" or \"[::]:8080\"")
        })
        },
    )
}

fn at_least_one<'de, D: Deserializer<'de>>(deserializer: D) -> Result<usize, D::Error> {
    let value = usize::deserialize(deserializer)?;
    if value == 0 {
        return Err(de::Error::custom("must be at least 1"));
    }
    Ok(value)
}

impl<'de> Deserialize<'de> for PublicUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // The URL is not repeated: one with a password in it must not end up
        // in a log.
        parse_string(
            deserializer,
            "a URL as a string, e.g. \"https://loyalty.example.com\"",
            |text| {
                let url = Url::parse(text).map_err(|e| {
                format!("not an absolute URL ({e}): write it with its scheme, e.g. \"https://loyalty.example.com\"")
            })?;
                if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                    return Err(
                        "not an http or https URL: write it like \"https://loyalty.example.com\""
                            .to_owned(),
                    );
                }
                if !url.username().is_empty() || url.password().is_some() {
                    return Err(
                    "must not contain a user name or password: keep scheme, host, port and path"
                        .to_owned(),
                );
                }
                if url.query().is_some() || url.fragment().is_some() {
                    return Err(
                        "must not have a query or fragment: keep scheme, host, port and path"
                            .to_owned(),
                    );
                }
                Ok(Self(url))
            },
        )
    }
}

impl<'de> Deserialize<'de> for TokenDigest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // The value is never repeated: a token pasted here by mistake must
        // not end up in a log.
        parse_string(
            deserializer,
            "a SHA-256 digest as a string of 64 hex characters",
            |text| {
                let malformed = || {
                    format!(
                        "not a SHA-256 digest ({} characters): write the 64 lower-case hex characters printed by `printf %s \"$TOKEN\" | sha256sum`, never the token itself",
                        text.chars().count()
                    )
                };
                if text.len() != 64 || !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
                {
                    return Err(malformed());
                }
                let mut digest = [0u8; 32];
                hex::decode_to_slice(text, &mut digest).map_err(|_| malformed())?;
                Ok(Self(digest))
            },
        )
    }
}

impl fmt::Debug for TokenDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenDigest({})", hex::encode(self.0))
    }
}

impl<'de> Deserialize<'de> for CurrencyCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        parse_string(
            deserializer,
            "an ISO 4217 code as a string, e.g. \"EUR\"",
            |text| currency_code(text).map(Self),
        )
    }
}

/// Checks an ISO 4217 code, suggesting the fix for the usual mistakes.
pub(crate) fn currency_code(text: &str) -> Result<String, String> {
    match iso_currency::Currency::from_code(text) {
        Some(currency) if currency.is_special() => Err(format!(
            "`{text}` is an ISO 4217 special code, not a currency: use the code of the currency payments are made in, e.g. \"EUR\""
        )),
        Some(_) => Ok(text.to_owned()),
        None => {
            let upper = text.to_ascii_uppercase();
            if iso_currency::Currency::from_code(&upper).is_some() {
                Err(format!(
                    "unknown currency `{text}`: ISO 4217 codes are upper case, write \"{upper}\""
                ))
            } else {
                Err(format!(
                    "unknown currency `{text}`: use an ISO 4217 code such as \"EUR\", \"USD\" or \"GBP\""
                ))
            }
        }
    }
}

impl<'de> Deserialize<'de> for PositiveDecimal {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(PositiveDecimalVisitor)
    }
}

struct PositiveDecimalVisitor;

impl PositiveDecimalVisitor {
    fn positive<E: de::Error>(
        value: Decimal,
        text: &dyn fmt::Display,
    ) -> Result<PositiveDecimal, E> {
        if value > Decimal::ZERO {
            Ok(PositiveDecimal(value))
        } else {
            Err(E::custom(format!("`{text}` must be greater than zero")))
        }
    }
}

impl<'de> Visitor<'de> for PositiveDecimalVisitor {
    type Value = PositiveDecimal;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a decimal number as a string, e.g. \"0.5\"")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        let value = Decimal::from_str_exact(text)
            .or_else(|_| Decimal::from_scientific(text))
            .map_err(|_| {
                E::custom(format!(
                    "`{text}` is not a decimal number: write it like \"1\" or \"0.25\""
                ))
            })?;
        Self::positive(value, &text)
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Self::Value, E> {
        Self::positive(Decimal::from(value), &value)
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Self::Value, E> {
        Self::positive(Decimal::from(value), &value)
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Self::Value, E> {
        // A TOML float has already lost digits a decimal keeps.
        Err(E::custom(format!(
            "decimal numbers are written as strings so they stay exact: write \"{value}\" (with quotes) instead of {value}"
        )))
    }
}

impl<'de> Deserialize<'de> for Host {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        parse_string(
            deserializer,
            "a host pattern as a string, e.g. \"https://api.example.com\"",
            |text| {
                let pattern = HostPattern::from_str(text).map_err(|e| e.to_string())?;
                Ok(Self {
                    text: text.to_owned(),
                    pattern,
                })
            },
        )
    }
}

impl<'de> Deserialize<'de> for HeaderName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Not repeated when malformed: it may be `Name: <credential>`.
        parse_string(
            deserializer,
            "a header name as a string, e.g. \"X-Api-Key\"",
            |text| {
                http::HeaderName::from_str(text)
                .map(|_| Self(text.to_owned()))
                .map_err(|_| "not an HTTP header name: write the name only, with letters, digits and `-`, e.g. \"X-Api-Key\"; the value comes from `env` or `file`".to_owned())
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn program(toml: &str) -> Result<Program, String> {
        toml::from_str(toml).map_err(|e| e.message().to_owned())
    }

    #[test]
    fn rounding_parses_from_its_snake_case_name() {
        for (text, rounding) in [
            ("floor", Rounding::Floor),
            ("half_up", Rounding::HalfUp),
            ("half_even", Rounding::HalfEven),
        ] {
            let parsed = program(&format!("rounding = \"{text}\"")).unwrap();
            assert_eq!(parsed.rounding, Some(rounding));
        }
        let error = program("rounding = \"round\"").unwrap_err();
        assert!(error.contains("unknown variant `round`"), "{error}");
    }

    #[test]
    fn decimals_are_strings_or_integers_never_floats() {
        let parsed = program("points_per_unit = \"0.25\"").unwrap();
        assert_eq!(parsed.points_per_unit.unwrap().0, Decimal::new(25, 2));
        let parsed = program("points_per_unit = 3").unwrap();
        assert_eq!(parsed.points_per_unit.unwrap().0, Decimal::from(3));
        let error = program("points_per_unit = 0.1").unwrap_err();
        assert!(error.contains("write \"0.1\" (with quotes)"), "{error}");
        let error = program("points_per_unit = \"0\"").unwrap_err();
        assert!(error.contains("greater than zero"), "{error}");
        let error = program("points_per_unit = \"one\"").unwrap_err();
        assert!(error.contains("not a decimal number"), "{error}");
    }

    #[test]
    fn currency_codes_are_iso_4217() {
        assert_eq!(currency_code("EUR").unwrap(), "EUR");
        assert!(currency_code("eur").unwrap_err().contains("write \"EUR\""));
        assert!(
            currency_code("EURO")
                .unwrap_err()
                .contains("unknown currency `EURO`")
        );
        assert!(currency_code("XXX").unwrap_err().contains("special code"));
    }

    #[test]
    fn token_digests_are_never_echoed() {
        let error = toml::from_str::<Server>("admin_token_sha256 = [\"my-raw-admin-token\"]")
            .unwrap_err()
            .message()
            .to_owned();
        assert!(!error.contains("my-raw-admin-token"), "{error}");
        let digest = "a".repeat(64);
        let server: Server =
            toml::from_str(&format!("admin_token_sha256 = [\"{digest}\"]")).unwrap();
        assert_eq!(server.admin_token_sha256[0].0, [0xaa; 32]);
        assert!(
            toml::from_str::<Server>(&format!("admin_token_sha256 = [\"{}\"]", "A".repeat(64)))
                .is_err()
        );
    }

    #[test]
    fn urls_and_header_names_are_not_repeated_when_malformed() {
        for text in [
            "https://user:hunter2@x.example",
            "https://x.example/?token=hunter2",
            "hunter2",
        ] {
            let error = toml::from_str::<Server>(&format!("public_base_url = \"{text}\""))
                .unwrap_err()
                .message()
                .to_owned();
            assert!(!error.contains("hunter2"), "{error}");
        }
        let error = toml::from_str::<CredentialSource>("header = \"X-Key: hunter2\"")
            .unwrap_err()
            .message()
            .to_owned();
        assert!(!error.contains("hunter2"), "{error}");
    }

    #[test]
    fn server_defaults() {
        let server: Server = toml::from_str("").unwrap();
        assert_eq!(server.listen, DEFAULT_LISTEN);
        assert_eq!(server.inbox_batch_max, DEFAULT_INBOX_BATCH_MAX);
        assert!(server.admin_token_sha256.is_empty());
        assert!(toml::from_str::<Server>("inbox_batch_max = 0").is_err());
    }
}
