//! Webhooks: HubSpot's v3 request signature, and batches of CRM events
//! turned into the current state of the records they name.
//!
//! HubSpot posts a JSON array of up to 100 events and signs the request with
//! the app's client secret:
//! `X-HubSpot-Signature-v3 = base64(HMAC-SHA256(secret, method + uri + body + timestamp))`,
//! where the timestamp is `X-HubSpot-Request-Timestamp` (ms) and the uri is
//! the URL HubSpot called. A request older than five minutes is refused, so
//! that a captured request cannot be replayed later.
//!
//! An event names a record and what happened to it, not the record's state:
//! `handle` reads each named record once (`GET /crm/v3/objects/{type}/{id}`)
//! and emits its current state; a deletion becomes a `deleted` event.

use std::collections::{BTreeMap, BTreeSet};

use loyalty_sdk::host;
use loyalty_sdk::prelude::*;
use loyalty_sdk::signature::verify_base64_hmac_sha256;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::api::Call;
use crate::associations::Related;
use crate::crm::{CrmObject, ObjectType};
use crate::ids::Id;
use crate::records;
use crate::settings::Settings;

/// The webhook secret's name (the app's client secret), as declared in
/// `describe`.
pub const SECRET: &str = "webhook";
/// `base64(HMAC-SHA256(client secret, method + uri + body + timestamp))`.
pub const SIGNATURE_HEADER: &str = "X-HubSpot-Signature-v3";
/// When HubSpot signed the request, in UTC milliseconds.
pub const TIMESTAMP_HEADER: &str = "X-HubSpot-Request-Timestamp";
/// How far the request timestamp may be from the host clock, either way.
pub const MAX_CLOCK_SKEW_MS: i64 = 5 * 60 * 1000;

/// One event of a webhook batch.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookEvent {
    /// The event's id; a retry of the batch carries the same ids.
    pub event_id: Id,
    /// `contact.creation`, `deal.propertyChange`, ...
    #[serde(default)]
    pub subscription_type: Option<String>,
    /// The same, as older apps receive it.
    #[serde(default)]
    pub event_type: Option<String>,
    /// The HubSpot account.
    pub portal_id: Id,
    /// The record (absent from association changes).
    #[serde(default)]
    pub object_id: Option<Id>,
    /// The record an association change starts from.
    #[serde(default)]
    pub from_object_id: Option<Id>,
    /// When it happened, UTC ms.
    #[serde(default)]
    pub occurred_at: Option<i64>,
    /// 0 for the first delivery, then 1, 2, ... for retries.
    #[serde(default)]
    pub attempt_number: Option<u32>,
    /// The changed property of a `propertyChange`.
    #[serde(default)]
    pub property_name: Option<String>,
}

impl WebhookEvent {
    /// The subscription type, from `subscriptionType` or else `eventType`.
    pub fn subscription(&self) -> &str {
        self.subscription_type
            .as_deref()
            .or(self.event_type.as_deref())
            .unwrap_or_default()
    }
}

/// What an event asks the connector to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Read the record and emit its state.
    Read(ObjectType, Id),
    /// Emit a deletion of the record, as of this moment.
    Delete(ObjectType, Id, u64),
    /// Nothing: a type or change the connector does not map.
    Ignore,
}

impl Action {
    /// The action for an event.
    pub fn of(event: &WebhookEvent) -> Self {
        let (object, change) = event.subscription().split_once('.').unwrap_or(("", ""));
        let kind = match object {
            "company" => ObjectType::Company,
            "contact" => ObjectType::Contact,
            "deal" => ObjectType::Deal,
            _ => return Self::Ignore,
        };
        match (change, &event.object_id, &event.from_object_id) {
            ("creation" | "propertyChange" | "restore", Some(id), _)
            | ("associationChange", _, Some(id)) => Self::Read(kind, id.clone()),
            ("deletion" | "privacyDeletion", Some(id), _) => Self::Delete(
                kind,
                id.clone(),
                event
                    .occurred_at
                    .and_then(|ms| u64::try_from(ms).ok())
                    .unwrap_or_default(),
            ),
            _ => Self::Ignore,
        }
    }
}

/// Decodes the characters HubSpot decodes in the URI before signing it
/// (its v3 validation guide lists them); everything else stays as sent.
pub fn signed_uri(url: &str) -> String {
    const DECODED: [(&str, char); 12] = [
        ("%3A", ':'),
        ("%2F", '/'),
        ("%3F", '?'),
        ("%40", '@'),
        ("%21", '!'),
        ("%24", '$'),
        ("%27", '\''),
        ("%28", '('),
        ("%29", ')'),
        ("%2A", '*'),
        ("%2C", ','),
        ("%3B", ';'),
    ];
    let mut out = String::with_capacity(url.len());
    let mut rest = url;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let escape = rest.get(at..at + 3).unwrap_or(&rest[at..]);
        match DECODED
            .iter()
            .find(|(code, _)| code.eq_ignore_ascii_case(escape))
        {
            Some((_, c)) => {
                out.push(*c);
                rest = &rest[at + 3..];
            }
            None => {
                out.push('%');
                rest = &rest[at + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The bytes HubSpot signs: method, uri, raw body, timestamp.
pub fn signed_message(method: &str, url: &str, body: &[u8], timestamp: &str) -> Vec<u8> {
    let mut message = Vec::with_capacity(method.len() + url.len() + body.len() + timestamp.len());
    message.extend_from_slice(method.as_bytes());
    message.extend_from_slice(signed_uri(url).as_bytes());
    message.extend_from_slice(body);
    message.extend_from_slice(timestamp.as_bytes());
    message
}

/// Parses a batch: a non-empty JSON array of events.
pub fn parse_batch(body: &[u8]) -> Result<Vec<WebhookEvent>, Error> {
    let events: Vec<WebhookEvent> = loyalty_sdk::json::parse(body)?;
    if events.is_empty() {
        return Err(Error::InvalidInput(
            "the webhook batch holds no events".to_owned(),
        ));
    }
    Ok(events)
}

/// The delivery id of a batch: the portal and a digest of its sorted event
/// ids. HubSpot retries a batch with the same events (and a higher
/// `attemptNumber`, which is left out), so a retry has the same id.
pub fn delivery_id(events: &[WebhookEvent]) -> String {
    let portal = events
        .first()
        .map(|e| e.portal_id.to_string())
        .unwrap_or_default();
    let ids: BTreeSet<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
    let joined = ids.into_iter().collect::<Vec<_>>().join(",");
    let digest = Sha256::digest(joined.as_bytes());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("{portal}:{hex}")
}

/// The distinct subscription types of a batch, sorted and comma-separated.
pub fn topic(events: &[WebhookEvent]) -> String {
    let types: BTreeSet<&str> = events.iter().map(WebhookEvent::subscription).collect();
    types.into_iter().collect::<Vec<_>>().join(",")
}

/// Checks the timestamp, the signature and the portal, and names the
/// delivery. Makes no outbound calls.
pub fn verify(request: &WebhookRequest) -> Result<Delivery, Error> {
    let signature = request
        .header(SIGNATURE_HEADER)
        .ok_or_else(|| Error::Unauthorized(format!("missing header `{SIGNATURE_HEADER}`")))?;
    let timestamp = request
        .header(TIMESTAMP_HEADER)
        .map(str::trim)
        .ok_or_else(|| Error::Unauthorized(format!("missing header `{TIMESTAMP_HEADER}`")))?;
    let sent_at: i64 = timestamp.parse().map_err(|_| {
        Error::Unauthorized(format!(
            "`{TIMESTAMP_HEADER}` is `{timestamp}`, not milliseconds"
        ))
    })?;
    let now = host::now();
    let age = now.saturating_sub(sent_at);
    if age > MAX_CLOCK_SKEW_MS {
        return Err(Error::Unauthorized(format!(
            "the request was signed {} s ago; HubSpot requests older than 5 minutes are refused",
            age / 1000
        )));
    }
    if -age > MAX_CLOCK_SKEW_MS {
        return Err(Error::Unauthorized(format!(
            "the request is signed {} s in the future; more than 5 minutes ahead is refused",
            -age / 1000
        )));
    }
    let message = signed_message(&request.method, &request.url, &request.body, timestamp);
    verify_base64_hmac_sha256(SECRET, &message, signature)?;

    let settings = Settings::load()?;
    let events = parse_batch(&request.body)?;
    if let Some(other) = events.iter().find(|e| e.portal_id != settings.portal_id) {
        return Err(Error::Unauthorized(format!(
            "event {} is from HubSpot portal {} but this connector serves portal {} (setting `portal_id`)",
            other.event_id, other.portal_id, settings.portal_id
        )));
    }
    Ok(Delivery {
        id: delivery_id(&events),
        topic: topic(&events),
    })
}

/// The events of a verified batch: each named company, contact and deal read
/// once and mapped (companies first, then contacts, then deals), then the
/// deletions.
pub fn handle(request: &WebhookRequest) -> Result<Vec<Event>, Error> {
    let settings = Settings::load()?;
    let mut reads: BTreeSet<(ObjectType, Id)> = BTreeSet::new();
    let mut deletions: BTreeMap<(ObjectType, Id), u64> = BTreeMap::new();
    for event in parse_batch(&request.body)? {
        match Action::of(&event) {
            Action::Read(kind, id) => {
                reads.insert((kind, id));
            }
            Action::Delete(kind, id, at) => {
                let version = deletions.entry((kind, id)).or_default();
                *version = (*version).max(at);
            }
            Action::Ignore => host::log(
                LogLevel::Debug,
                &format!(
                    "HubSpot event {} ({}) is not mapped",
                    event.event_id,
                    event.subscription()
                ),
            ),
        }
    }
    let mut events = Vec::new();
    for kind in [ObjectType::Company, ObjectType::Contact, ObjectType::Deal] {
        let mut objects = Vec::new();
        for (_, id) in reads.iter().filter(|(k, _)| *k == kind) {
            if let Some(object) = read(&settings, kind, id)? {
                objects.push(object);
            }
        }
        let related = objects
            .iter()
            .map(|o| (o.id.clone(), Related::from_object(kind, o)))
            .collect();
        events.extend(records::to_events(&settings, kind, &objects, &related)?);
    }
    for ((kind, id), version) in deletions {
        events.push(Event::Deleted(Deletion {
            kind: match kind {
                ObjectType::Company => EntityKind::Account,
                ObjectType::Contact => EntityKind::Contact,
                _ => EntityKind::Purchase,
            },
            id: id.to_string(),
            version,
        }));
    }
    Ok(events)
}

/// Reads a record with the properties and associations its mapping needs;
/// `None` (with a warning) when HubSpot no longer has it.
fn read(settings: &Settings, kind: ObjectType, id: &Id) -> Result<Option<CrmObject>, Error> {
    let mut path = format!(
        "/crm/v3/objects/{}/{id}?properties={}",
        kind.path(),
        records::properties(settings, kind).join(",")
    );
    let associated: Vec<&str> = records::associated_types(kind)
        .iter()
        .map(|t| t.path())
        .collect();
    if !associated.is_empty() {
        path.push_str("&associations=");
        path.push_str(&associated.join(","));
    }
    let call = Call::get(settings, path);
    let response = call.send()?;
    if response.status == 404 {
        host::warn(&format!(
            "HubSpot {} {id} is gone (404); its webhook event is skipped",
            kind.singular()
        ));
        return Ok(None);
    }
    call.parse(&response).map(Some)
}
