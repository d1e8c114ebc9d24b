//! Salesforce dates and datetimes to and from UTC milliseconds.
//!
//! The REST API writes datetimes as `2026-05-01T07:25:37.000+0000` (an
//! offset without a colon, almost always `+0000`) and dates as `2026-05-01`.
//! SOQL wants datetime literals unquoted, in UTC: `2026-05-01T07:25:37.000Z`.
//! A small integer-only parser handles both directions exactly, without a
//! date-time dependency.

// Milliseconds per unit of time.
const MS_PER_SECOND: i64 = 1_000;
const MS_PER_MINUTE: i64 = 60 * MS_PER_SECOND;
const MS_PER_HOUR: i64 = 60 * MS_PER_MINUTE;
/// Milliseconds in a day.
pub const MS_PER_DAY: i64 = 24 * MS_PER_HOUR;

/// Parses a Salesforce datetime (`YYYY-MM-DDTHH:MM:SS[.fff](Z|±HHMM|±HH:MM)`)
/// into milliseconds since the Unix epoch, UTC. Fractions finer than a
/// millisecond are truncated.
pub fn parse_datetime_ms(text: &str) -> Result<i64, String> {
    let fail = |why: &str| format!("`{text}` is not a Salesforce datetime: {why}");
    let b = text.trim().as_bytes();
    let days = date_days(b).map_err(|e| fail(&e))?;
    if !matches!(b.get(10), Some(b'T')) {
        return Err(fail("expected `T` between date and time"));
    }
    let hour = digits(b, 11, 2).ok_or_else(|| fail("bad hour"))?;
    expect(b, 13, b':').ok_or_else(|| fail("expected `:` after the hour"))?;
    let minute = digits(b, 14, 2).ok_or_else(|| fail("bad minute"))?;
    expect(b, 16, b':').ok_or_else(|| fail("expected `:` after the minute"))?;
    let second = digits(b, 17, 2).ok_or_else(|| fail("bad second"))?;
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
        Some(b'Z') if pos + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) => {
            // `+0000` (what the REST API writes) or `+00:00`.
            let (oh, om) = match b.len() - pos {
                5 => (digits(b, pos + 1, 2), digits(b, pos + 3, 2)),
                6 if b[pos + 3] == b':' => (digits(b, pos + 1, 2), digits(b, pos + 4, 2)),
                _ => (None, None),
            };
            let (Some(oh), Some(om)) = (oh, om) else {
                return Err(fail("bad offset, expected `+0000` or `+00:00`"));
            };
            if oh > 23 || om > 59 {
                return Err(fail("offset out of range"));
            }
            let magnitude = oh * MS_PER_HOUR + om * MS_PER_MINUTE;
            if sign == b'+' { magnitude } else { -magnitude }
        }
        _ => return Err(fail("expected `Z` or an offset such as `+0000` at the end")),
    };

    let local = days * MS_PER_DAY
        + hour * MS_PER_HOUR
        + minute * MS_PER_MINUTE
        + second * MS_PER_SECOND
        + millis;
    // Local time = UTC + offset, so UTC = local - offset.
    Ok(local - offset_ms)
}

/// Parses a Salesforce date (`YYYY-MM-DD`) into the milliseconds of its
/// midnight, UTC: Salesforce dates carry no time zone.
pub fn parse_date_ms(text: &str) -> Result<i64, String> {
    let b = text.trim().as_bytes();
    if b.len() != 10 {
        return Err(format!("`{text}` is not a date (`YYYY-MM-DD`)"));
    }
    date_days(b)
        .map(|days| days * MS_PER_DAY)
        .map_err(|e| format!("`{text}` is not a date (`YYYY-MM-DD`): {e}"))
}

/// Formats milliseconds as a SOQL datetime literal, `2026-05-01T07:25:37.000Z`.
pub fn soql_literal(ms: i64) -> String {
    let days = ms.div_euclid(MS_PER_DAY);
    let rest = ms.rem_euclid(MS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / MS_PER_HOUR,
        rest % MS_PER_HOUR / MS_PER_MINUTE,
        rest % MS_PER_MINUTE / MS_PER_SECOND,
        rest % MS_PER_SECOND
    )
}

/// Days since 1970-01-01 of the date in `b[0..10]`, checked.
fn date_days(b: &[u8]) -> Result<i64, String> {
    let year = digits(b, 0, 4).ok_or("bad year")?;
    expect(b, 4, b'-').ok_or("expected `-` after the year")?;
    let month = digits(b, 5, 2).ok_or("bad month")?;
    expect(b, 7, b'-').ok_or("expected `-` after the month")?;
    let day = digits(b, 8, 2).ok_or("bad day")?;
    if !(1..=12).contains(&month) {
        return Err("month out of range".to_owned());
    }
    if day < 1 || day > days_in_month(year, month) {
        return Err("day out of range".to_owned());
    }
    Ok(days_from_civil(year, month, day))
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

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
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
