//! The quarterly review as one HTML page: key figures, the charts, the
//! tables behind them, the recommendations and how each figure is
//! computed. Text goes through the template's HTML escaping; only the
//! charts, which escape their own text, are inserted as markup.

use minijinja::{Environment, Value, context};
use rust_decimal::Decimal;

use super::charts::{self, Chart, Progress, Series};
use crate::core::analytics::review::{GoalStanding, Review};

const TEMPLATE: &str = include_str!("review.html");

/// Every chart of the review, by id, as HTML.
pub fn review_charts(review: &Review) -> Vec<(&'static str, String)> {
    let quarters: Vec<String> = review
        .trend
        .iter()
        .map(|r| r.period.label.clone())
        .collect();
    let over_quarters =
        |name: &str, value: &dyn Fn(&crate::core::analytics::Report) -> Decimal| Series {
            name: name.to_owned(),
            values: review.trend.iter().map(|r| Some(value(r))).collect(),
        };
    let currency = review.quarter.currency.as_str();
    let mut out = Vec::new();
    out.push((
        "members",
        charts::lines(
            &Chart {
                id: "members",
                title: "Members and active members at each quarter's end",
                unit: "accounts",
            },
            &quarters,
            &[
                over_quarters("Members", &|r| r.participation.members.into()),
                over_quarters("Active members", &|r| r.participation.active_members.into()),
            ],
        ),
    ));
    out.push((
        "points",
        charts::bars(
            &Chart {
                id: "points",
                title: "Points issued, redeemed and expired by quarter",
                unit: "points",
            },
            &quarters,
            &[
                over_quarters("Issued", &|r| r.points.issued.into()),
                over_quarters("Redeemed", &|r| r.points.redeemed.into()),
                over_quarters("Expired", &|r| r.points.expired.into()),
            ],
        ),
    ));
    out.push((
        "revenue",
        charts::bars(
            &Chart {
                id: "revenue",
                title: "Revenue of members and non-members, and incremental revenue, by quarter",
                unit: currency,
            },
            &quarters,
            &[
                over_quarters("Members", &|r| r.revenue.members),
                over_quarters("Non-members", &|r| r.revenue.non_members),
                over_quarters("Incremental", &|r| r.revenue.incremental),
            ],
        ),
    ));
    let quarter = &review.quarter;
    out.push((
        "tiers",
        charts::horizontal(
            &Chart {
                id: "tiers",
                title: "Members by tier at the quarter's end",
                unit: "members",
            },
            &quarter
                .tiers
                .iter()
                .map(|t| {
                    (
                        t.tier.clone().unwrap_or_else(|| "no tier".to_owned()),
                        t.members.into(),
                    )
                })
                .collect::<Vec<_>>(),
        ),
    ));
    out.push((
        "redemptions",
        charts::horizontal(
            &Chart {
                id: "redemptions",
                title: "Redemptions fulfilled by reward in the quarter",
                unit: "redemptions",
            },
            &quarter
                .redemption_mix
                .iter()
                .map(|m| (m.reward.clone(), m.redemptions.into()))
                .collect::<Vec<_>>(),
        ),
    ));
    let cohorts: Vec<String> = quarter
        .retention
        .cohorts
        .iter()
        .map(|c| c.cohort.clone())
        .collect();
    out.push((
        "retention",
        charts::bars(
            &Chart {
                id: "retention",
                title: "Retention by cohort (quarter of first purchase), members against non-members",
                unit: "%",
            },
            &cohorts,
            &[
                Series {
                    name: "Members".to_owned(),
                    values: quarter
                        .retention
                        .cohorts
                        .iter()
                        .map(|c| c.members.rate)
                        .collect(),
                },
                Series {
                    name: "Non-members".to_owned(),
                    values: quarter
                        .retention
                        .cohorts
                        .iter()
                        .map(|c| c.non_members.rate)
                        .collect(),
                },
            ],
        ),
    ));
    let campaigns: Vec<String> = review.campaigns.iter().map(|c| c.id.clone()).collect();
    let conversion = |holdout: bool| {
        review
            .campaigns
            .iter()
            .map(|c| {
                c.attribution.as_ref().and_then(|a| {
                    if holdout {
                        a.holdout.conversion_percent
                    } else {
                        a.target.conversion_percent
                    }
                })
            })
            .collect()
    };
    out.push((
        "campaigns",
        charts::bars(
            &Chart {
                id: "campaigns",
                title: "Campaigns started in the quarter: conversion of the targeted against the holdout",
                unit: "%",
            },
            &campaigns,
            &[
                Series {
                    name: "Targeted".to_owned(),
                    values: conversion(false),
                },
                Series {
                    name: "Holdout".to_owned(),
                    values: conversion(true),
                },
            ],
        ),
    ));
    out.push(("goals", goals_chart(&review.goals)));
    out
}

/// The goals' progress as a chart.
pub fn goals_chart(standings: &[GoalStanding]) -> String {
    charts::progress(
        &Chart {
            id: "goals",
            title: "Goals: progress from baseline to target",
            unit: "%",
        },
        &standings
            .iter()
            .map(|g| Progress {
                label: g.goal.id.clone(),
                percent: g.progress.percent.unwrap_or_default(),
                status: g.progress.status.as_str().replace('_', " "),
            })
            .collect::<Vec<_>>(),
    )
}

/// The review as a self-contained HTML page.
pub fn render(review: &Review, generated_at: i64) -> Result<String, minijinja::Error> {
    let mut env = Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    // A goal's deadline is the first instant after its last day.
    env.add_filter("last_day", |at: i64| {
        jiff::Timestamp::from_millisecond(at.saturating_sub(1))
            .map(|t| t.to_zoned(jiff::tz::TimeZone::UTC).date().to_string())
            .unwrap_or_default()
    });
    env.add_template("review.html", TEMPLATE)?;
    let charts: std::collections::BTreeMap<&str, Value> = review_charts(review)
        .into_iter()
        .map(|(id, html)| (id, Value::from_safe_string(html)))
        .collect();
    let generated = jiff::Timestamp::from_millisecond(generated_at)
        .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default();
    env.get_template("review.html")?.render(context! {
        review => Value::from_serialize(review),
        charts => charts,
        generated => generated,
    })
}
