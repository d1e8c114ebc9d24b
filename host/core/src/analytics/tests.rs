//! The analytics of a hand-checked book: six accounts, their memberships,
//! purchases, points, redemptions and tiers over 2025 and 2026.

use super::*;
use crate::event::Money;
use crate::program::{Fulfilment, Reward, RewardKind, Rounding, Tier};

fn at(day: &str) -> TimestampMs {
    let date: jiff::civil::Date = day.parse().unwrap();
    date.to_zoned(jiff::tz::TimeZone::UTC)
        .unwrap()
        .timestamp()
        .as_millisecond()
}

fn dec(text: &str) -> Decimal {
    text.parse().unwrap()
}

fn reward(id: &str, points: i64, value: Option<&str>) -> Reward {
    Reward {
        id: id.to_owned(),
        name: id.to_uppercase(),
        kind: RewardKind::Service,
        points,
        value: value.map(|v| Money {
            amount: dec(v),
            currency: "EUR".to_owned(),
        }),
        stock: None,
        tiers: Vec::new(),
        fulfilment: Fulfilment::Manual,
        description: String::new(),
    }
}

fn tier(id: &str, min: i64) -> Tier {
    Tier {
        id: id.to_owned(),
        name: id.to_owned(),
        min_spend: min.into(),
        discount_percent: Decimal::ZERO,
        earn_multiplier: Decimal::ONE,
        perks: Vec::new(),
    }
}

fn program() -> Program {
    let mut program = Program::basic("EUR", Decimal::ONE, Rounding::Floor);
    program.tiers.tiers = vec![tier("silver", 1000), tier("gold", 5000)];
    program.rewards = vec![
        reward("gift", 5000, Some("50")),
        reward("training", 2000, None),
        reward("mug", 100, None),
    ];
    program.scoring.margin_rate = Some(dec("0.4"));
    program.analytics = Settings {
        point_cost: dec("0.01"),
        fixed_costs: vec![FixedCost {
            name: "platform".to_owned(),
            monthly: dec("300"),
        }],
        baseline_days: 365,
    };
    program
}

fn active(day: &str) -> StatusChange {
    StatusChange {
        at: at(day),
        status: Some(MembershipStatus::Active),
    }
}

fn buy(day: &str, amount: i64) -> SpendItem {
    SpendItem {
        placed_at: at(day),
        amount: amount.into(),
    }
}

fn moved(day: &str, kind: EntryKind, points: i64) -> PointsMove {
    PointsMove {
        at: at(day),
        kind,
        points,
    }
}

/// A redemption fulfilled on `day`, with its three ledger entries.
fn redeemed(account: &mut AccountHistory, day: &str, reward: &str, points: i64) {
    account.points.extend([
        moved(day, EntryKind::Reserve, -points),
        moved(day, EntryKind::Release, points),
        moved(day, EntryKind::Redeem, -points),
    ]);
    account.redemptions.push(RedemptionFact {
        reward: reward.to_owned(),
        points,
        status: RedemptionStatus::Fulfilled,
        at: at(day),
    });
}

fn account(id: AccountId, name: &str, known: &str, eligible: bool) -> AccountHistory {
    AccountHistory {
        id,
        name: name.to_owned(),
        known_since: at(known),
        eligible,
        ..AccountHistory::default()
    }
}

/// The book the expected figures below were worked out from by hand.
fn book() -> Book {
    let mut a = account(1, "Brandt", "2025-01-01", true);
    a.membership = vec![active("2026-01-01")];
    a.purchases = vec![
        buy("2025-03-01", 3650),
        buy("2026-05-10", 1000),
        buy("2026-08-01", 2000),
    ];
    a.points = vec![
        moved("2026-05-10", EntryKind::Earn, 1000),
        moved("2026-08-01", EntryKind::Earn, 2000),
    ];
    redeemed(&mut a, "2026-09-01", "training", 2000);
    a.tiers = vec![TierChange {
        at: at("2026-08-01"),
        tier: Some("silver".to_owned()),
    }];

    let mut b = account(2, "Kessler", "2025-06-01", true);
    b.membership = vec![active("2026-08-15")];
    b.purchases = vec![buy("2026-04-01", 500), buy("2026-09-10", 800)];
    b.points = vec![moved("2026-09-10", EntryKind::Earn, 800)];

    let mut c = account(3, "Alpen", "2025-01-01", true);
    c.purchases = vec![buy("2026-02-15", 100), buy("2026-06-01", 700)];

    let mut d = account(4, "Lindqvist", "2025-01-01", false);
    d.purchases = vec![
        buy("2025-10-01", 300),
        buy("2026-05-01", 400),
        buy("2026-07-15", 600),
    ];

    let mut e = account(5, "Rhein", "2026-01-01", true);
    e.membership = vec![
        active("2026-02-01"),
        StatusChange {
            at: at("2026-09-01"),
            status: Some(MembershipStatus::Suspended),
        },
    ];
    e.purchases = vec![buy("2026-02-10", 10_000)];
    e.points = vec![
        moved("2026-02-10", EntryKind::Earn, 10_000),
        moved("2026-07-01", EntryKind::Expire, -1000),
        moved("2026-08-01", EntryKind::Adjust, -500),
        moved("2026-08-05", EntryKind::Reverse, -200),
    ];
    redeemed(&mut e, "2026-07-20", "gift", 5000);

    let mut f = account(6, "Nordwind", "2026-10-15", true);
    f.membership = vec![active("2026-10-15")];
    f.purchases = vec![buy("2026-10-20", 9000)];

    Book {
        accounts: vec![a, b, c, d, e, f],
        referrals: vec![
            ReferralFact {
                referrer: 1,
                referred: 2,
                qualified_at: Some(at("2026-09-10")),
            },
            ReferralFact {
                referrer: 4,
                referred: 3,
                qualified_at: Some(at("2026-03-01")),
            },
            ReferralFact {
                referrer: 1,
                referred: 6,
                qualified_at: None,
            },
        ],
        commissions: vec![
            CommissionFact {
                at: at("2026-06-01"),
                amount: dec("100"),
            },
            CommissionFact {
                at: at("2026-09-10"),
                amount: dec("150"),
            },
            CommissionFact {
                at: at("2026-09-20"),
                amount: dec("-30"),
            },
        ],
    }
}

fn q3() -> Report {
    report(&book(), &program(), &Period::parse("2026Q3").unwrap())
}

#[test]
fn participation_counts_members_at_the_end_among_the_eligible() {
    let p = q3().participation;
    // Members: Brandt and Kessler (Rhein is suspended, Nordwind came
    // later); eligible: those two, Alpen and Rhein.
    assert_eq!((p.members, p.eligible), (2, 4));
    assert_eq!(p.rate, Some(dec("50.0")));
    assert_eq!((p.active_members, p.new_members), (2, 1));
}

#[test]
fn points_of_the_period_and_the_liability_at_its_end() {
    let p = q3().points;
    assert_eq!(
        (p.issued, p.reversed, p.redeemed, p.expired),
        (2800, 700, 7000, 1000)
    );
    // 7000 / (2800 - 700): members redeemed points earned earlier.
    assert_eq!(p.redemption_rate, Some(dec("333.3")));
    // Brandt 1000, Kessler 800, Rhein 10000 - 1000 - 5000 - 500 - 200.
    assert_eq!(p.outstanding, 5100);
    assert_eq!(p.liability, dec("51.00"));
}

#[test]
fn revenue_against_non_members_and_against_the_baseline() {
    let r = q3().revenue;
    assert_eq!((r.members, r.non_members), (dec("2800"), dec("600")));
    assert_eq!(r.per_member, Some(dec("1400.00")));
    assert_eq!(r.per_non_member, Some(dec("200.00")));
    assert_eq!(r.incremental_vs_non_members, Some(dec("2400.00")));
    // Brandt enrolled before the quarter: 3650 in the year before, for
    // 92 of 365 days, is 920.
    assert_eq!(r.baseline_members, 1);
    assert_eq!(r.baseline, dec("920.00"));
    assert_eq!(r.baseline_group_actual, dec("2000"));
    assert_eq!(r.incremental, dec("1080.00"));
}

#[test]
fn retention_of_members_and_non_members_by_cohort() {
    let r = q3().retention;
    // Q2 buyers: Brandt, Kessler (members, both back), Alpen and
    // Lindqvist (Lindqvist back). Alpen first bought in Q1.
    assert_eq!(
        (r.members.of, r.members.count, r.members.rate),
        (2, 2, Some(dec("100.0")))
    );
    assert_eq!(r.non_members.rate, Some(dec("50.0")));
    let rows: Vec<_> = r
        .cohorts
        .iter()
        .map(|c| (c.cohort.as_str(), c.members.rate, c.non_members.rate))
        .collect();
    assert_eq!(
        rows,
        [
            ("2025Q1", Some(dec("100.0")), None),
            ("2025Q4", None, Some(dec("100.0"))),
            ("2026Q1", None, Some(dec("0.0"))),
            ("2026Q2", Some(dec("100.0")), None),
        ]
    );
}

#[test]
fn referrals_qualified_in_the_period_and_referred_revenue() {
    let r = q3().referrals;
    assert_eq!(r.qualified, 1);
    assert_eq!(r.referred_revenue, dec("800"));
    assert_eq!(r.top_referrers.len(), 1);
    assert_eq!(
        (r.top_referrers[0].account_id, r.top_referrers[0].qualified),
        (1, 1)
    );
}

#[test]
fn cost_and_roi() {
    let report = q3();
    // Training at 2000 x 0.01, the gift card at its value; three months
    // of platform; commissions 150 less a 30 clawback.
    assert_eq!(report.cost.rewards, dec("70.00"));
    assert_eq!(report.cost.fixed, dec("900.00"));
    assert_eq!(report.cost.commissions, dec("120"));
    assert_eq!(report.cost.total, dec("1090.00"));
    assert_eq!(report.roi.incremental_gross_margin, Some(dec("432.00")));
    // (432 - 1090) / 1090 = -60.37 %.
    assert_eq!(report.roi.percent, Some(dec("-60.4")));
    assert!(report.notes.is_empty());
}

#[test]
fn tiers_and_the_redemption_mix() {
    let report = q3();
    let tiers: Vec<_> = report
        .tiers
        .iter()
        .map(|t| (t.tier.as_deref(), t.members))
        .collect();
    assert_eq!(tiers, [(None, 1), (Some("silver"), 1), (Some("gold"), 0)]);
    let mix: Vec<_> = report
        .redemption_mix
        .iter()
        .map(|r| (r.reward.as_str(), r.redemptions, r.points))
        .collect();
    assert_eq!(
        mix,
        [("gift", 1, 5000), ("training", 1, 2000), ("mug", 0, 0)]
    );
}

#[test]
fn missing_settings_are_said_and_roi_left_out() {
    let mut program = program();
    program.analytics.point_cost = Decimal::ZERO;
    program.scoring.margin_rate = None;
    let report = report(&book(), &program, &Period::parse("2026Q3").unwrap());
    assert_eq!(report.roi.percent, None);
    assert_eq!(report.points.liability, dec("0.00"));
    assert_eq!(report.notes.len(), 2);
}

#[test]
fn without_a_baseline_group_there_is_no_roi() {
    // In 2026Q1 Brandt enrolled on the quarter's first day and Rhein
    // during it: nobody enrolled before it, so nobody has a baseline.
    let report = report(&book(), &program(), &Period::parse("2026Q1").unwrap());
    assert_eq!(report.revenue.baseline_members, 0);
    assert_eq!(report.roi.incremental_gross_margin, None);
    assert_eq!(report.roi.percent, None);
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("without a baseline")),
        "{:?}",
        report.notes
    );
}

#[test]
fn the_review_recommends_from_the_figures() {
    use crate::campaigns::{Attribution, Group};
    use crate::goals::{Goal, Metric, Status};
    use review::{CampaignResult, SegmentMembers};

    let goal = |id: &str, metric, target: i64| Goal {
        id: id.to_owned(),
        name: id.to_owned(),
        metric,
        baseline: Decimal::ZERO,
        target: target.into(),
        start: at("2026-07-01"),
        deadline: at("2027-01-01"),
        owner: "Partner sales".to_owned(),
    };
    let group = |accounts, purchasers| Group {
        accounts,
        purchasers,
        conversion_percent: None,
        revenue: Decimal::ZERO,
        revenue_per_account: None,
    };
    let campaign = CampaignResult {
        id: "spring".to_owned(),
        name: "Spring".to_owned(),
        started_at: Some(at("2026-08-01")),
        attribution: Some(Attribution {
            from: at("2026-08-01"),
            to: at("2026-09-01"),
            target: group(10, 1),
            holdout: group(10, 1),
            lift_percent: Some(dec("0.0")),
            incremental_revenue: None,
        }),
    };
    let earlier = CampaignResult {
        id: "winter".to_owned(),
        started_at: Some(at("2026-02-01")),
        ..campaign.clone()
    };
    let segment = SegmentMembers {
        id: "alpine".to_owned(),
        name: "Alpine".to_owned(),
        members: [2, 3].into(),
    };
    let review = review::review(
        &book(),
        &program(),
        &Period::parse("2026Q3").unwrap(),
        &[
            goal("members", Metric::Members, 4),
            goal("referrals", Metric::Referrals, 10),
        ],
        vec![campaign, earlier],
        &[segment],
        at("2026-12-01"),
    );
    let labels: Vec<_> = review
        .trend
        .iter()
        .map(|r| r.period.label.as_str())
        .collect();
    assert_eq!(labels, ["2025Q4", "2026Q1", "2026Q2", "2026Q3"]);
    assert_eq!(review.trend[3], review.quarter);
    // Goals stand as of the quarter's end: half the time gone, two of
    // four members (on track), one of ten referrals (behind).
    let standing: Vec<_> = review
        .goals
        .iter()
        .map(|g| (g.progress.percent, g.progress.status))
        .collect();
    assert_eq!(
        standing,
        [
            (Some(dec("50.0")), Status::OnTrack),
            (Some(dec("10.0")), Status::AtRisk)
        ]
    );
    assert_eq!(review.campaigns.len(), 1);
    // Alpine: of Q1's buyers (Alpen) all came back in Q2; of Q2's
    // (Kessler, Alpen) half in Q3.
    assert_eq!(review.segments[0].previous.rate, Some(dec("100.0")));
    assert_eq!(review.segments[0].current.rate, Some(dec("50.0")));
    let topics: Vec<_> = review.recommendations.iter().map(|r| r.topic).collect();
    assert_eq!(
        topics,
        [
            "reward_unused",
            "tier_unreached",
            "segment_retention_falling",
            "goal_behind",
            "campaign_no_lift"
        ]
    );
    assert!(review.recommendations[0].finding.contains("`mug`"));
    assert!(review.recommendations[1].finding.contains("`gold`"));
}
