//! The per-connector circuit breaker: a connector whose calls keep failing
//! (traps, sandbox limits, timeouts, vendor outages) is not called again
//! for a while, so that one broken connector burns neither CPU nor its
//! inbox's deliveries, and the others keep working.
//!
//! Each operation of the connector has its own circuit: closed, it counts
//! consecutive failures (a success starts the count again); at
//! `breaker_failures` it opens for `breaker_open_seconds`. Then one trial
//! call goes through (half-open): its success closes the circuit, its
//! failure opens it again. A connector whose `handle-webhook` traps keeps
//! verifying and storing deliveries (a vendor that sees its webhooks
//! refused may drop the subscription); they wait in the inbox until the
//! circuit closes. A reloaded connector starts with closed circuits.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Where a circuit stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CircuitState {
    /// Calls go through.
    Closed,
    /// One trial call is in flight; the others are refused.
    HalfOpen,
    /// Calls are refused until the pause ends.
    Open,
}

impl CircuitState {
    /// The state's name in `/readyz` and in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }
}

/// What a connector's breaker reports: its worst circuit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CircuitStatus {
    /// The worst state among the connector's operations.
    pub state: CircuitState,
    /// The operation in that state (the one failing most while closed).
    pub operation: Option<&'static str>,
    /// Consecutive failures counted (while closed) or that opened it.
    pub failures: u32,
    /// How long until a trial call is let through, while open.
    pub retry_in: Option<Duration>,
    /// The last failure's message, whichever operation failed.
    pub last_error: Option<String>,
    /// How many times a circuit opened since the connector was loaded.
    pub opened: u64,
}

/// May a call go ahead?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Yes, as a normal call.
    Pass,
    /// Yes, as the one trial call of a half-open circuit.
    Trial,
    /// No: try again after this long.
    Refuse(Duration),
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    Closed,
    Open { until: Instant },
    HalfOpen { since: Instant },
}

/// One operation's circuit.
#[derive(Debug, Clone, Copy)]
struct Circuit {
    phase: Phase,
    /// Consecutive failures while closed; the streak that opened it after.
    failures: u32,
}

impl Circuit {
    const CLOSED: Self = Self {
        phase: Phase::Closed,
        failures: 0,
    };

    fn state(&self) -> CircuitState {
        match self.phase {
            Phase::Closed => CircuitState::Closed,
            Phase::Open { .. } => CircuitState::Open,
            Phase::HalfOpen { .. } => CircuitState::HalfOpen,
        }
    }
}

#[derive(Debug)]
struct Inner {
    circuits: BTreeMap<&'static str, Circuit>,
    last_error: Option<String>,
    opened: u64,
}

/// One connector's breaker.
#[derive(Debug)]
pub(crate) struct Breaker {
    threshold: u32,
    pause: Duration,
    inner: Mutex<Inner>,
}

/// The longest pause: `breaker_open_seconds` beyond a day is a day.
const PAUSE_MAX: Duration = Duration::from_secs(86_400);

impl Breaker {
    /// Opens an operation's circuit after `threshold` consecutive failures
    /// (0: never) for `pause` (at most [`PAUSE_MAX`]).
    pub(crate) fn new(threshold: u32, pause: Duration) -> Self {
        Self {
            threshold,
            pause: pause.min(PAUSE_MAX),
            inner: Mutex::new(Inner {
                circuits: BTreeMap::new(),
                last_error: None,
                opened: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Decides whether a call of `operation` starting at `now` may go ahead.
    pub(crate) fn admit(&self, now: Instant, operation: &'static str) -> Admission {
        let mut inner = self.lock();
        let Some(circuit) = inner.circuits.get_mut(operation) else {
            return Admission::Pass;
        };
        match circuit.phase {
            Phase::Closed => Admission::Pass,
            Phase::Open { until } => {
                if now >= until {
                    circuit.phase = Phase::HalfOpen { since: now };
                    Admission::Trial
                } else {
                    Admission::Refuse(until - now)
                }
            }
            // A trial that never reported (its caller went away, or it could
            // not get an instance) is replaced by another after a pause.
            Phase::HalfOpen { since } if now >= since + self.pause => {
                circuit.phase = Phase::HalfOpen { since: now };
                Admission::Trial
            }
            // The trial's outcome decides; until then, ask again shortly.
            Phase::HalfOpen { .. } => Admission::Refuse(Duration::from_secs(1)),
        }
    }

    /// Records a call of `operation` that succeeded, or failed in a way that
    /// is not the connector's fault (bad input, a rate limit). A call
    /// admitted before its circuit opened that ends late does not close it:
    /// only the trial does.
    pub(crate) fn succeeded(&self, operation: &'static str) {
        let mut inner = self.lock();
        if let Some(circuit) = inner.circuits.get(operation)
            && !matches!(circuit.phase, Phase::Open { .. })
        {
            inner.circuits.remove(operation);
        }
    }

    /// Records a failed call of `operation`; returns true when this failure
    /// opened its circuit.
    pub(crate) fn failed(&self, now: Instant, operation: &'static str, error: String) -> bool {
        let mut inner = self.lock();
        inner.last_error = Some(error);
        let circuit = inner.circuits.entry(operation).or_insert(Circuit::CLOSED);
        let trial = match circuit.phase {
            Phase::Closed => false,
            Phase::HalfOpen { .. } => true,
            // A call admitted before the circuit opened ended late.
            Phase::Open { .. } => return false,
        };
        if !trial {
            circuit.failures = circuit.failures.saturating_add(1);
        }
        if trial || (self.threshold > 0 && circuit.failures >= self.threshold) {
            circuit.phase = Phase::Open {
                until: now + self.pause,
            };
            inner.opened += 1;
            true
        } else {
            false
        }
    }

    /// Whether `operation`'s circuit refuses calls at `now`.
    pub(crate) fn is_open(&self, now: Instant, operation: &'static str) -> bool {
        self.lock()
            .circuits
            .get(operation)
            .is_some_and(|c| matches!(c.phase, Phase::Open { until } if now < until))
    }

    /// The failures in a row that `operation`'s circuit counted.
    pub(crate) fn failures(&self, operation: &'static str) -> u32 {
        self.lock()
            .circuits
            .get(operation)
            .map_or(0, |c| c.failures)
    }

    /// The connector's worst circuit at `now`.
    pub(crate) fn status(&self, now: Instant) -> CircuitStatus {
        let inner = self.lock();
        let worst = inner
            .circuits
            .iter()
            .max_by_key(|(_, c)| (c.state(), c.failures));
        let (state, operation, failures, retry_in) = match worst {
            None => (CircuitState::Closed, None, 0, None),
            Some((operation, circuit)) => (
                circuit.state(),
                Some(*operation),
                circuit.failures,
                match circuit.phase {
                    Phase::Open { until } => Some(until.saturating_duration_since(now)),
                    _ => None,
                },
            ),
        };
        CircuitStatus {
            state,
            operation,
            failures,
            retry_in,
            last_error: inner.last_error.clone(),
            opened: inner.opened,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAUSE: Duration = Duration::from_secs(30);
    const HANDLE: &str = "handle-webhook";
    const VERIFY: &str = "verify-webhook";

    fn fail(breaker: &Breaker, now: Instant, times: u32) -> Vec<bool> {
        (0..times)
            .map(|i| breaker.failed(now, HANDLE, format!("trap {i}")))
            .collect()
    }

    #[test]
    fn a_late_success_does_not_close_an_open_circuit() {
        let breaker = Breaker::new(2, PAUSE);
        let now = Instant::now();
        assert_eq!(breaker.admit(now, HANDLE), Admission::Pass);
        fail(&breaker, now, 2);
        // The call admitted before it opened succeeds after.
        breaker.succeeded(HANDLE);
        assert_eq!(breaker.status(now).state, CircuitState::Open);
        assert_eq!(
            breaker.admit(now + PAUSE, HANDLE),
            Admission::Trial,
            "the trial still decides"
        );
        breaker.succeeded(HANDLE);
        assert_eq!(breaker.status(now + PAUSE).state, CircuitState::Closed);
    }

    #[test]
    fn a_huge_pause_is_a_day_and_never_overflows() {
        let breaker = Breaker::new(1, Duration::from_secs(u64::MAX));
        let now = Instant::now();
        assert_eq!(fail(&breaker, now, 1), [true]);
        assert_eq!(breaker.status(now).retry_in, Some(PAUSE_MAX));
        assert_eq!(breaker.admit(now + PAUSE_MAX, HANDLE), Admission::Trial);
    }

    #[test]
    fn it_opens_at_the_threshold_of_consecutive_failures() {
        let breaker = Breaker::new(3, PAUSE);
        let now = Instant::now();
        assert_eq!(fail(&breaker, now, 3), [false, false, true]);
        assert_eq!(breaker.admit(now, HANDLE), Admission::Refuse(PAUSE));
        let status = breaker.status(now + Duration::from_secs(10));
        assert_eq!(status.state, CircuitState::Open);
        assert_eq!(status.operation, Some(HANDLE));
        assert_eq!(status.failures, 3);
        assert_eq!(status.retry_in, Some(Duration::from_secs(20)));
        assert_eq!(status.last_error.as_deref(), Some("trap 2"));
        assert_eq!(status.opened, 1);
    }

    #[test]
    fn a_success_in_between_starts_the_count_again() {
        let breaker = Breaker::new(3, PAUSE);
        let now = Instant::now();
        fail(&breaker, now, 2);
        breaker.succeeded(HANDLE);
        assert_eq!(fail(&breaker, now, 2), [false, false]);
        assert_eq!(breaker.admit(now, HANDLE), Admission::Pass);
        assert_eq!(breaker.status(now).failures, 2);
    }

    #[test]
    fn each_operation_has_its_own_circuit() {
        let breaker = Breaker::new(3, PAUSE);
        let now = Instant::now();
        // Each webhook is verified (fine) before it is handled (a trap):
        // the verifications neither hide the traps nor stop with them.
        let opened: Vec<bool> = (0..3)
            .map(|_| {
                assert_eq!(breaker.admit(now, VERIFY), Admission::Pass);
                breaker.succeeded(VERIFY);
                breaker.failed(now, HANDLE, "trap".to_owned())
            })
            .collect();
        assert_eq!(opened, [false, false, true]);
        assert_eq!(breaker.admit(now, VERIFY), Admission::Pass);
        assert_eq!(breaker.admit(now, HANDLE), Admission::Refuse(PAUSE));
    }

    #[test]
    fn after_the_pause_one_trial_goes_through_and_its_success_closes_it() {
        let breaker = Breaker::new(2, PAUSE);
        let now = Instant::now();
        fail(&breaker, now, 2);
        let later = now + PAUSE;
        assert_eq!(breaker.admit(later, HANDLE), Admission::Trial);
        assert_eq!(
            breaker.admit(later, HANDLE),
            Admission::Refuse(Duration::from_secs(1))
        );
        assert_eq!(breaker.status(later).state, CircuitState::HalfOpen);
        breaker.succeeded(HANDLE);
        assert_eq!(breaker.admit(later, HANDLE), Admission::Pass);
        let status = breaker.status(later);
        assert_eq!((status.state, status.failures), (CircuitState::Closed, 0));
    }

    #[test]
    fn a_failed_trial_opens_it_again_at_once() {
        let breaker = Breaker::new(5, PAUSE);
        let now = Instant::now();
        fail(&breaker, now, 5);
        let later = now + PAUSE + Duration::from_secs(1);
        assert_eq!(breaker.admit(later, HANDLE), Admission::Trial);
        assert!(breaker.failed(later, HANDLE, "still broken".to_owned()));
        assert_eq!(breaker.admit(later, HANDLE), Admission::Refuse(PAUSE));
        assert_eq!(breaker.status(later).opened, 2);
    }

    #[test]
    fn a_trial_that_never_reports_is_replaced_after_a_pause() {
        let breaker = Breaker::new(1, PAUSE);
        let now = Instant::now();
        fail(&breaker, now, 1);
        assert_eq!(breaker.admit(now + PAUSE, HANDLE), Admission::Trial);
        assert_eq!(
            breaker.admit(now + PAUSE + Duration::from_secs(29), HANDLE),
            Admission::Refuse(Duration::from_secs(1))
        );
        assert_eq!(breaker.admit(now + PAUSE + PAUSE, HANDLE), Admission::Trial);
    }

    #[test]
    fn a_threshold_of_zero_never_opens() {
        let breaker = Breaker::new(0, PAUSE);
        let now = Instant::now();
        assert!(fail(&breaker, now, 100).iter().all(|opened| !opened));
        assert_eq!(breaker.admit(now, HANDLE), Admission::Pass);
    }
}
