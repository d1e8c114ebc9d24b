//! Referrals end to end, through the real daemon over loopback HTTP: a
//! member's referral code and link, a referred account's first order
//! carrying the code, flat and revenue-share commissions and a goal bonus,
//! a payout batch exported as CSV (by the API and by `loyaltyd payouts
//! export`) and marked paid once, refunds clawing commissions back and the
//! clawback netted in the next batch, and the referral report.
//!
//! Program: 2 points per EUR; a referral engagement bonus of 1,000 points;
//! commissions `signup` (flat EUR 100), `share` (5 % of the referred
//! account's orders for 12 months) and `two-in-a-quarter` (EUR 50 and 500
//! points once two referrals qualify in one quarter); payouts per purchase.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

use loyalty_e2e::daemon::{Daemon, ProgramRules, Setup, random_token};
use loyalty_e2e::loyaltyd_binary;
use serde_json::{Value, json};

const REFERRALS: &str = r#"
[[program.engagement]]
kind = "referral"
points = 1000

[program.referrals]
code_prefix = "RW"
landing_url = "https://shop.rheinwerk.example/partner-signup"
payouts = "per_purchase"

[[program.referrals.commissions]]
id = "signup"
kind = "flat"
amount = "100.00"

[[program.referrals.commissions]]
id = "share"
kind = "revenue_share"
percent = "5"
months = 12

[[program.referrals.commissions]]
id = "two-in-a-quarter"
kind = "goal_bonus"
referrals = 2
period = "quarter"
amount = "50"
points = 500
"#;

/// 2026-10-05T09:00:00Z and later days of that quarter.
const OCT_05: i64 = 1_791_190_800_000;
const DAY: i64 = 86_400_000;

struct Program {
    daemon: Daemon,
    token: String,
    http: reqwest::Client,
}

impl Program {
    async fn start() -> Self {
        let token = random_token().unwrap();
        let setup = Setup {
            admin_token: token.clone(),
            program: ProgramRules::default(),
            shopify: None,
            extra_toml: REFERRALS.to_owned(),
            secrets: Vec::new(),
        };
        let daemon = Daemon::start(&setup).await.unwrap();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self {
            daemon,
            token,
            http,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.daemon.base_url())
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, self.url(path))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn get(&self, path: &str) -> Value {
        let (status, body) = self.call(reqwest::Method::GET, path, None).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    async fn events(&self, key: &str, events: Value) {
        let response = self
            .http
            .post(self.url("/api/v1/events"))
            .bearer_auth(&self.token)
            .header("Idempotency-Key", key)
            .header("content-type", "application/json")
            .body(json!({ "source": "erp", "events": events }).to_string())
            .send()
            .await
            .unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(status.is_success(), "events {key}: {status}: {text}");
    }

    async fn account_id(&self, erp_id: &str) -> i64 {
        let snapshot = self.daemon.admin().snapshot().await.unwrap();
        snapshot.account_known_as("erp", erp_id).unwrap().id
    }
}

fn account(id: &str, name: &str) -> Value {
    json!({ "type": "account", "id": id, "version": 1, "name": name, "country": "DE" })
}

fn purchase(id: &str, account: &str, amount: &str, placed_at: i64, code: Option<&str>) -> Value {
    json!({
        "type": "purchase", "id": id, "version": 1, "account_id": account, "status": "paid",
        "placed_at": placed_at, "net_amount": { "amount": amount, "currency": "EUR" },
        "referral_code": code,
    })
}

fn refund(id: &str, purchase: &str, amount: &str, at: i64) -> Value {
    json!({
        "type": "refund", "id": id, "version": 1, "purchase_id": purchase,
        "refunded_at": at, "net_amount": { "amount": amount, "currency": "EUR" },
    })
}

fn amounts(commissions: &Value) -> Vec<(String, String, i64)> {
    commissions["commissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["rule"].as_str().unwrap().to_owned(),
                c["amount"].as_str().unwrap().to_owned(),
                c["points"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_referral_goes_from_code_to_an_exported_payout_and_refunds_claw_back() {
    let program = Program::start().await;
    program
        .events(
            "accounts",
            json!([
                account("C-1", "Rheinwerk Partner AG"),
                account("C-2", "Brandt Maschinenbau GmbH"),
                account("C-3", "Kessler Hydraulik KG"),
            ]),
        )
        .await;
    let referrer = program.account_id("C-1").await;
    let brandt = program.account_id("C-2").await;
    let kessler = program.account_id("C-3").await;

    // The referrer's code is made once and then stays.
    let code = program
        .get(&format!("/api/v1/accounts/{referrer}/referral-code"))
        .await;
    let text = code["code"].as_str().unwrap().to_owned();
    assert!(text.starts_with("RW-") && text.len() == 11, "{text}");
    assert!(
        code["link"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/r/{text}")),
        "{code}"
    );
    let again = program
        .get(&format!("/api/v1/accounts/{referrer}/referral-code"))
        .await;
    assert_eq!(again["code"], json!(text));

    // The link sends the visitor to the landing page with the code.
    let link = program
        .http
        .get(program.url(&format!("/r/{}", text.to_lowercase())))
        .send()
        .await
        .unwrap();
    assert_eq!(link.status().as_u16(), 302);
    assert_eq!(
        link.headers()["location"].to_str().unwrap(),
        format!("https://shop.rheinwerk.example/partner-signup?ref={text}")
    );
    let unknown = program
        .http
        .get(program.url("/r/RW-NOSUCHCODE"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status().as_u16(), 404);

    // Brandt's first order carries the code (in lower case): Brandt is
    // referred by the partner and the referral qualifies at once.
    program
        .events(
            "brandt-1",
            json!([purchase(
                "SO-1",
                "C-2",
                "1000.00",
                OCT_05,
                Some(&text.to_lowercase())
            )]),
        )
        .await;
    // A later order without the code still pays the revenue share.
    program
        .events(
            "brandt-2",
            json!([purchase("SO-2", "C-2", "400.00", OCT_05 + 20 * DAY, None)]),
        )
        .await;
    // Kessler's first order with the code: the second referral qualifying
    // this quarter reaches the goal.
    program
        .events(
            "kessler-1",
            json!([purchase(
                "SO-3",
                "C-3",
                "200.00",
                OCT_05 + 10 * DAY,
                Some(&text)
            )]),
        )
        .await;
    let referrals = program
        .get(&format!("/api/v1/accounts/{referrer}/referrals"))
        .await;
    let referred: Vec<i64> = referrals["referrals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["referred"].as_i64().unwrap())
        .collect();
    assert_eq!(referred.len(), 2, "{referrals}");
    assert!(referred.contains(&brandt) && referred.contains(&kessler));

    // signup 100 + share 5 % of 1000 = 50; share of 400 = 20; Kessler:
    // signup 100 + share of 200 = 10, and the goal: 50 and 500 points.
    let accrued = program
        .get(&format!("/api/v1/accounts/{referrer}/commissions"))
        .await;
    let mut rows = amounts(&accrued);
    rows.sort();
    assert_eq!(
        rows,
        [
            ("share".to_owned(), "10.00".to_owned(), 0),
            ("share".to_owned(), "20.00".to_owned(), 0),
            ("share".to_owned(), "50.00".to_owned(), 0),
            ("signup".to_owned(), "100.00".to_owned(), 0),
            ("signup".to_owned(), "100.00".to_owned(), 0),
            ("two-in-a-quarter".to_owned(), "50.00".to_owned(), 500),
        ]
    );
    // The referrer's points: two referral bonuses and the goal's points.
    let ledger = program.daemon.admin().ledger(referrer).await.unwrap();
    assert_eq!(ledger.balance, 1000 + 1000 + 500, "{ledger:?}");

    // The first batch pays everything accrued: 330.00.
    let (status, batch) = program
        .call(reqwest::Method::POST, "/api/v1/payouts", None)
        .await;
    assert_eq!(status, 201, "{batch}");
    assert_eq!(batch["total"], json!("330.00"));
    assert_eq!(batch["lines"].as_array().unwrap().len(), 1);
    assert_eq!(batch["lines"][0]["referrer"], json!(referrer));
    assert_eq!(batch["lines"][0]["commissions"], json!(6));
    let id = batch["id"].as_i64().unwrap();
    // Running again makes nothing: every commission is in a batch.
    let (status, none) = program
        .call(reqwest::Method::POST, "/api/v1/payouts", None)
        .await;
    assert_eq!((status, &none["payout"]), (200, &Value::Null), "{none}");

    let csv = program
        .http
        .get(program.url(&format!("/api/v1/payouts/{id}?format=csv")))
        .bearer_auth(&program.token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        csv.headers()["content-type"].to_str().unwrap(),
        "text/csv; charset=utf-8"
    );
    let csv = csv.text().await.unwrap();
    let key = batch["key"].as_str().unwrap();
    assert_eq!(
        csv,
        format!(
            "payout_id,payout_key,referrer_account_id,referrer_name,tax_id,amount,currency,commissions\n\
             {id},{key},{referrer},Rheinwerk Partner AG,,330.00,EUR,6\n"
        )
    );
    let exported = std::process::Command::new(loyaltyd_binary())
        .args(["payouts", "export", &id.to_string(), "--config"])
        .arg(program.daemon.config_path())
        .output()
        .unwrap();
    assert!(exported.status.success(), "{exported:?}");
    assert_eq!(String::from_utf8(exported.stdout).unwrap(), csv);

    // Paid once; a second payment is refused.
    let (status, paid) = program
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/payouts/{id}/paid"),
            Some(json!({ "reference": "SEPA-2026-10-0042" })),
        )
        .await;
    assert_eq!(status, 200, "{paid}");
    assert_eq!(paid["reference"], json!("SEPA-2026-10-0042"));
    let (status, twice) = program
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/payouts/{id}/paid"),
            Some(json!({ "reference": "SEPA-2026-10-0043" })),
        )
        .await;
    assert_eq!(status, 409, "{twice}");
    assert!(
        twice["error"]
            .as_str()
            .unwrap()
            .contains("never paid twice")
    );

    // Refunds: 150 of SO-1 lowers its share from 50.00 to 42.50; Kessler's
    // qualifying order refunded in full takes back its signup and share.
    program
        .events(
            "refunds",
            json!([
                refund("RF-1", "SO-1", "150.00", OCT_05 + 30 * DAY),
                refund("RF-3", "SO-3", "200.00", OCT_05 + 30 * DAY),
            ]),
        )
        .await;
    let accrued = program
        .get(&format!("/api/v1/accounts/{referrer}/commissions"))
        .await;
    let clawbacks: Vec<(String, String, i64)> = amounts(&accrued)
        .into_iter()
        .filter(|(_, amount, _)| amount.starts_with('-'))
        .collect();
    let mut clawbacks = clawbacks;
    clawbacks.sort();
    assert_eq!(
        clawbacks,
        [
            ("share".to_owned(), "-10.00".to_owned(), 0),
            ("share".to_owned(), "-7.50".to_owned(), 0),
            ("signup".to_owned(), "-100.00".to_owned(), 0),
        ]
    );
    // The referrer owes 117.50 now: no batch until new commissions outweigh it.
    let (status, none) = program
        .call(reqwest::Method::POST, "/api/v1/payouts", None)
        .await;
    assert_eq!((status, &none["payout"]), (200, &Value::Null), "{none}");
    // A big order by Brandt: share 150.00, less the 117.50 clawed back.
    program
        .events(
            "brandt-3",
            json!([purchase("SO-4", "C-2", "3000.00", OCT_05 + 40 * DAY, None)]),
        )
        .await;
    let (status, second) = program
        .call(reqwest::Method::POST, "/api/v1/payouts", None)
        .await;
    assert_eq!(status, 201, "{second}");
    assert_eq!(second["total"], json!("32.50"));
    assert_eq!(second["lines"][0]["commissions"], json!(4));
    let list = program.get("/api/v1/payouts").await;
    assert_eq!(list["payouts"].as_array().unwrap().len(), 2);

    // The report: two referrals, both qualified; Brandt bought 850 + 400 +
    // 3000 after refunds, Kessler nothing; commissions 330 - 117.50 + 150.
    let report = program
        .get("/api/v1/referrals/report?from=2026-01-01&to=2030-01-01")
        .await;
    assert_eq!(report["referrals"], json!(2));
    assert_eq!(report["qualified"], json!(2));
    assert_eq!(report["revenue"], json!("4250.00"));
    assert_eq!(report["commission"], json!("362.50"));
    assert_eq!(report["commission_points"], json!(500));
    let line = &report["referrers"][0];
    assert_eq!(line["account_id"], json!(referrer));
    assert_eq!(line["referred"].as_array().unwrap().len(), 2);
    let (status, _) = program
        .call(
            reqwest::Method::GET,
            "/api/v1/referrals/report?from=yesterday",
            None,
        )
        .await;
    assert_eq!(status, 400);
}
