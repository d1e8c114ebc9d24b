//! The SDK for writing loyalty connectors.
//!
//! A connector is a WebAssembly component that adapts one vendor system to the
//! loyalty engine. It implements [`Connector`], exports itself with
//! [`export_connector!`], and reaches the outside world only through [`host`].
//!
//! ```
//! use loyalty_sdk::prelude::*;
//!
//! struct Echo;
//!
//! impl Connector for Echo {
//!     fn describe() -> PluginInfo {
//!         PluginInfo::named("echo", env!("CARGO_PKG_VERSION"))
//!     }
//!
//!     fn verify_webhook(request: WebhookRequest) -> Result<Delivery, Error> {
//!         let id = request.require_header("x-delivery-id")?;
//!         Ok(Delivery { id: id.to_owned(), topic: "echo".to_owned() })
//!     }
//! }
//!
//! loyalty_sdk::export_connector!(Echo);
//!
//! # let request = WebhookRequest {
//! #     method: "POST".into(),
//! #     url: "https://loyalty.example/webhooks/echo".into(),
//! #     headers: vec![Header { name: "X-Delivery-Id".into(), value: "42".into() }],
//! #     body: vec![],
//! # };
//! assert_eq!(Echo::verify_webhook(request).unwrap().id, "42");
//! ```
//!
//! Connector logic is plain Rust: on a native target the [`host`] functions
//! talk to a [`testing::TestHost`], so a connector's unit tests run with
//! `cargo test` and no wasm runtime.

mod connector;
pub mod decimal;
pub mod host;
pub mod http;
pub mod json;
pub mod request;
pub mod signature;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;
pub mod time;

pub use connector::Connector;

/// Bindings generated from the WIT package `loyalty:connector`.
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit/since_v0.2.0",
        world: "connector",
        pub_export_macro: true,
        export_macro_name: "__export_connector_world",
        default_bindings_module: "::loyalty_sdk::bindings",
        // A test's requests and results are JSON files
        // (`testing::load_json`, `testing::assert_json`).
        additional_derives: [serde::Serialize, serde::Deserialize],
    });
}

/// The WIT types a connector works with.
pub mod types {
    pub use crate::bindings::exports::loyalty::connector::plugin::{PluginInfo, Setting};
    pub use crate::bindings::exports::loyalty::connector::sink::{
        CampaignDelivery, CampaignReport, Fulfilment, FulfilmentStatus, Offer, Recipient,
        RejectedRecipient, RewardKind, RewardRequest, Statement,
    };
    pub use crate::bindings::exports::loyalty::connector::source::{PollPage, PollRequest};
    pub use crate::bindings::loyalty::connector::host::{
        HmacAlgorithm, HttpError, IncomingResponse, LogLevel, OutgoingRequest,
    };
    pub use crate::bindings::loyalty::connector::types::{
        Account, Attribute, Contact, Contract, ContractStatus, Deletion, Delivery, Engagement,
        EngagementKind, EntityKind, Error, Event, ExternalRef, Header, Money, Purchase,
        PurchaseLine, PurchaseStatus, Refund, RefundLine, RetryAfter, TimestampMs, WebhookRequest,
    };
}

/// Everything a connector usually needs, in one import.
pub mod prelude {
    pub use crate::Connector;
    pub use crate::decimal::{money, parse_decimal};
    pub use crate::host;
    pub use crate::request::WebhookRequestExt;
    pub use crate::types::*;
}

impl types::PluginInfo {
    /// A description with a name and version and no declared needs yet.
    pub fn named(name: &str, version: &str) -> Self {
        Self {
            name: name.to_owned(),
            version: version.to_owned(),
            hosts: Vec::new(),
            host_settings: Vec::new(),
            credentials: Vec::new(),
            secrets: Vec::new(),
            settings: Vec::new(),
        }
    }
}

impl types::Error {
    /// A short, human-readable description.
    pub fn message(&self) -> String {
        match self {
            Self::InvalidInput(m) => format!("invalid input: {m}"),
            Self::Unauthorized(m) => format!("unauthorized: {m}"),
            Self::RateLimited(r) => match r.delay_ms {
                Some(ms) => format!("rate limited (retry after {ms} ms): {}", r.message),
                None => format!("rate limited: {}", r.message),
            },
            Self::Transient(m) => format!("transient failure: {m}"),
            Self::Permanent(m) => format!("permanent failure: {m}"),
            Self::Unsupported(m) => format!("unsupported: {m}"),
        }
    }
}
