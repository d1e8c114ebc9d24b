//! Calls to the Salesforce REST API through the host, and Salesforce's
//! answers mapped onto the connector error variant.
//!
//! Every request carries the `api` credential: the host fetches an OAuth 2.0
//! access token with the client-credentials grant, injects it as a bearer
//! token, and on a 401 fetches a fresh one and repeats the request once. A
//! 401 that reaches the connector therefore means the new token was refused
//! too.

use loyalty_sdk::decimal::parse_decimal;
use loyalty_sdk::http::Request;
use loyalty_sdk::request::find_header;
use loyalty_sdk::types::{Error, IncomingResponse, RetryAfter};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::settings;

/// The credential the host injects as `Authorization: Bearer <token>`.
pub const CREDENTIAL: &str = "api";

/// How long to wait after a rate limit that names no delay: Salesforce's
/// API request limit is counted over a rolling 24 hours, so retrying at once
/// only burns more of it.
pub const DEFAULT_RATE_LIMIT_DELAY_MS: u64 = 60_000;

/// One entry of Salesforce's error answer, `[{"message","errorCode","fields"}]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiError {
    /// What went wrong, in Salesforce's words.
    #[serde(default)]
    pub message: String,
    /// `INVALID_SESSION_ID`, `MALFORMED_QUERY`, `INVALID_FIELD`, ...
    #[serde(default)]
    pub error_code: String,
    /// The fields concerned, when Salesforce names them.
    #[serde(default)]
    pub fields: Vec<String>,
}

/// `GET {instance_url}{path}` (a path beginning with `/services/data/`) and
/// its JSON body.
pub fn get<T: DeserializeOwned>(path: &str) -> Result<T, Error> {
    let url = format!("{}{path}", settings::instance_url()?);
    let response = Request::get(&url)
        .credential(CREDENTIAL)
        .header("Accept", "application/json")
        .send()?;
    parse(&response, path)
}

/// `POST {data_url}{path}` with a JSON body, and the JSON answer.
pub fn post<T: DeserializeOwned>(path: &str, body: &serde_json::Value) -> Result<T, Error> {
    let url = format!("{}{path}", settings::data_url()?);
    let response = Request::post(&url)
        .credential(CREDENTIAL)
        .header("Accept", "application/json")
        .json(body)?
        .send()?;
    parse(&response, path)
}

/// A 2xx answer's JSON body, or the error the status and body stand for.
fn parse<T: DeserializeOwned>(response: &IncomingResponse, what: &str) -> Result<T, Error> {
    check(response, what)?;
    loyalty_sdk::json::parse(&response.body).map_err(|e| {
        Error::InvalidInput(format!(
            "Salesforce's answer to {what} is not understood: {}",
            e.message()
        ))
    })
}

/// Maps a Salesforce status and error body onto [`Error`]:
///
/// | answer | error |
/// |---|---|
/// | 2xx | none |
/// | 429, or 403 `REQUEST_LIMIT_EXCEEDED` | `rate-limited`, `Retry-After` seconds or 60 s |
/// | 401 | `unauthorized` |
/// | other 403 | `unauthorized` (the integration user lacks a permission) |
/// | 5xx | `transient` |
/// | 400 `MALFORMED_QUERY`, `INVALID_FIELD`, other 4xx | `permanent`, with Salesforce's message |
pub fn check(response: &IncomingResponse, what: &str) -> Result<(), Error> {
    let status = response.status;
    if (200..300).contains(&status) {
        return Ok(());
    }
    let errors = errors(&response.body);
    let codes = errors
        .iter()
        .map(|e| e.error_code.as_str())
        .collect::<Vec<_>>();
    let detail = describe(&errors, &response.body);
    let message = format!("Salesforce answered {what} with HTTP {status}: {detail}");
    Err(match status {
        429 => rate_limited(response, message),
        403 if codes.contains(&"REQUEST_LIMIT_EXCEEDED") => rate_limited(response, message),
        401 => Error::Unauthorized(format!(
            "{message} (the host already retried with a fresh token: check the connected app's client id and secret, and that its run-as user may use the API)"
        )),
        403 => Error::Unauthorized(format!(
            "{message} (the integration user lacks a permission)"
        )),
        500..=599 => Error::Transient(message),
        _ => Error::Permanent(message),
    })
}

/// Whether the answer is Salesforce's error with this code.
pub fn has_code(response: &IncomingResponse, code: &str) -> bool {
    errors(&response.body).iter().any(|e| e.error_code == code)
}

/// The errors of an error body; empty when it is not Salesforce's shape.
fn errors(body: &[u8]) -> Vec<ApiError> {
    serde_json::from_slice::<Vec<ApiError>>(body).unwrap_or_default()
}

/// `ERROR_CODE: message [fields]; ...`, or a snippet of a body that is not
/// Salesforce's error shape (a proxy's HTML page).
fn describe(errors: &[ApiError], body: &[u8]) -> String {
    if errors.is_empty() {
        return String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
    }
    errors
        .iter()
        .map(|e| {
            let mut text = format!("{}: {}", e.error_code, e.message);
            if !e.fields.is_empty() {
                text.push_str(&format!(" (fields: {})", e.fields.join(", ")));
            }
            text
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// A rate limit, waiting as long as `Retry-After` says (seconds), else 60 s.
fn rate_limited(response: &IncomingResponse, message: String) -> Error {
    let delay_ms = find_header(&response.headers, "retry-after")
        .and_then(|v| parse_decimal(v).ok())
        .filter(|seconds| *seconds >= Decimal::ZERO)
        .and_then(|seconds| u64::try_from((seconds * Decimal::ONE_THOUSAND).ceil()).ok())
        .unwrap_or(DEFAULT_RATE_LIMIT_DELAY_MS);
    Error::RateLimited(RetryAfter {
        delay_ms: Some(delay_ms),
        message,
    })
}

/// Percent-encodes a query parameter value (RFC 3986 unreserved characters
/// stay as they are).
pub fn encode_query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3 / 2);
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Whether `id` looks like a Salesforce record id (15 or 18 letters and
/// digits), so that it can go into a URL path.
pub fn is_record_id(id: &str) -> bool {
    matches!(id.len(), 15 | 18) && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;
    use loyalty_sdk::types::Header;

    fn response(status: u16, headers: &[(&str, &str)], body: &str) -> IncomingResponse {
        IncomingResponse {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| Header {
                    name: (*n).to_owned(),
                    value: (*v).to_owned(),
                })
                .collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn rate_limits_wait_for_retry_after_or_a_minute() {
        let limit =
            r#"[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]"#;
        match check(&response(403, &[], limit), "the query") {
            Err(Error::RateLimited(r)) => assert_eq!(r.delay_ms, Some(60_000)),
            other => panic!("{other:?}"),
        }
        match check(&response(429, &[("Retry-After", "7")], "[]"), "the query") {
            Err(Error::RateLimited(r)) => assert_eq!(r.delay_ms, Some(7_000)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn statuses_map_to_retry_decisions() {
        let session =
            r#"[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]"#;
        assert!(matches!(
            check(&response(401, &[], session), "q"),
            Err(Error::Unauthorized(_))
        ));
        assert!(matches!(
            check(&response(503, &[], "<html>maintenance</html>"), "q"),
            Err(Error::Transient(_))
        ));
        let field = r#"[{"message":"No such column 'VAT__c' on entity 'Account'.","errorCode":"INVALID_FIELD"}]"#;
        match check(&response(400, &[], field), "the Account query") {
            Err(Error::Permanent(m)) => {
                assert!(m.contains("INVALID_FIELD") && m.contains("VAT__c"), "{m}");
            }
            other => panic!("{other:?}"),
        }
        assert!(check(&response(201, &[], "{}"), "q").is_ok());
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(
            encode_query_value("SELECT Id FROM Account WHERE Id > '001'"),
            "SELECT%20Id%20FROM%20Account%20WHERE%20Id%20%3E%20%27001%27"
        );
    }
}
