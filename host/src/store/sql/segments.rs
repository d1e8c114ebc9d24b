//! Segments over SQLite: definitions, materialized membership and its
//! refresh, previews.

use std::collections::BTreeSet;

use serde_json::json;

use crate::core::accounts::AccountId;
use crate::core::profiles::Scored;
use crate::core::program::Program;
use crate::core::segments::{ContactProfile, Filter, Profile};
use crate::store::StoreError;
use crate::store::db::{Db, Row};
use crate::store::segments::{
    Member, Origin, RefreshReport, SaveOutcome, SegmentDefinition, SegmentView,
};
use crate::store::sql::Env;
use crate::store::sql::admin::audit;
use crate::store::sql::profiles::scored;

/// The account ids a definition selects among scored accounts, with the
/// contacts it reaches in each. An account whose contacts the contact
/// filter all rules out is not a member.
pub(crate) fn select<'a>(
    definition: &SegmentDefinition,
    accounts: &'a [Scored],
    now: i64,
) -> Vec<(&'a Profile, Vec<i64>)> {
    accounts
        .iter()
        .map(|s| &s.profile)
        .filter(|p| definition.filter.matches(p, now))
        .filter_map(|p| {
            let contacts = reached(definition.contacts.as_ref(), &p.contacts);
            (definition.contacts.is_none() || !contacts.is_empty()).then_some((p, contacts))
        })
        .collect()
}

pub(crate) fn reached(filter: Option<&Filter>, contacts: &[ContactProfile]) -> Vec<i64> {
    contacts
        .iter()
        .filter(|c| filter.is_none_or(|f| f.matches_contact(c)))
        .map(|c| c.id)
        .collect()
}

const COLUMNS: &str = "id, name, description, filter, contacts, origin, size, refreshed_at";

fn view(row: &dyn Row) -> Result<RawView, StoreError> {
    Ok(RawView {
        id: row.get(0)?,
        name: row.get(1)?,
        description: row.get(2)?,
        filter: row.get(3)?,
        contacts: row.get(4)?,
        origin: row.get(5)?,
        size: u64::try_from(row.get::<i64>(6)?).unwrap_or(0),
        refreshed_at: row.get(7)?,
    })
}

struct RawView {
    id: String,
    name: String,
    description: Option<String>,
    filter: String,
    contacts: Option<String>,
    origin: String,
    size: u64,
    refreshed_at: Option<i64>,
}

impl RawView {
    fn checked(self) -> Result<SegmentView, StoreError> {
        let origin = Origin::parse(&self.origin).ok_or_else(|| {
            StoreError::Corrupt(format!("segment {} has origin `{}`", self.id, self.origin))
        })?;
        let definition = SegmentDefinition::new(
            &self.id,
            &self.name,
            self.description,
            &self.filter,
            self.contacts.as_deref(),
            origin,
        )
        .map_err(|e| StoreError::Corrupt(format!("segment {}: {e}", self.id)))?;
        Ok(SegmentView {
            definition,
            size: self.size,
            refreshed_at: self.refreshed_at,
        })
    }
}

/// Every segment, by id.
pub(crate) fn list(conn: &dyn Db) -> Result<Vec<SegmentView>, StoreError> {
    conn.rows(
        &format!("SELECT {COLUMNS} FROM segments ORDER BY id"),
        &[],
        view,
    )?
    .into_iter()
    .map(RawView::checked)
    .collect()
}

/// One segment.
pub(crate) fn get(conn: &dyn Db, id: &str) -> Result<Option<SegmentView>, StoreError> {
    conn.row(
        &format!("SELECT {COLUMNS} FROM segments WHERE id = ?1"),
        &[&id],
        view,
    )?
    .map(RawView::checked)
    .transpose()
}

fn upsert(conn: &dyn Db, env: &Env, definition: &SegmentDefinition) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO segments (id, name, description, filter, contacts, origin, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)
         ON CONFLICT (id) DO UPDATE SET name = ?2, description = ?3, filter = ?4, contacts = ?5,
             origin = ?6, updated_at = ?7,
             refreshed_at = CASE WHEN segments.filter = ?4 AND segments.contacts IS NOT DISTINCT FROM ?5
                                 THEN segments.refreshed_at END",
        &[
            &definition.id,
            &definition.name,
            &definition.description,
            &definition.filter.source(),
            &definition.contacts.as_ref().map(Filter::source),
            &definition.origin.as_str(),
            &env.now,
        ],
    )?;
    Ok(())
}

fn remove(conn: &dyn Db, id: &str) -> Result<(), StoreError> {
    conn.execute("DELETE FROM segment_members WHERE segment = ?1", &[&id])?;
    conn.execute("DELETE FROM segments WHERE id = ?1", &[&id])?;
    Ok(())
}

/// Puts the configuration's segments in place of the previous
/// configuration's; API segments stay, unless a configuration segment
/// takes their id.
pub(crate) fn define(
    conn: &dyn Db,
    env: &Env,
    definitions: &[SegmentDefinition],
) -> Result<(), StoreError> {
    let configured: BTreeSet<&str> = definitions.iter().map(|d| d.id.as_str()).collect();
    for old in list(conn)? {
        if old.definition.origin == Origin::Config
            && !configured.contains(old.definition.id.as_str())
        {
            remove(conn, &old.definition.id)?;
        }
    }
    for definition in definitions {
        upsert(conn, env, definition)?;
    }
    Ok(())
}

/// Creates or replaces an API segment.
pub(crate) fn save(
    conn: &dyn Db,
    env: &Env,
    definition: &SegmentDefinition,
    actor: &str,
) -> Result<SaveOutcome, StoreError> {
    let before = get(conn, &definition.id)?;
    if before
        .as_ref()
        .is_some_and(|b| b.definition.origin == Origin::Config)
    {
        return Ok(SaveOutcome::ConfigOwned);
    }
    upsert(conn, env, definition)?;
    let after = get(conn, &definition.id)?
        .ok_or_else(|| StoreError::Corrupt(format!("segment {} vanished", definition.id)))?;
    audit(
        conn,
        actor,
        if before.is_some() {
            "segment.update"
        } else {
            "segment.create"
        },
        &format!("segment:{}", definition.id),
        before.as_ref().map(|b| json!(b.definition)).as_ref(),
        Some(&json!(after.definition)),
        env.now,
    )?;
    Ok(if before.is_some() {
        SaveOutcome::Updated(after)
    } else {
        SaveOutcome::Created(after)
    })
}

/// Deletes an API segment; `Ok(None)` when unknown, `Ok(Some(false))` for
/// a configuration segment.
pub(crate) fn delete(
    conn: &dyn Db,
    env: &Env,
    id: &str,
    actor: &str,
) -> Result<Option<bool>, StoreError> {
    let Some(before) = get(conn, id)? else {
        return Ok(None);
    };
    if before.definition.origin == Origin::Config {
        return Ok(Some(false));
    }
    remove(conn, id)?;
    audit(
        conn,
        actor,
        "segment.delete",
        &format!("segment:{id}"),
        Some(&json!(before.definition)),
        None,
        env.now,
    )?;
    Ok(Some(true))
}

/// Recomputes every segment's membership as of `env.now`.
pub(crate) fn refresh(
    conn: &dyn Db,
    env: &Env,
    program: &Program,
) -> Result<RefreshReport, StoreError> {
    let segments = list(conn)?;
    let mut report = RefreshReport {
        at: env.now,
        ..RefreshReport::default()
    };
    if segments.is_empty() {
        return Ok(report);
    }
    let (accounts, _) = scored(conn, program, env.now)?;
    for segment in &segments {
        let id = &segment.definition.id;
        let now: BTreeSet<AccountId> = select(&segment.definition, &accounts, env.now)
            .into_iter()
            .map(|(p, _)| p.id)
            .collect();
        let before: BTreeSet<AccountId> = conn
            .rows(
                "SELECT account_id FROM segment_members WHERE segment = ?1",
                &[id],
                |row| row.get(0),
            )?
            .into_iter()
            .collect();
        for joined in now.difference(&before) {
            conn.execute(
                "INSERT INTO segment_members (segment, account_id, since) VALUES (?1, ?2, ?3)",
                &[id, joined, &env.now],
            )?;
            report.joined += 1;
        }
        for left in before.difference(&now) {
            conn.execute(
                "DELETE FROM segment_members WHERE segment = ?1 AND account_id = ?2",
                &[id, left],
            )?;
            report.left += 1;
        }
        conn.execute(
            "UPDATE segments SET size = ?2, refreshed_at = ?3 WHERE id = ?1",
            &[id, &i64::try_from(now.len()).unwrap_or(i64::MAX), &env.now],
        )?;
        report.segments += 1;
    }
    Ok(report)
}

/// A segment's members as materialized, with the contacts each reaches
/// now; at most `limit`, by account id.
pub(crate) fn members(
    conn: &dyn Db,
    id: &str,
    limit: u32,
) -> Result<Option<Vec<Member>>, StoreError> {
    let Some(segment) = get(conn, id)? else {
        return Ok(None);
    };
    let rows: Vec<(i64, String, i64)> = conn.rows(
        "SELECT m.account_id, a.name, m.since FROM segment_members m
         JOIN accounts a ON a.id = m.account_id
         WHERE m.segment = ?1 ORDER BY m.account_id LIMIT ?2",
        &[&id, &i64::from(limit)],
        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
    )?;
    let mut members = Vec::new();
    for (account_id, name, since) in rows {
        let contacts = reached(
            segment.definition.contacts.as_ref(),
            &contacts_of(conn, account_id)?,
        );
        members.push(Member {
            account_id,
            name,
            since,
            contacts,
        });
    }
    Ok(Some(members))
}

pub(crate) fn contacts_of(
    conn: &dyn Db,
    account: AccountId,
) -> Result<Vec<ContactProfile>, StoreError> {
    conn.rows(
        "SELECT id, email, first_name, last_name, role FROM contacts WHERE account_id = ?1 ORDER BY id",
        &[&account],
        |row| {
            Ok(ContactProfile {
                id: row.get(0)?,
                email: row.get(1)?,
                first_name: row.get(2)?,
                last_name: row.get(3)?,
                role: row.get(4)?,
            })
        },
    )
}

/// What a definition would select now: its size and the first `sample`
/// members, without saving anything.
pub(crate) fn preview(
    conn: &dyn Db,
    program: &Program,
    definition: &SegmentDefinition,
    sample: usize,
    now: i64,
) -> Result<(usize, Vec<Member>), StoreError> {
    let (accounts, _) = scored(conn, program, now)?;
    let selected = select(definition, &accounts, now);
    let size = selected.len();
    let members = selected
        .into_iter()
        .take(sample)
        .map(|(p, contacts)| Member {
            account_id: p.id,
            name: p.name.clone(),
            since: now,
            contacts,
        })
        .collect();
    Ok((size, members))
}
