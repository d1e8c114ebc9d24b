//! Salesforce dates and datetimes to and from UTC milliseconds.
//!
//! The REST API writes datetimes as `2026-05-01T07:25:37.000+0000` (an
//! offset without a colon, almost always `+0000`) and dates as `2026-05-01`.
//! SOQL wants datetime literals unquoted, in UTC: `2026-05-01T07:25:37.000Z`.
//! The calendar is the SDK's ([`loyalty_sdk::time`]).

use loyalty_sdk::time;

/// Milliseconds in a day.
pub const MS_PER_DAY: i64 = 86_400_000;

/// Parses a Salesforce datetime (`YYYY-MM-DDTHH:MM:SS[.fff](Z|±HHMM|±HH:MM)`)
/// into milliseconds since the Unix epoch, UTC. Fractions finer than a
/// millisecond are truncated.
pub fn parse_datetime_ms(text: &str) -> Result<i64, String> {
    time::parse_timestamp_ms(text).ok_or_else(|| {
        format!("`{text}` is not a Salesforce datetime (`2026-05-01T07:25:37.000+0000`)")
    })
}

/// Parses a Salesforce date (`YYYY-MM-DD`) into the milliseconds of its
/// midnight, UTC: Salesforce dates carry no time zone.
pub fn parse_date_ms(text: &str) -> Result<i64, String> {
    time::parse_date_ms(text).ok_or_else(|| format!("`{text}` is not a date (`YYYY-MM-DD`)"))
}

/// Formats milliseconds as a SOQL datetime literal, `2026-05-01T07:25:37.000Z`.
pub fn soql_literal(ms: i64) -> String {
    time::format_utc(ms, "%Y-%m-%dT%H:%M:%S%.3fZ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_without_a_colon_are_read_exactly() {
        assert_eq!(
            parse_datetime_ms("2026-05-01T07:25:37.000+0000").unwrap(),
            1_777_620_337_000
        );
        assert_eq!(
            parse_datetime_ms("2026-05-01T09:25:37.250+0200").unwrap(),
            1_777_620_337_250
        );
        assert_eq!(
            parse_datetime_ms("2026-05-01T07:25:37Z").unwrap(),
            parse_datetime_ms("2026-05-01T02:25:37-05:00").unwrap()
        );
    }

    #[test]
    fn dates_are_midnight_utc() {
        assert_eq!(parse_date_ms("2026-01-01").unwrap(), 1_767_225_600_000);
        assert!(parse_date_ms("2026-02-29").is_err());
        assert!(parse_date_ms("31.05.2026").is_err());
    }

    #[test]
    fn literals_round_trip() {
        for ms in [0, 1_777_620_337_000, 1_777_620_337_999, 951_782_400_000] {
            assert_eq!(parse_datetime_ms(&soql_literal(ms)).unwrap(), ms);
        }
        assert_eq!(soql_literal(1_777_620_337_000), "2026-05-01T07:25:37.000Z");
    }

    #[test]
    fn malformed_datetimes_are_rejected() {
        for bad in [
            "",
            "2026-05-01",
            "2026-05-01T07:25:37",
            "2026-05-01T07:25:37.000+000",
            "2026-05-01T07:25:37.000+00000",
            "2026-05-01 07:25:37Z",
            "2026-13-01T07:25:37Z",
            "2026-05-01T24:00:00Z",
        ] {
            assert!(parse_datetime_ms(bad).is_err(), "{bad}");
        }
    }
}
