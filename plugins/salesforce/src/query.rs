//! The query resource: `GET /services/data/{v}/queryAll?q=<SOQL>` and its
//! `nextRecordsUrl` batches.
//!
//! `queryAll` rather than `query`, so that records in the recycle bin come
//! back with `IsDeleted = true` and become deletions.

use loyalty_sdk::types::Error;
use serde::Deserialize;
use serde_json::Value;

use crate::api;
use crate::settings;

/// One batch of a query's answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryResult {
    /// How many records the whole query matched (at most its `LIMIT`).
    #[serde(default)]
    pub total_size: u64,
    /// Whether this is the last batch.
    pub done: bool,
    /// The next batch, a path relative to the instance
    /// (`/services/data/v60.0/query/01gD0000002HU6KIAW-2000`).
    #[serde(default)]
    pub next_records_url: Option<String>,
    /// This batch's records.
    #[serde(default)]
    pub records: Vec<Value>,
}

/// Runs a SOQL statement through `queryAll`.
pub fn run(soql: &str) -> Result<QueryResult, Error> {
    let path = format!(
        "/services/data/{}/queryAll?q={}",
        settings::api_version()?,
        api::encode_query_value(soql)
    );
    api::get(&path)
}

/// Fetches the batch at a `nextRecordsUrl`. `Ok(None)` when Salesforce no
/// longer knows the locator (`INVALID_QUERY_LOCATOR`: locators expire after
/// some minutes), so that the caller can run its query again instead.
pub fn more(next_records_url: &str) -> Result<Option<QueryResult>, Error> {
    if !next_records_url.starts_with("/services/data/") {
        return Err(Error::InvalidInput(format!(
            "Salesforce gave a nextRecordsUrl outside /services/data/: `{next_records_url}`"
        )));
    }
    let url = format!("{}{next_records_url}", settings::instance_url()?);
    let response = loyalty_sdk::http::Request::get(&url)
        .credential(api::CREDENTIAL)
        .header("Accept", "application/json")
        .send()?;
    if response.status == 400 && api::has_code(&response, "INVALID_QUERY_LOCATOR") {
        return Ok(None);
    }
    api::check(&response, "the next batch of a query")?;
    loyalty_sdk::json::parse(&response.body)
        .map(Some)
        .map_err(|e| {
            Error::InvalidInput(format!(
                "Salesforce's next batch is not understood: {}",
                e.message()
            ))
        })
}
