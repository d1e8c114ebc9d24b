//! Bad input, class by class, against the real daemon: malformed JSON, a
//! wrong content type, oversized bodies, bad and stale signatures, an
//! unknown connector, an unknown currency, negative amounts, duplicate ids
//! and an invalid configuration.
//!
//! Each test is a table of cases. Every case states what the daemon answers
//! (status and the key words of its JSON `error`) and what it keeps: a
//! refusal changes nothing the admin API shows, a delivery accepted and then
//! found unusable becomes a dead letter naming the problem and earns
//! nothing. Each test ends by delivering a genuine order (and a genuine
//! HubSpot batch) and requiring the exact balances, earn entries and dead
//! letters worked out by hand: deliveries are processed in arrival order, so
//! anything a refusal had stored would show by then.
//!
//! The daemon runs the official Shopify and HubSpot connectors. Program: 2
//! points per EUR, rounded down. The sample Shopify order nets 1044.05 EUR:
//! floor(1044.05 x 2) = 2088 points. A genuine events-API purchase of
//! 100.00 EUR earns 200.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

use std::process::Command;

use loyalty_e2e::daemon::{Daemon, ProgramRules, Setup, ShopifySetup, Snapshot, random_token};
use loyalty_e2e::hubspot::webhook::{event, now_ms, signature_v3};
use loyalty_e2e::hubspot::{HubSpotEmulator, ObjectType, Record};
use loyalty_e2e::shopify::samples::{self, API_VERSION, COMPANY_ID, ORDER_ID, SHOP_DOMAIN};
use loyalty_e2e::shopify::webhook::hmac_sha256_base64;
use loyalty_e2e::shopify::{ShopifyEmulator, WebhookSender};
use loyalty_e2e::{loyaltyd_binary, official_plugin};
use serde_json::{Value, json};

const SHOPIFY_SECRET: &str = "e2e-shopify-app-webhook-secret";
const SHOPIFY_TOKEN: &str = "shpat_e2e0000000000000000000000000";
const HUBSPOT_SECRET: &str = "e2e-hubspot-app-client-secret";
const HUBSPOT_TOKEN: &str = "pat-eu1-2f0c9a5e-e2e0-4c1b-9d7e-000000000001";
const PORTAL: u64 = 143_553_137;
/// Shopify's `payload_bytes_max`: small, so a plausible order exceeds it.
const SHOPIFY_PAYLOAD_BYTES_MAX: usize = 64 << 10;
/// HubSpot's, the larger one: the HTTP layer's cap on every webhook body.
const HUBSPOT_PAYLOAD_BYTES_MAX: usize = 1 << 20;
/// Points of one sample Shopify order: floor(1044.05 x 2).
const ORDER_POINTS: i64 = 2088;
/// What a webhook above its connector's `payload_bytes_max` is told.
const PAYLOAD_TOO_LARGE: &[&str] = &["exceeds", "65536", "payload_bytes_max"];
/// The order each test ends with.
const MARKER_ORDER_ID: u64 = ORDER_ID + 1_000;
/// A HubSpot company only refused batches name.
const REFUSED_COMPANY: u64 = 513;
/// The HubSpot company of the batch each test ends with.
const MARKER_COMPANY: u64 = 514;
/// The events API's source and its account.
const ERP: &str = "erp";
const ERP_ACCOUNT: &str = "C-1001";

/// How a case reaches the daemon.
enum Send {
    /// `POST /webhooks/shopify` as `orders/paid` with this webhook id and
    /// `X-Shopify-Hmac-Sha256`.
    Shopify {
        webhook_id: &'static str,
        body: Vec<u8>,
        signature: String,
    },
    /// `POST /webhooks/hubspot` signed v3 with this timestamp and signature.
    HubSpot {
        body: Vec<u8>,
        timestamp: String,
        signature: String,
    },
    /// `POST /api/v1/events` with the admin token.
    Events {
        key: &'static str,
        content_type: &'static str,
        body: Vec<u8>,
    },
    /// `POST` on any path with the admin token.
    Post { path: String, body: Vec<u8> },
}

/// What the daemon must answer and keep.
enum Expect {
    /// Refused at once; nothing is stored, now or later.
    Refused {
        status: u16,
        words: &'static [&'static str],
    },
    /// Accepted (200 `stored`), then a dead letter whose error names the
    /// problem; it earns nothing.
    DeadLetter { words: &'static [&'static str] },
    /// Refused (events API) after the core looked at it: the answer and a
    /// dead letter (`api:KEY`) name the problem; it earns nothing.
    RefusedAndDead {
        status: u16,
        words: &'static [&'static str],
    },
    /// Accepted (200 `stored`); the Shopify company's balance is this once
    /// it is processed.
    Stored { balance: i64 },
    /// Recognised as a delivery seen before: 200 `duplicate`, and nothing
    /// changes.
    Duplicate,
    /// Applied at once by the events API (201); the ERP account's balance is
    /// this afterwards.
    Applied { balance: i64 },
}

/// One row of a table.
struct Case {
    /// The bad input, as the README's table names it.
    input: &'static str,
    send: Send,
    expect: Expect,
}

/// What a test must end with, worked out by hand.
struct Final {
    /// Genuine Shopify orders counted before the marker, 2088 points each.
    shopify_orders: i64,
    /// The ERP account's balance (`None`: no such account).
    erp_balance: Option<i64>,
    /// Every dead letter, as (connector, delivery id), in inbox order.
    dead_letters: &'static [(&'static str, &'static str)],
}

/// An answer: status, the raw body and, if it is JSON, the body parsed.
#[derive(Debug)]
struct Answer {
    status: u16,
    text: String,
    json: Value,
    replayed: bool,
}

impl Answer {
    /// The `error` of a JSON body, else the whole body.
    fn message(&self) -> &str {
        self.json["error"].as_str().unwrap_or(&self.text)
    }
}

/// A daemon with both connectors, their emulators and an HTTP client.
struct Bench {
    daemon: Daemon,
    admin_token: String,
    shopify: WebhookSender,
    client: reqwest::Client,
    hubspot: HubSpotEmulator,
    _shop: ShopifyEmulator,
}

impl Bench {
    async fn start() -> Self {
        let shop = ShopifyEmulator::start(SHOPIFY_TOKEN).await.unwrap();
        shop.put_company(samples::company());
        let hubspot = HubSpotEmulator::start(HUBSPOT_TOKEN).await.unwrap();
        for (id, name) in [
            (REFUSED_COMPANY, "Nordwind Logistik AG"),
            (MARKER_COMPANY, "Keller Werkzeuge KG"),
        ] {
            hubspot.put(
                ObjectType::Companies,
                Record::new(id, 1_767_225_600_000)
                    .with("name", name)
                    .with("domain", &format!("company-{id}.example")),
            );
        }
        let base = Value::from(hubspot.base_url());
        let hubspot_plugin = Value::from(official_plugin("hubspot").to_string_lossy());
        let setup = Setup {
            admin_token: random_token().unwrap(),
            program: ProgramRules::default(),
            shopify: Some(ShopifySetup {
                plugin: official_plugin("shopify"),
                shop_domain: SHOP_DOMAIN.to_owned(),
                api_version: API_VERSION.to_owned(),
                admin_base_url: shop.base_url(),
                webhook_secret: SHOPIFY_SECRET.to_owned(),
                admin_access_token: SHOPIFY_TOKEN.to_owned(),
            }),
            extra_toml: format!(
                r#"
[connectors.shopify.limits]
payload_bytes_max = {SHOPIFY_PAYLOAD_BYTES_MAX}

[connectors.hubspot]
plugin = {hubspot_plugin}
allowed_hosts = [{base}]
settings = {{ portal_id = "{PORTAL}", api_base_url = {base}, currency = "EUR" }}

[connectors.hubspot.limits]
payload_bytes_max = {HUBSPOT_PAYLOAD_BYTES_MAX}

[connectors.hubspot.secrets.webhook]
file = "secrets/hubspot_webhook"

[connectors.hubspot.credentials.api]
inject = "bearer"
file = "secrets/hubspot_token"
hosts = [{base}]
"#
            ),
            secrets: vec![
                ("hubspot_webhook".to_owned(), HUBSPOT_SECRET.to_owned()),
                ("hubspot_token".to_owned(), HUBSPOT_TOKEN.to_owned()),
            ],
        };
        let daemon = Daemon::start(&setup).await.unwrap();
        let shopify =
            WebhookSender::new(daemon.base_url(), SHOPIFY_SECRET, SHOP_DOMAIN, API_VERSION);
        Self {
            daemon,
            admin_token: setup.admin_token,
            shopify,
            client: reqwest::Client::new(),
            hubspot,
            _shop: shop,
        }
    }

    fn hubspot_url(&self) -> String {
        format!("{}/webhooks/hubspot", self.daemon.base_url())
    }

    /// A HubSpot delivery of `body` signed at `timestamp` (ms) with the
    /// app's secret over the URL it is posted to.
    fn hubspot_raw(&self, body: Vec<u8>, timestamp: i64) -> Send {
        let timestamp = timestamp.to_string();
        let signature = signature_v3(
            HUBSPOT_SECRET.as_bytes(),
            "POST",
            &self.hubspot_url(),
            &body,
            &timestamp,
        );
        Send::HubSpot {
            body,
            timestamp,
            signature,
        }
    }

    /// A HubSpot batch signed at `timestamp` (ms).
    fn hubspot_batch(&self, batch: &Value, timestamp: i64) -> Send {
        self.hubspot_raw(serde_json::to_vec(batch).unwrap(), timestamp)
    }

    async fn snapshot(&self) -> Snapshot {
        self.daemon.admin().snapshot().await.unwrap()
    }

    async fn send(&self, send: &Send) -> Answer {
        let request = match send {
            Send::Shopify {
                webhook_id,
                body,
                signature,
            } => {
                let answer = self
                    .shopify
                    .send_raw("orders/paid", webhook_id, body.clone(), signature)
                    .await
                    .unwrap();
                return Answer {
                    status: answer.status,
                    text: answer.body.to_string(),
                    json: answer.body,
                    replayed: false,
                };
            }
            Send::HubSpot {
                body,
                timestamp,
                signature,
            } => self
                .client
                .post(self.hubspot_url())
                .header("content-type", "application/json")
                .header("X-HubSpot-Signature-v3", signature)
                .header("X-HubSpot-Request-Timestamp", timestamp)
                .body(body.clone()),
            Send::Events {
                key,
                content_type,
                body,
            } => self
                .client
                .post(format!("{}/api/v1/events", self.daemon.base_url()))
                .bearer_auth(&self.admin_token)
                .header("content-type", *content_type)
                .header("Idempotency-Key", *key)
                .body(body.clone()),
            Send::Post { path, body } => self
                .client
                .post(format!("{}{path}", self.daemon.base_url()))
                .bearer_auth(&self.admin_token)
                .header("content-type", "application/json")
                .header("Idempotency-Key", "bad-input-post")
                .body(body.clone()),
        };
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let replayed = response
            .headers()
            .get("idempotent-replayed")
            .is_some_and(|v| v == "true");
        let text = response.text().await.unwrap();
        Answer {
            status,
            json: serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
            replayed,
        }
    }

    /// Runs the table: each case's answer, then what the admin API shows.
    async fn check(&self, cases: Vec<Case>) {
        for case in cases {
            let what = case.input;
            let before = self.snapshot().await;
            let answer = self.send(&case.send).await;
            match case.expect {
                Expect::Refused { status, words } => {
                    assert_eq!(answer.status, status, "{what}: {answer:?}");
                    assert_words(what, answer.message(), words);
                    assert_eq!(self.snapshot().await, before, "{what}: something changed");
                }
                Expect::DeadLetter { words } => {
                    assert_eq!(answer.status, 200, "{what}: {answer:?}");
                    assert_eq!(answer.json["status"], "stored", "{what}: {answer:?}");
                    let inbox_id = answer.json["inbox_id"].as_i64().unwrap();
                    let after = self
                        .daemon
                        .wait_until(&format!("{what} is a dead letter"), |s| {
                            s.dead_letters.iter().any(|d| d.inbox_id == inbox_id)
                        })
                        .await
                        .unwrap();
                    let dead = after.dead_letters.last().unwrap();
                    assert_eq!(dead.inbox_id, inbox_id, "{what}");
                    assert_words(what, &dead.error, words);
                    assert_eq!(after.ledgers, before.ledgers, "{what}: it earned");
                    assert_eq!(
                        after.accounts, before.accounts,
                        "{what}: it changed accounts"
                    );
                }
                Expect::RefusedAndDead { status, words } => {
                    assert_eq!(answer.status, status, "{what}: {answer:?}");
                    assert_words(what, answer.message(), words);
                    let after = self.snapshot().await;
                    assert_eq!(
                        after.dead_letters.len(),
                        before.dead_letters.len() + 1,
                        "{what}: {:#?}",
                        after.dead_letters
                    );
                    let Send::Events { key, .. } = case.send else {
                        panic!("{what}: only the events API answers and keeps a dead letter");
                    };
                    let dead = after.dead_letters.last().unwrap();
                    assert_eq!(dead.delivery_id, format!("api:{key}"), "{what}");
                    assert_words(what, &dead.error, words);
                    assert_eq!(after.ledgers, before.ledgers, "{what}: it earned");
                }
                Expect::Stored { balance } => {
                    assert_eq!(answer.status, 200, "{what}: {answer:?}");
                    assert_eq!(answer.json["status"], "stored", "{what}: {answer:?}");
                    self.daemon
                        .wait_until(&format!("{what} is applied"), |s| {
                            shopify_balance(s) == Some(balance)
                        })
                        .await
                        .unwrap();
                }
                Expect::Duplicate => {
                    assert_eq!(answer.status, 200, "{what}: {answer:?}");
                    assert_eq!(answer.json["status"], "duplicate", "{what}: {answer:?}");
                    if matches!(case.send, Send::Events { .. }) {
                        assert!(answer.replayed, "{what}: no idempotent-replayed header");
                    }
                    assert_eq!(self.snapshot().await, before, "{what}: something changed");
                }
                Expect::Applied { balance } => {
                    assert_eq!(answer.status, 201, "{what}: {answer:?}");
                    assert_eq!(answer.json["status"], "applied", "{what}: {answer:?}");
                    let after = self.snapshot().await;
                    assert_eq!(erp_balance(&after), Some(balance), "{what}");
                }
            }
        }
    }

    /// Delivers a genuine order and a genuine HubSpot batch, waits for both
    /// and requires the state `expected` names: everything refused before
    /// them would have been processed first, had it been stored.
    async fn settle(&self, expected: Final) {
        let marker = order(MARKER_ORDER_ID);
        let answer = self
            .shopify
            .send("orders/paid", "wh-marker", &marker.body())
            .await
            .unwrap();
        assert_eq!(answer.outcome(), Some("stored"), "{answer:?}");
        let batch = json!([event(
            PORTAL,
            9_999,
            "company.creation",
            MARKER_COMPANY,
            now_ms()
        )]);
        let answer = self.send(&self.hubspot_batch(&batch, now_ms())).await;
        assert_eq!(answer.json["status"], "stored", "{answer:?}");

        let marker_reference = MARKER_ORDER_ID.to_string();
        let state = self
            .daemon
            .wait_until("the marker order and batch are applied", |s| {
                s.ledger_of("shopify", &COMPANY_ID.to_string())
                    .is_some_and(|l| l.entries.iter().any(|e| e.reference == marker_reference))
                    && s.account_known_as("hubspot", &MARKER_COMPANY.to_string())
                        .is_some()
            })
            .await
            .unwrap();
        let orders = expected.shopify_orders + 1;
        let ledger = state.ledger_of("shopify", &COMPANY_ID.to_string()).unwrap();
        let mut references: Vec<&str> = ledger
            .entries
            .iter()
            .map(|e| {
                assert_eq!((e.kind.as_str(), e.points), ("earn", ORDER_POINTS), "{e:?}");
                e.reference.as_str()
            })
            .collect();
        references.sort_unstable();
        references.dedup();
        assert_eq!(
            references.len(),
            ledger.entries.len(),
            "an order earned twice"
        );
        assert_eq!(
            ledger.balance,
            orders * ORDER_POINTS,
            "{:#?}",
            ledger.entries
        );
        assert_eq!(erp_balance(&state), expected.erp_balance);
        let hubspot: Vec<&str> = state
            .accounts
            .iter()
            .flat_map(|a| &a.external_refs)
            .filter(|r| r.source == "hubspot")
            .map(|r| r.id.as_str())
            .collect();
        assert_eq!(
            hubspot,
            [MARKER_COMPANY.to_string()],
            "refused batches count"
        );
        assert!(
            self.hubspot
                .requests_to(&format!("/crm/v3/objects/companies/{REFUSED_COMPANY}"))
                .is_empty(),
            "a refused batch was read"
        );
        let dead: Vec<(&str, &str)> = state
            .dead_letters
            .iter()
            .map(|d| (d.connector.as_str(), d.delivery_id.as_str()))
            .collect();
        assert_eq!(dead, expected.dead_letters, "{:#?}", state.dead_letters);
    }
}

fn assert_words(what: &str, message: &str, words: &[&str]) {
    for word in words {
        assert!(
            message.contains(word),
            "{what}: `{word}` is missing from: {message}"
        );
    }
}

fn shopify_balance(state: &Snapshot) -> Option<i64> {
    state.balance_of("shopify", &COMPANY_ID.to_string())
}

fn erp_balance(state: &Snapshot) -> Option<i64> {
    state.balance_of(ERP, ERP_ACCOUNT)
}

/// The sample order, paid, under another id: 2088 points for the company.
fn order(id: u64) -> loyalty_e2e::shopify::Order {
    let mut order = samples::paid(samples::b2b_order(), "2026-03-05T16:40:12+01:00");
    order.id = id;
    order
}

/// A genuine order's body padded to `bytes` with a field Shopify does not
/// send (connectors ignore unknown fields).
fn padded_order(id: u64, bytes: usize) -> Vec<u8> {
    let mut body = order(id).body();
    body["padding"] = Value::from("");
    let length = serde_json::to_vec(&body).unwrap().len();
    body["padding"] = Value::from("x".repeat(bytes - length));
    let raw = serde_json::to_vec(&body).unwrap();
    assert_eq!(raw.len(), bytes);
    raw
}

/// A Shopify `orders/paid` delivery of `body`, correctly signed.
fn shopify(webhook_id: &'static str, body: Vec<u8>) -> Send {
    let signature = hmac_sha256_base64(SHOPIFY_SECRET.as_bytes(), &body);
    Send::Shopify {
        webhook_id,
        body,
        signature,
    }
}

/// The events API with a JSON body.
fn events(key: &'static str, body: &Value) -> Send {
    Send::Events {
        key,
        content_type: "application/json",
        body: body.to_string().into_bytes(),
    }
}

/// A submission of the ERP account and one purchase.
fn erp_purchase(id: &str, amount: &str, currency: &str) -> Value {
    json!({ "source": ERP, "events": [
        { "type": "account", "id": ERP_ACCOUNT, "version": 1, "name": "Weber Logistik AG" },
        { "type": "purchase", "id": id, "version": 1, "account_id": ERP_ACCOUNT, "status": "paid",
          "net_amount": { "amount": amount, "currency": currency } }
    ]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_is_refused_or_dead_lettered_and_never_counted() {
    let bench = Bench::start().await;
    bench
        .check(vec![
            Case {
                input: "Shopify webhook, correctly signed, body not JSON",
                send: shopify("wh-not-json", b"{\"id\": 1,".to_vec()),
                expect: Expect::DeadLetter {
                    words: &[
                        "connector `shopify`: `handle-webhook` failed: invalid input",
                        "EOF while parsing",
                    ],
                },
            },
            Case {
                input: "HubSpot batch, correctly signed, body not JSON",
                send: bench.hubspot_raw(b"[{\"eventId\": ".to_vec(), now_ms()),
                expect: Expect::Refused {
                    status: 400,
                    words: &["JSON field `[0].eventId`", "EOF while parsing"],
                },
            },
            Case {
                input: "events API, broken JSON",
                send: Send::Events {
                    key: "broken-json",
                    content_type: "application/json",
                    body: b"{\"source\": \"erp\", ".to_vec(),
                },
                expect: Expect::Refused {
                    status: 422,
                    words: &["invalid body", "EOF while parsing"],
                },
            },
            Case {
                input: "events API, JSON without `events`",
                send: events("no-events", &json!({ "source": ERP })),
                expect: Expect::Refused {
                    status: 422,
                    words: &["invalid body", "missing field `events`"],
                },
            },
        ])
        .await;
    bench
        .settle(Final {
            shopify_orders: 0,
            erp_balance: None,
            dead_letters: &[("shopify", "wh-not-json")],
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_content_type_is_not_checked_and_the_body_counts_once() {
    let bench = Bench::start().await;
    let purchase = erp_purchase("SO-1", "100.00", "EUR");
    bench
        .check(vec![
            Case {
                input: "events API, `text/plain` with a valid JSON body",
                send: Send::Events {
                    key: "plain-1",
                    content_type: "text/plain",
                    body: purchase.to_string().into_bytes(),
                },
                expect: Expect::Applied { balance: 200 },
            },
            Case {
                input: "the same request as `application/json` under the same key",
                send: events("plain-1", &purchase),
                expect: Expect::Duplicate,
            },
            Case {
                input: "events API, a form body (`application/x-www-form-urlencoded`)",
                send: Send::Events {
                    key: "form-1",
                    content_type: "application/x-www-form-urlencoded",
                    body: b"source=erp&events=".to_vec(),
                },
                expect: Expect::Refused {
                    status: 422,
                    words: &["invalid body", "expected value"],
                },
            },
        ])
        .await;
    bench
        .settle(Final {
            shopify_orders: 0,
            erp_balance: Some(200),
            dead_letters: &[],
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_are_refused_with_413_and_nothing_is_stored() {
    let bench = Bench::start().await;
    let adjustment = json!({ "points": 100, "reason": "x".repeat(3 << 20) });
    bench
        .check(vec![
            Case {
                input: "Shopify webhook of 100 KiB, above its `payload_bytes_max` (64 KiB)",
                send: shopify("wh-100k", padded_order(ORDER_ID, 100 << 10)),
                expect: Expect::Refused {
                    status: 413,
                    words: PAYLOAD_TOO_LARGE,
                },
            },
            // Read up to the connector's own limit only, announced length or
            // not: far larger bodies are refused the same way.
            Case {
                input: "Shopify webhook of 2 MiB",
                send: shopify("wh-2m", padded_order(ORDER_ID, 2 << 20)),
                expect: Expect::Refused {
                    status: 413,
                    words: PAYLOAD_TOO_LARGE,
                },
            },
            // The admin API's limit is the HTTP layer's (`[server]
            // body_bytes_max`); only the status is part of the contract.
            Case {
                input: "admin API body of 3 MiB (an adjustment)",
                send: Send::Post {
                    path: "/api/v1/accounts/1/adjustments".to_owned(),
                    body: adjustment.to_string().into_bytes(),
                },
                expect: Expect::Refused {
                    status: 413,
                    words: &[],
                },
            },
            Case {
                input: "events API body of 3 MiB",
                send: Send::Events {
                    key: "huge-1",
                    content_type: "application/json",
                    body: adjustment.to_string().into_bytes(),
                },
                expect: Expect::Refused {
                    status: 413,
                    words: &[],
                },
            },
            Case {
                input: "Shopify webhook of exactly 64 KiB, its `payload_bytes_max`",
                send: shopify("wh-64k", padded_order(ORDER_ID, SHOPIFY_PAYLOAD_BYTES_MAX)),
                expect: Expect::Stored {
                    balance: ORDER_POINTS,
                },
            },
        ])
        .await;
    bench
        .settle(Final {
            shopify_orders: 1,
            erp_balance: None,
            dead_letters: &[],
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_signature_is_refused_with_401_and_nothing_is_stored() {
    let bench = Bench::start().await;
    let body = serde_json::to_vec(&order(ORDER_ID).body()).unwrap();
    let signature = hmac_sha256_base64(SHOPIFY_SECRET.as_bytes(), &body);
    let tampered = String::from_utf8(body.clone())
        .unwrap()
        .replace("\"1044.05\"", "\"9044.05\"")
        .into_bytes();
    assert_ne!(tampered, body);
    let batch = json!([event(
        PORTAL,
        501,
        "company.creation",
        REFUSED_COMPANY,
        now_ms()
    )]);
    bench
        .check(vec![
            Case {
                input: "Shopify webhook signed with another secret",
                send: Send::Shopify {
                    webhook_id: "wh-forged",
                    body: body.clone(),
                    signature: hmac_sha256_base64(b"not-the-app-secret", &body),
                },
                expect: Expect::Refused {
                    status: 401,
                    words: &["signature does not match"],
                },
            },
            Case {
                input: "Shopify webhook altered after it was signed",
                send: Send::Shopify {
                    webhook_id: "wh-tampered",
                    body: tampered,
                    signature,
                },
                expect: Expect::Refused {
                    status: 401,
                    words: &["signature does not match"],
                },
            },
            Case {
                input: "Shopify webhook whose signature is not base64",
                send: Send::Shopify {
                    webhook_id: "wh-garbled",
                    body,
                    signature: "not base64!".to_owned(),
                },
                expect: Expect::Refused {
                    status: 401,
                    words: &["signature is not valid base64"],
                },
            },
            Case {
                input: "HubSpot batch with a wrong v3 signature",
                send: Send::HubSpot {
                    body: serde_json::to_vec(&batch).unwrap(),
                    timestamp: now_ms().to_string(),
                    signature: "bm90IGEgcmVhbCBzaWduYXR1cmUgYXQgYWxsIQ==".to_owned(),
                },
                expect: Expect::Refused {
                    status: 401,
                    words: &["signature does not match"],
                },
            },
        ])
        .await;
    bench
        .settle(Final {
            shopify_orders: 0,
            erp_balance: None,
            dead_letters: &[],
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_hubspot_timestamp_is_refused_with_401() {
    let bench = Bench::start().await;
    let batch = json!([event(
        PORTAL,
        601,
        "company.creation",
        REFUSED_COMPANY,
        now_ms()
    )]);
    let minutes = 60 * 1000;
    let mut not_a_time = bench.hubspot_batch(&batch, now_ms());
    if let Send::HubSpot { timestamp, .. } = &mut not_a_time {
        "yesterday".clone_into(timestamp);
    }
    bench
        .check(vec![
            Case {
                input: "HubSpot batch signed 6 minutes ago",
                send: bench.hubspot_batch(&batch, now_ms() - 6 * minutes),
                expect: Expect::Refused {
                    status: 401,
                    words: &["HubSpot requests older than 5 minutes are refused"],
                },
            },
            Case {
                input: "HubSpot batch signed 6 minutes ahead",
                send: bench.hubspot_batch(&batch, now_ms() + 6 * minutes),
                expect: Expect::Refused {
                    status: 401,
                    words: &["in the future; more than 5 minutes ahead is refused"],
                },
            },
            Case {
                input: "HubSpot batch whose timestamp is not a number",
                send: not_a_time,
                expect: Expect::Refused {
                    status: 401,
                    words: &["`yesterday`, not milliseconds"],
                },
            },
        ])
        .await;
    bench
        .settle(Final {
            shopify_orders: 0,
            erp_balance: None,
            dead_letters: &[],
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_connector_is_404() {
    let bench = Bench::start().await;
    let body = serde_json::to_vec(&order(ORDER_ID).body()).unwrap();
    let mut as_connector = erp_purchase("SO-1", "100.00", "EUR");
    as_connector["source"] = json!("shopify");
    bench
        .check(vec![
            Case {
                input: "webhook for an unknown connector (`/webhooks/nope`)",
                send: Send::Post {
                    path: "/webhooks/nope".to_owned(),
                    body: body.clone(),
                },
                expect: Expect::Refused {
                    status: 404,
                    words: &["no connector named `nope`"],
                },
            },
            Case {
                input: "webhook for `/webhooks/Shopify` (names are case-sensitive)",
                send: Send::Post {
                    path: "/webhooks/Shopify".to_owned(),
                    body,
                },
                expect: Expect::Refused {
                    status: 404,
                    words: &["no connector named `Shopify`"],
                },
            },
            Case {
                input: "events API naming a connector as its source",
                send: events("as-shopify", &as_connector),
                expect: Expect::Refused {
                    status: 422,
                    words: &["source `shopify` is a connector's"],
                },
            },
        ])
        .await;
    bench
        .settle(Final {
            shopify_orders: 0,
            erp_balance: None,
            dead_letters: &[],
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_currency_earns_nothing_and_the_message_names_it() {
    let bench = Bench::start().await;
    let in_xyz = order(ORDER_ID)
        .body()
        .to_string()
        .replace("\"EUR\"", "\"XYZ\"");
    assert!(in_xyz.contains("\"XYZ\""));
    bench
        .check(vec![
            Case {
                input: "Shopify order in XYZ, correctly signed",
                send: shopify("wh-xyz", in_xyz.into_bytes()),
                expect: Expect::DeadLetter {
                    words: &[
                        "invalid purchase `9007199254740993`",
                        "`XYZ` is not an ISO 4217 currency code",
                    ],
                },
            },
            Case {
                input: "events API purchase in XYZ",
                send: events("xyz-1", &erp_purchase("SO-XYZ", "100.00", "XYZ")),
                expect: Expect::Refused {
                    status: 422,
                    words: &[
                        "events[1]: invalid purchase `SO-XYZ`",
                        "`XYZ` is not an ISO 4217 currency code",
                    ],
                },
            },
            Case {
                input: "events API purchase in CHF, a currency without an exchange rate",
                send: events("chf-1", &erp_purchase("SO-CHF", "100.00", "CHF")),
                expect: Expect::RefusedAndDead {
                    status: 422,
                    words: &["no exchange rate from CHF", "[program.exchange_rates]"],
                },
            },
        ])
        .await;
    bench
        .settle(Final {
            shopify_orders: 0,
            erp_balance: None,
            dead_letters: &[("shopify", "wh-xyz"), (ERP, "api:chf-1")],
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negative_amounts_are_refused_with_422() {
    let bench = Bench::start().await;
    let refund = json!({ "source": ERP, "events": [
        { "type": "refund", "id": "CR-NEG", "version": 1, "purchase_id": "SO-1",
          "net_amount": { "amount": "-5.00", "currency": "EUR" } }
    ]});
    bench
        .check(vec![
            Case {
                input: "events API purchase of 100.00 EUR (genuine)",
                send: events("paid-1", &erp_purchase("SO-1", "100.00", "EUR")),
                expect: Expect::Applied { balance: 200 },
            },
            Case {
                input: "events API purchase with a negative net amount",
                send: events("neg-purchase", &erp_purchase("SO-NEG", "-100.00", "EUR")),
                expect: Expect::Refused {
                    status: 422,
                    words: &["invalid purchase `SO-NEG`: net-amount: is negative (-100.00)"],
                },
            },
            Case {
                input: "events API refund of a negative amount",
                send: events("neg-refund", &refund),
                expect: Expect::RefusedAndDead {
                    status: 422,
                    words: &["refund `CR-NEG` must not be negative"],
                },
            },
        ])
        .await;
    bench
        .settle(Final {
            shopify_orders: 0,
            erp_balance: Some(200),
            dead_letters: &[(ERP, "api:neg-refund")],
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_ids_are_counted_once() {
    let bench = Bench::start().await;
    let body = serde_json::to_vec(&order(ORDER_ID).body()).unwrap();
    let purchase = erp_purchase("SO-1", "100.00", "EUR");
    bench
        .check(vec![
            Case {
                input: "Shopify order (genuine, first delivery)",
                send: shopify("wh-dup", body.clone()),
                expect: Expect::Stored {
                    balance: ORDER_POINTS,
                },
            },
            Case {
                input: "the same Shopify webhook id again (a retry)",
                send: shopify("wh-dup", body.clone()),
                expect: Expect::Duplicate,
            },
            Case {
                input: "events API purchase (genuine, first request)",
                send: events("dup-1", &purchase),
                expect: Expect::Applied { balance: 200 },
            },
            Case {
                input: "the same Idempotency-Key and body again",
                send: events("dup-1", &purchase),
                expect: Expect::Duplicate,
            },
            Case {
                input: "the same Idempotency-Key with another body",
                send: events("dup-1", &erp_purchase("SO-2", "100.00", "EUR")),
                expect: Expect::Refused {
                    status: 409,
                    words: &["Idempotency-Key `dup-1` was already used for a different request"],
                },
            },
            Case {
                input: "the same purchase under a new Idempotency-Key",
                send: events("dup-2", &purchase),
                expect: Expect::Applied { balance: 200 },
            },
            // Last: its processing changes nothing, so nothing can be waited
            // for; the final check sees it processed.
            Case {
                input: "the same Shopify order under a new webhook id (a second subscription)",
                send: shopify("wh-dup-2", body),
                expect: Expect::Stored {
                    balance: ORDER_POINTS,
                },
            },
        ])
        .await;
    bench
        .settle(Final {
            shopify_orders: 1,
            erp_balance: Some(200),
            dead_letters: &[],
        })
        .await;
}

#[test]
fn an_invalid_config_fails_validate_with_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("loyalty.toml");
    std::fs::write(
        &config,
        "[server]\n\
         public_base_url = \"https://loyalty.example\"\n\
         listn = \"127.0.0.1:8080\"\n\n\
         [store]\n\
         type = \"sqlite\"\n\
         path = \"data/loyalty.db\"\n\n\
         [program]\n\
         currency = \"EUR\"\n\
         points_per_unit = \"2\"\n\
         rounding = \"floor\"\n",
    )
    .unwrap();
    let expected = format!(
        "{}:3:1: server.listn: unknown key `listn`: did you mean `listen`?",
        config.display()
    );
    for command in ["validate", "run"] {
        let output = Command::new(loyaltyd_binary())
            .arg(command)
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{command}: {stderr}");
        assert!(stderr.contains(&expected), "{command}: {stderr}");
    }
    assert!(
        !dir.path().join("data").exists(),
        "a daemon started on a configuration it refused"
    );
}
