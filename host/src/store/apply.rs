//! Applies validated events inside a store transaction: loads the records
//! the core needs through [`Book`], asks the pure core what to do, and writes
//! its decisions back. Shared by every backend.

use crate::core::CoreError;
use crate::core::accounts::{self, AccountData, AccountId, ContactData, Upsert, Versioned};
use crate::core::event::Event;
use crate::core::ledger::NewEntry;
use crate::core::program::Program;
use crate::core::purchases::{self, PurchaseRecord};
use crate::store::StoreError;

/// Record access inside one transaction.
pub(crate) trait Book {
    /// The account an external reference points to, with the reference's version.
    fn account_by_ref(
        &mut self,
        source: &str,
        id: &str,
    ) -> Result<Option<(AccountId, u64)>, StoreError>;
    /// Creates an account and its first external reference.
    fn insert_account(
        &mut self,
        source: &str,
        id: &str,
        account: &Versioned<AccountData>,
    ) -> Result<AccountId, StoreError>;
    /// Overwrites an account's data and its reference's version.
    fn update_account(
        &mut self,
        account: AccountId,
        source: &str,
        id: &str,
        data: &Versioned<AccountData>,
    ) -> Result<(), StoreError>;
    /// A contact by external reference, with its internal id.
    fn contact_by_ref(
        &mut self,
        source: &str,
        id: &str,
    ) -> Result<Option<(i64, Versioned<ContactData>)>, StoreError>;
    /// Inserts or overwrites a contact.
    fn save_contact(
        &mut self,
        existing: Option<i64>,
        source: &str,
        id: &str,
        contact: &Versioned<ContactData>,
    ) -> Result<(), StoreError>;
    /// A purchase record and the account it is attributed to.
    fn purchase(
        &mut self,
        source: &str,
        id: &str,
    ) -> Result<Option<(PurchaseRecord, Option<AccountId>)>, StoreError>;
    /// Inserts or overwrites a purchase record.
    fn save_purchase(
        &mut self,
        record: &PurchaseRecord,
        account: Option<AccountId>,
    ) -> Result<(), StoreError>;
    /// Appends a ledger entry unless its effect key exists; says whether it did.
    fn append_entry(
        &mut self,
        account: AccountId,
        entry: &NewEntry,
        rule_version: &str,
        now: i64,
    ) -> Result<bool, StoreError>;
}

/// What applying a batch of events did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Events that changed something.
    pub changed: usize,
    /// Events ignored as stale or repeated.
    pub unchanged: usize,
    /// Ledger entries appended.
    pub entries: usize,
}

/// Why applying failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApplyError {
    /// The core refused an event: the delivery becomes a dead letter.
    #[error("{0}")]
    Core(#[from] CoreError),
    /// The store failed: the transaction is retried later.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The account a source id names, created as a placeholder if unknown.
fn resolve_account(book: &mut impl Book, source: &str, id: &str) -> Result<AccountId, StoreError> {
    match book.account_by_ref(source, id)? {
        Some((account, _)) => Ok(account),
        None => book.insert_account(source, id, &accounts::placeholder_account(source, id)),
    }
}

pub(crate) fn apply_events(
    book: &mut impl Book,
    program: &Program,
    source: &str,
    events: &[Event],
    now: i64,
) -> Result<Applied, ApplyError> {
    let mut applied = Applied::default();
    for event in events {
        let changed = apply_event(book, program, source, event, now, &mut applied)?;
        if changed {
            applied.changed += 1;
        } else {
            applied.unchanged += 1;
        }
    }
    Ok(applied)
}

fn apply_event(
    book: &mut impl Book,
    program: &Program,
    source: &str,
    event: &Event,
    now: i64,
    applied: &mut Applied,
) -> Result<bool, ApplyError> {
    match event {
        Event::Account(upsert) => {
            let stored = book.account_by_ref(source, &upsert.source_id)?;
            let current = stored.map(|(_, version)| Versioned {
                data: AccountData::default(),
                version,
            });
            match (accounts::upsert_account(current.as_ref(), upsert), stored) {
                (Upsert::Stale, _) => Ok(false),
                (Upsert::Write(record), Some((account, _))) => {
                    book.update_account(account, source, &upsert.source_id, &record)?;
                    Ok(true)
                }
                (Upsert::Write(record), None) => {
                    book.insert_account(source, &upsert.source_id, &record)?;
                    Ok(true)
                }
            }
        }
        Event::Contact(upsert) => {
            let stored = book.contact_by_ref(source, &upsert.source_id)?;
            let account = match &upsert.account_id {
                Some(id) => Some(resolve_account(book, source, id)?),
                None => None,
            };
            match accounts::upsert_contact(stored.as_ref().map(|(_, c)| c), upsert, account) {
                Upsert::Stale => Ok(false),
                Upsert::Write(record) => {
                    book.save_contact(
                        stored.map(|(id, _)| id),
                        source,
                        &upsert.source_id,
                        &record,
                    )?;
                    Ok(true)
                }
            }
        }
        Event::Purchase(purchase) => {
            let stored = book.purchase(source, &purchase.source_id)?;
            let (record, mut account) = match stored {
                Some((record, account)) => (Some(record), account),
                None => (None, None),
            };
            if account.is_none()
                && let Some(id) = &purchase.account_id
            {
                account = Some(resolve_account(book, source, id)?);
            }
            let outcome =
                purchases::on_purchase(record, source, purchase, account.is_some(), program)?;
            finish(book, program, outcome, account, now, applied)
        }
        Event::Refund(refund) => {
            let (record, account) = match book.purchase(source, &refund.purchase_id)? {
                Some((record, account)) => (Some(record), account),
                None => (None, None),
            };
            let outcome = purchases::on_refund(record, source, refund)?;
            finish(book, program, outcome, account, now, applied)
        }
        Event::NotYetHandled { kind, source_id } => {
            tracing::debug!(source, kind, source_id, "event kind not acted on yet");
            Ok(false)
        }
    }
}

fn finish(
    book: &mut impl Book,
    program: &Program,
    outcome: purchases::Outcome,
    account: Option<AccountId>,
    now: i64,
    applied: &mut Applied,
) -> Result<bool, ApplyError> {
    if !outcome.changed {
        return Ok(false);
    }
    book.save_purchase(&outcome.record, account)?;
    if let Some(account) = account {
        for entry in &outcome.entries {
            if book.append_entry(account, entry, &program.version, now)? {
                applied.entries += 1;
            }
        }
    }
    Ok(true)
}
