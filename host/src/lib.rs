//! `loyaltyd`, a self-hosted B2B loyalty engine.
//!
//! Vendor systems reach the engine through sandboxed WebAssembly connectors
//! ([`runtime`]); everything a connector produces is a normalized event.

pub use loyalty_core as core;

pub mod api;
pub mod campaigns;
pub mod config;
pub mod daemon;
pub mod fulfil;
pub mod http_edge;
pub mod inbox;
pub mod lease;
pub mod metrics;
pub mod poller;
pub mod portal;
pub mod reload;
pub mod report;
pub mod runtime;
pub mod statements;
pub mod store;
