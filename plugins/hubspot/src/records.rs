//! Records of one type, with their associations, become events: the step
//! that polling and webhooks share.

use std::collections::BTreeMap;

use loyalty_sdk::host;
use loyalty_sdk::types::{Error, Event};

use crate::associations::{self, Related};
use crate::crm::{CrmObject, ObjectType};
use crate::ids::Id;
use crate::settings::Settings;
use crate::{company, contact, deal, feedback, line_item};

/// The properties to read for records of a type.
pub fn properties(settings: &Settings, kind: ObjectType) -> Vec<String> {
    let fixed: &[&str] = match kind {
        ObjectType::Company => return company::properties(settings),
        ObjectType::LineItem => return line_item::properties(settings),
        ObjectType::Deal => return deal::properties(settings),
        ObjectType::Contact => contact::PROPERTIES,
        ObjectType::FeedbackSubmission => feedback::PROPERTIES,
    };
    fixed.iter().map(|s| (*s).to_owned()).collect()
}

/// The associated types a record of this type is read with.
pub fn associated_types(kind: ObjectType) -> &'static [ObjectType] {
    match kind {
        ObjectType::Contact => &[ObjectType::Company],
        ObjectType::Deal => &[
            ObjectType::Company,
            ObjectType::Contact,
            ObjectType::LineItem,
        ],
        ObjectType::FeedbackSubmission => &[ObjectType::Contact],
        ObjectType::Company | ObjectType::LineItem => &[],
    }
}

/// Reads the associations of the records `ids` with the v4 batch API.
pub fn read_related(
    settings: &Settings,
    kind: ObjectType,
    ids: &[Id],
) -> Result<BTreeMap<Id, Related>, Error> {
    let mut related = BTreeMap::new();
    if ids.is_empty() {
        return Ok(related);
    }
    for to in associated_types(kind) {
        associations::read(settings, kind, *to, ids, &mut related)?;
    }
    Ok(related)
}

/// The events for records of one type. Deals read their line items; feedback
/// submissions read their contact's company, and a submission that cannot
/// be tied to a company is left out with a warning.
pub fn to_events(
    settings: &Settings,
    kind: ObjectType,
    objects: &[CrmObject],
    related: &BTreeMap<Id, Related>,
) -> Result<Vec<Event>, Error> {
    let none = Related::default();
    let related_of = |id: &Id| related.get(id).unwrap_or(&none);
    match kind {
        ObjectType::Company => objects
            .iter()
            .map(|o| company::to_event(o, settings))
            .collect(),
        ObjectType::Contact => {
            let mut events = Vec::with_capacity(objects.len());
            for object in objects {
                events.extend(contact::to_events(object, related_of(&object.id))?);
            }
            Ok(events)
        }
        ObjectType::Deal => {
            let mut item_ids: Vec<Id> = objects
                .iter()
                .flat_map(|o| related_of(&o.id).of(ObjectType::LineItem))
                .map(|l| l.id.clone())
                .collect();
            item_ids.sort();
            item_ids.dedup();
            let items = if item_ids.is_empty() {
                BTreeMap::new()
            } else {
                line_item::read(settings, &item_ids)?
            };
            objects
                .iter()
                .map(|o| deal::to_event(o, related_of(&o.id), &items, settings))
                .collect()
        }
        ObjectType::FeedbackSubmission => {
            let mut contact_ids: Vec<Id> = objects
                .iter()
                .filter_map(|o| related_of(&o.id).contact().cloned())
                .collect();
            contact_ids.sort();
            contact_ids.dedup();
            let mut companies = BTreeMap::new();
            if !contact_ids.is_empty() {
                associations::read(
                    settings,
                    ObjectType::Contact,
                    ObjectType::Company,
                    &contact_ids,
                    &mut companies,
                )?;
            }
            let mut events = Vec::new();
            for object in objects {
                let contact = related_of(&object.id).contact();
                let account = contact
                    .and_then(|c| companies.get(c))
                    .and_then(Related::company);
                if account.is_none() {
                    host::warn(&format!(
                        "HubSpot feedback submission {} is left out: {}",
                        object.id,
                        match contact {
                            Some(c) => format!("its contact {c} has no company"),
                            None => "it has no contact".to_owned(),
                        }
                    ));
                    continue;
                }
                events.push(feedback::to_event(object, contact, account)?);
            }
            Ok(events)
        }
        ObjectType::LineItem => Err(Error::Permanent(
            "line items are read with their deals, not on their own".to_owned(),
        )),
    }
}
