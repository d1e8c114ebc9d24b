//! Admin API for analytics: a period's figures, the goals' progress and the
//! quarterly review (as JSON, or as the same HTML page the CLI writes).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::json;

use crate::api::{Api, Need, error, refuse_unauthorized, store_failure};
use crate::core::analytics::Period;
use crate::report;
use crate::runtime::{Clock, SystemClock};

/// The analytics routes.
pub(crate) fn routes() -> Router<Arc<Api>> {
    Router::new()
        .route("/api/v1/analytics", get(analytics))
        .route("/api/v1/goals", get(goals))
        .route("/api/v1/reports/quarterly", get(quarterly))
}

/// `period` (or `quarter`) as given, or the current quarter; a message
/// for a 400 otherwise.
fn period(text: Option<&str>, now: i64) -> Result<Period, String> {
    match text {
        Some(text) => Period::parse(text).map_err(|e| e.to_string()),
        None => Period::quarter_of(now).ok_or_else(|| "the clock is out of range".to_owned()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PeriodQuery {
    period: Option<String>,
}

async fn analytics(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Query(query): Query<PeriodQuery>,
) -> Response {
    if let Some(denied) = refuse_unauthorized(&api, &headers, Need::Read) {
        return denied;
    }
    let period = match period(query.period.as_deref(), SystemClock.now_ms()) {
        Ok(period) => period,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    match report::analytics(api.store.as_ref(), api.program.clone(), &period).await {
        Ok(report) => axum::Json(report).into_response(),
        Err(e) => store_failure(&e),
    }
}

async fn goals(State(api): State<Arc<Api>>, headers: HeaderMap) -> Response {
    if let Some(denied) = refuse_unauthorized(&api, &headers, Need::Read) {
        return denied;
    }
    let now = SystemClock.now_ms();
    match report::goals(api.store.as_ref(), api.program.clone(), &api.goals, now).await {
        Ok(goals) => axum::Json(json!({ "at": now, "goals": goals })).into_response(),
        Err(e) => store_failure(&e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReviewQuery {
    quarter: Option<String>,
    format: Option<String>,
}

async fn quarterly(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Query(query): Query<ReviewQuery>,
) -> Response {
    if let Some(denied) = refuse_unauthorized(&api, &headers, Need::Read) {
        return denied;
    }
    let now = SystemClock.now_ms();
    let quarter = match period(query.quarter.as_deref(), now) {
        Ok(quarter) => quarter,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    if !quarter.is_quarter() {
        return error(
            StatusCode::BAD_REQUEST,
            format!("`{quarter}` is not a quarter: name one like 2026Q3"),
        );
    }
    let html = match query.format.as_deref() {
        None | Some("json") => false,
        Some("html") => true,
        Some(other) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("format `{other}` is not offered: use json or html"),
            );
        }
    };
    let review = match report::quarterly(
        api.store.as_ref(),
        api.program.clone(),
        &api.goals,
        &quarter,
        now,
    )
    .await
    {
        Ok(review) => review,
        Err(e) => return store_failure(&e),
    };
    if !html {
        return axum::Json(review).into_response();
    }
    match report::render(&review, now) {
        Ok(page) => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response(),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("rendering the review: {e}"),
        ),
    }
}
