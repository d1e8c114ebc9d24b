//! The official Shopify connector.
//!
//! Turns Shopify webhooks (orders, refunds, customers) into the engine's
//! purchase, refund, contact and account events, reading B2B companies
//! through the Admin GraphQL API. See `README.md` beside this crate for the
//! settings, secrets and the event mapping.

pub mod company;
pub mod customer;
pub mod ids;
pub mod money;
pub mod order;
pub mod refund;
pub mod settings;
pub mod timestamp;
pub mod webhook;

use loyalty_sdk::prelude::*;

use crate::webhook::Topic;

/// Outbound destinations: every shop's Admin API.
pub const HOSTS: &str = "https://*.myshopify.com";

/// The Shopify connector.
pub struct Shopify;

impl Connector for Shopify {
    fn describe() -> PluginInfo {
        let mut info = PluginInfo::named("shopify", env!("CARGO_PKG_VERSION"));
        info.hosts.push(HOSTS.to_owned());
        info.credentials.push(company::CREDENTIAL.to_owned());
        info.secrets.push(webhook::SECRET.to_owned());
        info.settings = settings::declared();
        info
    }

    fn verify_webhook(request: WebhookRequest) -> Result<Delivery, Error> {
        webhook::verify(&request)
    }

    /// Routes on `X-Shopify-Topic`. The host verified the delivery before
    /// storing it, so the signature is not checked again.
    fn handle_webhook(request: WebhookRequest) -> Result<Vec<Event>, Error> {
        match Topic::parse(request.require_header(webhook::TOPIC_HEADER)?)? {
            Topic::Order => order::handle(&request.body),
            Topic::Refund => refund::handle(&request.body),
            Topic::Customer => customer::handle(&request.body),
        }
    }

    fn poll(request: PollRequest) -> Result<PollPage, Error> {
        let _ = request;
        Err(Error::Unsupported(
            "the Shopify connector does not poll yet; it receives webhooks".to_owned(),
        ))
    }
}

loyalty_sdk::export_connector!(Shopify);
