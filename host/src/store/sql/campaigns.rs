//! Campaigns over SQLite: definitions and lifecycle, the start (members,
//! holdout, deliveries, bonus points in one transaction), batches that keep
//! their key across a crash, retries, and the attribution report.

use std::collections::BTreeSet;

use rust_decimal::Decimal;
use serde_json::json;

use crate::core::accounts::AccountId;
use crate::core::campaigns::{self, ATTEMPTS_MAX, CampaignKind, CampaignStatus, Offer, in_holdout};
use crate::core::ledger::{EntryKind, NewEntry};
use crate::core::membership::MembershipStatus;
use crate::core::program::Program;
use crate::core::tiers::{self, SpendItem};
use crate::store::apply::Book;
use crate::store::campaigns::{
    Batch, CampaignDefinition, CampaignOutcome, CampaignReport, CampaignView, CodeRequest,
    DeliveryCounts, DeliveryView, Recipient, Transition,
};
use crate::store::db::{Db, Money, Param, Row};
use crate::store::segments::Origin;
use crate::store::sql::Env;
use crate::store::sql::admin::audit;
use crate::store::sql::book::SqlBook;
use crate::store::sql::segments::{contacts_of, reached, refresh};
use crate::store::{BatchFailure, StoreError};

const DAY_MS: i64 = 86_400_000;

const COLUMNS: &str = "id, name, kind, segment, channel, subject, template, offer, holdout_percent,
    attribution_days, origin, status, send_at, started_at, finished_at, last_error";

struct Raw {
    id: String,
    name: String,
    kind: String,
    segment: String,
    channel: String,
    subject: Option<String>,
    template: String,
    offer: Option<String>,
    holdout_percent: Decimal,
    attribution_days: u32,
    origin: String,
    status: String,
    send_at: Option<i64>,
    started_at: Option<i64>,
    finished_at: Option<i64>,
    last_error: Option<String>,
}

fn row(r: &dyn Row) -> Result<Raw, StoreError> {
    Ok(Raw {
        id: r.get(0)?,
        name: r.get(1)?,
        kind: r.get(2)?,
        segment: r.get(3)?,
        channel: r.get(4)?,
        subject: r.get(5)?,
        template: r.get(6)?,
        offer: r.get(7)?,
        holdout_percent: r.get(8)?,
        attribution_days: r.get(9)?,
        origin: r.get(10)?,
        status: r.get(11)?,
        send_at: r.get(12)?,
        started_at: r.get(13)?,
        finished_at: r.get(14)?,
        last_error: r.get(15)?,
    })
}

fn corrupt(id: &str, what: &str) -> StoreError {
    StoreError::Corrupt(format!("campaign {id}: {what}"))
}

fn view(conn: &dyn Db, r: Raw) -> Result<CampaignView, StoreError> {
    let kind = CampaignKind::parse(&r.kind).ok_or_else(|| corrupt(&r.id, "kind"))?;
    let status = CampaignStatus::parse(&r.status).ok_or_else(|| corrupt(&r.id, "status"))?;
    let origin = Origin::parse(&r.origin).ok_or_else(|| corrupt(&r.id, "origin"))?;
    let offer = r
        .offer
        .as_deref()
        .map(serde_json::from_str::<Offer>)
        .transpose()
        .map_err(|e| corrupt(&r.id, &format!("offer: {e}")))?;
    let mut deliveries = DeliveryCounts::default();
    {
        let rows = conn.rows(
            "SELECT status, COUNT(*) FROM campaign_deliveries WHERE campaign = ?1 GROUP BY status",
            &[&r.id],
            |row| Ok((row.get::<String>(0)?, row.get::<i64>(1)?)),
        )?;
        for (state, count) in rows {
            let count = u64::try_from(count).unwrap_or(0);
            match state.as_str() {
                "pending" => deliveries.pending = count,
                "queued" => deliveries.queued = count,
                "sent" => deliveries.sent = count,
                "failed" => deliveries.failed = count,
                _ => deliveries.skipped = count,
            }
        }
    }
    let group = |grp: &str| -> Result<u64, StoreError> {
        conn.one(
            "SELECT COUNT(*) FROM campaign_members WHERE campaign = ?1 AND grp = ?2",
            &[&r.id, &grp],
            |row| row.get::<i64>(0),
        )
        .map(|count| u64::try_from(count).unwrap_or(0))
    };
    Ok(CampaignView {
        targeted: group("target")?,
        held_out: group("holdout")?,
        definition: CampaignDefinition {
            id: r.id,
            name: r.name,
            kind,
            segment: r.segment,
            channel: r.channel,
            subject: r.subject,
            template: r.template,
            offer,
            holdout_percent: r.holdout_percent,
            attribution_days: r.attribution_days,
            send_at: r.send_at,
            origin,
        },
        status,
        started_at: r.started_at,
        finished_at: r.finished_at,
        last_error: r.last_error,
        deliveries,
    })
}

/// One campaign.
pub(crate) fn get(conn: &dyn Db, id: &str) -> Result<Option<CampaignView>, StoreError> {
    let found = conn.row(
        &format!("SELECT {COLUMNS} FROM campaigns WHERE id = ?1"),
        &[&id],
        row,
    )?;
    found.map(|r| view(conn, r)).transpose()
}

fn select(
    conn: &dyn Db,
    clause: &str,
    args: &[&dyn Param],
) -> Result<Vec<CampaignView>, StoreError> {
    let rows: Vec<Raw> = conn.rows(
        &format!("SELECT {COLUMNS} FROM campaigns WHERE {clause} ORDER BY id"),
        args,
        row,
    )?;
    rows.into_iter().map(|r| view(conn, r)).collect()
}

/// Every campaign, by id.
pub(crate) fn list(conn: &dyn Db) -> Result<Vec<CampaignView>, StoreError> {
    select(conn, "1 = 1", &[])
}

/// Campaigns with work to do at `now`: scheduled ones whose time came, and
/// those sending.
pub(crate) fn due(conn: &dyn Db, now: i64) -> Result<Vec<CampaignView>, StoreError> {
    select(
        conn,
        "(status = 'scheduled' AND send_at <= ?1) OR status = 'sending'",
        &[&now],
    )
}

fn write(
    conn: &dyn Db,
    env: &Env,
    d: &CampaignDefinition,
    status: CampaignStatus,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO campaigns (id, name, kind, segment, channel, subject, template, offer,
             holdout_percent, attribution_days, origin, status, send_at, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?14)
         ON CONFLICT (id) DO UPDATE SET name = ?2, kind = ?3, segment = ?4, channel = ?5,
             subject = ?6, template = ?7, offer = ?8, holdout_percent = ?9,
             attribution_days = ?10, origin = ?11, status = ?12, send_at = ?13, updated_at = ?14",
        &[
            &d.id,
            &d.name,
            &d.kind.as_str(),
            &d.segment,
            &d.channel,
            &d.subject,
            &d.template,
            &d.offer.as_ref().map(|o| json!(o).to_string()),
            &Money(d.holdout_percent),
            &i64::from(d.attribution_days),
            &d.origin.as_str(),
            &status.as_str(),
            &d.send_at,
            &env.now,
        ],
    )?;
    Ok(())
}

fn initial_status(d: &CampaignDefinition) -> CampaignStatus {
    if d.send_at.is_some() {
        CampaignStatus::Scheduled
    } else {
        CampaignStatus::Draft
    }
}

/// Puts the configuration's campaigns in place: a new one is created, one
/// that has not started is updated, one that started is left as it is.
pub(crate) fn define(
    conn: &dyn Db,
    env: &Env,
    definitions: &[CampaignDefinition],
) -> Result<(), StoreError> {
    for d in definitions {
        match get(conn, &d.id)? {
            Some(current)
                if !matches!(
                    current.status,
                    CampaignStatus::Draft | CampaignStatus::Scheduled
                ) => {}
            _ => write(conn, env, d, initial_status(d))?,
        }
    }
    Ok(())
}

/// Creates or replaces an API campaign that has not started.
pub(crate) fn save(
    conn: &dyn Db,
    env: &Env,
    d: &CampaignDefinition,
    actor: &str,
) -> Result<CampaignOutcome, StoreError> {
    let before = get(conn, &d.id)?;
    if let Some(before) = &before {
        if before.definition.origin == Origin::Config {
            return Ok(CampaignOutcome::ConfigOwned);
        }
        if !matches!(
            before.status,
            CampaignStatus::Draft | CampaignStatus::Scheduled
        ) {
            return Ok(CampaignOutcome::NotAllowed(before.status));
        }
    }
    write(conn, env, d, initial_status(d))?;
    let after = get(conn, &d.id)?.ok_or_else(|| corrupt(&d.id, "vanished"))?;
    audit(
        conn,
        actor,
        if before.is_some() {
            "campaign.update"
        } else {
            "campaign.create"
        },
        &format!("campaign:{}", d.id),
        before.as_ref().map(|b| json!(b.definition)).as_ref(),
        Some(&json!(after.definition)),
        env.now,
    )?;
    Ok(if before.is_some() {
        CampaignOutcome::Done(after)
    } else {
        CampaignOutcome::Created(after)
    })
}

/// Schedules or cancels a campaign.
pub(crate) fn transition(
    conn: &dyn Db,
    env: &Env,
    id: &str,
    change: Transition,
    actor: &str,
) -> Result<CampaignOutcome, StoreError> {
    let Some(before) = get(conn, id)? else {
        return Ok(CampaignOutcome::Unknown);
    };
    let (status, send_at, action) = match (change, before.status) {
        (Transition::Schedule(at), CampaignStatus::Draft | CampaignStatus::Scheduled) => {
            (CampaignStatus::Scheduled, Some(at), "campaign.schedule")
        }
        (Transition::Cancel, CampaignStatus::Draft | CampaignStatus::Scheduled) => (
            CampaignStatus::Cancelled,
            before.definition.send_at,
            "campaign.cancel",
        ),
        (_, status) => return Ok(CampaignOutcome::NotAllowed(status)),
    };
    conn.execute(
        "UPDATE campaigns SET status = ?2, send_at = ?3, updated_at = ?4 WHERE id = ?1",
        &[&id, &status.as_str(), &send_at, &env.now],
    )?;
    let after = get(conn, id)?.ok_or_else(|| corrupt(id, "vanished"))?;
    audit(
        conn,
        actor,
        action,
        &format!("campaign:{id}"),
        Some(&json!({ "status": before.status, "send_at": before.definition.send_at })),
        Some(&json!({ "status": after.status, "send_at": after.definition.send_at })),
        env.now,
    )?;
    Ok(CampaignOutcome::Done(after))
}

fn set_status(
    conn: &dyn Db,
    env: &Env,
    id: &str,
    status: CampaignStatus,
    error: Option<&str>,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE campaigns SET status = ?2, last_error = COALESCE(?3, last_error), updated_at = ?4,
             finished_at = CASE WHEN ?2 IN ('completed', 'failed') THEN ?4 ELSE finished_at END
         WHERE id = ?1",
        &[&id, &status.as_str(), &error, &env.now],
    )?;
    Ok(())
}

fn account_ref(
    conn: &dyn Db,
    account: AccountId,
    channel: &str,
) -> Result<Option<String>, StoreError> {
    conn.row(
        "SELECT external_id FROM account_refs WHERE account_id = ?1 AND source = ?2
         ORDER BY external_id LIMIT 1",
        &[&account, &channel],
        |row| row.get(0),
    )
}

/// Starts a scheduled campaign: refreshes segment membership, chooses the
/// targeted and held-out accounts, makes one delivery per reached contact
/// known in the channel's system, and credits bonus points; all at once.
pub(crate) fn start(
    conn: &dyn Db,
    env: &Env,
    id: &str,
    program: &Program,
) -> Result<(), StoreError> {
    let Some(campaign) = get(conn, id)? else {
        return Ok(());
    };
    if campaign.status != CampaignStatus::Scheduled {
        return Ok(());
    }
    let d = &campaign.definition;
    refresh(conn, env, program)?;
    let Some(segment) = crate::store::sql::segments::get(conn, &d.segment)? else {
        return set_status(
            conn,
            env,
            id,
            CampaignStatus::Failed,
            Some(&format!("segment `{}` does not exist", d.segment)),
        );
    };
    let members: Vec<AccountId> = conn.rows(
        "SELECT account_id FROM segment_members WHERE segment = ?1 ORDER BY account_id",
        &[&d.segment],
        |row| row.get(0),
    )?;
    let mut book = SqlBook::new(conn, env.now);
    for account in members {
        let held = in_holdout(id, account, d.holdout_percent);
        conn.execute(
            "INSERT INTO campaign_members (campaign, account_id, grp) VALUES (?1, ?2, ?3)
             ON CONFLICT DO NOTHING",
            &[&id, &account, &if held { "holdout" } else { "target" }],
        )?;
        if held {
            continue;
        }
        let Some(reference) = account_ref(conn, account, &d.channel)? else {
            conn.execute(
                "INSERT INTO campaign_deliveries (campaign, account_id, contact_id, status, last_error)
                 VALUES (?1, ?2, 0, 'skipped', ?3) ON CONFLICT DO NOTHING",
                &[
                    &id,
                    &account,
                    &format!("the account is not known in `{}`", d.channel),
                ],
            )?;
            continue;
        };
        let contacts = contacts_of(conn, account)?;
        let chosen: BTreeSet<i64> = reached(segment.definition.contacts.as_ref(), &contacts)
            .into_iter()
            .collect();
        let mut addressed = 0;
        for contact in contacts.iter().filter(|c| chosen.contains(&c.id)) {
            let contact_ref: Option<String> = conn.row(
                "SELECT external_id FROM contacts WHERE id = ?1 AND source = ?2",
                &[&contact.id, &d.channel],
                |row| row.get(0),
            )?;
            if let Some(contact_ref) = contact_ref {
                addressed += 1;
                conn.execute(
                    "INSERT INTO campaign_deliveries (campaign, account_id, contact_id, account_ref, contact_ref, status)
                     VALUES (?1, ?2, ?3, ?4, ?5, 'pending') ON CONFLICT DO NOTHING",
                    &[&id, &account, &contact.id, &reference, &contact_ref],
                )?;
            }
        }
        if addressed == 0 {
            conn.execute(
                "INSERT INTO campaign_deliveries (campaign, account_id, contact_id, account_ref, status)
                 VALUES (?1, ?2, 0, ?3, 'pending') ON CONFLICT DO NOTHING",
                &[&id, &account, &reference],
            )?;
        }
        if let Some(Offer::BonusPoints { points }) = &d.offer
            && book.account_state(account)?.membership == Some(MembershipStatus::Active)
        {
            let entry = NewEntry {
                kind: EntryKind::Bonus,
                points: *points,
                effect_key: format!("campaign/{id}/{account}"),
                source: "program".to_owned(),
                reference: id.to_owned(),
                amount: None,
                rate: None,
                reason: Some(format!("campaign `{id}` bonus offer")),
                occurred_at: env.now,
            };
            book.append_entry(account, &entry, &program.version, env.now)?;
        }
    }
    conn.execute(
        "UPDATE campaigns SET status = 'sending', started_at = ?2, updated_at = ?2 WHERE id = ?1",
        &[&id, &env.now],
    )?;
    Ok(())
}

/// Every delivery of a campaign, `None` for an unknown campaign.
pub(crate) fn deliveries(conn: &dyn Db, id: &str) -> Result<Option<Vec<DeliveryView>>, StoreError> {
    if get(conn, id)?.is_none() {
        return Ok(None);
    }
    let rows = conn.rows(
        "SELECT d.account_id, d.contact_id, d.account_ref, d.contact_ref, d.status, d.attempts,
                d.batch, d.last_error, d.sent_at, m.offer_code
         FROM campaign_deliveries d
         LEFT JOIN campaign_members m ON m.campaign = d.campaign AND m.account_id = d.account_id
         WHERE d.campaign = ?1 ORDER BY d.account_id, d.contact_id",
        &[&id],
        |row| {
            Ok(DeliveryView {
                account_id: row.get(0)?,
                contact_id: row.get::<i64>(1).map(|c| (c != 0).then_some(c))?,
                account_ref: row.get(2)?,
                contact_ref: row.get(3)?,
                status: row.get(4)?,
                attempts: row.get(5)?,
                batch: row.get(6)?,
                last_error: row.get(7)?,
                sent_at: row.get(8)?,
                offer_code: row.get(9)?,
            })
        },
    )?;
    Ok(Some(rows))
}

/// Targeted accounts still waiting for their discount code.
pub(crate) fn code_requests(conn: &dyn Db, id: &str) -> Result<Vec<CodeRequest>, StoreError> {
    conn.rows(
        "SELECT m.account_id, d.account_ref, MIN(d.contact_ref) FROM campaign_members m
         JOIN campaign_deliveries d ON d.campaign = m.campaign AND d.account_id = m.account_id
         WHERE m.campaign = ?1 AND m.grp = 'target' AND m.offer_code IS NULL
           AND m.offer_error IS NULL AND d.account_ref IS NOT NULL
         GROUP BY m.account_id, d.account_ref ORDER BY m.account_id",
        &[&id],
        |row| {
            Ok(CodeRequest {
                account_id: row.get(0)?,
                account_ref: row.get(1)?,
                contact_ref: row.get(2)?,
            })
        },
    )
}

/// Records the discount code made for an account, or why none was, with
/// the connector state its call wrote.
pub(crate) fn record_code(
    conn: &dyn Db,
    id: &str,
    account: AccountId,
    code: Result<String, String>,
    state: Option<&(String, crate::runtime::StateWrites)>,
) -> Result<(), StoreError> {
    if let Some((connector, writes)) = state {
        crate::store::sql::write_state(conn, connector, writes)?;
    }
    let (code, error) = match code {
        Ok(code) => (Some(code), None),
        Err(error) => (None, Some(error)),
    };
    conn.execute(
        "UPDATE campaign_members SET offer_code = ?3, offer_error = ?4 WHERE campaign = ?1 AND account_id = ?2",
        &[&id, &account, &code, &error],
    )?;
    Ok(())
}

/// The next batch to push: the one queued before (a crash interrupted its
/// push; it keeps its key), or up to `size` deliveries due now under a new
/// key. `None` when nothing is due.
pub(crate) fn next_batch(
    conn: &dyn Db,
    env: &Env,
    id: &str,
    size: usize,
    program: &Program,
) -> Result<Option<Batch>, StoreError> {
    let queued: Option<String> = conn.row(
        "SELECT batch FROM campaign_deliveries WHERE campaign = ?1 AND status = 'queued' LIMIT 1",
        &[&id],
        |row| row.get(0),
    )?;
    let key = match queued {
        Some(key) => key,
        None => {
            let due: Vec<i64> = conn.rows(
                "SELECT id FROM campaign_deliveries WHERE campaign = ?1 AND status = 'pending'
                   AND next_attempt_at <= ?2 ORDER BY id LIMIT ?3",
                &[&id, &env.now, &i64::try_from(size).unwrap_or(i64::MAX)],
                |row| row.get(0),
            )?;
            if due.is_empty() {
                return Ok(None);
            }
            let number: i64 = conn.one(
                "UPDATE campaigns SET batches = batches + 1 WHERE id = ?1 RETURNING batches",
                &[&id],
                |row| row.get(0),
            )?;
            let key = format!("{id}:{number}");
            for delivery in due {
                conn.execute(
                    "UPDATE campaign_deliveries SET status = 'queued', batch = ?2 WHERE id = ?1",
                    &[&delivery, &key],
                )?;
            }
            key
        }
    };
    Ok(Some(Batch {
        recipients: recipients(conn, env, id, &key, program)?,
        key,
    }))
}

fn recipients(
    conn: &dyn Db,
    env: &Env,
    id: &str,
    key: &str,
    program: &Program,
) -> Result<Vec<Recipient>, StoreError> {
    let rows: Vec<(Recipient, i64)> = conn.rows(
        "SELECT d.id, d.account_id, d.account_ref, d.contact_ref, d.contact_id, a.name, m.offer_code
         FROM campaign_deliveries d JOIN accounts a ON a.id = d.account_id
         LEFT JOIN campaign_members m ON m.campaign = d.campaign AND m.account_id = d.account_id
         WHERE d.campaign = ?1 AND d.batch = ?2 AND d.status = 'queued' ORDER BY d.id",
        &[&id, &key],
        |row| {
            Ok((
                Recipient {
                    delivery: row.get(0)?,
                    account_id: row.get(1)?,
                    account_ref: row.get::<Option<String>>(2)?.unwrap_or_default(),
                    contact_ref: row.get(3)?,
                    email: None,
                    first_name: None,
                    last_name: None,
                    account_name: row.get(5)?,
                    tier: None,
                    next_tier: None,
                    spend_to_next_tier: None,
                    balance: 0,
                    offer_code: row.get(6)?,
                },
                row.get(4)?,
            ))
        },
    )?;
    let mut book = SqlBook::new(conn, env.now);
    let window = i64::from(program.tiers.window_days).saturating_mul(DAY_MS);
    let mut recipients = Vec::new();
    for (mut recipient, contact) in rows {
        if contact != 0 {
            let (email, first_name, last_name) = conn.one(
                "SELECT email, first_name, last_name FROM contacts WHERE id = ?1",
                &[&contact],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )?;
            recipient.email = email;
            recipient.first_name = first_name;
            recipient.last_name = last_name;
        }
        let account = recipient.account_id;
        let state = book.account_state(account)?;
        let items = book.spend_items(account, env.now.saturating_sub(window))?;
        let spend = tiers::qualifying_spend(&items, program.tiers.window_days, env.now);
        let progress = tiers::progress(&program.tiers, state.tier.as_ref(), spend);
        let name_of =
            |tier: Option<&String>| tier.and_then(|t| program.tier(t)).map(|t| t.name.clone());
        recipient.tier = name_of(progress.current.as_ref());
        recipient.next_tier = name_of(progress.next.as_ref());
        recipient.spend_to_next_tier = progress.next.as_ref().map(|_| progress.needed);
        recipient.balance = book.balance(account)?;
        recipients.push(recipient);
    }
    Ok(recipients)
}

/// Settles a pushed batch: the vendor refused `rejected` (account refs with
/// reasons), which are retried later up to [`ATTEMPTS_MAX`]; the rest are
/// sent.
pub(crate) fn settle_batch(
    conn: &dyn Db,
    env: &Env,
    id: &str,
    key: &str,
    rejected: &[(String, String)],
) -> Result<(), StoreError> {
    for (account_ref, reason) in rejected {
        let refused = queued(conn, key, Some(account_ref))?;
        retry_or_fail(conn, env, &refused, reason, true)?;
    }
    conn.execute(
        "UPDATE campaign_deliveries SET status = 'sent', sent_at = ?3, attempts = attempts + 1
         WHERE campaign = ?1 AND batch = ?2 AND status = 'queued'",
        &[&id, &key, &env.now],
    )?;
    Ok(())
}

/// A batch whose push failed as a whole: every delivery in it is retried
/// later (when the failure may pass) or given up.
pub(crate) fn fail_batch(
    conn: &dyn Db,
    env: &Env,
    key: &str,
    error: &str,
    failure: BatchFailure,
) -> Result<(), StoreError> {
    let deliveries = queued(conn, key, None)?;
    match failure {
        BatchFailure::Retry => retry_or_fail(conn, env, &deliveries, error, true),
        BatchFailure::GiveUp => retry_or_fail(conn, env, &deliveries, error, false),
        BatchFailure::Wait(ms) => {
            let at = env
                .now
                .saturating_add(i64::try_from(ms).unwrap_or(i64::MAX));
            for (delivery, _) in &deliveries {
                conn.execute(
                    "UPDATE campaign_deliveries SET status = 'pending', last_error = ?2,
                         next_attempt_at = ?3, batch = NULL WHERE id = ?1",
                    &[delivery, &error, &at],
                )?;
            }
            Ok(())
        }
    }
}

/// The queued deliveries of a batch (of one account, when named), with
/// their attempts so far.
fn queued(
    conn: &dyn Db,
    key: &str,
    account_ref: Option<&str>,
) -> Result<Vec<(i64, u32)>, StoreError> {
    conn.rows(
        "SELECT id, attempts FROM campaign_deliveries
         WHERE batch = ?1 AND status = 'queued'
           AND (CAST(?2 AS TEXT) IS NULL OR account_ref = ?2)",
        &[&key, &account_ref],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )
}

fn retry_or_fail(
    conn: &dyn Db,
    env: &Env,
    deliveries: &[(i64, u32)],
    error: &str,
    retryable: bool,
) -> Result<(), StoreError> {
    for (delivery, attempts) in deliveries {
        let attempts = attempts.saturating_add(1);
        let give_up = !retryable || attempts >= ATTEMPTS_MAX;
        conn.execute(
            "UPDATE campaign_deliveries SET status = ?2, attempts = ?3, last_error = ?4,
                 next_attempt_at = ?5, batch = NULL WHERE id = ?1",
            &[
                delivery,
                &if give_up { "failed" } else { "pending" },
                &i64::from(attempts),
                &error,
                &env.now.saturating_add(campaigns::retry_delay_ms(attempts)),
            ],
        )?;
    }
    Ok(())
}

/// Ends a sending campaign whose deliveries all settled: completed when one
/// was sent (or nobody was to be reached), failed when all failed.
pub(crate) fn finish(
    conn: &dyn Db,
    env: &Env,
    id: &str,
) -> Result<Option<CampaignStatus>, StoreError> {
    let Some(campaign) = get(conn, id)? else {
        return Ok(None);
    };
    let counts = &campaign.deliveries;
    if campaign.status != CampaignStatus::Sending || counts.pending + counts.queued > 0 {
        return Ok(None);
    }
    let status = if counts.sent == 0 && counts.failed > 0 {
        CampaignStatus::Failed
    } else {
        CampaignStatus::Completed
    };
    let error = if status == CampaignStatus::Failed {
        conn.row(
            "SELECT last_error FROM campaign_deliveries WHERE campaign = ?1 AND status = 'failed'
             AND last_error IS NOT NULL ORDER BY id DESC LIMIT 1",
            &[&id],
            |row| row.get::<String>(0),
        )?
        .map(|last| format!("every delivery failed; the last because: {last}"))
    } else {
        None
    };
    set_status(conn, env, id, status, error.as_deref())?;
    Ok(Some(status))
}

/// An account's paid purchases with something left after refunds.
fn purchases_of(conn: &dyn Db, account: AccountId) -> Result<Vec<SpendItem>, StoreError> {
    let mut items = SqlBook::new(conn, 0).spend_items(account, i64::MIN)?;
    items.retain(|item| item.amount > Decimal::ZERO);
    Ok(items)
}

/// A campaign's results: deliveries, the attribution against the holdout,
/// and for surveys the responses since the start.
pub(crate) fn report(conn: &dyn Db, id: &str) -> Result<Option<CampaignReport>, StoreError> {
    let Some(campaign) = get(conn, id)? else {
        return Ok(None);
    };
    let Some(started_at) = campaign.started_at else {
        return Ok(Some(CampaignReport {
            campaign,
            attribution: None,
            survey_responses: None,
        }));
    };
    let group = |grp: &str| -> Result<Vec<Vec<SpendItem>>, StoreError> {
        let accounts: Vec<AccountId> = conn.rows(
            "SELECT account_id FROM campaign_members WHERE campaign = ?1 AND grp = ?2",
            &[&id, &grp],
            |row| row.get(0),
        )?;
        accounts
            .into_iter()
            .map(|a| purchases_of(conn, a))
            .collect()
    };
    let to = started_at
        .saturating_add(i64::from(campaign.definition.attribution_days).saturating_mul(DAY_MS));
    let attribution = campaigns::attribution(&group("target")?, &group("holdout")?, started_at, to);
    let survey_responses = if campaign.definition.kind == CampaignKind::NpsSurvey {
        Some(
            conn.one(
                "SELECT COUNT(*) FROM engagements e
                 JOIN campaign_members m ON m.account_id = e.account_id
                 WHERE m.campaign = ?1 AND m.grp = 'target' AND e.kind = 'nps_response'
                   AND e.occurred_at >= ?2 AND e.occurred_at < ?3",
                &[&id, &started_at, &to],
                |row| row.get::<i64>(0),
            )
            .map(|count| u64::try_from(count).unwrap_or(0))?,
        )
    } else {
        None
    };
    Ok(Some(CampaignReport {
        campaign,
        attribution: Some(attribution),
        survey_responses,
    }))
}
