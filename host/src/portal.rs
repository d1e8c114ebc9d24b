//! The member rewards portal: server-rendered pages under `/portal`, no
//! script. A contact signs in through a signed, single-use, expiring link
//! (issued by the admin API or carried by a statement) and gets a signed
//! session cookie bound to its account: no page takes an account from the
//! URL, and a redemption of another account is "not found"; signing out
//! ends the session for every copy of its cookie. Invited
//! contacts enroll through their invitation's link and accept the terms.

mod admin;
mod member;
pub mod tokens;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use cookie::{Cookie, SameSite};
use minijinja::{Environment, Value, context};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::api::Api;
use crate::config::PortalConfig;
use crate::core::accounts::AccountId;
use crate::core::membership::MembershipStatus;
use crate::core::program::Program;
use crate::runtime::{Clock, SystemClock};
use crate::store::{AcceptanceOutcome, Store, TermsAcceptance};
use tokens::{Claims, Purpose, Signer, TokenError};

/// The member's session cookie.
const SESSION_COOKIE: &str = "loyalty_session";
const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 86_400_000;

/// The portal's templates, by name.
const TEMPLATES: &[(&str, &str)] = &[
    ("style.html", include_str!("portal/templates/style.html")),
    ("base.html", include_str!("portal/templates/base.html")),
    (
        "message.html",
        include_str!("portal/templates/message.html"),
    ),
    (
        "overview.html",
        include_str!("portal/templates/overview.html"),
    ),
    (
        "history.html",
        include_str!("portal/templates/history.html"),
    ),
    (
        "rewards.html",
        include_str!("portal/templates/rewards.html"),
    ),
    (
        "confirm.html",
        include_str!("portal/templates/confirm.html"),
    ),
    (
        "redemption.html",
        include_str!("portal/templates/redemption.html"),
    ),
    (
        "referrals.html",
        include_str!("portal/templates/referrals.html"),
    ),
    ("terms.html", include_str!("portal/templates/terms.html")),
    ("join.html", include_str!("portal/templates/join.html")),
    (
        "sign-in.html",
        include_str!("portal/templates/sign-in.html"),
    ),
    (
        "admin/base.html",
        include_str!("portal/templates/admin/base.html"),
    ),
    (
        "admin/sign-in.html",
        include_str!("portal/templates/admin/sign-in.html"),
    ),
    (
        "admin/overview.html",
        include_str!("portal/templates/admin/overview.html"),
    ),
    (
        "admin/accounts.html",
        include_str!("portal/templates/admin/accounts.html"),
    ),
    (
        "admin/account.html",
        include_str!("portal/templates/admin/account.html"),
    ),
    (
        "admin/segments.html",
        include_str!("portal/templates/admin/segments.html"),
    ),
    (
        "admin/campaigns.html",
        include_str!("portal/templates/admin/campaigns.html"),
    ),
    (
        "admin/goals.html",
        include_str!("portal/templates/admin/goals.html"),
    ),
];

/// What the portal's handlers share.
pub struct Portal {
    /// The admin API's state: the store, the program, token checks.
    pub api: Arc<Api>,
    /// Signs links and sessions.
    pub signer: Signer,
    /// `[portal]`.
    pub config: PortalConfig,
    templates: Environment<'static>,
    /// Whether cookies are `Secure` (the public URL is https).
    secure: bool,
}

impl std::fmt::Debug for Portal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Portal").finish_non_exhaustive()
    }
}

impl Portal {
    /// The portal for `api` with `config`.
    pub fn new(api: Arc<Api>, config: PortalConfig) -> anyhow::Result<Self> {
        let signer = Signer::new(config.secret.expose())
            .map_err(|e| anyhow::anyhow!("the portal secret cannot key HMAC: {e}"))?;
        let mut templates = Environment::new();
        templates.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        templates.add_filter("day", day);
        templates.add_filter("moment", moment);
        for (name, source) in TEMPLATES {
            templates.add_template(name, source)?;
        }
        let secure = api.public_base_url.starts_with("https://");
        Ok(Self {
            api,
            signer,
            config,
            templates,
            secure,
        })
    }

    fn store(&self) -> &dyn Store {
        self.api.store.as_ref()
    }

    fn program(&self) -> &Arc<Program> {
        &self.api.program
    }

    /// A page rendered from `template` with `values`, as `status`.
    fn page(&self, status: StatusCode, template: &str, values: Value) -> Response {
        let rendered = self.templates.get_template(template).and_then(|t| {
            t.render(context! {
                title => self.config.title.clone(),
                ..values
            })
        });
        match rendered {
            Ok(html) => (status, Html(html)).into_response(),
            Err(e) => {
                tracing::error!(error = %e, template, "rendering a portal page");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the page could not be rendered",
                )
                    .into_response()
            }
        }
    }

    /// A page that only says something, such as why a link is refused.
    fn message(&self, status: StatusCode, heading: &str, text: &str) -> Response {
        self.page(
            status,
            "message.html",
            context! { heading => heading, text => text, member => Value::UNDEFINED },
        )
    }

    /// A new session for `account` and `contact`, as a `Set-Cookie` value.
    fn session_cookie(&self, account: AccountId, contact: i64, now: i64) -> String {
        let expires = now.saturating_add(i64::from(self.config.session_minutes) * MINUTE_MS);
        let (token, _) = self
            .signer
            .issue(Purpose::Session, account, contact, expires);
        Cookie::build((SESSION_COOKIE, token))
            .path("/portal")
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Lax)
            .max_age(cookie::time::Duration::minutes(i64::from(
                self.config.session_minutes,
            )))
            .build()
            .to_string()
    }

    /// The signed-in member behind the request's session cookie.
    async fn member(&self, headers: &HeaderMap) -> Result<Member, Response> {
        let now = SystemClock.now_ms();
        let Some(token) = cookie_value(headers, SESSION_COOKIE) else {
            return Err(self.message(
                StatusCode::UNAUTHORIZED,
                "Please sign in",
                "Open the sign-in link from your latest reward statement, or ask your account manager for a new one.",
            ));
        };
        let claims = match self.signer.verify(&token, Purpose::Session, now) {
            Ok(claims) => claims,
            Err(TokenError::Expired) => {
                return Err(self.message(
                    StatusCode::UNAUTHORIZED,
                    "Your session has ended",
                    "Sign in again with a new link from your statement or your account manager.",
                ));
            }
            Err(_) => {
                return Err(self.message(
                    StatusCode::UNAUTHORIZED,
                    "Please sign in",
                    "Your session is not valid. Sign in again with a new link.",
                ));
            }
        };
        match self.store().portal_link_used(claims.nonce.clone()).await {
            Ok(false) => {}
            Ok(true) => {
                return Err(self.message(
                    StatusCode::UNAUTHORIZED,
                    "Please sign in",
                    "You signed out. Sign in again with a new link.",
                ));
            }
            Err(e) => return Err(self.unavailable(&e)),
        }
        let csrf = hex::encode(&Sha256::digest(format!("csrf:{token}").as_bytes())[..16]);
        let view = match self
            .store()
            .member_view(claims.account, self.program().clone())
            .await
        {
            Ok(Some(view)) => view,
            Ok(None) => {
                return Err(self.message(
                    StatusCode::NOT_FOUND,
                    "Account not found",
                    "The account of this session is no longer in the program.",
                ));
            }
            Err(e) => return Err(self.unavailable(&e)),
        };
        Ok(Member { claims, csrf, view })
    }

    /// The signed-in member behind a form it sent, whose token must be the
    /// session's; else the page saying `refused` and nothing was done.
    async fn member_posting(
        &self,
        headers: &HeaderMap,
        csrf: &str,
        refused: &str,
    ) -> Result<Member, Response> {
        let member = self.member(headers).await?;
        if member.check_csrf(csrf) {
            Ok(member)
        } else {
            Err(self.foreign_form(refused))
        }
    }

    /// The refusal of a form that did not come from the member's session.
    fn foreign_form(&self, refused: &str) -> Response {
        self.message(
            StatusCode::FORBIDDEN,
            refused,
            "The form was not sent from this portal, so nothing was done.",
        )
    }

    fn unavailable(&self, e: &crate::store::StoreError) -> Response {
        tracing::error!(error = %e, "store failure in the portal");
        let mut response = self.message(
            StatusCode::SERVICE_UNAVAILABLE,
            "Temporarily unavailable",
            "The rewards portal cannot reach its records right now. Please try again in a minute.",
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
        response
    }

    /// The refusal of a link, in words.
    fn refused_link(&self, error: TokenError) -> Response {
        match error {
            TokenError::Expired => self.message(
                StatusCode::UNAUTHORIZED,
                "This link has expired",
                "Links work for a limited time. Ask your account manager for a new one, or use the link in your latest statement.",
            ),
            TokenError::Malformed | TokenError::BadSignature => self.message(
                StatusCode::BAD_REQUEST,
                "This link is not valid",
                "It may have been cut short when copied. Open it from the message again, or ask for a new one.",
            ),
        }
    }

    /// Whether `contact` belongs to `account`, and its email if so.
    async fn contact_of(
        &self,
        account: AccountId,
        contact: i64,
    ) -> Result<Option<String>, Response> {
        let detail = self
            .store()
            .account(account)
            .await
            .map_err(|e| self.unavailable(&e))?;
        Ok(detail.and_then(|d| {
            d.contacts
                .into_iter()
                .find(|c| c.id == contact)
                .map(|c| c.email.unwrap_or_else(|| format!("contact {}", c.id)))
        }))
    }
}

/// A signed-in member.
struct Member {
    /// The session's claims: account and contact.
    claims: Claims,
    /// The token forms carry against cross-site requests.
    csrf: String,
    /// The account as the portal shows it.
    view: crate::store::portal::MemberView,
}

impl Member {
    /// What every page's layout shows.
    fn layout(&self) -> Value {
        context! {
            name => self.view.name.clone(),
            balance => self.view.balance,
            csrf => self.csrf.clone(),
        }
    }

    fn check_csrf(&self, given: &str) -> bool {
        subtle::ConstantTimeEq::ct_eq(given.as_bytes(), self.csrf.as_bytes()).into()
    }
}

/// The value of the request's cookie `name`.
fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

/// `2026-07-01` for a millisecond timestamp.
pub(crate) fn day(at: i64) -> String {
    jiff::Timestamp::from_millisecond(at)
        .map(|t| t.to_zoned(jiff::tz::TimeZone::UTC).date().to_string())
        .unwrap_or_default()
}

/// `2026-07-01 14:05 UTC` for a millisecond timestamp.
fn moment(at: i64) -> String {
    jiff::Timestamp::from_millisecond(at)
        .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

/// The portal's and the dashboard's routes.
pub fn routes(portal: Arc<Portal>) -> Router {
    Router::new()
        .route("/portal/sign-in", get(sign_in_form).post(sign_in))
        .route("/portal/sign-out", axum::routing::post(sign_out))
        .route("/portal/join", get(join_form).post(join))
        .merge(member::routes())
        .merge(admin::routes())
        .with_state(portal)
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// A sign-in link's claims if it is valid, unused and its contact still
/// belongs to its account; else the page saying why not.
async fn sign_in_claims(
    portal: &Portal,
    token: Option<&str>,
    now: i64,
) -> Result<Claims, Response> {
    let Some(token) = token else {
        return Err(portal.refused_link(TokenError::Malformed));
    };
    let claims = portal
        .signer
        .verify(token, Purpose::SignIn, now)
        .map_err(|e| portal.refused_link(e))?;
    if portal
        .contact_of(claims.account, claims.contact)
        .await?
        .is_none()
    {
        return Err(portal.message(
            StatusCode::FORBIDDEN,
            "This link is no longer valid",
            "The contact it was made for is no longer with this account.",
        ));
    }
    match portal.store().portal_link_used(claims.nonce.clone()).await {
        Ok(false) => Ok(claims),
        Ok(true) => Err(used_link(portal)),
        Err(e) => Err(portal.unavailable(&e)),
    }
}

fn used_link(portal: &Portal) -> Response {
    portal.message(
        StatusCode::UNAUTHORIZED,
        "This link was used already",
        "A sign-in link works once. Ask for a new one, or use the link in your latest statement.",
    )
}

/// Opening a sign-in link shows a button rather than signing in at once:
/// mail scanners that open links before the member does would otherwise
/// use them up.
async fn sign_in_form(
    State(portal): State<Arc<Portal>>,
    Query(query): Query<TokenQuery>,
) -> Response {
    let now = SystemClock.now_ms();
    let token = query.token.unwrap_or_default();
    if let Err(refused) =
        sign_in_claims(&portal, Some(token.as_str()).filter(|t| !t.is_empty()), now).await
    {
        return refused;
    }
    portal.page(
        StatusCode::OK,
        "sign-in.html",
        context! { member => Value::UNDEFINED, token => token },
    )
}

#[derive(Deserialize)]
struct SignInForm {
    token: String,
}

async fn sign_in(State(portal): State<Arc<Portal>>, Form(form): Form<SignInForm>) -> Response {
    let now = SystemClock.now_ms();
    let claims = match sign_in_claims(&portal, Some(&form.token), now).await {
        Ok(claims) => claims,
        Err(refused) => return refused,
    };
    match portal
        .store()
        .use_portal_link(
            claims.nonce.clone(),
            Purpose::SignIn.as_str().to_owned(),
            claims.account,
            claims.contact,
        )
        .await
    {
        Ok(true) => {}
        Ok(false) => return used_link(&portal),
        Err(e) => return portal.unavailable(&e),
    }
    tracing::info!(
        account = claims.account,
        contact = claims.contact,
        "portal sign-in"
    );
    signed_in(&portal, claims.account, claims.contact, now)
}

/// A redirect to the overview that sets a new session.
fn signed_in(portal: &Portal, account: AccountId, contact: i64, now: i64) -> Response {
    let mut response = Redirect::to("/portal").into_response();
    if let Ok(value) = HeaderValue::from_str(&portal.session_cookie(account, contact, now)) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn sign_out(
    State(portal): State<Arc<Portal>>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Ok(member) = portal.member(&headers).await {
        if !member.check_csrf(&form.csrf) {
            return portal.foreign_form("Not signed out");
        }
        // The session ends here, not only in this browser: a copy of the
        // cookie is refused from now on.
        let ended = portal
            .store()
            .use_portal_link(
                member.claims.nonce.clone(),
                Purpose::Session.as_str().to_owned(),
                member.claims.account,
                member.claims.contact,
            )
            .await;
        if let Err(e) = ended {
            return portal.unavailable(&e);
        }
    }
    let cleared = Cookie::build((SESSION_COOKIE, ""))
        .path("/portal")
        .http_only(true)
        .secure(portal.secure)
        .max_age(cookie::time::Duration::ZERO)
        .build()
        .to_string();
    let mut response = portal.message(
        StatusCode::OK,
        "Signed out",
        "You have signed out. Use a sign-in link to come back.",
    );
    if let Ok(value) = HeaderValue::from_str(&cleared) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// The invitation's claims and the terms in force, or the page refusing it.
async fn invitation(
    portal: &Portal,
    token: Option<&str>,
    now: i64,
) -> Result<(Claims, String), Response> {
    let Some(token) = token else {
        return Err(portal.refused_link(TokenError::Malformed));
    };
    let claims = portal
        .signer
        .verify(token, Purpose::Enroll, now)
        .map_err(|e| portal.refused_link(e))?;
    match portal.contact_of(claims.account, claims.contact).await? {
        Some(contact) => Ok((claims, contact)),
        None => Err(portal.message(
            StatusCode::FORBIDDEN,
            "This invitation is no longer valid",
            "The contact it was made for is no longer with this account.",
        )),
    }
}

async fn join_form(State(portal): State<Arc<Portal>>, Query(query): Query<TokenQuery>) -> Response {
    let now = SystemClock.now_ms();
    let token = query.token.unwrap_or_default();
    let (claims, contact) = match invitation(&portal, Some(&token), now).await {
        Ok(found) => found,
        Err(refused) => return refused,
    };
    let view = match portal
        .store()
        .member_view(claims.account, portal.program().clone())
        .await
    {
        Ok(Some(view)) => view,
        Ok(None) => {
            return portal.message(
                StatusCode::NOT_FOUND,
                "Account not found",
                "The invited account is no longer in the program.",
            );
        }
        Err(e) => return portal.unavailable(&e),
    };
    if view.membership == Some(MembershipStatus::Active) {
        return portal.message(
            StatusCode::OK,
            "Already a member",
            "Your company is a member already. Use a sign-in link to open the portal.",
        );
    }
    let program = portal.program();
    let terms = program.terms_at(now);
    portal.page(
        StatusCode::OK,
        "join.html",
        context! {
            member => Value::UNDEFINED,
            account => view.name,
            contact => contact,
            token => token,
            terms_version => terms.map(|t| t.version.clone()),
            terms_html => terms.map(|t| Value::from_safe_string(member::markdown(&t.text))),
            tiers => Value::from_serialize(&program.tiers.tiers),
            window_days => program.tiers.window_days,
            currency => program.currency.clone(),
            points_per_unit => program.points_per_unit.to_string(),
        },
    )
}

#[derive(Deserialize)]
struct JoinForm {
    token: String,
    accept: Option<String>,
    terms_version: Option<String>,
}

async fn join(State(portal): State<Arc<Portal>>, Form(form): Form<JoinForm>) -> Response {
    let now = SystemClock.now_ms();
    let (claims, contact) = match invitation(&portal, Some(&form.token), now).await {
        Ok(found) => found,
        Err(refused) => return refused,
    };
    let program = portal.program().clone();
    let current = program.terms_at(now).map(|t| t.version.clone());
    if current.is_some() && form.accept.is_none() {
        return portal.message(
            StatusCode::BAD_REQUEST,
            "Please accept the terms",
            "Joining needs the program's terms accepted: go back, read them and tick the box.",
        );
    }
    if current.is_some() && form.terms_version != current {
        return portal.message(
            StatusCode::CONFLICT,
            "The terms have changed",
            "New terms came into force while the page was open: go back and read the current ones.",
        );
    }
    match portal
        .store()
        .use_portal_link(
            claims.nonce.clone(),
            Purpose::Enroll.as_str().to_owned(),
            claims.account,
            claims.contact,
        )
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            return portal.message(
                StatusCode::CONFLICT,
                "This invitation was used already",
                "Your company has joined with it. Use a sign-in link to open the portal.",
            );
        }
        Err(e) => return portal.unavailable(&e),
    }
    let actor = format!("portal:contact:{}", claims.contact);
    if let Some(version) = current {
        let outcome = portal
            .store()
            .accept_terms(TermsAcceptance {
                account_id: claims.account,
                version,
                contact,
                actor: actor.clone(),
                program: program.clone(),
            })
            .await;
        match outcome {
            Ok(AcceptanceOutcome::Recorded { .. }) => {}
            Ok(other) => {
                tracing::warn!(
                    ?other,
                    account = claims.account,
                    "terms not accepted at enrollment"
                );
                return portal.message(
                    StatusCode::CONFLICT,
                    "Not enrolled",
                    "The terms could not be recorded. Please ask your account manager.",
                );
            }
            Err(e) => return portal.unavailable(&e),
        }
    }
    if let Err(refused) = member::activate(&portal, claims.account, actor).await {
        return refused;
    }
    tracing::info!(
        account = claims.account,
        contact = claims.contact,
        "enrolled through the portal"
    );
    signed_in(&portal, claims.account, claims.contact, now)
}
