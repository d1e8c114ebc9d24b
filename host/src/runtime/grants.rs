//! What the operator grants a connector: outbound hosts, credentials bound to
//! hosts, webhook secrets and settings. Secret values live only here, on the
//! host side of the sandbox.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use url::Url;

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

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
