//! Recorded vendor exchanges, replayed to connector code under test, and
//! the events it produced, compared with the ones expected.
//!
//! A cassette is a JSON file holding the vendor's answers to the requests a
//! connector makes:
//!
//! ```json
//! {
//!   "exchanges": [
//!     {
//!       "request": { "method": "GET", "path": "/v1/orders?limit=2", "credential": "api" },
//!       "response": { "status": 200, "headers": [["content-type", "application/json"]],
//!                     "json": { "orders": [] } }
//!     }
//!   ]
//! }
//! ```
//!
//! A request matches an exchange when the method, the path with its query
//! and, where the exchange names them, the credential and the body (`json`:
//! equal as JSON; `body`: equal as text) are the same. The scheme and host
//! are not compared, so one cassette serves whatever base URL a test
//! configures. Each exchange answers once, the first unanswered one that
//! matches; a request that matches none is denied with the list of what was
//! recorded, and [`TestHost::unplayed`](super::TestHost::unplayed) names the
//! exchanges nothing asked for.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::types::{Event, Header, HttpError, IncomingResponse, OutgoingRequest};

/// Characters of an unmatched request's body shown in its denial.
const BODY_SHOWN: usize = 400;

/// Recorded exchanges with a vendor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cassette {
    /// In the order they were recorded.
    pub exchanges: Vec<Exchange>,
}

/// One request and the vendor's answer to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exchange {
    /// What the connector asks.
    pub request: RecordedRequest,
    /// What the vendor answers.
    pub response: RecordedResponse,
}

/// A recorded request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordedRequest {
    /// `GET`, `POST`, ... (compared without regard to case).
    pub method: String,
    /// The path and query, as sent (`/v1/orders?limit=2`).
    pub path: String,
    /// The credential the request must name, if any is checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
    /// The JSON body the request must carry, compared as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<Value>,
    /// The text body the request must carry, compared exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

/// A recorded answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordedResponse {
    /// The HTTP status.
    pub status: u16,
    /// Header names and values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<(String, String)>,
    /// A JSON body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<Value>,
    /// A text body, when the body is not JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

impl Cassette {
    /// Reads a cassette file. The error names the file and the field.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, String> {
        let path = path.as_ref();
        let text = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Reads a cassette from its JSON text.
    pub fn parse(text: &[u8]) -> Result<Self, String> {
        let mut de = serde_json::Deserializer::from_slice(text);
        let cassette: Self = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            format!("cassette field `{path}`: {}", e.into_inner())
        })?;
        for (n, exchange) in cassette.exchanges.iter().enumerate() {
            if exchange.request.json.is_some() && exchange.request.body.is_some() {
                return Err(format!(
                    "cassette field `exchanges[{n}].request`: give `json` or `body`, not both"
                ));
            }
            if exchange.response.json.is_some() && exchange.response.body.is_some() {
                return Err(format!(
                    "cassette field `exchanges[{n}].response`: give `json` or `body`, not both"
                ));
            }
            if !exchange.request.path.starts_with('/') {
                return Err(format!(
                    "cassette field `exchanges[{n}].request.path`: `{}` must start with `/`",
                    exchange.request.path
                ));
            }
        }
        Ok(cassette)
    }
}

/// A cassette being replayed: which exchanges have answered. The test
/// host uses it natively; `loyaltyd plugins replay` serves it over HTTP to
/// a built component.
#[derive(Debug)]
pub struct Replay {
    cassette: Cassette,
    played: Vec<bool>,
}

impl Replay {
    /// Starts replaying `cassette`: no exchange has answered yet.
    pub fn new(cassette: Cassette) -> Self {
        let played = vec![false; cassette.exchanges.len()];
        Self { cassette, played }
    }

    /// The answer of the first unplayed exchange matching `request` (its
    /// URL's scheme and host are not compared). A request matching none is
    /// denied, naming what the cassette holds.
    pub fn answer(&mut self, request: &OutgoingRequest) -> Result<IncomingResponse, HttpError> {
        let found = self
            .cassette
            .exchanges
            .iter()
            .zip(&self.played)
            .position(|(exchange, played)| !played && matches(&exchange.request, request));
        let Some(n) = found else {
            let recorded: Vec<String> = self
                .cassette
                .exchanges
                .iter()
                .zip(&self.played)
                .map(|(e, played)| {
                    let mark = if *played { " (played)" } else { "" };
                    format!("{} {}{mark}", e.request.method, e.request.path)
                })
                .collect();
            let body = match request.body.as_deref() {
                Some(body) if !body.is_empty() => {
                    let text = String::from_utf8_lossy(body);
                    let cut: String = text.chars().take(BODY_SHOWN).collect();
                    let more = if cut.len() < text.len() { "..." } else { "" };
                    format!(" with body {cut}{more}")
                }
                _ => String::new(),
            };
            return Err(HttpError::Denied(format!(
                "{} {}{body} is not in the cassette; it holds: {}",
                request.method,
                path_and_query(&request.url),
                if recorded.is_empty() {
                    "nothing".to_owned()
                } else {
                    recorded.join(", ")
                }
            )));
        };
        self.played[n] = true;
        let response = &self.cassette.exchanges[n].response;
        let body = match (&response.json, &response.body) {
            (Some(json), _) => json.to_string().into_bytes(),
            (None, Some(text)) => text.clone().into_bytes(),
            (None, None) => Vec::new(),
        };
        Ok(IncomingResponse {
            status: response.status,
            headers: response
                .headers
                .iter()
                .map(|(name, value)| Header {
                    name: name.clone(),
                    value: value.clone(),
                })
                .collect(),
            body,
        })
    }

    /// `METHOD path` of every exchange that has not answered.
    pub fn unplayed(&self) -> Vec<String> {
        self.cassette
            .exchanges
            .iter()
            .zip(&self.played)
            .filter(|(_, played)| !**played)
            .map(|(e, _)| format!("{} {}", e.request.method, e.request.path))
            .collect()
    }
}

fn matches(recorded: &RecordedRequest, request: &OutgoingRequest) -> bool {
    let body_matches = match (&recorded.json, &recorded.body) {
        (Some(json), _) => request
            .body
            .as_deref()
            .and_then(|body| serde_json::from_slice::<Value>(body).ok())
            .is_some_and(|sent| &sent == json),
        (None, Some(text)) => request.body.as_deref() == Some(text.as_bytes()),
        (None, None) => true,
    };
    recorded.method.eq_ignore_ascii_case(&request.method)
        && path_and_query(&request.url) == recorded.path
        && recorded
            .credential
            .as_ref()
            .is_none_or(|c| request.credential.as_ref() == Some(c))
        && body_matches
}

/// `https://host:8443/a/b?c=d#e` → `/a/b?c=d`.
fn path_and_query(url: &str) -> &str {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = after_scheme
        .find('/')
        .map_or("/", |start| &after_scheme[start..]);
    path.split_once('#').map_or(path, |(before, _)| before)
}

/// Checks `events` against the JSON file at `path`, which holds them as
/// the SDK serializes them (`[{"Account": {"id": ...}}]`). With `BLESS=1`
/// in the environment the file is written from `events` instead, to be
/// reviewed and committed.
///
/// # Panics
/// When they differ, showing both, or when the file cannot be read or
/// written.
#[track_caller]
pub fn assert_events(events: &[Event], path: impl AsRef<Path>) {
    assert_json(events, path);
}

/// Checks any result (a campaign report, a fulfilment) against the JSON
/// file at `path`, as [`assert_events`] does events; `BLESS=1` writes it.
///
/// # Panics
/// When they differ, showing both, or when the file cannot be read or
/// written.
#[track_caller]
pub fn assert_json<T: Serialize + ?Sized>(value: &T, path: impl AsRef<Path>) {
    let path = path.as_ref();
    let actual = match serde_json::to_value(value) {
        Ok(value) => value,
        Err(error) => panic!("the result does not serialize: {error}"),
    };
    let pretty = |value: &Value| serde_json::to_string_pretty(value).unwrap_or_default() + "\n";
    if std::env::var_os("BLESS").is_some_and(|v| v == "1") {
        if let Err(error) = std::fs::write(path, pretty(&actual)) {
            panic!("cannot write {}: {error}", path.display());
        }
        return;
    }
    let expected: Value = load_json(path);
    assert!(
        actual == expected,
        "the result differs from {} (BLESS=1 rewrites it)\n--- expected\n{}--- actual\n{}",
        path.display(),
        pretty(&expected),
        pretty(&actual)
    );
}

/// Reads a JSON file into `T`: a request a test sends (a `reward-request`,
/// a `campaign-delivery`), the same file `loyaltyd plugins replay` reads.
///
/// # Panics
/// When the file cannot be read or is not a `T`.
#[track_caller]
pub fn load_json<T: DeserializeOwned>(path: impl AsRef<Path>) -> T {
    let path = path.as_ref();
    let text = match std::fs::read(path) {
        Ok(text) => text,
        Err(error) => panic!(
            "cannot read {}: {error} (BLESS=1 writes an expected result)",
            path.display()
        ),
    };
    match serde_json::from_slice(&text) {
        Ok(value) => value,
        Err(error) => panic!("{} does not read: {error}", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestHost;

    const CASSETTE: &str = r#"{
      "exchanges": [
        { "request": { "method": "GET", "path": "/v1/orders?page=1", "credential": "api" },
          "response": { "status": 200, "headers": [["x-page", "1"]], "json": { "orders": [1, 2] } } },
        { "request": { "method": "GET", "path": "/v1/orders?page=1", "credential": "api" },
          "response": { "status": 200, "json": { "orders": [1, 2, 3] } } },
        { "request": { "method": "POST", "path": "/v1/codes", "json": { "code": "A", "value": 10 } },
          "response": { "status": 201, "body": "created" } }
      ]
    }"#;

    fn request(
        method: &str,
        url: &str,
        credential: Option<&str>,
        body: Option<&str>,
    ) -> OutgoingRequest {
        OutgoingRequest {
            method: method.to_owned(),
            url: url.to_owned(),
            headers: Vec::new(),
            body: body.map(|b| b.as_bytes().to_vec()),
            credential: credential.map(str::to_owned),
            idempotency_key: None,
        }
    }

    #[test]
    fn exchanges_answer_once_in_order_whatever_the_origin() {
        let host = TestHost::new().replay(Cassette::parse(CASSETTE.as_bytes()).unwrap());
        let first = host
            .http_request(&request(
                "GET",
                "https://shop.example/v1/orders?page=1",
                Some("api"),
                None,
            ))
            .unwrap();
        assert_eq!(first.body, br#"{"orders":[1,2]}"#);
        assert_eq!(first.headers[0].value, "1");
        let again = host
            .http_request(&request(
                "get",
                "http://127.0.0.1:9/v1/orders?page=1#x",
                Some("api"),
                None,
            ))
            .unwrap();
        assert_eq!(again.body, br#"{"orders":[1,2,3]}"#);
        let third = host.http_request(&request(
            "GET",
            "https://shop.example/v1/orders?page=1",
            Some("api"),
            None,
        ));
        let Err(HttpError::Denied(message)) = third else {
            panic!("a third request matched: {third:?}");
        };
        assert!(
            message.contains("GET /v1/orders?page=1 is not in the cassette")
                && message.contains("(played)")
                && message.contains("POST /v1/codes"),
            "{message}"
        );
        assert_eq!(host.unplayed(), ["POST /v1/codes"]);
    }

    #[test]
    fn credential_and_body_are_compared_when_recorded() {
        let host = TestHost::new().replay(Cassette::parse(CASSETTE.as_bytes()).unwrap());
        assert!(
            host.http_request(&request(
                "GET",
                "https://x/v1/orders?page=1",
                Some("other"),
                None
            ))
            .is_err()
        );
        let wrong = host.http_request(&request(
            "POST",
            "https://x/v1/codes",
            None,
            Some(r#"{"code":"B","value":10}"#),
        ));
        let Err(HttpError::Denied(message)) = wrong else {
            panic!("another body matched: {wrong:?}");
        };
        assert!(
            message.starts_with(r#"POST /v1/codes with body {"code":"B","value":10} is not in"#),
            "{message}"
        );
        let created = host
            .http_request(&request(
                "POST",
                "https://x/v1/codes",
                None,
                Some(r#"{ "value": 10, "code": "A" }"#),
            ))
            .unwrap();
        assert_eq!(
            (created.status, created.body.as_slice()),
            (201, &b"created"[..])
        );
    }

    #[test]
    fn a_malformed_cassette_names_the_field() {
        let error = Cassette::parse(br#"{"exchanges":[{"request":{"method":"GET","path":"/"},"response":{"status":"ok"}}]}"#)
            .unwrap_err();
        assert!(error.contains("exchanges[0].response.status"), "{error}");
        let error = Cassette::parse(br#"{"exchanges":[{"request":{"method":"GET","path":"v1"},"response":{"status":200}}]}"#)
            .unwrap_err();
        assert!(error.contains("must start with `/`"), "{error}");
        let error = Cassette::parse(br#"{"exchanges":[],"extra":1}"#).unwrap_err();
        assert!(error.contains("extra"), "{error}");
    }

    #[test]
    fn events_are_compared_as_json() {
        let dir = std::env::temp_dir().join(format!("loyalty-sdk-events-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("events.json");
        let events = vec![Event::Account(crate::types::Account {
            id: "C-1".to_owned(),
            version: 7,
            name: "Acme".to_owned(),
            domain: None,
            tax_id: None,
            industry: None,
            employees: None,
            annual_revenue: None,
            parent_id: None,
            country: None,
            external_refs: Vec::new(),
            attributes: Vec::new(),
        })];
        let json = serde_json::to_value(&events).unwrap();
        assert_eq!(json[0]["Account"]["id"], "C-1");
        assert_eq!(json[0]["Account"]["version"], 7);
        std::fs::write(&file, serde_json::to_string(&json).unwrap()).unwrap();
        assert_events(&events, &file);
        let mut changed = json.clone();
        changed[0]["Account"]["name"] = "Other".into();
        std::fs::write(&file, changed.to_string()).unwrap();
        let outcome = std::panic::catch_unwind(|| assert_events(&events, &file));
        std::fs::remove_dir_all(&dir).unwrap();
        let message = outcome.unwrap_err();
        let message = message
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default();
        assert!(
            message.contains("the result differs") && message.contains("Other"),
            "{message}"
        );
    }

    #[test]
    fn a_request_file_reads_into_its_type_with_absent_options() {
        let dir = std::env::temp_dir().join(format!("loyalty-sdk-request-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("reward.request.json");
        std::fs::write(
            &file,
            r#"{"idempotency_key":"r-1","redemption_id":"1","account_id":"A",
                "kind":"GiftCard","reward_id":"g","name":"Gift","attributes":[]}"#,
        )
        .unwrap();
        let request: crate::types::RewardRequest = load_json(&file);
        assert_eq!(request.kind, crate::types::RewardKind::GiftCard);
        assert_eq!(request.contact_id, None);
        std::fs::write(&file, r#"{"idempotency_key":"r-1"}"#).unwrap();
        let outcome = std::panic::catch_unwind(|| load_json::<crate::types::RewardRequest>(&file));
        std::fs::remove_dir_all(&dir).unwrap();
        let message = outcome.unwrap_err();
        let message = message
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default();
        assert!(message.contains("missing field"), "{message}");
    }
}
