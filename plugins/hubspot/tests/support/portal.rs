//! A scripted HubSpot portal for the native tests: request routing by
//! method and path, answers in HubSpot's wire format, and the settings of
//! the portal the tests run against.

#![allow(
    dead_code,
    reason = "each test file uses the part of the portal it needs"
)]

use loyalty_sdk::testing::TestHost;
use loyalty_sdk::types::{Header, HttpError, IncomingResponse, OutgoingRequest};

/// The portal (HubSpot account) id of every test.
pub const PORTAL_ID: &str = "143553137";
/// The app's client secret (HubSpot's signature test vector uses this one).
pub const CLIENT_SECRET: &str = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy";
/// Where the API is: the default base URL.
pub const API: &str = "https://api.hubapi.com";

/// A host set up for the test portal, the clock at 2026-01-01T00:00:00Z.
pub fn host() -> TestHost {
    TestHost::new()
        .setting("portal_id", PORTAL_ID)
        .setting("currency", "EUR")
        .secret("webhook", CLIENT_SECRET.as_bytes())
}

/// The path of a request URL, without the API base and the query.
pub fn path(request: &OutgoingRequest) -> &str {
    let rest = request.url.strip_prefix(API).unwrap_or(&request.url);
    rest.split('?').next().unwrap_or(rest)
}

/// The query of a request URL.
pub fn query(request: &OutgoingRequest) -> &str {
    request.url.split_once('?').map_or("", |(_, q)| q)
}

/// The request's JSON body.
pub fn body(request: &OutgoingRequest) -> serde_json::Value {
    serde_json::from_slice(request.body.as_deref().unwrap_or_default()).unwrap()
}

/// A JSON answer.
pub fn json(status: u16, body: &serde_json::Value) -> Result<IncomingResponse, HttpError> {
    Ok(IncomingResponse {
        status,
        headers: vec![Header {
            name: "Content-Type".to_owned(),
            value: "application/json;charset=utf-8".to_owned(),
        }],
        body: body.to_string().into_bytes(),
    })
}

/// HubSpot's 404 for a record it does not have.
pub fn not_found() -> Result<IncomingResponse, HttpError> {
    json(
        404,
        &serde_json::json!({"status": "error", "message": "resource not found", "correlationId": "3c1f7e0a-0000-4000-8000-000000000000", "category": "OBJECT_NOT_FOUND"}),
    )
}
