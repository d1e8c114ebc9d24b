//! `loyaltyd`, a self-hosted B2B loyalty engine.
//!
//! Vendor systems reach the engine through sandboxed WebAssembly connectors
//! ([`runtime`]); everything a connector produces is a normalized event.

pub mod runtime;
