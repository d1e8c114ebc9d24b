//! A loaded connector and its typed calls.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use wasmtime::component::Component;
use wasmtime::{Engine, Store, UpdateDeadline};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;

use crate::runtime::cache::CompileCache;
use crate::runtime::call::{CallState, Shared, truncate};
use crate::runtime::engine::{Clock, EPOCH_TICK};
use crate::runtime::error::{CallError, LimitExceeded, LoadError};
use crate::runtime::grants::Grants;
use crate::runtime::limits::Limits;
use crate::runtime::outbound;
use crate::runtime::state::{StateRead, StateWrites};
use crate::runtime::wit::latest::exports::loyalty::connector::plugin::PluginInfo;
use crate::runtime::wit::latest::exports::loyalty::connector::sink::{
    CampaignDelivery, CampaignReport, Fulfilment, RewardRequest, Statement,
};
use crate::runtime::wit::latest::exports::loyalty::connector::source::{PollPage, PollRequest};
use crate::runtime::wit::latest::loyalty::connector::types::{Delivery, Event, WebhookRequest};
use crate::runtime::wit::{self, Bindings, Request, Response};

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

/// A loaded, linked connector. Cheap to clone.
#[derive(Clone)]
pub struct Plugin {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    shared: Arc<Shared>,
    bindings: Bindings,
    path: PathBuf,
    wasm_sha256: String,
    contract_version: String,
    permits: Semaphore,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.inner.shared.name)
            .field("path", &self.inner.path)
            .field("contract_version", &self.inner.contract_version)
            .finish_non_exhaustive()
    }
}

impl Plugin {
    pub(crate) fn load(
        engine: &Engine,
        cache: Option<&CompileCache>,
        clock: Arc<dyn Clock>,
        spec: PluginSpec,
    ) -> Result<Self, LoadError> {
        let connector = spec.name.clone();
        let bytes = std::fs::read(&spec.wasm).map_err(|source| LoadError::Read {
            connector: connector.clone(),
            path: spec.wasm.clone(),
            source,
        })?;
        let wasm_sha256 = hex::encode(Sha256::digest(&bytes));
        let compile_error = |e: wasmtime::Error| LoadError::Compile {
            connector: connector.clone(),
            path: spec.wasm.clone(),
            message: format!("{e:#}"),
        };
        let component = match cache.and_then(|c| c.load(engine, &wasm_sha256)) {
            Some(component) => component,
            None => {
                let component = Component::new(engine, &bytes).map_err(compile_error)?;
                if let Some(cache) = cache {
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
        let http = outbound::client().map_err(|e| LoadError::Compile {
            connector: connector.clone(),
            path: spec.wasm.clone(),
            message: format!("cannot build the HTTP client: {e}"),
        })?;
        let permits =
            Semaphore::new(usize::try_from(spec.limits.instances_max.max(1)).unwrap_or(1));
        Ok(Self {
            inner: Arc::new(Inner {
                engine: engine.clone(),
                shared: Arc::new(Shared {
                    name: spec.name,
                    limits: spec.limits,
                    grants: spec.grants,
                    http,
                    state: spec.state,
                    clock,
                }),
                bindings,
                path: spec.wasm,
                wasm_sha256,
                contract_version,
                permits,
            }),
        })
    }

    /// The connector's name.
    pub fn name(&self) -> &str {
        &self.inner.shared.name
    }

    /// The component file it was loaded from.
    pub fn path(&self) -> &std::path::Path {
        &self.inner.path
    }

    /// SHA-256 of the component file, hex.
    pub fn wasm_sha256(&self) -> &str {
        &self.inner.wasm_sha256
    }

    /// The contract version the component was built against.
    pub fn contract_version(&self) -> &str {
        &self.inner.contract_version
    }

    /// The connector's limits.
    pub fn limits(&self) -> &Limits {
        &self.inner.shared.limits
    }

    /// Asks the connector to describe itself.
    pub async fn describe(&self) -> Result<PluginInfo, CallError> {
        match self.call(Request::Describe).await?.value {
            Response::Describe(info) => Ok(info),
            other => Err(self.mismatch(other)),
        }
    }

    /// Checks a webhook's authenticity and names the delivery.
    pub async fn verify_webhook(&self, request: &WebhookRequest) -> Result<Delivery, CallError> {
        self.check_payload(request.body.len())?;
        let operation = "verify-webhook";
        match self.call(Request::VerifyWebhook(request)).await?.value {
            Response::VerifyWebhook(result) => {
                result.map_err(|error| self.guest_error(operation, error))
            }
            other => Err(self.mismatch(other)),
        }
    }

    /// Normalizes a stored webhook into events.
    pub async fn handle_webhook(
        &self,
        request: &WebhookRequest,
    ) -> Result<Output<Vec<Event>>, CallError> {
        self.check_payload(request.body.len())?;
        let out = self.call(Request::HandleWebhook(request)).await?;
        match out.value {
            Response::HandleWebhook(result) => self.finish("handle-webhook", result, out.state),
            other => Err(self.mismatch(other)),
        }
    }

    /// Fetches the next page of changes.
    pub async fn poll(&self, request: &PollRequest) -> Result<Output<PollPage>, CallError> {
        let out = self.call(Request::Poll(request)).await?;
        match out.value {
            Response::Poll(result) => self.finish("poll", result, out.state),
            other => Err(self.mismatch(other)),
        }
    }

    /// Pushes one campaign batch.
    pub async fn push_campaign(
        &self,
        delivery: &CampaignDelivery,
    ) -> Result<Output<CampaignReport>, CallError> {
        let out = self.call(Request::PushCampaign(delivery)).await?;
        match out.value {
            Response::PushCampaign(result) => self.finish("push-campaign", result, out.state),
            other => Err(self.mismatch(other)),
        }
    }

    /// Fulfils one redemption.
    pub async fn fulfil_reward(
        &self,
        request: &RewardRequest,
    ) -> Result<Output<Fulfilment>, CallError> {
        let out = self.call(Request::FulfilReward(request)).await?;
        match out.value {
            Response::FulfilReward(result) => self.finish("fulfil-reward", result, out.state),
            other => Err(self.mismatch(other)),
        }
    }

    /// Sends one reward statement.
    pub async fn deliver_statement(
        &self,
        statement: &Statement,
    ) -> Result<Output<String>, CallError> {
        let out = self.call(Request::DeliverStatement(statement)).await?;
        match out.value {
            Response::DeliverStatement(result) => {
                self.finish("deliver-statement", result, out.state)
            }
            other => Err(self.mismatch(other)),
        }
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

    fn check_payload(&self, size: usize) -> Result<(), CallError> {
        let limit = self.limits().payload_bytes_max;
        if size > limit {
            return Err(CallError::PayloadTooLarge {
                connector: self.name().to_owned(),
                size,
                limit,
            });
        }
        Ok(())
    }

    /// Makes one call in a fresh instance. Waits for a free instance slot
    /// first; the instance is dropped when the call ends, whatever happened.
    async fn call(&self, request: Request<'_>) -> Result<Output<Response>, CallError> {
        let inner = &*self.inner;
        let shared = &inner.shared;
        let operation = request.operation();
        let _permit = inner
            .permits
            .acquire()
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
        let mut store = Store::new(&inner.engine, CallState::new(shared.clone(), wasi));
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
        store.set_epoch_deadline(1);

        let timeout_ms = shared.limits.call_timeout_ms;
        let result = tokio::time::timeout(
            Duration::from_millis(timeout_ms),
            inner.bindings.call(&mut store, request),
        )
        .await;
        let captured = String::from_utf8_lossy(&output.contents()).into_owned();
        let connector = shared.name.clone();
        match result {
            Err(_) => Err(CallError::Timeout {
                connector,
                operation,
                timeout_ms,
            }),
            Ok(Ok(value)) => {
                if !captured.trim().is_empty() {
                    tracing::debug!(
                        connector,
                        operation,
                        output = truncate(&captured, 4096),
                        "connector output"
                    );
                }
                let state = std::mem::take(&mut store.data_mut().writes);
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
}
