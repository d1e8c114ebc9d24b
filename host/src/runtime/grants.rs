//! What the operator grants a connector: outbound hosts, credentials bound to
//! hosts, webhook secrets and settings. Secret values live only here, on the
//! host side of the sandbox.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use url::Url;

use crate::runtime::wit::latest::exports::loyalty::connector::plugin::PluginInfo;

/// A secret value. Its `Debug` output is redacted so it cannot leak into logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<Vec<u8>>) -> Self {
        Self(value.into())
    }

    /// The raw value, for the host code that injects or checks it.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// An outbound destination pattern: `scheme://host[:port]`, where the host may
/// start with `*.` to allow every subdomain (`https://*.myshopify.com`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    scheme: String,
    host: String,
    wildcard: bool,
    port: u16,
}

/// Why a host pattern is malformed.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error(
    "`{pattern}` is not a host pattern: {reason} (expected `https://host`, `https://*.domain` or `http://host:port`)"
)]
pub struct HostPatternError {
    pattern: String,
    reason: &'static str,
}

impl FromStr for HostPattern {
    type Err = HostPatternError;

    fn from_str(pattern: &str) -> Result<Self, Self::Err> {
        let fail = |reason| HostPatternError {
            pattern: pattern.to_owned(),
            reason,
        };
        let (scheme, rest) = pattern
            .split_once("://")
            .ok_or_else(|| fail("missing scheme"))?;
        let scheme = scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "https" => 443,
            "http" => 80,
            _ => return Err(fail("scheme must be http or https")),
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#', '@']) {
            return Err(fail("only scheme, host and port are allowed"));
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) => (host, port.parse::<u16>().map_err(|_| fail("invalid port"))?),
            None => (rest, default_port),
        };
        let (wildcard, host) = match host.strip_prefix("*.") {
            Some(domain) => (true, domain),
            None => (false, host),
        };
        if host.is_empty() || host.contains(['*', '[', ']']) {
            return Err(fail("invalid host"));
        }
        Ok(Self {
            scheme,
            host: host.to_ascii_lowercase(),
            wildcard,
            port,
        })
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let star = if self.wildcard { "*." } else { "" };
        write!(f, "{}://{star}{}:{}", self.scheme, self.host, self.port)
    }
}

impl HostPattern {
    /// Whether every destination `other` matches also matches this.
    pub fn covers(&self, other: &Self) -> bool {
        if self.scheme != other.scheme || self.port != other.port {
            return false;
        }
        if self.wildcard {
            other
                .host
                .strip_suffix(self.host.as_str())
                .is_some_and(|prefix| prefix.ends_with('.'))
                || (other.wildcard && other.host == self.host)
        } else {
            !other.wildcard && other.host == self.host
        }
    }

    /// Whether a URL's scheme, host and port fall under this pattern.
    pub fn matches(&self, url: &Url) -> bool {
        let Some(host) = url.host_str() else {
            return false;
        };
        let host = host.to_ascii_lowercase();
        let host_ok = if self.wildcard {
            // An IP address has no subdomains: `*.0.0.1` must not let a
            // connector name 127.0.0.1, which is never checked by DNS.
            matches!(url.host(), Some(url::Host::Domain(_)))
                && host
                    .strip_suffix(self.host.as_str())
                    .is_some_and(|prefix| prefix.ends_with('.'))
        } else {
            host == self.host
        };
        host_ok && url.scheme() == self.scheme && url.port_or_known_default() == Some(self.port)
    }
}

/// How a credential is put into a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Injection {
    /// `Authorization: Bearer <access token>`, the token obtained by the host
    /// from an OAuth 2.0 token endpoint with the credential's value as the
    /// client secret, cached, and renewed when the vendor answers 401.
    OAuth2(OAuth2),
    /// `Authorization: Bearer <value>`.
    Bearer,
    /// `Authorization: Basic base64(<username>:<value>)`.
    Basic {
        /// The user name.
        username: String,
    },
    /// A header of its own, for example `X-Shopify-Access-Token: <value>`.
    Header {
        /// Header name.
        name: String,
    },
}

/// How the host obtains an OAuth 2.0 access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuth2 {
    /// The token endpoint (`https://login.salesforce.com/services/oauth2/token`).
    pub token_url: Url,
    /// The grant.
    pub grant: OAuth2Grant,
    /// The client id.
    pub client_id: String,
    /// The `scope` parameter, if the vendor wants one.
    pub scope: Option<String>,
}

/// The OAuth 2.0 grant used for the token request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OAuth2Grant {
    /// `grant_type=client_credentials`.
    ClientCredentials,
    /// `grant_type=refresh_token` with this long-lived refresh token.
    RefreshToken(Secret),
}

/// A credential and the hosts it may be sent to.
#[derive(Debug, Clone)]
pub struct Credential {
    /// The secret value (for OAuth 2.0, the client secret).
    pub value: Secret,
    /// How it is injected.
    pub injection: Injection,
    /// The only destinations that ever receive it.
    pub hosts: Vec<HostPattern>,
    /// Whether writes need a CSRF token fetched first (SAP Gateway): the
    /// host fetches it with `X-CSRF-Token: Fetch` and sends it with every
    /// request that is not GET, HEAD or OPTIONS.
    pub csrf: bool,
    /// Tokens the host obtained for this credential, shared by every call.
    pub session: Arc<Session>,
}

impl Credential {
    /// A credential without CSRF handling and with no token obtained yet.
    pub fn new(value: Secret, injection: Injection, hosts: Vec<HostPattern>) -> Self {
        Self {
            value,
            injection,
            hosts,
            csrf: false,
            session: Arc::default(),
        }
    }
}

/// Tokens the host holds for one credential. Never shown to the guest.
#[derive(Default)]
pub struct Session {
    /// The OAuth 2.0 access token; the lock is held while one is fetched,
    /// so concurrent calls wait for it instead of each fetching one.
    pub(crate) access_token: tokio::sync::Mutex<Option<crate::runtime::outbound::AccessToken>>,
    /// The CSRF token of the connector's vendor session.
    pub(crate) csrf_token: tokio::sync::Mutex<Option<String>>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Session(<redacted>)")
    }
}

/// Everything the operator grants one connector.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    /// Destinations the connector may call.
    pub allowed_hosts: Vec<HostPattern>,
    /// Credentials by the name the connector uses.
    pub credentials: BTreeMap<String, Credential>,
    /// Webhook signing secrets by name, for `verify-hmac`.
    pub secrets: BTreeMap<String, Secret>,
    /// Non-secret settings for `config-get`.
    pub settings: BTreeMap<String, String>,
    /// Whether the connector may reach hosts whose names resolve to private,
    /// loopback, link-local or other non-public addresses. Allowlisted IP
    /// literals are reachable either way.
    pub allow_private_networks: bool,
    /// The SHA-256 (lower-case hex) the component file must have to be
    /// given these grants; `None` accepts any file.
    pub component_sha256: Option<String>,
}

impl Grants {
    /// Whether the URL's destination is allowlisted.
    pub fn allows(&self, url: &Url) -> bool {
        self.allowed_hosts.iter().any(|p| p.matches(url))
    }
}

/// What a connector declares in `describe` that it uses: the hosts it
/// calls, the credentials it names and the secrets it checks against. A
/// call uses only what is both declared and granted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Declared {
    /// Destinations the connector calls.
    pub hosts: Vec<HostPattern>,
    /// Credentials it names on requests.
    pub credentials: BTreeSet<String>,
    /// Secrets it passes to `verify-hmac`.
    pub secrets: BTreeSet<String>,
}

impl Declared {
    /// Reads `describe`'s lists. Each of its `host-settings` stands for the
    /// origin of the URL the operator put in that setting (a vendor address
    /// the operator chooses: an on-premise gateway, an instance URL), and
    /// for nothing while the setting is not set. Also returns what could not
    /// be read, entries that then grant nothing.
    pub fn resolve(info: &PluginInfo, settings: &BTreeMap<String, String>) -> (Self, Vec<String>) {
        let mut problems = Vec::new();
        let mut patterns = Vec::new();
        for entry in &info.hosts {
            match entry.parse::<HostPattern>() {
                Ok(pattern) => patterns.push(pattern),
                Err(error) => problems.push(format!("declared host: {error}")),
            }
        }
        for setting in &info.host_settings {
            if let Some(value) = settings.get(setting) {
                match origin(value) {
                    Some(pattern) => patterns.push(pattern),
                    None => problems.push(format!(
                        "declared host setting `{setting}` is `{value}`, not an http(s) URL"
                    )),
                }
            }
        }
        let declared = Self {
            hosts: patterns,
            credentials: info.credentials.iter().cloned().collect(),
            secrets: info.secrets.iter().cloned().collect(),
        };
        (declared, problems)
    }

    /// Whether the connector declares the URL's destination.
    pub fn allows(&self, url: &Url) -> bool {
        self.hosts.iter().any(|p| p.matches(url))
    }

    /// The declared hosts, for messages: `-` for none.
    pub fn host_list(&self) -> String {
        if self.hosts.is_empty() {
            return "-".to_owned();
        }
        let hosts: Vec<String> = self.hosts.iter().map(ToString::to_string).collect();
        hosts.join(", ")
    }

    /// Where what the operator grants and what the connector declares
    /// differ, each as a sentence naming the configuration key to change.
    /// Hosts granted but not declared are refused at run time; credentials
    /// and secrets the connector names but the operator does not configure
    /// fail the calls that need them.
    pub fn mismatches(&self, connector: &str, grants: &Grants) -> Vec<String> {
        let section = format!("[connectors.{connector}]");
        let mut found = Vec::new();
        for granted in &grants.allowed_hosts {
            if !self.hosts.iter().any(|d| d.covers(granted)) {
                found.push(format!(
                    "{section} allowed_hosts grants `{granted}`, which the connector does not declare (it declares: {}): its requests there are refused",
                    self.host_list()
                ));
            }
        }
        for (name, credential) in &grants.credentials {
            if !self.credentials.contains(name) {
                found.push(format!(
                    "[connectors.{connector}.credentials.{name}] is configured, but the connector does not declare credential `{name}`: it is never sent"
                ));
            }
            for bound in &credential.hosts {
                if !self.hosts.iter().any(|d| d.covers(bound)) {
                    found.push(format!(
                        "[connectors.{connector}.credentials.{name}] hosts binds `{bound}`, which the connector does not declare: the credential is never sent there"
                    ));
                }
            }
        }
        for name in &self.credentials {
            if !grants.credentials.contains_key(name) {
                found.push(format!(
                    "the connector declares credential `{name}`, but [connectors.{connector}.credentials.{name}] is not configured: requests naming it are refused"
                ));
            }
        }
        for name in grants.secrets.keys() {
            if !self.secrets.contains(name) {
                found.push(format!(
                    "[connectors.{connector}.secrets.{name}] is configured, but the connector does not declare secret `{name}`: it is never used"
                ));
            }
        }
        for name in &self.secrets {
            if !grants.secrets.contains_key(name) {
                found.push(format!(
                    "the connector declares secret `{name}`, but [connectors.{connector}.secrets.{name}] is not configured: the checks that need it fail"
                ));
            }
        }
        found
    }
}

/// `scheme://host:port` of an http(s) URL, as a pattern.
fn origin(value: &str) -> Option<HostPattern> {
    let url = Url::parse(value.trim()).ok()?;
    let host = url.host_str()?;
    let port = url.port_or_known_default()?;
    format!("{}://{host}:{port}", url.scheme()).parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(s: &str) -> HostPattern {
        s.parse().unwrap()
    }

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn exact_host_matches_only_itself_on_its_scheme_and_port() {
        let p = pattern("https://api.hubapi.com");
        assert!(p.matches(&url("https://api.hubapi.com/crm/v3/objects")));
        assert!(p.matches(&url("https://API.hubapi.com:443/")));
        assert!(!p.matches(&url("http://api.hubapi.com/")));
        assert!(!p.matches(&url("https://api.hubapi.com:8443/")));
        assert!(!p.matches(&url("https://api.hubapi.com.evil.example/")));
        assert!(!p.matches(&url("https://evilapi.hubapi.com/")));
    }

    #[test]
    fn wildcard_matches_subdomains_but_not_the_bare_domain_or_lookalikes() {
        let p = pattern("https://*.myshopify.com");
        assert!(p.matches(&url("https://demo.myshopify.com/admin")));
        assert!(p.matches(&url("https://a.b.myshopify.com/")));
        assert!(!p.matches(&url("https://myshopify.com/")));
        assert!(!p.matches(&url("https://evilmyshopify.com/")));
    }

    #[test]
    fn loopback_with_port() {
        let p = pattern("http://127.0.0.1:8089");
        assert!(p.matches(&url("http://127.0.0.1:8089/x")));
        assert!(!p.matches(&url("http://127.0.0.1:8090/x")));
    }

    #[test]
    fn a_wildcard_never_matches_an_ip_address() {
        let p = pattern("http://*.0.0.1");
        assert!(!p.matches(&url("http://127.0.0.1/")));
        assert!(!p.matches(&url("http://10.0.0.1/")));
    }

    #[test]
    fn malformed_patterns_are_rejected_with_a_reason() {
        for bad in [
            "api.hubapi.com",
            "ftp://x",
            "https://x/path",
            "https://x:port",
            "https://",
            "https://a*.b",
        ] {
            let err = bad.parse::<HostPattern>().unwrap_err();
            assert!(err.to_string().contains(bad), "{err}");
        }
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_pattern_covers_itself_its_subdomains_and_nothing_wider() {
        let wide = pattern("https://*.myshopify.com");
        assert!(wide.covers(&pattern("https://demo.myshopify.com")));
        assert!(wide.covers(&pattern("https://*.eu.myshopify.com")));
        assert!(wide.covers(&wide));
        assert!(!wide.covers(&pattern("https://myshopify.com")));
        assert!(!wide.covers(&pattern("http://demo.myshopify.com")));
        let exact = pattern("https://demo.myshopify.com");
        assert!(exact.covers(&exact));
        assert!(!exact.covers(&wide));
        assert!(!exact.covers(&pattern("https://demo.myshopify.com:8443")));
    }

    fn info(hosts: &[&str], host_settings: &[&str], credentials: &[&str]) -> PluginInfo {
        PluginInfo {
            name: "test".to_owned(),
            version: "1.0.0".to_owned(),
            hosts: strings(hosts),
            host_settings: strings(host_settings),
            credentials: strings(credentials),
            secrets: Vec::new(),
            settings: Vec::new(),
        }
    }

    #[test]
    fn a_host_setting_declares_the_origin_of_its_url() {
        let settings = BTreeMap::from([
            (
                "base_url".to_owned(),
                "http://127.0.0.1:8089/sap/opu".to_owned(),
            ),
            ("broken".to_owned(), "not a url".to_owned()),
        ]);
        let (declared, problems) = Declared::resolve(
            &info(
                &["https://*.s4hana.cloud.sap", "ftp://x"],
                &["base_url", "unset", "broken"],
                &["api"],
            ),
            &settings,
        );
        assert!(declared.allows(&url("http://127.0.0.1:8089/sap/opu/odata")));
        assert!(!declared.allows(&url("http://127.0.0.1:8090/")));
        assert!(declared.allows(&url("https://my1.s4hana.cloud.sap/")));
        assert_eq!(declared.hosts.len(), 2, "{declared:?}");
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("ftp://x"), "{problems:?}");
        assert!(problems[1].contains("`broken`"), "{problems:?}");
    }

    #[test]
    fn mismatches_name_each_difference_and_its_key() {
        let mut shopify = info(&["https://*.myshopify.com"], &[], &["admin"]);
        shopify.secrets = strings(&["webhook"]);
        let (declared, _) = Declared::resolve(&shopify, &BTreeMap::new());
        let mut grants = Grants {
            allowed_hosts: vec![
                pattern("https://demo.myshopify.com"),
                pattern("https://evil.example"),
            ],
            ..Grants::default()
        };
        grants.credentials.insert(
            "token".to_owned(),
            Credential::new(
                Secret::new("t"),
                Injection::Bearer,
                vec![pattern("https://demo.myshopify.com")],
            ),
        );
        grants
            .secrets
            .insert("webhook".to_owned(), Secret::new("s"));
        let found = declared.mismatches("shopify", &grants);
        assert_eq!(found.len(), 3, "{found:#?}");
        assert!(found[0].contains("allowed_hosts grants `https://evil.example:443`"));
        assert!(found[1].contains("[connectors.shopify.credentials.token]"));
        assert!(found[2].contains("declares credential `admin`"));
        grants.allowed_hosts.pop();
        grants.credentials.clear();
        grants.credentials.insert(
            "admin".to_owned(),
            Credential::new(
                Secret::new("t"),
                Injection::Bearer,
                vec![pattern("https://demo.myshopify.com")],
            ),
        );
        assert_eq!(
            declared.mismatches("shopify", &grants),
            Vec::<String>::new()
        );
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
