//! Converts events from the WIT contract into core events, validating what a
//! connector could get wrong: decimal syntax, currency codes, negative
//! amounts. A connector that emits an invalid event fails that delivery with
//! a message naming the event and the field.

use rust_decimal::Decimal;

use crate::core::event::{self as core, Money};
use crate::runtime::wit::latest::loyalty::connector::types as wit;

/// The largest amount an event may carry, in currency units. Far above any
/// real order, and low enough that sums and products of amounts, rates and
/// point factors never overflow exact decimal arithmetic.
pub const AMOUNT_MAX: i64 = 1_000_000_000_000_000;

/// Why an event from a connector is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} `{id}`: {field}: {problem}")]
pub struct InvalidEvent {
    /// The event kind.
    pub kind: &'static str,
    /// The source id of the event.
    pub id: String,
    /// The field at fault.
    pub field: &'static str,
    /// What is wrong.
    pub problem: String,
}

/// Parses an exact decimal, exponent notation included, never through floats.
pub fn parse_decimal(text: &str) -> Result<Decimal, String> {
    let text = text.trim();
    let parsed = if text.contains(['e', 'E']) {
        Decimal::from_scientific(text).map(|d| d.normalize())
    } else {
        Decimal::from_str_exact(text)
    };
    parsed.map_err(|e| format!("`{text}` is not a decimal number ({e})"))
}

fn money(
    kind: &'static str,
    id: &str,
    field: &'static str,
    m: &wit::Money,
) -> Result<Money, InvalidEvent> {
    let fail = |problem: String| InvalidEvent {
        kind,
        id: id.to_owned(),
        field,
        problem,
    };
    let amount = parse_decimal(&m.amount).map_err(fail)?;
    if amount.abs() > Decimal::from(AMOUNT_MAX) {
        return Err(fail(format!(
            "{amount} is beyond the largest amount accepted ({AMOUNT_MAX})"
        )));
    }
    let currency = m.currency.trim().to_ascii_uppercase();
    if iso_currency::Currency::from_code(&currency).is_none() {
        return Err(fail(format!(
            "`{}` is not an ISO 4217 currency code",
            m.currency
        )));
    }
    Ok(Money { amount, currency })
}

fn non_empty(kind: &'static str, id: &str) -> Result<(), InvalidEvent> {
    if id.trim().is_empty() {
        return Err(InvalidEvent {
            kind,
            id: id.to_owned(),
            field: "id",
            problem: "is empty".to_owned(),
        });
    }
    Ok(())
}

/// Converts one event.
pub fn to_core(event: &wit::Event) -> Result<core::Event, InvalidEvent> {
    Ok(match event {
        wit::Event::Account(a) => {
            non_empty("account", &a.id)?;
            core::Event::Account(core::AccountUpsert {
                source_id: a.id.clone(),
                version: a.version,
                name: a.name.clone(),
                domain: a.domain.as_ref().map(|d| d.trim().to_ascii_lowercase()),
                tax_id: a.tax_id.clone(),
                industry: a.industry.clone(),
                employees: a.employees,
                annual_revenue: a
                    .annual_revenue
                    .as_ref()
                    .map(|m| money("account", &a.id, "annual-revenue", m))
                    .transpose()?,
                country: a.country.clone(),
                external_refs: a
                    .external_refs
                    .iter()
                    .map(|r| (r.system.clone(), r.id.clone()))
                    .collect(),
            })
        }
        wit::Event::Contact(c) => {
            non_empty("contact", &c.id)?;
            core::Event::Contact(core::ContactUpsert {
                source_id: c.id.clone(),
                version: c.version,
                account_id: c.account_id.clone(),
                email: c.email.as_ref().map(|e| e.trim().to_ascii_lowercase()),
                first_name: c.first_name.clone(),
                last_name: c.last_name.clone(),
                role: c.role.clone(),
            })
        }
        wit::Event::Purchase(p) => {
            non_empty("purchase", &p.id)?;
            let net_amount = money("purchase", &p.id, "net-amount", &p.net_amount)?;
            if net_amount.amount.is_sign_negative() && !net_amount.amount.is_zero() {
                return Err(InvalidEvent {
                    kind: "purchase",
                    id: p.id.clone(),
                    field: "net-amount",
                    problem: format!("is negative ({})", net_amount.amount),
                });
            }
            money("purchase", &p.id, "total-amount", &p.total_amount)?;
            core::Event::Purchase(core::Purchase {
                source_id: p.id.clone(),
                version: p.version,
                account_id: p.account_id.clone(),
                contact_id: p.contact_id.clone(),
                status: match p.status {
                    wit::PurchaseStatus::Pending => core::PurchaseStatus::Pending,
                    wit::PurchaseStatus::Paid => core::PurchaseStatus::Paid,
                    wit::PurchaseStatus::Cancelled => core::PurchaseStatus::Cancelled,
                },
                placed_at: p.placed_at,
                net_amount,
                lines: p
                    .lines
                    .iter()
                    .map(|l| {
                        Ok(core::PurchaseLine {
                            id: l.id.clone(),
                            sku: l.sku.clone(),
                            category: l.category.clone(),
                            quantity: l.quantity,
                            net_amount: money(
                                "purchase",
                                &p.id,
                                "lines.net-amount",
                                &l.net_amount,
                            )?,
                        })
                    })
                    .collect::<Result<_, InvalidEvent>>()?,
                referral_code: p.referral_code.clone(),
            })
        }
        wit::Event::Refund(r) => {
            non_empty("refund", &r.id)?;
            core::Event::Refund(core::Refund {
                source_id: r.id.clone(),
                version: r.version,
                purchase_id: r.purchase_id.clone(),
                net_amount: money("refund", &r.id, "net-amount", &r.net_amount)?,
                refunded_at: r.refunded_at,
                lines: r
                    .lines
                    .iter()
                    .map(|l| {
                        Ok(core::RefundLine {
                            line_id: l.line_id.clone(),
                            quantity: l.quantity,
                            net_amount: money("refund", &r.id, "lines.net-amount", &l.net_amount)?,
                        })
                    })
                    .collect::<Result<_, InvalidEvent>>()?,
            })
        }
        wit::Event::Contract(c) => {
            non_empty("contract", &c.id)?;
            non_empty("contract", &c.account_id).map_err(|e| InvalidEvent {
                id: c.id.clone(),
                field: "account-id",
                ..e
            })?;
            core::Event::Contract(core::Contract {
                source_id: c.id.clone(),
                version: c.version,
                account_id: c.account_id.clone(),
                status: match c.status {
                    wit::ContractStatus::Draft => core::ContractStatus::Draft,
                    wit::ContractStatus::Active => core::ContractStatus::Active,
                    wit::ContractStatus::Expired => core::ContractStatus::Expired,
                    wit::ContractStatus::Cancelled => core::ContractStatus::Cancelled,
                },
                name: c.name.clone(),
                starts_at: c.starts_at,
                ends_at: c.ends_at,
                value: c
                    .value
                    .as_ref()
                    .map(|v| money("contract", &c.id, "value", v))
                    .transpose()?,
            })
        }
        wit::Event::Engagement(e) => {
            non_empty("engagement", &e.id)?;
            if e.account_id.is_none() && e.contact_id.is_none() {
                return Err(InvalidEvent {
                    kind: "engagement",
                    id: e.id.clone(),
                    field: "account-id",
                    problem: "neither an account nor a contact is named".to_owned(),
                });
            }
            let action = match &e.kind {
                wit::EngagementKind::NpsResponse(score) if *score > 10 => {
                    return Err(InvalidEvent {
                        kind: "engagement",
                        id: e.id.clone(),
                        field: "kind",
                        problem: format!("NPS score {score} is not between 0 and 10"),
                    });
                }
                wit::EngagementKind::NpsResponse(score) => {
                    core::EngagementAction::NpsResponse(*score)
                }
                wit::EngagementKind::SurveyAnswered(n) => {
                    core::EngagementAction::SurveyAnswered(n.clone())
                }
                wit::EngagementKind::EventAttended(n) => {
                    core::EngagementAction::EventAttended(n.clone())
                }
                wit::EngagementKind::SocialAction(n) => {
                    core::EngagementAction::SocialAction(n.clone())
                }
                wit::EngagementKind::FormSubmitted(n) => {
                    core::EngagementAction::FormSubmitted(n.clone())
                }
                wit::EngagementKind::Other(n) => core::EngagementAction::Other(n.clone()),
            };
            core::Event::Engagement(core::Engagement {
                source_id: e.id.clone(),
                version: e.version,
                account_id: e.account_id.clone(),
                contact_id: e.contact_id.clone(),
                action,
                occurred_at: e.occurred_at,
                comment: e.comment.clone(),
            })
        }
        wit::Event::Deleted(d) => core::Event::NotYetHandled {
            kind: "deletion",
            source_id: d.id.clone(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refund(amount: &str, currency: &str) -> wit::Event {
        wit::Event::Refund(wit::Refund {
            id: "r1".to_owned(),
            version: 1,
            purchase_id: "o1".to_owned(),
            net_amount: wit::Money {
                amount: amount.to_owned(),
                currency: currency.to_owned(),
            },
            refunded_at: 0,
            lines: Vec::new(),
        })
    }

    #[test]
    fn money_is_exact_and_currencies_are_checked() {
        let core::Event::Refund(r) = to_core(&refund("1.285E3", "eur")).unwrap() else {
            panic!()
        };
        assert_eq!(
            (r.net_amount.amount, r.net_amount.currency.as_str()),
            (Decimal::new(1285, 0), "EUR")
        );
        let err = to_core(&refund("10", "EUX")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid refund `r1`: net-amount: `EUX` is not an ISO 4217 currency code"
        );
        let err = to_core(&refund("2E15", "EUR")).unwrap_err();
        assert!(
            err.to_string()
                .contains("beyond the largest amount accepted"),
            "{err}"
        );
        let err = to_core(&refund("1,5", "EUR")).unwrap_err();
        assert!(
            err.to_string().contains("`1,5` is not a decimal number"),
            "{err}"
        );
    }
}
