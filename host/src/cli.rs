//! Subcommands. The only place that prints to stdout.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "command-line output"
)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use loyaltyd::config::{self, Config, ConnectorConfig};
use loyaltyd::runtime::{
    Grants, Limits, LoadError, MemoryState, PluginSpec, Runtime, RuntimeOptions,
};
use sha2::{Digest, Sha256};

use scaffold::SdkSource;

mod backfill;
mod conformance;
mod growth;
mod insight;
mod payouts;
mod scaffold;

/// Self-hosted B2B loyalty engine.
#[derive(Debug, Parser)]
#[command(name = "loyaltyd", version)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check a configuration file: report every problem in it, one per line
    /// (`FILE:LINE:COL: KEY: MESSAGE`), and exit with status 1 if there is
    /// any. A valid file's connectors are then loaded and each line after
    /// the `ok` names a difference between what a component declares and
    /// what the file grants it.
    Validate {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Run the daemon: serve webhooks and the admin API, process the inbox.
    Run {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
        /// Log as JSON lines instead of text.
        #[arg(long)]
        log_json: bool,
    },
    /// Work with connector plugins.
    Plugins {
        #[command(subcommand)]
        command: PluginsCommand,
    },
    /// Work with the points ledger.
    Ledger {
        #[command(subcommand)]
        command: LedgerCommand,
    },
    /// Put dead letters back into the inbox after a fix (a new connector
    /// version, a missing exchange rate added): the running daemon processes
    /// them again within seconds, or at its next start. Applying is
    /// idempotent, so a replayed delivery never counts twice.
    Replay {
        /// The configuration file (its store is used).
        #[arg(long, short)]
        config: PathBuf,
        /// Only this connector's dead letters. Default: every configured
        /// connector's. (Events refused by `POST /api/v1/events` are not
        /// replayed: send the corrected request under a new key.)
        #[arg(long)]
        connector: Option<String>,
        /// Only dead letters that failed at or after this time, RFC 3339
        /// (`2026-11-01T00:00:00Z`).
        #[arg(long)]
        since: Option<String>,
    },
    /// Import a connector's history from a date through its `poll`, page by
    /// page, with a progress bar. Each page commits with its cursor: an
    /// interrupted backfill (Ctrl-C, a crash) resumes where it stopped when
    /// run again. It keeps its own cursor, so the daemon's scheduled sync is
    /// not disturbed, and applying is idempotent, so records the sync
    /// already has change nothing. It may run beside the daemon.
    Backfill {
        /// The connector, as named in the configuration.
        connector: String,
        /// The configuration file (its store and connector are used).
        #[arg(long, short)]
        config: PathBuf,
        /// Records changed at or after this date (`2026-01-01`, midnight
        /// UTC) or time (`2026-01-01T08:00:00Z`).
        #[arg(long)]
        since: String,
        /// Start over from `--since`, dropping an interrupted backfill's
        /// cursor.
        #[arg(long)]
        restart: bool,
        /// Records per page. Default: the connector's `poll.page_size`, else
        /// 100.
        #[arg(long)]
        page_size: Option<u32>,
    },
    /// Referral commission payouts: make, list, export, mark paid.
    Payouts {
        #[command(subcommand)]
        command: payouts::PayoutsCommand,
    },
    /// Referrals: the report of who referred whom.
    Referrals {
        #[command(subcommand)]
        command: payouts::ReferralsCommand,
    },
    /// Segments: list, preview a filter, refresh membership.
    Segments {
        #[command(subcommand)]
        command: growth::SegmentsCommand,
    },
    /// Campaigns: list, schedule, cancel, report.
    Campaigns {
        #[command(subcommand)]
        command: growth::CampaignsCommand,
    },
    /// The program's scores as JSON: NPS, retention, expected lifetime,
    /// loyalty rate.
    Scores {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// A period's analytics as JSON: participation, points and liability,
    /// revenue and incremental revenue, retention, referrals, cost, ROI.
    Analytics {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
        /// `2026Q3`, `2026-07`, `2026` or `2026-07-01..2026-08-15` (end
        /// exclusive). Default: the current quarter.
        #[arg(long)]
        period: Option<String>,
    },
    /// The goals of `[[goals]]` with their progress, as JSON.
    Goals {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Reports: the quarterly review.
    Report {
        #[command(subcommand)]
        command: insight::ReportCommand,
    },
    /// Reward statements: run a period's, preview an account's.
    Statements {
        #[command(subcommand)]
        command: insight::StatementsCommand,
    },
}

#[derive(Debug, Subcommand)]
enum LedgerCommand {
    /// Recompute every account's hash chain and report entries that were
    /// edited or deleted behind the daemon's back.
    Verify {
        /// The configuration file (its store is checked).
        #[arg(long, short)]
        config: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum PluginsCommand {
    /// Load a connector component and show its contract version and what it
    /// declares it needs.
    Inspect {
        /// The component file (`.wasm`).
        file: PathBuf,
    },
    /// Create a connector crate that builds, with tests and a README: the
    /// start of a connector for a system not supported yet.
    New {
        /// The connector's name: lower-case letters, digits and `-`
        /// (`dynamics-crm`). It names the crate, the component file and the
        /// `[connectors.NAME]` section.
        name: String,
        /// The folder to create. Default: `./NAME`.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Take the SDK from this folder (the `sdk` folder of a checkout of
        /// this repository) instead of from its git repository.
        #[arg(long, value_name = "PATH", conflicts_with = "sdk_git")]
        sdk: Option<PathBuf>,
        /// Take the SDK from this git repository.
        #[arg(long, value_name = "URL", default_value = env!("CARGO_PKG_REPOSITORY"))]
        sdk_git: String,
    },
    /// Load the connectors of a configuration and list each one's component
    /// file, SHA-256 and contract version.
    List {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Run a built component against a cassette of recorded vendor
    /// exchanges, in the sandbox: sync pages (the default), or handle a
    /// webhook, push a campaign batch or fulfil a reward read from a JSON
    /// file. Print the result or compare it with a file; exit 1 if they
    /// differ or an exchange went unasked.
    Replay {
        /// The component file.
        wasm: PathBuf,
        /// The cassette (the conformance kit's JSON file).
        #[arg(long)]
        cassette: PathBuf,
        /// A setting, `KEY=VALUE`; may be repeated. The host settings the
        /// component declares point at the cassette server.
        #[arg(long = "setting", value_name = "KEY=VALUE", value_parser = key_value)]
        settings: Vec<(String, String)>,
        /// A secret's value, `NAME=VALUE`, for a webhook signed with it;
        /// may be repeated. Other declared secrets are `replay-NAME`.
        #[arg(long = "secret", value_name = "NAME=VALUE", value_parser = key_value)]
        secrets: Vec<(String, String)>,
        #[command(flatten)]
        operation: OperationArgs,
        /// What the connector's clock reads (`host::now`) for the whole
        /// run: a date or an RFC 3339 time. The default is the SDK's
        /// `TestHost`'s; a recorded cassette's is printed by `record`.
        #[arg(long, value_name = "TIME", default_value = "2026-01-01T00:00:00Z", value_parser = instant)]
        now: i64,
        /// The file to compare the result with (for events, the one
        /// `assert_events` reads).
        #[arg(long)]
        expect: Option<PathBuf>,
    },
    /// Run a connector of a configuration against its real vendor, as the
    /// daemon would (its grants, settings, credentials and secrets), and
    /// write what it sent and received as a cassette for `plugins replay`
    /// and the SDK's `TestHost::replay`: credentials by name only. A
    /// campaign or reward recorded this way is really pushed or fulfilled.
    Record {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
        /// The connector, by its name in the configuration.
        #[arg(long)]
        connector: String,
        /// Where to write the cassette.
        #[arg(long)]
        cassette: PathBuf,
        #[command(flatten)]
        operation: OperationArgs,
        /// Where to write the result (events, campaign report or
        /// fulfilment), the file `--expect` and `assert_json` compare with.
        #[arg(long, value_name = "FILE")]
        result: Option<PathBuf>,
        /// What the connector's clock reads for the whole run, a date or
        /// an RFC 3339 time; by default the time the recording starts.
        #[arg(long, value_name = "TIME", value_parser = instant)]
        now: Option<i64>,
    },
}

/// The call `plugins replay` and `plugins record` make.
#[derive(Debug, clap::Args)]
struct OperationArgs {
    /// The cursor of the first page.
    #[arg(long, conflicts_with_all = ["webhook", "campaign", "reward"])]
    cursor: Option<String>,
    /// Records per page asked for.
    #[arg(long, default_value_t = 100, conflicts_with_all = ["webhook", "campaign", "reward"])]
    page_size: u32,
    /// Pages to read at most; reading stops earlier when a page says there
    /// is no more.
    #[arg(long, default_value_t = 10, conflicts_with_all = ["webhook", "campaign", "reward"])]
    pages: u32,
    /// Verify and handle this webhook (`{"headers": [{"name": ..,
    /// "value": ..}], "body": "as sent"}`, or `"json"`) instead of
    /// syncing; the result is its events.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["campaign", "reward"])]
    webhook: Option<PathBuf>,
    /// Push this campaign batch (a `campaign-delivery` as JSON); the result
    /// is the campaign report.
    #[arg(long, value_name = "FILE", conflicts_with = "reward")]
    campaign: Option<PathBuf>,
    /// Fulfil this redemption (a `reward-request` as JSON); the result is
    /// the fulfilment.
    #[arg(long, value_name = "FILE")]
    reward: Option<PathBuf>,
}

impl OperationArgs {
    fn operation(self) -> conformance::Operation {
        match (self.webhook, self.campaign, self.reward) {
            (Some(file), _, _) => conformance::Operation::Webhook(file),
            (_, Some(file), _) => conformance::Operation::Campaign(file),
            (_, _, Some(file)) => conformance::Operation::Reward(file),
            _ => conformance::Operation::Poll {
                cursor: self.cursor,
                page_size: self.page_size,
                pages: self.pages,
            },
        }
    }
}

/// `--now`: `2026-01-01` (midnight UTC) or an RFC 3339 time, as
/// milliseconds since the epoch.
fn instant(text: &str) -> Result<i64, String> {
    loyaltyd::api::referrals::parse_instant(text).ok_or_else(|| {
        format!("`{text}`: expected a date (2026-01-01) or an RFC 3339 time (2026-01-01T00:00:00Z)")
    })
}

/// `KEY=VALUE` of `--setting`.
fn key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("`{text}` is not KEY=VALUE")),
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Run { config, log_json } => run_daemon(&config, log_json),
        Command::Validate { config } => Ok(validate(&config)),
        Command::Plugins {
            command: PluginsCommand::Inspect { file },
        } => inspect(file),
        Command::Plugins {
            command:
                PluginsCommand::New {
                    name,
                    dir,
                    sdk,
                    sdk_git,
                },
        } => new_plugin(
            &name,
            dir,
            sdk.map_or(SdkSource::Git(sdk_git), SdkSource::Path),
        ),
        Command::Plugins {
            command: PluginsCommand::List { config },
        } => list_plugins(&config),
        Command::Plugins {
            command:
                PluginsCommand::Replay {
                    wasm,
                    cassette,
                    settings,
                    secrets,
                    operation,
                    now,
                    expect,
                },
        } => conformance::replay(conformance::ReplayOptions {
            wasm,
            cassette,
            settings,
            secrets,
            operation: operation.operation(),
            now,
            expect,
        }),
        Command::Plugins {
            command:
                PluginsCommand::Record {
                    config,
                    connector,
                    cassette,
                    operation,
                    result,
                    now,
                },
        } => conformance::record(&conformance::RecordOptions {
            config,
            connector,
            cassette,
            operation: operation.operation(),
            result,
            now,
        }),
        Command::Ledger {
            command: LedgerCommand::Verify { config },
        } => verify_ledger(&config),
        Command::Replay {
            config,
            connector,
            since,
        } => replay(&config, connector, since.as_deref()),
        Command::Payouts { command } => payouts::payouts(command),
        Command::Referrals { command } => payouts::referrals(command),
        Command::Segments { command } => growth::segments(command),
        Command::Campaigns { command } => growth::campaigns(command),
        Command::Scores { config } => growth::scores(&config),
        Command::Analytics { config, period } => insight::analytics(&config, period.as_deref()),
        Command::Goals { config } => insight::goals(&config),
        Command::Report { command } => insight::report(command),
        Command::Statements { command } => insight::statements(command),
        Command::Backfill {
            connector,
            config,
            since,
            restart,
            page_size,
        } => {
            let Some(loaded) = load_config(&config) else {
                return Ok(ExitCode::FAILURE);
            };
            backfill::run(
                &loaded,
                &backfill::Backfill {
                    file: &config,
                    connector: &connector,
                    since: &since,
                    restart,
                    page_size,
                },
            )
        }
    }
}

/// Loads the configuration, or prints every problem in it to stderr.
/// The error for a connector name the configuration in `file` lacks.
fn unknown_connector(config: &Config, file: &Path, name: &str) -> String {
    let known: Vec<&str> = config.connectors.keys().map(String::as_str).collect();
    format!(
        "no connector `{name}` in {}: the configured ones are {}",
        file.display(),
        if known.is_empty() {
            "none".to_owned()
        } else {
            known.join(", ")
        }
    )
}

fn load_config(file: &Path) -> Option<Config> {
    match config::load(file) {
        Ok(config) => Some(config),
        Err(errors) => {
            eprintln!("{errors}");
            None
        }
    }
}

fn validate(file: &Path) -> ExitCode {
    let Some(config) = load_config(file) else {
        return ExitCode::FAILURE;
    };
    let count = config.connectors.len();
    let noun = if count == 1 {
        "connector"
    } else {
        "connectors"
    };
    println!(
        "{}: ok ({count} {noun}, program version {})",
        file.display(),
        config.program.version
    );
    for line in capability_report(&config) {
        println!("{line}");
    }
    ExitCode::SUCCESS
}

/// For each connector, where what its component declares and what the
/// configuration grants differ; a component that does not load is said to
/// be unchecked. Nothing for a configuration without connectors.
fn capability_report(config: &Config) -> Vec<String> {
    if config.connectors.is_empty() {
        return Vec::new();
    }
    // Without the compile cache: checking writes nothing.
    let options = RuntimeOptions {
        cache_dir: None,
        ..config.runtime_options()
    };
    let checked = Runtime::new(options).and_then(|runtime| {
        let calls = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok((runtime, calls))
    });
    let (runtime, calls) = match checked {
        Ok(parts) => parts,
        Err(error) => return vec![format!("connectors not checked: {error:#}")],
    };
    let mut lines = Vec::new();
    for (name, connector) in &config.connectors {
        let plugin = match runtime.load(PluginSpec {
            name: name.clone(),
            wasm: connector.plugin.clone(),
            limits: connector.limits.clone(),
            grants: connector.grants.clone(),
            state: Arc::new(MemoryState::default()),
        }) {
            Ok(plugin) => plugin,
            Err(error) => {
                lines.push(format!(
                    "connector {name}: capabilities not checked: {error}"
                ));
                continue;
            }
        };
        match calls.block_on(plugin.capability_mismatches()) {
            Ok(found) => lines.extend(
                found
                    .into_iter()
                    .map(|mismatch| format!("connector {name}: {mismatch}")),
            ),
            Err(error) => lines.push(format!(
                "connector {name}: capabilities not checked: describe failed: {error}"
            )),
        }
    }
    lines
}

fn list_plugins(file: &Path) -> anyhow::Result<ExitCode> {
    let Some(config) = load_config(file) else {
        return Ok(ExitCode::FAILURE);
    };
    if config.connectors.is_empty() {
        println!("{}: no connectors", file.display());
        return Ok(ExitCode::SUCCESS);
    }
    // Sized as the daemon sizes it, so a component that loads here loads
    // there.
    let runtime = Runtime::new(config.runtime_options())?;
    let mut rows = vec![["CONNECTOR", "PLUGIN", "SHA256", "CONTRACT"].map(str::to_owned)];
    let mut failures = Vec::new();
    for (name, connector) in &config.connectors {
        rows.push(match load_connector(&runtime, name, connector) {
            Ok(row) => row,
            Err(error) => {
                failures.push(error);
                let sha256 = std::fs::read(&connector.plugin).map_or_else(
                    |_| "-".to_owned(),
                    |bytes| hex::encode(Sha256::digest(bytes)),
                );
                [
                    name.clone(),
                    connector.plugin.display().to_string(),
                    sha256,
                    "does not load (see below)".to_owned(),
                ]
            }
        });
    }
    print_table(&rows);
    for failure in &failures {
        eprintln!("error: {failure}");
    }
    Ok(if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn load_connector(
    runtime: &Runtime,
    name: &str,
    connector: &ConnectorConfig,
) -> Result<[String; 4], LoadError> {
    let plugin = runtime.load(PluginSpec {
        name: name.to_owned(),
        wasm: connector.plugin.clone(),
        limits: connector.limits.clone(),
        grants: connector.grants.clone(),
        state: Arc::new(MemoryState::default()),
    })?;
    Ok([
        name.to_owned(),
        plugin.path().display().to_string(),
        plugin.wasm_sha256(),
        format!("loyalty:connector@{}", plugin.contract_version()),
    ])
}

/// Left-aligned columns, two spaces apart.
fn print_table(rows: &[[String; 4]]) {
    let mut widths = [0; 4];
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for row in rows {
        let mut line = String::new();
        for (cell, width) in row.iter().zip(widths) {
            line.push_str(&format!("{cell:width$}  "));
        }
        println!("{}", line.trim_end());
    }
}

fn inspect(file: PathBuf) -> anyhow::Result<ExitCode> {
    let runtime = Runtime::new(RuntimeOptions::default())?;
    let plugin = runtime.load(PluginSpec {
        name: file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
        wasm: file,
        limits: Limits::default(),
        grants: Grants::default(),
        state: Arc::new(MemoryState::default()),
    })?;
    let info = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(plugin.describe())?;
    println!("file:        {}", plugin.path().display());
    println!("sha256:      {}", plugin.wasm_sha256());
    println!(
        "contract:    loyalty:connector@{}",
        plugin.contract_version()
    );
    println!("connector:   {} {}", info.name, info.version);
    // A host setting prints as `{setting}`: the origin of its URL.
    let hosts: Vec<String> = info
        .hosts
        .iter()
        .cloned()
        .chain(info.host_settings.iter().map(|s| format!("{{{s}}}")))
        .collect();
    println!("hosts:       {}", list(&hosts));
    println!("credentials: {}", list(&info.credentials));
    println!("secrets:     {}", list(&info.secrets));
    for setting in &info.settings {
        let required = if setting.required {
            "required"
        } else {
            "optional"
        };
        println!(
            "setting:     {} ({required}): {}",
            setting.name, setting.description
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn new_plugin(name: &str, dir: Option<PathBuf>, sdk: SdkSource) -> anyhow::Result<ExitCode> {
    let dir = dir.unwrap_or_else(|| PathBuf::from(name));
    let files = scaffold::create(name, &dir, &sdk)?;
    for file in &files {
        println!("created {}", file.display());
    }
    println!();
    println!("next:");
    println!("  cd {}", dir.display());
    println!("  cargo test");
    println!("  cargo build --release --target wasm32-wasip2");
    println!(
        "  loyaltyd plugins inspect target/wasm32-wasip2/release/{}.wasm",
        name.replace('-', "_")
    );
    Ok(ExitCode::SUCCESS)
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "-".to_owned()
    } else {
        items.join(", ")
    }
}

fn run_daemon(path: &Path, log_json: bool) -> anyhow::Result<ExitCode> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if log_json {
        logs.json().init();
    } else {
        logs.init();
    }
    let config = match config::load(path) {
        Ok(config) => config,
        Err(errors) => {
            #[allow(
                clippy::print_stderr,
                reason = "configuration problems are reported to the operator"
            )]
            {
                eprintln!("{errors}");
            }
            return Ok(ExitCode::FAILURE);
        }
    };
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(loyaltyd::daemon::run(config))?;
    Ok(ExitCode::SUCCESS)
}

fn replay(file: &Path, connector: Option<String>, since: Option<&str>) -> anyhow::Result<ExitCode> {
    let Some(config) = load_config(file) else {
        return Ok(ExitCode::FAILURE);
    };
    if let Some(name) = &connector
        && !config.connectors.contains_key(name)
    {
        eprintln!("{}", unknown_connector(&config, file, name));
        return Ok(ExitCode::FAILURE);
    }
    let since = match since.map(str::parse::<jiff::Timestamp>).transpose() {
        Ok(since) => since.map(|t| t.as_millisecond()),
        Err(e) => {
            eprintln!("--since: not an RFC 3339 time such as 2026-11-01T00:00:00Z ({e})");
            return Ok(ExitCode::FAILURE);
        }
    };
    let replayed = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async {
            let store = loyaltyd::daemon::open_store(&config)?;
            anyhow::Ok(
                store
                    .replay_dead_letters(
                        connector.clone().map_or_else(
                            || config.connectors.keys().cloned().collect(),
                            |c| vec![c],
                        ),
                        since,
                        "cli".to_owned(),
                    )
                    .await?,
            )
        })?;
    let which = connector.map_or_else(|| "any connector".to_owned(), |c| format!("`{c}`"));
    if replayed.is_empty() {
        println!("no dead letters of {which} to replay");
    } else {
        let ids: Vec<String> = replayed.iter().map(i64::to_string).collect();
        println!(
            "{} dead letters of {which} are pending again (inbox ids {}); a running daemon processes them within seconds",
            replayed.len(),
            ids.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn verify_ledger(file: &Path) -> anyhow::Result<ExitCode> {
    let Some(config) = load_config(file) else {
        return Ok(ExitCode::FAILURE);
    };
    let check = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async {
            let store = loyaltyd::daemon::open_store(&config)?;
            anyhow::Ok(store.verify_ledger().await?)
        })?;
    let (entries, accounts, breaks) = (check.entries, check.accounts, check.breaks);
    if breaks.is_empty() {
        println!(
            "ledger verified: {entries} entries in {accounts} accounts, every hash chain intact"
        );
        return Ok(ExitCode::SUCCESS);
    }
    for problem in &breaks {
        eprintln!("{problem}");
    }
    eprintln!(
        "ledger verification failed: {} of {accounts} accounts have a broken hash chain",
        breaks.len()
    );
    Ok(ExitCode::FAILURE)
}
