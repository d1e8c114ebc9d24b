//! The HTTP edge of the real `loyaltyd`: request bodies are capped
//! (`[server] body_bytes_max`, and each connector's `payload_bytes_max` for
//! its webhooks) whether or not they announce their length; sign-in forms
//! and wrong bearer tokens are limited per client address, webhooks per
//! connector and API calls per token, with 429 and `Retry-After`; and with
//! `[server.tls]` the API speaks HTTPS only.
//!
//! A client out of sign-in attempts is refused even with a correct token
//! until its wait is over: otherwise the one guess answered 200 rather than
//! 429 would be the right one, and the limit would not slow a brute force.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use loyalty_e2e::daemon::{Daemon, ProgramRules, Setup, random_token, sha256_hex};
use loyalty_e2e::{loyaltyd_binary, test_component};
use serde_json::Value;
use sha2::Sha256;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// The echo connector's webhook signing secret.
const WEBHOOK_SECRET: &str = "edge-webhook-secret";

/// A connector table for the echo test component named `name`, with
/// `limits` (TOML keys) as its `[connectors.NAME.limits]`.
fn echo_connector(name: &str, limits: &str) -> String {
    let plugin = Value::from(test_component("echo").to_string_lossy());
    format!(
        "\n[connectors.{name}]\nplugin = {plugin}\n\n\
         [connectors.{name}.secrets.webhook]\nfile = \"secrets/webhook\"\n\n\
         [connectors.{name}.limits]\n{limits}\n"
    )
}

/// Starts a daemon with `extra_toml`, then, if `server_keys` is not empty,
/// writes them into its `[server]` table (TOML cannot reopen the table the
/// harness writes) and restarts it on the same directory.
async fn start(extra_toml: String, server_keys: &str) -> (Daemon, String) {
    let token = random_token().unwrap();
    let setup = Setup {
        admin_token: token.clone(),
        program: ProgramRules::default(),
        shopify: None,
        extra_toml,
        secrets: vec![
            ("webhook".to_owned(), WEBHOOK_SECRET.to_owned()),
            ("portal".to_owned(), random_token().unwrap()),
        ],
    };
    let daemon = Daemon::start(&setup).await.unwrap();
    if !server_keys.is_empty() {
        daemon.kill().unwrap();
        let config = std::fs::read_to_string(daemon.config_path()).unwrap();
        let edited = config.replacen("[server]\n", &format!("[server]\n{server_keys}\n"), 1);
        assert_ne!(edited, config);
        std::fs::write(daemon.config_path(), edited).unwrap();
        daemon.restart().await.unwrap();
    }
    (daemon, token)
}

/// The echo connector's signature of `body` with [`WEBHOOK_SECRET`].
fn signature(body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// An echo webhook signed with [`WEBHOOK_SECRET`].
async fn deliver(daemon: &Daemon, connector: &str, id: &str, body: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/webhooks/{connector}", daemon.base_url()))
        .header("X-Echo-Signature", signature(body))
        .header("X-Delivery-Id", id)
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

/// `POST path` over a raw connection, the body either announced by
/// `Content-Length` or sent in 1 KiB chunks without it; the status and
/// body of the answer.
async fn raw_post(daemon: &Daemon, path: &str, body: Vec<u8>, chunked: bool) -> (u16, Value) {
    let addr = daemon.base_url().trim_start_matches("http://").to_owned();
    let stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let framing = if chunked {
        "Transfer-Encoding: chunked".to_owned()
    } else {
        format!("Content-Length: {}", body.len())
    };
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Connection: close\r\n{framing}\r\n\r\n"
    );
    // One write, as small clients send small requests: the daemon answers
    // before it reads past its limit, and what it leaves unread in the
    // socket would turn its close into a reset that loses the answer.
    let mut request = head.into_bytes();
    if chunked {
        for chunk in body.chunks(1024) {
            request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            request.extend_from_slice(chunk);
            request.extend_from_slice(b"\r\n");
        }
        request.extend_from_slice(b"0\r\n\r\n");
    } else {
        request.extend_from_slice(&body);
    }
    writer.write_all(&request).await.unwrap();
    let mut answer = Vec::new();
    let mut buffer = [0_u8; 8192];
    let read = async {
        // A reset after the answer (the daemon closes without reading the
        // rest of the body) ends the answer too.
        while let Ok(n) = reader.read(&mut buffer).await {
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&buffer[..n]);
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read)
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer: {text:?}"));
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// The `error` of a JSON error answer.
async fn error_message(response: reqwest::Response) -> String {
    let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    body["error"].as_str().unwrap().to_owned()
}

fn retry_after(response: &reqwest::Response) -> u64 {
    response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_body_over_body_bytes_max_is_refused_413_with_or_without_its_length() {
    let (daemon, _token) = start(String::new(), "body_bytes_max = 4096").await;
    let large = vec![b' '; 5000];
    for chunked in [false, true] {
        let (status, body) = raw_post(&daemon, "/api/v1/events", large.clone(), chunked).await;
        assert_eq!(status, 413, "chunked: {chunked}: {body}");
        assert_eq!(
            body["error"], "the request body exceeds 4096 bytes ([server] body_bytes_max)",
            "chunked: {chunked}"
        );
    }
    // Under the limit the body reaches its handler, which wants a token.
    let (status, _) = raw_post(&daemon, "/api/v1/events", vec![b' '; 4000], true).await;
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_over_its_connectors_payload_bytes_max_is_refused_413() {
    let extra = echo_connector("small", "payload_bytes_max = 1024")
        + &echo_connector("large", "payload_bytes_max = 65536");
    let (daemon, _token) = start(extra, "").await;
    let body = vec![b'x'; 4096];
    for chunked in [false, true] {
        let (status, answer) = raw_post(&daemon, "/webhooks/small", body.clone(), chunked).await;
        assert_eq!(status, 413, "chunked: {chunked}: {answer}");
        assert_eq!(
            answer["error"],
            "the delivery exceeds 1024 bytes ([connectors.small.limits] payload_bytes_max)",
            "chunked: {chunked}"
        );
    }
    // The same body is within the other connector's limit: it reaches the
    // connector, which finds no signature.
    let (status, answer) = raw_post(&daemon, "/webhooks/large", body, true).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"], "missing header `x-echo-signature`");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_tokens_from_one_address_are_refused_429_and_then_its_right_token_too() {
    let (daemon, token) = start(String::new(), "").await;
    let http = reqwest::Client::new();
    let accounts = format!("{}/api/v1/accounts", daemon.base_url());
    for guess in 0..10 {
        let response = http
            .get(&accounts)
            .bearer_auth(format!("guess-{guess}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "guess {guess}");
    }
    let refused = http
        .get(&accounts)
        .bearer_auth("guess-10")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 429);
    let wait = retry_after(&refused);
    assert!((1..=6).contains(&wait), "Retry-After: {wait}");
    let body: Value = serde_json::from_str(&refused.text().await.unwrap()).unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("[server.rate_limits] sign_in_per_minute"),
        "{body}"
    );
    let right = http
        .get(&accounts)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        right.status(),
        429,
        "a right token from a client out of attempts must not be told apart"
    );
    // A request without a token guesses nothing.
    let anonymous = http.get(&accounts).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    tokio::time::sleep(Duration::from_secs(retry_after(&right))).await;
    let right = http
        .get(&accounts)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_forms_share_one_budget_per_client_and_are_refused_429_past_it() {
    let portal = "\n[portal]\nsecret = { file = \"secrets/portal\" }\n".to_owned();
    let (daemon, _token) = start(portal, "").await;
    let http = reqwest::Client::new();
    let post = |path: &str| {
        http.post(format!("{}{path}", daemon.base_url()))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("token=not-a-link")
            .send()
    };
    for (attempt, path) in ["/portal/sign-in", "/portal/join", "/admin/sign-in"]
        .into_iter()
        .cycle()
        .take(10)
        .enumerate()
    {
        let response = post(path).await.unwrap();
        assert_ne!(response.status(), 429, "attempt {attempt} at {path}");
    }
    for path in ["/portal/sign-in", "/portal/join", "/admin/sign-in"] {
        let response = post(path).await.unwrap();
        assert_eq!(response.status(), 429, "{path}");
        assert!(retry_after(&response) >= 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_over_their_connectors_rate_are_refused_429_and_redelivered_once() {
    let extra = "\n[server.rate_limits]\nwebhooks_per_second = 1\n".to_owned()
        + &echo_connector("shop", "")
        + &echo_connector("crm", "");
    let (daemon, _token) = start(extra, "").await;
    let (first, second, other) = tokio::join!(
        deliver(&daemon, "shop", "d-1", "Acme"),
        deliver(&daemon, "shop", "d-2", "Globex"),
        deliver(&daemon, "crm", "c-1", "Initech"),
    );
    assert_eq!(other.status(), 200, "another connector has its own budget");
    let mut statuses = [first.status().as_u16(), second.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 429]);
    let (refused_id, refused_name, refused) = if first.status() == 429 {
        ("d-1", "Acme", first)
    } else {
        ("d-2", "Globex", second)
    };
    let wait = retry_after(&refused);
    assert_eq!(wait, 1);
    let body: Value = serde_json::from_str(&refused.text().await.unwrap()).unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("[server.rate_limits] webhooks_per_second"),
        "{body}"
    );
    // The vendor redelivers after the wait, and once more, as vendors do.
    tokio::time::sleep(Duration::from_secs(wait)).await;
    let redelivered = deliver(&daemon, "shop", refused_id, refused_name).await;
    assert_eq!(redelivered.status(), 200);
    let answer: Value = serde_json::from_str(&redelivered.text().await.unwrap()).unwrap();
    assert_eq!(answer["status"], "stored");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let again = deliver(&daemon, "shop", refused_id, refused_name).await;
    assert_eq!(again.status(), 200);
    let answer: Value = serde_json::from_str(&again.text().await.unwrap()).unwrap();
    assert_eq!(answer["status"], "duplicate");
    let snapshot = daemon
        .wait_until("the three deliveries are applied", |s| {
            s.accounts.len() == 3
        })
        .await
        .unwrap();
    let applied = snapshot
        .accounts
        .iter()
        .filter(|a| a.name == refused_name)
        .count();
    assert_eq!(applied, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_webhooks_cannot_spend_a_connectors_budget_or_dodge_it() {
    let extra = "\n[server.rate_limits]\nwebhooks_per_second = 1\nsign_in_per_minute = 3\n"
        .to_owned()
        + &echo_connector("shop", "");
    // Behind a proxy (this test's loopback client) that names the client.
    let (daemon, _token) = start(extra, "trusted_proxies = [\"127.0.0.1\"]").await;
    let http = reqwest::Client::new();
    let forged = |n: u32| {
        http.post(format!("{}/webhooks/shop", daemon.base_url()))
            .header("X-Forwarded-For", "203.0.113.7")
            .header("X-Echo-Signature", "Zm9yZ2Vk")
            .header("X-Delivery-Id", format!("forged-{n}"))
            .body("Forged")
            .send()
    };
    // Another spelling of the name is no connector: it can neither reach
    // the connector nor be counted apart from it.
    let respelled = http
        .post(format!("{}/webhooks/sh%6fp", daemon.base_url()))
        .body("Acme")
        .send()
        .await
        .unwrap();
    assert_eq!(respelled.status(), 404);
    let message = error_message(respelled).await;
    assert!(message.contains("no connector named `sh%6fp`"), "{message}");
    // Each forgery is a 401 and a sign-in attempt of this client; the one
    // past the three allowed is still answered (it was verified first) and
    // blocks the client: the next is refused before anything is verified.
    for n in 1..=4 {
        assert_eq!(forged(n).await.unwrap().status(), 401, "forgery {n}");
    }
    let blocked = forged(5).await.unwrap();
    assert_eq!(blocked.status(), 429);
    assert!(retry_after(&blocked) >= 1);
    let message = error_message(blocked).await;
    assert!(
        message.contains("[server.rate_limits] sign_in_per_minute"),
        "{message}"
    );
    // None of the forgeries touched the connector's budget (one a second):
    // the vendor, elsewhere, gets through at once.
    for n in 6..=12 {
        assert_eq!(forged(n).await.unwrap().status(), 429, "forgery {n}");
    }
    let genuine = |from: &'static str, id: &'static str| {
        http.post(format!("{}/webhooks/shop", daemon.base_url()))
            .header("X-Forwarded-For", from)
            .header("X-Echo-Signature", signature("Acme"))
            .header("X-Delivery-Id", id)
            .body("Acme")
            .send()
    };
    assert_eq!(
        genuine("198.51.100.20", "genuine-1")
            .await
            .unwrap()
            .status(),
        200
    );
    // The forger is refused with a good signature too, until its wait is
    // over: a 429 tells no guess right from wrong.
    assert_eq!(
        genuine("203.0.113.7", "genuine-2").await.unwrap().status(),
        429
    );
    let state = daemon
        .wait_until("the vendor's delivery is applied", |s| {
            s.accounts.len() == 1
        })
        .await
        .unwrap();
    assert_eq!(state.accounts[0].name, "Acme");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_calls_over_their_tokens_rate_are_refused_429() {
    let analyst = random_token().unwrap();
    let extra = format!(
        "\n[server.rate_limits]\napi_per_second = 2\n\n\
         [[server.tokens]]\nname = \"bi\"\nsha256 = \"{}\"\nscope = \"analyst\"\n",
        sha256_hex(&analyst)
    );
    let (daemon, token) = start(extra, "").await;
    let http = reqwest::Client::new();
    let accounts = format!("{}/api/v1/accounts", daemon.base_url());
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..5 {
        let call = http.get(&accounts).bearer_auth(&token).send();
        calls.spawn(call);
    }
    let mut answers = Vec::new();
    while let Some(answer) = calls.join_next().await {
        answers.push(answer.unwrap().unwrap());
    }
    let refused: Vec<&reqwest::Response> = answers.iter().filter(|r| r.status() == 429).collect();
    assert!(
        (1..=3).contains(&refused.len()),
        "burst of 2, 5 calls at once: {:?}",
        answers
            .iter()
            .map(reqwest::Response::status)
            .collect::<Vec<_>>()
    );
    assert_eq!(retry_after(refused[0]), 1);
    // Another token has a budget of its own.
    let other = http
        .get(&accounts)
        .bearer_auth(&analyst)
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200);
}

/// A `loyaltyd run` this test started, killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_server_tls_the_api_speaks_https_only() {
    let dir = tempfile::tempdir().unwrap();
    let issued = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let cert_pem = issued.cert.pem();
    std::fs::create_dir_all(dir.path().join("tls")).unwrap();
    std::fs::write(dir.path().join("tls/cert.pem"), &cert_pem).unwrap();
    {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut key = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(dir.path().join("tls/key.pem"))
            .unwrap();
        key.write_all(issued.signing_key.serialize_pem().as_bytes())
            .unwrap();
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.path().join("loyaltyd.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n\
             public_base_url = \"https://127.0.0.1:{port}\"\n\n\
             [server.tls]\ncert_file = \"tls/cert.pem\"\nkey_file = \"tls/key.pem\"\n\n\
             [store]\ntype = \"sqlite\"\npath = \"data/loyalty.db\"\n\n\
             [program]\ncurrency = \"EUR\"\npoints_per_unit = \"1\"\nrounding = \"floor\"\n"
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.path().join("loyaltyd.log")).unwrap();
    let _daemon = Running(
        Command::new(loyaltyd_binary())
            .args(["run", "--config"])
            .arg(&config)
            .current_dir(dir.path())
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let https = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    let healthz = format!("https://127.0.0.1:{port}/healthz");
    let deadline = Instant::now() + Duration::from_secs(60);
    let answer = loop {
        match https.get(&healthz).send().await {
            Ok(answer) => break answer,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!(
                "no HTTPS answer: {e:?}\n{}",
                std::fs::read_to_string(dir.path().join("loyaltyd.log")).unwrap()
            ),
        }
    };
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.text().await.unwrap(), "ok");
    let plain = reqwest::get(format!("http://127.0.0.1:{port}/healthz")).await;
    assert!(plain.is_err(), "plain HTTP was answered: {plain:?}");
}
