//! Contacts become contacts of the account of their primary company. A
//! contact's most recent form submission (HubSpot's "recent conversion",
//! kept on the contact) becomes a `form-submitted` engagement, once per
//! submission.

use loyalty_sdk::host;
use loyalty_sdk::types::{Attribute, Contact, Engagement, EngagementKind, Error, Event};

use crate::associations::Related;
use crate::crm::{CrmObject, ObjectType};

const KIND: ObjectType = ObjectType::Contact;

/// The properties read for a contact.
pub const PROPERTIES: &[&str] = &[
    "email",
    "firstname",
    "lastname",
    "jobtitle",
    "lifecyclestage",
    "recent_conversion_event_name",
    "recent_conversion_date",
    "createdate",
    "lastmodifieddate",
];

/// The contact's events: the contact, then its most recent form
/// submission, if it has one and a company to credit.
pub fn to_events(object: &CrmObject, related: &Related) -> Result<Vec<Event>, Error> {
    let mut events = vec![to_event(object, related)?];
    if let Some(form) = form_submission(object, related)? {
        events.push(form);
    }
    Ok(events)
}

/// The `form-submitted` engagement of the contact's recent conversion. Its
/// id is the contact and the submission time, so each submission is one
/// engagement however often the contact is read.
pub fn form_submission(object: &CrmObject, related: &Related) -> Result<Option<Event>, Error> {
    let Some(form) = object.text("recent_conversion_event_name") else {
        return Ok(None);
    };
    let Some(at) = object.timestamp(KIND, "recent_conversion_date")? else {
        return Ok(None);
    };
    let Some(company) = related.company() else {
        host::warn(&format!(
            "HubSpot contact {}: form submission `{form}` left out: the contact has no company to credit",
            object.id
        ));
        return Ok(None);
    };
    let version = u64::try_from(at).map_err(|_| {
        object.malformed(
            KIND,
            "recent_conversion_date",
            &at.to_string(),
            "a date after 1970",
        )
    })?;
    Ok(Some(Event::Engagement(Engagement {
        id: format!("{}/form/{at}", object.id),
        version,
        account_id: Some(company.to_string()),
        contact_id: Some(object.id.to_string()),
        kind: EngagementKind::FormSubmitted(form.to_owned()),
        occurred_at: at,
        comment: None,
        attributes: Vec::new(),
    })))
}

/// The contact event for a contact and its associations.
pub fn to_event(object: &CrmObject, related: &Related) -> Result<Event, Error> {
    let text = |name: &str| object.text(name).map(str::to_owned);
    Ok(Event::Contact(Contact {
        id: object.id.to_string(),
        version: object.version(KIND)?,
        account_id: related.company().map(ToString::to_string),
        email: text("email").map(|e| e.to_ascii_lowercase()),
        first_name: text("firstname"),
        last_name: text("lastname"),
        role: text("jobtitle"),
        attributes: text("lifecyclestage")
            .map(|stage| Attribute {
                name: "lifecyclestage".to_owned(),
                value: stage,
            })
            .into_iter()
            .collect(),
    }))
}
