//! The official SAP S/4HANA connector.
//!
//! Polls business partners (organizations) and sales orders over OData V2
//! and turns them into account and purchase events; pushes campaign offers
//! and discount rewards back as customer-specific pricing condition
//! records. See `README.md` beside this crate for the settings, the
//! credential and the mapping.
//!
//! Modules, in the order data flows: [`settings`]; [`sync`] drives
//! [`cursor`] over [`partner`] and [`sales_order`], which read SAP's wire
//! format through [`odata`], [`time`] and [`ids`]; [`sink`] writes through
//! [`pricing`].

pub mod cursor;
pub mod ids;
pub mod odata;
pub mod partner;
pub mod pricing;
pub mod sales_order;
pub mod settings;
pub mod sink;
pub mod sync;
pub mod time;

use loyalty_sdk::prelude::*;

/// Outbound destinations besides [`HOST_SETTING`]'s: S/4HANA Cloud.
pub const HOSTS: [&str; 2] = [
    "https://*.s4hana.ondemand.com",
    "https://*.s4hana.cloud.sap",
];

/// The setting whose URL is also a destination: any gateway, on-premise
/// included.
pub const HOST_SETTING: &str = "base_url";

/// The SAP S/4HANA connector.
pub struct Sap;

impl Connector for Sap {
    fn describe() -> PluginInfo {
        let mut info = PluginInfo::named("sap", env!("CARGO_PKG_VERSION"));
        info.hosts = HOSTS.iter().map(|h| (*h).to_owned()).collect();
        info.host_settings.push(HOST_SETTING.to_owned());
        info.credentials.push(settings::CREDENTIAL.to_owned());
        info.settings = settings::declared();
        info
    }

    /// S/4HANA sends business events through SAP Event Mesh only, so the
    /// connector polls instead of receiving webhooks.
    fn verify_webhook(request: WebhookRequest) -> Result<Delivery, Error> {
        let _ = request;
        Err(Error::Unsupported(
            "the SAP connector receives no webhooks: it polls (S/4HANA publishes business events through SAP Event Mesh only)".to_owned(),
        ))
    }

    fn poll(request: PollRequest) -> Result<PollPage, Error> {
        sync::poll(&request)
    }

    fn push_campaign(delivery: CampaignDelivery) -> Result<CampaignReport, Error> {
        sink::push_campaign(&delivery)
    }

    fn fulfil_reward(request: RewardRequest) -> Result<Fulfilment, Error> {
        sink::fulfil_reward(&request)
    }
}

loyalty_sdk::export_connector!(Sap);
