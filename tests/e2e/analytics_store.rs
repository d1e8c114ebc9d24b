//! The analytics of 2026Q3 read from the real SQLite store, every figure
//! checked against a value worked out by hand. The book is seeded the way
//! the daemon writes it: connector events, admin membership changes,
//! redemptions and their settlement, a referral and the scheduled jobs,
//! with a clock the test moves from step to step so that every timestamp
//! (account creation, membership change, ledger entry, redemption, tier
//! change, commission) is a known day.
//!
//! The program (below, loaded as an operator loads it) is invite-only for
//! DE and AT accounts, earns 1 point per EUR, has silver (1000 EUR) and gold
//! (5000 EUR) tiers over 365 days, expires points after 90 days, pays a
//! flat EUR 150 per qualified referral, costs EUR 300 a month to run, values
//! a point at EUR 0.01 and has a 40 % margin. An account is invited and
//! enrolled at once (`change_account` to active); purchases before that
//! earn nothing but count as revenue.
//!
//! | account | country | created | membership | paid orders (EUR) |
//! |---|---|---|---|---|
//! | A Brandt | DE | 2025-03-01 | active 2026-01-01 | 2025-06-01: 3650 (not yet a member); 2026-05-10: 1000; 2026-08-01: 4500, of which 500 refunded 2026-08-20 |
//! | B Kessler | DE | 2025-06-01 | active 2026-08-15 | 2026-04-01: 500 (not yet a member); 2026-09-10: 800 |
//! | C Alpen | AT | 2025-01-01 | never (eligible, not invited) | 2026-02-15: 100; 2026-06-01: 700 |
//! | D Lindqvist | SE | 2025-01-01 | never (not eligible) | 2025-10-01: 300; 2026-05-01: 400; 2026-07-15: 600 |
//! | E Rhein | DE | 2026-01-01 | active 2026-02-01, suspended 2026-09-01 | 2026-02-10: 10000 |
//! | F Nordwind | DE | 2026-10-15 | active 2026-10-15 | 2026-10-20: 9000 |
//!
//! Ledger, redemptions, tiers and the referral, by day:
//!
//! - A earns 1000 (05-10) and 4500 (08-01); the jobs run on 08-10 and
//!   expire the 05-10 lot, dated when it lapsed (05-10 + 90 days = 08-08):
//!   -1000; the refund reverses 4500 x 500 / 4500 = -500 (08-20). A
//!   reserves the training (2000) on 09-01, fulfilled 09-02 (reserve,
//!   release, redeem), and the mug (100) on 09-05, failed 09-06 (reserve,
//!   release). Tiers: silver on 2025-06-01 (3650 over 365 days), gold on
//!   08-01 (1000 + 4500; the 3650 has left the window); after the refund
//!   1000 + 4000 = 5000 keeps gold.
//! - B earns 800 (09-10): its first earning order qualifies the referral A
//!   recorded on 08-20, and the flat commission of 150 accrues that day.
//!   Silver on 09-10 (500 + 800).
//! - E earns 10000 (02-10, gold that day) and redeems the gift card (5000,
//!   value EUR 50) on 07-05, fulfilled 07-06. The release opens a new lot
//!   and the redeem consumes the rest of the 02-10 lot, so on 08-10 E's
//!   remaining 5000 date from 07-06 and none is due.
//! - D is silver from 07-15 (300 + 400 + 600) but never a member.
//! - F only exists after the quarter and counts nowhere in it.
//!
//! 2026Q3 is 2026-07-01 to 2026-10-01, 92 days; Q2 the quarter before.
//!
//! | figure | by hand |
//! |---|---|
//! | eligible | A, B, C, E (D is in SE; F is not known yet) = 4 |
//! | members, rate | A, B (E is suspended) = 2; 2 / 4 = 50.0 % |
//! | active, new | A and B earned in Q3 = 2; B enrolled in Q3 = 1 |
//! | issued, reversed | 4500 + 800 = 5300; 500 |
//! | redeemed, expired | 2000 + 5000 = 7000 (the failed mug does not count); 1000 |
//! | redemption rate | 7000 / (5300 - 500) = 145.83 -> 145.8 % |
//! | outstanding | A 1000 + 4500 - 1000 - 500 - 2000 = 2000, B 800, E 10000 - 5000 = 5000: 7800 |
//! | liability | 7800 x 0.01 = 78.00 |
//! | revenue members | A 4000 (net of the refund) + B 800 = 4800; per member 2400.00 |
//! | revenue non-members | C 0 + D 600 + E 0 = 600; per non-member 200.00 |
//! | incremental vs non-members | (2400 - 200) x 2 = 4400.00 |
//! | baseline | A (enrolled before Q3): 3650 in the 365 days before 2026-01-01, x 92 / 365 = 920.00 |
//! | incremental | A bought 4000 in Q3: 4000 - 920 = 3080.00 |
//! | retention | Q2 buyers: A, B (members, both back) 2 / 2 = 100.0 %; C, D (D back) 1 / 2 = 50.0 % |
//! | cohorts | 2025Q2 (A) members 100.0; 2025Q4 (D) non 100.0; 2026Q1 (C) non 0.0; 2026Q2 (B) members 100.0 |
//! | referrals | 1 qualified (A -> B), referred revenue 800 |
//! | cost | rewards 50 (gift card value) + 2000 x 0.01 = 70.00; commissions 150; fixed 3 x 300 = 900.00; total 1120.00 |
//! | roi | 3080 x 0.40 = 1232.00; (1232 - 1120) / 1120 = 10.0 % |
//! | tiers | members: none 0, silver 1 (B), gold 1 (A) |
//! | redemption mix | gift card 1 / 5000, training 1 / 2000, mug 0 / 0 |
//!
//! The goal "4 members" runs 2026-07-01 to 2026-12-31 (184 days). On
//! 2026-10-25 (116 days in, 63.0 %) A, B and F are members: 3 / 4 = 75.0 %,
//! on track. At the quarter's end (92 days, 50.0 %): 2 / 4 = 50.0 %, on
//! track.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

#[path = "common/fixture.rs"]
mod fixture;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use loyaltyd::core::analytics::{Period, Report};
use loyaltyd::core::event::{AccountUpsert, Event, Money, Purchase, PurchaseStatus, Refund};
use loyaltyd::core::goals::{Goal, Status};
use loyaltyd::core::ledger::EntryKind;
use loyaltyd::core::membership::MembershipStatus;
use loyaltyd::core::program::Program;
use loyaltyd::report;
use loyaltyd::runtime::Clock;
use loyaltyd::store::sqlite::SqliteStore;
use loyaltyd::store::{
    AccountChange, ChangeOutcome, CompletionResult, JobReport, RedeemOutcome, RedeemRequest,
    ReferralOutcome, ReferralRequest, SettleOutcome, SettleRequest, Store, StoreOptions,
};
use rust_decimal::Decimal;

const DAY: i64 = 86_400_000;
const ADMIN: &str = "token:analytics";

const CONFIG: &str = r#"
[server]
public_base_url = "https://loyalty.example.com"

[store]
type = "sqlite"
path = "loyalty.db"

[program]
currency = "EUR"
points_per_unit = "1"
rounding = "floor"
enrollment = "invite_only"

[program.eligibility]
countries = ["DE", "AT"]

[program.tiers]
window_days = 365
grace_days = 90

[[program.tiers.levels]]
id = "silver"
name = "Silver"
min_spend = "1000"

[[program.tiers.levels]]
id = "gold"
name = "Gold"
min_spend = "5000"

[[program.rewards]]
id = "gift-card-50"
name = "EUR 50 gift card"
kind = "gift_card"
points = 5000
value = { amount = "50.00", currency = "EUR" }

[[program.rewards]]
id = "training"
name = "Maintenance training"
kind = "service"
points = 2000

[[program.rewards]]
id = "mug"
name = "Rheinwerk mug"
kind = "exclusive_product"
points = 100

[program.expiry]
after_days = 90

[program.referrals]

[[program.referrals.commissions]]
id = "welcome"
kind = "flat"
amount = "150.00"

[program.scoring]
margin_percent = "40"

[program.analytics]
point_cost = "0.01"

[[program.analytics.fixed_costs]]
name = "platform"
monthly = "300"

[[goals]]
id = "members"
name = "Four member accounts by the end of the year"
metric = "members"
baseline = "0"
target = "4"
start = 2026-07-01
deadline = 2026-12-31
owner = "Head of partner sales"
"#;

/// Milliseconds at the start of `day` (`2026-07-01`), UTC.
fn at(day: &str) -> i64 {
    let parts: Vec<i64> = day.split('-').map(|p| p.parse().unwrap()).collect();
    let (year, month, day) = (parts[0], parts[1], parts[2]);
    // Days from 1970-01-01 in the proleptic Gregorian calendar, counting
    // years from March so that the leap day ends a year.
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    (era * 146_097 + day_of_era - 719_468) * DAY
}

fn dec(text: &str) -> Decimal {
    text.parse().unwrap()
}

fn eur(amount: &str) -> Money {
    Money {
        amount: dec(amount),
        currency: "EUR".to_owned(),
    }
}

struct TestClock(AtomicI64);

impl Clock for TestClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// The seeded store and what the tests read it with.
struct Seeded {
    store: Arc<dyn Store>,
    program: Arc<Program>,
    goals: Vec<Goal>,
    /// Account ids by source id.
    a: i64,
    b: i64,
    e: i64,
    _dir: tempfile::TempDir,
}

struct Seeder {
    store: Arc<dyn Store>,
    clock: Arc<TestClock>,
    program: Arc<Program>,
    deliveries: usize,
}

impl Seeder {
    fn on(&self, day: &str) {
        self.clock.0.store(at(day), Ordering::SeqCst);
    }

    fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    async fn send(&mut self, events: Vec<Event>) {
        self.deliveries += 1;
        let id = format!("d{}", self.deliveries);
        let result = fixture::apply_from(&*self.store, "shop", &id, events, &self.program).await;
        assert!(matches!(result, CompletionResult::Applied(_)), "{result:?}");
    }

    async fn company(&mut self, id: &str, name: &str, country: &str) -> i64 {
        self.send(vec![Event::Account(AccountUpsert {
            source_id: id.to_owned(),
            version: 1,
            name: name.to_owned(),
            domain: None,
            tax_id: None,
            industry: None,
            employees: None,
            annual_revenue: None,
            country: Some(country.to_owned()),
            external_refs: Vec::new(),
        })])
        .await;
        let accounts = self.store.accounts().await.unwrap();
        accounts
            .iter()
            .find(|a| a.external_refs.iter().any(|r| r.id == id))
            .unwrap_or_else(|| panic!("no account for {id}"))
            .id
    }

    /// A paid order placed now.
    async fn order(&mut self, id: &str, account: &str, amount: &str) {
        let placed_at = self.now();
        self.send(vec![Event::Purchase(Purchase {
            source_id: id.to_owned(),
            version: 1,
            account_id: Some(account.to_owned()),
            contact_id: None,
            status: PurchaseStatus::Paid,
            placed_at,
            net_amount: eur(amount),
            lines: Vec::new(),
            referral_code: None,
        })])
        .await;
    }

    async fn membership(&self, account: i64, status: MembershipStatus) -> ChangeOutcome {
        self.store
            .change_account(account, AccountChange::Membership(status), ADMIN.to_owned())
            .await
            .unwrap()
    }

    async fn join(&self, account: i64) {
        assert_eq!(
            self.membership(account, MembershipStatus::Active).await,
            ChangeOutcome::Changed
        );
    }

    /// Reserves `reward` now; returns the redemption id.
    async fn reserve(&self, account: i64, reward: &str) -> i64 {
        let outcome = self
            .store
            .redeem(RedeemRequest {
                account_id: account,
                reward_id: reward.to_owned(),
                contact: None,
                idempotency_key: format!("{account}-{reward}"),
                request_sha256: format!("{account}-{reward}"),
                program: self.program.clone(),
                actor: ADMIN.to_owned(),
            })
            .await
            .unwrap();
        let RedeemOutcome::Created(redemption) = outcome else {
            panic!("{reward} was not reserved: {outcome:?}")
        };
        redemption.id
    }

    async fn settle(&self, redemption: i64, fulfilled: bool) {
        let outcome = self
            .store
            .settle(SettleRequest {
                redemption_id: redemption,
                fulfilled,
                detail: None,
                actor: ADMIN.to_owned(),
                state: None,
            })
            .await
            .unwrap();
        assert!(matches!(outcome, SettleOutcome::Settled(_)), "{outcome:?}");
    }

    async fn run_jobs(&self) -> JobReport {
        self.store.run_jobs(self.program.clone()).await.unwrap()
    }
}

/// The book of the module documentation, the clock left on 2026-10-25.
async fn seeded() -> Seeded {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("loyalty.toml");
    std::fs::write(&path, CONFIG).unwrap();
    let config = loyaltyd::config::load_with_env(&path, &|_| None)
        .unwrap_or_else(|errors| panic!("{errors}"));
    let clock = Arc::new(TestClock(AtomicI64::new(at("2025-01-01"))));
    let store = SqliteStore::open_with(
        &dir.path().join("loyalty.db"),
        StoreOptions {
            clock: clock.clone(),
            identity: config.identity.clone(),
            ..StoreOptions::default()
        },
    )
    .unwrap();
    let store: Arc<dyn Store> = Arc::new(store);
    store
        .register_program(config.program.clone())
        .await
        .unwrap();
    let mut s = Seeder {
        store,
        clock,
        program: Arc::new(config.program),
        deliveries: 0,
    };

    s.on("2025-01-01");
    s.company("C", "Alpen Hydraulik", "AT").await;
    let d = s.company("D", "Lindqvist Maskin", "SE").await;
    s.on("2025-03-01");
    let a = s.company("A", "Brandt Armaturen", "DE").await;
    s.on("2025-06-01");
    let b = s.company("B", "Kessler Antriebe", "DE").await;
    s.order("a0", "A", "3650").await;
    s.on("2025-10-01");
    s.order("d0", "D", "300").await;
    s.on("2026-01-01");
    let e = s.company("E", "Rhein Chemie", "DE").await;
    s.join(a).await;
    s.on("2026-02-01");
    s.join(e).await;
    s.on("2026-02-10");
    s.order("e0", "E", "10000").await;
    s.on("2026-02-15");
    s.order("c0", "C", "100").await;
    s.on("2026-04-01");
    s.order("b0", "B", "500").await;
    s.on("2026-05-01");
    s.order("d1", "D", "400").await;
    s.on("2026-05-10");
    s.order("a1", "A", "1000").await;
    s.on("2026-06-01");
    s.order("c1", "C", "700").await;

    // The quarter.
    s.on("2026-07-05");
    let gift = s.reserve(e, "gift-card-50").await;
    s.on("2026-07-06");
    s.settle(gift, true).await;
    s.on("2026-07-15");
    s.order("d2", "D", "600").await;
    assert_eq!(
        s.membership(d, MembershipStatus::Active).await,
        ChangeOutcome::NotEligible(vec!["country SE is not one of DE, AT".to_owned()])
    );
    s.on("2026-08-01");
    s.order("a2", "A", "4500").await;
    s.on("2026-08-10");
    let jobs = s.run_jobs().await;
    assert_eq!(
        (jobs.expirations, jobs.points_expired, jobs.tier_changes),
        (1, 1000, 0)
    );
    s.on("2026-08-15");
    s.join(b).await;
    s.on("2026-08-20");
    s.send(vec![Event::Refund(Refund {
        source_id: "r1".to_owned(),
        version: 1,
        purchase_id: "a2".to_owned(),
        net_amount: eur("500"),
        refunded_at: s.now(),
        lines: Vec::new(),
    })])
    .await;
    let referral = s
        .store
        .record_referral(ReferralRequest {
            referrer: a,
            referred: b,
            actor: ADMIN.to_owned(),
            program: s.program.clone(),
        })
        .await
        .unwrap();
    assert!(matches!(referral, ReferralOutcome::Recorded(r) if r.qualified_at.is_none()));
    s.on("2026-09-01");
    assert_eq!(
        s.membership(e, MembershipStatus::Suspended).await,
        ChangeOutcome::Changed
    );
    let training = s.reserve(a, "training").await;
    s.on("2026-09-02");
    s.settle(training, true).await;
    s.on("2026-09-05");
    let mug = s.reserve(a, "mug").await;
    s.on("2026-09-06");
    s.settle(mug, false).await;
    s.on("2026-09-10");
    s.order("b1", "B", "800").await;

    // After the quarter.
    s.on("2026-10-15");
    let f = s.company("F", "Nordwind Logistik", "DE").await;
    s.join(f).await;
    s.on("2026-10-20");
    s.order("f0", "F", "9000").await;
    s.on("2026-10-25");

    Seeded {
        store: s.store,
        program: s.program,
        goals: config.goals,
        a,
        b,
        e,
        _dir: dir,
    }
}

impl Seeded {
    async fn q3(&self) -> Report {
        report::analytics(&*self.store, self.program.clone(), &q3())
            .await
            .unwrap()
    }
}

fn q3() -> Period {
    Period::parse("2026Q3").unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_dates_what_analytics_read_by_the_clock_and_the_events() {
    let book = seeded().await;
    // Earnings are dated by the order, expiry when the lot lapsed, the
    // refund when it was made, redemptions when reserved and settled.
    let ledger: Vec<(EntryKind, i64, i64)> = book
        .store
        .ledger(book.a)
        .await
        .unwrap()
        .iter()
        .map(|e| (e.kind, e.points, e.occurred_at))
        .collect();
    assert_eq!(
        ledger,
        [
            (EntryKind::Earn, 1000, at("2026-05-10")),
            (EntryKind::Earn, 4500, at("2026-08-01")),
            (EntryKind::Expire, -1000, at("2026-08-08")),
            (EntryKind::Reverse, -500, at("2026-08-20")),
            (EntryKind::Reserve, -2000, at("2026-09-01")),
            (EntryKind::Release, 2000, at("2026-09-02")),
            (EntryKind::Redeem, -2000, at("2026-09-02")),
            (EntryKind::Reserve, -100, at("2026-09-05")),
            (EntryKind::Release, 100, at("2026-09-06")),
        ]
    );
    let tiers: Vec<(Option<String>, Option<String>, String, i64)> = book
        .store
        .tier_history(book.a)
        .await
        .unwrap()
        .into_iter()
        .map(|t| (t.from, t.to, t.kind, t.at))
        .collect();
    assert_eq!(
        tiers,
        [
            (
                None,
                Some("silver".to_owned()),
                "upgrade".to_owned(),
                at("2025-06-01")
            ),
            (
                Some("silver".to_owned()),
                Some("gold".to_owned()),
                "upgrade".to_owned(),
                at("2026-08-01")
            ),
        ]
    );
    let referrals = book.store.referrals(book.a).await.unwrap();
    assert_eq!(referrals.len(), 1);
    assert_eq!(
        (referrals[0].referred, referrals[0].qualified_at),
        (book.b, Some(at("2026-09-10")))
    );

    let loaded = book
        .store
        .analytics_book(book.program.clone())
        .await
        .unwrap();
    let rhein = loaded.accounts.iter().find(|h| h.id == book.e).unwrap();
    assert_eq!(rhein.known_since, at("2026-01-01"));
    let changes: Vec<(i64, Option<MembershipStatus>)> =
        rhein.membership.iter().map(|c| (c.at, c.status)).collect();
    assert_eq!(
        changes,
        [
            (at("2026-02-01"), Some(MembershipStatus::Active)),
            (at("2026-09-01"), Some(MembershipStatus::Suspended)),
        ]
    );
    let commissions: Vec<(i64, Decimal)> = loaded
        .commissions
        .iter()
        .map(|c| (c.at, c.amount))
        .collect();
    assert_eq!(commissions, [(at("2026-09-10"), dec("150"))]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn participation_counts_members_at_the_quarters_end_among_the_eligible() {
    let p = seeded().await.q3().await.participation;
    assert_eq!((p.eligible, p.members), (4, 2));
    assert_eq!(p.rate, Some(dec("50.0")));
    assert_eq!((p.active_members, p.new_members), (2, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn points_of_the_quarter_and_the_liability_at_its_end() {
    let p = seeded().await.q3().await.points;
    assert_eq!(
        (p.issued, p.reversed, p.redeemed, p.expired),
        (5300, 500, 7000, 1000)
    );
    assert_eq!(p.redemption_rate, Some(dec("145.8")));
    assert_eq!(p.outstanding, 7800);
    assert_eq!(p.liability, dec("78.00"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revenue_is_net_of_refunds_against_non_members_and_the_baseline() {
    let r = seeded().await.q3().await.revenue;
    assert_eq!((r.members, r.non_members), (dec("4800"), dec("600")));
    assert_eq!(r.per_member, Some(dec("2400.00")));
    assert_eq!(r.per_non_member, Some(dec("200.00")));
    assert_eq!(r.incremental_vs_non_members, Some(dec("4400.00")));
    assert_eq!(r.baseline_members, 1);
    assert_eq!(r.baseline, dec("920.00"));
    assert_eq!(r.baseline_group_actual, dec("4000"));
    assert_eq!(r.incremental, dec("3080.00"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_of_the_previous_quarters_buyers_by_membership_and_cohort() {
    let r = seeded().await.q3().await.retention;
    assert_eq!(
        (r.members.of, r.members.count, r.members.rate),
        (2, 2, Some(dec("100.0")))
    );
    assert_eq!(
        (r.non_members.of, r.non_members.count, r.non_members.rate),
        (2, 1, Some(dec("50.0")))
    );
    let cohorts: Vec<_> = r
        .cohorts
        .iter()
        .map(|c| (c.cohort.as_str(), c.members.rate, c.non_members.rate))
        .collect();
    assert_eq!(
        cohorts,
        [
            ("2025Q2", Some(dec("100.0")), None),
            ("2025Q4", None, Some(dec("100.0"))),
            ("2026Q1", None, Some(dec("0.0"))),
            ("2026Q2", Some(dec("100.0")), None),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn referrals_cost_and_return_of_the_quarter() {
    let book = seeded().await;
    let report = book.q3().await;
    assert_eq!(report.referrals.qualified, 1);
    assert_eq!(report.referrals.referred_revenue, dec("800"));
    let top: Vec<_> = report
        .referrals
        .top_referrers
        .iter()
        .map(|r| (r.account_id, r.name.as_str(), r.qualified, r.revenue))
        .collect();
    assert_eq!(top, [(book.a, "Brandt Armaturen", 1, dec("800"))]);

    let cost = &report.cost;
    assert_eq!(cost.rewards, dec("70.00"));
    assert_eq!(cost.commissions, dec("150"));
    assert_eq!(cost.fixed, dec("900.00"));
    assert_eq!(cost.total, dec("1120.00"));
    assert_eq!(report.roi.incremental_gross_margin, Some(dec("1232.00")));
    assert_eq!(report.roi.percent, Some(dec("10.0")));
    assert!(report.notes.is_empty(), "{:?}", report.notes);
    assert_eq!(report.currency, "EUR");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_by_tier_and_fulfilled_redemptions_by_reward() {
    let report = seeded().await.q3().await;
    let tiers: Vec<_> = report
        .tiers
        .iter()
        .map(|t| (t.tier.as_deref(), t.members))
        .collect();
    assert_eq!(tiers, [(None, 0), (Some("silver"), 1), (Some("gold"), 1)]);
    let mix: Vec<_> = report
        .redemption_mix
        .iter()
        .map(|r| (r.reward.as_str(), r.redemptions, r.points))
        .collect();
    assert_eq!(
        mix,
        [
            ("gift-card-50", 1, 5000),
            ("training", 1, 2000),
            ("mug", 0, 0)
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_goal_stands_on_its_figure_from_its_start_to_now() {
    let book = seeded().await;
    let standings = report::goals(
        &*book.store,
        book.program.clone(),
        &book.goals,
        at("2026-10-25"),
    )
    .await
    .unwrap();
    assert_eq!(standings.len(), 1);
    let progress = &standings[0].progress;
    assert_eq!(progress.current, Some(dec("3")));
    assert_eq!(progress.percent, Some(dec("75.0")));
    assert_eq!(progress.elapsed_percent, dec("63.0"));
    assert_eq!(progress.status, Status::OnTrack);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quarterly_review_trends_four_quarters_ending_with_the_quarter() {
    let book = seeded().await;
    let quarter = book.q3().await;
    let review = report::quarterly(
        &*book.store,
        book.program.clone(),
        &book.goals,
        &q3(),
        at("2026-10-25"),
    )
    .await
    .unwrap();
    let labels: Vec<_> = review
        .trend
        .iter()
        .map(|r| r.period.label.as_str())
        .collect();
    assert_eq!(labels, ["2025Q4", "2026Q1", "2026Q2", "2026Q3"]);
    assert_eq!(review.trend[3], quarter);
    assert_eq!(review.quarter, quarter);
    // Goals stand at the quarter's end: 2 of 4 members with half the time
    // gone.
    let goal = &review.goals[0].progress;
    assert_eq!(
        (goal.percent, goal.elapsed_percent, goal.status),
        (Some(dec("50.0")), dec("50.0"), Status::OnTrack)
    );
    // Only the mug went unredeemed over the four quarters; both tiers have
    // members and participation is not below half.
    let topics: Vec<_> = review.recommendations.iter().map(|r| r.topic).collect();
    assert_eq!(topics, ["reward_unused"]);
    assert!(review.recommendations[0].finding.contains("`mug`"));
}
