//! Checks `[[goals]]`: each names a known analytics figure, a baseline and
//! a target that differ, and a deadline after its start.

use jiff::tz::TimeZone;
use toml::Spanned;

use super::program::{Ids, elements, exact, name, unique_id};
use super::required;
use crate::config::document::{Document, KeyPath};
use crate::config::schema;
use crate::core::goals::{Goal, Metric};

pub(super) fn goals(document: &mut Document<'_>) -> Option<Vec<Goal>> {
    let key = KeyPath::root().key("goals");
    if document.span_of(&key).is_none() {
        return Some(Vec::new());
    }
    let items: Vec<Spanned<schema::Goal>> = document.section(&key)?;
    let mut ids = Ids::new("goal");
    let mut goals = Vec::new();
    let mut complete = true;
    for (element, _, goal) in elements(document, &key, items) {
        let id = unique_id(document, &element, &mut ids, goal.id, "member-growth");
        let display = name(document, &element, goal.name, "Grow participation to 60 %");
        let metric = required(
            document,
            &element,
            "metric",
            goal.metric,
            "name the figure to move, e.g. metric = \"participation_rate\"",
        )
        .and_then(|metric| {
            let found = Metric::parse(metric.get_ref());
            if found.is_none() {
                let names: Vec<&str> = Metric::ALL.iter().map(|m| m.as_str()).collect();
                document.error(
                    metric.span(),
                    &element.key("metric"),
                    format!(
                        "`{}` is not a figure goals measure: use one of {}",
                        metric.get_ref(),
                        names.join(", ")
                    ),
                );
            }
            found
        });
        let baseline = required(
            document,
            &element,
            "baseline",
            goal.baseline,
            "set the figure when the goal was set, e.g. baseline = \"35\"",
        );
        let target = required(
            document,
            &element,
            "target",
            goal.target,
            "set the figure to reach, e.g. target = \"60\"",
        );
        let targets = match (baseline, target) {
            (Some(baseline), Some(target)) => {
                let (baseline, target) = (exact(baseline.into_inner().0), target);
                if exact(target.get_ref().0) == baseline {
                    document.error(
                        target.span(),
                        &element.key("target"),
                        format!("`target` equals `baseline` ({baseline}): a goal moves a figure"),
                    );
                    None
                } else {
                    Some((baseline, exact(target.into_inner().0)))
                }
            }
            _ => None,
        };
        let start = required(
            document,
            &element,
            "start",
            goal.start,
            "set the first day measured, e.g. start = 2026-07-01",
        );
        let deadline = required(
            document,
            &element,
            "deadline",
            goal.deadline,
            "set the last day to reach the target, e.g. deadline = 2026-12-31",
        );
        let dates = match (start, deadline) {
            (Some(start), Some(deadline)) if deadline.get_ref() < start.get_ref() => {
                document.error(
                    deadline.span(),
                    &element.key("deadline"),
                    format!(
                        "the deadline {} is before the start {}",
                        deadline.get_ref().0,
                        start.get_ref().0
                    ),
                );
                None
            }
            (Some(start), Some(deadline)) => {
                let midnight = |day: jiff::civil::Date| {
                    day.to_zoned(TimeZone::UTC)
                        .ok()
                        .map(|z| z.timestamp().as_millisecond())
                };
                // The deadline day counts whole: the goal ends at the next
                // midnight.
                midnight(start.into_inner().0)
                    .zip(deadline.into_inner().0.tomorrow().ok().and_then(midnight))
            }
            _ => None,
        };
        let owner = required(
            document,
            &element,
            "owner",
            goal.owner,
            "say who answers for it, e.g. owner = \"Head of partner sales\"",
        )
        .map(Spanned::into_inner);
        match (id, display, metric, targets, dates, owner) {
            (
                Some(id),
                Some(name),
                Some(metric),
                Some((baseline, target)),
                Some((start, deadline)),
                Some(owner),
            ) => goals.push(Goal {
                id,
                name,
                metric,
                baseline,
                target,
                start,
                deadline,
                owner,
            }),
            _ => complete = false,
        }
    }
    complete.then_some(goals)
}
