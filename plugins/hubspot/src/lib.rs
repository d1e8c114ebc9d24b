//! The official HubSpot connector.
//!
//! Reads companies, contacts, deals with their line items, and feedback
//! (NPS) submissions from a HubSpot portal, by incremental sync over the CRM
//! search API and by webhooks; pushes campaigns into static contact lists
//! and fulfils rewards as tasks. See `README.md` beside this crate for the
//! settings, credentials, secrets and the event mapping.
//!
//! Modules, from the wire inwards:
//! - [`api`]: requests with the `api` credential, HubSpot's errors mapped
//!   onto the connector error variant;
//! - [`webhook`]: v3 signatures and event batches; [`poll`] with [`search`]:
//!   the sync cursor and the search requests;
//! - [`associations`], [`line_item`], [`records`]: what a record is read with;
//! - [`crm`], [`ids`], [`time`]: HubSpot's string-typed values;
//! - [`company`], [`contact`], [`deal`], [`feedback`]: the mapping to events;
//! - [`campaign`], [`reward`]: outbound calls.

pub mod api;
pub mod associations;
pub mod campaign;
pub mod company;
pub mod contact;
pub mod crm;
pub mod deal;
pub mod feedback;
pub mod ids;
pub mod line_item;
pub mod poll;
pub mod records;
pub mod reward;
pub mod search;
pub mod settings;
pub mod time;
pub mod webhook;

use loyalty_sdk::prelude::*;

/// Outbound destinations: the HubSpot API, or where the setting
/// [`HOST_SETTING`] puts it.
pub const HOSTS: [&str; 1] = ["https://api.hubapi.com"];

/// The setting whose URL is also a destination.
pub const HOST_SETTING: &str = "api_base_url";

/// The HubSpot connector.
pub struct HubSpot;

impl Connector for HubSpot {
    fn describe() -> PluginInfo {
        let mut info = PluginInfo::named("hubspot", env!("CARGO_PKG_VERSION"));
        info.hosts = HOSTS.iter().map(|h| (*h).to_owned()).collect();
        info.host_settings.push(HOST_SETTING.to_owned());
        info.credentials.push(api::CREDENTIAL.to_owned());
        info.secrets.push(webhook::SECRET.to_owned());
        info.settings = settings::declared();
        info
    }

    fn verify_webhook(request: WebhookRequest) -> Result<Delivery, Error> {
        webhook::verify(&request)
    }

    /// The host verified the batch before storing it, so the signature is
    /// not checked again (its timestamp may be old by now).
    fn handle_webhook(request: WebhookRequest) -> Result<Vec<Event>, Error> {
        webhook::handle(&request)
    }

    fn poll(request: PollRequest) -> Result<PollPage, Error> {
        poll::poll(&request)
    }

    fn push_campaign(delivery: CampaignDelivery) -> Result<CampaignReport, Error> {
        campaign::push(&delivery)
    }

    fn fulfil_reward(request: RewardRequest) -> Result<Fulfilment, Error> {
        reward::fulfil(&request)
    }
}

loyalty_sdk::export_connector!(HubSpot);
