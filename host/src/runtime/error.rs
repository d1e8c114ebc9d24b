//! Errors of loading and calling connectors.

use std::path::PathBuf;

use crate::runtime::wit::latest::loyalty::connector::types::Error as GuestError;

/// A sandbox limit a call ran into. Raised from inside wasmtime (limiter,
/// epoch callback) and recognised again when the call fails.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum LimitExceeded {
    /// The instance tried to grow its memory past the cap.
    #[error("memory limit of {limit_mib} MiB exceeded (memory_mib_max)")]
    Memory {
        /// The configured cap.
        limit_mib: u32,
    },
    /// The call ran guest code for longer than its CPU budget.
    #[error("CPU budget of {budget_ms} ms exceeded (cpu_ms_max)")]
    Cpu {
        /// The configured budget.
        budget_ms: u64,
    },
    /// The call wrote more state than allowed.
    #[error("state limit of {limit_bytes} bytes per call exceeded (state_bytes_max)")]
    State {
        /// The configured limit.
        limit_bytes: usize,
    },
}

/// Why a connector call failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The connector answered with an error of its own.
    #[error("connector `{connector}`: `{operation}` failed: {}", describe(.error))]
    Guest {
        /// Connector name.
        connector: String,
        /// The export called.
        operation: &'static str,
        /// What the connector said.
        error: GuestError,
    },
    /// The call hit a sandbox limit.
    #[error("connector `{connector}`: `{operation}` stopped: {limit}")]
    Limit {
        /// Connector name.
        connector: String,
        /// The export called.
        operation: &'static str,
        /// Which limit.
        limit: LimitExceeded,
    },
    /// The call took longer than `call_timeout_ms`.
    #[error(
        "connector `{connector}`: `{operation}` timed out after {timeout_ms} ms (call_timeout_ms)"
    )]
    Timeout {
        /// Connector name.
        connector: String,
        /// The export called.
        operation: &'static str,
        /// The configured timeout.
        timeout_ms: u64,
    },
    /// The input is larger than `payload_bytes_max`.
    #[error("connector `{connector}`: payload of {size} bytes exceeds payload_bytes_max ({limit})")]
    PayloadTooLarge {
        /// Connector name.
        connector: String,
        /// Size of the payload.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The guest trapped (a panic, an out-of-bounds access). The instance was
    /// discarded.
    #[error("connector `{connector}`: `{operation}` trapped: {message}{}", stderr_suffix(.stderr))]
    Trap {
        /// Connector name.
        connector: String,
        /// The export called.
        operation: &'static str,
        /// The trap and its backtrace.
        message: String,
        /// What the guest wrote to stderr (a panic message).
        stderr: String,
    },
    /// The connector's circuit breaker is open after repeated failures: the
    /// call was not made.
    #[error(
        "connector `{connector}`: `{operation}` not called for {retry_in_ms} ms more after {failures} failed calls in a row (circuit breaker open)"
    )]
    CircuitOpen {
        /// Connector name.
        connector: String,
        /// The operation refused.
        operation: &'static str,
        /// How long until a trial call is let through.
        retry_in_ms: u64,
        /// The failures that opened it.
        failures: u32,
    },
    /// The component could not be instantiated.
    #[error("connector `{connector}`: cannot instantiate: {message}")]
    Instantiate {
        /// Connector name.
        connector: String,
        /// What went wrong.
        message: String,
    },
}

/// A connector's error as an operator reads it: its kind, then its message.
fn describe(error: &GuestError) -> String {
    match error {
        GuestError::InvalidInput(m) => format!("invalid input: {m}"),
        GuestError::Unauthorized(m) => format!("unauthorized: {m}"),
        GuestError::RateLimited(r) => match r.delay_ms {
            Some(ms) => format!("rate limited (retry after {ms} ms): {}", r.message),
            None => format!("rate limited: {}", r.message),
        },
        GuestError::Transient(m) => format!("transient failure: {m}"),
        GuestError::Permanent(m) => format!("permanent failure: {m}"),
        GuestError::Unsupported(m) => format!("unsupported: {m}"),
    }
}

fn stderr_suffix(stderr: &str) -> String {
    if stderr.trim().is_empty() {
        String::new()
    } else {
        format!("; guest stderr: {}", stderr.trim())
    }
}

impl CallError {
    /// Whether the same call may succeed later: rate limits, passing vendor
    /// failures and timeouts are worth retrying; bad input and traps are not.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Guest { error, .. } => {
                matches!(error, GuestError::RateLimited(_) | GuestError::Transient(_))
            }
            Self::Timeout { .. } | Self::Instantiate { .. } | Self::CircuitOpen { .. } => true,
            Self::Limit { .. } | Self::PayloadTooLarge { .. } | Self::Trap { .. } => false,
        }
    }
}

impl CallError {
    /// The label of this outcome in metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Guest { error, .. } => match error {
                GuestError::InvalidInput(_) => "invalid_input",
                GuestError::Unauthorized(_) => "unauthorized",
                GuestError::RateLimited(_) => "rate_limited",
                GuestError::Transient(_) => "transient",
                GuestError::Permanent(_) => "permanent",
                GuestError::Unsupported(_) => "unsupported",
            },
            Self::Limit { .. } => "limit",
            Self::Timeout { .. } => "timeout",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::Trap { .. } => "trap",
            Self::Instantiate { .. } => "instantiate",
            Self::CircuitOpen { .. } => "circuit_open",
        }
    }

    /// Whether this failure counts towards opening the circuit breaker: the
    /// connector or its vendor is failing, whatever the input. Bad input,
    /// refused credentials and rate limits are answered by the vendor or
    /// the connector as designed and do not count.
    pub(crate) fn counts_against_connector(&self) -> bool {
        match self {
            Self::Guest { error, .. } => matches!(error, GuestError::Transient(_)),
            Self::Limit { .. } | Self::Timeout { .. } | Self::Trap { .. } => true,
            Self::Instantiate { .. } | Self::PayloadTooLarge { .. } | Self::CircuitOpen { .. } => {
                false
            }
        }
    }
}

/// Why a connector could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The component file could not be read.
    #[error("connector `{connector}`: cannot read {}: {source}", path.display())]
    Read {
        /// Connector name.
        connector: String,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a component this host can run.
    #[error("connector `{connector}`: {} is not a loadable component: {message}", path.display())]
    Compile {
        /// Connector name.
        connector: String,
        /// The file.
        path: PathBuf,
        /// What wasmtime said.
        message: String,
    },
    /// The component targets a contract version this host does not support.
    #[error("connector `{connector}`: {message}")]
    Version {
        /// Connector name.
        connector: String,
        /// What is missing.
        message: String,
    },
}
