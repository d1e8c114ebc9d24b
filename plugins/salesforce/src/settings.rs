//! The connector's settings, read from the host on each call.

use loyalty_sdk::host;
use loyalty_sdk::types::{Error, Setting};

/// The REST API version used when `api_version` is not set.
pub const DEFAULT_API_VERSION: &str = "v60.0";
/// The campaign member status that counts as attending, by default.
pub const DEFAULT_ATTENDED_STATUS: &str = "Attended";
/// The status of a campaign member the connector adds, by default.
pub const DEFAULT_CAMPAIGN_MEMBER_STATUS: &str = "Sent";
/// The system name of SAP business partner numbers, by default.
pub const DEFAULT_SAP_CONNECTOR: &str = "sap";

/// Which Salesforce object is the purchase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purchases {
    /// Won opportunities with their products (the default).
    Opportunities,
    /// Activated orders with their items.
    Orders,
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
            "instance_url",
            true,
            "The org's My Domain URL (`https://acme.my.salesforce.com`); every API call goes there.",
        ),
        setting("api_version", false, "REST API version (default `v60.0`)."),
        setting(
            "currency",
            true,
            "ISO 4217 code of the org's currency: the currency of every amount on a record without `CurrencyIsoCode`.",
        ),
        setting(
            "multi_currency",
            false,
            "`true` when the org has multi-currency enabled: queries then select `CurrencyIsoCode` and each record's amounts are in its own currency (default `false`; single-currency orgs reject the field).",
        ),
        setting(
            "purchases",
            false,
            "What becomes a purchase: `opportunities` (closed opportunities with their products, the default) or `orders` (activated orders with their items).",
        ),
        setting(
            "tax_id_field",
            false,
            "API name of a custom Account field holding the VAT or tax id (`VAT_Number__c`).",
        ),
        setting(
            "referral_code_field",
            false,
            "API name of an Opportunity field (an Order field when `purchases` is `orders`) holding the referral code the purchase carries (`Referral_Code__c`).",
        ),
        setting(
            "sap_number_field",
            false,
            "API name of a custom Account field holding the SAP business partner number (`SAP_BP_Number__c`); it becomes an external reference to SAP.",
        ),
        setting(
            "sap_connector",
            false,
            "The system name of those SAP references: the name of the SAP connector (default `sap`).",
        ),
        setting(
            "attended_status",
            false,
            "The campaign member status that means the contact attended the event (default `Attended`).",
        ),
        setting(
            "campaign_member_status",
            false,
            "The status given to contacts a pushed campaign adds (default `Sent`); it must exist in the campaign's member statuses.",
        ),
    ]
}

/// `instance_url` without a trailing slash.
pub fn instance_url() -> Result<String, Error> {
    let url = non_empty("instance_url").ok_or_else(|| missing("instance_url"))?;
    let url = url.trim_end_matches('/').to_owned();
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(Error::Permanent(format!(
            "setting `instance_url` is `{url}`, expected a URL such as `https://acme.my.salesforce.com` (fix it in [connectors.salesforce.settings])"
        )));
    }
    Ok(url)
}

/// `{instance_url}/services/data/{api_version}`.
pub fn data_url() -> Result<String, Error> {
    Ok(format!(
        "{}/services/data/{}",
        instance_url()?,
        api_version()?
    ))
}

/// `api_version`, `vNN.N`.
pub fn api_version() -> Result<String, Error> {
    let version = non_empty("api_version").unwrap_or_else(|| DEFAULT_API_VERSION.to_owned());
    let valid = version
        .strip_prefix('v')
        .and_then(|rest| rest.split_once('.'))
        .is_some_and(|(major, minor)| {
            !major.is_empty()
                && !minor.is_empty()
                && major
                    .bytes()
                    .chain(minor.bytes())
                    .all(|b| b.is_ascii_digit())
        });
    if !valid {
        return Err(Error::Permanent(format!(
            "setting `api_version` is `{version}`, expected a version such as `v60.0` (fix it in [connectors.salesforce.settings])"
        )));
    }
    Ok(version)
}

/// The org currency, upper case.
pub fn currency() -> Result<String, Error> {
    let code = non_empty("currency").ok_or_else(|| missing("currency"))?;
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(Error::Permanent(format!(
            "setting `currency` is `{code}`, expected an ISO 4217 code such as `EUR` (fix it in [connectors.salesforce.settings])"
        )));
    }
    Ok(code.to_ascii_uppercase())
}

/// Whether the org has multi-currency enabled.
pub fn multi_currency() -> Result<bool, Error> {
    match non_empty("multi_currency").as_deref() {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(Error::Permanent(format!(
            "setting `multi_currency` is `{other}`, expected `true` or `false` (fix it in [connectors.salesforce.settings])"
        ))),
    }
}

/// What becomes a purchase.
pub fn purchases() -> Result<Purchases, Error> {
    match non_empty("purchases").as_deref() {
        None | Some("opportunities") => Ok(Purchases::Opportunities),
        Some("orders") => Ok(Purchases::Orders),
        Some(other) => Err(Error::Permanent(format!(
            "setting `purchases` is `{other}`, expected `opportunities` or `orders` (fix it in [connectors.salesforce.settings])"
        ))),
    }
}

/// The custom Account field holding the tax id, if configured.
pub fn tax_id_field() -> Result<Option<String>, Error> {
    field_name("tax_id_field")
}

/// The Opportunity (or Order) field holding the referral code, if
/// configured.
pub fn referral_code_field() -> Result<Option<String>, Error> {
    field_name("referral_code_field")
}

/// The custom Account field holding the SAP business partner number, if
/// configured.
pub fn sap_number_field() -> Result<Option<String>, Error> {
    field_name("sap_number_field")
}

/// The system name of SAP references.
pub fn sap_connector() -> String {
    non_empty("sap_connector").unwrap_or_else(|| DEFAULT_SAP_CONNECTOR.to_owned())
}

/// The campaign member status that means attended.
pub fn attended_status() -> String {
    non_empty("attended_status").unwrap_or_else(|| DEFAULT_ATTENDED_STATUS.to_owned())
}

/// The status of campaign members the connector adds.
pub fn campaign_member_status() -> String {
    non_empty("campaign_member_status").unwrap_or_else(|| DEFAULT_CAMPAIGN_MEMBER_STATUS.to_owned())
}

/// A setting naming a field, checked to be a SOQL identifier (letters,
/// digits and underscores, starting with a letter), since it goes into the
/// query text.
fn field_name(key: &str) -> Result<Option<String>, Error> {
    let Some(name) = non_empty(key) else {
        return Ok(None);
    };
    let valid = name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !valid {
        return Err(Error::Permanent(format!(
            "setting `{key}` is `{name}`, expected a field's API name such as `VAT_Number__c` (fix it in [connectors.salesforce.settings])"
        )));
    }
    Ok(Some(name))
}

/// A setting's trimmed value, `None` when unset or blank.
fn non_empty(key: &str) -> Option<String> {
    host::config_get(key)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// The error for a required setting that is not set.
fn missing(key: &str) -> Error {
    Error::Permanent(format!(
        "setting `{key}` is not set (add it to [connectors.salesforce.settings])"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use loyalty_sdk::testing::TestHost;

    #[test]
    fn data_url_joins_instance_and_version() {
        let host = TestHost::new().setting("instance_url", "https://acme.my.salesforce.com/");
        assert_eq!(
            host.run(data_url).unwrap(),
            "https://acme.my.salesforce.com/services/data/v60.0"
        );
        let host = host.setting("api_version", "v62.0");
        assert_eq!(
            host.run(data_url).unwrap(),
            "https://acme.my.salesforce.com/services/data/v62.0"
        );
    }

    #[test]
    fn bad_settings_are_permanent_errors_naming_the_key() {
        let cases = [
            ("api_version", "60"),
            ("currency", "euro"),
            ("purchases", "quotes"),
            ("tax_id_field", "VAT__c FROM User"),
            ("referral_code_field", "Referral-Code__c"),
            ("multi_currency", "yes"),
        ];
        for (key, value) in cases {
            let host = TestHost::new()
                .setting("instance_url", "https://acme.my.salesforce.com")
                .setting("currency", "EUR")
                .setting(key, value);
            let result = host.run(|| {
                api_version()?;
                currency()?;
                purchases()?;
                tax_id_field()?;
                referral_code_field()?;
                multi_currency()
            });
            match result {
                Err(Error::Permanent(m)) => assert!(m.contains(&format!("`{key}`")), "{m}"),
                other => panic!("{key}: {other:?}"),
            }
        }
        match TestHost::new().run(instance_url) {
            Err(Error::Permanent(m)) => assert!(m.contains("`instance_url`"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}
