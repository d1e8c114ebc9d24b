//! The OData V2 protocol as SAP Gateway speaks it: query URLs, the JSON
//! collection envelope with its `__next` link, and SAP's error bodies mapped
//! onto the connector error variant.

use loyalty_sdk::http::Request;
use loyalty_sdk::request::find_header;
use loyalty_sdk::types::{Error, IncomingResponse, RetryAfter};
use serde::Deserialize;
use serde_json::Value;

use crate::settings::{CREDENTIAL, Settings};

/// The query parameter that selects the SAP client (`mandt`) of a request.
pub const SAP_CLIENT_PARAMETER: &str = "sap-client";

/// A collection as `$format=json` answers it: `{"d":{"results":[...],"__next":"..."}}`.
#[derive(Debug, Deserialize)]
pub struct Envelope {
    /// The payload.
    pub d: Collection,
}

/// The records of one page and the server's continuation link.
#[derive(Debug, Deserialize)]
pub struct Collection {
    /// The records, kept as JSON so that each maps with errors naming it.
    pub results: Vec<Value>,
    /// Server-driven paging: the URL of the rest of the result (carries a
    /// `$skiptoken`); relative to the request URL or absolute.
    #[serde(default, rename = "__next")]
    pub next: Option<String>,
}

/// An expanded to-many navigation property: `{"results":[...]}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Expanded<T> {
    /// The related records.
    #[serde(default = "Vec::new")]
    pub results: Vec<T>,
}

/// SAP Gateway's error body: `{"error":{"code":"..","message":{"lang":"en","value":".."}}}`.
#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Debug, Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    code: Option<String>,
    message: ErrorMessage,
}

#[derive(Debug, Deserialize)]
struct ErrorMessage {
    value: String,
}

/// SAP's message in an OData error body (`code: value`), if the body is one.
pub fn error_message(body: &[u8]) -> Option<String> {
    let body: ErrorBody = serde_json::from_slice(body).ok()?;
    Some(match body.error.code.filter(|c| !c.trim().is_empty()) {
        Some(code) => format!("{code}: {}", body.error.message.value),
        None => body.error.message.value,
    })
}

/// What a non-2xx answer means: 401 and 403 are `unauthorized` (with SAP's
/// message for 403), 429 is `rate-limited` with `Retry-After`, 5xx is
/// `transient`, anything else `permanent` with SAP's error message.
pub fn status_error(what: &str, response: &IncomingResponse) -> Error {
    let status = response.status;
    let message = error_message(&response.body).unwrap_or_else(|| {
        let text = String::from_utf8_lossy(&response.body[..response.body.len().min(300)]);
        text.trim().to_owned()
    });
    let message = if message.is_empty() {
        format!("{what}: HTTP {status}")
    } else {
        format!("{what}: HTTP {status}: {message}")
    };
    match status {
        401 => Error::Unauthorized(format!(
            "{what}: HTTP 401: SAP refused the user and password of credential `{CREDENTIAL}`"
        )),
        403 => Error::Unauthorized(message),
        429 => Error::RateLimited(RetryAfter {
            delay_ms: find_header(&response.headers, "retry-after")
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(|seconds| seconds.saturating_mul(1_000)),
            message,
        }),
        500..=599 => Error::Transient(message),
        _ => Error::Permanent(message),
    }
}

/// Sends a GET with the credential and parses the collection it answers.
pub fn get_collection(what: &str, url: &str) -> Result<Collection, Error> {
    let response = Request::get(url)
        .header("Accept", "application/json")
        .credential(CREDENTIAL)
        .send()?;
    if !(200..300).contains(&response.status) {
        return Err(status_error(what, &response));
    }
    let envelope: Envelope = loyalty_sdk::json::parse(&response.body)
        .map_err(|e| Error::InvalidInput(format!("{what}: {}", e.message())))?;
    Ok(envelope.d)
}

/// Builds `{base_url}{path}?name=value&...`, percent-encoding the values
/// and adding `sap-client` when the setting is present.
pub fn url(settings: &Settings, path: &str, query: &[(&str, String)]) -> String {
    let mut url = format!("{}{path}", settings.base_url);
    let mut separator = '?';
    for (name, value) in query {
        url.push(separator);
        url.push_str(name);
        url.push('=');
        url.push_str(&encode(value));
        separator = '&';
    }
    with_sap_client(settings, url)
}

/// Adds `sap-client` to a URL that lacks it (a `__next` link may drop it).
pub fn with_sap_client(settings: &Settings, mut url: String) -> String {
    let Some(client) = &settings.sap_client else {
        return url;
    };
    let has_it = url.split_once('?').is_some_and(|(_, query)| {
        query
            .split('&')
            .any(|pair| pair.split('=').next() == Some(SAP_CLIENT_PARAMETER))
    });
    if !has_it {
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(SAP_CLIENT_PARAMETER);
        url.push('=');
        url.push_str(&encode(client));
    }
    url
}

/// Percent-encodes a query value. Spaces and quotes, which every `$filter`
/// has, become `%20` and `%27`; the separators OData reads in `$expand` and
/// `$orderby` (`,` `/`) and the `:` of time literals stay readable.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~,/:()".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Resolves a `__next` link against the URL of the request that returned it:
/// an absolute link is used as it is, `/path?query` keeps the request's
/// origin, and `A_SalesOrder?$skiptoken=..` replaces the last path segment.
pub fn resolve(request_url: &str, next: &str) -> Result<String, Error> {
    let next = next.trim();
    if next.starts_with("http://") || next.starts_with("https://") {
        return Ok(next.to_owned());
    }
    let bad = || {
        Error::InvalidInput(format!(
            "`__next` link `{next}` cannot be resolved against `{request_url}`"
        ))
    };
    let scheme_end = request_url.find("://").ok_or_else(bad)? + 3;
    let without_query = request_url.split(['?', '#']).next().unwrap_or(request_url);
    let path_start = without_query[scheme_end..]
        .find('/')
        .map_or(without_query.len(), |i| scheme_end + i);
    if next.is_empty() {
        return Err(bad());
    }
    if next.starts_with('/') {
        return Ok(format!("{}{next}", &request_url[..path_start]));
    }
    let directory_end = without_query[path_start..]
        .rfind('/')
        .map_or(path_start, |i| path_start + i);
    Ok(format!("{}/{next}", &without_query[..directory_end]))
}

/// A trimmed, non-empty text field: SAP writes absent values as `""`.
pub fn present(value: Option<&str>) -> Option<String> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}
