//! Faulty plugins in production: a connector that keeps trapping is paused
//! by its circuit breaker (its deliveries wait instead of all becoming dead
//! letters) while another connector keeps working; `/readyz` and
//! `/metrics` say so. A fixed component is hot-reloaded through the admin
//! endpoint, the held deliveries apply and the dead letters are replayed
//! once; a reload whose component does not load keeps the old one; SIGHUP
//! reloads from the configuration file. A call in flight during a reload
//! finishes on the component it started with.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use loyalty_e2e::daemon::{Daemon, ProgramRules, Setup, random_token};
use loyalty_e2e::{declared_hosts, loyaltyd_binary, test_component};
use loyaltyd::runtime::wit::latest::loyalty::connector::types::{Event, Header, WebhookRequest};
use loyaltyd::runtime::{Grants, Limits, MemoryState, PluginSpec, Runtime, RuntimeOptions};
use serde_json::Value;
use sha2::{Digest, Sha256};

const ECHO_SECRET: &str = "echo-signing-secret";
const BAD_SECRET: &str = "bad-signing-secret";
const WAIT: Duration = Duration::from_secs(20);

fn sha256_file(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

struct Harness {
    daemon: Daemon,
    http: reqwest::Client,
    token: String,
}

impl Harness {
    async fn get(&self, path: &str) -> (u16, String) {
        let response = self
            .http
            .get(format!("{}{path}", self.daemon.base_url()))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    async fn readyz(&self) -> Value {
        let (status, text) = self.get("/readyz").await;
        assert_eq!(status, 200, "{text}");
        serde_json::from_str(&text).unwrap()
    }

    async fn metrics(&self) -> String {
        let (status, text) = self.get("/metrics").await;
        assert_eq!(status, 200, "{text}");
        text
    }

    async fn reload(&self, connector: &str) -> (u16, Value) {
        let response = self
            .http
            .post(format!(
                "{}/api/v1/connectors/{connector}/reload",
                self.daemon.base_url()
            ))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (
            status,
            serde_json::from_str(&response.text().await.unwrap()).unwrap(),
        )
    }

    /// Posts a webhook; `secret` signs it the way the echo connector checks.
    async fn webhook(&self, connector: &str, id: &str, body: &str, secret: &str) -> u16 {
        self.http
            .post(format!("{}/webhooks/{connector}", self.daemon.base_url()))
            .header("x-delivery-id", id)
            .header("x-echo-signature", sign(secret, body.as_bytes()))
            .body(body.to_owned())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// Waits until `check` passes on the metrics text.
    async fn metrics_until(&self, what: &str, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let text = self.metrics().await;
            if check(&text) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not seen in time\n{text}\n{}",
                self.daemon.log_tail(60)
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// The value of the sample `series` (name and labels, as printed).
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|line| {
        line.strip_prefix(series)
            .and_then(|rest| rest.strip_prefix(' '))
            .and_then(|value| value.trim().parse().ok())
    })
}

fn config(bad_wasm: &Path) -> String {
    let echo = Value::from(test_component("echo").to_string_lossy());
    let bad = Value::from(bad_wasm.to_string_lossy());
    format!(
        r#"
[connectors.echo]
plugin = {echo}
[connectors.echo.secrets.webhook]
file = "secrets/echo_webhook"

[connectors.bad]
plugin = {bad}
[connectors.bad.limits]
breaker_failures = 3
breaker_open_seconds = 3600
[connectors.bad.secrets.webhook]
file = "secrets/bad_webhook"
"#
    )
}

fn replay(config: &Path) -> String {
    let output = Command::new(loyaltyd_binary())
        .args(["replay", "--connector", "bad", "--config"])
        .arg(config)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{text}");
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_connector_is_paused_reloaded_and_its_deliveries_applied_once() {
    let wasm_dir = tempfile::tempdir().unwrap();
    let bad_wasm = wasm_dir.path().join("bad.wasm");
    let hostile = test_component("hostile");
    let echo = test_component("echo");
    std::fs::copy(&hostile, &bad_wasm).unwrap();
    let setup = Setup {
        admin_token: random_token().unwrap(),
        program: ProgramRules::default(),
        shopify: None,
        extra_toml: config(&bad_wasm),
        secrets: vec![
            ("echo_webhook".to_owned(), ECHO_SECRET.to_owned()),
            ("bad_webhook".to_owned(), BAD_SECRET.to_owned()),
        ],
    };
    let h = Harness {
        daemon: Daemon::start(&setup).await.unwrap(),
        http: reqwest::Client::new(),
        token: setup.admin_token.clone(),
    };

    // Six deliveries that make the component trap, and two good ones for
    // the other connector. Every webhook is stored and answered 200.
    let panic = r#"{"do":"panic","message":"broken build"}"#;
    for n in 1..=6 {
        let status = h.webhook("bad", &format!("b{n}"), panic, BAD_SECRET).await;
        assert_eq!(status, 200);
    }
    for n in 1..=2 {
        let status = h
            .webhook("echo", &format!("e{n}"), "good", ECHO_SECRET)
            .await;
        assert_eq!(status, 200);
    }

    // Three traps open the breaker; the other three deliveries are held,
    // not turned into dead letters; echo's deliveries apply.
    let metrics = h
        .metrics_until("bad's breaker open and echo's events applied", |m| {
            sample(m, r#"loyalty_circuit_state{connector="bad",state="open"}"#) == Some(1.0)
                && sample(m, r#"loyalty_events_applied_total{connector="echo"}"#) == Some(2.0)
                && sample(m, r#"loyalty_inbox_pending{connector="bad"}"#) == Some(3.0)
        })
        .await;
    assert_eq!(
        sample(
            &metrics,
            r#"loyalty_plugin_call_duration_seconds_count{connector="bad",operation="handle-webhook",outcome="trap"}"#
        ),
        Some(3.0),
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, r#"loyalty_dead_letters{connector="bad"}"#),
        Some(3.0)
    );
    assert_eq!(
        sample(&metrics, r#"loyalty_dead_letters{connector="echo"}"#),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &metrics,
            r#"loyalty_circuit_state{connector="echo",state="closed"}"#
        ),
        Some(1.0)
    );
    assert!(
        sample(
            &metrics,
            r#"loyalty_webhook_deliveries_total{connector="bad",outcome="held"}"#
        )
        .is_some_and(|held| held >= 1.0),
        "{metrics}"
    );
    assert!(
        sample(&metrics, r#"loyalty_ledger_entries_total{kind="earn"}"#).is_some(),
        "{metrics}"
    );
    let ready = h.readyz().await;
    assert_eq!(ready["status"], "degraded", "{ready}");
    assert_eq!(ready["connectors"]["bad"]["circuit"], "open", "{ready}");
    assert_eq!(ready["connectors"]["bad"]["failures"], 3, "{ready}");
    assert_eq!(
        ready["connectors"]["bad"]["operation"], "handle-webhook",
        "{ready}"
    );
    assert!(
        ready["connectors"]["bad"]["last_error"]
            .as_str()
            .unwrap()
            .contains("broken build"),
        "{ready}"
    );
    assert_eq!(ready["connectors"]["echo"]["circuit"], "closed", "{ready}");
    // Without a token, /readyz tells a load balancer the state, and nothing
    // of what failed.
    let anonymous = reqwest::get(format!("{}/readyz", h.daemon.base_url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let anonymous: Value = serde_json::from_str(&anonymous).unwrap();
    assert_eq!(
        anonymous["connectors"]["bad"]["circuit"], "open",
        "{anonymous}"
    );
    assert!(
        anonymous["connectors"]["bad"].get("last_error").is_none()
            && anonymous["connectors"]["bad"].get("sha256").is_none(),
        "{anonymous}"
    );

    // Held means held: a while later nothing more became a dead letter.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let dead = h.daemon.admin().dead_letters().await.unwrap();
    assert_eq!(dead.len(), 3, "{dead:?}");

    // The fixed build: the held deliveries apply, the breaker is closed.
    std::fs::copy(&echo, &bad_wasm).unwrap();
    let (status, report) = h.reload("bad").await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        report["connectors"][0]["sha256_before"],
        sha256_file(&hostile)
    );
    assert_eq!(report["connectors"][0]["sha256"], sha256_file(&echo));
    let ready = h.readyz().await;
    assert_eq!(ready["status"], "ready", "{ready}");
    assert_eq!(ready["connectors"]["bad"]["sha256"], sha256_file(&echo));
    h.daemon
        .wait_until("the held deliveries applied", |s| {
            (4..=6).all(|n| s.account_known_as("bad", &format!("b{n}")).is_some())
        })
        .await
        .unwrap();

    // The dead letters, replayed after the fix, apply once.
    replay(h.daemon.config_path());
    let snapshot = h
        .daemon
        .wait_until("the replayed deliveries applied", |s| {
            (1..=6).all(|n| s.account_known_as("bad", &format!("b{n}")).is_some())
        })
        .await
        .unwrap();
    assert_eq!(
        snapshot
            .accounts
            .iter()
            .filter(|a| a.external_refs.iter().any(|r| r.source == "bad"))
            .count(),
        6
    );
    assert!(h.daemon.admin().dead_letters().await.unwrap().is_empty());

    // A build that does not load keeps the running one.
    std::fs::write(&bad_wasm, b"not a component").unwrap();
    let (status, answer) = h.reload("bad").await;
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("old one keeps running"),
        "{answer}"
    );
    assert_eq!(answer["report"]["connectors"][0]["reloaded"], false);
    let status = h
        .webhook("bad", "b7", "after a bad build", BAD_SECRET)
        .await;
    assert_eq!(status, 200);
    h.daemon
        .wait_until("b7 applied by the component still running", |s| {
            s.account_known_as("bad", "b7").is_some()
        })
        .await
        .unwrap();
    let (status, answer) = h.reload("nope").await;
    assert_eq!(status, 404, "{answer}");

    // SIGHUP reloads from the file: the hostile build is back.
    std::fs::copy(&hostile, &bad_wasm).unwrap();
    let hup = Command::new("kill")
        .args(["-HUP", &h.daemon.pid().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    let deadline = Instant::now() + WAIT;
    while h.readyz().await["connectors"]["bad"]["sha256"] != sha256_file(&hostile) {
        assert!(Instant::now() < deadline, "{}", h.daemon.log_tail(40));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The admin reload is in the audit log, with the digests.
    let (status, audit) = h.get("/api/v1/audit-log").await;
    assert_eq!(status, 200);
    let audit: Value = serde_json::from_str(&audit).unwrap();
    let reload = audit
        .as_array()
        .or_else(|| audit["entries"].as_array())
        .unwrap()
        .iter()
        .find(|e| e["action"] == "connector.reload")
        .unwrap_or_else(|| panic!("no reload in {audit}"))
        .clone();
    assert_eq!(reload["target"], "connector:bad");
    assert_eq!(reload["before"]["sha256"], sha256_file(&hostile));
    assert_eq!(reload["after"]["sha256"], sha256_file(&echo));

    // A changed section that only a restart applies is named, and the
    // connector reloads all the same.
    let mut toml = std::fs::read_to_string(h.daemon.config_path()).unwrap();
    toml.push_str("\n[server.rate_limits]\napi_per_second = 999\n");
    std::fs::write(h.daemon.config_path(), toml).unwrap();
    let (status, report) = h.reload("echo").await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["connectors"][0]["reloaded"], true, "{report}");
    assert_eq!(
        report["restart_needed"],
        serde_json::json!(["`[server]` changed"]),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connector_with_a_full_backlog_refuses_webhooks_until_it_drains() {
    let wasm_dir = tempfile::tempdir().unwrap();
    let bad_wasm = wasm_dir.path().join("bad.wasm");
    std::fs::copy(test_component("hostile"), &bad_wasm).unwrap();
    let setup = Setup {
        admin_token: random_token().unwrap(),
        program: ProgramRules::default(),
        shopify: None,
        extra_toml: config(&bad_wasm),
        secrets: vec![
            ("echo_webhook".to_owned(), ECHO_SECRET.to_owned()),
            ("bad_webhook".to_owned(), BAD_SECRET.to_owned()),
        ],
    };
    let dir = tempfile::tempdir().unwrap();
    let h = Harness {
        daemon: Daemon::start_with_server_keys(dir.path(), &setup, "inbox_backlog_max = 3")
            .await
            .unwrap(),
        http: reqwest::Client::new(),
        token: setup.admin_token.clone(),
    };

    // Three traps open the breaker; deliveries then wait in the inbox.
    let panic = r#"{"do":"panic","message":"broken build"}"#;
    for n in 1..=3 {
        assert_eq!(
            h.webhook("bad", &format!("b{n}"), panic, BAD_SECRET).await,
            200
        );
    }
    h.metrics_until("bad's breaker open", |m| {
        sample(m, r#"loyalty_circuit_state{connector="bad",state="open"}"#) == Some(1.0)
    })
    .await;
    for n in 4..=6 {
        assert_eq!(
            h.webhook("bad", &format!("b{n}"), "held", BAD_SECRET).await,
            200
        );
    }

    // The fourth waiting delivery is refused before it is verified or
    // stored, with a wait; the other connector is not affected.
    let refused = h
        .http
        .post(format!("{}/webhooks/bad", h.daemon.base_url()))
        .header("x-delivery-id", "b7")
        .body("one too many")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 503);
    assert_eq!(refused.headers()["retry-after"], "2");
    let message = refused.text().await.unwrap();
    assert!(
        message.contains("inbox_backlog_max") && message.contains("`bad` has 3 deliveries"),
        "{message}"
    );
    assert_eq!(h.webhook("echo", "e1", "good", ECHO_SECRET).await, 200);
    let metrics = h.metrics().await;
    assert_eq!(
        sample(&metrics, r#"loyalty_inbox_pending{connector="bad"}"#),
        Some(3.0),
        "{metrics}"
    );

    // The fixed build takes the waiting deliveries; the refused one,
    // redelivered, is taken and applied.
    std::fs::copy(test_component("echo"), &bad_wasm).unwrap();
    let (status, report) = h.reload("bad").await;
    assert_eq!(status, 200, "{report}");
    h.metrics_until("bad's inbox drained", |m| {
        sample(m, r#"loyalty_inbox_pending{connector="bad"}"#) == Some(0.0)
    })
    .await;
    // The worker counts again just after its commit: a sender that comes
    // back at that very moment is told to wait, as any sender may be, but
    // not for the worker's whole idle wait (5 s).
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let status = h.webhook("bad", "b7", "redelivered", BAD_SECRET).await;
        if status == 200 {
            break;
        }
        assert_eq!(status, 503);
        assert!(
            Instant::now() < deadline,
            "b7 still refused after the drain"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    h.daemon
        .wait_until("the waiting and the redelivered deliveries applied", |s| {
            (4..=7).all(|n| s.account_known_as("bad", &format!("b{n}")).is_some())
        })
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_past_the_in_flight_bound_are_refused_at_once() {
    let wasm_dir = tempfile::tempdir().unwrap();
    let bad_wasm = wasm_dir.path().join("bad.wasm");
    std::fs::copy(test_component("hostile"), &bad_wasm).unwrap();
    let setup = Setup {
        admin_token: random_token().unwrap(),
        program: ProgramRules::default(),
        shopify: None,
        extra_toml: config(&bad_wasm),
        secrets: vec![
            ("echo_webhook".to_owned(), ECHO_SECRET.to_owned()),
            ("bad_webhook".to_owned(), BAD_SECRET.to_owned()),
        ],
    };
    let dir = tempfile::tempdir().unwrap();
    let h = Harness {
        daemon: Daemon::start_with_server_keys(dir.path(), &setup, "webhooks_in_flight_max = 1")
            .await
            .unwrap(),
        http: reqwest::Client::new(),
        token: setup.admin_token.clone(),
    };

    // A verifier that spins for its whole CPU budget (1 s) holds the only
    // permit; meanwhile every other webhook is refused at once.
    let spin = || {
        tokio::spawn(
            h.http
                .post(format!("{}/webhooks/bad", h.daemon.base_url()))
                .header("x-delivery-id", "spin")
                .header("x-spin-verify", "yes")
                .body("{}")
                .send(),
        )
    };
    let mut busy = spin();
    let mut refused = None;
    let mut spins = 1;
    for n in 0.. {
        if busy.is_finished() {
            // The spinning request itself is refused when it arrives while
            // a probe holds the permit: send it again.
            let answer = (&mut busy).await.unwrap().unwrap();
            assert_eq!(answer.status().as_u16(), 503, "the verifier ended early");
            assert!(spins < 10, "the spinning request was refused {spins} times");
            spins += 1;
            busy = spin();
        }
        let answer = h
            .http
            .post(format!("{}/webhooks/echo", h.daemon.base_url()))
            .header("x-delivery-id", format!("probe-{n}"))
            .header("x-echo-signature", sign(ECHO_SECRET, b"probe"))
            .body("probe")
            .send()
            .await
            .unwrap();
        if answer.status().as_u16() == 503 {
            refused = Some(answer);
            break;
        }
        assert_eq!(answer.status().as_u16(), 200);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let refused = refused.expect("no webhook was refused while the verifier spun");
    assert_eq!(refused.headers()["retry-after"], "1");
    let message = refused.text().await.unwrap();
    assert!(message.contains("webhooks_in_flight_max"), "{message}");

    // Once the spinning verifier is stopped, webhooks are taken again.
    let spun = busy.await.unwrap().unwrap();
    assert_eq!(spun.status().as_u16(), 500);
    let message = spun.text().await.unwrap();
    assert!(message.contains("cpu_ms_max"), "{message}");
    assert_eq!(h.webhook("echo", "after", "good", ECHO_SECRET).await, 200);
}

/// A slow vendor endpoint: answers after a while.
async fn slow_server() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().route(
        "/slow",
        axum::routing::get(|| async {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            "slow answer"
        }),
    );
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (origin, server)
}

fn spec(wasm: PathBuf, origin: &str, state: Arc<MemoryState>) -> PluginSpec {
    let mut grants = Grants {
        allowed_hosts: vec![origin.parse().unwrap()],
        settings: declared_hosts(&[origin.to_owned()]),
        ..Grants::default()
    };
    grants.secrets.insert(
        "webhook".to_owned(),
        loyaltyd::runtime::Secret::new(ECHO_SECRET.as_bytes()),
    );
    PluginSpec {
        name: "swapped".to_owned(),
        wasm,
        limits: Limits::default(),
        grants,
        state,
    }
}

fn request(body: &str, id: &str) -> WebhookRequest {
    WebhookRequest {
        method: "POST".to_owned(),
        url: "https://loyalty.example/webhooks/swapped".to_owned(),
        headers: vec![Header {
            name: "x-delivery-id".to_owned(),
            value: id.to_owned(),
        }],
        body: body.as_bytes().to_vec(),
    }
}

fn account_name(events: &[Event]) -> (String, String) {
    match events {
        [Event::Account(account)] => (account.id.clone(), account.name.clone()),
        other => panic!("expected one account event, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_in_flight_during_a_reload_finishes_on_the_old_component() {
    let (origin, _server) = slow_server().await;
    let runtime = Arc::new(Runtime::new(RuntimeOptions::default()).unwrap());
    let state = Arc::new(MemoryState::default());
    let plugin = runtime
        .load(spec(test_component("hostile"), &origin, state.clone()))
        .unwrap();

    let in_flight = {
        let plugin = plugin.clone();
        let body = format!(r#"{{"do":"fetch","url":"{origin}/slow","follow_redirects":false}}"#);
        tokio::spawn(async move { plugin.handle_webhook(&request(&body, "slow")).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let swapped = {
        let (runtime, plugin) = (runtime.clone(), plugin.clone());
        let spec = spec(test_component("echo"), &origin, state);
        tokio::task::spawn_blocking(move || runtime.reload(&plugin, spec))
            .await
            .unwrap()
    };
    swapped.unwrap();
    assert_eq!(plugin.wasm_sha256(), sha256_file(&test_component("echo")));
    assert!(
        !in_flight.is_finished(),
        "the slow call ended before the swap"
    );

    // The call that started on the hostile component ends there: only it
    // reports "<status> <body>" of what it fetched.
    let output = in_flight.await.unwrap().unwrap();
    assert_eq!(
        account_name(&output.value),
        ("report".to_owned(), "200 slow answer".to_owned())
    );
    // Later calls run the new component: echo names the account after the
    // delivery and the body.
    let output = plugin
        .handle_webhook(&request("after the swap", "d-2"))
        .await
        .unwrap();
    assert_eq!(
        account_name(&output.value),
        ("d-2".to_owned(), "after the swap".to_owned())
    );
}
