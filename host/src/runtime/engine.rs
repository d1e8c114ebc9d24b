//! The wasmtime engine shared by every connector: compilation settings, the
//! pooling allocator, the epoch ticker that enforces CPU budgets, and the
//! clock connectors read.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::runtime::cache::CompileCache;
use crate::runtime::error::LoadError;
use crate::runtime::plugin::{CallObserver, Loader, Plugin, PluginSpec};

/// How often the epoch advances. CPU budgets are counted in these ticks.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The time connectors see through `now`.
pub trait Clock: Send + Sync {
    /// Milliseconds since the Unix epoch, UTC.
    fn now_ms(&self) -> i64;
}

/// The system's real-time clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }
}

/// A clock that always reads the same instant, for tests.
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub i64);

impl Clock for FixedClock {
    fn now_ms(&self) -> i64 {
        self.0
    }
}

/// Settings of the shared engine.
#[derive(Clone)]
pub struct RuntimeOptions {
    /// Instances that may exist at once across all connectors (the sum of
    /// their `instances_max`). Sizes the pooling allocator.
    pub instance_slots: u32,
    /// The largest `memory_mib_max` of any connector. Sizes the pool's
    /// memory slots; each connector's own cap is enforced per instance.
    pub memory_mib_max: u32,
    /// Where compiled components are cached; `None` compiles on every start.
    pub cache_dir: Option<PathBuf>,
    /// The clock connectors read.
    pub clock: Arc<dyn Clock>,
    /// Told about every finished call (metrics); `None`: nobody.
    pub observer: Option<Arc<dyn CallObserver>>,
}

impl std::fmt::Debug for RuntimeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeOptions")
            .field("instance_slots", &self.instance_slots)
            .field("memory_mib_max", &self.memory_mib_max)
            .field("cache_dir", &self.cache_dir)
            .finish_non_exhaustive()
    }
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        Self {
            instance_slots: 16,
            memory_mib_max: 64,
            cache_dir: None,
            clock: Arc::new(SystemClock),
            observer: None,
        }
    }
}

/// The shared wasmtime engine and what every connector needs from it.
pub struct Runtime {
    engine: Engine,
    cache: Option<CompileCache>,
    clock: Arc<dyn Clock>,
    observer: Option<Arc<dyn CallObserver>>,
    ticker_stop: Arc<AtomicBool>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// Builds the engine and starts the epoch ticker.
    pub fn new(options: RuntimeOptions) -> anyhow::Result<Self> {
        let engine = Engine::new(&engine_config(&options)).map_err(anyhow::Error::from)?;
        let ticker_stop = Arc::new(AtomicBool::new(false));
        let ticking_engine = engine.clone();
        let stop = ticker_stop.clone();
        // A thread of its own: the ticker must keep running when every tokio
        // worker is busy executing guest code.
        std::thread::Builder::new()
            .name("wasm-epoch".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    ticking_engine.increment_epoch();
                }
            })?;
        let cache = options.cache_dir.map(|dir| CompileCache::new(dir, &engine));
        Ok(Self {
            engine,
            cache,
            clock: options.clock,
            observer: options.observer,
            ticker_stop,
        })
    }

    /// Loads one connector: compiles (or reuses the cached compilation),
    /// checks its contract version and links it.
    pub fn load(&self, spec: PluginSpec) -> Result<Plugin, LoadError> {
        self.loader().load(spec)
    }

    /// Loads `spec` (compiling in the calling thread: call it off the async
    /// workers) and swaps it in for `plugin`: calls already running finish
    /// on the old component, later calls use the new one with a closed
    /// circuit breaker. A load that fails leaves `plugin` as it was.
    pub fn reload(&self, plugin: &Plugin, spec: PluginSpec) -> Result<(), LoadError> {
        self.loader().reload(plugin, spec)
    }

    fn loader(&self) -> Loader<'_> {
        Loader {
            engine: &self.engine,
            cache: self.cache.as_ref(),
            clock: self.clock.clone(),
            observer: self.observer.clone(),
        }
    }

    /// The wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

/// Freed memories and tables decommitted together (measured: batching makes
/// instantiation ~3x faster than decommitting each at once).
const DECOMMIT_BATCH: u32 = 32;

fn engine_config(options: &RuntimeOptions) -> Config {
    let slots = options.instance_slots.max(1);
    let memory_bytes = usize::try_from(options.memory_mib_max)
        .unwrap_or(usize::MAX)
        .saturating_mul(1 << 20);

    let mut pool = PoolingAllocationConfig::default();
    // One component instance per call in flight.
    pool.total_component_instances(slots);
    // A Rust component holds a handful of core instances (the program and the
    // shims wit-component adds) with one memory and a few tables; these caps
    // leave room without reserving address space for thousands of slots.
    pool.max_core_instances_per_component(16);
    pool.total_core_instances(slots * 16);
    pool.max_memories_per_component(2);
    pool.max_tables_per_component(8);
    // A freed memory or table waits in the decommit queue (up to a batch)
    // before its slot can be used again, and wasmtime's flush on exhaustion
    // can lose the freed slots to a concurrent caller: without this headroom
    // a burst of calls at `instances_max` fails with "maximum concurrent
    // limit reached" although no more calls are in flight than allowed.
    pool.total_memories(slots * 2 + DECOMMIT_BATCH);
    pool.total_tables(slots * 8 + DECOMMIT_BATCH);
    pool.total_stacks(slots + DECOMMIT_BATCH);
    pool.max_memory_size(memory_bytes);
    // Keep recently used slots warm so the next instantiation reuses pages
    // instead of faulting them in again (measured: ~3x faster instantiation).
    pool.linear_memory_keep_resident(4 << 20);
    pool.table_keep_resident(64 << 10);
    // Reset only the pages a call dirtied (Linux 6.7+ `PAGEMAP_SCAN`), not
    // the whole resident region: without it, zeroing the megabytes kept
    // resident took a tenth of the daemon's CPU under a webhook burst.
    pool.pagemap_scan(wasmtime::Enabled::Auto);
    pool.decommit_batch_size(DECOMMIT_BATCH as usize);
    pool.max_unused_warm_slots(slots.min(100));

    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    // Component-model async is not used; turning it off makes host calls cheaper.
    config.concurrency_support(false);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    config
}
