//! The mapping of HubSpot records to events, on records written in
//! HubSpot's wire format: every property a string or `null`, ids strings.

// clippy.toml allows these inside tests, but not in this file's helpers; a
// helper that cannot read what it built should fail loudly.
#![allow(clippy::unwrap_used, reason = "test helpers fail loudly")]

use std::collections::BTreeMap;

use hubspot::associations::{Linked, Related};
use hubspot::crm::{CrmObject, ObjectType};
use hubspot::ids::Id;
use hubspot::settings::Settings;
use hubspot::{company, contact, deal, feedback};
use loyalty_sdk::prelude::*;
use loyalty_sdk::testing::TestHost;
use serde_json::json;

fn object(value: serde_json::Value) -> CrmObject {
    serde_json::from_value(value).unwrap()
}

fn id(text: &str) -> Id {
    Id::parse(text).unwrap()
}

fn settings() -> Settings {
    let mut settings = Settings::for_portal(id("143553137"));
    settings.currency = Some("EUR".to_owned());
    settings
}

fn related(links: &[(ObjectType, &str, bool)]) -> Related {
    let mut related = Related::default();
    for (kind, target, primary) in links {
        related.add(
            *kind,
            Linked {
                id: id(target),
                primary: *primary,
            },
        );
    }
    related
}

/// A deal in a custom pipeline whose won stage is not called `closedwon`.
fn custom_pipeline_deal(won: &str, lost: &str) -> CrmObject {
    object(json!({
        "id": "9001",
        "properties": {
            "dealname": "Press line retrofit",
            "amount": "12500.50",
            "deal_currency_code": null,
            "closedate": "2026-02-27T16:00:00Z",
            "createdate": "2026-01-10T09:00:00Z",
            "dealstage": "104857361",
            "pipeline": "75e28846-ad0d-4be2-a027-5e1da6590b98",
            "hs_is_closed_won": won,
            "hs_is_closed_lost": lost,
            "hs_lastmodifieddate": "2026-02-27T16:05:00.120Z",
            "hs_object_id": "9001"
        },
        "createdAt": "2026-01-10T09:00:00Z",
        "updatedAt": "2026-02-27T16:05:00.120Z",
        "archived": false
    }))
}

fn purchase(event: Event) -> Purchase {
    match event {
        Event::Purchase(p) => p,
        other => panic!("expected a purchase, got {other:?}"),
    }
}

#[test]
fn a_company_maps_every_string_typed_property() {
    let mut settings = settings();
    settings.tax_id_property = Some("vat_number".to_owned());
    settings.sap_number_property = Some("sap_bp_number".to_owned());
    settings.sap_connector = "s4".to_owned();
    let company = object(json!({
        "id": "512",
        "properties": {
            "name": "Brandt Maschinenbau GmbH",
            "domain": "https://www.Brandt-Maschinenbau.example/",
            "industry": "MACHINERY",
            "numberofemployees": "250",
            "annualrevenue": "48000000.00",
            "country": "de",
            "hs_parent_company_id": "77",
            "vat_number": "DE811907980",
            "sap_bp_number": "0000100001",
            "createdate": "2025-06-01T08:00:00Z",
            "hs_lastmodifieddate": "2026-02-01T10:00:00.500Z"
        }
    }));
    let Event::Account(account) = company::to_event(&company, &settings).unwrap() else {
        panic!("expected an account");
    };
    assert_eq!(account.id, "512");
    assert_eq!(account.version, 1_769_940_000_500);
    assert_eq!(account.name, "Brandt Maschinenbau GmbH");
    assert_eq!(
        account.domain.as_deref(),
        Some("brandt-maschinenbau.example")
    );
    assert_eq!(account.industry.as_deref(), Some("MACHINERY"));
    assert_eq!(account.employees, Some(250));
    let revenue = account.annual_revenue.unwrap();
    assert_eq!(
        (revenue.amount.as_str(), revenue.currency.as_str()),
        ("48000000.00", "EUR")
    );
    assert_eq!(account.country.as_deref(), Some("DE"));
    assert_eq!(account.parent_id.as_deref(), Some("77"));
    assert_eq!(account.tax_id.as_deref(), Some("DE811907980"));
    let refs: Vec<(&str, &str)> = account
        .external_refs
        .iter()
        .map(|r| (r.system.as_str(), r.id.as_str()))
        .collect();
    assert_eq!(refs, vec![("s4", "100001")]);
    assert!(account.attributes.is_empty());
}

#[test]
fn a_sparse_company_keeps_what_it_has() {
    let company = object(json!({
        "id": "513",
        "properties": {
            "name": null,
            "domain": "acme.example",
            "country": "Germany",
            "numberofemployees": null,
            "annualrevenue": "1000",
            "hs_lastmodifieddate": null
        },
        "updatedAt": "2026-02-01T10:00:00Z"
    }));
    let mut settings = settings();
    settings.currency = None;
    let Event::Account(account) = company::to_event(&company, &settings).unwrap() else {
        panic!("expected an account");
    };
    assert_eq!(
        account.name, "acme.example",
        "the domain names a nameless company"
    );
    assert_eq!(account.version, 1_769_940_000_000, "updatedAt stands in");
    assert_eq!(account.country, None, "a country name is not an ISO code");
    assert_eq!(account.attributes[0].value, "Germany");
    assert!(account.annual_revenue.is_none(), "no currency, no revenue");
    assert!(account.external_refs.is_empty());
}

#[test]
fn a_fractional_employee_count_is_invalid_input_naming_the_company() {
    let company = object(json!({
        "id": "514",
        "properties": {"name": "X", "numberofemployees": "12.5", "hs_lastmodifieddate": "2026-02-01T10:00:00Z"}
    }));
    match company::to_event(&company, &settings()) {
        Err(Error::InvalidInput(m)) => {
            assert!(m.contains("company 514"), "{m}");
            assert!(m.contains("numberofemployees"), "{m}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_contact_belongs_to_its_primary_company() {
    let person = object(json!({
        "id": "1801",
        "properties": {
            "email": "Jana.Brandt@Brandt-Maschinenbau.example",
            "firstname": "Jana",
            "lastname": "Brandt",
            "jobtitle": "Head of Purchasing",
            "lastmodifieddate": "2026-02-02T08:00:00Z"
        }
    }));
    let links = related(&[
        (ObjectType::Company, "600", false),
        (ObjectType::Company, "512", true),
    ]);
    let Event::Contact(contact) = contact::to_event(&person, &links).unwrap() else {
        panic!("expected a contact");
    };
    assert_eq!(contact.id, "1801");
    assert_eq!(contact.account_id.as_deref(), Some("512"));
    assert_eq!(
        contact.email.as_deref(),
        Some("jana.brandt@brandt-maschinenbau.example")
    );
    assert_eq!(contact.role.as_deref(), Some("Head of Purchasing"));
    assert_eq!(contact.version, 1_770_019_200_000);
}

#[test]
fn a_recent_form_submission_is_one_engagement_of_the_contact_and_its_company() {
    let person = object(json!({
        "id": "1801",
        "properties": {
            "email": "jana@brandt.example",
            "recent_conversion_event_name": "Trade fair 2026: book a meeting",
            "recent_conversion_date": "2026-02-01T10:30:00Z",
            "lastmodifieddate": "2026-02-02T08:00:00Z"
        }
    }));
    let links = related(&[(ObjectType::Company, "512", true)]);
    let events = contact::to_events(&person, &links).unwrap();
    assert_eq!(events.len(), 2, "{events:?}");
    let Event::Engagement(form) = &events[1] else {
        panic!("expected the form submission second: {events:?}");
    };
    assert_eq!(form.id, "1801/form/1769941800000");
    assert_eq!(form.version, 1_769_941_800_000);
    assert_eq!(form.occurred_at, 1_769_941_800_000);
    assert_eq!(
        (form.account_id.as_deref(), form.contact_id.as_deref()),
        (Some("512"), Some("1801"))
    );
    assert!(
        matches!(&form.kind, EngagementKind::FormSubmitted(name) if name == "Trade fair 2026: book a meeting"),
        "{:?}",
        form.kind
    );

    let host = TestHost::new();
    let without_company = host
        .run(|| contact::to_events(&person, &related(&[])))
        .unwrap();
    assert_eq!(
        without_company.len(),
        1,
        "nobody to credit: the contact only"
    );
    assert!(
        host.logs()
            .iter()
            .any(|(_, line)| line.contains("no company to credit")),
        "{:?}",
        host.logs()
    );
    let quiet = object(json!({
        "id": "1802",
        "properties": { "email": "urs@keller.example", "lastmodifieddate": "2026-02-02T08:00:00Z" }
    }));
    assert_eq!(contact::to_events(&quiet, &links).unwrap().len(), 1);
}

#[test]
fn a_deal_is_paid_when_hs_is_closed_won_says_so_whatever_its_stage() {
    let host = TestHost::new();
    let links = related(&[
        (ObjectType::Company, "512", true),
        (ObjectType::Contact, "1801", false),
    ]);
    let none = BTreeMap::new();
    let won = host
        .run(|| {
            deal::to_event(
                &custom_pipeline_deal("true", "false"),
                &links,
                &none,
                &settings(),
            )
        })
        .map(purchase)
        .unwrap();
    assert_eq!(won.status, PurchaseStatus::Paid);
    assert_eq!(won.id, "9001");
    assert_eq!(won.account_id.as_deref(), Some("512"));
    assert_eq!(won.contact_id.as_deref(), Some("1801"));
    assert_eq!(won.placed_at, 1_772_208_000_000);
    assert_eq!(won.version, 1_772_208_300_120);
    assert_eq!(
        (
            won.net_amount.amount.as_str(),
            won.net_amount.currency.as_str()
        ),
        ("12500.50", "EUR")
    );
    assert_eq!(won.total_amount.amount, won.net_amount.amount);

    let open = host
        .run(|| {
            deal::to_event(
                &custom_pipeline_deal("false", "false"),
                &links,
                &none,
                &settings(),
            )
        })
        .map(purchase)
        .unwrap();
    assert_eq!(open.status, PurchaseStatus::Pending);

    let lost = host
        .run(|| {
            deal::to_event(
                &custom_pipeline_deal("false", "true"),
                &links,
                &none,
                &settings(),
            )
        })
        .map(purchase)
        .unwrap();
    assert_eq!(lost.status, PurchaseStatus::Cancelled);
}

#[test]
fn a_deal_carries_the_trimmed_referral_code_of_the_configured_property() {
    let mut record = custom_pipeline_deal("true", "false");
    record.properties.insert(
        "referral_code".to_owned(),
        Some("  RW-7K2M9Q4X ".to_owned()),
    );
    let mut configured = settings();
    configured.referral_code_property = Some("referral_code".to_owned());
    let links = related(&[(ObjectType::Company, "512", true)]);
    let none = BTreeMap::new();
    let host = TestHost::new();
    let referred = host
        .run(|| deal::to_event(&record, &links, &none, &configured))
        .map(purchase)
        .unwrap();
    assert_eq!(referred.referral_code.as_deref(), Some("RW-7K2M9Q4X"));

    let unconfigured = host
        .run(|| deal::to_event(&record, &links, &none, &settings()))
        .map(purchase)
        .unwrap();
    assert_eq!(
        unconfigured.referral_code, None,
        "without the setting the property means nothing"
    );

    record
        .properties
        .insert("referral_code".to_owned(), Some("   ".to_owned()));
    let blank = host
        .run(|| deal::to_event(&record, &links, &none, &configured))
        .map(purchase)
        .unwrap();
    assert_eq!(blank.referral_code, None, "a blank code is no code");
}

#[test]
fn the_referral_code_property_is_read_with_deals_only_when_configured() {
    assert!(!deal::properties(&settings()).contains(&"referral_code".to_owned()));
    let mut configured = settings();
    configured.referral_code_property = Some("referral_code".to_owned());
    let names = deal::properties(&configured);
    assert_eq!(names.last().map(String::as_str), Some("referral_code"));
    assert_eq!(names.len(), deal::PROPERTIES.len() + 1);
}

#[test]
fn a_closedwon_stage_name_alone_does_not_make_a_deal_paid() {
    let mut deal_record = custom_pipeline_deal("false", "false");
    deal_record
        .properties
        .insert("dealstage".to_owned(), Some("closedwon".to_owned()));
    assert_eq!(deal::status(&deal_record), PurchaseStatus::Pending);
}

#[test]
fn deal_lines_come_from_line_items_in_the_deal_currency() {
    let mut record = custom_pipeline_deal("true", "false");
    record
        .properties
        .insert("deal_currency_code".to_owned(), Some("usd".to_owned()));
    record.properties.insert("amount".to_owned(), None);
    let items: BTreeMap<Id, CrmObject> = [
        object(json!({"id": "71", "properties": {
            "hs_sku": "PRS-200", "name": "Hydraulic press", "quantity": "2", "price": "4000.00",
            "hs_total_discount": "500.00", "amount": "7500.00", "hs_product_type": "inventory"}})),
        object(json!({"id": "72", "properties": {
            "hs_sku": null, "name": "Installation", "quantity": "1", "price": "1200",
            "hs_total_discount": null, "amount": null, "hs_product_type": "service"}})),
    ]
    .into_iter()
    .map(|o| (o.id.clone(), o))
    .collect();
    let links = related(&[
        (ObjectType::Company, "512", true),
        (ObjectType::LineItem, "71", false),
        (ObjectType::LineItem, "72", false),
        (ObjectType::LineItem, "73", false),
    ]);
    let host = TestHost::new();
    let deal = host
        .run(|| deal::to_event(&record, &links, &items, &settings()))
        .map(purchase)
        .unwrap();
    assert_eq!(
        deal.lines.len(),
        2,
        "the line item that is gone is left out"
    );
    assert!(
        host.logs()
            .iter()
            .any(|(_, m)| m.contains("line item 73 is gone")),
        "{:?}",
        host.logs()
    );
    let press = &deal.lines[0];
    assert_eq!(press.id, "71");
    assert_eq!(press.sku.as_deref(), Some("PRS-200"));
    assert_eq!(press.title, "Hydraulic press");
    assert_eq!(press.category.as_deref(), Some("inventory"));
    assert_eq!(press.quantity, 2);
    assert_eq!(press.unit_price.amount, "4000.00");
    assert_eq!(press.discount.amount, "500.00");
    assert_eq!(press.net_amount.amount, "7500.00");
    assert_eq!(press.net_amount.currency, "USD");
    let service = &deal.lines[1];
    assert_eq!(service.sku, None);
    assert_eq!(
        service.net_amount.amount, "1200",
        "price x quantity when amount is null"
    );
    assert_eq!(service.discount.amount, "0");
    assert_eq!(
        (
            deal.net_amount.amount.as_str(),
            deal.net_amount.currency.as_str()
        ),
        ("8700.00", "USD"),
        "a deal without amount is worth its lines"
    );
}

#[test]
fn a_malformed_amount_or_a_missing_currency_is_a_clear_error() {
    let mut record = custom_pipeline_deal("true", "false");
    record
        .properties
        .insert("amount".to_owned(), Some("12.500,50".to_owned()));
    let host = TestHost::new();
    match host.run(|| deal::to_event(&record, &Related::default(), &BTreeMap::new(), &settings())) {
        Err(Error::InvalidInput(m)) => {
            assert!(m.contains("deal 9001"), "{m}");
            assert!(m.contains("`amount`"), "{m}");
        }
        other => panic!("{other:?}"),
    }
    let mut no_currency = settings();
    no_currency.currency = None;
    match host.run(|| {
        deal::to_event(
            &custom_pipeline_deal("true", "false"),
            &Related::default(),
            &BTreeMap::new(),
            &no_currency,
        )
    }) {
        Err(Error::Permanent(m)) => assert!(m.contains("`currency`"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_nps_submission_is_an_nps_response_of_its_contact_and_company() {
    let submission = object(json!({
        "id": "3301",
        "properties": {
            "hs_survey_type": "NPS",
            "hs_survey_name": "Customer loyalty 2026",
            "hs_response_value": "9",
            "hs_content": "Fast delivery, great support.",
            "hs_createdate": "2026-02-10T12:00:00Z",
            "hs_lastmodifieddate": "2026-02-10T12:00:01Z"
        }
    }));
    let Event::Engagement(engagement) =
        feedback::to_event(&submission, Some(&id("1801")), Some(&id("512"))).unwrap()
    else {
        panic!("expected an engagement");
    };
    assert!(
        matches!(engagement.kind, EngagementKind::NpsResponse(9)),
        "{:?}",
        engagement.kind
    );
    assert_eq!(engagement.contact_id.as_deref(), Some("1801"));
    assert_eq!(engagement.account_id.as_deref(), Some("512"));
    assert_eq!(engagement.occurred_at, 1_770_724_800_000);
    assert_eq!(
        engagement.comment.as_deref(),
        Some("Fast delivery, great support.")
    );

    let mut csat = submission.clone();
    csat.properties
        .insert("hs_survey_type".to_owned(), Some("CSAT".to_owned()));
    let Event::Engagement(other) = feedback::to_event(&csat, None, Some(&id("512"))).unwrap()
    else {
        panic!("expected an engagement");
    };
    assert!(
        matches!(&other.kind, EngagementKind::SurveyAnswered(name) if name == "Customer loyalty 2026"),
        "{:?}",
        other.kind
    );

    let mut off_scale = submission;
    off_scale
        .properties
        .insert("hs_response_value".to_owned(), Some("11".to_owned()));
    match feedback::to_event(&off_scale, None, Some(&id("512"))) {
        Err(Error::InvalidInput(m)) => assert!(m.contains("hs_response_value"), "{m}"),
        other => panic!("{other:?}"),
    }
}
