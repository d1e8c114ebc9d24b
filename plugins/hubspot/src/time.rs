//! HubSpot timestamps in and out.
//!
//! CRM v3 writes datetime properties (`hs_lastmodifieddate`, `closedate`) and
//! `createdAt`/`updatedAt` as ISO 8601 in UTC (`2026-03-02T08:14:05.123Z`);
//! date properties as `2026-03-02`; some older properties and every webhook
//! field as epoch milliseconds. Search filters take epoch milliseconds.
//! Everything becomes UTC milliseconds here, on the SDK's calendar
//! ([`loyalty_sdk::time`]).

use loyalty_sdk::time;

/// Parses an ISO 8601 datetime (with `Z` or a `±hh:mm`/`±hhmm` offset, with
/// or without fractional seconds), an ISO 8601 date (midnight UTC), or epoch
/// milliseconds, into UTC milliseconds. `None` when it is none of these.
pub fn parse_ms(text: &str) -> Option<i64> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().ok();
    }
    if text.len() == 10 {
        return time::parse_date_ms(text);
    }
    time::parse_timestamp_ms(&text.replacen(' ', "T", 1))
}

/// UTC milliseconds as HubSpot writes datetimes: `2026-03-02T08:14:05.123Z`.
pub fn format_ms(ms: i64) -> String {
    time::format_utc(ms, "%Y-%m-%dT%H:%M:%S%.3fZ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hubspot_datetimes_become_utc_milliseconds() {
        assert_eq!(
            parse_ms("2024-01-16T16:27:47.780Z"),
            Some(1_705_422_467_780)
        );
        assert_eq!(parse_ms("2024-01-16T16:27:47Z"), Some(1_705_422_467_000));
        assert_eq!(
            parse_ms("2024-01-16T17:27:47.780+01:00"),
            Some(1_705_422_467_780)
        );
        assert_eq!(
            parse_ms("2024-01-16T11:27:47.7801-0500"),
            Some(1_705_422_467_780)
        );
        assert_eq!(parse_ms("1705422467780"), Some(1_705_422_467_780));
        assert_eq!(parse_ms("2024-01-16"), Some(1_705_363_200_000));
        assert_eq!(parse_ms("1970-01-01T00:00:00Z"), Some(0));
    }

    #[test]
    fn malformed_datetimes_are_none() {
        for bad in [
            "",
            "yesterday",
            "2024-13-01",
            "2024-02-30",
            "2024-01-16T25:00:00Z",
            "2024-01-16T10:00:00.Z",
            "16/01/2024",
        ] {
            assert_eq!(parse_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn formatting_round_trips() {
        for ms in [0, 1_705_422_467_780, 951_782_400_000, 1_767_225_600_000] {
            assert_eq!(parse_ms(&format_ms(ms)), Some(ms), "{ms}");
        }
        assert_eq!(format_ms(1_705_422_467_780), "2024-01-16T16:27:47.780Z");
    }
}
