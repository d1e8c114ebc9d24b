//! SAP Gateway's wire details: OData V2 date values and filter literals,
//! query strings, and the JSON error body.

use serde_json::{Value, json};

/// Milliseconds in a day.
pub const MS_PER_DAY: i64 = 86_400_000;

/// `/Date(ms)/` (`Edm.DateTime`).
pub fn date(ms: i64) -> String {
    format!("/Date({ms})/")
}

/// `/Date(ms+0000)/` (`Edm.DateTimeOffset` in UTC).
pub fn date_time_offset(ms: i64) -> String {
    format!("/Date({ms}+0000)/")
}

/// The UTC midnight of the day holding `ms`.
pub fn day_of(ms: i64) -> i64 {
    ms.div_euclid(MS_PER_DAY) * MS_PER_DAY
}

/// `PT17H49M05S` (`Edm.Time`) of the time of day of `ms`.
pub fn time_of_day(ms: i64) -> String {
    let seconds = ms.rem_euclid(MS_PER_DAY) / 1_000;
    format!(
        "PT{:02}H{:02}M{:02}S",
        seconds / 3_600,
        seconds / 60 % 60,
        seconds % 60
    )
}

/// Parses `/Date(ms)/`, as a POST body carries it.
pub fn parse_date(text: &str) -> Option<i64> {
    text.strip_prefix("/Date(")?
        .strip_suffix(")/")?
        .parse()
        .ok()
}

/// Milliseconds of `YYYY-MM-DDTHH:MM:SS[.fff]` (UTC), the body of a
/// `datetime'..'` or `datetimeoffset'..Z'` literal.
pub fn parse_iso(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |from: usize, to: usize| text.get(from..to)?.parse::<i64>().ok();
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let millis = match &text[19..] {
        "" => 0,
        fraction => {
            let digits = fraction.strip_prefix('.')?;
            if digits.is_empty() || digits.len() > 7 || !digits.bytes().all(|d| d.is_ascii_digit())
            {
                return None;
            }
            format!("{digits:0<3}")[..3].parse::<i64>().ok()?
        }
    };
    // Howard Hinnant's `days_from_civil`.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * MS_PER_DAY + ((hour * 60 + minute) * 60 + second) * 1_000 + millis)
}

/// The parameters of a query string, percent-decoded, in order.
pub fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(name), percent_decode(value))
        })
        .collect()
}

/// Decodes `%XX` escapes (OData clients send spaces as `%20`; `+` is kept).
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = text.get(i + 1..i + 3)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes a query value for a `__next` link.
pub fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~,/:()".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// SAP Gateway's error body.
pub fn error_body(code: &str, message: &str) -> Value {
    json!({
        "error": {
            "code": code,
            "message": { "lang": "en", "value": message },
            "innererror": {
                "application": { "component_id": "", "service_namespace": "/SAP/", "service_version": "0001" },
                "transactionid": "5C3F9A1E0B7A4E2FA4E6C8F1D2B3A4C5",
                "timestamp": "20260501120000.0000000",
                "errordetails": [],
            },
        }
    })
}

/// Sums decimal strings with at most two decimals (`TotalNetAmount`);
/// `None` when one is not such a number.
pub fn sum_amounts<'a>(amounts: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let mut cents = 0_i64;
    for amount in amounts {
        let (whole, fraction) = amount.split_once('.').unwrap_or((amount, ""));
        if fraction.len() > 2 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let whole: i64 = whole.parse().ok()?;
        let fraction: i64 = format!("{fraction:0<2}").parse().ok()?;
        cents += whole * 100
            + if whole < 0 || amount.starts_with('-') {
                -fraction
            } else {
                fraction
            };
    }
    let sign = if cents < 0 { "-" } else { "" };
    Some(format!(
        "{sign}{}.{:02}",
        cents.abs() / 100,
        cents.abs() % 100
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_literals_round_trip_the_calendar() {
        assert_eq!(parse_iso("1970-01-01T00:00:00"), Some(0));
        assert_eq!(parse_iso("2026-05-01T00:00:00"), Some(1_777_593_600_000));
        assert_eq!(
            parse_iso("2026-05-01T13:00:00.123"),
            Some(1_777_640_400_123)
        );
        assert_eq!(parse_iso("2026-05-01 13:00:00"), None);
        assert_eq!(time_of_day(1_777_640_405_000), "PT13H00M05S");
        assert_eq!(
            sum_amounts(["100.00", "24.5", "0.25"]).as_deref(),
            Some("124.75")
        );
        assert_eq!(sum_amounts(["12,50"]), None);
    }
}
