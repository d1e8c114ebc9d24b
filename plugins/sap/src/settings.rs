//! The connector's settings, read from the host on each call.

use loyalty_sdk::host;
use loyalty_sdk::types::{Error, Setting};

/// The credential every request carries: basic authentication with a
/// communication user, and (`csrf = true`) the host's CSRF token handling
/// for writes.
pub const CREDENTIAL: &str = "api";

/// The pricing condition type created when `condition_type` is not set.
pub const DEFAULT_CONDITION_TYPE: &str = "ZLOY";

/// When a sales order earns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaidWhen {
    /// Every order that is not fully rejected earns as soon as it exists:
    /// B2B orders are invoiced later, on payment terms.
    Created,
    /// An order earns once it is completely processed
    /// (`OverallSDProcessStatus` `C`: delivered and invoiced).
    Completed,
}

/// Everything the connector reads from `[connectors.NAME.settings]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The system's URL without a trailing slash (`https://my.s4hana.example`).
    pub base_url: String,
    /// The SAP client sent as `sap-client`, when set.
    pub sap_client: Option<String>,
    /// When orders earn.
    pub paid_when: PaidWhen,
    /// Condition type of percentage discounts.
    pub condition_type: String,
    /// Condition type of fixed-amount discounts.
    pub amount_condition_type: String,
    /// Sales organization of created condition records.
    pub sales_organization: Option<String>,
    /// Distribution channel of created condition records.
    pub distribution_channel: Option<String>,
}

/// The settings the connector declares in `describe`.
pub fn declared() -> Vec<Setting> {
    let setting = |name: &str, required: bool, description: &str| Setting {
        name: name.to_owned(),
        required,
        description: description.to_owned(),
    };
    vec![
        setting(
            "base_url",
            true,
            "The S/4HANA system's API URL (`https://my123456-api.s4hana.ondemand.com`), without `/sap/opu/odata`.",
        ),
        setting(
            "sap_client",
            false,
            "The SAP client (`100`), sent as the `sap-client` query parameter; unset uses the system's default client.",
        ),
        setting(
            "paid_when",
            false,
            "`created` (default): every order that is not fully rejected earns; `completed`: an order earns once `OverallSDProcessStatus` is `C`.",
        ),
        setting(
            "condition_type",
            false,
            "Pricing condition type of percentage discounts created by campaigns and rewards (default `ZLOY`).",
        ),
        setting(
            "amount_condition_type",
            false,
            "Pricing condition type of fixed-amount discounts (default: `condition_type`).",
        ),
        setting(
            "sales_organization",
            false,
            "Sales organization of created condition records; required for campaigns and rewards.",
        ),
        setting(
            "distribution_channel",
            false,
            "Distribution channel of created condition records; required for campaigns and rewards.",
        ),
    ]
}

impl Settings {
    /// Reads and checks every setting.
    pub fn read() -> Result<Self, Error> {
        let base_url = non_empty("base_url").ok_or_else(|| {
            Error::Permanent(
                "setting `base_url` is not set (add it to [connectors.NAME.settings])".to_owned(),
            )
        })?;
        if !(base_url.starts_with("https://") || base_url.starts_with("http://")) {
            return Err(Error::Permanent(format!(
                "setting `base_url` is `{base_url}`, expected an http(s) URL such as `https://my123456-api.s4hana.ondemand.com`"
            )));
        }
        let paid_when = match non_empty("paid_when").as_deref() {
            None | Some("created") => PaidWhen::Created,
            Some("completed") => PaidWhen::Completed,
            Some(other) => {
                return Err(Error::Permanent(format!(
                    "setting `paid_when` is `{other}`, expected `created` or `completed`"
                )));
            }
        };
        let condition_type =
            non_empty("condition_type").unwrap_or_else(|| DEFAULT_CONDITION_TYPE.to_owned());
        Ok(Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            sap_client: non_empty("sap_client"),
            paid_when,
            amount_condition_type: non_empty("amount_condition_type")
                .unwrap_or_else(|| condition_type.clone()),
            condition_type,
            sales_organization: non_empty("sales_organization"),
            distribution_channel: non_empty("distribution_channel"),
        })
    }

    /// The sales area of condition records: both settings are required to
    /// write.
    pub fn sales_area(&self) -> Result<(&str, &str), Error> {
        fn require<'a>(value: &'a Option<String>, key: &str) -> Result<&'a str, Error> {
            value.as_deref().ok_or_else(|| {
                Error::Permanent(format!(
                    "setting `{key}` is not set: condition records need a sales area (add it to [connectors.NAME.settings])"
                ))
            })
        }
        Ok((
            require(&self.sales_organization, "sales_organization")?,
            require(&self.distribution_channel, "distribution_channel")?,
        ))
    }
}

/// A setting's trimmed value, `None` when unset or blank.
fn non_empty(key: &str) -> Option<String> {
    host::config_get(key)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}
