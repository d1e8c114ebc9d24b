//! An S/4HANA system on loopback, as much of it as the connector uses:
//! `A_BusinessPartner` and `A_SalesOrder` reads and condition record
//! creation, behind basic authentication and SAP Gateway's CSRF protection.
//!
//! It answers like SAP Gateway: a query option it does not understand
//! (a `$filter` of another form, an unknown `$expand` path, a `$skiptoken`
//! it never issued) is a 400 with an OData error body; a missing or wrong
//! password is a 401 with `WWW-Authenticate: Basic realm="SAP NetWeaver
//! Application Server"`; a write without the session's CSRF token and
//! cookie is a 403 with `x-csrf-token: Required`. Collections are paged by
//! the server (`__next` with a `$skiptoken`) when a response would exceed
//! its page size.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use super::records::{BusinessPartner, SalesOrder, padded};
use super::wire;

/// The business partner service.
pub const PARTNER_SERVICE: &str = "/sap/opu/odata/sap/API_BUSINESS_PARTNER";
/// The sales order service.
pub const ORDER_SERVICE: &str = "/sap/opu/odata/sap/API_SALES_ORDER_SRV";
/// The pricing condition record service.
pub const PRICING_SERVICE: &str = "/sap/opu/odata/sap/API_SLSPRICINGCONDITIONRECORD_SRV";
/// The session cookie SAP sets with a CSRF token (system `XXX`, client 100).
pub const SESSION_COOKIE: &str = "SAP_SESSIONID_XXX_100";

const LOGON_FAILED: &str = include_str!("../../fixtures/sap/logon_failed.html");
const PRICING_SERVICE_DOCUMENT: &str =
    include_str!("../../fixtures/sap/pricing_service_document.json");

/// The entity sets a test can hold or fail requests to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntitySet {
    /// `A_BusinessPartner`.
    BusinessPartners,
    /// `A_SalesOrder`.
    SalesOrders,
    /// `A_SlsPrcgCndnRecdValidity`.
    ConditionRecords,
}

impl EntitySet {
    fn path(self) -> String {
        match self {
            Self::BusinessPartners => format!("{PARTNER_SERVICE}/A_BusinessPartner"),
            Self::SalesOrders => format!("{ORDER_SERVICE}/A_SalesOrder"),
            Self::ConditionRecords => format!("{PRICING_SERVICE}/A_SlsPrcgCndnRecdValidity"),
        }
    }
}

/// A one-shot failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// 429 with `Retry-After: <seconds>`.
    TooManyRequests {
        /// The delay SAP asks for.
        retry_after_seconds: u64,
    },
    /// 500 with an OData error body.
    ServerError,
}

/// A request as the emulator received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// `GET`, `POST`.
    pub method: String,
    /// The path.
    pub path: String,
    /// The raw query string.
    pub query: String,
    /// Every header (lower-case names).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// When it arrived.
    pub at: Instant,
    /// The status answered (0 for a request still held).
    pub status: u16,
}

impl Recorded {
    /// A query parameter, percent-decoded.
    pub fn param(&self, name: &str) -> Option<String> {
        wire::query_pairs(&self.query)
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

    /// Whether it was a request to the entity set (fetches of the service
    /// root excluded).
    pub fn is_to(&self, set: EntitySet) -> bool {
        self.path == set.path()
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
    set: EntitySet,
    /// Requests to the set to let through before holding one.
    pass: usize,
    gate: Gate,
}

/// A condition record the emulator created.
#[derive(Debug, Clone, PartialEq)]
pub struct CreatedRecord {
    /// `ConditionRecord`, zero-padded.
    pub number: String,
    /// The validity as posted (`Customer`, `ConditionType`, dates, and
    /// `to_SlsPrcgConditionRecord`).
    pub body: Value,
}

#[derive(Debug, Default)]
struct Data {
    partners: BTreeMap<String, BusinessPartner>,
    orders: BTreeMap<String, SalesOrder>,
    /// Issued `$skiptoken`s and how many records of their query were sent.
    skiptokens: HashMap<String, usize>,
    issued: u64,
    /// Session cookie value to its CSRF token.
    sessions: HashMap<String, String>,
    failures: Vec<(EntitySet, Failure)>,
    hold: Option<Hold>,
    requests: Vec<Recorded>,
    created: Vec<CreatedRecord>,
}

#[derive(Debug)]
struct System {
    authorization: String,
    server_page_size: usize,
    base_url: Mutex<String>,
    data: Mutex<Data>,
}

/// A running emulator; stops when dropped.
#[derive(Debug)]
pub struct SapEmulator {
    addr: SocketAddr,
    system: Arc<System>,
    server: JoinHandle<()>,
}

impl SapEmulator {
    /// Serves on a free loopback port, accepting `user` with `password` and
    /// answering at most `server_page_size` records per response.
    pub async fn start(
        user: &str,
        password: &str,
        server_page_size: usize,
    ) -> std::io::Result<Self> {
        let credentials =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let system = Arc::new(System {
            authorization: format!("Basic {credentials}"),
            server_page_size: server_page_size.max(1),
            base_url: Mutex::new(String::new()),
            data: Mutex::new(Data::default()),
        });
        let app = Router::new().fallback(handle).with_state(system.clone());
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        *lock(&system.base_url) = format!("http://{addr}");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            addr,
            system,
            server,
        })
    }

    /// `http://127.0.0.1:<port>`: the connector's `base_url` and the host to
    /// allow.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn data(&self) -> MutexGuard<'_, Data> {
        lock(&self.system.data)
    }

    /// Adds or replaces a business partner.
    pub fn put_partner(&self, partner: BusinessPartner) {
        self.data().partners.insert(partner.number.clone(), partner);
    }

    /// Removes a business partner (archived): condition records for it are
    /// refused.
    pub fn remove_partner(&self, number: &str) {
        self.data().partners.remove(number);
    }

    /// Adds or replaces a sales order.
    pub fn put_order(&self, order: SalesOrder) {
        self.data().orders.insert(order.number.clone(), order);
    }

    /// Changes a sales order in place.
    pub fn update_order(&self, number: &str, change: impl FnOnce(&mut SalesOrder)) {
        if let Some(order) = self.data().orders.get_mut(number) {
            change(order);
        }
    }

    /// Answers the next request to `set` with `failure`, once.
    pub fn fail_next(&self, set: EntitySet, failure: Failure) {
        self.data().failures.push((set, failure));
    }

    /// Holds the request to `set` that comes after `pass` more requests to
    /// it, until the returned gate is released.
    pub fn hold(&self, set: EntitySet, pass: usize) -> Gate {
        let gate = Gate {
            arrived: Arc::new(Semaphore::new(0)),
            release: Arc::new(Semaphore::new(0)),
        };
        self.data().hold = Some(Hold {
            set,
            pass,
            gate: gate.clone(),
        });
        gate
    }

    /// Invalidates every CSRF token (the session timed out): the next write
    /// is refused with `x-csrf-token: Required`.
    pub fn expire_csrf_tokens(&self) {
        self.data().sessions.clear();
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.data().requests.clone()
    }

    /// The requests to one entity set.
    pub fn requests_to(&self, set: EntitySet) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.is_to(set))
            .collect()
    }

    /// Every condition record created.
    pub fn condition_records(&self) -> Vec<CreatedRecord> {
        self.data().created.clone()
    }

    /// The CSRF tokens handed out, by session cookie.
    pub fn csrf_tokens(&self) -> Vec<String> {
        self.data().sessions.values().cloned().collect()
    }
}

impl Drop for SapEmulator {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A request after recording: what the routes look at.
struct Incoming {
    method: Method,
    path: String,
    query: Vec<(String, String)>,
    raw_query: String,
    headers: HeaderMap,
    body: Bytes,
}

impl Incoming {
    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

async fn handle(
    State(system): State<Arc<System>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let raw_query = uri.query().unwrap_or_default().to_owned();
    let request = Incoming {
        method,
        path: uri.path().to_owned(),
        query: wire::query_pairs(&raw_query),
        raw_query,
        headers,
        body,
    };
    let index = {
        let mut data = lock(&system.data);
        data.requests.push(Recorded {
            method: request.method.to_string(),
            path: request.path.clone(),
            query: request.raw_query.clone(),
            headers: request
                .headers
                .iter()
                .map(|(n, v)| {
                    (
                        n.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body: request.body.to_vec(),
            at: Instant::now(),
            status: 0,
        });
        data.requests.len() - 1
    };
    let response = answer(&system, &request).await;
    lock(&system.data).requests[index].status = response.status().as_u16();
    response
}

async fn answer(system: &System, request: &Incoming) -> Response {
    if request.header("authorization") != Some(system.authorization.as_str()) {
        return (
            StatusCode::UNAUTHORIZED,
            [
                (
                    "www-authenticate",
                    "Basic realm=\"SAP NetWeaver Application Server\"",
                ),
                ("content-type", "text/html; charset=utf-8"),
            ],
            LOGON_FAILED,
        )
            .into_response();
    }
    let set = [
        EntitySet::BusinessPartners,
        EntitySet::SalesOrders,
        EntitySet::ConditionRecords,
    ]
    .into_iter()
    .find(|s| s.path() == request.path);
    let mut csrf_headers = Vec::new();
    if request.method == Method::GET
        && request
            .header("x-csrf-token")
            .is_some_and(|v| v.eq_ignore_ascii_case("fetch"))
    {
        let mut data = lock(&system.data);
        data.issued += 1;
        let session = format!("s{:08}", data.issued);
        let token = format!("Tk{:06}-{}==", data.issued, request.path.len());
        data.sessions.insert(session.clone(), token.clone());
        csrf_headers.push(("x-csrf-token".to_owned(), token));
        csrf_headers.push((
            "set-cookie".to_owned(),
            format!("{SESSION_COOKIE}={session}; path=/; HttpOnly"),
        ));
    }
    if let Some(set) = set {
        let (failure, gate) = {
            let mut data = lock(&system.data);
            let failure = data
                .failures
                .iter()
                .position(|(s, _)| *s == set)
                .map(|i| data.failures.remove(i).1);
            let held = match data.hold.as_mut() {
                Some(hold) if hold.set == set && hold.pass == 0 => true,
                Some(hold) if hold.set == set => {
                    hold.pass -= 1;
                    false
                }
                _ => false,
            };
            let gate = if held {
                data.hold.take().map(|h| h.gate)
            } else {
                None
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
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    [("retry-after", retry_after_seconds.to_string())],
                    axum::Json(wire::error_body(
                        "/IWFND/CM_BEC/026",
                        "Rate limit exceeded; retry later",
                    )),
                )
                    .into_response();
            }
            Some(Failure::ServerError) => {
                return (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    axum::Json(wire::error_body(
                        "/IWBEP/CM_MGW_RT/004",
                        "In the context of Data Services an unknown internal server error occurred",
                    )),
                )
                    .into_response();
            }
            None => {}
        }
    }
    let mut response = match (&request.method, set) {
        (&Method::GET, Some(EntitySet::BusinessPartners)) => partners(system, request),
        (&Method::GET, Some(EntitySet::SalesOrders)) => orders(system, request),
        (&Method::POST, Some(EntitySet::ConditionRecords)) => create_record(system, request),
        (&Method::GET, None) if request.path.trim_end_matches('/') == PRICING_SERVICE => (
            [("content-type", "application/json")],
            PRICING_SERVICE_DOCUMENT,
        )
            .into_response(),
        _ => odata_error(
            StatusCode::NOT_FOUND,
            "/IWFND/MED/170",
            &format!(
                "No service found for namespace '', name '{}', version '0001'",
                request.path
            ),
        ),
    };
    for (name, value) in csrf_headers {
        if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::try_from(name),
            axum::http::HeaderValue::try_from(value),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    response
}

fn odata_error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, axum::Json(wire::error_body(code, message))).into_response()
}

fn bad_request(message: &str) -> Response {
    odata_error(StatusCode::BAD_REQUEST, "/IWBEP/CM_MGW_RT/022", message)
}

/// The query options common to both collections.
struct Paging {
    top: Option<usize>,
    skip: usize,
    /// Records of this query sent in earlier responses (`$skiptoken`).
    sent: usize,
}

/// The paging options, or the message of a 400.
fn paging(system: &System, request: &Incoming) -> Result<Paging, String> {
    if request.param("$format") != Some("json") {
        return Err("This system answers `$format=json` only".to_owned());
    }
    let number = |name: &str| match request.param(name) {
        None => Ok(None),
        Some(text) => text
            .parse::<usize>()
            .map(Some)
            .map_err(|_| format!("Invalid system query option {name}: '{text}'")),
    };
    let sent = match request.param("$skiptoken") {
        None => 0,
        Some(token) => match lock(&system.data).skiptokens.get(token) {
            Some(sent) => *sent,
            None => return Err(format!("Invalid skiptoken '{token}'")),
        },
    };
    Ok(Paging {
        top: number("$top")?,
        skip: number("$skip")?.unwrap_or(0),
        sent,
    })
}

/// One server page of `records` and the `__next` link when more remain.
fn page<T>(
    system: &System,
    request: &Incoming,
    paging: &Paging,
    records: Vec<T>,
    next_prefix: &str,
) -> (Vec<T>, Option<String>) {
    let window: Vec<T> = records
        .into_iter()
        .skip(paging.skip)
        .take(paging.top.unwrap_or(usize::MAX))
        .collect();
    let remaining = window.len().saturating_sub(paging.sent);
    let chunk: Vec<T> = window
        .into_iter()
        .skip(paging.sent)
        .take(system.server_page_size)
        .collect();
    if remaining <= chunk.len() {
        return (chunk, None);
    }
    let mut data = lock(&system.data);
    data.issued += 1;
    let token = format!("{:016X}", 0x5A4F_0000_0000 + data.issued);
    data.skiptokens
        .insert(token.clone(), paging.sent + chunk.len());
    let query = request
        .query
        .iter()
        .filter(|(name, _)| name != "$skiptoken")
        .map(|(name, value)| format!("{name}={}", wire::percent_encode(value)))
        .chain(std::iter::once(format!("$skiptoken={token}")))
        .collect::<Vec<_>>()
        .join("&");
    (chunk, Some(format!("{next_prefix}?{query}")))
}

fn partners(system: &System, request: &Incoming) -> Response {
    let paging = match paging(system, request) {
        Ok(paging) => paging,
        Err(message) => return bad_request(&message),
    };
    let filter = request.param("$filter").unwrap_or_default();
    let Some(since_day) = partner_filter(filter) else {
        return bad_request(&format!("Invalid filter expression: '{filter}'"));
    };
    if request.param("$orderby") != Some("BusinessPartner") {
        return bad_request(&format!(
            "Invalid orderby expression: '{}'",
            request.param("$orderby").unwrap_or_default()
        ));
    }
    let expand: Vec<String> = request
        .param("$expand")
        .unwrap_or_default()
        .split(',')
        .filter(|e| !e.is_empty())
        .map(str::to_owned)
        .collect();
    const KNOWN: [&str; 4] = [
        "to_BusinessPartnerAddress",
        "to_BusinessPartnerAddress/to_EmailAddress",
        "to_BusinessPartnerAddress/to_URLAddress",
        "to_BusinessPartnerTax",
    ];
    if let Some(unknown) = expand.iter().find(|e| !KNOWN.contains(&e.as_str())) {
        return bad_request(&format!(
            "Property '{unknown}' not found in type 'A_BusinessPartnerType'"
        ));
    }
    let mut records: Vec<BusinessPartner> = lock(&system.data)
        .partners
        .values()
        .filter(|p| {
            p.category == "2"
                && (p.change_day().is_some_and(|d| d >= since_day)
                    || wire::day_of(p.created_ms) >= since_day)
        })
        .cloned()
        .collect();
    records.sort_by_key(|p| padded(&p.number));
    let base = lock(&system.base_url).clone();
    let service = format!("{base}{PARTNER_SERVICE}");
    // Business partner links are absolute, like most SAP Gateway services.
    let (chunk, next) = page(
        system,
        request,
        &paging,
        records,
        &format!("{service}/A_BusinessPartner"),
    );
    let results: Vec<Value> = chunk.iter().map(|p| p.to_json(&service, &expand)).collect();
    collection(results, next)
}

/// The day of `BusinessPartnerCategory eq '2' and (LastChangeDate ge
/// datetime'D' or CreationDate ge datetime'D')`, the only form accepted.
fn partner_filter(filter: &str) -> Option<i64> {
    let rest =
        filter.strip_prefix("BusinessPartnerCategory eq '2' and (LastChangeDate ge datetime'")?;
    let (changed, rest) = rest.split_once("' or CreationDate ge datetime'")?;
    let created = rest.strip_suffix("')")?;
    let day = wire::parse_iso(changed)?;
    (changed == created && day == wire::day_of(day)).then_some(day)
}

fn orders(system: &System, request: &Incoming) -> Response {
    let paging = match paging(system, request) {
        Ok(paging) => paging,
        Err(message) => return bad_request(&message),
    };
    let filter = request.param("$filter").unwrap_or_default();
    let Some(since) = filter
        .strip_prefix("LastChangeDateTime ge datetimeoffset'")
        .and_then(|rest| rest.strip_suffix("Z'"))
        .and_then(wire::parse_iso)
    else {
        return bad_request(&format!("Invalid filter expression: '{filter}'"));
    };
    if !matches!(
        request.param("$orderby"),
        Some("LastChangeDateTime,SalesOrder" | "LastChangeDateTime")
    ) {
        return bad_request(&format!(
            "Invalid orderby expression: '{}'",
            request.param("$orderby").unwrap_or_default()
        ));
    }
    let expand_items = match request.param("$expand") {
        None | Some("") => false,
        Some("to_Item") => true,
        Some(other) => {
            return bad_request(&format!(
                "Property '{other}' not found in type 'A_SalesOrderType'"
            ));
        }
    };
    let mut records: Vec<SalesOrder> = lock(&system.data)
        .orders
        .values()
        .filter(|o| o.changed_ms >= since)
        .cloned()
        .collect();
    records.sort_by_key(|o| (o.changed_ms, padded(&o.number)));
    let base = lock(&system.base_url).clone();
    let service = format!("{base}{ORDER_SERVICE}");
    // Sales order links are relative to the request, as some gateways write them.
    let (chunk, next) = page(system, request, &paging, records, "A_SalesOrder");
    let results: Vec<Value> = chunk
        .iter()
        .map(|o| o.to_json(&service, expand_items))
        .collect();
    collection(results, next)
}

fn collection(results: Vec<Value>, next: Option<String>) -> Response {
    let mut d = json!({ "results": results });
    if let Some(next) = next {
        d["__next"] = Value::String(next);
    }
    axum::Json(json!({ "d": d })).into_response()
}

fn create_record(system: &System, request: &Incoming) -> Response {
    let session = request
        .header("cookie")
        .unwrap_or_default()
        .split(';')
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_owned());
    let token_ok = {
        let data = lock(&system.data);
        session
            .and_then(|s| data.sessions.get(&s).cloned())
            .is_some_and(|token| request.header("x-csrf-token") == Some(token.as_str()))
    };
    if !token_ok {
        return (
            StatusCode::FORBIDDEN,
            [("x-csrf-token", "Required"), ("content-type", "text/plain")],
            "CSRF token validation failed",
        )
            .into_response();
    }
    let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
        return bad_request("The request body is not a valid JSON entry");
    };
    let text = |v: &Value, field: &str| {
        v.get(field)
            .and_then(Value::as_str)
            .map(str::trim)
            .unwrap_or_default()
            .to_owned()
    };
    for field in [
        "ConditionType",
        "SalesOrganization",
        "DistributionChannel",
        "Customer",
    ] {
        if text(&body, field).is_empty() {
            return bad_request(&format!("Property '{field}' is mandatory"));
        }
    }
    let start = wire::parse_date(&text(&body, "ConditionValidityStartDate"));
    let end = wire::parse_date(&text(&body, "ConditionValidityEndDate"));
    let (Some(start), Some(end)) = (start, end) else {
        return bad_request(
            "Invalid value for property 'ConditionValidityStartDate' or 'ConditionValidityEndDate'",
        );
    };
    if end < start {
        return odata_error(
            StatusCode::BAD_REQUEST,
            "VK/011",
            "Validity end date is before the start date",
        );
    }
    let record = &body["to_SlsPrcgConditionRecord"];
    let rate = text(record, "ConditionRateValue");
    if wire::sum_amounts([rate.as_str()]).is_none() {
        return bad_request(&format!(
            "Invalid value '{rate}' for property 'ConditionRateValue'"
        ));
    }
    if text(record, "ConditionRateValueUnit").is_empty() {
        return bad_request("Property 'ConditionRateValueUnit' is mandatory");
    }
    let customer = text(&body, "Customer");
    let number = customer.trim_start_matches('0').to_owned();
    let mut data = lock(&system.data);
    if !data.partners.contains_key(&number) {
        return odata_error(
            StatusCode::BAD_REQUEST,
            "VK/021",
            &format!(
                "Customer {customer} is not defined for sales area {}/{}",
                text(&body, "SalesOrganization"),
                text(&body, "DistributionChannel")
            ),
        );
    }
    let record_number = format!("{:010}", 12_000 + data.created.len() + 1);
    data.created.push(CreatedRecord {
        number: record_number.clone(),
        body: body.clone(),
    });
    let base = lock(&system.base_url).clone();
    let uri = format!(
        "{base}{PRICING_SERVICE}/A_SlsPrcgCndnRecdValidity(ConditionRecord='{record_number}',ConditionValidityEndDate={})",
        wire::date(end)
    );
    let mut created = body;
    created["ConditionRecord"] = Value::String(record_number.clone());
    created["__metadata"] = json!({ "id": uri, "uri": uri, "type": "API_SLSPRICINGCONDITIONRECORD_SRV.A_SlsPrcgCndnRecdValidityType" });
    created["to_SlsPrcgConditionRecord"]["ConditionRecord"] = Value::String(record_number);
    (StatusCode::CREATED, axum::Json(json!({ "d": created }))).into_response()
}
