//! Admin API for the program: its rules, tiers, rewards catalog and terms;
//! redemptions; an account's membership, tags, tier history and expiring
//! points; running the scheduled jobs now.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::api::{
    Api, Need, admin_actor, error, idempotency_key, json_body, missing_idempotency_key,
    refuse_unauthorized, store_failure,
};
use crate::core::membership::MembershipStatus;
use crate::core::rewards::{RedemptionError, RedemptionStatus};
use crate::runtime::{Clock, SystemClock};
use crate::store::{
    AcceptanceOutcome, AccountChange, ChangeOutcome, MergeOutcome, MergeRequest, RedeemOutcome,
    RedeemRequest, ReferralOutcome, ReferralRequest, SettleOutcome, SettleRequest, TermsAcceptance,
};

const DAY_MS: i64 = 86_400_000;

/// The program routes.
pub(crate) fn routes() -> Router<Arc<Api>> {
    Router::new()
        .route("/api/v1/program", get(program))
        .route("/api/v1/tiers", get(tiers))
        .route("/api/v1/rewards", get(rewards))
        .route("/api/v1/terms", get(terms))
        .route("/api/v1/redemptions", get(all_redemptions))
        .route("/api/v1/redemptions/{id}/fulfil", post(fulfil))
        .route("/api/v1/redemptions/{id}/fail", post(fail))
        .route(
            "/api/v1/accounts/{id}/redemptions",
            post(redeem).get(account_redemptions),
        )
        .route("/api/v1/accounts/{id}/membership", put(membership))
        .route("/api/v1/accounts/{id}/tags", put(tags))
        .route("/api/v1/accounts/{id}/tier-history", get(tier_history))
        .route("/api/v1/accounts/{id}/expiring", get(expiring))
        .route("/api/v1/jobs/run", post(run_jobs))
        .route("/api/v1/accounts/{id}/merge", post(merge))
        .route(
            "/api/v1/accounts/{id}/terms-acceptances",
            post(accept_terms).get(accepted_terms),
        )
        .route(
            "/api/v1/accounts/{id}/referrals",
            post(record_referral).get(referrals),
        )
        .route("/api/v1/audit-log", get(audit_log))
}

/// The answer for an account that does not exist, or `None` when it does.
async fn unknown_account(api: &Api, id: i64) -> Option<Response> {
    match api.store.account(id).await {
        Ok(Some(_)) => None,
        Ok(None) => Some(error(StatusCode::NOT_FOUND, format!("no account {id}"))),
        Err(e) => Some(store_failure(&e)),
    }
}

async fn program(State(api): State<Arc<Api>>, headers: HeaderMap) -> Response {
    if let Some(denied) = refuse_unauthorized(&api, &headers, Need::Read) {
        return denied;
    }
    axum::Json(api.program.as_ref()).into_response()
}

async fn tiers(State(api): State<Arc<Api>>, headers: HeaderMap) -> Response {
    if let Some(denied) = refuse_unauthorized(&api, &headers, Need::Read) {
        return denied;
    }
    axum::Json(&api.program.tiers).into_response()
}

async fn rewards(State(api): State<Arc<Api>>, headers: HeaderMap) -> Response {
    if let Some(denied) = refuse_unauthorized(&api, &headers, Need::Read) {
        return denied;
    }
    axum::Json(json!({ "rewards": api.program.rewards })).into_response()
}

async fn terms(State(api): State<Arc<Api>>, headers: HeaderMap) -> Response {
    if let Some(denied) = refuse_unauthorized(&api, &headers, Need::Read) {
        return denied;
    }
    match api.program.terms_at(SystemClock.now_ms()) {
        Some(terms) => axum::Json(terms).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            "the program has no terms in force ([[program.terms]])",
        ),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RedeemBody {
    reward: String,
    contact: Option<String>,
}

async fn redeem(
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
    let parsed: RedeemBody = match json_body(&body, "redemption") {
        Ok(parsed) => parsed,
        Err(refused) => return refused,
    };
    let canonical = json!({ "account_id": id, "reward": parsed.reward, "contact": parsed.contact });
    let request = RedeemRequest {
        account_id: id,
        reward_id: parsed.reward,
        contact: parsed.contact,
        idempotency_key: key.to_owned(),
        request_sha256: hex::encode(Sha256::digest(canonical.to_string().as_bytes())),
        program: api.program.clone(),
        actor,
    };
    match api.store.redeem(request).await {
        Ok(RedeemOutcome::Created(r)) => (StatusCode::CREATED, axum::Json(r)).into_response(),
        Ok(RedeemOutcome::Replayed(r)) => (
            StatusCode::OK,
            [("idempotent-replayed", "true")],
            axum::Json(r),
        )
            .into_response(),
        Ok(RedeemOutcome::Conflict) => error(
            StatusCode::CONFLICT,
            format!("Idempotency-Key `{key}` was already used for a different request"),
        ),
        Ok(RedeemOutcome::UnknownAccount) => {
            error(StatusCode::NOT_FOUND, format!("no account {id}"))
        }
        Ok(RedeemOutcome::Refused(refused)) => {
            let status = match refused {
                RedemptionError::UnknownReward(_) => StatusCode::NOT_FOUND,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            error(status, format!("cannot redeem: {refused}"))
        }
        Err(e) => store_failure(&e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SettleBody {
    detail: Option<String>,
}

async fn settle(
    api: &Api,
    headers: &HeaderMap,
    id: i64,
    body: &Bytes,
    fulfilled: bool,
) -> Response {
    let actor = match admin_actor(api, headers) {
        Ok(actor) => actor,
        Err(refused) => return refused,
    };
    let parsed: SettleBody = if body.is_empty() {
        SettleBody { detail: None }
    } else {
        match serde_json::from_slice(body) {
            Ok(parsed) => parsed,
            Err(e) => {
                return error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("invalid body: {e}"),
                );
            }
        }
    };
    let request = SettleRequest {
        redemption_id: id,
        fulfilled,
        detail: parsed.detail,
        actor,
        state: None,
    };
    match api.store.settle(request).await {
        Ok(SettleOutcome::Settled(r)) => axum::Json(r).into_response(),
        Ok(SettleOutcome::AlreadySettled(r)) => (
            StatusCode::OK,
            [("idempotent-replayed", "true")],
            axum::Json(r),
        )
            .into_response(),
        Ok(SettleOutcome::Conflict(r)) => error(
            StatusCode::CONFLICT,
            format!("redemption {id} is already {}", r.status.as_str()),
        ),
        Ok(SettleOutcome::Unknown) => error(StatusCode::NOT_FOUND, format!("no redemption {id}")),
        Err(e) => store_failure(&e),
    }
}

async fn fulfil(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    body: Bytes,
) -> Response {
    settle(&api, &headers, id, &body, true).await
}

async fn fail(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    body: Bytes,
) -> Response {
    settle(&api, &headers, id, &body, false).await
}

#[derive(Deserialize)]
struct RedemptionFilter {
    status: Option<String>,
}

async fn list_redemptions(api: &Api, account: Option<i64>, filter: RedemptionFilter) -> Response {
    let status = match filter
        .status
        .as_deref()
        .map(|s| (s, RedemptionStatus::parse(s)))
    {
        None => None,
        Some((_, Some(status))) => Some(status),
        Some((text, None)) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("unknown status `{text}` (reserved, fulfilled or failed)"),
            );
        }
    };
    match api.store.redemptions(account, status).await {
        Ok(list) => axum::Json(json!({ "redemptions": list })).into_response(),
        Err(e) => store_failure(&e),
    }
}

async fn all_redemptions(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Query(filter): Query<RedemptionFilter>,
) -> Response {
    if let Some(denied) = refuse_unauthorized(&api, &headers, Need::Read) {
        return denied;
    }
    list_redemptions(&api, None, filter).await
}

async fn account_redemptions(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Query(filter): Query<RedemptionFilter>,
) -> Response {
    if let Some(denied) = refuse_unauthorized(&api, &headers, Need::Read) {
        return denied;
    }
    if let Some(missing) = unknown_account(&api, id).await {
        return missing;
    }
    list_redemptions(&api, Some(id), filter).await
}

async fn change(api: &Api, id: i64, change: AccountChange, actor: String) -> Response {
    match api.store.change_account(id, change, actor).await {
        Ok(ChangeOutcome::Changed) => match api.store.account(id).await {
            Ok(Some(account)) => axum::Json(account).into_response(),
            Ok(None) => error(StatusCode::NOT_FOUND, format!("no account {id}")),
            Err(e) => store_failure(&e),
        },
        Ok(ChangeOutcome::UnknownAccount) => {
            error(StatusCode::NOT_FOUND, format!("no account {id}"))
        }
        Ok(ChangeOutcome::NotEligible(problems)) => error(
            StatusCode::CONFLICT,
            format!(
                "the account is not eligible for the program: {}",
                problems.join("; ")
            ),
        ),
        Ok(ChangeOutcome::NotAllowed { from }) => error(
            StatusCode::CONFLICT,
            format!(
                "membership cannot move from {}",
                from.map_or("none", MembershipStatus::as_str)
            ),
        ),
        Err(e) => store_failure(&e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MembershipBody {
    status: String,
}

async fn membership(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    body: Bytes,
) -> Response {
    let actor = match admin_actor(&api, &headers) {
        Ok(actor) => actor,
        Err(refused) => return refused,
    };
    let status = serde_json::from_slice::<MembershipBody>(&body)
        .map_err(|e| e.to_string())
        .and_then(|b| {
            MembershipStatus::parse(&b.status).ok_or_else(|| {
                format!(
                    "unknown status `{}` (invited, active, suspended or closed)",
                    b.status
                )
            })
        });
    match status {
        Ok(status) => change(&api, id, AccountChange::Membership(status), actor).await,
        Err(e) => error(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("invalid membership: {e}"),
        ),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TagsBody {
    tags: BTreeSet<String>,
}

async fn tags(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    body: Bytes,
) -> Response {
    let actor = match admin_actor(&api, &headers) {
        Ok(actor) => actor,
        Err(refused) => return refused,
    };
    match serde_json::from_slice::<TagsBody>(&body) {
        Ok(body) if body.tags.iter().any(|t| t.trim().is_empty()) => error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid tags: a tag is empty",
        ),
        Ok(body) => change(&api, id, AccountChange::Tags(body.tags), actor).await,
        Err(e) => error(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("invalid tags: {e}"),
        ),
    }
}

async fn tier_history(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    if let Some(denied) = refuse_unauthorized(&api, &headers, Need::Read) {
        return denied;
    }
    if let Some(missing) = unknown_account(&api, id).await {
        return missing;
    }
    match api.store.tier_history(id).await {
        Ok(history) => axum::Json(json!({ "account_id": id, "history": history })).into_response(),
        Err(e) => store_failure(&e),
    }
}

#[derive(Deserialize)]
struct ExpiringQuery {
    days: Option<u32>,
}

async fn expiring(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Query(query): Query<ExpiringQuery>,
) -> Response {
    if let Some(denied) = refuse_unauthorized(&api, &headers, Need::Read) {
        return denied;
    }
    if let Some(missing) = unknown_account(&api, id).await {
        return missing;
    }
    let days = query.days.unwrap_or(90);
    match api
        .store
        .expiring(id, api.program.clone(), i64::from(days) * DAY_MS)
        .await
    {
        Ok(expiring) => axum::Json(expiring).into_response(),
        Err(e) => store_failure(&e),
    }
}

async fn run_jobs(State(api): State<Arc<Api>>, headers: HeaderMap) -> Response {
    if let Some(denied) = refuse_unauthorized(&api, &headers, Need::Write) {
        return denied;
    }
    match api.store.run_jobs(api.program.clone()).await {
        Ok(report) => axum::Json(report).into_response(),
        Err(e) => store_failure(&e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MergeBody {
    from: i64,
    reason: String,
}

async fn merge(
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
    let parsed: MergeBody = match json_body(&body, "merge") {
        Ok(parsed) => parsed,
        Err(refused) => return refused,
    };
    let reason = parsed.reason.trim().to_owned();
    if reason.is_empty() {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid merge: reason must not be empty",
        );
    }
    let canonical = json!({ "into": id, "from": parsed.from, "reason": reason });
    let request = MergeRequest {
        into: id,
        from: parsed.from,
        reason,
        actor,
        idempotency_key: key.to_owned(),
        request_sha256: hex::encode(Sha256::digest(canonical.to_string().as_bytes())),
        program: api.program.clone(),
    };
    match api.store.merge(request).await {
        Ok(MergeOutcome::Merged(merge)) => (StatusCode::CREATED, axum::Json(merge)).into_response(),
        Ok(MergeOutcome::Replayed(merge)) => (
            StatusCode::OK,
            [("idempotent-replayed", "true")],
            axum::Json(merge),
        )
            .into_response(),
        Ok(MergeOutcome::Conflict) => error(
            StatusCode::CONFLICT,
            format!("Idempotency-Key `{key}` was already used for a different request"),
        ),
        Ok(MergeOutcome::UnknownAccount(account)) => {
            error(StatusCode::NOT_FOUND, format!("no account {account}"))
        }
        Ok(MergeOutcome::Refused(why)) => {
            error(StatusCode::CONFLICT, format!("cannot merge: {why}"))
        }
        Err(e) => store_failure(&e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AcceptanceBody {
    version: String,
    contact: String,
}

async fn accept_terms(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    body: Bytes,
) -> Response {
    let actor = match admin_actor(&api, &headers) {
        Ok(actor) => actor,
        Err(refused) => return refused,
    };
    let parsed = match serde_json::from_slice::<AcceptanceBody>(&body) {
        Ok(parsed) if !parsed.contact.trim().is_empty() => parsed,
        Ok(_) => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid acceptance: contact must not be empty",
            );
        }
        Err(e) => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("invalid acceptance: {e}"),
            );
        }
    };
    let request = TermsAcceptance {
        account_id: id,
        version: parsed.version,
        contact: parsed.contact.trim().to_owned(),
        actor,
        program: api.program.clone(),
    };
    match api.store.accept_terms(request).await {
        Ok(AcceptanceOutcome::Recorded { enrolled }) => (
            StatusCode::CREATED,
            axum::Json(json!({ "status": "recorded", "enrolled": enrolled })),
        )
            .into_response(),
        Ok(AcceptanceOutcome::UnknownAccount) => {
            error(StatusCode::NOT_FOUND, format!("no account {id}"))
        }
        Ok(AcceptanceOutcome::NotCurrent { current }) => error(
            StatusCode::CONFLICT,
            match current {
                Some(current) => {
                    format!("only the terms in force can be accepted: version `{current}`")
                }
                None => "the program has no terms in force".to_owned(),
            },
        ),
        Err(e) => store_failure(&e),
    }
}

async fn accepted_terms(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    if let Some(denied) = refuse_unauthorized(&api, &headers, Need::Read) {
        return denied;
    }
    if let Some(missing) = unknown_account(&api, id).await {
        return missing;
    }
    match api.store.accepted_terms(id).await {
        Ok(list) => axum::Json(json!({ "account_id": id, "acceptances": list })).into_response(),
        Err(e) => store_failure(&e),
    }
}

#[derive(Deserialize)]
struct AuditQuery {
    limit: Option<u32>,
}

async fn audit_log(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Query(query): Query<AuditQuery>,
) -> Response {
    if let Some(denied) = refuse_unauthorized(&api, &headers, Need::Read) {
        return denied;
    }
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    match api.store.audit_log(limit).await {
        Ok(entries) => axum::Json(json!({ "entries": entries })).into_response(),
        Err(e) => store_failure(&e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReferralBody {
    referred: i64,
}

async fn record_referral(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    body: Bytes,
) -> Response {
    let actor = match admin_actor(&api, &headers) {
        Ok(actor) => actor,
        Err(refused) => return refused,
    };
    let parsed: ReferralBody = match json_body(&body, "referral") {
        Ok(parsed) => parsed,
        Err(refused) => return refused,
    };
    let request = ReferralRequest {
        referrer: id,
        referred: parsed.referred,
        actor,
        program: api.program.clone(),
    };
    match api.store.record_referral(request).await {
        Ok(ReferralOutcome::Recorded(referral)) => {
            (StatusCode::CREATED, axum::Json(referral)).into_response()
        }
        Ok(ReferralOutcome::AlreadyReferred(referral)) if referral.referrer == id => (
            StatusCode::OK,
            [("idempotent-replayed", "true")],
            axum::Json(referral),
        )
            .into_response(),
        Ok(ReferralOutcome::AlreadyReferred(referral)) => error(
            StatusCode::CONFLICT,
            format!(
                "account {} was referred by account {} already",
                referral.referred, referral.referrer
            ),
        ),
        Ok(ReferralOutcome::UnknownAccount(account)) => {
            error(StatusCode::NOT_FOUND, format!("no account {account}"))
        }
        Ok(ReferralOutcome::SelfReferral) => error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "an account cannot refer itself",
        ),
        Err(e) => store_failure(&e),
    }
}

async fn referrals(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    if let Some(denied) = refuse_unauthorized(&api, &headers, Need::Read) {
        return denied;
    }
    if let Some(missing) = unknown_account(&api, id).await {
        return missing;
    }
    match api.store.referrals(id).await {
        Ok(list) => axum::Json(json!({ "account_id": id, "referrals": list })).into_response(),
        Err(e) => store_failure(&e),
    }
}
