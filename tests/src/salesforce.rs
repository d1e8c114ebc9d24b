//! Salesforce, emulated for the end-to-end tests and the demo: the REST API
//! the connector calls ([`emulator`]) and the SOQL it sends ([`soql`]).

pub mod emulator;
pub mod soql;

pub use emulator::{Failure, Gate, Recorded, SalesforceEmulator};
