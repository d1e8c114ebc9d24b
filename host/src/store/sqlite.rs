//! The embedded SQLite store: the SQL store over one database file.
//!
//! The writer commits in `BEGIN IMMEDIATE` transactions; WAL lets the read
//! connections run beside it and each other. Durability: WAL with
//! `synchronous = NORMAL`. A committed transaction survives a crash of the
//! process; a power loss can lose the last commits.

mod schema;

use std::path::Path;

use rusqlite::Connection;
use rusqlite::config::DbConfig;

use crate::store::db::sqlite_error;
use crate::store::sql::{Backend, SqlStore};
use crate::store::{StoreError, StoreOptions};

/// Read connections at most. Reads run on blocking threads; a few more
/// connections than cores keep them busy while one waits on the disk.
const READERS: u32 = 4;
/// How long a read waits for a free connection before the store is
/// reported unavailable.
const READER_WAIT: std::time::Duration = std::time::Duration::from_secs(10);
/// Statements kept compiled per connection: every statement of the write
/// paths, so that a busy writer never parses SQL again.
const STATEMENT_CACHE: usize = 256;

/// SQLite as a [`Backend`].
#[derive(Debug)]
pub struct Sqlite;

/// The SQLite store.
pub type SqliteStore = SqlStore<Sqlite>;

/// Opens the pool's read connections.
#[derive(Debug)]
pub struct Readers {
    path: std::path::PathBuf,
}

impl r2d2::ManageConnection for Readers {
    type Connection = Connection;
    type Error = rusqlite::Error;

    fn connect(&self) -> rusqlite::Result<Connection> {
        let conn = Connection::open(&self.path)?;
        configure(&conn)?;
        Ok(conn)
    }

    fn is_valid(&self, conn: &mut Connection) -> rusqlite::Result<()> {
        conn.execute_batch("")
    }

    fn has_broken(&self, _: &mut Connection) -> bool {
        false
    }
}

impl Backend for Sqlite {
    type Writer = Connection;
    type Readers = Readers;
    const THREAD: &'static str = "sqlite-writer";

    fn begin(writer: &mut Connection) -> Result<(), StoreError> {
        writer
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(sqlite_error)
    }

    fn commit(writer: &mut Connection) -> Result<(), StoreError> {
        writer.execute_batch("COMMIT").map_err(sqlite_error)
    }

    fn rollback(writer: &mut Connection) {
        if !writer.is_autocommit()
            && let Err(e) = writer.execute_batch("ROLLBACK")
        {
            tracing::error!(error = %e, "cannot roll back");
        }
    }

    fn take_conflict(_: &mut Connection) -> bool {
        // One writer per database file: nothing else writes beside it.
        false
    }

    fn blocking<T: Send>(f: impl FnOnce() -> T + Send) -> T {
        f()
    }
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Savepoints (one per operation of a batch, one per polled event) copy
    // the pages they change into a sub-journal: kept in memory, not written
    // to a temporary file page by page.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // One plan per statement, whatever its parameters: otherwise every
    // cached statement whose parameter meets an indexed column is prepared
    // again each time it is used (the cache clears its bindings on return,
    // which marks such a statement expired).
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(())
}

impl SqlStore<Sqlite> {
    /// Opens (creating if needed) the database at `path`, migrates it and
    /// starts the writer thread. `batch_max` caps the operations per commit.
    pub fn open(path: &Path, batch_max: usize) -> Result<Self, StoreError> {
        Self::open_with(
            path,
            StoreOptions {
                batch_max,
                ..StoreOptions::default()
            },
        )
    }

    /// Opens the database at `path` with these options.
    pub fn open_with(path: &Path, options: StoreOptions) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Database(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let mut writer = Connection::open(path).map_err(sqlite_error)?;
        configure(&writer).map_err(sqlite_error)?;
        schema::migrate(&mut writer).map_err(sqlite_error)?;
        let readers = r2d2::Pool::builder()
            .max_size(READERS)
            .min_idle(Some(1))
            .connection_timeout(READER_WAIT)
            .test_on_check_out(false)
            .build(Readers {
                path: path.to_owned(),
            })
            .map_err(|e| StoreError::Database(format!("cannot open a read connection: {e}")))?;
        Self::start(writer, readers, options)
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::StatementStatus;

    use super::*;

    #[test]
    fn cached_statements_are_prepared_once() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("t.db")).unwrap();
        configure(&conn).unwrap();
        conn.execute_batch(
            "CREATE TABLE ledger (id INTEGER PRIMARY KEY, account_id INTEGER, hash TEXT);
             CREATE INDEX ledger_account ON ledger (account_id, id);",
        )
        .unwrap();
        let sql = "SELECT hash FROM ledger WHERE account_id = ?1 ORDER BY id DESC LIMIT 1";
        for account in 0..50_i64 {
            let mut statement = conn.prepare_cached(sql).unwrap();
            let rows = statement.query_map([account], |_| Ok(())).unwrap().count();
            assert_eq!(rows, 0);
        }
        let statement = conn.prepare_cached(sql).unwrap();
        assert_eq!(statement.get_status(StatementStatus::RePrepare), 0);
    }
}
