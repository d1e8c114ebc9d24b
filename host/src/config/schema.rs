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
use toml::value::Datetime;
use url::Url;

use crate::runtime::{HostPattern, Limits};

mod program;

pub use program::*;

/// The top-level tables, in the order they are documented.
pub const SECTIONS: &[&str] = &[
    "server",
    "store",
    "runtime",
    "program",
    "identity",
    "segments",
    "campaigns",
    "goals",
    "portal",
    "statements",
    "connectors",
];

/// `[[segments]]`: a saved filter over accounts and their contacts that
/// campaigns target. See "Segments" in the README for the filter language.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Segment {
    /// Stable name, `[a-z0-9][a-z0-9_-]*`, unique. Required.
    pub id: Option<Spanned<Id>>,
    /// Display name. Required.
    pub name: Option<Spanned<String>>,
    /// What the segment is for. Default: none.
    pub description: Option<String>,
    /// Which accounts belong, e.g. `tier = "gold" and country = "DE"`.
    /// Required.
    pub filter: Option<Spanned<String>>,
    /// Which of their contacts campaigns reach, e.g.
    /// `role = "procurement"`. Default: every contact.
    pub contacts: Option<Spanned<String>>,
}

/// `[[campaigns]]`: a message to a segment through a connector. See
/// "Campaigns" in the README.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Campaign {
    /// Stable name, `[a-z0-9][a-z0-9_-]*`, unique. Required.
    pub id: Option<Spanned<Id>>,
    /// Display name. Required.
    pub name: Option<String>,
    /// `"message"`, `"nps_survey"` or `"invitation"`. Default `"message"`.
    pub kind: Option<crate::core::campaigns::CampaignKind>,
    /// The segment's id. Required.
    pub segment: Option<String>,
    /// The connector whose `push-campaign` delivers it. Required.
    pub channel: Option<String>,
    /// Subject template. Default: none.
    pub subject: Option<String>,
    /// Message template (`{{ first_name }}`, `{{ balance }}`, ...).
    /// Required.
    pub template: Option<String>,
    /// What it offers, e.g. `{ kind = "bonus_points", points = 500 }`.
    /// Default: nothing.
    pub offer: Option<CampaignOffer>,
    /// Share of the segment held out, in percent. Default `"0"`.
    pub holdout_percent: Option<Percent>,
    /// Days after the send purchases are attributed to it. Default 30.
    pub attribution_days: Option<Days>,
    /// When to send it. Default: a draft, scheduled through the API.
    pub send_at: Option<Timestamp>,
}

/// `[portal]`: the member rewards portal and the admin dashboard, served
/// by the daemon under `/portal` and `/admin`. Default: neither is served.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Portal {
    /// `[portal.secret]`: the key that signs sign-in links, enrollment
    /// links and sessions, at least 32 bytes (`openssl rand -hex 32`), from
    /// `env` or an owner-only `file`. Changing it signs everyone out.
    /// Required.
    pub secret: Option<Spanned<SecretSource>>,
    /// The program's name as members see it. Default `"Rewards"`.
    pub title: Option<Spanned<String>>,
    /// How long a sign-in link stays valid, in minutes. Default 60.
    pub link_minutes: Option<Count>,
    /// How long a session lasts, in minutes. Default 480.
    pub session_minutes: Option<Count>,
    /// How long an enrollment link in an invitation stays valid, in days.
    /// Default 14.
    pub invitation_days: Option<Days>,
}

/// `[statements]`: periodic reward statements for every member account.
/// Default: none are made.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Statements {
    /// `"monthly"` or `"quarterly"` (UTC calendar periods). Default
    /// `"monthly"`.
    pub period: Option<StatementPeriod>,
    /// The directory each statement is written to (HTML and plain text,
    /// one file each per recipient), relative to this file. Required.
    pub outbox: Option<PathBuf>,
    /// How long the sign-in link in a statement stays valid, in days
    /// (with `[portal]`). Default 14.
    pub link_days: Option<Days>,
    /// Points expiring within this many days are called out. Default 60.
    pub expiring_days: Option<Days>,
}

/// How often statements are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StatementPeriod {
    /// Every calendar month.
    Monthly,
    /// Every calendar quarter.
    Quarterly,
}

/// `[[goals]]`: a SMART goal on an analytics figure. See "Goals" in the
/// README.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Goal {
    /// Stable name, `[a-z0-9][a-z0-9_-]*`, unique. Required.
    pub id: Option<Spanned<Id>>,
    /// What it is, in words. Required.
    pub name: Option<Spanned<String>>,
    /// The figure it measures: `participation_rate`, `members`,
    /// `active_members`, `redemption_rate`, `points_issued`,
    /// `member_revenue`, `incremental_revenue`, `member_retention`,
    /// `referrals`, `referred_revenue` or `roi`. Required.
    pub metric: Option<Spanned<String>>,
    /// The figure when the goal was set, a decimal string. Required.
    pub baseline: Option<Spanned<SignedDecimal>>,
    /// The figure to reach, a decimal string; below the baseline to bring a
    /// figure down. Required.
    pub target: Option<Spanned<SignedDecimal>>,
    /// The first day measured, a date without quotes (`2026-07-01`).
    /// Required.
    pub start: Option<Spanned<Day>>,
    /// The last day to reach the target (`2026-12-31`). Required.
    pub deadline: Option<Spanned<Day>>,
    /// Who answers for it. Required.
    pub owner: Option<Spanned<String>>,
}

/// `offer` of a campaign.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignOffer {
    /// `"bonus_points"`, `"multiplier"`, `"discount_code"` or `"reward"`.
    pub kind: String,
    /// `bonus_points`: the points.
    pub points: Option<Points>,
    /// `multiplier`: the factor, above 1.
    pub factor: Option<PositiveDecimal>,
    /// `multiplier`, `discount_code`: when it ends.
    pub ends_at: Option<Timestamp>,
    /// `discount_code`: percent off.
    pub percent_off: Option<Percent>,
    /// `discount_code`: amount off in the program currency.
    pub amount_off: Option<PositiveDecimal>,
    /// `reward`: a reward's id.
    pub reward: Option<String>,
}

/// The store types `[store] type` accepts.
pub const STORE_TYPES: &[&str] = &["sqlite", "postgres"];

/// Default of `[store] pool_size` for PostgreSQL.
pub const DEFAULT_POSTGRES_POOL_SIZE: u32 = 8;

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
    /// `[[server.tokens]]`: API tokens with a name and a narrower scope
    /// (or `admin`). Default: none.
    #[serde(default)]
    pub tokens: Vec<Spanned<ApiToken>>,
    /// Webhook deliveries a connector's inbox worker takes in one batch.
    /// Default 64.
    #[serde(default = "default_inbox_batch_max", deserialize_with = "at_least_one")]
    pub inbox_batch_max: usize,
    /// Deliveries a connector may hold stored but not yet applied. Past
    /// it, its webhooks are answered 503 with `Retry-After` and the vendor
    /// redelivers later. Default 100000.
    #[serde(
        default = "default_inbox_backlog_max",
        deserialize_with = "at_least_one"
    )]
    pub inbox_backlog_max: usize,
    /// Webhook requests verified and stored at once, all connectors
    /// together. One more is answered 503 with `Retry-After` at once, so
    /// that a burst beyond what the daemon can take meets a quick refusal
    /// instead of an answer that comes too late. Default 256.
    #[serde(
        default = "default_webhooks_in_flight_max",
        deserialize_with = "at_least_one"
    )]
    pub webhooks_in_flight_max: usize,
    /// Largest request body accepted, in bytes, on every route but the
    /// webhooks (which take their connector's `payload_bytes_max`); a
    /// larger one is answered 413. Default 1048576 (1 MiB).
    #[serde(default = "default_body_bytes_max", deserialize_with = "at_least_one")]
    pub body_bytes_max: usize,
    /// Addresses of the reverse proxies in front of the daemon, e.g.
    /// `["127.0.0.1"]`. Only a request from one of them is believed about
    /// its client: the right-most `X-Forwarded-For` address that is not a
    /// listed proxy. Rate limits count per client. Default: none, so the
    /// client is the TCP peer.
    #[serde(default)]
    pub trusted_proxies: Vec<Spanned<ProxyAddress>>,
    /// `[server.rate_limits]`: requests allowed per client, connector or
    /// token. Default: the defaults of each key.
    #[serde(default)]
    pub rate_limits: RateLimits,
    /// `[server.tls]`: serve HTTPS with this certificate and key. Default:
    /// plain HTTP (for a daemon behind a TLS-terminating proxy).
    pub tls: Option<Spanned<Tls>>,
    /// On SIGTERM, how long in-flight requests and jobs may take to finish
    /// before the daemon exits anyway, in seconds. Default 10.
    #[serde(default = "default_shutdown_grace_seconds")]
    pub shutdown_grace_seconds: u64,
    /// This daemon's name among the daemons that share one database, as
    /// the leases of `GET /api/v1/cluster` show it. Default: the host name
    /// and the `listen` port (`db-host-1:8080`), so that a daemon restarted
    /// after a crash takes its own leases back at once; on port 0, the host
    /// name, the process id and a random suffix.
    pub instance_id: Option<Spanned<String>>,
    /// How long a lease on shared work (a connector's polling, fulfilment,
    /// campaign dispatch, segment refresh, statements) holds unless its
    /// holder renews it, in seconds: when a daemon dies, another takes its
    /// work over within this long. At least 3. Default 30.
    pub lease_seconds: Option<Spanned<u64>>,
}

/// `[server.rate_limits]`: how many requests the daemon takes before it
/// answers 429 with `Retry-After`. A limit of 0 disables it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimits {
    /// Sign-in attempts per client address and minute: portal sign-in and
    /// enrollment forms, the dashboard's token sign-in, and every API
    /// request with a wrong bearer token. Once exceeded, every request of
    /// that client that presents a bearer token is refused until the wait
    /// is over, a correct token too, so that a guess cannot be told right
    /// from wrong. Default 10.
    #[serde(default = "default_sign_in_per_minute")]
    pub sign_in_per_minute: Rate,
    /// Webhook deliveries per connector and second, with bursts of one
    /// second's worth; vendors redeliver what is refused. Default 1000.
    #[serde(default = "default_webhooks_per_second")]
    pub webhooks_per_second: Rate,
    /// API requests per bearer token and second, with bursts of one
    /// second's worth. Default 1000.
    #[serde(default = "default_api_per_second")]
    pub api_per_second: Rate,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            sign_in_per_minute: default_sign_in_per_minute(),
            webhooks_per_second: default_webhooks_per_second(),
            api_per_second: default_api_per_second(),
        }
    }
}

/// A number of requests per period; 0 disables the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate(pub u32);

/// An address in `[server] trusted_proxies`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyAddress(pub std::net::IpAddr);

/// `[server.tls]`: the daemon's certificate and key, read at start.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    /// The certificate chain, PEM, the server's certificate first. Relative
    /// to the configuration file's directory. Required.
    pub cert_file: Option<Spanned<PathBuf>>,
    /// The private key, PEM (PKCS #8, PKCS #1 or SEC1), readable by its
    /// owner only. Relative to the configuration file's directory.
    /// Required.
    pub key_file: Option<Spanned<PathBuf>>,
}

/// `[[server.tokens]]`: one API token.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiToken {
    /// A name for the token, `[a-z0-9][a-z0-9_-]*`, unique; the audit log
    /// and the ledger name the token by it (`token:NAME`). Required.
    pub name: Option<Id>,
    /// The token's SHA-256 digest (64 lower-case hex characters); the token
    /// itself is never stored. Required.
    pub sha256: Option<TokenDigest>,
    /// What the token may do: `"admin"` (everything), `"analyst"` (read
    /// only) or `"integration"` (submit events to `POST /api/v1/events`
    /// only). Required.
    pub scope: Option<TokenScope>,
}

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenScope {
    /// Everything.
    Admin,
    /// Read everything, change nothing.
    Analyst,
    /// Submit events, nothing else.
    Integration,
}

/// `[store]`: where the ledger lives. The key `type` chooses the variant;
/// the other keys belong to that variant.
#[derive(Debug)]
pub enum Store {
    /// `type = "sqlite"`.
    Sqlite(SqliteStore),
    /// `type = "postgres"`.
    Postgres(PostgresStore),
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

/// `[store]` with `type = "postgres"`: a PostgreSQL database that several
/// daemons may share.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresStore {
    /// `"postgres"`: the key that chose this variant.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The database, `postgres://user@host:port/database`, without a
    /// password. Required.
    pub url: Option<Spanned<String>>,
    /// The password: exactly one of `env` and `file`. Optional.
    pub password: Option<Spanned<SecretSource>>,
    /// Read connections at most, per daemon. Default 8.
    pub pool_size: Option<Spanned<u32>>,
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
    /// `[connectors.NAME.poll]`: scheduled incremental sync. Default: the
    /// connector is not polled (webhooks only).
    pub poll: Option<Spanned<Poll>>,
    /// Whether the connector may call hosts whose names resolve to private,
    /// loopback, link-local, unique-local, shared (100.64.0.0/10),
    /// unspecified, multicast or broadcast addresses: a system on the
    /// operator's own network. An allowed host written as an IP address
    /// (`http://10.0.0.5:8000`) is reachable either way. Default `false`.
    #[serde(default)]
    pub allow_private_networks: bool,
    /// The SHA-256 the `plugin` file must have (64 hex characters, as
    /// `sha256sum` or `loyaltyd plugins list` print it): any other file is
    /// refused and the daemon does not start. Default: not pinned.
    pub sha256: Option<Spanned<ComponentDigest>>,
}

/// `[connectors.NAME.poll]`: how often and in what pages the connector is
/// polled.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Poll {
    /// Seconds from the end of one sync to the start of the next, give or
    /// take a tenth (jitter, so connectors do not all poll at once).
    /// Required, at least 1.
    pub interval_seconds: Option<Spanned<u64>>,
    /// Most records per page, 1 to 1000. Default 100.
    pub page_size: Option<Spanned<u32>>,
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
    /// How the value is put into a request: `"bearer"`, `"header"`,
    /// `"basic"` or `"oauth2"` (the value is the OAuth 2.0 client secret; the
    /// host obtains access tokens and sends them as bearer tokens). Default
    /// `"bearer"`.
    pub inject: Option<Spanned<Inject>>,
    /// The OAuth 2.0 token endpoint, for `inject = "oauth2"` only (there
    /// required).
    pub token_url: Option<Spanned<PublicUrl>>,
    /// The OAuth 2.0 grant, `"client_credentials"` or `"refresh_token"`, for
    /// `inject = "oauth2"` only. Default `"client_credentials"`.
    pub grant: Option<Spanned<Grant>>,
    /// The OAuth 2.0 client id, for `inject = "oauth2"` only (there required).
    pub client_id: Option<Spanned<String>>,
    /// Where the refresh token comes from (`{ env = "..." }` or
    /// `{ file = "..." }`), for `grant = "refresh_token"` only (there required).
    pub refresh_token: Option<Spanned<SecretSource>>,
    /// The `scope` parameter of token requests, for `inject = "oauth2"` only.
    pub scope: Option<Spanned<String>>,
    /// Whether writes need a CSRF token (SAP Gateway): before the first
    /// request that is not GET, HEAD or OPTIONS, the host asks the OData
    /// service root for one with `X-CSRF-Token: Fetch` and sends it along,
    /// fetching a new one when the vendor answers 403 `x-csrf-token:
    /// Required`. Default `false`.
    pub csrf: Option<bool>,
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
    /// `Authorization: Bearer <access token>`, the token obtained from
    /// `token_url` with the value as the client secret.
    #[serde(rename = "oauth2")]
    OAuth2,
}

/// An OAuth 2.0 grant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grant {
    /// `grant_type=client_credentials`.
    #[default]
    ClientCredentials,
    /// `grant_type=refresh_token`.
    RefreshToken,
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

/// A decimal number, zero or more, written as a string (or an integer).
#[derive(Debug, Clone, Copy)]
pub struct NonNegativeDecimal(pub Decimal);

/// A decimal number of either sign, written as a string (or an integer).
#[derive(Debug, Clone, Copy)]
pub struct SignedDecimal(pub Decimal);

/// A calendar day, written as a TOML local date (`2026-07-01`), UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Day(pub jiff::civil::Date);

/// A percentage from 0 to 100, written as a decimal string (or an integer).
#[derive(Debug, Clone, Copy)]
pub struct Percent(pub Decimal);

/// A whole number of points greater than zero.
#[derive(Debug, Clone, Copy)]
pub struct Points(pub i64);

/// A whole number of days greater than zero.
#[derive(Debug, Clone, Copy)]
pub struct Days(pub u32);

/// How many times: a whole number greater than zero.
#[derive(Debug, Clone, Copy)]
pub struct Count(pub u32);

/// A stable name, `[a-z0-9][a-z0-9_-]*`: ids are recorded in the ledger
/// (a milestone's bonus, a redeemed reward), so renaming one makes it
/// another thing; change its display name instead.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Id(pub String);

/// A moment, written as a TOML offset date-time (`2026-01-01T00:00:00Z`,
/// `2026-01-01T09:00:00+01:00`), in milliseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub i64);

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

/// The SHA-256 of a component file, lower-case hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentDigest(pub String);

fn default_listen() -> SocketAddr {
    DEFAULT_LISTEN
}

fn default_shutdown_grace_seconds() -> u64 {
    10
}

/// `[server] lease_seconds` when not set.
pub const DEFAULT_LEASE_SECONDS: u64 = 30;
/// The shortest `[server] lease_seconds`: a third of it is the renewal
/// period, which must leave a renewal time to commit.
pub const LEASE_SECONDS_MIN: u64 = 3;

fn default_inbox_batch_max() -> usize {
    DEFAULT_INBOX_BATCH_MAX
}

/// Default of `[server] inbox_backlog_max`.
pub const DEFAULT_INBOX_BACKLOG_MAX: usize = 100_000;

fn default_inbox_backlog_max() -> usize {
    DEFAULT_INBOX_BACKLOG_MAX
}

/// Default of `[server] webhooks_in_flight_max`.
pub const DEFAULT_WEBHOOKS_IN_FLIGHT_MAX: usize = 256;

fn default_webhooks_in_flight_max() -> usize {
    DEFAULT_WEBHOOKS_IN_FLIGHT_MAX
}

/// Default of `[server] body_bytes_max`: 1 MiB.
pub const DEFAULT_BODY_BYTES_MAX: usize = 1 << 20;

fn default_body_bytes_max() -> usize {
    DEFAULT_BODY_BYTES_MAX
}

fn default_sign_in_per_minute() -> Rate {
    Rate(10)
}

fn default_webhooks_per_second() -> Rate {
    Rate(1000)
}

fn default_api_per_second() -> Rate {
    Rate(1000)
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RateVisitor)
    }
}

/// Reads a whole number of requests from 0 to `u32::MAX`.
struct RateVisitor;

impl<'de> Visitor<'de> for RateVisitor {
    type Value = Rate;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a whole number of requests, e.g. 10, or 0 to disable the limit")
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Rate, E> {
        match u64::try_from(value) {
            Ok(value) => self.visit_u64(value),
            Err(_) => Err(E::custom(format!(
                "`{value}` is not a number of requests: write a whole number, or 0 to disable the limit"
            ))),
        }
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Rate, E> {
        u32::try_from(value).map(Rate).map_err(|_| {
            E::custom(format!(
                "`{value}` is too large: at most {} requests, or 0 to disable the limit",
                u32::MAX
            ))
        })
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Rate, E> {
        Err(E::custom(format!(
            "expected a whole number of requests, found `{value}`"
        )))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Rate, E> {
        Err(E::custom(
            "expected a whole number of requests, found a string: write it without quotes, e.g. 10",
        ))
    }
}

impl<'de> Deserialize<'de> for ProxyAddress {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        parse_string(
            deserializer,
            "an IP address as a string, e.g. \"127.0.0.1\"",
            |text| {
                text.parse().map(Self).map_err(|_| {
                    format!("`{text}` is not an IP address: write a proxy's address like \"127.0.0.1\" or \"::1\"")
                })
            },
        )
    }
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
        deserializer
            .deserialize_any(DecimalVisitor(DecimalRange::Positive))
            .map(Self)
    }
}

impl<'de> Deserialize<'de> for SignedDecimal {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(DecimalVisitor(DecimalRange::Any))
            .map(Self)
    }
}

impl<'de> Deserialize<'de> for NonNegativeDecimal {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(DecimalVisitor(DecimalRange::NonNegative))
            .map(Self)
    }
}

impl<'de> Deserialize<'de> for Percent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(DecimalVisitor(DecimalRange::Percent))
            .map(Self)
    }
}

/// The values a decimal key accepts.
#[derive(Clone, Copy)]
enum DecimalRange {
    /// Any.
    Any,
    /// Greater than zero.
    Positive,
    /// Zero or more.
    NonNegative,
    /// From 0 to 100.
    Percent,
}

/// Reads a decimal written as a string or an integer, never a float, and
/// checks its range.
struct DecimalVisitor(DecimalRange);

impl DecimalVisitor {
    fn check<E: de::Error>(&self, value: Decimal, text: &dyn fmt::Display) -> Result<Decimal, E> {
        let (ok, requirement) = match self.0 {
            DecimalRange::Any => (true, ""),
            DecimalRange::Positive => (value > Decimal::ZERO, "must be greater than zero"),
            DecimalRange::NonNegative => (value >= Decimal::ZERO, "must not be negative"),
            DecimalRange::Percent => (
                value >= Decimal::ZERO && value <= Decimal::ONE_HUNDRED,
                "must be a percentage from 0 to 100",
            ),
        };
        if ok {
            Ok(value)
        } else {
            Err(E::custom(format!("`{text}` {requirement}")))
        }
    }
}

impl<'de> Visitor<'de> for DecimalVisitor {
    type Value = Decimal;

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
        self.check(value, &text)
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Self::Value, E> {
        self.check(Decimal::from(value), &value)
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Self::Value, E> {
        self.check(Decimal::from(value), &value)
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Self::Value, E> {
        // A TOML float has already lost digits a decimal keeps.
        Err(E::custom(format!(
            "decimal numbers are written as strings so they stay exact: write \"{value}\" (with quotes) instead of {value}"
        )))
    }
}

impl<'de> Deserialize<'de> for Points {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = deserializer.deserialize_any(IntegerVisitor {
            what: "points",
            max: i64::MAX.unsigned_abs(),
        })?;
        i64::try_from(value)
            .map(Self)
            .map_err(|_| de::Error::custom("too many points"))
    }
}

impl<'de> Deserialize<'de> for Days {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = deserializer.deserialize_any(IntegerVisitor {
            what: "days",
            max: u64::from(u32::MAX),
        })?;
        u32::try_from(value)
            .map(Self)
            .map_err(|_| de::Error::custom("too many days"))
    }
}

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = deserializer.deserialize_any(IntegerVisitor {
            what: "times",
            max: u64::from(u32::MAX),
        })?;
        u32::try_from(value)
            .map(Self)
            .map_err(|_| de::Error::custom("too many times"))
    }
}

/// Reads a whole number from 1 to `max`.
struct IntegerVisitor {
    /// What it counts, for messages: "points", "days".
    what: &'static str,
    max: u64,
}

impl<'de> Visitor<'de> for IntegerVisitor {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a whole number of {}, e.g. 30", self.what)
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Self::Value, E> {
        match u64::try_from(value) {
            Ok(value) => self.visit_u64(value),
            Err(_) => Err(E::custom(format!("`{value}` must be greater than zero"))),
        }
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Self::Value, E> {
        if value == 0 {
            Err(E::custom("`0` must be greater than zero"))
        } else if value > self.max {
            Err(E::custom(format!(
                "`{value}` is too large: at most {} {}",
                self.max, self.what
            )))
        } else {
            Ok(value)
        }
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Self::Value, E> {
        Err(E::custom(format!(
            "expected a whole number of {}, found `{value}`",
            self.what
        )))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        // Repeated only when it is a number: a string may be a secret
        // written in the wrong place.
        if text.trim().parse::<i64>().is_ok() {
            Err(E::custom(format!(
                "expected a whole number of {}, found a string: write {} without quotes",
                self.what,
                text.trim()
            )))
        } else {
            Err(E::custom(format!(
                "expected a whole number of {}, found a string: write it without quotes, e.g. 30",
                self.what
            )))
        }
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        parse_string(deserializer, "an id as a string, e.g. \"gold\"", |text| {
            if id_ok(text) {
                return Ok(Self(text.to_owned()));
            }
            let mut message = format!(
                "`{text}` is not a valid id: use lower-case letters, digits, `_` and `-`, starting with a letter or digit"
            );
            let suggestion: String = text
                .trim()
                .to_lowercase()
                .chars()
                .map(|c| if c.is_whitespace() { '-' } else { c })
                .collect();
            if id_ok(&suggestion) {
                message.push_str(&format!(", e.g. \"{suggestion}\""));
            }
            Err(message)
        })
    }
}

/// `[a-z0-9][a-z0-9_-]*`.
pub(crate) fn id_ok(text: &str) -> bool {
    let mut bytes = text.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

impl<'de> Deserialize<'de> for Day {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DayVisitor)
    }
}

struct DayVisitor;

impl<'de> Visitor<'de> for DayVisitor {
    type Value = Day;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a date without quotes, e.g. 2026-07-01")
    }

    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let datetime = Datetime::deserialize(de::value::MapAccessDeserializer::new(map))?;
        match (&datetime.date, &datetime.time) {
            (Some(date), None) => jiff::civil::Date::new(
                i16::try_from(date.year).unwrap_or(i16::MAX),
                i8::try_from(date.month).unwrap_or(0),
                i8::try_from(date.day).unwrap_or(0),
            )
            .map(Day)
            .map_err(|e| de::Error::custom(format!("`{datetime}` is not a valid date: {e}"))),
            (Some(date), Some(_)) => Err(de::Error::custom(format!(
                "`{datetime}` has a time: write the day alone, e.g. {date}"
            ))),
            (None, _) => Err(de::Error::custom(format!(
                "`{datetime}` is a time without a date: write a date, e.g. 2026-07-01"
            ))),
        }
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        Err(E::custom(format!(
            "dates are written without quotes: write {text} instead of \"{text}\""
        )))
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TimestampVisitor)
    }
}

struct TimestampVisitor;

impl<'de> Visitor<'de> for TimestampVisitor {
    type Value = Timestamp;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a date-time with a UTC offset, e.g. 2026-01-01T00:00:00Z")
    }

    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let datetime = Datetime::deserialize(de::value::MapAccessDeserializer::new(map))?;
        timestamp(&datetime).map_err(de::Error::custom)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        // Repeated only when it is a date-time: a string may be a secret
        // written in the wrong place.
        match Datetime::from_str(text) {
            Ok(datetime) => Err(E::custom(format!(
                "date-times are written without quotes: write {datetime} instead of \"{text}\""
            ))),
            Err(_) => Err(E::custom(
                "expected a date-time with a UTC offset, without quotes, e.g. 2026-01-01T00:00:00Z",
            )),
        }
    }
}

/// Milliseconds since the Unix epoch of a TOML offset date-time; a local
/// date-time, date or time names no single moment and is refused.
fn timestamp(datetime: &Datetime) -> Result<Timestamp, String> {
    match (&datetime.date, &datetime.time, &datetime.offset) {
        (Some(_), Some(_), Some(_)) => {}
        (Some(_), Some(_), None) => {
            return Err(format!(
                "`{datetime}` has no UTC offset, so the moment it names depends on where it is read: add `Z` for UTC ({datetime}Z) or an offset such as +01:00"
            ));
        }
        (Some(date), None, _) => {
            return Err(format!(
                "`{datetime}` is a date without a time: write a date-time with a UTC offset, e.g. {date}T00:00:00Z"
            ));
        }
        (None, _, _) => {
            return Err(format!(
                "`{datetime}` is a time without a date: write a date-time with a UTC offset, e.g. 2026-01-01T{datetime}Z"
            ));
        }
    }
    let text = datetime.to_string();
    jiff::Timestamp::from_str(&text)
        .map(|t| Timestamp(t.as_millisecond()))
        .map_err(|e| format!("`{text}` is not a valid date-time: {e}"))
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

impl<'de> Deserialize<'de> for ComponentDigest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        parse_string(
            deserializer,
            "a SHA-256 digest as a string of 64 hex characters",
            |text| {
                if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Ok(Self(text.to_ascii_lowercase()));
                }
                Err(format!(
                    "`{text}` is not a SHA-256 digest: write the 64 hex characters `sha256sum` or `loyaltyd plugins list` print for the component file"
                ))
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
    use crate::core::program::Rounding;

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
        assert_eq!(server.inbox_backlog_max, DEFAULT_INBOX_BACKLOG_MAX);
        assert_eq!(
            server.webhooks_in_flight_max,
            DEFAULT_WEBHOOKS_IN_FLIGHT_MAX
        );
        assert!(server.admin_token_sha256.is_empty());
        for key in [
            "inbox_batch_max",
            "inbox_backlog_max",
            "webhooks_in_flight_max",
        ] {
            assert!(toml::from_str::<Server>(&format!("{key} = 0")).is_err());
        }
    }

    #[test]
    fn date_times_need_a_utc_offset() {
        let at = |text: &str| {
            toml::from_str::<Terms>(&format!("effective_from = {text}"))
                .map(|t| t.effective_from.map(|t| t.into_inner().0))
                .map_err(|e| e.message().to_owned())
        };
        assert_eq!(at("2026-01-01T00:00:00Z").unwrap(), Some(1_767_225_600_000));
        assert_eq!(
            at("2026-01-01T01:00:00.250+01:00").unwrap(),
            Some(1_767_225_600_250)
        );
        let local = at("2026-01-01T00:00:00").unwrap_err();
        assert!(
            local.contains("add `Z` for UTC (2026-01-01T00:00:00Z)"),
            "{local}"
        );
        let date = at("2026-01-01").unwrap_err();
        assert!(date.contains("e.g. 2026-01-01T00:00:00Z"), "{date}");
        let quoted = at("\"2026-01-01T00:00:00Z\"").unwrap_err();
        assert!(quoted.contains("without quotes"), "{quoted}");
        let text = at("\"hunter2\"").unwrap_err();
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn ids_are_lower_case_names() {
        for good in ["gold", "spend-50k", "gift_card_100", "2026"] {
            assert!(id_ok(good), "{good}");
        }
        for bad in ["", "Gold", "-gold", "gift card", "café"] {
            assert!(!id_ok(bad), "{bad}");
        }
        let error = toml::from_str::<Tier>("id = \"Gold Plus\"")
            .unwrap_err()
            .message()
            .to_owned();
        assert!(error.contains("e.g. \"gold-plus\""), "{error}");
    }

    #[test]
    fn points_and_days_are_whole_numbers_above_zero() {
        let milestone = |text: &str| {
            toml::from_str::<Milestone>(text)
                .map_err(|e| e.message().to_owned())
                .map(|m| (m.points.map(|p| p.0), m.window_days.map(|d| d.0)))
        };
        assert_eq!(
            milestone("points = 5000\nwindow_days = 30").unwrap(),
            (Some(5000), Some(30))
        );
        assert!(
            milestone("points = 0")
                .unwrap_err()
                .contains("greater than zero")
        );
        assert!(
            milestone("points = -1")
                .unwrap_err()
                .contains("greater than zero")
        );
        assert!(
            milestone("points = 1.5")
                .unwrap_err()
                .contains("whole number")
        );
        assert!(
            milestone("points = \"10\"")
                .unwrap_err()
                .contains("write 10 without quotes")
        );
        assert!(
            milestone("window_days = 4294967296")
                .unwrap_err()
                .contains("too large")
        );
    }
}
