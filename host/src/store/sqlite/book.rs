//! [`Book`] over a SQLite transaction.

use rusqlite::{Connection, OptionalExtension, params};

use crate::core::accounts::{AccountData, AccountId, ContactData, Versioned};
use crate::core::ledger::{Chained, NewEntry, chain_hash};
use crate::core::purchases::PurchaseRecord;
use crate::store::StoreError;
use crate::store::apply::Book;
use crate::store::sqlite::db_error;

pub(crate) struct SqlBook<'c> {
    conn: &'c Connection,
    now: i64,
}

impl<'c> SqlBook<'c> {
    pub(crate) fn new(conn: &'c Connection, now: i64) -> Self {
        Self { conn, now }
    }
}

fn version(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Book for SqlBook<'_> {
    fn account_by_ref(
        &mut self,
        source: &str,
        id: &str,
    ) -> Result<Option<(AccountId, u64)>, StoreError> {
        self.conn
            .query_row(
                "SELECT account_id, version FROM account_refs WHERE source = ?1 AND external_id = ?2",
                params![source, id],
                |row| Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?)),
            )
            .optional()
            .map_err(db_error)
            .map(|found| found.map(|(account, v)| (account, u64::try_from(v).unwrap_or(0))))
    }

    fn insert_account(
        &mut self,
        source: &str,
        id: &str,
        account: &Versioned<AccountData>,
    ) -> Result<AccountId, StoreError> {
        let d = &account.data;
        let account_id: i64 = self
            .conn
            .query_row(
                "INSERT INTO accounts (name, domain, tax_id, industry, employees, country, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7) RETURNING id",
                params![d.name, d.domain, d.tax_id, d.industry, d.employees, d.country, self.now],
                |row| row.get(0),
            )
            .map_err(db_error)?;
        self.conn
            .execute(
                "INSERT INTO account_refs (source, external_id, account_id, version) VALUES (?1, ?2, ?3, ?4)",
                params![source, id, account_id, version(account.version)],
            )
            .map_err(db_error)?;
        Ok(account_id)
    }

    fn update_account(
        &mut self,
        account: AccountId,
        source: &str,
        id: &str,
        data: &Versioned<AccountData>,
    ) -> Result<(), StoreError> {
        let d = &data.data;
        self.conn
            .execute(
                "UPDATE accounts SET name = ?2, domain = ?3, tax_id = ?4, industry = ?5, employees = ?6, country = ?7,
                 updated_at = ?8 WHERE id = ?1",
                params![account, d.name, d.domain, d.tax_id, d.industry, d.employees, d.country, self.now],
            )
            .map_err(db_error)?;
        self.conn
            .execute(
                "UPDATE account_refs SET version = ?3 WHERE source = ?1 AND external_id = ?2",
                params![source, id, version(data.version)],
            )
            .map_err(db_error)?;
        Ok(())
    }

    fn contact_by_ref(
        &mut self,
        source: &str,
        id: &str,
    ) -> Result<Option<(i64, Versioned<ContactData>)>, StoreError> {
        self.conn
            .query_row(
                "SELECT id, account_id, email, first_name, last_name, role, version FROM contacts
                 WHERE source = ?1 AND external_id = ?2",
                params![source, id],
                |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        Versioned {
                            data: ContactData {
                                account: row.get(1)?,
                                email: row.get(2)?,
                                first_name: row.get(3)?,
                                last_name: row.get(4)?,
                                role: row.get(5)?,
                            },
                            version: u64::try_from(row.get::<_, i64>(6)?).unwrap_or(0),
                        },
                    ))
                },
            )
            .optional()
            .map_err(db_error)
    }

    fn save_contact(
        &mut self,
        existing: Option<i64>,
        source: &str,
        id: &str,
        contact: &Versioned<ContactData>,
    ) -> Result<(), StoreError> {
        let d = &contact.data;
        match existing {
            Some(row) => self.conn.execute(
                "UPDATE contacts SET account_id = ?2, email = ?3, first_name = ?4, last_name = ?5, role = ?6, version = ?7
                 WHERE id = ?1",
                params![row, d.account, d.email, d.first_name, d.last_name, d.role, version(contact.version)],
            ),
            None => self.conn.execute(
                "INSERT INTO contacts (source, external_id, account_id, email, first_name, last_name, role, version)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![source, id, d.account, d.email, d.first_name, d.last_name, d.role, version(contact.version)],
            ),
        }
        .map_err(db_error)?;
        Ok(())
    }

    fn purchase(
        &mut self,
        source: &str,
        id: &str,
    ) -> Result<Option<(PurchaseRecord, Option<AccountId>)>, StoreError> {
        let row: Option<(String, Option<i64>)> = self
            .conn
            .query_row(
                "SELECT record, account_id FROM purchases WHERE source = ?1 AND external_id = ?2",
                params![source, id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
            .map_err(db_error)?;
        row.map(|(json, account)| {
            serde_json::from_str(&json)
                .map(|record| (record, account))
                .map_err(|e| StoreError::Corrupt(format!("purchase {source}/{id}: {e}")))
        })
        .transpose()
    }

    fn save_purchase(
        &mut self,
        record: &PurchaseRecord,
        account: Option<AccountId>,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(record).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.conn
            .execute(
                "INSERT INTO purchases (source, external_id, account_id, record) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (source, external_id) DO UPDATE SET account_id = excluded.account_id, record = excluded.record",
                params![record.source, record.id, account, json],
            )
            .map_err(db_error)?;
        Ok(())
    }

    fn append_entry(
        &mut self,
        account: AccountId,
        entry: &NewEntry,
        rule_version: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let exists: Option<i64> = self
            .conn
            .query_row(
                "SELECT id FROM ledger WHERE effect_key = ?1",
                [&entry.effect_key],
                |row| row.get(0),
            )
            .optional()
            .map_err(db_error)?;
        if exists.is_some() {
            return Ok(false);
        }
        let previous: String = self
            .conn
            .query_row(
                "SELECT hash FROM ledger WHERE account_id = ?1 ORDER BY id DESC LIMIT 1",
                [account],
                |row| row.get(0),
            )
            .optional()
            .map_err(db_error)?
            .unwrap_or_default();
        let amount = entry.amount.as_ref().map(|m| m.amount.to_string());
        let currency = entry.amount.as_ref().map(|m| m.currency.clone());
        let rate = entry.rate.map(|r| r.to_string());
        let hash = chain_hash(
            &previous,
            &Chained {
                account_id: account,
                kind: entry.kind.as_str(),
                points: entry.points,
                effect_key: &entry.effect_key,
                source: &entry.source,
                reference: &entry.reference,
                rule_version,
                amount: amount.as_deref(),
                currency: currency.as_deref(),
                rate: rate.as_deref(),
                created_at: now,
                reason: entry.reason.as_deref(),
            },
        );
        self.conn
            .execute(
                "INSERT INTO ledger (account_id, kind, points, effect_key, source, reference, rule_version, amount,
                     currency, rate, created_at, hash, reason)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                params![
                    account,
                    entry.kind.as_str(),
                    entry.points,
                    entry.effect_key,
                    entry.source,
                    entry.reference,
                    rule_version,
                    amount,
                    currency,
                    rate,
                    now,
                    hash,
                    entry.reason,
                ],
            )
            .map_err(db_error)?;
        Ok(true)
    }
}
