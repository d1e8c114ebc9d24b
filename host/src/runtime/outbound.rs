//! Outbound HTTP on a connector's behalf: the allowlist, credential
//! injection, budgets and size limits. Redirects are returned to the guest,
//! never followed, so every hop is checked against the allowlist again.

use std::time::{Duration, Instant};

use base64::Engine as _;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use url::Url;

use crate::runtime::call::CallState;
use crate::runtime::grants::Injection;
use crate::runtime::wit::latest::loyalty::connector::host::{
    HttpError, IncomingResponse, OutgoingRequest,
};
use crate::runtime::wit::latest::loyalty::connector::types::Header;

/// Builds the HTTP client of one connector: no redirects, and a cookie jar of
/// its own so session cookies (SAP's CSRF session) stay on the host side.
pub(crate) fn client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .user_agent(concat!("loyaltyd/", env!("CARGO_PKG_VERSION")))
        .build()
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
    if let Some(name) = &request.credential {
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
        let (header, mut value) = inject(&credential.injection, credential.value.expose())
            .map_err(|e| HttpError::Denied(format!("credential `{name}` cannot be sent: {e}")))?;
        value.set_sensitive(true);
        headers.insert(header, value);
    }

    let remaining_io = Duration::from_millis(limits.io_budget_ms).saturating_sub(state.io_used);
    if remaining_io.is_zero() {
        return Err(HttpError::Timeout(format!(
            "connector `{connector}` used its I/O budget of {} ms for this call (io_budget_ms)",
            limits.io_budget_ms
        )));
    }
    let timeout = remaining_io.min(Duration::from_millis(limits.http_timeout_ms));
    let mut builder = shared.http.request(method, url).headers(headers);
    if let Some(body) = request.body {
        builder = builder.body(body);
    }

    let started = Instant::now();
    let result = tokio::time::timeout(timeout, fetch(builder, limits.payload_bytes_max)).await;
    state.io_used += started.elapsed();
    match result {
        Ok(response) => response,
        Err(_) => Err(HttpError::Timeout(format!(
            "no complete answer from `{destination}` within {} ms (http_timeout_ms / io_budget_ms)",
            timeout.as_millis()
        ))),
    }
}

async fn fetch(
    builder: reqwest::RequestBuilder,
    payload_bytes_max: usize,
) -> Result<IncomingResponse, HttpError> {
    let mut response = builder.send().await.map_err(|e| {
        if e.is_timeout() {
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
        Injection::Bearer => (reqwest::header::AUTHORIZATION, format!("Bearer {secret}")),
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

fn source_chain(error: &dyn std::error::Error) -> String {
    let mut parts = Vec::new();
    let mut source = error.source();
    while let Some(e) = source {
        parts.push(e.to_string());
        source = e.source();
    }
    parts.join(": ")
}
