//! The state of one connector call, and the host imports it serves.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, Result};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::runtime::engine::Clock;
use crate::runtime::error::LimitExceeded;
use crate::runtime::grants::{Declared, Grants};
use crate::runtime::limits::Limits;
use crate::runtime::recording::Recording;
use crate::runtime::state::{StateRead, StateWrites};
use crate::runtime::wit::latest::loyalty::connector::host::{
    HmacAlgorithm, HttpError, IncomingResponse, LogLevel, OutgoingRequest,
};

/// What every call of one connector shares.
pub(crate) struct Shared {
    pub(crate) name: String,
    pub(crate) limits: Limits,
    pub(crate) grants: Grants,
    /// What the component declares in `describe`, read before its first
    /// other call; calls use only what is declared and granted.
    pub(crate) declared: std::sync::OnceLock<Declared>,
    /// Where the connector's exchanges are recorded, once recording is on.
    pub(crate) recording: std::sync::OnceLock<Arc<Recording>>,
    pub(crate) http: reqwest::Client,
    pub(crate) state: Arc<dyn StateRead>,
    pub(crate) clock: Arc<dyn Clock>,
}

/// The store data of an instance: what the connector shares, and the
/// budgets and buffered writes of the call running now, which
/// [`CallState::begin_call`] resets when the instance serves another call.
pub(crate) struct CallState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) memory: MemoryLimiter,
    pub(crate) shared: Arc<Shared>,
    pub(crate) writes: StateWrites,
    written_bytes: usize,
    pub(crate) http_requests: u32,
    pub(crate) io_used: Duration,
    log_lines: u32,
    pub(crate) cpu_ticks: u64,
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Caps one instance's linear memory at the connector's `memory_mib_max`.
pub(crate) struct MemoryLimiter {
    limit_mib: u32,
    limit_bytes: usize,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> Result<bool> {
        if desired > self.limit_bytes {
            // An error (not `Ok(false)`) traps at once with a message naming
            // the cap, instead of letting the guest's allocator abort vaguely.
            return Err(wasmtime::Error::new(LimitExceeded::Memory {
                limit_mib: self.limit_mib,
            }));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> Result<bool> {
        Ok(maximum.is_none_or(|max| desired <= max))
    }
}

impl CallState {
    pub(crate) fn new(shared: Arc<Shared>, wasi: WasiCtx) -> Self {
        let limit_mib = shared.limits.memory_mib_max;
        Self {
            wasi,
            table: ResourceTable::new(),
            memory: MemoryLimiter {
                limit_mib,
                limit_bytes: usize::try_from(limit_mib)
                    .unwrap_or(usize::MAX)
                    .saturating_mul(1 << 20),
            },
            shared,
            writes: StateWrites::new(),
            written_bytes: 0,
            http_requests: 0,
            io_used: Duration::ZERO,
            log_lines: 0,
            cpu_ticks: 0,
        }
    }

    /// Starts a call with its whole budgets and nothing written.
    pub(crate) fn begin_call(&mut self) {
        self.writes.clear();
        self.written_bytes = 0;
        self.http_requests = 0;
        self.io_used = Duration::ZERO;
        self.log_lines = 0;
        self.cpu_ticks = 0;
    }

    pub(crate) fn write_log(&mut self, level: LogLevel, message: &str) {
        self.log_lines += 1;
        let connector = self.shared.name.as_str();
        if self.log_lines > self.shared.limits.log_lines_max {
            if self.log_lines == self.shared.limits.log_lines_max + 1 {
                tracing::warn!(
                    connector,
                    limit = self.shared.limits.log_lines_max,
                    "connector log lines dropped (log_lines_max)"
                );
            }
            return;
        }
        let message = truncate(message, 4096);
        match level {
            LogLevel::Trace => tracing::trace!(connector, "{message}"),
            LogLevel::Debug => tracing::debug!(connector, "{message}"),
            LogLevel::Info => tracing::info!(connector, "{message}"),
            LogLevel::Warn => tracing::warn!(connector, "{message}"),
            LogLevel::Error => tracing::error!(connector, "{message}"),
        }
    }

    pub(crate) fn setting(&self, key: &str) -> Option<String> {
        self.shared.grants.settings.get(key).cloned()
    }

    pub(crate) fn read_state(&self, key: &str) -> Result<Option<Vec<u8>>> {
        if let Some(buffered) = self.writes.get(key) {
            return Ok(buffered.clone());
        }
        self.shared.state.get(key).map_err(|e| {
            wasmtime::Error::msg(format!(
                "connector `{}`: cannot read state `{key}`: {e}",
                self.shared.name
            ))
        })
    }

    pub(crate) fn write_state(&mut self, key: String, value: Option<Vec<u8>>) -> Result<()> {
        self.written_bytes += key.len() + value.as_ref().map_or(0, Vec::len);
        let limit_bytes = self.shared.limits.state_bytes_max;
        if self.written_bytes > limit_bytes {
            return Err(wasmtime::Error::new(LimitExceeded::State { limit_bytes }));
        }
        self.writes.insert(key, value);
        Ok(())
    }

    pub(crate) async fn send_http(
        &mut self,
        request: OutgoingRequest,
    ) -> Result<IncomingResponse, HttpError> {
        crate::runtime::outbound::send(self, request).await
    }

    pub(crate) fn check_hmac(
        &self,
        secret: &str,
        algorithm: HmacAlgorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, String> {
        let declared = self
            .shared
            .declared
            .get()
            .is_some_and(|d| d.secrets.contains(secret));
        if !declared {
            return Err(format!(
                "secret `{secret}` is not among the secrets the connector declares in describe"
            ));
        }
        let key = self.shared.grants.secrets.get(secret).ok_or_else(|| {
            format!(
                "unknown secret `{secret}` (add it to [connectors.{}.secrets])",
                self.shared.name
            )
        })?;
        let key = key.expose();
        // `verify_slice` compares in constant time.
        Ok(match algorithm {
            HmacAlgorithm::Sha1 => verify::<Hmac<sha1::Sha1>>(key, message, signature),
            HmacAlgorithm::Sha256 => verify::<Hmac<sha2::Sha256>>(key, message, signature),
            HmacAlgorithm::Sha512 => verify::<Hmac<sha2::Sha512>>(key, message, signature),
        })
    }

    pub(crate) fn now_ms(&self) -> i64 {
        self.shared.clock.now_ms()
    }
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

pub(crate) fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}
