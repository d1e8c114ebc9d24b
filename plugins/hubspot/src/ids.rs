//! HubSpot record ids, normalized to their decimal digits.
//!
//! The REST API writes ids as strings (`"id": "512"`), webhooks write them as
//! JSON numbers (`"objectId": 512`), and v4 association answers mix both
//! (`"toObjectId": 512`). They all become the same string of digits, so an
//! object seen through a webhook and through a sync is one entity. No id
//! passes through floating point (serde_json keeps the number's text).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer, de::Error as _};

/// A HubSpot id as its decimal digits (`"512"`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(String);

impl Id {
    /// Reads an id from its decimal text. Leading zeros are kept out: HubSpot
    /// never issues them, and `"0512"` names record 512.
    ///
    /// Returns `None` for anything that is not a run of ASCII digits.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let stripped = text.trim_start_matches('0');
        Some(Self(if stripped.is_empty() {
            "0".to_owned()
        } else {
            stripped.to_owned()
        }))
    }

    /// Reads an id from a JSON string or number.
    pub fn from_json(value: &serde_json::Value) -> Option<Self> {
        match value {
            serde_json::Value::String(s) => Self::parse(s),
            serde_json::Value::Number(n) => Self::parse(&n.to_string()),
            _ => None,
        }
    }

    /// The decimal digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<Id> for String {
    fn from(id: Id) -> Self {
        id.0
    }
}

/// Accepts a JSON number or a decimal string.
impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        Self::from_json(&value).ok_or_else(|| {
            D::Error::custom(format!(
                "expected a HubSpot id (digits, as a string or a number), found {value}"
            ))
        })
    }
}

/// Serializes as a string, the form every HubSpot request body takes.
impl Serialize for Id {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_numbers_name_the_same_id() {
        let from_string: Id = serde_json::from_str(r#""9007199254740993""#).unwrap();
        let from_number: Id = serde_json::from_str("9007199254740993").unwrap();
        assert_eq!(from_string, from_number);
        assert_eq!(from_number.as_str(), "9007199254740993");
        assert_eq!(Id::parse(" 0512 ").unwrap().as_str(), "512");
        assert_eq!(Id::parse("000").unwrap().as_str(), "0");
    }

    #[test]
    fn non_ids_are_rejected() {
        for bad in ["", "-1", "1.5", "1e3", "abc", "12 3"] {
            assert_eq!(Id::parse(bad), None, "{bad}");
        }
        for bad in ["1.5", "-3", "null", "true", "[1]"] {
            assert!(serde_json::from_str::<Id>(bad).is_err(), "{bad}");
        }
    }
}
