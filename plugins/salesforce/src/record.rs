//! One record of a query answer, with typed field access whose errors name
//! the object, the record id and the field.
//!
//! Records are read as JSON maps rather than fixed structs because the
//! select list depends on the settings (custom fields, `CurrencyIsoCode`)
//! and relationship fields arrive nested (`"Product2": {"Family": ...}`).

use loyalty_sdk::decimal::decimal_from_json;
use loyalty_sdk::types::Error;
use rust_decimal::Decimal;
use serde_json::{Map, Value};

use crate::timestamp::{parse_date_ms, parse_datetime_ms};

/// A record: `{"attributes": {"type", "url"}, "Id": ..., ...}`.
#[derive(Debug, Clone)]
pub struct Record<'a> {
    object: &'a str,
    id: String,
    fields: &'a Map<String, Value>,
}

impl<'a> Record<'a> {
    /// Wraps a record of `object`; it must be a JSON object with a string `Id`.
    pub fn new(object: &'a str, value: &'a Value) -> Result<Self, Error> {
        let fields = value.as_object().ok_or_else(|| {
            Error::InvalidInput(format!("a {object} record is not a JSON object: {value}"))
        })?;
        let id = match fields.get("Id") {
            Some(Value::String(id)) if !id.trim().is_empty() => id.trim().to_owned(),
            other => {
                return Err(Error::InvalidInput(format!(
                    "a {object} record has no `Id` (found {})",
                    other.map_or_else(|| "nothing".to_owned(), Value::to_string)
                )));
            }
        };
        Ok(Self { object, id, fields })
    }

    /// The record id, as Salesforce gives it (18 characters).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// An error about `field` of this record.
    pub fn invalid(&self, field: &str, why: impl std::fmt::Display) -> Error {
        Error::InvalidInput(format!(
            "{} {}: field `{field}`: {why}",
            self.object, self.id
        ))
    }

    /// The raw value at `path`; a dotted path (`Product2.Family`) goes
    /// through relationship objects. `None` for absent or `null`.
    pub fn value(&self, path: &str) -> Option<&'a Value> {
        let mut fields = self.fields;
        let mut parts = path.split('.').peekable();
        while let Some(part) = parts.next() {
            let value = fields.get(part)?;
            if parts.peek().is_none() {
                return (!value.is_null()).then_some(value);
            }
            fields = value.as_object()?;
        }
        None
    }

    /// A text field, trimmed; `None` when absent, `null` or blank.
    pub fn text(&self, path: &str) -> Result<Option<String>, Error> {
        match self.value(path) {
            None => Ok(None),
            Some(Value::String(s)) => {
                let s = s.trim();
                Ok((!s.is_empty()).then(|| s.to_owned()))
            }
            Some(other) => Err(self.invalid(path, format!("expected text, found {other}"))),
        }
    }

    /// A text field that must be present.
    pub fn required_text(&self, path: &str) -> Result<String, Error> {
        self.text(path)?
            .ok_or_else(|| self.invalid(path, "missing"))
    }

    /// A checkbox; absent or `null` is `false`.
    pub fn flag(&self, path: &str) -> Result<bool, Error> {
        match self.value(path) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => {
                Err(self.invalid(path, format!("expected true or false, found {other}")))
            }
        }
    }

    /// An exact number (JSON number, exponent notation included).
    pub fn decimal(&self, path: &str) -> Result<Option<Decimal>, Error> {
        self.value(path)
            .map(|v| decimal_from_json(v).map_err(|e| self.invalid(path, e.message())))
            .transpose()
    }

    /// A whole, non-negative number that fits in `u32`.
    pub fn whole(&self, path: &str) -> Result<Option<u32>, Error> {
        let Some(value) = self.decimal(path)? else {
            return Ok(None);
        };
        if value.fract() != Decimal::ZERO {
            return Err(self.invalid(path, format!("`{value}` is not a whole number")));
        }
        u32::try_from(value)
            .map(Some)
            .map_err(|_| self.invalid(path, format!("`{value}` is out of range")))
    }

    /// A datetime in UTC milliseconds.
    pub fn datetime(&self, path: &str) -> Result<Option<i64>, Error> {
        self.text(path)?
            .map(|t| parse_datetime_ms(&t).map_err(|e| self.invalid(path, e)))
            .transpose()
    }

    /// A date as the milliseconds of its midnight, UTC.
    pub fn date(&self, path: &str) -> Result<Option<i64>, Error> {
        self.text(path)?
            .map(|t| parse_date_ms(&t).map_err(|e| self.invalid(path, e)))
            .transpose()
    }

    /// `SystemModstamp` in milliseconds: the record's version.
    pub fn modstamp(&self) -> Result<i64, Error> {
        let ms = self
            .datetime("SystemModstamp")?
            .ok_or_else(|| self.invalid("SystemModstamp", "missing"))?;
        if ms < 0 {
            return Err(self.invalid("SystemModstamp", "before 1970"));
        }
        Ok(ms)
    }

    /// The version of the record's entity: `SystemModstamp` in ms.
    pub fn version(&self) -> Result<u64, Error> {
        self.modstamp().and_then(|ms| {
            u64::try_from(ms).map_err(|_| self.invalid("SystemModstamp", "before 1970"))
        })
    }

    /// Whether the record is in the recycle bin (`queryAll` returns those).
    pub fn is_deleted(&self) -> Result<bool, Error> {
        self.flag("IsDeleted")
    }

    /// The records of a relationship subquery (`OpportunityLineItems`):
    /// `null` when there are none, else `{"totalSize","done","records"}`.
    pub fn children(&self, relationship: &str) -> Result<Option<&'a Map<String, Value>>, Error> {
        match self.value(relationship) {
            None => Ok(None),
            Some(Value::Object(result)) => Ok(Some(result)),
            Some(other) => Err(self.invalid(
                relationship,
                format!("expected a query result, found {other}"),
            )),
        }
    }
}
