//! The official Shopify connector.
//!
//! Turns Shopify webhooks and polled Admin API lists (orders, refunds,
//! customers) into the engine's purchase, refund, contact and account
//! events, reading B2B companies through the Admin GraphQL API; pushes
//! campaigns as customer tags and discount codes, and fulfils rewards as
//! single-use discount codes. See `README.md` beside this crate for the
//! settings, secrets and the mapping.

pub mod admin;
pub mod campaign;
pub mod company;
pub mod customer;
pub mod discount;
pub mod ids;
pub mod money;
pub mod order;
pub mod poll;
pub mod refund;
pub mod reward;
pub mod settings;
pub mod timestamp;
pub mod webhook;

use loyalty_sdk::prelude::*;

use crate::webhook::Topic;

/// Outbound destinations: every shop's Admin API, or where the setting
/// [`HOST_SETTING`] puts it.
pub const HOSTS: [&str; 1] = ["https://*.myshopify.com"];

/// The setting whose URL is also a destination.
pub const HOST_SETTING: &str = "admin_base_url";

/// The Shopify connector.
pub struct Shopify;

impl Connector for Shopify {
    fn describe() -> PluginInfo {
        let mut info = PluginInfo::named("shopify", env!("CARGO_PKG_VERSION"));
        info.hosts = HOSTS.iter().map(|h| (*h).to_owned()).collect();
        info.host_settings.push(HOST_SETTING.to_owned());
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
        poll::poll(request)
    }

    fn push_campaign(delivery: CampaignDelivery) -> Result<CampaignReport, Error> {
        campaign::push(&delivery)
    }

    fn fulfil_reward(request: RewardRequest) -> Result<Fulfilment, Error> {
        reward::fulfil(&request)
    }
}

loyalty_sdk::export_connector!(Shopify);
