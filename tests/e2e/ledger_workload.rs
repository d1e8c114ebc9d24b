//! A seeded random workload against the real SQLite store, checked against
//! an independent model of the expected balances.
//!
//! Purchases move through pending -> paid -> (maybe) cancelled with growing
//! versions, partial refunds arrive before or after their purchase, account
//! records arrive late, and deliveries are repeated (a second subscription)
//! and reordered within a window. The model computes each account's final
//! balance in closed form (earned on the first paid version that was the
//! newest when it arrived; reversed = everything if cancelled, otherwise
//! floor(earned x refunded / net)); the store applies the same deliveries
//! one by one through the core. They must agree, every balance must equal
//! the sum of its entries, and every hash chain must hold.
//!
//! The seed is printed; rerun one with `LEDGER_WORKLOAD_SEED=<seed>`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    reason = "a test prints its seed and fails loudly"
)]

#[path = "common/fixture.rs"]
mod fixture;

use std::collections::BTreeMap;

use loyaltyd::core::event::{Event, Money, Purchase, PurchaseStatus, Refund};
use loyaltyd::store::sqlite::SqliteStore;
use loyaltyd::store::{CompletionResult, Store, verify_chain};
use rust_decimal::Decimal;

const OPERATIONS: usize = 10_000;
const ACCOUNTS: usize = 40;
/// Deliveries are shuffled within windows of this size: out of order, but
/// not unboundedly so, as with real vendors.
const REORDER_WINDOW: usize = 8;

fn eur(cents: i64) -> Money {
    Money {
        amount: Decimal::new(cents, 2),
        currency: "EUR".to_owned(),
    }
}

/// What the generator knows about one purchase.
struct Plan {
    account: usize,
    net_cents: i64,
    version: u64,
    cancelled: bool,
    refunded_cents: i64,
    refunds: usize,
}

/// The independent model: per purchase, what arrived.
#[derive(Default)]
struct Seen {
    newest: u64,
    status: Option<PurchaseStatus>,
    earned: Option<i64>,
    net_cents: i64,
    refunds: BTreeMap<String, i64>,
    account: usize,
}

fn expected_balances(deliveries: &[Vec<Event>], points_per_euro: i64) -> BTreeMap<usize, i64> {
    let mut seen: BTreeMap<String, Seen> = BTreeMap::new();
    for events in deliveries {
        for event in events {
            match event {
                Event::Purchase(p) => {
                    let s = seen.entry(p.source_id.clone()).or_default();
                    s.account = p
                        .account_id
                        .as_deref()
                        .unwrap()
                        .trim_start_matches('a')
                        .parse()
                        .unwrap();
                    if p.version < s.newest {
                        continue;
                    }
                    s.newest = p.version;
                    s.status = Some(p.status);
                    s.net_cents = (p.net_amount.amount * Decimal::ONE_HUNDRED)
                        .try_into()
                        .unwrap();
                    if p.status == PurchaseStatus::Paid && s.earned.is_none() {
                        // floor(net x points per euro), in whole cents arithmetic.
                        s.earned = Some(s.net_cents * points_per_euro / 100);
                    }
                }
                Event::Refund(r) => {
                    let cents: i64 = (r.net_amount.amount * Decimal::ONE_HUNDRED)
                        .try_into()
                        .unwrap();
                    seen.entry(r.purchase_id.clone())
                        .or_default()
                        .refunds
                        .entry(r.source_id.clone())
                        .or_insert(cents);
                }
                _ => {}
            }
        }
    }
    let mut balances = BTreeMap::new();
    for s in seen.values() {
        let Some(earned) = s.earned else { continue };
        let refunded: i64 = s.refunds.values().sum();
        let reversed = if s.status == Some(PurchaseStatus::Cancelled) || refunded >= s.net_cents {
            earned
        } else {
            // floor(earned x refunded / net) in integers.
            earned * refunded / s.net_cents
        };
        *balances.entry(s.account).or_default() += earned - reversed;
    }
    balances
}

/// The deliveries of one run, before reordering and duplication.
fn generate(rng: &mut fastrand::Rng) -> Vec<Vec<Event>> {
    let mut deliveries = Vec::new();
    let mut plans: Vec<Plan> = Vec::new();
    let mut next_refund = 0usize;
    while deliveries.len() < OPERATIONS {
        let roll = rng.u32(0..100);
        if plans.is_empty() || roll < 30 {
            let account = rng.usize(0..ACCOUNTS);
            let net_cents = rng.i64(1..500_000);
            plans.push(Plan {
                account,
                net_cents,
                version: 1,
                cancelled: false,
                refunded_cents: 0,
                refunds: 0,
            });
            let status = if rng.bool() {
                PurchaseStatus::Pending
            } else {
                PurchaseStatus::Paid
            };
            deliveries.push(vec![purchase(
                plans.len() - 1,
                &plans[plans.len() - 1],
                status,
            )]);
        } else if roll < 60 {
            let i = rng.usize(0..plans.len());
            let plan = &mut plans[i];
            plan.version += rng.u64(1..1_000);
            let status = if plan.cancelled || rng.u32(0..10) == 0 {
                plan.cancelled = true;
                PurchaseStatus::Cancelled
            } else {
                PurchaseStatus::Paid
            };
            deliveries.push(vec![purchase(i, &plans[i], status)]);
        } else if roll < 85 {
            let i = rng.usize(0..plans.len());
            let plan = &mut plans[i];
            let left = plan.net_cents - plan.refunded_cents;
            if left == 0 || plan.refunds >= 5 {
                continue;
            }
            let cents = if rng.u32(0..4) == 0 {
                left
            } else {
                rng.i64(1..=left)
            };
            plan.refunded_cents += cents;
            plan.refunds += 1;
            next_refund += 1;
            deliveries.push(vec![Event::Refund(Refund {
                source_id: format!("r{next_refund}"),
                version: 1,
                purchase_id: format!("o{i}"),
                net_amount: eur(cents),
                refunded_at: 0,
            })]);
        } else {
            let account = rng.usize(0..ACCOUNTS);
            deliveries.push(vec![fixture::account(
                &format!("a{account}"),
                rng.u64(1..1_000_000),
                &format!("Account {account}"),
            )]);
        }
    }
    deliveries
}

fn purchase(i: usize, plan: &Plan, status: PurchaseStatus) -> Event {
    Event::Purchase(Purchase {
        source_id: format!("o{i}"),
        version: plan.version,
        account_id: Some(format!("a{}", plan.account)),
        contact_id: None,
        status,
        placed_at: 0,
        net_amount: eur(plan.net_cents),
        lines: Vec::new(),
        referral_code: None,
    })
}

/// Reorders within windows and repeats about 6% of the deliveries later on.
fn disorder(rng: &mut fastrand::Rng, deliveries: Vec<Vec<Event>>) -> (Vec<Vec<Event>>, usize) {
    let mut arrived: Vec<Vec<Event>> = Vec::with_capacity(deliveries.len() * 11 / 10);
    for chunk in deliveries.chunks(REORDER_WINDOW) {
        let mut chunk = chunk.to_vec();
        rng.shuffle(&mut chunk);
        arrived.extend(chunk);
    }
    let duplicates = arrived.len() * 6 / 100;
    for _ in 0..duplicates {
        let copy = arrived[rng.usize(0..arrived.len())].clone();
        let at = rng.usize(0..=arrived.len());
        arrived.insert(at, copy);
    }
    (arrived, duplicates)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeded_random_workload_matches_the_model() {
    let seed = std::env::var("LEDGER_WORKLOAD_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    println!("ledger workload seed: {seed} (rerun with LEDGER_WORKLOAD_SEED={seed})");
    let mut rng = fastrand::Rng::with_seed(seed);
    let planned = generate(&mut rng);
    let (arrived, duplicates) = disorder(&mut rng, planned);
    assert!(
        duplicates * 100 >= arrived.len() * 5,
        "at least 5% duplicates"
    );

    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("loyalty.db"), 64).unwrap();
    let program = fixture::program(Decimal::from(3), "workload");
    for (n, batch) in arrived.chunks(50).enumerate() {
        let mut completions = Vec::with_capacity(batch.len());
        for (i, events) in batch.iter().enumerate() {
            let inbox_id = fixture::store_delivery(&store, &format!("{n}-{i}")).await;
            completions.push(fixture::completion(inbox_id, events.clone(), &program));
        }
        for result in store.complete(completions).await.unwrap() {
            assert!(
                matches!(result, CompletionResult::Applied(_)),
                "seed {seed}: {result:?}"
            );
        }
    }

    let expected = expected_balances(&arrived, 3);
    let accounts = store.accounts().await.unwrap();
    let mut actual = BTreeMap::new();
    for account in &accounts {
        let source_id = &account.external_refs[0].id;
        let index: usize = source_id.trim_start_matches('a').parse().unwrap();
        let entries = store.ledger(account.id).await.unwrap();
        assert_eq!(
            entries.iter().map(|e| e.points).sum::<i64>(),
            account.balance,
            "seed {seed}: account {source_id}'s balance is the sum of its entries"
        );
        if account.balance != 0 || !entries.is_empty() {
            actual.insert(index, account.balance);
        }
    }
    let expected: BTreeMap<usize, i64> = expected
        .into_iter()
        .filter(|(i, b)| *b != 0 || actual.contains_key(i))
        .collect();
    let actual: BTreeMap<usize, i64> = actual
        .into_iter()
        .filter(|(i, b)| *b != 0 || expected.contains_key(i))
        .collect();
    assert_eq!(actual, expected, "seed {seed}");
    let entries = store.all_ledger_entries().await.unwrap();
    assert!(
        verify_chain(&entries).is_empty(),
        "seed {seed}: hash chains hold"
    );
    let mut keys: Vec<&str> = entries.iter().map(|e| e.effect_key.as_str()).collect();
    keys.sort_unstable();
    let before = keys.len();
    keys.dedup();
    assert_eq!(keys.len(), before, "seed {seed}: no effect applied twice");
    println!(
        "{} deliveries ({duplicates} duplicates), {} entries, {} accounts: balances agree",
        arrived.len(),
        entries.len(),
        accounts.len()
    );
}
