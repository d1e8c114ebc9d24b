//! The program's admin API over loopback HTTP against the real router and
//! SQLite store: redemptions (reserve, replay, conflict, failed fulfilment
//! releasing the points), an audited merge that keeps both ledgers' history,
//! enrollment by accepting the terms in an invite-only program, membership
//! and tags, ledger filters and the audit log.

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
use loyaltyd::config::{ApiToken, TokenScope};
use loyaltyd::core::event::{AccountUpsert, Event, Money, Purchase, PurchaseStatus};
use loyaltyd::core::program::{
    Enrollment, Fulfilment, Program, Reward, RewardKind, Rounding, Terms,
};
use loyaltyd::store::sqlite::SqliteStore;
use loyaltyd::store::{Store, verify_chain};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const TOKEN: &str = "program-admin-token";
const ANALYST: &str = "read-only-dashboard-token";
const INTEGRATION: &str = "erp-integration-token";

struct Server {
    base: String,
    store: Arc<dyn Store>,
    program: Arc<Program>,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

fn program(enrollment: Enrollment) -> Program {
    let mut p = Program::basic("EUR", Decimal::ONE, Rounding::Floor);
    p.version = "api-test".to_owned();
    p.membership.enrollment = enrollment;
    p.rewards = vec![Reward {
        id: "training".to_owned(),
        name: "On-site training day".to_owned(),
        kind: RewardKind::Service,
        points: 400,
        value: None,
        stock: None,
        tiers: Vec::new(),
        fulfilment: Fulfilment::Manual,
        description: "A day of training on site".to_owned(),
    }];
    p.terms = vec![
        Terms {
            version: "2025-01".to_owned(),
            effective_from: 0,
            text: "Old terms".to_owned(),
        },
        Terms {
            version: "2026-01".to_owned(),
            effective_from: 1_767_225_600_000,
            text: "Points expire after two years.".to_owned(),
        },
    ];
    p
}

async fn serve(program: Program) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&dir.path().join("loyalty.db"), 16).unwrap());
    let program = Arc::new(program);
    let api = Arc::new(Api {
        endpoints: BTreeMap::new(),
        store: store.clone(),
        public_base_url: "https://loyalty.example".to_owned(),
        admin_token_sha256: vec![Sha256::digest(TOKEN.as_bytes()).into()],
        tokens: vec![
            ApiToken {
                name: "bi".to_owned(),
                sha256: Sha256::digest(ANALYST.as_bytes()).into(),
                scope: TokenScope::Analyst,
            },
            ApiToken {
                name: "erp".to_owned(),
                sha256: Sha256::digest(INTEGRATION.as_bytes()).into(),
                scope: TokenScope::Integration,
            },
        ],
        ready: AtomicBool::new(true),
        program: program.clone(),
        goals: Vec::new(),
        portal_links: None,
        statements: None,
        metrics: Default::default(),
        reloader: None,
        instance_id: "test-instance".to_owned(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router(api)).await.unwrap() });
    Server {
        base,
        store,
        program,
        client: reqwest::Client::new(),
        _dir: dir,
    }
}

fn company(id: &str, tax_id: Option<&str>) -> Event {
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
        external_refs: Vec::new(),
    })
}

fn paid(id: &str, account: &str, net: i64) -> Event {
    Event::Purchase(Purchase {
        source_id: id.to_owned(),
        version: 1,
        account_id: Some(account.to_owned()),
        contact_id: None,
        status: PurchaseStatus::Paid,
        placed_at: 1_780_000_000_000,
        net_amount: Money {
            amount: Decimal::from(net),
            currency: "EUR".to_owned(),
        },
        lines: Vec::new(),
        referral_code: None,
    })
}

impl Server {
    async fn feed(&self, source: &str, delivery: &str, events: Vec<Event>) {
        fixture::apply_from(&*self.store, source, delivery, events, &self.program).await;
    }

    async fn account_of(&self, source: &str, id: &str) -> i64 {
        self.store
            .accounts()
            .await
            .unwrap()
            .iter()
            .find(|a| {
                a.external_refs
                    .iter()
                    .any(|r| r.source == source && r.id == id)
            })
            .unwrap()
            .id
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(TOKEN);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn get(&self, path: &str) -> Value {
        let (status, body) = self.call(reqwest::Method::GET, path, None, None).await;
        assert_eq!(status, 200, "{path}: {body}");
        body
    }

    async fn post(&self, path: &str, key: Option<&str>, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, key, Some(body))
            .await
    }

    async fn balance(&self, account: i64) -> i64 {
        self.get(&format!("/api/v1/accounts/{account}/ledger"))
            .await["balance"]
            .as_i64()
            .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redemption_over_http_is_reserved_once_and_released_when_fulfilment_fails() {
    let server = serve(program(Enrollment::Open)).await;
    server
        .feed(
            "shop",
            "d1",
            vec![company("acme", None), paid("o1", "acme", 1000)],
        )
        .await;
    let acme = server.account_of("shop", "acme").await;
    let path = format!("/api/v1/accounts/{acme}/redemptions");

    let body = json!({ "reward": "training", "contact": "anna@acme.example" });
    let (status, created) = server.post(&path, Some("r-1"), body.clone()).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["status"], "reserved");
    assert_eq!(server.balance(acme).await, 600);
    let (status, replay) = server.post(&path, Some("r-1"), body).await;
    assert_eq!((status, &replay["id"]), (200, &created["id"]));
    let (status, conflict) = server
        .post(&path, Some("r-1"), json!({ "reward": "training" }))
        .await;
    assert_eq!(status, 409, "{conflict}");
    let (status, missing) = server
        .post(&path, Some("r-2"), json!({ "reward": "yacht" }))
        .await;
    assert_eq!(status, 404, "{missing}");
    assert_eq!(server.balance(acme).await, 600);

    let id = created["id"].as_i64().unwrap();
    let (status, failed) = server
        .post(
            &format!("/api/v1/redemptions/{id}/fail"),
            None,
            json!({ "detail": "trainer unavailable" }),
        )
        .await;
    assert_eq!((status, failed["status"].as_str()), (200, Some("failed")));
    assert_eq!(server.balance(acme).await, 1000);
    let (status, _) = server
        .post(&format!("/api/v1/redemptions/{id}/fulfil"), None, json!({}))
        .await;
    assert_eq!(status, 409, "a failed redemption cannot be fulfilled");

    let kinds: Vec<String> = server
        .get(&format!("/api/v1/accounts/{acme}/ledger?kind=release"))
        .await["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds, ["release"]);
    let listed = server.get("/api/v1/redemptions?status=failed").await;
    assert_eq!(listed["redemptions"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merge_moves_the_balance_and_keeps_both_histories() {
    let server = serve(program(Enrollment::Open)).await;
    // Two records of one company that share no key.
    server
        .feed(
            "crm",
            "d1",
            vec![company("C-1", None), paid("o1", "C-1", 300)],
        )
        .await;
    server
        .feed(
            "shop",
            "d2",
            vec![company("77", None), paid("o2", "77", 200)],
        )
        .await;
    let crm = server.account_of("crm", "C-1").await;
    let shop = server.account_of("shop", "77").await;
    assert_ne!(crm, shop);

    let path = format!("/api/v1/accounts/{crm}/merge");
    let body = json!({ "from": shop, "reason": "same company, confirmed by account manager" });
    let (status, merged) = server.post(&path, Some("m-1"), body.clone()).await;
    assert_eq!(status, 201, "{merged}");
    assert_eq!(merged["points_moved"], 200);
    let (status, _) = server.post(&path, Some("m-1"), body).await;
    assert_eq!(status, 200, "a replay merges nothing again");
    let (status, _) = server
        .post(
            &path,
            Some("m-2"),
            json!({ "from": shop, "reason": "again" }),
        )
        .await;
    assert_eq!(status, 409, "an account merged away cannot be merged again");

    assert_eq!(server.balance(crm).await, 500);
    assert_eq!(server.balance(shop).await, 0);
    let survivor = server.get(&format!("/api/v1/accounts/{crm}")).await;
    let refs: Vec<&str> = survivor["external_refs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["source"].as_str().unwrap())
        .collect();
    assert_eq!(refs, ["crm", "shop"]);
    let gone = server.get(&format!("/api/v1/accounts/{shop}")).await;
    assert_eq!(gone["merged_into"], crm);
    let history: Vec<(String, i64)> = server.get(&format!("/api/v1/accounts/{shop}/ledger")).await
        ["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_owned(),
                e["points"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        history,
        [("earn".to_owned(), 200), ("transfer".to_owned(), -200)]
    );
    // New events for the merged record now land on the survivor.
    server.feed("shop", "d3", vec![paid("o3", "77", 50)]).await;
    assert_eq!(server.balance(crm).await, 550);
    assert!(verify_chain(&server.store.all_ledger_entries().await.unwrap()).is_empty());

    let audit = server.get("/api/v1/audit-log").await;
    let first = &audit["entries"][0];
    assert_eq!(first["action"], "merge");
    assert_eq!(first["target"], format!("account:{crm}"));
    assert!(first["actor"].as_str().unwrap().starts_with("token:"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invited_account_enrolls_by_accepting_the_terms_in_force() {
    let server = serve(program(Enrollment::InviteOnly)).await;
    server
        .feed(
            "crm",
            "d1",
            vec![company("C-9", None), paid("o1", "C-9", 300)],
        )
        .await;
    let account = server.account_of("crm", "C-9").await;
    // Not a member: the purchase earned nothing.
    assert_eq!(server.balance(account).await, 0);
    let terms = server.get("/api/v1/terms").await;
    assert_eq!(terms["version"], "2026-01");

    let (status, body) = server
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/accounts/{account}/membership"),
            None,
            Some(json!({ "status": "invited" })),
        )
        .await;
    assert_eq!(
        (status, body["membership"].as_str()),
        (200, Some("invited"))
    );
    let path = format!("/api/v1/accounts/{account}/terms-acceptances");
    let (status, refused) = server
        .post(
            &path,
            None,
            json!({ "version": "2025-01", "contact": "anna@c9.example" }),
        )
        .await;
    assert_eq!(status, 409, "{refused}");
    let (status, accepted) = server
        .post(
            &path,
            None,
            json!({ "version": "2026-01", "contact": "anna@c9.example" }),
        )
        .await;
    assert_eq!((status, accepted["enrolled"].as_bool()), (201, Some(true)));
    let detail = server.get(&format!("/api/v1/accounts/{account}")).await;
    assert_eq!(detail["membership"], "active");
    let recorded = server.get(&path).await;
    assert_eq!(recorded["acceptances"][0]["contact"], "anna@c9.example");

    // A member now: the next purchase earns.
    server.feed("crm", "d2", vec![paid("o2", "C-9", 120)]).await;
    assert_eq!(server.balance(account).await, 120);

    let (status, _) = server
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/accounts/{account}/membership"),
            None,
            Some(json!({ "status": "invited" })),
        )
        .await;
    assert_eq!(status, 409, "an active member cannot go back to invited");
    let (status, tagged) = server
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/accounts/{account}/tags"),
            None,
            Some(json!({ "tags": ["strategic", "dach"] })),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(tagged["tags"], json!(["dach", "strategic"]));
    let actions: Vec<String> = server.get("/api/v1/audit-log").await["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(actions, ["tags", "terms", "membership"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contracts_lines_and_engagements_arrive_through_the_events_api() {
    let mut rules = program(Enrollment::Contract);
    rules.earning.multipliers = vec![loyaltyd::core::program::Multiplier {
        target: loyaltyd::core::program::MultiplierTarget::Category("service".to_owned()),
        factor: Decimal::TWO,
    }];
    rules.engagement = vec![loyaltyd::core::program::EngagementRule {
        kind: loyaltyd::core::program::EngagementKind::NpsResponse,
        points: 25,
        limit: None,
    }];
    let server = serve(rules).await;
    let now = 1_790_000_000_000_i64;
    let (status, body) = server
        .post(
            "/api/v1/events",
            Some("erp-1"),
            json!({"source": "erp", "events": [
                {"type": "account", "id": "C-7", "version": 1, "name": "Kappa AG",
                 "external_refs": [{"system": "shop", "id": "k-7"}]},
                {"type": "contract", "id": "K-7", "version": 1, "account_id": "C-7", "status": "active",
                 "name": "Service plan", "starts_at": now - 1_000, "ends_at": now + 86_400_000_000_i64,
                 "value": {"amount": "24000.00", "currency": "EUR"}},
                {"type": "purchase", "id": "SO-7", "version": 1, "account_id": "C-7", "status": "paid",
                 "net_amount": {"amount": "300.00", "currency": "EUR"},
                 "lines": [
                    {"id": "1", "sku": "SRV-1", "category": "service", "net_amount": {"amount": "100.00", "currency": "EUR"}},
                    {"id": "2", "sku": "PRT-1", "category": "parts", "quantity": 4, "net_amount": {"amount": "200.00", "currency": "EUR"}}
                 ]},
                {"type": "engagement", "id": "NPS-1", "version": 1, "account_id": "C-7", "kind": "nps_response", "score": 9}
            ]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let account = server.account_of("erp", "C-7").await;
    let detail = server.get(&format!("/api/v1/accounts/{account}")).await;
    assert_eq!(detail["membership"], "active");
    // 100 x 2 (service) + 200 x 1 = 400 for the purchase, 25 for the answer.
    let entries: Vec<(String, i64)> = server
        .get(&format!("/api/v1/accounts/{account}/ledger"))
        .await["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_owned(),
                e["points"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        entries,
        [("earn".to_owned(), 400), ("bonus".to_owned(), 25)]
    );

    let (status, refused) = server
        .post(
            "/api/v1/events",
            Some("erp-2"),
            json!({"source": "erp", "events": [
                {"type": "engagement", "id": "NPS-2", "version": 1, "account_id": "C-7", "kind": "nps_response", "score": 11}
            ]}),
        )
        .await;
    assert_eq!(status, 422);
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("NPS score 11 is not between 0 and 10"),
        "{refused}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_scopes_limit_what_each_token_may_do() {
    let server = serve(program(Enrollment::Open)).await;
    let call = |token: &'static str, method: reqwest::Method, path: &str, body: Option<Value>| {
        let mut request = server
            .client
            .request(method, format!("{}{path}", server.base))
            .bearer_auth(token)
            .header("Idempotency-Key", "scope-test");
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let text = response.text().await.unwrap();
            (status, text)
        }
    };
    let events = json!({"source": "erp", "events": [
        {"type": "account", "id": "C-1", "version": 1, "name": "Acme"}
    ]});
    // The integration token submits events and nothing else.
    let (status, text) = call(
        INTEGRATION,
        reqwest::Method::POST,
        "/api/v1/events",
        Some(events.clone()),
    )
    .await;
    assert_eq!(status, 201, "{text}");
    let (status, text) = call(INTEGRATION, reqwest::Method::GET, "/api/v1/accounts", None).await;
    assert_eq!(status, 403, "{text}");
    assert!(
        text.contains("token `erp` has the scope `integration`, which may not read the admin API"),
        "{text}"
    );
    // The analyst reads everything and changes nothing.
    let (status, _) = call(ANALYST, reqwest::Method::GET, "/api/v1/accounts", None).await;
    assert_eq!(status, 200);
    let account = server.account_of("erp", "C-1").await;
    let (status, text) = call(
        ANALYST,
        reqwest::Method::PUT,
        &format!("/api/v1/accounts/{account}/tags"),
        Some(json!({"tags": ["x"]})),
    )
    .await;
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("may not change anything"), "{text}");
    let (status, _) = call(
        ANALYST,
        reqwest::Method::POST,
        "/api/v1/events",
        Some(events),
    )
    .await;
    assert_eq!(status, 403);
    // An unknown token is not a token at all.
    let (status, _) = call("guess", reqwest::Method::GET, "/api/v1/accounts", None).await;
    assert_eq!(status, 401);
}
