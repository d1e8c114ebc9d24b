//! `loyalty-demo`: the whole engine on one machine in a minute.
//!
//! Builds `loyaltyd` and the four official connectors, writes a
//! configuration with fresh random secrets into `./demo/`, starts emulated
//! Shopify, Salesforce, HubSpot and SAP S/4HANA APIs and the real daemon,
//! plays a B2B order's life through signed Shopify webhooks (created on
//! payment terms, paid, a retried delivery, the same change from a second
//! subscription, a partial refund), then syncs the same customer's records
//! from Salesforce, HubSpot and SAP, which join its account through the SAP
//! number every system keeps, and shows the accounts and ledger. Then it
//! seeds a believable quarter of an industrial-supplies vendor's program
//! (twenty companies, their orders, NPS answers, referrals and rewards; see
//! `loyalty_e2e::demo_book`), prints the quarter's figures and where to open
//! the admin dashboard, a member's portal, an invitation and the quarterly
//! review, and keeps the daemon running for you to explore, until Ctrl-C.
//!
//! `cargo run --release -p loyalty-e2e --bin loyalty-demo`

#![allow(
    clippy::print_stdout,
    reason = "the demo's output is meant for the person running it"
)]

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use loyalty_e2e::daemon::admin::Account;
use loyalty_e2e::daemon::{Daemon, ProgramRules, Setup, ShopifySetup, Snapshot, random_token};
use loyalty_e2e::demo_book::{self, AdminHttp, Member, Quarter};
use loyalty_e2e::landscape::Landscape;
use loyalty_e2e::shopify::samples::{self, API_VERSION, COMPANY_ID, GLOVES_LINE_ID, SHOP_DOMAIN};
use loyalty_e2e::shopify::{ShopifyEmulator, WebhookSender};
use loyalty_e2e::{loyaltyd_binary, official_plugin};
use serde_json::{Value, json};

/// The program: 2 points per EUR, rounded down (the book's terms say so).
const POINTS_PER_EUR: &str = "2";

/// The member portal and the admin dashboard; the secret is written to
/// `secrets/portal`.
const PORTAL_TOML: &str = r#"
[portal]
title = "Rheinwerk Partner Rewards"
secret = { file = "secrets/portal" }
"#;

/// The connectors the demo polls (Shopify sends webhooks).
const POLLED: [&str; 3] = ["salesforce", "hubspot", "sap"];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    println!("Building loyaltyd and the connectors (the first build takes a few minutes)...");
    let binary = loyaltyd_binary();
    let plugin = official_plugin("shopify");
    println!("  daemon:     {}", binary.display());
    for name in ["shopify", "salesforce", "hubspot", "sap"] {
        println!("  connector:  {}", official_plugin(name).display());
    }

    let cwd = std::env::current_dir()?;
    let dir = cwd.join("demo");
    clear_previous_run(&dir)?;

    let webhook_secret = random_token()?;
    let access_token = format!("shpat_{}", &random_token()?[..32]);
    let admin_token = random_token()?;
    let portal_secret = random_token()?;
    let quarter = Quarter::containing(now_ms()?);

    let emulator = ShopifyEmulator::start(&access_token).await?;
    emulator.put_company(samples::company());
    println!(
        "\nEmulated Shopify Admin API (GraphQL) at {}",
        emulator.base_url()
    );

    let landscape = Landscape::start().await?;
    println!(
        "Emulated Salesforce at {}, HubSpot at {}, SAP S/4HANA at {}",
        landscape.salesforce.base_url(),
        landscape.hubspot.base_url(),
        landscape.sap.base_url()
    );

    let setup = Setup {
        admin_token: admin_token.clone(),
        program: ProgramRules {
            points_per_unit: POINTS_PER_EUR.to_owned(),
            ..ProgramRules::default()
        },
        shopify: Some(ShopifySetup {
            plugin,
            shop_domain: SHOP_DOMAIN.to_owned(),
            api_version: API_VERSION.to_owned(),
            admin_base_url: emulator.base_url(),
            webhook_secret: webhook_secret.clone(),
            admin_access_token: access_token,
        }),
        extra_toml: format!(
            "{}{}{PORTAL_TOML}",
            landscape.connectors_toml(&POLLED),
            demo_book::program_toml(&quarter)
        ),
        secrets: [
            landscape.secrets(),
            vec![("portal".to_owned(), portal_secret)],
        ]
        .concat(),
    };
    let daemon = Daemon::start_in(&dir, &setup).await?;
    println!("loyaltyd is ready at {}", daemon.base_url());

    println!(
        "\nThe daemon syncs its polled connectors at start: the customer's won opportunity (Salesforce), won deal (HubSpot) and sales order (SAP)"
    );
    for connector in POLLED {
        let status = daemon.admin().sync(connector).await?;
        println!(
            "  {connector:<10} {} pages, {} records, cursor {}{}",
            status.pages,
            status.events,
            status.cursor.as_deref().unwrap_or("-"),
            status
                .last_error
                .map(|e| format!(", error: {e}"))
                .unwrap_or_default()
        );
    }
    println!();

    let webhooks = WebhookSender::new(daemon.base_url(), &webhook_secret, SHOP_DOMAIN, API_VERSION);
    let created = samples::b2b_order();
    let paid = samples::paid(created.clone(), "2026-03-05T16:40:12+01:00");
    let refund = paid.refund(
        9_007_199_254_742_001,
        "2026-03-09T11:20:00+01:00",
        &[(GLOVES_LINE_ID, 4)],
    );
    println!(
        "Order {} from {} (company {COMPANY_ID}): subtotal {} EUR after discounts, {} EUR with tax and freight",
        created.body()["name"].as_str().unwrap_or_default(),
        samples::company().name,
        created.subtotal(),
        created.body()["total_price"].as_str().unwrap_or_default(),
    );
    let deliveries: [(&str, &str, &str, Value); 5] = [
        (
            "created on Net 30 terms (pending)",
            "orders/create",
            "demo-create-1",
            created.body(),
        ),
        (
            "the invoice is paid",
            "orders/paid",
            "demo-paid-1",
            paid.body(),
        ),
        (
            "Shopify retries the same delivery",
            "orders/paid",
            "demo-paid-1",
            paid.body(),
        ),
        (
            "a second subscription gets the same change",
            "orders/paid",
            "demo-paid-2",
            paid.body(),
        ),
        (
            "4 of the 10 gloves are returned (75.62 EUR)",
            "refunds/create",
            "demo-refund-1",
            refund.body(),
        ),
    ];
    for (what, topic, webhook_id, body) in &deliveries {
        println!(
            "-> POST /webhooks/shopify  {topic:<15} X-Shopify-Webhook-Id: {webhook_id:<14} {what}"
        );
        let answer = webhooks.send(topic, webhook_id, body).await?;
        println!("<- {} {}", answer.status, answer.body);
    }

    // Earned: floor(1044.05 x 2) = 2088; the refund reverses
    // floor(2088 x 75.62 / 1044.05) = 151.
    println!("\nWaiting for the connector to process the inbox...");
    let state = daemon
        .wait_until("the order earned and the refund reversed", |s| {
            s.ledger_of("shopify", &COMPANY_ID.to_string())
                .is_some_and(|l| l.entries.iter().filter(|e| e.source == "shopify").count() == 2)
        })
        .await?;
    print_accounts(&state);
    print_ledgers(&state);
    println!(
        "\nThe company was read from the Admin API {} time(s); the connector caches it.",
        emulator.company_reads(COMPANY_ID)
    );

    println!(
        "\nSeeding the book of Rheinwerk Partner Rewards through the admin API, as the vendor's ERP (source `erp`)..."
    );
    let api = AdminHttp::new(daemon.base_url(), &admin_token);
    let book = demo_book::seed(&api, now_ms()?).await?;
    println!(
        "  {} companies in DE, AT, CH and NL with {} contacts; {} paid orders over the last 80 days, {} returned",
        book.companies, book.contacts, book.purchases, book.refunds
    );
    println!(
        "  {} NPS answers, workshop visits and surveys; {} referrals; {} rewards fulfilled, {} waiting",
        book.engagements, book.referrals, book.fulfilled, book.reserved
    );
    let sign_in = api
        .post(
            "/api/v1/portal/sign-in-links",
            &json!({ "account_id": book.showcase.account_id, "contact_id": book.showcase.contact_id }),
        )
        .await?;
    let invitation = invite(&api, &book.prospect).await?;
    print_figures(
        &quarter,
        &api.get("/api/v1/analytics").await?,
        &api.get("/api/v1/goals").await?,
    );

    let shown = |path: &Path| -> PathBuf { path.strip_prefix(&cwd).unwrap_or(path).to_path_buf() };
    let base = daemon.base_url();
    println!("\nOpen in a browser:");
    println!("  admin dashboard   {base}/admin");
    println!("                    sign in with the admin token below");
    println!("  member portal     {}", text(&sign_in["url"]));
    println!(
        "                    signs in {} of {} (single use, valid 60 minutes)",
        book.showcase.contact, book.showcase.company
    );
    println!("  invitation        {}", text(&invitation["url"]));
    println!(
        "                    {} is not a member (the demo closed its membership); {} joins with it (valid 14 days)",
        book.prospect.company, book.prospect.contact
    );
    println!(
        "  quarterly review  curl -s -H 'Authorization: Bearer {admin_token}' '{base}/api/v1/reports/quarterly?format=html' > review.html"
    );
    println!(
        "                    or {} report quarterly -c {} --out {}",
        shown(&binary).display(),
        shown(daemon.config_path()).display(),
        shown(&daemon.dir().join("review")).display()
    );

    println!("\nWhere to look:");
    println!("  configuration: {}", shown(daemon.config_path()).display());
    println!("  log:           {}", shown(daemon.log_path()).display());
    println!(
        "  database:      {}",
        shown(&daemon.dir().join("data/loyalty.db")).display()
    );
    println!("  admin API:     {}/api/v1", daemon.base_url());
    println!("\nThe admin token is shown only here (the configuration keeps its SHA-256):");
    println!(
        "  curl -s -H 'Authorization: Bearer {admin_token}' {}/api/v1/accounts",
        daemon.base_url()
    );
    println!("  (also /api/v1/accounts/<id>, /api/v1/accounts/<id>/ledger, /api/v1/dead-letters)");

    if std::env::var_os("CI").is_some() || !std::io::stdin().is_terminal() {
        println!("\nNot interactive: stopping the daemon.");
        return Ok(());
    }
    println!("\nloyaltyd keeps running; press Ctrl-C to stop.");
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    println!("\nStopping.");
    drop(daemon);
    Ok(())
}

/// Now, in ms since the epoch.
fn now_ms() -> anyhow::Result<i64> {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("the clock is before 1970")?;
    i64::try_from(since_epoch.as_millis()).context("the clock is out of range")
}

/// A JSON string as text, any other value as JSON.
fn text(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned)
}

/// Invites `prospect` and returns the invitation with its enrollment link.
/// The program's enrollment is open, so every account the ERP sent is a
/// member already: the prospect's membership is closed first, as when a
/// company leaves the program, which it may then be invited back into.
async fn invite(api: &AdminHttp, prospect: &Member) -> anyhow::Result<Value> {
    api.put(
        &format!("/api/v1/accounts/{}/membership", prospect.account_id),
        &json!({ "status": "closed" }),
    )
    .await?;
    api.post(
        &format!("/api/v1/accounts/{}/invitations", prospect.account_id),
        &json!({ "contact_id": prospect.contact_id }),
    )
    .await
}

/// The figures the dashboard's overview shows for the quarter, and the
/// goals' progress.
fn print_figures(quarter: &Quarter, figures: &Value, goals: &Value) {
    let participation = &figures["participation"];
    let points = &figures["points"];
    let revenue = &figures["revenue"];
    println!(
        "\nThe quarter so far ({}), as the admin dashboard shows it:",
        quarter.label()
    );
    println!(
        "  members           {} of {} eligible ({} %), {} active this quarter",
        participation["members"],
        participation["eligible"],
        text(&participation["rate"]),
        participation["active_members"]
    );
    println!(
        "  points            {} issued, {} redeemed, {} outstanding",
        points["issued"], points["redeemed"], points["outstanding"]
    );
    println!(
        "  members' revenue  {} {} (non-members {})",
        text(&figures["currency"]),
        text(&revenue["members"]),
        text(&revenue["non_members"])
    );
    for goal in goals["goals"].as_array().into_iter().flatten() {
        println!(
            "  goal              {}: {} of {}, {}",
            text(&goal["goal"]["name"]),
            text(&goal["progress"]["current"]),
            text(&goal["goal"]["target"]),
            text(&goal["progress"]["status"])
        );
    }
}

/// Removes what an earlier run left in `dir` (the quarterly review too), so
/// that every run starts from an empty store with fresh secrets.
fn clear_previous_run(dir: &Path) -> anyhow::Result<()> {
    for sub in ["data", "secrets", "review"] {
        let path = dir.join(sub);
        if path.exists() {
            std::fs::remove_dir_all(&path)
                .with_context(|| format!("removing {}", path.display()))?;
        }
    }
    for file in ["loyaltyd.toml", "loyaltyd.log"] {
        let path = dir.join(file);
        if path.exists() {
            std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        }
    }
    Ok(())
}

fn known_as(account: &Account) -> String {
    account
        .external_refs
        .iter()
        .map(|r| format!("{} {}", r.source, r.id))
        .collect::<Vec<_>>()
        .join(", ")
}

fn print_accounts(state: &Snapshot) {
    println!("\nAccounts");
    println!("  {:>4}  {:<28} {:>8}", "id", "name", "balance");
    for account in &state.accounts {
        println!(
            "  {:>4}  {:<28} {:>8}",
            account.id, account.name, account.balance
        );
        println!("        known as {}", known_as(account));
        for contact in &account.contacts {
            println!(
                "        contact {} {} <{}> ({})",
                contact.first_name.as_deref().unwrap_or_default(),
                contact.last_name.as_deref().unwrap_or_default(),
                contact.email.as_deref().unwrap_or_default(),
                contact.source
            );
        }
    }
}

fn print_ledgers(state: &Snapshot) {
    for account in &state.accounts {
        let Some(ledger) = state.ledgers.get(&account.id) else {
            continue;
        };
        println!("\nLedger of account {} ({})", account.id, account.name);
        println!(
            "  {:>4}  {:<8} {:>7}  {:>10} {:<4} {:<18} effect key",
            "id", "kind", "points", "amount", "cur", "order"
        );
        for entry in &ledger.entries {
            println!(
                "  {:>4}  {:<8} {:>7}  {:>10} {:<4} {:<18} {}",
                entry.id,
                entry.kind,
                entry.points,
                entry.amount.as_deref().unwrap_or("-"),
                entry.currency.as_deref().unwrap_or("-"),
                entry.reference,
                entry.effect_key
            );
        }
        println!("  {:>4}  {:<8} {:>7}", "", "balance", ledger.balance);
    }
}
