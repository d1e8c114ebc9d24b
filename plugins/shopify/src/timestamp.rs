//! RFC 3339 timestamps to UTC milliseconds.
//!
//! Shopify writes local times with an offset (`2024-04-02T08:48:11-04:00`),
//! GraphQL writes UTC (`2024-04-02T12:00:00Z`). The engine compares entity
//! versions in UTC milliseconds, so the offset must be applied exactly; the
//! calendar is the SDK's ([`loyalty_sdk::time`]).

use loyalty_sdk::time;
use loyalty_sdk::types::Error;

/// Parses an RFC 3339 date-time (`YYYY-MM-DDTHH:MM:SS[.fff][Z|±HH:MM]`) into
/// milliseconds since the Unix epoch, UTC.
///
/// Fractions finer than a millisecond are truncated. A leap second (`:60`) is
/// rejected: Shopify never sends one, and folding it into the next second
/// would make two instants compare equal.
pub fn parse_rfc3339_ms(text: &str) -> Result<i64, String> {
    time::parse_rfc3339_ms(text).ok_or_else(|| {
        format!("`{text}` is not an RFC 3339 date-time (`2024-04-02T08:48:11-04:00`)")
    })
}

/// Parses a timestamp that serves as an entity version, which must not be
/// before 1970. `field` names the JSON field in the error.
pub fn version_ms(field: &str, text: &str) -> Result<u64, Error> {
    let ms = timestamp_ms(field, text)?;
    u64::try_from(ms)
        .map_err(|_| Error::InvalidInput(format!("JSON field `{field}`: `{text}` is before 1970")))
}

/// Parses a timestamp, naming `field` in the error.
pub fn timestamp_ms(field: &str, text: &str) -> Result<i64, Error> {
    parse_rfc3339_ms(text).map_err(|e| Error::InvalidInput(format!("JSON field `{field}`: {e}")))
}

/// Writes a UTC instant as RFC 3339 to the second (`2026-03-05T15:40:12Z`),
/// the form Shopify's `updated_at_min` filter takes. Milliseconds are
/// dropped (rounded down), so a filter with `>=` never skips the instant.
pub fn format_rfc3339_utc(ms: i64) -> String {
    time::format_utc(ms.div_euclid(1_000) * 1_000, "%Y-%m-%dT%H:%M:%SZ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS_PER_SECOND: i64 = 1_000;

    #[test]
    fn utc_instants() {
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00Z").unwrap(), 0);
        assert_eq!(
            parse_rfc3339_ms("2026-01-01T00:00:00Z").unwrap(),
            1_767_225_600_000
        );
        assert_eq!(
            parse_rfc3339_ms("2024-04-02T12:00:00Z").unwrap(),
            1_712_059_200_000
        );
    }

    #[test]
    fn negative_offsets_are_behind_utc() {
        // 08:48:11 at UTC-4 is 12:48:11 UTC.
        assert_eq!(
            parse_rfc3339_ms("2024-04-02T08:48:11-04:00").unwrap(),
            parse_rfc3339_ms("2024-04-02T12:48:11Z").unwrap()
        );
        // Crossing midnight backwards: 22:30 at UTC-05:00 is 03:30 the next day.
        assert_eq!(
            parse_rfc3339_ms("2023-12-31T22:30:00-05:00").unwrap(),
            parse_rfc3339_ms("2024-01-01T03:30:00Z").unwrap()
        );
    }

    #[test]
    fn positive_offsets_are_ahead_of_utc() {
        assert_eq!(
            parse_rfc3339_ms("2024-04-02T14:00:00+02:00").unwrap(),
            1_712_059_200_000
        );
        // Half-hour zones (India) and midnight crossing forwards.
        assert_eq!(
            parse_rfc3339_ms("2024-03-01T01:15:00+05:30").unwrap(),
            parse_rfc3339_ms("2024-02-29T19:45:00Z").unwrap()
        );
        assert_eq!(
            parse_rfc3339_ms("2024-04-02T12:00:00+00:00").unwrap(),
            parse_rfc3339_ms("2024-04-02T12:00:00-00:00").unwrap()
        );
    }

    #[test]
    fn fractions_become_milliseconds() {
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00.5Z").unwrap(), 500);
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00.123Z").unwrap(), 123);
        assert_eq!(
            parse_rfc3339_ms("1970-01-01T00:00:01.123999-00:00").unwrap(),
            1_123
        );
    }

    #[test]
    fn dates_before_1970_are_negative() {
        assert_eq!(
            parse_rfc3339_ms("1969-12-31T23:59:59Z").unwrap(),
            -MS_PER_SECOND
        );
        assert!(version_ms("updated_at", "1969-12-31T23:59:59Z").is_err());
    }

    #[test]
    fn malformed_timestamps_are_rejected() {
        for bad in [
            "",
            "2024-04-02",
            "2024-04-02T08:48:11",
            "2024-04-02T08:48:11+0400",
            "2024-13-02T08:48:11Z",
            "2023-02-29T08:48:11Z",
            "2024-04-02T24:00:00Z",
            "2024-04-02T08:48:60Z",
            "2024-04-02T08:48:11.Z",
            "2024-04-02T08:48:11Zjunk",
            "2024-04-02T08:48:11+24:00",
            "２０２４-04-02T08:48:11Z",
        ] {
            assert!(parse_rfc3339_ms(bad).is_err(), "{bad}");
        }
        assert!(parse_rfc3339_ms("2024-02-29T08:48:11Z").is_ok());
    }

    #[test]
    fn errors_name_the_field() {
        let err = timestamp_ms("created_at", "yesterday").unwrap_err();
        assert!(err.message().contains("`created_at`"), "{err:?}");
    }

    #[test]
    fn formatting_rounds_down_to_the_second_and_parses_back() {
        assert_eq!(format_rfc3339_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            format_rfc3339_utc(1_709_653_212_999),
            "2024-03-05T15:40:12Z"
        );
        assert_eq!(format_rfc3339_utc(951_782_400_000), "2000-02-29T00:00:00Z");
        for ms in [0, 951_782_400_000, 1_709_653_212_000, 4_102_444_799_000] {
            assert_eq!(parse_rfc3339_ms(&format_rfc3339_utc(ms)).unwrap(), ms);
        }
    }
}
