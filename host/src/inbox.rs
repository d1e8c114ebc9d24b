//! The inbox worker: turns stored webhook deliveries into applied events.
//!
//! One worker per connector takes pending deliveries oldest first, calls the
//! connector's `handle-webhook` for each, and hands the results to the store,
//! which applies each delivery atomically (events, state writes, done mark)
//! and commits the batch at once. A delivery that cannot be processed becomes
//! a dead letter with its error; a passing failure (rate limit, vendor
//! outage) is retried with backoff.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{Notify, watch};

use crate::core::program::Program;
use crate::metrics::{DeliveryOutcome, Metrics};
use crate::runtime::convert;
use crate::runtime::wit::latest::loyalty::connector::types::{
    Error as GuestError, Header, WebhookRequest,
};
use crate::runtime::{CallError, Plugin, StateRead, StateWrites, WebhookSession};
use crate::store::{Completion, CompletionResult, PendingCount, Store, StoredDelivery};

/// Attempts after which a delivery that keeps failing transiently becomes a
/// dead letter.
const ATTEMPTS_MAX: u32 = 8;
/// The longest a worker waits before looking again at deliveries held by
/// an open circuit breaker.
const HELD_RECHECK: Duration = Duration::from_secs(5);

/// One connector's deliveries stored but not yet processed, as the webhook
/// handler weighs them against `[server] inbox_backlog_max`.
///
/// The worker counts the pending deliveries in the store before each
/// batch, along with the newest inbox id at that moment; the webhook
/// handler notes each delivery it stores. A stored delivery whose id is
/// past the count's is not in it and is added; the others are. The figure
/// is therefore exact as of the count, plus what was stored since, and
/// exceeds the truth only by the batch in hand: a worker counts again
/// after its last commit before it goes idle, so an idle worker has just
/// counted none.
#[derive(Debug)]
pub struct Backlog {
    max: u64,
    known: Mutex<Known>,
}

#[derive(Debug, Default)]
struct Known {
    /// Pending at the last count.
    counted: u64,
    /// The newest inbox id that count saw.
    last_id: i64,
    /// Ids stored that the last count may not have seen.
    stored_since: Vec<i64>,
}

impl Backlog {
    /// An empty backlog that refuses deliveries past `max`.
    pub fn new(max: usize) -> Self {
        Self {
            max: u64::try_from(max).unwrap_or(u64::MAX),
            known: Mutex::new(Known::default()),
        }
    }

    fn known(&self) -> std::sync::MutexGuard<'_, Known> {
        self.known.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Deliveries stored and not yet processed, as far as known.
    pub fn pending(&self) -> u64 {
        let known = self.known();
        known
            .counted
            .saturating_add(u64::try_from(known.stored_since.len()).unwrap_or(u64::MAX))
    }

    /// Whether no more deliveries should be taken for now.
    pub fn is_full(&self) -> bool {
        self.pending() >= self.max
    }

    /// The bound, `[server] inbox_backlog_max`.
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The delivery with this inbox id was stored.
    pub fn stored(&self, inbox_id: i64) {
        let mut known = self.known();
        if inbox_id > known.last_id {
            known.stored_since.push(inbox_id);
        }
    }

    /// The store counted the pending deliveries.
    fn counted(&self, count: PendingCount) {
        let mut known = self.known();
        known.counted = count.pending;
        known.last_id = count.last_id;
        known.stored_since.retain(|id| *id > count.last_id);
    }
}

/// Who staged writes in a [`StateOverlay`]: the inbox worker and the
/// poller number their own batches and pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stager {
    /// The inbox worker, by batch.
    Inbox,
    /// The poller, by page.
    Poll,
}

/// Connector state as a call sees it: committed values plus the writes of
/// calls made earlier and not yet committed (deliveries of the same batch
/// or of the batch whose commit is under way, the poll page whose commit
/// is under way). Without it, a burst of orders from one company would
/// re-fetch the company for every order of the batch, and a connector
/// counting something in its state would lose counts between batches.
pub struct StateOverlay {
    connector: String,
    store: Arc<dyn Store>,
    /// Writes not yet committed, by stager and number, oldest first.
    staged: Mutex<Vec<(Stager, u64, StateWrites)>>,
}

impl std::fmt::Debug for StateOverlay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateOverlay")
            .field("connector", &self.connector)
            .finish_non_exhaustive()
    }
}

impl StateOverlay {
    /// The state of one connector, read from `store`.
    pub fn new(connector: &str, store: Arc<dyn Store>) -> Self {
        Self {
            connector: connector.to_owned(),
            store,
            staged: Mutex::new(Vec::new()),
        }
    }

    fn staged(&self) -> std::sync::MutexGuard<'_, Vec<(Stager, u64, StateWrites)>> {
        self.staged.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stages the writes of a call made for `stager`'s batch or page
    /// `number`, until it commits.
    pub fn stage(&self, stager: Stager, number: u64, writes: &StateWrites) {
        if writes.is_empty() {
            return;
        }
        let mut staged = self.staged();
        match staged.last_mut() {
            Some((by, last, existing)) if *by == stager && *last == number => {
                existing.extend(writes.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            _ => staged.push((stager, number, writes.clone())),
        }
    }

    /// Forgets `stager`'s writes up to `number`: committed, or given up.
    pub fn forget_through(&self, stager: Stager, number: u64) {
        self.staged()
            .retain(|(by, n, _)| *by != stager || *n > number);
    }
}

impl StateRead for StateOverlay {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
        if let Some(value) = self
            .staged()
            .iter()
            .rev()
            .find_map(|(_, _, writes)| writes.get(key))
        {
            return Ok(value.clone());
        }
        self.store
            .state_get(&self.connector, key)
            .map_err(|e| e.to_string())
    }
}

/// Everything one connector's worker needs.
pub struct Worker {
    /// The connector.
    pub plugin: Plugin,
    /// Its state as calls see it.
    pub state: Arc<StateOverlay>,
    /// The store.
    pub store: Arc<dyn Store>,
    /// The program rules in force.
    pub program: Arc<Program>,
    /// Woken when a delivery is stored.
    pub wake: Arc<Notify>,
    /// Deliveries handled per batch.
    pub batch_max: usize,
    /// Counts what the worker does.
    pub metrics: Arc<Metrics>,
    /// The connector's backlog, which the worker counts.
    pub backlog: Arc<Backlog>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("connector", &self.plugin.name())
            .finish_non_exhaustive()
    }
}

/// A batch of deliveries handled by the connector, to be committed.
struct Batch {
    /// Its number: the overlay's key for its state writes.
    number: u64,
    /// The id of the last delivery taken (0 when none was pending).
    last_id: i64,
    completions: Vec<Completion>,
    /// Whether the next batch may be taken at once.
    outcome: Pass,
}

/// How a batch ended.
enum Pass {
    /// Nothing was pending.
    Idle,
    /// Work was done; look again at once.
    Busy,
    /// A delivery failed transiently; wait before retrying.
    Backoff(Duration),
}

impl Worker {
    /// Runs until `shutdown` turns true, committing the batch in hand.
    ///
    /// Handling and committing overlap: while the store commits one batch,
    /// the connector handles the next (the deliveries after it, seeing its
    /// state writes through the overlay). Deliveries are still handled and
    /// committed in order; should a commit fail, the batch handled
    /// meanwhile is dropped and taken again from the store.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let connector = self.plugin.name().to_owned();
        let mut number = 0;
        let mut committing: Option<Batch> = None;
        loop {
            if *shutdown.borrow() {
                if let Some(batch) = committing.take() {
                    self.commit(batch).await.ok();
                }
                return;
            }
            number += 1;
            let pipelined = committing.is_some();
            let handled = match committing.take() {
                Some(previous) => {
                    let after = previous.last_id;
                    let (committed, handled) =
                        tokio::join!(self.commit(previous), self.handle_batch(number, after));
                    if committed.is_err() {
                        // The batch just handled read state that did not
                        // commit: it is taken again from the store.
                        self.state.forget_through(Stager::Inbox, number);
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                            _ = shutdown.changed() => {}
                        }
                        continue;
                    }
                    handled
                }
                None => self.handle_batch(number, 0).await,
            };
            let wait = match handled {
                Ok(batch) => match batch.outcome {
                    Pass::Busy => {
                        committing = Some(batch);
                        continue;
                    }
                    Pass::Idle if pipelined => {
                        // The count was taken while the previous batch
                        // committed and may still hold it: count again, so
                        // the backlog does not refuse deliveries for a
                        // whole idle wait over work already done.
                        match self.recount().await {
                            Ok(0) => Duration::from_secs(5),
                            Ok(_) => continue,
                            Err(error) => {
                                tracing::error!(connector, error = %error, "counting the inbox failed");
                                Duration::from_secs(1)
                            }
                        }
                    }
                    Pass::Idle => Duration::from_secs(5),
                    Pass::Backoff(delay) => {
                        self.commit(batch).await.ok();
                        delay
                    }
                },
                Err(error) => {
                    tracing::error!(connector, error = %error, "inbox pass failed");
                    self.state.forget_through(Stager::Inbox, number);
                    Duration::from_secs(1)
                }
            };
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// Takes the pending deliveries after inbox id `after` (0: from the
    /// oldest) and handles them through the connector.
    async fn handle_batch(
        &self,
        number: u64,
        after: i64,
    ) -> Result<Batch, crate::store::StoreError> {
        let mut batch = Batch {
            number,
            last_id: after,
            completions: Vec::new(),
            outcome: Pass::Idle,
        };
        if self.recount().await? == 0 {
            return Ok(batch);
        }
        // While the connector is paused one delivery is enough to learn
        // that it still is: a whole batch of bodies would be read for
        // nothing.
        let batch_max = if self.plugin.is_paused("handle-webhook") {
            1
        } else {
            self.batch_max
        };
        let items = self
            .store
            .pending_deliveries(self.plugin.name(), after, batch_max)
            .await?;
        if items.is_empty() {
            return Ok(batch);
        }
        batch.outcome = Pass::Busy;
        // One instance serves the batch's calls (see `WebhookSession`).
        let mut calls = self.plugin.webhook_session();
        for item in items {
            batch.last_id = item.id;
            match self.handle(&mut calls, number, &item).await {
                Handled::Complete(completion) => batch.completions.push(completion),
                Handled::Dead(error, plugin_sha256) => {
                    self.metrics
                        .delivery(self.plugin.name(), DeliveryOutcome::DeadLetter);
                    tracing::warn!(connector = self.plugin.name(), inbox_id = item.id, error = %error, "dead letter");
                    self.store
                        .dead_letter(item.id, error, plugin_sha256)
                        .await?;
                }
                Handled::Held(error, delay) => {
                    // The connector is not called while its breaker is open:
                    // the delivery waits, its attempts untouched, so that a
                    // broken component does not turn the inbox into dead
                    // letters. Reloading a fixed component closes the breaker.
                    self.metrics
                        .delivery(self.plugin.name(), DeliveryOutcome::Held);
                    tracing::debug!(connector = self.plugin.name(), inbox_id = item.id, error = %error, "delivery held");
                    batch.outcome = Pass::Backoff(delay);
                    break;
                }
                Handled::Retry(error, delay) => {
                    self.metrics
                        .delivery(self.plugin.name(), DeliveryOutcome::Retried);
                    tracing::warn!(connector = self.plugin.name(), inbox_id = item.id, attempts = item.attempts + 1, error = %error, "delivery will be retried");
                    self.store.record_attempt(item.id, error).await?;
                    batch.outcome = Pass::Backoff(delay);
                    // Later deliveries may depend on this one (an order before
                    // its refund): keep the order and retry from here.
                    break;
                }
            }
        }
        Ok(batch)
    }

    /// Counts the connector's pending deliveries for the backlog; returns
    /// the count.
    async fn recount(&self) -> Result<u64, crate::store::StoreError> {
        let count = self.store.pending_count(self.plugin.name()).await?;
        self.backlog.counted(count);
        Ok(count.pending)
    }

    /// Commits a handled batch; its staged state is then forgotten.
    async fn commit(&self, batch: Batch) -> Result<(), crate::store::StoreError> {
        let number = batch.number;
        let handled: Vec<(i64, String)> = batch
            .completions
            .iter()
            .map(|c| (c.inbox_id, c.topic.clone()))
            .collect();
        let results = self.store.complete(batch.completions).await;
        self.state.forget_through(Stager::Inbox, number);
        let connector = self.plugin.name();
        let results = results.inspect_err(|error| {
            tracing::error!(connector, error = %error, "committing a batch failed");
        })?;
        for ((inbox_id, topic), result) in handled.into_iter().zip(results) {
            match result {
                CompletionResult::Applied(applied) => {
                    self.metrics.delivery(connector, DeliveryOutcome::Applied);
                    self.metrics.events_applied(connector, applied.changed);
                    tracing::info!(
                        connector,
                        inbox_id,
                        topic,
                        changed = applied.changed,
                        unchanged = applied.unchanged,
                        entries = applied.entries,
                        "delivery applied"
                    );
                }
                CompletionResult::DeadLettered(error) => {
                    self.metrics
                        .delivery(connector, DeliveryOutcome::DeadLetter);
                    tracing::warn!(
                    connector,
                    inbox_id,
                    topic,
                    error = %error,
                    "dead letter: the core refused an event"
                    );
                }
            }
        }
        Ok(())
    }

    async fn handle(
        &self,
        calls: &mut WebhookSession,
        batch: u64,
        item: &StoredDelivery,
    ) -> Handled {
        let d = &item.delivery;
        let request = WebhookRequest {
            method: d.method.clone(),
            url: d.url.clone(),
            headers: d
                .headers
                .iter()
                .map(|(name, value)| Header {
                    name: name.clone(),
                    value: value.clone(),
                })
                .collect(),
            body: d.body.clone(),
        };
        let output = match calls.handle_webhook(&request).await {
            Ok(output) => output,
            Err(error) => return Self::failed(item, &error, calls.plugin().wasm_sha256()),
        };
        let build = calls.plugin();
        let events = match output
            .value
            .iter()
            .map(convert::to_core)
            .collect::<Result<Vec<_>, _>>()
        {
            Ok(events) => events,
            Err(invalid) => {
                return Handled::Dead(
                    format!("the connector produced an {invalid}"),
                    build.wasm_sha256(),
                );
            }
        };
        self.state.stage(Stager::Inbox, batch, &output.state);
        Handled::Complete(Completion {
            inbox_id: item.id,
            topic: d.topic.clone(),
            events,
            state: output.state,
            program: self.program.clone(),
            plugin_sha256: build.wasm_sha256(),
        })
    }

    fn failed(item: &StoredDelivery, error: &CallError, plugin_sha256: String) -> Handled {
        if let CallError::CircuitOpen { retry_in_ms, .. } = error {
            // Looked at again within HELD_RECHECK at most, so that a
            // reloaded (fixed) component takes the held deliveries soon.
            let delay =
                Duration::from_millis(*retry_in_ms).clamp(Duration::from_millis(100), HELD_RECHECK);
            return Handled::Held(error.to_string(), delay);
        }
        if !error.is_retryable() || item.attempts + 1 >= ATTEMPTS_MAX {
            return Handled::Dead(error.to_string(), plugin_sha256);
        }
        let delay = match error {
            CallError::Guest {
                error: GuestError::RateLimited(r),
                ..
            } => r.delay_ms.map(Duration::from_millis),
            _ => None,
        }
        .unwrap_or_else(|| Duration::from_millis(500 << item.attempts.min(7)));
        Handled::Retry(error.to_string(), delay)
    }
}

enum Handled {
    Complete(Completion),
    /// Given up on: the error and the build that failed.
    Dead(String, String),
    Retry(String, Duration),
    Held(String, Duration),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backlog_adds_only_what_the_last_count_did_not_see() {
        let backlog = Backlog::new(3);
        backlog.stored(1);
        backlog.stored(2);
        assert_eq!(backlog.pending(), 2);
        // Counted with 1 and 2 in the snapshot, 3 stored after it but
        // reported before the count ended, 2 reported late.
        backlog.stored(3);
        backlog.counted(PendingCount {
            pending: 2,
            last_id: 2,
        });
        backlog.stored(2);
        assert_eq!(backlog.pending(), 3);
        assert!(backlog.is_full());
        backlog.counted(PendingCount {
            pending: 0,
            last_id: 3,
        });
        assert_eq!(backlog.pending(), 0);
        assert!(!backlog.is_full());
    }
}
