//! Feedback submissions (`feedback_submissions`, answers to HubSpot
//! surveys) become engagements: an NPS answer is `nps-response(score)`, any
//! other survey `survey-answered(name)`.

use loyalty_sdk::types::{Attribute, Engagement, EngagementKind, Error, Event};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use crate::crm::{CrmObject, ObjectType};
use crate::ids::Id;

const KIND: ObjectType = ObjectType::FeedbackSubmission;

/// The properties read for a feedback submission.
pub const PROPERTIES: &[&str] = &[
    "hs_survey_type",
    "hs_survey_name",
    "hs_response_value",
    "hs_content",
    "hs_createdate",
    "hs_lastmodifieddate",
];

/// The engagement event for a submission by `contact`, whose company is
/// `account`.
pub fn to_event(
    object: &CrmObject,
    contact: Option<&Id>,
    account: Option<&Id>,
) -> Result<Event, Error> {
    let survey_type = object.text("hs_survey_type").unwrap_or("CUSTOM");
    let survey_name = object.text("hs_survey_name");
    let kind = if survey_type.eq_ignore_ascii_case("NPS") {
        EngagementKind::NpsResponse(score(object)?)
    } else {
        EngagementKind::SurveyAnswered(survey_name.unwrap_or(survey_type).to_owned())
    };
    let version = object.version(KIND)?;
    let occurred_at = object
        .created_ms(KIND)?
        .unwrap_or_else(|| i64::try_from(version).unwrap_or(i64::MAX));
    let mut attributes = vec![Attribute {
        name: "survey_type".to_owned(),
        value: survey_type.to_owned(),
    }];
    if let Some(name) = survey_name {
        attributes.push(Attribute {
            name: "survey_name".to_owned(),
            value: name.to_owned(),
        });
    }
    Ok(Event::Engagement(Engagement {
        id: object.id.to_string(),
        version,
        account_id: account.map(ToString::to_string),
        contact_id: contact.map(ToString::to_string),
        kind,
        occurred_at,
        comment: object.text("hs_content").map(str::to_owned),
        attributes,
    }))
}

/// `hs_response_value` as an NPS score from 0 to 10.
fn score(object: &CrmObject) -> Result<u8, Error> {
    let value = object.decimal(KIND, "hs_response_value")?.ok_or_else(|| {
        object.malformed(KIND, "hs_response_value", "", "an NPS score from 0 to 10")
    })?;
    if value.fract() != Decimal::ZERO {
        return Err(object.malformed(
            KIND,
            "hs_response_value",
            &value.to_string(),
            "an NPS score from 0 to 10",
        ));
    }
    value.to_u8().filter(|s| *s <= 10).ok_or_else(|| {
        object.malformed(
            KIND,
            "hs_response_value",
            &value.to_string(),
            "an NPS score from 0 to 10",
        )
    })
}
