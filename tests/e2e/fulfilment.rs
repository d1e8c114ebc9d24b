//! Redemptions fulfilled through a connector, end to end: the real daemon
//! loads a real wasm component whose `fulfil-reward` delivers some rewards
//! and refuses others. A delivered reward ends fulfilled with the vendor's
//! code and its points redeemed; a refused one ends failed with its points
//! released, so nothing is lost.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

use loyalty_e2e::daemon::{Daemon, ProgramRules, Setup, random_token};
use serde_json::{Value, json};

fn rewards_toml(echo: &std::path::Path) -> String {
    format!(
        r#"
[[program.rewards]]
id = "gift-card-25"
name = "Gift card worth 25 EUR"
kind = "gift_card"
points = 300
value = {{ amount = "25.00", currency = "EUR" }}
connector = "echo"

[[program.rewards]]
id = "fail-voucher"
name = "A voucher the vendor cannot issue"
kind = "discount"
points = 500
connector = "echo"

[connectors.echo]
plugin = {plugin}
"#,
        plugin = Value::from(echo.to_string_lossy())
    )
}

struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
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

    async fn redemption(&self, account: i64, id: i64) -> Value {
        let (_, list) = self
            .send(
                reqwest::Method::GET,
                &format!("/api/v1/accounts/{account}/redemptions"),
                None,
                None,
            )
            .await;
        list["redemptions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .cloned()
            .unwrap()
    }

    async fn balance(&self, account: i64) -> i64 {
        let (_, ledger) = self
            .send(
                reqwest::Method::GET,
                &format!("/api/v1/accounts/{account}/ledger"),
                None,
                None,
            )
            .await;
        ledger["balance"].as_i64().unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connector_fulfils_rewards_and_a_refused_fulfilment_releases_the_points() {
    let echo = loyalty_e2e::test_component("echo");
    let setup = Setup {
        admin_token: random_token().unwrap(),
        program: ProgramRules::default(),
        shopify: None,
        extra_toml: rewards_toml(&echo),
        secrets: Vec::new(),
    };
    let daemon = Daemon::start(&setup).await.unwrap();
    let client = Client {
        http: reqwest::Client::new(),
        base: daemon.base_url().to_owned(),
        token: setup.admin_token.clone(),
    };
    // 500 EUR at two points per euro: 1000 points.
    let (status, body) = client
        .send(
            reqwest::Method::POST,
            "/api/v1/events",
            Some("feed-1"),
            Some(json!({"source": "erp", "events": [
                {"type": "account", "id": "C-1", "version": 1, "name": "Acme GmbH"},
                {"type": "purchase", "id": "SO-1", "version": 1, "account_id": "C-1", "status": "paid",
                 "net_amount": {"amount": "500.00", "currency": "EUR"}}
            ]})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let account = daemon.admin().accounts().await.unwrap()[0].id;
    assert_eq!(client.balance(account).await, 1000);

    let path = format!("/api/v1/accounts/{account}/redemptions");
    let (status, card) = client
        .send(
            reqwest::Method::POST,
            &path,
            Some("redeem-1"),
            Some(json!({"reward": "gift-card-25"})),
        )
        .await;
    assert_eq!(status, 201, "{card}");
    let (status, voucher) = client
        .send(
            reqwest::Method::POST,
            &path,
            Some("redeem-2"),
            Some(json!({"reward": "fail-voucher"})),
        )
        .await;
    assert_eq!(status, 201, "{voucher}");
    assert_eq!(client.balance(account).await, 200, "both are reserved");

    let card_id = card["id"].as_i64().unwrap();
    let voucher_id = voucher["id"].as_i64().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let card = client.redemption(account, card_id).await;
        let voucher = client.redemption(account, voucher_id).await;
        if card["status"] != "reserved" && voucher["status"] != "reserved" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not settled in time: {card} {voucher}\n{}",
            daemon.log()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let card = client.redemption(account, card_id).await;
    assert_eq!(card["status"], "fulfilled");
    assert!(
        card["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("CODE-redemption-{card_id}")),
        "{card}"
    );
    let voucher = client.redemption(account, voucher_id).await;
    assert_eq!(voucher["status"], "failed");
    assert!(
        voucher["detail"]
            .as_str()
            .unwrap()
            .contains("cannot be delivered"),
        "{voucher}"
    );
    // 1000 - 300 redeemed; the voucher's 500 are back.
    assert_eq!(client.balance(account).await, 700);
}
