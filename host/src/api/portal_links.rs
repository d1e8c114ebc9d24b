//! Admin API routes that issue the member portal's links: a sign-in link for a
//! contact, and an invitation (the account invited, and an enrollment link
//! for the contact to join with).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;
use serde_json::json;

use crate::api::{Api, Need, error, json_body, refuse_unauthorized, store_failure};
use crate::core::accounts::AccountId;
use crate::core::membership::MembershipStatus;
use crate::runtime::{Clock, SystemClock};
use crate::store::{AccountChange, ChangeOutcome};

pub(super) fn routes() -> Router<Arc<Api>> {
    Router::new()
        .route("/api/v1/portal/sign-in-links", post(sign_in_link))
        .route("/api/v1/accounts/{id}/invitations", post(invitation))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkBody {
    account_id: AccountId,
    contact_id: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InvitationBody {
    contact_id: i64,
}

/// The answer when the portal is off.
fn portal_off() -> Response {
    error(
        StatusCode::CONFLICT,
        "the member portal is not configured: add [portal] with its secret to the configuration",
    )
}

/// 404 unless `contact` is one of `account`'s contacts.
async fn check_contact(api: &Api, account: AccountId, contact: i64) -> Result<(), Response> {
    match api.store.account(account).await {
        Ok(Some(detail)) if detail.contacts.iter().any(|c| c.id == contact) => Ok(()),
        Ok(Some(_)) => Err(error(
            StatusCode::NOT_FOUND,
            format!(
                "account {account} has no contact {contact} (GET /api/v1/accounts/{account} lists its contacts)"
            ),
        )),
        Ok(None) => Err(error(
            StatusCode::NOT_FOUND,
            format!("no account {account}"),
        )),
        Err(e) => Err(store_failure(&e)),
    }
}

async fn sign_in_link(State(api): State<Arc<Api>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(denied) = refuse_unauthorized(&api, &headers, Need::Write) {
        return denied;
    }
    let Some(links) = api.portal_links.as_ref() else {
        return portal_off();
    };
    let body: LinkBody = match json_body(&body, "sign-in link request") {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    if let Err(refused) = check_contact(&api, body.account_id, body.contact_id).await {
        return refused;
    }
    let (url, expires_at) = links.sign_in(body.account_id, body.contact_id, SystemClock.now_ms());
    (
        StatusCode::CREATED,
        axum::Json(json!({ "url": url, "expires_at": expires_at })),
    )
        .into_response()
}

async fn invitation(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Path(account): Path<AccountId>,
    body: Bytes,
) -> Response {
    let actor = match crate::api::admin_actor(&api, &headers) {
        Ok(actor) => actor,
        Err(refused) => return refused,
    };
    let Some(links) = api.portal_links.as_ref() else {
        return portal_off();
    };
    let body: InvitationBody = match json_body(&body, "invitation") {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    if let Err(refused) = check_contact(&api, account, body.contact_id).await {
        return refused;
    }
    let view = match api.store.member_view(account, api.program.clone()).await {
        Ok(view) => view,
        Err(e) => return store_failure(&e),
    };
    let membership = view.and_then(|v| v.membership);
    match membership {
        Some(MembershipStatus::Active) => {
            return error(
                StatusCode::CONFLICT,
                format!(
                    "account {account} is a member already: send a sign-in link instead (POST /api/v1/portal/sign-in-links)"
                ),
            );
        }
        Some(MembershipStatus::Suspended) => {
            return error(
                StatusCode::CONFLICT,
                format!(
                    "account {account} is suspended: reactivate it (PUT /api/v1/accounts/{account}/membership) rather than inviting it"
                ),
            );
        }
        Some(MembershipStatus::Invited) => {}
        None | Some(MembershipStatus::Closed) => {
            match api
                .store
                .change_account(
                    account,
                    AccountChange::Membership(MembershipStatus::Invited),
                    actor,
                )
                .await
            {
                Ok(ChangeOutcome::Changed) => {}
                Ok(ChangeOutcome::NotEligible(problems)) => {
                    return error(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        format!(
                            "account {account} does not meet the eligibility rules: {}",
                            problems.join("; ")
                        ),
                    );
                }
                Ok(ChangeOutcome::UnknownAccount) => {
                    return error(StatusCode::NOT_FOUND, format!("no account {account}"));
                }
                Ok(ChangeOutcome::NotAllowed { from }) => {
                    return error(
                        StatusCode::CONFLICT,
                        format!(
                            "account {account} cannot be invited from membership `{}`",
                            from.map_or("none", MembershipStatus::as_str)
                        ),
                    );
                }
                Err(e) => return store_failure(&e),
            }
        }
    }
    let (url, expires_at) = links.enrollment(account, body.contact_id, SystemClock.now_ms());
    (
        StatusCode::CREATED,
        axum::Json(json!({ "url": url, "expires_at": expires_at, "membership": "invited" })),
    )
        .into_response()
}
