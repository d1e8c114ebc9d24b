//! Shopify ids, kept as exact decimal strings.
//!
//! REST payloads carry ids as JSON numbers that can exceed 2^53 (the largest
//! integer an `f64` holds exactly), and GraphQL carries them as global ids
//! (`gid://shopify/Company/123`). Both normalize to the bare decimal id, which
//! is what the engine stores; no id ever passes through floating point.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer, de::Error as _};

/// A Shopify id as its decimal digits (`"9007199254740993"`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(String);

impl Id {
    /// Reads an id from its decimal text or from a GraphQL global id.
    ///
    /// Returns `None` for anything else (empty, signed, fractional, exponent
    /// notation): such a value is not an id Shopify issues.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        // `gid://shopify/Company/123`, possibly with a query such as
        // `?location=1` that some GraphQL ids carry.
        let digits = match text.strip_prefix("gid://") {
            Some(rest) => {
                let path = rest.split(['?', '#']).next().unwrap_or(rest);
                path.rsplit('/').next().unwrap_or(path)
            }
            None => text,
        };
        is_decimal_id(digits).then(|| Self(digits.to_owned()))
    }

    /// The decimal digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The GraphQL global id of this id as a resource of type `kind`
    /// (`Company` gives `gid://shopify/Company/123`).
    pub fn gid(&self, kind: &str) -> String {
        format!("gid://shopify/{kind}/{}", self.0)
    }
}

/// Whether `text` is a non-empty run of ASCII digits.
fn is_decimal_id(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
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

/// Accepts a JSON number (read from its original text, since serde_json is
/// built with `arbitrary_precision`), a decimal string, or a global id.
impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        let parsed = match &value {
            serde_json::Value::Number(n) => Id::parse(&n.to_string()),
            serde_json::Value::String(s) => Id::parse(s),
            _ => None,
        };
        parsed.ok_or_else(|| {
            D::Error::custom(format!(
                "expected a Shopify id (digits or `gid://shopify/...`), found {value}"
            ))
        })
    }
}

/// Serializes as a string, so that a cached id reads back exactly.
impl Serialize for Id {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Holder {
        id: Id,
    }

    fn from_json(json: &str) -> Result<Id, serde_json::Error> {
        serde_json::from_str::<Holder>(json).map(|h| h.id)
    }

    #[test]
    fn global_ids_normalize_to_their_number() {
        assert_eq!(
            Id::parse("gid://shopify/Company/123").unwrap().as_str(),
            "123"
        );
        assert_eq!(
            Id::parse("gid://shopify/CompanyLocation/456?x=1")
                .unwrap()
                .as_str(),
            "456"
        );
        assert_eq!(Id::parse(" 789 ").unwrap().as_str(), "789");
        assert_eq!(
            Id::parse("123").unwrap().gid("Company"),
            "gid://shopify/Company/123"
        );
    }

    #[test]
    fn non_ids_are_rejected() {
        for bad in [
            "",
            "gid://shopify/Company/",
            "-1",
            "1.5",
            "1e3",
            "abc",
            "gid://shopify/Company/x",
        ] {
            assert_eq!(Id::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn ids_above_two_to_the_53_stay_exact() {
        // 2^53 + 1 is the first integer an f64 cannot hold.
        assert_eq!(
            from_json(r#"{"id": 9007199254740993}"#).unwrap().as_str(),
            "9007199254740993"
        );
        assert_eq!(
            from_json(r#"{"id": 123456789012345678901234567890}"#)
                .unwrap()
                .as_str(),
            "123456789012345678901234567890"
        );
        assert_eq!(
            from_json(r#"{"id": "9007199254740993"}"#).unwrap().as_str(),
            "9007199254740993"
        );
        assert_eq!(
            from_json(r#"{"id": "gid://shopify/Order/9007199254740993"}"#)
                .unwrap()
                .as_str(),
            "9007199254740993"
        );
    }

    #[test]
    fn json_values_that_are_not_ids_fail() {
        for bad in [
            r#"{"id": 1.5}"#,
            r#"{"id": -3}"#,
            r#"{"id": null}"#,
            r#"{"id": true}"#,
        ] {
            assert!(from_json(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ids_serialize_as_strings() {
        let id = Id::parse("9007199254740993").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), r#""9007199254740993""#);
    }
}
