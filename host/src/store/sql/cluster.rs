//! Leases and scheduled runs in SQL, the same on every backend.

use crate::store::StoreError;
use crate::store::cluster::{ClusterView, Lease, LeaseClaim, ScheduledRun};
use crate::store::db::{Db, Row};

/// Scheduled runs the cluster view lists.
const RUNS_LISTED: i64 = 50;

/// Takes the lease if it is free or has lapsed, renews it if `claim`'s
/// holder has it, and answers who holds it now.
pub(crate) fn hold(conn: &dyn Db, claim: &LeaseClaim, now: i64) -> Result<Lease, StoreError> {
    conn.execute(
        "INSERT INTO leases (name, holder, acquired_at, expires_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (name) DO UPDATE SET
             holder = excluded.holder,
             acquired_at = CASE WHEN leases.holder = excluded.holder
                                THEN leases.acquired_at ELSE excluded.acquired_at END,
             expires_at = excluded.expires_at
         WHERE leases.holder = excluded.holder OR leases.expires_at <= excluded.acquired_at",
        &[
            &claim.name,
            &claim.holder,
            &now,
            &now.saturating_add(claim.ttl_ms),
        ],
    )?;
    conn.one(
        "SELECT name, holder, acquired_at, expires_at FROM leases WHERE name = ?1",
        &[&claim.name],
        lease,
    )
}

/// A lease from `name, holder, acquired_at, expires_at`.
fn lease(row: &dyn Row) -> Result<Lease, StoreError> {
    Ok(Lease {
        name: row.get(0)?,
        holder: row.get(1)?,
        acquired_at: row.get(2)?,
        expires_at: row.get(3)?,
    })
}

/// Renews `claim` as part of a larger write: an error, so that the write
/// rolls back, when another instance holds it.
pub(crate) fn fence(conn: &dyn Db, claim: &LeaseClaim, now: i64) -> Result<(), StoreError> {
    let lease = hold(conn, claim, now)?;
    if lease.holder == claim.holder {
        Ok(())
    } else {
        Err(StoreError::LeaseLost {
            name: lease.name,
            holder: lease.holder,
        })
    }
}

/// Gives up every lease `holder` has, or only `name`.
pub(crate) fn release(conn: &dyn Db, holder: &str, name: Option<&str>) -> Result<(), StoreError> {
    match name {
        Some(name) => conn.execute(
            "DELETE FROM leases WHERE name = ?1 AND holder = ?2",
            &[&name, &holder],
        ),
        None => conn.execute("DELETE FROM leases WHERE holder = ?1", &[&holder]),
    }
    .map(drop)
}

/// Records that `job` runs for `period`: false, and nothing written, when
/// it already ran for it.
pub(crate) fn claim_run(
    conn: &dyn Db,
    job: &str,
    period: &str,
    holder: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let inserted = conn.execute(
        "INSERT INTO scheduled_runs (job, period, holder, at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (job, period) DO NOTHING",
        &[&job, &period, &holder, &now],
    )?;
    Ok(inserted > 0)
}

/// Every lease and the latest scheduled runs.
pub(crate) fn view(conn: &dyn Db) -> Result<ClusterView, StoreError> {
    let leases = conn.rows(
        "SELECT name, holder, acquired_at, expires_at FROM leases ORDER BY name",
        &[],
        lease,
    )?;
    let runs = conn.rows(
        "SELECT job, period, holder, at FROM scheduled_runs ORDER BY at DESC, job LIMIT ?1",
        &[&RUNS_LISTED],
        |row| {
            Ok(ScheduledRun {
                job: row.get(0)?,
                period: row.get(1)?,
                holder: row.get(2)?,
                at: row.get(3)?,
            })
        },
    )?;
    Ok(ClusterView { leases, runs })
}
