//! CRM records as HubSpot's v3 object APIs return them, and the typed
//! reading of their properties.
//!
//! Every property value is a string or `null` (`"amount": "5000.00"`,
//! `"hs_is_closed_won": "true"`), whatever the property's type in the
//! portal. Reading one as a number, a datetime or a boolean happens here,
//! and a value that does not read is `invalid-input` naming the record and
//! the property.

use std::collections::BTreeMap;

use loyalty_sdk::decimal::parse_decimal;
use loyalty_sdk::types::Error;
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer};

use crate::ids::Id;
use crate::time::parse_ms;

/// The CRM object types the connector reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ObjectType {
    /// `companies` (0-2): accounts.
    Company,
    /// `contacts` (0-1): contacts.
    Contact,
    /// `deals` (0-3): purchases.
    Deal,
    /// `line_items` (0-8): purchase lines.
    LineItem,
    /// `feedback_submissions` (0-19): survey answers.
    FeedbackSubmission,
}

impl ObjectType {
    /// The name in API paths (`/crm/v3/objects/{name}`).
    pub fn path(self) -> &'static str {
        match self {
            Self::Company => "companies",
            Self::Contact => "contacts",
            Self::Deal => "deals",
            Self::LineItem => "line_items",
            Self::FeedbackSubmission => "feedback_submissions",
        }
    }

    /// The type for a name in API paths.
    pub fn from_path(name: &str) -> Option<Self> {
        [
            Self::Company,
            Self::Contact,
            Self::Deal,
            Self::LineItem,
            Self::FeedbackSubmission,
        ]
        .into_iter()
        .find(|t| t.path() == name)
    }

    /// The singular name, as in messages and association type names
    /// (`contact_to_company`).
    pub fn singular(self) -> &'static str {
        match self {
            Self::Company => "company",
            Self::Contact => "contact",
            Self::Deal => "deal",
            Self::LineItem => "line_item",
            Self::FeedbackSubmission => "feedback_submission",
        }
    }

    /// The property holding the last change: `lastmodifieddate` for
    /// contacts, `hs_lastmodifieddate` for every other type.
    pub fn modified_property(self) -> &'static str {
        match self {
            Self::Contact => "lastmodifieddate",
            _ => "hs_lastmodifieddate",
        }
    }

    /// The property holding the creation time.
    pub fn created_property(self) -> &'static str {
        match self {
            Self::Company | Self::Contact | Self::Deal => "createdate",
            Self::LineItem | Self::FeedbackSubmission => "hs_createdate",
        }
    }
}

/// One CRM record: `{"id","properties":{...},"createdAt","updatedAt","archived"}`,
/// with `associations` when read by id with `associations=...`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CrmObject {
    /// The record id.
    pub id: Id,
    /// Property values, `None` for `null`.
    #[serde(default, deserialize_with = "properties")]
    pub properties: BTreeMap<String, Option<String>>,
    /// Creation time, ISO 8601.
    #[serde(default)]
    pub created_at: Option<String>,
    /// Last change, ISO 8601.
    #[serde(default)]
    pub updated_at: Option<String>,
    /// Whether the record is in the recycle bin.
    #[serde(default)]
    pub archived: bool,
    /// Associated records by target type (`companies`), v3 form.
    #[serde(default)]
    pub associations: BTreeMap<String, AssociationList>,
}

/// The v3 form of a record's associations of one target type.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AssociationList {
    /// `[{"id": "123", "type": "contact_to_company"}]`.
    #[serde(default)]
    pub results: Vec<AssociationEntry>,
}

/// One association in the v3 form.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AssociationEntry {
    /// The associated record.
    pub id: Id,
    /// The association type's name (`contact_to_company` for the primary
    /// company, `contact_to_company_unlabeled` for the others).
    #[serde(default, rename = "type")]
    pub kind: String,
}

/// Reads property values that are strings or `null`; a number or boolean
/// (which HubSpot does not send, but a hand-made payload might) keeps its
/// JSON text.
fn properties<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, Option<String>>, D::Error> {
    let raw = BTreeMap::<String, serde_json::Value>::deserialize(deserializer)?;
    Ok(raw
        .into_iter()
        .map(|(name, value)| {
            let text = match value {
                serde_json::Value::Null => None,
                serde_json::Value::String(s) => Some(s),
                other => Some(other.to_string()),
            };
            (name, text)
        })
        .collect())
}

impl CrmObject {
    /// A property's trimmed value; `None` when absent, `null` or blank.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.properties
            .get(name)
            .and_then(Option::as_deref)
            .map(str::trim)
            .filter(|v| !v.is_empty())
    }

    /// Whether a boolean property is `"true"`.
    pub fn is_true(&self, name: &str) -> bool {
        self.text(name)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    /// A decimal property, exactly.
    pub fn decimal(&self, kind: ObjectType, name: &str) -> Result<Option<Decimal>, Error> {
        self.text(name)
            .map(|text| {
                parse_decimal(text)
                    .map_err(|_| self.malformed(kind, name, text, "a decimal number"))
            })
            .transpose()
    }

    /// A datetime property in UTC milliseconds.
    pub fn timestamp(&self, kind: ObjectType, name: &str) -> Result<Option<i64>, Error> {
        self.text(name)
            .map(|text| {
                parse_ms(text).ok_or_else(|| self.malformed(kind, name, text, "a datetime"))
            })
            .transpose()
    }

    /// An id property (`hs_parent_company_id`).
    pub fn id_property(&self, kind: ObjectType, name: &str) -> Result<Option<Id>, Error> {
        self.text(name)
            .map(|text| {
                Id::parse(text).ok_or_else(|| self.malformed(kind, name, text, "a record id"))
            })
            .transpose()
    }

    /// When the record last changed, in milliseconds: the entity version.
    /// Read from the type's modified property, else from `updatedAt`.
    pub fn modified_ms(&self, kind: ObjectType) -> Result<i64, Error> {
        if let Some(ms) = self.timestamp(kind, kind.modified_property())? {
            return Ok(ms);
        }
        match self.updated_at.as_deref().map(str::trim) {
            Some(text) => parse_ms(text).ok_or_else(|| {
                Error::InvalidInput(format!(
                    "HubSpot {} {}: `updatedAt` is `{text}`, not a datetime",
                    kind.singular(),
                    self.id
                ))
            }),
            None => Err(Error::InvalidInput(format!(
                "HubSpot {} {} has neither `{}` nor `updatedAt`; its version is unknown",
                kind.singular(),
                self.id,
                kind.modified_property()
            ))),
        }
    }

    /// [`CrmObject::modified_ms`] as an entity version.
    pub fn version(&self, kind: ObjectType) -> Result<u64, Error> {
        let ms = self.modified_ms(kind)?;
        u64::try_from(ms).map_err(|_| {
            Error::InvalidInput(format!(
                "HubSpot {} {}: last change {ms} is before 1970",
                kind.singular(),
                self.id
            ))
        })
    }

    /// When the record was created, in milliseconds, if known.
    pub fn created_ms(&self, kind: ObjectType) -> Result<Option<i64>, Error> {
        if let Some(ms) = self.timestamp(kind, kind.created_property())? {
            return Ok(Some(ms));
        }
        Ok(self.created_at.as_deref().and_then(parse_ms))
    }

    /// The error for a property value that does not read as `expected`.
    pub fn malformed(&self, kind: ObjectType, name: &str, value: &str, expected: &str) -> Error {
        Error::InvalidInput(format!(
            "HubSpot {} {}: property `{name}` is `{value}`, expected {expected}",
            kind.singular(),
            self.id
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(json: &str) -> CrmObject {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn string_properties_read_as_typed_values() {
        let deal = object(
            r#"{"id":"77","properties":{"amount":"5000.10","hs_is_closed_won":"true","closedate":"2026-03-02T08:00:00Z","dealname":null,"hs_lastmodifieddate":"2026-03-02T09:00:00.250Z","blank":"  "},"createdAt":"2026-03-01T00:00:00Z","updatedAt":"2026-03-02T09:00:00.250Z","archived":false}"#,
        );
        assert_eq!(
            deal.decimal(ObjectType::Deal, "amount").unwrap(),
            Some(Decimal::new(500_010, 2))
        );
        assert!(deal.is_true("hs_is_closed_won"));
        assert!(!deal.is_true("hs_is_closed_lost"));
        assert_eq!(deal.text("dealname"), None);
        assert_eq!(deal.text("blank"), None);
        assert_eq!(deal.version(ObjectType::Deal).unwrap(), 1_772_442_000_250);
        assert_eq!(
            deal.created_ms(ObjectType::Deal).unwrap(),
            Some(1_772_323_200_000)
        );
    }

    #[test]
    fn malformed_values_name_the_record_and_property() {
        let deal = object(r#"{"id":"77","properties":{"amount":"5.000,10","closedate":"soon"}}"#);
        for error in [
            deal.decimal(ObjectType::Deal, "amount").unwrap_err(),
            deal.timestamp(ObjectType::Deal, "closedate").unwrap_err(),
            deal.version(ObjectType::Deal).unwrap_err(),
        ] {
            match error {
                Error::InvalidInput(m) => assert!(m.contains("deal 77"), "{m}"),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn contacts_are_versioned_by_lastmodifieddate() {
        let contact = object(
            r#"{"id":"5","properties":{"lastmodifieddate":"2026-01-01T00:00:00Z","hs_lastmodifieddate":"2030-01-01T00:00:00Z"}}"#,
        );
        assert_eq!(
            contact.version(ObjectType::Contact).unwrap(),
            1_767_225_600_000
        );
        assert_eq!(
            ObjectType::from_path("feedback_submissions"),
            Some(ObjectType::FeedbackSubmission)
        );
        assert_eq!(ObjectType::from_path("tickets"), None);
    }
}
