//! A client of the daemon's admin API (`/api/v1`, bearer token) and the
//! shapes it answers with, plus [`Snapshot`]: everything the API shows at one
//! moment, which is what tests wait on and assert against.

use std::collections::BTreeMap;

use anyhow::Context;
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// An id of an account in a source system.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ExternalRef {
    /// The connector (system).
    pub source: String,
    /// The id there, as a string: Shopify ids exceed 2^53.
    pub id: String,
    /// The entity version last applied.
    pub version: u64,
}

/// An account as `GET /api/v1/accounts` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AccountSummary {
    /// Internal id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Points balance.
    pub balance: i64,
    /// Ids in the source systems.
    pub external_refs: Vec<ExternalRef>,
}

/// A contact of an account.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Contact {
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

/// An account as `GET /api/v1/accounts/{id}` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Account {
    /// Internal id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Points balance.
    pub balance: i64,
    /// Ids in the source systems.
    pub external_refs: Vec<ExternalRef>,
    /// Verified business domain.
    pub domain: Option<String>,
    /// Tax id.
    pub tax_id: Option<String>,
    /// Industry.
    pub industry: Option<String>,
    /// Country.
    pub country: Option<String>,
    /// The tier id it holds, if any.
    #[serde(default)]
    pub tier: Option<String>,
    /// Contacts.
    pub contacts: Vec<Contact>,
}

impl Account {
    /// Whether `source` knows this account as `id`.
    pub fn is_known_as(&self, source: &str, id: &str) -> bool {
        self.external_refs
            .iter()
            .any(|r| r.source == source && r.id == id)
    }

    /// The contact `source` knows as `external_id`.
    pub fn contact(&self, source: &str, external_id: &str) -> Option<&Contact> {
        self.contacts
            .iter()
            .find(|c| c.source == source && c.external_id == external_id)
    }
}

/// A ledger entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LedgerEntry {
    /// Entry id, increasing.
    pub id: i64,
    /// `earn` or `reverse`.
    pub kind: String,
    /// Signed points.
    pub points: i64,
    /// The key that makes the effect happen once.
    pub effect_key: String,
    /// The connector of the triggering event.
    pub source: String,
    /// The purchase id.
    pub reference: String,
    /// The program rules that produced it.
    pub rule_version: String,
    /// The amount the points were computed from.
    pub amount: Option<String>,
    /// Its currency.
    pub currency: Option<String>,
    /// The exchange rate applied.
    pub rate: Option<String>,
    /// When written (ms since the epoch).
    pub created_at: i64,
}

/// An account's ledger.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Ledger {
    /// The account.
    pub account_id: i64,
    /// The sum of the entries.
    pub balance: i64,
    /// Oldest first.
    pub entries: Vec<LedgerEntry>,
}

impl Ledger {
    /// The entries of one kind.
    pub fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a LedgerEntry> + 'a {
        self.entries.iter().filter(move |e| e.kind == kind)
    }
}

/// A delivery that could not be processed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DeadLetter {
    /// Inbox id.
    pub inbox_id: i64,
    /// Connector.
    pub connector: String,
    /// The vendor's delivery id.
    pub delivery_id: String,
    /// Topic.
    pub topic: String,
    /// Why it failed.
    pub error: String,
    /// The plugin that failed on it.
    pub plugin_sha256: String,
    /// When.
    pub failed_at: i64,
}

#[derive(Deserialize)]
struct Accounts {
    accounts: Vec<AccountSummary>,
}

#[derive(Deserialize)]
struct DeadLetters {
    dead_letters: Vec<DeadLetter>,
}

/// Everything the admin API shows, read at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Every account in detail.
    pub accounts: Vec<Account>,
    /// Each account's ledger, by account id.
    pub ledgers: BTreeMap<i64, Ledger>,
    /// Every dead letter.
    pub dead_letters: Vec<DeadLetter>,
}

impl Snapshot {
    /// The account `source` knows as `id`.
    pub fn account_known_as(&self, source: &str, id: &str) -> Option<&Account> {
        self.accounts.iter().find(|a| a.is_known_as(source, id))
    }

    /// The ledger of the account `source` knows as `id`.
    pub fn ledger_of(&self, source: &str, id: &str) -> Option<&Ledger> {
        self.account_known_as(source, id)
            .and_then(|a| self.ledgers.get(&a.id))
    }

    /// The balance of the account `source` knows as `id`.
    pub fn balance_of(&self, source: &str, id: &str) -> Option<i64> {
        self.ledger_of(source, id).map(|l| l.balance)
    }

    /// What breaks the ledger's own invariants, whatever the workload: a
    /// balance that is not the sum of its entries, an effect key applied
    /// more than once.
    pub fn ledger_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut effect_keys: BTreeMap<&str, usize> = BTreeMap::new();
        for ledger in self.ledgers.values() {
            for entry in &ledger.entries {
                *effect_keys.entry(entry.effect_key.as_str()).or_default() += 1;
            }
            let sum: i64 = ledger.entries.iter().map(|e| e.points).sum();
            if sum != ledger.balance {
                problems.push(format!(
                    "account {}: balance {} is not the sum of its entries ({sum})",
                    ledger.account_id, ledger.balance
                ));
            }
        }
        for (key, count) in effect_keys {
            if count > 1 {
                problems.push(format!("effect key {key} appears {count} times"));
            }
        }
        problems
    }
}

/// Where a connector's polling stands (`GET /api/v1/connectors/{name}/sync`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SyncStatus {
    /// The connector.
    pub connector: String,
    /// Seconds between syncs.
    pub interval_seconds: u64,
    /// Whether a sync is running now.
    pub running: bool,
    /// The committed cursor, as the connector returned it.
    pub cursor: Option<String>,
    /// Pages committed since the daemon started.
    pub pages: u64,
    /// Events in those pages.
    pub events: u64,
    /// Syncs that ran to the end (`more = false`) since the daemon started.
    pub completed: u64,
    /// Syncs that stopped on an error since the daemon started.
    pub failures: u64,
    /// The last error, cleared by the next sync that completes.
    pub last_error: Option<String>,
    /// When the last sync completed (ms since the epoch).
    pub last_completed_at: Option<i64>,
    /// When the next sync starts (ms since the epoch).
    pub next_at: Option<i64>,
    /// The instance that polls, when it is not this one.
    pub polled_by: Option<String>,
}

/// Who does the shared work (`GET /api/v1/cluster`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Cluster {
    /// This daemon's name in the leases.
    pub instance: String,
    /// Every lease.
    pub leases: Vec<Lease>,
    /// The latest scheduled runs.
    pub runs: Vec<ScheduledRun>,
}

/// One lease.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Lease {
    /// What it covers (`poll:shopify`).
    pub name: String,
    /// The instance holding it.
    pub holder: String,
    /// When the holder took it.
    pub acquired_at: i64,
    /// When it lapses unless renewed.
    pub expires_at: i64,
    /// Whether the daemon asked holds it.
    pub mine: bool,
    /// Whether it has lapsed.
    pub lapsed: bool,
}

/// One run of the scheduled jobs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ScheduledRun {
    /// The job.
    pub job: String,
    /// The hour it ran for.
    pub period: String,
    /// The instance that ran it.
    pub holder: String,
    /// When it committed.
    pub at: i64,
}

/// The admin API of one daemon.
#[derive(Debug, Clone)]
pub struct AdminClient {
    client: reqwest::Client,
    base_url: String,
    token: String,
}

impl AdminClient {
    /// A client of the daemon at `base_url` using the admin `token`.
    pub fn new(base_url: &str, token: &str) -> Self {
        Self {
            client: reqwest::Client::new(),
            base_url: base_url.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
        }
    }

    /// GETs `path`; a 429 is waited out as its `Retry-After` says, as a
    /// polite client does (a test polling a snapshot of many accounts may
    /// exceed the token's rate).
    async fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let url = format!("{}{path}", self.base_url);
        let mut waits = 0;
        let response = loop {
            let response = self
                .client
                .get(&url)
                .bearer_auth(&self.token)
                .send()
                .await
                .with_context(|| format!("GET {url}"))?;
            if response.status() != reqwest::StatusCode::TOO_MANY_REQUESTS || waits == 10 {
                break response;
            }
            waits += 1;
            let seconds = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(1);
            tokio::time::sleep(std::time::Duration::from_secs(seconds)).await;
        };
        let status = response.status();
        let text = response.text().await?;
        anyhow::ensure!(status.is_success(), "GET {url}: {status}: {text}");
        serde_json::from_str(&text).with_context(|| format!("GET {url}: unexpected body {text}"))
    }

    /// `GET /api/v1/accounts`.
    pub async fn accounts(&self) -> anyhow::Result<Vec<AccountSummary>> {
        Ok(self.get::<Accounts>("/api/v1/accounts").await?.accounts)
    }

    /// `GET /api/v1/accounts/{id}`.
    pub async fn account(&self, id: i64) -> anyhow::Result<Account> {
        self.get(&format!("/api/v1/accounts/{id}")).await
    }

    /// `GET /api/v1/accounts/{id}/ledger`.
    pub async fn ledger(&self, id: i64) -> anyhow::Result<Ledger> {
        self.get(&format!("/api/v1/accounts/{id}/ledger")).await
    }

    /// `GET /api/v1/dead-letters`.
    pub async fn dead_letters(&self) -> anyhow::Result<Vec<DeadLetter>> {
        Ok(self
            .get::<DeadLetters>("/api/v1/dead-letters")
            .await?
            .dead_letters)
    }

    async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> anyhow::Result<T> {
        let url = format!("{}{path}", self.base_url);
        let response = self
            .client
            .post(&url)
            .bearer_auth(&self.token)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .send()
            .await
            .with_context(|| format!("POST {url}"))?;
        let status = response.status();
        let text = response.text().await?;
        anyhow::ensure!(status.is_success(), "POST {url}: {status}: {text}");
        serde_json::from_str(&text).with_context(|| format!("POST {url}: unexpected body {text}"))
    }

    /// `GET /api/v1/cluster`: this daemon's name, the leases and the
    /// latest scheduled runs.
    pub async fn cluster(&self) -> anyhow::Result<Cluster> {
        self.get("/api/v1/cluster").await
    }

    /// `GET /api/v1/connectors/{name}/sync`: where the connector's polling
    /// stands.
    pub async fn sync_status(&self, connector: &str) -> anyhow::Result<SyncStatus> {
        self.get(&format!("/api/v1/connectors/{connector}/sync"))
            .await
    }

    /// Waits until `connector`'s committed poll position satisfies `done`,
    /// for up to 30 s; returns the status then. The poller fetches a page
    /// while the one before it commits, so a test that holds a page at the
    /// vendor waits here for the pages before it.
    pub async fn sync_committed(
        &self,
        connector: &str,
        done: impl Fn(&SyncStatus) -> bool,
    ) -> anyhow::Result<SyncStatus> {
        self.sync_status_until(connector, 30, "commit the position awaited", done)
            .await
    }

    /// Starts a sync of `connector` now (`POST /api/v1/connectors/{name}/sync`)
    /// and waits until it has run to the end or failed; returns the status
    /// then. A sync that fails is retried by the daemon with backoff; this
    /// returns at the first failure, with `last_error` set.
    pub async fn sync(&self, connector: &str) -> anyhow::Result<SyncStatus> {
        let before = self.idle_sync_status(connector).await?;
        let _: serde_json::Value = self
            .post(
                &format!("/api/v1/connectors/{connector}/sync"),
                &serde_json::json!({}),
            )
            .await?;
        self.sync_status_until(connector, 60, "finish the sync", |now| {
            now.completed > before.completed || now.failures > before.failures
        })
        .await
    }

    /// The sync status once the poller waits for its next sync (the one
    /// the daemon starts with has run, say), so that the next sync asked
    /// for is a new one and the only one. Before its first sync and just
    /// after each, a poller that is not running has no `next_at` yet: a
    /// request then would be taken after that sync, as a second one.
    pub async fn idle_sync_status(&self, connector: &str) -> anyhow::Result<SyncStatus> {
        self.sync_status_until(connector, 60, "wait for its next sync", |status| {
            !status.running && (status.next_at.is_some() || status.polled_by.is_some())
        })
        .await
    }

    /// Reads `connector`'s sync status until `done` holds, for up to
    /// `seconds`; the error says the connector did not `what`.
    async fn sync_status_until(
        &self,
        connector: &str,
        seconds: u64,
        what: &str,
        done: impl Fn(&SyncStatus) -> bool,
    ) -> anyhow::Result<SyncStatus> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
        loop {
            let status = self.sync_status(connector).await?;
            if done(&status) {
                return Ok(status);
            }
            anyhow::ensure!(
                std::time::Instant::now() < deadline,
                "{connector} did not {what} within {seconds} s: {status:?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// `POST /api/v1/connectors/{name}/campaigns`: pushes a campaign to the
    /// accounts named in `campaign` through the connector; returns the
    /// daemon's answer (the batches' reports).
    pub async fn push_campaign(
        &self,
        connector: &str,
        campaign: &serde_json::Value,
    ) -> anyhow::Result<serde_json::Value> {
        self.post(
            &format!("/api/v1/connectors/{connector}/campaigns"),
            campaign,
        )
        .await
    }

    /// Reads every account, ledger and dead letter.
    pub async fn snapshot(&self) -> anyhow::Result<Snapshot> {
        // The API is read in several requests while the inbox worker keeps
        // applying deliveries; two equal reads in a row are one moment.
        let mut previous = self.read_all().await?;
        for _ in 0..50 {
            let next = self.read_all().await?;
            if next == previous {
                return Ok(next);
            }
            previous = next;
        }
        Ok(previous)
    }

    async fn read_all(&self) -> anyhow::Result<Snapshot> {
        let mut snapshot = Snapshot::default();
        for summary in self.accounts().await? {
            snapshot.accounts.push(self.account(summary.id).await?);
            snapshot
                .ledgers
                .insert(summary.id, self.ledger(summary.id).await?);
        }
        snapshot.dead_letters = self.dead_letters().await?;
        Ok(snapshot)
    }
}
