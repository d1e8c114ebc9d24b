//! The CRM search endpoint (`POST /crm/v3/objects/{type}/search`) as the
//! sync uses it: records changed at or after a moment, oldest change first.
//!
//! ```json
//! {"filterGroups": [{"filters": [{"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": "1767225600000"}]}],
//!  "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
//!  "properties": ["name", "domain"], "limit": 100, "after": "100"}
//! ```
//!
//! HubSpot answers `{"total", "results": [...], "paging": {"next": {"after"}}}`
//! without associations, and pages through at most 10,000 results of one
//! search; the sync starts a new search window before reaching that.

use loyalty_sdk::types::Error;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::Call;
use crate::crm::{CrmObject, ObjectType};
use crate::settings::Settings;

/// HubSpot's largest `limit` for a search.
pub const LIMIT_MAX: u32 = 200;

/// One search request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Search {
    /// The object type searched.
    pub kind: ObjectType,
    /// Records whose modified time is at or after this (UTC ms).
    pub since_ms: i64,
    /// HubSpot's paging token within this search, `None` for its first page.
    pub after: Option<String>,
    /// Results per page, at most [`LIMIT_MAX`].
    pub limit: u32,
    /// The properties to return.
    pub properties: Vec<String>,
}

impl Search {
    /// The request body.
    pub fn body(&self) -> Value {
        let modified = self.kind.modified_property();
        let mut body = json!({
            "filterGroups": [{
                "filters": [{
                    "propertyName": modified,
                    "operator": "GTE",
                    "value": self.since_ms.to_string(),
                }],
            }],
            "sorts": [{ "propertyName": modified, "direction": "ASCENDING" }],
            "properties": self.properties,
            "limit": self.limit.clamp(1, LIMIT_MAX),
        });
        if let (Some(after), Some(map)) = (&self.after, body.as_object_mut()) {
            map.insert("after".to_owned(), Value::from(after.clone()));
        }
        body
    }

    /// The path searched.
    pub fn path(&self) -> String {
        format!("/crm/v3/objects/{}/search", self.kind.path())
    }

    /// Runs the search.
    pub fn run(&self, settings: &Settings) -> Result<SearchPage, Error> {
        Call::post(settings, self.path()).fetch(&self.body())
    }
}

/// One page of search results.
#[derive(Debug, Clone, Deserialize)]
pub struct SearchPage {
    /// How many records match in all.
    #[serde(default)]
    pub total: Option<u64>,
    /// This page's records, oldest change first.
    #[serde(default)]
    pub results: Vec<CrmObject>,
    /// The next page, if any.
    #[serde(default)]
    pub paging: Option<Paging>,
}

/// `{"next": {"after": "100"}}`.
#[derive(Debug, Clone, Deserialize)]
pub struct Paging {
    /// The next page's token.
    #[serde(default)]
    pub next: Option<NextPage>,
}

/// `{"after": "100"}`.
#[derive(Debug, Clone, Deserialize)]
pub struct NextPage {
    /// The token to send as `after`.
    pub after: String,
}

impl SearchPage {
    /// The token of the next page, if HubSpot has one.
    pub fn next_after(&self) -> Option<&str> {
        self.paging
            .as_ref()
            .and_then(|p| p.next.as_ref())
            .map(|n| n.after.as_str())
    }
}
