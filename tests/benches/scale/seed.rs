//! The seed: a deterministic stream of ERP events (accounts, one contact
//! each, paid purchases) cut into `POST /api/v1/events` requests of 1,000
//! events, and a bulk writer that stores in an SQLite file what the daemon
//! stores when it receives those requests.
//!
//! The writer follows the daemon's write path step by step (inbox row,
//! account and reference, claims, contact, purchase record, earn entry
//! chained to the account's previous one, tier re-evaluation after each
//! purchase) and computes every value with the daemon's own code: the
//! events go through the host's event conversion, and earning, tiers and
//! hashes are the core's functions. It only skips the look-ups whose answer
//! it knows (a new id is new), and writes with one transaction per 64
//! requests instead of one each, on a second thread. It supports exactly
//! what the stream holds and fails on anything else; [`super::check`]
//! compares its output with the daemon's on a sample.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use anyhow::{Context as _, bail, ensure};
use loyaltyd::core::accounts::{self, AccountData, AccountId, ContactData, Upsert};
use loyaltyd::core::event::{AccountUpsert, ContactUpsert, Event, Purchase};
use loyaltyd::core::identity::{self, Candidates, IdentityRules, Resolution};
use loyaltyd::core::ledger::{Chained, EntryKind, NewEntry, chain_hash};
use loyaltyd::core::membership::{self, MembershipStatus};
use loyaltyd::core::program::Program;
use loyaltyd::core::purchases;
use loyaltyd::core::rules::EarnContext;
use loyaltyd::core::tiers::{self, SpendItem, TierChange, TierState};
use loyaltyd::runtime::convert;
use loyaltyd::runtime::wit::latest::loyalty::connector::types as wit;
use rusqlite::{Connection, OptionalExtension as _, params};
use serde_json::{Value, json};

/// The source the events are submitted under.
pub const SOURCE: &str = "erp";
/// Events per request (the events API's maximum).
pub const EVENTS_PER_REQUEST: usize = 1_000;
/// Requests per transaction of the bulk writer.
const REQUESTS_PER_COMMIT: usize = 64;
const DAY_MS: i64 = 86_400_000;
/// The first HubSpot company id; company `j` (1-based) is this plus `j`.
const HUBSPOT_COMPANY_BASE: u64 = 5_100_000;
/// The first HubSpot contact id.
const HUBSPOT_CONTACT_BASE: u64 = 6_100_000;
/// Every account's spend over the stream, on average, in cents.
const MEAN_SPEND_CENTS: u128 = 1_000_000;

const TRADES: [&str; 8] = [
    "Maschinenbau GmbH",
    "Hydraulik AG",
    "Werkzeuge KG",
    "Antriebstechnik GmbH",
    "Stahlbau GmbH",
    "Pumpen GmbH",
    "Elektro GmbH",
    "Armaturen GmbH",
];
const INDUSTRIES: [&str; 5] = [
    "Machinery",
    "Construction",
    "Automotive",
    "Chemicals",
    "Food processing",
];
/// Countries of the accounts without a HubSpot company; those with one
/// are in `AT`.
const COUNTRIES: [&str; 6] = ["DE", "FR", "NL", "IT", "ES", "PL"];
const FIRST_NAMES: [&str; 8] = [
    "Jana", "Lena", "Paul", "Anna", "Lukas", "Marie", "Felix", "Sophie",
];
const LAST_NAMES: [&str; 8] = [
    "Brandt", "Keller", "Lindner", "Vogt", "Hoffmann", "Albrecht", "Seidel", "Krueger",
];

/// What to seed.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Accounts, each with one contact.
    pub accounts: usize,
    /// Paid purchases, each earning one ledger entry.
    pub purchases: usize,
    /// Accounts that name a HubSpot company as theirs (an external
    /// reference), spread evenly; they are in Austria.
    pub claimed: usize,
    /// Seeds the purchases' accounts, amounts and currencies.
    pub seed: u64,
    /// The purchases are placed in order over the 290 days before this.
    pub now: i64,
}

impl Plan {
    /// Every event of the stream.
    pub fn events(&self) -> usize {
        2 * self.accounts + self.purchases
    }

    /// The requests the stream is cut into.
    pub fn requests(&self) -> usize {
        self.events().div_ceil(EVENTS_PER_REQUEST)
    }

    fn stride(&self) -> usize {
        (self.accounts / self.claimed.max(1)).max(1)
    }

    /// Account `index` (1-based)'s HubSpot company number `j` (1-based), if
    /// it claims one.
    fn claim(&self, index: usize) -> Option<usize> {
        let stride = self.stride();
        let j = index / stride;
        (self.claimed > 0 && index.is_multiple_of(stride) && j <= self.claimed).then_some(j)
    }

    /// The claimed companies: (account index, HubSpot company id, HubSpot
    /// contact id), in order.
    pub fn companies(&self) -> impl Iterator<Item = (usize, u64, u64)> + '_ {
        (1..=self.claimed).map(|j| {
            let j64 = u64::try_from(j).unwrap_or(u64::MAX);
            (
                j * self.stride(),
                HUBSPOT_COMPANY_BASE + j64,
                HUBSPOT_CONTACT_BASE + j64,
            )
        })
    }

    /// The stream, from its first request.
    pub fn stream(&self) -> Stream {
        Stream {
            plan: *self,
            rng: fastrand::Rng::with_seed(self.seed),
            position: 0,
            number: 0,
        }
    }

    fn mean_cents(&self) -> u128 {
        let accounts = u128::try_from(self.accounts).unwrap_or(u128::MAX);
        let purchases = u128::try_from(self.purchases.max(1)).unwrap_or(u128::MAX);
        (MEAN_SPEND_CENTS * accounts / purchases).max(100)
    }
}

/// Account `index`'s id in the ERP.
pub fn account_ref(index: usize) -> String {
    format!("C-{index:07}")
}

/// Account `index`'s name, the same in the ERP and in HubSpot.
pub fn account_name(index: usize) -> String {
    format!("{} {index}", TRADES[index % TRADES.len()])
}

/// Contact `index`'s given and family names.
pub fn contact_names(index: usize) -> (&'static str, &'static str) {
    (
        FIRST_NAMES[index % FIRST_NAMES.len()],
        LAST_NAMES[(index / FIRST_NAMES.len()) % LAST_NAMES.len()],
    )
}

/// One event of the stream.
#[derive(Debug, Clone)]
pub enum SeedEvent {
    /// Account `index` (1-based), claiming HubSpot company `claim`.
    Account {
        /// 1-based.
        index: usize,
        /// The HubSpot company id it names as its own.
        claim: Option<u64>,
        /// Its country.
        country: &'static str,
    },
    /// Account `index`'s contact.
    Contact {
        /// 1-based.
        index: usize,
    },
    /// Purchase `number` (1-based) of account `account`.
    Purchase {
        /// 1-based.
        number: usize,
        /// The buying account's index.
        account: usize,
        /// When placed.
        placed_at: i64,
        /// Net amount in cents.
        cents: u128,
        /// `EUR` or `USD`.
        currency: &'static str,
    },
}

fn money(cents: u128) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

fn employees(index: usize) -> u32 {
    u32::try_from(10 + index.wrapping_mul(7_919) % 4_990).unwrap_or(10)
}

impl SeedEvent {
    /// As the events API takes it (keys in order, so that the body is the
    /// canonical form the daemon stores).
    pub fn json(&self) -> Value {
        match self {
            Self::Account {
                index,
                claim,
                country,
            } => {
                let mut event = json!({
                    "country": country,
                    "employees": employees(*index),
                    "id": account_ref(*index),
                    "industry": INDUSTRIES[index % INDUSTRIES.len()],
                    "name": account_name(*index),
                    "type": "account",
                    "version": 1,
                });
                if let Some(company) = claim {
                    event["external_refs"] =
                        json!([{"id": company.to_string(), "system": "hubspot"}]);
                }
                event
            }
            Self::Contact { index } => {
                let (first, last) = contact_names(*index);
                json!({
                    "account_id": account_ref(*index),
                    "email": format!("buyer{index}@company{index}.example"),
                    "first_name": first,
                    "id": format!("P-{index:07}"),
                    "last_name": last,
                    "role": "Procurement",
                    "type": "contact",
                    "version": 1,
                })
            }
            Self::Purchase {
                number,
                account,
                placed_at,
                cents,
                currency,
            } => json!({
                "account_id": account_ref(*account),
                "id": format!("SO-{number:09}"),
                "net_amount": {"amount": money(*cents), "currency": currency},
                "placed_at": placed_at,
                "status": "paid",
                "type": "purchase",
                "version": 1,
            }),
        }
    }

    /// As the events API hands it to the host's conversion.
    fn wit(&self) -> wit::Event {
        match self {
            Self::Account {
                index,
                claim,
                country,
            } => wit::Event::Account(wit::Account {
                id: account_ref(*index),
                version: 1,
                name: account_name(*index),
                domain: None,
                tax_id: None,
                industry: Some(INDUSTRIES[index % INDUSTRIES.len()].to_owned()),
                employees: Some(employees(*index)),
                annual_revenue: None,
                parent_id: None,
                country: Some((*country).to_owned()),
                external_refs: claim
                    .iter()
                    .map(|c| wit::ExternalRef {
                        system: "hubspot".to_owned(),
                        id: c.to_string(),
                    })
                    .collect(),
                attributes: Vec::new(),
            }),
            Self::Contact { index } => {
                let (first, last) = contact_names(*index);
                wit::Event::Contact(wit::Contact {
                    id: format!("P-{index:07}"),
                    version: 1,
                    account_id: Some(account_ref(*index)),
                    email: Some(format!("buyer{index}@company{index}.example")),
                    first_name: Some(first.to_owned()),
                    last_name: Some(last.to_owned()),
                    role: Some("Procurement".to_owned()),
                    attributes: Vec::new(),
                })
            }
            Self::Purchase {
                number,
                account,
                placed_at,
                cents,
                currency,
            } => {
                let net_amount = wit::Money {
                    amount: money(*cents),
                    currency: (*currency).to_owned(),
                };
                wit::Event::Purchase(wit::Purchase {
                    id: format!("SO-{number:09}"),
                    version: 1,
                    account_id: Some(account_ref(*account)),
                    contact_id: None,
                    status: wit::PurchaseStatus::Paid,
                    placed_at: *placed_at,
                    total_amount: net_amount.clone(),
                    lines: Vec::new(),
                    net_amount,
                    discount_codes: Vec::new(),
                    referral_code: None,
                    attributes: Vec::new(),
                })
            }
        }
    }
}

/// One `POST /api/v1/events` request of the stream.
#[derive(Debug, Clone)]
pub struct Request {
    /// 1-based.
    pub number: usize,
    /// Its events, in order.
    pub events: Vec<SeedEvent>,
}

impl Request {
    /// Its `Idempotency-Key`.
    pub fn key(&self) -> String {
        format!("seed-{:07}", self.number)
    }

    /// Its body, canonical (sorted keys, no whitespace).
    pub fn body(&self) -> String {
        let events: Vec<Value> = self.events.iter().map(SeedEvent::json).collect();
        json!({"events": events, "source": SOURCE}).to_string()
    }
}

/// The stream's requests, in order.
#[derive(Debug)]
pub struct Stream {
    plan: Plan,
    rng: fastrand::Rng,
    position: usize,
    number: usize,
}

impl Stream {
    fn event(&mut self) -> SeedEvent {
        let plan = self.plan;
        let p = self.position;
        self.position += 1;
        if p < 2 * plan.accounts {
            let index = p / 2 + 1;
            if p.is_multiple_of(2) {
                let claim = plan.claim(index);
                SeedEvent::Account {
                    index,
                    claim: claim.map(|j| HUBSPOT_COMPANY_BASE + u64::try_from(j).unwrap_or(0)),
                    country: if claim.is_some() {
                        "AT"
                    } else {
                        COUNTRIES[index % COUNTRIES.len()]
                    },
                }
            } else {
                SeedEvent::Contact { index }
            }
        } else {
            let number = p - 2 * plan.accounts + 1;
            let span = i128::from(280 * DAY_MS);
            let offset = span * i128::try_from(number).unwrap_or(0)
                / i128::try_from(plan.purchases.max(1)).unwrap_or(1);
            SeedEvent::Purchase {
                number,
                account: self.rng.usize(1..=plan.accounts),
                placed_at: plan.now - 290 * DAY_MS + i64::try_from(offset).unwrap_or(0),
                cents: plan.mean_cents() * u128::from(self.rng.u32(10..190)) / 100,
                currency: if self.rng.u8(..10) == 0 { "USD" } else { "EUR" },
            }
        }
    }
}

impl Iterator for Stream {
    type Item = Request;

    fn next(&mut self) -> Option<Request> {
        let left = self.plan.events() - self.position;
        if left == 0 {
            return None;
        }
        self.number += 1;
        let events = (0..left.min(EVENTS_PER_REQUEST))
            .map(|_| self.event())
            .collect();
        Some(Request {
            number: self.number,
            events,
        })
    }
}

/// What the bulk writer wrote.
#[derive(Debug, Clone)]
pub struct Written {
    /// Requests (inbox rows).
    pub requests: usize,
    /// Events applied.
    pub events: usize,
    /// Ledger entries.
    pub entries: usize,
    /// Each account's balance, by account id (index 0 unused).
    pub balances: Vec<i64>,
    /// Each account's number of ledger entries, by account id.
    pub entry_counts: Vec<u32>,
}

/// Milliseconds since the epoch, as the daemon's clock reads them.
pub fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

/// A row to write, with the values the daemon's statements bind.
enum Row {
    Inbox {
        delivery_id: String,
        body: Vec<u8>,
        at: i64,
    },
    Account {
        id: AccountId,
        data: AccountData,
        tax_key: Option<String>,
        domain_key: Option<String>,
        membership: Option<&'static str>,
        at: i64,
    },
    Ref {
        external_id: String,
        account: AccountId,
        version: i64,
    },
    Claim {
        system: String,
        external_id: String,
        account: AccountId,
    },
    Contact {
        external_id: String,
        data: ContactData,
        version: i64,
    },
    Purchase {
        source: String,
        external_id: String,
        account: AccountId,
        placed_at: Option<i64>,
        record: String,
        /// What it counts for in the program currency.
        qualifying: String,
    },
    Entry {
        account: AccountId,
        entry: NewEntry,
        amount: Option<String>,
        currency: Option<String>,
        rate: Option<String>,
        created_at: i64,
        hash: String,
    },
    Tier {
        account: AccountId,
        state: TierState,
        change: Option<TierChange>,
    },
}

/// One account as the applier follows it.
struct Book {
    membership: Option<MembershipStatus>,
    tier: Option<TierState>,
    last_hash: String,
    spend: Vec<SpendItem>,
    balance: i64,
    entries: u32,
}

impl Book {
    fn new(membership: Option<MembershipStatus>) -> Self {
        Self {
            membership,
            tier: None,
            last_hash: String::new(),
            spend: Vec::new(),
            balance: 0,
            entries: 0,
        }
    }
}

/// Decides what each event writes, as the daemon's apply step does, and
/// keeps what later events of the stream need to know.
struct Applier<'a> {
    program: &'a Program,
    identity: &'a IdentityRules,
    refs: HashMap<String, AccountId>,
    claims: HashMap<(String, String), AccountId>,
    books: Vec<Book>,
    entries: usize,
}

/// Requests prepared ahead of the SQLite thread.
const PIPELINE_DEPTH: usize = 8;

/// Writes `plan`'s stream into the database at `path`, which the daemon's
/// store has created (its schema migrated) and on which `program` is
/// registered; `base_url` is the public URL of the daemon the requests are
/// recorded as sent to. One thread decides the rows, another writes them.
/// Calls `progress(events done)` after each request.
pub fn write(
    path: &Path,
    program: &Program,
    identity: &IdentityRules,
    plan: &Plan,
    base_url: &str,
    mut progress: impl FnMut(usize),
) -> anyhow::Result<Written> {
    ensure!(
        program.milestones.is_empty()
            && program.earning.period_cap.is_none()
            && program.referrals.commissions.is_empty(),
        "the bulk writer does not apply milestones, period caps or commissions"
    );
    let mut conn = Connection::open(path)?;
    conn.pragma_update(None, "synchronous", "OFF")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // KiB: 4 GiB at most, taken as the tables grow.
    conn.pragma_update(None, "cache_size", -4_194_304)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    let schema: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    ensure!(
        schema >= 3,
        "the store has not been created (schema {schema})"
    );
    let registered: Option<String> = conn
        .query_row(
            "SELECT version FROM program_versions WHERE version = ?1",
            [&program.version],
            |r| r.get(0),
        )
        .optional()?;
    ensure!(
        registered.is_some(),
        "program {} is not registered",
        program.version
    );
    let empty: i64 = conn.query_row(
        "SELECT (SELECT COUNT(*) FROM accounts) + (SELECT COUNT(*) FROM ledger) + (SELECT COUNT(*) FROM inbox)",
        [],
        |r| r.get(0),
    )?;
    ensure!(empty == 0, "the store is not empty");

    let url = format!("{}/api/v1/events", base_url.trim_end_matches('/'));
    let (send, receive) = std::sync::mpsc::sync_channel::<(usize, Vec<Row>)>(PIPELINE_DEPTH);
    std::thread::scope(|scope| {
        let producer = scope.spawn(move || -> anyhow::Result<Applier<'_>> {
            let mut applier = Applier {
                program,
                identity,
                refs: HashMap::with_capacity(plan.accounts),
                claims: HashMap::new(),
                books: vec![Book::new(None)],
                entries: 0,
            };
            for request in plan.stream() {
                let rows = applier
                    .request(&request)
                    .with_context(|| format!("request {}", request.number))?;
                if send.send((request.events.len(), rows)).is_err() {
                    break;
                }
            }
            Ok(applier)
        });
        let written = sink(&mut conn, program, &url, &receive, &mut progress);
        drop(receive);
        let applier = producer
            .join()
            .map_err(|_| anyhow::anyhow!("the applier panicked"))??;
        let (requests, events) = written?;
        Ok(Written {
            requests,
            events,
            entries: applier.entries,
            balances: applier.books.iter().map(|b| b.balance).collect(),
            entry_counts: applier.books.iter().map(|b| b.entries).collect(),
        })
    })
}

/// Writes the rows of each request as they come, one transaction per
/// [`REQUESTS_PER_COMMIT`] requests; returns the requests and events.
fn sink(
    conn: &mut Connection,
    program: &Program,
    url: &str,
    receive: &std::sync::mpsc::Receiver<(usize, Vec<Row>)>,
    progress: &mut impl FnMut(usize),
) -> anyhow::Result<(usize, usize)> {
    let (mut requests, mut events) = (0, 0);
    let mut incoming = receive.iter().peekable();
    while incoming.peek().is_some() {
        let tx = conn.transaction()?;
        for (count, rows) in incoming.by_ref().take(REQUESTS_PER_COMMIT) {
            for row in rows {
                store(&tx, program, url, row)?;
            }
            requests += 1;
            events += count;
            progress(events);
        }
        tx.commit()?;
    }
    Ok((requests, events))
}

/// One row, with the statement the daemon uses for it.
fn store(conn: &Connection, program: &Program, url: &str, row: Row) -> anyhow::Result<()> {
    match row {
        Row::Inbox {
            delivery_id,
            body,
            at,
        } => {
            // Appended as `pending`, then marked `done` by the same
            // request's apply.
            let id: i64 = conn
                .prepare_cached(
                    "INSERT INTO inbox (connector, delivery_id, topic, method, url, received_at,
                         status, processed_at)
                     VALUES (?1, ?2, 'api/events', 'POST', ?3, ?4, 'done', ?4) RETURNING id",
                )?
                .query_row(params![SOURCE, delivery_id, url, at], |row| row.get(0))?;
            conn.prepare_cached(
                "INSERT INTO inbox_bodies (inbox_id, headers, body) VALUES (?1, '[]', ?2)",
            )?
            .execute(params![id, body])?;
        }
        Row::Account {
            id,
            data: d,
            tax_key,
            domain_key,
            membership,
            at,
        } => {
            let stored: AccountId = conn
                .prepare_cached(
                    "INSERT INTO accounts (name, domain, tax_id, industry, employees, country, tax_key, domain_key,
                         membership, created_at, updated_at, annual_revenue, annual_revenue_currency)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11, ?12) RETURNING id",
                )?
                .query_row(
                    params![
                        d.name,
                        d.domain,
                        d.tax_id,
                        d.industry,
                        d.employees,
                        d.country,
                        tax_key,
                        domain_key,
                        membership,
                        at,
                        d.annual_revenue.as_ref().map(|m| m.amount.to_string()),
                        d.annual_revenue.as_ref().map(|m| m.currency.as_str()),
                    ],
                    |r| r.get(0),
                )?;
            ensure!(stored == id, "account {id} was stored as {stored}");
        }
        Row::Ref {
            external_id,
            account,
            version,
        } => {
            conn.prepare_cached(
                "INSERT INTO account_refs (source, external_id, account_id, version) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![SOURCE, external_id, account, version])?;
        }
        Row::Claim {
            system,
            external_id,
            account,
        } => {
            conn.prepare_cached(
                "INSERT INTO account_claims (system, external_id, account_id) VALUES (?1, ?2, ?3)
                 ON CONFLICT (system, external_id) DO NOTHING",
            )?
            .execute(params![system, external_id, account])?;
        }
        Row::Contact {
            external_id,
            data: d,
            version,
        } => {
            conn.prepare_cached(
                "INSERT INTO contacts (source, external_id, account_id, email, first_name, last_name, role, version)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                SOURCE,
                external_id,
                d.account,
                d.email,
                d.first_name,
                d.last_name,
                d.role,
                version
            ])?;
        }
        Row::Purchase {
            source,
            external_id,
            account,
            placed_at,
            record,
            qualifying,
        } => {
            conn.prepare_cached(
                "INSERT INTO purchases (source, external_id, account_id, placed_at, record, qualifying)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![source, external_id, account, placed_at, record, qualifying])?;
        }
        Row::Entry {
            account,
            entry,
            amount,
            currency,
            rate,
            created_at,
            hash,
        } => {
            conn.prepare_cached(
                "INSERT INTO ledger (account_id, kind, points, effect_key, source, reference, rule_version, amount,
                     currency, rate, occurred_at, created_at, hash, reason)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            )?
            .execute(params![
                account,
                entry.kind.as_str(),
                entry.points,
                entry.effect_key,
                entry.source,
                entry.reference,
                program.version,
                amount,
                currency,
                rate,
                entry.occurred_at,
                created_at,
                hash,
                entry.reason,
            ])?;
        }
        Row::Tier {
            account,
            state,
            change,
        } => {
            conn.prepare_cached(
                "INSERT INTO tier_states (account_id, tier, since, below_since) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (account_id) DO UPDATE SET tier = excluded.tier, since = excluded.since,
                     below_since = excluded.below_since",
            )?
            .execute(params![account, state.tier, state.since, state.below_since])?;
            if let Some(change) = change {
                conn.prepare_cached(
                    "INSERT INTO tier_history (account_id, from_tier, to_tier, kind, spend, at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(params![
                    account,
                    change.from,
                    change.to,
                    change.kind.as_str(),
                    change.spend.to_string(),
                    change.at
                ])?;
            }
        }
    }
    Ok(())
}

impl Applier<'_> {
    /// What `POST /api/v1/events` stores (the inbox row) and then applies
    /// (in one transaction, at one time) for one request.
    fn request(&mut self, request: &Request) -> anyhow::Result<Vec<Row>> {
        let now = now_ms();
        let mut rows = vec![Row::Inbox {
            delivery_id: format!("api:{}", request.key()),
            body: request.body().into_bytes(),
            at: now,
        }];
        for event in &request.events {
            match convert::to_core(&event.wit())? {
                Event::Account(a) => self.account(&mut rows, now, &a)?,
                Event::Contact(c) => self.contact(&mut rows, &c)?,
                Event::Purchase(p) => self.purchase(&mut rows, now, &p)?,
                other => bail!("the bulk writer does not apply {other:?}"),
            }
        }
        Ok(rows)
    }

    fn resolve(&self, id: Option<&String>) -> anyhow::Result<AccountId> {
        let id = id.context("an event without an account")?;
        self.refs
            .get(id)
            .copied()
            .with_context(|| format!("account {id} is not known yet (no placeholders in bulk)"))
    }

    fn account(&mut self, rows: &mut Vec<Row>, now: i64, a: &AccountUpsert) -> anyhow::Result<()> {
        ensure!(
            !self.refs.contains_key(&a.source_id),
            "account {} again",
            a.source_id
        );
        let Upsert::Write(record) = accounts::upsert_account(None, a) else {
            bail!("a new account is never stale");
        };
        let tax_key = a.tax_id.as_deref().and_then(identity::tax_id_key);
        let domain_key = a
            .domain
            .as_deref()
            .and_then(|d| self.identity.domain_key(d));
        ensure!(
            tax_key.is_none() && domain_key.is_none(),
            "the bulk writer does not match tax ids or domains"
        );
        let mut candidates = Candidates {
            by_external_ref: self
                .claims
                .get(&(SOURCE.to_owned(), a.source_id.clone()))
                .copied(),
            ..Candidates::default()
        };
        for (system, id) in &a.external_refs {
            if candidates.by_external_ref.is_none() && system == SOURCE {
                candidates.by_external_ref = self.refs.get(id).copied();
            }
        }
        ensure!(
            identity::resolve(self.identity, &candidates) == Resolution::New,
            "account {} matches an existing one",
            a.source_id
        );
        let membership = membership::initial_status(self.program);
        // Account ids are handed out in order from 1; the sink checks it.
        let id = AccountId::try_from(self.books.len())?;
        rows.push(Row::Account {
            id,
            data: record.data,
            tax_key,
            domain_key,
            membership: membership.map(MembershipStatus::as_str),
            at: now,
        });
        rows.push(Row::Ref {
            external_id: a.source_id.clone(),
            account: id,
            version: i64::try_from(record.version)?,
        });
        for (system, external) in &a.external_refs {
            rows.push(Row::Claim {
                system: system.clone(),
                external_id: external.clone(),
                account: id,
            });
            self.claims
                .entry((system.clone(), external.clone()))
                .or_insert(id);
        }
        self.refs.insert(a.source_id.clone(), id);
        self.books.push(Book::new(membership));
        Ok(())
    }

    fn contact(&mut self, rows: &mut Vec<Row>, c: &ContactUpsert) -> anyhow::Result<()> {
        let account = self.resolve(c.account_id.as_ref())?;
        let Upsert::Write(record) = accounts::upsert_contact(None, c, Some(account)) else {
            bail!("a new contact is never stale");
        };
        rows.push(Row::Contact {
            external_id: c.source_id.clone(),
            data: record.data,
            version: i64::try_from(record.version)?,
        });
        Ok(())
    }

    fn purchase(&mut self, rows: &mut Vec<Row>, now: i64, p: &Purchase) -> anyhow::Result<()> {
        ensure!(
            p.referral_code.is_none(),
            "the bulk writer does not attribute referrals"
        );
        let account = self.resolve(p.account_id.as_ref())?;
        let slot = usize::try_from(account)?;
        let program = self.program;
        let outcome = {
            let book = &self.books[slot];
            let tags = BTreeSet::new();
            let tier = book
                .tier
                .as_ref()
                .and_then(|t| t.tier.as_deref())
                .and_then(|id| program.tier(id));
            let context =
                (book.membership == Some(MembershipStatus::Active)).then_some(EarnContext {
                    tier,
                    tags: &tags,
                    earned_in_period: 0,
                    campaign: None,
                });
            purchases::on_purchase(None, SOURCE, p, context.as_ref(), program)?
        };
        ensure!(outcome.changed, "a new purchase always changes something");
        rows.push(Row::Purchase {
            source: outcome.record.source.clone(),
            external_id: outcome.record.id.clone(),
            account,
            placed_at: outcome.record.placed_at,
            record: serde_json::to_string(&outcome.record)?,
            qualifying: outcome.record.qualifying_amount().to_string(),
        });
        for entry in outcome.entries {
            ensure!(
                entry.kind == EntryKind::Earn,
                "the bulk writer appends earn entries only"
            );
            let row = self.append(account, entry, now)?;
            rows.push(row);
        }
        // After the spend changed: the tier, re-evaluated over the window.
        let book = &mut self.books[slot];
        if let Some(placed_at) = outcome.record.placed_at {
            book.spend.push(SpendItem {
                placed_at,
                amount: outcome.record.qualifying_amount(),
            });
        }
        let rules = &program.tiers;
        if rules.tiers.is_empty() || rules.window_days == 0 {
            return Ok(());
        }
        let since = now.saturating_sub(i64::from(rules.window_days).saturating_mul(DAY_MS));
        let items: Vec<SpendItem> = book
            .spend
            .iter()
            .filter(|i| i.placed_at > since)
            .copied()
            .collect();
        let spend = tiers::qualifying_spend(&items, rules.window_days, now);
        let decision = tiers::evaluate(rules, book.tier.as_ref(), spend, now);
        if book.tier.as_ref() != Some(&decision.state) {
            book.tier = Some(decision.state.clone());
            rows.push(Row::Tier {
                account,
                state: decision.state,
                change: decision.change,
            });
        }
        Ok(())
    }

    fn append(&mut self, account: AccountId, entry: NewEntry, now: i64) -> anyhow::Result<Row> {
        let book = &mut self.books[usize::try_from(account)?];
        let amount = entry.amount.as_ref().map(|m| m.amount.to_string());
        let currency = entry.amount.as_ref().map(|m| m.currency.clone());
        let rate = entry.rate.map(|r| r.to_string());
        let hash = chain_hash(
            &book.last_hash,
            &Chained {
                account_id: account,
                kind: entry.kind.as_str(),
                points: entry.points,
                effect_key: &entry.effect_key,
                source: &entry.source,
                reference: &entry.reference,
                rule_version: &self.program.version,
                amount: amount.as_deref(),
                currency: currency.as_deref(),
                rate: rate.as_deref(),
                occurred_at: entry.occurred_at,
                created_at: now,
                reason: entry.reason.as_deref(),
            },
        );
        book.last_hash.clone_from(&hash);
        book.balance += entry.points;
        book.entries += 1;
        self.entries += 1;
        Ok(Row::Entry {
            account,
            entry,
            amount,
            currency,
            rate,
            created_at: now,
            hash,
        })
    }
}
