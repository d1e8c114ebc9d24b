//! Admin API for referrals: an account's referral code and link, the
//! commissions it earned, the referral report, and payout batches with their
//! CSV export. Also the public referral link `/r/{code}`.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use crate::api::{Api, Need, admin_actor, error, json_body, refuse_unauthorized, store_failure};
use crate::runtime::{Clock, SystemClock};
use crate::store::payouts::{PaidOutcome, Payout};

const DAY_MS: i64 = 86_400_000;

/// The referral routes.
pub(crate) fn routes() -> Router<Arc<Api>> {
    Router::new()
        .route("/r/{code}", get(follow_link))
        .route("/api/v1/accounts/{id}/referral-code", get(referral_code))
        .route("/api/v1/accounts/{id}/commissions", get(commissions))
        .route("/api/v1/referrals/report", get(report))
        .route("/api/v1/payouts", get(payouts).post(run_payouts))
        .route("/api/v1/payouts/{id}", get(payout))
        .route("/api/v1/payouts/{id}/paid", post(mark_paid))
}

/// `2026-01-01` (midnight UTC) or an RFC 3339 time, in milliseconds.
pub fn parse_instant(text: &str) -> Option<i64> {
    if let Ok(timestamp) = text.parse::<jiff::Timestamp>() {
        return Some(timestamp.as_millisecond());
    }
    let date = text.parse::<jiff::civil::Date>().ok()?;
    date.to_zoned(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|zoned| zoned.timestamp().as_millisecond())
}

/// The link a referrer shares.
fn link(api: &Api, code: &str) -> String {
    format!("{}/r/{code}", api.public_base_url)
}

async fn follow_link(State(api): State<Arc<Api>>, Path(code): Path<String>) -> Response {
    let Some(landing) = api.program.referrals.landing_url.as_deref() else {
        return error(
            StatusCode::NOT_FOUND,
            "referral links are not served: set landing_url in [program.referrals]",
        );
    };
    match api.store.referral_code_owner(code.clone()).await {
        Ok(Some(_)) => {
            let mut target = match url::Url::parse(landing) {
                Ok(url) => url,
                Err(e) => {
                    return error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        format!("landing_url `{landing}` is not a URL: {e}"),
                    );
                }
            };
            target
                .query_pairs_mut()
                .append_pair("ref", &code.trim().to_ascii_uppercase());
            (StatusCode::FOUND, [(header::LOCATION, target.to_string())]).into_response()
        }
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no referral code `{code}`")),
        Err(e) => store_failure(&e),
    }
}

async fn referral_code(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    if let Some(denied) = refuse_unauthorized(&api, &headers, Need::Read) {
        return denied;
    }
    let prefix = api.program.referrals.code_prefix.clone();
    match api.store.referral_code(id, prefix).await {
        Ok(Some(code)) => axum::Json(json!({
            "account_id": id,
            "code": code,
            "link": api.program.referrals.landing_url.as_ref().map(|_| link(&api, &code)),
        }))
        .into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no account {id}")),
        Err(e) => store_failure(&e),
    }
}

async fn commissions(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    if let Some(denied) = refuse_unauthorized(&api, &headers, Need::Read) {
        return denied;
    }
    match api.store.account(id).await {
        Ok(Some(_)) => {}
        Ok(None) => return error(StatusCode::NOT_FOUND, format!("no account {id}")),
        Err(e) => return store_failure(&e),
    }
    match api.store.commissions(id).await {
        Ok(list) => axum::Json(json!({ "account_id": id, "commissions": list })).into_response(),
        Err(e) => store_failure(&e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PeriodQuery {
    from: Option<String>,
    to: Option<String>,
}

async fn report(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Query(query): Query<PeriodQuery>,
) -> Response {
    if let Some(denied) = refuse_unauthorized(&api, &headers, Need::Read) {
        return denied;
    }
    let now = SystemClock.now_ms();
    let bound = |value: Option<&String>, name: &str, default: i64| match value {
        None => Ok(default),
        Some(text) => parse_instant(text).ok_or_else(|| {
            format!("`{name}` `{text}` is not a date (2026-01-01) or an RFC 3339 time")
        }),
    };
    let to = match bound(query.to.as_ref(), "to", now.saturating_add(1)) {
        Ok(to) => to,
        Err(problem) => return error(StatusCode::BAD_REQUEST, problem),
    };
    let from = match bound(query.from.as_ref(), "from", to.saturating_sub(365 * DAY_MS)) {
        Ok(from) => from,
        Err(problem) => return error(StatusCode::BAD_REQUEST, problem),
    };
    if from >= to {
        return error(
            StatusCode::BAD_REQUEST,
            "`from` must be before `to` (the period is [from, to))",
        );
    }
    match api
        .store
        .referral_report(from, to, api.program.currency.clone())
        .await
    {
        Ok(report) => axum::Json(report).into_response(),
        Err(e) => store_failure(&e),
    }
}

async fn run_payouts(State(api): State<Arc<Api>>, headers: HeaderMap) -> Response {
    let actor = match admin_actor(&api, &headers) {
        Ok(actor) => actor,
        Err(refused) => return refused,
    };
    let schedule = api.program.referrals.payouts;
    match api
        .store
        .run_payouts(schedule, api.program.currency.clone(), actor)
        .await
    {
        Ok(Some(payout)) => (StatusCode::CREATED, axum::Json(payout)).into_response(),
        Ok(None) => axum::Json(json!({
            "payout": null,
            "schedule": schedule,
            "reason": "no batch is due: it exists already, or no referrer is owed money",
        }))
        .into_response(),
        Err(e) => store_failure(&e),
    }
}

async fn payouts(State(api): State<Arc<Api>>, headers: HeaderMap) -> Response {
    if let Some(denied) = refuse_unauthorized(&api, &headers, Need::Read) {
        return denied;
    }
    match api.store.payouts().await {
        Ok(list) => axum::Json(json!({ "payouts": list })).into_response(),
        Err(e) => store_failure(&e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportQuery {
    format: Option<String>,
}

async fn payout(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Query(query): Query<ExportQuery>,
) -> Response {
    if let Some(denied) = refuse_unauthorized(&api, &headers, Need::Read) {
        return denied;
    }
    let csv = match query.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("`format` `{other}` is not known: use json or csv"),
            );
        }
    };
    match api.store.payout(id).await {
        Ok(Some(payout)) if csv => match payout_csv(&payout) {
            Ok(text) => (
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"payout-{id}.csv\""),
                    ),
                ],
                text,
            )
                .into_response(),
            Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        },
        Ok(Some(payout)) => axum::Json(payout).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no payout {id}")),
        Err(e) => store_failure(&e),
    }
}

/// A payout as CSV: one row per referrer, for accounts payable.
pub fn payout_csv(payout: &Payout) -> Result<String, csv::Error> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record([
        "payout_id",
        "payout_key",
        "referrer_account_id",
        "referrer_name",
        "tax_id",
        "amount",
        "currency",
        "commissions",
    ])?;
    for line in &payout.lines {
        writer.write_record([
            payout.id.to_string(),
            payout.key.clone(),
            line.referrer.to_string(),
            line.name.clone(),
            line.tax_id.clone().unwrap_or_default(),
            line.amount.to_string(),
            payout.currency.clone(),
            line.commissions.to_string(),
        ])?;
    }
    let bytes = writer.into_inner().map_err(|e| e.into_error())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PaidBody {
    #[serde(default)]
    reference: Option<String>,
}

async fn mark_paid(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    body: Bytes,
) -> Response {
    let actor = match admin_actor(&api, &headers) {
        Ok(actor) => actor,
        Err(refused) => return refused,
    };
    let parsed: PaidBody = if body.is_empty() {
        PaidBody { reference: None }
    } else {
        match json_body(&body, "payment") {
            Ok(parsed) => parsed,
            Err(refused) => return refused,
        }
    };
    match api
        .store
        .mark_payout_paid(id, actor, parsed.reference)
        .await
    {
        Ok(PaidOutcome::Marked(payout)) => axum::Json(payout).into_response(),
        Ok(PaidOutcome::AlreadyPaid(payout)) => error(
            StatusCode::CONFLICT,
            format!(
                "payout {id} was marked paid at {} by {}: a payout is never paid twice",
                payout.paid_at.unwrap_or_default(),
                payout.paid_by.as_deref().unwrap_or("?")
            ),
        ),
        Ok(PaidOutcome::Unknown) => error(StatusCode::NOT_FOUND, format!("no payout {id}")),
        Err(e) => store_failure(&e),
    }
}
