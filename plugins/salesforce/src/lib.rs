//! The official Salesforce connector.
//!
//! Polls a Salesforce org's REST API for accounts, contacts, closed
//! opportunities (or activated orders), contracts and event attendance, and
//! pushes campaigns and reward fulfilments back as Campaigns, campaign
//! members and Tasks. See `README.md` beside this crate for the settings,
//! the credential and the mapping.
//!
//! The modules, from the outside in: [`sync`] runs one page of a sync from
//! the [`cursor`], with statements from [`soql`] sent through [`query`] and
//! [`api`]; [`record`] reads a record's fields, which [`account`],
//! [`purchase`], [`contract`] and [`campaign_member`] map to events.
//! [`campaign`] and [`reward`] are the outbound operations.

pub mod account;
pub mod api;
pub mod campaign;
pub mod campaign_member;
pub mod contract;
pub mod country;
pub mod cursor;
pub mod purchase;
pub mod query;
pub mod record;
pub mod reward;
pub mod settings;
pub mod soql;
pub mod sync;
pub mod timestamp;

use loyalty_sdk::prelude::*;

/// Outbound destinations besides [`HOST_SETTING`]'s: every org's My
/// Domain, sandboxes included.
pub const HOSTS: [&str; 2] = [
    "https://*.my.salesforce.com",
    "https://*.sandbox.my.salesforce.com",
];

/// The setting whose URL is also a destination: the org's instance.
pub const HOST_SETTING: &str = "instance_url";

/// The Salesforce connector.
pub struct Salesforce;

impl Connector for Salesforce {
    fn describe() -> PluginInfo {
        let mut info = PluginInfo::named("salesforce", env!("CARGO_PKG_VERSION"));
        info.hosts = HOSTS.iter().map(|h| (*h).to_owned()).collect();
        info.host_settings.push(HOST_SETTING.to_owned());
        info.credentials.push(api::CREDENTIAL.to_owned());
        info.settings = settings::declared();
        info
    }

    /// Salesforce pushes changes only as SOAP Outbound Messages, signed
    /// with a certificate rather than a shared secret; the connector polls
    /// instead (see `README.md`).
    fn verify_webhook(request: WebhookRequest) -> Result<Delivery, Error> {
        let _ = request;
        Err(Error::Unsupported(
            "the Salesforce connector polls; it receives no webhooks".to_owned(),
        ))
    }

    fn poll(request: PollRequest) -> Result<PollPage, Error> {
        sync::poll(&request)
    }

    fn push_campaign(delivery: CampaignDelivery) -> Result<CampaignReport, Error> {
        campaign::push(&delivery)
    }

    fn fulfil_reward(request: RewardRequest) -> Result<Fulfilment, Error> {
        reward::fulfil(&request)
    }
}

loyalty_sdk::export_connector!(Salesforce);
