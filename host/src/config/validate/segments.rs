//! Checks `[[segments]]` (ids, names, and both filters parsed, with a
//! syntax error reported at the offending token inside the string) and the
//! `[[campaigns]]` that target them.

use std::ops::Range;

use toml::Spanned;

use super::program::{Ids, elements, name, unique_id};
use super::required;
use crate::campaigns::{CampaignSpec, OfferSpec, check};
use crate::config::document::{Document, KeyPath};
use crate::config::schema;
use crate::core::segments::{Filter, Subject};
use crate::store::campaigns::CampaignDefinition;
use crate::store::segments::{Origin, SegmentDefinition};

pub(super) fn segments(document: &mut Document<'_>) -> Option<Vec<SegmentDefinition>> {
    let key = KeyPath::root().key("segments");
    if document.span_of(&key).is_none() {
        return Some(Vec::new());
    }
    let items: Vec<Spanned<schema::Segment>> = document.section(&key)?;
    let mut ids = Ids::new("segment");
    let mut definitions = Vec::new();
    let mut complete = true;
    for (element, _, segment) in elements(document, &key, items) {
        let id = unique_id(document, &element, &mut ids, segment.id, "gold-procurement");
        let display = name(document, &element, segment.name, "Gold accounts' buyers");
        let filter = required(
            document,
            &element,
            "filter",
            segment.filter,
            "say which accounts belong, e.g. filter = \"tier = \\\"gold\\\" and country = \\\"DE\\\"\"",
        )
        .and_then(|text| parse(document, &element.key("filter"), text, Subject::Account));
        let contacts = match segment.contacts {
            None => Some(None),
            Some(text) => {
                parse(document, &element.key("contacts"), text, Subject::Contact).map(Some)
            }
        };
        match (id, display, filter, contacts) {
            (Some(id), Some(display), Some(filter), Some(contacts)) => {
                definitions.push(SegmentDefinition {
                    id,
                    name: display,
                    description: segment.description,
                    filter,
                    contacts,
                    origin: Origin::Config,
                });
            }
            _ => complete = false,
        }
    }
    complete.then_some(definitions)
}

/// Parses a filter, reporting a syntax error at its column inside the
/// string (just after the opening quote of a one-line string).
fn parse(
    document: &mut Document<'_>,
    key: &KeyPath,
    text: Spanned<String>,
    subject: Subject,
) -> Option<Filter> {
    let span = text.span();
    let text = text.into_inner();
    match Filter::parse(&text, subject) {
        Ok(filter) => Some(filter),
        Err(error) => {
            let offset: usize = text
                .chars()
                .take(error.column.saturating_sub(1))
                .map(char::len_utf8)
                .sum();
            let start = span
                .start
                .saturating_add(1)
                .saturating_add(offset)
                .min(span.end);
            let at: Range<usize> = start..span.end;
            document.error(at, key, error.message);
            None
        }
    }
}

/// Checks `[[campaigns]]` with the same checks as the API.
pub(super) fn campaigns(
    document: &mut Document<'_>,
    program: &crate::core::program::Program,
    channels: &[String],
) -> Option<Vec<CampaignDefinition>> {
    let key = KeyPath::root().key("campaigns");
    if document.span_of(&key).is_none() {
        return Some(Vec::new());
    }
    let items: Vec<Spanned<schema::Campaign>> = document.section(&key)?;
    let mut ids = Ids::new("campaign");
    let mut definitions = Vec::new();
    let mut complete = true;
    for (element, span, campaign) in elements(document, &key, items) {
        let id = unique_id(document, &element, &mut ids, campaign.id, "spring-offer");
        let mut missing = |field: &str, value: Option<String>, hint: &str| {
            required(document, &element, field, value, hint)
        };
        let name = missing(
            "name",
            campaign.name,
            "set the name, e.g. name = \"Spring offer\"",
        );
        let segment = missing(
            "segment",
            campaign.segment,
            "name the segment it targets, e.g. segment = \"gold-procurement\"",
        );
        let channel = missing(
            "channel",
            campaign.channel,
            "name the connector that delivers it, e.g. channel = \"hubspot\"",
        );
        let template = missing(
            "template",
            campaign.template,
            "write the message, e.g. template = \"Hello {{ first_name }}\"",
        );
        let (Some(id), Some(name), Some(segment), Some(channel), Some(template)) =
            (id, name, segment, channel, template)
        else {
            complete = false;
            continue;
        };
        let spec = CampaignSpec {
            id: Some(id.clone()),
            name,
            kind: campaign.kind,
            segment,
            channel,
            subject: campaign.subject,
            template,
            offer: campaign.offer.map(|o| OfferSpec {
                kind: o.kind,
                points: o.points.map(|p| p.0),
                factor: o.factor.map(|f| f.0),
                ends_at: o.ends_at.map(|t| t.0),
                percent_off: o.percent_off.map(|p| p.0),
                amount_off: o.amount_off.map(|a| a.0),
                reward: o.reward,
            }),
            holdout_percent: campaign.holdout_percent.map(|p| p.0),
            attribution_days: campaign.attribution_days.map(|d| d.0),
            send_at: campaign.send_at.map(|t| t.0),
        };
        match check(&id, &spec, program, channels, Origin::Config) {
            Ok(definition) => definitions.push(definition),
            Err(problems) => {
                complete = false;
                for problem in problems {
                    document.error(span.clone(), &element, problem);
                }
            }
        }
    }
    complete.then_some(definitions)
}
