//! OData V2 date and time values, to and from UTC milliseconds.
//!
//! SAP Gateway writes `Edm.DateTime` as `/Date(1552867200000)/` (UTC
//! milliseconds; a date-only field such as `CreationDate` is midnight UTC),
//! `Edm.DateTimeOffset` as `/Date(1552895997855+0000)/` (the milliseconds are
//! UTC; the suffix is the original offset in minutes, informational only) and
//! `Edm.Time` as an ISO 8601 duration since midnight (`PT17H49M05S`). Filters
//! take the literals `datetime'2026-05-01T00:00:00'` and
//! `datetimeoffset'2026-05-01T00:00:00.000Z'`, written on the SDK's calendar
//! ([`loyalty_sdk::time`]).

use loyalty_sdk::time;
use loyalty_sdk::types::Error;

/// Milliseconds in a second.
const MS_PER_SECOND: i64 = 1_000;
/// Milliseconds in a day.
pub const MS_PER_DAY: i64 = 86_400 * MS_PER_SECOND;

/// SAP's "valid forever" date, 9999-12-31, in milliseconds.
pub const END_OF_TIME_MS: i64 = 253_402_214_400_000;

/// Parses `/Date(ms)/` or `/Date(ms+hhmm)/` (also `-hhmm`) into UTC
/// milliseconds. `field` names the value in errors.
pub fn parse_date(field: &str, text: &str) -> Result<i64, Error> {
    let invalid = || {
        Error::InvalidInput(format!(
            "`{field}` is `{text}`, expected an OData date `/Date(<ms>)/`"
        ))
    };
    let inner = text
        .trim()
        .strip_prefix("/Date(")
        .and_then(|rest| rest.strip_suffix(")/"))
        .ok_or_else(invalid)?;
    // The offset suffix starts at a sign after the first character (the
    // milliseconds themselves may be negative).
    let split = inner
        .char_indices()
        .skip(1)
        .find(|(_, c)| matches!(c, '+' | '-'))
        .map_or(inner.len(), |(i, _)| i);
    let (millis, offset) = inner.split_at(split);
    let offset_ok =
        offset.is_empty() || (offset.len() == 5 && offset[1..].bytes().all(|b| b.is_ascii_digit()));
    if !offset_ok {
        return Err(invalid());
    }
    millis.parse::<i64>().map_err(|_| invalid())
}

/// Parses an `Edm.Time` duration since midnight (`PT17H49M05S`, seconds may
/// carry a fraction) into milliseconds.
pub fn parse_time_of_day(field: &str, text: &str) -> Result<i64, Error> {
    let invalid = || {
        Error::InvalidInput(format!(
            "`{field}` is `{text}`, expected an OData time `PT<h>H<m>M<s>S`"
        ))
    };
    let mut rest = text.trim().strip_prefix("PT").ok_or_else(invalid)?;
    let mut total = 0_i64;
    for (unit, ms) in [('H', 3_600_000_i64), ('M', 60_000)] {
        if let Some(end) = rest.find(unit) {
            let value: i64 = rest[..end].parse().map_err(|_| invalid())?;
            total += value * ms;
            rest = &rest[end + 1..];
        }
    }
    if let Some(seconds) = rest.strip_suffix('S') {
        let (whole, fraction) = seconds.split_once('.').unwrap_or((seconds, ""));
        let whole: i64 = whole.parse().map_err(|_| invalid())?;
        if !fraction.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        let millis = fraction
            .bytes()
            .chain(std::iter::repeat(b'0'))
            .take(3)
            .fold(0_i64, |acc, b| acc * 10 + i64::from(b - b'0'));
        total += whole * MS_PER_SECOND + millis;
    } else if !rest.is_empty() {
        return Err(invalid());
    }
    if !(0..MS_PER_DAY).contains(&total) {
        return Err(invalid());
    }
    Ok(total)
}

/// `/Date(ms)/`, the JSON form of an `Edm.DateTime`.
pub fn format_date(ms: i64) -> String {
    format!("/Date({ms})/")
}

/// The start of the UTC day holding `ms`.
pub fn start_of_day(ms: i64) -> i64 {
    ms.div_euclid(MS_PER_DAY) * MS_PER_DAY
}

/// `datetime'YYYY-MM-DDT00:00:00'`: the filter literal of the UTC day holding
/// `ms`, for date-only fields.
pub fn datetime_literal(ms: i64) -> String {
    time::format_utc(ms, "datetime'%Y-%m-%dT00:00:00'")
}

/// `datetimeoffset'YYYY-MM-DDTHH:MM:SS.mmmZ'`, the filter literal of an
/// instant.
pub fn datetimeoffset_literal(ms: i64) -> String {
    time::format_utc(ms, "datetimeoffset'%Y-%m-%dT%H:%M:%S%.3fZ'")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_utc() {
        assert_eq!(
            datetime_literal(1_777_640_400_000),
            "datetime'2026-05-01T00:00:00'"
        );
        assert_eq!(
            datetimeoffset_literal(1_777_640_400_123),
            "datetimeoffset'2026-05-01T13:00:00.123Z'"
        );
        assert_eq!(
            datetimeoffset_literal(0),
            "datetimeoffset'1970-01-01T00:00:00.000Z'"
        );
        assert_eq!(
            datetime_literal(END_OF_TIME_MS),
            "datetime'9999-12-31T00:00:00'"
        );
    }
}
