//! Admin API for reward statements: run a period's now, list what was
//! sent, and preview an account's statement.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use crate::api::{Api, Need, error, json_body, refuse_unauthorized, store_failure};
use crate::core::accounts::AccountId;
use crate::core::analytics::Period;
use crate::runtime::{Clock, SystemClock};
use crate::statements::{Statements, render};

pub(super) fn routes() -> Router<Arc<Api>> {
    Router::new()
        .route("/api/v1/statements", get(list))
        .route("/api/v1/statements/run", post(run))
        .route("/api/v1/accounts/{id}/statement", get(preview))
}

fn not_configured() -> Response {
    error(
        StatusCode::CONFLICT,
        "reward statements are not configured: add [statements] with an outbox to the configuration",
    )
}

/// The period named, or the last one that has ended; a message for a 400.
fn period(statements: &Statements, text: Option<&str>, now: i64) -> Result<Period, String> {
    match text {
        Some(text) => {
            let period = Period::parse(text).map_err(|e| e.to_string())?;
            if period.is_month() || period.is_quarter() {
                Ok(period)
            } else {
                Err(format!(
                    "`{text}` is not a month or a quarter: statements cover one, e.g. 2026-11 or 2026Q4"
                ))
            }
        }
        None => statements
            .due(now)
            .ok_or_else(|| "the clock is out of range".to_owned()),
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RunBody {
    period: Option<String>,
}

async fn run(State(api): State<Arc<Api>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(denied) = refuse_unauthorized(&api, &headers, Need::Write) {
        return denied;
    }
    let Some(statements) = api.statements.as_ref() else {
        return not_configured();
    };
    let body: RunBody = if body.is_empty() {
        RunBody::default()
    } else {
        match json_body(&body, "statement run") {
            Ok(body) => body,
            Err(refused) => return refused,
        }
    };
    let now = SystemClock.now_ms();
    let period = match period(statements, body.period.as_deref(), now) {
        Ok(period) => period,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    match statements.run(&period, now).await {
        Ok(report) => axum::Json(report).into_response(),
        Err(e) => store_failure(&e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    period: Option<String>,
}

async fn list(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> Response {
    if let Some(denied) = refuse_unauthorized(&api, &headers, Need::Read) {
        return denied;
    }
    let Some(statements) = api.statements.as_ref() else {
        return not_configured();
    };
    let period = match period(statements, query.period.as_deref(), SystemClock.now_ms()) {
        Ok(period) => period,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    match api.store.statements(period.label.clone()).await {
        Ok(list) => {
            axum::Json(json!({ "period": period.label, "statements": list })).into_response()
        }
        Err(e) => store_failure(&e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PreviewQuery {
    period: Option<String>,
    format: Option<String>,
}

async fn preview(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Path(id): Path<AccountId>,
    Query(query): Query<PreviewQuery>,
) -> Response {
    if let Some(denied) = refuse_unauthorized(&api, &headers, Need::Read) {
        return denied;
    }
    let Some(statements) = api.statements.as_ref() else {
        return not_configured();
    };
    let now = SystemClock.now_ms();
    let period = match period(statements, query.period.as_deref(), now) {
        Ok(period) => period,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    let format = query.format.as_deref().unwrap_or("json");
    if !["json", "html", "text"].contains(&format) {
        return error(
            StatusCode::BAD_REQUEST,
            format!("format `{format}` is not offered: use json, html or text"),
        );
    }
    // A preview carries no sign-in link: it is not sent to anyone.
    let statement = match statements.statement(id, &period, None, false, now).await {
        Ok(Some(statement)) => statement,
        Ok(None) => return error(StatusCode::NOT_FOUND, format!("no account {id}")),
        Err(e) => return store_failure(&e),
    };
    if format == "json" {
        return axum::Json(statement).into_response();
    }
    match render(&statement) {
        Ok((html, _)) if format == "html" => {
            ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
        }
        Ok((_, text)) => {
            ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
        }
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("rendering the statement: {e}"),
        ),
    }
}
