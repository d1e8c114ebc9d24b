//! The webhook targets: fuzzed deliveries through a real official connector
//! component (`plugins/`), loaded once per process into the daemon's own
//! runtime, called as the daemon calls it: `verify-webhook`, then for a
//! verified delivery `handle-webhook`, whose events the host converts. The
//! vendor API the connector reads while handling is a loopback stand-in
//! ([`vendor`]) answering what the input chose.
//!
//! Properties: the host never panics; every call ends in a value or a
//! typed error: a connector's own error, a sandbox limit or the payload
//! limit. A trap (a connector panic or a failing host function), a failed
//! instantiation (a leaked instance slot) or an open circuit (the breaker
//! is off here) is a finding. Events the connector emits go through the
//! host's conversion, which must accept or refuse them without panicking.

pub mod hubspot;
pub mod shopify;
pub mod vendor;

use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use loyaltyd::runtime::wit::latest::loyalty::connector::types::{
    Event, Header, WebhookRequest,
};
use loyaltyd::runtime::{
    CallError, Credential, FixedClock, Grants, HostPattern, Injection, Limits, MemoryState,
    Plugin, PluginSpec, Runtime, RuntimeOptions, Secret, convert,
};

use crate::webhook::vendor::{Answer, Vendor};

/// The host clock the connectors read: 2026-01-01T00:00:00Z.
pub const NOW_MS: i64 = 1_767_225_600_000;

/// The daemon's public base URL, as webhook URLs start.
pub const BASE_URL: &str = "https://loyalty.example";

/// One connector loaded into its own runtime, with a runtime to drive it.
pub struct Harness {
    plugin: Plugin,
    vendor: Vendor,
    tokio: tokio::runtime::Runtime,
    // Dropping the runtime stops the epoch ticker the CPU budget needs.
    _runtime: Runtime,
}

/// The component file of an official connector: `$LOYALTY_FUZZ_<NAME>_WASM`,
/// else `plugins/target/wasm32-wasip2/release/<name>.wasm`.
pub fn component(name: &str) -> PathBuf {
    let variable = format!("LOYALTY_FUZZ_{}_WASM", name.to_ascii_uppercase());
    std::env::var_os(&variable).map_or_else(
        || {
            crate::repo_root()
                .join("plugins/target/wasm32-wasip2/release")
                .join(format!("{name}.wasm"))
        },
        PathBuf::from,
    )
}

/// What a connector is granted besides its webhook secret.
#[derive(Debug)]
pub struct Setup<'a> {
    /// Its settings.
    pub settings: &'a [(&'a str, &'a str)],
    /// The setting that points it at the vendor's API.
    pub base_url_setting: &'a str,
    /// The credential it sends there, and how.
    pub credential: (&'a str, Injection),
}

impl Harness {
    /// Loads the official connector `name` with the webhook secret `secret`,
    /// its API pointed at a loopback stand-in (the only host it may call).
    pub fn load(name: &str, secret: &[u8], setup: Setup<'_>) -> Self {
        let wasm = component(name);
        if !wasm.is_file() {
            panic!(
                "{} is missing: build the connectors (`cargo build --release --target wasm32-wasip2` in plugins/) or set LOYALTY_FUZZ_{}_WASM",
                wasm.display(),
                name.to_ascii_uppercase()
            );
        }
        let runtime = Runtime::new(RuntimeOptions {
            instance_slots: 4,
            clock: Arc::new(FixedClock(NOW_MS)),
            // Compiled once, reused by later fuzzing processes.
            cache_dir: Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/wasm-cache")),
            ..RuntimeOptions::default()
        })
        .unwrap_or_else(|e| panic!("cannot start the runtime: {e:#}"));
        let mut grants = Grants::default();
        grants
            .secrets
            .insert("webhook".to_owned(), Secret::new(secret));
        for (key, value) in setup.settings {
            grants.settings.insert((*key).to_owned(), (*value).to_owned());
        }
        let vendor = Vendor::start();
        grants
            .settings
            .insert(setup.base_url_setting.to_owned(), vendor.base_url.clone());
        let host: HostPattern = vendor
            .base_url
            .parse()
            .unwrap_or_else(|e| panic!("the stand-in's URL is no host pattern: {e}"));
        grants.allowed_hosts.push(host.clone());
        let (credential, injection) = setup.credential;
        grants.credentials.insert(
            credential.to_owned(),
            Credential::new(Secret::new(b"fuzz-api-token".to_vec()), injection, vec![host]),
        );
        let limits = Limits {
            // Every call must be made, however many failed before.
            breaker_failures: 0,
            instances_max: 1,
            ..Limits::default()
        };
        let plugin = runtime
            .load(PluginSpec {
                name: name.to_owned(),
                wasm,
                limits,
                grants,
                state: Arc::new(MemoryState::default()),
            })
            .unwrap_or_else(|e| panic!("cannot load the connector: {e}"));
        let tokio = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("cannot start tokio: {e}"));
        Self {
            plugin,
            vendor,
            tokio,
            _runtime: runtime,
        }
    }

    /// Delivers `request` as the daemon does and checks every outcome;
    /// `handle_unverified` also handles a delivery that failed verification
    /// (as a replay of a delivery stored by an older connector would).
    /// The vendor's API answers with `answer` while it is handled.
    pub fn deliver(
        &self,
        request: &WebhookRequest,
        handle_unverified: bool,
        answer: Answer,
    ) -> Delivered {
        self.vendor.answer_with(answer);
        self.tokio.block_on(async {
            let verified = self.plugin.verify_webhook(request).await;
            let mut error = None;
            let verified = match verified {
                Ok(delivery) => Some(delivery),
                Err(e) => {
                    expected(&e, request);
                    error = Some(e.to_string());
                    None
                }
            };
            if verified.is_none() && !handle_unverified {
                return Delivered {
                    verified: false,
                    events: None,
                    error,
                };
            }
            let events = match self.plugin.handle_webhook(request).await {
                Ok(output) => {
                    convert_all(&output.value);
                    Some(output.value)
                }
                Err(e) => {
                    expected(&e, request);
                    error = Some(e.to_string());
                    None
                }
            };
            Delivered {
                verified: verified.is_some(),
                events,
                error,
            }
        })
    }
}

/// What a delivery came to.
#[derive(Debug)]
pub struct Delivered {
    /// `verify-webhook` accepted it.
    pub verified: bool,
    /// What `handle-webhook` returned, if it was called and succeeded.
    pub events: Option<Vec<Event>>,
    /// The last call's error.
    pub error: Option<String>,
}

/// The host converts every event; a refusal is an error for that delivery,
/// not a panic.
fn convert_all(events: &[Event]) {
    for event in events {
        let _ = convert::to_core(event);
    }
}

/// Panics unless `error` is a typed outcome the daemon answers.
fn expected(error: &CallError, request: &WebhookRequest) {
    match error {
        CallError::Guest { .. } | CallError::Limit { .. } | CallError::Timeout { .. } => {}
        CallError::PayloadTooLarge { size, limit, .. } => {
            assert!(size > limit && *size == request.body.len(), "{error}");
        }
        CallError::Trap { .. } | CallError::Instantiate { .. } | CallError::CircuitOpen { .. } => {
            panic!("{error}")
        }
    }
}

/// `base64(HMAC-SHA256(secret, message))`, the signature both vendors use.
pub fn sign(secret: &[u8], message: &[u8]) -> String {
    let mut mac = match Hmac::<sha2::Sha256>::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(e) => panic!("{e}"),
    };
    mac.update(message);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// A header.
pub fn header(name: &str, value: &str) -> Header {
    Header {
        name: name.to_owned(),
        value: value.to_owned(),
    }
}
