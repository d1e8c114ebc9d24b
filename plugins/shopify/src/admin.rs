//! The Admin REST API: requests with the `admin` credential, the `Link`
//! header Shopify pages with, and the leaky-bucket call limit.
//!
//! Shopify meters REST calls per app and shop with a bucket (40 calls,
//! draining 2 a second on standard plans) and reports its level after every
//! call in `X-Shopify-Shop-Api-Call-Limit: 38/40`. A [`Client`] remembers the
//! last level it saw; when the bucket is full it refuses to send the next
//! request and answers `rate-limited` instead, so that the host waits rather
//! than the connector earning a 429. A 429 that happens anyway is
//! `rate-limited` with Shopify's `Retry-After`.

use loyalty_sdk::http::{Request, check_status};
use loyalty_sdk::request::find_header;
use loyalty_sdk::types::{Error, IncomingResponse, RetryAfter};

use crate::company::CREDENTIAL;

/// The header carrying the bucket's level (`used/size`).
pub const CALL_LIMIT_HEADER: &str = "X-Shopify-Shop-Api-Call-Limit";

/// How long to wait when the bucket is full: at Shopify's standard drain of
/// two calls a second, one second frees two calls.
pub const FULL_BUCKET_DELAY_MS: u64 = 1_000;

/// The largest page Shopify serves (`limit`).
pub const PAGE_LIMIT_MAX: u32 = 250;

/// The bucket's level after a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallLimit {
    /// Calls in the bucket.
    pub used: u32,
    /// The bucket's size.
    pub size: u32,
}

impl CallLimit {
    /// Reads `38/40`; anything else is `None`.
    pub fn parse(text: &str) -> Option<Self> {
        let (used, size) = text.trim().split_once('/')?;
        Some(Self {
            used: used.trim().parse().ok()?,
            size: size.trim().parse().ok()?,
        })
    }

    /// Whether the next call would overflow the bucket.
    pub fn is_full(self) -> bool {
        self.size > 0 && self.used >= self.size
    }
}

/// Sends Admin API requests with the `admin` credential, watching the call
/// limit. One client serves one connector call.
#[derive(Debug, Default)]
pub struct Client {
    last_limit: Option<CallLimit>,
}

impl Client {
    /// A client that has seen no call limit yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sends `request` unless the bucket was full after the previous call;
    /// returns the response whatever its status.
    pub fn send(&mut self, request: Request) -> Result<IncomingResponse, Error> {
        if let Some(limit) = self.last_limit.filter(|l| l.is_full()) {
            return Err(Error::RateLimited(RetryAfter {
                delay_ms: Some(FULL_BUCKET_DELAY_MS),
                message: format!(
                    "Shopify's REST call bucket is full ({}/{}); not sending {} {}",
                    limit.used,
                    limit.size,
                    request.as_outgoing().method,
                    request.as_outgoing().url
                ),
            }));
        }
        let response = request
            .credential(CREDENTIAL)
            .header("Accept", "application/json")
            .send()?;
        self.last_limit =
            find_header(&response.headers, CALL_LIMIT_HEADER).and_then(CallLimit::parse);
        Ok(response)
    }

    /// Sends `request` and requires a 2xx answer (see
    /// [`loyalty_sdk::http::check_status`] for how others map).
    pub fn send_ok(&mut self, request: Request) -> Result<IncomingResponse, Error> {
        let response = self.send(request)?;
        check_status(&response)?;
        Ok(response)
    }
}

/// The `page_info` token of the `rel="next"` link in a `Link` header, as it
/// appears in the URL (still percent-encoded, so it goes back unchanged).
///
/// Shopify writes `<https://…/orders.json?limit=50&page_info=abc>;
/// rel="next"`, with a `rel="previous"` link before it after the first page.
/// URLs may contain commas (`fields=id,name`), so links are found by their
/// angle brackets, not by splitting on commas.
pub fn next_page_info(link: &str) -> Option<String> {
    let mut rest = link;
    while let Some(start) = rest.find('<') {
        let after = &rest[start + 1..];
        let end = after.find('>')?;
        let url = &after[..end];
        let params_end = after[end + 1..]
            .find('<')
            .map_or(after.len(), |i| end + 1 + i);
        let params = &after[end + 1..params_end];
        if is_rel_next(params) {
            return query_param(url, "page_info");
        }
        rest = &after[params_end..];
    }
    None
}

/// Whether a link's parameters (`; rel="next"`) name it `next`.
fn is_rel_next(params: &str) -> bool {
    params.split(';').any(|param| {
        param.split_once('=').is_some_and(|(name, value)| {
            name.trim().eq_ignore_ascii_case("rel")
                && value
                    .trim()
                    .trim_matches('"')
                    .split_ascii_whitespace()
                    .any(|rel| rel.eq_ignore_ascii_case("next"))
        })
    })
}

/// The raw value of a query parameter of `url`.
fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or(query);
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
        .filter(|value| !value.is_empty())
}

/// Percent-encodes a query parameter value: everything but RFC 3986's
/// unreserved characters.
pub fn encode_query_value(value: &str) -> String {
    let mut encoded = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// Shopify's `errors` from a refused request's body, compact, for messages
/// (`{"code":["must be unique"]}`); the raw body when it has none.
pub fn vendor_errors(response: &IncomingResponse) -> String {
    let text =
        || String::from_utf8_lossy(&response.body[..response.body.len().min(300)]).into_owned();
    match serde_json::from_slice::<serde_json::Value>(&response.body) {
        Ok(body) => match body.get("errors") {
            Some(serde_json::Value::String(message)) => message.clone(),
            Some(errors) => errors.to_string(),
            None => text(),
        },
        Err(_) => text(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_limits_parse_and_fill() {
        assert_eq!(
            CallLimit::parse("38/40"),
            Some(CallLimit { used: 38, size: 40 })
        );
        assert!(!CallLimit::parse("39/40").unwrap().is_full());
        assert!(CallLimit::parse(" 40/40 ").unwrap().is_full());
        assert_eq!(CallLimit::parse("forty"), None);
        assert_eq!(CallLimit::parse("1/"), None);
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(
            encode_query_value("2026-03-05T15:40:12Z"),
            "2026-03-05T15%3A40%3A12Z"
        );
        assert_eq!(encode_query_value("A B+C/é"), "A%20B%2BC%2F%C3%A9");
    }
}
