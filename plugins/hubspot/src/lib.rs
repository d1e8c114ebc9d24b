//! The official HubSpot connector.

use loyalty_sdk::prelude::*;

/// The HubSpot connector.
pub struct HubSpot;

impl Connector for HubSpot {
    fn describe() -> PluginInfo {
        PluginInfo::named("hubspot", env!("CARGO_PKG_VERSION"))
    }
}

loyalty_sdk::export_connector!(HubSpot);
