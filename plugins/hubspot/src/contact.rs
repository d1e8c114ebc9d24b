//! Contacts become contacts of the account of their primary company.

use loyalty_sdk::types::{Attribute, Contact, Error, Event};

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
    "createdate",
    "lastmodifieddate",
];

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
