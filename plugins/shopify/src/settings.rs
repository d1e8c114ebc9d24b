//! The connector's settings, read from the host on each call.

use loyalty_sdk::host;
use loyalty_sdk::types::{Error, Setting};

/// The Admin API version used when `api_version` is not set.
pub const DEFAULT_API_VERSION: &str = "2024-04";

/// How long a fetched company is reused when `company_cache_seconds` is not set.
pub const DEFAULT_COMPANY_CACHE_SECONDS: u64 = 3600;

/// The settings the connector declares in `describe`.
pub fn declared() -> Vec<Setting> {
    let setting = |name: &str, required: bool, description: &str| Setting {
        name: name.to_owned(),
        required,
        description: description.to_owned(),
    };
    vec![
        setting(
            "shop_domain",
            true,
            "The shop's permanent domain (`acme.myshopify.com`); webhooks from any other shop are rejected.",
        ),
        setting(
            "api_version",
            false,
            "Admin API version of every REST and GraphQL call (default `2024-04`).",
        ),
        setting(
            "admin_base_url",
            false,
            "Base URL of the Admin API instead of `https://{shop_domain}` (tests point it at a local emulator).",
        ),
        setting(
            "company_cache_seconds",
            false,
            "How long a B2B company read from GraphQL is reused from state (default 3600; 0 reads it every time).",
        ),
        setting(
            "external_id_system",
            false,
            "The system whose id the merchant keeps in a B2B company's `externalId` (the ERP connector's name, `sap`); the company then joins that system's account. Default `external-id`, which joins nothing.",
        ),
        setting(
            "shop_currency",
            false,
            "The shop's currency (`EUR`); when set, fixed-amount offers in another currency are refused instead of created.",
        ),
    ]
}

/// The `shop_domain` setting, normalized: lower case, without scheme or
/// trailing slash, so that `https://Acme.myshopify.com/` matches the
/// `X-Shopify-Shop-Domain` header `acme.myshopify.com`.
pub fn shop_domain() -> Result<String, Error> {
    let raw = host::config_get("shop_domain").ok_or_else(|| missing("shop_domain"))?;
    let domain = normalize_domain(&raw);
    if domain.is_empty() {
        return Err(missing("shop_domain"));
    }
    Ok(domain)
}

/// Lower-cases a shop domain and strips a scheme and trailing slashes.
pub fn normalize_domain(raw: &str) -> String {
    let trimmed = raw.trim();
    let without_scheme = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"))
        .unwrap_or(trimmed);
    without_scheme.trim_end_matches('/').to_ascii_lowercase()
}

/// The Admin API GraphQL endpoint:
/// `{admin_base_url or https://{shop_domain}}/admin/api/{api_version}/graphql.json`.
pub fn graphql_url() -> Result<String, Error> {
    admin_url("graphql.json")
}

/// An Admin API endpoint: `{admin_base_url or
/// https://{shop_domain}}/admin/api/{api_version}/{path}`, where `path` is
/// relative (`orders.json`, `price_rules/1/discount_codes.json`).
pub fn admin_url(path: &str) -> Result<String, Error> {
    let base = match non_empty("admin_base_url") {
        Some(base) => base.trim_end_matches('/').to_owned(),
        None => format!("https://{}", shop_domain()?),
    };
    let version = non_empty("api_version").unwrap_or_else(|| DEFAULT_API_VERSION.to_owned());
    Ok(format!("{base}/admin/api/{version}/{path}"))
}

/// The shop's currency (`shop_currency`, upper case), when the operator
/// set it: fixed-amount offers in another currency are then refused.
pub fn shop_currency() -> Option<String> {
    non_empty("shop_currency").map(|c| c.to_ascii_uppercase())
}

/// How long a cached company stays fresh, in milliseconds.
pub fn company_cache_ms() -> Result<i64, Error> {
    let seconds = match non_empty("company_cache_seconds") {
        None => DEFAULT_COMPANY_CACHE_SECONDS,
        Some(text) => text.parse::<u64>().map_err(|_| {
            Error::Permanent(format!(
                "setting `company_cache_seconds` is `{text}`, expected a whole number of seconds (fix it in [connectors.shopify.settings])"
            ))
        })?,
    };
    // Saturate rather than overflow: an absurdly long TTL means "forever".
    Ok(i64::try_from(seconds.saturating_mul(1000)).unwrap_or(i64::MAX))
}

/// The system a company's `externalId` names, and whether it is another
/// connector (then all-digit ids lose their leading zeros, as ERP numbers
/// are written both ways).
pub fn external_id_system() -> (String, bool) {
    match non_empty("external_id_system") {
        Some(system) => (system, true),
        None => ("external-id".to_owned(), false),
    }
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
        "setting `{key}` is not set (add it to [connectors.shopify.settings])"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use loyalty_sdk::testing::TestHost;

    #[test]
    fn domains_compare_without_scheme_case_or_slash() {
        assert_eq!(
            normalize_domain(" https://Acme.myshopify.com/ "),
            "acme.myshopify.com"
        );
        assert_eq!(normalize_domain("acme.myshopify.com"), "acme.myshopify.com");
    }

    #[test]
    fn graphql_url_defaults_to_the_shop_and_version() {
        let host = TestHost::new().setting("shop_domain", "acme.myshopify.com");
        assert_eq!(
            host.run(graphql_url).unwrap(),
            "https://acme.myshopify.com/admin/api/2024-04/graphql.json"
        );
        let host = host
            .setting("admin_base_url", "http://127.0.0.1:8089/")
            .setting("api_version", "2025-01");
        assert_eq!(
            host.run(graphql_url).unwrap(),
            "http://127.0.0.1:8089/admin/api/2025-01/graphql.json"
        );
    }

    #[test]
    fn missing_or_bad_settings_are_permanent_errors_naming_the_key() {
        let host = TestHost::new();
        match host.run(shop_domain) {
            Err(Error::Permanent(m)) => assert!(m.contains("`shop_domain`"), "{m}"),
            other => panic!("{other:?}"),
        }
        let host = TestHost::new().setting("company_cache_seconds", "an hour");
        match host.run(company_cache_ms) {
            Err(Error::Permanent(m)) => assert!(m.contains("`company_cache_seconds`"), "{m}"),
            other => panic!("{other:?}"),
        }
        let host = TestHost::new().setting("company_cache_seconds", "60");
        assert_eq!(host.run(company_cache_ms).unwrap(), 60_000);
        assert_eq!(TestHost::new().run(company_cache_ms).unwrap(), 3_600_000);
    }
}
