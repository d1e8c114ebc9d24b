//! A Salesforce org on loopback, as much of the REST API as the connector
//! uses, in Salesforce's wire format:
//!
//! - `POST /services/oauth2/token` (client credentials);
//! - `GET /services/data/vNN.N/query?q=` and `/queryAll?q=`, with
//!   `nextRecordsUrl` batches (`/services/data/vNN.N/query/<locator>-<offset>`);
//! - `GET /services/data/vNN.N/sobjects/<type>/<id>?fields=`;
//! - `POST /services/data/vNN.N/sobjects/Campaign` and `/sobjects/Task`;
//! - `POST /services/data/vNN.N/composite/sobjects` (campaign members).
//!
//! Records are JSON objects the test puts in (`SystemModstamp` included);
//! relationship paths (`Product2.Family`) follow the `<Relationship>Id`
//! lookup to the other table. Tests can expire the issued tokens, make the
//! next request to a path fail once, hold a request until released, and
//! read every request received.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinHandle;

use super::soql::{self, Condition, Query, Selected, SoqlError};

/// The API version the emulator reports in URLs it builds.
const URL_VERSION: &str = "v60.0";
/// Salesforce's default batch size of a query answer.
pub const DEFAULT_BATCH_SIZE: usize = 2000;
/// The most records `composite/sobjects` accepts.
const COMPOSITE_MAX: usize = 200;

/// The fields of each object the emulator knows.
const SCHEMA: &[(&str, &[&str])] = &[
    (
        "Account",
        &[
            "Name",
            "Industry",
            "NumberOfEmployees",
            "AnnualRevenue",
            "ParentId",
            "BillingCountry",
            "Website",
            "OwnerId",
        ],
    ),
    (
        "Contact",
        &["AccountId", "Email", "FirstName", "LastName", "Title"],
    ),
    (
        "Opportunity",
        &[
            "AccountId",
            "ContactId",
            "Name",
            "StageName",
            "IsClosed",
            "IsWon",
            "Amount",
            "CloseDate",
        ],
    ),
    (
        "OpportunityLineItem",
        &[
            "OpportunityId",
            "Product2Id",
            "ProductCode",
            "Name",
            "Quantity",
            "UnitPrice",
            "TotalPrice",
            "Discount",
        ],
    ),
    ("Product2", &["Name", "ProductCode", "Family"]),
    (
        "Order",
        &[
            "AccountId",
            "BillToContactId",
            "OrderNumber",
            "Status",
            "StatusCode",
            "EffectiveDate",
            "TotalAmount",
        ],
    ),
    (
        "OrderItem",
        &[
            "OrderId",
            "Product2Id",
            "Quantity",
            "UnitPrice",
            "TotalPrice",
        ],
    ),
    (
        "Contract",
        &[
            "AccountId",
            "ContractNumber",
            "Name",
            "Status",
            "StatusCode",
            "StartDate",
            "EndDate",
        ],
    ),
    ("Campaign", &["Name", "IsActive", "Description"]),
    (
        "CampaignMember",
        &[
            "CampaignId",
            "ContactId",
            "LeadId",
            "Status",
            "FirstRespondedDate",
        ],
    ),
    (
        "Task",
        &[
            "WhatId",
            "WhoId",
            "OwnerId",
            "Subject",
            "Description",
            "Status",
            "Priority",
        ],
    ),
    ("User", &["Name"]),
];

/// Fields of every object.
const COMMON_FIELDS: &[&str] = &["Id", "IsDeleted", "SystemModstamp"];
/// Objects that carry `CurrencyIsoCode` in a multi-currency org.
const CURRENCY_OBJECTS: &[&str] = &[
    "Account",
    "Opportunity",
    "Order",
    "OpportunityLineItem",
    "OrderItem",
];
/// Child relationships: name, child object, the child's field naming the parent.
const CHILDREN: &[(&str, &str, &str)] = &[
    (
        "OpportunityLineItems",
        "OpportunityLineItem",
        "OpportunityId",
    ),
    ("OrderItems", "OrderItem", "OrderId"),
];
/// Relationship names whose object is not their own name.
const LOOKUP_TARGETS: &[(&str, &str)] = &[
    ("BillToContact", "Contact"),
    ("Parent", "Account"),
    ("Owner", "User"),
    ("What", "Account"),
    ("Who", "Contact"),
];
/// Three-character key prefixes of the records the emulator creates.
const KEY_PREFIXES: &[(&str, &str)] = &[
    ("Campaign", "701"),
    ("CampaignMember", "00v"),
    ("Task", "00T"),
];

/// A one-shot failure for the next request to a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// 429 with `Retry-After: <seconds>`.
    TooManyRequests {
        /// The `Retry-After` seconds.
        retry_after_secs: u64,
    },
    /// 403 `REQUEST_LIMIT_EXCEEDED` (Salesforce's daily API limit).
    RequestLimitExceeded,
    /// 500 `UNKNOWN_EXCEPTION`.
    ServerError,
}

/// A request as the emulator received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The method.
    pub method: String,
    /// Path and query, as sent.
    pub path_and_query: String,
    /// Headers, names lower case.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// When it arrived.
    pub at: Instant,
}

impl Recorded {
    /// The path without the query.
    pub fn path(&self) -> &str {
        self.path_and_query.split('?').next().unwrap_or_default()
    }

    /// The decoded `q` parameter of a query request.
    pub fn soql(&self) -> Option<String> {
        let (_, query) = self.path_and_query.split_once('?')?;
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix("q="))
            .map(percent_decode)
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// A held request: it waits in the emulator until released.
#[derive(Debug, Clone)]
pub struct Gate {
    arrived: Arc<Notify>,
    release: Arc<Semaphore>,
}

impl Gate {
    /// Waits until the held request has arrived.
    pub async fn arrived(&self) {
        self.arrived.notified().await;
    }

    /// Lets the held request go on.
    pub fn release(&self) {
        self.release.add_permits(1);
    }
}

type Matcher = Box<dyn Fn(&Recorded) -> bool + Send>;

#[derive(Default)]
struct Org {
    client_id: String,
    client_secret: String,
    instance_url: Mutex<String>,
    tables: Mutex<BTreeMap<String, Vec<Value>>>,
    custom_fields: Mutex<BTreeSet<(String, String)>>,
    multi_currency: Mutex<bool>,
    batch_size: Mutex<usize>,
    tokens: Mutex<BTreeSet<String>>,
    issued: Mutex<usize>,
    failures: Mutex<VecDeque<(String, Failure)>>,
    gates: Mutex<Vec<(Matcher, Gate)>>,
    requests: Mutex<Vec<Recorded>>,
    locators: Mutex<BTreeMap<String, Vec<Value>>>,
    next_id: Mutex<u64>,
}

/// A running emulator; stops when dropped.
pub struct SalesforceEmulator {
    addr: SocketAddr,
    org: Arc<Org>,
    server: JoinHandle<()>,
}

impl std::fmt::Debug for SalesforceEmulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SalesforceEmulator")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SalesforceEmulator {
    /// Serves on a free loopback port, accepting the connected app
    /// `client_id` / `client_secret`.
    pub async fn start(client_id: &str, client_secret: &str) -> std::io::Result<Self> {
        let org = Arc::new(Org {
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            batch_size: Mutex::new(DEFAULT_BATCH_SIZE),
            ..Org::default()
        });
        let app = Router::new().fallback(handle).with_state(org.clone());
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        *lock(&org.instance_url) = format!("http://{addr}");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, org, server })
    }

    /// `http://127.0.0.1:<port>`: the instance URL and the host to allow.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The OAuth token endpoint.
    pub fn token_url(&self) -> String {
        format!("{}/services/oauth2/token", self.base_url())
    }

    /// Adds a record to `object`, or replaces the one with the same `Id`.
    pub fn put(&self, object: &str, record: Value) {
        let mut tables = lock(&self.org.tables);
        let table = tables.entry(object.to_owned()).or_default();
        match table.iter_mut().find(|r| r["Id"] == record["Id"]) {
            Some(existing) => *existing = record,
            None => table.push(record),
        }
    }

    /// Changes fields of the record `id` of `object`.
    pub fn update(&self, object: &str, id: &str, changes: Value) {
        let mut tables = lock(&self.org.tables);
        if let Some(record) = tables
            .get_mut(object)
            .and_then(|t| t.iter_mut().find(|r| r["Id"] == id))
            && let (Some(fields), Value::Object(changes)) = (record.as_object_mut(), changes)
        {
            fields.extend(changes);
        }
    }

    /// The records of `object`, the ones the connector created included.
    pub fn records(&self, object: &str) -> Vec<Value> {
        lock(&self.org.tables)
            .get(object)
            .cloned()
            .unwrap_or_default()
    }

    /// Declares a custom field.
    pub fn add_field(&self, object: &str, field: &str) {
        lock(&self.org.custom_fields).insert((object.to_owned(), field.to_owned()));
    }

    /// Turns on multi-currency: `CurrencyIsoCode` becomes a field.
    pub fn enable_multi_currency(&self) {
        *lock(&self.org.multi_currency) = true;
    }

    /// How many records a query answer carries before `nextRecordsUrl`.
    pub fn set_batch_size(&self, size: usize) {
        *lock(&self.org.batch_size) = size.max(1);
    }

    /// Invalidates every issued access token: the next API call gets 401
    /// `INVALID_SESSION_ID`.
    pub fn expire_tokens(&self) {
        lock(&self.org.tokens).clear();
    }

    /// How many access tokens were issued.
    pub fn tokens_issued(&self) -> usize {
        *lock(&self.org.issued)
    }

    /// Makes the next request whose path starts with `path_prefix` fail.
    pub fn fail_next(&self, path_prefix: &str, failure: Failure) {
        lock(&self.org.failures).push_back((path_prefix.to_owned(), failure));
    }

    /// Holds the next request that `matcher` accepts until the gate is
    /// released.
    pub fn hold_next(&self, matcher: impl Fn(&Recorded) -> bool + Send + 'static) -> Gate {
        let gate = Gate {
            arrived: Arc::new(Notify::new()),
            release: Arc::new(Semaphore::new(0)),
        };
        lock(&self.org.gates).push((Box::new(matcher), gate.clone()));
        gate
    }

    /// Every request received, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.org.requests).clone()
    }

    /// The SOQL of every query received, in order.
    pub fn queries(&self) -> Vec<String> {
        self.requests().iter().filter_map(Recorded::soql).collect()
    }
}

impl Drop for SalesforceEmulator {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Salesforce's error body.
fn api_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!([{ "message": message, "errorCode": code }])),
    )
        .into_response()
}

async fn handle(
    State(org): State<Arc<Org>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let recorded = Recorded {
        method: method.to_string(),
        path_and_query: uri
            .path_and_query()
            .map(ToString::to_string)
            .unwrap_or_default(),
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
    lock(&org.requests).push(recorded.clone());

    let gate = {
        let mut gates = lock(&org.gates);
        gates
            .iter()
            .position(|(matcher, _)| matcher(&recorded))
            .map(|i| gates.remove(i).1)
    };
    if let Some(gate) = gate {
        gate.arrived.notify_one();
        if let Ok(permit) = gate.release.acquire().await {
            permit.forget();
        }
    }

    let failure = {
        let mut failures = lock(&org.failures);
        failures
            .iter()
            .position(|(prefix, _)| recorded.path().starts_with(prefix.as_str()))
            .and_then(|i| failures.remove(i))
            .map(|(_, f)| f)
    };
    match failure {
        Some(Failure::TooManyRequests { retry_after_secs }) => {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [("Retry-After", retry_after_secs.to_string())],
                axum::Json(json!([{"message": "Too many requests", "errorCode": "REQUEST_LIMIT_EXCEEDED"}])),
            )
                .into_response();
        }
        Some(Failure::RequestLimitExceeded) => {
            return api_error(
                StatusCode::FORBIDDEN,
                "REQUEST_LIMIT_EXCEEDED",
                "TotalRequests Limit exceeded.",
            );
        }
        Some(Failure::ServerError) => {
            return api_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "UNKNOWN_EXCEPTION",
                "An unexpected error occurred. Please include this ErrorId if you contact support: 1234567890-12345 (-1234567890)",
            );
        }
        None => {}
    }

    let path = recorded.path().to_owned();
    if path == "/services/oauth2/token" && method == Method::POST {
        return token(&org, &body);
    }
    let Some(rest) = path.strip_prefix("/services/data/") else {
        return not_found();
    };
    let Some((version, resource)) = rest.split_once('/') else {
        return not_found();
    };
    if !is_version(version) {
        return not_found();
    }
    let authorized = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|token| lock(&org.tokens).contains(token));
    if !authorized {
        return (
            StatusCode::UNAUTHORIZED,
            [("WWW-Authenticate", "Token")],
            axum::Json(json!([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])),
        )
            .into_response();
    }
    let segments: Vec<&str> = resource.split('/').collect();
    match (method, segments.as_slice()) {
        (Method::GET, ["query" | "queryAll"]) => match recorded.soql() {
            Some(q) => run_query(&org, &q, segments[0] == "queryAll"),
            None => api_error(
                StatusCode::BAD_REQUEST,
                "MALFORMED_QUERY",
                "the q parameter is required",
            ),
        },
        (Method::GET, ["query" | "queryAll", locator]) => more(&org, locator),
        (Method::GET, ["sobjects", object, id]) => {
            let fields = recorded
                .path_and_query
                .split_once("?fields=")
                .map(|(_, f)| percent_decode(f));
            read(&org, object, id, fields.as_deref())
        }
        (Method::POST, ["sobjects", object]) => create_one(&org, object, &body),
        (Method::POST, ["composite", "sobjects"]) => create_many(&org, &body),
        _ => not_found(),
    }
}

fn not_found() -> Response {
    api_error(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        "The requested resource does not exist",
    )
}

fn is_version(version: &str) -> bool {
    version
        .strip_prefix('v')
        .and_then(|v| v.split_once('.'))
        .is_some_and(|(a, b)| {
            !a.is_empty() && !b.is_empty() && a.bytes().chain(b.bytes()).all(|c| c.is_ascii_digit())
        })
}

fn token(org: &Org, body: &[u8]) -> Response {
    let form: BTreeMap<String, String> = String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (percent_decode(k), percent_decode(v)))
        .collect();
    let oauth_error = |error: &str, description: &str| {
        (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": error, "error_description": description})),
        )
            .into_response()
    };
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return oauth_error("unsupported_grant_type", "grant type not supported");
    }
    if form.get("client_id") != Some(&org.client_id)
        || form.get("client_secret") != Some(&org.client_secret)
    {
        return oauth_error("invalid_client", "invalid client credentials");
    }
    let n = {
        let mut issued = lock(&org.issued);
        *issued += 1;
        *issued
    };
    let access_token = format!("00DDn000000Emu1!AQ0AQ.emulated.token.{n}");
    lock(&org.tokens).insert(access_token.clone());
    let issued_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let base = lock(&org.instance_url).clone();
    axum::Json(json!({
        "access_token": access_token,
        "instance_url": base,
        "id": "https://login.salesforce.com/id/00DDn000000Emu1EAC/005Dn000001IntgIAC",
        "token_type": "Bearer",
        "issued_at": issued_at.to_string(),
        "signature": "emulated0signature0000000000000000000000000=",
    }))
    .into_response()
}

impl Org {
    fn has_field(&self, object: &str, field: &str) -> bool {
        COMMON_FIELDS.contains(&field)
            || SCHEMA
                .iter()
                .any(|(o, fields)| *o == object && fields.contains(&field))
            || (field == "CurrencyIsoCode"
                && CURRENCY_OBJECTS.contains(&object)
                && *lock(&self.multi_currency))
            || lock(&self.custom_fields).contains(&(object.to_owned(), field.to_owned()))
    }

    fn is_object(object: &str) -> bool {
        SCHEMA.iter().any(|(o, _)| *o == object)
    }

    /// Checks a path (`Name`, `Product2.Family`) against the schema.
    fn check_path(&self, object: &str, path: &str) -> Result<(), SoqlError> {
        match path.split_once('.') {
            None => {
                if self.has_field(object, path) {
                    Ok(())
                } else {
                    Err(soql::no_column(path, object))
                }
            }
            Some((relationship, field)) => {
                let target = lookup_target(relationship);
                if !self.has_field(object, &format!("{relationship}Id")) {
                    return Err(soql::no_column(relationship, object));
                }
                if !self.has_field(target, field) {
                    return Err(soql::no_column(field, target));
                }
                Ok(())
            }
        }
    }

    fn find(&self, object: &str, id: &str) -> Option<Value> {
        lock(&self.tables)
            .get(object)
            .and_then(|t| t.iter().find(|r| r["Id"] == id).cloned())
    }

    /// A path's value on a record.
    fn get(&self, record: &Value, path: &str) -> Option<Value> {
        match path.split_once('.') {
            None => record.get(path).cloned(),
            Some((relationship, field)) => {
                let id = record
                    .get(format!("{relationship}Id"))?
                    .as_str()?
                    .to_owned();
                let target = self.find(lookup_target(relationship), &id)?;
                target.get(field).cloned()
            }
        }
    }

    /// A record as the API shows it: `attributes` and the selected fields,
    /// relationship fields nested.
    fn render(&self, object: &str, record: &Value, fields: &[Selected]) -> Value {
        let id = record["Id"].as_str().unwrap_or_default();
        let mut out = Map::new();
        out.insert("attributes".to_owned(), attributes(object, id));
        for field in fields {
            match field {
                Selected::Path(path) => match path.split_once('.') {
                    None => {
                        out.insert(
                            path.clone(),
                            record.get(path).cloned().unwrap_or(Value::Null),
                        );
                    }
                    Some((relationship, name)) => {
                        let target_object = lookup_target(relationship);
                        let target = record
                            .get(format!("{relationship}Id"))
                            .and_then(Value::as_str)
                            .and_then(|id| self.find(target_object, id));
                        let entry = out.entry(relationship.to_owned()).or_insert(Value::Null);
                        if let Some(target) = target {
                            if entry.is_null() {
                                let target_id = target["Id"].as_str().unwrap_or_default();
                                *entry =
                                    json!({"attributes": attributes(target_object, target_id)});
                            }
                            entry[name] = target.get(name).cloned().unwrap_or(Value::Null);
                        }
                    }
                },
                Selected::Children {
                    relationship,
                    fields,
                } => {
                    let Some((_, child, parent_field)) =
                        CHILDREN.iter().find(|(r, _, _)| r == relationship)
                    else {
                        continue;
                    };
                    let selected: Vec<Selected> =
                        fields.iter().cloned().map(Selected::Path).collect();
                    let children: Vec<Value> = lock(&self.tables)
                        .get(*child)
                        .cloned()
                        .unwrap_or_default()
                        .into_iter()
                        .filter(|c| c[*parent_field] == id && c["IsDeleted"] != true)
                        .collect();
                    let rendered: Vec<Value> = children
                        .iter()
                        .map(|c| self.render(child, c, &selected))
                        .collect();
                    let value = if rendered.is_empty() {
                        Value::Null
                    } else {
                        json!({"totalSize": rendered.len(), "done": true, "records": rendered})
                    };
                    out.insert(relationship.clone(), value);
                }
            }
        }
        Value::Object(out)
    }

    fn new_id(&self, object: &str) -> String {
        let prefix = KEY_PREFIXES
            .iter()
            .find(|(o, _)| *o == object)
            .map_or("a00", |(_, p)| p);
        let mut next = lock(&self.next_id);
        *next += 1;
        format!("{prefix}Dn{:010}IAE", *next)
    }
}

fn lookup_target(relationship: &str) -> &str {
    LOOKUP_TARGETS
        .iter()
        .find(|(r, _)| *r == relationship)
        .map_or(relationship, |(_, t)| t)
}

fn attributes(object: &str, id: &str) -> Value {
    json!({"type": object, "url": format!("/services/data/{URL_VERSION}/sobjects/{object}/{id}")})
}

fn run_query(org: &Org, text: &str, all: bool) -> Response {
    match execute(org, text, all) {
        Ok(rows) => answer(org, rows),
        Err(e) => api_error(StatusCode::BAD_REQUEST, e.code, &e.message),
    }
}

fn execute(org: &Org, text: &str, all: bool) -> Result<Vec<Value>, SoqlError> {
    let query: Query = soql::parse(text)?;
    if !Org::is_object(&query.object) {
        return Err(SoqlError {
            code: "INVALID_TYPE",
            message: format!("sObject type '{}' is not supported.", query.object),
        });
    }
    for path in query.paths() {
        org.check_path(&query.object, path)?;
    }
    for field in &query.fields {
        if let Selected::Children {
            relationship,
            fields,
        } = field
        {
            let Some((_, child, _)) = CHILDREN.iter().find(|(r, _, _)| r == relationship) else {
                return Err(SoqlError {
                    code: "INVALID_TYPE",
                    message: format!(
                        "Didn't understand relationship '{relationship}' in FROM part of query call."
                    ),
                });
            };
            for path in fields {
                org.check_path(child, path)?;
            }
        }
    }
    let table = lock(&org.tables)
        .get(&query.object)
        .cloned()
        .unwrap_or_default();
    let mut rows: Vec<Value> = table
        .into_iter()
        .filter(|r| all || r["IsDeleted"] != true)
        .filter(|r| {
            query
                .filter
                .as_ref()
                .is_none_or(|f: &Condition| f.holds(&|path| org.get(r, path)))
        })
        .collect();
    rows.sort_by(|a, b| {
        query
            .order_by
            .iter()
            .map(|path| soql::compare(org.get(a, path).as_ref(), org.get(b, path).as_ref()))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    if let Some(limit) = query.limit {
        rows.truncate(limit);
    }
    Ok(rows
        .iter()
        .map(|r| org.render(&query.object, r, &query.fields))
        .collect())
}

/// The first batch of `rows`, with a locator for the rest.
fn answer(org: &Org, rows: Vec<Value>) -> Response {
    let total = rows.len();
    let batch = *lock(&org.batch_size);
    if total <= batch {
        return axum::Json(json!({"totalSize": total, "done": true, "records": rows}))
            .into_response();
    }
    let locator = {
        let mut next = lock(&org.next_id);
        *next += 1;
        format!("01gDn{:010}IAW", *next)
    };
    let first: Vec<Value> = rows[..batch].to_vec();
    lock(&org.locators).insert(locator.clone(), rows);
    axum::Json(json!({
        "totalSize": total,
        "done": false,
        "nextRecordsUrl": format!("/services/data/{URL_VERSION}/query/{locator}-{batch}"),
        "records": first,
    }))
    .into_response()
}

fn more(org: &Org, locator: &str) -> Response {
    let invalid = || {
        api_error(
            StatusCode::BAD_REQUEST,
            "INVALID_QUERY_LOCATOR",
            "invalid query locator",
        )
    };
    let Some((id, offset)) = locator.rsplit_once('-') else {
        return invalid();
    };
    let Ok(offset) = offset.parse::<usize>() else {
        return invalid();
    };
    let Some(rows) = lock(&org.locators).get(id).cloned() else {
        return invalid();
    };
    if offset >= rows.len() {
        return invalid();
    }
    let batch = *lock(&org.batch_size);
    let end = (offset + batch).min(rows.len());
    let mut body = json!({"totalSize": rows.len(), "done": end == rows.len(), "records": rows[offset..end].to_vec()});
    if end < rows.len() {
        body["nextRecordsUrl"] = json!(format!("/services/data/{URL_VERSION}/query/{id}-{end}"));
    }
    axum::Json(body).into_response()
}

fn read(org: &Org, object: &str, id: &str, fields: Option<&str>) -> Response {
    let Some(record) = org.find(object, id).filter(|r| r["IsDeleted"] != true) else {
        return not_found();
    };
    let selected: Vec<Selected> = match fields {
        Some(list) => {
            let paths: Vec<&str> = list.split(',').map(str::trim).collect();
            for path in &paths {
                if !org.has_field(object, path) {
                    return api_error(
                        StatusCode::BAD_REQUEST,
                        "INVALID_FIELD",
                        &format!("No such column '{path}' on sobject of type {object}"),
                    );
                }
            }
            paths
                .into_iter()
                .map(|p| Selected::Path(p.to_owned()))
                .chain([Selected::Path("Id".to_owned())])
                .collect()
        }
        None => record
            .as_object()
            .map(|m| m.keys().cloned().map(Selected::Path).collect())
            .unwrap_or_default(),
    };
    axum::Json(org.render(object, &record, &selected)).into_response()
}

/// Validates and stores a new record; the error is Salesforce's
/// `(statusCode, message, fields)`.
fn insert(org: &Org, object: &str, body: &Value) -> Result<String, (String, String, Vec<String>)> {
    let Some(fields) = body.as_object() else {
        return Err((
            "JSON_PARSER_ERROR".to_owned(),
            "the record is not a JSON object".to_owned(),
            vec![],
        ));
    };
    for name in fields.keys().filter(|k| *k != "attributes") {
        if !org.has_field(object, name) || COMMON_FIELDS.contains(&name.as_str()) {
            return Err((
                "INVALID_FIELD".to_owned(),
                format!("No such column '{name}' on sobject of type {object}"),
                vec![name.clone()],
            ));
        }
    }
    let required: &[&str] = match object {
        "Campaign" => &["Name"],
        "CampaignMember" => &["CampaignId"],
        "Task" => &[],
        _ => {
            return Err((
                "INVALID_TYPE".to_owned(),
                format!("this emulator does not create {object} records"),
                vec![],
            ));
        }
    };
    let missing: Vec<String> = required
        .iter()
        .filter(|f| fields.get(**f).is_none_or(Value::is_null))
        .map(|f| (*f).to_owned())
        .collect();
    if !missing.is_empty() {
        return Err((
            "REQUIRED_FIELD_MISSING".to_owned(),
            format!("Required fields are missing: [{}]", missing.join(", ")),
            missing,
        ));
    }
    let references: &[(&str, &str)] = match object {
        "CampaignMember" => &[("CampaignId", "Campaign"), ("ContactId", "Contact")],
        "Task" => &[
            ("WhatId", "Account"),
            ("WhoId", "Contact"),
            ("OwnerId", "User"),
        ],
        _ => &[],
    };
    for (field, target) in references {
        if let Some(id) = fields.get(*field).and_then(Value::as_str)
            && org.find(target, id).is_none_or(|r| r["IsDeleted"] == true)
        {
            return Err((
                "INVALID_CROSS_REFERENCE_KEY".to_owned(),
                "invalid cross reference id".to_owned(),
                vec![(*field).to_owned()],
            ));
        }
    }
    if object == "CampaignMember" {
        let duplicate = org.records_of("CampaignMember").iter().any(|m| {
            m["CampaignId"] == fields["CampaignId"]
                && m["ContactId"] == fields.get("ContactId").cloned().unwrap_or(Value::Null)
        });
        if duplicate {
            return Err((
                "DUPLICATE_VALUE".to_owned(),
                "Already a campaign member.".to_owned(),
                vec![],
            ));
        }
    }
    let id = org.new_id(object);
    let mut record = fields.clone();
    record.remove("attributes");
    record.insert("Id".to_owned(), json!(id));
    record.insert("IsDeleted".to_owned(), json!(false));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_default();
    record.insert(
        "SystemModstamp".to_owned(),
        json!(soql::format_datetime(now)),
    );
    lock(&org.tables)
        .entry(object.to_owned())
        .or_default()
        .push(Value::Object(record));
    Ok(id)
}

impl Org {
    fn records_of(&self, object: &str) -> Vec<Value> {
        lock(&self.tables).get(object).cloned().unwrap_or_default()
    }
}

fn create_one(org: &Org, object: &str, body: &[u8]) -> Response {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return api_error(
            StatusCode::BAD_REQUEST,
            "JSON_PARSER_ERROR",
            "Unexpected character: the body is not JSON",
        );
    };
    match insert(org, object, &value) {
        Ok(id) => (
            StatusCode::CREATED,
            axum::Json(json!({"id": id, "success": true, "errors": []})),
        )
            .into_response(),
        Err((code, message, fields)) => (
            StatusCode::BAD_REQUEST,
            axum::Json(json!([{"message": message, "errorCode": code, "fields": fields}])),
        )
            .into_response(),
    }
}

fn create_many(org: &Org, body: &[u8]) -> Response {
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return api_error(
            StatusCode::BAD_REQUEST,
            "JSON_PARSER_ERROR",
            "Unexpected character: the body is not JSON",
        );
    };
    let Some(records) = request["records"].as_array() else {
        return api_error(
            StatusCode::BAD_REQUEST,
            "JSON_PARSER_ERROR",
            "records is required",
        );
    };
    if records.len() > COMPOSITE_MAX {
        return api_error(
            StatusCode::BAD_REQUEST,
            "EXCEEDED_ID_LIMIT",
            "record limit reached. cannot submit more than 200 records into this call",
        );
    }
    if request["allOrNone"] == true {
        return api_error(
            StatusCode::BAD_REQUEST,
            "INVALID_OPERATION",
            "this emulator supports allOrNone: false only",
        );
    }
    let results: Vec<Value> = records
        .iter()
        .map(|record| {
            let object = record["attributes"]["type"].as_str().unwrap_or_default();
            match insert(org, object, record) {
                Ok(id) => json!({"id": id, "success": true, "errors": []}),
                Err((code, message, fields)) => json!({
                    "success": false,
                    "errors": [{"statusCode": code, "message": message, "fields": fields}],
                }),
            }
        })
        .collect();
    axum::Json(results).into_response()
}

/// Decodes `%XX` and `+` in a query or form value.
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => match u8::from_str_radix(text.get(i + 1..i + 3).unwrap_or("zz"), 16) {
                Ok(b) => {
                    out.push(b);
                    i += 3;
                }
                Err(_) => {
                    out.push(b'%');
                    i += 1;
                }
            },
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
