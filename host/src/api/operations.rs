//! What operators and their tools call: readiness with each connector's
//! circuit breaker, Prometheus metrics, reloading a connector, and the
//! leases that share work between daemons on one database.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::api::{
    Api, Need, admin_actor, error, may_read, refuse_unauthorized, store_failure, unavailable,
};
use crate::reload::ReloadError;
use crate::runtime::CircuitState;

/// The operations routes.
pub(crate) fn routes() -> Router<Arc<Api>> {
    Router::new()
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/v1/connectors/{name}/reload", post(reload))
        .route("/api/v1/cluster", get(cluster))
}

/// This instance's name, every lease (who holds it, until when, and
/// whether it is this instance) and the latest scheduled runs.
async fn cluster(State(api): State<Arc<Api>>, headers: HeaderMap) -> Response {
    if let Some(denied) = refuse_unauthorized(&api, &headers, Need::Read) {
        return denied;
    }
    let view = match api.store.cluster().await {
        Ok(view) => view,
        Err(e) => return store_failure(&e),
    };
    let now = jiff::Timestamp::now().as_millisecond();
    let leases: Vec<Value> = view
        .leases
        .iter()
        .map(|lease| {
            json!({
                "name": lease.name,
                "holder": lease.holder,
                "acquired_at": lease.acquired_at,
                "expires_at": lease.expires_at,
                "mine": lease.holder == api.instance_id,
                "lapsed": lease.expires_at <= now,
            })
        })
        .collect();
    axum::Json(json!({
        "instance": api.instance_id,
        "leases": leases,
        "runs": view.runs,
    }))
    .into_response()
}

/// 503 once shutdown began or when the store does not answer; otherwise
/// 200, `degraded` while a connector's circuit breaker is not closed (the
/// daemon still stores that connector's webhooks; they wait). The last
/// error and the component's digest are shown to admin and analyst tokens
/// only: without a token, a load balancer learns the state and no more.
async fn readyz(State(api): State<Arc<Api>>, headers: HeaderMap) -> Response {
    if !api.ready.load(Ordering::Relaxed) {
        return unavailable("shutting down");
    }
    if let Err(e) = api.store.ping().await {
        return store_failure(&e);
    }
    let detailed = may_read(&api, &headers);
    let mut degraded = false;
    let connectors: serde_json::Map<String, Value> = api
        .endpoints
        .iter()
        .map(|(name, endpoint)| {
            let circuit = endpoint.plugin.circuit();
            degraded |= circuit.state != CircuitState::Closed;
            let retry_in_ms = circuit
                .retry_in
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
            let mut health = json!({
                "circuit": circuit.state.as_str(),
                "operation": circuit.operation,
                "failures": circuit.failures,
                "retry_in_ms": retry_in_ms,
                "opened": circuit.opened,
            });
            if detailed {
                health["last_error"] = json!(circuit.last_error);
                health["sha256"] = json!(endpoint.plugin.wasm_sha256());
            }
            (name.clone(), health)
        })
        .collect();
    let status = if degraded { "degraded" } else { "ready" };
    axum::Json(json!({ "status": status, "connectors": connectors })).into_response()
}

/// The OpenMetrics text format; admin and analyst tokens may read it (an
/// analyst token is enough for a scraper).
async fn metrics(State(api): State<Arc<Api>>, headers: HeaderMap) -> Response {
    if let Some(denied) = refuse_unauthorized(&api, &headers, Need::Read) {
        return denied;
    }
    match api.metrics.render(&api).await {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => store_failure(&e),
    }
}

/// Reads the configuration again and swaps in the connector's component.
async fn reload(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    let actor = match admin_actor(&api, &headers) {
        Ok(actor) => actor,
        Err(denied) => return denied,
    };
    let Some(reloader) = &api.reloader else {
        return error(
            StatusCode::CONFLICT,
            "this API runs without a daemon: there is nothing to reload",
        );
    };
    let report = match reloader.reload(Some(&name)).await {
        Ok(report) => report,
        Err(e @ ReloadError::Unknown(_)) => return error(StatusCode::NOT_FOUND, e.to_string()),
        Err(e @ ReloadError::Config(_)) => {
            return error(StatusCode::UNPROCESSABLE_ENTITY, e.to_string());
        }
    };
    let Some(outcome) = report.connectors.first() else {
        return error(
            StatusCode::CONFLICT,
            format!(
                "connector `{name}` is no longer in the configuration; it keeps running until the restart"
            ),
        );
    };
    if !outcome.reloaded {
        let mut answer = json!({
            "error": format!(
                "the new component of `{name}` did not load; the old one keeps running: {}",
                outcome.error.as_deref().unwrap_or_default()
            ),
        });
        answer["report"] = json!(report);
        return (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(answer)).into_response();
    }
    if let Err(e) = api
        .store
        .record_audit(
            actor,
            "connector.reload".to_owned(),
            format!("connector:{name}"),
            Some(json!({ "sha256": outcome.sha256_before })),
            Some(json!({ "sha256": outcome.sha256 })),
        )
        .await
    {
        return store_failure(&e);
    }
    axum::Json(json!(report)).into_response()
}
