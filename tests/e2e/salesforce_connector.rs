//! The Salesforce connector end to end: the real `loyaltyd` binary with the
//! official `salesforce.wasm`, polling an emulated org through OAuth 2.0
//! client credentials, and pushing campaigns and reward Tasks back.
//!
//! Every test runs its own daemon and emulator. Program: 2 points per EUR,
//! rounded down, USD at 0.92 EUR, 500 points per attended event. The org is
//! multi-currency; the sample data and its points:
//!
//! | account | purchases | points |
//! |---|---|---|
//! | Brandt (DE) | won 1.285E4 EUR (two lines) | 25700 |
//! | Keller (CH) | won 1000.50 USD; attended Hannover Messe | 1840 + 500 |
//! | Nordwind (DK) | won 99.99 EUR; lost 500 EUR | 199 |
//! | Oakridge (US) | none, no contacts | 0 |
//!
//! The daemon starts a sync as soon as it is up; a test that changes the
//! org or injects a failure for the sync it starts itself waits for that
//! first sync to end (`settle`).
//!
//! Salesforce has no shared-secret webhooks (its Outbound Messages are SOAP),
//! so there is no webhook test; the host's OAuth token refresh is tested
//! instead.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

use std::time::{Duration, Instant};

use loyalty_e2e::daemon::admin::SyncStatus;
use loyalty_e2e::daemon::{Daemon, ProgramRules, Setup, Snapshot, random_token};
use loyalty_e2e::official_plugin;
use loyalty_e2e::salesforce::{Failure, SalesforceEmulator};
use serde_json::{Value, json};

const CLIENT_ID: &str = "3MVG9e2eLoyaltyConnectedAppConsumerKey";
const CLIENT_SECRET: &str = "e2e-salesforce-consumer-secret";
/// The connector's name, which is the source of everything it produces.
const SOURCE: &str = "salesforce";
const QUERY_ALL: &str = "/services/data/v60.0/queryAll";

const BRANDT: &str = "001Dn0000000001AAA";
const KELLER: &str = "001Dn0000000002AAA";
const NORDWIND: &str = "001Dn0000000003AAA";
const OAKRIDGE: &str = "001Dn0000000004AAA";
const JANA: &str = "003Dn0000000001AAA";
const URS: &str = "003Dn0000000002AAA";
const METTE: &str = "003Dn0000000003AAA";
const OWNER: &str = "005Dn0000000001AAA";
const BRANDT_WON: &str = "006Dn0000000001AAA";
const KELLER_WON: &str = "006Dn0000000002AAA";
const NORDWIND_WON: &str = "006Dn0000000003AAA";
const NORDWIND_LOST: &str = "006Dn0000000004AAA";
/// A customer Brandt refers, added by the referral test.
const LINDQVIST: &str = "001Dn0000000005AAA";
const LINDQVIST_WON: &str = "006Dn0000000006AAA";

/// `2026-05-01T07:MM:00.000+0000`: distinct, ordered modstamps.
fn at(minute: u32) -> String {
    format!("2026-05-01T07:{minute:02}:00.000+0000")
}

/// A JSON number with its exact text (`1.285E4` stays in exponent notation).
fn number(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

fn account(id: &str, name: &str, country: &str, website: &str, minute: u32) -> Value {
    json!({"Id": id, "IsDeleted": false, "SystemModstamp": at(minute), "Name": name,
           "Industry": "Machinery", "NumberOfEmployees": 250, "AnnualRevenue": number("2.5E7"),
           "ParentId": null, "BillingCountry": country, "Website": website, "OwnerId": OWNER,
           "CurrencyIsoCode": "EUR"})
}

fn contact(id: &str, account: &str, email: &str, minute: u32) -> Value {
    json!({"Id": id, "IsDeleted": false, "SystemModstamp": at(minute), "AccountId": account,
           "Email": email, "FirstName": "Test", "LastName": id, "Title": "Head of Purchasing"})
}

fn opportunity(
    id: &str,
    account: &str,
    amount: &str,
    currency: &str,
    won: bool,
    minute: u32,
) -> Value {
    json!({"Id": id, "IsDeleted": false, "SystemModstamp": at(minute), "AccountId": account,
           "ContactId": null, "Name": format!("Deal {id}"),
           "StageName": if won { "Closed Won" } else { "Closed Lost" },
           "IsClosed": true, "IsWon": won, "Amount": number(amount), "CloseDate": "2026-04-30",
           "CurrencyIsoCode": currency})
}

/// The sample org.
fn populate(org: &SalesforceEmulator) {
    org.enable_multi_currency();
    org.put(
        "User",
        json!({"Id": OWNER, "IsDeleted": false, "SystemModstamp": at(0), "Name": "Petra Vertrieb"}),
    );
    org.put(
        "Account",
        account(
            BRANDT,
            "Brandt Maschinenbau GmbH",
            "Germany",
            "https://www.brandt-maschinenbau.de/",
            1,
        ),
    );
    org.put(
        "Account",
        account(KELLER, "Keller Logistik AG", "CH", "keller-logistik.ch", 2),
    );
    org.put(
        "Account",
        account(
            NORDWIND,
            "Nordwind Energy ApS",
            "Denmark",
            "http://nordwind.dk",
            3,
        ),
    );
    org.put(
        "Account",
        account(
            OAKRIDGE,
            "Oakridge Tools Inc.",
            "United States",
            "oakridge.example",
            4,
        ),
    );
    org.put(
        "Contact",
        contact(JANA, BRANDT, "jana.brandt@brandt-maschinenbau.de", 5),
    );
    org.put(
        "Contact",
        contact(URS, KELLER, "urs.keller@keller-logistik.ch", 6),
    );
    org.put("Contact", contact(METTE, NORDWIND, "mette@nordwind.dk", 7));
    for (id, family, name) in [
        ("01tDn0000000001AAA", "Machines", "Hydraulic press HP-200"),
        ("01tDn0000000002AAA", "Services", "Installation"),
    ] {
        org.put("Product2", json!({"Id": id, "IsDeleted": false, "SystemModstamp": at(0), "Name": name, "ProductCode": null, "Family": family}));
    }
    org.put(
        "Opportunity",
        opportunity(BRANDT_WON, BRANDT, "1.285E4", "EUR", true, 10),
    );
    org.put("OpportunityLineItem", json!({"Id": "00kDn0000000001AAA", "IsDeleted": false, "SystemModstamp": at(10),
        "OpportunityId": BRANDT_WON, "Product2Id": "01tDn0000000001AAA", "ProductCode": "HP-200", "Name": "Deal HP-200",
        "Quantity": number("2.0"), "UnitPrice": number("6000.0"), "TotalPrice": number("11400.0"), "Discount": number("5.0"),
        "CurrencyIsoCode": "EUR"}));
    org.put("OpportunityLineItem", json!({"Id": "00kDn0000000002AAA", "IsDeleted": false, "SystemModstamp": at(10),
        "OpportunityId": BRANDT_WON, "Product2Id": "01tDn0000000002AAA", "ProductCode": "SRV-INST", "Name": "Deal installation",
        "Quantity": number("12.5"), "UnitPrice": number("116.0"), "TotalPrice": number("1450.0"), "Discount": null,
        "CurrencyIsoCode": "EUR"}));
    org.put(
        "Opportunity",
        opportunity(KELLER_WON, KELLER, "1000.50", "USD", true, 11),
    );
    org.put(
        "Opportunity",
        opportunity(NORDWIND_WON, NORDWIND, "99.99", "EUR", true, 12),
    );
    org.put(
        "Opportunity",
        opportunity(NORDWIND_LOST, NORDWIND, "500", "EUR", false, 13),
    );
    org.put("Opportunity", json!({"Id": "006Dn0000000009AAA", "IsDeleted": false, "SystemModstamp": at(14),
        "AccountId": OAKRIDGE, "Name": "Open deal", "StageName": "Negotiation", "IsClosed": false, "IsWon": false,
        "Amount": 1_000_000, "CloseDate": "2026-09-30", "CurrencyIsoCode": "EUR"}));
    org.put("Contract", json!({"Id": "800Dn0000000001AAA", "IsDeleted": false, "SystemModstamp": at(20),
        "AccountId": BRANDT, "ContractNumber": "00000100", "Name": "Service agreement 2026", "Status": "Activated",
        "StatusCode": "Activated", "StartDate": "2026-01-01", "EndDate": "2026-12-31"}));
    org.put(
        "Campaign",
        json!({"Id": "701Dn0000000001AAA", "IsDeleted": false, "SystemModstamp": at(0),
        "Name": "Hannover Messe 2026", "IsActive": true, "Description": null}),
    );
    org.put(
        "CampaignMember",
        json!({"Id": "00vDn0000000001AAA", "IsDeleted": false, "SystemModstamp": at(30),
        "CampaignId": "701Dn0000000001AAA", "ContactId": URS, "LeadId": null, "Status": "Attended",
        "FirstRespondedDate": "2026-04-22"}),
    );
    org.put(
        "CampaignMember",
        json!({"Id": "00vDn0000000002AAA", "IsDeleted": false, "SystemModstamp": at(31),
        "CampaignId": "701Dn0000000001AAA", "ContactId": METTE, "LeadId": null, "Status": "Sent",
        "FirstRespondedDate": null}),
    );
}

/// A daemon polling the emulated org, and the org.
struct Org {
    emulator: SalesforceEmulator,
    daemon: Daemon,
    admin_token: String,
}

async fn org(page_size: u32, client_secret: &str, settings: &str) -> Org {
    org_prepared(page_size, client_secret, settings, |_| {}).await
}

/// [`org`], with `prepare` run on the emulator before the daemon starts
/// (and so before the sync it starts at once).
async fn org_prepared(
    page_size: u32,
    client_secret: &str,
    settings: &str,
    prepare: impl FnOnce(&SalesforceEmulator),
) -> Org {
    let emulator = SalesforceEmulator::start(CLIENT_ID, CLIENT_SECRET)
        .await
        .unwrap();
    populate(&emulator);
    prepare(&emulator);
    let base = emulator.base_url();
    let s = |text: &str| Value::from(text).to_string();
    let extra_toml = format!(
        r#"
[[program.engagement]]
kind = "event_attended"
points = 500

[[program.rewards]]
id = "training-day"
name = "Operator training day"
kind = "service"
points = 1000
connector = "salesforce"

[connectors.salesforce]
plugin = {plugin}
allowed_hosts = [{base}]
settings = {{ instance_url = {base}, currency = "EUR", multi_currency = "true"{settings} }}

[connectors.salesforce.poll]
interval_seconds = 3600
page_size = {page_size}

[connectors.salesforce.credentials.api]
inject = "oauth2"
token_url = {token_url}
grant = "client_credentials"
client_id = {client_id}
file = "secrets/salesforce_client_secret"
hosts = [{base}]
"#,
        plugin = s(&official_plugin("salesforce").to_string_lossy()),
        base = s(&base),
        token_url = s(&emulator.token_url()),
        client_id = s(CLIENT_ID),
    );
    let setup = Setup {
        admin_token: random_token().unwrap(),
        program: ProgramRules::default(),
        shopify: None,
        extra_toml,
        secrets: vec![(
            "salesforce_client_secret".to_owned(),
            client_secret.to_owned(),
        )],
    };
    let daemon = Daemon::start(&setup).await.unwrap();
    Org {
        emulator,
        daemon,
        admin_token: setup.admin_token,
    }
}

impl Org {
    /// Starts a sync and waits until one completes (rate limits and
    /// transient failures are retried by the daemon on the way).
    async fn sync_to_end(&self) -> SyncStatus {
        let before = self.daemon.admin().sync_status(SOURCE).await.unwrap();
        self.start_sync().await;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let now = self.daemon.admin().sync_status(SOURCE).await.unwrap();
            if now.completed > before.completed {
                return now;
            }
            assert!(
                Instant::now() < deadline,
                "no sync completed: {now:?}\n{}",
                self.daemon.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the sync the daemon starts on its own at startup has
    /// ended, so that a test's changes and injected failures meet the sync
    /// the test starts.
    async fn settle(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let status = self.daemon.admin().sync_status(SOURCE).await.unwrap();
            if !status.running && status.completed + status.failures > 0 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the startup sync did not end: {status:?}\n{}",
                self.daemon.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `POST /api/v1/connectors/salesforce/sync`, without waiting.
    async fn start_sync(&self) {
        let response = reqwest::Client::new()
            .post(format!(
                "{}/api/v1/connectors/{SOURCE}/sync",
                self.daemon.base_url()
            ))
            .bearer_auth(&self.admin_token)
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202, "{}", response.text().await.unwrap());
    }

    async fn snapshot(&self) -> Snapshot {
        self.daemon.admin().snapshot().await.unwrap()
    }

    /// `GET` on the admin API; it must answer 200 with JSON.
    async fn get(&self, path: &str) -> Value {
        let response = reqwest::Client::new()
            .get(format!("{}{path}", self.daemon.base_url()))
            .bearer_auth(&self.admin_token)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(status, 200, "GET {path}: {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// The queries of objects whose SOQL reads `object`.
    fn queries_of(&self, object: &str) -> Vec<String> {
        self.emulator
            .queries()
            .into_iter()
            .filter(|q| {
                q.contains(&format!(" FROM {object} ")) || q.ends_with(&format!(" FROM {object}"))
            })
            .collect()
    }
}

fn balance(snapshot: &Snapshot, id: &str) -> Option<i64> {
    snapshot.balance_of(SOURCE, id)
}

fn earn_entries(snapshot: &Snapshot, id: &str) -> usize {
    snapshot
        .ledger_of(SOURCE, id)
        .map_or(0, |l| l.entries.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_initial_sync_across_pages_brings_every_record_and_the_right_balances() {
    let org = org(2, CLIENT_SECRET, "").await;
    let status = org.daemon.admin().sync(SOURCE).await.unwrap();
    assert_eq!(status.last_error, None, "{}", org.daemon.log());
    assert!(
        status.pages >= 6,
        "four accounts in pages of two, then more: {status:?}"
    );

    let state = org.snapshot().await;
    let brandt = state.account_known_as(SOURCE, BRANDT).unwrap();
    assert_eq!(brandt.name, "Brandt Maschinenbau GmbH");
    assert_eq!(brandt.country.as_deref(), Some("DE"));
    assert_eq!(brandt.domain.as_deref(), Some("brandt-maschinenbau.de"));
    let jana = brandt.contact(SOURCE, JANA).unwrap();
    assert_eq!(
        jana.email.as_deref(),
        Some("jana.brandt@brandt-maschinenbau.de")
    );
    assert_eq!(jana.role.as_deref(), Some("Head of Purchasing"));
    assert_eq!(
        state
            .account_known_as(SOURCE, OAKRIDGE)
            .unwrap()
            .country
            .as_deref(),
        Some("US")
    );
    // 1.285E4 EUR = 12850 EUR, two points each.
    assert_eq!(balance(&state, BRANDT), Some(25_700));
    // 1000.50 USD x 0.92 = 920.46 EUR -> 1840.92 -> 1840, and 500 for the fair.
    assert_eq!(balance(&state, KELLER), Some(2_340));
    // 99.99 EUR -> 199.98 -> 199; the lost deal earns nothing.
    assert_eq!(balance(&state, NORDWIND), Some(199));
    assert_eq!(
        balance(&state, OAKRIDGE),
        Some(0),
        "an open deal is not a purchase"
    );

    let accounts = org.queries_of("Account");
    assert!(
        accounts[0].ends_with("FROM Account ORDER BY SystemModstamp, Id LIMIT 2"),
        "the first sync has no lower bound: {}",
        accounts[0]
    );
    assert!(
        accounts[1].contains(&format!(
            "WHERE (SystemModstamp > 2026-05-01T07:02:00.000Z OR (SystemModstamp = 2026-05-01T07:02:00.000Z AND Id > '{KELLER}'))"
        )),
        "the second page continues after the first: {}",
        accounts[1]
    );
    assert_eq!(org.emulator.tokens_issued(), 1, "the host caches the token");
    for request in org
        .emulator
        .requests()
        .iter()
        .filter(|r| r.path().starts_with("/services/data/"))
    {
        assert!(
            request
                .header("authorization")
                .unwrap()
                .starts_with("Bearer 00DDn000000Emu1!"),
            "{request:?}"
        );
    }
    let cursor: Value = serde_json::from_str(status.cursor.as_deref().unwrap()).unwrap();
    assert_eq!(cursor["stage"], "Account");
    assert_eq!(cursor["marks"]["Opportunity"], "2026-05-01T07:13:00.000Z");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incremental_sync_reads_from_the_committed_marks_and_applies_only_the_changes() {
    let org = org(3, CLIENT_SECRET, "").await;
    org.daemon.admin().sync(SOURCE).await.unwrap();
    let before = org.snapshot().await;
    let queries_before = org.emulator.queries().len();

    // Brandt wins another deal, Jana changes her email, and Nordwind's won
    // deal is moved to a lost stage.
    org.emulator.put(
        "Opportunity",
        opportunity("006Dn0000000005AAA", BRANDT, "100", "EUR", true, 40),
    );
    org.emulator.update(
        "Contact",
        JANA,
        json!({"Email": "jana@brandt.example", "SystemModstamp": at(41)}),
    );
    org.emulator.update(
        "Opportunity",
        NORDWIND_WON,
        json!({"IsWon": false, "StageName": "Closed Lost", "SystemModstamp": at(42)}),
    );
    let status = org.daemon.admin().sync(SOURCE).await.unwrap();
    assert_eq!(status.last_error, None);

    let queries = org.emulator.queries()[queries_before..].to_vec();
    let expect = [
        ("Account", "2026-05-01T07:04:00.000Z"),
        ("Contact", "2026-05-01T07:07:00.000Z"),
        ("Opportunity", "2026-05-01T07:13:00.000Z"),
        ("Contract", "2026-05-01T07:20:00.000Z"),
        ("CampaignMember", "2026-05-01T07:30:00.000Z"),
    ];
    for (object, mark) in expect {
        let first = queries
            .iter()
            .find(|q| q.contains(&format!(" FROM {object} ")))
            .unwrap_or_else(|| panic!("no {object} query in {queries:#?}"));
        assert!(
            first.contains(&format!("FROM {object} WHERE SystemModstamp >= {mark}")),
            "{first}"
        );
    }

    let after = org.snapshot().await;
    assert_eq!(balance(&after, BRANDT), Some(25_700 + 200));
    assert_eq!(balance(&after, KELLER), balance(&before, KELLER));
    assert_eq!(
        earn_entries(&after, KELLER),
        earn_entries(&before, KELLER),
        "nothing new for Keller"
    );
    assert_eq!(
        balance(&after, NORDWIND),
        Some(0),
        "the lost deal reverses its 199 points"
    );
    assert_eq!(
        earn_entries(&after, NORDWIND),
        earn_entries(&before, NORDWIND) + 1
    );
    let brandt = after.account_known_as(SOURCE, BRANDT).unwrap();
    assert_eq!(
        brandt.contact(SOURCE, JANA).unwrap().email.as_deref(),
        Some("jana@brandt.example")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_killed_between_two_pages_resumes_from_the_committed_cursor() {
    // The daemon starts its first sync at once; its second page is held.
    let mut held = None;
    let org = org_prepared(2, CLIENT_SECRET, "", |emulator| {
        held = Some(emulator.hold_next(|r| {
            r.soql()
                .is_some_and(|q| q.contains("FROM Account WHERE (SystemModstamp >"))
        }));
    })
    .await;
    let gate = held.unwrap();
    gate.arrived().await;
    // The first page commits while the second is fetched.
    org.daemon
        .admin()
        .sync_committed(SOURCE, |s| {
            s.cursor.as_deref().is_some_and(|c| c.contains(KELLER))
        })
        .await
        .unwrap();
    org.daemon.kill().unwrap();
    gate.release();

    let committed = org.queries_of("Account").len();
    assert_eq!(committed, 2, "the first page was read, the second held");
    org.daemon.restart().await.unwrap();
    let status = org.sync_to_end().await;
    assert_eq!(status.last_error, None);

    let accounts = org.queries_of("Account");
    assert!(
        accounts[2].contains(&format!("Id > '{KELLER}'")),
        "the restarted daemon continues after the committed page: {}",
        accounts[2]
    );
    assert_eq!(
        accounts.iter().filter(|q| !q.contains("WHERE")).count(),
        1,
        "the sync did not start over: {accounts:#?}"
    );
    let state = org.snapshot().await;
    assert_eq!(state.accounts.len(), 4);
    assert_eq!(balance(&state, BRANDT), Some(25_700));
    assert_eq!(balance(&state, KELLER), Some(2_340));
    assert_eq!(balance(&state, NORDWIND), Some(199));
    assert_eq!(earn_entries(&state, BRANDT), 1, "earned once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_query_is_retried_no_sooner_than_retry_after() {
    let org = org(100, CLIENT_SECRET, "").await;
    org.settle().await;
    let from = org.emulator.requests().len();
    org.emulator.fail_next(
        QUERY_ALL,
        Failure::TooManyRequests {
            retry_after_secs: 1,
        },
    );
    let status = org.sync_to_end().await;
    assert_eq!(status.last_error, None);

    let queries: Vec<_> = org.emulator.requests()[from..]
        .iter()
        .filter(|r| r.path() == QUERY_ALL)
        .cloned()
        .collect();
    assert_eq!(queries[0].soql(), queries[1].soql(), "the same page again");
    let waited = queries[1].at - queries[0].at;
    assert!(waited >= Duration::from_secs(1), "retried after {waited:?}");
    assert_eq!(balance(&org.snapshot().await, BRANDT), Some(25_700));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_is_refreshed_by_the_host_and_the_sync_goes_on() {
    let org = org(100, CLIENT_SECRET, "").await;
    org.daemon.admin().sync(SOURCE).await.unwrap();
    assert_eq!(org.emulator.tokens_issued(), 1);

    let from = org.emulator.requests().len();
    org.emulator.expire_tokens();
    org.emulator.put(
        "Opportunity",
        opportunity("006Dn0000000005AAA", BRANDT, "100", "EUR", true, 40),
    );
    let status = org.daemon.admin().sync(SOURCE).await.unwrap();
    assert_eq!(status.last_error, None, "{}", org.daemon.log());
    assert_eq!(org.emulator.tokens_issued(), 2, "one fresh token");
    // The first call with the expired token was refused, then repeated with
    // the fresh one.
    let api: Vec<_> = org.emulator.requests()[from..]
        .iter()
        .filter(|r| r.path().starts_with("/services/"))
        .map(|r| {
            (
                r.path().to_owned(),
                r.header("authorization").map(str::to_owned),
            )
        })
        .collect();
    assert!(
        api[0].1.as_deref().unwrap().ends_with(".token.1"),
        "{api:?}"
    );
    assert_eq!(api[1].0, "/services/oauth2/token", "{api:?}");
    assert_eq!(api[2].0, api[0].0, "the same call again: {api:?}");
    assert!(
        api[2].1.as_deref().unwrap().ends_with(".token.2"),
        "{api:?}"
    );
    assert_eq!(balance(&org.snapshot().await, BRANDT), Some(25_900));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_client_secret_stops_the_sync_with_a_clear_error() {
    let org = org(100, "not-the-secret", "").await;
    let status = org.daemon.admin().sync(SOURCE).await.unwrap();
    let error = status.last_error.expect("the sync fails");
    assert!(error.contains("token") && error.contains("400"), "{error}");
    assert_eq!(org.emulator.tokens_issued(), 0);
    assert!(org.snapshot().await.accounts.is_empty());
    assert!(
        org.emulator.queries().is_empty(),
        "no API call without a token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_push_and_a_reward_fulfilment_land_in_salesforce() {
    let org = org(100, CLIENT_SECRET, ", campaign_member_status = \"Invited\"").await;
    org.daemon.admin().sync(SOURCE).await.unwrap();
    let state = org.snapshot().await;
    let internal = |id: &str| state.account_known_as(SOURCE, id).unwrap().id;

    let answer = org
        .daemon
        .admin()
        .push_campaign(
            SOURCE,
            &json!({"campaign_id": "spring-2026", "name": "Spring offer", "subject": "10% off in spring",
                    "offer": {"id": "spring10", "code": "SPRING10", "percent_off": "10"},
                    "accounts": [internal(BRANDT), internal(KELLER), internal(NORDWIND), internal(OAKRIDGE)]}),
        )
        .await
        .unwrap();
    let batch = &answer["batches"][0];
    let campaigns = org.emulator.records("Campaign");
    let spring = campaigns
        .iter()
        .find(|c| c["Name"] == "Spring offer")
        .unwrap();
    assert_eq!(batch["external_id"], spring["Id"]);
    assert_eq!(spring["IsActive"], true);
    assert!(
        spring["Description"]
            .as_str()
            .unwrap()
            .contains("SPRING10 (10% off)")
    );
    assert_eq!(batch["accepted"], 3, "{answer}");
    assert_eq!(batch["rejected"][0]["account_id"], OAKRIDGE, "{answer}");
    let members: Vec<Value> = org
        .emulator
        .records("CampaignMember")
        .into_iter()
        .filter(|m| m["CampaignId"] == spring["Id"])
        .collect();
    let mut contacts: Vec<&str> = members
        .iter()
        .map(|m| m["ContactId"].as_str().unwrap())
        .collect();
    contacts.sort_unstable();
    assert_eq!(contacts, [JANA, URS, METTE]);
    assert!(members.iter().all(|m| m["Status"] == "Invited"));
    let composite = org
        .emulator
        .requests()
        .into_iter()
        .find(|r| r.path() == "/services/data/v60.0/composite/sobjects")
        .unwrap();
    assert_eq!(composite.json()["allOrNone"], false);

    // 25700 points: the training day costs 1000.
    let response = reqwest::Client::new()
        .post(format!(
            "{}/api/v1/accounts/{}/redemptions",
            org.daemon.base_url(),
            internal(BRANDT)
        ))
        .bearer_auth(&org.admin_token)
        .header("Idempotency-Key", "redeem-training-1")
        .header("content-type", "application/json")
        .body(json!({"reward": "training-day"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    let deadline = Instant::now() + Duration::from_secs(20);
    let task = loop {
        if let Some(task) = org.emulator.records("Task").into_iter().next() {
            break task;
        }
        assert!(Instant::now() < deadline, "no Task\n{}", org.daemon.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(task["WhatId"], BRANDT);
    assert_eq!(task["OwnerId"], OWNER);
    assert_eq!(task["Subject"], "Loyalty reward: Operator training day");
    assert_eq!(task["Status"], "Not Started");
    assert!(
        task["Description"]
            .as_str()
            .unwrap()
            .contains("training-day")
    );
    let state = org
        .daemon
        .wait_until("the training day is redeemed", |s| {
            balance(s, BRANDT) == Some(24_700)
        })
        .await
        .unwrap();
    assert_eq!(balance(&state, BRANDT), Some(24_700));
    assert_eq!(org.emulator.records("Task").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_record_stops_the_sync_with_an_error_naming_it() {
    let org = org(100, CLIENT_SECRET, "").await;
    org.settle().await;
    org.emulator.update(
        "Opportunity",
        KELLER_WON,
        json!({"CloseDate": "31.05.2026", "SystemModstamp": at(44)}),
    );
    let status = org.daemon.admin().sync(SOURCE).await.unwrap();
    let error = status.last_error.expect("the sync fails");
    assert!(
        error.contains(KELLER_WON) && error.contains("`CloseDate`") && error.contains("31.05.2026"),
        "{error}"
    );
    // The pages before the bad one are committed.
    let state = org.snapshot().await;
    assert_eq!(state.accounts.len(), 4);

    // Fixed in Salesforce, the next sync goes through.
    org.emulator.update(
        "Opportunity",
        KELLER_WON,
        json!({"CloseDate": "2026-05-31", "SystemModstamp": at(45)}),
    );
    let status = org.daemon.admin().sync(SOURCE).await.unwrap();
    assert_eq!(status.last_error, None);
    assert_eq!(balance(&org.snapshot().await, KELLER), Some(2_340));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_field_the_org_lacks_is_a_permanent_error_naming_it() {
    let org = org(100, CLIENT_SECRET, ", tax_id_field = \"VAT_Number__c\"").await;
    let status = org.daemon.admin().sync(SOURCE).await.unwrap();
    let error = status.last_error.expect("the sync fails");
    assert!(
        error.contains("INVALID_FIELD") && error.contains("VAT_Number__c"),
        "{error}"
    );

    org.emulator.add_field("Account", "VAT_Number__c");
    org.emulator
        .update("Account", BRANDT, json!({"VAT_Number__c": "DE811234567"}));
    let status = org.daemon.admin().sync(SOURCE).await.unwrap();
    assert_eq!(status.last_error, None);
    let state = org.snapshot().await;
    assert_eq!(
        state
            .account_known_as(SOURCE, BRANDT)
            .unwrap()
            .tax_id
            .as_deref(),
        Some("DE811234567")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_won_opportunity_carrying_a_customers_referral_code_makes_its_account_a_referral() {
    let org = org_prepared(
        100,
        CLIENT_SECRET,
        ", referral_code_field = \"Referral_Code__c\"",
        |emulator| emulator.add_field("Opportunity", "Referral_Code__c"),
    )
    .await;
    let status = org.daemon.admin().sync(SOURCE).await.unwrap();
    assert_eq!(status.last_error, None, "{}", org.daemon.log());
    let brandt = org
        .snapshot()
        .await
        .account_known_as(SOURCE, BRANDT)
        .unwrap()
        .id;
    let code = org
        .get(&format!("/api/v1/accounts/{brandt}/referral-code"))
        .await["code"]
        .as_str()
        .unwrap()
        .to_owned();

    // A new customer's first deal carries Brandt's code, padded as typed.
    org.emulator.put(
        "Account",
        account(
            LINDQVIST,
            "Lindqvist Automation AB",
            "SE",
            "lindqvist.se",
            40,
        ),
    );
    let mut deal = opportunity(LINDQVIST_WON, LINDQVIST, "500", "EUR", true, 41);
    deal["Referral_Code__c"] = json!(format!(" {code} "));
    org.emulator.put("Opportunity", deal);
    let status = org.daemon.admin().sync(SOURCE).await.unwrap();
    assert_eq!(status.last_error, None, "{}", org.daemon.log());
    assert!(
        org.queries_of("Opportunity")
            .iter()
            .all(|q| q.contains(", Referral_Code__c, ")),
        "{:#?}",
        org.queries_of("Opportunity")
    );

    let state = org.snapshot().await;
    let lindqvist = state.account_known_as(SOURCE, LINDQVIST).unwrap().id;
    assert_eq!(
        balance(&state, LINDQVIST),
        Some(1_000),
        "500 EUR earns as usual"
    );
    let referrals = org
        .get(&format!("/api/v1/accounts/{brandt}/referrals"))
        .await;
    let referred: Vec<i64> = referrals["referrals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["referred"].as_i64().unwrap())
        .collect();
    assert_eq!(referred, [lindqvist], "{referrals}");
}
