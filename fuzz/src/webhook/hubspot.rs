//! HubSpot deliveries: a JSON array of CRM events, signed v3
//! (`base64(HMAC-SHA256(secret, method + uri + body + timestamp))`) with a
//! millisecond timestamp that must be within five minutes of the host clock
//! (see `plugins/hubspot/src/webhook.rs`).

use std::sync::OnceLock;

use arbitrary::{Arbitrary, Result, Unstructured};
use loyaltyd::runtime::wit::latest::loyalty::connector::types::WebhookRequest;

use crate::json::{Body, Vocabulary};
use crate::webhook::vendor::{Answer, Api};
use crate::webhook::{BASE_URL, Harness, NOW_MS, Setup, header, sign};
use loyaltyd::runtime::Injection;

/// The app's client secret the connector is granted.
pub const SECRET: &[u8] = b"hubspot-fuzz-client-secret";
/// The portal the connector serves.
pub const PORTAL: &str = "143553137";

/// Batches HubSpot sends: a contact created, records deleted, changed and
/// associated, and an event type the connector does not map.
const TEMPLATES: &[&str] = &[
    r#"[{"eventId": 2409503945, "subscriptionId": 2426762, "portalId": 143553137, "appId": 2633736,
        "occurredAt": 1767225590000, "subscriptionType": "contact.propertyChange", "attemptNumber": 0,
        "objectId": 1801, "propertyName": "email", "propertyValue": "jana.brandt@brandt-maschinenbau.example",
        "changeSource": "CRM_UI", "sourceId": "userId:51430432"},
       {"eventId": 4023112300, "subscriptionId": 2426754, "portalId": 143553137, "appId": 2633736,
        "occurredAt": 1767225590000, "subscriptionType": "contact.creation", "attemptNumber": 0,
        "objectId": 1801, "changeFlag": "CREATED", "changeSource": "CRM_UI", "sourceId": "userId:51430432"}]"#,
    r#"[{"eventId": 11, "subscriptionType": "deal.deletion", "portalId": 143553137, "objectId": 9001,
        "occurredAt": 1767225500000, "attemptNumber": 0},
       {"eventId": "12", "eventType": "company.privacyDeletion", "portalId": "143553137", "objectId": "512",
        "occurredAt": 1767225500000, "attemptNumber": 1},
       {"eventId": 13, "subscriptionType": "ticket.creation", "portalId": 143553137, "objectId": 4,
        "occurredAt": 1767225500000, "attemptNumber": 0}]"#,
    r#"[{"eventId": 21, "subscriptionType": "deal.associationChange", "portalId": 143553137,
        "fromObjectId": 7001, "toObjectId": 512, "associationType": "DEAL_TO_COMPANY",
        "associationRemoved": false, "occurredAt": 1767225500000, "attemptNumber": 0},
       {"eventId": 22, "subscriptionType": "company.restore", "portalId": 143553137, "objectId": 512,
        "occurredAt": -1, "attemptNumber": 4294967295}]"#,
];

/// Strings HubSpot payloads carry beyond those of the samples.
const EXTRA: &[&str] = &[
    "", "company.creation", "company.deletion", "company.propertyChange", "company.associationChange",
    "contact.deletion", "contact.privacyDeletion", "contact.restore", "contact.associationChange",
    "deal.creation", "deal.propertyChange", "deal.restore", "deal.privacyDeletion", ".", "deal.",
    ".creation", "143553137", "999", "-1", "1e3", "18446744073709551616", "0x10",
];

fn vocabulary() -> &'static Vocabulary {
    static WORDS: OnceLock<Vocabulary> = OnceLock::new();
    WORDS.get_or_init(|| Vocabulary::from_templates(TEMPLATES, EXTRA))
}

/// How the delivery is signed.
#[derive(Debug, Arbitrary)]
enum Signature {
    /// With the granted secret over what HubSpot signs.
    Valid,
    /// Not at all.
    Missing,
    /// With another value.
    Other(String),
}

/// The `X-HubSpot-Request-Timestamp` header.
#[derive(Debug, Arbitrary)]
enum Timestamp {
    /// The host clock plus this many 10 ms steps (about ±5.5 minutes).
    Near(i16),
    /// None.
    Missing,
    /// Any value (also signed as sent).
    Other(String),
}

/// One fuzzed HubSpot delivery.
#[derive(Debug)]
pub struct Input {
    signature: Signature,
    timestamp: Timestamp,
    method: String,
    path: String,
    extra_headers: Vec<(String, String)>,
    handle_unverified: bool,
    body: Body,
    api: Answer,
}

impl<'a> Arbitrary<'a> for Input {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let signature = Signature::arbitrary(u)?;
        let timestamp = Timestamp::arbitrary(u)?;
        let method = if crate::rarely(u, 16)? {
            String::arbitrary(u)?
        } else {
            "POST".to_owned()
        };
        let path = match u.int_in_range(0..=7)? {
            6 => String::arbitrary(u)?,
            7 => "/webhooks/hubspot?portal=143553137&x=%3A%2f%zz%".to_owned(),
            _ => "/webhooks/hubspot".to_owned(),
        };
        let mut extra_headers = Vec::new();
        while extra_headers.len() < 4 && crate::rarely(u, 8)? {
            extra_headers.push(<(String, String)>::arbitrary(u)?);
        }
        let handle_unverified = crate::rarely(u, 8)?;
        let body = Body::generate(u, vocabulary())?;
        let api = api().answer(u)?;
        Ok(Self {
            signature,
            timestamp,
            method,
            path,
            extra_headers,
            handle_unverified,
            body,
            api,
        })
    }
}

/// The URI as HubSpot signs it: these escapes decoded, all else as sent.
fn signed_uri(url: &str) -> String {
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
    let mut out = url.to_owned();
    for (code, c) in DECODED {
        out = out
            .replace(code, &c.to_string())
            .replace(&code.to_ascii_lowercase(), &c.to_string());
    }
    out
}

impl Input {
    /// The request the daemon would pass the connector.
    pub fn request(&self) -> WebhookRequest {
        let body = self.body.bytes().to_vec();
        let url = format!("{BASE_URL}{}", self.path);
        let mut headers = vec![header("content-type", "application/json")];
        let timestamp = match &self.timestamp {
            Timestamp::Near(steps) => Some((NOW_MS + i64::from(*steps) * 10).to_string()),
            Timestamp::Missing => None,
            Timestamp::Other(value) => Some(value.clone()),
        };
        if let Some(timestamp) = &timestamp {
            headers.push(header("x-hubspot-request-timestamp", timestamp));
        }
        match &self.signature {
            Signature::Valid => {
                let mut message = self.method.clone().into_bytes();
                message.extend_from_slice(signed_uri(&url).as_bytes());
                message.extend_from_slice(&body);
                message.extend_from_slice(timestamp.as_deref().unwrap_or_default().trim().as_bytes());
                headers.push(header("x-hubspot-signature-v3", &sign(SECRET, &message)));
            }
            Signature::Missing => {}
            Signature::Other(value) => headers.push(header("x-hubspot-signature-v3", value)),
        }
        headers.push(header("x-hubspot-signature-version", "v3"));
        for (name, value) in &self.extra_headers {
            headers.push(header(name, value));
        }
        WebhookRequest {
            method: self.method.clone(),
            url,
            headers,
            body,
        }
    }

    /// Delivers it.
    pub fn run(&self) {
        harness().deliver(&self.request(), self.handle_unverified, self.api.clone());
    }
}

/// The HubSpot connector, loaded once per process.
pub fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        Harness::load(
            "hubspot",
            SECRET,
            Setup {
                settings: &[
                    ("portal_id", PORTAL),
                    ("currency", "EUR"),
                    ("tax_id_property", "vat_number"),
                    ("sap_number_property", "sap_bp_number"),
                    ("referral_code_property", "referral_code"),
                ],
                base_url_setting: "api_base_url",
                credential: ("api", Injection::Bearer),
            },
        )
    })
}

/// The CRM API: records, their associations and line items.
fn api() -> &'static Api {
    static API: OnceLock<Api> = OnceLock::new();
    API.get_or_init(|| Api {
        keys: &["/associations/", "/line_items/", "/contacts/", "/companies/", "/deals/"],
        words: Vocabulary::from_templates(
            &[
                r#"{"status": "COMPLETE", "results": [{"from": {"id": "9001"}, "to": [{"toObjectId": 512,
                    "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 5, "label": "Primary"},
                    {"category": "HUBSPOT_DEFINED", "typeId": 341, "label": null}]}]}]}"#,
                r#"{"status": "COMPLETE", "results": [{"id": "3001", "properties": {"name": "Cordless drill",
                    "quantity": "4", "price": "250.00", "amount": "900.00", "hs_sku": "DR-18V",
                    "hs_product_type": "tools", "hs_total_discount": "100.00"}}]}"#,
                r#"{"id": "1801", "properties": {"email": "jana.brandt@brandt-maschinenbau.example",
                    "firstname": "Jana", "lastname": "Brandt", "jobtitle": null,
                    "lastmodifieddate": "2025-12-31T23:59:50.000Z", "createdate": "2025-12-31T23:59:50.000Z",
                    "hs_object_id": "1801"}, "createdAt": "2025-12-31T23:59:50.000Z",
                    "updatedAt": "2025-12-31T23:59:50.000Z", "archived": false,
                    "associations": {"companies": {"results": [{"id": "512", "type": "contact_to_company"},
                    {"id": "512", "type": "contact_to_company_unlabeled"}]}}}"#,
                r#"{"id": "512", "properties": {"name": "Brandt Maschinenbau GmbH",
                    "domain": "https://www.Brandt-Maschinenbau.example/", "industry": "MACHINERY",
                    "numberofemployees": "250", "annualrevenue": "48000000.00", "country": "de",
                    "hs_parent_company_id": "77", "vat_number": "DE811907980", "sap_bp_number": "0000100001",
                    "createdate": "2025-06-01T08:00:00Z", "hs_lastmodifieddate": "2026-02-01T10:00:00.500Z"}}"#,
                r#"{"id": "9001", "properties": {"dealname": "Press line retrofit", "amount": "12500.50",
                    "deal_currency_code": null, "closedate": "2026-02-27T16:00:00Z",
                    "createdate": "2026-01-10T09:00:00Z", "dealstage": "closedwon", "pipeline": "default",
                    "hs_is_closed_won": "true", "hs_is_closed_lost": "false", "referral_code": " RW-7K2M9Q4X",
                    "hs_lastmodifieddate": "2026-02-27T16:05:00.120Z", "hs_object_id": "9001"},
                    "associations": {"companies": {"results": [{"id": "512", "type": "deal_to_company"}]},
                    "line_items": {"results": [{"id": "3001", "type": "deal_to_line_item"}]}}}"#,
            ],
            &["true", "false", "closedlost", "appointmentscheduled", "EUR", "USD", "CHF"],
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Needs the built connector, as the fuzz target does.
    #[test]
    fn an_input_of_zeros_is_a_signed_batch_within_the_clock_window() {
        let input = Input::arbitrary(&mut Unstructured::new(&[0; 64])).unwrap();
        let request = input.request();
        let delivered = harness().deliver(&request, false, input.api.clone());
        assert!(delivered.verified, "{:?}", request.headers);
        let events = delivered.events.expect(delivered.error.as_deref().unwrap_or_default());
        assert!(!events.is_empty(), "{events:?}");
    }

    #[test]
    fn the_signed_uri_decodes_only_what_hubspot_decodes() {
        assert_eq!(signed_uri("https://a.example/x?y=%3A%2f%zz%20"), "https://a.example/x?y=:/%zz%20");
    }
}
