//! The SQL store, over SQLite (the embedded default) or PostgreSQL (several
//! daemons sharing one database).
//!
//! One writer thread owns the write connection and commits in groups: it
//! takes every operation waiting in its queue, runs each inside its own
//! savepoint within one transaction, and commits once, so a burst of
//! webhooks costs one commit instead of one each. Reads use a pool of other
//! connections. Every query is written once, in portable SQL, against
//! [`Db`]; a [`Backend`] supplies the connections and the transactions.
//!
//! A batch the database refuses because of another session (a PostgreSQL
//! serialization failure or deadlock between daemons) is rolled back and run
//! again whole: operations are re-runnable, and their callers hear only the
//! outcome of the run that committed.

pub(crate) mod admin;
mod analytics;
pub(crate) mod book;
mod campaigns;
mod cluster;
mod keys;
mod poll;
mod portal;
mod profiles;
pub(crate) mod program;
mod read;
mod referrals;
mod segments;

use std::sync::{Arc, PoisonError, RwLock};

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};

use crate::core::accounts::AccountId;
use crate::core::identity::IdentityRules;
use crate::core::program::{Program, ProgramHistory};
use crate::core::rewards::RedemptionStatus;
use crate::runtime::Clock;
use crate::store::apply::Book;
use crate::store::apply::{ApplyError, Context, apply_events};
use crate::store::db::Db;
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
/// How many times a batch refused because of another session is run again
/// before its operations fail as unavailable.
const CONFLICT_RETRIES: u32 = 8;

/// What a database engine supplies to the SQL store.
pub trait Backend: Send + Sync + 'static {
    /// The writer thread's connection.
    type Writer: Db + Send + 'static;
    /// Opens the pool's read connections.
    type Readers: r2d2::ManageConnection<Connection: Db>;
    /// The writer thread's name.
    const THREAD: &'static str;

    /// Starts the batch's transaction.
    fn begin(writer: &mut Self::Writer) -> Result<(), StoreError>;
    /// Commits it.
    fn commit(writer: &mut Self::Writer) -> Result<(), StoreError>;
    /// Rolls it back (after a failed commit or a conflict).
    fn rollback(writer: &mut Self::Writer);
    /// Whether anything since the last call failed because of another
    /// session, so that the transaction must be run again; clears the mark.
    fn take_conflict(writer: &mut Self::Writer) -> bool;
    /// Runs the synchronous read `f` on the calling thread, which may be
    /// one of an async runtime's.
    fn blocking<T: Send>(f: impl FnOnce() -> T + Send) -> T;
}

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

/// An operation of a batch. It may run more than once (when the batch is
/// run again after a conflict); only the last run's result is answered.
trait Job: Send {
    /// Runs in the batch's transaction, in its own savepoint, which is kept
    /// only when this returns `true`.
    fn run(&mut self, conn: &dyn Db, env: &Env) -> bool;
    /// Answers the caller once the batch's commit is known.
    fn finish(self: Box<Self>, commit: &Result<(), String>);
}

/// A job that runs `f` and answers its result.
struct Write<T, F> {
    f: F,
    result: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Job for Write<T, F>
where
    T: Send,
    F: FnMut(&dyn Db, &Env) -> Result<T, StoreError> + Send,
{
    fn run(&mut self, conn: &dyn Db, env: &Env) -> bool {
        let result = (self.f)(conn, env);
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn finish(self: Box<Self>, commit: &Result<(), String>) {
        let result = match commit {
            Err(e) => Err(StoreError::Database(format!("commit failed: {e}"))),
            Ok(()) => self.result.unwrap_or_else(|| {
                Err(StoreError::Unavailable(
                    "the operation did not run".to_owned(),
                ))
            }),
        };
        drop(self.reply.send(result));
    }
}

/// A job for `f` and where its answer arrives.
fn job<T: Send + 'static>(
    f: impl FnMut(&dyn Db, &Env) -> Result<T, StoreError> + Send + 'static,
) -> (Box<dyn Job>, oneshot::Receiver<Result<T, StoreError>>) {
    let (reply, answer) = oneshot::channel();
    (
        Box::new(Write {
            f,
            result: None,
            reply,
        }),
        answer,
    )
}

/// The SQL store over backend `B`.
pub struct SqlStore<B: Backend> {
    writer: mpsc::Sender<Box<dyn Job>>,
    clock: Arc<dyn Clock>,
    readers: r2d2::Pool<B::Readers>,
}

impl<B: Backend> std::fmt::Debug for SqlStore<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore")
            .field("backend", &B::THREAD)
            .finish_non_exhaustive()
    }
}

impl<B: Backend> SqlStore<B> {
    /// Starts the writer thread on `writer`, a connection to a migrated
    /// database, beside the read pool `readers`.
    pub(crate) fn start(
        writer: B::Writer,
        readers: r2d2::Pool<B::Readers>,
        options: StoreOptions,
    ) -> Result<Self, StoreError> {
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
            .name(B::THREAD.into())
            .spawn(move || write_loop::<B>(writer, rx, batch_max.max(1), &shared))
            .map_err(|e| StoreError::Unavailable(format!("cannot start the writer thread: {e}")))?;
        Ok(Self {
            writer: tx,
            clock,
            readers,
        })
    }

    async fn send(&self, job: Box<dyn Job>) -> Result<(), StoreError> {
        self.writer
            .send(job)
            .await
            .map_err(|_| StoreError::Unavailable("the writer has stopped".to_owned()))
    }

    /// Runs `f` in its own savepoint of the next group commit and returns
    /// its result once committed. `f` may run more than once.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnMut(&dyn Db, &Env) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (job, answer) = job(f);
        self.send(job).await?;
        answered(answer).await
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
        tokio::task::spawn_blocking(move || f(&*reader::<B>(&readers)?))
            .await
            .map_err(|e| StoreError::Unavailable(format!("read task failed: {e}")))?
    }
}

async fn answered<T>(answer: oneshot::Receiver<Result<T, StoreError>>) -> Result<T, StoreError> {
    answer
        .await
        .map_err(|_| StoreError::Unavailable("the writer dropped the request".to_owned()))?
}

/// A read connection from the pool.
fn reader<B: Backend>(
    readers: &r2d2::Pool<B::Readers>,
) -> Result<r2d2::PooledConnection<B::Readers>, StoreError> {
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

fn write_loop<B: Backend>(
    mut conn: B::Writer,
    mut rx: mpsc::Receiver<Box<dyn Job>>,
    batch_max: usize,
    shared: &Shared,
) {
    while let Some(first) = rx.blocking_recv() {
        let mut jobs = vec![first];
        while jobs.len() < batch_max {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
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
        run_batch::<B>(&mut conn, jobs, &env);
    }
}

/// How one run of a batch ended.
enum Attempt {
    /// Committed, or failed for a reason running it again would not cure.
    Done(Result<(), String>),
    /// Another session's transaction conflicted with it: rolled back, to be
    /// run again whole.
    Conflict,
}

/// Runs the jobs in one transaction and answers each once the commit is
/// known, running the whole batch again while another session's
/// transaction conflicts with it.
fn run_batch<B: Backend>(conn: &mut B::Writer, mut jobs: Vec<Box<dyn Job>>, env: &Env) {
    let mut attempt = 0;
    let commit = loop {
        attempt += 1;
        match run_once::<B>(conn, &mut jobs, env) {
            Attempt::Done(outcome) => break outcome,
            Attempt::Conflict if attempt > CONFLICT_RETRIES => {
                tracing::warn!(attempt, "a batch kept conflicting with other sessions");
                break Err(
                    "the database kept refusing the batch because of other sessions".to_owned(),
                );
            }
            Attempt::Conflict => {
                tracing::debug!(
                    attempt,
                    "a batch conflicted with another session; running it again"
                );
                std::thread::sleep(std::time::Duration::from_millis(
                    fastrand::u64(1..=10) << attempt.min(5),
                ));
            }
        }
    };
    if let Err(e) = &commit {
        tracing::error!(error = %e, "store commit failed");
    }
    for job in jobs {
        job.finish(&commit);
    }
}

/// One run of the batch: begin, every job in its savepoint, commit. A
/// conflict anywhere (a job's statement, the commit) rolls it all back: the
/// jobs' results are only good if the whole batch commits as run.
fn run_once<B: Backend>(conn: &mut B::Writer, jobs: &mut Vec<Box<dyn Job>>, env: &Env) -> Attempt {
    let failed = |conn: &mut B::Writer, e: String| {
        B::rollback(conn);
        if B::take_conflict(conn) {
            Attempt::Conflict
        } else {
            Attempt::Done(Err(e))
        }
    };
    if let Err(e) = B::begin(conn) {
        return failed(conn, e.to_string());
    }
    let mut i = 0;
    while i < jobs.len() {
        // A panic while applying one operation (a bug, never a bad input:
        // inputs are validated and amounts bounded) must not take the writer
        // thread, and with it the whole store, down: its savepoint is rolled
        // back, its caller sees the store as unavailable and retries, and
        // the other operations of the batch commit.
        let job = &mut jobs[i];
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            in_savepoint(&*conn, "job", |c| Ok(job.run(c, env)))
        }));
        match ran {
            Ok(Ok(_)) => i += 1,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "cannot run an operation in a savepoint");
                drop(jobs.remove(i));
            }
            Err(_) => {
                tracing::error!("a store operation panicked; it was rolled back");
                drop(undo(&*conn, "job"));
                drop(jobs.remove(i));
            }
        }
    }
    if B::take_conflict(conn) {
        B::rollback(conn);
        return Attempt::Conflict;
    }
    match B::commit(conn) {
        Ok(()) => Attempt::Done(Ok(())),
        Err(e) => failed(conn, e.to_string()),
    }
}

/// Runs `f` in savepoint `name`: its writes are kept only if it returns
/// `Ok(true)`.
fn in_savepoint(
    conn: &dyn Db,
    name: &str,
    f: impl FnOnce(&dyn Db) -> Result<bool, StoreError>,
) -> Result<bool, StoreError> {
    conn.execute(&format!("SAVEPOINT {name}"), &[])?;
    match f(conn) {
        Ok(true) => {
            conn.execute(&format!("RELEASE SAVEPOINT {name}"), &[])?;
            Ok(true)
        }
        Ok(false) => {
            undo(conn, name)?;
            Ok(false)
        }
        Err(e) => {
            undo(conn, name)?;
            Err(e)
        }
    }
}

/// Rolls savepoint `name` back and releases it.
fn undo(conn: &dyn Db, name: &str) -> Result<(), StoreError> {
    conn.execute(&format!("ROLLBACK TO SAVEPOINT {name}"), &[])?;
    conn.execute(&format!("RELEASE SAVEPOINT {name}"), &[])?;
    Ok(())
}

/// Runs `f` in savepoint `name`, kept only if `f` succeeds.
fn in_savepoint_result<T>(
    conn: &dyn Db,
    name: &str,
    f: impl FnOnce(&dyn Db) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let mut out = None;
    in_savepoint(conn, name, |c| {
        out = Some(f(c)?);
        Ok(true)
    })?;
    out.ok_or_else(|| StoreError::Unavailable("a savepoint ran nothing".to_owned()))
}

fn append(conn: &dyn Db, d: &NewDelivery) -> Result<Appended, StoreError> {
    let headers =
        serde_json::to_string(&d.headers).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let inserted: Option<i64> = conn.row(
        "INSERT INTO inbox (connector, delivery_id, topic, method, url, received_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (connector, delivery_id) DO NOTHING RETURNING id",
        &[
            &d.connector,
            &d.delivery_id,
            &d.topic,
            &d.method,
            &d.url,
            &d.received_at,
        ],
        |row| row.get(0),
    )?;
    match inserted {
        Some(id) => {
            conn.execute(
                "INSERT INTO inbox_bodies (inbox_id, headers, body) VALUES (?1, ?2, ?3)",
                &[&id, &headers, &d.body],
            )?;
            Ok(Appended::Stored(id))
        }
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
    conn: &dyn Db,
    completion: &Completion,
    env: &Env,
) -> Result<CompletionResult, StoreError> {
    let now = env.now;
    let row: Option<(String, String)> = conn.row(
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
    conn.execute("SAVEPOINT apply", &[])?;
    let mut book = book::SqlBook::new(conn, now);
    match apply_events(&mut book, &cx, &completion.events) {
        Ok(applied) => {
            write_state(conn, &connector, &completion.state)?;
            conn.execute(
                "UPDATE inbox SET status = 'done', processed_at = ?2 WHERE id = ?1",
                &[&completion.inbox_id, &now],
            )?;
            conn.execute("RELEASE SAVEPOINT apply", &[])?;
            Ok(CompletionResult::Applied(applied))
        }
        // The job's savepoint undoes everything.
        Err(ApplyError::Store(e)) => Err(e),
        Err(ApplyError::Core(e)) => {
            undo(conn, "apply")?;
            let message = e.to_string();
            in_savepoint_result(conn, "dead", |c| {
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
impl<B: Backend> Store for SqlStore<B> {
    async fn append_delivery(&self, delivery: NewDelivery) -> Result<Appended, StoreError> {
        self.write(move |c, _| append(c, &delivery)).await
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
            let (job, answer) = job(move |c, env| complete(c, &completion, env));
            self.send(job).await?;
            answers.push(answer);
        }
        let mut results = Vec::with_capacity(answers.len());
        for answer in answers {
            results.push(answered(answer).await?);
        }
        Ok(results)
    }

    async fn record_attempt(&self, inbox_id: i64, error: String) -> Result<(), StoreError> {
        self.write(move |c, _| record_attempt(c, inbox_id, &error))
            .await
    }

    async fn dead_letter(
        &self,
        inbox_id: i64,
        error: String,
        plugin_sha256: String,
    ) -> Result<(), StoreError> {
        self.write(move |c, env| dead_letter(c, inbox_id, &error, &plugin_sha256, env.now))
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
        self.write(move |c, env| adjust(c, &request, env.now)).await
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

    async fn run_jobs_once(
        &self,
        rules: Arc<Program>,
        period: String,
        holder: String,
    ) -> Result<Option<JobReport>, StoreError> {
        self.write(move |c, env| {
            if cluster::claim_run(c, "jobs", &period, &holder, env.now)? {
                program::run_jobs(c, env, &rules).map(Some)
            } else {
                Ok(None)
            }
        })
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

    async fn hold_lease(
        &self,
        claim: crate::store::cluster::LeaseClaim,
    ) -> Result<crate::store::cluster::Lease, StoreError> {
        self.write(move |c, env| cluster::hold(c, &claim, env.now))
            .await
    }

    async fn release_leases(&self, holder: String, name: Option<String>) -> Result<(), StoreError> {
        self.write(move |c, _| cluster::release(c, &holder, name.as_deref()))
            .await
    }

    async fn cluster(&self) -> Result<crate::store::cluster::ClusterView, StoreError> {
        self.read(cluster::view).await
    }

    async fn reset_poll(&self, connector: &str, stream: PollStream) -> Result<(), StoreError> {
        let connector = connector.to_owned();
        self.write(move |c, _| poll::reset(c, &connector, stream))
            .await
    }

    fn state_get(&self, connector: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        B::blocking(|| {
            (&*reader::<B>(&self.readers)? as &dyn Db).row(
                "SELECT value FROM connector_state WHERE connector = ?1 AND key = ?2",
                &[&connector, &key],
                |row| row.get(0),
            )
        })
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
