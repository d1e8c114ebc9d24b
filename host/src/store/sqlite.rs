//! The embedded SQLite store.
//!
//! One writer thread owns the write connection and commits in groups: it
//! takes every operation waiting in its queue, runs each inside its own
//! savepoint within one `BEGIN IMMEDIATE` transaction, and commits once, so a
//! burst of webhooks costs one fsync instead of one each. Reads use a pool of
//! other connections (WAL lets them run beside the writer and each other).
//!
//! Durability: WAL with `synchronous = NORMAL`. A committed transaction
//! survives a crash of the process; a power loss can lose the last commits.

mod admin;
mod analytics;
mod book;
mod campaigns;
mod keys;
mod poll;
mod portal;
mod profiles;
mod program;
mod read;
mod referrals;
mod schema;
mod segments;

use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};

use async_trait::async_trait;
use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};

use crate::core::accounts::AccountId;
use crate::core::identity::IdentityRules;
use crate::core::program::{Program, ProgramHistory};
use crate::core::rewards::RedemptionStatus;
use crate::runtime::Clock;
use crate::store::apply::Book;
use crate::store::apply::{ApplyError, Context, apply_events};
use crate::store::db::{Db, sqlite_error};
use crate::store::{
    AcceptanceOutcome, AccountChange, AccountDetail, AccountSummary, AdjustOutcome,
    AdjustmentRequest, Appended, AuditEntry, BatchFailure, CampaignBatch, ChainCheck,
    ChangeOutcome, Completion, CompletionResult, DeadLetter, Expiring, InboxStatus, JobReport,
    LedgerEntry, MergeOutcome, MergeRequest, MetricsCounts, NewDelivery, PageCompletion,
    PageResult, PendingCount, PollPosition, PollStream, ProgramVersion, RedeemOutcome,
    RedeemRequest, Redemption, Referral, ReferralOutcome, ReferralRequest, SettleOutcome,
    SettleRequest, Store, StoreError, StoreOptions, StoredDelivery, TermsAcceptance,
    TierHistoryEntry,
};

/// Operations queued at most, so memory stays bounded under overload.
const QUEUE_DEPTH: usize = 4096;
/// Read connections at most. Reads run on blocking threads; a few more
/// connections than cores keep them busy while one waits on the disk.
const READERS: u32 = 4;
/// How long a read waits for a free connection before the store is
/// reported unavailable.
const READER_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// What every write sees besides its connection.
pub(crate) struct Env {
    /// How accounts are matched across systems.
    pub identity: IdentityRules,
    /// The registered program versions.
    pub history: Arc<ProgramHistory>,
    /// Where a registration publishes the new history.
    pub published: Arc<RwLock<Arc<ProgramHistory>>>,
    /// The batch's time.
    pub now: i64,
}

/// A reply to send once the batch's commit is known.
type Deferred = Box<dyn FnOnce(&Result<(), String>) + Send>;

/// A write run in its own savepoint: says whether it succeeded (else its
/// writes are rolled back) and gives the reply to send after the commit.
type Job = Box<dyn FnOnce(&dyn Db, &Env) -> (bool, Deferred) + Send>;

enum Op {
    Run(Job),
    Append(NewDelivery, oneshot::Sender<Result<Appended, StoreError>>),
    Complete(
        Completion,
        oneshot::Sender<Result<CompletionResult, StoreError>>,
    ),
    Attempt(i64, String, oneshot::Sender<Result<(), StoreError>>),
    Adjust(
        AdjustmentRequest,
        oneshot::Sender<Result<AdjustOutcome, StoreError>>,
    ),
    DeadLetter {
        inbox_id: i64,
        error: String,
        plugin_sha256: String,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
}

/// The SQLite store.
pub struct SqliteStore {
    writer: mpsc::Sender<Op>,
    clock: Arc<dyn Clock>,
    readers: r2d2::Pool<Readers>,
}

/// Opens the pool's read connections.
#[derive(Debug)]
struct Readers {
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

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

/// Statements kept compiled per connection: every statement of the write
/// paths, so that a busy writer never parses SQL again.
const STATEMENT_CACHE: usize = 256;

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(())
}

impl SqliteStore {
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
        let history = Arc::new(RwLock::new(Arc::new(program::load_history(&writer)?)));

        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let StoreOptions {
            batch_max,
            identity,
            clock,
        } = options;
        let shared = Shared {
            identity,
            clock: clock.clone(),
            history,
        };
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || write_loop(writer, rx, batch_max.max(1), &shared))
            .map_err(|e| StoreError::Unavailable(format!("cannot start the writer thread: {e}")))?;
        Ok(Self {
            writer: tx,
            clock,
            readers,
        })
    }

    async fn submit<T>(
        &self,
        op: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Op,
    ) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.writer
            .send(op(reply))
            .await
            .map_err(|_| StoreError::Unavailable("the writer has stopped".to_owned()))?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the writer dropped the request".to_owned()))?
    }

    /// Runs `f` in its own savepoint of the next group commit and returns
    /// its result once committed.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Db, &Env) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.submit(|reply: oneshot::Sender<Result<T, StoreError>>| {
            Op::Run(Box::new(move |conn: &dyn Db, env: &Env| {
                let result = f(conn, env);
                let ok = result.is_ok();
                let deferred = Box::new(move |commit: &Result<(), String>| {
                    let commit = commit
                        .as_ref()
                        .map_err(|e| StoreError::Database(format!("commit failed: {e}")));
                    drop(reply.send(commit.and(result)));
                }) as Deferred;
                (ok, deferred)
            }))
        })
        .await
    }

    /// The store's clock.
    pub fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Db) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let readers = self.readers.clone();
        tokio::task::spawn_blocking(move || f(&*reader(&readers)?))
            .await
            .map_err(|e| StoreError::Unavailable(format!("read task failed: {e}")))?
    }
}

/// A read connection from the pool.
fn reader(readers: &r2d2::Pool<Readers>) -> Result<r2d2::PooledConnection<Readers>, StoreError> {
    readers
        .get()
        .map_err(|e| StoreError::Unavailable(format!("no read connection: {e}")))
}

/// What the writer thread keeps between batches.
struct Shared {
    identity: IdentityRules,
    clock: Arc<dyn Clock>,
    history: Arc<RwLock<Arc<ProgramHistory>>>,
}

fn write_loop(mut conn: Connection, mut rx: mpsc::Receiver<Op>, batch_max: usize, shared: &Shared) {
    while let Some(first) = rx.blocking_recv() {
        let mut ops = vec![first];
        while ops.len() < batch_max {
            match rx.try_recv() {
                Ok(op) => ops.push(op),
                Err(_) => break,
            }
        }
        let env = Env {
            identity: shared.identity.clone(),
            history: shared
                .history
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
            published: shared.history.clone(),
            now: shared.clock.now_ms(),
        };
        run_batch(&mut conn, ops, &env);
    }
}

/// A reply waiting for the commit: sent only once the batch is durable.
enum Reply {
    Adjust(
        oneshot::Sender<Result<AdjustOutcome, StoreError>>,
        Result<AdjustOutcome, StoreError>,
    ),
    Append(
        oneshot::Sender<Result<Appended, StoreError>>,
        Result<Appended, StoreError>,
    ),
    Complete(
        oneshot::Sender<Result<CompletionResult, StoreError>>,
        Result<CompletionResult, StoreError>,
    ),
    Unit(
        oneshot::Sender<Result<(), StoreError>>,
        Result<(), StoreError>,
    ),
    Deferred(Deferred),
}

impl Reply {
    fn send(self, commit: &Result<(), String>) {
        // A failed commit turns every successful result into that failure.
        let fail = |e: &String| StoreError::Database(format!("commit failed: {e}"));
        match self {
            Self::Append(to, r) => drop(to.send(commit.as_ref().map_err(fail).and(r))),
            Self::Complete(to, r) => drop(to.send(commit.as_ref().map_err(fail).and(r))),
            Self::Unit(to, r) => drop(to.send(commit.as_ref().map_err(fail).and(r))),
            Self::Adjust(to, r) => drop(to.send(commit.as_ref().map_err(fail).and(r))),
            Self::Deferred(reply) => reply(commit),
        }
    }
}

fn run_batch(conn: &mut Connection, ops: Vec<Op>, env: &Env) {
    let mut tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => {
            let commit = Err(e.to_string());
            for op in ops {
                reply_without_running(op).send(&commit);
            }
            return;
        }
    };
    let mut replies = Vec::with_capacity(ops.len());
    for op in ops {
        // A panic while applying one operation (a bug, never a bad input:
        // inputs are validated and amounts bounded) must not take the writer
        // thread, and with it the whole store, down: its savepoint unwinds
        // (rolled back), its caller sees the store as unavailable and
        // retries, and the other operations of the batch commit.
        let ran =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_op(&mut tx, env, op)));
        match ran {
            Ok(reply) => replies.push(reply),
            Err(_) => tracing::error!("a store operation panicked; it was rolled back"),
        }
    }
    let commit = tx.commit().map_err(|e| e.to_string());
    if let Err(e) = &commit {
        tracing::error!(error = %e, "store commit failed");
    }
    for reply in replies {
        reply.send(&commit);
    }
}

/// Runs one operation in the batch's transaction.
fn run_op(tx: &mut rusqlite::Transaction<'_>, env: &Env, op: Op) -> Reply {
    let now = env.now;
    match op {
        Op::Run(job) => Reply::Deferred(run_job(tx, env, job)),
        Op::Adjust(request, to) => {
            Reply::Adjust(to, in_savepoint(tx, |c| adjust(c, &request, now)))
        }
        Op::Append(delivery, to) => Reply::Append(to, in_savepoint(tx, |c| append(c, &delivery))),
        Op::Complete(completion, to) => Reply::Complete(to, complete(tx, &completion, env)),
        Op::Attempt(id, error, to) => {
            Reply::Unit(to, in_savepoint(tx, |c| record_attempt(c, id, &error)))
        }
        Op::DeadLetter {
            inbox_id,
            error,
            plugin_sha256,
            reply,
        } => Reply::Unit(
            reply,
            in_savepoint(tx, |c| {
                dead_letter(c, inbox_id, &error, &plugin_sha256, now)
            }),
        ),
    }
}

/// Runs a job in a savepoint, rolled back when the job failed. A job that
/// cannot start is dropped, which its caller sees as an unavailable store.
fn run_job(tx: &mut rusqlite::Transaction<'_>, env: &Env, job: Job) -> Deferred {
    let sp = match tx.savepoint() {
        Ok(sp) => sp,
        Err(e) => {
            tracing::error!(error = %e, "cannot open a savepoint");
            drop(job);
            return Box::new(|_| ());
        }
    };
    let (ok, reply) = job(&*sp, env);
    if ok && let Err(e) = sp.commit() {
        tracing::error!(error = %e, "cannot release a savepoint");
    }
    reply
}

fn reply_without_running(op: Op) -> Reply {
    let unavailable = || StoreError::Unavailable("cannot begin a transaction".to_owned());
    match op {
        Op::Append(_, to) => Reply::Append(to, Err(unavailable())),
        Op::Complete(_, to) => Reply::Complete(to, Err(unavailable())),
        Op::Adjust(_, to) => Reply::Adjust(to, Err(unavailable())),
        Op::Run(job) => {
            drop(job);
            Reply::Deferred(Box::new(|_| ()))
        }
        Op::Attempt(_, _, to) | Op::DeadLetter { reply: to, .. } => {
            Reply::Unit(to, Err(unavailable()))
        }
    }
}

/// Runs `f` in a savepoint: its writes are kept only if it succeeds.
fn in_savepoint<T>(
    tx: &mut rusqlite::Transaction<'_>,
    f: impl FnOnce(&dyn Db) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let sp = tx.savepoint().map_err(sqlite_error)?;
    let result = f(&*sp)?;
    sp.commit().map_err(sqlite_error)?;
    Ok(result)
}

fn append(conn: &dyn Db, d: &NewDelivery) -> Result<Appended, StoreError> {
    let headers =
        serde_json::to_string(&d.headers).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let inserted: Option<i64> = conn.row(
        "INSERT INTO inbox (connector, delivery_id, topic, method, url, headers, body, received_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (connector, delivery_id) DO NOTHING RETURNING id",
        &[
            &d.connector,
            &d.delivery_id,
            &d.topic,
            &d.method,
            &d.url,
            &headers,
            &d.body,
            &d.received_at,
        ],
        |row| row.get(0),
    )?;
    match inserted {
        Some(id) => Ok(Appended::Stored(id)),
        None => conn
            .one(
                "SELECT id FROM inbox WHERE connector = ?1 AND delivery_id = ?2",
                &[&d.connector, &d.delivery_id],
                |row| row.get(0),
            )
            .map(Appended::Duplicate),
    }
}

fn complete(
    tx: &mut rusqlite::Transaction<'_>,
    completion: &Completion,
    env: &Env,
) -> Result<CompletionResult, StoreError> {
    let now = env.now;
    let row: Option<(String, String)> = (&**tx as &dyn Db).row(
        "SELECT connector, status FROM inbox WHERE id = ?1",
        &[&completion.inbox_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let Some((connector, status)) = row else {
        return Err(StoreError::Corrupt(format!(
            "inbox item {} does not exist",
            completion.inbox_id
        )));
    };
    if status != "pending" {
        // Processed already (a worker raced a restart): applying again would
        // be harmless, but there is nothing to do.
        return Ok(CompletionResult::Applied(Default::default()));
    }
    let sp = tx.savepoint().map_err(sqlite_error)?;
    let mut book = book::SqlBook::new(&*sp, now);
    let cx = Context {
        program: env
            .history
            .at(now)
            .map_or(&completion.program, |current| current),
        history: &env.history,
        identity: &env.identity,
        source: &connector,
        now,
    };
    match apply_events(&mut book, &cx, &completion.events) {
        Ok(applied) => {
            write_state(&*sp, &connector, &completion.state)?;
            Db::execute(
                &*sp,
                "UPDATE inbox SET status = 'done', processed_at = ?2 WHERE id = ?1",
                &[&completion.inbox_id, &now],
            )?;
            sp.commit().map_err(sqlite_error)?;
            Ok(CompletionResult::Applied(applied))
        }
        Err(ApplyError::Store(e)) => Err(e),
        Err(ApplyError::Core(e)) => {
            drop(sp);
            let message = e.to_string();
            in_savepoint(tx, |c| {
                dead_letter(
                    c,
                    completion.inbox_id,
                    &message,
                    &completion.plugin_sha256,
                    now,
                )
            })?;
            Ok(CompletionResult::DeadLettered(message))
        }
    }
}

pub(crate) fn write_state(
    conn: &dyn Db,
    connector: &str,
    writes: &crate::runtime::StateWrites,
) -> Result<(), StoreError> {
    for (key, value) in writes {
        match value {
            Some(value) => conn.execute(
                "INSERT INTO connector_state (connector, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (connector, key) DO UPDATE SET value = excluded.value",
                &[&connector, key, value],
            ),
            None => conn.execute(
                "DELETE FROM connector_state WHERE connector = ?1 AND key = ?2",
                &[&connector, key],
            ),
        }?;
    }
    Ok(())
}

fn adjust(
    conn: &dyn Db,
    request: &AdjustmentRequest,
    now: i64,
) -> Result<AdjustOutcome, StoreError> {
    match keys::earlier(
        conn,
        &request.idempotency_key,
        "adjust",
        &request.request_sha256,
    )? {
        keys::Earlier::Unused => {}
        keys::Earlier::Conflict => return Ok(AdjustOutcome::Conflict),
        keys::Earlier::Same(ledger_id) => {
            return Ok(AdjustOutcome::Replayed(Box::new(read::entry(
                conn, ledger_id,
            )?)));
        }
    }
    let known: Option<i64> = conn.row(
        "SELECT id FROM accounts WHERE id = ?1",
        &[&request.account_id],
        |row| row.get(0),
    )?;
    if known.is_none() {
        return Ok(AdjustOutcome::UnknownAccount);
    }
    let mut book = book::SqlBook::new(conn, now);
    if !book.append_entry(
        request.account_id,
        &request.entry,
        &request.rule_version,
        now,
    )? {
        return Err(StoreError::Corrupt(format!(
            "effect `{}` exists without its idempotency key",
            request.entry.effect_key
        )));
    }
    let ledger_id = book
        .last_entry_id()
        .ok_or_else(|| StoreError::Database("the ledger insert returned no id".to_owned()))?;
    admin::audit(
        conn,
        &request.entry.reference,
        "adjust",
        &format!("account:{}", request.account_id),
        None,
        Some(&serde_json::json!({
            "entry": ledger_id,
            "points": request.entry.points,
            "reason": request.entry.reason,
        })),
        now,
    )?;
    keys::remember(
        conn,
        &request.idempotency_key,
        "adjust",
        &request.request_sha256,
        ledger_id,
        now,
    )?;
    Ok(AdjustOutcome::Created(Box::new(read::entry(
        conn, ledger_id,
    )?)))
}

fn record_attempt(conn: &dyn Db, inbox_id: i64, error: &str) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE inbox SET attempts = attempts + 1, last_error = ?2 WHERE id = ?1",
        &[&inbox_id, &error],
    )?;
    Ok(())
}

fn dead_letter(
    conn: &dyn Db,
    inbox_id: i64,
    error: &str,
    plugin_sha256: &str,
    now: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO dead_letters (inbox_id, error, plugin_sha256, failed_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (inbox_id) DO UPDATE SET error = excluded.error, plugin_sha256 = excluded.plugin_sha256,
             failed_at = excluded.failed_at",
        &[&inbox_id, &error, &plugin_sha256, &now],
    )?;
    conn.execute(
        "UPDATE inbox SET status = 'dead', last_error = ?2, attempts = attempts + 1 WHERE id = ?1",
        &[&inbox_id, &error],
    )?;
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    async fn append_delivery(&self, delivery: NewDelivery) -> Result<Appended, StoreError> {
        self.submit(|reply| Op::Append(delivery, reply)).await
    }

    async fn delivery(
        &self,
        inbox_id: i64,
    ) -> Result<Option<(StoredDelivery, InboxStatus)>, StoreError> {
        self.read(move |c| read::delivery(c, inbox_id)).await
    }

    async fn pending_deliveries(
        &self,
        connector: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<StoredDelivery>, StoreError> {
        let connector = connector.to_owned();
        self.read(move |c| read::pending(c, &connector, after, limit))
            .await
    }

    async fn pending_count(&self, connector: &str) -> Result<PendingCount, StoreError> {
        let connector = connector.to_owned();
        self.read(move |c| read::pending_count(c, &connector)).await
    }

    async fn complete(&self, batch: Vec<Completion>) -> Result<Vec<CompletionResult>, StoreError> {
        let mut answers = Vec::with_capacity(batch.len());
        for completion in batch {
            let (reply, answer) = oneshot::channel();
            self.writer
                .send(Op::Complete(completion, reply))
                .await
                .map_err(|_| StoreError::Unavailable("the writer has stopped".to_owned()))?;
            answers.push(answer);
        }
        let mut results = Vec::with_capacity(answers.len());
        for answer in answers {
            results.push(answer.await.map_err(|_| {
                StoreError::Unavailable("the writer dropped the request".to_owned())
            })??);
        }
        Ok(results)
    }

    async fn record_attempt(&self, inbox_id: i64, error: String) -> Result<(), StoreError> {
        self.submit(|reply| Op::Attempt(inbox_id, error, reply))
            .await
    }

    async fn dead_letter(
        &self,
        inbox_id: i64,
        error: String,
        plugin_sha256: String,
    ) -> Result<(), StoreError> {
        self.submit(|reply| Op::DeadLetter {
            inbox_id,
            error,
            plugin_sha256,
            reply,
        })
        .await
    }

    async fn dead_letters(&self, connector: Option<String>) -> Result<Vec<DeadLetter>, StoreError> {
        self.read(move |c| read::dead_letters(c, connector.as_deref()))
            .await
    }

    async fn accounts(&self) -> Result<Vec<AccountSummary>, StoreError> {
        self.read(read::accounts).await
    }

    async fn account(&self, id: AccountId) -> Result<Option<AccountDetail>, StoreError> {
        self.read(move |c| read::account(c, id)).await
    }

    async fn ledger(&self, id: AccountId) -> Result<Vec<LedgerEntry>, StoreError> {
        self.read(move |c| read::ledger(c, Some(id))).await
    }

    async fn adjust(&self, request: AdjustmentRequest) -> Result<AdjustOutcome, StoreError> {
        self.submit(|reply| Op::Adjust(request, reply)).await
    }

    async fn redeem(&self, request: RedeemRequest) -> Result<RedeemOutcome, StoreError> {
        self.write(move |c, env| program::redeem(c, env, &request))
            .await
    }

    async fn settle(&self, request: SettleRequest) -> Result<SettleOutcome, StoreError> {
        self.write(move |c, env| program::settle(c, env, &request))
            .await
    }

    async fn redemptions(
        &self,
        account: Option<AccountId>,
        status: Option<RedemptionStatus>,
    ) -> Result<Vec<Redemption>, StoreError> {
        self.read(move |c| program::redemptions(c, account, status))
            .await
    }

    async fn change_account(
        &self,
        account: AccountId,
        change: AccountChange,
        actor: String,
    ) -> Result<ChangeOutcome, StoreError> {
        self.write(move |c, env| program::change_account(c, env, account, &change, &actor))
            .await
    }

    async fn merge(&self, request: MergeRequest) -> Result<MergeOutcome, StoreError> {
        self.write(move |c, env| admin::merge(c, env, &request))
            .await
    }

    async fn accept_terms(
        &self,
        request: TermsAcceptance,
    ) -> Result<AcceptanceOutcome, StoreError> {
        self.write(move |c, env| admin::accept_terms(c, env, &request))
            .await
    }

    async fn accepted_terms(
        &self,
        account: AccountId,
    ) -> Result<Vec<serde_json::Value>, StoreError> {
        self.read(move |c| admin::accepted_terms(c, account)).await
    }

    async fn record_referral(
        &self,
        request: ReferralRequest,
    ) -> Result<ReferralOutcome, StoreError> {
        self.write(move |c, env| admin::record_referral(c, env, &request))
            .await
    }

    async fn referrals(&self, referrer: AccountId) -> Result<Vec<Referral>, StoreError> {
        self.read(move |c| admin::referrals(c, referrer)).await
    }

    async fn referral_code(
        &self,
        account: AccountId,
        prefix: String,
    ) -> Result<Option<String>, StoreError> {
        self.write(move |c, env| referrals::referral_code(c, env, account, &prefix))
            .await
    }

    async fn referral_code_owner(&self, code: String) -> Result<Option<AccountId>, StoreError> {
        self.read(move |c| referrals::code_owner(c, &code)).await
    }

    async fn commissions(
        &self,
        referrer: AccountId,
    ) -> Result<Vec<crate::store::payouts::CommissionView>, StoreError> {
        self.read(move |c| referrals::commissions_of(c, referrer))
            .await
    }

    async fn referral_report(
        &self,
        from: i64,
        to: i64,
        currency: String,
    ) -> Result<crate::store::payouts::ReferralReport, StoreError> {
        self.read(move |c| referrals::report(c, from, to, &currency))
            .await
    }

    async fn run_payouts(
        &self,
        schedule: crate::core::commissions::PayoutSchedule,
        currency: String,
        actor: String,
    ) -> Result<Option<crate::store::payouts::Payout>, StoreError> {
        self.write(move |c, env| referrals::run(c, env, schedule, &currency, &actor))
            .await
    }

    async fn payouts(&self) -> Result<Vec<crate::store::payouts::Payout>, StoreError> {
        self.read(referrals::payouts).await
    }

    async fn payout(&self, id: i64) -> Result<Option<crate::store::payouts::Payout>, StoreError> {
        self.read(move |c| referrals::payout(c, id)).await
    }

    async fn scores(
        &self,
        program: Arc<Program>,
    ) -> Result<
        (
            Vec<crate::core::profiles::Scored>,
            crate::core::profiles::ProgramScores,
        ),
        StoreError,
    > {
        let now = self.now();
        self.read(move |c| profiles::scored(c, &program, now)).await
    }

    async fn define_segments(
        &self,
        definitions: Vec<crate::store::segments::SegmentDefinition>,
    ) -> Result<(), StoreError> {
        self.write(move |c, env| segments::define(c, env, &definitions))
            .await
    }

    async fn save_segment(
        &self,
        definition: crate::store::segments::SegmentDefinition,
        actor: String,
    ) -> Result<crate::store::segments::SaveOutcome, StoreError> {
        self.write(move |c, env| segments::save(c, env, &definition, &actor))
            .await
    }

    async fn delete_segment(&self, id: String, actor: String) -> Result<Option<bool>, StoreError> {
        self.write(move |c, env| segments::delete(c, env, &id, &actor))
            .await
    }

    async fn segments(&self) -> Result<Vec<crate::store::segments::SegmentView>, StoreError> {
        self.read(segments::list).await
    }

    async fn segment(
        &self,
        id: String,
    ) -> Result<Option<crate::store::segments::SegmentView>, StoreError> {
        self.read(move |c| segments::get(c, &id)).await
    }

    async fn segment_members(
        &self,
        id: String,
        limit: u32,
    ) -> Result<Option<Vec<crate::store::segments::Member>>, StoreError> {
        self.read(move |c| segments::members(c, &id, limit)).await
    }

    async fn refresh_segments(
        &self,
        program: Arc<Program>,
    ) -> Result<crate::store::segments::RefreshReport, StoreError> {
        self.write(move |c, env| segments::refresh(c, env, &program))
            .await
    }

    async fn preview_segment(
        &self,
        program: Arc<Program>,
        definition: crate::store::segments::SegmentDefinition,
        sample: usize,
    ) -> Result<(usize, Vec<crate::store::segments::Member>), StoreError> {
        let now = self.now();
        self.read(move |c| segments::preview(c, &program, &definition, sample, now))
            .await
    }

    async fn change_token(&self) -> Result<i64, StoreError> {
        self.read(|c| {
            c.one(
                // Three index lookups, whatever the size of the tables: the
                // daemon asks every two seconds.
                "SELECT (SELECT COALESCE(MAX(id), 0) FROM ledger)
                      + (SELECT COALESCE(MAX(id), 0) FROM inbox WHERE status = 'done')
                      + (SELECT COALESCE(MAX(id), 0) FROM audit_log)",
                &[],
                |row| row.get(0),
            )
        })
        .await
    }

    async fn define_campaigns(
        &self,
        definitions: Vec<crate::store::campaigns::CampaignDefinition>,
    ) -> Result<(), StoreError> {
        self.write(move |c, env| campaigns::define(c, env, &definitions))
            .await
    }

    async fn save_campaign(
        &self,
        definition: crate::store::campaigns::CampaignDefinition,
        actor: String,
    ) -> Result<crate::store::campaigns::CampaignOutcome, StoreError> {
        self.write(move |c, env| campaigns::save(c, env, &definition, &actor))
            .await
    }

    async fn campaigns(&self) -> Result<Vec<crate::store::campaigns::CampaignView>, StoreError> {
        self.read(campaigns::list).await
    }

    async fn campaign(
        &self,
        id: String,
    ) -> Result<Option<crate::store::campaigns::CampaignView>, StoreError> {
        self.read(move |c| campaigns::get(c, &id)).await
    }

    async fn transition_campaign(
        &self,
        id: String,
        change: crate::store::campaigns::Transition,
        actor: String,
    ) -> Result<crate::store::campaigns::CampaignOutcome, StoreError> {
        self.write(move |c, env| campaigns::transition(c, env, &id, change, &actor))
            .await
    }

    async fn due_campaigns(
        &self,
    ) -> Result<Vec<crate::store::campaigns::CampaignView>, StoreError> {
        let now = self.now();
        self.read(move |c| campaigns::due(c, now)).await
    }

    async fn start_campaign(&self, id: String, program: Arc<Program>) -> Result<(), StoreError> {
        self.write(move |c, env| campaigns::start(c, env, &id, &program))
            .await
    }

    async fn campaign_deliveries(
        &self,
        id: String,
    ) -> Result<Option<Vec<crate::store::campaigns::DeliveryView>>, StoreError> {
        self.read(move |c| campaigns::deliveries(c, &id)).await
    }

    async fn campaign_code_requests(
        &self,
        id: String,
    ) -> Result<Vec<crate::store::campaigns::CodeRequest>, StoreError> {
        self.read(move |c| campaigns::code_requests(c, &id)).await
    }

    async fn record_campaign_code(
        &self,
        id: String,
        account: AccountId,
        code: Result<String, String>,
        state: Option<(String, crate::runtime::StateWrites)>,
    ) -> Result<(), StoreError> {
        self.write(move |c, _| {
            campaigns::record_code(c, &id, account, code.clone(), state.as_ref())
        })
        .await
    }

    async fn next_campaign_batch(
        &self,
        id: String,
        size: usize,
        program: Arc<Program>,
    ) -> Result<Option<crate::store::campaigns::Batch>, StoreError> {
        self.write(move |c, env| campaigns::next_batch(c, env, &id, size, &program))
            .await
    }

    async fn settle_campaign_batch(
        &self,
        id: String,
        key: String,
        rejected: Vec<(String, String)>,
    ) -> Result<(), StoreError> {
        self.write(move |c, env| campaigns::settle_batch(c, env, &id, &key, &rejected))
            .await
    }

    async fn fail_campaign_batch(
        &self,
        key: String,
        error: String,
        failure: BatchFailure,
    ) -> Result<(), StoreError> {
        self.write(move |c, env| campaigns::fail_batch(c, env, &key, &error, failure))
            .await
    }

    async fn finish_campaign(
        &self,
        id: String,
    ) -> Result<Option<crate::core::campaigns::CampaignStatus>, StoreError> {
        self.write(move |c, env| campaigns::finish(c, env, &id))
            .await
    }

    async fn campaign_report(
        &self,
        id: String,
    ) -> Result<Option<crate::store::campaigns::CampaignReport>, StoreError> {
        self.read(move |c| campaigns::report(c, &id)).await
    }

    async fn mark_payout_paid(
        &self,
        id: i64,
        actor: String,
        reference: Option<String>,
    ) -> Result<crate::store::payouts::PaidOutcome, StoreError> {
        self.write(move |c, env| referrals::mark_paid(c, env, id, &actor, reference.as_deref()))
            .await
    }

    async fn replay_dead_letters(
        &self,
        connectors: Vec<String>,
        since: Option<i64>,
        actor: String,
    ) -> Result<Vec<i64>, StoreError> {
        self.write(move |c, env| admin::replay_dead_letters(c, env, &connectors, since, &actor))
            .await
    }

    async fn record_audit(
        &self,
        actor: String,
        action: String,
        target: String,
        before: Option<serde_json::Value>,
        after: Option<serde_json::Value>,
    ) -> Result<(), StoreError> {
        self.write(move |c, env| {
            admin::audit(
                c,
                &actor,
                &action,
                &target,
                before.as_ref(),
                after.as_ref(),
                env.now,
            )
        })
        .await
    }

    async fn audit_log(&self, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        self.read(move |c| admin::audit_log(c, limit)).await
    }

    async fn run_jobs(&self, rules: Arc<Program>) -> Result<JobReport, StoreError> {
        self.write(move |c, env| program::run_jobs(c, env, &rules))
            .await
    }

    async fn expiring(
        &self,
        account: AccountId,
        rules: Arc<Program>,
        within_ms: i64,
    ) -> Result<Expiring, StoreError> {
        let now = self.now();
        self.read(move |c| program::expiring(c, account, &rules, now, within_ms))
            .await
    }

    async fn register_program(&self, rules: Program) -> Result<Vec<ProgramVersion>, StoreError> {
        self.write(move |c, env| program::register(c, env, &rules))
            .await
    }

    async fn tier_history(&self, account: AccountId) -> Result<Vec<TierHistoryEntry>, StoreError> {
        self.read(move |c| program::tier_history(c, account)).await
    }

    async fn analytics_book(
        &self,
        program: Arc<Program>,
    ) -> Result<crate::core::analytics::Book, StoreError> {
        let now = self.now();
        self.read(move |c| analytics::book(c, &program, now)).await
    }

    async fn member_view(
        &self,
        account: AccountId,
        program: Arc<Program>,
    ) -> Result<Option<crate::store::portal::MemberView>, StoreError> {
        let now = self.now();
        self.read(move |c| portal::member_view(c, &program, account, now))
            .await
    }

    async fn use_portal_link(
        &self,
        nonce: String,
        purpose: String,
        account: AccountId,
        contact: i64,
    ) -> Result<bool, StoreError> {
        self.write(move |c, env| portal::use_link(c, &nonce, &purpose, account, contact, env.now))
            .await
    }

    async fn portal_link_used(&self, nonce: String) -> Result<bool, StoreError> {
        self.read(move |c| portal::link_used(c, &nonce)).await
    }

    async fn statements(
        &self,
        period: String,
    ) -> Result<Vec<crate::store::statements::StatementRecord>, StoreError> {
        self.read(move |c| portal::statements(c, &period)).await
    }

    async fn record_statement(
        &self,
        mut record: crate::store::statements::StatementRecord,
    ) -> Result<(), StoreError> {
        self.write(move |c, env| {
            record.at = env.now;
            portal::record_statement(c, &record)
        })
        .await
    }

    async fn all_ledger_entries(&self) -> Result<Vec<LedgerEntry>, StoreError> {
        self.read(|c| read::ledger(c, None)).await
    }

    async fn verify_ledger(&self) -> Result<ChainCheck, StoreError> {
        self.read(read::verify_ledger).await
    }

    async fn poll_position(
        &self,
        connector: &str,
        stream: PollStream,
    ) -> Result<PollPosition, StoreError> {
        let connector = connector.to_owned();
        self.read(move |c| poll::position(c, &connector, stream))
            .await
    }

    async fn commit_page(&self, page: PageCompletion) -> Result<PageResult, StoreError> {
        self.write(move |c, env| poll::commit_page(c, env, &page))
            .await
    }

    async fn campaign_batch(
        &self,
        connector: &str,
        idempotency_key: &str,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        let connector = connector.to_owned();
        let key = idempotency_key.to_owned();
        self.read(move |c| poll::campaign_batch(c, &connector, &key))
            .await
    }

    async fn record_campaign_batch(&self, batch: CampaignBatch) -> Result<(), StoreError> {
        self.write(move |c, env| poll::record_campaign_batch(c, env, &batch))
            .await
    }

    async fn reset_poll(&self, connector: &str, stream: PollStream) -> Result<(), StoreError> {
        let connector = connector.to_owned();
        self.write(move |c, _| poll::reset(c, &connector, stream))
            .await
    }

    fn state_get(&self, connector: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        (&*reader(&self.readers)? as &dyn Db).row(
            "SELECT value FROM connector_state WHERE connector = ?1 AND key = ?2",
            &[&connector, &key],
            |row| row.get(0),
        )
    }

    async fn ping(&self) -> Result<(), StoreError> {
        if self.writer.is_closed() {
            return Err(StoreError::Unavailable("the writer has stopped".to_owned()));
        }
        self.read(|c| c.one("SELECT 1", &[], |_| Ok(()))).await
    }

    async fn metrics_counts(
        &self,
        after_ledger_id: i64,
        connectors: Vec<String>,
    ) -> Result<MetricsCounts, StoreError> {
        self.read(move |c| read::metrics_counts(c, after_ledger_id, &connectors))
            .await
    }
}
