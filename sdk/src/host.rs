//! The host's services: logging, settings, durable state, outbound HTTP,
//! signature checks and the clock.
//!
//! In a component these call the host imports. On a native target they call
//! the [`crate::testing::TestHost`] installed for the current thread, so
//! connector logic can be tested without wasm.

use crate::types::{
    HmacAlgorithm, HttpError, IncomingResponse, LogLevel, OutgoingRequest, TimestampMs,
};

#[cfg(target_arch = "wasm32")]
use crate::bindings::loyalty::connector::host as imports;

/// Writes a line to the host's log.
pub fn log(level: LogLevel, message: &str) {
    #[cfg(target_arch = "wasm32")]
    imports::log(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    crate::testing::with_host(|h| h.log(level, message));
}

/// Reads a non-secret setting.
pub fn config_get(key: &str) -> Option<String> {
    #[cfg(target_arch = "wasm32")]
    return imports::config_get(key);
    #[cfg(not(target_arch = "wasm32"))]
    return crate::testing::with_host(|h| h.config_get(key));
}

/// Reads durable connector state, including this call's earlier writes.
pub fn state_get(key: &str) -> Option<Vec<u8>> {
    #[cfg(target_arch = "wasm32")]
    return imports::state_get(key);
    #[cfg(not(target_arch = "wasm32"))]
    return crate::testing::with_host(|h| h.state_get(key));
}

/// Writes (or with `None` deletes) durable connector state. The write is
/// committed only if the call succeeds.
pub fn state_set(key: &str, value: Option<&[u8]>) {
    #[cfg(target_arch = "wasm32")]
    imports::state_set(key, value);
    #[cfg(not(target_arch = "wasm32"))]
    crate::testing::with_host(|h| h.state_set(key, value));
}

/// Sends an outbound HTTP request through the host's allowlist.
pub fn http_request(request: &OutgoingRequest) -> Result<IncomingResponse, HttpError> {
    #[cfg(target_arch = "wasm32")]
    return imports::http_request(request);
    #[cfg(not(target_arch = "wasm32"))]
    return crate::testing::with_host(|h| h.http_request(request));
}

/// Checks an HMAC against a named secret, in constant time, on the host.
pub fn verify_hmac(
    secret: &str,
    algorithm: HmacAlgorithm,
    message: &[u8],
    signature: &[u8],
) -> Result<bool, String> {
    #[cfg(target_arch = "wasm32")]
    return imports::verify_hmac(secret, algorithm, message, signature);
    #[cfg(not(target_arch = "wasm32"))]
    return crate::testing::with_host(|h| h.verify_hmac(secret, algorithm, message, signature));
}

/// The current time in milliseconds since the Unix epoch.
pub fn now() -> TimestampMs {
    #[cfg(target_arch = "wasm32")]
    return imports::now();
    #[cfg(not(target_arch = "wasm32"))]
    return crate::testing::with_host(|h| h.now());
}

/// Reads a state value as UTF-8 text.
pub fn state_get_string(key: &str) -> Option<String> {
    state_get(key).and_then(|v| String::from_utf8(v).ok())
}

/// Logs at info level.
pub fn info(message: &str) {
    log(LogLevel::Info, message);
}

/// Logs at warn level.
pub fn warn(message: &str) {
    log(LogLevel::Warn, message);
}
