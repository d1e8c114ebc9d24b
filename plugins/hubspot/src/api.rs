//! Calls to the HubSpot API, with HubSpot's answers mapped onto the
//! connector error variant so that the host, not the guest, waits and
//! retries.
//!
//! Every request carries the `api` credential: the host injects the private
//! app's access token as `Authorization: Bearer ...`; the connector never
//! sees it.

use loyalty_sdk::decimal::parse_decimal;
use loyalty_sdk::http::Request;
use loyalty_sdk::request::find_header;
use loyalty_sdk::types::{Error, IncomingResponse, RetryAfter};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::settings::Settings;

/// The credential the host injects as a bearer token.
pub const CREDENTIAL: &str = "api";

/// How long to wait after a 429 that names no delay: HubSpot's burst limits
/// count over ten-second windows.
pub const DEFAULT_RATE_LIMIT_DELAY_MS: u64 = 10_000;

/// A call about to be made: method and path, kept for error messages.
#[derive(Debug, Clone)]
pub struct Call<'a> {
    settings: &'a Settings,
    method: &'static str,
    path: String,
}

impl<'a> Call<'a> {
    /// `GET path` (the path may carry a query).
    pub fn get(settings: &'a Settings, path: String) -> Self {
        Self {
            settings,
            method: "GET",
            path,
        }
    }

    /// `POST path`.
    pub fn post(settings: &'a Settings, path: String) -> Self {
        Self {
            settings,
            method: "POST",
            path,
        }
    }

    /// `PUT path`.
    pub fn put(settings: &'a Settings, path: String) -> Self {
        Self {
            settings,
            method: "PUT",
            path,
        }
    }

    /// What the call is, for messages: `POST /crm/v3/objects/deals/search`.
    pub fn describe(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    fn request(&self) -> Request {
        Request::new(self.method, &self.settings.url(&self.path))
            .credential(CREDENTIAL)
            .header("Accept", "application/json")
    }

    /// Sends the call without a body and returns HubSpot's answer, whatever
    /// its status.
    pub fn send(&self) -> Result<IncomingResponse, Error> {
        self.request().send()
    }

    /// Sends the call with a JSON body and returns HubSpot's answer, whatever
    /// its status.
    pub fn send_json<B: serde::Serialize>(&self, body: &B) -> Result<IncomingResponse, Error> {
        self.request().json(body)?.send()
    }

    /// Sends a JSON body, requires a 2xx answer and parses it.
    pub fn fetch<B: serde::Serialize, T: DeserializeOwned>(&self, body: &B) -> Result<T, Error> {
        let response = self.send_json(body)?;
        self.parse(&response)
    }

    /// Requires a 2xx answer and parses its JSON body.
    pub fn parse<T: DeserializeOwned>(&self, response: &IncomingResponse) -> Result<T, Error> {
        check(&self.describe(), response)?;
        loyalty_sdk::json::parse(&response.body).map_err(|e| {
            Error::InvalidInput(format!(
                "HubSpot's answer to {} is not understood: {}",
                self.describe(),
                e.message()
            ))
        })
    }
}

/// HubSpot's error body: `{"status":"error","message":...,"category":...}`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ErrorBody {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    policy_name: Option<String>,
    #[serde(default)]
    errors: Vec<ErrorDetail>,
}

/// One entry of an error body's `errors`.
#[derive(Debug, Default, Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    message: Option<String>,
}

/// Maps a non-2xx answer onto [`Error`]: 429 is `rate-limited` (with the
/// delay HubSpot names), 5xx `transient`, 401 and 403 `unauthorized`, any
/// other status `permanent`, each with HubSpot's own message.
pub fn check(call: &str, response: &IncomingResponse) -> Result<(), Error> {
    let status = response.status;
    if (200..300).contains(&status) {
        return Ok(());
    }
    let body: ErrorBody = serde_json::from_slice(&response.body).unwrap_or_default();
    let mut message = body.message.clone().unwrap_or_else(|| {
        String::from_utf8_lossy(&response.body[..response.body.len().min(300)]).into_owned()
    });
    for detail in body.errors.iter().filter_map(|e| e.message.as_deref()) {
        message.push_str("; ");
        message.push_str(detail);
    }
    let category = body.category.as_deref().unwrap_or("none");
    let described = format!("HubSpot answered {call} with {status} ({category}): {message}");
    Err(match status {
        429 => Error::RateLimited(RetryAfter {
            delay_ms: Some(rate_limit_delay_ms(response)),
            message: match body.policy_name {
                Some(policy) => format!("{described} [policy {policy}]"),
                None => described,
            },
        }),
        401 | 403 => Error::Unauthorized(format!(
            "{described} (check the private app token in [connectors.hubspot.credentials.api] and its scopes)"
        )),
        500..=599 => Error::Transient(described),
        _ => Error::Permanent(described),
    })
}

/// How long to wait after a 429: `Retry-After` (seconds) when HubSpot sends
/// it; else one second when the per-second allowance is spent
/// (`X-HubSpot-RateLimit-Secondly-Remaining: 0`); else the rolling window
/// (`X-HubSpot-RateLimit-Interval-Milliseconds`) when its allowance is spent
/// (`X-HubSpot-RateLimit-Remaining: 0`); else ten seconds.
pub fn rate_limit_delay_ms(response: &IncomingResponse) -> u64 {
    let header = |name: &str| find_header(&response.headers, name).map(str::trim);
    if let Some(ms) = header("retry-after")
        .and_then(|v| parse_decimal(v).ok())
        .and_then(|seconds| u64::try_from((seconds * Decimal::ONE_THOUSAND).ceil()).ok())
    {
        return ms;
    }
    if header("x-hubspot-ratelimit-secondly-remaining") == Some("0") {
        return 1000;
    }
    if header("x-hubspot-ratelimit-remaining") == Some("0")
        && let Some(ms) =
            header("x-hubspot-ratelimit-interval-milliseconds").and_then(|v| v.parse::<u64>().ok())
    {
        return ms;
    }
    DEFAULT_RATE_LIMIT_DELAY_MS
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
    fn rate_limit_delays_follow_hubspots_headers() {
        let limited = |headers: &[(&str, &str)]| rate_limit_delay_ms(&response(429, headers, ""));
        assert_eq!(limited(&[("Retry-After", "3")]), 3000);
        assert_eq!(
            limited(&[
                ("X-HubSpot-RateLimit-Secondly-Remaining", "0"),
                ("X-HubSpot-RateLimit-Remaining", "40")
            ]),
            1000
        );
        assert_eq!(
            limited(&[
                ("X-HubSpot-RateLimit-Interval-Milliseconds", "10000"),
                ("X-HubSpot-RateLimit-Remaining", "0")
            ]),
            10_000
        );
        assert_eq!(limited(&[]), DEFAULT_RATE_LIMIT_DELAY_MS);
    }

    #[test]
    fn statuses_map_to_retry_decisions_with_hubspots_message() {
        let validation = r#"{"status":"error","message":"limit must be at most 200","correlationId":"x","category":"VALIDATION_ERROR"}"#;
        match check(
            "POST /crm/v3/objects/deals/search",
            &response(400, &[], validation),
        ) {
            Err(Error::Permanent(m)) => {
                assert!(m.contains("limit must be at most 200"), "{m}");
                assert!(m.contains("VALIDATION_ERROR"), "{m}");
                assert!(m.contains("POST /crm/v3/objects/deals/search"), "{m}");
            }
            other => panic!("{other:?}"),
        }
        let rate = r#"{"status":"error","message":"You have reached your secondly limit.","errorType":"RATE_LIMIT","policyName":"SECONDLY"}"#;
        match check("GET /x", &response(429, &[("Retry-After", "2")], rate)) {
            Err(Error::RateLimited(r)) => {
                assert_eq!(r.delay_ms, Some(2000));
                assert!(r.message.contains("SECONDLY"), "{}", r.message);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            check("GET /x", &response(401, &[], "{}")),
            Err(Error::Unauthorized(_))
        ));
        assert!(matches!(
            check("GET /x", &response(502, &[], "<html>")),
            Err(Error::Transient(_))
        ));
        assert!(check("GET /x", &response(207, &[], "{}")).is_ok());
    }
}
