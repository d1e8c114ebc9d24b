//! The HTTP edge: what every request meets before its handler, and the
//! listener it arrives on. Bodies are capped (`[server] body_bytes_max`;
//! webhooks are capped by their connector's `payload_bytes_max` in their
//! handler). Requests are counted against keyed rate limits
//! (`[server.rate_limits]`): sign-in attempts and wrong bearer tokens per
//! client address, webhooks per connector, API calls per token; over a
//! limit the answer is 429 with `Retry-After`. The listener speaks plain
//! HTTP or, with `[server.tls]`, HTTPS.
//!
//! A client that has used up its sign-in attempts is refused with every
//! bearer token it presents, a correct one too, until its wait is over:
//! were a correct token let through, the 429s would tell a brute-forcing
//! client which guess was right.

mod tls;

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use axum::serve::IncomingStream;
use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;

pub use tls::{Tls, TlsError, TlsListener};

use crate::api::error;
use crate::config::ServerConfig;
use crate::config::schema::RateLimits;

/// The forms that sign in: the portal's sign-in and enrollment, and the
/// dashboard's token sign-in.
const SIGN_IN_FORMS: &[&str] = &["/portal/sign-in", "/portal/join", "/admin/sign-in"];
/// How often idle keys are dropped from the limiters, so that their memory
/// stays bounded by the clients of about the last minute.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// The TCP peer of a connection: the router's connect info.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer(pub SocketAddr);

impl Connected<IncomingStream<'_, TcpListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, TcpListener>) -> Self {
        Self(*stream.remote_addr())
    }
}

impl Connected<IncomingStream<'_, TlsListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Self {
        Self(*stream.remote_addr())
    }
}

/// Serves `app` on `listener`, over TLS when `tls` is set, until `shutdown`
/// completes; then lets the requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    tls: Option<Tls>,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let service = app.into_make_service_with_connect_info::<Peer>();
    match tls {
        None => {
            axum::serve(listener, service)
                .with_graceful_shutdown(shutdown)
                .await
        }
        Some(tls) => {
            axum::serve(TlsListener::new(listener, &tls), service)
                .with_graceful_shutdown(shutdown)
                .await
        }
    }
}

/// The limits every request meets, and what they have counted.
pub struct Edge {
    body_bytes_max: usize,
    trusted_proxies: Vec<IpAddr>,
    limits: RateLimits,
    /// SHA-256 of every accepted bearer token.
    tokens: Vec<[u8; 32]>,
    /// The connectors: only theirs are counted, so that made-up names in
    /// webhook URLs cannot grow the webhook limiter.
    connectors: BTreeSet<String>,
    sign_in: Option<DefaultKeyedRateLimiter<IpAddr>>,
    webhooks: Option<DefaultKeyedRateLimiter<String>>,
    api: Option<DefaultKeyedRateLimiter<[u8; 32]>>,
    /// Clients out of sign-in attempts, until when.
    blocked: Mutex<HashMap<IpAddr, Instant>>,
    pruned_at: Mutex<Instant>,
    /// One permit per webhook request being handled
    /// (`[server] webhooks_in_flight_max`).
    webhooks_in_flight: tokio::sync::Semaphore,
    webhooks_in_flight_max: usize,
}

impl std::fmt::Debug for Edge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Edge")
            .field("body_bytes_max", &self.body_bytes_max)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Edge {
    /// The edge of a daemon with `server`'s settings and these connectors.
    pub fn new<'a>(
        server: &ServerConfig,
        connectors: impl IntoIterator<Item = &'a String>,
    ) -> Self {
        let limits = server.rate_limits;
        let per = |rate: u32, period: fn(NonZeroU32) -> Quota| NonZeroU32::new(rate).map(period);
        Self {
            body_bytes_max: server.body_bytes_max,
            trusted_proxies: server
                .trusted_proxies
                .iter()
                .map(IpAddr::to_canonical)
                .collect(),
            limits,
            tokens: server
                .admin_token_sha256
                .iter()
                .copied()
                .chain(server.tokens.iter().map(|t| t.sha256))
                .collect(),
            connectors: connectors.into_iter().cloned().collect(),
            sign_in: per(limits.sign_in_per_minute.0, Quota::per_minute)
                .map(DefaultKeyedRateLimiter::keyed),
            webhooks: per(limits.webhooks_per_second.0, Quota::per_second)
                .map(DefaultKeyedRateLimiter::keyed),
            api: per(limits.api_per_second.0, Quota::per_second)
                .map(DefaultKeyedRateLimiter::keyed),
            blocked: Mutex::new(HashMap::new()),
            pruned_at: Mutex::new(Instant::now()),
            webhooks_in_flight: tokio::sync::Semaphore::new(server.webhooks_in_flight_max),
            webhooks_in_flight_max: server.webhooks_in_flight_max,
        }
    }

    /// `app` behind the edge.
    pub fn apply(self, app: Router) -> Router {
        let body_bytes_max = self.body_bytes_max;
        app.layer(axum::middleware::from_fn_with_state(Arc::new(self), guard))
            .layer(DefaultBodyLimit::max(body_bytes_max))
    }

    /// Counts a sign-in attempt of `client`: `Err` with the wait once it is
    /// out of attempts.
    fn sign_in_attempt(&self, client: IpAddr) -> Result<(), Duration> {
        let Some(limiter) = &self.sign_in else {
            return Ok(());
        };
        limiter.check_key(&client).map_err(|refused| {
            let wait = refused.wait_time_from(limiter.clock().now());
            self.blocked().insert(client, Instant::now() + wait);
            wait
        })
    }

    /// How long `client` must still wait for its next sign-in attempt.
    fn blocked_for(&self, client: IpAddr) -> Option<Duration> {
        self.blocked()
            .get(&client)
            .and_then(|until| until.checked_duration_since(Instant::now()))
            .filter(|wait| !wait.is_zero())
    }

    fn blocked(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Instant>> {
        self.blocked.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether `token` is one of the accepted tokens, compared in constant
    /// time like the handlers do.
    fn known_token(&self, digest: &[u8; 32]) -> bool {
        self.tokens.iter().fold(false, |found, known| {
            found | bool::from(known.ct_eq(digest))
        })
    }

    /// Drops what the limiters remember of clients idle for a while, at
    /// most every [`PRUNE_EVERY`].
    fn prune(&self) {
        let Ok(mut pruned_at) = self.pruned_at.try_lock() else {
            return;
        };
        if pruned_at.elapsed() < PRUNE_EVERY {
            return;
        }
        *pruned_at = Instant::now();
        if let Some(limiter) = &self.sign_in {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        if let Some(limiter) = &self.webhooks {
            limiter.retain_recent();
        }
        if let Some(limiter) = &self.api {
            limiter.retain_recent();
        }
        let now = Instant::now();
        let mut blocked = self.blocked();
        blocked.retain(|_, until| *until > now);
        blocked.shrink_to_fit();
    }
}

/// The middleware: rate limits, then the body limit, then the handler; a
/// 413 of an extractor becomes the API's JSON error.
async fn guard(State(edge): State<Arc<Edge>>, request: Request, next: Next) -> Response {
    edge.prune();
    let peer = request
        .extensions()
        .get::<ConnectInfo<Peer>>()
        .map(|ConnectInfo(Peer(addr))| addr.ip());
    let client = client_key(client_address(
        peer,
        request.headers(),
        &edge.trusted_proxies,
    ));
    let path = request.uri().path();
    if let Some(connector) = path.strip_prefix("/webhooks/") {
        let connector = connector.to_owned();
        return webhook(edge, client, connector, request, next).await;
    }
    if request.method() == Method::POST && SIGN_IN_FORMS.contains(&path) {
        if let Err(wait) = edge.sign_in_attempt(client) {
            tracing::warn!(%client, path, "sign-in rate limit reached");
            return sign_in_refused(&edge, wait);
        }
    } else if let Some(token) = presented_token(request.headers()) {
        if let Some(wait) = edge.blocked_for(client) {
            return sign_in_refused(&edge, wait);
        }
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if edge.known_token(&digest) {
            if let Some(limiter) = &edge.api
                && let Err(refused) = limiter.check_key(&digest)
            {
                let wait = refused.wait_time_from(limiter.clock().now());
                return too_many(
                    wait,
                    format!(
                        "this token may make at most {} requests a second ([server.rate_limits] api_per_second)",
                        edge.limits.api_per_second.0
                    ),
                );
            }
        } else if let Err(wait) = edge.sign_in_attempt(client) {
            tracing::warn!(%client, "wrong bearer tokens: rate limit reached");
            return sign_in_refused(&edge, wait);
        }
    }
    if let Some(length) = content_length(request.headers())
        && length > edge.body_bytes_max
    {
        drain(request.into_body(), length).await;
        return body_too_large(edge.body_bytes_max);
    }
    let response = next.run(request).await;
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"application/json"));
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE && !json {
        return body_too_large(edge.body_bytes_max);
    }
    response
}

/// A webhook for `connector`, as its URL spells it. Only a connector's own
/// name gets through (`/webhooks/shop%69fy` is not `shopify` here), so that
/// no spelling escapes its rate limit. The handler spends the connector's
/// webhook budget through the [`WebhookGate`] once the delivery is
/// verified, so forgeries cannot use it up; a client whose deliveries fail
/// verification (401) spends its sign-in attempts instead, and is then
/// refused before anything is verified.
async fn webhook(
    edge: Arc<Edge>,
    client: IpAddr,
    connector: String,
    mut request: Request,
    next: Next,
) -> Response {
    if !edge.connectors.contains(&connector) {
        return error(
            StatusCode::NOT_FOUND,
            format!("no connector named `{connector}`"),
        );
    }
    if let Some(wait) = edge.blocked_for(client) {
        return sign_in_refused(&edge, wait);
    }
    request
        .extensions_mut()
        .insert(WebhookGate(Arc::clone(&edge)));
    let response = next.run(request).await;
    if response.status() == StatusCode::UNAUTHORIZED && edge.sign_in_attempt(client).is_err() {
        tracing::warn!(%client, connector, "webhooks failing verification: rate limit reached");
    }
    response
}

/// What the webhook handler asks, once a delivery is verified, whether its
/// connector's budget (`[server.rate_limits] webhooks_per_second`) allows
/// one more.
#[derive(Clone)]
pub struct WebhookGate(Arc<Edge>);

impl WebhookGate {
    /// Takes one of the webhooks-in-flight permits, held while the delivery
    /// is verified and stored; `Err` is the 503 to answer, with
    /// `Retry-After`. Past the bound a webhook is refused at once: under a
    /// burst the daemon cannot keep up with, vendors get a quick answer to
    /// retry on rather than one that comes after their own timeout, and
    /// the work (and memory) in hand stays bounded. Bodies are read before:
    /// a slow sender holds no permit.
    #[allow(
        clippy::result_large_err,
        reason = "the refusal is the HTTP answer itself, returned at once; boxing it buys nothing"
    )]
    pub(crate) fn enter(
        &self,
        connector: &str,
    ) -> Result<tokio::sync::SemaphorePermit<'_>, Response> {
        let edge = &self.0;
        edge.webhooks_in_flight.try_acquire().map_err(|_| {
            tracing::warn!(connector, "too many webhooks in flight: webhook refused");
            let mut response = error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "the daemon is handling {} webhooks already ([server] webhooks_in_flight_max); redeliver later",
                    edge.webhooks_in_flight_max
                ),
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(1));
            response
        })
    }

    /// Spends one webhook of `connector`'s budget; `Err` is the 429 to
    /// answer, with `Retry-After`.
    #[allow(
        clippy::result_large_err,
        reason = "the refusal is the HTTP answer itself, returned at once; boxing it buys nothing"
    )]
    pub(crate) fn admit(&self, connector: &str) -> Result<(), Response> {
        let edge = &self.0;
        let Some(limiter) = &edge.webhooks else {
            return Ok(());
        };
        limiter.check_key(&connector.to_owned()).map_err(|refused| {
            let wait = refused.wait_time_from(limiter.clock().now());
            tracing::warn!(connector, "webhook rate limit reached");
            too_many(
                wait,
                format!(
                    "connector `{connector}` receives at most {} webhooks a second ([server.rate_limits] webhooks_per_second); redeliver later",
                    edge.limits.webhooks_per_second.0
                ),
            )
        })
    }
}

/// The token of an `Authorization` header: what follows `Bearer `, or the
/// whole value for another scheme (a guess all the same).
fn presented_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    Some(value.strip_prefix("Bearer ").map_or(value, str::trim))
}

/// Reads and drops a refused body of `announced` bytes, so that a client
/// that writes its whole body before it reads the answer (most do, without
/// `Expect: 100-continue`) reads the refusal instead of a reset
/// connection. Bodies over [`DRAIN_BYTES_MAX`], or slower than
/// [`DRAIN_TIME_MAX`], are cut off.
pub(crate) async fn drain(body: axum::body::Body, announced: usize) {
    use http_body_util::BodyExt;
    if announced > DRAIN_BYTES_MAX {
        return;
    }
    let mut body = body;
    let read = async {
        let mut seen = 0usize;
        while let Some(Ok(frame)) = body.frame().await {
            seen += frame.data_ref().map_or(0, |d| d.len());
            if seen > DRAIN_BYTES_MAX {
                return;
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME_MAX, read).await;
}

/// The largest refused body [`drain`] reads.
const DRAIN_BYTES_MAX: usize = 16 << 20;
/// How long [`drain`] reads at most.
const DRAIN_TIME_MAX: Duration = Duration::from_secs(5);

fn content_length(headers: &HeaderMap) -> Option<usize> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// The client of a request from `peer`: the peer itself, unless it is a
/// trusted proxy; then the right-most `X-Forwarded-For` address that is not
/// one (or the left-most, if all are). An address that does not parse ends
/// the walk: what is left of it is the client's to write.
pub fn client_address(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    // Without connect info (a router served by a test) the client is
    // unknown; all such requests share one key.
    let mut client = peer.map_or(IpAddr::from([0, 0, 0, 0]), |p| p.to_canonical());
    if !trusted.contains(&client) {
        return client;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    for hop in hops.into_iter().rev() {
        let Some(address) = parse_hop(hop.trim()) else {
            return client;
        };
        client = address;
        if !trusted.contains(&address) {
            return address;
        }
    }
    client
}

/// A forwarded address, with or without a port.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(|a| a.to_canonical())
}

/// The key a client is counted under: its IPv4 address, or the /64 of its
/// IPv6 address, since one subscriber usually holds a whole /64.
pub fn client_key(address: IpAddr) -> IpAddr {
    match address.to_canonical() {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !u128::from(u64::MAX);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
        v4 => v4,
    }
}

fn sign_in_refused(edge: &Edge, wait: Duration) -> Response {
    too_many(
        wait,
        format!(
            "too many sign-in attempts, wrong tokens or unverifiable webhooks from this address: at most {} a minute ([server.rate_limits] sign_in_per_minute)",
            edge.limits.sign_in_per_minute.0
        ),
    )
}

/// 429 with `Retry-After`: whole seconds, at least one.
fn too_many(wait: Duration, message: String) -> Response {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let seconds = seconds.max(1);
    let mut response = error(
        StatusCode::TOO_MANY_REQUESTS,
        format!("{message}; retry in {seconds} s"),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

fn body_too_large(limit: usize) -> Response {
    error(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the request body exceeds {limit} bytes ([server] body_bytes_max)"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", value.parse().unwrap());
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let headers = forwarded(&["203.0.113.7"]);
        assert_eq!(
            client_address(Some(ip("198.51.100.1")), &headers, &[ip("127.0.0.1")]),
            ip("198.51.100.1")
        );
    }

    #[test]
    fn behind_a_trusted_proxy_the_right_most_untrusted_hop_is_the_client() {
        // The client forged the first hop; the proxy appended the real one.
        let headers = forwarded(&["1.1.1.1, 203.0.113.7", "10.0.0.2"]);
        let trusted = [ip("127.0.0.1"), ip("10.0.0.2")];
        assert_eq!(
            client_address(Some(ip("127.0.0.1")), &headers, &trusted),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn forwarded_hops_may_carry_ports() {
        let headers = forwarded(&["203.0.113.7:51234"]);
        assert_eq!(
            client_address(Some(ip("127.0.0.1")), &headers, &[ip("127.0.0.1")]),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn an_unparsable_hop_leaves_the_last_trusted_one_as_the_client() {
        let headers = forwarded(&["203.0.113.7, garbage"]);
        assert_eq!(
            client_address(Some(ip("127.0.0.1")), &headers, &[ip("127.0.0.1")]),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn a_trusted_proxy_without_forwarded_for_is_the_client() {
        assert_eq!(
            client_address(Some(ip("127.0.0.1")), &HeaderMap::new(), &[ip("127.0.0.1")]),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn an_ipv4_mapped_peer_matches_its_ipv4_proxy() {
        let headers = forwarded(&["203.0.113.7"]);
        assert_eq!(
            client_address(Some(ip("::ffff:127.0.0.1")), &headers, &[ip("127.0.0.1")]),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64_bit_prefix() {
        assert_eq!(
            client_key(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd")),
            ip("2001:db8:1:2::")
        );
        assert_eq!(client_key(ip("203.0.113.7")), ip("203.0.113.7"));
    }

    #[test]
    fn retry_after_is_whole_seconds_rounded_up_and_at_least_one() {
        let header = |wait| too_many(wait, String::new()).headers()[header::RETRY_AFTER].clone();
        assert_eq!(header(Duration::from_millis(5_100)), "6");
        assert_eq!(header(Duration::from_secs(6)), "6");
        assert_eq!(header(Duration::ZERO), "1");
    }

    #[test]
    fn a_non_bearer_authorization_counts_as_a_token_guess() {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, "Basic dXNlcjpwYXNz".parse().unwrap());
        assert_eq!(presented_token(&headers), Some("Basic dXNlcjpwYXNz"));
        headers.insert(header::AUTHORIZATION, "Bearer  abc ".parse().unwrap());
        assert_eq!(presented_token(&headers), Some("abc"));
    }
}
