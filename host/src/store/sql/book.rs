//! [`Book`] over a store connection (a SQLite transaction).

use rust_decimal::Decimal;

use crate::core::commissions::Due;

use crate::core::accounts::{AccountData, AccountId, ContactData, Versioned};
use crate::core::event::{Contract, Engagement};
use crate::core::ledger::{Chained, NewEntry, chain_hash};
use crate::core::membership::MembershipStatus;
use crate::core::purchases::PurchaseRecord;
use crate::core::tiers::{SpendItem, TierChange, TierState};
use crate::store::StoreError;
use crate::store::apply::{
    AccountKeys, AccountState, Book, EngagementRow, NewCommission, ReferralState,
};
use crate::store::db::{Db, Money, Param};

/// Hands `each` the account and spend item of every purchase matching
/// `filter` (a condition on `purchases`, binding `params`), in no
/// particular order.
///
/// `placed_at` and `qualifying` are read from that index alone. Only rows
/// written before the `qualifying` column existed need their record
/// parsed; they are read by a second query, run only when the first met
/// one, and handed over after the others.
pub(crate) fn read_spend(
    conn: &dyn Db,
    filter: &str,
    params: &[&dyn Param],
    each: &mut dyn FnMut(AccountId, SpendItem) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let mut unfilled = false;
    conn.query(
        &format!("SELECT account_id, placed_at, qualifying FROM purchases WHERE {filter}"),
        params,
        &mut |row| {
            let account: AccountId = row.get(0)?;
            match (row.get::<Option<i64>>(1)?, row.get::<Option<Decimal>>(2)?) {
                (Some(placed_at), Some(amount)) => each(account, SpendItem { placed_at, amount })?,
                (None, Some(_)) => {}
                (_, None) => unfilled = true,
            }
            Ok(true)
        },
    )?;
    if !unfilled {
        return Ok(());
    }
    conn.query(
        &format!(
            "SELECT account_id, placed_at, record FROM purchases
             WHERE {filter} AND qualifying IS NULL"
        ),
        params,
        &mut |row| {
            let account: AccountId = row.get(0)?;
            let item = spend_item((row.get(1)?, None, row.get(2)?))
                .map_err(|e| StoreError::Corrupt(format!("purchase of account {account}: {e}")))?;
            if let Some(item) = item {
                each(account, item)?;
            }
            Ok(true)
        },
    )
}

/// A purchase's `placed_at`, `qualifying` and (only without it) record.
pub(crate) type SpendRow = (Option<i64>, Option<Decimal>, Option<String>);

/// What a purchase counts for: `None` for one not placed yet (only its
/// refunds are known).
pub(crate) fn spend_item(
    (placed_at, qualifying, record): SpendRow,
) -> Result<Option<SpendItem>, String> {
    let amount = match (qualifying, record) {
        (Some(qualifying), _) => qualifying,
        (None, Some(json)) => serde_json::from_str::<PurchaseRecord>(&json)
            .map_err(|e| e.to_string())?
            .qualifying_amount(),
        (None, None) => return Err("neither a qualifying amount nor a record".to_owned()),
    };
    Ok(placed_at.map(|placed_at| SpendItem { placed_at, amount }))
}

pub(crate) struct SqlBook<'c> {
    conn: &'c dyn Db,
    now: i64,
    last_entry: Option<i64>,
}

impl<'c> SqlBook<'c> {
    pub(crate) fn new(conn: &'c dyn Db, now: i64) -> Self {
        Self {
            conn,
            now,
            last_entry: None,
        }
    }

    /// The id of the ledger entry the last [`Book::append_entry`] inserted;
    /// `None` before any call and after one that found its effect key.
    pub(crate) fn last_entry_id(&self) -> Option<i64> {
        self.last_entry
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
            .row(
                "SELECT account_id, version FROM account_refs WHERE source = ?1 AND external_id = ?2",
                &[&source, &id],
                |row| Ok((row.get::<i64>(0)?, row.get::<i64>(1)?)),
            )
            .map(|found| found.map(|(account, v)| (account, u64::try_from(v).unwrap_or(0))))
    }

    fn account_by_claim(
        &mut self,
        system: &str,
        id: &str,
    ) -> Result<Option<AccountId>, StoreError> {
        self.conn.row(
            "SELECT account_id FROM account_claims WHERE system = ?1 AND external_id = ?2",
            &[&system, &id],
            |row| row.get(0),
        )
    }

    fn accounts_by_keys(
        &mut self,
        keys: &AccountKeys,
    ) -> Result<(Vec<AccountId>, Vec<AccountId>), StoreError> {
        let find = |column: &str, key: &Option<String>| -> Result<Vec<AccountId>, StoreError> {
            let Some(key) = key else {
                return Ok(Vec::new());
            };
            self.conn.rows(
                &format!("SELECT id FROM accounts WHERE {column} = ?1 ORDER BY id"),
                &[key],
                |row| row.get(0),
            )
        };
        Ok((
            find("tax_key", &keys.tax_key)?,
            find("domain_key", &keys.domain_key)?,
        ))
    }

    fn insert_account(
        &mut self,
        source: &str,
        id: &str,
        account: &Versioned<AccountData>,
        keys: &AccountKeys,
        membership: Option<MembershipStatus>,
    ) -> Result<AccountId, StoreError> {
        let d = &account.data;
        let account_id: i64 = self.conn.one(
                "INSERT INTO accounts (name, domain, tax_id, industry, employees, country, tax_key, domain_key,
                     membership, created_at, updated_at, annual_revenue, annual_revenue_currency)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11, ?12) RETURNING id",
                &[
                    &d.name,
                    &d.domain,
                    &d.tax_id,
                    &d.industry,
                    &d.employees.map(i64::from),
                    &d.country,
                    &keys.tax_key,
                    &keys.domain_key,
                    &membership.map(MembershipStatus::as_str),
                    &self.now,
                    &d.annual_revenue.as_ref().map(|m| Money(m.amount)),
                    &d.annual_revenue.as_ref().map(|m| m.currency.as_str()),
                ],
                |row| row.get(0),
            )?;
        self.add_ref(account_id, source, id, account.version)?;
        Ok(account_id)
    }

    fn add_ref(
        &mut self,
        account: AccountId,
        source: &str,
        id: &str,
        version_: u64,
    ) -> Result<(), StoreError> {
        self.conn.execute(
                "INSERT INTO account_refs (source, external_id, account_id, version) VALUES (?1, ?2, ?3, ?4)",
                &[&source, &id, &account, &version(version_)],
            )?;
        Ok(())
    }

    fn add_claim(&mut self, system: &str, id: &str, account: AccountId) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO account_claims (system, external_id, account_id) VALUES (?1, ?2, ?3)
                 ON CONFLICT (system, external_id) DO NOTHING",
            &[&system, &id, &account],
        )?;
        Ok(())
    }

    fn update_account(
        &mut self,
        account: AccountId,
        source: &str,
        id: &str,
        data: &Versioned<AccountData>,
        keys: &AccountKeys,
    ) -> Result<(), StoreError> {
        let d = &data.data;
        self.conn.execute(
                "UPDATE accounts SET name = ?2, domain = COALESCE(?3, domain), tax_id = COALESCE(?4, tax_id),
                     industry = COALESCE(?5, industry), employees = COALESCE(?6, employees),
                     country = COALESCE(?7, country), tax_key = COALESCE(?8, tax_key),
                     domain_key = COALESCE(?9, domain_key), updated_at = ?10,
                     annual_revenue = COALESCE(?11, annual_revenue),
                     annual_revenue_currency = COALESCE(?12, annual_revenue_currency)
                 WHERE id = ?1",
                &[
                    &account,
                    &d.name,
                    &d.domain,
                    &d.tax_id,
                    &d.industry,
                    &d.employees.map(i64::from),
                    &d.country,
                    &keys.tax_key,
                    &keys.domain_key,
                    &self.now,
                    &d.annual_revenue.as_ref().map(|m| Money(m.amount)),
                    &d.annual_revenue.as_ref().map(|m| m.currency.as_str()),
                ],
            )?;
        self.conn.execute(
            "UPDATE account_refs SET version = ?3 WHERE source = ?1 AND external_id = ?2",
            &[&source, &id, &version(data.version)],
        )?;
        Ok(())
    }

    fn account_state(&mut self, account: AccountId) -> Result<AccountState, StoreError> {
        let (membership, tags): (Option<String>, String) = self.conn.one(
            "SELECT membership, tags FROM accounts WHERE id = ?1",
            &[&account],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        let membership = membership
            .map(|m| {
                MembershipStatus::parse(&m).ok_or_else(|| {
                    StoreError::Corrupt(format!("account {account}: membership `{m}`"))
                })
            })
            .transpose()?;
        let tags = serde_json::from_str(&tags)
            .map_err(|e| StoreError::Corrupt(format!("account {account}: tags: {e}")))?;
        let tier = self.conn.row(
            "SELECT tier, since, below_since FROM tier_states WHERE account_id = ?1",
            &[&account],
            |row| {
                Ok(TierState {
                    tier: row.get(0)?,
                    since: row.get(1)?,
                    below_since: row.get(2)?,
                })
            },
        )?;
        Ok(AccountState {
            membership,
            tags,
            tier,
        })
    }

    fn set_membership(
        &mut self,
        account: AccountId,
        membership: Option<MembershipStatus>,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE accounts SET membership = ?2, updated_at = ?3 WHERE id = ?1",
            &[
                &account,
                &membership.map(MembershipStatus::as_str),
                &self.now,
            ],
        )?;
        Ok(())
    }

    fn contact_by_ref(
        &mut self,
        source: &str,
        id: &str,
    ) -> Result<Option<(i64, Versioned<ContactData>)>, StoreError> {
        self.conn.row(
            "SELECT id, account_id, email, first_name, last_name, role, version FROM contacts
                 WHERE source = ?1 AND external_id = ?2",
            &[&source, &id],
            |row| {
                Ok((
                    row.get::<i64>(0)?,
                    Versioned {
                        data: ContactData {
                            account: row.get(1)?,
                            email: row.get(2)?,
                            first_name: row.get(3)?,
                            last_name: row.get(4)?,
                            role: row.get(5)?,
                        },
                        version: u64::try_from(row.get::<i64>(6)?).unwrap_or(0),
                    },
                ))
            },
        )
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
                &[&row, &d.account, &d.email, &d.first_name, &d.last_name, &d.role, &version(contact.version)],
            ),
            None => self.conn.execute(
                "INSERT INTO contacts (source, external_id, account_id, email, first_name, last_name, role, version)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                &[&source, &id, &d.account, &d.email, &d.first_name, &d.last_name, &d.role, &version(contact.version)],
            ),
        }?;
        Ok(())
    }

    fn purchase(
        &mut self,
        source: &str,
        id: &str,
    ) -> Result<Option<(PurchaseRecord, Option<AccountId>)>, StoreError> {
        let row: Option<(String, Option<i64>)> = self.conn.row(
            "SELECT record, account_id FROM purchases WHERE source = ?1 AND external_id = ?2",
            &[&source, &id],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
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
        self.conn.execute(
            "INSERT INTO purchases (source, external_id, account_id, placed_at, record, qualifying)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (source, external_id) DO UPDATE SET account_id = excluded.account_id,
                     placed_at = excluded.placed_at, record = excluded.record,
                     qualifying = excluded.qualifying",
            &[
                &record.source,
                &record.id,
                &account,
                &record.placed_at,
                &json,
                &Money(record.qualifying_amount()),
            ],
        )?;
        Ok(())
    }

    fn spend_items(
        &mut self,
        account: AccountId,
        since: i64,
    ) -> Result<Vec<SpendItem>, StoreError> {
        let mut items = Vec::new();
        read_spend(
            self.conn,
            "account_id = ?1 AND placed_at > ?2",
            &[&account, &since],
            &mut |_, item| {
                items.push(item);
                Ok(())
            },
        )?;
        items.sort_by_key(|item| item.placed_at);
        Ok(items)
    }

    fn earned_between(
        &mut self,
        account: AccountId,
        from: i64,
        to: i64,
    ) -> Result<i64, StoreError> {
        self.conn.one(
                "SELECT COALESCE(SUM(points), 0) FROM ledger
                 WHERE account_id = ?1 AND kind = 'earn' AND occurred_at >= ?2 AND occurred_at < ?3",
                &[&account, &from, &to],
                |row| row.get(0),
            )
    }

    fn save_tier(
        &mut self,
        account: AccountId,
        state: &TierState,
        change: Option<&TierChange>,
    ) -> Result<(), StoreError> {
        self.conn.execute(
                "INSERT INTO tier_states (account_id, tier, since, below_since) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (account_id) DO UPDATE SET tier = excluded.tier, since = excluded.since,
                     below_since = excluded.below_since",
                &[&account, &state.tier, &state.since, &state.below_since],
            )?;
        if let Some(change) = change {
            self.conn.execute(
                "INSERT INTO tier_history (account_id, from_tier, to_tier, kind, spend, at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                &[
                    &account,
                    &change.from,
                    &change.to,
                    &change.kind.as_str(),
                    &Money(change.spend),
                    &change.at,
                ],
            )?;
        }
        Ok(())
    }

    fn engagement_exists(&mut self, source: &str, id: &str) -> Result<bool, StoreError> {
        self.conn
            .row(
                "SELECT 1 FROM engagements WHERE source = ?1 AND external_id = ?2",
                &[&source, &id],
                |_| Ok(()),
            )
            .map(|found| found.is_some())
    }

    fn rewarded_engagements(
        &mut self,
        account: AccountId,
        kind: &str,
        from: i64,
        to: i64,
    ) -> Result<u32, StoreError> {
        self.conn.one(
            "SELECT COUNT(*) FROM engagements WHERE account_id = ?1 AND kind = ?2 AND points > 0
                     AND occurred_at >= ?3 AND occurred_at < ?4",
            &[&account, &kind, &from, &to],
            |row| row.get(0),
        )
    }

    fn save_engagement(
        &mut self,
        source: &str,
        event: &Engagement,
        row: &EngagementRow<'_>,
    ) -> Result<(), StoreError> {
        self.conn.execute(
                "INSERT INTO engagements (source, external_id, account_id, contact_id, kind, name, score,
                     occurred_at, points, comment)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                &[
                    &source,
                    &event.source_id,
                    &row.account,
                    &row.contact,
                    &row.kind,
                    &row.name,
                    &row.score.map(i64::from),
                    &event.occurred_at,
                    &row.points,
                    &event.comment,
                ],
            )?;
        Ok(())
    }

    fn contract(&mut self, source: &str, id: &str) -> Result<Option<(AccountId, u64)>, StoreError> {
        self.conn
            .row(
                "SELECT account_id, version FROM contracts WHERE source = ?1 AND external_id = ?2",
                &[&source, &id],
                |row| Ok((row.get::<i64>(0)?, row.get::<i64>(1)?)),
            )
            .map(|found| found.map(|(account, v)| (account, u64::try_from(v).unwrap_or(0))))
    }

    fn save_contract(
        &mut self,
        source: &str,
        account: AccountId,
        contract: &Contract,
    ) -> Result<(), StoreError> {
        let json =
            serde_json::to_string(contract).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.conn.execute(
                "INSERT INTO contracts (source, external_id, account_id, version, record) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (source, external_id) DO UPDATE SET version = excluded.version, record = excluded.record",
                &[&source, &contract.source_id, &account, &version(contract.version), &json],
            )?;
        Ok(())
    }

    fn contracts_of(&mut self, account: AccountId) -> Result<Vec<Contract>, StoreError> {
        self.conn.rows(
            "SELECT record FROM contracts WHERE account_id = ?1",
            &[&account],
            |row| {
                let json = row.get::<String>(0)?;
                serde_json::from_str(&json)
                    .map_err(|e| StoreError::Corrupt(format!("contract of account {account}: {e}")))
            },
        )
    }

    fn pending_referral(
        &mut self,
        referred: AccountId,
    ) -> Result<Option<(i64, AccountId)>, StoreError> {
        self.conn.row(
            "SELECT id, referrer FROM referrals WHERE referred = ?1 AND qualified_at IS NULL",
            &[&referred],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
    }

    fn qualify_referral(
        &mut self,
        id: i64,
        at: i64,
        points: i64,
        qualified_by: Option<&str>,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE referrals SET qualified_at = ?2, points = ?3, qualified_by = ?4 WHERE id = ?1",
            &[&id, &at, &points, &qualified_by],
        )?;
        Ok(())
    }

    fn referral_of(&mut self, referred: AccountId) -> Result<Option<ReferralState>, StoreError> {
        self.conn.row(
            "SELECT id, referrer, qualified_at, qualified_by FROM referrals WHERE referred = ?1",
            &[&referred],
            |row| {
                Ok(ReferralState {
                    id: row.get(0)?,
                    referrer: row.get(1)?,
                    qualified_at: row.get(2)?,
                    qualified_by: row.get(3)?,
                })
            },
        )
    }

    fn referral_code_owner(&mut self, code: &str) -> Result<Option<AccountId>, StoreError> {
        crate::store::sql::referrals::code_owner(self.conn, code)
    }

    fn insert_referral(
        &mut self,
        referrer: AccountId,
        referred: AccountId,
        source: &str,
        actor: &str,
    ) -> Result<i64, StoreError> {
        self.conn.one(
            "INSERT INTO referrals (referrer, referred, source, actor, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
            &[&referrer, &referred, &source, &actor, &self.now],
            |row| row.get(0),
        )
    }

    fn qualified_between(
        &mut self,
        referrer: AccountId,
        from: i64,
        to: i64,
    ) -> Result<u32, StoreError> {
        self.conn.one(
            "SELECT COUNT(*) FROM referrals WHERE referrer = ?1
                     AND qualified_at >= ?2 AND qualified_at < ?3",
            &[&referrer, &from, &to],
            |row| row.get(0),
        )
    }

    fn accrued(&mut self, rule: &str, referral: i64, basis: &str) -> Result<Due, StoreError> {
        let mut due = Due::ZERO;
        self.conn.query(
            "SELECT amount, points FROM commissions WHERE rule = ?1 AND referral_id = ?2 AND basis = ?3",
            &[&rule, &referral, &basis],
            &mut |row| {
                let amount: Decimal = row.get(0)?;
                let points: i64 = row.get(1)?;
                due.amount = due.amount.saturating_add(amount);
                due.points = due.points.saturating_add(points);
                Ok(true)
            },
        )?;
        Ok(due)
    }

    fn accrued_to(
        &mut self,
        rule: &str,
        referrer: AccountId,
        basis: &str,
    ) -> Result<bool, StoreError> {
        self.conn.one(
                "SELECT EXISTS (SELECT 1 FROM commissions WHERE rule = ?1 AND referrer = ?2 AND basis = ?3)",
                &[&rule, &referrer, &basis],
                |row| row.get(0),
            )
    }

    fn campaign_multiplier(
        &mut self,
        account: AccountId,
        at: i64,
    ) -> Result<Option<(String, Decimal)>, StoreError> {
        let mut best: Option<(String, Decimal)> = None;
        self.conn.query(
            "SELECT c.id, c.offer FROM campaigns c
                 JOIN campaign_members m ON m.campaign = c.id
                 WHERE m.account_id = ?1 AND m.grp = 'target' AND c.started_at <= ?2
                   AND c.offer LIKE '%\"multiplier\"%'",
            &[&account, &at],
            &mut |row| {
                let id: String = row.get(0)?;
                let offer: String = row.get(1)?;
                let offer: crate::core::campaigns::Offer = serde_json::from_str(&offer)
                    .map_err(|e| StoreError::Corrupt(format!("offer of campaign {id}: {e}")))?;
                if let crate::core::campaigns::Offer::Multiplier { factor, ends_at } = offer
                    && at < ends_at
                    && best.as_ref().is_none_or(|(_, b)| factor > *b)
                {
                    best = Some((id, factor));
                }
                Ok(true)
            },
        )?;
        Ok(best)
    }

    fn add_commission(&mut self, c: &NewCommission<'_>) -> Result<i64, StoreError> {
        self.conn.one(
            "INSERT INTO commissions (referral_id, referrer, referred, rule, kind, basis, amount,
                     currency, points, occurred_at, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) RETURNING id",
            &[
                &c.referral,
                &c.referrer,
                &c.referred,
                &c.rule,
                &c.kind,
                &c.basis,
                &Money(c.due.amount),
                &c.currency,
                &c.due.points,
                &c.occurred_at,
                &self.now,
            ],
            |row| row.get(0),
        )
    }

    fn referral_bonuses_between(
        &mut self,
        referrer: AccountId,
        from: i64,
        to: i64,
    ) -> Result<u32, StoreError> {
        self.conn.one(
            "SELECT COUNT(*) FROM referrals WHERE referrer = ?1 AND points > 0
                     AND qualified_at >= ?2 AND qualified_at < ?3",
            &[&referrer, &from, &to],
            |row| row.get(0),
        )
    }

    fn balance(&mut self, account: AccountId) -> Result<i64, StoreError> {
        crate::store::sql::program::balance(self.conn, account)
    }

    fn append_entry(
        &mut self,
        account: AccountId,
        entry: &NewEntry,
        rule_version: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.last_entry = None;
        let exists: Option<i64> = self.conn.row(
            "SELECT id FROM ledger WHERE effect_key = ?1",
            &[&entry.effect_key],
            |row| row.get(0),
        )?;
        if exists.is_some() {
            return Ok(false);
        }
        let previous: String = self
            .conn
            .row(
                "SELECT hash FROM ledger WHERE account_id = ?1 ORDER BY id DESC LIMIT 1",
                &[&account],
                |row| row.get(0),
            )?
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
                occurred_at: entry.occurred_at,
                created_at: now,
                reason: entry.reason.as_deref(),
            },
        );
        let id: i64 = self.conn.one(
                "INSERT INTO ledger (account_id, kind, points, effect_key, source, reference, rule_version, amount,
                     currency, rate, occurred_at, created_at, hash, reason)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) RETURNING id",
                &[
                    &account,
                    &entry.kind.as_str(),
                    &entry.points,
                    &entry.effect_key,
                    &entry.source,
                    &entry.reference,
                    &rule_version,
                    &entry.amount.as_ref().map(|m| Money(m.amount)),
                    &currency,
                    &entry.rate.map(Money),
                    &entry.occurred_at,
                    &now,
                    &hash,
                    &entry.reason,
                ],
                |row| row.get(0),
            )?;
        self.last_entry = Some(id);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::event::{Money, PurchaseStatus};

    #[test]
    fn spend_is_read_from_the_column_or_else_from_the_record() {
        let mut record = PurchaseRecord::new("erp", "SO-1");
        record.status = Some(PurchaseStatus::Paid);
        record.placed_at = Some(1_000);
        record.net_amount = Some(Money {
            amount: Decimal::new(10_000, 2),
            currency: "USD".to_owned(),
        });
        record.rate = Some(Decimal::new(9, 1));
        let json = serde_json::to_string(&record).unwrap();
        let expected = SpendItem {
            placed_at: 1_000,
            amount: Decimal::new(9_000, 2),
        };
        // A row written before the column: its record is read.
        assert_eq!(
            spend_item((Some(1_000), None, Some(json))),
            Ok(Some(expected))
        );
        // A row written since: the column is enough.
        let qualifying = record.qualifying_amount();
        assert_eq!(
            spend_item((Some(1_000), Some(qualifying), None)),
            Ok(Some(expected))
        );
        // Only refunds known: not placed, counts for nothing.
        assert_eq!(spend_item((None, Some(Decimal::ZERO), None)), Ok(None));
        assert!(spend_item((Some(1_000), None, None)).is_err());
    }

    /// An in-memory `purchases` table with the columns spend is read from:
    /// `(account, placed_at, qualifying, record)` rows.
    fn purchases(rows: &[(i64, Option<i64>, Option<&str>, &str)]) -> rusqlite::Connection {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE purchases (account_id INTEGER, placed_at INTEGER, record TEXT NOT NULL, qualifying TEXT);
             CREATE INDEX purchases_account ON purchases (account_id, placed_at, qualifying);",
        )
        .unwrap();
        for (account, placed_at, qualifying, record) in rows {
            conn.execute(
                "INSERT INTO purchases (account_id, placed_at, qualifying, record) VALUES (?1, ?2, ?3, ?4)",
                rusqlite::params![account, placed_at, qualifying, record],
            )
            .unwrap();
        }
        conn
    }

    #[test]
    fn spend_is_read_from_the_index_and_records_only_where_the_column_is_empty() {
        let mut record = PurchaseRecord::new("erp", "SO-1");
        record.status = Some(PurchaseStatus::Paid);
        record.placed_at = Some(500);
        record.net_amount = Some(Money {
            amount: Decimal::new(10_000, 2),
            currency: "USD".to_owned(),
        });
        record.rate = Some(Decimal::new(9, 1));
        let json = serde_json::to_string(&record).unwrap();
        // "unread" is no record: reading it would fail.
        let conn = purchases(&[
            (2, Some(1_500), Some("7.50"), "unread"),
            (1, Some(2_000), Some("25.00"), "unread"),
            (1, Some(500), None, &json),
            (2, None, Some("0"), "unread"),
        ]);
        let db: &dyn Db = &conn;
        let mut read = Vec::new();
        read_spend(db, "account_id IS NOT NULL", &[], &mut |account, item| {
            read.push((account, item.placed_at, item.amount));
            Ok(())
        })
        .unwrap();
        read.sort();
        assert_eq!(
            read,
            [
                (1, 500, Decimal::new(9_000, 2)),
                (1, 2_000, Decimal::new(2_500, 2)),
                (2, 1_500, Decimal::new(750, 2)),
            ]
        );
        let mut book = SqlBook::new(db, 0);
        assert_eq!(
            book.spend_items(1, 0).unwrap(),
            [
                SpendItem {
                    placed_at: 500,
                    amount: Decimal::new(9_000, 2)
                },
                SpendItem {
                    placed_at: 2_000,
                    amount: Decimal::new(2_500, 2)
                },
            ]
        );
        assert_eq!(book.spend_items(1, 500).unwrap().len(), 1);
    }

    #[test]
    fn a_qualifying_amount_that_is_not_a_number_is_corrupt() {
        let conn = purchases(&[(1, Some(1_000), Some("twelve"), "{}")]);
        let db: &dyn Db = &conn;
        let read = read_spend(db, "account_id = ?1", &[&1_i64], &mut |_, _| Ok(()));
        assert!(matches!(read, Err(StoreError::Corrupt(_))));
    }
}
