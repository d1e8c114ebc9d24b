//! Customer-specific discounts as sales pricing condition records
//! (`API_SLSPRICINGCONDITIONRECORD_SRV`).
//!
//! A condition record is created the way the API documents it: a POST of
//! its validity (`A_SlsPrcgCndnRecdValidity`: the condition type, the key
//! fields sales organization, distribution channel and customer, and the
//! validity period) with the record itself (`to_SlsPrcgConditionRecord`:
//! the rate and its unit) in one deep insert. SAP answers the created
//! validity with the record's number, `ConditionRecord`.
//!
//! The write goes through the `api` credential with `csrf = true`: the host
//! fetches SAP's CSRF token and session cookie and sends them; the
//! connector never sees either.

use loyalty_sdk::decimal::parse_decimal;
use loyalty_sdk::http::Request;
use loyalty_sdk::types::{Error, Offer};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::json;

use crate::ids;
use crate::odata::{self, present};
use crate::settings::{CREDENTIAL, Settings};
use crate::time;

/// The entity set's path below `base_url`.
pub const PATH: &str =
    "/sap/opu/odata/sap/API_SLSPRICINGCONDITIONRECORD_SRV/A_SlsPrcgCndnRecdValidity";

/// The unit of a percentage rate.
pub const PERCENT: &str = "%";

/// A discount to grant: a rate and its unit, under a condition type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discount {
    /// The condition type.
    pub condition_type: String,
    /// The rate: a percentage or an amount.
    pub rate: Decimal,
    /// `%`, or the amount's currency.
    pub unit: String,
    /// First day of validity, UTC midnight in ms.
    pub valid_from_ms: i64,
    /// Last day of validity (inclusive), UTC midnight in ms.
    pub valid_to_ms: i64,
}

impl Discount {
    /// The discount of an offer, valid from today until the offer ends
    /// (SAP's last day, 9999-12-31, when it never ends). A percentage is
    /// preferred to an amount when the offer has both.
    pub fn from_offer(settings: &Settings, offer: &Offer, now_ms: i64) -> Result<Self, Error> {
        let (condition_type, rate, unit) = match (&offer.percent_off, &offer.amount_off) {
            (Some(percent), _) => {
                let rate = parse_decimal(percent).map_err(|_| {
                    Error::InvalidInput(format!(
                        "offer `{}`: `percent_off` `{percent}` is not a decimal number",
                        offer.id
                    ))
                })?;
                if rate <= Decimal::ZERO || rate > Decimal::ONE_HUNDRED {
                    return Err(Error::InvalidInput(format!(
                        "offer `{}`: `percent_off` `{percent}` is not between 0 and 100",
                        offer.id
                    )));
                }
                (settings.condition_type.clone(), rate, PERCENT.to_owned())
            }
            (None, Some(amount)) => {
                let rate = parse_decimal(&amount.amount).map_err(|_| {
                    Error::InvalidInput(format!(
                        "offer `{}`: `amount_off` `{}` is not a decimal number",
                        offer.id, amount.amount
                    ))
                })?;
                if rate <= Decimal::ZERO {
                    return Err(Error::InvalidInput(format!(
                        "offer `{}`: `amount_off` `{}` is not positive",
                        offer.id, amount.amount
                    )));
                }
                (
                    settings.amount_condition_type.clone(),
                    rate,
                    amount.currency.trim().to_ascii_uppercase(),
                )
            }
            (None, None) => {
                return Err(Error::InvalidInput(format!(
                    "offer `{}` has neither `percent_off` nor `amount_off`: a condition record needs a rate",
                    offer.id
                )));
            }
        };
        let valid_from_ms = time::start_of_day(now_ms);
        // An offer ending at midnight is last valid the day before.
        let valid_to_ms = offer
            .ends_at
            .map_or(time::END_OF_TIME_MS, |end| time::start_of_day(end - 1));
        if valid_to_ms < valid_from_ms {
            return Err(Error::InvalidInput(format!(
                "offer `{}` has ended: its last day is before today",
                offer.id
            )));
        }
        Ok(Self {
            condition_type,
            rate,
            unit,
            valid_from_ms,
            valid_to_ms,
        })
    }
}

/// The request body of a condition record for `customer`.
pub fn body(
    settings: &Settings,
    customer: &str,
    discount: &Discount,
) -> Result<serde_json::Value, Error> {
    let (sales_organization, distribution_channel) = settings.sales_area()?;
    Ok(json!({
        "ConditionType": discount.condition_type,
        "ConditionValidityStartDate": time::format_date(discount.valid_from_ms),
        "ConditionValidityEndDate": time::format_date(discount.valid_to_ms),
        "SalesOrganization": sales_organization,
        "DistributionChannel": distribution_channel,
        "Customer": customer,
        "to_SlsPrcgConditionRecord": {
            "ConditionType": discount.condition_type,
            "ConditionRateValue": discount.rate.normalize().to_string(),
            "ConditionRateValueUnit": discount.unit,
        },
    }))
}

#[derive(Deserialize)]
struct Created {
    d: CreatedValidity,
}

#[derive(Deserialize)]
struct CreatedValidity {
    #[serde(rename = "ConditionRecord")]
    condition_record: Option<String>,
}

/// Creates a condition record. `Ok(Ok(number))` is the created record's
/// number; `Ok(Err(reason))` is SAP refusing this record (a 4xx other than
/// 401, 403 and 429, with SAP's message); `Err` is a failure of the call
/// as a whole (credentials, rate limit, outage, settings).
pub fn create(
    settings: &Settings,
    customer: &str,
    discount: &Discount,
    idempotency_key: &str,
) -> Result<Result<String, String>, Error> {
    let body = body(settings, customer, discount)?;
    let url = odata::url(settings, PATH, &[]);
    let response = Request::post(&url)
        .header("Accept", "application/json")
        .credential(CREDENTIAL)
        .idempotency_key(idempotency_key)
        .json(&body)?
        .send()?;
    let what = format!("creating a condition record for customer `{customer}`");
    match response.status {
        200..=299 => {
            let created: Created = loyalty_sdk::json::parse(&response.body)
                .map_err(|e| Error::InvalidInput(format!("{what}: {}", e.message())))?;
            present(created.d.condition_record.as_deref())
                .map(|number| Ok(ids::normalize(&number)))
                .ok_or_else(|| {
                    Error::InvalidInput(format!("{what}: SAP's answer has no `ConditionRecord`"))
                })
        }
        401 | 403 | 429 => Err(odata::status_error(&what, &response)),
        400..=499 => Ok(Err(odata::error_message(&response.body).unwrap_or_else(
            || {
                format!(
                    "HTTP {}: {}",
                    response.status,
                    String::from_utf8_lossy(&response.body).trim()
                )
            },
        ))),
        _ => Err(odata::status_error(&what, &response)),
    }
}
