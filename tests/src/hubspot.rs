//! HubSpot, emulated for the end-to-end tests and the demo: the CRM data
//! and search ([`crm`]), the API the connector calls ([`emulator`]) and a
//! webhook sender that signs like HubSpot ([`webhook`]).

pub mod crm;
pub mod emulator;
pub mod webhook;

pub use crm::{ObjectType, Record};
pub use emulator::{Failure, Gate, HubSpotEmulator, Recorded};
pub use webhook::{WebhookAnswer, WebhookSender};
