//! Scheduled polling and `loyaltyd backfill`, end to end, with the echo test
//! connector, which pages over records `0..total` and returns the next
//! record number as its cursor: the real daemon polls it, commits each page
//! with its cursor, keeps the cursor across a SIGKILL, and the backfill
//! command imports history with a cursor of its own.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

use std::process::Command;

use loyalty_e2e::daemon::{Daemon, ProgramRules, Setup, random_token};
use serde_json::Value;

fn setup(total: u32) -> Setup {
    let echo = loyalty_e2e::test_component("echo");
    Setup {
        admin_token: random_token().unwrap(),
        program: ProgramRules::default(),
        shopify: None,
        extra_toml: format!(
            r#"
[connectors.echo]
plugin = {plugin}
settings = {{ total = "{total}" }}

[connectors.echo.poll]
interval_seconds = 3600
page_size = 2
"#,
            plugin = Value::from(echo.to_string_lossy())
        ),
        secrets: Vec::new(),
    }
}

fn backfill(daemon: &Daemon, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(loyalty_e2e::loyaltyd_binary())
        .arg("backfill")
        .arg("echo")
        .arg("--config")
        .arg(daemon.config_path())
        .args(args)
        .current_dir(daemon.dir())
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_pages_through_commits_its_cursor_and_resumes_from_it_after_a_crash() {
    let daemon = Daemon::start(&setup(5)).await.unwrap();
    let admin = daemon.admin();

    // The daemon syncs at start; a requested sync runs after it. Five
    // records in pages of two: three pages, the cursor after record 5.
    let status = admin.sync("echo").await.unwrap();
    assert_eq!(status.last_error, None, "{status:?}");
    assert_eq!(status.cursor.as_deref(), Some("5"), "{status:?}");
    assert_eq!(status.interval_seconds, 3600);
    assert!(!status.running, "{status:?}");
    assert!(status.next_at.is_some(), "{status:?}");
    let pages = status.pages;
    assert!(pages >= 3, "{status:?}");
    assert_eq!(
        status.events, 5,
        "the sync after the first finds nothing new"
    );

    // Nothing new: one empty page, the cursor stays.
    let again = admin.sync("echo").await.unwrap();
    assert_eq!(again.cursor.as_deref(), Some("5"));
    assert_eq!((again.pages, again.events), (pages + 1, 5));

    // The cursor is durable: after SIGKILL the restarted daemon resumes
    // from it and fetches nothing twice.
    daemon.kill().unwrap();
    daemon.restart().await.unwrap();
    let resumed = admin.sync("echo").await.unwrap();
    assert_eq!(resumed.cursor.as_deref(), Some("5"));
    assert_eq!(resumed.events, 5, "{resumed:?}");
    assert!(
        resumed.completed >= 1 && resumed.failures == 0,
        "{resumed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sync_api_names_what_is_missing() {
    let daemon = Daemon::start(&setup(1)).await.unwrap();
    let error = daemon.admin().sync_status("crm").await.unwrap_err();
    assert!(
        error
            .to_string()
            .contains("no connector `crm` is configured"),
        "{error:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_imports_history_with_its_own_cursor_and_starts_over_when_finished() {
    let daemon = Daemon::start(&setup(5)).await.unwrap();
    let before = daemon.admin().sync("echo").await.unwrap();

    let (ok, stdout, stderr) = backfill(&daemon, &["--since", "2026-01-01"]);
    assert!(ok, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("backfill of `echo` finished: 3 pages, 5 records"),
        "{stdout}"
    );
    let (ok, stdout, stderr) = backfill(
        &daemon,
        &["--since", "2026-01-01T00:00:00Z", "--page-size", "5"],
    );
    assert!(ok, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("finished: 1 pages, 5 records (0 changed something)"),
        "a finished backfill starts over, and what it finds again changes nothing: {stdout}"
    );

    // The scheduled sync's cursor is untouched.
    let after = daemon.admin().sync_status("echo").await.unwrap();
    assert_eq!(after.cursor, before.cursor);
    assert_eq!(after.pages, before.pages);

    let (ok, _, stderr) = backfill(&daemon, &["--since", "yesterday"]);
    assert!(!ok);
    assert!(stderr.contains("--since `yesterday`"), "{stderr}");
}
