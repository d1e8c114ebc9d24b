//! The connector's settings, read from the host once per call.

use loyalty_sdk::host;
use loyalty_sdk::types::{Error, Setting};

use crate::ids::Id;

/// Where the HubSpot API is when `api_base_url` is not set.
pub const DEFAULT_API_BASE_URL: &str = "https://api.hubapi.com";
/// The system name of SAP references when `sap_connector` is not set.
pub const DEFAULT_SAP_CONNECTOR: &str = "sap";
/// HubSpot's cap on the results one CRM search can page through.
pub const DEFAULT_SEARCH_RESULT_LIMIT: u32 = 10_000;

/// The settings the connector declares in `describe`.
pub fn declared() -> Vec<Setting> {
    let setting = |name: &str, required: bool, description: &str| Setting {
        name: name.to_owned(),
        required,
        description: description.to_owned(),
    };
    vec![
        setting(
            "portal_id",
            true,
            "The HubSpot account (portal) id; webhook events of any other portal are refused.",
        ),
        setting(
            "api_base_url",
            false,
            "Base URL of the HubSpot API (default `https://api.hubapi.com`; tests point it at a local emulator).",
        ),
        setting(
            "currency",
            false,
            "ISO 4217 code of the account's company currency: used for deals without `deal_currency_code` and for company annual revenue.",
        ),
        setting(
            "tax_id_property",
            false,
            "Internal name of a company property holding the tax or VAT id (for example `vat_number`).",
        ),
        setting(
            "sap_number_property",
            false,
            "Internal name of a company property holding the SAP business partner number; it becomes an external reference.",
        ),
        setting(
            "sap_connector",
            false,
            "System name of that SAP reference, the name of the SAP connector (default `sap`).",
        ),
        setting(
            "line_item_category_property",
            false,
            "Internal name of a line item property holding the product category (default `hs_product_type`).",
        ),
        setting(
            "referral_code_property",
            false,
            "Internal name of a deal property holding the referral code the deal carries (for example `referral_code`).",
        ),
        setting(
            "feedback_submissions",
            false,
            "Whether the sync reads feedback submissions (NPS answers): `true` (default) or `false` for portals without HubSpot's feedback surveys.",
        ),
        setting(
            "search_result_limit",
            false,
            "How many results one CRM search can page through before the connector starts a new search window (default 10000, HubSpot's cap; only tests lower it).",
        ),
    ]
}

/// The settings, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The API base URL without a trailing slash.
    pub api_base_url: String,
    /// The portal whose webhooks are accepted.
    pub portal_id: Id,
    /// The company currency, upper case.
    pub currency: Option<String>,
    /// The company property holding the tax id.
    pub tax_id_property: Option<String>,
    /// The company property holding the SAP business partner number.
    pub sap_number_property: Option<String>,
    /// The system name of SAP references.
    pub sap_connector: String,
    /// The line item property holding the category.
    pub line_item_category_property: String,
    /// The deal property holding the referral code.
    pub referral_code_property: Option<String>,
    /// Whether the sync reads feedback submissions.
    pub feedback_submissions: bool,
    /// How far one search may page.
    pub search_result_limit: u32,
}

impl Settings {
    /// Reads and checks every setting; a missing or malformed one is a
    /// `permanent` error naming it.
    pub fn load() -> Result<Self, Error> {
        let portal = non_empty("portal_id").ok_or_else(|| bad("portal_id", "is not set"))?;
        let portal_id = Id::parse(&portal).ok_or_else(|| {
            bad(
                "portal_id",
                &format!("is `{portal}`, expected the numeric HubSpot account id"),
            )
        })?;
        let currency = match non_empty("currency") {
            Some(code) if code.len() == 3 && code.bytes().all(|b| b.is_ascii_alphabetic()) => {
                Some(code.to_ascii_uppercase())
            }
            Some(code) => {
                return Err(bad(
                    "currency",
                    &format!("is `{code}`, expected an ISO 4217 code such as `EUR`"),
                ));
            }
            None => None,
        };
        let search_result_limit = match non_empty("search_result_limit") {
            None => DEFAULT_SEARCH_RESULT_LIMIT,
            Some(text) => match text.parse::<u32>() {
                Ok(n) if (1..=DEFAULT_SEARCH_RESULT_LIMIT).contains(&n) => n,
                _ => {
                    return Err(bad(
                        "search_result_limit",
                        &format!("is `{text}`, expected a whole number from 1 to 10000"),
                    ));
                }
            },
        };
        let referral_code_property = match non_empty("referral_code_property") {
            Some(name) if !is_property_name(&name) => {
                return Err(bad(
                    "referral_code_property",
                    &format!(
                        "is `{name}`, expected a property's internal name such as `referral_code` (letters, digits, underscores)"
                    ),
                ));
            }
            name => name,
        };
        let feedback_submissions = match non_empty("feedback_submissions").as_deref() {
            None | Some("true") => true,
            Some("false") => false,
            Some(other) => {
                return Err(bad(
                    "feedback_submissions",
                    &format!("is `{other}`, expected `true` or `false`"),
                ));
            }
        };
        Ok(Self {
            api_base_url: non_empty("api_base_url")
                .unwrap_or_else(|| DEFAULT_API_BASE_URL.to_owned())
                .trim_end_matches('/')
                .to_owned(),
            portal_id,
            currency,
            tax_id_property: non_empty("tax_id_property"),
            sap_number_property: non_empty("sap_number_property"),
            sap_connector: non_empty("sap_connector")
                .unwrap_or_else(|| DEFAULT_SAP_CONNECTOR.to_owned()),
            line_item_category_property: non_empty("line_item_category_property")
                .unwrap_or_else(|| "hs_product_type".to_owned()),
            referral_code_property,
            feedback_submissions,
            search_result_limit,
        })
    }

    /// Settings for the given portal with every default: what a unit test
    /// starts from.
    pub fn for_portal(portal_id: Id) -> Self {
        Self {
            api_base_url: DEFAULT_API_BASE_URL.to_owned(),
            portal_id,
            currency: None,
            tax_id_property: None,
            sap_number_property: None,
            sap_connector: DEFAULT_SAP_CONNECTOR.to_owned(),
            line_item_category_property: "hs_product_type".to_owned(),
            referral_code_property: None,
            feedback_submissions: true,
            search_result_limit: DEFAULT_SEARCH_RESULT_LIMIT,
        }
    }

    /// The absolute URL of an API path (`/crm/v3/...`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.api_base_url)
    }
}

/// A setting's trimmed value, `None` when unset or blank.
fn non_empty(key: &str) -> Option<String> {
    host::config_get(key)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// Whether `name` can be a property's internal name: letters, digits and
/// underscores, starting with a letter. Checked because the name goes into
/// request URLs (`?properties=...`) as it is.
fn is_property_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The error for a setting that is missing or malformed.
fn bad(key: &str, problem: &str) -> Error {
    Error::Permanent(format!(
        "setting `{key}` {problem} (fix it in [connectors.hubspot.settings])"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use loyalty_sdk::testing::TestHost;

    #[test]
    fn defaults_apply_and_the_base_url_loses_its_slash() {
        let host = TestHost::new()
            .setting("portal_id", "143553137")
            .setting("api_base_url", "http://127.0.0.1:8089/")
            .setting("currency", "eur");
        let settings = host.run(Settings::load).unwrap();
        assert_eq!(settings.api_base_url, "http://127.0.0.1:8089");
        assert_eq!(settings.portal_id.as_str(), "143553137");
        assert_eq!(settings.currency.as_deref(), Some("EUR"));
        assert_eq!(settings.sap_connector, "sap");
        assert_eq!(settings.search_result_limit, 10_000);
        assert_eq!(settings.referral_code_property, None);
        assert_eq!(
            settings.url("/crm/v3/objects/deals/search"),
            "http://127.0.0.1:8089/crm/v3/objects/deals/search"
        );
    }

    #[test]
    fn missing_or_malformed_settings_name_the_key() {
        for (host, key) in [
            (TestHost::new(), "portal_id"),
            (TestHost::new().setting("portal_id", "acme"), "portal_id"),
            (
                TestHost::new()
                    .setting("portal_id", "1")
                    .setting("currency", "euro"),
                "currency",
            ),
            (
                TestHost::new()
                    .setting("portal_id", "1")
                    .setting("search_result_limit", "20000"),
                "search_result_limit",
            ),
            (
                TestHost::new()
                    .setting("portal_id", "1")
                    .setting("feedback_submissions", "no"),
                "feedback_submissions",
            ),
            (
                TestHost::new()
                    .setting("portal_id", "1")
                    .setting("referral_code_property", "referral_code&archived=true"),
                "referral_code_property",
            ),
        ] {
            match host.run(Settings::load) {
                Err(Error::Permanent(m)) => assert!(m.contains(&format!("`{key}`")), "{m}"),
                other => panic!("{key}: {other:?}"),
            }
        }
    }
}
