//! `loyaltyd payouts` and `loyaltyd referrals`: commission payouts and the
//! referral report from the command line, on the configured store (beside
//! a running daemon or not).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use loyaltyd::config::Config;
use loyaltyd::store::Store;
use loyaltyd::store::payouts::{PaidOutcome, Payout};

use super::load_config;

const DAY_MS: i64 = 86_400_000;

#[derive(Debug, Subcommand)]
pub(crate) enum PayoutsCommand {
    /// Make the payout batch that is due under `[program.referrals]
    /// payouts` (the last calendar month's, or every commission accrued so
    /// far), unless it exists or nobody is owed money; print it.
    Run {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// List the payout batches, newest first.
    List {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Write one batch for accounts payable: CSV (one row per referrer) or
    /// JSON.
    Export {
        /// The batch's id.
        id: i64,
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
        /// `csv` or `json`.
        #[arg(long, default_value = "csv")]
        format: String,
        /// Write here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Record that a batch was paid, with the payment's reference; a batch
    /// is marked paid once.
    Paid {
        /// The batch's id.
        id: i64,
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
        /// The payment's reference (a bank transfer id).
        #[arg(long)]
        reference: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum ReferralsCommand {
    /// Referrals recorded in a period: who referred whom, qualified
    /// referrals, the referred accounts' revenue and the commissions.
    Report {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
        /// Start (`2026-01-01` or RFC 3339), included. Default: a year
        /// before `--to`.
        #[arg(long)]
        from: Option<String>,
        /// End, excluded. Default: now.
        #[arg(long)]
        to: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

pub(super) fn with_store<T>(
    config: &Config,
    work: impl AsyncFnOnce(&dyn Store) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(async {
            let store = loyaltyd::daemon::open_store(config)?;
            work(store.as_ref()).await
        })
}

fn summary(payout: &Payout) -> String {
    format!(
        "payout {} ({}): {} {} to {} referrers{}",
        payout.id,
        payout.key,
        payout.total,
        payout.currency,
        payout.lines.len(),
        payout.paid_at.map_or_else(String::new, |_| format!(
            ", paid ({})",
            payout.reference.as_deref().unwrap_or("no reference")
        ))
    )
}

pub(crate) fn payouts(command: PayoutsCommand) -> anyhow::Result<ExitCode> {
    match command {
        PayoutsCommand::Run { config } => {
            let Some(config) = load_config(&config) else {
                return Ok(ExitCode::FAILURE);
            };
            let rules = &config.program.referrals;
            let made = with_store(&config, async |store| {
                Ok(store
                    .run_payouts(
                        rules.payouts,
                        config.program.currency.clone(),
                        "cli".to_owned(),
                    )
                    .await?)
            })?;
            match made {
                Some(payout) => println!("{}", summary(&payout)),
                None => println!(
                    "no {} payout batch is due: it exists already, or no referrer is owed money",
                    rules.payouts.as_str()
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
        PayoutsCommand::List { config } => {
            let Some(config) = load_config(&config) else {
                return Ok(ExitCode::FAILURE);
            };
            let list = with_store(&config, async |store| Ok(store.payouts().await?))?;
            if list.is_empty() {
                println!("no payout batches yet");
            }
            for payout in &list {
                println!("{}", summary(payout));
            }
            Ok(ExitCode::SUCCESS)
        }
        PayoutsCommand::Export {
            id,
            config,
            format,
            out,
        } => export(&config, id, &format, out.as_deref()),
        PayoutsCommand::Paid {
            id,
            config,
            reference,
        } => {
            let Some(config) = load_config(&config) else {
                return Ok(ExitCode::FAILURE);
            };
            let outcome = with_store(&config, async |store| {
                Ok(store
                    .mark_payout_paid(id, "cli".to_owned(), reference.clone())
                    .await?)
            })?;
            match outcome {
                PaidOutcome::Marked(payout) => {
                    println!("{}", summary(&payout));
                    Ok(ExitCode::SUCCESS)
                }
                PaidOutcome::AlreadyPaid(payout) => {
                    eprintln!(
                        "payout {id} was marked paid before by {}: a payout is never paid twice",
                        payout.paid_by.as_deref().unwrap_or("?")
                    );
                    Ok(ExitCode::FAILURE)
                }
                PaidOutcome::Unknown => {
                    eprintln!("no payout {id}: `loyaltyd payouts list` shows them");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
    }
}

fn export(file: &Path, id: i64, format: &str, out: Option<&Path>) -> anyhow::Result<ExitCode> {
    if format != "csv" && format != "json" {
        eprintln!("--format `{format}` is not known: use csv or json");
        return Ok(ExitCode::FAILURE);
    }
    let Some(config) = load_config(file) else {
        return Ok(ExitCode::FAILURE);
    };
    let Some(payout) = with_store(&config, async |store| Ok(store.payout(id).await?))? else {
        eprintln!("no payout {id}: `loyaltyd payouts list` shows them");
        return Ok(ExitCode::FAILURE);
    };
    let text = if format == "csv" {
        loyaltyd::api::referrals::payout_csv(&payout)?
    } else {
        serde_json::to_string_pretty(&payout)? + "\n"
    };
    match out {
        Some(path) => std::fs::write(path, text)?,
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn referrals(command: ReferralsCommand) -> anyhow::Result<ExitCode> {
    let ReferralsCommand::Report {
        config,
        from,
        to,
        json,
    } = command;
    let Some(config) = load_config(&config) else {
        return Ok(ExitCode::FAILURE);
    };
    let instant = |text: Option<&String>, flag: &str| -> Result<Option<i64>, String> {
        text.map(|text| {
            loyaltyd::api::referrals::parse_instant(text).ok_or_else(|| {
                format!("--{flag} `{text}`: expected a date (2026-01-01) or an RFC 3339 time")
            })
        })
        .transpose()
    };
    let (to, from) = match (instant(to.as_ref(), "to"), instant(from.as_ref(), "from")) {
        (Ok(to), Ok(from)) => {
            let to = to.unwrap_or_else(|| jiff::Timestamp::now().as_millisecond() + 1);
            (to, from.unwrap_or(to - 365 * DAY_MS))
        }
        (Err(problem), _) | (_, Err(problem)) => {
            eprintln!("{problem}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let currency = config.program.currency.clone();
    let report = with_store(&config, async |store| {
        Ok(store.referral_report(from, to, currency).await?)
    })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} referrals, {} qualified; referred accounts' revenue {} {}; commissions {} {} and {} points",
        report.referrals,
        report.qualified,
        report.revenue,
        report.currency,
        report.commission,
        report.currency,
        report.commission_points
    );
    for line in &report.referrers {
        println!(
            "{} (account {}): referred {} ({} qualified), revenue {}, commission {} and {} points",
            line.name,
            line.account_id,
            line.referred
                .iter()
                .map(|r| format!("{} ({})", r.name, r.account_id))
                .collect::<Vec<_>>()
                .join(", "),
            line.qualified,
            line.revenue,
            line.commission,
            line.commission_points
        );
    }
    Ok(ExitCode::SUCCESS)
}
