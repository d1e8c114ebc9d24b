//! `loyaltyd analytics`, `loyaltyd goals` and `loyaltyd report quarterly`:
//! the program's figures from the command line, on the configured store.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Subcommand;
use loyaltyd::core::analytics::Period;
use loyaltyd::report;
use loyaltyd::runtime::{Clock, SystemClock};

use super::load_config;
use super::payouts::with_store;

#[derive(Debug, Subcommand)]
pub(crate) enum ReportCommand {
    /// Write the quarterly review: `index.html` (self-contained, with
    /// charts) and `review.json` (the same data).
    Quarterly {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
        /// The quarter, e.g. `2026Q3`. Default: the current one.
        #[arg(long)]
        quarter: Option<String>,
        /// The directory to write into (made if missing).
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum StatementsCommand {
    /// Write the statements of a period that were not sent yet (each
    /// recipient's once), and print what was done.
    Run {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
        /// The month (`2026-11`) or quarter (`2026Q4`). Default: the last
        /// period that ended.
        #[arg(long)]
        period: Option<String>,
    },
    /// Print an account's statement without sending it (and without a
    /// sign-in link).
    Preview {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
        /// The account's id.
        #[arg(long)]
        account: i64,
        /// The month or quarter. Default: the last period that ended.
        #[arg(long)]
        period: Option<String>,
        /// `text` (default) or `html`.
        #[arg(long, default_value = "text")]
        format: String,
    },
}

/// `loyaltyd statements`.
pub(crate) fn statements(command: StatementsCommand) -> anyhow::Result<ExitCode> {
    let (config, period_text) = match &command {
        StatementsCommand::Run { config, period }
        | StatementsCommand::Preview { config, period, .. } => (config, period.clone()),
    };
    let Some(config) = load_config(config) else {
        return Ok(ExitCode::FAILURE);
    };
    let now = SystemClock.now_ms();
    let program = Arc::new(config.program.clone());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let store = loyaltyd::daemon::open_store(&config)?;
        let Some(statements) =
            loyaltyd::statements::Statements::from_config(&config, store, program)?
        else {
            eprintln!("reward statements are not configured: add [statements] with an outbox");
            return Ok(ExitCode::FAILURE);
        };
        let period = match period_text {
            Some(text) => Period::parse(&text)?,
            None => statements
                .due(now)
                .ok_or_else(|| anyhow::anyhow!("the clock is out of range"))?,
        };
        if !(period.is_month() || period.is_quarter()) {
            eprintln!("`{period}` is not a month or a quarter: statements cover one, e.g. 2026-11");
            return Ok(ExitCode::FAILURE);
        }
        match command {
            StatementsCommand::Run { .. } => {
                let report = statements.run(&period, now).await?;
                println!("{}", serde_json::to_string_pretty(&report)?);
            }
            StatementsCommand::Preview {
                account, format, ..
            } => {
                let Some(statement) = statements
                    .statement(account, &period, None, false, now)
                    .await?
                else {
                    eprintln!("no account {account}");
                    return Ok(ExitCode::FAILURE);
                };
                let (html, text) = loyaltyd::statements::render(&statement)?;
                println!("{}", if format == "html" { html } else { text });
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// The period named, or the current quarter.
fn period(text: Option<&str>, now: i64) -> anyhow::Result<Period> {
    match text {
        Some(text) => Ok(Period::parse(text)?),
        None => Period::quarter_of(now).ok_or_else(|| anyhow::anyhow!("the clock is out of range")),
    }
}

/// `loyaltyd analytics`: a period's figures as JSON.
pub(crate) fn analytics(config: &std::path::Path, text: Option<&str>) -> anyhow::Result<ExitCode> {
    let Some(config) = load_config(config) else {
        return Ok(ExitCode::FAILURE);
    };
    let period = period(text, SystemClock.now_ms())?;
    let program = Arc::new(config.program.clone());
    let report = with_store(&config, async |store| {
        Ok(report::analytics(store, program, &period).await?)
    })?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(ExitCode::SUCCESS)
}

/// `loyaltyd goals`: each goal's progress as JSON, as the API answers it.
pub(crate) fn goals(config: &std::path::Path) -> anyhow::Result<ExitCode> {
    let Some(config) = load_config(config) else {
        return Ok(ExitCode::FAILURE);
    };
    let program = Arc::new(config.program.clone());
    let now = SystemClock.now_ms();
    let goals = with_store(&config, async |store| {
        Ok(report::goals(store, program, &config.goals, now).await?)
    })?;
    let answer = serde_json::json!({ "at": now, "goals": goals });
    println!("{}", serde_json::to_string_pretty(&answer)?);
    Ok(ExitCode::SUCCESS)
}

/// `loyaltyd report`.
pub(crate) fn report(command: ReportCommand) -> anyhow::Result<ExitCode> {
    let ReportCommand::Quarterly {
        config,
        quarter,
        out,
    } = command;
    let Some(config) = load_config(&config) else {
        return Ok(ExitCode::FAILURE);
    };
    let now = SystemClock.now_ms();
    let quarter = period(quarter.as_deref(), now)?;
    if !quarter.is_quarter() {
        eprintln!("`{quarter}` is not a quarter: name one like 2026Q3");
        return Ok(ExitCode::FAILURE);
    }
    let program = Arc::new(config.program.clone());
    let review = with_store(&config, async |store| {
        Ok(report::quarterly(store, program, &config.goals, &quarter, now).await?)
    })?;
    let [html, json] = report::write(&out, &review, now)?;
    println!(
        "quarterly review {quarter}: {} recommendations\n  {}\n  {}",
        review.recommendations.len(),
        html.display(),
        json.display()
    );
    Ok(ExitCode::SUCCESS)
}
