//! HubSpot timestamps in and out.
//!
//! CRM v3 writes datetime properties (`hs_lastmodifieddate`, `closedate`) and
//! `createdAt`/`updatedAt` as ISO 8601 in UTC (`2026-03-02T08:14:05.123Z`);
//! date properties as `2026-03-02`; some older properties and every webhook
//! field as epoch milliseconds. Search filters take epoch milliseconds.
//! Everything becomes UTC milliseconds here.

/// Parses an ISO 8601 datetime (with `Z` or a `±hh:mm` offset, with or
/// without fractional seconds), an ISO 8601 date (midnight UTC), or epoch
/// milliseconds, into UTC milliseconds. `None` when it is none of these.
pub fn parse_ms(text: &str) -> Option<i64> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().ok();
    }
    let (date, time) = match text.split_once(['T', ' ']) {
        Some((date, time)) => (date, Some(time)),
        None => (text, None),
    };
    let days = parse_date(date)?;
    let millis_of_day = match time {
        Some(time) => parse_time(time)?,
        None => 0,
    };
    days.checked_mul(86_400_000)?.checked_add(millis_of_day)
}

/// `YYYY-MM-DD` as days since 1970-01-01.
fn parse_date(date: &str) -> Option<i64> {
    let mut parts = date.split('-');
    let year = number(parts.next()?, 4)?;
    let month = number(parts.next()?, 2)?;
    let day = number(parts.next()?, 2)?;
    if parts.next().is_some() || !(1..=12).contains(&month) || day < 1 {
        return None;
    }
    if day > days_in_month(year, month) {
        return None;
    }
    Some(days_from_civil(year, month, day))
}

/// `hh:mm:ss[.fff][Z|±hh:mm|±hhmm]` as milliseconds after midnight UTC
/// (negative or beyond a day when the offset crosses midnight).
fn parse_time(time: &str) -> Option<i64> {
    let (clock, offset_ms) = if let Some(clock) = time.strip_suffix(['Z', 'z']) {
        (clock, 0)
    } else if let Some(at) = time.rfind(['+', '-']) {
        let (clock, offset) = time.split_at(at);
        (clock, parse_offset(offset)?)
    } else {
        (time, 0)
    };
    let (whole, fraction) = match clock.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (clock, None),
    };
    let mut parts = whole.split(':');
    let hour = number(parts.next()?, 2)?;
    let minute = number(parts.next()?, 2)?;
    let second = match parts.next() {
        Some(s) => number(s, 2)?,
        None => 0,
    };
    if parts.next().is_some() || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let millis = match fraction {
        Some(f) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) => {
            // Milliseconds are the first three digits; finer ones are cut.
            let digits: String = f.chars().chain("000".chars()).take(3).collect();
            digits.parse::<i64>().ok()?
        }
        Some(_) => return None,
        None => 0,
    };
    Some(((hour * 60 + minute) * 60 + second) * 1000 + millis - offset_ms)
}

/// `+hh:mm`, `-hhmm`, `+hh` as signed milliseconds.
fn parse_offset(offset: &str) -> Option<i64> {
    let (sign, rest) = offset.split_at(1);
    let sign = if sign == "-" { -1 } else { 1 };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    let (hours, minutes) = match digits.len() {
        2 => (number(&digits, 2)?, 0),
        4 => (number(&digits[..2], 2)?, number(&digits[2..], 2)?),
        _ => return None,
    };
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some(sign * (hours * 60 + minutes) * 60_000)
}

/// A field of exactly `width` ASCII digits.
fn number(text: &str, width: usize) -> Option<i64> {
    (text.len() == width && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
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

/// The date of a day count since 1970-01-01 (Hinnant's `civil_from_days`).
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

/// UTC milliseconds as HubSpot writes datetimes: `2026-03-02T08:14:05.123Z`.
pub fn format_ms(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rest = ms.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3_600_000,
        rest / 60_000 % 60,
        rest / 1000 % 60,
        rest % 1000
    )
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
