//! A loaded connector and its typed calls.

use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::component::Component;
use wasmtime::{Engine, Store, UpdateDeadline};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;

use crate::runtime::breaker::{Admission, Breaker, CircuitStatus};
use crate::runtime::cache::CompileCache;
use crate::runtime::call::{CallState, Shared, truncate};
use crate::runtime::engine::{Clock, EPOCH_TICK};
use crate::runtime::error::{CallError, LimitExceeded, LoadError};
use crate::runtime::grants::{Declared, Grants};
use crate::runtime::limits::Limits;
use crate::runtime::outbound;
use crate::runtime::recording::Recording;
use crate::runtime::state::{StateRead, StateWrites};
use crate::runtime::wit::latest::exports::loyalty::connector::plugin::PluginInfo;
use crate::runtime::wit::latest::exports::loyalty::connector::sink::{
    CampaignDelivery, CampaignReport, Fulfilment, RewardRequest, Statement,
};
use crate::runtime::wit::latest::exports::loyalty::connector::source::{PollPage, PollRequest};
use crate::runtime::wit::latest::loyalty::connector::types::{Delivery, Event, WebhookRequest};
use crate::runtime::wit::{self, Bindings, Bound, Request, Response};

/// Bytes of guest stdout and stderr kept per call (a panic message, a few
/// debug prints).
const OUTPUT_CAPTURE_BYTES: usize = 16 << 10;

/// What is needed to load one connector.
pub struct PluginSpec {
    /// The connector's name in the configuration.
    pub name: String,
    /// The component file.
    pub wasm: PathBuf,
    /// Its limits.
    pub limits: Limits,
    /// What the operator granted it.
    pub grants: Grants,
    /// Its committed durable state.
    pub state: Arc<dyn StateRead>,
}

impl std::fmt::Debug for PluginSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginSpec")
            .field("name", &self.name)
            .field("wasm", &self.wasm)
            .finish_non_exhaustive()
    }
}

/// A successful call's value and the state writes to commit with it.
#[derive(Debug)]
pub struct Output<T> {
    /// What the connector returned.
    pub value: T,
    /// Its buffered `state-set` writes, to be committed with `value`.
    pub state: StateWrites,
}

/// A loaded, linked connector. Cheap to clone; every clone sees a reload.
#[derive(Clone)]
pub struct Plugin {
    name: Arc<str>,
    current: Arc<RwLock<Arc<Inner>>>,
}

struct Inner {
    engine: Engine,
    shared: Arc<Shared>,
    bindings: Bindings,
    path: PathBuf,
    wasm_sha256: String,
    contract_version: String,
    permits: Arc<Semaphore>,
    breaker: Breaker,
    observer: Option<Arc<dyn CallObserver>>,
}

/// Told about every finished call, for metrics.
pub trait CallObserver: Send + Sync {
    /// One call of `operation` on `connector` ended with `outcome` (`ok` or
    /// [`CallError::kind`]) after `elapsed`.
    fn call_finished(
        &self,
        connector: &str,
        operation: &'static str,
        outcome: &'static str,
        elapsed: Duration,
    );
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.inner();
        f.debug_struct("Plugin")
            .field("name", &self.name)
            .field("path", &inner.path)
            .field("contract_version", &inner.contract_version)
            .finish_non_exhaustive()
    }
}

/// Refuses a component file whose SHA-256 is not the one the configuration
/// pins (`sha256` in `[connectors.NAME]`): the grants were given to that
/// build, not to whatever file is found at the path. Every load, the first
/// and any later replacement, goes through here.
fn check_pin(expected: Option<&str>, actual: &str) -> Result<(), String> {
    match expected {
        Some(expected) if !expected.eq_ignore_ascii_case(actual) => Err(format!(
            "its SHA-256 is {actual}, but sha256 pins {expected}: put the pinned build back, or pin this one if it is trusted"
        )),
        _ => Ok(()),
    }
}

/// Where the runtime's shared parts come from when a component is loaded.
pub(crate) struct Loader<'a> {
    pub(crate) engine: &'a Engine,
    pub(crate) cache: Option<&'a CompileCache>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) observer: Option<Arc<dyn CallObserver>>,
}

impl Loader<'_> {
    fn inner(&self, spec: PluginSpec) -> Result<Inner, LoadError> {
        let engine = self.engine;
        let connector = spec.name.clone();
        let bytes = std::fs::read(&spec.wasm).map_err(|source| LoadError::Read {
            connector: connector.clone(),
            path: spec.wasm.clone(),
            source,
        })?;
        let wasm_sha256 = hex::encode(Sha256::digest(&bytes));
        check_pin(spec.grants.component_sha256.as_deref(), &wasm_sha256).map_err(|message| {
            LoadError::Compile {
                connector: connector.clone(),
                path: spec.wasm.clone(),
                message,
            }
        })?;
        let compile_error = |e: wasmtime::Error| LoadError::Compile {
            connector: connector.clone(),
            path: spec.wasm.clone(),
            message: format!("{e:#}"),
        };
        let component = match self.cache.and_then(|c| c.load(engine, &wasm_sha256)) {
            Some(component) => component,
            None => {
                let component = Component::new(engine, &bytes).map_err(compile_error)?;
                if let Some(cache) = self.cache {
                    cache.store(&wasm_sha256, &component);
                }
                component
            }
        };
        let contract_version =
            wit::contract_version(engine, &component).ok_or_else(|| LoadError::Version {
                connector: connector.clone(),
                message: format!(
                    "{} does not export `loyalty:connector/source`; build it with the loyalty SDK",
                    spec.wasm.display()
                ),
            })?;
        if !wit::SUPPORTED_VERSIONS.contains(&contract_version.as_str()) {
            return Err(LoadError::Version {
                connector,
                message: format!(
                    "contract version {contract_version} is not supported (this host runs {})",
                    wit::SUPPORTED_VERSIONS.join(", ")
                ),
            });
        }
        let bindings =
            Bindings::link(engine, &component, &contract_version).map_err(compile_error)?;
        let http = outbound::client(&spec.name, &spec.grants).map_err(|e| LoadError::Compile {
            connector: connector.clone(),
            path: spec.wasm.clone(),
            message: format!("cannot build the HTTP client: {e}"),
        })?;
        let permits = Arc::new(Semaphore::new(
            usize::try_from(spec.limits.instances_max.max(1)).unwrap_or(1),
        ));
        let breaker = Breaker::new(
            spec.limits.breaker_failures,
            Duration::from_secs(spec.limits.breaker_open_seconds),
        );
        Ok(Inner {
            engine: engine.clone(),
            shared: Arc::new(Shared {
                name: spec.name,
                limits: spec.limits,
                grants: spec.grants,
                declared: std::sync::OnceLock::new(),
                recording: std::sync::OnceLock::new(),
                http,
                state: spec.state,
                clock: self.clock.clone(),
            }),
            bindings,
            path: spec.wasm,
            wasm_sha256,
            contract_version,
            permits,
            breaker,
            observer: self.observer.clone(),
        })
    }

    /// Compiles (or takes from the cache) and links one connector.
    pub(crate) fn load(&self, spec: PluginSpec) -> Result<Plugin, LoadError> {
        let name: Arc<str> = Arc::from(spec.name.as_str());
        let inner = self.inner(spec)?;
        Ok(Plugin {
            name,
            current: Arc::new(RwLock::new(Arc::new(inner))),
        })
    }

    /// Loads `spec` and, if that worked, makes it the component every clone
    /// of `plugin` calls from now on. Calls already running finish on the
    /// component they started with; a failed load changes nothing.
    pub(crate) fn reload(&self, plugin: &Plugin, spec: PluginSpec) -> Result<(), LoadError> {
        if *plugin.name != *spec.name {
            return Err(LoadError::Version {
                connector: spec.name,
                message: format!("cannot replace connector `{}` with it", plugin.name),
            });
        }
        let inner = Arc::new(self.inner(spec)?);
        *plugin
            .current
            .write()
            .unwrap_or_else(PoisonError::into_inner) = inner;
        Ok(())
    }
}

impl Plugin {
    fn inner(&self) -> Arc<Inner> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// This connector as loaded now, unaffected by later reloads: calls on
    /// it and [`Plugin::wasm_sha256`] name the same build, so that what a
    /// call produced is recorded with the build that produced it even when
    /// a reload lands mid-call. The circuit breaker is the loaded build's.
    pub fn pinned(&self) -> Self {
        Self {
            name: self.name.clone(),
            current: Arc::new(RwLock::new(self.inner())),
        }
    }

    /// The connector's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The component file it was loaded from.
    pub fn path(&self) -> PathBuf {
        self.inner().path.clone()
    }

    /// SHA-256 of the component file, hex.
    pub fn wasm_sha256(&self) -> String {
        self.inner().wasm_sha256.clone()
    }

    /// The contract version the component was built against.
    pub fn contract_version(&self) -> String {
        self.inner().contract_version.clone()
    }

    /// The connector's limits.
    pub fn limits(&self) -> Limits {
        self.inner().shared.limits.clone()
    }

    /// Its committed durable state, to load a replacement with.
    pub fn state(&self) -> Arc<dyn StateRead> {
        self.inner().shared.state.clone()
    }

    /// Turns on recording of the connector's outbound exchanges (for
    /// `loyaltyd plugins record`) and returns where they go. Recording
    /// stays on for this load of the component.
    pub fn record(&self) -> Arc<Recording> {
        self.inner()
            .shared
            .recording
            .get_or_init(|| Arc::new(Recording::default()))
            .clone()
    }

    /// Its circuit breaker's state.
    pub fn circuit(&self) -> CircuitStatus {
        self.inner().breaker.status(Instant::now())
    }

    /// Whether calls of `operation` (`handle-webhook`, ...) are refused now
    /// because its circuit is open.
    pub fn is_paused(&self, operation: &'static str) -> bool {
        self.inner().breaker.is_open(Instant::now(), operation)
    }

    /// Where the operator's grants and what the component declares differ
    /// (see [`Declared::mismatches`]), and what in its declaration could
    /// not be read. Calls `describe` if no call did yet.
    pub async fn capability_mismatches(&self) -> Result<Vec<String>, CallError> {
        let inner = self.inner();
        let (declared, mut problems) = inner.resolve().await?;
        problems.extend(declared.mismatches(self.name(), &inner.shared.grants));
        Ok(problems)
    }

    /// Asks the connector to describe itself.
    pub async fn describe(&self) -> Result<PluginInfo, CallError> {
        self.run(&mut None, Request::Describe, |value, _| match value {
            Response::Describe(info) => Ok(info),
            other => Err(self.mismatch(other)),
        })
        .await
    }

    /// Checks a webhook's authenticity and names the delivery.
    pub async fn verify_webhook(&self, request: &WebhookRequest) -> Result<Delivery, CallError> {
        self.check_payload("verify-webhook", request.body.len())?;
        self.run(
            &mut None,
            Request::VerifyWebhook(request),
            |value, _| match value {
                Response::VerifyWebhook(result) => {
                    result.map_err(|error| self.guest_error("verify-webhook", error))
                }
                other => Err(self.mismatch(other)),
            },
        )
        .await
    }

    /// Normalizes a stored webhook into events.
    pub async fn handle_webhook(
        &self,
        request: &WebhookRequest,
    ) -> Result<Output<Vec<Event>>, CallError> {
        self.handle_in(&mut None, request).await
    }

    /// Starts a session of calls on the build loaded now; see [`WebhookSession`].
    pub fn webhook_session(&self) -> WebhookSession {
        WebhookSession {
            plugin: self.pinned(),
            live: None,
        }
    }

    async fn handle_in(
        &self,
        slot: &mut Option<Live>,
        request: &WebhookRequest,
    ) -> Result<Output<Vec<Event>>, CallError> {
        self.check_payload("handle-webhook", request.body.len())?;
        self.run(
            slot,
            Request::HandleWebhook(request),
            |value, state| match value {
                Response::HandleWebhook(result) => self.finish("handle-webhook", result, state),
                other => Err(self.mismatch(other)),
            },
        )
        .await
    }

    /// Fetches the next page of changes.
    pub async fn poll(&self, request: &PollRequest) -> Result<Output<PollPage>, CallError> {
        self.run(
            &mut None,
            Request::Poll(request),
            |value, state| match value {
                Response::Poll(result) => self.finish("poll", result, state),
                other => Err(self.mismatch(other)),
            },
        )
        .await
    }

    /// Pushes one campaign batch.
    pub async fn push_campaign(
        &self,
        delivery: &CampaignDelivery,
    ) -> Result<Output<CampaignReport>, CallError> {
        self.run(
            &mut None,
            Request::PushCampaign(delivery),
            |value, state| match value {
                Response::PushCampaign(result) => self.finish("push-campaign", result, state),
                other => Err(self.mismatch(other)),
            },
        )
        .await
    }

    /// Fulfils one redemption.
    pub async fn fulfil_reward(
        &self,
        request: &RewardRequest,
    ) -> Result<Output<Fulfilment>, CallError> {
        self.run(
            &mut None,
            Request::FulfilReward(request),
            |value, state| match value {
                Response::FulfilReward(result) => self.finish("fulfil-reward", result, state),
                other => Err(self.mismatch(other)),
            },
        )
        .await
    }

    /// Sends one reward statement.
    pub async fn deliver_statement(
        &self,
        statement: &Statement,
    ) -> Result<Output<String>, CallError> {
        self.run(
            &mut None,
            Request::DeliverStatement(statement),
            |value, state| match value {
                Response::DeliverStatement(result) => {
                    self.finish("deliver-statement", result, state)
                }
                other => Err(self.mismatch(other)),
            },
        )
        .await
    }

    /// Makes one call through the circuit breaker on the component loaded
    /// now, on the instance kept in `slot` if there is one, turns its
    /// response into the operation's result with `finish`, and tells the
    /// breaker and the observer how it ended.
    async fn run<T>(
        &self,
        slot: &mut Option<Live>,
        request: Request<'_>,
        finish: impl FnOnce(Response, StateWrites) -> Result<T, CallError>,
    ) -> Result<T, CallError> {
        let inner = self.inner();
        let operation = request.operation();
        let started = Instant::now();
        let result = match inner.breaker.admit(started, operation) {
            Admission::Refuse(wait) => Err(CallError::CircuitOpen {
                connector: self.name.to_string(),
                operation,
                retry_in_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                failures: inner.breaker.failures(operation),
            }),
            Admission::Pass | Admission::Trial => match inner.declared(operation).await {
                Ok(()) => match inner.call_in(slot, request).await {
                    Ok(out) => finish(out.value, out.state),
                    Err(error) => Err(error),
                },
                Err(error) => Err(error),
            },
        };
        match &result {
            Ok(_) => inner.breaker.succeeded(operation),
            // verify-webhook reads what anybody may send: a failure there
            // may be the sender's doing, and must not let a forger pause
            // the genuine deliveries. Its calls are contained by the
            // sandbox's limits instead.
            Err(_) if operation == "verify-webhook" => {}
            Err(error) if error.counts_against_connector() => {
                if inner
                    .breaker
                    .failed(Instant::now(), operation, error.to_string())
                {
                    tracing::warn!(
                        connector = self.name(),
                        error = %error,
                        pause_seconds = inner.shared.limits.breaker_open_seconds,
                        "circuit breaker opened: the connector is not called until the pause ends"
                    );
                }
            }
            Err(CallError::Guest { .. }) => inner.breaker.succeeded(operation),
            Err(_) => {}
        }
        if let Some(observer) = &inner.observer {
            let outcome = result.as_ref().map_or_else(CallError::kind, |_| "ok");
            observer.call_finished(self.name(), operation, outcome, started.elapsed());
        }
        result
    }

    fn finish<T>(
        &self,
        operation: &'static str,
        result: Result<T, wit::latest::loyalty::connector::types::Error>,
        state: StateWrites,
    ) -> Result<Output<T>, CallError> {
        // A connector that reports an error gets its state writes dropped,
        // like one that traps: a cursor must not move past a failed page.
        result
            .map(|value| Output { value, state })
            .map_err(|error| self.guest_error(operation, error))
    }

    fn guest_error(
        &self,
        operation: &'static str,
        error: wit::latest::loyalty::connector::types::Error,
    ) -> CallError {
        CallError::Guest {
            connector: self.name().to_owned(),
            operation,
            error,
        }
    }

    fn mismatch(&self, response: Response) -> CallError {
        CallError::Instantiate {
            connector: self.name().to_owned(),
            message: format!("unexpected response {response:?}"),
        }
    }

    /// Refuses a body over `payload_bytes_max` before any call is made; the
    /// observer counts the refusal like a call.
    fn check_payload(&self, operation: &'static str, size: usize) -> Result<(), CallError> {
        let inner = self.inner();
        let limit = inner.shared.limits.payload_bytes_max;
        if size <= limit {
            return Ok(());
        }
        let error = CallError::PayloadTooLarge {
            connector: self.name().to_owned(),
            size,
            limit,
        };
        if let Some(observer) = &inner.observer {
            observer.call_finished(self.name(), operation, error.kind(), Duration::ZERO);
        }
        Err(error)
    }
}

impl Inner {
    /// What the component declares, read with `describe` before the first
    /// call of another operation and kept for this load.
    async fn declared(&self, operation: &'static str) -> Result<(), CallError> {
        if operation == "describe" || self.shared.declared.get().is_some() {
            return Ok(());
        }
        let (declared, problems) = self.resolve().await?;
        for problem in problems {
            tracing::warn!(connector = self.shared.name, problem, "describe");
        }
        self.shared.declared.get_or_init(|| declared);
        Ok(())
    }

    /// Calls `describe` and resolves its lists against the settings.
    async fn resolve(&self) -> Result<(Declared, Vec<String>), CallError> {
        let info = match self.call(Request::Describe).await?.value {
            Response::Describe(info) => info,
            other => {
                return Err(CallError::Instantiate {
                    connector: self.shared.name.clone(),
                    message: format!("unexpected response {other:?}"),
                });
            }
        };
        Ok(Declared::resolve(&info, &self.shared.grants.settings))
    }

    /// Makes one call in a fresh instance.
    async fn call(&self, request: Request<'_>) -> Result<Output<Response>, CallError> {
        self.call_in(&mut None, request).await
    }

    /// Makes one call on the instance kept in `slot`, or on a new one (which
    /// waits for a free instance slot first). The instance is put back in
    /// `slot` only if the call succeeded and wrote nothing to stdout or
    /// stderr; after a trap, a limit, a timeout or any output it is dropped.
    async fn call_in(
        &self,
        slot: &mut Option<Live>,
        request: Request<'_>,
    ) -> Result<Output<Response>, CallError> {
        let mut live = match slot.take() {
            Some(live) => live,
            None => self.live().await?,
        };
        let shared = &self.shared;
        let operation = request.operation();
        live.store.data_mut().begin_call();
        live.store.set_epoch_deadline(1);
        let timeout_ms = shared.limits.call_timeout_ms;
        let Live { store, bound, .. } = &mut live;
        let result = tokio::time::timeout(Duration::from_millis(timeout_ms), async {
            let bound = match bound {
                Some(bound) => bound,
                None => bound.insert(self.bindings.instantiate(store).await?),
            };
            bound.call(store, request).await
        })
        .await;
        let captured = String::from_utf8_lossy(&live.output.contents()).into_owned();
        let connector = shared.name.clone();
        match result {
            Err(_) => Err(CallError::Timeout {
                connector,
                operation,
                timeout_ms,
            }),
            Ok(Ok(value)) => {
                let state = std::mem::take(&mut live.store.data_mut().writes);
                if captured.is_empty() {
                    *slot = Some(live);
                } else if !captured.trim().is_empty() {
                    tracing::debug!(
                        connector,
                        operation,
                        output = truncate(&captured, 4096),
                        "connector output"
                    );
                }
                Ok(Output { value, state })
            }
            Ok(Err(error)) => {
                if let Some(full) = error.downcast_ref::<wasmtime::PoolConcurrencyLimitError>() {
                    // No instance could be made just now: passing, not the
                    // connector's fault; the caller retries.
                    return Err(CallError::Instantiate {
                        connector,
                        message: format!("no free instance slot: {full}"),
                    });
                }
                if let Some(limit) = error.downcast_ref::<LimitExceeded>() {
                    return Err(CallError::Limit {
                        connector,
                        operation,
                        limit: limit.clone(),
                    });
                }
                Err(CallError::Trap {
                    connector,
                    operation,
                    message: format!("{error:#}"),
                    stderr: captured,
                })
            }
        }
    }

    /// A store for a new instance, holding one of the connector's instance
    /// slots (waiting for one to be free). The component is instantiated in
    /// it by the first call, under that call's timeout.
    async fn live(&self) -> Result<Live, CallError> {
        let shared = &self.shared;
        let permit =
            self.permits
                .clone()
                .acquire_owned()
                .await
                .map_err(|_| CallError::Instantiate {
                    connector: shared.name.clone(),
                    message: "the runtime is shutting down".to_owned(),
                })?;
        let output = MemoryOutputPipe::new(OUTPUT_CAPTURE_BYTES);
        let wasi = WasiCtxBuilder::new()
            .stdout(output.clone())
            .stderr(output.clone())
            .build();
        let mut store = Store::new(&self.engine, CallState::new(shared.clone(), wasi));
        store.limiter(|state| &mut state.memory);
        let budget_ms = shared.limits.cpu_ms_max;
        let budget_ticks = budget_ms
            .div_ceil(u64::try_from(EPOCH_TICK.as_millis()).unwrap_or(10))
            .max(1);
        // The callback runs once per epoch tick observed while guest code
        // runs; time spent waiting in host calls (HTTP) shows up as at most
        // one tick per wait, so the count approximates CPU time, not wall time.
        store.epoch_deadline_callback(move |mut context| {
            let state = context.data_mut();
            state.cpu_ticks += 1;
            if state.cpu_ticks > budget_ticks {
                return Err(wasmtime::Error::new(LimitExceeded::Cpu { budget_ms }));
            }
            // Yield so that a busy guest does not hold the tokio worker.
            Ok(UpdateDeadline::Yield(1))
        });
        Ok(Live {
            store,
            bound: None,
            output,
            _permit: permit,
        })
    }
}

/// An instance and the store it lives in, between two calls of a [`WebhookSession`].
struct Live {
    store: Store<CallState>,
    bound: Option<Bound>,
    output: MemoryOutputPipe,
    /// Released after the store is dropped, so that the next caller let in
    /// finds the pool slot free.
    _permit: OwnedSemaphorePermit,
}

/// `handle-webhook` calls of one build that share one instance, one call
/// after the other: the inbox worker makes one per batch of a connector's
/// deliveries, which were all verified and stored for that connector.
/// Each call starts with its whole CPU budget, state budget and log lines,
/// and with nothing written; the instance is dropped after any call that
/// failed or wrote to stdout or stderr, and the next call gets a fresh one.
/// A session holds one of the connector's `instances_max` slots from its
/// first call until it is dropped. Calls from the HTTP edge
/// (`verify-webhook`, which reads whatever anybody sends) and every other
/// operation always run on a fresh instance.
pub struct WebhookSession {
    plugin: Plugin,
    live: Option<Live>,
}

impl std::fmt::Debug for WebhookSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSession")
            .field("plugin", &self.plugin)
            .field("instance", &self.live.is_some())
            .finish()
    }
}

impl WebhookSession {
    /// The build the session calls.
    pub fn plugin(&self) -> &Plugin {
        &self.plugin
    }

    /// Normalizes a stored webhook into events, like
    /// [`Plugin::handle_webhook`], on the session's instance.
    pub async fn handle_webhook(
        &mut self,
        request: &WebhookRequest,
    ) -> Result<Output<Vec<Event>>, CallError> {
        self.plugin.handle_in(&mut self.live, request).await
    }
}
