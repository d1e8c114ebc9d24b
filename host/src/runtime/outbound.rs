//! Outbound HTTP on a connector's behalf: the allowlist, private networks,
//! credential injection, budgets and size limits. Redirects are returned to the guest,
//! never followed, so every hop is checked against the allowlist again.

use std::sync::Arc;
use std::time::{Duration, Instant};

mod oauth;

pub(crate) use oauth::AccessToken;

use base64::Engine as _;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use url::Url;

use crate::runtime::addresses::{PrivateNetworkRefused, PublicOnly};
use crate::runtime::call::CallState;
use crate::runtime::grants::{Credential, Grants, Injection, Secret};
use crate::runtime::wit::latest::loyalty::connector::host::{
    HttpError, IncomingResponse, OutgoingRequest,
};
use crate::runtime::wit::latest::loyalty::connector::types::Header;

/// Builds the HTTP client of one connector: no redirects, a cookie jar of
/// its own so session cookies (SAP's CSRF session) stay on the host side,
/// and, unless the operator allows private networks, a resolver that never
/// hands out a private address. Every request of the connector goes through
/// it: the guest's, OAuth 2.0 token requests and CSRF token fetches. Proxy
/// variables in the environment (`HTTPS_PROXY`, ...) are ignored: through a
/// proxy, the proxy would resolve the vendor's name, not this resolver.
pub(crate) fn client(connector: &str, grants: &Grants) -> reqwest::Result<reqwest::Client> {
    let builder = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .user_agent(concat!("loyaltyd/", env!("CARGO_PKG_VERSION")));
    let builder = if grants.allow_private_networks {
        builder
    } else {
        builder.dns_resolver(Arc::new(PublicOnly::new(connector)))
    };
    builder.build()
}

pub(crate) async fn send(
    state: &mut CallState,
    request: OutgoingRequest,
) -> Result<IncomingResponse, HttpError> {
    let shared = state.shared.clone();
    let limits = &shared.limits;
    let connector = shared.name.as_str();

    state.http_requests += 1;
    if state.http_requests > limits.http_requests_max {
        return Err(HttpError::Denied(format!(
            "connector `{connector}` made more than {} requests in one call (http_requests_max)",
            limits.http_requests_max
        )));
    }
    let url = Url::parse(&request.url).map_err(|e| {
        HttpError::InvalidRequest(format!("`{}` is not an absolute URL: {e}", request.url))
    })?;
    let destination = destination(&url);
    if !shared.grants.allows(&url) {
        tracing::warn!(
            connector,
            destination,
            "outbound request denied: host not allowlisted"
        );
        return Err(HttpError::Denied(format!(
            "connector `{connector}`: host `{destination}` is not in allowed_hosts (add it to [connectors.{connector}].allowed_hosts)"
        )));
    }
    // Set before every call but `describe`, which must not call the host.
    let Some(declared) = shared.declared.get() else {
        return Err(HttpError::Denied(format!(
            "connector `{connector}`: no request before `describe` has answered (describe must not call the host)"
        )));
    };
    if !declared.allows(&url) {
        tracing::warn!(
            connector,
            destination,
            "outbound request denied: host not declared by the connector"
        );
        return Err(HttpError::Denied(format!(
            "connector `{connector}`: host `{destination}` is not among the hosts the connector declares in describe ({}); a host the operator chooses is declared as `{{SETTING}}`",
            declared.host_list()
        )));
    }
    let method = reqwest::Method::from_bytes(request.method.as_bytes())
        .map_err(|_| HttpError::InvalidRequest(format!("invalid method `{}`", request.method)))?;
    let mut headers = HeaderMap::new();
    for Header { name, value } in &request.headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| HttpError::InvalidRequest(format!("invalid header name `{name}`")))?;
        if name == reqwest::header::HOST {
            continue;
        }
        let value = HeaderValue::from_str(value)
            .map_err(|_| HttpError::InvalidRequest(format!("invalid value for header `{name}`")))?;
        headers.append(name, value);
    }
    if let Some(key) = &request.idempotency_key {
        let value = HeaderValue::from_str(key)
            .map_err(|_| HttpError::InvalidRequest("invalid idempotency key".to_owned()))?;
        headers.insert(HeaderName::from_static("idempotency-key"), value);
    }
    let credential = match &request.credential {
        None => None,
        Some(name) => {
            if !declared.credentials.contains(name) {
                return Err(HttpError::Denied(format!(
                    "connector `{connector}`: credential `{name}` is not among the credentials the connector declares in describe"
                )));
            }
            let credential = shared.grants.credentials.get(name).ok_or_else(|| {
                HttpError::Denied(format!(
                    "connector `{connector}`: unknown credential `{name}` (add it to [connectors.{connector}.credentials])"
                ))
            })?;
            if !credential.hosts.iter().any(|p| p.matches(&url)) {
                tracing::warn!(
                    connector,
                    credential = name.as_str(),
                    destination,
                    "credential not bound to destination"
                );
                return Err(HttpError::Denied(format!(
                    "connector `{connector}`: credential `{name}` is not bound to host `{destination}` (see [connectors.{connector}.credentials.{name}].hosts)"
                )));
            }
            Some((name.as_str(), credential))
        }
    };
    let exchange = Exchange {
        method,
        url,
        headers,
        body: request.body,
        destination,
    };
    let answer = match credential {
        None => exchange.send(state, None).await,
        Some((name, credential)) => {
            let mut auth = Auth {
                name,
                credential,
                access_token: None,
                csrf_token: None,
            };
            exchange.send_with(state, &mut auth).await
        }
    };
    if let (Some(recording), Ok(answer)) = (shared.recording.get(), &answer) {
        recording.push(
            exchange.method.as_str(),
            &exchange.url,
            request.credential.as_deref(),
            exchange.body.as_deref(),
            answer,
        );
    }
    answer
}

/// One guest request, ready to be sent (again, after renewing a token).
struct Exchange {
    method: reqwest::Method,
    url: Url,
    headers: HeaderMap,
    body: Option<Vec<u8>>,
    destination: String,
}

/// The credential of a request and the tokens used with it.
struct Auth<'c> {
    name: &'c str,
    credential: &'c Credential,
    access_token: Option<Secret>,
    csrf_token: Option<String>,
}

/// Answer header and value with which SAP Gateway asks for a (new) CSRF token.
const CSRF_HEADER: &str = "x-csrf-token";

impl Exchange {
    /// Sends with a credential: obtains the OAuth 2.0 access token and the
    /// CSRF token it needs, and when the vendor refuses one of them (401, or
    /// 403 with `x-csrf-token: Required`), renews it and repeats the request
    /// once.
    async fn send_with(
        &self,
        state: &mut CallState,
        auth: &mut Auth<'_>,
    ) -> Result<IncomingResponse, HttpError> {
        self.authorize(state, auth, false).await?;
        let response = self.send(state, Some(auth)).await?;
        let renew_access = response.status == 401 && auth.access_token.is_some();
        let renew_csrf = response.status == 403
            && auth.csrf_token.is_some()
            && response.headers.iter().any(|h| {
                h.name.eq_ignore_ascii_case(CSRF_HEADER) && h.value.eq_ignore_ascii_case("required")
            });
        if !renew_access && !renew_csrf {
            return Ok(response);
        }
        tracing::info!(
            connector = state.shared.name.as_str(),
            credential = auth.name,
            status = response.status,
            "renewing a token the vendor refused, then repeating the request"
        );
        if renew_access {
            self.forget_access_token(auth).await;
        }
        if renew_csrf {
            *auth.credential.session.csrf_token.lock().await = None;
        }
        self.authorize(state, auth, renew_access).await?;
        self.send(state, Some(auth)).await
    }

    /// Clears the cached access token if it is still the one refused.
    async fn forget_access_token(&self, auth: &Auth<'_>) {
        let mut cached = auth.credential.session.access_token.lock().await;
        if cached.as_ref().map(|t| &t.value) == auth.access_token.as_ref() {
            *cached = None;
        }
    }

    /// Fills in the tokens the credential needs, fetching missing ones.
    async fn authorize(
        &self,
        state: &mut CallState,
        auth: &mut Auth<'_>,
        renewing: bool,
    ) -> Result<(), HttpError> {
        if let Injection::OAuth2(oauth) = &auth.credential.injection {
            let mut cached = auth.credential.session.access_token.lock().await;
            let refused =
                renewing && cached.as_ref().map(|t| &t.value) == auth.access_token.as_ref();
            if cached.as_ref().is_none_or(AccessToken::is_stale) || refused {
                let http = state.shared.http.clone();
                let token = self
                    .with_budget(
                        state,
                        oauth::fetch_token(&http, oauth, &auth.credential.value),
                    )
                    .await?
                    .map_err(|e| {
                        HttpError::Denied(format!(
                            "credential `{}`: no access token: {e}",
                            auth.name
                        ))
                    })?;
                *cached = Some(token);
            }
            auth.access_token = cached.as_ref().map(|t| t.value.clone());
        }
        if auth.credential.csrf && !is_safe(&self.method) {
            let mut cached = auth.credential.session.csrf_token.lock().await;
            if cached.is_none() {
                let token = self.fetch_csrf(state, auth).await?;
                *cached = Some(token);
            }
            auth.csrf_token.clone_from(&cached);
        }
        Ok(())
    }

    /// Asks the service root for a CSRF token (`X-CSRF-Token: Fetch`). The
    /// session cookies of the answer stay in the connector's cookie jar.
    async fn fetch_csrf(
        &self,
        state: &mut CallState,
        auth: &Auth<'_>,
    ) -> Result<String, HttpError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            HeaderName::from_static(CSRF_HEADER),
            HeaderValue::from_static("Fetch"),
        );
        insert_credential(&mut headers, auth)?;
        let root = service_root(&self.url);
        let builder = state.shared.http.get(root.clone()).headers(headers);
        let payload_bytes_max = state.shared.limits.payload_bytes_max;
        let response = self
            .with_budget(state, fetch(builder, payload_bytes_max))
            .await??;
        let token = response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(CSRF_HEADER))
            .map(|h| h.value.clone())
            .filter(|v| !v.is_empty() && !v.eq_ignore_ascii_case("required"));
        token.ok_or_else(|| {
            HttpError::Denied(format!(
                "credential `{}`: `{root}` answered {} without an x-csrf-token header to a CSRF token fetch",
                auth.name, response.status
            ))
        })
    }

    /// Sends the request once, with the credential's tokens if any.
    async fn send(
        &self,
        state: &mut CallState,
        auth: Option<&Auth<'_>>,
    ) -> Result<IncomingResponse, HttpError> {
        let mut headers = self.headers.clone();
        if let Some(auth) = auth {
            insert_credential(&mut headers, auth)?;
            if let Some(token) = &auth.csrf_token {
                let value = HeaderValue::from_str(token).map_err(|_| {
                    HttpError::Denied(
                        "the vendor's CSRF token is not a valid header value".to_owned(),
                    )
                })?;
                headers.insert(HeaderName::from_static(CSRF_HEADER), value);
            }
        }
        let mut builder = state
            .shared
            .http
            .request(self.method.clone(), self.url.clone())
            .headers(headers);
        if let Some(body) = &self.body {
            builder = builder.body(body.clone());
        }
        let payload_bytes_max = state.shared.limits.payload_bytes_max;
        self.with_budget(state, fetch(builder, payload_bytes_max))
            .await?
    }

    /// Runs `work` within what is left of the call's I/O budget and the
    /// per-request timeout, and charges the time it took.
    async fn with_budget<T>(
        &self,
        state: &mut CallState,
        work: impl Future<Output = T>,
    ) -> Result<T, HttpError> {
        let limits = &state.shared.limits;
        let remaining_io = Duration::from_millis(limits.io_budget_ms).saturating_sub(state.io_used);
        if remaining_io.is_zero() {
            return Err(HttpError::Timeout(format!(
                "connector `{}` used its I/O budget of {} ms for this call (io_budget_ms)",
                state.shared.name, limits.io_budget_ms
            )));
        }
        let timeout = remaining_io.min(Duration::from_millis(limits.http_timeout_ms));
        let started = Instant::now();
        let result = tokio::time::timeout(timeout, work).await;
        state.io_used += started.elapsed();
        result.map_err(|_| {
            HttpError::Timeout(format!(
                "no complete answer from `{}` within {} ms (http_timeout_ms / io_budget_ms)",
                self.destination,
                timeout.as_millis()
            ))
        })
    }
}

/// Puts the credential (or its access token) into the headers.
fn insert_credential(headers: &mut HeaderMap, auth: &Auth<'_>) -> Result<(), HttpError> {
    let secret = match (&auth.credential.injection, &auth.access_token) {
        (Injection::OAuth2(_), Some(token)) => token,
        (Injection::OAuth2(_), None) => {
            return Err(HttpError::Denied(format!(
                "credential `{}` has no access token",
                auth.name
            )));
        }
        _ => &auth.credential.value,
    };
    let (header, mut value) = inject(&auth.credential.injection, secret.expose()).map_err(|e| {
        HttpError::Denied(format!("credential `{}` cannot be sent: {e}", auth.name))
    })?;
    value.set_sensitive(true);
    headers.insert(header, value);
    Ok(())
}

/// GET, HEAD and OPTIONS need no CSRF token.
fn is_safe(method: &reqwest::Method) -> bool {
    matches!(
        *method,
        reqwest::Method::GET | reqwest::Method::HEAD | reqwest::Method::OPTIONS
    )
}

/// Where to fetch a CSRF token for a request: the OData service root, the
/// URL cut after the path segment ending in `_SRV` (`.../API_SALES_ORDER_SRV/`),
/// else the request URL itself. The fragment and the query are dropped,
/// except `sap-client`: a token is valid for one client only.
fn service_root(url: &Url) -> Url {
    let mut root = url.clone();
    root.set_fragment(None);
    let client: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(name, _)| name == "sap-client")
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect();
    root.set_query(None);
    if !client.is_empty() {
        root.query_pairs_mut().extend_pairs(client);
    }
    let path = url.path();
    let mut end = None;
    let mut offset = 0;
    for segment in path.split_inclusive('/') {
        offset += segment.len();
        let name = segment.trim_end_matches('/');
        let name = name.split(';').next().unwrap_or(name);
        if name.to_ascii_uppercase().ends_with("_SRV") {
            end = Some(offset);
            break;
        }
    }
    if let Some(end) = end {
        let mut cut = path[..end].to_owned();
        if !cut.ends_with('/') {
            cut.push('/');
        }
        root.set_path(&cut);
    }
    root
}

async fn fetch(
    builder: reqwest::RequestBuilder,
    payload_bytes_max: usize,
) -> Result<IncomingResponse, HttpError> {
    let mut response = builder.send().await.map_err(|e| {
        if let Some(refused) = private_network_refused(&e) {
            HttpError::Denied(refused.to_string())
        } else if e.is_timeout() {
            HttpError::Timeout(e.to_string())
        } else if e.is_builder() {
            HttpError::InvalidRequest(e.to_string())
        } else {
            HttpError::ConnectionFailed(format!("{e}: {}", source_chain(&e)))
        }
    })?;
    let too_large = || {
        HttpError::ResponseTooLarge(format!(
            "response exceeds {payload_bytes_max} bytes (payload_bytes_max)"
        ))
    };
    if response
        .content_length()
        .is_some_and(|len| len > payload_bytes_max as u64)
    {
        return Err(too_large());
    }
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .filter(|(name, _)| *name != reqwest::header::SET_COOKIE)
        .map(|(name, value)| Header {
            name: name.as_str().to_owned(),
            value: String::from_utf8_lossy(value.as_bytes()).into_owned(),
        })
        .collect();
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| HttpError::ConnectionFailed(format!("reading the response body: {e}")))?
    {
        if body.len() + chunk.len() > payload_bytes_max {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(IncomingResponse {
        status,
        headers,
        body,
    })
}

fn inject(injection: &Injection, secret: &[u8]) -> Result<(HeaderName, HeaderValue), String> {
    let secret = std::str::from_utf8(secret).map_err(|_| "the value is not UTF-8".to_owned())?;
    let (name, value) = match injection {
        Injection::Bearer | Injection::OAuth2(_) => {
            (reqwest::header::AUTHORIZATION, format!("Bearer {secret}"))
        }
        Injection::Basic { username } => {
            let encoded =
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{secret}"));
            (reqwest::header::AUTHORIZATION, format!("Basic {encoded}"))
        }
        Injection::Header { name } => (
            HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("invalid header name `{name}`"))?,
            secret.to_owned(),
        ),
    };
    let value = HeaderValue::from_str(&value)
        .map_err(|_| "the value is not a valid header value".to_owned())?;
    Ok((name, value))
}

fn destination(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{}://{host}:{port}", url.scheme()),
        (Some(host), None) => format!("{}://{host}", url.scheme()),
        (None, _) => url.scheme().to_owned(),
    }
}

/// The resolver's refusal behind a failed request, if that is what failed:
/// no vendor outage, but a grant missing, so not worth retrying.
fn private_network_refused(error: &reqwest::Error) -> Option<&PrivateNetworkRefused> {
    let mut source = std::error::Error::source(error);
    while let Some(e) = source {
        if let Some(refused) = e.downcast_ref::<PrivateNetworkRefused>() {
            return Some(refused);
        }
        source = e.source();
    }
    None
}

fn source_chain(error: &dyn std::error::Error) -> String {
    let mut parts = Vec::new();
    let mut source = error.source();
    while let Some(e) = source {
        parts.push(e.to_string());
        source = e.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(url: &str) -> String {
        service_root(&Url::parse(url).unwrap()).to_string()
    }

    #[test]
    fn the_csrf_token_is_fetched_from_the_odata_service_root() {
        assert_eq!(
            root("https://s4.example/sap/opu/odata/sap/API_SALES_ORDER_SRV/A_SalesOrder?$top=1"),
            "https://s4.example/sap/opu/odata/sap/API_SALES_ORDER_SRV/"
        );
        assert_eq!(
            root(
                "https://s4.example/sap/opu/odata/sap/API_SALES_ORDER_SRV/A_SalesOrder?$top=1&sap-client=100"
            ),
            "https://s4.example/sap/opu/odata/sap/API_SALES_ORDER_SRV/?sap-client=100",
            "the token belongs to the client the write goes to"
        );
        assert_eq!(
            root("https://s4.example/sap/opu/odata/sap/API_SALES_ORDER_SRV;v=0002/$batch"),
            "https://s4.example/sap/opu/odata/sap/API_SALES_ORDER_SRV;v=0002/"
        );
        assert_eq!(
            root("https://s4.example/sap/opu/odata/sap/API_SALES_ORDER_SRV"),
            "https://s4.example/sap/opu/odata/sap/API_SALES_ORDER_SRV/"
        );
        assert_eq!(
            root("https://api.example/v1/orders?x=1"),
            "https://api.example/v1/orders",
            "without an OData service in the path, the request URL itself"
        );
    }
}
