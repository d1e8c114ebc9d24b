//! The program's rules end to end through the SQLite store, with a clock the
//! test moves: earning multipliers, minimum order, per-order and per-period
//! caps, milestone bonuses, tiers (upgrade at once, downgrade after grace),
//! engagement rewards with limits, identity resolution across connectors,
//! two-phase redemptions, contract membership and points expiry. Every
//! expected figure is computed by hand in the comments.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

#[path = "common/fixture.rs"]
mod fixture;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use loyaltyd::core::event::{
    AccountUpsert, Contract, ContractStatus, Engagement, EngagementAction, Event, Money, Purchase,
    PurchaseLine, PurchaseStatus, Refund,
};
use loyaltyd::core::ledger::EntryKind;
use loyaltyd::core::program::{
    EngagementKind, EngagementLimit, EngagementRule, Enrollment, Expiry, Fulfilment, Milestone,
    Multiplier, MultiplierTarget, Period, PeriodCap, Program, Reward, RewardKind, Rounding, Tier,
    TierRules,
};
use loyaltyd::core::rewards::{RedemptionError, RedemptionStatus};
use loyaltyd::runtime::Clock;
use loyaltyd::store::sqlite::SqliteStore;
use loyaltyd::store::{
    AccountChange, ChangeOutcome, CompletionResult, RedeemOutcome, RedeemRequest, SettleOutcome,
    SettleRequest, Store, StoreOptions,
};
use rust_decimal::Decimal;

/// 2026-03-02T00:00:00Z.
const T0: i64 = 1_772_409_600_000;
const DAY: i64 = 86_400_000;

struct TestClock(AtomicI64);

impl Clock for TestClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

fn dec(text: &str) -> Decimal {
    text.parse().unwrap()
}

fn tier(id: &str, min_spend: &str, multiplier: &str) -> Tier {
    Tier {
        id: id.to_owned(),
        name: id.to_owned(),
        min_spend: dec(min_spend),
        discount_percent: Decimal::ZERO,
        earn_multiplier: dec(multiplier),
        perks: Vec::new(),
    }
}

fn reward(id: &str, points: i64, stock: Option<u32>, tiers: &[&str]) -> Reward {
    Reward {
        id: id.to_owned(),
        name: id.to_owned(),
        kind: RewardKind::GiftCard,
        points,
        value: None,
        stock,
        tiers: tiers.iter().map(|t| (*t).to_owned()).collect(),
        fulfilment: Fulfilment::Manual,
        description: String::new(),
    }
}

fn program() -> Program {
    let mut p = Program::basic("EUR", Decimal::ONE, Rounding::Floor);
    p.version = "rules-test".to_owned();
    p.exchange_rates = BTreeMap::from([("USD".to_owned(), dec("0.9"))]);
    p.earning.min_order = Some(dec("100"));
    p.earning.order_cap = Some(5000);
    p.earning.period_cap = Some(PeriodCap {
        points: 20_000,
        period: Period::Year,
    });
    p.earning.multipliers = vec![
        Multiplier {
            target: MultiplierTarget::Category("spare-parts".to_owned()),
            factor: dec("2"),
        },
        Multiplier {
            target: MultiplierTarget::Sku("DRILL-9".to_owned()),
            factor: dec("3"),
        },
        Multiplier {
            target: MultiplierTarget::Tag("strategic".to_owned()),
            factor: dec("1.5"),
        },
    ];
    p.milestones = vec![Milestone {
        id: "spend-10k".to_owned(),
        spend: dec("10000"),
        window_days: 365,
        points: 1000,
    }];
    p.engagement = vec![
        EngagementRule {
            kind: EngagementKind::NpsResponse,
            points: 50,
            limit: Some(EngagementLimit {
                count: 1,
                period: Period::Quarter,
            }),
        },
        EngagementRule {
            kind: EngagementKind::EventAttended,
            points: 200,
            limit: None,
        },
    ];
    p.tiers = TierRules {
        window_days: 365,
        grace_days: 90,
        tiers: vec![
            tier("silver", "0", "1"),
            tier("gold", "5000", "1.25"),
            tier("platinum", "20000", "1.5"),
        ],
    };
    p.rewards = vec![
        reward("gift-card-50", 500, Some(1), &[]),
        reward("training", 2000, None, &["gold", "platinum"]),
    ];
    p.expiry = Some(Expiry { after_days: 365 });
    p
}

struct Harness {
    store: Arc<dyn Store>,
    clock: Arc<TestClock>,
    program: Arc<Program>,
    deliveries: usize,
    _dir: tempfile::TempDir,
}

impl Harness {
    fn new(program: Program) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(TestClock(AtomicI64::new(T0)));
        let store = SqliteStore::open_with(
            &dir.path().join("loyalty.db"),
            StoreOptions {
                clock: clock.clone(),
                ..StoreOptions::default()
            },
        )
        .unwrap();
        Self {
            store: Arc::new(store),
            clock,
            program: Arc::new(program),
            deliveries: 0,
            _dir: dir,
        }
    }

    async fn send(&mut self, source: &str, events: Vec<Event>) {
        self.deliveries += 1;
        let id = format!("d{}", self.deliveries);
        let result = fixture::apply_from(&*self.store, source, &id, events, &self.program).await;
        assert!(matches!(result, CompletionResult::Applied(_)), "{result:?}");
    }

    async fn account_of(&self, source: &str, id: &str) -> i64 {
        let accounts = self.store.accounts().await.unwrap();
        accounts
            .iter()
            .find(|a| {
                a.external_refs
                    .iter()
                    .any(|r| r.source == source && r.id == id)
            })
            .unwrap_or_else(|| panic!("no account for {source}/{id} in {accounts:?}"))
            .id
    }

    async fn points(&self, account: i64) -> Vec<(EntryKind, i64)> {
        self.store
            .ledger(account)
            .await
            .unwrap()
            .iter()
            .map(|e| (e.kind, e.points))
            .collect()
    }

    async fn balance(&self, account: i64) -> i64 {
        self.points(account).await.iter().map(|(_, p)| p).sum()
    }

    async fn tier(&self, account: i64) -> Option<String> {
        self.store.account(account).await.unwrap().unwrap().tier
    }

    fn set_now(&self, at: i64) {
        self.clock.0.store(at, Ordering::SeqCst);
    }

    async fn redeem(&self, account: i64, reward: &str, key: &str) -> RedeemOutcome {
        self.store
            .redeem(RedeemRequest {
                account_id: account,
                reward_id: reward.to_owned(),
                contact: None,
                idempotency_key: key.to_owned(),
                request_sha256: format!("{account}/{reward}"),
                program: self.program.clone(),
                actor: "token:test".to_owned(),
            })
            .await
            .unwrap()
    }
}

fn company(id: &str, tax_id: Option<&str>, refs: &[(&str, &str)]) -> Event {
    Event::Account(AccountUpsert {
        source_id: id.to_owned(),
        version: 1,
        name: format!("Company {id}"),
        domain: None,
        tax_id: tax_id.map(str::to_owned),
        industry: None,
        employees: None,
        annual_revenue: None,
        country: None,
        external_refs: refs
            .iter()
            .map(|(s, i)| ((*s).to_owned(), (*i).to_owned()))
            .collect(),
    })
}

fn money(amount: &str, currency: &str) -> Money {
    Money {
        amount: dec(amount),
        currency: currency.to_owned(),
    }
}

fn line(id: &str, sku: &str, category: &str, net: &str) -> PurchaseLine {
    PurchaseLine {
        id: id.to_owned(),
        sku: Some(sku.to_owned()),
        category: Some(category.to_owned()),
        quantity: 1,
        net_amount: money(net, "EUR"),
    }
}

fn order(id: &str, account: &str, net: Money, lines: Vec<PurchaseLine>) -> Event {
    Event::Purchase(Purchase {
        source_id: id.to_owned(),
        version: 1,
        account_id: Some(account.to_owned()),
        contact_id: None,
        status: PurchaseStatus::Paid,
        placed_at: T0,
        net_amount: net,
        lines,
        referral_code: None,
    })
}

fn engagement(id: &str, account: &str, action: EngagementAction, at: i64) -> Event {
    Event::Engagement(Engagement {
        source_id: id.to_owned(),
        version: 1,
        account_id: Some(account.to_owned()),
        contact_id: None,
        action,
        occurred_at: at,
        comment: None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn earning_rules_tiers_milestones_caps_and_expiry_follow_the_program() {
    let mut h = Harness::new(program());
    h.send("shop", vec![company("acme", None, &[])]).await;
    let acme = h.account_of("shop", "acme").await;

    // Lines: 200 x sku DRILL-9 x3 + 300 x spare-parts x2 + 500 x1 = 1700.
    // No tier yet; spend 1000 then qualifies for silver.
    let lines = vec![
        line("1", "DRILL-9", "tools", "200"),
        line("2", "BRK-1", "spare-parts", "300"),
        line("3", "GLV", "safety", "500"),
    ];
    h.send(
        "shop",
        vec![order("o1", "acme", money("1000", "EUR"), lines)],
    )
    .await;
    assert_eq!(h.points(acme).await, [(EntryKind::Earn, 1700)]);
    assert_eq!(h.tier(acme).await.as_deref(), Some("silver"));

    // Silver x1: 4500. Spend 5500 reaches gold at once.
    h.send(
        "shop",
        vec![order("o2", "acme", money("4500", "EUR"), Vec::new())],
    )
    .await;
    assert_eq!(h.tier(acme).await.as_deref(), Some("gold"));

    // Tagged strategic: 5000 USD x 0.9 = 4500 EUR x gold 1.25 x tag 1.5 =
    // 8437.5, capped at 5000 per order. Spend 10000 reaches the milestone:
    // a bonus of 1000, once.
    let outcome = h
        .store
        .change_account(
            acme,
            AccountChange::Tags(BTreeSet::from(["strategic".to_owned()])),
            "token:test".to_owned(),
        )
        .await
        .unwrap();
    assert_eq!(outcome, ChangeOutcome::Changed);
    h.send(
        "shop",
        vec![order("o3", "acme", money("5000", "USD"), Vec::new())],
    )
    .await;
    // 50 EUR is below the 100 EUR minimum: no entry, but it is spend.
    h.send(
        "shop",
        vec![order("o4", "acme", money("50", "EUR"), Vec::new())],
    )
    .await;
    // 10000 x 1.875 = 18750, capped at 5000 per order; 11200 earned this year
    // leaves 8800 under the yearly cap. Spend 20050 reaches platinum.
    h.send(
        "shop",
        vec![order("o5", "acme", money("10000", "EUR"), Vec::new())],
    )
    .await;
    assert_eq!(h.tier(acme).await.as_deref(), Some("platinum"));
    // 8000 x platinum 1.5 x 1.5 = 18000, capped at 5000 per order, and only
    // 20000 - 16200 = 3800 are left this year.
    h.send(
        "shop",
        vec![order("o6", "acme", money("8000", "EUR"), Vec::new())],
    )
    .await;
    // Half of o6 refunded: floor(3800 x 4000 / 8000) = 1900 reversed.
    h.send(
        "shop",
        vec![Event::Refund(Refund {
            source_id: "r1".to_owned(),
            version: 1,
            purchase_id: "o6".to_owned(),
            net_amount: money("4000", "EUR"),
            refunded_at: T0 + 1,
            lines: Vec::new(),
        })],
    )
    .await;
    assert_eq!(
        h.points(acme).await,
        [
            (EntryKind::Earn, 1700),
            (EntryKind::Earn, 4500),
            (EntryKind::Earn, 5000),
            (EntryKind::Bonus, 1000),
            (EntryKind::Earn, 5000),
            (EntryKind::Earn, 3800),
            (EntryKind::Reverse, -1900),
        ]
    );
    assert_eq!(h.balance(acme).await, 19_100);
    let ledger = h.store.ledger(acme).await.unwrap();
    assert_eq!(ledger[2].rate.as_deref(), Some("0.9"));
    assert!(
        ledger[2]
            .reason
            .as_deref()
            .unwrap()
            .contains("tier gold x1.25; tag strategic x1.5"),
        "{:?}",
        ledger[2].reason
    );

    // Everything was earned at T0: within 90 days of T0 + 300 days it all
    // expires.
    h.set_now(T0 + 300 * DAY);
    let soon = h
        .store
        .expiring(acme, h.program.clone(), 90 * DAY)
        .await
        .unwrap();
    assert_eq!(soon.points, 19_100);

    // A year later nothing was bought in the window: platinum holds through
    // the grace period, and the unspent points expire.
    h.set_now(T0 + 366 * DAY);
    let report = h.store.run_jobs(h.program.clone()).await.unwrap();
    assert_eq!(
        (report.expirations > 0, report.points_expired),
        (true, 19_100)
    );
    assert_eq!(h.balance(acme).await, 0);
    assert_eq!(h.tier(acme).await.as_deref(), Some("platinum"));
    let again = h.store.run_jobs(h.program.clone()).await.unwrap();
    assert_eq!(again.points_expired, 0, "expiry runs once per lot");

    h.set_now(T0 + 456 * DAY);
    h.store.run_jobs(h.program.clone()).await.unwrap();
    assert_eq!(h.tier(acme).await.as_deref(), Some("silver"));
    let history: Vec<(Option<String>, String)> = h
        .store
        .tier_history(acme)
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.to, c.kind))
        .collect();
    assert_eq!(
        history,
        [
            (Some("silver".to_owned()), "upgrade".to_owned()),
            (Some("gold".to_owned()), "upgrade".to_owned()),
            (Some("platinum".to_owned()), "upgrade".to_owned()),
            (Some("silver".to_owned()), "downgrade".to_owned()),
        ]
    );
    assert!(loyaltyd::store::verify_chain(&h.store.all_ledger_entries().await.unwrap()).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_from_several_systems_are_matched_into_one() {
    let mut h = Harness::new(program());
    // The CRM and the shop know the company under the same tax id, written
    // differently.
    h.send("crm", vec![company("C-1", Some("DE 123.456"), &[])])
        .await;
    h.send("shop", vec![company("77", Some("de123456"), &[])])
        .await;
    let from_crm = h.account_of("crm", "C-1").await;
    assert_eq!(h.account_of("shop", "77").await, from_crm);

    // The ERP names the shop's id for its customer; the shop's record then
    // joins the ERP's account, whichever arrives first.
    h.send("erp", vec![company("E-9", None, &[("shop", "99")])])
        .await;
    h.send("shop", vec![company("99", None, &[])]).await;
    let erp = h.account_of("erp", "E-9").await;
    assert_eq!(h.account_of("shop", "99").await, erp);
    h.send("shop", vec![company("55", None, &[])]).await;
    h.send("erp", vec![company("E-5", None, &[("shop", "55")])])
        .await;
    assert_eq!(
        h.account_of("erp", "E-5").await,
        h.account_of("shop", "55").await
    );
    assert_eq!(h.store.accounts().await.unwrap().len(), 3);

    // A purchase through either system earns on the one account.
    h.send(
        "shop",
        vec![order("o1", "77", money("300", "EUR"), Vec::new())],
    )
    .await;
    assert_eq!(h.balance(from_crm).await, 300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redemption_reserves_points_and_a_failed_fulfilment_releases_them() {
    let mut h = Harness::new(program());
    h.send(
        "shop",
        vec![
            company("beta", None, &[]),
            order("o1", "beta", money("1000", "EUR"), Vec::new()),
        ],
    )
    .await;
    let beta = h.account_of("shop", "beta").await;
    assert_eq!(h.balance(beta).await, 1000);

    // Training is for gold and platinum; beta is silver.
    assert!(matches!(
        h.redeem(beta, "training", "k0").await,
        RedeemOutcome::Refused(RedemptionError::TierNotEligible { .. })
    ));
    let RedeemOutcome::Created(first) = h.redeem(beta, "gift-card-50", "k1").await else {
        panic!("not created")
    };
    assert_eq!(h.balance(beta).await, 500);
    assert!(matches!(
        h.redeem(beta, "gift-card-50", "k1").await,
        RedeemOutcome::Replayed(r) if r.id == first.id
    ));
    assert_eq!(
        h.redeem(beta, "training", "k1").await,
        RedeemOutcome::Conflict
    );
    // The only gift card is held.
    assert_eq!(
        h.redeem(beta, "gift-card-50", "k2").await,
        RedeemOutcome::Refused(RedemptionError::OutOfStock("gift-card-50".to_owned()))
    );

    // Fulfilment fails: the points come back, and the stock too.
    let failed = h
        .store
        .settle(SettleRequest {
            redemption_id: first.id,
            fulfilled: false,
            detail: Some("gift card provider unavailable".to_owned()),
            actor: "token:test".to_owned(),
            state: None,
        })
        .await
        .unwrap();
    assert!(matches!(failed, SettleOutcome::Settled(r) if r.status == RedemptionStatus::Failed));
    assert_eq!(h.balance(beta).await, 1000);
    let again = h
        .store
        .settle(SettleRequest {
            redemption_id: first.id,
            fulfilled: true,
            detail: None,
            actor: "token:test".to_owned(),
            state: None,
        })
        .await
        .unwrap();
    assert!(matches!(again, SettleOutcome::Conflict(_)));

    let RedeemOutcome::Created(second) = h.redeem(beta, "gift-card-50", "k3").await else {
        panic!("not created")
    };
    let done = h
        .store
        .settle(SettleRequest {
            redemption_id: second.id,
            fulfilled: true,
            detail: Some("code GC-7Q2".to_owned()),
            actor: "token:test".to_owned(),
            state: None,
        })
        .await
        .unwrap();
    assert!(matches!(done, SettleOutcome::Settled(r) if r.status == RedemptionStatus::Fulfilled));
    assert_eq!(
        h.points(beta).await,
        [
            (EntryKind::Earn, 1000),
            (EntryKind::Reserve, -500),
            (EntryKind::Release, 500),
            (EntryKind::Reserve, -500),
            (EntryKind::Release, 500),
            (EntryKind::Redeem, -500),
        ]
    );
    assert_eq!(h.balance(beta).await, 500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engagement_rewards_respect_their_limits() {
    let mut h = Harness::new(program());
    h.send("shop", vec![company("gamma", None, &[])]).await;
    let gamma = h.account_of("shop", "gamma").await;
    // One NPS response per quarter earns: the second in Q1 does not, the
    // one in Q2 does. Events attended have no limit. Repeats change nothing.
    let april = T0 + 31 * DAY;
    h.send(
        "survey",
        vec![
            engagement("n1", "gamma", EngagementAction::NpsResponse(9), T0),
            engagement("n2", "gamma", EngagementAction::NpsResponse(10), T0 + DAY),
            engagement("n3", "gamma", EngagementAction::NpsResponse(6), april),
            engagement(
                "e1",
                "gamma",
                EngagementAction::EventAttended("expo".to_owned()),
                T0,
            ),
            engagement(
                "e2",
                "gamma",
                EngagementAction::EventAttended("expo".to_owned()),
                T0,
            ),
        ],
    )
    .await;
    h.send(
        "survey",
        vec![engagement(
            "n1",
            "gamma",
            EngagementAction::NpsResponse(9),
            T0,
        )],
    )
    .await;
    // "survey" is its own source: its account "gamma" is a new placeholder
    // unless matched; the points land there.
    let survey_gamma = h.account_of("survey", "gamma").await;
    assert_ne!(survey_gamma, gamma);
    assert_eq!(
        h.points(survey_gamma).await,
        [
            (EntryKind::Bonus, 50),
            (EntryKind::Bonus, 50),
            (EntryKind::Bonus, 200),
            (EntryKind::Bonus, 200),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contract_program_counts_members_while_their_contract_runs() {
    let mut rules = program();
    rules.membership.enrollment = Enrollment::Contract;
    let mut h = Harness::new(rules);
    h.send("crm", vec![company("delta", None, &[])]).await;
    let delta = h.account_of("crm", "delta").await;
    // Not a member yet: the purchase counts as spend but earns nothing.
    h.send(
        "crm",
        vec![order("o1", "delta", money("400", "EUR"), Vec::new())],
    )
    .await;
    assert_eq!(h.balance(delta).await, 0);
    h.send(
        "crm",
        vec![Event::Contract(Contract {
            source_id: "K-1".to_owned(),
            version: 1,
            account_id: "delta".to_owned(),
            status: ContractStatus::Active,
            name: Some("Service plan".to_owned()),
            starts_at: Some(T0 - DAY),
            ends_at: Some(T0 + 30 * DAY),
            value: Some(money("12000", "EUR")),
        })],
    )
    .await;
    let detail = h.store.account(delta).await.unwrap().unwrap();
    assert_eq!(detail.membership.as_deref(), Some("active"));
    h.send(
        "crm",
        vec![order("o2", "delta", money("300", "EUR"), Vec::new())],
    )
    .await;
    assert_eq!(h.balance(delta).await, 300);
    // The contract runs out; the next job run ends the membership.
    h.set_now(T0 + 31 * DAY);
    let report = h.store.run_jobs(h.program.clone()).await.unwrap();
    assert_eq!(report.membership_changes, 1);
    assert_eq!(
        h.store.account(delta).await.unwrap().unwrap().membership,
        None
    );
}

/// Earns 1000, spends 500 on a fulfilled gift card, then the whole purchase
/// is refunded: 1000 are reversed in full.
async fn refund_after_redemption(allow_negative_balance: bool) -> Vec<(EntryKind, i64)> {
    let mut rules = program();
    rules.membership.allow_negative_balance = allow_negative_balance;
    let mut h = Harness::new(rules);
    h.send(
        "shop",
        vec![
            company("eps", None, &[]),
            order("o1", "eps", money("1000", "EUR"), Vec::new()),
        ],
    )
    .await;
    let eps = h.account_of("shop", "eps").await;
    let RedeemOutcome::Created(r) = h.redeem(eps, "gift-card-50", "k1").await else {
        panic!("not created")
    };
    h.store
        .settle(SettleRequest {
            redemption_id: r.id,
            fulfilled: true,
            detail: None,
            actor: "token:test".to_owned(),
            state: None,
        })
        .await
        .unwrap();
    h.send(
        "shop",
        vec![Event::Refund(Refund {
            source_id: "r1".to_owned(),
            version: 1,
            purchase_id: "o1".to_owned(),
            net_amount: money("1000", "EUR"),
            refunded_at: T0 + DAY,
            lines: Vec::new(),
        })],
    )
    .await;
    h.points(eps).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reversal_of_redeemed_points_is_recorded_in_full_and_never_clamped() {
    let spent = [
        (EntryKind::Earn, 1000),
        (EntryKind::Reserve, -500),
        (EntryKind::Release, 500),
        (EntryKind::Redeem, -500),
        (EntryKind::Reverse, -1000),
    ];
    // Carried: the balance is -500, repaid by later earnings.
    assert_eq!(refund_after_redemption(true).await, spent);
    // Written off: an explicit adjustment brings it back to zero.
    let mut written_off = spent.to_vec();
    written_off.push((EntryKind::Adjust, 500));
    assert_eq!(refund_after_redemption(false).await, written_off);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_judged_by_the_program_version_in_force_when_they_happened() {
    let mut v1 = program();
    v1.version = "v1".to_owned();
    v1.effective_from = Some(T0 - 100 * DAY);
    let mut v2 = v1.clone();
    v2.version = "v2".to_owned();
    v2.points_per_unit = dec("2");
    v2.effective_from = Some(T0 + 10 * DAY);
    let mut h = Harness::new(v2.clone());
    let versions = h.store.register_program(v1.clone()).await.unwrap();
    assert_eq!(versions.len(), 1);
    h.store.register_program(v2).await.unwrap();
    let mut again = v1;
    again.effective_from = None;
    let versions = h.store.register_program(again).await.unwrap();
    assert_eq!(
        versions
            .iter()
            .map(|v| (v.version.as_str(), v.effective_from))
            .collect::<Vec<_>>(),
        [("v1", T0 - 100 * DAY), ("v2", T0 + 10 * DAY)],
        "registering a version again changes nothing"
    );

    // Both arrive after v2 was registered: the one placed before v2's date
    // earns by v1 (1 per EUR), the other by v2 (2 per EUR).
    h.send("shop", vec![company("zeta", None, &[])]).await;
    let zeta = h.account_of("shop", "zeta").await;
    let mut later = order("o2", "zeta", money("300", "EUR"), Vec::new());
    if let Event::Purchase(p) = &mut later {
        p.placed_at = T0 + 20 * DAY;
    }
    h.send(
        "shop",
        vec![order("o1", "zeta", money("300", "EUR"), Vec::new()), later],
    )
    .await;
    let entries: Vec<(i64, String)> = h
        .store
        .ledger(zeta)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.points, e.rule_version))
        .collect();
    assert_eq!(entries, [(300, "v1".to_owned()), (600, "v2".to_owned())]);
}
