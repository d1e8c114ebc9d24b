//! `loyaltyd plugins replay`: a built component synced against a cassette
//! of recorded vendor exchanges (the SDK's conformance kit), in the real
//! sandbox, with its events compared to the file the connector's native
//! tests use.
//!
//! The cassette is served over loopback HTTP. Every host the component
//! declares as `{SETTING}` gets that setting pointed at the server, every
//! credential it declares is granted as `Bearer replay-NAME` (so the server
//! knows which one a request named), and only the server is allowed.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{Context, anyhow};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use loyalty_sdk::testing::{Cassette, Replay};
use loyalty_sdk::types::{HttpError, OutgoingRequest};
use loyaltyd::runtime::wit::latest::exports::loyalty::connector::source::PollRequest;
use loyaltyd::runtime::{
    Credential, Grants, HostPattern, Injection, Limits, MemoryState, Plugin, PluginSpec, Runtime,
    RuntimeOptions, Secret, host_setting,
};
use serde_json::Value;

/// What to replay.
#[derive(Debug)]
pub struct Options {
    /// The component file.
    pub wasm: PathBuf,
    /// The cassette file.
    pub cassette: PathBuf,
    /// Settings besides the ones pointed at the server.
    pub settings: Vec<(String, String)>,
    /// The cursor of the first page.
    pub cursor: Option<String>,
    /// The page size asked for.
    pub page_size: u32,
    /// The most pages to read.
    pub pages: u32,
    /// The events file to compare with; without it the events are printed.
    pub expect: Option<PathBuf>,
}

/// What the cassette server shares with its handler.
struct Served {
    origin: String,
    replay: Mutex<Replay>,
    denied: Mutex<Vec<String>>,
}

/// Prefix of the value each declared credential is granted as.
const CREDENTIAL_PREFIX: &str = "replay-";

pub fn run(options: Options) -> anyhow::Result<ExitCode> {
    let cassette = Cassette::load(&options.cassette).map_err(|e| anyhow!(e))?;
    // The component is loaded twice (to read what it declares, then with
    // grants to match): a cache of this run's own compiles it once.
    let cache = tempfile::tempdir().context("creating a compile cache")?;
    let runtime = Runtime::new(RuntimeOptions {
        cache_dir: Some(cache.path().to_owned()),
        ..RuntimeOptions::default()
    })?;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(replay(&runtime, cassette, options))
}

async fn replay(
    runtime: &Runtime,
    cassette: Cassette,
    options: Options,
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
    let plugin = load(runtime, &options.wasm, &origin, &options.settings, &state).await?;
    let mut cursor = options.cursor.clone();
    let mut events = Vec::new();
    let mut more = false;
    for _ in 0..options.pages.max(1) {
        let request = PollRequest {
            cursor: cursor.clone(),
            page_size: options.page_size,
            since: None,
        };
        let page = match plugin.poll(&request).await {
            Ok(page) => page,
            Err(error) => {
                server.abort();
                let denied = served.denied.lock().unwrap_or_else(PoisonError::into_inner);
                let mut message = format!("poll failed: {error}");
                for line in denied.iter() {
                    message.push_str(&format!("\ncassette: {line}"));
                }
                return Err(anyhow!(message));
            }
        };
        state.commit(&page.state);
        events.extend(page.value.events);
        cursor = page.value.next_cursor;
        more = page.value.more;
        if !more {
            break;
        }
    }
    server.abort();

    println!("pages read until more = {more}");
    println!("next cursor: {}", cursor.as_deref().unwrap_or("-"));
    let actual = serde_json::to_value(&events).context("serializing the events")?;
    let mut ok = true;
    match &options.expect {
        None => println!("{}", serde_json::to_string_pretty(&actual)?),
        Some(path) => {
            let expected = read_json(path)?;
            if actual == expected {
                println!("events: {} as in {}", events.len(), path.display());
            } else {
                ok = false;
                println!(
                    "events differ from {}\n--- expected\n{}\n--- actual\n{}",
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

/// Loads the component once to read what it declares, then with grants
/// that send everything it declares to the cassette server.
async fn load(
    runtime: &Runtime,
    wasm: &Path,
    origin: &str,
    settings: &[(String, String)],
    state: &MemoryState,
) -> anyhow::Result<Plugin> {
    let spec = |grants| PluginSpec {
        name: "replay".to_owned(),
        wasm: wasm.to_owned(),
        limits: Limits::default(),
        grants,
        state: Arc::new(state.clone()),
    };
    let info = runtime.load(spec(Grants::default()))?.describe().await?;
    let server: HostPattern = origin.parse()?;
    let mut grants = Grants {
        allowed_hosts: vec![server.clone()],
        settings: settings.iter().cloned().collect(),
        allow_private_networks: true,
        ..Grants::default()
    };
    for entry in &info.hosts {
        if let Some(setting) = host_setting(entry) {
            grants
                .settings
                .insert(setting.to_owned(), origin.to_owned());
        }
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
        grants.secrets.insert(
            name.clone(),
            Secret::new(format!("{CREDENTIAL_PREFIX}{name}")),
        );
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
