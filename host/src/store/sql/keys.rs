//! Admin API idempotency keys: one key space shared by every operation that
//! takes an `Idempotency-Key` (adjustments, redemptions, merges).

use crate::store::StoreError;
use crate::store::db::Db;

/// What a key was used for before.
pub(crate) enum Earlier {
    /// Never used.
    Unused,
    /// Used for the same operation and request: the id of what it made.
    Same(i64),
    /// Used for another operation or another request.
    Conflict,
}

/// Looks up `key` for `operation` with the request digest `sha256`.
pub(crate) fn earlier(
    conn: &dyn Db,
    key: &str,
    operation: &str,
    sha256: &str,
) -> Result<Earlier, StoreError> {
    let found: Option<(String, String, i64)> = conn.row(
        "SELECT operation, request_sha256, result_id FROM idempotency_keys WHERE key = ?1",
        &[&key],
        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
    )?;
    Ok(match found {
        None => Earlier::Unused,
        Some((op, sha, id)) if op == operation && sha == sha256 => Earlier::Same(id),
        Some(_) => Earlier::Conflict,
    })
}

/// Records that `key` made `result_id` by `operation`.
pub(crate) fn remember(
    conn: &dyn Db,
    key: &str,
    operation: &str,
    sha256: &str,
    result_id: i64,
    now: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO idempotency_keys (key, request_sha256, operation, result_id, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        &[&key, &sha256, &operation, &result_id, &now],
    )?;
    Ok(())
}
