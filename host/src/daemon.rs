//! Wiring: opens the store, loads the connectors, starts their inbox
//! workers and pollers and serves the HTTP API until shutdown.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::api::{self, Api, Endpoint};
use crate::config::{Config, StoreConfig};
use crate::core::program::Program;
use crate::fulfil::Fulfiller;
use crate::inbox::{Backlog, StateOverlay, Worker};
use crate::lease::Leases;
use crate::metrics::Metrics;
use crate::poller::{Poller, SyncHandle};
use crate::reload::Reloader;
use crate::runtime::{PluginSpec, Runtime, RuntimeOptions};
use crate::store::postgres::PostgresStore;
use crate::store::sqlite::SqliteStore;
use crate::store::{Store, StoreOptions};

/// A running daemon.
pub struct Daemon {
    /// The address the API listens on.
    pub addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    server: JoinHandle<std::io::Result<()>>,
    workers: Vec<JoinHandle<()>>,
    api: Arc<Api>,
    leases: Arc<Leases>,
    shutdown_grace: Duration,
}

impl std::fmt::Debug for Daemon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Daemon")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// How often the scheduled jobs (tier downgrades, contract memberships,
/// milestone bonuses, points expiry) run, once per hour of UTC across the
/// daemons sharing a store; `POST /api/v1/jobs/run` runs them at once.
const JOBS_EVERY: Duration = Duration::from_secs(3600);
/// How often a daemon looks whether this hour's jobs have run.
const JOBS_CHECK_EVERY: Duration = Duration::from_secs(60);
/// The lease the segment refresh runs under.
const SEGMENTS_LEASE: &str = "segments";
/// How often the segment refresher looks for changes.
const SEGMENTS_CHECK_EVERY: Duration = Duration::from_secs(2);
/// How long after the last change the segments are refreshed once more.
const SEGMENTS_SETTLE: Duration = Duration::from_secs(10);

/// Opens the configured store.
pub fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let options = StoreOptions {
        batch_max: config.server.inbox_batch_max,
        identity: config.identity.clone(),
        ..StoreOptions::default()
    };
    Ok(match &config.store {
        StoreConfig::Sqlite { path } => Arc::new(
            SqliteStore::open_with(path, options)
                .with_context(|| format!("opening the store at {}", path.display()))?,
        ),
        StoreConfig::Postgres {
            url,
            password,
            pool_size,
        } => Arc::new(
            PostgresStore::open(
                url,
                password.as_ref().map(crate::runtime::Secret::expose),
                *pool_size,
                options,
            )
            .context("opening the PostgreSQL store")?,
        ),
    })
}

/// Runs the scheduled jobs once per hour across every daemon sharing the
/// store: each looks every [`JOBS_CHECK_EVERY`], and the first to find the
/// hour not yet run runs it (its run's record commits with the run's work).
async fn run_jobs(
    store: Arc<dyn Store>,
    program: Arc<Program>,
    holder: String,
    mut stop: watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(JOBS_CHECK_EVERY);
    loop {
        tokio::select! {
            _ = ticks.tick() => {
                let period = hour_of(jiff::Timestamp::now());
                match store.run_jobs_once(program.clone(), period.clone(), holder.clone()).await {
                    Ok(Some(report)) => {
                        tracing::info!(
                            period,
                            tier_changes = report.tier_changes,
                            membership_changes = report.membership_changes,
                            expirations = report.expirations,
                            points_expired = report.points_expired,
                            bonuses = report.bonuses,
                            "scheduled jobs ran"
                        );
                        if !program.referrals.commissions.is_empty() {
                            run_payouts(store.as_ref(), &program).await;
                        }
                    }
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error = %e, "scheduled jobs failed; they run again later"),
                }
            }
            changed = stop.changed() => if changed.is_err() || *stop.borrow() {
                return;
            },
        }
    }
}

/// The hour `at` falls in, UTC: the period of the scheduled jobs.
fn hour_of(at: jiff::Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H").to_string()
}

/// Keeps segment membership current: refreshes it at start, within
/// [`SEGMENTS_CHECK_EVERY`] of applied events or admin changes, and every
/// [`JOBS_EVERY`] (so that time-based filters such as `recency_days` move
/// on without events). One daemon refreshes for all: the holder of the
/// `segments` lease.
async fn refresh_segments(
    store: Arc<dyn Store>,
    program: Arc<Program>,
    leases: Arc<Leases>,
    mut stop: watch::Receiver<bool>,
) {
    let mut checks = tokio::time::interval(SEGMENTS_CHECK_EVERY);
    let mut refresher = Refresher {
        seen: None,
        refreshed_at: tokio::time::Instant::now(),
        settle_at: None,
    };
    loop {
        tokio::select! {
            _ = checks.tick() => {
                leases
                    .exclusive(SEGMENTS_LEASE, refresher.refresh_if_changed(&store, &program))
                    .await;
            }
            changed = stop.changed() => if changed.is_err() || *stop.borrow() {
                return;
            },
        }
    }
}

/// What the segment refresher knows between its checks.
struct Refresher {
    /// The change token the last refresh saw.
    seen: Option<i64>,
    /// When the last refresh ran.
    refreshed_at: tokio::time::Instant,
    /// When to refresh once more after the token last moved.
    settle_at: Option<tokio::time::Instant>,
}

impl Refresher {
    /// Refreshes the segments if something changed since the refresh that
    /// saw `seen`, or [`JOBS_EVERY`] has passed, or once more
    /// [`SEGMENTS_SETTLE`] after the changes stopped: the token is made of
    /// the newest ids, and with several writers (daemons on one
    /// PostgreSQL) a change can commit after a newer one under an older id,
    /// which does not move it.
    async fn refresh_if_changed(&mut self, store: &Arc<dyn Store>, program: &Arc<Program>) {
        let token = match store.change_token().await {
            Ok(token) => token,
            Err(e) => {
                tracing::warn!(error = %e, "cannot tell whether segments changed");
                return;
            }
        };
        let now = tokio::time::Instant::now();
        let moved = self.seen != Some(token);
        let settling = self.settle_at.is_some_and(|at| now >= at);
        if !moved && !settling && self.refreshed_at.elapsed() < JOBS_EVERY {
            return;
        }
        match store.refresh_segments(program.clone()).await {
            Ok(report) => {
                self.seen = Some(token);
                self.refreshed_at = now;
                self.settle_at = moved.then(|| now + SEGMENTS_SETTLE);
                if report.joined + report.left > 0 {
                    tracing::info!(
                        segments = report.segments,
                        joined = report.joined,
                        left = report.left,
                        "segments refreshed"
                    );
                }
            }
            Err(e) => tracing::warn!(error = %e, "segment refresh failed; it runs again later"),
        }
    }
}

/// Makes the payout batch that is due, if any.
async fn run_payouts(store: &dyn Store, program: &Program) {
    match store
        .run_payouts(
            program.referrals.payouts,
            program.currency.clone(),
            "jobs".to_owned(),
        )
        .await
    {
        Ok(Some(payout)) => tracing::info!(
            payout = payout.id,
            key = payout.key.as_str(),
            total = %payout.total,
            referrers = payout.lines.len(),
            "payout batch made"
        ),
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "payout run failed; it runs again later"),
    }
}

impl Daemon {
    /// Starts everything and returns once the API is listening.
    pub async fn start(config: Config) -> anyhow::Result<Self> {
        let store = open_store(&config)?;
        let metrics = Arc::new(Metrics::new());
        let runtime = Arc::new(Runtime::new(RuntimeOptions {
            observer: Some(metrics.clone()),
            ..config.runtime_options()
        })?);
        let program = Arc::new(config.program.clone());
        let versions = store
            .register_program(config.program.clone())
            .await
            .context("registering the program version")?;
        for version in &versions {
            tracing::info!(
                version = version.version.as_str(),
                effective_from = version.effective_from,
                "program version"
            );
        }
        store
            .define_segments(config.segments.clone())
            .await
            .context("defining the configured segments")?;
        store
            .define_campaigns(config.campaigns.clone())
            .await
            .context("defining the configured campaigns")?;
        let (shutdown, watcher) = watch::channel(false);
        let instance_id = config
            .server
            .instance_id
            .clone()
            .unwrap_or_else(|| crate::lease::instance_id(Some(config.server.listen)));
        tracing::info!(instance = instance_id.as_str(), "instance");
        let leases = Arc::new(Leases::new(
            store.clone(),
            instance_id.clone(),
            config.server.lease,
        ));

        let mut endpoints = BTreeMap::new();
        let mut workers = Vec::new();
        for (name, connector) in &config.connectors {
            let state = Arc::new(StateOverlay::new(name, store.clone()));
            let plugin = runtime.load(PluginSpec {
                name: name.clone(),
                wasm: connector.plugin.clone(),
                limits: connector.limits.clone(),
                grants: connector.grants.clone(),
                state: state.clone(),
            })?;
            tracing::info!(
                connector = name.as_str(),
                sha256 = plugin.wasm_sha256().as_str(),
                contract = plugin.contract_version().as_str(),
                "connector loaded"
            );
            match plugin.capability_mismatches().await {
                Ok(found) => {
                    for mismatch in found {
                        tracing::warn!(connector = name.as_str(), mismatch, "capabilities differ");
                    }
                }
                Err(error) => {
                    tracing::warn!(connector = name.as_str(), error = %error, "describe failed");
                }
            }
            let wake = Arc::new(Notify::new());
            let backlog = Arc::new(Backlog::new(config.server.inbox_backlog_max));
            let worker = Worker {
                plugin: plugin.clone(),
                state: state.clone(),
                store: store.clone(),
                program: program.clone(),
                wake: wake.clone(),
                batch_max: config.server.inbox_batch_max,
                metrics: metrics.clone(),
                backlog: backlog.clone(),
            };
            workers.push(tokio::spawn(worker.run(watcher.clone())));
            let sync = connector.poll.map(|poll| {
                let handle = Arc::new(SyncHandle::new(poll.interval));
                let poller = Poller {
                    plugin: plugin.clone(),
                    store: store.clone(),
                    program: program.clone(),
                    config: poll,
                    handle: handle.clone(),
                    metrics: metrics.clone(),
                    leases: leases.clone(),
                    state: state.clone(),
                };
                workers.push(tokio::spawn(poller.run(watcher.clone())));
                handle
            });
            endpoints.insert(
                name.clone(),
                Endpoint {
                    plugin,
                    wake,
                    sync,
                    backlog,
                },
            );
        }

        let fulfiller = Fulfiller {
            store: store.clone(),
            leases: leases.clone(),
            program: program.clone(),
            plugins: endpoints
                .iter()
                .map(|(name, endpoint)| (name.clone(), endpoint.plugin.clone()))
                .collect(),
        };
        workers.push(tokio::spawn(fulfiller.run(watcher.clone())));
        let dispatcher = crate::campaigns::Dispatcher {
            store: store.clone(),
            leases: leases.clone(),
            program: program.clone(),
            plugins: endpoints
                .iter()
                .map(|(name, endpoint)| (name.clone(), endpoint.plugin.clone()))
                .collect(),
        };
        workers.push(tokio::spawn(dispatcher.run(watcher.clone())));
        workers.push(tokio::spawn(run_jobs(
            store.clone(),
            program.clone(),
            instance_id.clone(),
            watcher.clone(),
        )));
        workers.push(tokio::spawn(refresh_segments(
            store.clone(),
            program.clone(),
            leases.clone(),
            watcher.clone(),
        )));

        let links = config
            .portal
            .as_ref()
            .map(|portal| {
                crate::portal::tokens::Links::new(portal, config.server.public_base_url.as_str())
            })
            .transpose()
            .map_err(|e| anyhow::anyhow!("the portal secret cannot key HMAC: {e}"))?;
        let statements =
            crate::statements::Statements::from_config(&config, store.clone(), program.clone())?
                .map(Arc::new);
        if let Some(statements) = &statements {
            workers.push(tokio::spawn(
                Arc::clone(statements).run_scheduled(leases.clone(), watcher.clone()),
            ));
        }
        let reloader = Arc::new(Reloader::new(
            runtime,
            &config,
            endpoints
                .iter()
                .map(|(name, endpoint)| (name.clone(), endpoint.plugin.clone()))
                .collect(),
        ));
        let api = Arc::new(Api {
            endpoints,
            store,
            public_base_url: config
                .server
                .public_base_url
                .as_str()
                .trim_end_matches('/')
                .to_owned(),
            admin_token_sha256: config.server.admin_token_sha256.clone(),
            tokens: config.server.tokens.clone(),
            ready: AtomicBool::new(true),
            program: program.clone(),
            goals: config.goals.clone(),
            portal_links: links,
            statements,
            metrics,
            reloader: Some(reloader),
            instance_id,
        });
        let listener = tokio::net::TcpListener::bind(config.server.listen)
            .await
            .with_context(|| format!("listening on {}", config.server.listen))?;
        let addr = listener.local_addr()?;
        let mut stop = watcher.clone();
        let mut app = api::router(api.clone());
        if let Some(portal) = config.portal.clone() {
            let portal = Arc::new(crate::portal::Portal::new(api.clone(), portal)?);
            app = app.merge(crate::portal::routes(portal));
        }
        let app = crate::http_edge::Edge::new(&config.server, config.connectors.keys()).apply(app);
        let tls = config.server.tls.clone();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let server = tokio::spawn(crate::http_edge::serve(listener, tls, app, async move {
            let _ = stop.wait_for(|stopping| *stopping).await;
        }));
        tracing::info!(%addr, scheme, program_version = program.version.as_str(), "loyaltyd is listening");
        Ok(Self {
            addr,
            shutdown,
            server,
            workers,
            api,
            leases,
            shutdown_grace: Duration::from_secs(config.server.shutdown_grace_seconds),
        })
    }

    /// Stops accepting requests, lets in-flight requests and the workers'
    /// current batches finish, and returns.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.api.ready.store(false, Ordering::Relaxed);
        let _ = self.shutdown.send(true);
        let leases = self.leases;
        let drained = async {
            let served = self.server.await;
            for worker in self.workers {
                let _ = worker.await;
            }
            leases.release_all().await;
            served
        };
        match tokio::time::timeout(self.shutdown_grace, drained).await {
            Ok(Ok(result)) => result.context("serving the API"),
            Ok(Err(e)) => Err(anyhow::anyhow!("the API task failed: {e}")),
            Err(_) => {
                tracing::warn!("shutdown grace period elapsed with work in flight");
                Ok(())
            }
        }
    }

    /// Reloads every connector in the background (a SIGHUP): compiling
    /// components never holds up the signal loop, so SIGTERM is heard at
    /// once.
    fn reload_in_background(&self) {
        let Some(reloader) = self.api.reloader.clone() else {
            return;
        };
        tokio::spawn(async move {
            if let Err(e) = reloader.reload(None).await {
                tracing::error!(error = %e, "reload failed; everything keeps running as it was");
            }
        });
    }
}

/// Runs the daemon until SIGINT or SIGTERM; SIGHUP reloads the connectors.
pub async fn run(config: Config) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let daemon = Daemon::start(config).await?;
    let mut term = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    loop {
        tokio::select! {
            result = tokio::signal::ctrl_c() => { result?; break; }
            _ = term.recv() => break,
            _ = hangup.recv() => {
                tracing::info!("SIGHUP: reloading the connectors");
                daemon.reload_in_background();
            }
        }
    }
    tracing::info!("shutting down");
    daemon.stop().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_jobs_period_is_the_hour_of_utc() {
        let at: jiff::Timestamp = "2026-12-07T05:59:59.999Z".parse().unwrap();
        assert_eq!(hour_of(at), "2026-12-07T05");
        let next: jiff::Timestamp = "2026-12-07T06:00:00Z".parse().unwrap();
        assert_eq!(hour_of(next), "2026-12-07T06");
    }
}
