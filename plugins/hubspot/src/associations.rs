//! Which records belong together: a contact's company, a deal's company,
//! contacts and line items, a feedback submission's contact.
//!
//! CRM search results carry no associations, so a page of search results is
//! followed by one v4 batch read per pair of types
//! (`POST /crm/v4/associations/{from}/{to}/batch/read`). A record read by id
//! with `associations=...` carries them in the v3 form instead. Both become
//! a [`Related`].

use std::collections::BTreeMap;

use loyalty_sdk::host;
use loyalty_sdk::types::Error;
use serde::Deserialize;

use crate::api::Call;
use crate::crm::{CrmObject, ObjectType};
use crate::ids::Id;
use crate::settings::Settings;

/// HubSpot's limit on the inputs of one v4 association batch read.
pub const BATCH_READ_MAX: usize = 1000;

/// One associated record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Linked {
    /// Its id.
    pub id: Id,
    /// Whether the association is the primary one (a contact's or a deal's
    /// primary company).
    pub primary: bool,
}

/// The records associated with one record, by target type, in HubSpot's
/// order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Related {
    by_type: BTreeMap<ObjectType, Vec<Linked>>,
}

impl Related {
    /// Adds an associated record; a repeat (HubSpot lists a primary company
    /// twice, once per association type) only upgrades `primary`.
    pub fn add(&mut self, to: ObjectType, linked: Linked) {
        let list = self.by_type.entry(to).or_default();
        match list.iter_mut().find(|l| l.id == linked.id) {
            Some(existing) => existing.primary |= linked.primary,
            None => list.push(linked),
        }
    }

    /// The associated records of one type.
    pub fn of(&self, to: ObjectType) -> &[Linked] {
        self.by_type.get(&to).map_or(&[], Vec::as_slice)
    }

    /// The primary company, else the first associated company.
    pub fn company(&self) -> Option<&Id> {
        let companies = self.of(ObjectType::Company);
        companies
            .iter()
            .find(|l| l.primary)
            .or_else(|| companies.first())
            .map(|l| &l.id)
    }

    /// The first associated contact.
    pub fn contact(&self) -> Option<&Id> {
        self.of(ObjectType::Contact).first().map(|l| &l.id)
    }

    /// The associations a record read by id carries (the v3 form):
    /// `contact_to_company` is the primary company,
    /// `contact_to_company_unlabeled` any other.
    pub fn from_object(from: ObjectType, object: &CrmObject) -> Self {
        let mut related = Self::default();
        for (name, list) in &object.associations {
            let Some(to) = ObjectType::from_path(name) else {
                continue;
            };
            let primary_name = format!("{}_to_{}", from.singular(), to.singular());
            for entry in &list.results {
                related.add(
                    to,
                    Linked {
                        id: entry.id.clone(),
                        primary: to == ObjectType::Company && entry.kind == primary_name,
                    },
                );
            }
        }
        related
    }
}

/// The v4 batch read body's answer.
#[derive(Debug, Deserialize)]
struct BatchAnswer {
    #[serde(default)]
    results: Vec<BatchResult>,
    #[serde(default)]
    errors: Vec<BatchError>,
}

/// The associations of one input record.
#[derive(Debug, Deserialize)]
struct BatchResult {
    from: FromRecord,
    #[serde(default)]
    to: Vec<ToRecord>,
}

/// `{"id": "123"}`.
#[derive(Debug, Deserialize)]
struct FromRecord {
    id: Id,
}

/// `{"toObjectId": 456, "associationTypes": [...]}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ToRecord {
    to_object_id: Id,
    #[serde(default)]
    association_types: Vec<AssociationType>,
}

/// `{"category": "HUBSPOT_DEFINED", "typeId": 1, "label": "Primary"}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AssociationType {
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    type_id: Option<i64>,
    #[serde(default)]
    label: Option<String>,
}

/// An input HubSpot could not answer for (`NO_ASSOCIATIONS_FOUND` for a
/// record without associations of that type).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BatchError {
    #[serde(default)]
    sub_category: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

/// HubSpot-defined association type ids of a primary company.
fn is_primary(from: ObjectType, to: ObjectType, kind: &AssociationType) -> bool {
    if kind.label.as_deref() == Some("Primary") {
        return true;
    }
    let defined = kind.category.as_deref() == Some("HUBSPOT_DEFINED");
    match (from, to, kind.type_id) {
        // contact_to_company, deal_to_company
        (ObjectType::Contact, ObjectType::Company, Some(1))
        | (ObjectType::Deal, ObjectType::Company, Some(5)) => defined,
        _ => false,
    }
}

/// Reads the associations from the records `ids` of type `from` to records
/// of type `to`, adding them to `related` (keyed by the `from` id).
pub fn read(
    settings: &Settings,
    from: ObjectType,
    to: ObjectType,
    ids: &[Id],
    related: &mut BTreeMap<Id, Related>,
) -> Result<(), Error> {
    for chunk in ids.chunks(BATCH_READ_MAX) {
        let call = Call::post(
            settings,
            format!(
                "/crm/v4/associations/{}/{}/batch/read",
                from.path(),
                to.path()
            ),
        );
        let inputs: Vec<_> = chunk
            .iter()
            .map(|id| serde_json::json!({ "id": id }))
            .collect();
        let answer: BatchAnswer = call.fetch(&serde_json::json!({ "inputs": inputs }))?;
        for result in answer.results {
            let entry = related.entry(result.from.id).or_default();
            for target in result.to {
                let primary = target
                    .association_types
                    .iter()
                    .any(|kind| is_primary(from, to, kind));
                entry.add(
                    to,
                    Linked {
                        id: target.to_object_id,
                        primary,
                    },
                );
            }
        }
        for error in answer.errors {
            if error.sub_category.as_deref() != Some("crm.associations.NO_ASSOCIATIONS_FOUND") {
                host::warn(&format!(
                    "{}: {}",
                    call.describe(),
                    error.message.as_deref().unwrap_or("an input failed")
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_primary_company_wins_over_the_first() {
        let object: CrmObject = serde_json::from_str(
            r#"{"id":"1","properties":{},"associations":{"companies":{"results":[
                {"id":"10","type":"contact_to_company_unlabeled"},
                {"id":"20","type":"contact_to_company"},
                {"id":"20","type":"contact_to_company_unlabeled"}]}}}"#,
        )
        .unwrap();
        let related = Related::from_object(ObjectType::Contact, &object);
        assert_eq!(related.company().map(Id::as_str), Some("20"));
        assert_eq!(related.of(ObjectType::Company).len(), 2);
        assert_eq!(related.contact(), None);
    }

    #[test]
    fn v4_type_ids_mark_the_primary_company() {
        let primary = AssociationType {
            category: Some("HUBSPOT_DEFINED".to_owned()),
            type_id: Some(5),
            label: None,
        };
        assert!(is_primary(ObjectType::Deal, ObjectType::Company, &primary));
        assert!(!is_primary(
            ObjectType::Contact,
            ObjectType::Company,
            &primary
        ));
        let unlabeled = AssociationType {
            category: Some("HUBSPOT_DEFINED".to_owned()),
            type_id: Some(279),
            label: None,
        };
        assert!(!is_primary(
            ObjectType::Contact,
            ObjectType::Company,
            &unlabeled
        ));
    }
}
