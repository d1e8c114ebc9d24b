//! The plugin runtime against real components built from `tests/components`:
//! a well-behaved echo connector and a hostile one that tries to escape.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use loyalty_e2e::{declared_hosts, test_component};
use loyaltyd::runtime::wit::latest::exports::loyalty::connector::source::PollRequest;
use loyaltyd::runtime::wit::latest::loyalty::connector::types::{
    Error as GuestError, Event, Header, WebhookRequest,
};
use loyaltyd::runtime::{
    CallError, Credential, FixedClock, Grants, Injection, LimitExceeded, Limits, MemoryState,
    OAuth2, OAuth2Grant, Plugin, PluginSpec, Runtime, RuntimeOptions, Secret, WebhookSession,
};

const WEBHOOK_SECRET: &[u8] = b"echo-signing-secret";

fn runtime() -> Runtime {
    Runtime::new(RuntimeOptions {
        clock: Arc::new(FixedClock(1_767_225_600_000)),
        ..RuntimeOptions::default()
    })
    .unwrap()
}

fn load(
    runtime: &Runtime,
    name: &str,
    limits: Limits,
    grants: Grants,
    state: MemoryState,
) -> Plugin {
    runtime
        .load(PluginSpec {
            name: name.to_owned(),
            wasm: test_component(name),
            limits,
            grants,
            state: Arc::new(state),
        })
        .unwrap()
}

fn echo(runtime: &Runtime, state: MemoryState) -> Plugin {
    let mut grants = Grants::default();
    grants
        .secrets
        .insert("webhook".to_owned(), Secret::new(WEBHOOK_SECRET));
    grants.settings.insert("total".to_owned(), "5".to_owned());
    load(runtime, "echo", Limits::default(), grants, state)
}

fn sign(body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(WEBHOOK_SECRET).unwrap();
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn webhook(body: &[u8], headers: &[(&str, &str)]) -> WebhookRequest {
    WebhookRequest {
        method: "POST".to_owned(),
        url: "https://loyalty.example/webhooks/echo?shop=acme".to_owned(),
        headers: headers
            .iter()
            .map(|(n, v)| Header {
                name: (*n).to_owned(),
                value: (*v).to_owned(),
            })
            .collect(),
        body: body.to_vec(),
    }
}

fn command(json: &str) -> WebhookRequest {
    webhook(json.as_bytes(), &[])
}

/// The name of the single account event a connector reported.
fn reported(events: &[Event]) -> String {
    match events {
        [Event::Account(account)] => account.name.clone(),
        other => panic!("expected one account event, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_round_trips_a_signed_webhook() {
    let runtime = runtime();
    let plugin = echo(&runtime, MemoryState::default());
    let body = br#"{"hello":"world"}"#;
    let signature = sign(body);
    let request = webhook(
        body,
        &[
            ("X-Echo-Signature", &signature),
            ("X-Delivery-Id", "d-1"),
            ("X-Topic", "orders/paid"),
        ],
    );

    let delivery = plugin.verify_webhook(&request).await.unwrap();
    assert_eq!(
        (delivery.id.as_str(), delivery.topic.as_str()),
        ("d-1", "orders/paid")
    );

    let events = plugin.handle_webhook(&request).await.unwrap().value;
    let [Event::Account(account)] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(account.id, "d-1");
    assert_eq!(account.name.as_bytes(), body);
    let attributes: BTreeMap<_, _> = account
        .attributes
        .iter()
        .map(|a| (a.name.as_str(), a.value.as_str()))
        .collect();
    assert_eq!(attributes["method"], "POST");
    assert_eq!(
        attributes["url"],
        "https://loyalty.example/webhooks/echo?shop=acme"
    );
    assert_eq!(attributes["header:x-echo-signature"], signature);
    let revenue = account.annual_revenue.as_ref().unwrap();
    assert_eq!(
        (revenue.amount.as_str(), revenue.currency.as_str()),
        ("1285000000", "EUR")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_rejects_a_bad_signature_as_unauthorized() {
    let runtime = runtime();
    let plugin = echo(&runtime, MemoryState::default());
    let request = webhook(
        b"{}",
        &[
            ("X-Echo-Signature", &sign(b"{ }")),
            ("X-Delivery-Id", "d-2"),
        ],
    );
    match plugin.verify_webhook(&request).await {
        Err(CallError::Guest {
            error: GuestError::Unauthorized(message),
            ..
        }) => {
            assert!(message.contains("does not match"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_pages_carry_cursors_and_buffered_state() {
    let runtime = runtime();
    let state = MemoryState::default();
    let plugin = echo(&runtime, state.clone());

    let first = plugin
        .poll(&PollRequest {
            cursor: None,
            page_size: 2,
            since: None,
        })
        .await
        .unwrap();
    assert_eq!(first.value.events.len(), 2);
    assert_eq!(
        (first.value.next_cursor.as_deref(), first.value.more),
        (Some("2"), true)
    );
    assert_eq!(first.state.get("pages"), Some(&Some(b"1".to_vec())));
    assert!(
        state.snapshot().is_empty(),
        "writes are buffered until the caller commits them"
    );
    state.commit(&first.state);

    let second = plugin
        .poll(&PollRequest {
            cursor: first.value.next_cursor,
            page_size: 2,
            since: None,
        })
        .await
        .unwrap();
    assert_eq!(
        second.state.get("pages"),
        Some(&Some(b"2".to_vec())),
        "the committed value is visible"
    );
    state.commit(&second.state);

    let last = plugin
        .poll(&PollRequest {
            cursor: Some("4".to_owned()),
            page_size: 2,
            since: None,
        })
        .await
        .unwrap();
    let ids: Vec<_> = last
        .value
        .events
        .iter()
        .map(|e| match e {
            Event::Contact(c) => c.id.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(ids, ["c4"]);
    assert!(!last.value.more);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn infinite_loop_hits_the_cpu_budget_while_other_calls_are_served() {
    let runtime = runtime();
    let hostile = load(
        &runtime,
        "hostile",
        Limits {
            cpu_ms_max: 400,
            ..Limits::default()
        },
        Grants::default(),
        MemoryState::default(),
    );
    let echo = echo(&runtime, MemoryState::default());

    let started = Instant::now();
    let looping =
        tokio::spawn(async move { hostile.handle_webhook(&command(r#"{"do":"loop"}"#)).await });
    let mut served = 0;
    while !looping.is_finished() {
        echo.poll(&PollRequest {
            cursor: None,
            page_size: 1,
            since: None,
        })
        .await
        .unwrap();
        served += 1;
    }
    let error = looping.await.unwrap().unwrap_err();
    assert!(
        matches!(
            error,
            CallError::Limit {
                limit: LimitExceeded::Cpu { budget_ms: 400 },
                operation: "handle-webhook",
                ..
            }
        ),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains("CPU budget of 400 ms") && message.contains("cpu_ms_max"),
        "{message}"
    );
    assert!(
        served > 10,
        "only {served} calls were served while the loop ran"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the loop ran for {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_in_flight_during_a_reload_is_recorded_with_the_build_that_ran_it() {
    let runtime = runtime();
    let plugin = load(
        &runtime,
        "hostile",
        Limits {
            cpu_ms_max: 600,
            ..Limits::default()
        },
        Grants::default(),
        MemoryState::default(),
    );
    let before = plugin.wasm_sha256();
    let build = plugin.pinned();
    let looping = tokio::spawn(async move {
        (
            build.handle_webhook(&command(r#"{"do":"loop"}"#)).await,
            build,
        )
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!looping.is_finished(), "the loop ended before the reload");
    runtime
        .reload(
            &plugin,
            PluginSpec {
                name: "hostile".to_owned(),
                wasm: test_component("echo"),
                limits: Limits::default(),
                grants: Grants::default(),
                state: Arc::new(MemoryState::default()),
            },
        )
        .unwrap();
    let after = plugin.wasm_sha256();
    assert_ne!(before, after);
    let (result, build) = looping.await.unwrap();
    assert!(
        matches!(result, Err(CallError::Limit { .. })),
        "the old build finished the call: {result:?}"
    );
    // The pinned build still names the component that failed, while the
    // connector now runs the new one.
    assert_eq!(build.wasm_sha256(), before);
    assert_eq!(plugin.wasm_sha256(), after);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verifier_crashes_from_unsigned_input_never_pause_the_genuine_webhooks() {
    let runtime = runtime();
    let plugin = load(
        &runtime,
        "hostile",
        Limits {
            breaker_failures: 2,
            ..Limits::default()
        },
        Grants::default(),
        MemoryState::default(),
    );
    for n in 0..5 {
        let forged = webhook(b"{}", &[("x-crash-verify", "forged")]);
        let error = plugin.verify_webhook(&forged).await.unwrap_err();
        assert!(matches!(error, CallError::Trap { .. }), "{n}: {error:?}");
    }
    let genuine = webhook(b"{}", &[("x-delivery-id", "d1")]);
    let delivery = plugin.verify_webhook(&genuine).await.unwrap();
    assert_eq!(delivery.id, "d1");
    assert!(!plugin.is_paused("verify-webhook"));

    // handle-webhook, which reads only verified deliveries, has a circuit.
    for _ in 0..2 {
        let error = plugin
            .handle_webhook(&command(r#"{"do":"panic","message":"bug"}"#))
            .await
            .unwrap_err();
        assert!(matches!(error, CallError::Trap { .. }), "{error:?}");
    }
    assert!(plugin.is_paused("handle-webhook"));
    let refused = plugin
        .handle_webhook(&command(r#"{"do":"read_poison"}"#))
        .await
        .unwrap_err();
    assert!(
        matches!(refused, CallError::CircuitOpen { .. }),
        "{refused:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allocation_past_the_memory_cap_traps_naming_the_cap() {
    let runtime = runtime();
    let plugin = load(
        &runtime,
        "hostile",
        Limits {
            memory_mib_max: 16,
            ..Limits::default()
        },
        Grants::default(),
        MemoryState::default(),
    );
    let small = plugin
        .handle_webhook(&command(r#"{"do":"alloc","mib":4}"#))
        .await
        .unwrap();
    assert_eq!(reported(&small.value), format!("allocated {}", 4 << 20));

    let error = plugin
        .handle_webhook(&command(r#"{"do":"alloc","mib":64}"#))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            CallError::Limit {
                limit: LimitExceeded::Memory { limit_mib: 16 },
                ..
            }
        ),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains("16 MiB") && message.contains("memory_mib_max"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_returns_its_message_and_the_next_call_gets_a_fresh_instance() {
    let runtime = runtime();
    let plugin = load(
        &runtime,
        "hostile",
        Limits::default(),
        Grants::default(),
        MemoryState::default(),
    );

    let error = plugin
        .handle_webhook(&command(r#"{"do":"panic","message":"ledger on fire"}"#))
        .await
        .unwrap_err();
    let CallError::Trap { stderr, .. } = &error else {
        panic!("{error:?}")
    };
    assert!(stderr.contains("ledger on fire"), "{stderr}");
    assert!(error.to_string().contains("ledger on fire"));
    assert!(!error.is_retryable());

    let poisoned = plugin
        .handle_webhook(&command(r#"{"do":"poison"}"#))
        .await
        .unwrap_err();
    assert!(matches!(poisoned, CallError::Trap { .. }), "{poisoned:?}");
    let after = plugin
        .handle_webhook(&command(r#"{"do":"read_poison"}"#))
        .await
        .unwrap();
    assert_eq!(
        reported(&after.value),
        "0",
        "a trapped instance's memory must never be seen again"
    );
}

/// What the hostile connector's `count` reports on the session's instance.
async fn count(session: &mut WebhookSession) -> String {
    let counted = session
        .handle_webhook(&command(r#"{"do":"count"}"#))
        .await
        .unwrap();
    reported(&counted.value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_session_reuses_its_instance_and_each_call_starts_with_whole_budgets() {
    let runtime = runtime();
    let plugin = load(
        &runtime,
        "hostile",
        Limits {
            cpu_ms_max: 300,
            state_bytes_max: 100,
            ..Limits::default()
        },
        Grants::default(),
        MemoryState::default(),
    );
    let mut session = plugin.webhook_session();
    for expected in ["1", "2", "3"] {
        assert_eq!(
            count(&mut session).await,
            expected,
            "one instance serves the session"
        );
    }
    // Two thirds of the CPU budget per call: together they would exceed it.
    for n in 0..3 {
        let spun = session
            .handle_webhook(&command(r#"{"do":"spin","ms":200}"#))
            .await;
        assert!(spun.is_ok(), "call {n}: {spun:?}");
    }
    // Sixty bytes of state per call against a budget of a hundred; each
    // call hands back only its own writes.
    for key in ["a", "b"] {
        let written = session
            .handle_webhook(&command(&format!(
                r#"{{"do":"write_state","key":"{key}","bytes":59}}"#
            )))
            .await
            .unwrap();
        assert_eq!(
            written.state.keys().collect::<Vec<_>>(),
            [key],
            "{:?}",
            written.state
        );
    }
    assert_eq!(count(&mut session).await, "4");

    // Outside a session every call gets a fresh instance.
    for _ in 0..2 {
        let counted = plugin
            .handle_webhook(&command(r#"{"do":"count"}"#))
            .await
            .unwrap();
        assert_eq!(reported(&counted.value), "1");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_session_drops_its_instance_after_a_trap_a_limit_or_output() {
    let runtime = runtime();
    let plugin = load(
        &runtime,
        "hostile",
        Limits {
            memory_mib_max: 16,
            ..Limits::default()
        },
        Grants::default(),
        MemoryState::default(),
    );
    let mut session = plugin.webhook_session();
    assert_eq!(count(&mut session).await, "1");

    let poisoned = session
        .handle_webhook(&command(r#"{"do":"poison"}"#))
        .await
        .unwrap_err();
    assert!(matches!(poisoned, CallError::Trap { .. }), "{poisoned:?}");
    let after = session
        .handle_webhook(&command(r#"{"do":"read_poison"}"#))
        .await
        .unwrap();
    assert_eq!(
        reported(&after.value),
        "0",
        "a trapped instance's memory must never be seen again"
    );
    assert_eq!(
        count(&mut session).await,
        "1",
        "the call after a trap runs on a fresh instance"
    );

    let refused = session
        .handle_webhook(&command(r#"{"do":"alloc","mib":64}"#))
        .await
        .unwrap_err();
    assert!(matches!(refused, CallError::Limit { .. }), "{refused:?}");
    assert_eq!(
        count(&mut session).await,
        "1",
        "the call after a limit runs on a fresh instance"
    );

    let printed = session
        .handle_webhook(&command(r#"{"do":"print","text":"hello"}"#))
        .await
        .unwrap();
    assert_eq!(reported(&printed.value), "printed");
    assert_eq!(
        count(&mut session).await,
        "1",
        "the call after output runs on a fresh instance"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_written_in_a_call_that_traps_is_not_persisted() {
    let runtime = runtime();
    let state = MemoryState::default();
    let plugin = load(
        &runtime,
        "hostile",
        Limits::default(),
        Grants::default(),
        state.clone(),
    );
    let error = plugin
        .handle_webhook(&command(r#"{"do":"state_then_trap","key":"cursor"}"#))
        .await
        .unwrap_err();
    assert!(matches!(error, CallError::Trap { .. }), "{error:?}");
    assert!(state.snapshot().is_empty());
}

/// A loopback HTTP server that records what it receives. `/redirect?to=URL`
/// answers 302 to `URL`; everything else answers 200.
struct Recorder {
    addr: SocketAddr,
    seen: Seen,
}

/// Path and headers of every request a [`Recorder`] received.
type Seen = Arc<Mutex<Vec<(String, HeaderMap)>>>;

impl Recorder {
    async fn start() -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let app = axum::Router::new()
            .fallback(record)
            .with_state(seen.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { addr, seen }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn requests(&self) -> Vec<(String, HeaderMap)> {
        self.seen.lock().unwrap().clone()
    }
}

async fn record(
    State(seen): State<Seen>,
    uri: Uri,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    seen.lock().unwrap().push((uri.path().to_owned(), headers));
    match query.get("to") {
        Some(to) if uri.path() == "/redirect" => {
            (StatusCode::FOUND, [(header::LOCATION, to.clone())]).into_response()
        }
        _ => (
            StatusCode::OK,
            [(header::SET_COOKIE, "session=abc")],
            format!("hello from {}", uri.path()),
        )
            .into_response(),
    }
}

fn fetch(url: &str, credential: Option<&str>, follow_redirects: bool) -> WebhookRequest {
    let body = serde_json::json!({ "do": "fetch", "url": url, "credential": credential, "follow_redirects": follow_redirects });
    command(&body.to_string())
}

fn outbound_plugin(runtime: &Runtime, allowed: &[String], credential_hosts: &[String]) -> Plugin {
    let mut grants = Grants {
        allowed_hosts: allowed.iter().map(|h| h.parse().unwrap()).collect(),
        settings: declared_hosts(allowed),
        ..Grants::default()
    };
    grants.credentials.insert(
        "api".to_owned(),
        Credential::new(
            Secret::new("top-secret-token"),
            Injection::Header {
                name: "X-Api-Key".to_owned(),
            },
            credential_hosts
                .iter()
                .map(|h| h.parse().unwrap())
                .collect(),
        ),
    );
    load(
        runtime,
        "hostile",
        Limits::default(),
        grants,
        MemoryState::default(),
    )
}

fn denied_message(result: Result<loyaltyd::runtime::Output<Vec<Event>>, CallError>) -> String {
    match result {
        Err(CallError::Guest {
            error: GuestError::Permanent(message),
            ..
        }) if message.contains("denied") => message,
        other => panic!("expected a denied request, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_outside_the_allowlist_is_refused() {
    let (allowed, forbidden) = (Recorder::start().await, Recorder::start().await);
    let runtime = runtime();
    let plugin = outbound_plugin(&runtime, &[allowed.origin()], &[]);

    let ok = plugin
        .handle_webhook(&fetch(&allowed.url("/ok"), None, false))
        .await
        .unwrap();
    assert_eq!(reported(&ok.value), "200 hello from /ok");

    let message = denied_message(
        plugin
            .handle_webhook(&fetch(&forbidden.url("/steal"), None, false))
            .await,
    );
    assert!(
        message.contains(&forbidden.origin()) && message.contains("allowed_hosts"),
        "{message}"
    );
    assert!(forbidden.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_to_a_forbidden_host_is_refused() {
    let (allowed, forbidden) = (Recorder::start().await, Recorder::start().await);
    let runtime = runtime();
    let plugin = outbound_plugin(&runtime, &[allowed.origin()], &[]);
    let redirect = allowed.url(&format!("/redirect?to={}", forbidden.url("/steal")));

    // The host hands the redirect to the guest instead of following it.
    let answer = plugin
        .handle_webhook(&fetch(&redirect, None, false))
        .await
        .unwrap();
    assert!(reported(&answer.value).starts_with("302"), "{answer:?}");
    // A guest that follows it by hand is checked like any other request.
    denied_message(plugin.handle_webhook(&fetch(&redirect, None, true)).await);
    assert!(forbidden.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_uses_only_what_the_connector_declares_and_the_operator_grants() {
    let (declared, undeclared) = (Recorder::start().await, Recorder::start().await);
    let runtime = runtime();
    // Both hosts allowed, but the connector declares only the first (its
    // `{host1}` is set to it) and never the credential `spare`.
    let mut grants = Grants {
        allowed_hosts: vec![
            declared.origin().parse().unwrap(),
            undeclared.origin().parse().unwrap(),
        ],
        settings: declared_hosts(&[declared.origin()]),
        ..Grants::default()
    };
    grants.credentials.insert(
        "spare".to_owned(),
        Credential::new(
            Secret::new("spare-token"),
            Injection::Bearer,
            vec![declared.origin().parse().unwrap()],
        ),
    );
    let plugin = load(
        &runtime,
        "hostile",
        Limits::default(),
        grants,
        MemoryState::default(),
    );

    let ok = plugin
        .handle_webhook(&fetch(&declared.url("/ok"), None, false))
        .await
        .unwrap();
    assert_eq!(reported(&ok.value), "200 hello from /ok");
    let message = denied_message(
        plugin
            .handle_webhook(&fetch(&undeclared.url("/no"), None, false))
            .await,
    );
    assert!(
        message.contains("not among the hosts the connector declares")
            && message.contains(&declared.origin()),
        "{message}"
    );
    let message = denied_message(
        plugin
            .handle_webhook(&fetch(&declared.url("/spare"), Some("spare"), false))
            .await,
    );
    assert!(
        message.contains("credential `spare` is not among the credentials"),
        "{message}"
    );
    assert!(undeclared.requests().is_empty());
    assert_eq!(declared.requests().len(), 1);

    let found = plugin.capability_mismatches().await.unwrap();
    assert_eq!(found.len(), 3, "{found:#?}");
    assert!(found[0].contains(&format!("allowed_hosts grants `{}", undeclared.origin())));
    assert!(found[1].contains("[connectors.hostile.credentials.spare] is configured"));
    assert!(found[2].contains(
        "declares credential `api`, but [connectors.hostile.credentials.api] is not configured"
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_bound_to_one_host_is_never_sent_to_another() {
    let (bound, other) = (Recorder::start().await, Recorder::start().await);
    let runtime = runtime();
    let plugin = outbound_plugin(
        &runtime,
        &[bound.origin(), other.origin()],
        &[bound.origin()],
    );

    plugin
        .handle_webhook(&fetch(&bound.url("/with-key"), Some("api"), false))
        .await
        .unwrap();
    let (_, headers) = bound.requests().pop().unwrap();
    assert_eq!(headers.get("x-api-key").unwrap(), "top-secret-token");
    assert!(headers.get(header::COOKIE).is_none());

    let message = denied_message(
        plugin
            .handle_webhook(&fetch(&other.url("/with-key"), Some("api"), false))
            .await,
    );
    assert!(message.contains("not bound"), "{message}");
    let redirect = bound.url(&format!("/redirect?to={}", other.url("/hop")));
    denied_message(
        plugin
            .handle_webhook(&fetch(&redirect, Some("api"), true))
            .await,
    );

    plugin
        .handle_webhook(&fetch(&other.url("/without-key"), None, false))
        .await
        .unwrap();
    let received = other.requests();
    assert_eq!(
        received.len(),
        1,
        "only the request without the credential reached the other host"
    );
    for (_, headers) in &received {
        for value in headers.values() {
            assert!(
                !value
                    .to_str()
                    .unwrap_or_default()
                    .contains("top-secret-token")
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bursts_of_calls_beyond_instances_max_wait_for_a_slot_and_never_fail() {
    // Every call gets a fresh instance; at most `instances_max` exist at
    // once, and freed slots wait to be decommitted in batches. Callers
    // beyond the limit queue; none may fail for want of a slot. The pool is
    // sized as the daemon sizes it for one connector: its `instances_max`.
    let runtime = Runtime::new(RuntimeOptions {
        clock: Arc::new(FixedClock(1_767_225_600_000)),
        instance_slots: Limits::default().instances_max,
        ..RuntimeOptions::default()
    })
    .unwrap();
    let plugin = echo(&runtime, MemoryState::default());
    let body = b"burst";
    let request = webhook(
        body,
        &[("x-echo-signature", &sign(body)), ("x-delivery-id", "b-1")],
    );
    for _round in 0..300 {
        let calls = (0..32).map(|_| {
            let plugin = plugin.clone();
            let request = request.clone();
            tokio::spawn(async move { plugin.handle_webhook(&request).await })
        });
        for call in calls.collect::<Vec<_>>() {
            let output = call.await.unwrap().unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(reported(&output.value), "burst");
        }
    }
}

/// A vendor on loopback with an OAuth 2.0 token endpoint (`POST /token`,
/// client credentials `loyalty` / `s3cret`) and an API that accepts only the
/// token issued last, and writes only with the CSRF token and session cookie
/// it handed out on `GET` with `X-CSRF-Token: Fetch`, like SAP Gateway.
#[derive(Default)]
struct Vendor {
    access_token: Mutex<Option<String>>,
    tokens_issued: Mutex<u32>,
    csrf: Mutex<Option<(String, String)>>,
    csrf_fetches: Mutex<Vec<String>>,
    writes: Mutex<Vec<HeaderMap>>,
}

async fn vendor_token(State(vendor): State<Arc<Vendor>>, body: String) -> Response {
    let form: BTreeMap<String, String> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let valid = form.get("grant_type").map(String::as_str) == Some("client_credentials")
        && form.get("client_id").map(String::as_str) == Some("loyalty")
        && form.get("client_secret").map(String::as_str) == Some("s3cret");
    if !valid {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(serde_json::json!({ "error": "invalid_client" })),
        )
            .into_response();
    }
    let mut issued = vendor.tokens_issued.lock().unwrap();
    *issued += 1;
    let token = format!("access-{}", *issued);
    *vendor.access_token.lock().unwrap() = Some(token.clone());
    axum::Json(
        serde_json::json!({ "access_token": token, "token_type": "Bearer", "expires_in": 3600 }),
    )
    .into_response()
}

async fn vendor_api(
    State(vendor): State<Arc<Vendor>>,
    method: axum::http::Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let header_value = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let authorization = header_value("authorization");
    if let Some(bearer) = authorization.strip_prefix("Bearer ") {
        if vendor.access_token.lock().unwrap().as_deref() != Some(bearer) {
            return (StatusCode::UNAUTHORIZED, "INVALID_SESSION_ID").into_response();
        }
    } else if authorization != "Basic YXBpOnBhc3N3b3Jk" {
        return (StatusCode::UNAUTHORIZED, "no credentials").into_response();
    }
    if method == axum::http::Method::GET {
        if header_value("x-csrf-token").eq_ignore_ascii_case("fetch") {
            let mut fetches = vendor.csrf_fetches.lock().unwrap();
            fetches.push(uri.path().to_owned());
            let (token, session) = (
                format!("csrf-{}", fetches.len()),
                format!("session-{}", fetches.len()),
            );
            *vendor.csrf.lock().unwrap() = Some((token.clone(), session.clone()));
            return (
                StatusCode::OK,
                [
                    ("x-csrf-token", token),
                    (
                        "set-cookie",
                        format!("SAP_SESSIONID_LOY_100={session}; Path=/"),
                    ),
                ],
                "",
            )
                .into_response();
        }
        return (StatusCode::OK, format!("read {}", uri.path())).into_response();
    }
    let expected = vendor.csrf.lock().unwrap().clone();
    let cookie = header_value("cookie");
    let accepted = expected.is_some_and(|(token, session)| {
        header_value("x-csrf-token") == token
            && cookie.contains(&format!("SAP_SESSIONID_LOY_100={session}"))
    });
    if !accepted {
        return (
            StatusCode::FORBIDDEN,
            [("x-csrf-token", "Required")],
            "CSRF token validation failed",
        )
            .into_response();
    }
    vendor.writes.lock().unwrap().push(headers.clone());
    (StatusCode::CREATED, format!("created {}", uri.path())).into_response()
}

impl Vendor {
    async fn start() -> (Arc<Self>, String) {
        let vendor = Arc::new(Self::default());
        let app = axum::Router::new()
            .route("/token", axum::routing::post(vendor_token))
            .fallback(vendor_api)
            .with_state(vendor.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (vendor, origin)
    }
}

fn vendor_plugin(runtime: &Runtime, origin: &str, credential: Credential) -> Plugin {
    let mut grants = Grants {
        allowed_hosts: vec![origin.parse().unwrap()],
        settings: declared_hosts(&[origin.to_owned()]),
        ..Grants::default()
    };
    grants.credentials.insert("api".to_owned(), credential);
    load(
        runtime,
        "hostile",
        Limits::default(),
        grants,
        MemoryState::default(),
    )
}

/// What the hostile connector reported back: `"<status> <body>"`.
async fn fetched(plugin: &Plugin, method: &str, url: &str) -> String {
    let body = serde_json::json!({ "do": "fetch", "url": url, "credential": "api", "follow_redirects": false, "method": method });
    let output = plugin
        .handle_webhook(&command(&body.to_string()))
        .await
        .unwrap();
    match output.value.as_slice() {
        [Event::Account(account)] => account.name.clone(),
        other => panic!("unexpected events {other:?}"),
    }
}

fn oauth_credential(origin: &str, client_secret: &str) -> Credential {
    Credential::new(
        Secret::new(client_secret),
        Injection::OAuth2(OAuth2 {
            token_url: url::Url::parse(&format!("{origin}/token")).unwrap(),
            grant: OAuth2Grant::ClientCredentials,
            client_id: "loyalty".to_owned(),
            scope: None,
        }),
        vec![origin.parse().unwrap()],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_tokens_are_fetched_once_reused_and_renewed_on_401() {
    let (vendor, origin) = Vendor::start().await;
    let runtime = runtime();
    let plugin = vendor_plugin(&runtime, &origin, oauth_credential(&origin, "s3cret"));

    assert_eq!(
        fetched(&plugin, "GET", &format!("{origin}/a")).await,
        "200 read /a"
    );
    assert_eq!(
        fetched(&plugin, "GET", &format!("{origin}/b")).await,
        "200 read /b"
    );
    assert_eq!(
        *vendor.tokens_issued.lock().unwrap(),
        1,
        "the token is reused"
    );

    // The vendor revokes the session: the next request gets 401, the host
    // fetches a new token and repeats the request once.
    *vendor.access_token.lock().unwrap() = Some("revoked-elsewhere".to_owned());
    assert_eq!(
        fetched(&plugin, "GET", &format!("{origin}/c")).await,
        "200 read /c"
    );
    assert_eq!(*vendor.tokens_issued.lock().unwrap(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_client_secret_is_a_denied_request_naming_the_token_endpoint() {
    let (vendor, origin) = Vendor::start().await;
    let runtime = runtime();
    let plugin = vendor_plugin(&runtime, &origin, oauth_credential(&origin, "wrong"));
    let body = serde_json::json!({ "do": "fetch", "url": format!("{origin}/a"), "credential": "api", "follow_redirects": false });
    let message = denied_message(plugin.handle_webhook(&command(&body.to_string())).await);
    assert!(message.contains("no access token"), "{message}");
    assert!(message.contains("401"), "{message}");
    assert!(
        !message.contains("wrong"),
        "the secret stays out of messages: {message}"
    );
    assert_eq!(*vendor.tokens_issued.lock().unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_carry_a_csrf_token_fetched_from_the_service_root_and_refetched_when_refused() {
    let (vendor, origin) = Vendor::start().await;
    let runtime = runtime();
    let mut credential = Credential::new(
        Secret::new("password"),
        Injection::Basic {
            username: "api".to_owned(),
        },
        vec![origin.parse().unwrap()],
    );
    credential.csrf = true;
    let plugin = vendor_plugin(&runtime, &origin, credential);
    let entity_set = format!(
        "{origin}/sap/opu/odata/sap/API_SLSPRICINGCONDITIONRECORD_SRV/A_SlsPrcgCndnRecdValidity?sap-client=100"
    );

    assert!(
        fetched(&plugin, "GET", &entity_set)
            .await
            .starts_with("200 read"),
        "reads need no CSRF token"
    );
    assert!(vendor.csrf_fetches.lock().unwrap().is_empty());

    assert_eq!(
        fetched(&plugin, "POST", &entity_set).await,
        "201 created /sap/opu/odata/sap/API_SLSPRICINGCONDITIONRECORD_SRV/A_SlsPrcgCndnRecdValidity"
    );
    assert!(
        fetched(&plugin, "POST", &entity_set)
            .await
            .starts_with("201")
    );
    assert_eq!(
        *vendor.csrf_fetches.lock().unwrap(),
        ["/sap/opu/odata/sap/API_SLSPRICINGCONDITIONRECORD_SRV/"],
        "one fetch, at the service root, reused for the second write"
    );

    // The session expires on the vendor's side: the write is refused with
    // `x-csrf-token: Required`, the host fetches a new token and repeats it.
    *vendor.csrf.lock().unwrap() = None;
    assert!(
        fetched(&plugin, "POST", &entity_set)
            .await
            .starts_with("201")
    );
    assert_eq!(vendor.csrf_fetches.lock().unwrap().len(), 2);
    let writes = vendor.writes.lock().unwrap();
    assert_eq!(writes.len(), 3);
    assert_eq!(writes[2].get("x-csrf-token").unwrap(), "csrf-2");
}
