//! Admin API for segments: list, define (API segments), delete, preview a
//! filter before saving it, read a segment's materialized members, and
//! refresh membership now.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use crate::api::{Api, Need, admin_actor, error, json_body, refuse_unauthorized, store_failure};
use crate::store::segments::{DefinitionError, Origin, SaveOutcome, SegmentDefinition};

/// Members a preview or a segment read shows by default.
const SAMPLE_DEFAULT: u32 = 10;
/// The most members one read returns.
const MEMBERS_MAX: u32 = 10_000;

/// The segment routes.
pub(crate) fn routes() -> Router<Arc<Api>> {
    Router::new()
        .route("/api/v1/segments", get(list).post(create))
        .route("/api/v1/segments/preview", post(preview))
        .route("/api/v1/segments/refresh", post(refresh))
        .route(
            "/api/v1/segments/{id}",
            get(show).put(replace).delete(remove),
        )
        .route("/api/v1/segments/{id}/members", get(members))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SegmentBody {
    id: Option<String>,
    name: String,
    #[serde(default)]
    description: Option<String>,
    filter: String,
    #[serde(default)]
    contacts: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PreviewBody {
    filter: String,
    #[serde(default)]
    contacts: Option<String>,
    #[serde(default)]
    sample: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SampleQuery {
    sample: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitQuery {
    limit: Option<u32>,
}

async fn list(State(api): State<Arc<Api>>, headers: HeaderMap) -> Response {
    if let Some(denied) = refuse_unauthorized(&api, &headers, Need::Read) {
        return denied;
    }
    match api.store.segments().await {
        Ok(segments) => axum::Json(json!({ "segments": segments })).into_response(),
        Err(e) => store_failure(&e),
    }
}

async fn show(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<SampleQuery>,
) -> Response {
    if let Some(denied) = refuse_unauthorized(&api, &headers, Need::Read) {
        return denied;
    }
    let segment = match api.store.segment(id.clone()).await {
        Ok(Some(segment)) => segment,
        Ok(None) => return error(StatusCode::NOT_FOUND, format!("no segment `{id}`")),
        Err(e) => return store_failure(&e),
    };
    let sample = query.sample.unwrap_or(SAMPLE_DEFAULT).min(MEMBERS_MAX);
    match api.store.segment_members(id, sample).await {
        Ok(members) => axum::Json(json!({
            "segment": segment,
            "sample": members.unwrap_or_default(),
        }))
        .into_response(),
        Err(e) => store_failure(&e),
    }
}

async fn members(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<LimitQuery>,
) -> Response {
    if let Some(denied) = refuse_unauthorized(&api, &headers, Need::Read) {
        return denied;
    }
    let limit = query.limit.unwrap_or(MEMBERS_MAX).min(MEMBERS_MAX);
    match api.store.segment_members(id.clone(), limit).await {
        Ok(Some(members)) => {
            axum::Json(json!({ "segment": id, "members": members })).into_response()
        }
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no segment `{id}`")),
        Err(e) => store_failure(&e),
    }
}

fn definition(id: &str, body: SegmentBody) -> Result<SegmentDefinition, DefinitionError> {
    SegmentDefinition::new(
        id,
        &body.name,
        body.description,
        &body.filter,
        body.contacts.as_deref(),
        Origin::Api,
    )
}

async fn save(api: &Api, definition: SegmentDefinition, actor: String) -> Response {
    let id = definition.id.clone();
    let saved = match api.store.save_segment(definition, actor).await {
        Ok(saved) => saved,
        Err(e) => return store_failure(&e),
    };
    // A new or changed filter is materialized before the answer, so the
    // size in it is current.
    if let Err(e) = api.store.refresh_segments(api.program.clone()).await {
        return store_failure(&e);
    }
    let current = match api.store.segment(id.clone()).await {
        Ok(current) => current,
        Err(e) => return store_failure(&e),
    };
    match (saved, current) {
        (SaveOutcome::Created(_), Some(view)) => {
            (StatusCode::CREATED, axum::Json(view)).into_response()
        }
        (SaveOutcome::Updated(_), Some(view)) => axum::Json(view).into_response(),
        (SaveOutcome::ConfigOwned, _) => error(
            StatusCode::CONFLICT,
            format!(
                "segment `{id}` is defined in the configuration file: change it there ([[segments]])"
            ),
        ),
        (_, None) => error(StatusCode::NOT_FOUND, format!("no segment `{id}`")),
    }
}

async fn create(State(api): State<Arc<Api>>, headers: HeaderMap, body: Bytes) -> Response {
    let actor = match admin_actor(&api, &headers) {
        Ok(actor) => actor,
        Err(refused) => return refused,
    };
    let mut parsed: SegmentBody = match json_body(&body, "segment") {
        Ok(parsed) => parsed,
        Err(refused) => return refused,
    };
    let Some(id) = parsed.id.take() else {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "`id` is missing: name the segment with a stable id, e.g. \"gold-procurement\"",
        );
    };
    match api.store.segment(id.clone()).await {
        Ok(Some(_)) => {
            return error(
                StatusCode::CONFLICT,
                format!(
                    "segment `{id}` exists: choose another id (PUT /api/v1/segments/{id} replaces a segment made through the API)"
                ),
            );
        }
        Ok(None) => {}
        Err(e) => return store_failure(&e),
    }
    match definition(&id, parsed) {
        Ok(definition) => save(&api, definition, actor).await,
        Err(e) => error(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
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
    let parsed: SegmentBody = match json_body(&body, "segment") {
        Ok(parsed) => parsed,
        Err(refused) => return refused,
    };
    if parsed.id.as_ref().is_some_and(|given| *given != id) {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("`id` in the body differs from `{id}` in the path"),
        );
    }
    match definition(&id, parsed) {
        Ok(definition) => save(&api, definition, actor).await,
        Err(e) => error(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
    }
}

async fn remove(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let actor = match admin_actor(&api, &headers) {
        Ok(actor) => actor,
        Err(refused) => return refused,
    };
    match api.store.delete_segment(id.clone(), actor).await {
        Ok(Some(true)) => StatusCode::NO_CONTENT.into_response(),
        Ok(Some(false)) => error(
            StatusCode::CONFLICT,
            format!(
                "segment `{id}` is defined in the configuration file: remove it there ([[segments]])"
            ),
        ),
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no segment `{id}`")),
        Err(e) => store_failure(&e),
    }
}

async fn preview(State(api): State<Arc<Api>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(denied) = refuse_unauthorized(&api, &headers, Need::Read) {
        return denied;
    }
    let parsed: PreviewBody = match json_body(&body, "preview") {
        Ok(parsed) => parsed,
        Err(refused) => return refused,
    };
    let sample = parsed.sample.unwrap_or(SAMPLE_DEFAULT).min(MEMBERS_MAX);
    let definition = match SegmentDefinition::new(
        "preview",
        "preview",
        None,
        &parsed.filter,
        parsed.contacts.as_deref(),
        Origin::Api,
    ) {
        Ok(definition) => definition,
        Err(e) => return error(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
    };
    match api
        .store
        .preview_segment(
            api.program.clone(),
            definition,
            usize::try_from(sample).unwrap_or(usize::MAX),
        )
        .await
    {
        Ok((size, members)) => {
            axum::Json(json!({ "size": size, "sample": members })).into_response()
        }
        Err(e) => store_failure(&e),
    }
}

async fn refresh(State(api): State<Arc<Api>>, headers: HeaderMap) -> Response {
    if let Err(refused) = admin_actor(&api, &headers) {
        return refused;
    }
    match api.store.refresh_segments(api.program.clone()).await {
        Ok(report) => axum::Json(report).into_response(),
        Err(e) => store_failure(&e),
    }
}
