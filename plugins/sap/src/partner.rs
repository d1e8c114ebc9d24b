//! Business partners (`API_BUSINESS_PARTNER`, entity set `A_BusinessPartner`)
//! become accounts. Only organizations (`BusinessPartnerCategory` `2`) are
//! read: persons and groups are not B2B customers.

use loyalty_sdk::types::{Account, Error};
use serde::Deserialize;
use serde_json::Value;

use crate::ids;
use crate::odata::{self, Expanded, present};
use crate::settings::Settings;
use crate::time;

/// The entity set's path below `base_url`.
pub const PATH: &str = "/sap/opu/odata/sap/API_BUSINESS_PARTNER/A_BusinessPartner";

/// The category of organizations.
pub const ORGANIZATION: &str = "2";

/// What every partner query expands: the addresses with their email and
/// web addresses (for the domain) and the tax numbers.
pub const EXPAND: &str = "to_BusinessPartnerAddress/to_EmailAddress,to_BusinessPartnerAddress/to_URLAddress,to_BusinessPartnerTax";

/// Email domains anyone can register at; never a company's identity.
const FREE_MAIL: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "yahoo.com",
    "yahoo.de",
    "hotmail.com",
    "hotmail.de",
    "outlook.com",
    "live.com",
    "msn.com",
    "icloud.com",
    "me.com",
    "aol.com",
    "gmx.de",
    "gmx.net",
    "web.de",
    "t-online.de",
    "proton.me",
    "protonmail.com",
    "mail.ru",
    "yandex.ru",
    "qq.com",
    "163.com",
];

/// The fields of `A_BusinessPartner` the connector reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BusinessPartner {
    /// The partner number, zero-padded or not.
    pub business_partner: String,
    /// `1` person, `2` organization, `3` group.
    #[serde(default)]
    pub business_partner_category: Option<String>,
    /// The organization's name, first part.
    #[serde(default, rename = "OrganizationBPName1")]
    pub organization_bp_name1: Option<String>,
    /// The organization's name, second part.
    #[serde(default, rename = "OrganizationBPName2")]
    pub organization_bp_name2: Option<String>,
    /// The full name SAP composes, used when the organization names are blank.
    #[serde(default)]
    pub business_partner_full_name: Option<String>,
    /// Industry key.
    #[serde(default)]
    pub industry: Option<String>,
    /// Created on (a date, `/Date(ms)/` at midnight UTC).
    #[serde(default)]
    pub creation_date: Option<String>,
    /// Created at (`PT17H49M05S`).
    #[serde(default)]
    pub creation_time: Option<String>,
    /// Last changed on; `null` for a partner never changed.
    #[serde(default)]
    pub last_change_date: Option<String>,
    /// Last changed at.
    #[serde(default)]
    pub last_change_time: Option<String>,
    /// Addresses, the first is the standard address.
    #[serde(default, rename = "to_BusinessPartnerAddress")]
    pub addresses: Option<Expanded<Address>>,
    /// Tax numbers.
    #[serde(default, rename = "to_BusinessPartnerTax")]
    pub tax_numbers: Option<Expanded<TaxNumber>>,
}

/// An address of a business partner.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Address {
    /// ISO 3166-1 alpha-2 country key.
    #[serde(default)]
    pub country: Option<String>,
    /// Email addresses of the address.
    #[serde(default, rename = "to_EmailAddress")]
    pub emails: Option<Expanded<EmailAddress>>,
    /// Web addresses of the address.
    #[serde(default, rename = "to_URLAddress")]
    pub urls: Option<Expanded<UrlAddress>>,
}

/// An email address (`A_AddressEmailAddress`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EmailAddress {
    /// The address.
    #[serde(default)]
    pub email_address: Option<String>,
}

/// A web address (`A_AddressHomePageURL`).
#[derive(Debug, Clone, Deserialize)]
pub struct UrlAddress {
    /// The URL.
    #[serde(default, rename = "WebsiteURL")]
    pub website_url: Option<String>,
}

/// A tax number (`A_BusinessPartnerTaxNumber`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TaxNumber {
    /// The tax number category: country plus a digit (`DE0` VAT
    /// registration number, `DE1` tax number, `US1` EIN).
    #[serde(default, rename = "BPTaxType")]
    pub bp_tax_type: Option<String>,
    /// The number.
    #[serde(default, rename = "BPTaxNumber")]
    pub bp_tax_number: Option<String>,
    /// The number when longer than 20 characters.
    #[serde(default, rename = "BPTaxLongNumber")]
    pub bp_tax_long_number: Option<String>,
}

/// The query of one page of a pass over the partners changed or created on
/// or after the day of `since_ms`, in partner-number order.
///
/// `LastChangeDate` and `CreationDate` are dates (their times are separate
/// `Edm.Time` fields that cannot be combined in a filter), so the filter
/// works by day and a pass re-reads the partners of its first day; the host
/// drops what it already holds. A never-changed partner has no
/// `LastChangeDate`, hence the `or`. Paging goes by partner number with
/// `$skip`: a partner that changes during a pass keeps its place, so none is
/// skipped.
pub fn query_url(settings: &Settings, since_ms: i64, skip: u32, top: u32) -> String {
    let day = time::datetime_literal(since_ms);
    let mut query = vec![
        (
            "$filter",
            format!(
                "BusinessPartnerCategory eq '{ORGANIZATION}' and (LastChangeDate ge {day} or CreationDate ge {day})"
            ),
        ),
        ("$expand", EXPAND.to_owned()),
        ("$orderby", "BusinessPartner".to_owned()),
        ("$top", top.to_string()),
    ];
    if skip > 0 {
        query.push(("$skip", skip.to_string()));
    }
    query.push(("$format", "json".to_owned()));
    odata::url(settings, PATH, &query)
}

/// Maps one record of the collection. Returns `None` for a partner that is
/// not an organization.
pub fn account(record: Value) -> Result<Option<Account>, Error> {
    let number = record
        .get("BusinessPartner")
        .and_then(Value::as_str)
        .map(ids::normalize)
        .unwrap_or_default();
    let partner: BusinessPartner = serde_json::from_value(record)
        .map_err(|e| Error::InvalidInput(format!("BusinessPartner `{number}`: {e}")))?;
    if partner.business_partner_category.as_deref().map(str::trim) != Some(ORGANIZATION) {
        return Ok(None);
    }
    map(&partner).map(Some)
}

/// The account of an organization.
pub fn map(partner: &BusinessPartner) -> Result<Account, Error> {
    let id = ids::normalize(&partner.business_partner);
    if id.is_empty() {
        return Err(Error::InvalidInput(
            "a business partner has an empty `BusinessPartner`".to_owned(),
        ));
    }
    let version = version(partner)
        .map_err(|e| Error::InvalidInput(format!("BusinessPartner `{id}`: {}", e.message())))?;
    let name = [
        &partner.organization_bp_name1,
        &partner.organization_bp_name2,
    ]
    .into_iter()
    .filter_map(|part| present(part.as_deref()))
    .collect::<Vec<_>>()
    .join(" ");
    let name = if name.is_empty() {
        present(partner.business_partner_full_name.as_deref()).ok_or_else(|| {
            Error::InvalidInput(format!(
                "BusinessPartner `{id}` has no `OrganizationBPName1` nor `BusinessPartnerFullName`"
            ))
        })?
    } else {
        name
    };
    let addresses = partner
        .addresses
        .as_ref()
        .map(|a| a.results.as_slice())
        .unwrap_or_default();
    Ok(Account {
        id,
        version,
        name,
        domain: domain(addresses),
        tax_id: tax_id(
            partner
                .tax_numbers
                .as_ref()
                .map(|t| t.results.as_slice())
                .unwrap_or_default(),
        ),
        industry: present(partner.industry.as_deref()),
        employees: None,
        annual_revenue: None,
        parent_id: None,
        country: addresses
            .first()
            .and_then(|a| present(a.country.as_deref()))
            .map(|c| c.to_ascii_uppercase()),
        external_refs: Vec::new(),
        attributes: Vec::new(),
    })
}

/// The last change (`LastChangeDate` + `LastChangeTime`) in milliseconds,
/// or the creation (`CreationDate` + `CreationTime`) for a partner never
/// changed.
pub fn version(partner: &BusinessPartner) -> Result<u64, Error> {
    let (date_field, date, time_field, time_of_day) =
        match present(partner.last_change_date.as_deref()) {
            Some(date) => (
                "LastChangeDate",
                date,
                "LastChangeTime",
                partner.last_change_time.as_deref(),
            ),
            None => (
                "CreationDate",
                present(partner.creation_date.as_deref()).ok_or_else(|| {
                    Error::InvalidInput(
                        "neither `LastChangeDate` nor `CreationDate` is set".to_owned(),
                    )
                })?,
                "CreationTime",
                partner.creation_time.as_deref(),
            ),
        };
    let day = time::parse_date(date_field, &date)?;
    let in_day = match present(time_of_day) {
        Some(t) => time::parse_time_of_day(time_field, &t)?,
        None => 0,
    };
    u64::try_from(time::start_of_day(day) + in_day)
        .map_err(|_| Error::InvalidInput(format!("`{date_field}` `{date}` is before 1970")))
}

/// The VAT registration number if the partner has one (a category ending
/// in `0`, such as `DE0`), else its first tax number.
pub fn tax_id(numbers: &[TaxNumber]) -> Option<String> {
    let number = |t: &TaxNumber| {
        present(t.bp_tax_number.as_deref()).or_else(|| present(t.bp_tax_long_number.as_deref()))
    };
    numbers
        .iter()
        .filter(|t| {
            t.bp_tax_type
                .as_deref()
                .is_some_and(|k| k.trim().ends_with('0'))
        })
        .find_map(number)
        .or_else(|| numbers.iter().find_map(number))
}

/// The business domain: the host of the first web address, else the domain
/// of the first email address that is not free mail. Lower case, without
/// `www.`.
pub fn domain(addresses: &[Address]) -> Option<String> {
    let from_url = addresses
        .iter()
        .flat_map(|a| a.urls.iter().flat_map(|u| &u.results))
        .find_map(|u| present(u.website_url.as_deref()))
        .and_then(|url| {
            let rest = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest);
            let host = rest.split(['/', '?', '#', ':']).next().unwrap_or_default();
            clean_domain(host)
        });
    from_url.or_else(|| {
        addresses
            .iter()
            .flat_map(|a| a.emails.iter().flat_map(|e| &e.results))
            .filter_map(|e| present(e.email_address.as_deref()))
            .filter_map(|email| email.rsplit_once('@').and_then(|(_, d)| clean_domain(d)))
            .find(|d| !FREE_MAIL.contains(&d.as_str()))
    })
}

/// A lower-case domain without `www.`, if it looks like one.
fn clean_domain(host: &str) -> Option<String> {
    let host = host.trim().trim_end_matches('.').to_ascii_lowercase();
    let host = host.strip_prefix("www.").unwrap_or(&host);
    (host.contains('.') && !host.starts_with('.')).then(|| host.to_owned())
}
