//! A connector frozen on contract `loyalty:connector@0.1.0`, so that every
//! host is tested with a component of the oldest contract it promises to
//! run (`wit/PENDING_CHANGES.md`, "How a version is cut", step 4).
//!
//! It is built with `wit-bindgen` straight from `wit/since_v0.1.0`, not with
//! `loyalty-sdk`: the SDK follows the newest contract, this component must
//! stay where it is. It reads organizations from Pipedrive's API v1 (the
//! emulator in `tests/src/pipedrive.rs`) into `account` events, by polling
//! and from signed webhooks, and uses the 0.1.0 host imports on the way:
//! settings, state, log, HTTP with an injected credential, HMAC checks.
//! `tests/e2e/contract_versions.rs` runs it in the daemon beside a component
//! built with the SDK.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use serde::Deserialize;

use exports::loyalty::connector::plugin::{self, PluginInfo, Setting};
use exports::loyalty::connector::sink::{
    self, CampaignDelivery, CampaignReport, Fulfilment, RewardRequest, Statement,
};
use exports::loyalty::connector::source::{self, PollPage, PollRequest};
use loyalty::connector::host::{
    self, HmacAlgorithm, HttpError, IncomingResponse, LogLevel, OutgoingRequest,
};
use loyalty::connector::types::{
    Account, Delivery, Error, Event, Header, RetryAfter, WebhookRequest,
};

wit_bindgen::generate!({
    path: "../../../wit/since_v0.1.0",
    world: "connector",
});

/// The connector's name in `describe`.
const NAME: &str = "legacy";
/// The setting that says where Pipedrive's API is.
const BASE_URL: &str = "base_url";
/// The credential carrying the API token, which the host injects.
const CREDENTIAL: &str = "api";
/// The secret webhooks are signed with.
const SECRET: &str = "webhook";
/// The base64 HMAC-SHA256 of a webhook's body.
const SIGNATURE_HEADER: &str = "x-legacy-signature";
/// The id a webhook keeps on every retry.
const DELIVERY_HEADER: &str = "x-delivery-id";
/// Pipedrive's largest page.
const LIMIT_MAX: u32 = 500;
/// State key: how many pages were read since the connector was installed,
/// which shows in its log that state outlives a call.
const PAGES: &str = "pages";
/// How Pipedrive writes a time, in UTC.
const PIPEDRIVE_TIME: &str = "%Y-%m-%d %H:%M:%S";
/// How much of an unexpected answer an error message quotes.
const EXCERPT_CHARS: usize = 200;

struct Legacy;

/// The component's exports, which `wit-bindgen` writes as `unsafe`
/// `extern "C"` functions with `export_name`.
#[allow(
    unsafe_code,
    reason = "the canonical ABI glue wit-bindgen generates; the connector itself is safe Rust"
)]
mod component {
    use super::Legacy;

    crate::export!(Legacy with_types_in crate);
}

impl plugin::Guest for Legacy {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: NAME.to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            // 0.1.0 has no field for a host the operator chooses: the entry
            // `{base_url}` stands for the origin of that setting's URL.
            hosts: vec![format!("{{{BASE_URL}}}")],
            credentials: vec![CREDENTIAL.to_owned()],
            secrets: vec![SECRET.to_owned()],
            settings: vec![Setting {
                name: BASE_URL.to_owned(),
                required: true,
                description: "Where Pipedrive's API is, without `/v1` \
                              (https://api.pipedrive.com)"
                    .to_owned(),
            }],
        }
    }
}

impl source::Guest for Legacy {
    /// Accepts a delivery whose `x-legacy-signature` is the base64
    /// HMAC-SHA256 of its body under the secret `webhook`, and names it by
    /// its `x-delivery-id`.
    fn verify_webhook(request: WebhookRequest) -> Result<Delivery, Error> {
        let signature = header(&request, SIGNATURE_HEADER)
            .ok_or_else(|| Error::Unauthorized(format!("missing header `{SIGNATURE_HEADER}`")))?;
        let signature = BASE64.decode(signature.trim()).map_err(|e| {
            Error::Unauthorized(format!("header `{SIGNATURE_HEADER}` is not base64: {e}"))
        })?;
        match host::verify_hmac(SECRET, HmacAlgorithm::Sha256, &request.body, &signature) {
            Ok(true) => {}
            Ok(false) => {
                return Err(Error::Unauthorized(format!(
                    "header `{SIGNATURE_HEADER}` is not the body's signature"
                )));
            }
            Err(e) => {
                return Err(Error::Permanent(format!(
                    "secret `{SECRET}`: {e} (configure it in the connector's `secrets`)"
                )));
            }
        }
        let id = header(&request, DELIVERY_HEADER)
            .ok_or_else(|| Error::InvalidInput(format!("missing header `{DELIVERY_HEADER}`")))?;
        Ok(Delivery {
            id: id.to_owned(),
            topic: "organization".to_owned(),
        })
    }

    /// The body is one organization, `{"id", "name", "update_time"}`, as
    /// the poll reads them.
    fn handle_webhook(request: WebhookRequest) -> Result<Vec<Event>, Error> {
        let organization: Organization = parse_json(&request.body)
            .map_err(|e| Error::InvalidInput(format!("webhook body: {e}")))?;
        let event = organization
            .event("")
            .map_err(|e| Error::InvalidInput(format!("webhook body: {e}")))?;
        Ok(vec![event])
    }

    /// Reads the organizations from the cursor, a record number. Pipedrive
    /// cannot list organizations by change time, so a backfill starts at 0,
    /// and after the last page the cursor goes back to 0: the next sync
    /// reads everything again and the host ignores the versions it holds.
    fn poll(request: PollRequest) -> Result<PollPage, Error> {
        let start = match (request.since, request.cursor.as_deref()) {
            (Some(_), _) | (None, None) => 0,
            (None, Some(cursor)) => cursor.parse::<u64>().map_err(|_| {
                Error::InvalidInput(format!("cursor `{cursor}` is not a record number"))
            })?,
        };
        let base = host::config_get(BASE_URL).ok_or_else(|| {
            Error::Permanent(format!(
                "setting `{BASE_URL}` is not set (add it to the connector's `settings`)"
            ))
        })?;
        let limit = request.page_size.clamp(1, LIMIT_MAX);
        let url = format!(
            "{}/v1/organizations?start={start}&limit={limit}",
            base.trim_end_matches('/')
        );
        let body = get(&url)?;
        let page: OrganizationPage =
            parse_json(&body).map_err(|e| Error::Permanent(format!("GET {url}: {e}")))?;
        if !page.success {
            return Err(Error::Permanent(format!(
                "GET {url}: Pipedrive did not answer success: {}",
                excerpt(&body)
            )));
        }
        let events = page
            .data
            .unwrap_or_default()
            .iter()
            .enumerate()
            .map(|(n, organization)| organization.event(&format!("data[{n}].")))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error::Permanent(format!("GET {url}: {e}")))?;
        let pagination = page.additional_data.pagination;
        let next = match (pagination.more_items_in_collection, pagination.next_start) {
            (false, _) => 0,
            (true, Some(next)) if next > start => next,
            (true, next) => {
                return Err(Error::Permanent(format!(
                    "GET {url}: more items, but `additional_data.pagination.next_start` is \
                     {next:?}, not past {start}"
                )));
            }
        };
        let pages = count_page()?;
        host::log(
            LogLevel::Info,
            &format!(
                "organizations from {start}: {} read; page {pages} since the connector was \
                 installed",
                events.len()
            ),
        );
        Ok(PollPage {
            events,
            next_cursor: Some(next.to_string()),
            more: pagination.more_items_in_collection,
        })
    }
}

impl sink::Guest for Legacy {
    fn push_campaign(_: CampaignDelivery) -> Result<CampaignReport, Error> {
        Err(unsupported("push campaigns"))
    }

    fn fulfil_reward(_: RewardRequest) -> Result<Fulfilment, Error> {
        Err(unsupported("fulfil rewards"))
    }

    fn deliver_statement(_: Statement) -> Result<String, Error> {
        Err(unsupported("deliver statements"))
    }
}

fn unsupported(what: &str) -> Error {
    Error::Unsupported(format!("{NAME} does not {what}"))
}

/// A page of `GET /v1/organizations`.
#[derive(Debug, Deserialize)]
struct OrganizationPage {
    success: bool,
    /// `null` past the end.
    data: Option<Vec<Organization>>,
    additional_data: AdditionalData,
}

#[derive(Debug, Deserialize)]
struct AdditionalData {
    pagination: Pagination,
}

#[derive(Debug, Deserialize)]
struct Pagination {
    more_items_in_collection: bool,
    /// Present when there are more items.
    next_start: Option<u64>,
}

/// An organization, as Pipedrive lists it and as its webhook sends it.
#[derive(Debug, Deserialize)]
struct Organization {
    id: u64,
    name: String,
    update_time: String,
}

impl Organization {
    /// The organization as an `account`, versioned by its last change; an
    /// error names the field, after `path` (`data[2].`).
    fn event(&self, path: &str) -> Result<Event, String> {
        let version = pipedrive_time_ms(&self.update_time).ok_or_else(|| {
            format!(
                "JSON field `{path}update_time`: `{}` is not a `YYYY-MM-DD HH:MM:SS` time \
                 after 1970",
                self.update_time
            )
        })?;
        Ok(Event::Account(Account {
            id: self.id.to_string(),
            version,
            name: self.name.clone(),
            domain: None,
            tax_id: None,
            industry: None,
            employees: None,
            annual_revenue: None,
            parent_id: None,
            country: None,
            external_refs: Vec::new(),
            attributes: Vec::new(),
        }))
    }
}

/// A Pipedrive time (`2026-10-01 08:30:00`, UTC) in milliseconds since the
/// epoch; `None` for anything else or a time before the epoch.
fn pipedrive_time_ms(text: &str) -> Option<u64> {
    let time = DateTime::strptime(PIPEDRIVE_TIME, text).ok()?;
    let instant = TimeZone::UTC.to_timestamp(time).ok()?;
    u64::try_from(instant.as_millisecond()).ok()
}

/// Parses a whole JSON document; an error names the field it is about.
fn parse_json<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, String> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer)
        .map_err(|e| format!("JSON field `{}`: {}", e.path(), e.inner()))?;
    deserializer
        .end()
        .map_err(|e| format!("JSON after the document: {e}"))?;
    Ok(value)
}

/// The first header named `name`, compared case-insensitively.
fn header<'a>(request: &'a WebhookRequest, name: &str) -> Option<&'a str> {
    request
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str())
}

/// Adds one to the page counter in state and returns it.
fn count_page() -> Result<u64, Error> {
    let read = match host::state_get(PAGES) {
        None => 0,
        Some(bytes) => std::str::from_utf8(&bytes)
            .ok()
            .and_then(|text| text.parse::<u64>().ok())
            .ok_or_else(|| Error::Permanent(format!("state `{PAGES}` is not a count")))?,
    };
    let pages = read + 1;
    host::state_set(PAGES, Some(pages.to_string().as_bytes()));
    Ok(pages)
}

/// GETs `url` with the API token and returns the body of a 200 answer.
fn get(url: &str) -> Result<Vec<u8>, Error> {
    let request = OutgoingRequest {
        method: "GET".to_owned(),
        url: url.to_owned(),
        headers: vec![Header {
            name: "accept".to_owned(),
            value: "application/json".to_owned(),
        }],
        body: None,
        credential: Some(CREDENTIAL.to_owned()),
        idempotency_key: None,
    };
    let response = host::http_request(&request).map_err(|e| http_failure(url, e))?;
    if response.status == 200 {
        Ok(response.body)
    } else {
        Err(status_error(url, &response))
    }
}

/// A request that got no answer: retrying helps only when it timed out or
/// could not connect.
fn http_failure(url: &str, failure: HttpError) -> Error {
    match failure {
        HttpError::Timeout(m) | HttpError::ConnectionFailed(m) => {
            Error::Transient(format!("GET {url}: {m}"))
        }
        HttpError::Denied(m) | HttpError::InvalidRequest(m) | HttpError::ResponseTooLarge(m) => {
            Error::Permanent(format!("GET {url}: {m}"))
        }
    }
}

/// What an answer other than 200 means for the host.
fn status_error(url: &str, response: &IncomingResponse) -> Error {
    let message = format!(
        "GET {url}: Pipedrive answered {}: {}",
        response.status,
        excerpt(&response.body)
    );
    match response.status {
        401 | 403 => Error::Unauthorized(message),
        429 => Error::RateLimited(RetryAfter {
            delay_ms: retry_after_ms(response),
            message,
        }),
        500..=599 => Error::Transient(message),
        _ => Error::Permanent(message),
    }
}

/// `Retry-After` in seconds, as milliseconds.
fn retry_after_ms(response: &IncomingResponse) -> Option<u64> {
    response
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("retry-after"))
        .and_then(|h| h.value.trim().parse::<u64>().ok())
        .map(|seconds| seconds.saturating_mul(1000))
}

/// The start of a body, for an error message.
fn excerpt(body: &[u8]) -> String {
    String::from_utf8_lossy(body)
        .chars()
        .take(EXCERPT_CHARS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pipedrive_time_is_utc_milliseconds() {
        assert_eq!(
            pipedrive_time_ms("2026-05-01 07:25:37"),
            Some(1_777_620_337_000)
        );
        for text in [
            "2026-05-01T07:25:37",
            "2026-05-01 07:25:37Z",
            "2026-02-30 00:00:00",
            "1969-12-31 23:59:59",
            "2026-05-01",
            "",
        ] {
            assert_eq!(pipedrive_time_ms(text), None, "{text}");
        }
    }

    #[test]
    fn a_page_past_the_end_has_no_data() {
        let page: OrganizationPage = parse_json(
            br#"{"success":true,"data":null,
                 "additional_data":{"pagination":{"start":4,"limit":2,
                 "more_items_in_collection":false}}}"#,
        )
        .unwrap();
        assert!(page.data.is_none());
        assert!(!page.additional_data.pagination.more_items_in_collection);
    }

    #[test]
    fn a_malformed_record_names_its_field() {
        let error = parse_json::<OrganizationPage>(
            br#"{"success":true,"data":[{"id":1,"name":"A","update_time":"2026-05-01 07:25:37"},
                 {"id":"2","name":"B","update_time":"2026-05-01 07:25:37"}],
                 "additional_data":{"pagination":{"more_items_in_collection":false}}}"#,
        )
        .unwrap_err();
        assert!(error.starts_with("JSON field `data[1].id`: "), "{error}");
        let organization = Organization {
            id: 3,
            name: "C".to_owned(),
            update_time: "yesterday".to_owned(),
        };
        let error = organization.event("data[2].").unwrap_err();
        assert!(
            error.starts_with("JSON field `data[2].update_time`: `yesterday`"),
            "{error}"
        );
    }
}
