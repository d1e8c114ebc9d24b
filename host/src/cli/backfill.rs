//! `loyaltyd backfill`: imports a connector's history page by page through
//! its `poll`, from a date, with a progress bar (on a terminal; messages go
//! to stderr either way). Every page commits with its
//! cursor, so an interrupted backfill resumes where it stopped; it keeps a
//! cursor of its own, so the scheduled sync is not disturbed.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use loyaltyd::config::Config;
use loyaltyd::inbox::StateOverlay;
use loyaltyd::lease::Leases;
use loyaltyd::poller::{PageError, poll_page};
use loyaltyd::runtime::wit::latest::exports::loyalty::connector::source::PollRequest;
use loyaltyd::runtime::{PluginSpec, Runtime};
use loyaltyd::store::PollStream;
use loyaltyd::store::cluster::LeaseClaim;

/// Records per page when the connector has no `page_size` configured.
const DEFAULT_PAGE_SIZE: u32 = 100;
/// Passing failures of one page retried before the backfill stops.
const TRANSIENT_ATTEMPTS_MAX: u32 = 5;

/// What to backfill.
pub(crate) struct Backfill<'a> {
    pub(crate) file: &'a Path,
    pub(crate) connector: &'a str,
    pub(crate) since: &'a str,
    pub(crate) restart: bool,
    pub(crate) page_size: Option<u32>,
}

/// `2026-01-01` (midnight UTC) or an RFC 3339 time.
fn parse_since(text: &str) -> Result<i64, String> {
    loyaltyd::api::referrals::parse_instant(text).ok_or_else(|| {
        format!("--since `{text}`: expected a date (2026-01-01) or an RFC 3339 time (2026-01-01T00:00:00Z)")
    })
}

pub(crate) fn run(config: &Config, request: &Backfill<'_>) -> anyhow::Result<ExitCode> {
    let Some(connector) = config.connectors.get(request.connector) else {
        eprintln!(
            "{}",
            super::unknown_connector(config, request.file, request.connector)
        );
        return Ok(ExitCode::FAILURE);
    };
    let since = match parse_since(request.since) {
        Ok(since) => since,
        Err(message) => {
            eprintln!("{message}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let page_size = request
        .page_size
        .or(connector.poll.map(|p| p.page_size))
        .unwrap_or(DEFAULT_PAGE_SIZE);
    if !(1..=1000).contains(&page_size) {
        eprintln!("--page-size {page_size}: use 1 to 1000 records per page");
        return Ok(ExitCode::FAILURE);
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async {
            let store = loyaltyd::daemon::open_store(config)?;
            store.register_program(config.program.clone()).await?;
            let runtime = Runtime::new(config.runtime_options())?;
            let plugin = runtime.load(PluginSpec {
                name: request.connector.to_owned(),
                wasm: connector.plugin.clone(),
                limits: connector.limits.clone(),
                grants: connector.grants.clone(),
                state: Arc::new(StateOverlay::new(request.connector, store.clone())),
            })?;
            let program = Arc::new(config.program.clone());
            if request.restart {
                store.reset_poll(request.connector, PollStream::Backfill).await?;
            }
            let bar = ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("{spinner} {prefix} [{elapsed_precise}] {msg}")?,
            );
            bar.set_prefix(format!("backfill {}", request.connector));
            bar.enable_steady_tick(Duration::from_millis(200));
            let started = store
                .poll_position(request.connector, PollStream::Backfill)
                .await?;
            if started.pages > 0 {
                bar.suspend(|| {
                    eprintln!(
                        "resuming after {} pages ({} records) committed earlier; --restart starts over",
                        started.pages, started.events
                    );
                });
            }
            let leases = Leases::new(
                store.clone(),
                config
                    .server
                    .instance_id
                    .clone()
                    .unwrap_or_else(|| loyaltyd::lease::instance_id(None)),
                config.server.lease,
            );
            let lease = format!("backfill:{}", request.connector);
            if let Some(other) = leases.hold(&lease).await? {
                bar.finish_and_clear();
                eprintln!(
                    "a backfill of `{}` is running in instance {} (its lease lapses at {} unless renewed): let it finish, or wait until it lapses",
                    request.connector,
                    other.holder,
                    jiff::Timestamp::from_millisecond(other.expires_at)
                        .map_or_else(|_| other.expires_at.to_string(), |t| t.to_string())
                );
                return Ok(ExitCode::FAILURE);
            }
            let outcome = pages(&store, &plugin, &program, &bar, request, page_size, since, leases.claim(&lease)).await;
            leases.release_all().await;
            outcome
        })
}

/// Imports pages until the connector has no more, committing each under
/// the backfill's lease.
#[allow(
    clippy::too_many_arguments,
    reason = "one call site, each argument a different part of the run"
)]
async fn pages(
    store: &Arc<dyn loyaltyd::store::Store>,
    plugin: &loyaltyd::runtime::Plugin,
    program: &Arc<loyaltyd::core::program::Program>,
    bar: &ProgressBar,
    request: &Backfill<'_>,
    page_size: u32,
    since: i64,
    lease: LeaseClaim,
) -> anyhow::Result<ExitCode> {
    let mut totals = Totals::default();
    let mut transient = 0;
    loop {
        let position = store
            .poll_position(request.connector, PollStream::Backfill)
            .await?;
        let fresh = position.pages == 0 && position.cursor.is_none();
        let poll = PollRequest {
            cursor: position.cursor,
            page_size,
            since: fresh.then_some(since),
        };
        let page = tokio::select! {
            page = poll_page(plugin, store, program, PollStream::Backfill, poll, Some(lease.clone())) => page,
            _ = tokio::signal::ctrl_c() => {
                bar.finish_and_clear();
                println!("interrupted; {} pages committed so far are kept: run the same command again to resume", totals.pages);
                return Ok(ExitCode::from(130));
            }
        };
        let wait = match page {
            Ok(done) => {
                transient = 0;
                totals.pages += 1;
                totals.records += done.events;
                totals.changed += done.result.applied.changed;
                totals.entries += done.result.applied.entries;
                totals.refused += done.result.refused.len();
                for error in &done.result.refused {
                    bar.suspend(|| eprintln!("refused (kept as a dead letter): {error}"));
                }
                bar.set_message(totals.to_string());
                if !done.more {
                    bar.finish_and_clear();
                    println!("backfill of `{}` finished: {totals}", request.connector);
                    return Ok(ExitCode::SUCCESS);
                }
                continue;
            }
            Err(PageError::RateLimited(delay, message)) => {
                bar.set_message(format!(
                    "{totals}; rate limited, waiting {} ms: {message}",
                    delay.as_millis()
                ));
                delay
            }
            Err(PageError::Transient(message)) if transient < TRANSIENT_ATTEMPTS_MAX => {
                transient += 1;
                bar.suspend(|| eprintln!("attempt {transient} failed, retrying: {message}"));
                Duration::from_secs(1 << (transient - 1))
            }
            Err(failure) => {
                bar.finish_and_clear();
                eprintln!(
                    "backfill of `{}` stopped after {} pages: {failure}\nthe committed pages are kept: fix the cause and run the same command again to resume",
                    request.connector, totals.pages
                );
                return Ok(ExitCode::FAILURE);
            }
        };
        tokio::time::sleep(wait).await;
    }
}

/// What this run imported.
#[derive(Debug, Default)]
struct Totals {
    pages: u64,
    records: usize,
    changed: usize,
    entries: usize,
    refused: usize,
}

impl std::fmt::Display for Totals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} pages, {} records ({} changed something), {} ledger entries, {} refused",
            self.pages, self.records, self.changed, self.entries, self.refused
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_is_a_date_at_midnight_utc_or_a_precise_time() {
        assert_eq!(parse_since("2026-01-01"), Ok(1_767_225_600_000));
        assert_eq!(
            parse_since("2026-01-01T01:00:00+01:00"),
            Ok(1_767_225_600_000)
        );
        let error = parse_since("last week").unwrap_err();
        assert!(error.contains("`last week`"), "{error}");
    }
}
