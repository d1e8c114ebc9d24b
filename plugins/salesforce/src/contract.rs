//! Contracts: a contract event whenever one changes, so that membership can
//! follow the contract.

use loyalty_sdk::types::{Contract, ContractStatus, Error, Event};

use crate::record::Record;
use crate::timestamp::MS_PER_DAY;

/// A Contract record as a contract event.
///
/// `StatusCode` is the status category every custom `Status` value belongs
/// to: `Draft` and `InApproval` are drafts, `Activated` is in force,
/// `Expired` ran out and `Terminated` ended early.
pub fn contract(record: &Record<'_>) -> Result<Event, Error> {
    let status = match record.required_text("StatusCode")?.as_str() {
        "Draft" | "InApproval" => ContractStatus::Draft,
        "Activated" => ContractStatus::Active,
        "Expired" => ContractStatus::Expired,
        "Terminated" => ContractStatus::Cancelled,
        other => {
            return Err(record.invalid(
                "StatusCode",
                format!("`{other}` is not Draft, InApproval, Activated, Expired or Terminated"),
            ));
        }
    };
    let name = match record.text("Name")? {
        Some(name) => Some(name),
        None => record.text("ContractNumber")?,
    };
    Ok(Event::Contract(Contract {
        id: record.id().to_owned(),
        version: record.version()?,
        account_id: record.required_text("AccountId")?,
        status,
        name,
        starts_at: record.date("StartDate")?,
        // `EndDate` is the last day in force: it ends at that day's last
        // millisecond.
        ends_at: record.date("EndDate")?.map(|day| day + MS_PER_DAY - 1),
        value: None,
    }))
}
