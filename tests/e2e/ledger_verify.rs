//! `loyaltyd ledger verify` detects ledger rows edited or deleted directly in
//! the database, naming the account and the entry.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

#[path = "common/fixture.rs"]
mod fixture;

use std::path::Path;
use std::process::Command;

use loyalty_e2e::loyaltyd_binary;
use loyaltyd::core::event::{Event, Money, Purchase, PurchaseStatus, Refund};
use loyaltyd::store::Store;
use loyaltyd::store::sqlite::SqliteStore;
use rust_decimal::Decimal;

fn config(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("loyalty.toml");
    std::fs::write(
        &path,
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
"#,
    )
    .unwrap();
    path
}

fn purchase(order: &str, account: &str, net: i64) -> Event {
    Event::Purchase(Purchase {
        source_id: order.to_owned(),
        version: 1,
        account_id: Some(account.to_owned()),
        contact_id: None,
        status: PurchaseStatus::Paid,
        placed_at: 0,
        net_amount: Money {
            amount: Decimal::from(net),
            currency: "EUR".to_owned(),
        },
        lines: Vec::new(),
        referral_code: None,
    })
}

/// Two accounts: `a` with an earn of 100 and a reversal of 40, `b` with an
/// earn of 70. Returns the internal id of `a`.
async fn populate(db: &Path) -> i64 {
    let store = SqliteStore::open(db, 16).unwrap();
    let program = fixture::program(Decimal::ONE, "v1");
    let refund = Event::Refund(Refund {
        source_id: "r1".to_owned(),
        version: 1,
        purchase_id: "o1".to_owned(),
        net_amount: Money {
            amount: Decimal::from(40),
            currency: "EUR".to_owned(),
        },
        refunded_at: 0,
        lines: Vec::new(),
    });
    let batches = [
        vec![
            fixture::account("a", 1, "Account a"),
            purchase("o1", "a", 100),
        ],
        vec![
            fixture::account("b", 1, "Account b"),
            purchase("o2", "b", 70),
        ],
        vec![refund],
    ];
    for (i, events) in batches.into_iter().enumerate() {
        fixture::apply(&store, &format!("d{i}"), events, &program).await;
    }
    store
        .accounts()
        .await
        .unwrap()
        .iter()
        .find(|a| a.name == "Account a")
        .unwrap()
        .id
}

fn verify(config: &Path) -> (bool, String) {
    let output = Command::new(loyaltyd_binary())
        .args(["ledger", "verify", "--config"])
        .arg(config)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

fn tamper(db: &Path, sql: &str) {
    rusqlite::Connection::open(db)
        .unwrap()
        .execute(sql, [])
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_ledger_row_is_named_by_ledger_verify() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let db = dir.path().join("data/loyalty.db");
    let a = populate(&db).await;

    let (ok, text) = verify(&config);
    assert!(ok, "{text}");
    assert!(
        text.contains("ledger verified: 3 entries in 2 accounts"),
        "{text}"
    );

    // Someone turns the reversal of 40 into a reversal of 4.
    let reversal: i64 = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("SELECT id FROM ledger WHERE kind = 'reverse'", [], |r| {
            r.get(0)
        })
        .unwrap();
    tamper(
        &db,
        &format!("UPDATE ledger SET points = -4 WHERE id = {reversal}"),
    );
    let (ok, text) = verify(&config);
    assert!(!ok, "{text}");
    assert!(
        text.contains(&format!(
            "account {a}: ledger entry {reversal} does not match its hash"
        )),
        "{text}"
    );
    assert!(text.contains("1 of 2 accounts"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_ledger_row_breaks_the_chain_at_the_next_entry() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let db = dir.path().join("data/loyalty.db");
    let a = populate(&db).await;
    let (earn, reversal): (i64, i64) = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row(
            "SELECT MIN(id), MAX(id) FROM ledger WHERE account_id = ?1",
            [a],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    tamper(&db, &format!("DELETE FROM ledger WHERE id = {earn}"));
    let (ok, text) = verify(&config);
    assert!(!ok, "{text}");
    assert!(
        text.contains(&format!(
            "account {a}: ledger entry {reversal} does not match its hash"
        )),
        "{text}"
    );
}
