//! The admin dashboard under `/admin`: the quarter's key figures with
//! charts, account search and detail with the ledger, segments, campaigns
//! with their results, and goals. Read-only; an admin or analyst token
//! signs in (through the form, for a signed session cookie, or as a bearer
//! token on each request).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use cookie::{Cookie, SameSite};
use minijinja::{Value, context};
use serde::Deserialize;

use super::Portal;
use super::tokens::Purpose;
use crate::api::{Need, refuse_unauthorized};
use crate::core::analytics::Period;
use crate::core::analytics::review::{self, Review};
use crate::report;
use crate::runtime::{Clock, SystemClock};

/// The admin's session cookie.
const ADMIN_COOKIE: &str = "loyalty_admin";
/// Accounts a search lists at most.
const SEARCH_LIMIT: usize = 50;
/// Ledger entries an account page lists, newest first.
const LEDGER_LIMIT: usize = 200;

pub(super) fn routes() -> Router<Arc<Portal>> {
    Router::new()
        .route("/admin", get(overview))
        .route("/admin/sign-in", get(sign_in_form).post(sign_in))
        .route("/admin/accounts", get(accounts))
        .route("/admin/accounts/{id}", get(account))
        .route("/admin/segments", get(segments))
        .route("/admin/campaigns", get(campaigns))
        .route("/admin/goals", get(goals))
}

/// `None` when the request carries an admin session or a readable bearer
/// token; else the refusal, or the way to the sign-in page.
fn refuse_signed_out(portal: &Portal, headers: &HeaderMap) -> Option<Response> {
    if headers.contains_key(header::AUTHORIZATION) {
        return refuse_unauthorized(&portal.api, headers, Need::Read);
    }
    let now = SystemClock.now_ms();
    let valid = super::cookie_value(headers, ADMIN_COOKIE)
        .is_some_and(|token| portal.signer.verify(&token, Purpose::Admin, now).is_ok());
    (!valid).then(|| Redirect::to("/admin/sign-in").into_response())
}

fn admin_page(portal: &Portal, template: &str, active: &str, values: Value) -> Response {
    portal.page(
        StatusCode::OK,
        template,
        context! { active => active, admin => true, ..values },
    )
}

async fn sign_in_form(State(portal): State<Arc<Portal>>) -> Response {
    portal.page(
        StatusCode::OK,
        "admin/sign-in.html",
        context! { admin => true, error => None::<String> },
    )
}

#[derive(Deserialize)]
struct SignInForm {
    token: String,
}

async fn sign_in(State(portal): State<Arc<Portal>>, Form(form): Form<SignInForm>) -> Response {
    let mut headers = HeaderMap::new();
    let accepted = HeaderValue::from_str(&format!("Bearer {}", form.token.trim()))
        .ok()
        .is_some_and(|value| {
            headers.insert(header::AUTHORIZATION, value);
            refuse_unauthorized(&portal.api, &headers, Need::Read).is_none()
        });
    if !accepted {
        tracing::warn!("admin dashboard sign-in refused");
        return portal.page(
            StatusCode::UNAUTHORIZED,
            "admin/sign-in.html",
            context! { admin => true, error => "That token is not an admin or analyst token of this daemon." },
        );
    }
    let now = SystemClock.now_ms();
    let minutes = i64::from(portal.config.session_minutes);
    let (token, _) =
        portal
            .signer
            .issue(Purpose::Admin, 0, 0, now.saturating_add(minutes * 60_000));
    let cookie = Cookie::build((ADMIN_COOKIE, token))
        .path("/admin")
        .http_only(true)
        .secure(portal.secure)
        .same_site(SameSite::Strict)
        .max_age(cookie::time::Duration::minutes(minutes))
        .build()
        .to_string();
    let mut response = Redirect::to("/admin").into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

fn clock_out_of_range(portal: &Portal) -> Response {
    portal.message(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Clock out of range",
        "The system clock is out of range.",
    )
}

/// The quarter's review, computed from one read of the book.
async fn current_review(portal: &Portal) -> Result<Review, Response> {
    let now = SystemClock.now_ms();
    let quarter = Period::quarter_of(now).ok_or_else(|| clock_out_of_range(portal))?;
    report::quarterly(
        portal.store(),
        portal.program().clone(),
        &portal.api.goals,
        &quarter,
        now,
    )
    .await
    .map_err(|e| portal.unavailable(&e))
}

async fn overview(State(portal): State<Arc<Portal>>, headers: HeaderMap) -> Response {
    if let Some(refused) = refuse_signed_out(&portal, &headers) {
        return refused;
    }
    let review = match current_review(&portal).await {
        Ok(review) => review,
        Err(refused) => return refused,
    };
    let charts: Vec<Value> = report::review_charts(&review)
        .into_iter()
        .filter(|(id, _)| {
            [
                "members",
                "points",
                "revenue",
                "tiers",
                "redemptions",
                "goals",
            ]
            .contains(id)
        })
        .map(|(_, html)| Value::from_safe_string(html))
        .collect();
    admin_page(
        &portal,
        "admin/overview.html",
        "overview",
        context! {
            q => Value::from_serialize(&review.quarter),
            recommendations => Value::from_serialize(&review.recommendations),
            charts => charts,
        },
    )
}

#[derive(Deserialize)]
struct SearchQuery {
    q: Option<String>,
}

async fn accounts(
    State(portal): State<Arc<Portal>>,
    headers: HeaderMap,
    Query(query): Query<SearchQuery>,
) -> Response {
    if let Some(refused) = refuse_signed_out(&portal, &headers) {
        return refused;
    }
    let all = match portal.store().accounts().await {
        Ok(all) => all,
        Err(e) => return portal.unavailable(&e),
    };
    let q = query.q.unwrap_or_default();
    let needle = q.trim().to_lowercase();
    let found: Vec<Value> = all
        .iter()
        .filter(|a| a.merged_into.is_none())
        .filter(|a| {
            needle.is_empty()
                || a.name.to_lowercase().contains(&needle)
                || a.id.to_string() == needle
                || a.external_refs.iter().any(|r| r.id.to_lowercase() == needle)
        })
        .take(SEARCH_LIMIT)
        .map(|a| {
            context! {
                id => a.id,
                name => a.name.clone(),
                balance => a.balance,
                refs => a.external_refs.iter().map(|r| format!("{}:{}", r.source, r.id)).collect::<Vec<_>>(),
            }
        })
        .collect();
    admin_page(
        &portal,
        "admin/accounts.html",
        "accounts",
        context! { q => q, accounts => found, limit => SEARCH_LIMIT },
    )
}

async fn account(
    State(portal): State<Arc<Portal>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    if let Some(refused) = refuse_signed_out(&portal, &headers) {
        return refused;
    }
    let store = portal.store();
    let (detail, view, ledger, redemptions) = match tokio::try_join!(
        store.account(id),
        store.member_view(id, portal.program().clone()),
        store.ledger(id),
        store.redemptions(Some(id), None),
    ) {
        Ok(found) => found,
        Err(e) => return portal.unavailable(&e),
    };
    let (Some(detail), Some(view)) = (detail, view) else {
        return portal.message(
            StatusCode::NOT_FOUND,
            "No such account",
            "There is no account with this id.",
        );
    };
    let entries: Vec<Value> = ledger
        .iter()
        .rev()
        .take(LEDGER_LIMIT)
        .map(|e| {
            context! {
                id => e.id,
                at => e.occurred_at,
                kind => e.kind.as_str(),
                points => e.points,
                reason => e.reason.clone(),
                source => e.source.clone(),
                reference => e.reference.clone(),
            }
        })
        .collect();
    let redemptions: Vec<Value> = redemptions
        .iter()
        .rev()
        .map(|r| {
            context! {
                id => r.id,
                reward => r.reward_id.clone(),
                points => r.points,
                status => r.status.as_str(),
                at => r.created_at,
            }
        })
        .collect();
    admin_page(
        &portal,
        "admin/account.html",
        "accounts",
        context! {
            account => context! {
                id => detail.summary.id,
                name => detail.summary.name.clone(),
                balance => detail.summary.balance,
                country => detail.country.clone(),
                industry => detail.industry.clone(),
                membership => detail.membership.clone(),
                tags => detail.tags.clone(),
                refs => detail.summary.external_refs.iter().map(|r| format!("{}:{}", r.source, r.id)).collect::<Vec<_>>(),
            },
            tier => Value::from_serialize(&view.tier),
            contacts => detail.contacts.iter().map(|c| context! {
                id => c.id,
                name => format!("{} {}", c.first_name.clone().unwrap_or_default(), c.last_name.clone().unwrap_or_default()).trim().to_owned(),
                email => c.email.clone(),
                role => c.role.clone(),
            }).collect::<Vec<_>>(),
            entries => entries,
            entry_count => ledger.len(),
            redemptions => redemptions,
        },
    )
}

async fn segments(State(portal): State<Arc<Portal>>, headers: HeaderMap) -> Response {
    if let Some(refused) = refuse_signed_out(&portal, &headers) {
        return refused;
    }
    let Some(quarter) = Period::quarter_of(SystemClock.now_ms()) else {
        return clock_out_of_range(&portal);
    };
    let store = portal.store();
    let (list, retention) = match tokio::try_join!(
        store.segments(),
        report::segment_retention(store, portal.program().clone(), &quarter),
    ) {
        Ok(found) => found,
        Err(e) => return portal.unavailable(&e),
    };
    let rows: Vec<Value> = list
        .iter()
        .map(|s| {
            let retention = retention.iter().find(|r| r.id == s.definition.id);
            context! {
                id => s.definition.id.clone(),
                name => s.definition.name.clone(),
                filter => s.definition.filter.source().to_owned(),
                size => s.size,
                refreshed_at => s.refreshed_at,
                retention => retention.and_then(|r| r.current.rate).map(|r| r.to_string()),
                previous => retention.and_then(|r| r.previous.rate).map(|r| r.to_string()),
            }
        })
        .collect();
    admin_page(
        &portal,
        "admin/segments.html",
        "segments",
        context! { segments => rows },
    )
}

async fn campaigns(State(portal): State<Arc<Portal>>, headers: HeaderMap) -> Response {
    if let Some(refused) = refuse_signed_out(&portal, &headers) {
        return refused;
    }
    let list = match portal.store().campaigns().await {
        Ok(list) => list,
        Err(e) => return portal.unavailable(&e),
    };
    let mut rows = Vec::new();
    for c in &list {
        let attribution = match portal
            .store()
            .campaign_report(c.definition.id.clone())
            .await
        {
            Ok(found) => found.and_then(|r| r.attribution),
            Err(e) => return portal.unavailable(&e),
        };
        rows.push(context! {
            id => c.definition.id.clone(),
            name => c.definition.name.clone(),
            segment => c.definition.segment.clone(),
            channel => c.definition.channel.clone(),
            status => c.status.as_str(),
            started_at => c.started_at,
            targeted => c.targeted,
            held_out => c.held_out,
            sent => c.deliveries.sent,
            failed => c.deliveries.failed,
            attribution => Value::from_serialize(&attribution),
        });
    }
    admin_page(
        &portal,
        "admin/campaigns.html",
        "campaigns",
        context! { campaigns => rows },
    )
}

async fn goals(State(portal): State<Arc<Portal>>, headers: HeaderMap) -> Response {
    if let Some(refused) = refuse_signed_out(&portal, &headers) {
        return refused;
    }
    let now = SystemClock.now_ms();
    let book = match portal
        .store()
        .analytics_book(portal.program().clone())
        .await
    {
        Ok(book) => book,
        Err(e) => return portal.unavailable(&e),
    };
    let standings = review::standings(&book, portal.program(), &portal.api.goals, now);
    let chart = report::goals_chart(&standings);
    admin_page(
        &portal,
        "admin/goals.html",
        "goals",
        context! {
            goals => Value::from_serialize(&standings),
            chart => Value::from_safe_string(chart),
        },
    )
}
