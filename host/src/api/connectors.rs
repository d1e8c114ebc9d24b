//! Admin API for connectors: where polling stands, starting a sync now, and
//! pushing a campaign out through a connector.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use crate::api::{
    Api, Endpoint, Need, admin_actor, error, json_body, refuse_unauthorized, store_failure,
};
use crate::poller::SyncHandle;
use crate::runtime::CallError;
use crate::runtime::wit::latest::exports::loyalty::connector::sink as wit;
use crate::runtime::wit::latest::loyalty::connector::types::Error as GuestError;
use crate::store::{AccountDetail, CampaignBatch, PollStream};

/// Recipients per `push-campaign` call.
const CAMPAIGN_BATCH_MAX: usize = 100;
/// Attempts per batch when the connector fails in passing.
const PUSH_ATTEMPTS_MAX: u32 = 5;
/// The longest the API waits out one rate limit while pushing.
const PUSH_WAIT_MAX: Duration = Duration::from_secs(30);

/// The connector routes.
pub(crate) fn routes() -> Router<Arc<Api>> {
    Router::new()
        .route(
            "/api/v1/connectors/{name}/sync",
            get(sync_status).post(start_sync),
        )
        .route("/api/v1/connectors/{name}/campaigns", post(push_campaign))
}

fn unknown_connector(name: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        format!("no connector `{name}` is configured"),
    )
}

/// The connector's poller, or the answer when it has none.
#[allow(
    clippy::result_large_err,
    reason = "the refusal is the HTTP answer itself, returned at once; boxing it buys nothing"
)]
fn polled<'a>(api: &'a Api, name: &str) -> Result<&'a Arc<SyncHandle>, Response> {
    let endpoint = api
        .endpoints
        .get(name)
        .ok_or_else(|| unknown_connector(name))?;
    let handle = endpoint.sync.as_ref().ok_or_else(|| {
        error(
            StatusCode::CONFLICT,
            format!(
                "connector `{name}` is not polled: add [connectors.{name}.poll] with interval_seconds to its configuration"
            ),
        )
    })?;
    Ok(handle)
}

async fn sync_status(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    if let Some(denied) = refuse_unauthorized(&api, &headers, Need::Read) {
        return denied;
    }
    let handle = match polled(&api, &name) {
        Ok(handle) => handle,
        Err(answer) => return answer,
    };
    let position = match api.store.poll_position(&name, PollStream::Sync).await {
        Ok(position) => position,
        Err(e) => return store_failure(&e),
    };
    let state = handle.state();
    axum::Json(json!({
        "connector": name,
        "interval_seconds": handle.interval.as_secs(),
        "running": state.running,
        "cursor": position.cursor,
        "pages": position.pages,
        "events": position.events,
        "completed": state.completed,
        "failures": state.failures,
        "last_error": state.last_error,
        "last_completed_at": state.last_completed_at,
        "next_at": state.next_at,
        "polled_by": state.polled_by,
    }))
    .into_response()
}

async fn start_sync(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    let actor = match admin_actor(&api, &headers) {
        Ok(actor) => actor,
        Err(refused) => return refused,
    };
    let handle = match polled(&api, &name) {
        Ok(handle) => handle,
        Err(answer) => return answer,
    };
    if let Some(holder) = handle.state().polled_by {
        return error(
            StatusCode::CONFLICT,
            format!(
                "connector `{name}` is polled by instance {holder}: ask that instance, or stop it \
                 so that this one takes the polling over (GET /api/v1/cluster lists the leases)"
            ),
        );
    }
    handle.wake.notify_one();
    tracing::info!(connector = name.as_str(), actor, "sync requested");
    (
        StatusCode::ACCEPTED,
        axum::Json(json!({ "connector": name, "requested": true })),
    )
        .into_response()
}

/// `POST /api/v1/connectors/{name}/campaigns`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CampaignBody {
    campaign_id: String,
    name: String,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    offer: Option<OfferBody>,
    accounts: Vec<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OfferBody {
    id: String,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    percent_off: Option<rust_decimal::Decimal>,
    #[serde(default)]
    amount_off: Option<MoneyBody>,
    #[serde(default)]
    ends_at: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MoneyBody {
    amount: rust_decimal::Decimal,
    currency: String,
}

async fn push_campaign(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let actor = match admin_actor(&api, &headers) {
        Ok(actor) => actor,
        Err(refused) => return refused,
    };
    let Some(endpoint) = api.endpoints.get(&name) else {
        return unknown_connector(&name);
    };
    let campaign: CampaignBody = match json_body(&body, "campaign") {
        Ok(campaign) => campaign,
        Err(refused) => return refused,
    };
    if let Some(problem) = campaign_problem(&campaign) {
        return error(StatusCode::UNPROCESSABLE_ENTITY, problem);
    }
    let mut recipients = Vec::new();
    let mut skipped = Vec::new();
    for id in &campaign.accounts {
        match api.store.account(*id).await {
            Ok(Some(account)) => match recipients_of(&account, &name) {
                Some(found) => recipients.extend(found),
                None => skipped.push(*id),
            },
            Ok(None) => {
                return error(StatusCode::NOT_FOUND, format!("no account {id}"));
            }
            Err(e) => return store_failure(&e),
        }
    }
    let offer = campaign.offer.as_ref().map(|offer| wit::Offer {
        id: offer.id.clone(),
        code: offer.code.clone(),
        percent_off: offer.percent_off.map(|p| p.normalize().to_string()),
        amount_off: offer.amount_off.as_ref().map(|m| wit::Money {
            amount: m.amount.normalize().to_string(),
            currency: m.currency.to_ascii_uppercase(),
        }),
        ends_at: offer.ends_at,
    });
    let mut batches = Vec::new();
    for (number, chunk) in recipients.chunks(CAMPAIGN_BATCH_MAX).enumerate() {
        let key = format!("{}:{name}:{}", campaign.campaign_id, number + 1);
        match api.store.campaign_batch(&name, &key).await {
            Ok(Some(report)) => {
                batches.push(report);
                continue;
            }
            Ok(None) => {}
            Err(e) => return store_failure(&e),
        }
        let delivery = wit::CampaignDelivery {
            idempotency_key: key.clone(),
            campaign_id: campaign.campaign_id.clone(),
            name: campaign.name.clone(),
            subject: campaign.subject.clone(),
            body: campaign.body.clone(),
            offer: offer.clone(),
            recipients: chunk.to_vec(),
        };
        let output = match push_with_retries(endpoint, &delivery).await {
            Ok(output) => output,
            Err(failure) => {
                tracing::warn!(connector = name.as_str(), batch = key.as_str(), error = %failure, "campaign batch failed");
                return error(
                    StatusCode::BAD_GATEWAY,
                    format!(
                        "connector `{name}` failed on batch `{key}` ({} batches pushed before it are kept; send the same campaign again to resume): {failure}",
                        batches.len()
                    ),
                );
            }
        };
        let report = json!({
            "idempotency_key": key,
            "external_id": output.value.external_id,
            "accepted": output.value.accepted,
            "rejected": output.value.rejected.iter().map(|r| json!({
                "account_id": r.account_id,
                "reason": r.reason,
            })).collect::<Vec<_>>(),
        });
        if let Err(e) = api
            .store
            .record_campaign_batch(CampaignBatch {
                connector: name.clone(),
                idempotency_key: key,
                campaign_id: campaign.campaign_id.clone(),
                report: report.clone(),
                state: output.state,
            })
            .await
        {
            return store_failure(&e);
        }
        batches.push(report);
    }
    tracing::info!(
        connector = name.as_str(),
        campaign = campaign.campaign_id.as_str(),
        actor,
        recipients = recipients.len(),
        batches = batches.len(),
        "campaign pushed"
    );
    axum::Json(json!({
        "campaign_id": campaign.campaign_id,
        "connector": name,
        "batches": batches,
        "skipped": skipped,
    }))
    .into_response()
}

fn campaign_problem(campaign: &CampaignBody) -> Option<String> {
    if campaign.campaign_id.trim().is_empty() || campaign.campaign_id.contains(':') {
        return Some("`campaign_id` must be a non-empty id without `:`".to_owned());
    }
    if campaign.name.trim().is_empty() {
        return Some("`name` must not be empty".to_owned());
    }
    if campaign.accounts.is_empty() {
        return Some("`accounts` is empty: name the accounts the campaign goes to".to_owned());
    }
    let offer = campaign.offer.as_ref()?;
    match (&offer.percent_off, &offer.amount_off) {
        (Some(_), Some(_)) => {
            Some("`offer` has both `percent_off` and `amount_off`: keep one".to_owned())
        }
        (Some(p), None)
            if *p <= rust_decimal::Decimal::ZERO || *p > rust_decimal::Decimal::ONE_HUNDRED =>
        {
            Some(format!(
                "`offer.percent_off` is {p}: use more than 0 and at most 100"
            ))
        }
        (None, Some(m)) if m.amount <= rust_decimal::Decimal::ZERO => Some(format!(
            "`offer.amount_off.amount` is {}: use more than 0",
            m.amount
        )),
        (None, Some(m))
            if iso_currency::Currency::from_code(&m.currency.to_ascii_uppercase()).is_none() =>
        {
            Some(format!(
                "`offer.amount_off.currency` `{}` is not an ISO 4217 code",
                m.currency
            ))
        }
        _ => None,
    }
}

/// The recipients an account gives in connector `name`: one per contact
/// that came from it, or one without a contact; `None` when the connector
/// does not know the account.
fn recipients_of(account: &AccountDetail, name: &str) -> Option<Vec<wit::Recipient>> {
    let account_id = account
        .summary
        .external_refs
        .iter()
        .find(|r| r.source == name)?
        .id
        .clone();
    let fields = |first: Option<&String>, last: Option<&String>| {
        let mut fields = vec![wit::Attribute {
            name: "points_balance".to_owned(),
            value: account.summary.balance.to_string(),
        }];
        if let Some(tier) = &account.tier {
            fields.push(wit::Attribute {
                name: "tier".to_owned(),
                value: tier.clone(),
            });
        }
        for (field, value) in [("first_name", first), ("last_name", last)] {
            if let Some(value) = value {
                fields.push(wit::Attribute {
                    name: field.to_owned(),
                    value: value.clone(),
                });
            }
        }
        fields
    };
    let contacts: Vec<_> = account
        .contacts
        .iter()
        .filter(|c| c.source == name)
        .map(|c| wit::Recipient {
            account_id: account_id.clone(),
            contact_id: Some(c.external_id.clone()),
            email: c.email.clone(),
            fields: fields(c.first_name.as_ref(), c.last_name.as_ref()),
        })
        .collect();
    if contacts.is_empty() {
        return Some(vec![wit::Recipient {
            account_id,
            contact_id: None,
            email: None,
            fields: fields(None, None),
        }]);
    }
    Some(contacts)
}

/// Calls `push-campaign`, waiting out rate limits (up to
/// [`PUSH_WAIT_MAX`] each) and retrying passing failures.
async fn push_with_retries(
    endpoint: &Endpoint,
    delivery: &wit::CampaignDelivery,
) -> Result<crate::runtime::Output<wit::CampaignReport>, String> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let error = match endpoint.plugin.push_campaign(delivery).await {
            Ok(output) => return Ok(output),
            Err(error) => error,
        };
        let wait = match &error {
            CallError::Guest {
                error: GuestError::RateLimited(r),
                ..
            } => {
                let delay = r
                    .delay_ms
                    .map_or(Duration::from_secs(1), Duration::from_millis);
                if delay > PUSH_WAIT_MAX {
                    return Err(format!(
                        "{error} (the vendor asks to wait longer than the API waits; try again later)"
                    ));
                }
                delay
            }
            e if e.is_retryable() => Duration::from_millis(250 << attempt.min(6)),
            _ => return Err(error.to_string()),
        };
        if attempt >= PUSH_ATTEMPTS_MAX {
            return Err(format!("{error} (after {attempt} attempts)"));
        }
        tokio::time::sleep(wait).await;
    }
}
