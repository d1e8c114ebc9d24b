//! Scoring insights and segments end to end, through the real daemon over
//! loopback HTTP: program and account NPS, historical and predicted CLV
//! with the retention-based lifetime, the loyalty rate and the loyal
//! accounts, invitations limited to loyal accounts, a configured segment
//! that follows purchases, and segments managed through the API.
//!
//! The book is five accounts, small enough to check by hand. Purchases and
//! NPS responses are placed relative to the moment the test seeds them
//! (`now`), so that windows and tenures do not depend on the calendar; the
//! few seconds between seeding and reading move no figure checked here.
//!
//! | account | country | employees | paid orders (days before now: EUR) | NPS (contact: score) |
//! |---|---|---|---|---|
//! | C-1 Brandt | DE | 250 | 400: 6000, 30: 4000 | P-11: 7 then 10, P-12: 9, P-13: 2 (400 days ago) |
//! | C-2 Kessler | DE | 80 | 400: 1200, 200: 1200 less 300 refunded, 30: 900 | P-21: 10, P-22: 3 |
//! | C-3 Alpen | AT | 120 | 400: 2000 (and 9000 pending, 10 days ago) | P-31: 9 |
//! | C-4 Lindqvist | SE | 60 | 30: 5000 | P-41: 8, P-42: 9 |
//! | C-5 Rhein Chemie | DE | 500 | 400: 300, 30: 400 | P-51: 5 |
//!
//! Contacts P-11, P-13, P-21, P-31, P-41 and P-51 are in procurement, the
//! others in engineering.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use loyalty_e2e::daemon::{Daemon, ProgramRules, Setup, random_token};
use serde_json::{Value, json};

/// Scoring with a known margin and a top share of 40 %, invitations for
/// loyal accounts only, and one configured segment: the procurement
/// contacts of German accounts that spent EUR 1,000 in the last year.
const SCORING_AND_SEGMENTS: &str = r#"
[program.eligibility]
loyal = true

[program.scoring]
margin_percent = "30"

[program.scoring.loyalty]
nps_classes = ["promoter"]
clv_top_percent = "40"

[[segments]]
id = "de-buyers"
name = "German buyers spending 1,000 or more"
filter = 'country = "DE" and monetary(365) >= 1000'
contacts = 'role = "procurement"'
"#;

const DAY: i64 = 86_400_000;
/// How long a test waits for the daemon's segment refresher (it looks every
/// 2 s).
const SEGMENT_WAIT: Duration = Duration::from_secs(20);

fn now_ms() -> i64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    i64::try_from(since_epoch.as_millis()).unwrap()
}

struct Program {
    daemon: Daemon,
    token: String,
    http: reqwest::Client,
    /// When the book was seeded: every date in it is relative to this.
    now: i64,
}

impl Program {
    async fn start(invite_only: bool) -> Self {
        let token = random_token().unwrap();
        let setup = Setup {
            admin_token: token.clone(),
            program: ProgramRules::default(),
            shopify: None,
            extra_toml: SCORING_AND_SEGMENTS.to_owned(),
            secrets: Vec::new(),
        };
        let daemon = Daemon::start(&setup).await.unwrap();
        if invite_only {
            // The harness writes `[program]` itself and TOML cannot reopen
            // a table, so the enrollment goes in by editing its file and
            // restarting on the same (still empty) store.
            daemon.kill().unwrap();
            let path = daemon.config_path();
            let config = std::fs::read_to_string(path).unwrap();
            let edited = config.replacen(
                "[program]\n",
                "[program]\nenrollment = \"invite_only\"\n",
                1,
            );
            assert_ne!(edited, config, "no [program] table in\n{config}");
            std::fs::write(path, edited).unwrap();
            daemon.restart().await.unwrap();
        }
        let http = reqwest::Client::new();
        Self {
            daemon,
            token,
            http,
            now: now_ms(),
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

    /// `days` days before the seeding moment.
    fn ago(&self, days: i64) -> i64 {
        self.now - days * DAY
    }

    /// Seeds the book in the module docs.
    async fn seed(&self) {
        self.events(
            "accounts",
            json!([
                { "type": "account", "id": "C-1", "version": 1, "name": "Brandt Maschinenbau GmbH",
                  "country": "DE", "industry": "Manufacturing", "employees": 250,
                  "annual_revenue": eur("40000000.00") },
                { "type": "account", "id": "C-2", "version": 1, "name": "Kessler Hydraulik KG",
                  "country": "DE", "industry": "Manufacturing", "employees": 80,
                  "annual_revenue": eur("12000000.00") },
                { "type": "account", "id": "C-3", "version": 1, "name": "Alpen Logistik AG",
                  "country": "AT", "industry": "Logistics", "employees": 120,
                  "annual_revenue": { "amount": "25000000.00", "currency": "USD" } },
                { "type": "account", "id": "C-4", "version": 1, "name": "Lindqvist Components AB",
                  "country": "SE", "industry": "Manufacturing", "employees": 60 },
                { "type": "account", "id": "C-5", "version": 1, "name": "Rhein Chemie GmbH",
                  "country": "DE", "industry": "Chemicals", "employees": 500,
                  "annual_revenue": eur("90000000.00") },
            ]),
        )
        .await;
        self.events(
            "contacts",
            json!([
                contact("P-11", "C-1", "Anna", "Becker", "procurement"),
                contact("P-12", "C-1", "Jonas", "Weber", "engineering"),
                contact("P-13", "C-1", "Petra", "Schulz", "procurement"),
                contact("P-21", "C-2", "Lena", "Kessler", "procurement"),
                contact("P-22", "C-2", "Tim", "Vogel", "engineering"),
                contact("P-31", "C-3", "Maria", "Huber", "procurement"),
                contact("P-41", "C-4", "Erik", "Lindqvist", "procurement"),
                contact("P-42", "C-4", "Sara", "Berg", "engineering"),
                contact("P-51", "C-5", "Klaus", "Richter", "procurement"),
                contact("P-52", "C-5", "Eva", "Schmitt", "engineering"),
            ]),
        )
        .await;
        self.events(
            "purchases",
            json!([
                purchase("SO-1", "C-1", "paid", "6000.00", self.ago(400)),
                purchase("SO-2", "C-1", "paid", "4000.00", self.ago(30)),
                purchase("SO-3", "C-2", "paid", "1200.00", self.ago(400)),
                purchase("SO-4", "C-2", "paid", "1200.00", self.ago(200)),
                purchase("SO-5", "C-2", "paid", "900.00", self.ago(30)),
                purchase("SO-6", "C-3", "paid", "2000.00", self.ago(400)),
                purchase("SO-7", "C-3", "pending", "9000.00", self.ago(10)),
                purchase("SO-8", "C-4", "paid", "5000.00", self.ago(30)),
                purchase("SO-9", "C-5", "paid", "300.00", self.ago(400)),
                purchase("SO-10", "C-5", "paid", "400.00", self.ago(30)),
            ]),
        )
        .await;
        self.events(
            "refunds",
            json!([{
                "type": "refund", "id": "RF-4", "version": 1, "purchase_id": "SO-4",
                "refunded_at": self.ago(190), "net_amount": { "amount": "300.00", "currency": "EUR" },
            }]),
        )
        .await;
        self.events(
            "nps",
            json!([
                nps("N-1", "P-11", 7, self.ago(300)),
                nps("N-2", "P-11", 10, self.ago(20)),
                nps("N-3", "P-12", 9, self.ago(40)),
                nps("N-4", "P-13", 2, self.ago(400)),
                nps("N-5", "P-21", 10, self.ago(60)),
                nps("N-6", "P-22", 3, self.ago(50)),
                nps("N-7", "P-31", 9, self.ago(45)),
                nps("N-8", "P-41", 8, self.ago(35)),
                nps("N-9", "P-42", 9, self.ago(35)),
                nps("N-10", "P-51", 5, self.ago(25)),
            ]),
        )
        .await;
    }

    /// Account ids by ERP id (`C-1`).
    async fn accounts(&self) -> BTreeMap<String, i64> {
        let snapshot = self.daemon.admin().snapshot().await.unwrap();
        (1..=5)
            .map(|n| {
                let erp = format!("C-{n}");
                let id = snapshot.account_known_as("erp", &erp).unwrap().id;
                (erp, id)
            })
            .collect()
    }

    /// Contact ids by ERP id (`P-11`). The API names contacts by their
    /// store ids and lists no contact with its id, so they are read from
    /// the database, read-only.
    fn contacts(&self) -> BTreeMap<String, i64> {
        let db = rusqlite::Connection::open_with_flags(
            self.daemon.dir().join("data/loyalty.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        let mut stmt = db
            .prepare("SELECT external_id, id FROM contacts WHERE source = 'erp'")
            .unwrap();
        stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// Polls `GET /api/v1/segments/{id}` until it holds `size` members:
    /// the daemon refreshes segments within seconds of applied events.
    async fn wait_for_size(&self, id: &str, size: u64) -> Value {
        let deadline = Instant::now() + SEGMENT_WAIT;
        loop {
            let body = self.get(&format!("/api/v1/segments/{id}")).await;
            if body["segment"]["size"] == json!(size) {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "segment {id} did not reach {size} members in {} s; last seen: {body}\n{}",
                SEGMENT_WAIT.as_secs(),
                self.daemon.log_tail(100)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn eur(amount: &str) -> Value {
    json!({ "amount": amount, "currency": "EUR" })
}

fn contact(id: &str, account: &str, first: &str, last: &str, role: &str) -> Value {
    json!({
        "type": "contact", "id": id, "version": 1, "account_id": account,
        "first_name": first, "last_name": last, "role": role,
    })
}

fn purchase(id: &str, account: &str, status: &str, amount: &str, placed_at: i64) -> Value {
    json!({
        "type": "purchase", "id": id, "version": 1, "account_id": account, "status": status,
        "placed_at": placed_at, "net_amount": { "amount": amount, "currency": "EUR" },
    })
}

/// An NPS response attributed through its contact alone.
fn nps(id: &str, contact: &str, score: u8, at: i64) -> Value {
    json!({
        "type": "engagement", "id": id, "version": 1, "contact_id": contact,
        "kind": "nps_response", "score": score, "occurred_at": at,
    })
}

/// An NPS summary as `(respondents, promoters, passives, detractors, nps,
/// mean_score, class)`.
fn summary(nps: &Value) -> (i64, i64, i64, i64, &str, &str, &str) {
    (
        nps["respondents"].as_i64().unwrap(),
        nps["promoters"].as_i64().unwrap(),
        nps["passives"].as_i64().unwrap(),
        nps["detractors"].as_i64().unwrap(),
        nps["nps"].as_str().unwrap(),
        nps["mean_score"].as_str().unwrap(),
        nps["class"].as_str().unwrap(),
    )
}

fn ids(list: &Value) -> Vec<i64> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|a| a["account_id"].as_i64().unwrap())
        .collect()
}

/// `(account, contacts reached)` of each member or sampled member.
fn reach(members: &Value) -> Vec<(i64, Vec<i64>)> {
    members
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let contacts = m["contacts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_i64().unwrap())
                .collect();
            (m["account_id"].as_i64().unwrap(), contacts)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn insights_score_a_hand_checked_book_and_only_loyal_accounts_may_be_invited() {
    let program = Program::start(true).await;
    program.seed().await;
    let account = program.accounts().await;
    let contact = program.contacts();

    // NPS over the last 365 days, each contact's latest response: P-11's 7
    // is replaced by its 10 and P-13 answered 400 days ago, so 8 count:
    // 10, 9 | 10, 3 | 9 | 8, 9 | 5. Promoters 5, passives 1, detractors 2:
    // (5 - 2) / 8 x 100 = 37.5; mean 63 / 8 = 7.875 -> 7.88, a passive.
    let nps = program.get("/api/v1/insights/nps").await;
    assert_eq!(nps["window_days"], json!(365));
    assert_eq!(
        summary(&nps["program"]),
        (8, 5, 1, 2, "37.5", "7.88", "passive")
    );
    let by_account: BTreeMap<i64, &Value> = nps["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["account_id"].as_i64().unwrap(), &a["nps"]))
        .collect();
    assert_eq!(by_account.len(), 5, "{nps}");
    // C-1: 10 and 9, (2 - 0) / 2 = 100.0, mean 9.50.
    assert_eq!(
        summary(by_account[&account["C-1"]]),
        (2, 2, 0, 0, "100.0", "9.50", "promoter")
    );
    // C-2: 10 and 3 cancel out; mean 6.50 makes the account a detractor.
    assert_eq!(
        summary(by_account[&account["C-2"]]),
        (2, 1, 0, 1, "0.0", "6.50", "detractor")
    );
    assert_eq!(
        summary(by_account[&account["C-3"]]),
        (1, 1, 0, 0, "100.0", "9.00", "promoter")
    );
    // C-4: 8 and 9, (1 - 0) / 2 = 50.0; mean 8.50 is passive.
    assert_eq!(
        summary(by_account[&account["C-4"]]),
        (2, 1, 1, 0, "50.0", "8.50", "passive")
    );
    assert_eq!(
        summary(by_account[&account["C-5"]]),
        (1, 0, 0, 1, "-100.0", "5.00", "detractor")
    );

    // Retention over 365-day windows: C-1, C-2, C-3 and C-5 bought 400 days
    // ago; all but C-3 (whose later order is only pending) bought again in
    // the last 365 days: 3 / 4 = 0.7500, so an expected lifetime of
    // 1 / (1 - 0.75) = 4 years, under the cap of 10.
    let clv = program.get("/api/v1/insights/clv").await;
    assert_eq!(clv["currency"], json!("EUR"));
    assert_eq!(clv["margin_rate"], json!("0.3"));
    assert_eq!(
        clv["retention"],
        json!({ "base": 4, "retained": 3, "rate": "0.7500" })
    );
    assert_eq!(clv["expected_lifetime_years"], json!("4.0000"));
    // Highest revenue first. A tenure of 400 days is 400 / 365 years, so
    // n orders make n x 365 / 400 a year; a 30-day tenure counts as a year.
    let listed = clv["accounts"].as_array().unwrap();
    let order: Vec<i64> = listed
        .iter()
        .map(|a| a["account_id"].as_i64().unwrap())
        .collect();
    assert_eq!(
        order,
        ["C-1", "C-4", "C-2", "C-3", "C-5"].map(|erp| account[erp])
    );
    let expected = [
        // 6000 + 4000 in 2 orders: 2 x 365 / 400 = 1.8250 a year; 5000 x
        // 1.825 x 4 = 36500.00. Margins are 30 % of revenue and prediction.
        json!({ "orders": 2, "revenue": "10000.00", "gross_margin": "3000.00",
                "average_order_value": "5000.00", "orders_per_year": "1.8250",
                "expected_lifetime_years": "4.0000", "predicted": "36500.00",
                "predicted_margin": "10950.00" }),
        // One order 30 days ago: 1.0000 a year; 5000 x 1 x 4 = 20000.00.
        json!({ "orders": 1, "revenue": "5000.00", "gross_margin": "1500.00",
                "average_order_value": "5000.00", "orders_per_year": "1.0000",
                "expected_lifetime_years": "4.0000", "predicted": "20000.00",
                "predicted_margin": "6000.00" }),
        // 1200 + (1200 - 300 refunded) + 900 in 3 orders: 3 x 365 / 400 =
        // 2.7375 a year; 1000 x 2.7375 x 4 = 10950.00.
        json!({ "orders": 3, "revenue": "3000.00", "gross_margin": "900.00",
                "average_order_value": "1000.00", "orders_per_year": "2.7375",
                "expected_lifetime_years": "4.0000", "predicted": "10950.00",
                "predicted_margin": "3285.00" }),
        // 2000 in 1 order (the pending 9000 does not count): 365 / 400 =
        // 0.9125 a year; 2000 x 0.9125 x 4 = 7300.00.
        json!({ "orders": 1, "revenue": "2000.00", "gross_margin": "600.00",
                "average_order_value": "2000.00", "orders_per_year": "0.9125",
                "expected_lifetime_years": "4.0000", "predicted": "7300.00",
                "predicted_margin": "2190.00" }),
        // 300 + 400 in 2 orders: 350 x 1.825 x 4 = 2555.00, whose 30 % is
        // 766.50.
        json!({ "orders": 2, "revenue": "700.00", "gross_margin": "210.00",
                "average_order_value": "350.00", "orders_per_year": "1.8250",
                "expected_lifetime_years": "4.0000", "predicted": "2555.00",
                "predicted_margin": "766.50" }),
    ];
    for (entry, clv) in listed.iter().zip(expected) {
        assert_eq!(entry["clv"], clv, "{entry}");
    }

    // One account's scores: the latest response of each respondent in the
    // window, by contact; P-13's answer is too old to count.
    let brandt = program
        .get(&format!("/api/v1/accounts/{}/scores", account["C-1"]))
        .await;
    assert_eq!(
        summary(&brandt["nps"]),
        (2, 2, 0, 0, "100.0", "9.50", "promoter")
    );
    assert_eq!(
        brandt["responses"],
        json!([
            { "contact_id": contact["P-11"], "score": 10, "class": "promoter", "answered_at": program.ago(20) },
            { "contact_id": contact["P-12"], "score": 9, "class": "promoter", "answered_at": program.ago(40) },
        ])
    );
    assert_eq!(brandt["clv"]["predicted"], json!("36500.00"));
    assert_eq!(brandt["loyal"], json!(true));
    let (status, _) = program
        .call(reqwest::Method::GET, "/api/v1/accounts/999999/scores", None)
        .await;
    assert_eq!(status, 404);

    // Top 40 % by CLV of the 5 accounts with one: ceil(5 x 40 / 100) = 2,
    // C-1 (10000) and C-4 (5000). C-4 is passive, so only C-1, a promoter,
    // is loyal: 1 / 5 = 20.0 %. Nobody is a member yet, so the loyal C-1 is
    // the only account that may be invited.
    let loyalty = program.get("/api/v1/insights/loyalty").await;
    assert_eq!(loyalty["rate"], json!("20.0"));
    assert_eq!(
        (&loyalty["loyal"], &loyalty["accounts"]),
        (&json!(1), &json!(5))
    );
    assert_eq!(
        loyalty["rule"],
        json!({ "nps_classes": ["promoter"], "clv_top_percent": "40" })
    );
    assert_eq!(ids(&loyalty["loyal_accounts"]), [account["C-1"]]);
    assert_eq!(
        loyalty["loyal_accounts"][0],
        json!({
            "account_id": account["C-1"], "name": "Brandt Maschinenbau GmbH", "status": null,
            "nps_class": "promoter", "clv": "10000.00", "loyal": true,
        })
    );
    assert_eq!(ids(&loyalty["eligible"]), [account["C-1"]]);

    // Invitations: C-4 is top but passive, C-3 a promoter outside the top.
    for erp in ["C-4", "C-3"] {
        let (status, refused) = program
            .call(
                reqwest::Method::PUT,
                &format!("/api/v1/accounts/{}/membership", account[erp]),
                Some(json!({ "status": "invited" })),
            )
            .await;
        assert_eq!(status, 409, "{erp}: {refused}");
        assert!(
            refused["error"].as_str().unwrap().contains("not loyal"),
            "{erp}: {refused}"
        );
    }
    let (status, invited) = program
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/accounts/{}/membership", account["C-1"]),
            Some(json!({ "status": "invited" })),
        )
        .await;
    assert_eq!(status, 200, "{invited}");
    assert_eq!(invited["membership"], json!("invited"));
    // Invited, not enrolled yet: still listed, now with its status.
    let loyalty = program.get("/api/v1/insights/loyalty").await;
    assert_eq!(ids(&loyalty["eligible"]), [account["C-1"]]);
    assert_eq!(loyalty["eligible"][0]["status"], json!("invited"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_configured_segment_follows_purchases_and_api_segments_are_managed_beside_it() {
    let program = Program::start(false).await;
    program.seed().await;
    let account = program.accounts().await;
    let contact = program.contacts();

    // German accounts with EUR 1,000 over the last 365 days: C-1 (4000),
    // C-2 (900 left of SO-4, and 900); C-5 has 400. Only the procurement
    // contacts are reached.
    let segment = program.wait_for_size("de-buyers", 2).await;
    assert_eq!(segment["segment"]["origin"], json!("config"));
    assert_eq!(
        segment["segment"]["filter"],
        json!(r#"country = "DE" and monetary(365) >= 1000"#)
    );
    assert_eq!(
        segment["segment"]["contacts"],
        json!(r#"role = "procurement""#)
    );
    let members = program.get("/api/v1/segments/de-buyers/members").await;
    assert_eq!(
        reach(&members["members"]),
        [
            (account["C-1"], vec![contact["P-11"], contact["P-13"]]),
            (account["C-2"], vec![contact["P-21"]]),
        ]
    );

    // C-5 orders 800 more: 400 + 800 = 1200, and it joins.
    program
        .events(
            "rhein-chemie",
            json!([purchase("SO-11", "C-5", "paid", "800.00", now_ms())]),
        )
        .await;
    program.wait_for_size("de-buyers", 3).await;
    let members = program.get("/api/v1/segments/de-buyers/members").await;
    assert_eq!(
        reach(&members["members"]),
        [
            (account["C-1"], vec![contact["P-11"], contact["P-13"]]),
            (account["C-2"], vec![contact["P-21"]]),
            (account["C-5"], vec![contact["P-51"]]),
        ]
    );

    // An API segment: promoters with a CLV of 2000 or more are C-1 (10000)
    // and C-3 (2000); C-4 (5000) is passive. It is materialized before the
    // answer.
    let promoters = json!({
        "id": "promoters-2k",
        "name": "Promoters worth 2,000 or more",
        "filter": r#"nps_class = "promoter" and clv >= 2000"#,
    });
    let (status, created) = program
        .call(
            reqwest::Method::POST,
            "/api/v1/segments",
            Some(promoters.clone()),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        (&created["origin"], &created["size"]),
        (&json!("api"), &json!(2))
    );
    let (status, again) = program
        .call(reqwest::Method::POST, "/api/v1/segments", Some(promoters))
        .await;
    assert_eq!(status, 409, "{again}");
    // Above 2000 leaves C-1 alone.
    let (status, replaced) = program
        .call(
            reqwest::Method::PUT,
            "/api/v1/segments/promoters-2k",
            Some(json!({
                "name": "Promoters worth more than 2,000",
                "filter": r#"nps_class = "promoter" and clv > 2000"#,
            })),
        )
        .await;
    assert_eq!(status, 200, "{replaced}");
    assert_eq!(replaced["size"], json!(1));
    let shown = program.get("/api/v1/segments/promoters-2k").await;
    assert_eq!(ids(&shown["sample"]), [account["C-1"]]);
    // Without a contact filter every contact is reached.
    assert_eq!(
        reach(&shown["sample"]),
        [(
            account["C-1"],
            vec![contact["P-11"], contact["P-12"], contact["P-13"]]
        )]
    );

    // A preview with a syntax error names the column: `DE` at column 11
    // lacks its quotes.
    let (status, refused) = program
        .call(
            reqwest::Method::POST,
            "/api/v1/segments/preview",
            Some(json!({ "filter": "country = DE" })),
        )
        .await;
    assert_eq!(status, 422, "{refused}");
    let message = refused["error"].as_str().unwrap();
    assert!(message.contains("column 11"), "{message}");
    assert!(message.contains(r#"(write `"DE"`)"#), "{message}");
    // Engineering contacts of accounts with 100 employees or more: C-1
    // (250) and C-5 (500); C-2 (80) and C-4 (60) are smaller, C-3 has no
    // engineer. A sample of one shows the lowest account id.
    let (status, preview) = program
        .call(
            reqwest::Method::POST,
            "/api/v1/segments/preview",
            Some(json!({
                "filter": r#"roles contains "engineering" and employees >= 100"#,
                "contacts": r#"role = "engineering""#,
                "sample": 1,
            })),
        )
        .await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!(preview["size"], json!(2));
    assert_eq!(
        reach(&preview["sample"]),
        [(account["C-1"], vec![contact["P-12"]])]
    );
    // Annual revenue is compared in the program currency: C-3's USD 25
    // million is EUR 23 million at 0.92, the only one in [20, 24) million.
    let (status, preview) = program
        .call(
            reqwest::Method::POST,
            "/api/v1/segments/preview",
            Some(json!({ "filter": "annual_revenue >= 20000000 and annual_revenue < 24000000" })),
        )
        .await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!(preview["size"], json!(1));
    assert_eq!(ids(&preview["sample"]), [account["C-3"]]);

    // The configured segment is changed in the file, not through the API.
    let (status, refused) = program
        .call(
            reqwest::Method::PUT,
            "/api/v1/segments/de-buyers",
            Some(json!({ "name": "Everyone", "filter": "member or not member" })),
        )
        .await;
    assert_eq!(status, 409, "{refused}");
    let (status, refused) = program
        .call(reqwest::Method::DELETE, "/api/v1/segments/de-buyers", None)
        .await;
    assert_eq!(status, 409, "{refused}");
    let unchanged = program.get("/api/v1/segments/de-buyers").await;
    assert_eq!(unchanged["segment"]["size"], json!(3));

    let (status, _) = program
        .call(
            reqwest::Method::DELETE,
            "/api/v1/segments/promoters-2k",
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, gone) = program
        .call(reqwest::Method::GET, "/api/v1/segments/promoters-2k", None)
        .await;
    assert_eq!(status, 404, "{gone}");
    let listed = program.get("/api/v1/segments").await;
    let remaining: Vec<&str> = listed["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(remaining, ["de-buyers"]);

    // A refresh on demand finds nothing to change.
    let (status, report) = program
        .call(reqwest::Method::POST, "/api/v1/segments/refresh", None)
        .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        (&report["segments"], &report["joined"], &report["left"]),
        (&json!(1), &json!(0), &json!(0))
    );
}
