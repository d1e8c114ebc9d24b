//! A HubSpot portal on loopback, as much of the API as the connector uses:
//! CRM v3 objects (read by id, search, batch read, task creation), v4
//! association batch reads, and static lists with their memberships.
//!
//! It answers like HubSpot: a missing or wrong private app token is a 401
//! `INVALID_AUTHENTICATION`; a malformed search (an unknown field, an
//! unknown operator, `limit` above 200, an `after` at or past the result
//! cap) is a 400 `VALIDATION_ERROR`; a record it does not have is a 404
//! `OBJECT_NOT_FOUND`; batch reads answer 207 with `errors` for the inputs
//! they cannot answer. Tests can queue one-shot failures, hold a request
//! until they release it, and read every request received.
//!
//! The search result cap is HubSpot's 10,000 unless a test lowers it with
//! [`HubSpotEmulator::set_search_result_cap`], which stands in for the real
//! cap at a size a test can reach.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use super::crm::{Association, ObjectType, Record, SearchRequest, validation_error};

const INVALID_AUTHENTICATION: &str =
    include_str!("../../fixtures/hubspot/invalid_authentication.json");
const RATE_LIMIT: &str = include_str!("../../fixtures/hubspot/rate_limit_ten_secondly.json");
const INTERNAL_ERROR: &str = include_str!("../../fixtures/hubspot/internal_error.json");
const OBJECT_NOT_FOUND: &str = include_str!("../../fixtures/hubspot/object_not_found.json");

/// HubSpot's cap on the results one search can page through.
pub const SEARCH_RESULT_CAP: usize = 10_000;

/// A one-shot failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// 429 with HubSpot's rate limit body and headers, and `Retry-After`
    /// when given.
    TooManyRequests {
        /// The delay named in `Retry-After`, in seconds.
        retry_after_seconds: Option<u64>,
    },
    /// 500 with HubSpot's internal error body.
    ServerError,
}

/// A request as the emulator received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// `GET`, `POST`, `PUT`.
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The raw query string.
    pub query: String,
    /// Every header (lower-case names).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// When it arrived.
    pub at: Instant,
    /// The status answered (0 while held).
    pub status: u16,
    /// Arrival number, which the answer's status is filed under.
    seq: u64,
}

impl Recorded {
    /// The JSON body (`Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// A query parameter, percent-decoded.
    pub fn param(&self, name: &str) -> Option<String> {
        query_pairs(&self.query)
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// For a search request: the value of its first filter (`GTE` bound).
    pub fn search_since(&self) -> Option<String> {
        self.json()["filterGroups"][0]["filters"][0]["value"]
            .as_str()
            .map(str::to_owned)
    }

    /// For a search request: its `after` token.
    pub fn search_after(&self) -> Option<String> {
        self.json()["after"].as_str().map(str::to_owned)
    }
}

/// A request held by the emulator until the test releases it.
#[derive(Debug, Clone)]
pub struct Gate {
    arrived: Arc<Semaphore>,
    release: Arc<Semaphore>,
}

impl Gate {
    /// Waits until the held request has arrived.
    pub async fn arrived(&self) {
        if let Ok(permit) = self.arrived.acquire().await {
            permit.forget();
        }
    }

    /// Lets the held request go on.
    pub fn release(&self) {
        self.release.add_permits(1);
    }
}

#[derive(Debug)]
struct Hold {
    path: String,
    /// Requests to the path to let through before holding one.
    pass: usize,
    gate: Gate,
}

/// A static list the connector created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct List {
    /// The list id.
    pub id: u64,
    /// Its name.
    pub name: String,
    /// `0-1` for contacts.
    pub object_type_id: String,
    /// `MANUAL`.
    pub processing_type: String,
    /// Member record ids, in the order added.
    pub members: Vec<u64>,
}

/// A task the connector created.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    /// The task id.
    pub id: u64,
    /// Its properties as posted.
    pub properties: Value,
    /// Its associations: (association type id, record id).
    pub associations: Vec<(u64, u64)>,
}

#[derive(Debug)]
struct Data {
    records: BTreeMap<ObjectType, BTreeMap<u64, Record>>,
    associations: BTreeSet<Association>,
    lists: Vec<List>,
    tasks: Vec<Task>,
    next_id: u64,
    failures: Vec<(String, Failure)>,
    hold: Option<Hold>,
    recorded: Vec<Recorded>,
    arrivals: u64,
    search_result_cap: usize,
}

#[derive(Debug)]
struct Portal {
    access_token: String,
    data: Mutex<Data>,
}

/// A running emulator; stops when dropped.
#[derive(Debug)]
pub struct HubSpotEmulator {
    addr: SocketAddr,
    portal: Arc<Portal>,
    server: JoinHandle<()>,
}

impl HubSpotEmulator {
    /// Serves on a free loopback port, accepting the private app token
    /// `access_token`.
    pub async fn start(access_token: &str) -> std::io::Result<Self> {
        let portal = Arc::new(Portal {
            access_token: access_token.to_owned(),
            data: Mutex::new(Data {
                records: BTreeMap::new(),
                associations: BTreeSet::new(),
                lists: Vec::new(),
                tasks: Vec::new(),
                next_id: 880_001,
                failures: Vec::new(),
                hold: None,
                recorded: Vec::new(),
                arrivals: 0,
                search_result_cap: SEARCH_RESULT_CAP,
            }),
        });
        let app = Router::new().fallback(dispatch).with_state(portal.clone());
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            addr,
            portal,
            server,
        })
    }

    /// `http://127.0.0.1:<port>`: the connector's `api_base_url` and the
    /// host to allow.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn data(&self) -> MutexGuard<'_, Data> {
        lock(&self.portal.data)
    }

    /// Adds or replaces a record.
    pub fn put(&self, kind: ObjectType, record: Record) {
        self.data()
            .records
            .entry(kind)
            .or_default()
            .insert(record.id, record);
    }

    /// Changes a record at `modified_ms` (its new last-modified time).
    ///
    /// # Panics
    /// When the emulator has no such record: the test is wrong.
    pub fn update(
        &self,
        kind: ObjectType,
        id: u64,
        modified_ms: i64,
        change: impl FnOnce(&mut Record),
    ) {
        let mut data = self.data();
        let Some(record) = data.records.get_mut(&kind).and_then(|r| r.get_mut(&id)) else {
            panic!("the emulator has no {} {id}", kind.singular());
        };
        change(record);
        record.modified_ms = modified_ms;
    }

    /// Moves a record to the recycle bin: it reads as 404 and leaves
    /// searches.
    pub fn archive(&self, kind: ObjectType, id: u64) {
        if let Some(record) = self
            .data()
            .records
            .get_mut(&kind)
            .and_then(|r| r.get_mut(&id))
        {
            record.archived = true;
        }
    }

    /// Associates two records, both ways. `primary` marks a contact's or a
    /// deal's primary company.
    pub fn associate(&self, from: (ObjectType, u64), to: (ObjectType, u64), primary: bool) {
        let mut data = self.data();
        data.associations.insert(Association { from, to, primary });
        data.associations.insert(Association {
            from: to,
            to: from,
            primary,
        });
    }

    /// Lowers how far one search can page (HubSpot: 10,000), so that a test
    /// reaches the cap with a handful of records.
    pub fn set_search_result_cap(&self, cap: usize) {
        self.data().search_result_cap = cap;
    }

    /// The next request to `path` fails once.
    pub fn fail_next(&self, path: &str, failure: Failure) {
        self.data().failures.push((path.to_owned(), failure));
    }

    /// Holds a request to `path` after letting `pass` through, until the
    /// test releases it.
    pub fn hold(&self, path: &str, pass: usize) -> Gate {
        let gate = Gate {
            arrived: Arc::new(Semaphore::new(0)),
            release: Arc::new(Semaphore::new(0)),
        };
        self.data().hold = Some(Hold {
            path: path.to_owned(),
            pass,
            gate: gate.clone(),
        });
        gate
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.data().recorded.clone()
    }

    /// The requests received to `path`.
    pub fn requests_to(&self, path: &str) -> Vec<Recorded> {
        self.data()
            .recorded
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// Forgets the requests received so far.
    pub fn clear_requests(&self) {
        self.data().recorded.clear();
    }

    /// The lists created.
    pub fn lists(&self) -> Vec<List> {
        self.data().lists.clone()
    }

    /// The tasks created.
    pub fn tasks(&self) -> Vec<Task> {
        self.data().tasks.clone()
    }
}

impl Drop for HubSpotEmulator {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A JSON answer.
fn answer(status: StatusCode, body: &Value) -> Response {
    (status, axum::Json(body.clone())).into_response()
}

/// A fixed JSON body (a fixture) with a status.
fn fixture(status: StatusCode, body: &'static str) -> Response {
    (
        status,
        [(
            axum::http::header::CONTENT_TYPE,
            "application/json;charset=utf-8",
        )],
        body,
    )
        .into_response()
}

fn bad_request(message: &str) -> Response {
    answer(StatusCode::BAD_REQUEST, &validation_error(message))
}

fn not_found() -> Response {
    fixture(StatusCode::NOT_FOUND, OBJECT_NOT_FOUND)
}

async fn dispatch(
    State(portal): State<Arc<Portal>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let seq = {
        let mut data = lock(&portal.data);
        data.arrivals += 1;
        let seq = data.arrivals;
        data.recorded.push(Recorded {
            method: method.as_str().to_owned(),
            path: path.clone(),
            query: uri.query().unwrap_or_default().to_owned(),
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
            status: 0,
            seq,
        });
        seq
    };
    let response = respond(&portal, &method, &uri, &headers, &body).await;
    // Found by arrival number: the test may have cleared the record since.
    if let Some(recorded) = lock(&portal.data)
        .recorded
        .iter_mut()
        .find(|r| r.seq == seq)
    {
        recorded.status = response.status().as_u16();
    }
    response
}

async fn respond(
    portal: &Portal,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let expected = format!("Bearer {}", portal.access_token);
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return fixture(StatusCode::UNAUTHORIZED, INVALID_AUTHENTICATION);
    }
    let path = uri.path();
    let (failure, gate) = {
        let mut data = lock(&portal.data);
        let failure = data
            .failures
            .iter()
            .position(|(p, _)| p == path)
            .map(|i| data.failures.remove(i).1);
        let gate = match data.hold.as_mut() {
            Some(hold) if hold.path == path && hold.pass == 0 => data.hold.take().map(|h| h.gate),
            Some(hold) if hold.path == path => {
                hold.pass -= 1;
                None
            }
            _ => None,
        };
        (failure, gate)
    };
    if let Some(gate) = gate {
        gate.arrived.add_permits(1);
        if let Ok(permit) = gate.release.acquire().await {
            permit.forget();
        }
    }
    match failure {
        Some(Failure::TooManyRequests {
            retry_after_seconds,
        }) => {
            let mut response = fixture(StatusCode::TOO_MANY_REQUESTS, RATE_LIMIT);
            let headers = response.headers_mut();
            for (name, value) in [
                ("x-hubspot-ratelimit-interval-milliseconds", "10000"),
                ("x-hubspot-ratelimit-max", "100"),
                ("x-hubspot-ratelimit-remaining", "0"),
            ] {
                headers.insert(name, HeaderValue::from_static(value));
            }
            if let Some(seconds) = retry_after_seconds
                && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
            {
                headers.insert("retry-after", value);
            }
            return response;
        }
        Some(Failure::ServerError) => {
            return fixture(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL_ERROR);
        }
        None => {}
    }
    let trimmed = path.trim_end_matches('/');
    let segments: Vec<&str> = trimmed.trim_start_matches('/').split('/').collect();
    let query = query_pairs(uri.query().unwrap_or_default());
    match (method.as_str(), segments.as_slice()) {
        ("POST", ["crm", "v3", "objects", "tasks"]) => create_task(portal, body),
        ("POST", ["crm", "v3", "objects", kind, "search"]) => {
            with_type(kind, |k| search(portal, k, body))
        }
        ("POST", ["crm", "v3", "objects", kind, "batch", "read"]) => {
            with_type(kind, |k| batch_read(portal, k, body))
        }
        ("GET", ["crm", "v3", "objects", kind, id]) => {
            with_type(kind, |k| read(portal, k, id, &query))
        }
        ("POST", ["crm", "v4", "associations", from, to, "batch", "read"]) => {
            match (ObjectType::from_path(from), ObjectType::from_path(to)) {
                (Some(from), Some(to)) => association_batch_read(portal, from, to, body),
                _ => bad_request(&format!("Unable to infer object type from: {from}, {to}")),
            }
        }
        ("POST", ["crm", "v3", "lists"]) => create_list(portal, body),
        (
            "GET",
            [
                "crm",
                "v3",
                "lists",
                "object-type-id",
                object_type_id,
                "name",
                name,
            ],
        ) => list_by_name(portal, object_type_id, &percent_decode(name)),
        ("PUT", ["crm", "v3", "lists", id, "memberships", "add"]) => add_members(portal, id, body),
        _ => answer(
            StatusCode::NOT_FOUND,
            &json!({"status": "error", "message": format!("No route for {method} {path}"), "category": "OBJECT_NOT_FOUND"}),
        ),
    }
}

fn with_type(name: &str, f: impl FnOnce(ObjectType) -> Response) -> Response {
    match ObjectType::from_path(name) {
        Some(kind) => f(kind),
        None => bad_request(&format!("Unable to infer object type from: {name}")),
    }
}

fn search(portal: &Portal, kind: ObjectType, body: &[u8]) -> Response {
    let data = lock(&portal.data);
    let request = match SearchRequest::parse(body, data.search_result_cap) {
        Ok(request) => request,
        Err(message) => return bad_request(&message),
    };
    let mut matching: Vec<&Record> = data
        .records
        .get(&kind)
        .into_iter()
        .flat_map(BTreeMap::values)
        .filter(|r| !r.archived && request.matches(kind, r))
        .collect();
    matching.sort_by(|a, b| request.order(kind, a, b));
    let page: Vec<Value> = matching
        .iter()
        .skip(request.after)
        .take(request.limit)
        .map(|r| r.to_json(kind, &request.properties))
        .collect();
    let next = request.after + request.limit;
    let mut body = json!({ "total": matching.len(), "results": page });
    if next < matching.len() {
        body["paging"] = json!({ "next": { "after": next.to_string() } });
    }
    answer(StatusCode::OK, &body)
}

fn read(portal: &Portal, kind: ObjectType, id: &str, query: &[(String, String)]) -> Response {
    let Ok(id) = id.parse::<u64>() else {
        return not_found();
    };
    let list = |name: &str| -> Vec<String> {
        query
            .iter()
            .filter(|(n, _)| n == name)
            .flat_map(|(_, v)| v.split(','))
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let properties = list("properties");
    let mut targets = Vec::new();
    for name in list("associations") {
        match ObjectType::from_path(&name) {
            Some(to) => targets.push(to),
            None => return bad_request(&format!("Unable to infer object type from: {name}")),
        }
    }
    let data = lock(&portal.data);
    let Some(record) = data
        .records
        .get(&kind)
        .and_then(|r| r.get(&id))
        .filter(|r| !r.archived)
    else {
        return not_found();
    };
    let mut body = record.to_json(kind, &properties);
    let mut associations = serde_json::Map::new();
    for to in targets {
        let mut results = Vec::new();
        for association in data
            .associations
            .iter()
            .filter(|a| a.from == (kind, id) && a.to.0 == to)
        {
            let base = format!("{}_to_{}", kind.singular(), to.singular());
            let target = association.to.1.to_string();
            if association.primary {
                results.push(json!({ "id": target, "type": base }));
            }
            results.push(json!({ "id": target, "type": format!("{base}_unlabeled") }));
        }
        if !results.is_empty() {
            associations.insert(to.path().to_owned(), json!({ "results": results }));
        }
    }
    if !associations.is_empty() {
        body["associations"] = Value::Object(associations);
    }
    answer(StatusCode::OK, &body)
}

/// The ids of a batch body's `inputs`, or the validation message.
fn batch_inputs(body: &Value, max: usize) -> Result<Vec<u64>, String> {
    let inputs = body["inputs"]
        .as_array()
        .ok_or("Invalid input JSON: `inputs` is required")?;
    if inputs.len() > max {
        return Err(format!(
            "Batch input size of {} exceeds the limit of {max}",
            inputs.len()
        ));
    }
    inputs
        .iter()
        .map(|input| {
            input["id"]
                .as_str()
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(|| {
                    format!(
                        "inputs[].id must be a record id string, got {}",
                        input["id"]
                    )
                })
        })
        .collect()
}

fn batch_read(portal: &Portal, kind: ObjectType, body: &[u8]) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(body) else {
        return bad_request("Invalid input JSON: the body is not JSON");
    };
    let ids = match batch_inputs(&body, 100) {
        Ok(ids) => ids,
        Err(message) => return bad_request(&message),
    };
    let properties: Vec<String> = body["properties"]
        .as_array()
        .map(|names| {
            names
                .iter()
                .filter_map(|n| n.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let data = lock(&portal.data);
    let records = data.records.get(&kind);
    let mut results = Vec::new();
    let mut missing = Vec::new();
    for id in ids {
        match records.and_then(|r| r.get(&id)).filter(|r| !r.archived) {
            Some(record) => results.push(record.to_json(kind, &properties)),
            None => missing.push(id.to_string()),
        }
    }
    let now = super::crm::iso(0);
    let mut body =
        json!({ "status": "COMPLETE", "results": results, "startedAt": now, "completedAt": now });
    if missing.is_empty() {
        return answer(StatusCode::OK, &body);
    }
    body["numErrors"] = json!(1);
    body["errors"] = json!([{
        "status": "error",
        "category": "OBJECT_NOT_FOUND",
        "message": format!("Could not get some {} objects, they may be deleted or not exist. Check that ids are valid.", kind.singular().to_uppercase()),
        "context": { "ids": missing },
    }]);
    answer(StatusCode::MULTI_STATUS, &body)
}

fn association_batch_read(
    portal: &Portal,
    from: ObjectType,
    to: ObjectType,
    body: &[u8],
) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(body) else {
        return bad_request("Invalid input JSON: the body is not JSON");
    };
    let ids = match batch_inputs(&body, 1000) {
        Ok(ids) => ids,
        Err(message) => return bad_request(&message),
    };
    let data = lock(&portal.data);
    let (primary_type, unlabeled_type) = from.association_type_ids(to);
    let mut results = Vec::new();
    let mut errors = Vec::new();
    for id in ids {
        let targets: Vec<Value> = data
            .associations
            .iter()
            .filter(|a| a.from == (from, id) && a.to.0 == to)
            .map(|a| {
                let mut types = Vec::new();
                if let (true, Some(primary)) = (a.primary, primary_type) {
                    types.push(json!({"category": "HUBSPOT_DEFINED", "typeId": primary, "label": "Primary"}));
                }
                types.push(json!({"category": "HUBSPOT_DEFINED", "typeId": unlabeled_type, "label": null}));
                json!({ "toObjectId": a.to.1, "associationTypes": types })
            })
            .collect();
        if targets.is_empty() {
            errors.push(json!({
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
                "context": { "fromObjectId": [id.to_string()] },
                "message": format!("No {} is associated with {} {id}.", to.singular(), from.singular()),
            }));
        } else {
            results.push(json!({ "from": { "id": id.to_string() }, "to": targets }));
        }
    }
    let now = super::crm::iso(0);
    let mut body =
        json!({ "status": "COMPLETE", "results": results, "startedAt": now, "completedAt": now });
    if errors.is_empty() {
        return answer(StatusCode::OK, &body);
    }
    body["numErrors"] = json!(errors.len());
    body["errors"] = Value::Array(errors);
    answer(StatusCode::MULTI_STATUS, &body)
}

fn list_json(list: &List) -> Value {
    json!({ "list": {
        "listId": list.id.to_string(),
        "listVersion": 1,
        "name": list.name,
        "objectTypeId": list.object_type_id,
        "processingType": list.processing_type,
        "processingStatus": "COMPLETE",
        "size": list.members.len(),
    }})
}

fn create_list(portal: &Portal, body: &[u8]) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(body) else {
        return bad_request("Invalid input JSON: the body is not JSON");
    };
    let (Some(name), Some(object_type_id), Some(processing_type)) = (
        body["name"].as_str(),
        body["objectTypeId"].as_str(),
        body["processingType"].as_str(),
    ) else {
        return bad_request("name, objectTypeId and processingType are required");
    };
    if !["MANUAL", "DYNAMIC", "SNAPSHOT"].contains(&processing_type) {
        return bad_request(&format!("Unknown processingType `{processing_type}`"));
    }
    let mut data = lock(&portal.data);
    if data.lists.iter().any(|l| l.name == name) {
        return bad_request(&format!("A list named `{name}` already exists"));
    }
    data.next_id += 1;
    let list = List {
        id: data.next_id,
        name: name.to_owned(),
        object_type_id: object_type_id.to_owned(),
        processing_type: processing_type.to_owned(),
        members: Vec::new(),
    };
    let body = list_json(&list);
    data.lists.push(list);
    answer(StatusCode::OK, &body)
}

fn list_by_name(portal: &Portal, object_type_id: &str, name: &str) -> Response {
    let data = lock(&portal.data);
    match data
        .lists
        .iter()
        .find(|l| l.name == name && l.object_type_id == object_type_id)
    {
        Some(list) => answer(StatusCode::OK, &list_json(list)),
        None => answer(
            StatusCode::NOT_FOUND,
            &json!({"status": "error", "message": format!("List does not exist with name {name}."), "category": "OBJECT_NOT_FOUND"}),
        ),
    }
}

fn add_members(portal: &Portal, id: &str, body: &[u8]) -> Response {
    let ids: Vec<String> = match serde_json::from_slice(body) {
        Ok(ids) => ids,
        Err(e) => {
            return bad_request(&format!(
                "Invalid input JSON: expected an array of record id strings: {e}"
            ));
        }
    };
    let mut data = lock(&portal.data);
    let contacts: BTreeSet<u64> = data
        .records
        .get(&ObjectType::Contacts)
        .map(|r| r.values().filter(|c| !c.archived).map(|c| c.id).collect())
        .unwrap_or_default();
    let Some(list) = id
        .parse::<u64>()
        .ok()
        .and_then(|id| data.lists.iter_mut().find(|l| l.id == id))
    else {
        return not_found();
    };
    let mut added = Vec::new();
    let mut missing = Vec::new();
    for raw in ids {
        match raw.parse::<u64>().ok().filter(|id| contacts.contains(id)) {
            Some(id) if list.members.contains(&id) => {}
            Some(id) => {
                list.members.push(id);
                added.push(raw);
            }
            None => missing.push(raw),
        }
    }
    answer(
        StatusCode::OK,
        &json!({ "recordsIdsAdded": added, "recordIdsMissing": missing }),
    )
}

fn create_task(portal: &Portal, body: &[u8]) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(body) else {
        return bad_request("Invalid input JSON: the body is not JSON");
    };
    let properties = body["properties"].clone();
    if !properties.is_object() {
        return bad_request("properties is required");
    }
    if properties["hs_timestamp"]
        .as_str()
        .is_none_or(str::is_empty)
    {
        return bad_request("Property values were not valid: hs_timestamp is required");
    }
    let mut data = lock(&portal.data);
    let mut associations = Vec::new();
    for association in body["associations"].as_array().into_iter().flatten() {
        let Some(to) = association["to"]["id"]
            .as_str()
            .and_then(|s| s.parse::<u64>().ok())
        else {
            return bad_request("associations[].to.id must be a record id string");
        };
        for kind in association["types"].as_array().into_iter().flatten() {
            let type_id = kind["associationTypeId"].as_u64().unwrap_or_default();
            let target = match (kind["associationCategory"].as_str(), type_id) {
                (Some("HUBSPOT_DEFINED"), 192) => ObjectType::Companies,
                (Some("HUBSPOT_DEFINED"), 204) => ObjectType::Contacts,
                _ => {
                    return bad_request(&format!(
                        "association type {type_id} is not valid between task and the target"
                    ));
                }
            };
            let exists = data
                .records
                .get(&target)
                .and_then(|r| r.get(&to))
                .is_some_and(|r| !r.archived);
            if !exists {
                return bad_request(&format!("{} {to} does not exist", target.singular()));
            }
            associations.push((type_id, to));
        }
    }
    data.next_id += 1;
    let id = data.next_id;
    data.tasks.push(Task {
        id,
        properties: properties.clone(),
        associations,
    });
    let now = super::crm::iso(1_767_225_600_000);
    answer(
        StatusCode::CREATED,
        &json!({"id": id.to_string(), "properties": properties, "createdAt": now, "updatedAt": now, "archived": false}),
    )
}

/// `a=1&b=x%2Cy` as decoded pairs (`+` is a space).
pub fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (
                percent_decode(&name.replace('+', " ")),
                percent_decode(&value.replace('+', " ")),
            )
        })
        .collect()
}

/// Decodes `%XX` escapes (invalid ones stay as they are).
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(byte) = text
                .get(i + 1..i + 3)
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
