//! Vendor timestamps to and from UTC milliseconds, the engine's time
//! (versions, `placed-at`, cursors), on `jiff`'s calendar.
//!
//! Vendors write RFC 3339 with `Z` or an offset (`2024-04-02T08:48:11-04:00`,
//! Salesforce without the colon: `+0000`), dates without a zone
//! (`2026-05-01`, midnight UTC) and read filters back in their own textual
//! forms, which [`format_utc`] writes from a `strftime` pattern.

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

/// Parses an RFC 3339 date-time (`2024-04-02T08:48:11.5-04:00`, `Z` or a
/// `±HH:MM` offset of at most 23:59) into UTC milliseconds; fractions finer
/// than a millisecond are truncated. A leap second (`:60`) is refused rather
/// than folded into the next second, which would make two instants equal.
/// `None` when the text is not one.
pub fn parse_rfc3339_ms(text: &str) -> Option<i64> {
    let text = text.trim();
    let b = text.as_bytes();
    let separated = matches!(b.get(10), Some(b'T' | b't'));
    let leap_second = b.get(17..19) == Some(b"60");
    if !separated || leap_second || offset_hours(text)? > 23 {
        return None;
    }
    // A `Timestamp` needs an offset: a local date-time does not parse.
    text.parse::<Timestamp>().ok().map(|t| t.as_millisecond())
}

/// [`parse_rfc3339_ms`], also taking an offset without its colon
/// (`2026-05-01T07:25:37.000+0000`, as Salesforce and SAP write it).
pub fn parse_timestamp_ms(text: &str) -> Option<i64> {
    let text = text.trim();
    match colonless_offset(text) {
        Some(at) => parse_rfc3339_ms(&format!("{}:{}", &text[..at + 3], &text[at + 3..])),
        None => parse_rfc3339_ms(text),
    }
}

/// Parses a date (`YYYY-MM-DD`) into the milliseconds of its midnight, UTC.
pub fn parse_date_ms(text: &str) -> Option<i64> {
    let date: Date = text.trim().parse().ok()?;
    date.to_zoned(TimeZone::UTC)
        .ok()
        .map(|zoned| zoned.timestamp().as_millisecond())
}

/// Writes a UTC instant with a `strftime` pattern (`%Y-%m-%dT%H:%M:%S%.3fZ`;
/// the pattern writes the zone itself). An instant outside the calendar's
/// range (years -9999 to 9999) is written as the epoch.
pub fn format_utc(ms: i64, pattern: &str) -> String {
    let epoch = DateTime::constant(1970, 1, 1, 0, 0, 0, 0);
    epoch
        .checked_add(SignedDuration::from_millis(ms))
        .unwrap_or(epoch)
        .strftime(pattern)
        .to_string()
}

/// The hours of the offset ending `text`: 0 for `Z`, `None` when it ends
/// with no `±HH:MM` offset.
fn offset_hours(text: &str) -> Option<u32> {
    if text.ends_with(['Z', 'z']) {
        return Some(0);
    }
    let at = text.len().checked_sub(6)?;
    let tail = text.get(at..)?.as_bytes();
    if !matches!(tail[0], b'+' | b'-') || tail[3] != b':' {
        return None;
    }
    std::str::from_utf8(&tail[1..3]).ok()?.parse().ok()
}

/// Where a `±HHMM` offset ending `text` starts, if it ends with one.
fn colonless_offset(text: &str) -> Option<usize> {
    let at = text.len().checked_sub(5)?;
    let tail = text.as_bytes().get(at..)?;
    (matches!(tail[0], b'+' | b'-') && tail[1..].iter().all(u8::is_ascii_digit) && at >= 19)
        .then_some(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_with_any_offset_form_is_utc_milliseconds() {
        let utc = Some(1_777_620_337_000);
        assert_eq!(parse_timestamp_ms("2026-05-01T07:25:37Z"), utc);
        assert_eq!(parse_timestamp_ms("2026-05-01T07:25:37.000+0000"), utc);
        assert_eq!(parse_timestamp_ms("2026-05-01T09:25:37+02:00"), utc);
        assert_eq!(parse_timestamp_ms("2026-05-01T03:25:37.0009-0400"), utc);
        assert_eq!(
            parse_timestamp_ms(" 2026-05-01T07:25:37.123456Z "),
            Some(1_777_620_337_123)
        );
    }

    #[test]
    fn anything_else_is_none() {
        assert_eq!(
            parse_rfc3339_ms("2026-05-01T07:25:37+0000"),
            None,
            "RFC 3339 wants the colon"
        );
        for text in [
            "2026-05-01 07:25:37Z",
            "2026-05-01T07:25:60Z",
            "2026-05-01T07:25:37+24:00",
            "2026-05-01T07:25:37",
            "2026-05-01",
            "2026-02-30T00:00:00Z",
            "2026-05-01T24:00:00Z",
            "yesterday",
            "",
        ] {
            assert_eq!(parse_timestamp_ms(text), None, "{text}");
        }
    }

    #[test]
    fn dates_are_their_utc_midnight_and_formats_round_trip() {
        assert_eq!(parse_date_ms("2026-05-01"), Some(1_777_593_600_000));
        assert_eq!(parse_date_ms("2026-13-01"), None);
        assert_eq!(
            format_utc(1_777_620_337_123, "%Y-%m-%dT%H:%M:%S%.3fZ"),
            "2026-05-01T07:25:37.123Z"
        );
        assert_eq!(format_utc(-1, "%Y-%m-%d %H:%M:%S"), "1969-12-31 23:59:59");
        assert_eq!(format_utc(253_402_214_400_000, "%Y-%m-%d"), "9999-12-31");
    }
}
