//! The plugin runtime: loads connector components into wasmtime and calls them
//! inside a sandbox.
//!
//! Each connector is compiled once (and cached on disk as a `.cwasm`), linked
//! once into an `InstancePre`, and instantiated afresh for every call from a
//! pooling allocator, so a trapped or corrupted instance is never reused. A
//! call is bounded by a memory cap, a CPU budget (epoch interruption), an I/O
//! budget for outbound HTTP, a wall-clock timeout and payload limits; the
//! number of concurrent instances per connector is bounded by a semaphore, so
//! callers queue instead of failing.

mod addresses;
mod breaker;
mod cache;
mod call;
pub mod convert;
mod engine;
mod error;
mod grants;
mod limits;
mod outbound;
mod plugin;
mod recording;
mod state;
pub mod wit;

pub use breaker::{CircuitState, CircuitStatus};
pub use engine::{Clock, FixedClock, Runtime, RuntimeOptions, SystemClock};
pub use error::{CallError, LimitExceeded, LoadError};
pub use grants::{
    Credential, Declared, Grants, HostPattern, Injection, OAuth2, OAuth2Grant, Secret, Session,
};
pub use limits::Limits;
pub use plugin::{CallObserver, Output, Plugin, PluginSpec, WebhookSession};
pub use recording::{RecordedExchange, Recording};
pub use state::{MemoryState, StateRead, StateWrites};
