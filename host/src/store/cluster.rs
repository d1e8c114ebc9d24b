//! Coordination between daemons that share one database: leases on the work
//! one daemon does for all of them, and the runs of scheduled jobs.

use serde::Serialize;

/// Who holds a lease, until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lease {
    /// What it covers, e.g. `poll:shopify` or `fulfil`.
    pub name: String,
    /// The instance that holds it.
    pub holder: String,
    /// When the holder took it (ms since the epoch).
    pub acquired_at: i64,
    /// When it lapses unless renewed (ms since the epoch).
    pub expires_at: i64,
}

/// A request to take a lease or renew it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseClaim {
    /// What it covers.
    pub name: String,
    /// The instance asking.
    pub holder: String,
    /// How long it holds from now, in ms.
    pub ttl_ms: i64,
}

/// One run of a scheduled job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScheduledRun {
    /// The job, e.g. `jobs`.
    pub job: String,
    /// The period it ran for, e.g. `2026-12-07T05`.
    pub period: String,
    /// The instance that ran it.
    pub holder: String,
    /// When it committed (ms since the epoch).
    pub at: i64,
}

/// Leases and recent scheduled runs, as the cluster API shows them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ClusterView {
    /// Every lease, expired ones too, by name.
    pub leases: Vec<Lease>,
    /// The latest scheduled runs, newest first.
    pub runs: Vec<ScheduledRun>,
}
