//! `loyaltyd replay`: dead letters go back into the inbox after a fix and
//! are applied once. A purchase in a currency the program has no rate for
//! becomes a dead letter; the operator adds the rate and replays; the
//! delivery is applied, and replaying again changes nothing.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

#[path = "common/fixture.rs"]
mod fixture;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use loyalty_e2e::{loyaltyd_binary, test_component};
use loyaltyd::core::event::{Event, Money, Purchase, PurchaseStatus};
use loyaltyd::store::sqlite::SqliteStore;
use loyaltyd::store::{CompletionResult, InboxStatus, Store};
use rust_decimal::Decimal;

fn config(dir: &Path) -> PathBuf {
    let path = dir.join("loyalty.toml");
    let plugin = serde_json::Value::from(test_component("echo").to_string_lossy());
    std::fs::write(
        &path,
        format!(
            r#"
[server]
public_base_url = "https://loyalty.example"

[store]
type = "sqlite"
path = "data/loyalty.db"

[program]
currency = "EUR"
points_per_unit = "1"
rounding = "floor"

[connectors.shop]
plugin = {plugin}
"#
        ),
    )
    .unwrap();
    path
}

fn replay(config: &Path, args: &[&str]) -> (bool, String) {
    let output = Command::new(loyaltyd_binary())
        .args(["replay", "--config"])
        .arg(config)
        .args(args)
        .output()
        .unwrap();
    (
        output.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

fn chf_order() -> Event {
    Event::Purchase(Purchase {
        source_id: "o-chf".to_owned(),
        version: 1,
        account_id: Some("acme".to_owned()),
        contact_id: None,
        status: PurchaseStatus::Paid,
        placed_at: 0,
        net_amount: Money {
            amount: Decimal::from(200),
            currency: "CHF".to_owned(),
        },
        lines: Vec::new(),
        referral_code: None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_replayed_after_a_fix_is_applied_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let db = dir.path().join("data/loyalty.db");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&db, 16).unwrap());

    // The program has no CHF rate: the delivery becomes a dead letter.
    let rules = fixture::program(Decimal::ONE, "without-chf");
    let events = vec![fixture::account("acme", 1, "Acme AG"), chf_order()];
    let inbox_id = fixture::store_delivery(&*store, "d1").await;
    let result = store
        .complete(vec![fixture::completion(inbox_id, events.clone(), &rules)])
        .await
        .unwrap()
        .remove(0);
    assert!(
        matches!(&result, CompletionResult::DeadLettered(e) if e.contains("no exchange rate from CHF")),
        "{result:?}"
    );
    assert_eq!(store.dead_letters(None).await.unwrap().len(), 1);

    // Asking for an unknown connector, or with a bad time, changes nothing.
    let (ok, text) = replay(&config, &["--connector", "sap"]);
    assert!(!ok && text.contains("no connector `sap`"), "{text}");
    let (ok, text) = replay(&config, &["--since", "yesterday"]);
    assert!(!ok && text.contains("--since"), "{text}");
    let (ok, text) = replay(&config, &["--since", "2999-01-01T00:00:00Z"]);
    assert!(ok && text.contains("no dead letters"), "{text}");

    let (ok, text) = replay(&config, &["--connector", "shop"]);
    assert!(ok, "{text}");
    assert!(
        text.contains(&format!(
            "1 dead letters of `shop` are pending again (inbox ids {inbox_id})"
        )),
        "{text}"
    );
    let (_, status) = store.delivery(inbox_id).await.unwrap().unwrap();
    assert_eq!(status, InboxStatus::Pending);
    assert!(store.dead_letters(None).await.unwrap().is_empty());
    let audit = store.audit_log(10).await.unwrap();
    assert_eq!(
        (audit[0].action.as_str(), audit[0].actor.as_str()),
        ("replay", "cli")
    );

    // With the rate added, the worker's next pass applies it: 200 CHF x 1.05.
    let mut fixed = (*rules).clone();
    fixed.version = "with-chf".to_owned();
    fixed.exchange_rates = BTreeMap::from([("CHF".to_owned(), "1.05".parse().unwrap())]);
    let fixed = Arc::new(fixed);
    let pending = store.pending_deliveries("shop", 0, 10).await.unwrap();
    assert_eq!(pending.len(), 1);
    let result = store
        .complete(vec![fixture::completion(pending[0].id, events, &fixed)])
        .await
        .unwrap()
        .remove(0);
    assert!(matches!(result, CompletionResult::Applied(_)), "{result:?}");
    let account = store.accounts().await.unwrap()[0].id;
    let ledger = store.ledger(account).await.unwrap();
    assert_eq!(
        ledger
            .iter()
            .map(|e| (e.points, e.rate.as_deref()))
            .collect::<Vec<_>>(),
        [(210, Some("1.05"))]
    );

    // Nothing is dead any more: replaying again does nothing.
    let (ok, text) = replay(&config, &[]);
    assert!(
        ok && text.contains("no dead letters of any connector"),
        "{text}"
    );
}
