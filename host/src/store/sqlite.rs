//! The embedded SQLite store: the SQL store over one database file.
//!
//! The writer commits in `BEGIN IMMEDIATE` transactions; WAL lets the read
//! connections run beside it and each other. Durability: WAL with
//! `synchronous = NORMAL`. A committed transaction survives a crash of the
//! process; a power loss can lose the last commits.
//!
//! Checkpoints (copying the WAL's pages back into the database file, with
//! its fsyncs) run on a thread of their own, so that the writer does not
//! stop committing while the disk syncs.

mod schema;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use rusqlite::Connection;
use rusqlite::config::DbConfig;
use rusqlite::hooks::Wal;
use rusqlite::wal::CheckpointMode;

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
/// The writer's page cache, in KiB: the pages a batch of deliveries
/// touches stay in memory instead of being read again from the OS.
const WRITER_CACHE_KIB: i64 = 32 * 1024;
/// WAL pages written since the last checkpoint that wake the
/// checkpointer (SQLite's own default interval).
const CHECKPOINT_PAGES: i32 = 1_000;
/// WAL pages at which the writer checkpoints itself. The checkpointer
/// copies while the writer goes on, so the WAL is only rewound from its
/// start once a checkpoint catches up with the last commit; under a load
/// that never pauses, this bounds the file (about 40 MiB).
const WRITER_CHECKPOINT_PAGES: i32 = 10_000;

/// SQLite as a [`Backend`].
#[derive(Debug)]
pub struct Sqlite;

/// The SQLite store.
pub type SqliteStore = SqlStore<Sqlite>;

/// Opens the pool's read connections.
#[derive(Debug)]
pub struct Readers {
    path: PathBuf,
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
        writer
            .pragma_update(None, "cache_size", -WRITER_CACHE_KIB)
            .map_err(sqlite_error)?;
        Checkpointer::start(path, &mut writer)?;
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

/// Checkpoints the database on its own connection and thread whenever
/// the writer's commits have added [`CHECKPOINT_PAGES`] to the WAL.
struct Checkpointer {
    conn: Connection,
    wake: Receiver<()>,
    /// The WAL's pages the last checkpoint had copied.
    copied: Arc<AtomicI32>,
}

impl Checkpointer {
    /// Opens the checkpointer's connection, starts its thread, and hooks
    /// the writer's commits to it (in place of SQLite's checkpoint on the
    /// committing connection). The thread ends with the writer.
    fn start(path: &Path, writer: &mut Connection) -> Result<(), StoreError> {
        let conn = Connection::open(path).map_err(sqlite_error)?;
        configure(&conn).map_err(sqlite_error)?;
        let (tx, wake) = sync_channel(1);
        let copied = Arc::new(AtomicI32::new(0));
        let hook = commit_hook(tx, copied.clone());
        writer.wal_hook(Some(hook)).map_err(sqlite_error)?;
        let checkpointer = Self { conn, wake, copied };
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || checkpointer.run())
            .map_err(|e| {
                StoreError::Unavailable(format!("cannot start the checkpoint thread: {e}"))
            })?;
        Ok(())
    }

    fn run(self) {
        while self.wake.recv().is_ok() {
            match self
                .conn
                .wal_checkpoint_v2(None::<&str>, CheckpointMode::PASSIVE)
            {
                Ok((_, copied)) => self.copied.store(copied, Ordering::Relaxed),
                Err(e) => {
                    tracing::warn!(error = %e, "checkpoint failed; the next commit retries it")
                }
            }
        }
    }
}

/// What the writer does after each commit, told the WAL's size in pages.
fn commit_hook(
    wake: SyncSender<()>,
    copied: Arc<AtomicI32>,
) -> impl FnMut(&mut Wal, i32) -> rusqlite::Result<()> + Send + 'static {
    move |wal, pages| {
        let done = copied.load(Ordering::Relaxed);
        // A WAL shorter than what was copied has been rewound since.
        let since = if pages < done { pages } else { pages - done };
        if since >= CHECKPOINT_PAGES {
            // Full: a wake is pending already.
            wake.try_send(()).ok();
        }
        if pages >= WRITER_CHECKPOINT_PAGES
            && let Err(e) = wal.checkpoint()
        {
            // Busy: the checkpointer holds the checkpoint; a later commit
            // tries again.
            tracing::debug!(error = %e, pages, "the writer's checkpoint did not run");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::StatementStatus;

    use super::*;

    #[test]
    fn a_thread_of_its_own_copies_the_commits_into_the_database_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let mut writer = Connection::open(&path).unwrap();
        configure(&writer).unwrap();
        Checkpointer::start(&path, &mut writer).unwrap();
        writer
            .execute_batch("CREATE TABLE bodies (id INTEGER PRIMARY KEY, body BLOB)")
            .unwrap();
        // About 2,000 pages of WAL in 1,000 commits; the hook takes over
        // from SQLite's own checkpoint, so only the thread copies them.
        let body = vec![7_u8; 8 * 1024];
        for _ in 0..1_000 {
            writer
                .execute("INSERT INTO bodies (body) VALUES (?1)", [&body])
                .unwrap();
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let copied = std::fs::metadata(&path).unwrap().len();
            if copied > 3 << 20 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the database file holds {copied} bytes: nothing was checkpointed"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

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
