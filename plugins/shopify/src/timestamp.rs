//! RFC 3339 timestamps to UTC milliseconds.
//!
//! Shopify writes local times with an offset (`2024-04-02T08:48:11-04:00`),
//! GraphQL writes UTC (`2024-04-02T12:00:00Z`). The engine compares entity
//! versions in UTC milliseconds, so the offset must be applied exactly; a
//! small integer-only parser does that without a date-time dependency.

use loyalty_sdk::types::Error;

// Milliseconds per unit of time.
const MS_PER_SECOND: i64 = 1_000;
const MS_PER_MINUTE: i64 = 60 * MS_PER_SECOND;
const MS_PER_HOUR: i64 = 60 * MS_PER_MINUTE;
const MS_PER_DAY: i64 = 24 * MS_PER_HOUR;

/// Parses an RFC 3339 date-time (`YYYY-MM-DDTHH:MM:SS[.fff][Z|±HH:MM]`) into
/// milliseconds since the Unix epoch, UTC.
///
/// Fractions finer than a millisecond are truncated. A leap second (`:60`) is
/// rejected: Shopify never sends one, and folding it into the next second
/// would make two instants compare equal.
pub fn parse_rfc3339_ms(text: &str) -> Result<i64, String> {
    let fail = |why: &str| format!("`{text}` is not an RFC 3339 date-time: {why}");
    let b = text.trim().as_bytes();
    if b.len() < 20 {
        return Err(fail("too short"));
    }
    let year = digits(b, 0, 4).ok_or_else(|| fail("bad year"))?;
    expect(b, 4, b'-').ok_or_else(|| fail("expected `-` after the year"))?;
    let month = digits(b, 5, 2).ok_or_else(|| fail("bad month"))?;
    expect(b, 7, b'-').ok_or_else(|| fail("expected `-` after the month"))?;
    let day = digits(b, 8, 2).ok_or_else(|| fail("bad day"))?;
    if !matches!(b[10], b'T' | b't' | b' ') {
        return Err(fail("expected `T` between date and time"));
    }
    let hour = digits(b, 11, 2).ok_or_else(|| fail("bad hour"))?;
    expect(b, 13, b':').ok_or_else(|| fail("expected `:` after the hour"))?;
    let minute = digits(b, 14, 2).ok_or_else(|| fail("bad minute"))?;
    expect(b, 16, b':').ok_or_else(|| fail("expected `:` after the minute"))?;
    let second = digits(b, 17, 2).ok_or_else(|| fail("bad second"))?;

    if !(1..=12).contains(&month) {
        return Err(fail("month out of range"));
    }
    if day < 1 || day > days_in_month(year, month) {
        return Err(fail("day out of range"));
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err(fail("time out of range"));
    }

    let mut pos = 19;
    let mut millis = 0;
    if b.get(pos) == Some(&b'.') {
        pos += 1;
        let start = pos;
        while b.get(pos).is_some_and(u8::is_ascii_digit) {
            // Keep the first three digits; the rest are below a millisecond.
            if pos - start < 3 {
                millis = millis * 10 + i64::from(b[pos] - b'0');
            }
            pos += 1;
        }
        if pos == start {
            return Err(fail("empty fraction"));
        }
        for _ in (pos - start)..3 {
            millis *= 10;
        }
    }

    let offset_ms = match b.get(pos) {
        Some(b'Z' | b'z') if pos + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) if pos + 6 == b.len() => {
            let oh = digits(b, pos + 1, 2).ok_or_else(|| fail("bad offset hours"))?;
            expect(b, pos + 3, b':').ok_or_else(|| fail("expected `:` in the offset"))?;
            let om = digits(b, pos + 4, 2).ok_or_else(|| fail("bad offset minutes"))?;
            if oh > 23 || om > 59 {
                return Err(fail("offset out of range"));
            }
            let magnitude = oh * MS_PER_HOUR + om * MS_PER_MINUTE;
            if sign == b'+' { magnitude } else { -magnitude }
        }
        _ => {
            return Err(fail(
                "expected `Z` or an offset such as `-04:00` at the end",
            ));
        }
    };

    let local = days_from_civil(year, month, day) * MS_PER_DAY
        + hour * MS_PER_HOUR
        + minute * MS_PER_MINUTE
        + second * MS_PER_SECOND
        + millis;
    // Local time = UTC + offset, so UTC = local - offset.
    Ok(local - offset_ms)
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
    let seconds = ms.div_euclid(MS_PER_SECOND);
    let (days, rest) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// The number at `b[start..start + len]`, if those bytes are all digits.
fn digits(b: &[u8], start: usize, len: usize) -> Option<i64> {
    let slice = b.get(start..start + len)?;
    slice.iter().try_fold(0_i64, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
    })
}

/// `Some(())` when `b[at]` is `want`.
fn expect(b: &[u8], at: usize, want: u8) -> Option<()> {
    (b.get(at) == Some(&want)).then_some(())
}

/// Whether `year` is a Gregorian leap year.
fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// The number of days in `month` (1 to 12) of `year`.
fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the given proleptic Gregorian date (Howard
/// Hinnant's `days_from_civil`, exact for every year this parser accepts).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`, the inverse of [`days_from_civil`]).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

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
