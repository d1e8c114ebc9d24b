//! Admin API for scores: program and account NPS, lifetime value, the
//! loyalty rate and the accounts eligible to be invited.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::{Api, Need, error, refuse_unauthorized, store_failure};
use crate::core::profiles::{ProgramScores, Scored};
use crate::core::scoring::NpsClass;
use crate::runtime::{Clock, SystemClock};

/// Accounts a CLV listing shows by default.
const LIMIT_DEFAULT: usize = 50;

/// The insight routes.
pub(crate) fn routes() -> Router<Arc<Api>> {
    Router::new()
        .route("/api/v1/insights/nps", get(nps))
        .route("/api/v1/insights/clv", get(clv))
        .route("/api/v1/insights/loyalty", get(loyalty))
        .route("/api/v1/accounts/{id}/scores", get(account_scores))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitQuery {
    limit: Option<usize>,
}

async fn scores(api: &Api, headers: &HeaderMap) -> Result<(Vec<Scored>, ProgramScores), Response> {
    if let Some(denied) = refuse_unauthorized(api, headers, Need::Read) {
        return Err(denied);
    }
    api.store
        .scores(api.program.clone())
        .await
        .map_err(|e| store_failure(&e))
}

async fn nps(State(api): State<Arc<Api>>, headers: HeaderMap) -> Response {
    let (accounts, program) = match scores(&api, &headers).await {
        Ok(scores) => scores,
        Err(refused) => return refused,
    };
    let accounts: Vec<Value> = accounts
        .iter()
        .filter(|s| s.nps.respondents > 0)
        .map(|s| {
            json!({
                "account_id": s.profile.id,
                "name": s.profile.name,
                "nps": s.nps,
            })
        })
        .collect();
    axum::Json(json!({
        "window_days": api.program.scoring.nps_window_days,
        "program": program.nps,
        "accounts": accounts,
    }))
    .into_response()
}

async fn clv(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Query(query): Query<LimitQuery>,
) -> Response {
    let (mut accounts, program) = match scores(&api, &headers).await {
        Ok(scores) => scores,
        Err(refused) => return refused,
    };
    accounts.sort_by(|a, b| {
        b.clv
            .revenue
            .cmp(&a.clv.revenue)
            .then(a.profile.id.cmp(&b.profile.id))
    });
    let listed: Vec<Value> = accounts
        .iter()
        .take(query.limit.unwrap_or(LIMIT_DEFAULT))
        .map(|s| json!({ "account_id": s.profile.id, "name": s.profile.name, "clv": s.clv }))
        .collect();
    axum::Json(json!({
        "currency": api.program.currency,
        "margin_rate": api.program.scoring.margin_rate.map(|r| r.to_string()),
        "retention": program.retention,
        "expected_lifetime_years": program.expected_lifetime_years.to_string(),
        "accounts": listed,
    }))
    .into_response()
}

async fn loyalty(State(api): State<Arc<Api>>, headers: HeaderMap) -> Response {
    let (accounts, program) = match scores(&api, &headers).await {
        Ok(scores) => scores,
        Err(refused) => return refused,
    };
    let now = SystemClock.now_ms();
    let rules = &api.program.membership.eligibility;
    let summary = |s: &Scored| {
        json!({
            "account_id": s.profile.id,
            "name": s.profile.name,
            "status": s.profile.status,
            "nps_class": s.profile.nps_class.map(NpsClass::as_str),
            "clv": s.profile.clv.to_string(),
            "loyal": s.profile.loyal,
        })
    };
    let loyal: Vec<Value> = accounts
        .iter()
        .filter(|s| s.profile.loyal)
        .map(summary)
        .collect();
    let eligible: Vec<Value> = accounts
        .iter()
        .filter(|s| matches!(s.profile.status.as_deref(), None | Some("invited")))
        .filter(|s| s.meets(rules, now))
        .map(summary)
        .collect();
    axum::Json(json!({
        "rate": program.loyalty_rate.map(|r| r.to_string()),
        "loyal": program.loyal,
        "accounts": program.accounts,
        "rule": api.program.scoring.loyalty,
        "loyal_accounts": loyal,
        "eligible": eligible,
    }))
    .into_response()
}

async fn account_scores(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    let (accounts, _) = match scores(&api, &headers).await {
        Ok(scores) => scores,
        Err(refused) => return refused,
    };
    let Some(account) = accounts.iter().find(|s| s.profile.id == id) else {
        return error(
            StatusCode::NOT_FOUND,
            format!("no account {id} (merged accounts are scored with their survivor)"),
        );
    };
    let responses: Vec<Value> = account
        .latest
        .iter()
        .map(|r| {
            json!({
                "contact_id": (r.respondent > 0).then_some(r.respondent),
                "score": r.score,
                "class": NpsClass::of(r.score).as_str(),
                "answered_at": r.at,
            })
        })
        .collect();
    axum::Json(json!({
        "account_id": id,
        "nps": account.nps,
        "responses": responses,
        "clv": account.clv,
        "loyal": account.profile.loyal,
    }))
    .into_response()
}
