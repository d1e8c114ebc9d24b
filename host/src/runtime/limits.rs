//! Per-connector resource limits.

use serde::Deserialize;

/// What one connector may use per call. Units are in the names.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest linear memory of one instance, in MiB.
    pub memory_mib_max: u32,
    /// CPU time one call may spend running guest code, in milliseconds.
    /// Time spent waiting for outbound HTTP does not count.
    pub cpu_ms_max: u64,
    /// Wall-clock time one call may take, everything included, in milliseconds.
    pub call_timeout_ms: u64,
    /// Time one outbound request may take, in milliseconds.
    pub http_timeout_ms: u64,
    /// Total time one call may spend in outbound requests, in milliseconds.
    pub io_budget_ms: u64,
    /// Outbound requests one call may make.
    pub http_requests_max: u32,
    /// Largest webhook body or outbound response body, in bytes.
    pub payload_bytes_max: usize,
    /// Instances of this connector that may run at once; further calls wait.
    pub instances_max: u32,
    /// Log lines one call may write; further lines are dropped.
    pub log_lines_max: u32,
    /// Bytes of state one call may write.
    pub state_bytes_max: usize,
    /// Consecutive failed calls (traps, limits, timeouts, vendor outages)
    /// after which the connector is not called for a while; 0 never pauses.
    pub breaker_failures: u32,
    /// How long such a pause lasts before one trial call, in seconds.
    pub breaker_open_seconds: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_mib_max: 64,
            cpu_ms_max: 1_000,
            call_timeout_ms: 30_000,
            http_timeout_ms: 10_000,
            io_budget_ms: 25_000,
            http_requests_max: 50,
            payload_bytes_max: 8 << 20,
            instances_max: 4,
            log_lines_max: 200,
            state_bytes_max: 1 << 20,
            breaker_failures: 5,
            breaker_open_seconds: 30,
        }
    }
}
