//! Every rule of `examples/b2b-program.toml`, loaded as an operator loads it,
//! exercised through the SQLite store with a clock the test moves: identity
//! keys, invite-only enrollment with its eligibility rules and terms, the
//! minimum order, SKU, category
//! and tag multipliers, exchange rates, per-order and yearly caps, tier
//! multipliers, upgrades and the downgrade grace period, both milestones,
//! every engagement rule and its limit, referrals, itemized refunds, every
//! reward (tier eligibility, stock, two-phase redemption) and expiry. The
//! expected ledger entries are computed by hand in the comments.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

#[path = "common/fixture.rs"]
mod fixture;

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use loyaltyd::core::event::{
    AccountUpsert, Engagement, EngagementAction, Event, Money, Purchase, PurchaseLine,
    PurchaseStatus, Refund, RefundLine,
};
use loyaltyd::core::ledger::EntryKind;
use loyaltyd::core::membership::MembershipStatus;
use loyaltyd::core::program::Program;
use loyaltyd::core::rewards::{RedemptionError, RedemptionStatus};
use loyaltyd::runtime::Clock;
use loyaltyd::store::sqlite::SqliteStore;
use loyaltyd::store::{
    AcceptanceOutcome, AccountChange, ChangeOutcome, CompletionResult, RedeemOutcome,
    RedeemRequest, ReferralOutcome, ReferralRequest, SettleOutcome, SettleRequest, Store,
    StoreOptions, TermsAcceptance,
};
use rust_decimal::Decimal;

/// 2026-09-01T00:00:00Z: the 2026-07 terms are in force.
const T0: i64 = 1_788_220_800_000;
const DAY: i64 = 86_400_000;
const ADMIN: &str = "token:example";

struct TestClock(AtomicI64);

impl Clock for TestClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

struct Example {
    store: Arc<dyn Store>,
    clock: Arc<TestClock>,
    program: Arc<Program>,
    deliveries: usize,
    _dir: tempfile::TempDir,
}

/// The example as `loyaltyd validate` reads it.
fn example() -> loyaltyd::config::Config {
    loyalty_e2e::official_plugin("shopify");
    let path = loyalty_e2e::repo_root().join("examples/b2b-program.toml");
    let env = |name: &str| match name {
        "SHOPIFY_WEBHOOK_SECRET" | "SHOPIFY_ADMIN_TOKEN" => Some(OsString::from("secret")),
        _ => None,
    };
    loyaltyd::config::load_with_env(&path, &env).unwrap_or_else(|errors| panic!("{errors}"))
}

impl Example {
    async fn start() -> Self {
        let config = example();
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(TestClock(AtomicI64::new(T0)));
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
        Self {
            store,
            clock,
            program: Arc::new(config.program),
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
            .unwrap_or_else(|| panic!("no account for {source}/{id}"))
            .id
    }

    async fn entries(&self, account: i64) -> Vec<(EntryKind, i64)> {
        self.store
            .ledger(account)
            .await
            .unwrap()
            .iter()
            .map(|e| (e.kind, e.points))
            .collect()
    }

    /// Entries appended since the account had `before` of them.
    async fn new_entries(&self, account: i64, before: usize) -> Vec<(EntryKind, i64)> {
        self.entries(account).await.split_off(before)
    }

    async fn balance(&self, account: i64) -> i64 {
        self.entries(account).await.iter().map(|(_, p)| p).sum()
    }

    async fn tier(&self, account: i64) -> Option<String> {
        self.store.account(account).await.unwrap().unwrap().tier
    }

    /// Invites the account and has its buyer accept the terms in force.
    async fn enroll(&self, account: i64) {
        self.store
            .change_account(
                account,
                AccountChange::Membership(MembershipStatus::Invited),
                ADMIN.to_owned(),
            )
            .await
            .unwrap();
        let outcome = self
            .store
            .accept_terms(TermsAcceptance {
                account_id: account,
                version: "2026-07".to_owned(),
                contact: "buyer@example.com".to_owned(),
                actor: ADMIN.to_owned(),
                program: self.program.clone(),
            })
            .await
            .unwrap();
        assert_eq!(outcome, AcceptanceOutcome::Recorded { enrolled: true });
    }

    async fn redeem(&self, account: i64, reward: &str) -> RedeemOutcome {
        self.store
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
            .unwrap()
    }

    async fn settle(&self, redemption: i64, fulfilled: bool) -> SettleOutcome {
        self.store
            .settle(SettleRequest {
                redemption_id: redemption,
                fulfilled,
                detail: None,
                actor: ADMIN.to_owned(),
                state: None,
            })
            .await
            .unwrap()
    }

    async fn redeem_and_settle(&self, account: i64, reward: &str, fulfilled: bool) {
        let RedeemOutcome::Created(redemption) = self.redeem(account, reward).await else {
            panic!("{reward} was not reserved")
        };
        assert!(matches!(
            self.settle(redemption.id, fulfilled).await,
            SettleOutcome::Settled(_)
        ));
    }
}

fn company(id: &str, tax_id: Option<&str>, domain: Option<&str>) -> Event {
    Event::Account(AccountUpsert {
        source_id: id.to_owned(),
        version: 1,
        name: format!("Company {id}"),
        domain: domain.map(str::to_owned),
        tax_id: tax_id.map(str::to_owned),
        industry: Some("Manufacturing".to_owned()),
        employees: Some(120),
        annual_revenue: None,
        country: Some("DE".to_owned()),
        external_refs: Vec::new(),
    })
}

fn eur(amount: &str) -> Money {
    Money {
        amount: amount.parse().unwrap(),
        currency: "EUR".to_owned(),
    }
}

fn line(id: &str, sku: &str, category: &str, net: &str) -> PurchaseLine {
    PurchaseLine {
        id: id.to_owned(),
        sku: Some(sku.to_owned()),
        category: Some(category.to_owned()),
        quantity: 1,
        net_amount: eur(net),
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

fn engaged(id: &str, account: &str, action: EngagementAction) -> Event {
    Event::Engagement(Engagement {
        source_id: id.to_owned(),
        version: 1,
        account_id: Some(account.to_owned()),
        contact_id: None,
        action,
        occurred_at: T0,
        comment: None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rule_of_the_example_program_earns_what_it_says() {
    let mut p = Example::start().await;
    let version = p.program.version.clone();

    // Identity: the shop, the ERP (same tax id, written differently) and
    // the CRM (same domain, with www.) name one company; a free-mail domain
    // from the configured list identifies nobody.
    p.send(
        "shopify",
        vec![company(
            "A",
            Some("DE 111 222 333"),
            Some("alpha-werk.example"),
        )],
    )
    .await;
    p.send("erp", vec![company("E-A", Some("de111222333"), None)])
        .await;
    p.send(
        "crm",
        vec![company("C-A", None, Some("https://www.alpha-werk.example"))],
    )
    .await;
    p.send(
        "crm",
        vec![company("C-Z", None, Some("werkstatt-mail.example"))],
    )
    .await;
    let alpha = p.account_of("shopify", "A").await;
    assert_eq!(p.account_of("erp", "E-A").await, alpha);
    assert_eq!(p.account_of("crm", "C-A").await, alpha);
    assert_ne!(p.account_of("crm", "C-Z").await, alpha);

    // Invite-only: before enrolling, a purchase earns nothing (but is spend,
    // and the eligibility rules want 1000 EUR of it).
    let early = p
        .store
        .change_account(
            alpha,
            AccountChange::Membership(MembershipStatus::Invited),
            ADMIN.to_owned(),
        )
        .await
        .unwrap();
    assert_eq!(
        early,
        ChangeOutcome::NotEligible(vec![
            "qualifying spend over 365 days is 0, below the 1000 required".to_owned()
        ])
    );
    p.send("shopify", vec![order("p0", "A", eur("1000"), Vec::new())])
        .await;
    assert_eq!(p.balance(alpha).await, 0);
    p.enroll(alpha).await;
    // A company outside the program's countries is not eligible at all.
    let mut abroad = company("F", None, Some("gamma.example"));
    if let Event::Account(a) = &mut abroad {
        a.country = Some("FR".to_owned());
        a.employees = Some(4);
    }
    p.send("shopify", vec![abroad]).await;
    let gamma = p.account_of("shopify", "F").await;
    let refused = p
        .store
        .change_account(
            gamma,
            AccountChange::Membership(MembershipStatus::Invited),
            ADMIN.to_owned(),
        )
        .await
        .unwrap();
    assert_eq!(
        refused,
        ChangeOutcome::NotEligible(vec![
            "qualifying spend over 365 days is 0, below the 1000 required".to_owned(),
            "country FR is not one of DE, AT, CH".to_owned(),
            "4 employees, below the 10 required".to_owned(),
        ])
    );

    // 200 x 3 (the valve SKU) + 300 x 2 (spare parts) + 500 = 1700; silver
    // (spend 2000) multiplies by 1.
    p.send(
        "shopify",
        vec![order(
            "p1",
            "A",
            eur("1000"),
            vec![
                line("l-valve", "RW-VALVE-DN50-PN40", "valves", "200"),
                line("l-spare", "RW-SEAL-KIT", "spare-parts", "300"),
                line("l-other", "RW-GLOVES", "safety", "500"),
            ],
        )],
    )
    .await;
    assert_eq!(p.tier(alpha).await.as_deref(), Some("silver"));
    // 200 EUR is below the 250 EUR minimum: nothing.
    p.send("shopify", vec![order("p2", "A", eur("200"), Vec::new())])
        .await;
    // 30000 USD x 0.92 = 27600 EUR, capped at 20000 per order. Spend
    // 2200 + 27600 = 29800 reaches gold (25000).
    let usd = Money {
        amount: Decimal::from(30_000),
        currency: "USD".to_owned(),
    };
    p.send("shopify", vec![order("p3", "A", usd, Vec::new())])
        .await;
    assert_eq!(p.tier(alpha).await.as_deref(), Some("gold"));
    assert_eq!(
        p.entries(alpha).await,
        [(EntryKind::Earn, 1700), (EntryKind::Earn, 20_000)]
    );

    // A new distributor: x1.5 on top of gold's x1.25. 2000 x 1.875 = 3750.
    // Spend 31800.
    p.store
        .change_account(
            alpha,
            AccountChange::Tags(BTreeSet::from(["new-distributor".to_owned()])),
            ADMIN.to_owned(),
        )
        .await
        .unwrap();
    p.send("shopify", vec![order("p4", "A", eur("2000"), Vec::new())])
        .await;
    // 20000 more: spend 51800 passes the 50k milestone (5000 bonus);
    // 20000 x 1.875 = 37500, capped at 20000.
    p.send("shopify", vec![order("p5", "A", eur("20000"), Vec::new())])
        .await;
    assert_eq!(
        p.new_entries(alpha, 2).await,
        [
            (EntryKind::Earn, 3750),
            (EntryKind::Earn, 20_000),
            (EntryKind::Bonus, 5000)
        ]
    );
    // Earned from orders this year so far: 1700 + 20000 + 3750 + 20000 =
    // 45450. Three orders of 50000 earn 50000 x gold 1.25 x 1.5 (the first,
    // which takes spend to 101800 and platinum), then x platinum 1.5 x 1.5,
    // each capped at 20000: 105450 earned.
    for id in ["p6", "p7", "p8"] {
        p.send("shopify", vec![order(id, "A", eur("50000"), Vec::new())])
            .await;
        if id == "p6" {
            assert_eq!(p.tier(alpha).await.as_deref(), Some("platinum"));
        }
    }
    // The yearly cap of 120000 leaves 14550 for the next order, whose spend
    // (251800) passes the 250k milestone (30000 bonus); the one after earns
    // nothing at all.
    p.send("shopify", vec![order("p9", "A", eur("50000"), Vec::new())])
        .await;
    p.send("shopify", vec![order("p10", "A", eur("10000"), Vec::new())])
        .await;
    assert_eq!(
        p.new_entries(alpha, 5).await,
        [
            (EntryKind::Earn, 20_000),
            (EntryKind::Earn, 20_000),
            (EntryKind::Earn, 20_000),
            (EntryKind::Earn, 14_550),
            (EntryKind::Bonus, 30_000),
        ]
    );
    let ledger = p.store.ledger(alpha).await.unwrap();
    assert!(ledger.iter().all(|e| e.rule_version == version));
    assert_eq!(ledger[1].rate.as_deref(), Some("0.92"));
    // 1700 + 20000 + 3750 + 20000 + 5000 + 3 x 20000 + 14550 + 30000.
    assert_eq!(p.balance(alpha).await, 155_000);

    // Engagement: one NPS answer per quarter (250), two surveys per quarter
    // (100 each), events attended (500); the extra ones earn nothing.
    p.send(
        "crm",
        vec![
            engaged("nps-1", "C-A", EngagementAction::NpsResponse(9)),
            engaged("nps-2", "C-A", EngagementAction::NpsResponse(10)),
            engaged(
                "s-1",
                "C-A",
                EngagementAction::SurveyAnswered("valves".to_owned()),
            ),
            engaged(
                "s-2",
                "C-A",
                EngagementAction::SurveyAnswered("portal".to_owned()),
            ),
            engaged(
                "s-3",
                "C-A",
                EngagementAction::SurveyAnswered("pricing".to_owned()),
            ),
            engaged(
                "ev-1",
                "C-A",
                EngagementAction::EventAttended("Hannover".to_owned()),
            ),
        ],
    )
    .await;
    assert_eq!(
        p.new_entries(alpha, 10).await,
        [
            (EntryKind::Bonus, 250),
            (EntryKind::Bonus, 100),
            (EntryKind::Bonus, 100),
            (EntryKind::Bonus, 500),
        ]
    );

    // A referral: alpha referred beta; beta's first qualifying order pays
    // alpha 2500, the `welcome` commission of EUR 150.00 and the
    // `first-year-share` of 3 % of 1000 = 30.00, paid as 30 points.
    p.send(
        "shopify",
        vec![company("B", None, Some("beta-gmbh.example"))],
    )
    .await;
    let beta = p.account_of("shopify", "B").await;
    // Beta qualifies for an invitation with 1000 EUR of purchases made
    // before it joined; they earn nothing.
    p.send("shopify", vec![order("b0", "B", eur("1000"), Vec::new())])
        .await;
    p.enroll(beta).await;
    let outcome = p
        .store
        .record_referral(ReferralRequest {
            referrer: alpha,
            referred: beta,
            actor: ADMIN.to_owned(),
            program: p.program.clone(),
        })
        .await
        .unwrap();
    assert!(matches!(outcome, ReferralOutcome::Recorded(r) if r.qualified_at.is_none()));
    p.send("shopify", vec![order("b1", "B", eur("1000"), Vec::new())])
        .await;
    assert_eq!(p.entries(beta).await, [(EntryKind::Earn, 1000)]);
    assert_eq!(
        p.new_entries(alpha, 14).await,
        [(EntryKind::Bonus, 2500), (EntryKind::Bonus, 30)]
    );
    let commissions: Vec<(String, String, i64)> = p
        .store
        .commissions(alpha)
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.rule, c.amount.to_string(), c.points))
        .collect();
    assert_eq!(
        commissions,
        [
            ("welcome".to_owned(), "150.00".to_owned(), 0),
            ("first-year-share".to_owned(), "0".to_owned(), 30),
        ]
    );

    // The valve line of p1 comes back: it earned 200 x 3 = 600 of p1's 1700.
    p.send(
        "shopify",
        vec![Event::Refund(Refund {
            source_id: "r1".to_owned(),
            version: 1,
            purchase_id: "p1".to_owned(),
            net_amount: eur("200"),
            refunded_at: T0 + DAY,
            lines: vec![RefundLine {
                line_id: "l-valve".to_owned(),
                quantity: 1,
                net_amount: eur("200"),
            }],
        })],
    )
    .await;
    assert_eq!(p.new_entries(alpha, 16).await, [(EntryKind::Reverse, -600)]);
    // 155000 + 950 + 2500 - 600.
    assert_eq!(p.balance(alpha).await, 157_880);

    // Rewards: platinum may take the training (60000) and the wrench
    // (40000); the Shopify discount (25000) is reserved, then its
    // fulfilment fails and releases the points; the gift card (10000) is
    // for everyone. Beta (silver) may not take the VIP day.
    p.redeem_and_settle(alpha, "maintenance-training", true)
        .await;
    p.redeem_and_settle(alpha, "torque-wrench-pro", true).await;
    p.redeem_and_settle(alpha, "discount-250", false).await;
    p.redeem_and_settle(alpha, "gift-card-100", true).await;
    assert!(matches!(
        p.redeem(beta, "hannover-messe-vip").await,
        RedeemOutcome::Refused(RedemptionError::TierNotEligible { .. })
    ));
    assert!(matches!(
        p.redeem(beta, "gift-card-100").await,
        RedeemOutcome::Refused(RedemptionError::InsufficientPoints {
            balance: 1000,
            cost: 10_000
        })
    ));
    let redemptions = p.store.redemptions(Some(alpha), None).await.unwrap();
    let statuses: Vec<(&str, RedemptionStatus)> = redemptions
        .iter()
        .rev()
        .map(|r| (r.reward_id.as_str(), r.status))
        .collect();
    assert_eq!(
        statuses,
        [
            ("maintenance-training", RedemptionStatus::Fulfilled),
            ("torque-wrench-pro", RedemptionStatus::Fulfilled),
            ("discount-250", RedemptionStatus::Failed),
            ("gift-card-100", RedemptionStatus::Fulfilled),
        ]
    );
    assert_eq!(redemptions[1].fulfilment, "connector:shopify");
    // 157850 - 60000 - 40000 - 10000.
    assert_eq!(p.balance(alpha).await, 47_880);

    // A year without orders: platinum holds for the 90-day grace period,
    // then the account falls to the tier its spend (none) qualifies for.
    p.clock.0.store(T0 + 366 * DAY, Ordering::SeqCst);
    p.store.run_jobs(p.program.clone()).await.unwrap();
    assert_eq!(p.tier(alpha).await.as_deref(), Some("platinum"));
    p.clock.0.store(T0 + 457 * DAY, Ordering::SeqCst);
    p.store.run_jobs(p.program.clone()).await.unwrap();
    assert_eq!(p.tier(alpha).await.as_deref(), Some("silver"));

    // 730 days after they were earned, the unspent points expire.
    let soon = p
        .store
        .expiring(alpha, p.program.clone(), 300 * DAY)
        .await
        .unwrap();
    assert_eq!(soon.points, 47_880);
    p.clock.0.store(T0 + 732 * DAY, Ordering::SeqCst);
    let report = p.store.run_jobs(p.program.clone()).await.unwrap();
    assert_eq!(report.points_expired, 47_880 + 1000);
    assert_eq!((p.balance(alpha).await, p.balance(beta).await), (0, 0));
    assert!(loyaltyd::store::verify_chain(&p.store.all_ledger_entries().await.unwrap()).is_empty());
}
