//! Pipedrive for the Python example connector (`examples/connector-python`):
//! [`python_component`] builds it with componentize-py, and
//! [`PipedriveEmulator`] serves the part of Pipedrive's API v1 it reads on
//! loopback.
//!
//! The emulator answers like Pipedrive: the API token in an `x-api-token`
//! header or an `api_token` query parameter, or a 401 `unauthorized access`;
//! `GET /v1/organizations` and `GET /v1/deals` (filtered by `status`, all
//! but deleted by default) paged with `start` and `limit` (at most 500),
//! records in id order, `data: null` past the end, and
//! `additional_data.pagination` with `more_items_in_collection` and
//! `next_start`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use anyhow::{Context, bail};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Number, Value, json};
use tokio::task::JoinHandle;

use crate::hubspot::emulator::query_pairs;
use crate::repo_root;

/// Pipedrive's largest page.
const LIMIT_MAX: usize = 500;

/// The componentize-py that `tests/run` installs.
fn componentize_py() -> PathBuf {
    repo_root().join("target/python/bin/componentize-py")
}

/// Builds `examples/connector-python` with its `build.sh` once per process
/// and returns the component's path (`target/wasm/python/pipedrive_py.wasm`).
pub fn python_component() -> PathBuf {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match BUILT.get_or_init(|| build_python_component().map_err(|e| format!("{e:#}"))) {
        Ok(path) => path.clone(),
        Err(e) => panic!("cannot build the Python connector: {e}"),
    }
}

fn build_python_component() -> anyhow::Result<PathBuf> {
    let componentize = componentize_py();
    if !componentize.is_file() {
        bail!(
            "{} is missing: `tests/run` installs it (a venv with the pinned componentize-py)",
            componentize.display()
        );
    }
    let dir = repo_root().join("target/wasm/python");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let output = dir.join("pipedrive_py.wasm");
    let script = repo_root().join("examples/connector-python/build.sh");
    let status = Command::new(&script)
        .arg(&output)
        .env("COMPONENTIZE_PY", &componentize)
        .status()
        .with_context(|| format!("running {}", script.display()))?;
    if !status.success() {
        bail!("{} failed ({status})", script.display());
    }
    Ok(output)
}

/// A company in Pipedrive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    /// Its id.
    pub id: u64,
    /// Its name.
    pub name: String,
    /// Last change, `YYYY-MM-DD HH:MM:SS` in UTC.
    pub update_time: String,
}

/// Where a deal stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DealStatus {
    /// Still being worked on.
    Open,
    /// Won.
    Won,
    /// Lost.
    Lost,
}

impl DealStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Won => "won",
            Self::Lost => "lost",
        }
    }
}

/// How a deal names its organization: Pipedrive's list endpoints write an
/// object whose `value` is the id, some integrations a bare number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrgLink {
    /// `"org_id": {"name": ..., "value": ID, ...}`.
    Object(u64),
    /// `"org_id": ID`.
    Number(u64),
}

/// A deal in Pipedrive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deal {
    /// Its id.
    pub id: u64,
    /// Its title.
    pub title: String,
    /// The organization, if any.
    pub org: Option<OrgLink>,
    /// The deal value, a JSON number written on the wire exactly as given
    /// (`arbitrary_precision` keeps its text: `"1234.50".parse()`).
    pub value: Number,
    /// ISO 4217 code.
    pub currency: String,
    /// Where it stands.
    pub status: DealStatus,
    /// When it was won, `YYYY-MM-DD HH:MM:SS` in UTC.
    pub won_time: Option<String>,
    /// Last change, `YYYY-MM-DD HH:MM:SS` in UTC.
    pub update_time: String,
}

/// A request as the emulator received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// The path, without the query.
    pub path: String,
    /// The query parameters, decoded, in order.
    pub query: Vec<(String, String)>,
    /// The `x-api-token` header, if any.
    pub token_header: Option<String>,
    /// The status answered.
    pub status: u16,
}

#[derive(Debug, Default)]
struct Data {
    organizations: BTreeMap<u64, Organization>,
    deals: BTreeMap<u64, Deal>,
    recorded: Vec<Recorded>,
}

#[derive(Debug)]
struct Company {
    api_token: String,
    data: Mutex<Data>,
}

/// A running emulator; stops when dropped.
#[derive(Debug)]
pub struct PipedriveEmulator {
    addr: SocketAddr,
    company: Arc<Company>,
    server: JoinHandle<()>,
}

impl PipedriveEmulator {
    /// Serves on a free loopback port, accepting the API token `api_token`.
    pub async fn start(api_token: &str) -> std::io::Result<Self> {
        let company = Arc::new(Company {
            api_token: api_token.to_owned(),
            data: Mutex::new(Data::default()),
        });
        let app = Router::new().fallback(respond).with_state(company.clone());
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            addr,
            company,
            server,
        })
    }

    /// `http://127.0.0.1:<port>`: the connector's `base_url` and the host
    /// to allow.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn data(&self) -> MutexGuard<'_, Data> {
        lock(&self.company.data)
    }

    /// Adds or replaces an organization.
    pub fn put_organization(&self, organization: Organization) {
        self.data()
            .organizations
            .insert(organization.id, organization);
    }

    /// Adds or replaces a deal.
    pub fn put_deal(&self, deal: Deal) {
        self.data().deals.insert(deal.id, deal);
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.data().recorded.clone()
    }
}

impl Drop for PipedriveEmulator {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn respond(State(company): State<Arc<Company>>, uri: Uri, headers: HeaderMap) -> Response {
    let query = query_pairs(uri.query().unwrap_or_default());
    let token_header = headers
        .get("x-api-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut data = lock(&company.data);
    let response = answer(&company, &data, uri.path(), &query, token_header.as_deref());
    data.recorded.push(Recorded {
        path: uri.path().to_owned(),
        query,
        token_header,
        status: response.0.as_u16(),
    });
    (response.0, axum::Json(response.1)).into_response()
}

fn answer(
    company: &Company,
    data: &Data,
    path: &str,
    query: &[(String, String)],
    token_header: Option<&str>,
) -> (StatusCode, Value) {
    let param = |name: &str| {
        query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let token = token_header.or_else(|| param("api_token"));
    if token != Some(company.api_token.as_str()) {
        return (
            StatusCode::UNAUTHORIZED,
            json!({
                "success": false,
                "error": "unauthorized access",
                "errorCode": 401,
                "error_info": "Please check developers.pipedrive.com"
            }),
        );
    }
    let (start, limit) = match paging(param("start"), param("limit")) {
        Ok(paging) => paging,
        Err(message) => return bad_request(&message),
    };
    let records: Vec<Value> = match path.trim_end_matches('/') {
        "/v1/organizations" => data.organizations.values().map(organization_json).collect(),
        "/v1/deals" => {
            let status = param("status").unwrap_or("all_not_deleted");
            if !["open", "won", "lost", "all_not_deleted"].contains(&status) {
                return bad_request(&format!("Invalid status `{status}`"));
            }
            data.deals
                .values()
                .filter(|d| status == "all_not_deleted" || d.status.as_str() == status)
                .map(|d| deal_json(d, &data.organizations))
                .collect()
        }
        _ => {
            return (
                StatusCode::NOT_FOUND,
                json!({"success": false, "error": "Unknown method .", "errorCode": 404}),
            );
        }
    };
    let page: Vec<Value> = records.iter().skip(start).take(limit).cloned().collect();
    let more = start + page.len() < records.len();
    let mut pagination = json!({
        "start": start,
        "limit": limit,
        "more_items_in_collection": more,
    });
    if more {
        pagination["next_start"] = json!(start + page.len());
    }
    (
        StatusCode::OK,
        json!({
            "success": true,
            "data": if page.is_empty() { Value::Null } else { Value::Array(page) },
            "additional_data": { "pagination": pagination },
        }),
    )
}

fn paging(start: Option<&str>, limit: Option<&str>) -> Result<(usize, usize), String> {
    let start = start
        .map_or(Ok(0), str::parse::<usize>)
        .map_err(|_| "Parameter 'start' must be a non-negative integer".to_owned())?;
    let limit = limit
        .map_or(Ok(100), str::parse::<usize>)
        .ok()
        .filter(|l| (1..=LIMIT_MAX).contains(l))
        .ok_or_else(|| format!("Parameter 'limit' must be from 1 to {LIMIT_MAX}"))?;
    Ok((start, limit))
}

fn bad_request(message: &str) -> (StatusCode, Value) {
    (
        StatusCode::BAD_REQUEST,
        json!({"success": false, "error": message, "errorCode": 400}),
    )
}

fn organization_json(organization: &Organization) -> Value {
    json!({
        "id": organization.id,
        "company_id": 7_712_345,
        "name": organization.name,
        "open_deals_count": 0,
        "people_count": 1,
        "add_time": "2025-06-02 08:00:00",
        "update_time": organization.update_time,
        "visible_to": "3",
        "active_flag": true,
        "owner_name": "Sales Team",
        "cc_email": "acme@pipedrivemail.com",
    })
}

fn deal_json(deal: &Deal, organizations: &BTreeMap<u64, Organization>) -> Value {
    let org_id = match deal.org {
        None => Value::Null,
        Some(OrgLink::Number(id)) => json!(id),
        Some(OrgLink::Object(id)) => json!({
            "name": organizations.get(&id).map(|o| o.name.as_str()),
            "people_count": 1,
            "owner_id": 13_054_441,
            "address": null,
            "active_flag": true,
            "cc_email": "acme@pipedrivemail.com",
            "value": id,
        }),
    };
    json!({
        "id": deal.id,
        "creator_user_id": 13_054_441,
        "person_id": null,
        "org_id": org_id,
        "stage_id": 5,
        "title": deal.title,
        "value": deal.value,
        "currency": deal.currency,
        "add_time": "2026-01-05 09:00:00",
        "update_time": deal.update_time,
        "status": deal.status.as_str(),
        "won_time": deal.won_time,
        "lost_time": null,
        "close_time": deal.won_time,
        "pipeline_id": 1,
        "active": deal.status == DealStatus::Open,
        "deleted": false,
    })
}
