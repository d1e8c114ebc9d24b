//! Admin actions with lasting consequences, on SQLite: merging accounts,
//! recording acceptance of the terms, and the audit log every admin
//! mutation writes to.

use serde_json::Value;

use crate::core::accounts::AccountId;
use crate::core::ledger::{EntryKind, NewEntry};
use crate::core::membership::MembershipStatus;
use crate::core::program::Enrollment;
use crate::store::StoreError;
use crate::store::apply::{self, Book, Context};
use crate::store::db::{Db, Row};
use crate::store::program_ops::{
    AcceptanceOutcome, AuditEntry, Merge, MergeOutcome, MergeRequest, Referral, ReferralOutcome,
    ReferralRequest, TermsAcceptance,
};
use crate::store::sql::Env;
use crate::store::sql::book::SqlBook;
use crate::store::sql::keys;
use crate::store::sql::program::balance;

/// Appends to the audit log.
pub(crate) fn audit(
    conn: &dyn Db,
    actor: &str,
    action: &str,
    target: &str,
    before: Option<&Value>,
    after: Option<&Value>,
    now: i64,
) -> Result<(), StoreError> {
    let before = before.map(Value::to_string);
    let after = after.map(Value::to_string);
    conn.execute(
        "INSERT INTO audit_log (actor, action, target, before, after, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        &[&actor, &action, &target, &before, &after, &now],
    )?;
    Ok(())
}

/// The audit log, newest first, at most `limit` entries.
pub(crate) fn audit_log(conn: &dyn Db, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
    let parse = |text: Option<String>| -> Result<Option<Value>, StoreError> {
        text.map(|t| serde_json::from_str(&t).map_err(|e| StoreError::Corrupt(e.to_string())))
            .transpose()
    };
    conn.rows(
        "SELECT id, actor, action, target, before, after, at FROM audit_log ORDER BY id DESC LIMIT ?1",
        &[&i64::from(limit)],
        |row| {
            Ok(AuditEntry {
                id: row.get(0)?,
                actor: row.get(1)?,
                action: row.get(2)?,
                target: row.get(3)?,
                before: parse(row.get(4)?)?,
                after: parse(row.get(5)?)?,
                at: row.get(6)?,
            })
        },
    )
}

fn merge_row(conn: &dyn Db, id: i64) -> Result<Merge, StoreError> {
    conn.one(
        "SELECT id, from_account, into_account, points_moved, actor, reason, at FROM account_merges WHERE id = ?1",
        &[&id],
        |row| {
            Ok(Merge {
                id: row.get(0)?,
                from: row.get(1)?,
                into: row.get(2)?,
                points_moved: row.get(3)?,
                actor: row.get(4)?,
                reason: row.get(5)?,
                at: row.get(6)?,
            })
        },
    )
}

/// Merges `from` into `into`: references, claims, contacts, purchases,
/// contracts, engagements and redemptions move; `from`'s ledger stays with
/// it, and its balance moves by a pair of transfer entries, so both hash
/// chains hold and the total is unchanged.
pub(crate) fn merge(
    conn: &dyn Db,
    env: &Env,
    request: &MergeRequest,
) -> Result<MergeOutcome, StoreError> {
    match keys::earlier(
        conn,
        &request.idempotency_key,
        "merge",
        &request.request_sha256,
    )? {
        keys::Earlier::Unused => {}
        keys::Earlier::Conflict => return Ok(MergeOutcome::Conflict),
        keys::Earlier::Same(id) => {
            return Ok(MergeOutcome::Replayed(merge_row(conn, id)?));
        }
    }
    if request.from == request.into {
        return Ok(MergeOutcome::Refused(
            "an account cannot be merged into itself".to_owned(),
        ));
    }
    for account in [request.into, request.from] {
        let merged: Option<Option<i64>> = conn.row(
            "SELECT merged_into FROM accounts WHERE id = ?1",
            &[&account],
            |row| row.get(0),
        )?;
        match merged {
            None => return Ok(MergeOutcome::UnknownAccount(account)),
            Some(Some(target)) => {
                return Ok(MergeOutcome::Refused(format!(
                    "account {account} was merged into account {target} already"
                )));
            }
            Some(None) => {}
        }
    }
    let (from, into) = (request.from, request.into);
    for table in [
        "account_refs",
        "account_claims",
        "contacts",
        "purchases",
        "contracts",
        "engagements",
        "redemptions",
    ] {
        conn.execute(
            &format!("UPDATE {table} SET account_id = ?2 WHERE account_id = ?1"),
            &[&from, &into],
        )?;
    }
    let points = balance(conn, from)?;
    let id: i64 = conn.one(
        "INSERT INTO account_merges (from_account, into_account, points_moved, actor, reason, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
        &[
            &from,
            &into,
            &points,
            &request.actor,
            &request.reason,
            &env.now,
        ],
        |row| row.get(0),
    )?;
    let mut book = SqlBook::new(conn, env.now);
    let transfer = |points: i64, direction: &str, other: AccountId| NewEntry {
        kind: EntryKind::Transfer,
        points,
        effect_key: format!("transfer/merge/{id}/{direction}"),
        source: "admin".to_owned(),
        reference: request.actor.clone(),
        amount: None,
        rate: None,
        reason: Some(format!(
            "merge {id} of account {from} into account {into} (account {other}): {}",
            request.reason
        )),
        occurred_at: env.now,
    };
    if points != 0 {
        book.append_entry(
            from,
            &transfer(-points, "out", into),
            &request.program.version,
            env.now,
        )?;
        book.append_entry(
            into,
            &transfer(points, "in", from),
            &request.program.version,
            env.now,
        )?;
    }
    conn.execute(
        "UPDATE accounts SET merged_into = ?2, membership = 'closed', updated_at = ?3 WHERE id = ?1",
        &[&from, &into, &env.now],
    )?;
    keys::remember(
        conn,
        &request.idempotency_key,
        "merge",
        &request.request_sha256,
        id,
        env.now,
    )?;
    let cx = Context {
        program: &request.program,
        history: &env.history,
        identity: &env.identity,
        source: "admin",
        now: env.now,
    };
    let state = book.account_state(into)?;
    apply::after_spend_change(&mut book, &cx, into, &state)?;
    let merged = merge_row(conn, id)?;
    audit(
        conn,
        &request.actor,
        "merge",
        &format!("account:{into}"),
        Some(&serde_json::json!({ "from": from, "into": into })),
        Some(&serde_json::json!(merged)),
        env.now,
    )?;
    Ok(MergeOutcome::Merged(merged))
}

/// Records an account's acceptance of the terms in force; in an invite-only
/// program, an invited account's acceptance enrolls it.
pub(crate) fn accept_terms(
    conn: &dyn Db,
    env: &Env,
    request: &TermsAcceptance,
) -> Result<AcceptanceOutcome, StoreError> {
    let program = env
        .history
        .at(env.now)
        .map_or(&request.program, |current| current);
    let current = program.terms_at(env.now).map(|t| t.version.clone());
    if current.as_deref() != Some(request.version.as_str()) {
        return Ok(AcceptanceOutcome::NotCurrent { current });
    }
    let membership: Option<Option<String>> = conn.row(
        "SELECT membership FROM accounts WHERE id = ?1",
        &[&request.account_id],
        |row| row.get(0),
    )?;
    let Some(membership) = membership else {
        return Ok(AcceptanceOutcome::UnknownAccount);
    };
    conn.execute(
        "INSERT INTO terms_acceptances (account_id, version, contact, actor, accepted_at)
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (account_id, version, contact) DO NOTHING",
        &[
            &request.account_id,
            &request.version,
            &request.contact,
            &request.actor,
            &env.now,
        ],
    )?;
    let invited = membership.as_deref() == Some(MembershipStatus::Invited.as_str());
    let enrolled = invited && program.membership.enrollment == Enrollment::InviteOnly;
    if enrolled {
        SqlBook::new(conn, env.now)
            .set_membership(request.account_id, Some(MembershipStatus::Active))?;
    }
    audit(
        conn,
        &request.actor,
        "terms",
        &format!("account:{}", request.account_id),
        Some(&serde_json::json!({ "membership": membership })),
        Some(&serde_json::json!({
            "version": request.version,
            "contact": request.contact,
            "enrolled": enrolled,
        })),
        env.now,
    )?;
    Ok(AcceptanceOutcome::Recorded { enrolled })
}

/// The terms versions an account accepted, newest first, with who accepted.
pub(crate) fn accepted_terms(conn: &dyn Db, account: AccountId) -> Result<Vec<Value>, StoreError> {
    conn.rows(
        "SELECT version, contact, accepted_at FROM terms_acceptances WHERE account_id = ?1 ORDER BY id DESC",
        &[&account],
        |row| {
            Ok(serde_json::json!({
                "version": row.get::<String>(0)?,
                "contact": row.get::<String>(1)?,
                "accepted_at": row.get::<i64>(2)?,
            }))
        },
    )
}

fn referral_row(row: &dyn Row) -> Result<Referral, StoreError> {
    Ok(Referral {
        id: row.get(0)?,
        referrer: row.get(1)?,
        referred: row.get(2)?,
        source: row.get(3)?,
        created_at: row.get(4)?,
        qualified_at: row.get(5)?,
        points: row.get(6)?,
    })
}

const REFERRAL_COLUMNS: &str = "id, referrer, referred, source, created_at, qualified_at, points";

/// Records that `referrer` referred `referred`; qualifies it at once when
/// the referred account has earned already.
pub(crate) fn record_referral(
    conn: &dyn Db,
    env: &Env,
    request: &ReferralRequest,
) -> Result<ReferralOutcome, StoreError> {
    if request.referrer == request.referred {
        return Ok(ReferralOutcome::SelfReferral);
    }
    for account in [request.referrer, request.referred] {
        let known: Option<i64> = conn.row(
            "SELECT id FROM accounts WHERE id = ?1",
            &[&account],
            |row| row.get(0),
        )?;
        if known.is_none() {
            return Ok(ReferralOutcome::UnknownAccount(account));
        }
    }
    let existing = conn.row(
        &format!("SELECT {REFERRAL_COLUMNS} FROM referrals WHERE referred = ?1"),
        &[&request.referred],
        referral_row,
    )?;
    if let Some(existing) = existing {
        return Ok(ReferralOutcome::AlreadyReferred(existing));
    }
    let id: i64 = conn.one(
        "INSERT INTO referrals (referrer, referred, source, actor, created_at) VALUES (?1, ?2, 'admin', ?3, ?4)
         RETURNING id",
        &[&request.referrer, &request.referred, &request.actor, &env.now],
        |row| row.get(0),
    )?;
    let first_earn: Option<(String, String)> = conn.row(
        "SELECT source, reference FROM ledger WHERE account_id = ?1 AND kind = 'earn'
         ORDER BY occurred_at, id LIMIT 1",
        &[&request.referred],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    if let Some((source, purchase)) = first_earn {
        let cx = Context {
            program: &request.program,
            history: &env.history,
            identity: &env.identity,
            source: "admin",
            now: env.now,
        };
        let mut book = SqlBook::new(conn, env.now);
        let by = format!("{source}/{purchase}");
        apply::qualify_referral(&mut book, &cx, request.referred, env.now, Some(&by))?;
        if let Some((record, _)) = book.purchase(&source, &purchase)? {
            crate::store::commissions::after_purchase(
                &mut book,
                &cx,
                &request.program,
                &record,
                request.referred,
            )?;
        }
    }
    let referral = conn.one(
        &format!("SELECT {REFERRAL_COLUMNS} FROM referrals WHERE id = ?1"),
        &[&id],
        referral_row,
    )?;
    audit(
        conn,
        &request.actor,
        "referral",
        &format!("account:{}", request.referrer),
        None,
        Some(&serde_json::json!(referral)),
        env.now,
    )?;
    Ok(ReferralOutcome::Recorded(referral))
}

/// The referrals an account made, newest first.
pub(crate) fn referrals(conn: &dyn Db, referrer: AccountId) -> Result<Vec<Referral>, StoreError> {
    conn.rows(
        &format!("SELECT {REFERRAL_COLUMNS} FROM referrals WHERE referrer = ?1 ORDER BY id DESC"),
        &[&referrer],
        referral_row,
    )
}

fn dead_letter_row(row: &dyn Row) -> Result<(i64, String, String), StoreError> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
}

/// Puts dead letters back into the inbox as pending. Their dead-letter
/// records stay (a repeated failure overwrites them) and the replay is
/// audited with the ids and the errors they had.
pub(crate) fn replay_dead_letters(
    conn: &dyn Db,
    env: &Env,
    connectors: &[String],
    since: Option<i64>,
    actor: &str,
) -> Result<Vec<i64>, StoreError> {
    // One statement per case: PostgreSQL rejects `?2 IS NULL OR d.failed_at
    // >= ?2`, as it cannot determine the type of the first `?2`.
    let since_filter = if since.is_some() {
        "AND d.failed_at >= ?2"
    } else {
        ""
    };
    let sql = format!(
        "SELECT i.id, i.connector, d.error FROM inbox i JOIN dead_letters d ON d.inbox_id = i.id
         WHERE i.status = 'dead' AND i.method <> 'POLL' AND i.connector = ?1 {since_filter}
         ORDER BY i.id"
    );
    let mut rows = Vec::new();
    for connector in connectors {
        let found = match &since {
            Some(since) => conn.rows(&sql, &[connector, since], dead_letter_row)?,
            None => conn.rows(&sql, &[connector], dead_letter_row)?,
        };
        rows.extend(found);
    }
    for (id, _, _) in &rows {
        conn.execute(
            "UPDATE inbox SET status = 'pending', attempts = 0 WHERE id = ?1",
            &[id],
        )?;
    }
    if !rows.is_empty() {
        audit(
            conn,
            actor,
            "replay",
            &format!("connectors:{}", connectors.join(",")),
            Some(&serde_json::json!(
                rows.iter()
                    .map(|(id, connector, error)| {
                        serde_json::json!({ "inbox_id": id, "connector": connector, "error": error })
                    })
                    .collect::<Vec<_>>()
            )),
            Some(&serde_json::json!({ "status": "pending", "since": since })),
            env.now,
        )?;
    }
    Ok(rows.into_iter().map(|(id, _, _)| id).collect())
}
