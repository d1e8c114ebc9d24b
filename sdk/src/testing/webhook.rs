//! A recorded webhook delivery as a JSON file, for tests and for
//! `loyaltyd plugins replay --webhook`:
//!
//! ```json
//! {
//!   "method": "POST",
//!   "url": "https://loyalty.example/webhooks/acme",
//!   "headers": [{ "name": "X-Acme-Signature", "value": "..." }],
//!   "body": "{\"order\":{\"id\":1001}}"
//! }
//! ```
//!
//! The body is the exact text the vendor sent (`body`), which is what a
//! signature covers, or JSON (`json`) written compactly. `method` defaults
//! to `POST` and `url` to a placeholder.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::types::{Header, WebhookRequest};

/// The URL of a delivery whose file names none.
const DEFAULT_URL: &str = "https://loyalty.example/webhooks/replay";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookFile {
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    headers: Vec<Header>,
    #[serde(default)]
    json: Option<Value>,
    #[serde(default)]
    body: Option<String>,
}

/// Reads a webhook file's text into the request a connector receives.
///
/// # Errors
/// A message naming what is wrong: not JSON, an unknown field, or both
/// `json` and `body`.
pub fn parse_webhook(text: &[u8]) -> Result<WebhookRequest, String> {
    let file: WebhookFile = serde_json::from_slice(text).map_err(|e| e.to_string())?;
    let body = match (file.json, file.body) {
        (Some(json), None) => serde_json::to_vec(&json).map_err(|e| e.to_string())?,
        (None, Some(text)) => text.into_bytes(),
        (None, None) => Vec::new(),
        (Some(_), Some(_)) => return Err("give the body as `json` or as `body`, not both".into()),
    };
    Ok(WebhookRequest {
        method: file.method.unwrap_or_else(|| "POST".to_owned()),
        url: file.url.unwrap_or_else(|| DEFAULT_URL.to_owned()),
        headers: file.headers,
        body,
    })
}

/// Reads a webhook file.
///
/// # Panics
/// When the file cannot be read or is not a webhook file.
#[track_caller]
pub fn load_webhook(path: impl AsRef<Path>) -> WebhookRequest {
    let path = path.as_ref();
    let text = match std::fs::read(path) {
        Ok(text) => text,
        Err(error) => panic!("cannot read {}: {error}", path.display()),
    };
    match parse_webhook(&text) {
        Ok(request) => request,
        Err(error) => panic!("{} is not a webhook file: {error}", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_the_text_as_sent_or_compact_json() {
        let request = parse_webhook(
            br#"{"headers":[{"name":"X-Sig","value":"abc"}],"body":"{ \"id\": 1 }"}"#,
        )
        .unwrap();
        assert_eq!(request.method, "POST");
        assert_eq!(request.url, DEFAULT_URL);
        assert_eq!(request.headers[0].name, "X-Sig");
        assert_eq!(request.body, br#"{ "id": 1 }"#);

        let request =
            parse_webhook(br#"{"method":"PUT","url":"https://x.example/h","json":{ "id": 1 }}"#)
                .unwrap();
        assert_eq!(request.method, "PUT");
        assert_eq!(request.url, "https://x.example/h");
        assert_eq!(request.body, br#"{"id":1}"#);
    }

    #[test]
    fn a_bad_file_says_what_is_wrong() {
        let both = parse_webhook(br#"{"json":{},"body":""}"#).unwrap_err();
        assert!(both.contains("not both"), "{both}");
        let unknown = parse_webhook(br#"{"bdy":""}"#).unwrap_err();
        assert!(unknown.contains("bdy"), "{unknown}");
    }
}
