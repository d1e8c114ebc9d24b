//! Incremental sync: one page of changes per `poll` call.
//!
//! A sync reads Account, Contact, Opportunity (or Order), Contract and
//! CampaignMember in that order, each from its high-water mark, in pages of
//! at most `page-size` records (`LIMIT`). A page is one query, or one
//! `nextRecordsUrl` batch of it; an object that has nothing new is skipped
//! within the same call. The sync ends (`more = false`) after the last
//! object; the cursor then points at the first object again, for the next
//! sync.

use loyalty_sdk::host;
use loyalty_sdk::types::{Deletion, EntityKind, Error, Event, PollPage, PollRequest};

use crate::account::{self, AccountOptions};
use crate::cursor::{Cursor, Pending};
use crate::query::{self, QueryResult};
use crate::record::Record;
use crate::soql::{self, SObject};
use crate::{campaign_member, contract, purchase, settings};

/// The largest `LIMIT` the connector sends; the host's page size is at
/// most 1000 anyway.
const LIMIT_MAX: u32 = 2000;

/// Everything a sync needs from the settings, read once per call.
#[derive(Debug, Clone)]
pub struct Config {
    /// The objects, in order.
    pub stages: [SObject; 5],
    /// What the statements select.
    pub options: soql::Options,
    /// How accounts map.
    pub accounts: AccountOptions,
}

impl Config {
    /// Reads and checks the settings.
    pub fn read() -> Result<Self, Error> {
        settings::instance_url()?;
        settings::api_version()?;
        let currency = settings::currency()?;
        let tax_id_field = settings::tax_id_field()?;
        let sap_number_field = settings::sap_number_field()?;
        Ok(Self {
            stages: SObject::stages(settings::purchases()?),
            options: soql::Options {
                multi_currency: settings::multi_currency()?,
                tax_id_field: tax_id_field.clone(),
                sap_number_field: sap_number_field.clone(),
                referral_code_field: settings::referral_code_field()?,
                attended_status: settings::attended_status(),
            },
            accounts: AccountOptions {
                currency,
                tax_id_field,
                sap_number_field,
                sap_connector: settings::sap_connector(),
            },
        })
    }
}

/// Returns the next page of changes.
pub fn poll(request: &PollRequest) -> Result<PollPage, Error> {
    let config = Config::read()?;
    let first = config.stages[0];
    let mut cursor = match (request.since, &request.cursor) {
        (Some(since), _) => Cursor::backfill(first, &config.stages, since),
        (None, Some(text)) => Cursor::parse(text)?,
        (None, None) => Cursor::start(first),
    };
    if !config.stages.contains(&cursor.stage) {
        // `purchases` changed since the cursor was stored: start a new sync.
        host::warn(&format!(
            "the sync cursor is at {}, which this configuration does not read; starting the sync over",
            cursor.stage.name()
        ));
        cursor.enter(first);
    }
    let limit = request.page_size.clamp(1, LIMIT_MAX);
    loop {
        let (batch, batch_limit) = fetch(&config, &mut cursor, limit)?;
        let mut events = Vec::new();
        for value in &batch.records {
            let record = Record::new(cursor.stage.name(), value)?;
            events.extend(map(&config, cursor.stage, &record)?);
            cursor.read(record.modstamp()?, record.id());
        }
        let read = batch.records.len();
        if let (false, Some(url)) = (batch.done, batch.next_records_url) {
            cursor.next = Some(Pending {
                url,
                limit: batch_limit,
            });
            return page(events, &cursor, true);
        }
        cursor.next = None;
        if read > 0 && batch.total_size >= u64::from(batch_limit) {
            // The LIMIT was reached: the next page continues after the last
            // record read.
            return page(events, &cursor, true);
        }
        let position = config
            .stages
            .iter()
            .position(|s| *s == cursor.stage)
            .unwrap_or_default();
        match config.stages.get(position + 1) {
            Some(next) => {
                cursor.enter(*next);
                if !events.is_empty() || read > 0 {
                    return page(events, &cursor, true);
                }
            }
            None => {
                cursor.enter(first);
                return page(events, &cursor, false);
            }
        }
    }
}

/// The next batch of the current stage, and the `LIMIT` of its query.
fn fetch(config: &Config, cursor: &mut Cursor, limit: u32) -> Result<(QueryResult, u32), Error> {
    if let Some(pending) = cursor.next.take() {
        if let Some(batch) = query::more(&pending.url)? {
            return Ok((batch, pending.limit));
        }
        host::warn(&format!(
            "the query locator of the {} page expired; querying again from the cursor",
            cursor.stage.name()
        ));
    }
    let soql = soql::statement(cursor.stage, &config.options, &cursor.bound(), limit);
    Ok((query::run(&soql)?, limit))
}

/// The events of one record: a deletion, a change, or nothing (a campaign
/// member without a contact).
pub fn map(config: &Config, object: SObject, record: &Record<'_>) -> Result<Vec<Event>, Error> {
    if record.is_deleted()? {
        let kind = match object {
            SObject::Account => EntityKind::Account,
            SObject::Contact => EntityKind::Contact,
            SObject::Opportunity | SObject::Order => EntityKind::Purchase,
            SObject::Contract => EntityKind::Contract,
            // An attendance stays attended when the member is removed.
            SObject::CampaignMember => return Ok(Vec::new()),
        };
        return Ok(vec![Event::Deleted(Deletion {
            kind,
            id: record.id().to_owned(),
            version: record.version()?,
        })]);
    }
    let currency = &config.accounts.currency;
    let referral_code_field = config.options.referral_code_field.as_deref();
    let event = match object {
        SObject::Account => account::account(record, &config.accounts)?,
        SObject::Contact => account::contact(record)?,
        SObject::Opportunity => purchase::opportunity(record, currency, referral_code_field)?,
        SObject::Order => purchase::order(record, currency, referral_code_field)?,
        SObject::Contract => contract::contract(record)?,
        SObject::CampaignMember => match campaign_member::engagement(record)? {
            Some(event) => event,
            None => return Ok(Vec::new()),
        },
    };
    Ok(vec![event])
}

/// A poll page with the cursor as text.
fn page(events: Vec<Event>, cursor: &Cursor, more: bool) -> Result<PollPage, Error> {
    Ok(PollPage {
        events,
        next_cursor: Some(cursor.to_text()?),
        more,
    })
}
