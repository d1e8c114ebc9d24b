//! Prometheus metrics, served at `GET /metrics` in the OpenMetrics text
//! format.
//!
//! Counters of what this process did (plugin calls and their durations,
//! deliveries, events applied) are kept in memory and start at zero with
//! the process, as Prometheus expects. What the database knows (ledger
//! entries by kind, dead letters, pending deliveries) is read from the
//! store when scraped: ledger entries are counted incrementally from the
//! last entry seen, so a scrape costs the entries appended since the last
//! one, not the whole ledger.

use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::api::Api;
use crate::core::ledger::EntryKind;
use crate::runtime::{CallObserver, CircuitState, Clock, SystemClock};
use crate::store::StoreError;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    connector: String,
    operation: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    connector: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConnectorLabels {
    connector: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CircuitLabels {
    connector: String,
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

/// How a webhook delivery left the inbox worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// Its events were applied.
    Applied,
    /// It became a dead letter.
    DeadLetter,
    /// It failed in passing and will be retried.
    Retried,
    /// Its connector's circuit breaker is open: it waits, no attempt counted.
    Held,
}

impl DeliveryOutcome {
    fn label(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::DeadLetter => "dead_letter",
            Self::Retried => "retried",
            Self::Held => "held",
        }
    }
}

/// The daemon's metrics.
pub struct Metrics {
    registry: Registry,
    plugin_calls: Family<CallLabels, Histogram>,
    deliveries: Family<DeliveryLabels, Counter>,
    events_applied: Family<ConnectorLabels, Counter>,
    circuit: Family<CircuitLabels, Gauge>,
    dead_letters: Family<ConnectorLabels, Gauge>,
    inbox_pending: Family<ConnectorLabels, Gauge>,
    sync_lag: Family<ConnectorLabels, Gauge<f64, AtomicU64>>,
    ledger_entries: Family<KindLabels, Counter>,
    /// The last ledger entry counted; one scrape counts at a time.
    ledger_seen: tokio::sync::Mutex<i64>,
    started: Instant,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

fn call_duration_histogram() -> Histogram {
    // 0.5 ms to about 16 s: a cached verify-webhook call takes well under a
    // millisecond, a poll page with vendor round trips seconds.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric, all at zero.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let plugin_calls = Family::<CallLabels, Histogram>::new_with_constructor(
            call_duration_histogram as fn() -> Histogram,
        );
        registry.register(
            "loyalty_plugin_call_duration_seconds",
            "Connector calls by connector, operation and outcome (ok, trap, timeout, limit, circuit_open, or the connector's error kind), with their wall time",
            plugin_calls.clone(),
        );
        let deliveries = Family::<DeliveryLabels, Counter>::default();
        registry.register(
            "loyalty_webhook_deliveries",
            "Webhook deliveries handled by the inbox workers, by connector and outcome (applied, dead_letter, retried, held)",
            deliveries.clone(),
        );
        let events_applied = Family::<ConnectorLabels, Counter>::default();
        registry.register(
            "loyalty_events_applied",
            "Normalized events that changed the store, from webhooks and polling, by connector",
            events_applied.clone(),
        );
        let circuit = Family::<CircuitLabels, Gauge>::default();
        registry.register(
            "loyalty_circuit_state",
            "1 for the state each connector's circuit breaker is in (closed, half_open, open), 0 for the others",
            circuit.clone(),
        );
        let dead_letters = Family::<ConnectorLabels, Gauge>::default();
        registry.register(
            "loyalty_dead_letters",
            "Webhook deliveries waiting as dead letters, by connector",
            dead_letters.clone(),
        );
        let inbox_pending = Family::<ConnectorLabels, Gauge>::default();
        registry.register(
            "loyalty_inbox_pending",
            "Webhook deliveries stored and not yet applied, by connector",
            inbox_pending.clone(),
        );
        let sync_lag = Family::<ConnectorLabels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "loyalty_sync_lag_seconds",
            "Seconds since the connector's last completed poll sync (since the daemon started, before the first)",
            sync_lag.clone(),
        );
        let ledger_entries = Family::<KindLabels, Counter>::default();
        registry.register(
            "loyalty_ledger_entries",
            "Ledger entries by kind (earn, bonus, reserve, release, redeem, expire, reverse, adjust, transfer)",
            ledger_entries.clone(),
        );
        // Every kind shows from the first scrape, at zero until counted.
        for kind in EntryKind::ALL {
            let _ = ledger_entries.get_or_create(&KindLabels {
                kind: kind.as_str().to_owned(),
            });
        }
        Self {
            registry,
            plugin_calls,
            deliveries,
            events_applied,
            circuit,
            dead_letters,
            inbox_pending,
            sync_lag,
            ledger_entries,
            ledger_seen: tokio::sync::Mutex::new(0),
            started: Instant::now(),
        }
    }

    /// Counts one delivery handled by `connector`'s inbox worker.
    pub fn delivery(&self, connector: &str, outcome: DeliveryOutcome) {
        self.deliveries
            .get_or_create(&DeliveryLabels {
                connector: connector.to_owned(),
                outcome: outcome.label(),
            })
            .inc();
    }

    /// Counts `events` events of `connector` that changed the store.
    pub fn events_applied(&self, connector: &str, events: usize) {
        self.events_applied
            .get_or_create(&ConnectorLabels {
                connector: connector.to_owned(),
            })
            .inc_by(u64::try_from(events).unwrap_or(u64::MAX));
    }

    /// Reads what the store and the connectors know now and renders every
    /// metric.
    pub async fn render(&self, api: &Api) -> Result<String, StoreError> {
        let connectors: Vec<String> = api.endpoints.keys().cloned().collect();
        {
            let mut seen = self.ledger_seen.lock().await;
            let counts = api.store.metrics_counts(*seen, connectors).await?;
            for (kind, count) in counts.ledger_by_kind {
                self.ledger_entries
                    .get_or_create(&KindLabels { kind })
                    .inc_by(count);
            }
            *seen = counts.ledger_last_id.max(*seen);
            for inbox in counts.inbox {
                let labels = ConnectorLabels {
                    connector: inbox.connector,
                };
                self.dead_letters
                    .get_or_create(&labels)
                    .set(i64::try_from(inbox.dead).unwrap_or(i64::MAX));
                self.inbox_pending
                    .get_or_create(&labels)
                    .set(i64::try_from(inbox.pending).unwrap_or(i64::MAX));
            }
        }
        let now_ms = SystemClock.now_ms();
        for (name, endpoint) in &api.endpoints {
            let current = endpoint.plugin.circuit().state;
            for state in [
                CircuitState::Closed,
                CircuitState::HalfOpen,
                CircuitState::Open,
            ] {
                self.circuit
                    .get_or_create(&CircuitLabels {
                        connector: name.clone(),
                        state: state.as_str(),
                    })
                    .set(i64::from(state == current));
            }
            if let Some(sync) = &endpoint.sync {
                let lag = match sync.state().last_completed_at {
                    Some(at) => Duration::from_millis(u64::try_from(now_ms - at).unwrap_or(0)),
                    None => self.started.elapsed(),
                };
                self.sync_lag
                    .get_or_create(&ConnectorLabels {
                        connector: name.clone(),
                    })
                    .set(lag.as_secs_f64());
            }
        }
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .map_err(|e| StoreError::Database(format!("encoding the metrics: {e}")))?;
        Ok(text)
    }
}

impl CallObserver for Metrics {
    fn call_finished(
        &self,
        connector: &str,
        operation: &'static str,
        outcome: &'static str,
        elapsed: Duration,
    ) {
        self.plugin_calls
            .get_or_create(&CallLabels {
                connector: connector.to_owned(),
                operation,
                outcome,
            })
            .observe(elapsed.as_secs_f64());
    }
}
