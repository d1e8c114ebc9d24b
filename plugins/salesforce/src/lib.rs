//! The official Salesforce connector.

use loyalty_sdk::prelude::*;

/// The Salesforce connector.
pub struct Salesforce;

impl Connector for Salesforce {
    fn describe() -> PluginInfo {
        PluginInfo::named("salesforce", env!("CARGO_PKG_VERSION"))
    }
}

loyalty_sdk::export_connector!(Salesforce);
