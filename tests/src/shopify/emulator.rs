//! A Shopify Admin API on loopback, as much of it as the connector reads:
//! the GraphQL `company(id:)` query.
//!
//! It answers like Shopify: a wrong or missing `X-Shopify-Access-Token` gets
//! 401 with Shopify's error text, an unknown company is `"company": null`,
//! and only the fields the query selects come back. It counts the reads of
//! each company so that tests can see the connector's cache at work.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

/// Shopify's answer to a request without a valid access token.
const INVALID_TOKEN: &str =
    "[API] Invalid API key or access token (unrecognized login or wrong password)";

/// A B2B company as the GraphQL Admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Company {
    /// The numeric id (`gid://shopify/Company/<id>`).
    pub id: u64,
    /// Name.
    pub name: String,
    /// The merchant's own id for it (often the ERP's customer number).
    pub external_id: Option<String>,
    /// Free-text note.
    pub note: Option<String>,
    /// Created, RFC 3339 UTC.
    pub created_at: String,
    /// Last modified, RFC 3339 UTC.
    pub updated_at: String,
}

impl Company {
    fn gid(&self) -> String {
        format!("gid://shopify/Company/{}", self.id)
    }

    /// The company object with the fields a query selects.
    fn selected(&self, selection: &BTreeSet<String>) -> Value {
        let fields = [
            ("id", json!(self.gid())),
            ("name", json!(self.name)),
            ("externalId", json!(self.external_id)),
            ("note", json!(self.note)),
            ("createdAt", json!(self.created_at)),
            ("updatedAt", json!(self.updated_at)),
        ];
        Value::Object(
            fields
                .into_iter()
                .filter(|(name, _)| selection.contains(*name))
                .map(|(name, value)| (name.to_owned(), value))
                .collect(),
        )
    }
}

#[derive(Debug, Default)]
struct Shop {
    access_token: String,
    companies: Mutex<BTreeMap<u64, Company>>,
    /// GraphQL reads per company id asked for, known or not.
    company_reads: Mutex<BTreeMap<u64, usize>>,
    /// Requests refused for want of a valid access token.
    refused: Mutex<usize>,
}

/// A running emulator; stops when dropped.
#[derive(Debug)]
pub struct ShopifyEmulator {
    addr: SocketAddr,
    shop: Arc<Shop>,
    server: JoinHandle<()>,
}

impl ShopifyEmulator {
    /// Serves on a free loopback port, accepting `access_token`.
    pub async fn start(access_token: &str) -> std::io::Result<Self> {
        let shop = Arc::new(Shop {
            access_token: access_token.to_owned(),
            ..Shop::default()
        });
        let app = Router::new()
            .route("/admin/api/{version}/graphql.json", post(graphql))
            .with_state(shop.clone());
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, shop, server })
    }

    /// `http://127.0.0.1:<port>`: the connector's `admin_base_url` and the
    /// host to allow.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Adds or replaces a company.
    pub fn put_company(&self, company: Company) {
        lock(&self.shop.companies).insert(company.id, company);
    }

    /// How many times the company was read through GraphQL.
    pub fn company_reads(&self, id: u64) -> usize {
        lock(&self.shop.company_reads)
            .get(&id)
            .copied()
            .unwrap_or(0)
    }

    /// How many requests came without a valid access token.
    pub fn refused_requests(&self) -> usize {
        *lock(&self.shop.refused)
    }
}

impl Drop for ShopifyEmulator {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn graphql(
    State(shop): State<Arc<Shop>>,
    Path(_version): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let token = headers
        .get("x-shopify-access-token")
        .and_then(|v| v.to_str().ok());
    if token != Some(shop.access_token.as_str()) {
        *lock(&shop.refused) += 1;
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({ "errors": INVALID_TOKEN })),
        )
            .into_response();
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return graphql_error("Parse error: the request body is not JSON");
    };
    let query = request["query"].as_str().unwrap_or_default();
    let selection = words(query);
    if !selection.contains("company") {
        return graphql_error("This emulator only answers the `company(id:)` query");
    }
    let gid = request["variables"]["id"].as_str().unwrap_or_default();
    let Some(id) = gid
        .strip_prefix("gid://shopify/Company/")
        .and_then(|n| n.parse::<u64>().ok())
    else {
        return graphql_error(&format!("Invalid global id '{gid}'"));
    };
    *lock(&shop.company_reads).entry(id).or_default() += 1;
    let company = lock(&shop.companies)
        .get(&id)
        .map(|c| c.selected(&selection));
    axum::Json(json!({
        "data": { "company": company },
        "extensions": {
            "cost": {
                "requestedQueryCost": 1,
                "actualQueryCost": 1,
                "throttleStatus": {
                    "maximumAvailable": 2000.0,
                    "currentlyAvailable": 1999,
                    "restoreRate": 100.0,
                },
            },
        },
    }))
    .into_response()
}

/// GraphQL reports errors with 200 and an `errors` list.
fn graphql_error(message: &str) -> Response {
    axum::Json(json!({ "errors": [{ "message": message, "locations": [] }] })).into_response()
}

/// The identifiers of a query, enough to tell which fields it selects.
fn words(query: &str) -> BTreeSet<String> {
    query
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}
