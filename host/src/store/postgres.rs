//! The PostgreSQL store: the SQL store over a database that several daemons
//! share.
//!
//! Each daemon's writer commits its groups in `SERIALIZABLE` transactions,
//! so two daemons applying events to the same account cannot both act on a
//! balance the other is changing: PostgreSQL refuses one of the two
//! commits, and that batch is run again (see [`crate::store::sql`]). The
//! unique keys that make events idempotent (delivery ids, effect keys) do
//! the rest: the same webhook stored by two daemons is applied once. Money
//! is NUMERIC, exact.

mod conn;

use crate::store::db::Db;
use crate::store::sql::{Backend, SqlStore};
use crate::store::{StoreError, StoreOptions};

pub use conn::PgConn;

/// How long a read waits for a free connection before the store is
/// reported unavailable.
const READER_WAIT: std::time::Duration = std::time::Duration::from_secs(10);
/// Serializes schema migrations between daemons starting together (an
/// arbitrary key of PostgreSQL's advisory locks, this store's own).
const MIGRATION_LOCK: i64 = 0x006c_6f79_616c_7479;

/// The schema, one entry per version. Never edit a released migration;
/// append a new one.
const MIGRATIONS: &[&str] = &[
    include_str!("postgres/schema.sql"),
    include_str!("postgres/leases.sql"),
    include_str!("postgres/spend_index.sql"),
    include_str!("postgres/inbox_bodies.sql"),
];

/// PostgreSQL as a [`Backend`].
#[derive(Debug)]
pub struct Postgres;

/// The PostgreSQL store.
pub type PostgresStore = SqlStore<Postgres>;

/// Opens the pool's read connections.
#[derive(Debug)]
pub struct Readers {
    config: postgres::Config,
}

impl r2d2::ManageConnection for Readers {
    type Connection = PgConn;
    type Error = StoreError;

    fn connect(&self) -> Result<PgConn, StoreError> {
        PgConn::connect(self.config.clone())
    }

    fn is_valid(&self, conn: &mut PgConn) -> Result<(), StoreError> {
        conn.batch("")
    }

    fn has_broken(&self, conn: &mut PgConn) -> bool {
        conn.is_closed()
    }
}

impl Backend for Postgres {
    type Writer = PgConn;
    type Readers = Readers;
    const THREAD: &'static str = "postgres-writer";

    fn begin(writer: &mut PgConn) -> Result<(), StoreError> {
        writer.reconnect_if_closed()?;
        writer.batch("BEGIN ISOLATION LEVEL SERIALIZABLE")
    }

    fn commit(writer: &mut PgConn) -> Result<(), StoreError> {
        writer.batch("COMMIT")
    }

    fn rollback(writer: &mut PgConn) {
        if !writer.is_closed()
            && let Err(e) = writer.batch("ROLLBACK")
        {
            tracing::error!(error = %e, "cannot roll back");
        }
    }

    fn take_conflict(writer: &mut PgConn) -> bool {
        writer.take_conflict()
    }

    fn blocking<T: Send>(f: impl FnOnce() -> T + Send) -> T {
        // The driver runs its own small runtime, which must not start on a
        // thread that is driving the daemon's.
        match tokio::runtime::Handle::try_current() {
            Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(f)
            }
            Ok(_) => std::thread::scope(|scope| {
                scope
                    .spawn(f)
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            }),
            Err(_) => f(),
        }
    }
}

/// Brings the schema up to date, once across daemons starting together.
fn migrate(conn: &PgConn) -> Result<(), StoreError> {
    conn.batch(&format!(
        "BEGIN;
         SELECT pg_advisory_xact_lock({MIGRATION_LOCK});
         CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL);"
    ))?;
    let migrated = (|| {
        let version: Option<i64> =
            (conn as &dyn Db).row("SELECT version FROM schema_version", &[], |row| row.get(0))?;
        let version = usize::try_from(version.unwrap_or(0)).unwrap_or(usize::MAX);
        if version > MIGRATIONS.len() {
            return Err(StoreError::Database(format!(
                "the database's schema is version {version}, newer than this loyaltyd knows ({}); \
                 run a newer loyaltyd",
                MIGRATIONS.len()
            )));
        }
        for migration in &MIGRATIONS[version..] {
            conn.batch(migration)?;
        }
        conn.batch(&format!(
            "DELETE FROM schema_version; INSERT INTO schema_version VALUES ({});",
            MIGRATIONS.len()
        ))
    })();
    match migrated {
        Ok(()) => conn.batch("COMMIT"),
        Err(e) => {
            drop(conn.batch("ROLLBACK"));
            Err(e)
        }
    }
}

impl SqlStore<Postgres> {
    /// Connects to the database at `url` (`postgres://user@host:port/db` or
    /// `host=... dbname=...`) with `password`, if any, migrates it and
    /// starts the writer thread, with up to `pool_size` read connections.
    pub fn open(
        url: &str,
        password: Option<&[u8]>,
        pool_size: u32,
        options: StoreOptions,
    ) -> Result<Self, StoreError> {
        let mut config: postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Database(format!("invalid PostgreSQL URL: {e}")))?;
        if let Some(password) = password {
            config.password(password);
        }
        // Connecting runs the driver's runtime: off the caller's thread,
        // which may be driving an async runtime.
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let writer = PgConn::connect(config.clone())?;
                    migrate(&writer)?;
                    let readers = r2d2::Pool::builder()
                        .max_size(pool_size.max(1))
                        .min_idle(Some(1))
                        .connection_timeout(READER_WAIT)
                        .test_on_check_out(false)
                        .build(Readers { config })
                        .map_err(|e| {
                            StoreError::Unavailable(format!("cannot open a read connection: {e}"))
                        })?;
                    Self::start(writer, readers, options)
                })
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }
}
