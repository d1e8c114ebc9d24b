//! The signed-in member's pages: overview, earning history, rewards and
//! redemption, referrals and the terms. Each reads the account from the
//! session, never from the URL.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use minijinja::{Value, context};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{Member, Portal};
use crate::core::accounts::AccountId;
use crate::core::ledger::EntryKind;
use crate::core::membership::MembershipStatus;
use crate::core::rewards::RedemptionStatus;
use crate::runtime::{Clock, SystemClock};
use crate::store::{
    AcceptanceOutcome, AccountChange, ChangeOutcome, RedeemOutcome, RedeemRequest, Redemption,
    TermsAcceptance,
};

/// Points expiring within this many days are shown as expiring soon.
const EXPIRING_SOON_DAYS: i64 = 90;

pub(super) fn routes() -> Router<Arc<Portal>> {
    Router::new()
        .route("/portal", get(overview))
        .route("/portal/history", get(history))
        .route("/portal/rewards", get(rewards))
        .route("/portal/rewards/{id}", get(confirm).post(redeem))
        .route("/portal/redemptions/{id}", get(redemption))
        .route("/portal/referrals", get(referrals))
        .route("/portal/terms", get(terms).post(accept_terms))
}

/// Markdown (the terms) as HTML; raw HTML in the source is dropped.
pub(super) fn markdown(text: &str) -> String {
    use pulldown_cmark::{Event, HeadingLevel, Parser, Tag, TagEnd};
    // The terms sit under the page's own headings: theirs move two levels
    // down so the outline stays whole.
    let demote = |level: HeadingLevel| match level {
        HeadingLevel::H1 => HeadingLevel::H3,
        HeadingLevel::H2 => HeadingLevel::H4,
        HeadingLevel::H3 => HeadingLevel::H5,
        _ => HeadingLevel::H6,
    };
    let events = Parser::new(text)
        .filter(|e| !matches!(e, Event::Html(_) | Event::InlineHtml(_)))
        .map(|e| match e {
            Event::Start(Tag::Heading {
                level,
                id,
                classes,
                attrs,
            }) => Event::Start(Tag::Heading {
                level: demote(level),
                id,
                classes,
                attrs,
            }),
            Event::End(TagEnd::Heading(level)) => Event::End(TagEnd::Heading(demote(level))),
            other => other,
        });
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, events);
    html
}

/// Makes an account an active member if it is not one, for an enrollment.
pub(super) async fn activate(
    portal: &Portal,
    account: AccountId,
    actor: String,
) -> Result<(), Response> {
    let view = portal
        .store()
        .member_view(account, portal.program().clone())
        .await
        .map_err(|e| portal.unavailable(&e))?;
    if view.is_some_and(|v| v.membership == Some(MembershipStatus::Active)) {
        return Ok(());
    }
    match portal
        .store()
        .change_account(
            account,
            AccountChange::Membership(MembershipStatus::Active),
            actor,
        )
        .await
    {
        Ok(ChangeOutcome::Changed) => Ok(()),
        Ok(ChangeOutcome::NotEligible(problems)) => Err(portal.message(
            StatusCode::FORBIDDEN,
            "Not eligible",
            &format!(
                "The program cannot enroll your company: {}.",
                problems.join("; ")
            ),
        )),
        Ok(ChangeOutcome::NotAllowed { .. } | ChangeOutcome::UnknownAccount) => Err(portal.message(
            StatusCode::CONFLICT,
            "Not enrolled",
            "Your company's membership cannot be activated from where it stands. Please ask your account manager.",
        )),
        Err(e) => Err(portal.unavailable(&e)),
    }
}

/// What a ledger entry is, in words.
fn entry_kind(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::Earn => "Earned",
        EntryKind::Bonus => "Bonus",
        EntryKind::Reserve => "Held for a reward",
        EntryKind::Release => "Hold released",
        EntryKind::Redeem => "Redeemed",
        EntryKind::Expire => "Expired",
        EntryKind::Reverse => "Reversed",
        EntryKind::Adjust => "Adjustment",
        EntryKind::Transfer => "Transfer",
    }
}

/// What a redemption's status means to a member.
fn redemption_status(status: RedemptionStatus) -> &'static str {
    match status {
        RedemptionStatus::Reserved => "Being prepared: the points are held",
        RedemptionStatus::Fulfilled => "Delivered",
        RedemptionStatus::Failed => "Could not be delivered: the points were given back",
    }
}

fn redemption_value(portal: &Portal, r: &Redemption) -> Value {
    let name = portal
        .program()
        .reward(&r.reward_id)
        .map_or_else(|| r.reward_id.clone(), |reward| reward.name.clone());
    context! {
        id => r.id,
        reward => name,
        points => r.points,
        status => r.status.as_str(),
        status_text => redemption_status(r.status),
        detail => r.detail.clone(),
        created_at => r.created_at,
        updated_at => r.updated_at,
    }
}

/// Whether the account's tier may redeem `reward`.
fn tier_allows(
    reward: &crate::core::program::Reward,
    view: &crate::store::portal::MemberView,
) -> bool {
    reward.tiers.is_empty()
        || view
            .tier
            .current
            .as_ref()
            .is_some_and(|t| reward.tiers.contains(t))
}

fn tier_name(portal: &Portal, id: Option<&String>) -> Option<String> {
    id.map(|id| {
        portal
            .program()
            .tier(id)
            .map_or_else(|| id.clone(), |t| t.name.clone())
    })
}

async fn overview(State(portal): State<Arc<Portal>>, headers: HeaderMap) -> Response {
    let member = match portal.member(&headers).await {
        Ok(member) => member,
        Err(refused) => return refused,
    };
    let program = portal.program().clone();
    let account = member.claims.account;
    let expiring = match portal
        .store()
        .expiring(account, program.clone(), EXPIRING_SOON_DAYS * super::DAY_MS)
        .await
    {
        Ok(expiring) => expiring,
        Err(e) => return portal.unavailable(&e),
    };
    let recent = match portal.store().ledger(account).await {
        Ok(entries) => entries,
        Err(e) => return portal.unavailable(&e),
    };
    let recent: Vec<Value> = recent.iter().rev().take(5).map(entry_value).collect();
    let view = &member.view;
    let next_min = view
        .tier
        .next
        .as_ref()
        .and_then(|id| program.tier(id))
        .map(|t| t.min_spend);
    // Share of the way from nothing to the next tier's spend, whole percent.
    let progress = next_min.filter(|min| !min.is_zero()).map(|min| {
        (view.tier.spend * rust_decimal::Decimal::ONE_HUNDRED / min)
            .min(rust_decimal::Decimal::ONE_HUNDRED)
            .round()
            .to_string()
    });
    let offers: Vec<Value> = view
        .offers
        .iter()
        .map(|o| {
            context! {
                name => o.name.clone(),
                text => crate::campaigns::describe(&o.offer, &program),
                code => o.code.clone(),
            }
        })
        .collect();
    let affordable = program
        .rewards
        .iter()
        .filter(|r| r.points <= view.balance && tier_allows(r, view))
        .count();
    portal.page(
        StatusCode::OK,
        "overview.html",
        context! {
            member => member.layout(),
            active => "overview",
            membership => view.membership.map(MembershipStatus::as_str),
            tier => tier_name(&portal, view.tier.current.as_ref()),
            next_tier => tier_name(&portal, view.tier.next.as_ref()),
            spend => view.tier.spend.round_dp(2).to_string(),
            needed => view.tier.needed.round_dp(2).to_string(),
            progress => progress,
            window_days => program.tiers.window_days,
            currency => program.currency.clone(),
            expiring_points => expiring.points,
            expiring_first => expiring.lots.first().map(|l| l.expires_at),
            offers => offers,
            engagement => Value::from_serialize(&program.engagement),
            affordable => affordable,
            rewards => program.rewards.len(),
            recent => recent,
        },
    )
}

fn entry_value(e: &crate::store::LedgerEntry) -> Value {
    context! {
        at => e.occurred_at,
        kind => entry_kind(e.kind),
        points => e.points,
        reason => e.reason.clone(),
        reference => e.reference.clone(),
    }
}

async fn history(State(portal): State<Arc<Portal>>, headers: HeaderMap) -> Response {
    let member = match portal.member(&headers).await {
        Ok(member) => member,
        Err(refused) => return refused,
    };
    let entries = match portal.store().ledger(member.claims.account).await {
        Ok(entries) => entries,
        Err(e) => return portal.unavailable(&e),
    };
    // Holds and their releases are bookkeeping of a redemption: the member
    // sees the redemption itself.
    let entries: Vec<Value> = entries
        .iter()
        .rev()
        .filter(|e| !matches!(e.kind, EntryKind::Reserve | EntryKind::Release))
        .map(entry_value)
        .collect();
    portal.page(
        StatusCode::OK,
        "history.html",
        context! { member => member.layout(), active => "history", entries => entries },
    )
}

async fn redemptions(portal: &Portal, account: AccountId) -> Result<Vec<Redemption>, Response> {
    portal
        .store()
        .redemptions(Some(account), None)
        .await
        .map_err(|e| portal.unavailable(&e))
}

async fn rewards(State(portal): State<Arc<Portal>>, headers: HeaderMap) -> Response {
    let member = match portal.member(&headers).await {
        Ok(member) => member,
        Err(refused) => return refused,
    };
    let made = match redemptions(&portal, member.claims.account).await {
        Ok(made) => made,
        Err(refused) => return refused,
    };
    let view = &member.view;
    let catalog: Vec<Value> = portal
        .program()
        .rewards
        .iter()
        .map(|r| {
            let tier_ok = tier_allows(r, view);
            context! {
                id => r.id.clone(),
                name => r.name.clone(),
                description => r.description.clone(),
                points => r.points,
                tiers => r.tiers.iter().map(|t| tier_name(&portal, Some(t))).collect::<Vec<_>>(),
                affordable => r.points <= view.balance,
                tier_ok => tier_ok,
                short => (r.points - view.balance).max(0),
            }
        })
        .collect();
    let made: Vec<Value> = made
        .iter()
        .rev()
        .map(|r| redemption_value(&portal, r))
        .collect();
    portal.page(
        StatusCode::OK,
        "rewards.html",
        context! {
            member => member.layout(),
            active => "rewards",
            member_active => view.membership == Some(MembershipStatus::Active),
            catalog => catalog,
            redemptions => made,
        },
    )
}

async fn confirm(
    State(portal): State<Arc<Portal>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let member = match portal.member(&headers).await {
        Ok(member) => member,
        Err(refused) => return refused,
    };
    let Some(reward) = portal.program().reward(&id) else {
        return portal.message(
            StatusCode::NOT_FOUND,
            "No such reward",
            "The catalog has no such reward any more.",
        );
    };
    let mut request = [0u8; 16];
    fastrand::fill(&mut request);
    portal.page(
        StatusCode::OK,
        "confirm.html",
        context! {
            member => member.layout(),
            active => "rewards",
            reward => context! {
                id => reward.id.clone(),
                name => reward.name.clone(),
                description => reward.description.clone(),
                points => reward.points,
            },
            after => member.view.balance - reward.points,
            request => hex::encode(request),
        },
    )
}

#[derive(Deserialize)]
struct RedeemForm {
    csrf: String,
    request: String,
}

async fn redeem(
    State(portal): State<Arc<Portal>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<RedeemForm>,
) -> Response {
    let member = match portal
        .member_posting(&headers, &form.csrf, "Not redeemed")
        .await
    {
        Ok(member) => member,
        Err(refused) => return refused,
    };
    let account = member.claims.account;
    let contact = portal
        .contact_of(account, member.claims.contact)
        .await
        .ok()
        .flatten();
    let canonical = format!("{account}:{id}");
    let outcome = portal
        .store()
        .redeem(RedeemRequest {
            account_id: account,
            reward_id: id.clone(),
            contact,
            // The confirmation page's request id: sending the form twice
            // redeems once.
            idempotency_key: format!("portal:{account}:{}", form.request),
            request_sha256: hex::encode(Sha256::digest(canonical.as_bytes())),
            program: portal.program().clone(),
            actor: format!("portal:contact:{}", member.claims.contact),
        })
        .await;
    match outcome {
        Ok(RedeemOutcome::Created(r) | RedeemOutcome::Replayed(r)) => {
            Redirect::to(&format!("/portal/redemptions/{}", r.id)).into_response()
        }
        Ok(RedeemOutcome::Refused(reason)) => portal.message(
            StatusCode::CONFLICT,
            "Not redeemed",
            &format!("This reward cannot be redeemed: {reason}."),
        ),
        Ok(RedeemOutcome::Conflict) => portal.message(
            StatusCode::CONFLICT,
            "Not redeemed",
            "This confirmation was used for another reward. Start again from the rewards page.",
        ),
        Ok(RedeemOutcome::UnknownAccount) => portal.message(
            StatusCode::NOT_FOUND,
            "Account not found",
            "The account of this session is no longer in the program.",
        ),
        Err(e) => portal.unavailable(&e),
    }
}

async fn redemption(
    State(portal): State<Arc<Portal>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let member = match portal.member(&headers).await {
        Ok(member) => member,
        Err(refused) => return refused,
    };
    let made = match redemptions(&portal, member.claims.account).await {
        Ok(made) => made,
        Err(refused) => return refused,
    };
    // Only the session's account's redemptions are found: another
    // account's is "not found", not "forbidden", so ids reveal nothing.
    // A path that is not a number finds nothing either.
    let id: Option<i64> = id.parse().ok();
    let Some(found) = made.iter().find(|r| Some(r.id) == id) else {
        return portal.message(
            StatusCode::NOT_FOUND,
            "Not found",
            "There is no such redemption for your account.",
        );
    };
    portal.page(
        StatusCode::OK,
        "redemption.html",
        context! {
            member => member.layout(),
            active => "rewards",
            redemption => redemption_value(&portal, found),
        },
    )
}

async fn referrals(State(portal): State<Arc<Portal>>, headers: HeaderMap) -> Response {
    let member = match portal.member(&headers).await {
        Ok(member) => member,
        Err(refused) => return refused,
    };
    let account = member.claims.account;
    let program = portal.program().clone();
    let code = match portal
        .store()
        .referral_code(account, program.referrals.code_prefix.clone())
        .await
    {
        Ok(code) => code,
        Err(e) => return portal.unavailable(&e),
    };
    let link = code
        .as_ref()
        .filter(|_| program.referrals.landing_url.is_some())
        .map(|code| format!("{}/r/{code}", portal.api.public_base_url));
    let made = match portal.store().referrals(account).await {
        Ok(made) => made,
        Err(e) => return portal.unavailable(&e),
    };
    let mut rows = Vec::new();
    for referral in made.iter().rev() {
        let name = match portal.store().account(referral.referred).await {
            Ok(detail) => detail.map(|d| d.summary.name),
            Err(e) => return portal.unavailable(&e),
        };
        rows.push(context! {
            name => name.unwrap_or_else(|| "a company".to_owned()),
            since => referral.created_at,
            qualified_at => referral.qualified_at,
            points => referral.points,
        });
    }
    portal.page(
        StatusCode::OK,
        "referrals.html",
        context! {
            member => member.layout(),
            active => "referrals",
            code => code,
            link => link,
            referrals => rows,
        },
    )
}

async fn terms_page(portal: &Portal, member: &Member, notice: Option<&str>) -> Response {
    let now = SystemClock.now_ms();
    let accepted = match portal.store().accepted_terms(member.claims.account).await {
        Ok(accepted) => accepted,
        Err(e) => return portal.unavailable(&e),
    };
    let current = portal.program().terms_at(now);
    let accepted_current = current.is_some_and(|t| {
        accepted
            .iter()
            .any(|a| a.get("version").and_then(|v| v.as_str()) == Some(t.version.as_str()))
    });
    portal.page(
        StatusCode::OK,
        "terms.html",
        context! {
            member => member.layout(),
            active => "terms",
            version => current.map(|t| t.version.clone()),
            effective_from => current.map(|t| t.effective_from),
            html => current.map(|t| Value::from_safe_string(markdown(&t.text))),
            accepted_current => accepted_current,
            accepted => accepted
                .iter()
                .map(|a| context! {
                    version => a.get("version").and_then(|v| v.as_str()).map(str::to_owned),
                    contact => a.get("contact").and_then(|v| v.as_str()).map(str::to_owned),
                    accepted_at => a.get("accepted_at").and_then(serde_json::Value::as_i64),
                })
                .collect::<Vec<_>>(),
            notice => notice,
        },
    )
}

async fn terms(State(portal): State<Arc<Portal>>, headers: HeaderMap) -> Response {
    match portal.member(&headers).await {
        Ok(member) => terms_page(&portal, &member, None).await,
        Err(refused) => refused,
    }
}

#[derive(Deserialize)]
struct AcceptForm {
    csrf: String,
    version: String,
    accept: Option<String>,
}

async fn accept_terms(
    State(portal): State<Arc<Portal>>,
    headers: HeaderMap,
    Form(form): Form<AcceptForm>,
) -> Response {
    let member = match portal
        .member_posting(&headers, &form.csrf, "Not accepted")
        .await
    {
        Ok(member) => member,
        Err(refused) => return refused,
    };
    if form.accept.is_none() {
        return terms_page(&portal, &member, Some("Tick the box to accept the terms.")).await;
    }
    let account = member.claims.account;
    let contact = portal
        .contact_of(account, member.claims.contact)
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| format!("contact {}", member.claims.contact));
    let outcome = portal
        .store()
        .accept_terms(TermsAcceptance {
            account_id: account,
            version: form.version,
            contact,
            actor: format!("portal:contact:{}", member.claims.contact),
            program: portal.program().clone(),
        })
        .await;
    match outcome {
        Ok(AcceptanceOutcome::Recorded { .. }) => {
            terms_page(
                &portal,
                &member,
                Some("Thank you: your acceptance is recorded."),
            )
            .await
        }
        Ok(AcceptanceOutcome::NotCurrent { .. }) => {
            terms_page(
                &portal,
                &member,
                Some("These terms are no longer current: read the current ones below."),
            )
            .await
        }
        Ok(AcceptanceOutcome::UnknownAccount) => portal.message(
            StatusCode::NOT_FOUND,
            "Account not found",
            "The account of this session is no longer in the program.",
        ),
        Err(e) => portal.unavailable(&e),
    }
}
