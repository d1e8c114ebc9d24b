//! Shopify, emulated for the end-to-end tests and the demo: the Admin API the
//! connector reads and writes ([`emulator`]), webhook bodies in Shopify's REST wire
//! format ([`rest`]), the sample shop ([`samples`]) and a webhook sender that
//! signs like Shopify ([`webhook`]).

pub mod emulator;
pub mod rest;
pub mod samples;
pub mod webhook;

pub use emulator::{Company, Failure, Gate, RecordedRequest, RequestMatch, ShopifyEmulator};
pub use rest::{Cents, Customer, Order, Refund};
pub use webhook::{WebhookAnswer, WebhookSender};
