//! The admin API over loopback HTTP against the real router and SQLite
//! store: adjustments applied once per `Idempotency-Key` (409 for a reused
//! key with another body), traced to the admin token and a reason, and
//! hash-chained; events submitted directly, validated like a connector's.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

#[path = "common/fixture.rs"]
mod fixture;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use loyaltyd::api::{Api, router};
use loyaltyd::core::event::{Event, Money, Purchase, PurchaseStatus};
use loyaltyd::store::sqlite::SqliteStore;
use loyaltyd::store::{Store, verify_chain};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const TOKEN: &str = "admin-token-for-tests";

struct Admin {
    base: String,
    store: Arc<dyn Store>,
    account: i64,
    _dir: tempfile::TempDir,
}

/// A store holding one account with 100 points, served over loopback.
async fn admin() -> Admin {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&dir.path().join("loyalty.db"), 16).unwrap());
    let events = vec![
        fixture::account("acme", 1, "Acme"),
        Event::Purchase(Purchase {
            source_id: "o1".to_owned(),
            version: 1,
            account_id: Some("acme".to_owned()),
            contact_id: None,
            status: PurchaseStatus::Paid,
            placed_at: 0,
            net_amount: Money {
                amount: Decimal::ONE_HUNDRED,
                currency: "EUR".to_owned(),
            },
            lines: Vec::new(),
            referral_code: None,
        }),
    ];
    let program = fixture::program(Decimal::ONE, "rules-1");
    fixture::apply(&*store, "d1", events, &program).await;
    let account = store.accounts().await.unwrap()[0].id;
    let api = Arc::new(Api {
        endpoints: BTreeMap::new(),
        store: store.clone(),
        public_base_url: "https://loyalty.example".to_owned(),
        admin_token_sha256: vec![Sha256::digest(TOKEN.as_bytes()).into()],
        tokens: Vec::new(),
        ready: AtomicBool::new(true),
        program,
        goals: Vec::new(),
        portal_links: None,
        statements: None,
        metrics: Default::default(),
        reloader: None,
        instance_id: "test-instance".to_owned(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = router(api);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Admin {
        base,
        store,
        account,
        _dir: dir,
    }
}

impl Admin {
    async fn adjust(&self, key: Option<&str>, token: &str, body: &Value) -> (u16, Value, bool) {
        let mut request = reqwest::Client::new()
            .post(format!(
                "{}/api/v1/accounts/{}/adjustments",
                self.base, self.account
            ))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let replayed = response.headers().get("idempotent-replayed").is_some();
        (
            status,
            serde_json::from_slice(&response.bytes().await.unwrap()).unwrap(),
            replayed,
        )
    }

    async fn balance(&self) -> i64 {
        self.store
            .account(self.account)
            .await
            .unwrap()
            .unwrap()
            .summary
            .balance
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adjustment_is_applied_once_per_idempotency_key() {
    let admin = admin().await;
    let body = json!({ "points": -30, "reason": "credit note 2026-114 for damaged goods" });

    let (status, entry, replayed) = admin.adjust(Some("adj-1"), TOKEN, &body).await;
    assert_eq!((status, replayed), (201, false), "{entry}");
    assert_eq!(entry["kind"], "adjust");
    assert_eq!(entry["points"], -30);
    assert_eq!(entry["source"], "admin");
    assert_eq!(entry["reason"], "credit note 2026-114 for damaged goods");
    assert_eq!(entry["rule_version"], "rules-1");
    let fingerprint = &hex::encode(Sha256::digest(TOKEN.as_bytes()))[..12];
    assert_eq!(entry["reference"], format!("token:{fingerprint}"));
    assert_eq!(admin.balance().await, 70);

    let (status, again, replayed) = admin.adjust(Some("adj-1"), TOKEN, &body).await;
    assert_eq!((status, replayed), (200, true));
    assert_eq!(again, entry, "the first result is returned again");
    assert_eq!(admin.balance().await, 70);

    let other = json!({ "points": -31, "reason": "credit note 2026-114 for damaged goods" });
    let (status, refusal, _) = admin.adjust(Some("adj-1"), TOKEN, &other).await;
    assert_eq!(status, 409, "{refusal}");
    assert!(refusal["error"].as_str().unwrap().contains("adj-1"));
    assert_eq!(admin.balance().await, 70);

    let (status, _, _) = admin
        .adjust(
            Some("adj-2"),
            TOKEN,
            &json!({ "points": 5, "reason": "goodwill" }),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(admin.balance().await, 75);
    let entries = admin.store.all_ledger_entries().await.unwrap();
    assert_eq!(
        entries.iter().map(|e| e.points).collect::<Vec<_>>(),
        [100, -30, 5]
    );
    assert!(
        verify_chain(&entries).is_empty(),
        "adjustments join the hash chain"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adjustment_needs_a_token_a_key_a_reason_and_an_account() {
    let admin = admin().await;
    let body = json!({ "points": 10, "reason": "goodwill" });
    assert_eq!(admin.adjust(Some("k"), "wrong-token", &body).await.0, 401);
    assert_eq!(admin.adjust(None, TOKEN, &body).await.0, 400);
    let (status, refusal, _) = admin
        .adjust(Some("k"), TOKEN, &json!({ "points": 0, "reason": "x" }))
        .await;
    assert_eq!(status, 422);
    assert!(
        refusal["error"]
            .as_str()
            .unwrap()
            .contains("points must not be zero"),
        "{refusal}"
    );
    let (status, _, _) = admin
        .adjust(Some("k"), TOKEN, &json!({ "points": 3, "reason": " " }))
        .await;
    assert_eq!(status, 422);
    let (status, _, _) = admin
        .adjust(
            Some("k"),
            TOKEN,
            &json!({ "points": 3, "reason": "x", "extra": 1 }),
        )
        .await;
    assert_eq!(status, 422);
    let missing = reqwest::Client::new()
        .post(format!("{}/api/v1/accounts/999/adjustments", admin.base))
        .bearer_auth(TOKEN)
        .header("Idempotency-Key", "k")
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(admin.balance().await, 100, "nothing refused was applied");
}

async fn submit(admin: &Admin, key: &str, body: &Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/events", admin.base))
        .bearer_auth(TOKEN)
        .header("Idempotency-Key", key)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (
        status,
        serde_json::from_slice(&response.bytes().await.unwrap()).unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_submitted_directly_are_applied_once() {
    let admin = admin().await;
    // 1250.00 EUR paid: 1250 points at 1 point per EUR; a refund of 250.00
    // reverses floor(1250 x 250 / 1250) = 250.
    let body = json!({ "source": "erp", "events": [
        { "type": "account", "id": "C-1001", "version": 3, "name": "Weber Logistik AG", "tax_id": "DE811907980" },
        { "type": "contact", "id": "P-1", "version": 1, "account_id": "C-1001", "email": "Einkauf@Weber.example", "role": "buyer" },
        { "type": "purchase", "id": "SO-77", "version": 1, "account_id": "C-1001", "status": "paid",
          "net_amount": { "amount": "1250.00", "currency": "EUR" } },
        { "type": "refund", "id": "CR-9", "version": 1, "purchase_id": "SO-77",
          "net_amount": { "amount": "2.5E2", "currency": "eur" } }
    ]});
    let (status, answer) = submit(&admin, "erp-batch-1", &body).await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(
        (answer["changed"].as_u64(), answer["entries"].as_u64()),
        (Some(4), Some(2)),
        "{answer}"
    );

    let (status, again) = submit(&admin, "erp-batch-1", &body).await;
    assert_eq!(
        (status, again["status"].as_str()),
        (200, Some("duplicate")),
        "{again}"
    );
    let mut other = body.clone();
    other["events"][2]["net_amount"]["amount"] = json!("1300.00");
    assert_eq!(submit(&admin, "erp-batch-1", &other).await.0, 409);
    // The same events under a new key change nothing: versions and effect keys hold.
    let (status, replay) = submit(&admin, "erp-batch-2", &body).await;
    assert_eq!(
        (status, replay["entries"].as_u64()),
        (201, Some(0)),
        "{replay}"
    );

    let accounts = admin.store.accounts().await.unwrap();
    let weber = accounts
        .iter()
        .find(|a| a.name == "Weber Logistik AG")
        .unwrap();
    assert_eq!(weber.balance, 1000);
    assert_eq!(weber.external_refs[0].source, "erp");
    let detail = admin.store.account(weber.id).await.unwrap().unwrap();
    assert_eq!(detail.tax_id.as_deref(), Some("DE811907980"));
    assert_eq!(
        detail.contacts[0].email.as_deref(),
        Some("einkauf@weber.example")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_submitted_events_are_refused_naming_the_event() {
    let admin = admin().await;
    let purchase = |currency: &str| {
        json!({ "source": "erp", "events": [
            { "type": "purchase", "id": "SO-1", "version": 1, "account_id": "C-1", "status": "paid",
              "net_amount": { "amount": "10.00", "currency": currency } }
        ]})
    };
    let (status, answer) = submit(&admin, "k1", &purchase("EUX")).await;
    assert_eq!(status, 422);
    assert_eq!(
        answer["error"],
        "events[0]: invalid purchase `SO-1`: net-amount: `EUX` is not an ISO 4217 currency code"
    );
    let (status, answer) = submit(&admin, "k2", &purchase("CHF")).await;
    assert_eq!(
        status, 422,
        "a currency without a configured rate is refused: {answer}"
    );
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("no exchange rate from CHF"),
        "{answer}"
    );
    let (status, answer) = submit(&admin, "k2", &purchase("CHF")).await;
    assert_eq!(
        status, 422,
        "a refused request stays refused under its key: {answer}"
    );
    assert!(
        answer["error"].as_str().unwrap().contains("refused before"),
        "{answer}"
    );
    let (status, answer) = submit(
        &admin,
        "k3",
        &json!({ "source": "erp", "events": [{ "type": "order" }] }),
    )
    .await;
    assert_eq!(status, 422);
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("unknown type `order`"),
        "{answer}"
    );
    let (status, _) = submit(&admin, "k4", &json!({ "source": "Bad Name", "events": [] })).await;
    assert_eq!(status, 422);
    assert_eq!(admin.balance().await, 100, "nothing refused was applied");
    assert_eq!(admin.store.accounts().await.unwrap().len(), 1);
}
