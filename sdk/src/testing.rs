//! A native stand-in for the host, for unit-testing connector logic with
//! `cargo test` (no wasm runtime involved).
//!
//! ```
//! use loyalty_sdk::testing::TestHost;
//! use loyalty_sdk::prelude::*;
//!
//! let host = TestHost::new()
//!     .setting("shop", "demo.myshopify.com")
//!     .secret("webhook", b"s3cret")
//!     .respond(|request| {
//!         assert_eq!(request.credential.as_deref(), Some("admin"));
//!         (200, br#"{"ok":true}"#.to_vec())
//!     });
//! let shop = host.run(|| {
//!     host::state_set("cursor", Some(b"42"));
//!     host::config_get("shop")
//! });
//! assert_eq!(shop.as_deref(), Some("demo.myshopify.com"));
//! assert_eq!(host.state("cursor").as_deref(), Some(&b"42"[..]));
//! ```

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use hmac::{Hmac, Mac};

mod cassette;
mod webhook;

pub use cassette::{
    Cassette, Exchange, RecordedRequest, RecordedResponse, Replay, assert_events, assert_json,
    load_json,
};
pub use webhook::{load_webhook, parse_webhook};

use crate::types::{
    HmacAlgorithm, HttpError, IncomingResponse, LogLevel, OutgoingRequest, TimestampMs,
};

type Responder = Box<dyn FnMut(&OutgoingRequest) -> Result<IncomingResponse, HttpError>>;

#[derive(Default)]
struct Inner {
    settings: BTreeMap<String, String>,
    secrets: BTreeMap<String, Vec<u8>>,
    state: BTreeMap<String, Vec<u8>>,
    logs: Vec<(LogLevel, String)>,
    requests: Vec<OutgoingRequest>,
    responder: Option<Responder>,
    replay: Option<Replay>,
    now: TimestampMs,
}

/// An in-memory host: settings, secrets, state, a scripted HTTP responder and
/// a fixed clock. Cheap to clone; clones share everything.
#[derive(Clone, Default)]
pub struct TestHost {
    inner: Rc<RefCell<Inner>>,
}

impl std::fmt::Debug for TestHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestHost").finish_non_exhaustive()
    }
}

thread_local! {
    static CURRENT: RefCell<Option<TestHost>> = const { RefCell::new(None) };
}

/// Runs `f` against the host installed on this thread.
///
/// # Panics
/// When no host is installed: connector code that calls the host must run
/// inside [`TestHost::run`].
pub(crate) fn with_host<R>(f: impl FnOnce(&TestHost) -> R) -> R {
    let host = CURRENT.with(|c| c.borrow().clone());
    match host {
        Some(host) => f(&host),
        None => panic!("no TestHost installed: run connector code inside TestHost::run"),
    }
}

impl TestHost {
    /// An empty host whose clock reads 2026-01-01T00:00:00Z.
    pub fn new() -> Self {
        let host = Self::default();
        host.inner.borrow_mut().now = 1_767_225_600_000;
        host
    }

    /// Adds a setting.
    pub fn setting(self, key: &str, value: &str) -> Self {
        self.inner
            .borrow_mut()
            .settings
            .insert(key.to_owned(), value.to_owned());
        self
    }

    /// Adds a named secret for `verify-hmac`.
    pub fn secret(self, name: &str, value: &[u8]) -> Self {
        self.inner
            .borrow_mut()
            .secrets
            .insert(name.to_owned(), value.to_vec());
        self
    }

    /// Sets the clock.
    pub fn at(self, now: TimestampMs) -> Self {
        self.inner.borrow_mut().now = now;
        self
    }

    /// Answers every outbound request with the status and body `f` returns.
    pub fn respond(self, mut f: impl FnMut(&OutgoingRequest) -> (u16, Vec<u8>) + 'static) -> Self {
        self.inner.borrow_mut().responder = Some(Box::new(move |request| {
            let (status, body) = f(request);
            Ok(IncomingResponse {
                status,
                headers: Vec::new(),
                body,
            })
        }));
        self
    }

    /// Answers every outbound request with whatever `f` returns, headers and
    /// transport errors included.
    pub fn respond_with(
        self,
        f: impl FnMut(&OutgoingRequest) -> Result<IncomingResponse, HttpError> + 'static,
    ) -> Self {
        self.inner.borrow_mut().responder = Some(Box::new(f));
        self
    }

    /// Answers outbound requests from a cassette of recorded vendor
    /// exchanges (see [`Cassette`]) instead of a responder.
    pub fn replay(self, cassette: Cassette) -> Self {
        self.inner.borrow_mut().replay = Some(Replay::new(cassette));
        self
    }

    /// `METHOD path` of each exchange of the replayed cassette that no
    /// request has asked for yet.
    pub fn unplayed(&self) -> Vec<String> {
        self.inner
            .borrow()
            .replay
            .as_ref()
            .map(Replay::unplayed)
            .unwrap_or_default()
    }

    /// Runs connector code with this host installed for the current thread.
    pub fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        let previous = CURRENT.with(|c| c.borrow_mut().replace(self.clone()));
        let result = f();
        CURRENT.with(|c| *c.borrow_mut() = previous);
        result
    }

    /// The stored value of a state key.
    pub fn state(&self, key: &str) -> Option<Vec<u8>> {
        self.inner.borrow().state.get(key).cloned()
    }

    /// Every outbound request made so far.
    pub fn requests(&self) -> Vec<OutgoingRequest> {
        self.inner.borrow().requests.clone()
    }

    /// Every log line written so far.
    pub fn logs(&self) -> Vec<(LogLevel, String)> {
        self.inner.borrow().logs.clone()
    }

    pub(crate) fn log(&self, level: LogLevel, message: &str) {
        self.inner
            .borrow_mut()
            .logs
            .push((level, message.to_owned()));
    }

    pub(crate) fn config_get(&self, key: &str) -> Option<String> {
        self.inner.borrow().settings.get(key).cloned()
    }

    pub(crate) fn state_get(&self, key: &str) -> Option<Vec<u8>> {
        self.state(key)
    }

    pub(crate) fn state_set(&self, key: &str, value: Option<&[u8]>) {
        let mut inner = self.inner.borrow_mut();
        match value {
            Some(v) => inner.state.insert(key.to_owned(), v.to_vec()),
            None => inner.state.remove(key),
        };
    }

    pub(crate) fn http_request(
        &self,
        request: &OutgoingRequest,
    ) -> Result<IncomingResponse, HttpError> {
        let mut responder = {
            let mut inner = self.inner.borrow_mut();
            inner.requests.push(request.clone());
            if let Some(replay) = inner.replay.as_mut() {
                return replay.answer(request);
            }
            inner.responder.take()
        };
        let result = match responder.as_mut() {
            Some(f) => f(request),
            None => Err(HttpError::Denied(format!(
                "no responder configured for {}",
                request.url
            ))),
        };
        self.inner.borrow_mut().responder = responder;
        result
    }

    pub(crate) fn verify_hmac(
        &self,
        secret: &str,
        algorithm: HmacAlgorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, String> {
        let inner = self.inner.borrow();
        let key = inner
            .secrets
            .get(secret)
            .ok_or_else(|| format!("unknown secret `{secret}`"))?;
        Ok(match algorithm {
            HmacAlgorithm::Sha1 => verify::<Hmac<sha1::Sha1>>(key, message, signature),
            HmacAlgorithm::Sha256 => verify::<Hmac<sha2::Sha256>>(key, message, signature),
            HmacAlgorithm::Sha512 => verify::<Hmac<sha2::Sha512>>(key, message, signature),
        })
    }

    pub(crate) fn now(&self) -> TimestampMs {
        self.inner.borrow().now
    }
}

/// The base64 HMAC-SHA256 of `message` under `key`: what a vendor sends
/// in a signature header, for building signed test deliveries.
pub fn sign_base64_hmac_sha256(key: &[u8], message: &[u8]) -> String {
    use base64::Engine as _;
    let Ok(mut mac) = <Hmac<sha2::Sha256> as hmac::digest::KeyInit>::new_from_slice(key) else {
        unreachable!("HMAC takes a key of any length")
    };
    mac.update(message);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn verify<M: Mac + hmac::digest::KeyInit>(key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    match <M as hmac::digest::KeyInit>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(message);
            mac.verify_slice(signature).is_ok()
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::verify_base64_hmac_sha256;
    use crate::types::Error;

    #[test]
    fn shopify_test_vector_verifies_through_the_host() {
        let host = TestHost::new().secret("webhook", b"test_secret_key");
        host.run(|| {
            let body = br#"{"foo": "bar"}"#;
            assert!(
                verify_base64_hmac_sha256(
                    "webhook",
                    body,
                    "B23tXN681gZ0qIWNRrgtzBE9XSDo5yaUu6wfmhu3a7g="
                )
                .is_ok()
            );
            assert!(matches!(
                verify_base64_hmac_sha256(
                    "webhook",
                    b"{}",
                    "B23tXN681gZ0qIWNRrgtzBE9XSDo5yaUu6wfmhu3a7g="
                ),
                Err(Error::Unauthorized(_))
            ));
            assert!(matches!(
                verify_base64_hmac_sha256("other", body, "AAAA"),
                Err(Error::Permanent(_))
            ));
        });
    }

    #[test]
    fn signing_matches_the_shopify_test_vector() {
        assert_eq!(
            sign_base64_hmac_sha256(b"test_secret_key", br#"{"foo": "bar"}"#),
            "B23tXN681gZ0qIWNRrgtzBE9XSDo5yaUu6wfmhu3a7g="
        );
    }

    #[test]
    fn hubspot_v3_test_vector_verifies_through_the_host() {
        let host = TestHost::new().secret("client", b"yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy");
        host.run(|| {
            let message = b"POSThttps://www.example.com/webhook_uri{'example_field':'example_value'}1693657560000";
            assert!(verify_base64_hmac_sha256("client", message, "K36dawei4A+QBNolUOqo7s91KQDWQ5MXZ/QufNYuk/Y=").is_ok());
        });
    }
}
