//! Polling: each call reads one page of business partners or sales orders
//! and returns its events with the advanced cursor (see [`crate::cursor`]).
//!
//! S/4HANA publishes business events only through SAP Event Mesh (an extra
//! BTP service with its own broker), not as webhooks a loyalty host could
//! receive, so the connector polls the OData APIs instead. Pages may overlap
//! (filters compare with `ge`); the host keeps the newest version of each
//! entity and ignores repeats.

use loyalty_sdk::types::{Error, Event, PollPage, PollRequest};

use crate::cursor::{After, Cursor, Stage};
use crate::odata;
use crate::partner;
use crate::sales_order;
use crate::settings::Settings;

/// Reads the next page after the request's cursor.
pub fn poll(request: &PollRequest) -> Result<PollPage, Error> {
    let settings = Settings::read()?;
    let mut cursor = match (request.since, request.cursor.as_deref()) {
        (Some(since), _) => Cursor::starting_at(since),
        (None, Some(text)) => Cursor::parse(text)?,
        (None, None) => Cursor::starting_at(0),
    };
    let page_size = request.page_size.max(1);
    let (events, after) = match cursor.stage {
        Stage::Partners => partners_page(&settings, &mut cursor, page_size)?,
        Stage::Orders => orders_page(&settings, &mut cursor, page_size)?,
    };
    Ok(PollPage {
        events,
        next_cursor: Some(cursor.to_json()),
        more: after != After::Done,
    })
}

/// The URL of the current query's next page: the pending `__next` link, or
/// a fresh query built from the cursor.
fn page_url(settings: &Settings, cursor: &Cursor, page_size: u32) -> String {
    match &cursor.next {
        Some(next) => odata::with_sap_client(settings, next.clone()),
        None => match cursor.stage {
            Stage::Partners => partner::query_url(
                settings,
                cursor.partners.since_ms,
                cursor.partners.skip,
                page_size,
            ),
            Stage::Orders => sales_order::query_url(
                settings,
                cursor.orders.since_ms,
                cursor.orders.skip,
                page_size,
            ),
        },
    }
}

fn partners_page(
    settings: &Settings,
    cursor: &mut Cursor,
    page_size: u32,
) -> Result<(Vec<Event>, After), Error> {
    let url = page_url(settings, cursor, page_size);
    let page = odata::get_collection("reading business partners", &url)?;
    let count = u32::try_from(page.results.len()).unwrap_or(u32::MAX);
    let mut events = Vec::with_capacity(page.results.len());
    let mut newest = None;
    for record in page.results {
        if let Some(account) = partner::account(record)? {
            let version = i64::try_from(account.version).unwrap_or(i64::MAX);
            newest = Some(newest.map_or(version, |n: i64| n.max(version)));
            events.push(Event::Account(account));
        }
    }
    let next = page.next.map(|n| odata::resolve(&url, &n)).transpose()?;
    Ok((events, cursor.partners_read(count, newest, next, page_size)))
}

fn orders_page(
    settings: &Settings,
    cursor: &mut Cursor,
    page_size: u32,
) -> Result<(Vec<Event>, After), Error> {
    let url = page_url(settings, cursor, page_size);
    let page = odata::get_collection("reading sales orders", &url)?;
    let mut events = Vec::with_capacity(page.results.len());
    let mut versions = Vec::with_capacity(page.results.len());
    for record in page.results {
        let purchase = sales_order::purchase(record, settings.paid_when)?;
        versions.push(i64::try_from(purchase.version).unwrap_or(i64::MAX));
        events.push(Event::Purchase(purchase));
    }
    let next = page.next.map(|n| odata::resolve(&url, &n)).transpose()?;
    Ok((events, cursor.orders_read(&versions, next, page_size)))
}
