//! The webhook endpoint's answers when a delivery cannot be stored: a store
//! that fails (fault injected behind the `Store` trait) or a daemon shutting
//! down must answer 503 with `Retry-After`, so the vendor delivers again.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use loyalty_e2e::test_component;
use loyaltyd::api::{Api, Endpoint, router};
use loyaltyd::core::accounts::AccountId;
use loyaltyd::core::program::{Program, Rounding};
use loyaltyd::core::rewards::RedemptionStatus;
use loyaltyd::inbox::Backlog;
use loyaltyd::runtime::{Grants, Limits, MemoryState, PluginSpec, Runtime, RuntimeOptions, Secret};
use loyaltyd::store::campaigns::{
    Batch, CampaignDefinition, CampaignOutcome, CampaignReport, CampaignView, CodeRequest,
    Transition,
};
use loyaltyd::store::cluster::{ClusterView, Lease, LeaseClaim};
use loyaltyd::store::segments::SegmentDefinition;
use loyaltyd::store::{
    AcceptanceOutcome, AccountChange, AccountDetail, AccountSummary, AdjustOutcome,
    AdjustmentRequest, Appended, AuditEntry, BatchFailure, CampaignBatch, ChainCheck,
    ChangeOutcome, Completion, CompletionResult, DeadLetter, Expiring, InboxStatus, JobReport,
    LedgerEntry, MergeOutcome, MergeRequest, MetricsCounts, NewDelivery, PageCompletion,
    PageResult, PendingCount, PollPosition, PollStream, ProgramVersion, RedeemOutcome,
    RedeemRequest, Redemption, Referral, ReferralOutcome, ReferralRequest, SettleOutcome,
    SettleRequest, Store, StoreError, StoredDelivery, TermsAcceptance, TierHistoryEntry,
};
use tokio::sync::Notify;

/// A store whose disk is gone: every call fails.
struct BrokenStore;

fn broken() -> StoreError {
    StoreError::Database("disk I/O error".to_owned())
}

#[async_trait]
impl Store for BrokenStore {
    async fn append_delivery(&self, _: NewDelivery) -> Result<Appended, StoreError> {
        Err(broken())
    }
    async fn delivery(&self, _: i64) -> Result<Option<(StoredDelivery, InboxStatus)>, StoreError> {
        Err(broken())
    }
    async fn pending_deliveries(
        &self,
        _: &str,
        _: i64,
        _: usize,
    ) -> Result<Vec<StoredDelivery>, StoreError> {
        Err(broken())
    }
    async fn pending_count(&self, _: &str) -> Result<PendingCount, StoreError> {
        Err(broken())
    }
    async fn complete(&self, _: Vec<Completion>) -> Result<Vec<CompletionResult>, StoreError> {
        Err(broken())
    }
    async fn record_attempt(&self, _: i64, _: String) -> Result<(), StoreError> {
        Err(broken())
    }
    async fn dead_letter(&self, _: i64, _: String, _: String) -> Result<(), StoreError> {
        Err(broken())
    }
    async fn dead_letters(&self, _: Option<String>) -> Result<Vec<DeadLetter>, StoreError> {
        Err(broken())
    }
    async fn accounts(&self) -> Result<Vec<AccountSummary>, StoreError> {
        Err(broken())
    }
    async fn account(&self, _: AccountId) -> Result<Option<AccountDetail>, StoreError> {
        Err(broken())
    }
    async fn ledger(&self, _: AccountId) -> Result<Vec<LedgerEntry>, StoreError> {
        Err(broken())
    }
    async fn adjust(&self, _: AdjustmentRequest) -> Result<AdjustOutcome, StoreError> {
        Err(broken())
    }
    async fn verify_ledger(&self) -> Result<ChainCheck, StoreError> {
        Err(broken())
    }
    async fn all_ledger_entries(&self) -> Result<Vec<LedgerEntry>, StoreError> {
        Err(broken())
    }
    fn state_get(&self, _: &str, _: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Err(broken())
    }
    async fn poll_position(&self, _: &str, _: PollStream) -> Result<PollPosition, StoreError> {
        Err(broken())
    }
    async fn commit_page(&self, _: PageCompletion) -> Result<PageResult, StoreError> {
        Err(broken())
    }
    async fn reset_poll(&self, _: &str, _: PollStream) -> Result<(), StoreError> {
        Err(broken())
    }
    async fn hold_lease(&self, _: LeaseClaim) -> Result<Lease, StoreError> {
        Err(broken())
    }
    async fn release_leases(&self, _: String, _: Option<String>) -> Result<(), StoreError> {
        Err(broken())
    }
    async fn cluster(&self) -> Result<ClusterView, StoreError> {
        Err(broken())
    }
    async fn run_jobs_once(
        &self,
        _: Arc<Program>,
        _: String,
        _: String,
    ) -> Result<Option<JobReport>, StoreError> {
        Err(broken())
    }
    async fn campaign_batch(
        &self,
        _: &str,
        _: &str,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        Err(broken())
    }
    async fn record_campaign_batch(&self, _: CampaignBatch) -> Result<(), StoreError> {
        Err(broken())
    }
    async fn ping(&self) -> Result<(), StoreError> {
        Err(broken())
    }
    async fn record_audit(
        &self,
        _: String,
        _: String,
        _: String,
        _: Option<serde_json::Value>,
        _: Option<serde_json::Value>,
    ) -> Result<(), StoreError> {
        Err(broken())
    }
    async fn metrics_counts(&self, _: i64, _: Vec<String>) -> Result<MetricsCounts, StoreError> {
        Err(broken())
    }
    async fn redeem(&self, _: RedeemRequest) -> Result<RedeemOutcome, StoreError> {
        Err(broken())
    }
    async fn settle(&self, _: SettleRequest) -> Result<SettleOutcome, StoreError> {
        Err(broken())
    }
    async fn redemptions(
        &self,
        _: Option<AccountId>,
        _: Option<RedemptionStatus>,
    ) -> Result<Vec<Redemption>, StoreError> {
        Err(broken())
    }
    async fn change_account(
        &self,
        _: AccountId,
        _: AccountChange,
        _: String,
    ) -> Result<ChangeOutcome, StoreError> {
        Err(broken())
    }
    async fn merge(&self, _: MergeRequest) -> Result<MergeOutcome, StoreError> {
        Err(broken())
    }
    async fn accept_terms(&self, _: TermsAcceptance) -> Result<AcceptanceOutcome, StoreError> {
        Err(broken())
    }
    async fn accepted_terms(&self, _: AccountId) -> Result<Vec<serde_json::Value>, StoreError> {
        Err(broken())
    }
    async fn audit_log(&self, _: u32) -> Result<Vec<AuditEntry>, StoreError> {
        Err(broken())
    }
    async fn replay_dead_letters(
        &self,
        _: Vec<String>,
        _: Option<i64>,
        _: String,
    ) -> Result<Vec<i64>, StoreError> {
        Err(broken())
    }
    async fn record_referral(&self, _: ReferralRequest) -> Result<ReferralOutcome, StoreError> {
        Err(broken())
    }
    async fn referrals(&self, _: AccountId) -> Result<Vec<Referral>, StoreError> {
        Err(broken())
    }
    async fn referral_code(&self, _: AccountId, _: String) -> Result<Option<String>, StoreError> {
        Err(broken())
    }
    async fn referral_code_owner(&self, _: String) -> Result<Option<AccountId>, StoreError> {
        Err(broken())
    }
    async fn commissions(
        &self,
        _: AccountId,
    ) -> Result<Vec<loyaltyd::store::payouts::CommissionView>, StoreError> {
        Err(broken())
    }
    async fn referral_report(
        &self,
        _: i64,
        _: i64,
        _: String,
    ) -> Result<loyaltyd::store::payouts::ReferralReport, StoreError> {
        Err(broken())
    }
    async fn run_payouts(
        &self,
        _: loyaltyd::core::commissions::PayoutSchedule,
        _: String,
        _: String,
    ) -> Result<Option<loyaltyd::store::payouts::Payout>, StoreError> {
        Err(broken())
    }
    async fn scores(
        &self,
        _: Arc<Program>,
    ) -> Result<
        (
            Vec<loyaltyd::core::profiles::Scored>,
            loyaltyd::core::profiles::ProgramScores,
        ),
        StoreError,
    > {
        Err(broken())
    }
    async fn define_segments(&self, _: Vec<SegmentDefinition>) -> Result<(), StoreError> {
        Err(broken())
    }
    async fn save_segment(
        &self,
        _: SegmentDefinition,
        _: String,
    ) -> Result<loyaltyd::store::segments::SaveOutcome, StoreError> {
        Err(broken())
    }
    async fn delete_segment(&self, _: String, _: String) -> Result<Option<bool>, StoreError> {
        Err(broken())
    }
    async fn segments(&self) -> Result<Vec<loyaltyd::store::segments::SegmentView>, StoreError> {
        Err(broken())
    }
    async fn segment(
        &self,
        _: String,
    ) -> Result<Option<loyaltyd::store::segments::SegmentView>, StoreError> {
        Err(broken())
    }
    async fn segment_members(
        &self,
        _: String,
        _: u32,
    ) -> Result<Option<Vec<loyaltyd::store::segments::Member>>, StoreError> {
        Err(broken())
    }
    async fn refresh_segments(
        &self,
        _: Arc<Program>,
    ) -> Result<loyaltyd::store::segments::RefreshReport, StoreError> {
        Err(broken())
    }
    async fn preview_segment(
        &self,
        _: Arc<Program>,
        _: SegmentDefinition,
        _: usize,
    ) -> Result<(usize, Vec<loyaltyd::store::segments::Member>), StoreError> {
        Err(broken())
    }
    async fn change_token(&self) -> Result<i64, StoreError> {
        Err(broken())
    }
    async fn define_campaigns(&self, _: Vec<CampaignDefinition>) -> Result<(), StoreError> {
        Err(broken())
    }
    async fn save_campaign(
        &self,
        _: CampaignDefinition,
        _: String,
    ) -> Result<CampaignOutcome, StoreError> {
        Err(broken())
    }
    async fn campaigns(&self) -> Result<Vec<CampaignView>, StoreError> {
        Err(broken())
    }
    async fn campaign(&self, _: String) -> Result<Option<CampaignView>, StoreError> {
        Err(broken())
    }
    async fn transition_campaign(
        &self,
        _: String,
        _: Transition,
        _: String,
    ) -> Result<CampaignOutcome, StoreError> {
        Err(broken())
    }
    async fn due_campaigns(&self) -> Result<Vec<CampaignView>, StoreError> {
        Err(broken())
    }
    async fn start_campaign(&self, _: String, _: Arc<Program>) -> Result<(), StoreError> {
        Err(broken())
    }
    async fn campaign_deliveries(
        &self,
        _: String,
    ) -> Result<Option<Vec<loyaltyd::store::campaigns::DeliveryView>>, StoreError> {
        Err(broken())
    }
    async fn campaign_code_requests(&self, _: String) -> Result<Vec<CodeRequest>, StoreError> {
        Err(broken())
    }
    async fn record_campaign_code(
        &self,
        _: String,
        _: AccountId,
        _: Result<String, String>,
        _: Option<(String, loyaltyd::runtime::StateWrites)>,
    ) -> Result<(), StoreError> {
        Err(broken())
    }
    async fn next_campaign_batch(
        &self,
        _: String,
        _: usize,
        _: Arc<Program>,
    ) -> Result<Option<Batch>, StoreError> {
        Err(broken())
    }
    async fn settle_campaign_batch(
        &self,
        _: String,
        _: String,
        _: Vec<(String, String)>,
    ) -> Result<(), StoreError> {
        Err(broken())
    }
    async fn fail_campaign_batch(
        &self,
        _: String,
        _: String,
        _: BatchFailure,
    ) -> Result<(), StoreError> {
        Err(broken())
    }
    async fn finish_campaign(
        &self,
        _: String,
    ) -> Result<Option<loyaltyd::core::campaigns::CampaignStatus>, StoreError> {
        Err(broken())
    }
    async fn campaign_report(&self, _: String) -> Result<Option<CampaignReport>, StoreError> {
        Err(broken())
    }
    async fn payouts(&self) -> Result<Vec<loyaltyd::store::payouts::Payout>, StoreError> {
        Err(broken())
    }
    async fn payout(&self, _: i64) -> Result<Option<loyaltyd::store::payouts::Payout>, StoreError> {
        Err(broken())
    }
    async fn mark_payout_paid(
        &self,
        _: i64,
        _: String,
        _: Option<String>,
    ) -> Result<loyaltyd::store::payouts::PaidOutcome, StoreError> {
        Err(broken())
    }
    async fn run_jobs(&self, _: Arc<Program>) -> Result<JobReport, StoreError> {
        Err(broken())
    }
    async fn expiring(
        &self,
        _: AccountId,
        _: Arc<Program>,
        _: i64,
    ) -> Result<Expiring, StoreError> {
        Err(broken())
    }
    async fn tier_history(&self, _: AccountId) -> Result<Vec<TierHistoryEntry>, StoreError> {
        Err(broken())
    }
    async fn analytics_book(
        &self,
        _: Arc<Program>,
    ) -> Result<loyaltyd::core::analytics::Book, StoreError> {
        Err(broken())
    }
    async fn member_view(
        &self,
        _: AccountId,
        _: Arc<Program>,
    ) -> Result<Option<loyaltyd::store::portal::MemberView>, StoreError> {
        Err(broken())
    }
    async fn use_portal_link(
        &self,
        _: String,
        _: String,
        _: AccountId,
        _: i64,
    ) -> Result<bool, StoreError> {
        Err(broken())
    }
    async fn portal_link_used(&self, _: String) -> Result<bool, StoreError> {
        Err(broken())
    }
    async fn statements(
        &self,
        _: String,
    ) -> Result<Vec<loyaltyd::store::statements::StatementRecord>, StoreError> {
        Err(broken())
    }
    async fn record_statement(
        &self,
        _: loyaltyd::store::statements::StatementRecord,
    ) -> Result<(), StoreError> {
        Err(broken())
    }
    async fn register_program(&self, _: Program) -> Result<Vec<ProgramVersion>, StoreError> {
        Err(broken())
    }
}

async fn serve(ready: bool) -> (String, Arc<Api>, Runtime) {
    let runtime = Runtime::new(RuntimeOptions::default()).unwrap();
    let mut grants = Grants::default();
    grants
        .secrets
        .insert("webhook".to_owned(), Secret::new("s3cret"));
    let plugin = runtime
        .load(PluginSpec {
            name: "echo".to_owned(),
            wasm: test_component("echo"),
            limits: Limits::default(),
            grants,
            state: Arc::new(MemoryState::default()),
        })
        .unwrap();
    let api = Arc::new(Api {
        endpoints: BTreeMap::from([(
            "echo".to_owned(),
            Endpoint {
                plugin,
                wake: Arc::new(Notify::new()),
                sync: None,
                backlog: Arc::new(Backlog::new(100)),
            },
        )]),
        store: Arc::new(BrokenStore),
        public_base_url: "https://loyalty.example".to_owned(),
        admin_token_sha256: Vec::new(),
        tokens: Vec::new(),
        ready: AtomicBool::new(ready),
        program: Arc::new(Program::basic(
            "EUR",
            rust_decimal::Decimal::ONE,
            Rounding::Floor,
        )),
        goals: Vec::new(),
        portal_links: None,
        statements: None,
        metrics: Default::default(),
        reloader: None,
        instance_id: "test-instance".to_owned(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = router(api.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, api, runtime)
}

async fn deliver(base: &str) -> reqwest::Response {
    let body = br#"{"order":1}"#;
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"s3cret").unwrap();
    mac.update(body);
    let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    reqwest::Client::new()
        .post(format!("{base}/webhooks/echo"))
        .header("X-Echo-Signature", signature)
        .header("X-Delivery-Id", "d-1")
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_that_cannot_be_stored_is_answered_503_with_retry_after() {
    let (base, _api, _runtime) = serve(true).await;
    let response = deliver(&base).await;
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "5");
    assert!(response.text().await.unwrap().contains("disk I/O error"));
    let ready = reqwest::get(format!("{base}/readyz")).await.unwrap();
    assert_eq!(
        ready.status(),
        503,
        "a daemon that cannot reach its store is not ready"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_shutting_down_answers_503_before_touching_the_store() {
    let (base, api, _runtime) = serve(true).await;
    api.ready.store(false, Ordering::Relaxed);
    let response = deliver(&base).await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    assert!(response.text().await.unwrap().contains("shutting down"));
}
