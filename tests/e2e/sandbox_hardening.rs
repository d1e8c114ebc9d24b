//! The sandbox's outbound protections and the component pin, end to end:
//! the runtime with the real hostile component, and the real `loyaltyd`
//! with the official Shopify connector and the echo component.
//!
//! Every vendor here listens on 127.0.0.1. Reached as `127.0.0.1` (an IP
//! literal the operator allowlisted) it is allowed; reached as `localhost`
//! (a name that resolves to loopback) it is a private network, refused
//! unless `allow_private_networks = true`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use loyalty_e2e::daemon::{Daemon, ProgramRules, Setup, random_token};
use loyalty_e2e::shopify::ShopifyEmulator;
use loyalty_e2e::shopify::samples::{self, API_VERSION, SHOP_DOMAIN};
use loyalty_e2e::{declared_hosts, loyaltyd_binary, official_plugin, test_component};
use loyaltyd::runtime::wit::latest::loyalty::connector::types::{
    Error as GuestError, Event, WebhookRequest,
};
use loyaltyd::runtime::{
    CallError, Credential, FixedClock, Grants, Injection, Limits, LoadError, MemoryState, OAuth2,
    OAuth2Grant, Output, Plugin, PluginSpec, Runtime, RuntimeOptions, Secret,
};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn runtime() -> Runtime {
    Runtime::new(RuntimeOptions {
        clock: Arc::new(FixedClock(1_767_225_600_000)),
        ..RuntimeOptions::default()
    })
    .unwrap()
}

fn load(runtime: &Runtime, limits: Limits, grants: Grants) -> Result<Plugin, LoadError> {
    runtime.load(PluginSpec {
        name: "hostile".to_owned(),
        wasm: test_component("hostile"),
        limits,
        grants,
        state: Arc::new(MemoryState::default()),
    })
}

/// Allows the hosts, which the hostile connector declares through its
/// settings `host1` to `host3`.
fn grants(allowed: &[String]) -> Grants {
    Grants {
        allowed_hosts: allowed.iter().map(|h| h.parse().unwrap()).collect(),
        settings: declared_hosts(allowed),
        ..Grants::default()
    }
}

fn sha256_of(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

/// The hostile connector's command to fetch `url`, following one redirect
/// by hand if `follow_redirects`.
fn fetch(url: &str, follow_redirects: bool) -> WebhookRequest {
    fetch_with(url, None, follow_redirects)
}

fn fetch_with(url: &str, credential: Option<&str>, follow_redirects: bool) -> WebhookRequest {
    let body = serde_json::json!({
        "do": "fetch",
        "url": url,
        "credential": credential,
        "follow_redirects": follow_redirects,
    });
    WebhookRequest {
        method: "POST".to_owned(),
        url: "https://loyalty.example/webhooks/hostile".to_owned(),
        headers: Vec::new(),
        body: body.to_string().into_bytes(),
    }
}

/// What the hostile connector reported: `"<status> <body>"`.
fn answer(result: Result<Output<Vec<Event>>, CallError>) -> String {
    match result {
        Ok(output) => match output.value.as_slice() {
            [Event::Account(account)] => account.name.clone(),
            other => panic!("expected one account event, got {other:?}"),
        },
        Err(error) => panic!("expected an answer, got {error}"),
    }
}

/// The connector's error for a refused request: a permanent one, which
/// retrying does not help.
fn permanent(result: Result<Output<Vec<Event>>, CallError>) -> String {
    match result {
        Err(CallError::Guest {
            error: GuestError::Permanent(message),
            ..
        }) => message,
        other => panic!("expected a permanent failure, got {other:?}"),
    }
}

fn transient(result: Result<Output<Vec<Event>>, CallError>) -> String {
    match result {
        Err(CallError::Guest {
            error: GuestError::Transient(message),
            ..
        }) => message,
        other => panic!("expected a transient failure, got {other:?}"),
    }
}

/// A vendor on 127.0.0.1 that records the paths it is asked for and
/// answers by path: `/bytes/N` N bytes, `/slow/MS` after MS milliseconds,
/// `/slow-redirect/MS` a redirect to `/slow/5000` after MS milliseconds,
/// anything else a greeting.
#[derive(Clone)]
struct Vendor {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Vendor {
    async fn start() -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let app = axum::Router::new().fallback(serve).with_state(seen.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { addr, seen }
    }

    /// `http://127.0.0.1:PORT`: an IP literal.
    fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://localhost:PORT`: a name that resolves to loopback.
    fn named_origin(&self) -> String {
        format!("http://localhost:{}", self.addr.port())
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

async fn serve(
    State(seen): State<Arc<Mutex<Vec<String>>>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let path = uri.path().to_owned();
    seen.lock().unwrap().push(path.clone());
    let number = |prefix: &str| {
        path.strip_prefix(prefix)
            .and_then(|n| n.parse::<u64>().ok())
    };
    if let Some(n) = number("/bytes/") {
        return vec![b'x'; usize::try_from(n).unwrap()].into_response();
    }
    if let Some(ms) = number("/slow/") {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        return "slow answer".into_response();
    }
    if let Some(ms) = number("/slow-redirect/") {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        let location = format!("http://{host}/slow/5000");
        return (StatusCode::FOUND, [(header::LOCATION, location)]).into_response();
    }
    format!("hello from {path}").into_response()
}

/// A vendor that answers every request with `size` bytes and no
/// `Content-Length`, the end of the body marked by closing the connection:
/// the size is known only once the body has been read.
async fn unannounced_body(size: usize) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0_u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                let head = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n";
                let _ = stream.write_all(head).await;
                for _ in 0..size {
                    let _ = stream.write_all(b"x").await;
                }
                let _ = stream.shutdown().await;
            });
        }
    });
    origin
}

// --- private networks -----------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_name_resolving_to_loopback_is_refused_naming_the_key_to_set() {
    let vendor = Vendor::start().await;
    let runtime = runtime();
    let plugin = load(
        &runtime,
        Limits::default(),
        grants(&[vendor.named_origin()]),
    )
    .unwrap();

    let url = format!("{}/internal", vendor.named_origin());
    let message = permanent(plugin.handle_webhook(&fetch(&url, false)).await);
    assert!(
        message.contains("localhost resolves only to private addresses (127.0.0.1"),
        "{message}"
    );
    assert!(
        message.contains(
            "set allow_private_networks = true in [connectors.hostile] if this system is on your network"
        ),
        "{message}"
    );
    assert!(vendor.seen().is_empty(), "{:?}", vendor.seen());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_private_networks_lets_a_connector_reach_a_name_on_the_local_network() {
    let vendor = Vendor::start().await;
    let runtime = runtime();
    let mut grants = grants(&[vendor.named_origin()]);
    grants.allow_private_networks = true;
    let plugin = load(&runtime, Limits::default(), grants).unwrap();

    let url = format!("{}/internal", vendor.named_origin());
    assert_eq!(
        answer(plugin.handle_webhook(&fetch(&url, false)).await),
        "200 hello from /internal"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allowlisted_ip_literal_is_explicit_and_needs_no_private_network_grant() {
    let vendor = Vendor::start().await;
    let runtime = runtime();
    let plugin = load(&runtime, Limits::default(), grants(&[vendor.origin()])).unwrap();

    let url = format!("{}/literal", vendor.origin());
    assert_eq!(
        answer(plugin.handle_webhook(&fetch(&url, false)).await),
        "200 hello from /literal"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_oauth_token_endpoint_goes_through_the_same_check() {
    let vendor = Vendor::start().await;
    let runtime = runtime();
    // The API is an allowlisted IP literal; only the token endpoint is a
    // name, and it resolves to loopback.
    let mut grants = grants(&[vendor.origin()]);
    grants.credentials.insert(
        "api".to_owned(),
        Credential::new(
            Secret::new("client-secret"),
            Injection::OAuth2(OAuth2 {
                token_url: url::Url::parse(&format!("{}/token", vendor.named_origin())).unwrap(),
                grant: OAuth2Grant::ClientCredentials,
                client_id: "loyalty".to_owned(),
                scope: None,
            }),
            vec![vendor.origin().parse().unwrap()],
        ),
    );
    let plugin = load(&runtime, Limits::default(), grants).unwrap();

    let url = format!("{}/api", vendor.origin());
    let message = permanent(
        plugin
            .handle_webhook(&fetch_with(&url, Some("api"), false))
            .await,
    );
    assert!(message.contains("no access token"), "{message}");
    assert!(
        message.contains("localhost resolves only to private addresses"),
        "{message}"
    );
    assert!(vendor.seen().is_empty(), "{:?}", vendor.seen());
}

// --- limits on responses and time ------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_larger_than_payload_bytes_max_is_refused_with_or_without_a_length() {
    let vendor = Vendor::start().await;
    let runtime = runtime();
    let limits = Limits {
        payload_bytes_max: 1024,
        ..Limits::default()
    };
    let (exact, unannounced) = (unannounced_body(1024).await, unannounced_body(1025).await);
    let allowed = [vendor.origin(), exact.clone(), unannounced.clone()];
    let plugin = load(&runtime, limits, grants(&allowed)).unwrap();

    let full = answer(
        plugin
            .handle_webhook(&fetch(&format!("{}/bytes/1024", vendor.origin()), false))
            .await,
    );
    assert_eq!(full, format!("200 {}", "x".repeat(1024)));
    let full = answer(plugin.handle_webhook(&fetch(&exact, false)).await);
    assert_eq!(full, format!("200 {}", "x".repeat(1024)));
    for url in [format!("{}/bytes/1025", vendor.origin()), unannounced] {
        let message = permanent(plugin.handle_webhook(&fetch(&url, false)).await);
        assert!(
            message.contains("response too large")
                && message.contains("exceeds 1024 bytes (payload_bytes_max)"),
            "{url}: {message}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vendor_slower_than_http_timeout_ms_is_cut_off() {
    let vendor = Vendor::start().await;
    let runtime = runtime();
    let limits = Limits {
        http_timeout_ms: 300,
        ..Limits::default()
    };
    let plugin = load(&runtime, limits, grants(&[vendor.origin()])).unwrap();

    let started = Instant::now();
    let message = transient(
        plugin
            .handle_webhook(&fetch(&format!("{}/slow/5000", vendor.origin()), false))
            .await,
    );
    let took = started.elapsed();
    assert!(message.contains("within 300 ms"), "{message}");
    assert!(took < Duration::from_secs(3), "took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_requests_of_one_call_share_io_budget_ms() {
    let vendor = Vendor::start().await;
    let runtime = runtime();
    // Each request alone is well within http_timeout_ms; together they
    // exceed the call's budget: the second gets only what is left of it.
    let limits = Limits {
        http_timeout_ms: 10_000,
        io_budget_ms: 700,
        ..Limits::default()
    };
    let plugin = load(&runtime, limits, grants(&[vendor.origin()])).unwrap();

    let started = Instant::now();
    let message = transient(
        plugin
            .handle_webhook(&fetch(
                &format!("{}/slow-redirect/400", vendor.origin()),
                true,
            ))
            .await,
    );
    let took = started.elapsed();
    assert!(message.contains("io_budget_ms"), "{message}");
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert_eq!(vendor.seen(), ["/slow-redirect/400", "/slow/5000"]);
}

// --- the component pin -------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runtime_refuses_a_component_whose_digest_is_not_the_pinned_one() {
    let runtime = runtime();
    let actual = sha256_of(&test_component("hostile"));
    let pinned = "0".repeat(64);
    let refused = load(
        &runtime,
        Limits::default(),
        Grants {
            component_sha256: Some(pinned.clone()),
            ..Grants::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(
        refused.contains(&format!(
            "its SHA-256 is {actual}, but sha256 pins {pinned}"
        )),
        "{refused}"
    );

    let plugin = load(
        &runtime,
        Limits::default(),
        Grants {
            component_sha256: Some(actual.clone()),
            ..Grants::default()
        },
    )
    .unwrap();
    assert_eq!(plugin.wasm_sha256(), actual);
}

/// `[connectors.echo]` with the echo component, pinned to `sha256`.
fn pinned_echo(sha256: &str) -> Setup {
    Setup {
        admin_token: random_token().unwrap(),
        program: ProgramRules::default(),
        shopify: None,
        extra_toml: format!(
            "[connectors.echo]\nplugin = {plugin}\nsha256 = \"{sha256}\"\n",
            plugin = Value::from(test_component("echo").to_string_lossy())
        ),
        secrets: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_and_the_daemon_name_what_is_granted_but_not_declared() {
    let s = |text: &str| Value::from(text).to_string();
    let shop = s("https://demo.myshopify.com");
    let setup = Setup {
        admin_token: random_token().unwrap(),
        program: ProgramRules::default(),
        shopify: None,
        extra_toml: format!(
            "[connectors.shopify]\n\
             plugin = {plugin}\n\
             allowed_hosts = [{shop}, \"https://evil.example\"]\n\
             settings = {{ shop_domain = \"demo.myshopify.com\", api_version = {version} }}\n\n\
             [connectors.shopify.secrets.webhook]\n\
             file = \"secrets/shopify_webhook\"\n\n\
             [connectors.shopify.credentials.admin]\n\
             file = \"secrets/shopify_admin_token\"\n\
             inject = \"header\"\n\
             header = \"X-Shopify-Access-Token\"\n\
             hosts = [{shop}]\n\n\
             [connectors.shopify.credentials.spare]\n\
             file = \"secrets/shopify_admin_token\"\n\
             hosts = [\"https://evil.example\"]\n",
            plugin = s(&official_plugin("shopify").to_string_lossy()),
            version = s(API_VERSION),
        ),
        secrets: vec![
            (
                "shopify_webhook".to_owned(),
                SHOPIFY_WEBHOOK_SECRET.to_owned(),
            ),
            (
                "shopify_admin_token".to_owned(),
                SHOPIFY_ACCESS_TOKEN.to_owned(),
            ),
        ],
    };
    let daemon = Daemon::start(&setup).await.unwrap();
    let output = Command::new(loyaltyd_binary())
        .args(["validate", "--config"])
        .arg(daemon.config_path())
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success(), "{stdout}");
    let lines: Vec<_> = stdout.lines().skip(1).collect();
    assert_eq!(
        lines,
        [
            "connector shopify: [connectors.shopify] allowed_hosts grants `https://evil.example:443`, which the connector does not declare (it declares: https://*.myshopify.com:443): its requests there are refused",
            "connector shopify: [connectors.shopify.credentials.spare] is configured, but the connector does not declare credential `spare`: it is never sent",
            "connector shopify: [connectors.shopify.credentials.spare] hosts binds `https://evil.example:443`, which the connector does not declare: the credential is never sent there",
        ],
        "{stdout}"
    );
    let log = daemon.log();
    assert!(
        log.contains("capabilities differ") && log.contains("credential `spare`"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pin_mismatch_stops_the_daemon_and_validate_names_the_key_and_both_digests() {
    let actual = sha256_of(&test_component("echo"));
    let pinned = "ab".repeat(32);
    let dir = tempfile::tempdir().unwrap();
    let error = Daemon::start_in(dir.path(), &pinned_echo(&pinned))
        .await
        .unwrap_err();
    let error = format!("{error:#}");
    assert!(error.contains("before it was ready"), "{error}");
    let expected = format!("has SHA-256 {actual}, but sha256 pins {pinned}");
    assert!(error.contains(&expected), "{error}");

    let config = dir.path().canonicalize().unwrap().join("loyaltyd.toml");
    let line = std::fs::read_to_string(&config)
        .unwrap()
        .lines()
        .position(|l| l.starts_with("sha256 = "))
        .unwrap()
        + 1;
    let output = Command::new(loyaltyd_binary())
        .args(["validate", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let at = format!("{}:{line}:10: connectors.echo.sha256: ", config.display());
    assert!(stderr.starts_with(&at), "expected {at}…, got\n{stderr}");
    assert!(stderr.contains(&expected), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_matching_pin_starts_the_daemon() {
    let actual = sha256_of(&test_component("echo"));
    let daemon = Daemon::start(&pinned_echo(&actual.to_ascii_uppercase()))
        .await
        .unwrap();
    assert!(
        daemon.log().contains(&format!("sha256=\"{actual}\"")),
        "{}",
        daemon.log()
    );
}

// --- the daemon with a vendor on the local network ---------------------------

const SHOPIFY_WEBHOOK_SECRET: &str = "e2e-shopify-app-webhook-secret";
const SHOPIFY_ACCESS_TOKEN: &str = "shpat_e2e0000000000000000000000000";

/// A daemon polling the emulated shop through `admin_base_url`, with
/// `allow_private_networks` as given.
async fn shopify_daemon(admin_base_url: &str, allow_private_networks: bool) -> Daemon {
    let s = |text: &str| Value::from(text).to_string();
    let admin = s(admin_base_url);
    let setup = Setup {
        admin_token: random_token().unwrap(),
        program: ProgramRules::default(),
        shopify: None,
        extra_toml: format!(
            "[connectors.shopify]\n\
             plugin = {plugin}\n\
             allowed_hosts = [{admin}]\n\
             allow_private_networks = {allow_private_networks}\n\
             settings = {{ shop_domain = {shop}, api_version = {version}, admin_base_url = {admin} }}\n\n\
             [connectors.shopify.secrets.webhook]\n\
             file = \"secrets/shopify_webhook\"\n\n\
             [connectors.shopify.credentials.admin]\n\
             file = \"secrets/shopify_admin_token\"\n\
             inject = \"header\"\n\
             header = \"X-Shopify-Access-Token\"\n\
             hosts = [{admin}]\n\n\
             [connectors.shopify.poll]\n\
             interval_seconds = 3600\n",
            plugin = s(&official_plugin("shopify").to_string_lossy()),
            shop = s(SHOP_DOMAIN),
            version = s(API_VERSION),
        ),
        secrets: vec![
            (
                "shopify_webhook".to_owned(),
                SHOPIFY_WEBHOOK_SECRET.to_owned(),
            ),
            (
                "shopify_admin_token".to_owned(),
                SHOPIFY_ACCESS_TOKEN.to_owned(),
            ),
        ],
    };
    Daemon::start(&setup).await.unwrap()
}

/// The sync status once the sync at start has ended.
async fn first_sync(daemon: &Daemon) -> loyalty_e2e::daemon::admin::SyncStatus {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = daemon.admin().sync_status("shopify").await.unwrap();
        if status.completed + status.failures >= 1 && !status.running {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "the sync did not end: {status:?}\n{}",
            daemon.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_refuses_a_vendor_name_on_the_local_network_until_it_is_allowed() {
    let emulator = ShopifyEmulator::start(SHOPIFY_ACCESS_TOKEN).await.unwrap();
    emulator.put_company(samples::company());
    emulator.put_customer(&samples::buyer());
    let named = emulator.base_url().replace("127.0.0.1", "localhost");
    assert_ne!(named, emulator.base_url());

    let refused = shopify_daemon(&named, false).await;
    let status = first_sync(&refused).await;
    let error = status.last_error.clone().unwrap_or_default();
    assert_eq!((status.completed, status.failures), (0, 1), "{status:?}");
    assert!(
        error.contains("localhost resolves only to private addresses (127.0.0.1")
            && error.contains("set allow_private_networks = true in [connectors.shopify]"),
        "{error}"
    );
    assert!(
        emulator.requests().is_empty(),
        "{:?}",
        emulator.requests().len()
    );
    drop(refused);

    let allowed = shopify_daemon(&named, true).await;
    let status = first_sync(&allowed).await;
    assert_eq!(
        (
            status.completed,
            status.failures,
            status.last_error.as_deref()
        ),
        (1, 0, None),
        "{status:?}"
    );
    assert!(status.events >= 1, "{status:?}");
    assert!(!emulator.requests().is_empty());
}
