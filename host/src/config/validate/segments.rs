//! Checks `[[segments]]` (ids, names, and both filters parsed, with a
//! syntax error reported at the offending token inside the string) and the
//! `[[campaigns]]` that target them.

use std::ops::Range;

use toml::Spanned;

use super::program::{Ids, elements, unique_id};
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
        let display = required(
            document,
            &element,
            "name",
            segment.name,
            "name the segment for the people who use it, e.g. name = \"Gold accounts' buyers\"",
        )
        .and_then(|name| {
            let (span, name) = (name.span(), name.into_inner());
            if name.trim().is_empty() {
                document.error(span, &element.key("name"), "`name` must not be blank");
                None
            } else {
                Some(name)
            }
        });
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
/// string as written in the file (through escapes and triple quotes).
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
            let offset = document
                .raw(span.clone())
                .map_or(0, |raw| raw_offset(raw, error.column.saturating_sub(1)));
            let start = span.start.saturating_add(offset).min(span.end);
            let at: Range<usize> = start..span.end;
            document.error(at, key, error.message);
            None
        }
    }
}

/// The byte offset in a TOML string literal `raw` (quotes included) of the
/// character at `index` of its value.
fn raw_offset(raw: &str, index: usize) -> usize {
    let (opening, escapes) = if raw.starts_with(r#"""""#) {
        (3, true)
    } else if raw.starts_with("'''") {
        (3, false)
    } else {
        (1, raw.starts_with('"'))
    };
    let mut offset = opening;
    // A newline right after the opening of a multi-line string is not part
    // of the value.
    if opening == 3 {
        if raw[offset..].starts_with("\r\n") {
            offset += 2;
        } else if raw[offset..].starts_with('\n') {
            offset += 1;
        }
    }
    let mut chars = raw[offset..].chars();
    for _ in 0..index {
        let Some(c) = chars.next() else { break };
        offset += c.len_utf8();
        if escapes && c == '\\' {
            let width = match chars.next() {
                Some('u') => 4,
                Some('U') => 8,
                Some(other) => {
                    offset += other.len_utf8();
                    0
                }
                None => 0,
            };
            if width > 0 {
                offset += 1;
                for _ in 0..width {
                    offset += chars.next().map_or(0, char::len_utf8);
                }
            }
        }
    }
    offset
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

#[cfg(test)]
mod tests {
    use super::raw_offset;

    fn at(raw: &str, index: usize) -> &str {
        let offset = raw_offset(raw, index);
        &raw[offset..=offset]
    }

    #[test]
    fn columns_map_through_quotes_and_escapes() {
        // The value is `a = "DE" and x`; `x` is its 14th character.
        assert_eq!(at(r#""a = \"DE\" and x""#, 13), "x");
        assert_eq!(at(r#"'a = "DE" and x'"#, 13), "x");
        assert_eq!(at("\"\u{e9} = \\u00e9 and x\"", 10), "x");
        // `role in ["a" "b"]`: the 14th character opens `"b"`.
        assert_eq!(at("\"\"\"\nrole in [\"a\" \"b\"]\"\"\"", 13), "\"");
        assert_eq!(at("'''\nrole in ['a' 'b']'''", 13), "'");
    }
}
