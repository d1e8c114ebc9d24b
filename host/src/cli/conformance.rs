//! `loyaltyd plugins replay` and `plugins record`: the SDK's conformance
//! kit for a built component, in the real sandbox.
//!
//! `replay` runs the component against a cassette of recorded vendor
//! exchanges and compares what it returns with the file the connector's
//! native tests use. It syncs pages (`poll`), or handles one webhook
//! (`verify-webhook` then `handle-webhook`), pushes one campaign batch or
//! fulfils one reward, each read from a JSON file. The cassette is served
//! over loopback HTTP. Every host setting the component declares points at
//! the server, every credential it declares is granted as
//! `Bearer replay-NAME` (so the server knows which one a request named),
//! every secret it declares is `replay-NAME` unless given, and only the
//! server is allowed.
//!
//! `record` makes the same calls with a connector as a configuration
//! grants it, against the real vendor, and writes the exchanges as a
//! cassette and the result as the file to compare with.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{Context, anyhow};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use loyalty_sdk::testing::{
    Cassette, Exchange, RecordedRequest, RecordedResponse, Replay, parse_webhook,
};
use loyalty_sdk::types::{HttpError, OutgoingRequest};
use loyaltyd::runtime::wit::latest::exports::loyalty::connector::sink::{
    CampaignDelivery, RewardRequest,
};
use loyaltyd::runtime::wit::latest::exports::loyalty::connector::source::PollRequest;
use loyaltyd::runtime::wit::latest::loyalty::connector::types::{Header, WebhookRequest};
use loyaltyd::runtime::{
    Credential, FixedClock, Grants, HostPattern, Injection, Limits, MemoryState, Plugin,
    PluginSpec, RecordedExchange, Runtime, RuntimeOptions, Secret,
};
use serde_json::Value;

/// What to replay.
#[derive(Debug)]
pub struct ReplayOptions {
    /// The component file.
    pub wasm: PathBuf,
    /// The cassette file.
    pub cassette: PathBuf,
    /// Settings besides the ones pointed at the server.
    pub settings: Vec<(String, String)>,
    /// Secret values, by name, for webhooks signed with a real secret.
    pub secrets: Vec<(String, String)>,
    /// The call to make.
    pub operation: Operation,
    /// What the connector's clock reads, ms since the epoch.
    pub now: i64,
    /// The file to compare the result with; without it the result is
    /// printed.
    pub expect: Option<PathBuf>,
}

/// The call `plugins replay` and `plugins record` make.
#[derive(Debug)]
pub enum Operation {
    /// Pages of a sync.
    Poll {
        /// The cursor of the first page.
        cursor: Option<String>,
        /// The page size asked for.
        page_size: u32,
        /// The most pages to read.
        pages: u32,
    },
    /// One webhook, from a webhook file.
    Webhook(PathBuf),
    /// One campaign batch, a `campaign-delivery` as JSON.
    Campaign(PathBuf),
    /// One redemption, a `reward-request` as JSON.
    Reward(PathBuf),
}

/// A webhook file (`loyalty_sdk::testing::parse_webhook`'s format) as the
/// host's request.
fn read_webhook(path: &Path) -> anyhow::Result<WebhookRequest> {
    let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let request = parse_webhook(&text)
        .map_err(|e| anyhow!("{} is not a webhook file: {e}", path.display()))?;
    Ok(WebhookRequest {
        method: request.method,
        url: request.url,
        headers: request
            .headers
            .into_iter()
            .map(|h| Header {
                name: h.name,
                value: h.value,
            })
            .collect(),
        body: request.body,
    })
}

/// What the cassette server shares with its handler.
struct Served {
    origin: String,
    replay: Mutex<Replay>,
    denied: Mutex<Vec<String>>,
}

/// Prefix of the value each declared credential is granted as.
const CREDENTIAL_PREFIX: &str = "replay-";

pub fn replay(options: ReplayOptions) -> anyhow::Result<ExitCode> {
    let cassette = Cassette::load(&options.cassette).map_err(|e| anyhow!(e))?;
    // The component is loaded twice (to read what it declares, then with
    // grants to match): a cache of this run's own compiles it once.
    let cache = tempfile::tempdir().context("creating a compile cache")?;
    let runtime = Runtime::new(RuntimeOptions {
        cache_dir: Some(cache.path().to_owned()),
        clock: Arc::new(FixedClock(options.now)),
        ..RuntimeOptions::default()
    })?;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(replay_on(&runtime, cassette, options))
}

async fn replay_on(
    runtime: &Runtime,
    cassette: Cassette,
    options: ReplayOptions,
) -> anyhow::Result<ExitCode> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding the cassette server")?;
    let origin = format!("http://{}", listener.local_addr()?);
    let served = Arc::new(Served {
        origin: origin.clone(),
        replay: Mutex::new(Replay::new(cassette)),
        denied: Mutex::new(Vec::new()),
    });
    let app = axum::Router::new()
        .fallback(answer)
        .with_state(served.clone());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let state = MemoryState::default();
    let plugin = load(runtime, &options, &origin, &state).await?;
    let called = call(&plugin, &options.operation, &state).await;
    server.abort();
    let actual = match called {
        Ok(actual) => actual,
        Err(error) => {
            let denied = served.denied.lock().unwrap_or_else(PoisonError::into_inner);
            let mut message = format!("{error:#}");
            for line in denied.iter() {
                message.push_str(&format!("\ncassette: {line}"));
            }
            return Err(anyhow!(message));
        }
    };

    let mut ok = true;
    match &options.expect {
        None => println!("{}", serde_json::to_string_pretty(&actual)?),
        Some(path) => {
            let expected = read_json(path)?;
            if actual == expected {
                println!("{} as in {}", summary(&actual), path.display());
            } else {
                ok = false;
                println!(
                    "{} from {}\n--- expected\n{}\n--- actual\n{}",
                    options.operation.differs(),
                    path.display(),
                    serde_json::to_string_pretty(&expected)?,
                    serde_json::to_string_pretty(&actual)?
                );
            }
        }
    }
    let unplayed = served
        .replay
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .unplayed();
    if !unplayed.is_empty() {
        ok = false;
        println!("not asked for: {}", unplayed.join(", "));
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// What to record.
#[derive(Debug)]
pub struct RecordOptions {
    /// The configuration file.
    pub config: PathBuf,
    /// The connector's name in it.
    pub connector: String,
    /// Where to write the cassette.
    pub cassette: PathBuf,
    /// The call to make.
    pub operation: Operation,
    /// Where to write the result.
    pub result: Option<PathBuf>,
    /// What the connector's clock reads, ms since the epoch; by default
    /// the time the recording starts.
    pub now: Option<i64>,
}

/// Runs the call against the real vendor with the connector's configured
/// grants and writes the cassette, also when the call failed (its last
/// exchanges show why).
pub fn record(options: &RecordOptions) -> anyhow::Result<ExitCode> {
    let Some(config) = super::load_config(&options.config) else {
        return Ok(ExitCode::FAILURE);
    };
    let Some(connector) = config.connectors.get(&options.connector) else {
        eprintln!(
            "{}",
            super::unknown_connector(&config, &options.config, &options.connector)
        );
        return Ok(ExitCode::FAILURE);
    };
    // A fixed clock, so that the recording replays with the same `--now`.
    let now = options
        .now
        .unwrap_or_else(|| jiff::Timestamp::now().as_millisecond());
    let runtime = Runtime::new(RuntimeOptions {
        clock: Arc::new(FixedClock(now)),
        ..config.runtime_options()
    })?;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(async {
            let state = MemoryState::default();
            let plugin = runtime.load(PluginSpec {
                name: options.connector.clone(),
                wasm: connector.plugin.clone(),
                limits: connector.limits.clone(),
                grants: connector.grants.clone(),
                state: Arc::new(state.clone()),
            })?;
            let recording = plugin.record();
            let called = call(&plugin, &options.operation, &state).await;
            let cassette = Cassette {
                exchanges: recording.exchanges().into_iter().map(exchange).collect(),
            };
            write_json(&options.cassette, &serde_json::to_value(&cassette)?)?;
            println!(
                "recorded {} exchanges in {} (replay with --now {})",
                cassette.exchanges.len(),
                options.cassette.display(),
                jiff::Timestamp::from_millisecond(now)
                    .map_or_else(|_| now.to_string(), |t| t.to_string())
            );
            let result = called?;
            match &options.result {
                Some(path) => {
                    write_json(path, &result)?;
                    println!("{} in {}", summary(&result), path.display());
                }
                None => println!("{}", serde_json::to_string_pretty(&result)?),
            }
            Ok(ExitCode::SUCCESS)
        })
}

/// A recorded exchange in the cassette's terms: bodies that are JSON as
/// JSON, others as text.
fn exchange(recorded: RecordedExchange) -> Exchange {
    let (request_json, request_body) =
        split_body(recorded.request_body.as_deref().unwrap_or_default());
    let (json, body) = split_body(&recorded.body);
    Exchange {
        request: RecordedRequest {
            method: recorded.method,
            path: recorded.path,
            credential: recorded.credential,
            json: request_json,
            body: request_body,
        },
        response: RecordedResponse {
            status: recorded.status,
            headers: recorded.headers,
            json,
            body,
        },
    }
}

fn split_body(bytes: &[u8]) -> (Option<Value>, Option<String>) {
    if bytes.is_empty() {
        return (None, None);
    }
    match serde_json::from_slice(bytes) {
        Ok(json) => (Some(json), None),
        Err(_) => (None, Some(String::from_utf8_lossy(bytes).into_owned())),
    }
}

fn write_json(path: &Path, value: &Value) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)? + "\n";
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

impl Operation {
    /// How a result that is not the expected one is reported.
    fn differs(&self) -> &'static str {
        match self {
            Self::Poll { .. } | Self::Webhook(_) => "events differ",
            Self::Campaign(_) => "campaign report differs",
            Self::Reward(_) => "fulfilment differs",
        }
    }
}

/// `events: N` for a list, the result's name otherwise.
fn summary(actual: &Value) -> String {
    match actual {
        Value::Array(items) => format!("events: {}", items.len()),
        _ => "result".to_owned(),
    }
}

/// Makes the call and returns its result as JSON: the events of a sync or
/// webhook, the campaign report or the fulfilment. Progress goes to stdout.
async fn call(
    plugin: &Plugin,
    operation: &Operation,
    state: &MemoryState,
) -> anyhow::Result<Value> {
    match operation {
        Operation::Poll {
            cursor,
            page_size,
            pages,
        } => {
            let mut cursor = cursor.clone();
            let mut events = Vec::new();
            let mut more = false;
            for _ in 0..(*pages).max(1) {
                let request = PollRequest {
                    cursor: cursor.clone(),
                    page_size: *page_size,
                    since: None,
                };
                let page = plugin
                    .poll(&request)
                    .await
                    .map_err(|e| anyhow!("poll failed: {e}"))?;
                state.commit(&page.state);
                events.extend(page.value.events);
                cursor = page.value.next_cursor;
                more = page.value.more;
                if !more {
                    break;
                }
            }
            println!("pages read until more = {more}");
            println!("next cursor: {}", cursor.as_deref().unwrap_or("-"));
            Ok(serde_json::to_value(&events)?)
        }
        Operation::Webhook(path) => {
            let request = read_webhook(path)?;
            let delivery = plugin
                .verify_webhook(&request)
                .await
                .map_err(|e| anyhow!("verify-webhook failed: {e}"))?;
            println!("delivery: {} ({})", delivery.id, delivery.topic);
            let events = plugin
                .handle_webhook(&request)
                .await
                .map_err(|e| anyhow!("handle-webhook failed: {e}"))?;
            state.commit(&events.state);
            Ok(serde_json::to_value(&events.value)?)
        }
        Operation::Campaign(path) => {
            let delivery: CampaignDelivery = read_request(path, "campaign-delivery")?;
            let report = plugin
                .push_campaign(&delivery)
                .await
                .map_err(|e| anyhow!("push-campaign failed: {e}"))?;
            state.commit(&report.state);
            Ok(serde_json::to_value(&report.value)?)
        }
        Operation::Reward(path) => {
            let request: RewardRequest = read_request(path, "reward-request")?;
            let fulfilment = plugin
                .fulfil_reward(&request)
                .await
                .map_err(|e| anyhow!("fulfil-reward failed: {e}"))?;
            state.commit(&fulfilment.state);
            Ok(serde_json::to_value(&fulfilment.value)?)
        }
    }
}

fn read_request<T: serde::de::DeserializeOwned>(path: &Path, what: &str) -> anyhow::Result<T> {
    serde_json::from_value(read_json(path)?)
        .with_context(|| format!("{} is not a {what}", path.display()))
}

/// Loads the component once to read what it declares, then with grants
/// that send everything it declares to the cassette server.
async fn load(
    runtime: &Runtime,
    options: &ReplayOptions,
    origin: &str,
    state: &MemoryState,
) -> anyhow::Result<Plugin> {
    let spec = |grants| PluginSpec {
        name: "replay".to_owned(),
        wasm: options.wasm.clone(),
        limits: Limits::default(),
        grants,
        state: Arc::new(state.clone()),
    };
    let info = runtime.load(spec(Grants::default()))?.describe().await?;
    let server: HostPattern = origin.parse()?;
    let mut grants = Grants {
        allowed_hosts: vec![server.clone()],
        settings: options.settings.iter().cloned().collect(),
        allow_private_networks: true,
        ..Grants::default()
    };
    for setting in &info.host_settings {
        grants.settings.insert(setting.clone(), origin.to_owned());
    }
    for name in &info.credentials {
        grants.credentials.insert(
            name.clone(),
            Credential::new(
                Secret::new(format!("{CREDENTIAL_PREFIX}{name}")),
                Injection::Bearer,
                vec![server.clone()],
            ),
        );
    }
    for name in &info.secrets {
        let value = options
            .secrets
            .iter()
            .find(|(given, _)| given == name)
            .map_or_else(|| format!("{CREDENTIAL_PREFIX}{name}"), |(_, v)| v.clone());
        grants.secrets.insert(name.clone(), Secret::new(value));
    }
    Ok(runtime.load(spec(grants))?)
}

fn read_json(path: &Path) -> anyhow::Result<Value> {
    let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&text).with_context(|| format!("{} is not JSON", path.display()))
}

/// Answers one request of the component from the cassette.
async fn answer(
    State(served): State<Arc<Served>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let credential = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(|v| v.strip_prefix(CREDENTIAL_PREFIX))
        .map(str::to_owned);
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let request = OutgoingRequest {
        method: method.as_str().to_owned(),
        url: format!("{}{path}", served.origin),
        headers: Vec::new(),
        body: (!body.is_empty()).then(|| body.to_vec()),
        credential,
        idempotency_key: None,
    };
    let result = served
        .replay
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .answer(&request);
    match result {
        Ok(recorded) => {
            let status = StatusCode::from_u16(recorded.status).unwrap_or(StatusCode::BAD_GATEWAY);
            let mut response = (status, recorded.body).into_response();
            for h in recorded.headers {
                let (Ok(name), Ok(value)) = (
                    HeaderName::from_bytes(h.name.as_bytes()),
                    HeaderValue::from_str(&h.value),
                ) else {
                    continue;
                };
                if name != header::CONTENT_LENGTH && name != header::TRANSFER_ENCODING {
                    response.headers_mut().append(name, value);
                }
            }
            response
        }
        Err(error) => {
            let message = match error {
                HttpError::Denied(message) => message,
                other => format!("{other:?}"),
            };
            served
                .denied
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(message.clone());
            (StatusCode::NOT_IMPLEMENTED, message).into_response()
        }
    }
}
