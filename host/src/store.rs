//! Persistence behind one trait, so the daemon runs on the embedded SQLite
//! store or (later) PostgreSQL with the same semantics. Every backend passes
//! the conformance suite in `tests/e2e/store_conformance.rs`.

mod apply;
pub mod campaigns;
pub mod cluster;
mod commissions;
pub mod db;
pub mod payouts;
pub mod portal;
pub mod postgres;
mod program_ops;
pub mod segments;
pub mod sql;
pub mod sqlite;
pub mod statements;

use std::sync::Arc;

use async_trait::async_trait;

use crate::core::accounts::AccountId;
use crate::core::event::Event;
use crate::core::identity::IdentityRules;
use crate::core::ledger::{Chained, EntryKind, NewEntry, chain_hash};
use crate::core::program::Program;
use crate::core::rewards::RedemptionStatus;
use crate::runtime::{Clock, StateWrites, SystemClock};

pub use apply::Applied;
pub use program_ops::{
    AcceptanceOutcome, AccountChange, AuditEntry, ChangeOutcome, Expiring, JobReport, Merge,
    MergeOutcome, MergeRequest, ProgramVersion, RedeemOutcome, RedeemRequest, Redemption, Referral,
    ReferralOutcome, ReferralRequest, SettleOutcome, SettleRequest, TermsAcceptance,
    TierHistoryEntry,
};

/// How a store is set up.
#[derive(Clone)]
pub struct StoreOptions {
    /// Operations committed together at most.
    pub batch_max: usize,
    /// How accounts from several systems are matched.
    pub identity: IdentityRules,
    /// The time applied events and jobs are judged at.
    pub clock: Arc<dyn Clock>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            batch_max: 256,
            identity: IdentityRules::default(),
            clock: Arc::new(SystemClock),
        }
    }
}

impl std::fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreOptions")
            .field("batch_max", &self.batch_max)
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

/// A verified webhook delivery, exactly as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    /// The connector that verified it.
    pub connector: String,
    /// The vendor's delivery id; a repeat is dropped.
    pub delivery_id: String,
    /// What it is about.
    pub topic: String,
    /// HTTP method.
    pub method: String,
    /// Full public URL.
    pub url: String,
    /// Headers in order.
    pub headers: Vec<(String, String)>,
    /// Raw body.
    pub body: Vec<u8>,
    /// When it arrived (ms since the epoch).
    pub received_at: i64,
}

/// What became of an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// Stored under this inbox id.
    Stored(i64),
    /// Already in the inbox under this id.
    Duplicate(i64),
}

/// A delivery waiting in the inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDelivery {
    /// Inbox id.
    pub id: i64,
    /// The delivery.
    pub delivery: NewDelivery,
    /// Processing attempts so far.
    pub attempts: u32,
}

/// Where an inbox item stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboxStatus {
    /// Waiting to be processed.
    Pending,
    /// Applied.
    Done,
    /// A dead letter.
    Dead,
}

/// The processed result of one inbox item, to apply atomically: its events,
/// the connector's state writes, and the item marked done.
#[derive(Debug, Clone)]
pub struct Completion {
    /// Inbox id.
    pub inbox_id: i64,
    /// The delivery's topic, for logs.
    pub topic: String,
    /// The events the connector produced.
    pub events: Vec<Event>,
    /// The connector's state writes.
    pub state: StateWrites,
    /// The program rules in force.
    pub program: Arc<Program>,
    /// SHA-256 of the plugin that produced the events, kept on a dead letter.
    pub plugin_sha256: String,
}

/// Which cursor a poll page moves: the scheduled sync's, or a backfill's,
/// which is kept apart so that the sync resumes where it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollStream {
    /// The scheduled incremental sync.
    Sync,
    /// `loyaltyd backfill`.
    Backfill,
}

impl PollStream {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sync => "sync",
            Self::Backfill => "backfill",
        }
    }
}

/// Where a poll stream stands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PollPosition {
    /// The cursor to resume from; `None` before the first page.
    pub cursor: Option<String>,
    /// Pages committed in this stream.
    pub pages: u64,
    /// Events in those pages.
    pub events: u64,
}

/// One poll page to commit atomically: its events, the connector's state
/// writes and the cursor after it.
#[derive(Debug, Clone)]
pub struct PageCompletion {
    /// The connector.
    pub connector: String,
    /// Which cursor moves.
    pub stream: PollStream,
    /// The events of the page.
    pub events: Vec<Event>,
    /// The connector's state writes.
    pub state: StateWrites,
    /// The cursor after this page.
    pub cursor: Option<String>,
    /// Whether this page ends a backfill: its cursor is then dropped.
    pub finished: bool,
    /// The program rules in force.
    pub program: Arc<Program>,
    /// SHA-256 of the plugin that produced the events.
    pub plugin_sha256: String,
    /// The lease the page is polled under: renewed by the commit, which
    /// fails with [`StoreError::LeaseLost`] if another instance took it.
    pub lease: Option<cluster::LeaseClaim>,
}

/// What became of a poll page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageResult {
    /// What the accepted events did.
    pub applied: Applied,
    /// Events the core refused, each kept as a dead letter: their errors.
    pub refused: Vec<String>,
}

/// What becomes of a campaign batch whose push failed as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchFailure {
    /// The failure may pass: its deliveries are tried again later, each
    /// attempt counted, until they run out.
    Retry,
    /// It will not pass: its deliveries fail.
    GiveUp,
    /// The connector was not called (its circuit breaker is open): its
    /// deliveries wait this many milliseconds, no attempt counted.
    Wait(u64),
}

/// A campaign batch a connector accepted, recorded with the connector's
/// state writes so that it is never pushed twice.
#[derive(Debug, Clone)]
pub struct CampaignBatch {
    /// The connector.
    pub connector: String,
    /// The batch's idempotency key.
    pub idempotency_key: String,
    /// The campaign.
    pub campaign_id: String,
    /// The connector's report, as the API shows it.
    pub report: serde_json::Value,
    /// The connector's state writes.
    pub state: StateWrites,
}

/// What became of a completion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompletionResult {
    /// Applied.
    Applied(Applied),
    /// The core refused an event; the item is now a dead letter with this error.
    DeadLettered(String),
}

/// A delivery that failed processing, kept with its error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// Inbox id.
    pub inbox_id: i64,
    /// The delivery as received.
    pub delivery: NewDelivery,
    /// Why it failed.
    pub error: String,
    /// SHA-256 of the plugin that failed on it.
    pub plugin_sha256: String,
    /// When it failed.
    pub failed_at: i64,
}

/// An external reference of an account.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ExternalRef {
    /// The connector (system).
    pub source: String,
    /// The id there.
    pub id: String,
    /// The entity version last applied.
    pub version: u64,
}

/// An account with its balance.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AccountSummary {
    /// Internal id.
    pub id: AccountId,
    /// Name.
    pub name: String,
    /// Points balance: the sum of the account's ledger entries.
    pub balance: i64,
    /// Ids in the source systems.
    pub external_refs: Vec<ExternalRef>,
    /// The account it was merged into, if an admin merged it.
    pub merged_into: Option<AccountId>,
}

/// A contact as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ContactView {
    /// Internal id (segment members and campaign deliveries name it).
    pub id: i64,
    /// The connector it came from.
    pub source: String,
    /// The id there.
    pub external_id: String,
    /// Email.
    pub email: Option<String>,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Role.
    pub role: Option<String>,
    /// The entity version last applied.
    pub version: u64,
}

/// An account with everything the API shows about it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AccountDetail {
    /// Id, name, balance and references.
    #[serde(flatten)]
    pub summary: AccountSummary,
    /// Domain.
    pub domain: Option<String>,
    /// Tax id.
    pub tax_id: Option<String>,
    /// Industry.
    pub industry: Option<String>,
    /// Country.
    pub country: Option<String>,
    /// Membership (`invited`, `active`, `suspended`, `closed`), `None` when
    /// not a member.
    pub membership: Option<String>,
    /// Segment tags.
    pub tags: Vec<String>,
    /// Current tier id.
    pub tier: Option<String>,
    /// Since when it has held the tier.
    pub tier_since: Option<i64>,
    /// Contacts.
    pub contacts: Vec<ContactView>,
}

/// A ledger entry as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LedgerEntry {
    /// Entry id, increasing.
    pub id: i64,
    /// The account.
    pub account_id: AccountId,
    /// What happened.
    pub kind: EntryKind,
    /// Signed points.
    pub points: i64,
    /// The key that makes the effect happen once.
    pub effect_key: String,
    /// The connector of the triggering event.
    pub source: String,
    /// The purchase or refund id.
    pub reference: String,
    /// The rule version that produced it.
    pub rule_version: String,
    /// The amount the points were computed from (decimal string).
    pub amount: Option<String>,
    /// Its currency.
    pub currency: Option<String>,
    /// The exchange rate applied (decimal string).
    pub rate: Option<String>,
    /// When the effect happened (ms since the epoch).
    pub occurred_at: i64,
    /// When it was written (ms since the epoch).
    pub created_at: i64,
    /// Hash chaining it to the account's previous entry.
    pub hash: String,
    /// An admin's reason, or how the core computed the points.
    pub reason: Option<String>,
}

/// A place where an account's hash chain does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    /// The account.
    pub account_id: AccountId,
    /// The first entry whose stored hash does not match.
    pub entry_id: i64,
}

impl std::fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "account {}: ledger entry {} does not match its hash: the entry, or one before it, was edited or deleted",
            self.account_id, self.entry_id
        )
    }
}

/// Recomputes every account's hash chain over entries ordered by account and
/// id; reports the first break of each account.
pub fn verify_chain(entries: &[LedgerEntry]) -> Vec<ChainBreak> {
    let mut check = ChainCheck::default();
    for entry in entries {
        check.push(entry);
    }
    check.breaks
}

/// Hash chains checked one entry at a time, in account and id order, so
/// that a ledger of any size is verified in constant memory (but for the
/// breaks found).
#[derive(Debug, Default)]
pub struct ChainCheck {
    /// The previous entry's account and hash.
    previous: Option<(AccountId, String)>,
    /// The account whose break was reported: its later entries are skipped.
    broken_account: Option<AccountId>,
    /// The first break of each broken account.
    pub breaks: Vec<ChainBreak>,
    /// Entries checked.
    pub entries: u64,
    /// Accounts seen.
    pub accounts: u64,
}

impl ChainCheck {
    /// Checks the next entry.
    pub fn push(&mut self, entry: &LedgerEntry) {
        self.entries += 1;
        let prior = match self.previous.take() {
            Some((account, hash)) if account == entry.account_id => hash,
            _ => {
                self.accounts += 1;
                String::new()
            }
        };
        if self.broken_account != Some(entry.account_id) {
            let expected = chain_hash(
                &prior,
                &Chained {
                    account_id: entry.account_id,
                    kind: entry.kind.as_str(),
                    points: entry.points,
                    effect_key: &entry.effect_key,
                    source: &entry.source,
                    reference: &entry.reference,
                    rule_version: &entry.rule_version,
                    amount: entry.amount.as_deref(),
                    currency: entry.currency.as_deref(),
                    rate: entry.rate.as_deref(),
                    occurred_at: entry.occurred_at,
                    created_at: entry.created_at,
                    reason: entry.reason.as_deref(),
                },
            );
            if expected != entry.hash {
                self.broken_account = Some(entry.account_id);
                self.breaks.push(ChainBreak {
                    account_id: entry.account_id,
                    entry_id: entry.id,
                });
            }
        }
        self.previous = Some((entry.account_id, entry.hash.clone()));
    }
}

/// An admin's correction of an account's points, as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdjustmentRequest {
    /// The account.
    pub account_id: AccountId,
    /// The entry to append (see [`crate::core::ledger::adjustment`]).
    pub entry: NewEntry,
    /// The request's `Idempotency-Key`.
    pub idempotency_key: String,
    /// SHA-256 of the request (account and body): a reused key with another
    /// request is a conflict.
    pub request_sha256: String,
    /// The program rules in force.
    pub rule_version: String,
}

/// What became of an adjustment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdjustOutcome {
    /// Appended now.
    Created(Box<LedgerEntry>),
    /// The same request was made before: its entry.
    Replayed(Box<LedgerEntry>),
    /// The key was used for another request.
    Conflict,
    /// No such account.
    UnknownAccount,
}

/// Why the store could not do something.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database reported an error.
    #[error("database error: {0}")]
    Database(String),
    /// The store is shutting down or its writer stopped.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// Stored data could not be read back.
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    /// Another instance holds a lease this write needed.
    #[error("the lease `{name}` is held by {holder}")]
    LeaseLost {
        /// The lease.
        name: String,
        /// Its holder.
        holder: String,
    },
}

/// Counts for the metrics endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricsCounts {
    /// The id of the last ledger entry (counted or not).
    pub ledger_last_id: i64,
    /// Entries after the given id, by kind.
    pub ledger_by_kind: Vec<(String, u64)>,
    /// Per connector.
    pub inbox: Vec<InboxCounts>,
}

/// One connector's waiting deliveries, counted in one snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingCount {
    /// Deliveries not yet processed.
    pub pending: u64,
    /// The newest inbox id the count saw (0 for an empty inbox): every
    /// delivery stored later has a larger id.
    pub last_id: i64,
}

/// One connector's inbox, counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxCounts {
    /// The connector.
    pub connector: String,
    /// Dead letters.
    pub dead: u64,
    /// Deliveries not yet applied.
    pub pending: u64,
}

/// The persistence interface of the daemon.
#[async_trait]
pub trait Store: Send + Sync {
    /// Appends a verified delivery to the inbox, durably, unless its delivery
    /// id is already there.
    async fn append_delivery(&self, delivery: NewDelivery) -> Result<Appended, StoreError>;

    /// One inbox item and where it stands.
    async fn delivery(
        &self,
        inbox_id: i64,
    ) -> Result<Option<(StoredDelivery, InboxStatus)>, StoreError>;

    /// Deliveries of one connector still waiting to be processed, oldest
    /// first, from those with an inbox id above `after` (0 for all).
    async fn pending_deliveries(
        &self,
        connector: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<StoredDelivery>, StoreError>;

    /// How many deliveries of one connector wait to be processed, and the
    /// id of the newest delivery of any connector at the time of counting.
    async fn pending_count(&self, connector: &str) -> Result<PendingCount, StoreError>;

    /// Applies processed inbox items, each atomically and all in one commit.
    async fn complete(&self, batch: Vec<Completion>) -> Result<Vec<CompletionResult>, StoreError>;

    /// Records a failed processing attempt; the item stays pending.
    async fn record_attempt(&self, inbox_id: i64, error: String) -> Result<(), StoreError>;

    /// Turns an inbox item into a dead letter with its error.
    async fn dead_letter(
        &self,
        inbox_id: i64,
        error: String,
        plugin_sha256: String,
    ) -> Result<(), StoreError>;

    /// Puts the dead letters of these connectors (failed at or after
    /// `since`) back into the inbox as pending, and returns their inbox ids.
    /// Recorded in the audit log as `actor`'s.
    async fn replay_dead_letters(
        &self,
        connectors: Vec<String>,
        since: Option<i64>,
        actor: String,
    ) -> Result<Vec<i64>, StoreError>;

    /// Dead letters, optionally of one connector.
    async fn dead_letters(&self, connector: Option<String>) -> Result<Vec<DeadLetter>, StoreError>;

    /// Every account with its balance.
    async fn accounts(&self) -> Result<Vec<AccountSummary>, StoreError>;

    /// One account.
    async fn account(&self, id: AccountId) -> Result<Option<AccountDetail>, StoreError>;

    /// One account's ledger, oldest first.
    async fn ledger(&self, id: AccountId) -> Result<Vec<LedgerEntry>, StoreError>;

    /// Appends an admin adjustment once per idempotency key.
    async fn adjust(&self, request: AdjustmentRequest) -> Result<AdjustOutcome, StoreError>;

    /// Every account's entries, ordered by account and then entry id.
    async fn all_ledger_entries(&self) -> Result<Vec<LedgerEntry>, StoreError>;

    /// Recomputes every account's hash chain, reading the ledger entry by
    /// entry rather than all at once.
    async fn verify_ledger(&self) -> Result<ChainCheck, StoreError>;

    /// A connector's committed state value.
    fn state_get(&self, connector: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Where a connector's poll stream stands.
    async fn poll_position(
        &self,
        connector: &str,
        stream: PollStream,
    ) -> Result<PollPosition, StoreError>;

    /// Applies one poll page, writes the connector's state and moves the
    /// stream's cursor, all in one transaction. An event the core refuses is
    /// kept as a dead letter and the rest of the page is applied.
    async fn commit_page(&self, page: PageCompletion) -> Result<PageResult, StoreError>;

    /// The report of a campaign batch pushed earlier, if it was.
    async fn campaign_batch(
        &self,
        connector: &str,
        idempotency_key: &str,
    ) -> Result<Option<serde_json::Value>, StoreError>;

    /// Records a pushed campaign batch and the connector's state writes.
    async fn record_campaign_batch(&self, batch: CampaignBatch) -> Result<(), StoreError>;

    /// Forgets a poll stream's cursor, so that it starts over.
    async fn reset_poll(&self, connector: &str, stream: PollStream) -> Result<(), StoreError>;

    /// Takes a lease that is free or has lapsed, or renews one the claim's
    /// holder has, and answers who holds it now.
    async fn hold_lease(&self, claim: cluster::LeaseClaim) -> Result<cluster::Lease, StoreError>;

    /// Gives up `holder`'s lease `name`, or every lease it has.
    async fn release_leases(&self, holder: String, name: Option<String>) -> Result<(), StoreError>;

    /// Every lease and the latest scheduled runs.
    async fn cluster(&self) -> Result<cluster::ClusterView, StoreError>;

    /// Runs the scheduled jobs for `period` unless some instance already
    /// did: the run's record commits with its work, so a run that fails or
    /// dies is not recorded and runs again. `None` when it already ran.
    async fn run_jobs_once(
        &self,
        program: Arc<Program>,
        period: String,
        holder: String,
    ) -> Result<Option<JobReport>, StoreError>;

    /// Checks that the store can serve requests.
    async fn ping(&self) -> Result<(), StoreError>;

    /// What `GET /metrics` reads from the store: ledger entries after
    /// `after_ledger_id` by kind, and each of `connectors`' dead letters and
    /// pending deliveries.
    async fn metrics_counts(
        &self,
        after_ledger_id: i64,
        connectors: Vec<String>,
    ) -> Result<MetricsCounts, StoreError>;

    /// Reserves a reward's points, once per idempotency key.
    async fn redeem(&self, request: RedeemRequest) -> Result<RedeemOutcome, StoreError>;

    /// Settles a reserved redemption.
    async fn settle(&self, request: SettleRequest) -> Result<SettleOutcome, StoreError>;

    /// Redemptions, of one account or all, newest first, optionally in one status.
    async fn redemptions(
        &self,
        account: Option<AccountId>,
        status: Option<RedemptionStatus>,
    ) -> Result<Vec<Redemption>, StoreError>;

    /// Changes an account's membership or tags; `actor` goes to the audit log.
    async fn change_account(
        &self,
        account: AccountId,
        change: AccountChange,
        actor: String,
    ) -> Result<ChangeOutcome, StoreError>;

    /// Runs the scheduled jobs now.
    async fn run_jobs(&self, program: Arc<Program>) -> Result<JobReport, StoreError>;

    /// An account's points expiring within `within_ms` from now.
    async fn expiring(
        &self,
        account: AccountId,
        program: Arc<Program>,
        within_ms: i64,
    ) -> Result<Expiring, StoreError>;

    /// Records a version of the program (once; a version seen before keeps
    /// its original `effective_from`) and returns every version, oldest
    /// first. Events are then judged by the version in force at their time.
    async fn register_program(&self, program: Program) -> Result<Vec<ProgramVersion>, StoreError>;

    /// Merges one account into another, once per idempotency key.
    async fn merge(&self, request: MergeRequest) -> Result<MergeOutcome, StoreError>;

    /// Records an account's acceptance of the terms in force.
    async fn accept_terms(&self, request: TermsAcceptance)
    -> Result<AcceptanceOutcome, StoreError>;

    /// The terms versions an account accepted, newest first.
    async fn accepted_terms(
        &self,
        account: AccountId,
    ) -> Result<Vec<serde_json::Value>, StoreError>;

    /// Records that one account referred another.
    async fn record_referral(
        &self,
        request: ReferralRequest,
    ) -> Result<ReferralOutcome, StoreError>;

    /// The referrals an account made, newest first.
    async fn referrals(&self, referrer: AccountId) -> Result<Vec<Referral>, StoreError>;

    /// The account's referral code, made with `prefix` on first request;
    /// `None` for an unknown account.
    async fn referral_code(
        &self,
        account: AccountId,
        prefix: String,
    ) -> Result<Option<String>, StoreError>;

    /// The account a referral code belongs to.
    async fn referral_code_owner(&self, code: String) -> Result<Option<AccountId>, StoreError>;

    /// The commissions accrued to a referrer, oldest first.
    async fn commissions(
        &self,
        referrer: AccountId,
    ) -> Result<Vec<payouts::CommissionView>, StoreError>;

    /// Referrals recorded in `[from, to)`, the referred accounts' revenue
    /// and the commissions accrued then.
    async fn referral_report(
        &self,
        from: i64,
        to: i64,
        currency: String,
    ) -> Result<payouts::ReferralReport, StoreError>;

    /// Makes the payout batch due now under `schedule`, unless it exists
    /// or nothing is owed.
    async fn run_payouts(
        &self,
        schedule: crate::core::commissions::PayoutSchedule,
        currency: String,
        actor: String,
    ) -> Result<Option<payouts::Payout>, StoreError>;

    /// Every payout batch, newest first.
    async fn payouts(&self) -> Result<Vec<payouts::Payout>, StoreError>;

    /// One payout batch.
    async fn payout(&self, id: i64) -> Result<Option<payouts::Payout>, StoreError>;

    /// Every account scored now, with the program's scores.
    async fn scores(
        &self,
        program: Arc<Program>,
    ) -> Result<
        (
            Vec<crate::core::profiles::Scored>,
            crate::core::profiles::ProgramScores,
        ),
        StoreError,
    >;

    /// Puts the configuration's segments in place of the previous ones.
    async fn define_segments(
        &self,
        definitions: Vec<segments::SegmentDefinition>,
    ) -> Result<(), StoreError>;

    /// Creates or replaces a segment defined through the API.
    async fn save_segment(
        &self,
        definition: segments::SegmentDefinition,
        actor: String,
    ) -> Result<segments::SaveOutcome, StoreError>;

    /// Deletes an API segment: `None` unknown, `Some(false)` a
    /// configuration segment (kept).
    async fn delete_segment(&self, id: String, actor: String) -> Result<Option<bool>, StoreError>;

    /// Every segment with its size.
    async fn segments(&self) -> Result<Vec<segments::SegmentView>, StoreError>;

    /// One segment.
    async fn segment(&self, id: String) -> Result<Option<segments::SegmentView>, StoreError>;

    /// A segment's materialized members (at most `limit`); `None` for an
    /// unknown segment.
    async fn segment_members(
        &self,
        id: String,
        limit: u32,
    ) -> Result<Option<Vec<segments::Member>>, StoreError>;

    /// Recomputes every segment's membership now.
    async fn refresh_segments(
        &self,
        program: Arc<Program>,
    ) -> Result<segments::RefreshReport, StoreError>;

    /// The size of what a definition selects now and a sample of it.
    async fn preview_segment(
        &self,
        program: Arc<Program>,
        definition: segments::SegmentDefinition,
        sample: usize,
    ) -> Result<(usize, Vec<segments::Member>), StoreError>;

    /// A number that changes whenever events are applied or an admin
    /// changes something: segments are refreshed when it moves.
    async fn change_token(&self) -> Result<i64, StoreError>;

    /// Puts the configuration's campaigns in place (those not started).
    async fn define_campaigns(
        &self,
        definitions: Vec<campaigns::CampaignDefinition>,
    ) -> Result<(), StoreError>;

    /// Creates or replaces an API campaign that has not started.
    async fn save_campaign(
        &self,
        definition: campaigns::CampaignDefinition,
        actor: String,
    ) -> Result<campaigns::CampaignOutcome, StoreError>;

    /// Every campaign.
    async fn campaigns(&self) -> Result<Vec<campaigns::CampaignView>, StoreError>;

    /// One campaign.
    async fn campaign(&self, id: String) -> Result<Option<campaigns::CampaignView>, StoreError>;

    /// Schedules or cancels a campaign.
    async fn transition_campaign(
        &self,
        id: String,
        change: campaigns::Transition,
        actor: String,
    ) -> Result<campaigns::CampaignOutcome, StoreError>;

    /// Campaigns with work to do now.
    async fn due_campaigns(&self) -> Result<Vec<campaigns::CampaignView>, StoreError>;

    /// Starts a scheduled campaign (members, holdout, deliveries, bonus
    /// points).
    async fn start_campaign(&self, id: String, program: Arc<Program>) -> Result<(), StoreError>;

    /// Every delivery of a campaign; `None` for an unknown campaign.
    async fn campaign_deliveries(
        &self,
        id: String,
    ) -> Result<Option<Vec<campaigns::DeliveryView>>, StoreError>;

    /// Targeted accounts still waiting for their discount code.
    async fn campaign_code_requests(
        &self,
        id: String,
    ) -> Result<Vec<campaigns::CodeRequest>, StoreError>;

    /// Records an account's discount code, or why none was made, with the
    /// connector state the call wrote.
    async fn record_campaign_code(
        &self,
        id: String,
        account: AccountId,
        code: Result<String, String>,
        state: Option<(String, StateWrites)>,
    ) -> Result<(), StoreError>;

    /// The next batch of a sending campaign, keeping a queued batch's key.
    async fn next_campaign_batch(
        &self,
        id: String,
        size: usize,
        program: Arc<Program>,
    ) -> Result<Option<campaigns::Batch>, StoreError>;

    /// Settles a pushed batch; `rejected` lists account refs the vendor
    /// refused, with reasons.
    async fn settle_campaign_batch(
        &self,
        id: String,
        key: String,
        rejected: Vec<(String, String)>,
    ) -> Result<(), StoreError>;

    /// A batch whose push failed as a whole.
    async fn fail_campaign_batch(
        &self,
        key: String,
        error: String,
        failure: BatchFailure,
    ) -> Result<(), StoreError>;

    /// Ends a campaign whose deliveries all settled.
    async fn finish_campaign(
        &self,
        id: String,
    ) -> Result<Option<crate::core::campaigns::CampaignStatus>, StoreError>;

    /// A campaign's results.
    async fn campaign_report(
        &self,
        id: String,
    ) -> Result<Option<campaigns::CampaignReport>, StoreError>;

    /// Marks a payout batch paid, once.
    async fn mark_payout_paid(
        &self,
        id: i64,
        actor: String,
        reference: Option<String>,
    ) -> Result<payouts::PaidOutcome, StoreError>;

    /// Appends an entry to the audit log, for admin actions that change
    /// nothing in the store itself (a connector reload).
    async fn record_audit(
        &self,
        actor: String,
        action: String,
        target: String,
        before: Option<serde_json::Value>,
        after: Option<serde_json::Value>,
    ) -> Result<(), StoreError>;

    /// The newest `limit` admin mutations, newest first.
    async fn audit_log(&self, limit: u32) -> Result<Vec<AuditEntry>, StoreError>;

    /// An account's tier changes, oldest first.
    async fn tier_history(&self, account: AccountId) -> Result<Vec<TierHistoryEntry>, StoreError>;

    /// Every account's history, referral and commission, for analytics.
    async fn analytics_book(
        &self,
        program: Arc<Program>,
    ) -> Result<crate::core::analytics::Book, StoreError>;

    /// What the member portal shows of an account; `None` for an unknown or
    /// merged one.
    async fn member_view(
        &self,
        account: AccountId,
        program: Arc<Program>,
    ) -> Result<Option<portal::MemberView>, StoreError>;

    /// Records the use of a portal link by its nonce: true the first time,
    /// false after (a link works once).
    async fn use_portal_link(
        &self,
        nonce: String,
        purpose: String,
        account: AccountId,
        contact: i64,
    ) -> Result<bool, StoreError>;

    /// Whether a portal link or session was used up (a link opened, a
    /// session signed out).
    async fn portal_link_used(&self, nonce: String) -> Result<bool, StoreError>;

    /// The reward statements recorded for a period.
    async fn statements(
        &self,
        period: String,
    ) -> Result<Vec<statements::StatementRecord>, StoreError>;

    /// Records a statement's attempt (`at` is the store's clock); one sent
    /// stays sent.
    async fn record_statement(&self, record: statements::StatementRecord)
    -> Result<(), StoreError>;
}
