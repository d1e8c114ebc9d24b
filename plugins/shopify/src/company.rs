//! B2B companies, read through the Admin GraphQL API.
//!
//! A B2B order carries only the company's id (`"company": {"id": 123,
//! "location_id": 456}`); its name and external id exist only in GraphQL.
//! The companies of all the orders one call maps are read together, up to
//! [`NODES_MAX`] in one `nodes` query: a poll page of 250 orders from as
//! many companies costs one request, not one per company, which would pass
//! the host's limit on requests per call. A read is cached in connector
//! state (`company/{id}`) for `company_cache_seconds`, so that a burst of
//! orders from one company costs one request. The host commits state
//! together with the call's events, so a failed call caches nothing.

use std::collections::{BTreeMap, BTreeSet};

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

/// The one query the connector sends. `nodes` answers `null` for an id that
/// names no company.
pub const QUERY: &str = "query Companies($ids: [ID!]!) { nodes(ids: $ids) { ... on Company { id name externalId note updatedAt } } }";

/// The most ids Shopify takes in one `nodes` query.
pub const NODES_MAX: usize = 250;

/// A company as GraphQL returns it; also the cached form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Company {
    /// The company id; GraphQL's `gid://shopify/Company/123` reads as `123`.
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

/// `data` of the response: one entry per id asked for, `null` for an id
/// that names no company.
#[derive(Debug, Deserialize)]
struct Data {
    #[serde(default)]
    nodes: Vec<Option<Company>>,
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

/// The companies of the orders one call maps, by id.
#[derive(Debug)]
pub struct Companies(BTreeMap<Id, Company>);

impl Companies {
    /// Reads the companies `ids` name (an id may repeat): those fresh in the
    /// state cache from there, the others through GraphQL, [`NODES_MAX`] to
    /// a request, each then cached.
    pub fn read<'a>(ids: impl IntoIterator<Item = &'a Id>) -> Result<Self, Error> {
        let ttl_ms = settings::company_cache_ms()?;
        let now = host::now();
        let wanted: BTreeSet<&Id> = ids.into_iter().collect();
        let mut companies = BTreeMap::new();
        let mut missing = Vec::new();
        for id in wanted {
            if ttl_ms > 0
                && let Some(company) = cached(id, now, ttl_ms)
            {
                companies.insert(id.clone(), company);
            } else {
                missing.push(id.clone());
            }
        }
        for chunk in missing.chunks(NODES_MAX) {
            for company in fetch(chunk)? {
                if ttl_ms > 0 {
                    cache(&company, now)?;
                }
                companies.insert(company.id.clone(), company);
            }
        }
        Ok(Self(companies))
    }

    /// The account event for company `id`, one of those read.
    pub fn account(&self, id: &Id) -> Result<Event, Error> {
        let company = self.0.get(id).ok_or_else(|| {
            Error::Permanent(format!(
                "company {id} was not read before its order was mapped"
            ))
        })?;
        account(company)
    }
}

/// The account event for a company.
fn account(company: &Company) -> Result<Event, Error> {
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
        id: company.id.to_string(),
        version: version_ms("company.updatedAt", &company.updated_at)?,
        name: company.name.clone(),
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

/// The state key a company is cached under.
fn key(id: &Id) -> String {
    format!("company/{id}")
}

/// A cached company still within its time to live. A clock that went
/// backwards makes the entry stale rather than fresh forever.
fn cached(id: &Id, now: i64, ttl_ms: i64) -> Option<Company> {
    let key = key(id);
    let bytes = host::state_get(&key)?;
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

/// Caches a company read at `now`.
fn cache(company: &Company, now: i64) -> Result<(), Error> {
    let key = key(&company.id);
    let entry = Cached {
        fetched_at: now,
        company: company.clone(),
    };
    let bytes = serde_json::to_vec(&entry)
        .map_err(|e| Error::Permanent(format!("cannot encode state `{key}`: {e}")))?;
    host::state_set(&key, Some(&bytes));
    Ok(())
}

/// Reads at most [`NODES_MAX`] companies through the Admin GraphQL API, in
/// one request. Every id must name a company.
fn fetch(ids: &[Id]) -> Result<Vec<Company>, Error> {
    let gids: Vec<String> = ids.iter().map(|id| id.gid("Company")).collect();
    let subject = subject(&gids);
    let body = serde_json::json!({ "query": QUERY, "variables": { "ids": gids } });
    let response = Request::post(&settings::graphql_url()?)
        .credential(CREDENTIAL)
        .header("Accept", "application/json")
        .json(&body)?
        .send()?;
    check_status(&response)?;
    let parsed: Response = loyalty_sdk::json::parse(&response.body).map_err(|e| {
        Error::Permanent(format!(
            "Shopify GraphQL answer for {subject} is not understood: {}",
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
                message: format!("Shopify GraphQL throttled reading {subject}: {messages}"),
            }));
        }
        return Err(Error::Permanent(format!(
            "Shopify GraphQL error reading {subject}: {messages}"
        )));
    }
    // Each company is matched to the id asked for by the id it carries, not
    // by its place in the list, so no answer can stand for another id.
    let mut read: BTreeMap<Id, Company> = parsed
        .data
        .map(|d| d.nodes)
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .map(|company| (company.id.clone(), company))
        .collect();
    ids.iter()
        .zip(&gids)
        .map(|(id, gid)| {
            read.remove(id).ok_or_else(|| {
                Error::Permanent(format!(
                    "Shopify GraphQL returned no company for {gid} (deleted, or the `admin` token lacks the read_companies scope)"
                ))
            })
        })
        .collect()
}

/// Names the companies of one request in errors: the global id of the only
/// one, or how many and the first.
fn subject(gids: &[String]) -> String {
    match gids {
        [only] => only.clone(),
        _ => format!(
            "{} companies ({} and others)",
            gids.len(),
            gids.first().map_or("", String::as_str)
        ),
    }
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
