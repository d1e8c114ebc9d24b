//! The emulated portal's CRM data: records of each object type, their
//! associations, and the CRM search HubSpot runs over them, with the
//! request validation HubSpot applies.
//!
//! Records hold every property as a string, as HubSpot does. The modified
//! and creation times are kept in milliseconds and written out the way
//! HubSpot writes them (`hs_lastmodifieddate`, contacts `lastmodifieddate`,
//! ISO 8601 UTC), so a test moves a record forward by giving it a later
//! modified time.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

/// The object types the emulator serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ObjectType {
    /// `companies`.
    Companies,
    /// `contacts`.
    Contacts,
    /// `deals`.
    Deals,
    /// `line_items`.
    LineItems,
    /// `feedback_submissions`.
    FeedbackSubmissions,
    /// `tasks` (created by the connector, never searched).
    Tasks,
}

impl ObjectType {
    /// Every type.
    pub const ALL: [Self; 6] = [
        Self::Companies,
        Self::Contacts,
        Self::Deals,
        Self::LineItems,
        Self::FeedbackSubmissions,
        Self::Tasks,
    ];

    /// The name in API paths.
    pub fn path(self) -> &'static str {
        match self {
            Self::Companies => "companies",
            Self::Contacts => "contacts",
            Self::Deals => "deals",
            Self::LineItems => "line_items",
            Self::FeedbackSubmissions => "feedback_submissions",
            Self::Tasks => "tasks",
        }
    }

    /// The type named in a path.
    pub fn from_path(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.path() == name)
    }

    /// The singular name (`contact_to_company`, messages).
    pub fn singular(self) -> &'static str {
        match self {
            Self::Companies => "company",
            Self::Contacts => "contact",
            Self::Deals => "deal",
            Self::LineItems => "line_item",
            Self::FeedbackSubmissions => "feedback_submission",
            Self::Tasks => "task",
        }
    }

    /// The property holding the last change.
    pub fn modified_property(self) -> &'static str {
        match self {
            Self::Contacts => "lastmodifieddate",
            _ => "hs_lastmodifieddate",
        }
    }

    /// The property holding the creation time.
    pub fn created_property(self) -> &'static str {
        match self {
            Self::Companies | Self::Contacts | Self::Deals => "createdate",
            _ => "hs_createdate",
        }
    }

    /// HubSpot-defined association type ids from this type to `to`:
    /// (primary, unlabeled). Primary exists only towards companies.
    pub fn association_type_ids(self, to: Self) -> (Option<u32>, u32) {
        match (self, to) {
            (Self::Contacts, Self::Companies) => (Some(1), 279),
            (Self::Companies, Self::Contacts) => (Some(2), 280),
            (Self::Deals, Self::Companies) => (Some(5), 341),
            (Self::Companies, Self::Deals) => (Some(6), 342),
            (Self::Deals, Self::Contacts) => (None, 3),
            (Self::Contacts, Self::Deals) => (None, 4),
            (Self::Deals, Self::LineItems) => (None, 19),
            (Self::LineItems, Self::Deals) => (None, 20),
            (Self::FeedbackSubmissions, Self::Contacts) => (None, 97),
            (Self::Contacts, Self::FeedbackSubmissions) => (None, 98),
            (Self::Tasks, Self::Companies) => (None, 192),
            (Self::Tasks, Self::Contacts) => (None, 204),
            _ => (None, 0),
        }
    }
}

/// One CRM record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The record id.
    pub id: u64,
    /// Property values, all strings (`"amount": "5000.00"`).
    pub properties: BTreeMap<String, String>,
    /// Created, UTC ms.
    pub created_ms: i64,
    /// Last changed, UTC ms: the modified property and `updatedAt`.
    pub modified_ms: i64,
    /// In the recycle bin: 404 when read, absent from searches.
    pub archived: bool,
}

impl Record {
    /// A record created and last changed at `modified_ms`.
    pub fn new(id: u64, modified_ms: i64) -> Self {
        Self {
            id,
            properties: BTreeMap::new(),
            created_ms: modified_ms,
            modified_ms,
            archived: false,
        }
    }

    /// Sets a property.
    #[must_use]
    pub fn with(mut self, name: &str, value: &str) -> Self {
        self.properties.insert(name.to_owned(), value.to_owned());
        self
    }

    /// A property's value as the API writes it for `kind` (the modified and
    /// creation properties and `hs_object_id` are derived).
    pub fn value(&self, kind: ObjectType, name: &str) -> Option<String> {
        if name == kind.modified_property() {
            return Some(iso(self.modified_ms));
        }
        if name == kind.created_property() {
            return Some(iso(self.created_ms));
        }
        if name == "hs_object_id" {
            return Some(self.id.to_string());
        }
        self.properties.get(name).cloned()
    }

    /// The record as the v3 API writes it, with the requested properties
    /// (each present, `null` when the record has no value) and always
    /// `hs_object_id` and the creation and modified properties.
    pub fn to_json(&self, kind: ObjectType, requested: &[String]) -> Value {
        let mut names: BTreeSet<&str> = requested.iter().map(String::as_str).collect();
        names.extend([
            "hs_object_id",
            kind.created_property(),
            kind.modified_property(),
        ]);
        let properties: Map<String, Value> = names
            .into_iter()
            .map(|name| {
                let value = self.value(kind, name).map_or(Value::Null, Value::from);
                (name.to_owned(), value)
            })
            .collect();
        json!({
            "id": self.id.to_string(),
            "properties": properties,
            "createdAt": iso(self.created_ms),
            "updatedAt": iso(self.modified_ms),
            "archived": self.archived,
        })
    }
}

/// One association between two records.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Association {
    /// From type and id.
    pub from: (ObjectType, u64),
    /// To type and id.
    pub to: (ObjectType, u64),
    /// Whether it is the primary one (towards companies only).
    pub primary: bool,
}

/// HubSpot's validation error body.
pub fn validation_error(message: &str) -> Value {
    json!({
        "status": "error",
        "message": message,
        "correlationId": "aeb0a2e7-9c1f-4a52-8f8e-0c1f2b3c4d5e",
        "category": "VALIDATION_ERROR",
    })
}

/// The operators HubSpot's search knows.
const OPERATORS: [&str; 13] = [
    "EQ",
    "NEQ",
    "LT",
    "LTE",
    "GT",
    "GTE",
    "BETWEEN",
    "IN",
    "NOT_IN",
    "HAS_PROPERTY",
    "NOT_HAS_PROPERTY",
    "CONTAINS_TOKEN",
    "NOT_CONTAINS_TOKEN",
];

/// A validated search request.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchRequest {
    /// OR of groups, each an AND of filters.
    pub groups: Vec<Vec<Filter>>,
    /// The sort, if any: property and ascending.
    pub sort: Option<(String, bool)>,
    /// Properties to return.
    pub properties: Vec<String>,
    /// Page size.
    pub limit: usize,
    /// Offset of the page.
    pub after: usize,
}

/// One filter.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    /// The property.
    pub property: String,
    /// The operator.
    pub operator: String,
    /// The value (for comparisons).
    pub value: Option<String>,
}

impl SearchRequest {
    /// Validates a body as HubSpot does; the error is the message of a 400
    /// `VALIDATION_ERROR`. `result_cap` is how far a search can page.
    pub fn parse(body: &[u8], result_cap: usize) -> Result<Self, String> {
        let value: Value = serde_json::from_slice(body).map_err(|e| {
            format!(
                "Invalid input JSON on line {}, column {}: {e}",
                e.line(),
                e.column()
            )
        })?;
        let Value::Object(map) = value else {
            return Err(
                "Invalid input JSON: expected a PublicObjectSearchRequest object".to_owned(),
            );
        };
        for key in map.keys() {
            if ![
                "filterGroups",
                "sorts",
                "properties",
                "limit",
                "after",
                "query",
            ]
            .contains(&key.as_str())
            {
                return Err(format!(
                    "Invalid input JSON: Unrecognized field \"{key}\" (class PublicObjectSearchRequest), not marked as ignorable"
                ));
            }
        }
        let groups = match map.get("filterGroups") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(groups)) => groups
                .iter()
                .map(parse_group)
                .collect::<Result<Vec<_>, _>>()?,
            Some(other) => return Err(format!("filterGroups must be an array, got {other}")),
        };
        if groups.len() > 5 {
            return Err(format!(
                "Too many filter groups ({}); the limit is 5",
                groups.len()
            ));
        }
        let filters: usize = groups.iter().map(Vec::len).sum();
        if filters > 18 {
            return Err(format!(
                "Too many filters ({filters}); the limit is 18 in total"
            ));
        }
        let sort = match map.get("sorts") {
            None | Some(Value::Null) => None,
            Some(Value::Array(sorts)) if sorts.len() > 1 => {
                return Err("Only one sort is allowed".to_owned());
            }
            Some(Value::Array(sorts)) => match sorts.first() {
                None => None,
                Some(sort) => {
                    let property = sort["propertyName"]
                        .as_str()
                        .ok_or("sorts[0].propertyName is required")?;
                    let ascending = match sort["direction"].as_str() {
                        None | Some("ASCENDING") => true,
                        Some("DESCENDING") => false,
                        Some(other) => {
                            return Err(format!(
                                "sorts[0].direction `{other}` is not one of ASCENDING, DESCENDING"
                            ));
                        }
                    };
                    Some((property.to_owned(), ascending))
                }
            },
            Some(other) => return Err(format!("sorts must be an array, got {other}")),
        };
        let properties = match map.get("properties") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(names)) => names
                .iter()
                .map(|n| {
                    n.as_str()
                        .map(str::to_owned)
                        .ok_or(format!("properties must be strings, got {n}"))
                })
                .collect::<Result<_, _>>()?,
            Some(other) => return Err(format!("properties must be an array, got {other}")),
        };
        let limit = match map.get("limit") {
            None | Some(Value::Null) => 10,
            Some(Value::Number(n)) => match n.as_u64() {
                Some(n @ 1..=200) => usize::try_from(n).map_err(|e| e.to_string())?,
                _ => return Err(format!("limit must be between 1 and 200, got {n}")),
            },
            Some(other) => return Err(format!("limit must be a number, got {other}")),
        };
        let after = match map.get("after") {
            None | Some(Value::Null) => 0,
            Some(Value::String(s)) => s
                .parse::<usize>()
                .map_err(|_| format!("after `{s}` is not a paging token this search issued"))?,
            Some(other) => return Err(format!("after must be a string, got {other}")),
        };
        if after >= result_cap {
            return Err(format!(
                "The search API cannot page past {result_cap} results (after = {after}); narrow the search instead"
            ));
        }
        Ok(Self {
            groups,
            sort,
            properties,
            limit,
            after,
        })
    }

    /// Whether a record matches the filter groups.
    pub fn matches(&self, kind: ObjectType, record: &Record) -> bool {
        self.groups.is_empty()
            || self
                .groups
                .iter()
                .any(|group| group.iter().all(|f| f.matches(kind, record)))
    }

    /// Orders two matching records by the sort, then by id.
    pub fn order(&self, kind: ObjectType, a: &Record, b: &Record) -> Ordering {
        let by_sort = match &self.sort {
            Some((property, ascending)) => {
                let o = compare(
                    a.value(kind, property).as_deref(),
                    b.value(kind, property).as_deref(),
                );
                if *ascending { o } else { o.reverse() }
            }
            None => Ordering::Equal,
        };
        by_sort.then(a.id.cmp(&b.id))
    }
}

fn parse_group(group: &Value) -> Result<Vec<Filter>, String> {
    let filters = group["filters"]
        .as_array()
        .ok_or("each filter group needs a `filters` array")?;
    if filters.len() > 6 {
        return Err(format!(
            "Too many filters in a group ({}); the limit is 6",
            filters.len()
        ));
    }
    filters
        .iter()
        .map(|filter| {
            let property = filter["propertyName"]
                .as_str()
                .ok_or("filters[].propertyName is required")?;
            let operator = filter["operator"]
                .as_str()
                .ok_or("filters[].operator is required")?;
            if !OPERATORS.contains(&operator) {
                return Err(format!("Unknown filter operator `{operator}`"));
            }
            let value = match &filter["value"] {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                Value::Bool(b) => Some(b.to_string()),
                Value::Null => None,
                other => return Err(format!("filters[].value must be a string, got {other}")),
            };
            let needs_value = !matches!(
                operator,
                "HAS_PROPERTY" | "NOT_HAS_PROPERTY" | "IN" | "NOT_IN" | "BETWEEN"
            );
            if needs_value && value.is_none() {
                return Err(format!(
                    "filter on `{property}` with {operator} needs a value"
                ));
            }
            Ok(Filter {
                property: property.to_owned(),
                operator: operator.to_owned(),
                value,
            })
        })
        .collect()
}

impl Filter {
    fn matches(&self, kind: ObjectType, record: &Record) -> bool {
        let actual = record.value(kind, &self.property);
        match self.operator.as_str() {
            "HAS_PROPERTY" => actual.is_some(),
            "NOT_HAS_PROPERTY" => actual.is_none(),
            operator => {
                let Some(actual) = actual else {
                    return operator == "NEQ";
                };
                let ordering = compare(Some(&actual), self.value.as_deref());
                match operator {
                    "EQ" => ordering == Ordering::Equal,
                    "NEQ" => ordering != Ordering::Equal,
                    "LT" => ordering == Ordering::Less,
                    "LTE" => ordering != Ordering::Greater,
                    "GT" => ordering == Ordering::Greater,
                    "GTE" => ordering != Ordering::Less,
                    "CONTAINS_TOKEN" => self
                        .value
                        .as_deref()
                        .is_some_and(|v| actual.to_lowercase().contains(&v.to_lowercase())),
                    _ => false,
                }
            }
        }
    }
}

/// Compares two property values as HubSpot does for the property's type:
/// datetimes (ISO 8601 or epoch ms) and numbers by value, else as text.
fn compare(a: Option<&str>, b: Option<&str>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(a), Some(b)) => match (numeric(a), numeric(b)) {
            (Some(x), Some(y)) => x.cmp(&y),
            _ => a.cmp(b),
        },
    }
}

/// A value as an exact number for comparison: epoch ms for a datetime, the
/// number scaled by 10^6 for a decimal.
fn numeric(text: &str) -> Option<i128> {
    if let Some(ms) = parse_iso(text) {
        return Some(i128::from(ms) * 1_000_000);
    }
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let negative = whole.starts_with('-');
    let digits = whole.trim_start_matches('-');
    if digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
        || fraction.len() > 6
    {
        return None;
    }
    let scaled = format!("{digits}{fraction:0<6}").parse::<i128>().ok()?;
    Some(if negative { -scaled } else { scaled })
}

/// UTC ms as `2026-03-02T08:14:05.123Z`.
pub fn iso(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rest = ms.rem_euclid(86_400_000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3_600_000,
        rest / 60_000 % 60,
        rest / 1000 % 60,
        rest % 1000
    )
}

/// `YYYY-MM-DDTHH:MM:SS[.mmm]Z` as UTC ms; the only datetime form the
/// emulator writes.
pub fn parse_iso(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    if bytes.len() < 20 || bytes[4] != b'-' || bytes[10] != b'T' || !text.ends_with('Z') {
        return None;
    }
    let field = |from: usize, to: usize| text.get(from..to)?.parse::<i64>().ok();
    let (year, month, day) = (field(0, 4)?, field(5, 7)?, field(8, 10)?);
    let (hour, minute, second) = (field(11, 13)?, field(14, 16)?, field(17, 19)?);
    let millis = match text.get(19..text.len() - 1)? {
        "" => 0,
        fraction => fraction.strip_prefix('.')?.get(..3)?.parse::<i64>().ok()?,
    };
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    Some((((days * 24 + hour) * 60 + minute) * 60 + second) * 1000 + millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_round_trips() {
        for ms in [0, 1_705_422_467_780, 1_767_225_600_000, 1_772_442_000_250] {
            assert_eq!(parse_iso(&iso(ms)), Some(ms), "{ms}");
        }
        assert_eq!(iso(1_705_422_467_780), "2024-01-16T16:27:47.780Z");
    }

    #[test]
    fn searches_are_validated_like_hubspot() {
        let ok = br#"{"filterGroups":[{"filters":[{"propertyName":"hs_lastmodifieddate","operator":"GTE","value":"0"}]}],
                      "sorts":[{"propertyName":"hs_lastmodifieddate","direction":"ASCENDING"}],"limit":200,"after":"9998"}"#;
        assert!(SearchRequest::parse(ok, 10_000).is_ok());
        for (body, wanted) in [
            (&br#"{"limit":201}"#[..], "limit"),
            (br#"{"after":"10000"}"#, "cannot page past"),
            (br#"{"after":"abc"}"#, "paging token"),
            (br#"{"filterGroups":[{"filters":[{"propertyName":"x","operator":"AFTER","value":"1"}]}]}"#, "operator"),
            (br#"{"filterGroups":[{"filters":[{"propertyName":"x","operator":"GTE"}]}]}"#, "needs a value"),
            (br#"{"limit":10,"offset":5}"#, "Unrecognized field"),
            (br#"{"limit":"#, "Invalid input JSON"),
        ] {
            let error = SearchRequest::parse(body, 10_000).unwrap_err();
            assert!(error.contains(wanted), "{error}");
        }
    }

    #[test]
    fn datetimes_compare_with_epoch_milliseconds() {
        let record = Record::new(1, 1_767_225_600_000);
        let filter = |op: &str, value: &str| Filter {
            property: "hs_lastmodifieddate".to_owned(),
            operator: op.to_owned(),
            value: Some(value.to_owned()),
        };
        assert!(filter("GTE", "1767225600000").matches(ObjectType::Deals, &record));
        assert!(!filter("GT", "1767225600000").matches(ObjectType::Deals, &record));
        assert!(filter("LT", "1767225600001").matches(ObjectType::Deals, &record));
        assert!(!filter("GTE", "1767225600001").matches(ObjectType::Deals, &record));
    }
}
