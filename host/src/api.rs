//! The HTTP interface: vendor webhooks, the admin API and health checks.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::body::{Body, Bytes, HttpBody as _};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::Notify;

use crate::config::{ApiToken, TokenScope};
use crate::core::ledger::EntryKind;
use crate::core::program::Program;
use crate::runtime::wit::latest::loyalty::connector::types::{
    Error as GuestError, Header, WebhookRequest,
};
use crate::runtime::{CallError, Clock, Plugin, SystemClock};
use crate::store::{
    AdjustOutcome, AdjustmentRequest, Appended, Completion, CompletionResult, InboxStatus,
    NewDelivery, Store, StoreError,
};

mod analytics;
mod campaigns;
mod connectors;
mod events;
mod insights;
mod operations;
mod portal_links;
mod program;
pub mod referrals;
mod segments;
mod statements;

/// A connector as the API sees it.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The loaded plugin.
    pub plugin: Plugin,
    /// Wakes the connector's inbox worker.
    pub wake: Arc<Notify>,
    /// Its poller, when `[connectors.NAME.poll]` is configured.
    pub sync: Option<Arc<crate::poller::SyncHandle>>,
    /// Its deliveries not yet processed.
    pub backlog: Arc<crate::inbox::Backlog>,
}

/// Shared state of the HTTP handlers.
pub struct Api {
    /// Connectors by name.
    pub endpoints: BTreeMap<String, Endpoint>,
    /// The store.
    pub store: Arc<dyn Store>,
    /// The public URL vendors call, without a trailing slash.
    pub public_base_url: String,
    /// SHA-256 of each accepted admin token.
    pub admin_token_sha256: Vec<[u8; 32]>,
    /// Named tokens with a scope.
    pub tokens: Vec<ApiToken>,
    /// False once shutdown begins: `/readyz` answers 503 and webhooks too.
    pub ready: AtomicBool,
    /// The program rules in force, applied to submitted events and recorded
    /// on admin entries.
    pub program: Arc<Program>,
    /// The configured goals.
    pub goals: Vec<crate::core::goals::Goal>,
    /// Makes the member portal's links; `None` without `[portal]`.
    pub portal_links: Option<crate::portal::tokens::Links>,
    /// Makes reward statements; `None` without `[statements]`.
    pub statements: Option<Arc<crate::statements::Statements>>,
    /// The daemon's metrics.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Reloads connectors; `None` where the API runs without a daemon.
    pub reloader: Option<Arc<crate::reload::Reloader>>,
    /// This daemon's name in the leases it shares work under.
    pub instance_id: String,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("endpoints", &self.endpoints.keys())
            .finish_non_exhaustive()
    }
}

/// The router.
pub fn router(api: Arc<Api>) -> Router {
    Router::new()
        // The webhook reads its body itself, up to its connector's
        // `payload_bytes_max`.
        .route("/webhooks/{connector}", post(webhook))
        .route("/api/v1/accounts", get(accounts))
        .route("/api/v1/accounts/{id}", get(account))
        .route("/api/v1/accounts/{id}/ledger", get(ledger))
        .route("/api/v1/accounts/{id}/adjustments", post(adjust))
        .route("/api/v1/events", post(submit_events))
        .route("/api/v1/dead-letters", get(dead_letters))
        .merge(program::routes())
        // /api/v1/connectors/{name}/sync and /api/v1/connectors/{name}/campaigns
        .merge(connectors::routes())
        .merge(referrals::routes())
        .merge(segments::routes())
        .merge(insights::routes())
        .merge(campaigns::routes())
        .merge(analytics::routes())
        .merge(portal_links::routes())
        .merge(statements::routes())
        .route("/healthz", get(|| async { "ok" }))
        .merge(operations::routes())
        .with_state(api)
}

pub(crate) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({ "error": message.into() }))).into_response()
}

pub(crate) fn unavailable(message: impl Into<String>) -> Response {
    let mut response = error(StatusCode::SERVICE_UNAVAILABLE, message);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
    response
}

/// How long a vendor is asked to wait when a connector's backlog is full:
/// long enough for a batch or two to be processed.
const BACKLOG_RETRY_AFTER_SECONDS: u64 = 2;

fn backlog_full(connector: &str, max: u64) -> Response {
    let mut response = error(
        StatusCode::SERVICE_UNAVAILABLE,
        format!(
            "connector `{connector}` has {max} deliveries waiting to be processed ([server] inbox_backlog_max); redeliver later"
        ),
    );
    response.headers_mut().insert(
        header::RETRY_AFTER,
        header::HeaderValue::from(BACKLOG_RETRY_AFTER_SECONDS),
    );
    response
}

pub(crate) fn store_failure(e: &StoreError) -> Response {
    tracing::error!(error = %e, "store failure");
    unavailable(format!("cannot reach the store: {e}"))
}

async fn webhook(
    State(api): State<Arc<Api>>,
    Path(connector): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    gate: Option<axum::Extension<crate::http_edge::WebhookGate>>,
    body: Body,
) -> Response {
    if !api.ready.load(Ordering::Relaxed) {
        return unavailable("shutting down");
    }
    let Some(endpoint) = api.endpoints.get(&connector) else {
        return error(
            StatusCode::NOT_FOUND,
            format!("no connector named `{connector}`"),
        );
    };
    let body = match webhook_body(&connector, endpoint, &headers, body).await {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    if endpoint.backlog.is_full() {
        // Checked before verification, which is the costly part: the
        // refusal tells a sender nothing but that the daemon is behind.
        tracing::warn!(
            connector,
            pending = endpoint.backlog.pending(),
            "inbox backlog full: webhook refused"
        );
        return backlog_full(&connector, endpoint.backlog.max());
    }
    let _in_flight = match &gate {
        Some(axum::Extension(gate)) => match gate.enter(&connector) {
            Ok(permit) => Some(permit),
            Err(refused) => return refused,
        },
        None => None,
    };
    let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    let request = WebhookRequest {
        method: method.as_str().to_owned(),
        url: format!("{}{path}", api.public_base_url),
        headers: headers
            .iter()
            .map(|(name, value)| Header {
                name: name.as_str().to_owned(),
                value: String::from_utf8_lossy(value.as_bytes()).into_owned(),
            })
            .collect(),
        body: body.to_vec(),
    };
    let delivery = match endpoint.plugin.verify_webhook(&request).await {
        Ok(delivery) => delivery,
        Err(CallError::Guest {
            error: GuestError::Unauthorized(message),
            ..
        }) => {
            tracing::warn!(connector, reason = %message, "webhook rejected");
            return error(StatusCode::UNAUTHORIZED, message);
        }
        Err(CallError::Guest {
            error: GuestError::InvalidInput(message),
            ..
        }) => {
            return error(StatusCode::BAD_REQUEST, message);
        }
        Err(e @ CallError::PayloadTooLarge { .. }) => {
            return error(StatusCode::PAYLOAD_TOO_LARGE, e.to_string());
        }
        Err(e) if e.is_retryable() => {
            // A passing failure (no free instance, a timeout): the vendor
            // retries the delivery later.
            tracing::warn!(connector, error = %e, "verify-webhook failed for now");
            return unavailable(e.to_string());
        }
        Err(e) => {
            tracing::error!(connector, error = %e, "verify-webhook failed");
            return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
        }
    };
    if let Some(axum::Extension(gate)) = &gate
        && let Err(refused) = gate.admit(&connector)
    {
        return refused;
    }
    let stored = api
        .store
        .append_delivery(NewDelivery {
            connector: connector.clone(),
            delivery_id: delivery.id,
            topic: delivery.topic,
            method: request.method,
            url: request.url,
            headers: request
                .headers
                .into_iter()
                .map(|h| (h.name, h.value))
                .collect(),
            body: request.body,
            received_at: SystemClock.now_ms(),
        })
        .await;
    match stored {
        Ok(Appended::Stored(id)) => {
            endpoint.backlog.stored(id);
            endpoint.wake.notify_one();
            (
                StatusCode::OK,
                axum::Json(json!({ "status": "stored", "inbox_id": id })),
            )
                .into_response()
        }
        Ok(Appended::Duplicate(id)) => (
            StatusCode::OK,
            axum::Json(json!({ "status": "duplicate", "inbox_id": id })),
        )
            .into_response(),
        Err(e) => store_failure(&e),
    }
}

/// A delivery's body, read up to the connector's `payload_bytes_max`
/// whether or not it announces its length; past that, 413.
#[allow(
    clippy::result_large_err,
    reason = "the refusal is the HTTP answer itself, returned at once; boxing it buys nothing"
)]
async fn webhook_body(
    connector: &str,
    endpoint: &Endpoint,
    headers: &HeaderMap,
    body: Body,
) -> Result<Bytes, Response> {
    let limit = endpoint.plugin.limits().payload_bytes_max;
    let too_large = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the delivery exceeds {limit} bytes ([connectors.{connector}.limits] payload_bytes_max)"
            ),
        )
    };
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if let Some(length) = announced
        && length > limit
    {
        crate::http_edge::drain(body, length).await;
        return Err(too_large());
    }
    let mut body = body;
    // The announced length is the client's word: memory grows with what
    // actually arrives.
    let mut read = Vec::with_capacity(announced.unwrap_or(0).min(64 << 10));
    let reading = async {
        while let Some(frame) =
            std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
        {
            let frame = frame.map_err(|e| {
                error(
                    StatusCode::BAD_REQUEST,
                    format!("the delivery's body could not be read: {e}"),
                )
            })?;
            if let Ok(data) = frame.into_data() {
                if read.len() + data.len() > limit {
                    return Err(too_large());
                }
                read.extend_from_slice(&data);
            }
        }
        Ok(())
    };
    match tokio::time::timeout(WEBHOOK_BODY_TIME_MAX, reading).await {
        Ok(Ok(())) => Ok(Bytes::from(read)),
        Ok(Err(refused)) => Err(refused),
        Err(_) => Err(error(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the delivery's body did not arrive within {} s",
                WEBHOOK_BODY_TIME_MAX.as_secs()
            ),
        )),
    }
}

/// How long a webhook's body may take to arrive.
const WEBHOOK_BODY_TIME_MAX: std::time::Duration = std::time::Duration::from_secs(30);

/// What a request needs its token to allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need {
    /// Reading (admin and analyst tokens).
    Read,
    /// Changing anything (admin tokens).
    Write,
    /// Submitting events (admin and integration tokens).
    Events,
}

/// The caller behind `Authorization: Bearer <token>`, checked against the
/// configured digests in constant time, and whether its scope allows
/// `need`. The caller is named `token:NAME` for a named token, else `token:`
/// and the first 12 hex digits of the token's SHA-256, enough to tell tokens
/// apart in the ledger and the audit log without revealing them. A missing
/// or unknown token is 401; a known token whose scope does not allow the
/// request is 403.
#[allow(
    clippy::result_large_err,
    reason = "the refusal is the HTTP answer itself, returned at once; boxing it buys nothing"
)]
fn authorize(api: &Api, headers: &HeaderMap, need: Need) -> Result<String, Response> {
    let named = match identify(api, headers) {
        None => return Err(unauthorized()),
        Some(Caller::Admin(digest)) => return Ok(format!("token:{}", &hex::encode(digest)[..12])),
        Some(Caller::Named(named)) => named,
    };
    let allowed = match named.scope {
        TokenScope::Admin => true,
        TokenScope::Analyst => need == Need::Read,
        TokenScope::Integration => need == Need::Events,
    };
    if !allowed {
        let scope = match named.scope {
            TokenScope::Admin => "admin",
            TokenScope::Analyst => "analyst",
            TokenScope::Integration => "integration",
        };
        let wanted = match need {
            Need::Read => "read the admin API",
            Need::Write => "change anything",
            Need::Events => "submit events",
        };
        return Err(error(
            StatusCode::FORBIDDEN,
            format!(
                "token `{}` has the scope `{scope}`, which may not {wanted}",
                named.name
            ),
        ));
    }
    Ok(format!("token:{}", named.name))
}

/// The caller, if its token may change things; else the refusal.
#[allow(
    clippy::result_large_err,
    reason = "the refusal is the HTTP answer itself, returned at once; boxing it buys nothing"
)]
pub(crate) fn admin_actor(api: &Api, headers: &HeaderMap) -> Result<String, Response> {
    authorize(api, headers, Need::Write)
}

/// The refusal when the token is missing, wrong or not allowed `need`.
pub(crate) fn refuse_unauthorized(api: &Api, headers: &HeaderMap, need: Need) -> Option<Response> {
    authorize(api, headers, need).err()
}

/// Whether `headers` carry a token that may read (admin or analyst), for
/// routes open to all that show a token holder more.
pub(crate) fn may_read(api: &Api, headers: &HeaderMap) -> bool {
    match identify(api, headers) {
        Some(Caller::Admin(_)) => true,
        Some(Caller::Named(named)) => {
            matches!(named.scope, TokenScope::Admin | TokenScope::Analyst)
        }
        None => false,
    }
}

/// Whose `Authorization: Bearer <token>` a request carries.
enum Caller<'a> {
    /// The admin token of `[server] admin_token_sha256`, by its SHA-256.
    Admin([u8; 32]),
    /// A token of `[[server.tokens]]`.
    Named(&'a ApiToken),
}

/// The caller behind the bearer token, compared with every configured
/// digest in constant time; `None` without a token or for an unknown one.
fn identify<'a>(api: &'a Api, headers: &HeaderMap) -> Option<Caller<'a>> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)?;
    let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    let matches = |hash: &[u8; 32]| bool::from(hash.ct_eq(&digest));
    let admin = api
        .admin_token_sha256
        .iter()
        .fold(false, |found, hash| found | matches(hash));
    if admin {
        return Some(Caller::Admin(digest));
    }
    api.tokens
        .iter()
        .fold(
            None,
            |found, t| if matches(&t.sha256) { Some(t) } else { found },
        )
        .map(Caller::Named)
}

pub(crate) fn unauthorized() -> Response {
    let mut response = error(
        StatusCode::UNAUTHORIZED,
        "an admin bearer token is required",
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer"),
    );
    response
}

/// A request's JSON body, or a 422 naming what was expected.
#[allow(
    clippy::result_large_err,
    reason = "the refusal is the HTTP answer itself, returned at once; boxing it buys nothing"
)]
pub(crate) fn json_body<T: serde::de::DeserializeOwned>(
    body: &[u8],
    what: &str,
) -> Result<T, Response> {
    serde_json::from_slice(body).map_err(|e| {
        error(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("invalid {what}: {e}"),
        )
    })
}

/// Longest `Idempotency-Key` accepted, in bytes.
const IDEMPOTENCY_KEY_BYTES_MAX: usize = 200;

pub(crate) fn idempotency_key(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= IDEMPOTENCY_KEY_BYTES_MAX)
}

pub(crate) fn missing_idempotency_key() -> Response {
    error(
        StatusCode::BAD_REQUEST,
        format!(
            "an Idempotency-Key header (1 to {IDEMPOTENCY_KEY_BYTES_MAX} characters) is required"
        ),
    )
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AdjustmentBody {
    points: i64,
    reason: String,
}

/// `POST /api/v1/accounts/{id}/adjustments`: an admin correction, applied
/// once per `Idempotency-Key`.
async fn adjust(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    body: Bytes,
) -> Response {
    let actor = match admin_actor(&api, &headers) {
        Ok(actor) => actor,
        Err(refused) => return refused,
    };
    let Some(key) = idempotency_key(&headers) else {
        return missing_idempotency_key();
    };
    let parsed: AdjustmentBody = match json_body(&body, "adjustment") {
        Ok(parsed) => parsed,
        Err(refused) => return refused,
    };
    let entry = match crate::core::ledger::adjustment(
        parsed.points,
        &parsed.reason,
        &actor,
        key,
        SystemClock.now_ms(),
    ) {
        Ok(entry) => entry,
        Err(e) => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("invalid adjustment: {e}"),
            );
        }
    };
    let canonical =
        json!({ "account_id": id, "points": parsed.points, "reason": parsed.reason.trim() });
    let request = AdjustmentRequest {
        account_id: id,
        entry,
        idempotency_key: key.to_owned(),
        request_sha256: hex::encode(Sha256::digest(canonical.to_string().as_bytes())),
        rule_version: api.program.version.clone(),
    };
    match api.store.adjust(request).await {
        Ok(AdjustOutcome::Created(entry)) => {
            (StatusCode::CREATED, axum::Json(entry)).into_response()
        }
        Ok(AdjustOutcome::Replayed(entry)) => (
            StatusCode::OK,
            [("idempotent-replayed", "true")],
            axum::Json(entry),
        )
            .into_response(),
        Ok(AdjustOutcome::Conflict) => error(
            StatusCode::CONFLICT,
            format!("Idempotency-Key `{key}` was already used for a different request"),
        ),
        Ok(AdjustOutcome::UnknownAccount) => {
            error(StatusCode::NOT_FOUND, format!("no account {id}"))
        }
        Err(e) => store_failure(&e),
    }
}

async fn accounts(State(api): State<Arc<Api>>, headers: HeaderMap) -> Response {
    if let Some(denied) = refuse_unauthorized(&api, &headers, Need::Read) {
        return denied;
    }
    match api.store.accounts().await {
        Ok(accounts) => axum::Json(json!({ "accounts": accounts })).into_response(),
        Err(e) => store_failure(&e),
    }
}

async fn account(State(api): State<Arc<Api>>, headers: HeaderMap, Path(id): Path<i64>) -> Response {
    if let Some(denied) = refuse_unauthorized(&api, &headers, Need::Read) {
        return denied;
    }
    match api.store.account(id).await {
        Ok(Some(account)) => axum::Json(account).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no account {id}")),
        Err(e) => store_failure(&e),
    }
}

/// Filters on an account's ledger: entry kind, and the effect's time range
/// `[from, to)` in ms since the epoch.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct LedgerFilter {
    kind: Option<String>,
    from: Option<i64>,
    to: Option<i64>,
}

async fn ledger(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    filter: Result<Query<LedgerFilter>, QueryRejection>,
) -> Response {
    if let Some(denied) = refuse_unauthorized(&api, &headers, Need::Read) {
        return denied;
    }
    let filter = match filter {
        Ok(Query(filter)) => filter,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid filter: {e}")),
    };
    let kind = match filter.kind.as_deref().map(|k| (k, EntryKind::parse(k))) {
        None => None,
        Some((_, Some(kind))) => Some(kind),
        Some((text, None)) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("unknown entry kind `{text}`"),
            );
        }
    };
    match api.store.account(id).await {
        Ok(None) => return error(StatusCode::NOT_FOUND, format!("no account {id}")),
        Err(e) => return store_failure(&e),
        Ok(Some(_)) => {}
    }
    match api.store.ledger(id).await {
        Ok(entries) => {
            let balance: i64 = entries.iter().map(|e| e.points).sum();
            let entries: Vec<_> = entries
                .into_iter()
                .filter(|e| kind.is_none_or(|k| e.kind == k))
                .filter(|e| filter.from.is_none_or(|from| e.occurred_at >= from))
                .filter(|e| filter.to.is_none_or(|to| e.occurred_at < to))
                .collect();
            axum::Json(json!({ "account_id": id, "balance": balance, "entries": entries }))
                .into_response()
        }
        Err(e) => store_failure(&e),
    }
}

async fn dead_letters(State(api): State<Arc<Api>>, headers: HeaderMap) -> Response {
    if let Some(denied) = refuse_unauthorized(&api, &headers, Need::Read) {
        return denied;
    }
    match api.store.dead_letters(None).await {
        Ok(letters) => {
            let letters: Vec<_> = letters
                .into_iter()
                .map(|d| {
                    json!({
                        "inbox_id": d.inbox_id,
                        "connector": d.delivery.connector,
                        "delivery_id": d.delivery.delivery_id,
                        "topic": d.delivery.topic,
                        "error": d.error,
                        "plugin_sha256": d.plugin_sha256,
                        "failed_at": d.failed_at,
                    })
                })
                .collect();
            axum::Json(json!({ "dead_letters": letters })).into_response()
        }
        Err(e) => store_failure(&e),
    }
}

/// `POST /api/v1/events`: see [`events`]. Stored in the inbox under the
/// submission's source and applied before answering.
async fn submit_events(State(api): State<Arc<Api>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(denied) = refuse_unauthorized(&api, &headers, Need::Events) {
        return denied;
    }
    let Some(key) = idempotency_key(&headers) else {
        return missing_idempotency_key();
    };
    let parsed = match events::parse(&body, SystemClock.now_ms()) {
        Ok(parsed) => parsed,
        Err(message) => return error(StatusCode::UNPROCESSABLE_ENTITY, message),
    };
    if api.endpoints.contains_key(&parsed.source) {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "source `{}` is a connector's: events of a connector come only through it",
                parsed.source
            ),
        );
    }
    // The stored body is the request re-serialized with sorted keys, so the
    // same request with other whitespace or key order is recognised.
    let canonical = match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(value) => value.to_string().into_bytes(),
        Err(e) => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("invalid body: {e}"),
            );
        }
    };
    let appended = api
        .store
        .append_delivery(NewDelivery {
            connector: parsed.source.clone(),
            delivery_id: format!("api:{key}"),
            topic: "api/events".to_owned(),
            method: "POST".to_owned(),
            url: format!("{}/api/v1/events", api.public_base_url),
            headers: Vec::new(),
            body: canonical.clone(),
            received_at: SystemClock.now_ms(),
        })
        .await;
    let inbox_id = match appended {
        Ok(Appended::Stored(id)) => id,
        Ok(Appended::Duplicate(id)) => match api.store.delivery(id).await {
            Ok(Some((stored, status))) if stored.delivery.body == canonical => {
                if status == InboxStatus::Dead {
                    return error(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        format!(
                            "the request with Idempotency-Key `{key}` was refused before (see /api/v1/dead-letters); send the corrected request under a new key"
                        ),
                    );
                }
                if status == InboxStatus::Done {
                    let answer = json!({ "status": "duplicate", "inbox_id": id });
                    return (
                        StatusCode::OK,
                        [("idempotent-replayed", "true")],
                        axum::Json(answer),
                    )
                        .into_response();
                }
                id
            }
            Ok(_) => {
                return error(
                    StatusCode::CONFLICT,
                    format!("Idempotency-Key `{key}` was already used for a different request"),
                );
            }
            Err(e) => return store_failure(&e),
        },
        Err(e) => return store_failure(&e),
    };
    let completion = Completion {
        inbox_id,
        topic: "api/events".to_owned(),
        events: parsed.events,
        state: Default::default(),
        program: api.program.clone(),
        plugin_sha256: String::new(),
    };
    match api
        .store
        .complete(vec![completion])
        .await
        .map(|mut r| r.pop())
    {
        Ok(Some(CompletionResult::Applied(applied))) => (
            StatusCode::CREATED,
            axum::Json(json!({
                "status": "applied",
                "inbox_id": inbox_id,
                "changed": applied.changed,
                "unchanged": applied.unchanged,
                "entries": applied.entries,
            })),
        )
            .into_response(),
        Ok(Some(CompletionResult::DeadLettered(message))) => {
            error(StatusCode::UNPROCESSABLE_ENTITY, message)
        }
        Ok(None) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the store returned no result",
        ),
        Err(e) => store_failure(&e),
    }
}
