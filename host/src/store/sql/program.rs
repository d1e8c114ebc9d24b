//! Program operations on SQLite: redemptions, admin changes to an
//! account's standing, and the scheduled jobs.

use std::sync::Arc;

use crate::core::accounts::AccountId;
use crate::core::expiry::{self, LotEntry};
use crate::core::membership::{self, MembershipStatus};
use crate::core::program::{Enrollment, Fulfilment, Program, ProgramHistory};
use crate::core::rewards::{self, Redeemer, RedemptionStatus};
use crate::store::StoreError;
use crate::store::apply::{self, Book, Context};
use crate::store::db::{Db, Row};
use crate::store::program_ops::{
    AccountChange, ChangeOutcome, Expiring, JobReport, ProgramVersion, RedeemOutcome,
    RedeemRequest, Redemption, SettleOutcome, SettleRequest, TierHistoryEntry,
};
use crate::store::sql::Env;
use crate::store::sql::book::SqlBook;
use crate::store::sql::{admin, keys};

const REDEMPTION_COLUMNS: &str = "id, account_id, reward_id, points, status, fulfilment, contact, detail, \
                                  rule_version, created_at, updated_at";

fn redemption_row(row: &dyn Row) -> Result<(String, Redemption), StoreError> {
    Ok((
        row.get(4)?,
        Redemption {
            id: row.get(0)?,
            account_id: row.get(1)?,
            reward_id: row.get(2)?,
            points: row.get(3)?,
            status: RedemptionStatus::Reserved,
            fulfilment: row.get(5)?,
            contact: row.get(6)?,
            detail: row.get(7)?,
            rule_version: row.get(8)?,
            created_at: row.get(9)?,
            updated_at: row.get(10)?,
        },
    ))
}

fn with_status((status, mut redemption): (String, Redemption)) -> Result<Redemption, StoreError> {
    redemption.status = RedemptionStatus::parse(&status)
        .ok_or_else(|| StoreError::Corrupt(format!("redemption status `{status}`")))?;
    Ok(redemption)
}

fn redemption(conn: &dyn Db, id: i64) -> Result<Option<Redemption>, StoreError> {
    conn.row(
        &format!("SELECT {REDEMPTION_COLUMNS} FROM redemptions WHERE id = ?1"),
        &[&id],
        redemption_row,
    )?
    .map(with_status)
    .transpose()
}

/// Redemptions, of one account or all, newest first; optionally only those
/// in one status.
pub(crate) fn redemptions(
    conn: &dyn Db,
    account: Option<AccountId>,
    status: Option<RedemptionStatus>,
) -> Result<Vec<Redemption>, StoreError> {
    let status = status.map(RedemptionStatus::as_str);
    conn.rows(
        &format!(
            "SELECT {REDEMPTION_COLUMNS} FROM redemptions
             WHERE (account_id = ?1 OR ?1 IS NULL) AND (status = ?2 OR ?2 IS NULL) ORDER BY id DESC"
        ),
        &[&account, &status],
        |row| with_status(redemption_row(row)?),
    )
}

pub(crate) fn balance(conn: &dyn Db, account: AccountId) -> Result<i64, StoreError> {
    conn.one(
        "SELECT COALESCE(SUM(points), 0) FROM ledger WHERE account_id = ?1",
        &[&account],
        |row| row.get(0),
    )
}

fn fulfilment_name(fulfilment: &Fulfilment) -> String {
    match fulfilment {
        Fulfilment::Manual => "manual".to_owned(),
        Fulfilment::Connector(name) => format!("connector:{name}"),
    }
}

/// Reserves a reward's points once per idempotency key.
pub(crate) fn redeem(
    conn: &dyn Db,
    env: &Env,
    request: &RedeemRequest,
) -> Result<RedeemOutcome, StoreError> {
    match keys::earlier(
        conn,
        &request.idempotency_key,
        "redeem",
        &request.request_sha256,
    )? {
        keys::Earlier::Unused => {}
        keys::Earlier::Conflict => return Ok(RedeemOutcome::Conflict),
        keys::Earlier::Same(id) => {
            return redemption(conn, id)?
                .map(RedeemOutcome::Replayed)
                .ok_or_else(|| StoreError::Corrupt(format!("redemption {id} is missing")));
        }
    }
    let mut book = SqlBook::new(conn, env.now);
    let exists: Option<i64> = conn.row(
        "SELECT id FROM accounts WHERE id = ?1",
        &[&request.account_id],
        |row| row.get(0),
    )?;
    if exists.is_none() {
        return Ok(RedeemOutcome::UnknownAccount);
    }
    let state = book.account_state(request.account_id)?;
    let taken: u32 = conn.one(
        "SELECT COUNT(*) FROM redemptions WHERE reward_id = ?1 AND status IN ('reserved', 'fulfilled')",
        &[&request.reward_id],
        |row| row.get(0),
    )?;
    let redeemer = Redeemer {
        balance: balance(conn, request.account_id)?,
        tier: state.tier.as_ref().and_then(|t| t.tier.as_deref()),
        member: state.membership == Some(MembershipStatus::Active),
    };
    let program = env
        .history
        .at(env.now)
        .map_or(&request.program, |current| current);
    let reward = match rewards::check(program, &request.reward_id, &redeemer, taken) {
        Ok(reward) => reward,
        Err(refused) => return Ok(RedeemOutcome::Refused(refused)),
    };
    let fulfilment = fulfilment_name(&reward.fulfilment);
    let id: i64 = conn.one(
        "INSERT INTO redemptions (account_id, reward_id, points, status, fulfilment, contact, rule_version,
             created_at, updated_at)
         VALUES (?1, ?2, ?3, 'reserved', ?4, ?5, ?6, ?7, ?7) RETURNING id",
        &[
            &request.account_id,
            &reward.id,
            &reward.points,
            &fulfilment,
            &request.contact,
            &program.version,
            &env.now,
        ],
        |row| row.get(0),
    )?;
    let entry = rewards::reserve_entry(id, &reward.id, reward.points, env.now);
    book.append_entry(
        request.account_id,
        &entry,
        &request.program.version,
        env.now,
    )?;
    keys::remember(
        conn,
        &request.idempotency_key,
        "redeem",
        &request.request_sha256,
        id,
        env.now,
    )?;
    admin::audit(
        conn,
        &request.actor,
        "redeem",
        &format!("account:{}", request.account_id),
        None,
        Some(
            &serde_json::json!({ "redemption": id, "reward": reward.id, "points": reward.points }),
        ),
        env.now,
    )?;
    redemption(conn, id)?
        .map(RedeemOutcome::Created)
        .ok_or_else(|| StoreError::Corrupt(format!("redemption {id} is missing")))
}

/// Settles a reserved redemption once: fulfilled (release and redeem) or
/// failed (release).
pub(crate) fn settle(
    conn: &dyn Db,
    env: &Env,
    request: &SettleRequest,
) -> Result<SettleOutcome, StoreError> {
    let Some(found) = redemption(conn, request.redemption_id)? else {
        return Ok(SettleOutcome::Unknown);
    };
    let wanted = if request.fulfilled {
        RedemptionStatus::Fulfilled
    } else {
        RedemptionStatus::Failed
    };
    match found.status {
        RedemptionStatus::Reserved => {}
        status if status == wanted => return Ok(SettleOutcome::AlreadySettled(found)),
        _ => return Ok(SettleOutcome::Conflict(found)),
    }
    let mut book = SqlBook::new(conn, env.now);
    for entry in rewards::settle_entries(
        found.id,
        &found.reward_id,
        found.points,
        request.fulfilled,
        env.now,
    ) {
        book.append_entry(found.account_id, &entry, &found.rule_version, env.now)?;
    }
    conn.execute(
        "UPDATE redemptions SET status = ?2, detail = ?3, updated_at = ?4 WHERE id = ?1",
        &[&found.id, &wanted.as_str(), &request.detail, &env.now],
    )?;
    if let Some((connector, writes)) = &request.state {
        crate::store::sql::write_state(conn, connector, writes)?;
    }
    admin::audit(
        conn,
        &request.actor,
        "settle",
        &format!("redemption:{}", found.id),
        Some(&serde_json::json!({ "status": found.status.as_str() })),
        Some(&serde_json::json!({ "status": wanted.as_str(), "detail": request.detail })),
        env.now,
    )?;
    redemption(conn, found.id)?
        .map(SettleOutcome::Settled)
        .ok_or_else(|| StoreError::Corrupt(format!("redemption {} is missing", found.id)))
}

/// Why an account may not join an invite-only program; empty when it may.
fn ineligible(
    conn: &dyn Db,
    env: &Env,
    program: &Program,
    account: AccountId,
) -> Result<Vec<String>, StoreError> {
    let rules = &program.membership.eligibility;
    let (country, industry, employees): (Option<String>, Option<String>, Option<u32>) = conn.one(
        "SELECT country, industry, employees FROM accounts WHERE id = ?1",
        &[&account],
        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
    )?;
    let window = i64::from(rules.window_days).saturating_mul(86_400_000);
    let items = SqlBook::new(conn, env.now).spend_items(account, env.now.saturating_sub(window))?;
    let facts = membership::AccountFacts {
        country: country.as_deref(),
        industry: industry.as_deref(),
        employees,
        spend: crate::core::tiers::qualifying_spend(&items, rules.window_days, env.now),
        loyal: rules.loyal
            && crate::store::sql::profiles::loyal_accounts(conn, program, env.now)?
                .contains(&account),
    };
    Ok(membership::eligibility_problems(rules, &facts))
}

/// An admin's change to an account's membership or tags.
pub(crate) fn change_account(
    conn: &dyn Db,
    env: &Env,
    account: AccountId,
    change: &AccountChange,
    actor: &str,
) -> Result<ChangeOutcome, StoreError> {
    let current: Option<(Option<String>, String)> = conn.row(
        "SELECT membership, tags FROM accounts WHERE id = ?1",
        &[&account],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    let Some((current, tags_before)) = current else {
        return Ok(ChangeOutcome::UnknownAccount);
    };
    let target = format!("account:{account}");
    match change {
        AccountChange::Membership(to) => {
            let from = current.as_deref().and_then(MembershipStatus::parse);
            if from == Some(*to) {
                return Ok(ChangeOutcome::Changed);
            }
            if !membership::transition_allowed(from, *to) {
                return Ok(ChangeOutcome::NotAllowed { from });
            }
            let joining = matches!(from, None | Some(MembershipStatus::Closed));
            if let Some(program) = env.history.at(env.now)
                && program.membership.enrollment == Enrollment::InviteOnly
                && joining
            {
                let problems = ineligible(conn, env, program, account)?;
                if !problems.is_empty() {
                    return Ok(ChangeOutcome::NotEligible(problems));
                }
            }
            SqlBook::new(conn, env.now).set_membership(account, Some(*to))?;
            admin::audit(
                conn,
                actor,
                "membership",
                &target,
                Some(&serde_json::json!({ "membership": current })),
                Some(&serde_json::json!({ "membership": to.as_str() })),
                env.now,
            )?;
        }
        AccountChange::Tags(tags) => {
            let json =
                serde_json::to_string(tags).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            conn.execute(
                "UPDATE accounts SET tags = ?2, updated_at = ?3 WHERE id = ?1",
                &[&account, &json, &env.now],
            )?;
            let before: serde_json::Value = serde_json::from_str(&tags_before)
                .map_err(|e| StoreError::Corrupt(format!("account {account}: tags: {e}")))?;
            admin::audit(
                conn,
                actor,
                "tags",
                &target,
                Some(&serde_json::json!({ "tags": before })),
                Some(&serde_json::json!({ "tags": tags })),
                env.now,
            )?;
        }
    }
    Ok(ChangeOutcome::Changed)
}

fn lots(conn: &dyn Db, account: AccountId) -> Result<Vec<LotEntry>, StoreError> {
    conn.rows(
        "SELECT id, points, occurred_at FROM ledger WHERE account_id = ?1 ORDER BY id",
        &[&account],
        |row| {
            Ok(LotEntry {
                id: row.get(0)?,
                points: row.get(1)?,
                occurred_at: row.get(2)?,
            })
        },
    )
}

fn ids(conn: &dyn Db, sql: &str) -> Result<Vec<AccountId>, StoreError> {
    conn.rows(sql, &[], |row| row.get(0))
}

/// Runs the scheduled jobs as of `env.now`: tiers (downgrades after grace),
/// contract memberships, milestone bonuses and points expiry.
pub(crate) fn run_jobs(
    conn: &dyn Db,
    env: &Env,
    program: &Program,
) -> Result<JobReport, StoreError> {
    let program = env.history.at(env.now).map_or(program, |current| current);
    let mut report = JobReport {
        at: env.now,
        ..JobReport::default()
    };
    let cx = Context {
        program,
        history: &env.history,
        identity: &env.identity,
        source: "jobs",
        now: env.now,
    };
    let mut book = SqlBook::new(conn, env.now);
    if program.membership.enrollment == Enrollment::Contract {
        for account in ids(
            conn,
            "SELECT DISTINCT account_id FROM contracts ORDER BY account_id",
        )? {
            let state = book.account_state(account)?;
            let contracts = book.contracts_of(account)?;
            let membership = membership::by_contracts(state.membership, &contracts, env.now);
            if membership != state.membership {
                book.set_membership(account, membership)?;
                report.membership_changes += 1;
            }
        }
    }
    let before: i64 = conn.one("SELECT COUNT(*) FROM tier_history", &[], |row| row.get(0))?;
    for account in ids(
        conn,
        "SELECT DISTINCT account_id FROM purchases WHERE account_id IS NOT NULL ORDER BY account_id",
    )? {
        let state = book.account_state(account)?;
        report.bonuses += apply::after_spend_change(&mut book, &cx, account, &state)?;
    }
    let after: i64 = conn.one("SELECT COUNT(*) FROM tier_history", &[], |row| row.get(0))?;
    report.tier_changes = usize::try_from(after - before).unwrap_or(0);
    if let Some(rule) = program.expiry {
        for account in ids(
            conn,
            "SELECT DISTINCT account_id FROM ledger ORDER BY account_id",
        )? {
            for due in expiry::due(&lots(conn, account)?, rule, env.now) {
                let entry = expiry::expire_entry(account, &due);
                if book.append_entry(account, &entry, &program.version, env.now)? {
                    report.expirations += 1;
                    report.points_expired += due.points;
                }
            }
        }
    }
    Ok(report)
}

/// An account's points expiring within `within_ms` of `now`.
pub(crate) fn expiring(
    conn: &dyn Db,
    account: AccountId,
    program: &Program,
    now: i64,
    within_ms: i64,
) -> Result<Expiring, StoreError> {
    let lots = match program.expiry {
        Some(rule) => expiry::upcoming(&lots(conn, account)?, rule, now, within_ms),
        None => Vec::new(),
    };
    Ok(Expiring {
        account_id: account,
        points: lots.iter().map(|l| l.points).sum(),
        lots,
    })
}

/// An account's tier changes, oldest first.
pub(crate) fn tier_history(
    conn: &dyn Db,
    account: AccountId,
) -> Result<Vec<TierHistoryEntry>, StoreError> {
    conn.rows(
        "SELECT from_tier, to_tier, kind, spend, at FROM tier_history WHERE account_id = ?1 ORDER BY id",
        &[&account],
        |row| {
            Ok(TierHistoryEntry {
                from: row.get(0)?,
                to: row.get(1)?,
                kind: row.get(2)?,
                spend: row.get::<rust_decimal::Decimal>(3)?.to_string(),
                at: row.get(4)?,
            })
        },
    )
}

/// Every registered program version.
pub(crate) fn load_history(conn: &dyn Db) -> Result<ProgramHistory, StoreError> {
    let rows = conn.rows(
        "SELECT version, body FROM program_versions ORDER BY effective_from, registered_at",
        &[],
        |row| Ok((row.get::<String>(0)?, row.get::<String>(1)?)),
    )?;
    let mut versions = Vec::new();
    for (version, body) in rows {
        let program: Program = serde_json::from_str(&body)
            .map_err(|e| StoreError::Corrupt(format!("program version {version}: {e}")))?;
        versions.push(Arc::new(program));
    }
    Ok(ProgramHistory::new(versions))
}

/// Records a program version once and publishes the new history.
pub(crate) fn register(
    conn: &dyn Db,
    env: &Env,
    program: &Program,
) -> Result<Vec<ProgramVersion>, StoreError> {
    let mut stored = program.clone();
    stored.effective_from = Some(program.effective_from.unwrap_or(env.now));
    let body = serde_json::to_string(&stored).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    conn.execute(
        "INSERT INTO program_versions (version, effective_from, body, registered_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (version) DO NOTHING",
        &[&stored.version, &stored.effective_from, &body, &env.now],
    )?;
    let history = load_history(conn)?;
    *env.published
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(history);
    conn.rows(
        "SELECT version, effective_from, registered_at FROM program_versions ORDER BY effective_from, registered_at",
        &[],
        |row| {
            Ok(ProgramVersion {
                version: row.get(0)?,
                effective_from: row.get(1)?,
                registered_at: row.get(2)?,
            })
        },
    )
}
