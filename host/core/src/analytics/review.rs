//! The quarterly review: the quarter's analytics beside the three before
//! it, goals, campaigns and segments, and the adjustments the figures call
//! for, each with the finding behind it.

use std::collections::BTreeSet;

use rust_decimal::Decimal;

use super::{Book, Period, Report, Share, report};
use crate::accounts::AccountId;
use crate::campaigns::Attribution;
use crate::event::TimestampMs;
use crate::goals::{self, Goal, Progress, Status};
use crate::program::Program;

/// Quarters a review's trends cover, the reviewed one included.
pub const TREND_QUARTERS: usize = 4;

/// A redemption rate below this (percent) with points still growing means
/// members are not using them.
const LOW_REDEMPTION_PERCENT: i64 = 10;

/// A participation rate below this (percent) leaves most eligible accounts
/// outside.
const LOW_PARTICIPATION_PERCENT: i64 = 50;

/// A campaign and how it did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CampaignResult {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// When it started sending.
    pub started_at: Option<TimestampMs>,
    /// Targeted accounts against the holdout.
    pub attribution: Option<Attribution>,
}

/// A segment as the review sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentMembers {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Its accounts now.
    pub members: BTreeSet<AccountId>,
}

/// A segment's retention this quarter and the one before.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SegmentRetention {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Its accounts now.
    pub accounts: u64,
    /// Of its accounts that bought in the previous quarter, how many
    /// bought in this one.
    pub current: Share,
    /// The same one quarter earlier.
    pub previous: Share,
}

/// A goal with its progress at the quarter's end.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GoalStanding {
    /// The goal.
    pub goal: Goal,
    /// Its progress.
    pub progress: Progress,
}

/// An adjustment the figures suggest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Recommendation {
    /// What it is about: `reward_unused`, `tier_unreached`,
    /// `segment_retention_falling`, `points_unused`, `participation_low`,
    /// `goal_behind`, `retention_no_better`, `campaign_no_lift`.
    pub topic: &'static str,
    /// What the figures show.
    pub finding: String,
    /// What to change.
    pub adjustment: String,
}

/// A quarterly review.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Review {
    /// The quarter's analytics.
    pub quarter: Report,
    /// The quarter and the three before it, oldest first.
    pub trend: Vec<Report>,
    /// Goals at the quarter's end.
    pub goals: Vec<GoalStanding>,
    /// Campaigns started in the quarter.
    pub campaigns: Vec<CampaignResult>,
    /// Segments' retention.
    pub segments: Vec<SegmentRetention>,
    /// What to adjust.
    pub recommendations: Vec<Recommendation>,
}

/// Retention among `members`: of those that bought in the period before
/// `period`, how many bought in it.
pub fn retention_among(book: &Book, members: &BTreeSet<AccountId>, period: &Period) -> Share {
    let Some(previous) = period.previous() else {
        return Share::default();
    };
    let base: Vec<_> = book
        .accounts
        .iter()
        .filter(|a| members.contains(&a.id) && a.bought_in(&previous))
        .collect();
    let retained = base.iter().filter(|a| a.bought_in(period)).count();
    Share::new(
        u64::try_from(retained).unwrap_or(u64::MAX),
        u64::try_from(base.len()).unwrap_or(u64::MAX),
    )
}

/// Each segment's retention in `quarter` and in the quarter before.
pub fn segment_retention(
    book: &Book,
    segments: &[SegmentMembers],
    quarter: &Period,
) -> Vec<SegmentRetention> {
    segments
        .iter()
        .map(|s| SegmentRetention {
            id: s.id.clone(),
            name: s.name.clone(),
            accounts: u64::try_from(s.members.len()).unwrap_or(u64::MAX),
            current: retention_among(book, &s.members, quarter),
            previous: quarter
                .previous()
                .map(|p| retention_among(book, &s.members, &p))
                .unwrap_or_default(),
        })
        .collect()
}

/// The goals' standing at `at`.
pub fn standings(
    book: &Book,
    program: &Program,
    goals: &[Goal],
    at: TimestampMs,
) -> Vec<GoalStanding> {
    goals
        .iter()
        .map(|goal| {
            let current = goal
                .period(at)
                .and_then(|period| goal.metric.value(&report(book, program, &period)));
            GoalStanding {
                goal: goal.clone(),
                progress: goals::progress(goal, current, at),
            }
        })
        .collect()
}

/// Reviews `quarter` as of `now`.
pub fn review(
    book: &Book,
    program: &Program,
    quarter: &Period,
    goals: &[Goal],
    campaigns: Vec<CampaignResult>,
    segments: &[SegmentMembers],
    now: TimestampMs,
) -> Review {
    let trend: Vec<Report> = quarter
        .trailing(TREND_QUARTERS)
        .iter()
        .map(|period| report(book, program, period))
        .collect();
    let current = report(book, program, quarter);
    let goals = standings(book, program, goals, now.min(quarter.to));
    let campaigns: Vec<CampaignResult> = campaigns
        .into_iter()
        .filter(|c| c.started_at.is_some_and(|at| quarter.contains(at)))
        .collect();
    let segments = segment_retention(book, segments, quarter);
    let mut review = Review {
        quarter: current,
        trend,
        goals,
        campaigns,
        segments,
        recommendations: Vec::new(),
    };
    review.recommendations = recommend(program, &review);
    review
}

fn recommend(program: &Program, review: &Review) -> Vec<Recommendation> {
    let mut found = Vec::new();
    let quarter = &review.quarter;
    let span = match (review.trend.first(), review.trend.last()) {
        (Some(first), Some(last)) if review.trend.len() > 1 => {
            format!("{} to {}", first.period, last.period)
        }
        _ => quarter.period.label.clone(),
    };
    // Without members, unused rewards and empty tiers say nothing about
    // the rewards or the tiers.
    let rewards = if quarter.participation.members > 0 {
        program.rewards.as_slice()
    } else {
        &[]
    };
    for reward in rewards {
        let used: u64 = review
            .trend
            .iter()
            .flat_map(|r| r.redemption_mix.iter())
            .filter(|m| m.reward == reward.id)
            .map(|m| m.redemptions)
            .sum();
        if used == 0 {
            found.push(Recommendation {
                topic: "reward_unused",
                finding: format!(
                    "reward `{}` ({}) was never redeemed from {span}",
                    reward.id, reward.name
                ),
                adjustment: format!(
                    "lower its price of {} points, make it known in a campaign, or replace it",
                    reward.points
                ),
            });
        }
    }
    for tier in &quarter.tiers {
        if let (Some(id), 0, true) = (&tier.tier, tier.members, quarter.participation.members > 0) {
            let min = program.tier(id).map_or_else(String::new, |t| {
                format!(" (qualifying spend {} {})", t.min_spend, program.currency)
            });
            found.push(Recommendation {
                topic: "tier_unreached",
                finding: format!("no member was in tier `{id}`{min} at the end of {}", quarter.period),
                adjustment: "lower its qualifying spend or lengthen the tier window so that it is within reach".to_owned(),
            });
        }
    }
    for segment in &review.segments {
        if let (Some(now), Some(before)) = (segment.current.rate, segment.previous.rate)
            && now < before
        {
            found.push(Recommendation {
                topic: "segment_retention_falling",
                finding: format!(
                    "retention in segment `{}` fell from {before} % to {now} % in {}",
                    segment.id, quarter.period
                ),
                adjustment: "target the segment with a win-back campaign or a bonus offer"
                    .to_owned(),
            });
        }
    }
    let outstanding_grew = review
        .trend
        .iter()
        .rev()
        .nth(1)
        .is_some_and(|before| quarter.points.outstanding > before.points.outstanding);
    if let Some(rate) = quarter.points.redemption_rate
        && rate < Decimal::from(LOW_REDEMPTION_PERCENT)
        && outstanding_grew
    {
        found.push(Recommendation {
            topic: "points_unused",
            finding: format!(
                "only {rate} % of the points issued in {} were redeemed and {} points are outstanding",
                quarter.period, quarter.points.outstanding
            ),
            adjustment: "add rewards at lower prices or remind members of their balance in the statements".to_owned(),
        });
    }
    if let Some(rate) = quarter.participation.rate
        && rate < Decimal::from(LOW_PARTICIPATION_PERCENT)
    {
        found.push(Recommendation {
            topic: "participation_low",
            finding: format!(
                "{} of {} eligible accounts ({rate} %) were members at the end of {}",
                quarter.participation.members, quarter.participation.eligible, quarter.period
            ),
            adjustment: "invite the eligible accounts that have not joined".to_owned(),
        });
    }
    for standing in &review.goals {
        if matches!(standing.progress.status, Status::AtRisk | Status::Missed) {
            found.push(Recommendation {
                topic: "goal_behind",
                finding: format!(
                    "goal `{}` ({}) is {}: {} % of the way with {} % of the time gone",
                    standing.goal.id,
                    standing.goal.name,
                    standing.progress.status.as_str().replace('_', " "),
                    standing
                        .progress
                        .percent
                        .map_or_else(|| "unknown".to_owned(), |p| p.to_string()),
                    standing.progress.elapsed_percent
                ),
                adjustment: format!("{} to review the plan or the target", standing.goal.owner),
            });
        }
    }
    if let (Some(members), Some(others)) = (
        quarter.retention.members.rate,
        quarter.retention.non_members.rate,
    ) && members <= others
    {
        found.push(Recommendation {
            topic: "retention_no_better",
            finding: format!(
                "members were retained at {members} % against {others} % for non-members in {}",
                quarter.period
            ),
            adjustment:
                "make the benefits of staying visible: tier perks, expiring points, renewal offers"
                    .to_owned(),
        });
    }
    for campaign in &review.campaigns {
        if let Some(lift) = campaign.attribution.as_ref().and_then(|a| a.lift_percent)
            && lift <= Decimal::ZERO
        {
            found.push(Recommendation {
                topic: "campaign_no_lift",
                finding: format!(
                    "campaign `{}` ({}) converted no better than its holdout (lift {lift} %)",
                    campaign.id, campaign.name
                ),
                adjustment: "change its offer or its segment before running it again".to_owned(),
            });
        }
    }
    found
}
