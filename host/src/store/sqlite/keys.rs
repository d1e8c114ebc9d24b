//! Admin API idempotency keys: one key space shared by every operation that
//! takes an `Idempotency-Key` (adjustments, redemptions, merges).

use rusqlite::{Connection, OptionalExtension, params};

use crate::store::StoreError;
use crate::store::sqlite::{cached_execute, cached_row, db_error};

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
    conn: &Connection,
    key: &str,
    operation: &str,
    sha256: &str,
) -> Result<Earlier, StoreError> {
    let found: Option<(String, String, i64)> = cached_row(
        conn,
        "SELECT operation, request_sha256, result_id FROM idempotency_keys WHERE key = ?1",
        [key],
        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
    )
    .optional()
    .map_err(db_error)?;
    Ok(match found {
        None => Earlier::Unused,
        Some((op, sha, id)) if op == operation && sha == sha256 => Earlier::Same(id),
        Some(_) => Earlier::Conflict,
    })
}

/// Records that `key` made `result_id` by `operation`.
pub(crate) fn remember(
    conn: &Connection,
    key: &str,
    operation: &str,
    sha256: &str,
    result_id: i64,
    now: i64,
) -> Result<(), StoreError> {
    cached_execute(
        conn,
        "INSERT INTO idempotency_keys (key, request_sha256, operation, result_id, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![key, sha256, operation, result_id, now],
    )
    .map_err(db_error)?;
    Ok(())
}
