//! SMART goals: a measurable analytics figure, a baseline, a target and a
//! deadline, with an owner. Progress is how far the figure has moved from
//! the baseline towards the target, judged against how much of the time
//! has passed.

use rust_decimal::Decimal;

use crate::analytics::{Period, Report};
use crate::event::TimestampMs;
use crate::scoring::round;

/// The analytics figures a goal can measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// `participation.rate`, percent.
    ParticipationRate,
    /// `participation.members`.
    Members,
    /// `participation.active_members`.
    ActiveMembers,
    /// `points.redemption_rate`, percent.
    RedemptionRate,
    /// `points.issued`.
    PointsIssued,
    /// `revenue.members`.
    MemberRevenue,
    /// `revenue.incremental`.
    IncrementalRevenue,
    /// `retention.members.rate`, percent.
    MemberRetention,
    /// `referrals.qualified`.
    Referrals,
    /// `referrals.referred_revenue`.
    ReferredRevenue,
    /// `roi.percent`.
    Roi,
}

impl Metric {
    /// Every metric.
    pub const ALL: [Self; 11] = [
        Self::ParticipationRate,
        Self::Members,
        Self::ActiveMembers,
        Self::RedemptionRate,
        Self::PointsIssued,
        Self::MemberRevenue,
        Self::IncrementalRevenue,
        Self::MemberRetention,
        Self::Referrals,
        Self::ReferredRevenue,
        Self::Roi,
    ];

    /// Its configured name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ParticipationRate => "participation_rate",
            Self::Members => "members",
            Self::ActiveMembers => "active_members",
            Self::RedemptionRate => "redemption_rate",
            Self::PointsIssued => "points_issued",
            Self::MemberRevenue => "member_revenue",
            Self::IncrementalRevenue => "incremental_revenue",
            Self::MemberRetention => "member_retention",
            Self::Referrals => "referrals",
            Self::ReferredRevenue => "referred_revenue",
            Self::Roi => "roi",
        }
    }

    /// Parses a configured name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == text)
    }

    /// Its value in `report`; `None` when the report cannot say.
    pub fn value(self, report: &Report) -> Option<Decimal> {
        match self {
            Self::ParticipationRate => report.participation.rate,
            Self::Members => Some(report.participation.members.into()),
            Self::ActiveMembers => Some(report.participation.active_members.into()),
            Self::RedemptionRate => report.points.redemption_rate,
            Self::PointsIssued => Some(report.points.issued.into()),
            Self::MemberRevenue => Some(report.revenue.members),
            Self::IncrementalRevenue => Some(report.revenue.incremental),
            Self::MemberRetention => report.retention.members.rate,
            Self::Referrals => Some(report.referrals.qualified.into()),
            Self::ReferredRevenue => Some(report.referrals.referred_revenue),
            Self::Roi => report.roi.percent,
        }
    }
}

/// A goal (`[[goals]]`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Goal {
    /// Stable name.
    pub id: String,
    /// What it is, in words.
    pub name: String,
    /// The figure it measures.
    pub metric: Metric,
    /// The figure when the goal was set.
    #[serde(with = "rust_decimal::serde::str")]
    pub baseline: Decimal,
    /// The figure to reach; below the baseline for a goal to bring a
    /// figure down.
    #[serde(with = "rust_decimal::serde::str")]
    pub target: Decimal,
    /// When measuring starts.
    pub start: TimestampMs,
    /// When the target must be reached: the first instant after the
    /// configured day.
    pub deadline: TimestampMs,
    /// Who answers for it.
    pub owner: String,
}

impl Goal {
    /// The period its figure is measured over at `now`: from its start to
    /// now or its deadline, whichever comes first; `None` before it starts.
    pub fn period(&self, now: TimestampMs) -> Option<Period> {
        let end = now.min(self.deadline);
        let day = |at: TimestampMs| {
            jiff::Timestamp::from_millisecond(at)
                .ok()
                .map(|t| t.to_zoned(jiff::tz::TimeZone::UTC).date())
        };
        let start = day(self.start)?;
        // The day holding `end` counts whole; a deadline at midnight ends
        // the day before.
        let mut last = day(end)?;
        if end.rem_euclid(86_400_000) != 0 {
            last = last.tomorrow().ok()?;
        }
        Period::days(start, last)
    }
}

/// Where a goal stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Its start has not come.
    NotStarted,
    /// The target is reached.
    Achieved,
    /// Progress keeps up with the time elapsed (at least 90 % of it).
    OnTrack,
    /// Progress lags the time elapsed.
    AtRisk,
    /// The deadline passed without the target reached.
    Missed,
}

impl Status {
    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotStarted => "not_started",
            Self::Achieved => "achieved",
            Self::OnTrack => "on_track",
            Self::AtRisk => "at_risk",
            Self::Missed => "missed",
        }
    }
}

/// A goal's progress.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Progress {
    /// The figure now; `None` when the analytics cannot say (an ROI
    /// without a margin).
    #[serde(with = "rust_decimal::serde::str_option")]
    pub current: Option<Decimal>,
    /// `(current - baseline) / (target - baseline) x 100`, 1 dp.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub percent: Option<Decimal>,
    /// Share of the time from start to deadline elapsed, percent, 1 dp.
    #[serde(with = "rust_decimal::serde::str")]
    pub elapsed_percent: Decimal,
    /// Where it stands.
    pub status: Status,
}

/// How `goal` stands at `now`, its figure being `current`.
pub fn progress(goal: &Goal, current: Option<Decimal>, now: TimestampMs) -> Progress {
    let span = (goal.deadline - goal.start).max(1);
    let elapsed = (now - goal.start).clamp(0, span);
    let elapsed_percent = round(
        Decimal::from(elapsed) * Decimal::ONE_HUNDRED / Decimal::from(span),
        1,
    );
    let percent = current.map(|current| {
        let distance = goal.target - goal.baseline;
        if distance.is_zero() {
            return round(Decimal::ONE_HUNDRED, 1);
        }
        round(
            (current - goal.baseline) * Decimal::ONE_HUNDRED / distance,
            1,
        )
    });
    let reached = percent.is_some_and(|p| p >= Decimal::ONE_HUNDRED);
    let status = if now < goal.start {
        Status::NotStarted
    } else if reached {
        Status::Achieved
    } else if now >= goal.deadline {
        Status::Missed
    } else if percent.is_some_and(|p| p * Decimal::TEN >= elapsed_percent * Decimal::from(9)) {
        Status::OnTrack
    } else {
        Status::AtRisk
    };
    Progress {
        current,
        percent,
        elapsed_percent,
        status,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    fn goal(baseline: i64, target: i64) -> Goal {
        Goal {
            id: "g".to_owned(),
            name: "Goal".to_owned(),
            metric: Metric::Members,
            baseline: baseline.into(),
            target: target.into(),
            start: 0,
            deadline: 100 * DAY,
            owner: "Head of partner sales".to_owned(),
        }
    }

    #[test]
    fn progress_keeping_up_with_time_is_on_track() {
        // Halfway through, 45 % of the way: 45 >= 0.9 x 50.
        let p = progress(&goal(100, 200), Some(145.into()), 50 * DAY);
        assert_eq!(p.percent, Some(Decimal::new(450, 1)));
        assert_eq!(p.elapsed_percent, Decimal::new(500, 1));
        assert_eq!(p.status, Status::OnTrack);
    }

    #[test]
    fn progress_lagging_time_is_at_risk() {
        let p = progress(&goal(100, 200), Some(144.into()), 50 * DAY);
        assert_eq!(p.status, Status::AtRisk);
    }

    #[test]
    fn a_goal_to_bring_a_figure_down_moves_the_right_way() {
        // From 40 down to 20; at 30, half the way.
        let p = progress(&goal(40, 20), Some(30.into()), 10 * DAY);
        assert_eq!(p.percent, Some(Decimal::new(500, 1)));
        assert_eq!(p.status, Status::OnTrack);
    }

    #[test]
    fn reaching_the_target_achieves_it_even_after_the_deadline() {
        assert_eq!(
            progress(&goal(100, 200), Some(200.into()), 10 * DAY).status,
            Status::Achieved
        );
        assert_eq!(
            progress(&goal(100, 200), Some(199.into()), 101 * DAY).status,
            Status::Missed
        );
    }

    #[test]
    fn before_its_start_a_goal_has_not_started() {
        let mut g = goal(0, 10);
        g.start = 5 * DAY;
        g.deadline = 10 * DAY;
        let p = progress(&g, Some(0.into()), DAY);
        assert_eq!(p.status, Status::NotStarted);
        assert_eq!(p.elapsed_percent, Decimal::new(0, 1));
        assert_eq!(g.period(DAY), None);
    }

    #[test]
    fn without_a_figure_a_goal_is_at_risk() {
        let p = progress(&goal(0, 10), None, 50 * DAY);
        assert_eq!((p.percent, p.status), (None, Status::AtRisk));
    }

    #[test]
    fn the_measured_period_ends_with_the_deadline_or_today() {
        let g = goal(0, 10);
        assert_eq!(
            g.period(5 * DAY + 7).unwrap().label,
            "1970-01-01..1970-01-07"
        );
        assert_eq!(g.period(500 * DAY).unwrap().label, "1970-01-01..1970-04-11");
    }

    #[test]
    fn metric_names_round_trip() {
        for metric in Metric::ALL {
            assert_eq!(Metric::parse(metric.as_str()), Some(metric));
        }
        assert_eq!(Metric::parse("happiness"), None);
    }
}
