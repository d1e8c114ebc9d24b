//! The official Sap connector.

use loyalty_sdk::prelude::*;

/// The Sap connector.
pub struct Sap;

impl Connector for Sap {
    fn describe() -> PluginInfo {
        PluginInfo::named("sap", env!("CARGO_PKG_VERSION"))
    }
}

loyalty_sdk::export_connector!(Sap);
