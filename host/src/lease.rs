//! Leases on the work that one daemon does for every daemon sharing the
//! database: a connector's polling (`poll:NAME`), fulfilment (`fulfil`),
//! campaign dispatch (`campaigns`), segment refresh (`segments`) and
//! reward statements (`statements`).
//!
//! An instance takes a lease that is free or has lapsed and renews it
//! while it works, every third of its time to live. An instance that dies
//! stops renewing, and another takes the work over once the lease lapses;
//! one that stops gives its leases up at once.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::store::cluster::{Lease, LeaseClaim};
use crate::store::{Store, StoreError};

/// This instance's leases.
pub struct Leases {
    store: Arc<dyn Store>,
    holder: String,
    ttl: Duration,
    /// Whether this instance held each lease at its last check, so that
    /// only changes are logged.
    held: Mutex<HashMap<String, bool>>,
}

impl std::fmt::Debug for Leases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leases")
            .field("holder", &self.holder)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl Leases {
    /// Leases held as `holder`, each for `ttl` from its last renewal.
    pub fn new(store: Arc<dyn Store>, holder: String, ttl: Duration) -> Self {
        Self {
            store,
            holder,
            ttl,
            held: Mutex::new(HashMap::new()),
        }
    }

    /// This instance's name in the leases.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// How often a held lease is renewed, and a lease held elsewhere is
    /// tried again.
    pub fn heartbeat(&self) -> Duration {
        self.ttl / 3
    }

    /// The claim this instance makes on `name`.
    pub fn claim(&self, name: &str) -> LeaseClaim {
        LeaseClaim {
            name: name.to_owned(),
            holder: self.holder.clone(),
            ttl_ms: i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX),
        }
    }

    /// Takes or renews `name`: `None` once this instance holds it, or the
    /// lease of the instance that does.
    pub async fn hold(&self, name: &str) -> Result<Option<Lease>, StoreError> {
        let lease = self.store.hold_lease(self.claim(name)).await?;
        let mine = lease.holder == self.holder;
        self.noted(name, mine, &lease);
        Ok((!mine).then_some(lease))
    }

    /// Whether this instance holds `name` now, having taken or renewed it.
    /// A store failure counts as not holding it.
    pub async fn mine(&self, name: &str) -> bool {
        match self.hold(name).await {
            Ok(other) => other.is_none(),
            Err(e) => {
                tracing::warn!(lease = name, error = %e, "cannot take or renew the lease");
                self.forget(name);
                false
            }
        }
    }

    /// Runs `work` if this instance holds `name` (taking it if it is free),
    /// renewing it while `work` runs. `None` when another instance holds it.
    pub async fn exclusive<T>(&self, name: &str, work: impl Future<Output = T>) -> Option<T> {
        if !self.mine(name).await {
            return None;
        }
        Some(self.renewed(name, work).await)
    }

    /// Runs `work` under `name`, which this instance holds, renewing it
    /// every heartbeat until `work` ends. Losing it meanwhile is logged;
    /// `work` that must stop then checks with [`Self::hold`] itself.
    pub async fn renewed<T>(&self, name: &str, work: impl Future<Output = T>) -> T {
        let mut work = std::pin::pin!(work);
        let mut beats = tokio::time::interval(self.heartbeat());
        beats.tick().await;
        loop {
            tokio::select! {
                out = &mut work => return out,
                _ = beats.tick() => {
                    if !self.mine(name).await {
                        tracing::warn!(lease = name, "the lease was lost while its work ran; the work finishes");
                    }
                }
            }
        }
    }

    /// Gives every lease of this instance up, so that others take the work
    /// over at once.
    pub async fn release_all(&self) {
        if let Err(e) = self.store.release_leases(self.holder.clone(), None).await {
            tracing::warn!(error = %e, "cannot give the leases up; they lapse instead");
        }
    }

    fn noted(&self, name: &str, mine: bool, lease: &Lease) {
        let before = self
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.to_owned(), mine);
        if before == Some(mine) {
            return;
        }
        if mine {
            tracing::info!(lease = name, holder = self.holder, "lease taken");
        } else {
            tracing::info!(
                lease = name,
                holder = lease.holder,
                "another instance holds the lease"
            );
        }
    }

    fn forget(&self, name: &str) {
        self.held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name);
    }
}

/// A name for this instance. A daemon listening on a fixed port is named
/// by its host and port, which no other living daemon on that host can
/// have: restarted after a crash, it takes its own leases back at once
/// instead of waiting for them to lapse. Anything else (a daemon on port 0,
/// a command such as `loyaltyd backfill`) gets the host name, its process
/// id and a random suffix.
pub fn instance_id(listen: Option<std::net::SocketAddr>) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "loyaltyd".to_owned());
    match listen.map(|addr| addr.port()) {
        Some(port) if port != 0 => format!("{host}:{port}"),
        _ => format!("{host}-{}-{:08x}", std::process::id(), fastrand::u32(..)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_daemon_on_a_fixed_port_is_named_by_its_host_and_port() {
        let named = instance_id(Some("0.0.0.0:8080".parse().unwrap()));
        assert!(named.ends_with(":8080"), "{named}");
        assert_eq!(named, instance_id(Some("127.0.0.1:8080".parse().unwrap())));

        let id = instance_id(Some("127.0.0.1:0".parse().unwrap()));
        let (prefix, suffix) = id.rsplit_once('-').unwrap();
        assert!(
            prefix.ends_with(&format!("-{}", std::process::id())),
            "{id}"
        );
        assert_eq!(suffix.len(), 8, "{id}");
        assert!(suffix.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
        assert!(instance_id(None).starts_with(prefix), "{id}");
    }
}
