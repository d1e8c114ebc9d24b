//! Admin API for campaigns: define (draft or scheduled), replace before the
//! start, schedule, cancel, read with delivery counts, and the results
//! report with the attribution against the holdout.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use crate::api::{Api, Need, admin_actor, error, json_body, refuse_unauthorized, store_failure};
use crate::campaigns::{CampaignSpec, check};
use crate::core::campaigns::CampaignStatus;
use crate::runtime::{Clock, SystemClock};
use crate::store::campaigns::{CampaignOutcome, Transition};
use crate::store::segments::Origin;

/// The campaign routes.
pub(crate) fn routes() -> Router<Arc<Api>> {
    Router::new()
        .route("/api/v1/campaigns", get(list).post(create))
        .route("/api/v1/campaigns/{id}", get(show).put(replace))
        .route("/api/v1/campaigns/{id}/schedule", post(schedule))
        .route("/api/v1/campaigns/{id}/cancel", post(cancel))
        .route("/api/v1/campaigns/{id}/report", get(report))
        .route("/api/v1/campaigns/{id}/deliveries", get(deliveries))
}

async fn list(State(api): State<Arc<Api>>, headers: HeaderMap) -> Response {
    if let Some(denied) = refuse_unauthorized(&api, &headers, Need::Read) {
        return denied;
    }
    match api.store.campaigns().await {
        Ok(campaigns) => axum::Json(json!({ "campaigns": campaigns })).into_response(),
        Err(e) => store_failure(&e),
    }
}

async fn show(State(api): State<Arc<Api>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Some(denied) = refuse_unauthorized(&api, &headers, Need::Read) {
        return denied;
    }
    match api.store.campaign(id.clone()).await {
        Ok(Some(campaign)) => axum::Json(campaign).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no campaign `{id}`")),
        Err(e) => store_failure(&e),
    }
}

async fn report(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(denied) = refuse_unauthorized(&api, &headers, Need::Read) {
        return denied;
    }
    match api.store.campaign_report(id.clone()).await {
        Ok(Some(report)) => axum::Json(report).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no campaign `{id}`")),
        Err(e) => store_failure(&e),
    }
}

async fn deliveries(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(denied) = refuse_unauthorized(&api, &headers, Need::Read) {
        return denied;
    }
    match api.store.campaign_deliveries(id.clone()).await {
        Ok(Some(list)) => axum::Json(json!({ "campaign": id, "deliveries": list })).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no campaign `{id}`")),
        Err(e) => store_failure(&e),
    }
}

fn not_allowed(id: &str, status: CampaignStatus) -> Response {
    error(
        StatusCode::CONFLICT,
        format!(
            "campaign `{id}` is {}: only a draft or scheduled campaign changes",
            status.as_str()
        ),
    )
}

fn config_owned(id: &str) -> Response {
    error(
        StatusCode::CONFLICT,
        format!(
            "campaign `{id}` is defined in the configuration file: change it there ([[campaigns]])"
        ),
    )
}

/// The answer to saving a definition: 201 created, 200 replaced, 409.
fn saved(id: &str, outcome: CampaignOutcome) -> Response {
    match outcome {
        CampaignOutcome::Created(campaign) => {
            (StatusCode::CREATED, axum::Json(campaign)).into_response()
        }
        CampaignOutcome::Done(campaign) => axum::Json(campaign).into_response(),
        CampaignOutcome::NotAllowed(status) => not_allowed(id, status),
        CampaignOutcome::ConfigOwned | CampaignOutcome::Unknown => config_owned(id),
    }
}

/// The answer to scheduling or cancelling: 200, 404, 409.
fn moved(id: &str, outcome: CampaignOutcome) -> Response {
    match outcome {
        CampaignOutcome::Created(campaign) | CampaignOutcome::Done(campaign) => {
            axum::Json(campaign).into_response()
        }
        CampaignOutcome::NotAllowed(status) => not_allowed(id, status),
        CampaignOutcome::ConfigOwned => config_owned(id),
        CampaignOutcome::Unknown => error(StatusCode::NOT_FOUND, format!("no campaign `{id}`")),
    }
}

async fn define(api: &Api, id: &str, spec: &CampaignSpec, actor: String) -> Response {
    let channels: Vec<String> = api.endpoints.keys().cloned().collect();
    let definition = match check(id, spec, &api.program, &channels, Origin::Api) {
        Ok(definition) => definition,
        Err(problems) => return error(StatusCode::UNPROCESSABLE_ENTITY, problems.join("; ")),
    };
    match api.store.segment(definition.segment.clone()).await {
        Ok(Some(_)) => {}
        Ok(None) => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!(
                    "`segment` `{}` does not exist: define it first",
                    definition.segment
                ),
            );
        }
        Err(e) => return store_failure(&e),
    }
    match api.store.save_campaign(definition, actor).await {
        Ok(outcome) => saved(id, outcome),
        Err(e) => store_failure(&e),
    }
}

async fn create(State(api): State<Arc<Api>>, headers: HeaderMap, body: Bytes) -> Response {
    let actor = match admin_actor(&api, &headers) {
        Ok(actor) => actor,
        Err(refused) => return refused,
    };
    let spec: CampaignSpec = match json_body(&body, "campaign") {
        Ok(spec) => spec,
        Err(refused) => return refused,
    };
    let Some(id) = spec.id.clone() else {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "`id` is missing: name the campaign with a stable id, e.g. \"spring-offer\"",
        );
    };
    match api.store.campaign(id.clone()).await {
        Ok(Some(_)) => error(
            StatusCode::CONFLICT,
            format!(
                "campaign `{id}` exists: choose another id (PUT /api/v1/campaigns/{id} replaces a draft or scheduled campaign made through the API)"
            ),
        ),
        Ok(None) => define(&api, &id, &spec, actor).await,
        Err(e) => store_failure(&e),
    }
}

async fn replace(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let actor = match admin_actor(&api, &headers) {
        Ok(actor) => actor,
        Err(refused) => return refused,
    };
    let spec: CampaignSpec = match json_body(&body, "campaign") {
        Ok(spec) => spec,
        Err(refused) => return refused,
    };
    if spec.id.as_ref().is_some_and(|given| *given != id) {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("`id` in the body differs from `{id}` in the path"),
        );
    }
    define(&api, &id, &spec, actor).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleBody {
    #[serde(default)]
    send_at: Option<i64>,
}

async fn schedule(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let actor = match admin_actor(&api, &headers) {
        Ok(actor) => actor,
        Err(refused) => return refused,
    };
    let parsed: ScheduleBody = if body.is_empty() {
        ScheduleBody { send_at: None }
    } else {
        match json_body(&body, "schedule") {
            Ok(parsed) => parsed,
            Err(refused) => return refused,
        }
    };
    let at = parsed.send_at.unwrap_or_else(|| SystemClock.now_ms());
    match api
        .store
        .transition_campaign(id.clone(), Transition::Schedule(at), actor)
        .await
    {
        Ok(done) => moved(&id, done),
        Err(e) => store_failure(&e),
    }
}

async fn cancel(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let actor = match admin_actor(&api, &headers) {
        Ok(actor) => actor,
        Err(refused) => return refused,
    };
    match api
        .store
        .transition_campaign(id.clone(), Transition::Cancel, actor)
        .await
    {
        Ok(done) => moved(&id, done),
        Err(e) => store_failure(&e),
    }
}
