//! A Shopify Admin API on loopback, as much of it as the connector uses:
//! the GraphQL `nodes(ids:)` query for companies, the REST customer and
//! order lists with `Link` header paging ([`listing`]), customer tags,
//! price rules and discount codes ([`discounts`]).
//!
//! It answers like Shopify: a wrong or missing `X-Shopify-Access-Token` gets
//! 401 with Shopify's error text, REST answers carry the leaky bucket's
//! level in `X-Shopify-Shop-Api-Call-Limit` (40 calls, draining 2 a second,
//! 429 with `Retry-After` when full), and refusals use Shopify's `errors`
//! shapes. For tests it records every request, can fail the next matching
//! request once (429, 500 or 404), and can hold one until the test opens a
//! [`Gate`].

mod discounts;
mod listing;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::rest;

/// Shopify's answer to a request without a valid access token.
const INVALID_TOKEN: &str =
    "[API] Invalid API key or access token (unrecognized login or wrong password)";
/// The bucket's size, in calls.
const BUCKET_SIZE: u64 = 40;
/// How fast the bucket drains, in calls per second.
const BUCKET_DRAIN_PER_SECOND: u64 = 2;
/// The most ids Shopify takes in one `nodes` query.
const NODES_MAX: usize = 250;

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

/// A request as the emulator received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// Method, upper case.
    pub method: String,
    /// Path and query, as sent (`/admin/api/2024-04/orders.json?limit=2`).
    pub path: String,
    /// Headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
    /// When it arrived.
    pub at: Instant,
}

impl RecordedRequest {
    /// The path without the query.
    pub fn path_only(&self) -> &str {
        self.path.split('?').next().unwrap_or(&self.path)
    }

    /// A query parameter, decoded.
    pub fn query(&self, name: &str) -> Option<String> {
        let uri: Uri = self.path.parse().ok()?;
        let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(&uri).ok()?;
        pairs.into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (`Null` if it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// Which requests an injected failure or a hold applies to.
#[derive(Debug, Clone)]
pub struct RequestMatch {
    method: Option<Method>,
    path_suffix: String,
    query_contains: Option<String>,
}

impl RequestMatch {
    /// Requests whose path (without the query) ends with `suffix`
    /// (`orders.json`, `discount_codes.json`).
    pub fn path(suffix: &str) -> Self {
        Self {
            method: None,
            path_suffix: suffix.to_owned(),
            query_contains: None,
        }
    }

    /// Only requests with this method.
    pub fn method(mut self, method: Method) -> Self {
        self.method = Some(method);
        self
    }

    /// Only requests whose raw query contains `text` (`page_info=`).
    pub fn query_contains(mut self, text: &str) -> Self {
        self.query_contains = Some(text.to_owned());
        self
    }

    fn matches(&self, request: &RecordedRequest) -> bool {
        let query = request.path.split_once('?').map_or("", |(_, q)| q);
        self.method
            .as_ref()
            .is_none_or(|m| m.as_str() == request.method)
            && request.path_only().ends_with(&self.path_suffix)
            && self
                .query_contains
                .as_deref()
                .is_none_or(|text| query.contains(text))
    }
}

/// A one-shot failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// 429 with `Retry-After: <seconds>` as Shopify writes it (`"2.0"`).
    RateLimited {
        /// The header's value.
        retry_after: String,
    },
    /// 500.
    ServerError,
    /// 404 with Shopify's `{"errors": "Not Found"}`: the record is not
    /// there for this one request (deleted and restored, or not replicated
    /// yet).
    NotFound,
}

/// Holds one request until the test opens it.
#[derive(Debug, Clone)]
pub struct Gate {
    arrived: Arc<watch::Sender<bool>>,
    open: Arc<watch::Sender<bool>>,
}

impl Gate {
    fn new() -> Self {
        Self {
            arrived: Arc::new(watch::channel(false).0),
            open: Arc::new(watch::channel(false).0),
        }
    }

    /// Waits until the held request has arrived (at most `timeout`);
    /// whether it did.
    pub async fn arrived(&self, timeout: Duration) -> bool {
        let mut arrived = self.arrived.subscribe();
        tokio::time::timeout(timeout, arrived.wait_for(|a| *a))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Lets the held request (and any later one) through.
    pub fn open(&self) {
        self.open.send_replace(true);
    }

    async fn hold(&self) {
        self.arrived.send_replace(true);
        let mut open = self.open.subscribe();
        let _ = open.wait_for(|o| *o).await;
    }
}

/// The bucket behind `X-Shopify-Shop-Api-Call-Limit`, in thousandths of a
/// call so that draining stays exact.
#[derive(Debug)]
struct Bucket {
    level_milli: u64,
    at: Instant,
    /// Every call is let through (see [`ShopifyEmulator::lift_call_limit`]).
    lifted: bool,
}

impl Bucket {
    /// Drains, then takes one call; `None` when the bucket is full.
    fn take(&mut self) -> Option<u64> {
        if self.lifted {
            return Some(1);
        }
        let now = Instant::now();
        let elapsed_ms = u64::try_from(now.duration_since(self.at).as_millis()).unwrap_or(u64::MAX);
        self.level_milli = self
            .level_milli
            .saturating_sub(elapsed_ms.saturating_mul(BUCKET_DRAIN_PER_SECOND));
        self.at = now;
        if self.level_milli + 1000 > BUCKET_SIZE * 1000 {
            return None;
        }
        self.level_milli += 1000;
        Some(self.level_milli.div_ceil(1000))
    }
}

/// Everything the shop holds and what tests inspect.
#[derive(Debug)]
struct Data {
    companies: BTreeMap<u64, Company>,
    /// GraphQL reads per company id asked for, known or not.
    company_reads: BTreeMap<u64, usize>,
    /// Requests refused for want of a valid access token.
    refused: usize,
    /// Customer and order bodies, by id.
    customers: BTreeMap<u64, Value>,
    orders: BTreeMap<u64, Value>,
    /// Live `page_info` tokens.
    pages: HashMap<String, listing::Page>,
    /// Sorted lists by filter, until a customer or an order changes.
    listings: HashMap<(listing::Resource, listing::Filter), listing::Listed>,
    /// Bodies as sent, by record.
    serialized: HashMap<(listing::Resource, u64), Arc<str>>,
    requests: Vec<RecordedRequest>,
    failures: Vec<(RequestMatch, Failure)>,
    holds: Vec<(RequestMatch, Gate)>,
    /// Price rules by id, and the ids of deleted ones.
    price_rules: BTreeMap<u64, Value>,
    deleted_price_rules: Vec<u64>,
    discount_codes: BTreeMap<u64, Value>,
    bucket: Bucket,
    next_id: u64,
}

impl Data {
    /// A fresh id above 2^53, as real Shopify ids are.
    fn new_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Adds or replaces a customer or an order, serialized at once as the
    /// lists will send it; the sorted lists are computed again.
    fn put_record(&mut self, resource: listing::Resource, id: u64, body: Value) {
        self.listings.clear();
        self.serialized
            .insert((resource, id), body.to_string().into());
        match resource {
            listing::Resource::Customers => &mut self.customers,
            listing::Resource::Orders => &mut self.orders,
        }
        .insert(id, body);
    }

    /// A customer or an order, to change: it is serialized again and the
    /// sorted lists are computed again.
    fn record_mut(&mut self, resource: listing::Resource, id: u64) -> Option<&mut Value> {
        self.listings.clear();
        self.serialized.remove(&(resource, id));
        match resource {
            listing::Resource::Customers => &mut self.customers,
            listing::Resource::Orders => &mut self.orders,
        }
        .get_mut(&id)
    }
}

#[derive(Debug)]
struct Shop {
    access_token: String,
    base_url: String,
    data: Mutex<Data>,
}

impl Shop {
    fn data(&self) -> MutexGuard<'_, Data> {
        self.data.lock().unwrap_or_else(PoisonError::into_inner)
    }
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
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let shop = Arc::new(Shop {
            access_token: access_token.to_owned(),
            base_url: format!("http://{addr}"),
            data: Mutex::new(Data {
                companies: BTreeMap::new(),
                company_reads: BTreeMap::new(),
                refused: 0,
                customers: BTreeMap::new(),
                orders: BTreeMap::new(),
                pages: HashMap::new(),
                listings: HashMap::new(),
                serialized: HashMap::new(),
                requests: Vec::new(),
                failures: Vec::new(),
                holds: Vec::new(),
                price_rules: BTreeMap::new(),
                deleted_price_rules: Vec::new(),
                discount_codes: BTreeMap::new(),
                bucket: Bucket {
                    level_milli: 0,
                    at: Instant::now(),
                    lifted: false,
                },
                next_id: 9_007_199_254_800_000,
            }),
        });
        let app = Router::new().fallback(serve).with_state(shop.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, shop, server })
    }

    /// Lets every REST call through, as if the shop's call limit were
    /// unbounded: a benchmark measures the daemon, not the shop's throttle.
    pub fn lift_call_limit(&self) {
        self.shop.data().bucket.lifted = true;
    }

    /// `http://127.0.0.1:<port>`: the connector's `admin_base_url` and the
    /// host to allow.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Adds or replaces a company.
    pub fn put_company(&self, company: Company) {
        self.shop.data().companies.insert(company.id, company);
    }

    /// How many times the company was read through GraphQL.
    pub fn company_reads(&self, id: u64) -> usize {
        self.shop
            .data()
            .company_reads
            .get(&id)
            .copied()
            .unwrap_or(0)
    }

    /// How many requests came without a valid access token.
    pub fn refused_requests(&self) -> usize {
        self.shop.data().refused
    }

    /// Adds or replaces a customer (its `customers/update` body).
    pub fn put_customer(&self, customer: &rest::Customer) {
        self.put_customer_json(customer.body());
    }

    /// Adds or replaces a customer given as its JSON body, which must carry
    /// a numeric `id`.
    pub fn put_customer_json(&self, body: Value) {
        if let Some(id) = body["id"].as_u64() {
            self.shop
                .data()
                .put_record(listing::Resource::Customers, id, body);
        }
    }

    /// Adds or replaces an order (its `orders/updated` body).
    pub fn put_order(&self, order: &rest::Order) {
        self.put_order_json(order.id, order.body());
    }

    /// Adds or replaces the order `id` with any JSON body, well-formed or
    /// not.
    pub fn put_order_json(&self, id: u64, body: Value) {
        self.shop
            .data()
            .put_record(listing::Resource::Orders, id, body);
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shop.data().requests.clone()
    }

    /// The requests whose path (without the query) ends with `suffix`.
    pub fn requests_to(&self, suffix: &str) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.path_only().ends_with(suffix))
            .collect()
    }

    /// Makes the next request that matches fail once.
    pub fn fail_next(&self, matching: RequestMatch, failure: Failure) {
        self.shop.data().failures.push((matching, failure));
    }

    /// Holds the next request that matches until the returned gate opens.
    pub fn hold_next(&self, matching: RequestMatch) -> Gate {
        let gate = Gate::new();
        self.shop.data().holds.push((matching, gate.clone()));
        gate
    }

    /// The price rules that exist, oldest first, as Shopify shows them.
    pub fn price_rules(&self) -> Vec<Value> {
        self.shop.data().price_rules.values().cloned().collect()
    }

    /// The ids of the price rules deleted.
    pub fn deleted_price_rules(&self) -> Vec<u64> {
        self.shop.data().deleted_price_rules.clone()
    }

    /// The discount codes that exist, oldest first, as Shopify shows them.
    pub fn discount_codes(&self) -> Vec<Value> {
        self.shop.data().discount_codes.values().cloned().collect()
    }

    /// A customer's tags.
    pub fn customer_tags(&self, id: u64) -> Vec<String> {
        self.shop
            .data()
            .customers
            .get(&id)
            .and_then(|c| c["tags"].as_str())
            .map(discounts::split_tags)
            .unwrap_or_default()
    }
}

impl Drop for ShopifyEmulator {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A JSON answer.
fn answer(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// Shopify's 404.
fn not_found() -> Response {
    answer(StatusCode::NOT_FOUND, json!({ "errors": "Not Found" }))
}

/// Every request: record, hold, authenticate, inject, meter, route.
async fn serve(
    State(shop): State<Arc<Shop>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let request = RecordedRequest {
        method: method.as_str().to_owned(),
        path: uri
            .path_and_query()
            .map_or_else(|| uri.path().to_owned(), ToString::to_string),
        headers: headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.to_vec(),
        at: Instant::now(),
    };
    let hold = {
        let mut data = shop.data();
        data.requests.push(request.clone());
        let index = data.holds.iter().position(|(m, _)| m.matches(&request));
        index.map(|i| data.holds.remove(i).1)
    };
    if let Some(gate) = hold {
        gate.hold().await;
    }

    if request.header("x-shopify-access-token") != Some(shop.access_token.as_str()) {
        shop.data().refused += 1;
        return answer(StatusCode::UNAUTHORIZED, json!({ "errors": INVALID_TOKEN }));
    }
    let failure = {
        let mut data = shop.data();
        let index = data.failures.iter().position(|(m, _)| m.matches(&request));
        index.map(|i| data.failures.remove(i).1)
    };
    match failure {
        Some(Failure::RateLimited { retry_after }) => return rate_limited(&retry_after),
        Some(Failure::ServerError) => {
            return answer(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({ "errors": "Internal Server Error" }),
            );
        }
        Some(Failure::NotFound) => return not_found(),
        None => {}
    }

    let Some((version, resource)) = uri
        .path()
        .strip_prefix("/admin/api/")
        .and_then(|rest| rest.split_once('/'))
    else {
        return not_found();
    };
    if resource == "graphql.json" {
        return if method == Method::POST {
            graphql(&shop, &request.body)
        } else {
            not_found()
        };
    }
    let Some(used) = shop.data().bucket.take() else {
        return rate_limited("1.0");
    };
    let api = format!("{}/admin/api/{version}", shop.base_url);
    let mut response = rest(&shop, &api, &method, resource, &uri, &request.body);
    if let Ok(value) = format!("{used}/{BUCKET_SIZE}").parse() {
        response
            .headers_mut()
            .insert("x-shopify-shop-api-call-limit", value);
    }
    response
}

/// Shopify's 429.
fn rate_limited(retry_after: &str) -> Response {
    let mut response = answer(
        StatusCode::TOO_MANY_REQUESTS,
        json!({ "errors": "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service." }),
    );
    if let Ok(value) = retry_after.parse() {
        response.headers_mut().insert("retry-after", value);
    }
    response
}

/// Routes a REST request below `/admin/api/{version}/`.
fn rest(
    shop: &Shop,
    api: &str,
    method: &Method,
    resource: &str,
    uri: &Uri,
    body: &[u8],
) -> Response {
    let query = Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map(|Query(pairs)| pairs)
        .unwrap_or_default();
    let segments: Vec<&str> = resource.trim_end_matches(".json").split('/').collect();
    let mut data = shop.data();
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["customers"]) => {
            listing::list(&mut data, api, listing::Resource::Customers, &query)
        }
        ("GET", ["orders"]) => listing::list(&mut data, api, listing::Resource::Orders, &query),
        ("GET", ["customers", id]) => discounts::customer(&data, id),
        ("PUT", ["customers", id]) => discounts::update_customer(&mut data, id, body),
        ("POST", ["price_rules"]) => discounts::create_price_rule(&mut data, body),
        ("DELETE", ["price_rules", id]) => discounts::delete_price_rule(&mut data, id),
        ("POST", ["price_rules", id, "discount_codes"]) => {
            discounts::create_discount_code(&mut data, id, body)
        }
        ("GET", ["discount_codes", "lookup"]) => discounts::lookup(&data, api, &query),
        _ => not_found(),
    }
}

/// The GraphQL endpoint: the `nodes(ids:)` query with a `... on Company`
/// fragment only. As on Shopify, `nodes` answers in the order asked, `null`
/// for an id that names no company, and refuses more than [`NODES_MAX`] ids.
fn graphql(shop: &Shop, body: &[u8]) -> Response {
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return graphql_error("Parse error: the request body is not JSON");
    };
    let query = request["query"].as_str().unwrap_or_default();
    let selection = words(query);
    if !selection.contains("nodes") || !selection.contains("Company") {
        return graphql_error(
            "This emulator only answers the `nodes(ids:)` query with `... on Company`",
        );
    }
    let Some(gids) = request["variables"]["ids"].as_array() else {
        return graphql_error("Variable $ids of type [ID!]! was provided invalid value");
    };
    if gids.len() > NODES_MAX {
        return axum::Json(json!({
            "errors": [{
                "message": format!(
                    "The input array size of {} is greater than the maximum allowed of {NODES_MAX}.",
                    gids.len()
                ),
                "locations": [],
                "path": ["nodes"],
                "extensions": { "code": "MAX_INPUT_SIZE_EXCEEDED" },
            }],
        }))
        .into_response();
    }
    let mut ids = Vec::with_capacity(gids.len());
    for gid in gids {
        let gid = gid.as_str().unwrap_or_default();
        let Some(id) = gid
            .strip_prefix("gid://shopify/Company/")
            .and_then(|n| n.parse::<u64>().ok())
        else {
            return graphql_error(&format!("Invalid global id '{gid}'"));
        };
        ids.push(id);
    }
    let nodes: Vec<Value> = {
        let mut data = shop.data();
        let mut nodes = Vec::with_capacity(ids.len());
        for id in ids {
            *data.company_reads.entry(id).or_default() += 1;
            nodes.push(
                data.companies
                    .get(&id)
                    .map_or(Value::Null, |c| c.selected(&selection)),
            );
        }
        nodes
    };
    // Shopify counts a point per object returned.
    let cost = nodes.len();
    axum::Json(json!({
        "data": { "nodes": nodes },
        "extensions": {
            "cost": {
                "requestedQueryCost": cost,
                "actualQueryCost": cost,
                "throttleStatus": {
                    "maximumAvailable": 2000.0,
                    "currentlyAvailable": 2000 - cost,
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
