//! The store conformance suite: behaviour every backend must have. Each test
//! runs against every backend in [`backends`].

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

#[path = "common/fixture.rs"]
mod fixture;

use std::sync::Arc;

use loyalty_e2e::postgres::postgres_database;
use loyaltyd::config::schema::DEFAULT_POSTGRES_POOL_SIZE;
use loyaltyd::core::event::{ContactUpsert, Event, Money, Purchase, PurchaseStatus, Refund};
use loyaltyd::core::program::Program;
use loyaltyd::store::cluster::LeaseClaim;
use loyaltyd::store::postgres::PostgresStore;
use loyaltyd::store::sqlite::SqliteStore;
use loyaltyd::store::{
    Appended, Completion, CompletionResult, NewDelivery, PageCompletion, PollPosition, PollStream,
    Store, StoreError, StoreOptions,
};
use rust_decimal::Decimal;

/// Where a backend keeps a store's data, new and empty: made once, opened
/// as often as a test needs.
enum Place {
    /// A directory for the database file.
    Sqlite(tempfile::TempDir),
    /// A database of its own on the test server.
    Postgres(String),
}

impl Place {
    fn open(&self) -> Arc<dyn Store> {
        match self {
            Self::Sqlite(dir) => {
                Arc::new(SqliteStore::open(&dir.path().join("loyalty.db"), 64).unwrap())
            }
            Self::Postgres(url) => Arc::new(
                PostgresStore::open(
                    url,
                    None,
                    DEFAULT_POSTGRES_POOL_SIZE,
                    StoreOptions::default(),
                )
                .unwrap(),
            ),
        }
    }
}

/// Every backend, each with a new place of its own.
fn backends() -> Vec<(&'static str, Place)> {
    vec![
        ("sqlite", Place::Sqlite(tempfile::tempdir().unwrap())),
        ("postgres", Place::Postgres(postgres_database())),
    ]
}

fn program() -> Arc<Program> {
    fixture::program(Decimal::ONE, "test-rules")
}

fn delivery(id: &str) -> NewDelivery {
    NewDelivery {
        connector: "shop".to_owned(),
        delivery_id: id.to_owned(),
        topic: "orders/paid".to_owned(),
        method: "POST".to_owned(),
        url: "https://loyalty.example/webhooks/shop".to_owned(),
        headers: vec![("X-Id".to_owned(), id.to_owned())],
        body: format!("{{\"id\":\"{id}\"}}").into_bytes(),
        received_at: 1,
    }
}

fn eur(amount: &str) -> Money {
    Money {
        amount: amount.parse().unwrap(),
        currency: "EUR".to_owned(),
    }
}

fn account(id: &str, version: u64, name: &str) -> Event {
    fixture::account(id, version, name)
}

fn paid(order: &str, account: &str, net: &str) -> Event {
    Event::Purchase(Purchase {
        source_id: order.to_owned(),
        version: 1,
        account_id: Some(account.to_owned()),
        contact_id: None,
        status: PurchaseStatus::Paid,
        placed_at: 0,
        net_amount: eur(net),
        lines: Vec::new(),
        referral_code: None,
    })
}

fn completion(inbox_id: i64, events: Vec<Event>, state: &[(&str, Option<&str>)]) -> Completion {
    Completion {
        inbox_id,
        topic: "orders/paid".to_owned(),
        events,
        state: state
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.map(|v| v.as_bytes().to_vec())))
            .collect(),
        program: program(),
        plugin_sha256: "abc".to_owned(),
    }
}

async fn stored(store: &dyn Store, id: &str) -> i64 {
    match store.append_delivery(delivery(id)).await.unwrap() {
        Appended::Stored(inbox_id) => inbox_id,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_delivery_id_is_stored_once_and_kept_exactly() {
    for (name, place) in backends() {
        let store = place.open();
        let first = stored(&*store, "d1").await;
        assert_eq!(
            store.append_delivery(delivery("d1")).await.unwrap(),
            Appended::Duplicate(first),
            "{name}"
        );
        let pending = store.pending_deliveries("shop", 0, 10).await.unwrap();
        assert_eq!(pending.len(), 1, "{name}");
        assert_eq!(
            pending[0].delivery,
            delivery("d1"),
            "{name}: the raw delivery round-trips"
        );
        assert!(
            store
                .pending_deliveries("other", 0, 10)
                .await
                .unwrap()
                .is_empty(),
            "{name}"
        );
        let second = stored(&*store, "d2").await;
        let later = store.pending_deliveries("shop", first, 10).await.unwrap();
        assert_eq!(
            later.iter().map(|d| d.id).collect::<Vec<_>>(),
            [second],
            "{name}: only the deliveries after the one named"
        );
    }
}

#[tokio::test]
async fn concurrent_appends_are_all_durable_in_order() {
    for (name, place) in backends() {
        let store = place.open();
        let tasks: Vec<_> = (0..200)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .append_delivery(delivery(&format!("d{i}")))
                        .await
                        .unwrap()
                })
            })
            .collect();
        for task in tasks {
            assert!(matches!(task.await.unwrap(), Appended::Stored(_)), "{name}");
        }
        let pending = store.pending_deliveries("shop", 0, 1000).await.unwrap();
        assert_eq!(pending.len(), 200, "{name}");
        assert!(
            pending.windows(2).all(|w| w[0].id < w[1].id),
            "{name}: oldest first"
        );
    }
}

#[tokio::test]
async fn a_completion_applies_events_state_and_done_mark_together() {
    for (name, place) in backends() {
        let store = place.open();
        let id = stored(&*store, "d1").await;
        let results = store
            .complete(vec![completion(
                id,
                vec![account("acme", 5, "Acme"), paid("o1", "acme", "120.50")],
                &[("cursor", Some("7"))],
            )])
            .await
            .unwrap();
        assert!(
            matches!(&results[0], CompletionResult::Applied(a) if a.entries == 1),
            "{name}: {results:?}"
        );
        assert!(
            store
                .pending_deliveries("shop", 0, 10)
                .await
                .unwrap()
                .is_empty(),
            "{name}"
        );
        assert_eq!(
            store.state_get("shop", "cursor").unwrap().as_deref(),
            Some(&b"7"[..]),
            "{name}"
        );
        let accounts = store.accounts().await.unwrap();
        assert_eq!(accounts.len(), 1, "{name}");
        assert_eq!(
            (accounts[0].name.as_str(), accounts[0].balance),
            ("Acme", 120),
            "{name}"
        );
        let ledger = store.ledger(accounts[0].id).await.unwrap();
        assert_eq!(ledger.len(), 1, "{name}");
        assert_eq!(
            (
                ledger[0].points,
                ledger[0].amount.as_deref(),
                ledger[0].rule_version.as_str()
            ),
            (120, Some("120.50"), "test-rules"),
            "{name}"
        );

        // Completing the same item again changes nothing.
        store
            .complete(vec![completion(
                id,
                vec![paid("o1", "acme", "120.50")],
                &[],
            )])
            .await
            .unwrap();
        assert_eq!(store.accounts().await.unwrap()[0].balance, 120, "{name}");
    }
}

#[tokio::test]
async fn an_event_the_core_refuses_dead_letters_the_delivery_and_applies_nothing() {
    for (name, place) in backends() {
        let store = place.open();
        let id = stored(&*store, "d1").await;
        let chf = Event::Purchase(Purchase {
            net_amount: Money {
                amount: Decimal::TEN,
                currency: "CHF".to_owned(),
            },
            ..match paid("o1", "acme", "10") {
                Event::Purchase(p) => p,
                _ => unreachable!(),
            }
        });
        let results = store
            .complete(vec![completion(
                id,
                vec![account("acme", 1, "Acme"), chf],
                &[("k", Some("v"))],
            )])
            .await
            .unwrap();
        let CompletionResult::DeadLettered(error) = &results[0] else {
            panic!("{name}: {results:?}")
        };
        assert!(
            error.contains("no exchange rate from CHF"),
            "{name}: {error}"
        );
        assert!(
            store.accounts().await.unwrap().is_empty(),
            "{name}: the account event of the same delivery is rolled back too"
        );
        assert_eq!(store.state_get("shop", "k").unwrap(), None, "{name}");
        let dead = store.dead_letters(Some("shop".to_owned())).await.unwrap();
        assert_eq!(dead.len(), 1, "{name}");
        assert_eq!(
            (dead[0].inbox_id, dead[0].plugin_sha256.as_str()),
            (id, "abc"),
            "{name}"
        );
        assert_eq!(
            dead[0].delivery,
            delivery("d1"),
            "{name}: the raw input is kept"
        );
        assert!(
            store
                .pending_deliveries("shop", 0, 10)
                .await
                .unwrap()
                .is_empty(),
            "{name}"
        );
    }
}

#[tokio::test]
async fn dead_letters_and_attempts_keep_the_error() {
    for (name, place) in backends() {
        let store = place.open();
        let retried = stored(&*store, "d1").await;
        let dead = stored(&*store, "d2").await;
        store
            .record_attempt(retried, "vendor timeout".to_owned())
            .await
            .unwrap();
        store
            .dead_letter(
                dead,
                "invalid input: JSON field `id`".to_owned(),
                "sha".to_owned(),
            )
            .await
            .unwrap();
        let pending = store.pending_deliveries("shop", 0, 10).await.unwrap();
        assert_eq!(
            (pending.len(), pending[0].id, pending[0].attempts),
            (1, retried, 1),
            "{name}"
        );
        let letters = store.dead_letters(None).await.unwrap();
        assert_eq!(letters.len(), 1, "{name}");
        assert_eq!(letters[0].error, "invalid input: JSON field `id`", "{name}");
    }
}

#[tokio::test]
async fn refunds_reverse_once_and_contacts_follow_versions_across_deliveries() {
    for (name, place) in backends() {
        let store = place.open();
        let contact = |version: u64, email: &str, account: Option<&str>| {
            Event::Contact(ContactUpsert {
                source_id: "c1".to_owned(),
                version,
                account_id: account.map(str::to_owned),
                email: Some(email.to_owned()),
                first_name: None,
                last_name: None,
                role: Some("buyer".to_owned()),
            })
        };
        let refund = Event::Refund(Refund {
            source_id: "r1".to_owned(),
            version: 1,
            purchase_id: "o1".to_owned(),
            net_amount: eur("25"),
            refunded_at: 0,
            lines: Vec::new(),
        });
        let steps = [
            vec![
                account("acme", 1, "Acme"),
                paid("o1", "acme", "100"),
                contact(10, "new@acme.example", Some("acme")),
            ],
            vec![refund.clone(), contact(5, "old@acme.example", None)],
            vec![refund],
        ];
        for (i, events) in steps.into_iter().enumerate() {
            let id = stored(&*store, &format!("d{i}")).await;
            store
                .complete(vec![completion(id, events, &[])])
                .await
                .unwrap();
        }
        let accounts = store.accounts().await.unwrap();
        assert_eq!(accounts[0].balance, 75, "{name}");
        let detail = store.account(accounts[0].id).await.unwrap().unwrap();
        assert_eq!(detail.contacts.len(), 1, "{name}");
        assert_eq!(
            detail.contacts[0].email.as_deref(),
            Some("new@acme.example"),
            "{name}"
        );
        let ledger = store.ledger(accounts[0].id).await.unwrap();
        let points: Vec<i64> = ledger.iter().map(|e| e.points).collect();
        assert_eq!(points, [100, -25], "{name}");
        assert_eq!(
            ledger.iter().map(|e| e.points).sum::<i64>(),
            accounts[0].balance,
            "{name}"
        );
    }
}

#[tokio::test]
async fn data_survives_reopening_the_store() {
    for (name, place) in backends() {
        {
            let store = place.open();
            let id = stored(&*store, "d1").await;
            store
                .complete(vec![completion(
                    id,
                    vec![account("acme", 1, "Acme"), paid("o1", "acme", "10")],
                    &[],
                )])
                .await
                .unwrap();
            stored(&*store, "d2").await;
        }
        let store = place.open();
        assert_eq!(store.accounts().await.unwrap()[0].balance, 10, "{name}");
        assert_eq!(
            store.pending_deliveries("shop", 0, 10).await.unwrap().len(),
            1,
            "{name}"
        );
        assert_eq!(
            store.append_delivery(delivery("d1")).await.unwrap(),
            Appended::Duplicate(1),
            "{name}"
        );
    }
}

fn claim(name: &str, holder: &str, ttl_ms: i64) -> LeaseClaim {
    LeaseClaim {
        name: name.to_owned(),
        holder: holder.to_owned(),
        ttl_ms,
    }
}

#[tokio::test]
async fn a_lease_is_held_by_one_instance_until_it_lapses_or_is_given_up() {
    for (name, place) in backends() {
        let store = place.open();
        let taken = store
            .hold_lease(claim("poll:shop", "a", 60_000))
            .await
            .unwrap();
        assert_eq!(taken.holder, "a", "{name}");
        assert!(taken.expires_at >= taken.acquired_at + 60_000, "{name}");
        let refused = store
            .hold_lease(claim("poll:shop", "b", 60_000))
            .await
            .unwrap();
        assert_eq!(refused, taken, "{name}: b is told a holds it, unchanged");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let renewed = store
            .hold_lease(claim("poll:shop", "a", 60_000))
            .await
            .unwrap();
        assert_eq!(renewed.acquired_at, taken.acquired_at, "{name}");
        assert!(renewed.expires_at > taken.expires_at, "{name}: renewed");
        let other = store
            .hold_lease(claim("fulfil", "b", 60_000))
            .await
            .unwrap();
        assert_eq!(other.holder, "b", "{name}: leases are independent");

        store.release_leases("a".to_owned(), None).await.unwrap();
        let after_release = store.hold_lease(claim("poll:shop", "b", 1)).await.unwrap();
        assert_eq!(after_release.holder, "b", "{name}: given up, taken at once");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let taken_over = store
            .hold_lease(claim("poll:shop", "a", 60_000))
            .await
            .unwrap();
        assert_eq!(
            taken_over.holder, "a",
            "{name}: a lapsed lease is taken over"
        );
        assert!(taken_over.acquired_at > after_release.acquired_at, "{name}");

        store
            .release_leases("b".to_owned(), Some("poll:shop".to_owned()))
            .await
            .unwrap();
        let view = store.cluster().await.unwrap();
        let held: Vec<(&str, &str)> = view
            .leases
            .iter()
            .map(|l| (l.name.as_str(), l.holder.as_str()))
            .collect();
        assert_eq!(
            held,
            [("fulfil", "b"), ("poll:shop", "a")],
            "{name}: b cannot give up a's lease"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instances_racing_for_a_lease_all_see_the_same_winner() {
    for (name, place) in backends() {
        let store = place.open();
        for round in 0..10 {
            let lease = format!("race-{round}");
            let barrier = Arc::new(tokio::sync::Barrier::new(8));
            let racers: Vec<_> = (0..8)
                .map(|i| {
                    let store = store.clone();
                    let barrier = barrier.clone();
                    let lease = lease.clone();
                    tokio::spawn(async move {
                        barrier.wait().await;
                        store
                            .hold_lease(claim(&lease, &format!("i{i}"), 60_000))
                            .await
                            .unwrap()
                            .holder
                    })
                })
                .collect();
            let mut holders = Vec::new();
            for racer in racers {
                holders.push(racer.await.unwrap());
            }
            holders.dedup();
            assert_eq!(holders.len(), 1, "{name}, round {round}: {holders:?}");
        }
    }
}

#[tokio::test]
async fn a_poll_page_commits_only_under_its_lease() {
    for (name, place) in backends() {
        let store = place.open();
        store
            .hold_lease(claim("poll:shop", "a", 60_000))
            .await
            .unwrap();
        let page = |holder: &str| PageCompletion {
            connector: "shop".to_owned(),
            stream: PollStream::Sync,
            events: vec![account("acme", 1, "Acme"), paid("o1", "acme", "10")],
            state: [("k".to_owned(), Some(b"v".to_vec()))]
                .into_iter()
                .collect(),
            cursor: Some("c1".to_owned()),
            finished: false,
            program: program(),
            plugin_sha256: "abc".to_owned(),
            lease: Some(claim("poll:shop", holder, 60_000)),
        };
        match store.commit_page(page("b")).await {
            Err(StoreError::LeaseLost {
                name: lease,
                holder,
            }) => {
                assert_eq!(
                    (lease.as_str(), holder.as_str()),
                    ("poll:shop", "a"),
                    "{name}"
                );
            }
            other => panic!("{name}: {other:?}"),
        }
        assert_eq!(
            store.poll_position("shop", PollStream::Sync).await.unwrap(),
            PollPosition::default(),
            "{name}: nothing of the refused page is kept"
        );
        assert!(store.accounts().await.unwrap().is_empty(), "{name}");
        assert_eq!(store.state_get("shop", "k").unwrap(), None, "{name}");

        let result = store.commit_page(page("a")).await.unwrap();
        assert_eq!(result.applied.entries, 1, "{name}");
        assert_eq!(
            store
                .poll_position("shop", PollStream::Sync)
                .await
                .unwrap()
                .cursor
                .as_deref(),
            Some("c1"),
            "{name}"
        );
    }
}

#[tokio::test]
async fn scheduled_jobs_run_once_per_period() {
    for (name, place) in backends() {
        let store = place.open();
        let first = store
            .run_jobs_once(program(), "2026-12-07T05".to_owned(), "a".to_owned())
            .await
            .unwrap();
        assert!(first.is_some(), "{name}");
        let again = store
            .run_jobs_once(program(), "2026-12-07T05".to_owned(), "b".to_owned())
            .await
            .unwrap();
        assert_eq!(again, None, "{name}: the hour already ran");
        let next = store
            .run_jobs_once(program(), "2026-12-07T06".to_owned(), "b".to_owned())
            .await
            .unwrap();
        assert!(next.is_some(), "{name}");
        let mut runs: Vec<(String, String, String)> = store
            .cluster()
            .await
            .unwrap()
            .runs
            .into_iter()
            .map(|r| (r.job, r.period, r.holder))
            .collect();
        runs.sort();
        assert_eq!(
            runs,
            [
                (
                    "jobs".to_owned(),
                    "2026-12-07T05".to_owned(),
                    "a".to_owned()
                ),
                (
                    "jobs".to_owned(),
                    "2026-12-07T06".to_owned(),
                    "b".to_owned()
                ),
            ],
            "{name}"
        );
    }
}
