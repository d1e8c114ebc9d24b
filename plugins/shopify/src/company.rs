//! B2B companies, read through the Admin GraphQL API.
//!
//! A B2B order carries only the company's id (`"company": {"id": 123,
//! "location_id": 456}`); its name and external id exist only in GraphQL. A
//! read is cached in connector state (`company/{id}`) for
//! `company_cache_seconds`, so that a burst of orders from one company costs
//! one request. The host commits state together with the call's events, so a
//! failed call caches nothing.

use loyalty_sdk::decimal::decimal_from_json;
use loyalty_sdk::host;
use loyalty_sdk::http::{Request, check_status};
use loyalty_sdk::types::{Account, Error, Event, ExternalRef, RetryAfter};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::ids::Id;
use crate::settings;
use crate::timestamp::version_ms;

/// The credential the host injects as `X-Shopify-Access-Token`.
pub const CREDENTIAL: &str = "admin";

/// The one query the connector sends.
pub const QUERY: &str =
    "query Company($id: ID!) { company(id: $id) { id name externalId note updatedAt } }";

/// A company as GraphQL returns it; also the cached form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Company {
    /// `gid://shopify/Company/123` from GraphQL, `123` once cached.
    pub id: Id,
    /// Display name.
    pub name: String,
    /// The merchant's own id for the company (often an ERP number).
    #[serde(default)]
    pub external_id: Option<String>,
    /// Free-text note; kept in the cache, not mapped.
    #[serde(default)]
    pub note: Option<String>,
    /// Last change, UTC; the account's version.
    pub updated_at: String,
}

/// What `company/{id}` holds in state.
#[derive(Debug, Serialize, Deserialize)]
struct Cached {
    /// The host clock when the company was read, in milliseconds.
    fetched_at: i64,
    /// The company as read.
    company: Company,
}

/// The GraphQL response envelope.
#[derive(Debug, Deserialize)]
struct Response {
    #[serde(default)]
    data: Option<Data>,
    #[serde(default)]
    errors: Option<Vec<GraphqlError>>,
    #[serde(default)]
    extensions: Option<serde_json::Value>,
}

/// `data` of the response.
#[derive(Debug, Deserialize)]
struct Data {
    #[serde(default)]
    company: Option<Company>,
}

/// One entry of `errors`.
#[derive(Debug, Deserialize)]
struct GraphqlError {
    #[serde(default)]
    message: String,
    #[serde(default)]
    extensions: Option<ErrorExtensions>,
}

/// An error's `extensions`; `code` is `THROTTLED` when rate limited.
#[derive(Debug, Deserialize)]
struct ErrorExtensions {
    #[serde(default)]
    code: Option<String>,
}

/// The account event for a company, from the state cache when fresh, else
/// read through GraphQL and cached.
pub fn account(id: &Id) -> Result<Event, Error> {
    let company = company(id)?;
    let (system, connector) = settings::external_id_system();
    let external_refs = crate::customer::present(company.external_id.as_deref())
        .map(|external| ExternalRef {
            id: if connector {
                without_leading_zeros(&external)
            } else {
                external
            },
            system,
        })
        .into_iter()
        .collect();
    Ok(Event::Account(Account {
        id: id.to_string(),
        version: version_ms("company.updatedAt", &company.updated_at)?,
        name: company.name,
        domain: None,
        tax_id: None,
        industry: None,
        employees: None,
        annual_revenue: None,
        parent_id: None,
        country: None,
        external_refs,
        attributes: Vec::new(),
    }))
}

/// `0001000042` → `1000042`; anything but digits stays as it is.
fn without_leading_zeros(id: &str) -> String {
    if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) {
        let trimmed = id.trim_start_matches('0');
        return if trimmed.is_empty() { "0" } else { trimmed }.to_owned();
    }
    id.to_owned()
}

/// The company, from cache or GraphQL.
fn company(id: &Id) -> Result<Company, Error> {
    let ttl_ms = settings::company_cache_ms()?;
    let key = format!("company/{id}");
    let now = host::now();
    if ttl_ms > 0
        && let Some(company) = cached(&key, now, ttl_ms)
    {
        return Ok(company);
    }
    let mut company = fetch(id)?;
    company.id = id.clone();
    if ttl_ms > 0 {
        let entry = Cached {
            fetched_at: now,
            company: company.clone(),
        };
        let bytes = serde_json::to_vec(&entry)
            .map_err(|e| Error::Permanent(format!("cannot encode state `{key}`: {e}")))?;
        host::state_set(&key, Some(&bytes));
    }
    Ok(company)
}

/// A cached company still within its time to live. A clock that went
/// backwards makes the entry stale rather than fresh forever.
fn cached(key: &str, now: i64, ttl_ms: i64) -> Option<Company> {
    let bytes = host::state_get(key)?;
    match serde_json::from_slice::<Cached>(&bytes) {
        Ok(entry) => {
            let age = now.saturating_sub(entry.fetched_at);
            (0..ttl_ms).contains(&age).then_some(entry.company)
        }
        Err(e) => {
            host::warn(&format!("ignoring unreadable state `{key}`: {e}"));
            None
        }
    }
}

/// Reads the company through the Admin GraphQL API.
fn fetch(id: &Id) -> Result<Company, Error> {
    let gid = id.gid("Company");
    let body = serde_json::json!({ "query": QUERY, "variables": { "id": gid } });
    let response = Request::post(&settings::graphql_url()?)
        .credential(CREDENTIAL)
        .header("Accept", "application/json")
        .json(&body)?
        .send()?;
    check_status(&response)?;
    let parsed: Response = loyalty_sdk::json::parse(&response.body).map_err(|e| {
        Error::Permanent(format!(
            "Shopify GraphQL answer for {gid} is not understood: {}",
            e.message()
        ))
    })?;
    if let Some(errors) = parsed.errors.filter(|e| !e.is_empty()) {
        let messages = errors
            .iter()
            .map(|e| e.message.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        let throttled = errors.iter().any(|e| {
            e.extensions
                .as_ref()
                .and_then(|x| x.code.as_deref())
                .is_some_and(|c| c == "THROTTLED")
        });
        // Shopify answers a throttled query with HTTP 200; retrying later helps.
        if throttled {
            return Err(Error::RateLimited(RetryAfter {
                delay_ms: throttle_delay_ms(parsed.extensions.as_ref()),
                message: format!("Shopify GraphQL throttled reading {gid}: {messages}"),
            }));
        }
        return Err(Error::Permanent(format!(
            "Shopify GraphQL error reading {gid}: {messages}"
        )));
    }
    parsed.data.and_then(|d| d.company).ok_or_else(|| {
        Error::Permanent(format!(
            "Shopify GraphQL returned no company for {gid} (deleted, or the `admin` token lacks the read_companies scope)"
        ))
    })
}

/// How long until the query's cost is restored, from the response's
/// `extensions.cost`: (requested - available) / restoreRate seconds.
fn throttle_delay_ms(extensions: Option<&serde_json::Value>) -> Option<u64> {
    let cost = extensions?.get("cost")?;
    let status = cost.get("throttleStatus")?;
    let requested = decimal_from_json(cost.get("requestedQueryCost")?).ok()?;
    let available = decimal_from_json(status.get("currentlyAvailable")?).ok()?;
    let rate = decimal_from_json(status.get("restoreRate")?).ok()?;
    if rate <= Decimal::ZERO {
        return None;
    }
    let missing = (requested - available).max(Decimal::ZERO);
    let ms = (missing / rate * Decimal::ONE_THOUSAND).ceil();
    u64::try_from(ms).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_delay_follows_the_restore_rate() {
        let extensions = serde_json::json!({"cost": {
            "requestedQueryCost": 101,
            "actualQueryCost": null,
            "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": 1, "restoreRate": 100.0}
        }});
        assert_eq!(throttle_delay_ms(Some(&extensions)), Some(1000));
        assert_eq!(throttle_delay_ms(None), None);
        assert_eq!(throttle_delay_ms(Some(&serde_json::json!({}))), None);
    }
}
