//! Campaigns become static contact lists.
//!
//! Each campaign gets one list (`processingType: MANUAL`, contacts), named
//! `<campaign name> (<campaign id>)`: list names are unique in a portal, and
//! the id keeps two campaigns with one name apart. The list id is kept in
//! state (`list/<campaign id>`); when the state is lost (a batch that failed
//! after HubSpot created the list commits no state), the list is found again
//! by its name instead of created twice. Recipients are added 250 at a time
//! (`PUT /crm/v3/lists/{listId}/memberships/add`).

use loyalty_sdk::host;
use loyalty_sdk::prelude::*;
use serde::Deserialize;

use crate::api::{Call, check};
use crate::ids::Id;
use crate::settings::Settings;

/// HubSpot's object type id of contacts.
pub const CONTACTS_OBJECT_TYPE_ID: &str = "0-1";
/// Contacts added per membership request.
pub const MEMBERSHIP_CHUNK: usize = 250;

/// `{"list": {"listId": "123", ...}}`.
#[derive(Debug, Deserialize)]
struct ListAnswer {
    list: ListBody,
}

/// The list itself; only its id matters here.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListBody {
    list_id: Id,
}

/// The answer to `memberships/add`:
/// `{"recordsIdsAdded": [...], "recordIdsMissing": [...]}` (HubSpot's
/// spelling). Contacts already in the list are in neither and count as
/// accepted, so a retried batch reports what the first attempt did.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MembershipAnswer {
    #[serde(default)]
    record_ids_missing: Vec<Id>,
}

/// The list name of a campaign.
pub fn list_name(delivery: &CampaignDelivery) -> String {
    format!("{} ({})", delivery.name.trim(), delivery.campaign_id)
}

/// Pushes one batch: ensures the campaign's list and adds the recipients'
/// contacts to it.
pub fn push(delivery: &CampaignDelivery) -> Result<CampaignReport, Error> {
    let settings = Settings::load()?;
    let mut rejected = Vec::new();
    let mut members: Vec<(Id, &str)> = Vec::new();
    for recipient in &delivery.recipients {
        match recipient.contact_id.as_deref().map(|c| (c, Id::parse(c))) {
            Some((_, Some(id))) => members.push((id, &recipient.account_id)),
            Some((raw, None)) => rejected.push(RejectedRecipient {
                account_id: recipient.account_id.clone(),
                reason: format!("contact id `{raw}` is not a HubSpot record id"),
            }),
            None => rejected.push(RejectedRecipient {
                account_id: recipient.account_id.clone(),
                reason: "no HubSpot contact: a HubSpot list holds contacts, and this account has none synced from HubSpot".to_owned(),
            }),
        }
    }
    if members.is_empty() {
        return Ok(CampaignReport {
            external_id: None,
            accepted: 0,
            rejected,
        });
    }
    let list_id = ensure_list(&settings, delivery)?;
    let mut ids: Vec<&Id> = members.iter().map(|(id, _)| id).collect();
    ids.sort();
    ids.dedup();
    let mut missing = Vec::new();
    for chunk in ids.chunks(MEMBERSHIP_CHUNK) {
        let answer: MembershipAnswer = Call::put(
            &settings,
            format!("/crm/v3/lists/{list_id}/memberships/add"),
        )
        .fetch(&chunk)?;
        missing.extend(answer.record_ids_missing);
    }
    let mut accepted = 0_u32;
    for (id, account_id) in members {
        if missing.contains(&id) {
            rejected.push(RejectedRecipient {
                account_id: account_id.to_owned(),
                reason: format!("HubSpot has no contact {id} (recordIdsMissing)"),
            });
        } else {
            accepted += 1;
        }
    }
    Ok(CampaignReport {
        external_id: Some(list_id.to_string()),
        accepted,
        rejected,
    })
}

/// The campaign's list id: from state, else found by name, else created.
fn ensure_list(settings: &Settings, delivery: &CampaignDelivery) -> Result<Id, Error> {
    let key = format!("list/{}", delivery.campaign_id);
    if let Some(id) = host::state_get_string(&key).and_then(|s| Id::parse(&s)) {
        return Ok(id);
    }
    let name = list_name(delivery);
    let lookup = Call::get(
        settings,
        format!(
            "/crm/v3/lists/object-type-id/{CONTACTS_OBJECT_TYPE_ID}/name/{}",
            encode_path_segment(&name)
        ),
    );
    let response = lookup.send()?;
    let id = if response.status == 404 {
        let created: ListAnswer =
            Call::post(settings, "/crm/v3/lists/".to_owned()).fetch(&serde_json::json!({
                "name": name,
                "objectTypeId": CONTACTS_OBJECT_TYPE_ID,
                "processingType": "MANUAL",
            }))?;
        host::info(&format!(
            "created HubSpot list {} `{name}` for campaign {}",
            created.list.list_id, delivery.campaign_id
        ));
        created.list.list_id
    } else {
        check(&lookup.describe(), &response)?;
        lookup.parse::<ListAnswer>(&response)?.list.list_id
    };
    host::state_set(&key, Some(id.as_str().as_bytes()));
    Ok(id)
}

/// Percent-encodes a path segment: everything but RFC 3986 unreserved
/// characters.
pub fn encode_path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_names_are_encoded_as_one_path_segment() {
        assert_eq!(
            encode_path_segment("Spring offer (spring-2026)"),
            "Spring%20offer%20%28spring-2026%29"
        );
        assert_eq!(encode_path_segment("a/b?ü"), "a%2Fb%3F%C3%BC");
    }
}
