//! The calendar periods analytics are computed over: a year (`2026`), a
//! quarter (`2026Q3`), a month (`2026-07`) or any range of days
//! (`2026-07-01..2026-08-15`, end exclusive), all in UTC.

use jiff::civil::{Date, date};
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp};

use crate::event::TimestampMs;

/// A period `[from, to)` with its name.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Period {
    /// How it was named: `2026Q3`, `2026-07`, `2026`, `2026-07-01..2026-08-15`.
    pub label: String,
    /// Its first millisecond.
    pub from: TimestampMs,
    /// The first millisecond after it.
    pub to: TimestampMs,
    #[serde(skip)]
    kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Year,
    Quarter,
    Month,
    Days,
}

/// Why a period name is not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a period: use a year (2026), a quarter (2026Q3), a month (2026-07) or days (2026-07-01..2026-08-15, end exclusive)"
)]
pub struct PeriodError(pub String);

fn ms(day: Date) -> Option<TimestampMs> {
    day.to_zoned(TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp().as_millisecond())
}

fn day_of(at: TimestampMs) -> Option<Date> {
    Timestamp::from_millisecond(at)
        .ok()
        .map(|t| t.to_zoned(TimeZone::UTC).date())
}

impl Period {
    fn new(kind: Kind, label: String, start: Date, end: Date) -> Option<Self> {
        Some(Self {
            label,
            from: ms(start)?,
            to: ms(end)?,
            kind,
        })
    }

    /// The quarter `q` (1 to 4) of `year`.
    pub fn quarter(year: i16, q: i8) -> Option<Self> {
        if !(1..=4).contains(&q) {
            return None;
        }
        let start = Date::new(year, (q - 1) * 3 + 1, 1).ok()?;
        let end = start.checked_add(Span::new().months(3)).ok()?;
        Self::new(Kind::Quarter, format!("{year}Q{q}"), start, end)
    }

    /// The month `month` of `year`.
    pub fn month(year: i16, month: i8) -> Option<Self> {
        let start = Date::new(year, month, 1).ok()?;
        let end = start.checked_add(Span::new().months(1)).ok()?;
        Self::new(Kind::Month, format!("{year}-{month:02}"), start, end)
    }

    /// The year `year`.
    pub fn year(year: i16) -> Option<Self> {
        let start = Date::new(year, 1, 1).ok()?;
        let end = start.checked_add(Span::new().years(1)).ok()?;
        Self::new(Kind::Year, year.to_string(), start, end)
    }

    /// The days from `start` up to (not including) `end`.
    pub fn days(start: Date, end: Date) -> Option<Self> {
        (start < end).then_some(())?;
        Self::new(Kind::Days, format!("{start}..{end}"), start, end)
    }

    /// The quarter holding `at`.
    pub fn quarter_of(at: TimestampMs) -> Option<Self> {
        let day = day_of(at)?;
        Self::quarter(day.year(), (day.month() - 1) / 3 + 1)
    }

    /// The month holding `at`.
    pub fn month_of(at: TimestampMs) -> Option<Self> {
        let day = day_of(at)?;
        Self::month(day.year(), day.month())
    }

    /// Whether it is a calendar month.
    pub fn is_month(&self) -> bool {
        self.kind == Kind::Month
    }

    /// Parses a period's name.
    pub fn parse(text: &str) -> Result<Self, PeriodError> {
        let error = || PeriodError(text.to_owned());
        let text = text.trim();
        let parsed = if let Some((start, end)) = text.split_once("..") {
            let start: Date = start.parse().map_err(|_| error())?;
            let end: Date = end.parse().map_err(|_| error())?;
            Self::days(start, end)
        } else if let Some((year, q)) = text.split_once(['Q', 'q']) {
            Self::quarter(
                year.parse().map_err(|_| error())?,
                q.parse().map_err(|_| error())?,
            )
        } else if let Some((year, month)) = text.split_once('-') {
            if month.len() != 2 {
                return Err(error());
            }
            Self::month(
                year.parse().map_err(|_| error())?,
                month.parse().map_err(|_| error())?,
            )
        } else if text.len() == 4 {
            Self::year(text.parse().map_err(|_| error())?)
        } else {
            None
        };
        parsed.ok_or_else(error)
    }

    /// The period of the same kind and length just before this one.
    pub fn previous(&self) -> Option<Self> {
        let start = day_of(self.from)?;
        match self.kind {
            Kind::Year => Self::year(start.year() - 1),
            Kind::Quarter => {
                let prior = start.checked_sub(Span::new().months(3)).ok()?;
                Self::quarter(prior.year(), (prior.month() - 1) / 3 + 1)
            }
            Kind::Month => {
                let prior = start.checked_sub(Span::new().months(1)).ok()?;
                Self::month(prior.year(), prior.month())
            }
            Kind::Days => {
                let end = day_of(self.to)?;
                let length = start.until(end).ok()?;
                Self::days(start.checked_sub(length).ok()?, start)
            }
        }
    }

    /// This period and the `count - 1` before it, oldest first.
    pub fn trailing(&self, count: usize) -> Vec<Self> {
        let mut periods = vec![self.clone()];
        while periods.len() < count {
            match periods.last().and_then(Self::previous) {
                Some(prior) => periods.push(prior),
                None => break,
            }
        }
        periods.reverse();
        periods
    }

    /// Whether it is a calendar quarter.
    pub fn is_quarter(&self) -> bool {
        self.kind == Kind::Quarter
    }

    /// Its length in whole days.
    pub fn length_days(&self) -> i64 {
        (self.to - self.from) / 86_400_000
    }

    /// Whether `at` falls in it.
    pub fn contains(&self, at: TimestampMs) -> bool {
        self.from <= at && at < self.to
    }

    /// The months it overlaps, each with the overlapping days and the
    /// month's length in days.
    pub fn month_shares(&self) -> Vec<(i64, i64)> {
        let mut shares = Vec::new();
        let Some(first) = day_of(self.from) else {
            return shares;
        };
        let mut month = date(first.year(), first.month(), 1);
        while let Some(start) = ms(month) {
            if start >= self.to {
                break;
            }
            let Some(next) = month.checked_add(Span::new().months(1)).ok() else {
                break;
            };
            let Some(end) = ms(next) else {
                break;
            };
            let overlap = end.min(self.to) - start.max(self.from);
            if overlap > 0 {
                shares.push((overlap / 86_400_000, (end - start) / 86_400_000));
            }
            month = next;
        }
        shares
    }
}

impl std::fmt::Display for Period {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.label)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(day: &str) -> TimestampMs {
        ms(day.parse().unwrap()).unwrap()
    }

    #[test]
    fn a_quarter_runs_from_its_first_day_to_the_next_quarters() {
        let q = Period::parse("2026Q3").unwrap();
        assert_eq!((q.from, q.to), (at("2026-07-01"), at("2026-10-01")));
        assert_eq!(q.length_days(), 92);
        assert_eq!(q.previous().unwrap().label, "2026Q2");
        assert_eq!(
            Period::parse("2026Q1").unwrap().previous().unwrap().label,
            "2025Q4"
        );
    }

    #[test]
    fn months_years_and_day_ranges_parse() {
        let m = Period::parse("2026-02").unwrap();
        assert_eq!((m.from, m.to), (at("2026-02-01"), at("2026-03-01")));
        assert_eq!(m.previous().unwrap().label, "2026-01");
        let y = Period::parse("2025").unwrap();
        assert_eq!((y.from, y.to), (at("2025-01-01"), at("2026-01-01")));
        let d = Period::parse("2026-07-01..2026-07-11").unwrap();
        assert_eq!(d.length_days(), 10);
        let before = d.previous().unwrap();
        assert_eq!(
            (before.from, before.to),
            (at("2026-06-21"), at("2026-07-01"))
        );
    }

    #[test]
    fn nonsense_is_refused_with_the_forms_that_work() {
        for text in [
            "2026Q5",
            "2026-13",
            "26",
            "2026-7",
            "2026-07-10..2026-07-01",
            "soon",
        ] {
            let error = Period::parse(text).unwrap_err();
            assert!(error.to_string().contains("2026Q3"), "{text}: {error}");
        }
    }

    #[test]
    fn trailing_quarters_cross_the_year() {
        let labels: Vec<_> = Period::parse("2026Q2")
            .unwrap()
            .trailing(4)
            .into_iter()
            .map(|p| p.label)
            .collect();
        assert_eq!(labels, ["2025Q3", "2025Q4", "2026Q1", "2026Q2"]);
    }

    #[test]
    fn month_shares_cover_partial_months() {
        assert_eq!(
            Period::parse("2026Q1").unwrap().month_shares(),
            [(31, 31), (28, 28), (31, 31)]
        );
        assert_eq!(
            Period::parse("2026-01-16..2026-02-15")
                .unwrap()
                .month_shares(),
            [(16, 31), (14, 28)]
        );
    }

    #[test]
    fn the_quarter_of_an_instant() {
        assert_eq!(
            Period::quarter_of(at("2026-08-15") + 5).unwrap().label,
            "2026Q3"
        );
    }
}
