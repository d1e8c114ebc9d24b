//! Campaign members: a contact who attended an event.
//!
//! Salesforce tracks event attendance as campaign members whose `Status` is
//! a "responded" value such as `Attended` (setting `attended_status`). The
//! query selects only those; each becomes one `event-attended(<campaign
//! name>)` engagement, which the engine counts once per member id.

use loyalty_sdk::types::{Engagement, EngagementKind, Error, Event};

use crate::record::Record;

/// An attended CampaignMember as an engagement, or `None` for a lead (a
/// member without a contact), whom the engine cannot attribute to an
/// account.
pub fn engagement(record: &Record<'_>) -> Result<Option<Event>, Error> {
    let Some(contact_id) = record.text("ContactId")? else {
        return Ok(None);
    };
    let campaign = match record.text("Campaign.Name")? {
        Some(name) => name,
        None => record.required_text("CampaignId")?,
    };
    let occurred_at = match record.date("FirstRespondedDate")? {
        Some(day) => day,
        None => record.modstamp()?,
    };
    Ok(Some(Event::Engagement(Engagement {
        id: record.id().to_owned(),
        version: record.version()?,
        account_id: record.text("Contact.AccountId")?,
        contact_id: Some(contact_id),
        kind: EngagementKind::EventAttended(campaign),
        occurred_at,
        comment: None,
        attributes: Vec::new(),
    })))
}
