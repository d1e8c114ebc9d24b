//! Scheduled polling: each connector with `[connectors.NAME.poll]` is asked
//! for pages of changes after its committed cursor, on its interval (with
//! jitter) and whenever an operator asks (`POST /api/v1/connectors/NAME/sync`).
//!
//! Every page commits its events, the connector's state writes and the new
//! cursor in one transaction, so a crash between pages resumes from the last
//! committed cursor. A rate limit is waited out (never shorter than the
//! vendor's delay), a passing failure is retried with backoff, and anything
//! else ends the sync with the error on record until the next one.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{Notify, watch};

use crate::config::PollConfig;
use crate::core::program::Program;
use crate::inbox::{Stager, StateOverlay};
use crate::lease::Leases;
use crate::runtime::convert;
use crate::runtime::wit::latest::exports::loyalty::connector::source::PollRequest;
use crate::runtime::wit::latest::loyalty::connector::types::Error as GuestError;
use crate::runtime::{CallError, Plugin};
use crate::store::cluster::LeaseClaim;
use crate::store::{PageCompletion, PageResult, PollStream, Store, StoreError};

/// Passing failures of one page retried before the sync gives up.
const TRANSIENT_ATTEMPTS_MAX: u32 = 5;
/// Rate limits of one page waited out before the sync gives up.
const RATE_LIMITS_MAX: u32 = 20;
/// The wait after a rate limit that names no delay.
const RATE_LIMIT_DEFAULT: Duration = Duration::from_secs(10);

/// Where a connector's polling stands, as the admin API shows it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SyncState {
    /// Whether a sync is running now.
    pub running: bool,
    /// Syncs that ran to the end since the daemon started.
    pub completed: u64,
    /// Syncs that stopped on an error since the daemon started.
    pub failures: u64,
    /// The last error, cleared by the next sync that completes.
    pub last_error: Option<String>,
    /// When the last sync completed (ms since the epoch).
    pub last_completed_at: Option<i64>,
    /// When the next scheduled sync starts (ms since the epoch).
    pub next_at: Option<i64>,
    /// The instance that polls the connector when it is not this one
    /// (daemons sharing a database poll each connector from one of them).
    pub polled_by: Option<String>,
}

/// The handle of one connector's poller, shared with the admin API.
#[derive(Debug)]
pub struct SyncHandle {
    /// Configured interval.
    pub interval: Duration,
    /// Starts a sync now.
    pub wake: Notify,
    state: Mutex<SyncState>,
}

impl SyncHandle {
    /// A handle for a connector polled every `interval`.
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            wake: Notify::new(),
            state: Mutex::new(SyncState::default()),
        }
    }

    /// A copy of the current state.
    pub fn state(&self) -> SyncState {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn update(&self, f: impl FnOnce(&mut SyncState)) {
        f(&mut self.state.lock().unwrap_or_else(PoisonError::into_inner));
    }
}

/// One page fetched and committed.
#[derive(Debug)]
pub struct PageDone {
    /// Events in the page.
    pub events: usize,
    /// What the store did with them.
    pub result: PageResult,
    /// Whether another page is ready.
    pub more: bool,
}

/// Why a page could not be fetched or committed.
#[derive(Debug)]
pub enum PageError {
    /// The vendor asked to slow down; fetch again after this long.
    RateLimited(Duration, String),
    /// A passing failure; fetch again with backoff.
    Transient(String),
    /// Retrying will not help.
    Failed(String),
    /// Another instance took the connector's polling over (named).
    LeaseLost(String),
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::RateLimited(delay, message) => {
                write!(f, "rate limited for {} ms: {message}", delay.as_millis())
            }
            Self::Transient(message) | Self::Failed(message) => f.write_str(message),
            Self::LeaseLost(holder) => write!(f, "instance {holder} took the lease over"),
        }
    }
}

/// A page fetched and mapped by the connector, not yet committed.
#[derive(Debug)]
pub struct Fetched {
    /// The build that fetched it (the page commits under its hash).
    plugin: Plugin,
    events: Vec<crate::core::event::Event>,
    state: crate::runtime::StateWrites,
    cursor: Option<String>,
    more: bool,
}

/// Asks the connector for the page after `request.cursor` (or from
/// `since`) and checks what it returns.
pub async fn fetch_page(plugin: &Plugin, request: &PollRequest) -> Result<Fetched, PageError> {
    let plugin = plugin.pinned();
    let output = match plugin.poll(request).await {
        Ok(output) => output,
        Err(error) => return Err(classify(&error)),
    };
    let page = output.value;
    let events = page
        .events
        .iter()
        .map(convert::to_core)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|invalid| PageError::Failed(format!("the connector produced an {invalid}")))?;
    if page.more && page.next_cursor.is_none() {
        return Err(PageError::Failed(
            "the connector announced more pages without a cursor to fetch them with".to_owned(),
        ));
    }
    Ok(Fetched {
        plugin,
        events,
        state: output.state,
        cursor: page.next_cursor,
        more: page.more,
    })
}

/// Commits a fetched page to `stream`: its events, state writes and
/// cursor in one transaction (under `lease` when given).
pub async fn commit_page(
    store: &Arc<dyn Store>,
    program: &Arc<Program>,
    stream: PollStream,
    page: Fetched,
    lease: Option<LeaseClaim>,
) -> Result<PageDone, PageError> {
    let count = page.events.len();
    let more = page.more;
    let result = store
        .commit_page(PageCompletion {
            connector: page.plugin.name().to_owned(),
            stream,
            events: page.events,
            state: page.state,
            cursor: page.cursor,
            finished: !more,
            program: program.clone(),
            plugin_sha256: page.plugin.wasm_sha256(),
            lease,
        })
        .await
        .map_err(|e| match e {
            StoreError::LeaseLost { holder, .. } => PageError::LeaseLost(holder),
            e => PageError::Transient(format!("committing the page failed: {e}")),
        })?;
    Ok(PageDone {
        events: count,
        result,
        more,
    })
}

/// Fetches the page after `cursor` (or from `since`) and commits it to
/// `stream`.
pub async fn poll_page(
    plugin: &Plugin,
    store: &Arc<dyn Store>,
    program: &Arc<Program>,
    stream: PollStream,
    request: PollRequest,
    lease: Option<LeaseClaim>,
) -> Result<PageDone, PageError> {
    let page = fetch_page(plugin, &request).await?;
    commit_page(store, program, stream, page, lease).await
}

fn classify(error: &CallError) -> PageError {
    match error {
        CallError::Guest {
            error: GuestError::RateLimited(r),
            ..
        } => PageError::RateLimited(
            r.delay_ms.map_or(RATE_LIMIT_DEFAULT, Duration::from_millis),
            r.message.clone(),
        ),
        e if e.is_retryable() => PageError::Transient(e.to_string()),
        e => PageError::Failed(e.to_string()),
    }
}

/// Polls one connector until shutdown.
pub struct Poller {
    /// The connector.
    pub plugin: Plugin,
    /// The store.
    pub store: Arc<dyn Store>,
    /// The program rules in force.
    pub program: Arc<Program>,
    /// Interval and page size.
    pub config: PollConfig,
    /// Shared with the admin API.
    pub handle: Arc<SyncHandle>,
    /// Counts the events it applies.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Polls only while this instance holds `poll:NAME`.
    pub leases: Arc<Leases>,
    /// The connector's state as its calls see it (shared with its inbox
    /// worker).
    pub state: Arc<StateOverlay>,
}

impl std::fmt::Debug for Poller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Poller")
            .field("connector", &self.plugin.name())
            .finish_non_exhaustive()
    }
}

/// How a sync ended.
enum Ended {
    Completed,
    Failed(String),
    /// Another instance took the polling over.
    LeaseLost(String),
    Shutdown,
}

/// How a wait between syncs ended.
enum Waited {
    /// Time for the next sync, or someone asked for one.
    Sync,
    /// Another instance took the polling over (or the lease could not be
    /// renewed).
    LeaseLost,
    Shutdown,
}

/// The lease a connector is polled under.
pub fn lease_name(connector: &str) -> String {
    format!("poll:{connector}")
}

impl Poller {
    /// Syncs at start, then every interval (give or take a tenth) and
    /// whenever woken, until `shutdown` turns true; only while this
    /// instance holds the connector's lease, renewed meanwhile.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let connector = self.plugin.name().to_owned();
        let lease = lease_name(&connector);
        loop {
            if *shutdown.borrow() {
                return;
            }
            match self.leases.hold(&lease).await {
                Ok(None) => self.handle.update(|s| s.polled_by = None),
                Ok(Some(other)) => {
                    self.handle.update(|s| {
                        s.polled_by = Some(other.holder);
                        s.next_at = None;
                    });
                    if self.follow(&mut shutdown).await {
                        return;
                    }
                    continue;
                }
                Err(e) => {
                    tracing::warn!(connector, error = %e, "cannot take the polling lease; trying again");
                    if self.follow(&mut shutdown).await {
                        return;
                    }
                    continue;
                }
            }
            self.handle.update(|s| {
                s.running = true;
                s.next_at = None;
            });
            let ended = self
                .leases
                .renewed(&lease, self.sync(&mut shutdown, &lease))
                .await;
            let now = jiff::Timestamp::now().as_millisecond();
            self.handle.update(|s| {
                s.running = false;
                match &ended {
                    Ended::Completed => {
                        s.completed += 1;
                        s.last_error = None;
                        s.last_completed_at = Some(now);
                    }
                    Ended::Failed(error) => {
                        s.failures += 1;
                        s.last_error = Some(error.clone());
                    }
                    Ended::LeaseLost(holder) => s.polled_by = Some(holder.clone()),
                    Ended::Shutdown => {}
                }
            });
            match ended {
                Ended::Completed => tracing::info!(connector, "sync completed"),
                Ended::Failed(error) => {
                    tracing::warn!(connector, error = %error, "sync failed; it runs again at the next interval");
                }
                Ended::LeaseLost(holder) => {
                    tracing::warn!(
                        connector,
                        holder,
                        "another instance took the polling over mid-sync; its pages are its own"
                    );
                    continue;
                }
                Ended::Shutdown => return,
            }
            let wait = jittered(self.config.interval);
            let next_at = now.saturating_add(i64::try_from(wait.as_millis()).unwrap_or(i64::MAX));
            self.handle.update(|s| s.next_at = Some(next_at));
            match self.hold_until(wait, &lease, &mut shutdown).await {
                Waited::Sync | Waited::LeaseLost => {}
                Waited::Shutdown => return,
            }
        }
    }

    /// Waits a heartbeat (or a wake) before trying the lease again: true on
    /// shutdown.
    async fn follow(&self, shutdown: &mut watch::Receiver<bool>) -> bool {
        tokio::select! {
            _ = self.handle.wake.notified() => false,
            _ = tokio::time::sleep(self.leases.heartbeat()) => false,
            _ = shutdown.changed() => true,
        }
    }

    /// Waits `wait` (or a wake), renewing the lease every heartbeat.
    async fn hold_until(
        &self,
        wait: Duration,
        lease: &str,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Waited {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let beat = tokio::time::Instant::now() + self.leases.heartbeat();
            tokio::select! {
                _ = self.handle.wake.notified() => return Waited::Sync,
                _ = tokio::time::sleep_until(deadline.min(beat)) => {}
                _ = shutdown.changed() => return Waited::Shutdown,
            }
            if tokio::time::Instant::now() >= deadline {
                return Waited::Sync;
            }
            if !self.leases.mine(lease).await {
                return Waited::LeaseLost;
            }
        }
    }

    /// Fetches pages until the connector has no more, while this instance
    /// holds `lease` (renewed before every page).
    ///
    /// Fetching a page overlaps committing the page before it: the
    /// connector sees that page's state writes through the overlay, and
    /// should the commit fail, the page fetched meanwhile is dropped and
    /// fetched again from the committed cursor.
    async fn sync(&self, shutdown: &mut watch::Receiver<bool>, lease: &str) -> Ended {
        let connector = self.plugin.name();
        let mut transient = 0;
        let mut rate_limited = 0;
        let mut number = 0;
        // The page fetched and not yet committed, with its number.
        let mut fetched: Option<(u64, Fetched)> = None;
        loop {
            if *shutdown.borrow() {
                self.state.forget_through(Stager::Poll, number);
                return Ended::Shutdown;
            }
            match self.leases.hold(lease).await {
                Ok(None) => {}
                Ok(Some(other)) => {
                    self.state.forget_through(Stager::Poll, number);
                    return Ended::LeaseLost(other.holder);
                }
                Err(e) => {
                    self.state.forget_through(Stager::Poll, number);
                    return Ended::Failed(format!("renewing the polling lease failed: {e}"));
                }
            }
            number += 1;
            let (committed, next) = match fetched.take() {
                None => {
                    let position = match self.store.poll_position(connector, PollStream::Sync).await
                    {
                        Ok(position) => position,
                        Err(e) => return Ended::Failed(format!("reading the cursor failed: {e}")),
                    };
                    (None, Some(self.fetch(number, position.cursor).await))
                }
                Some((page_number, page)) if page.more => {
                    let cursor = page.cursor.clone();
                    let (committed, next) = tokio::join!(
                        self.commit(page_number, page, lease),
                        self.fetch(number, cursor)
                    );
                    (Some(committed), Some(next))
                }
                Some((page_number, page)) => {
                    (Some(self.commit(page_number, page, lease).await), None)
                }
            };
            let failure = match committed {
                Some(Ok(done)) => {
                    transient = 0;
                    rate_limited = 0;
                    self.report(&done);
                    if !done.more {
                        return Ended::Completed;
                    }
                    None
                }
                Some(Err(error)) => {
                    // The page fetched meanwhile read state that did not
                    // commit: it is fetched again.
                    self.state.forget_through(Stager::Poll, number);
                    Some(error)
                }
                None => None,
            };
            let failure = failure.or_else(|| match next? {
                Ok(page) => {
                    fetched = Some((number, page));
                    None
                }
                Err(error) => Some(error),
            });
            let Some(error) = failure else {
                continue;
            };
            let wait = match error {
                PageError::RateLimited(delay, message) => {
                    rate_limited += 1;
                    if rate_limited > RATE_LIMITS_MAX {
                        return Ended::Failed(format!(
                            "still rate limited after {RATE_LIMITS_MAX} waits: {message}"
                        ));
                    }
                    tracing::info!(
                        connector,
                        delay_ms = delay.as_millis(),
                        message,
                        "rate limited; waiting before the next page"
                    );
                    delay
                }
                PageError::Transient(message) => {
                    transient += 1;
                    if transient > TRANSIENT_ATTEMPTS_MAX {
                        return Ended::Failed(message);
                    }
                    let delay = Duration::from_secs(1 << (transient - 1));
                    tracing::warn!(connector, attempt = transient, delay_ms = delay.as_millis(), error = %message, "poll failed; retrying");
                    delay
                }
                PageError::Failed(message) => return Ended::Failed(message),
                PageError::LeaseLost(holder) => return Ended::LeaseLost(holder),
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => return Ended::Shutdown,
            }
        }
    }

    /// Fetches page `number` after `cursor`; its state writes are staged
    /// until it commits.
    async fn fetch(&self, number: u64, cursor: Option<String>) -> Result<Fetched, PageError> {
        let request = PollRequest {
            cursor,
            page_size: self.config.page_size,
            since: None,
        };
        let page = fetch_page(&self.plugin, &request).await?;
        self.state.stage(Stager::Poll, number, &page.state);
        Ok(page)
    }

    /// Commits page `number` under `lease`; its staged state is then
    /// forgotten.
    async fn commit(&self, number: u64, page: Fetched, lease: &str) -> Result<PageDone, PageError> {
        let done = commit_page(
            &self.store,
            &self.program,
            PollStream::Sync,
            page,
            Some(self.leases.claim(lease)),
        )
        .await;
        self.state.forget_through(Stager::Poll, number);
        done
    }

    /// Counts and logs a committed page.
    fn report(&self, done: &PageDone) {
        let connector = self.plugin.name();
        self.metrics
            .events_applied(connector, done.result.applied.changed);
        tracing::info!(
            connector,
            events = done.events,
            changed = done.result.applied.changed,
            unchanged = done.result.applied.unchanged,
            entries = done.result.applied.entries,
            refused = done.result.refused.len(),
            more = done.more,
            "poll page committed"
        );
        for error in &done.result.refused {
            tracing::warn!(connector, error = %error, "dead letter: the core refused a polled event");
        }
    }
}

/// `interval` plus or minus up to a tenth, so that connectors configured
/// alike do not all poll at the same moment.
fn jittered(interval: Duration) -> Duration {
    let tenth = interval / 10;
    let spread = u64::try_from(tenth.as_millis()).unwrap_or(u64::MAX);
    if spread == 0 {
        return interval;
    }
    let offset = Duration::from_millis(fastrand::u64(0..=2 * spread));
    interval.saturating_sub(tenth) + offset
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_a_tenth() {
        let interval = Duration::from_secs(300);
        for _ in 0..1000 {
            let wait = jittered(interval);
            assert!(
                wait >= Duration::from_secs(270) && wait <= Duration::from_secs(330),
                "{wait:?}"
            );
        }
        assert_eq!(jittered(Duration::from_millis(5)), Duration::from_millis(5));
    }
}
