//! `loyaltyd segments`, `loyaltyd campaigns` and `loyaltyd scores`: the
//! growth features from the command line, on the configured store.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Subcommand;
use loyaltyd::store::campaigns::{CampaignOutcome, Transition};
use loyaltyd::store::segments::{Origin, SegmentDefinition};

use super::load_config;

#[derive(Debug, Subcommand)]
pub(crate) enum SegmentsCommand {
    /// List the segments with their sizes at the last refresh.
    List {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Show how many accounts a filter selects now, and a sample, without
    /// saving anything.
    Preview {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
        /// The account filter, e.g. `tier = "gold" and country = "DE"`.
        #[arg(long)]
        filter: String,
        /// The contact filter, e.g. `role = "procurement"`.
        #[arg(long)]
        contacts: Option<String>,
        /// How many members to show.
        #[arg(long, default_value_t = 10)]
        sample: usize,
    },
    /// Recompute every segment's membership now.
    Refresh {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum CampaignsCommand {
    /// List the campaigns with their state and deliveries.
    List {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Schedule a draft campaign; a running daemon sends it at that time.
    Schedule {
        /// The campaign's id.
        id: String,
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
        /// When to send (`2026-12-01` or RFC 3339). Default: now.
        #[arg(long)]
        at: Option<String>,
    },
    /// Cancel a campaign that has not started.
    Cancel {
        /// The campaign's id.
        id: String,
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// A campaign's deliveries and its attribution against the holdout, as
    /// JSON.
    Report {
        /// The campaign's id.
        id: String,
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

pub(crate) fn segments(command: SegmentsCommand) -> anyhow::Result<ExitCode> {
    match command {
        SegmentsCommand::List { config } => {
            let Some(config) = load_config(&config) else {
                return Ok(ExitCode::FAILURE);
            };
            let store = loyaltyd::daemon::open_store(&config)?;
            let list = runtime()?.block_on(store.segments())?;
            if list.is_empty() {
                println!("no segments");
            }
            for segment in list {
                println!(
                    "{} ({}): {} accounts; filter: {}{}",
                    segment.definition.id,
                    segment.definition.name,
                    segment.size,
                    segment.definition.filter.source(),
                    segment
                        .definition
                        .contacts
                        .as_ref()
                        .map_or_else(String::new, |c| format!("; contacts: {}", c.source()))
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        SegmentsCommand::Preview {
            config,
            filter,
            contacts,
            sample,
        } => {
            let Some(config) = load_config(&config) else {
                return Ok(ExitCode::FAILURE);
            };
            let definition = match SegmentDefinition::new(
                "preview",
                "preview",
                None,
                &filter,
                contacts.as_deref(),
                Origin::Api,
            ) {
                Ok(definition) => definition,
                Err(problem) => {
                    eprintln!("{problem}");
                    return Ok(ExitCode::FAILURE);
                }
            };
            let store = loyaltyd::daemon::open_store(&config)?;
            let program = Arc::new(config.program.clone());
            let (size, members) =
                runtime()?.block_on(store.preview_segment(program, definition, sample))?;
            println!("{size} accounts");
            for member in members {
                println!(
                    "  {} (account {}), contacts {:?}",
                    member.name, member.account_id, member.contacts
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        SegmentsCommand::Refresh { config } => {
            let Some(config) = load_config(&config) else {
                return Ok(ExitCode::FAILURE);
            };
            let store = loyaltyd::daemon::open_store(&config)?;
            let program = Arc::new(config.program.clone());
            let report = runtime()?.block_on(store.refresh_segments(program))?;
            println!(
                "{} segments refreshed: {} accounts joined, {} left",
                report.segments, report.joined, report.left
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn print_outcome(id: &str, outcome: CampaignOutcome) -> ExitCode {
    match outcome {
        CampaignOutcome::Done(campaign) | CampaignOutcome::Created(campaign) => {
            println!(
                "campaign {id}: {}{}",
                campaign.status.as_str(),
                campaign
                    .definition
                    .send_at
                    .map_or_else(String::new, |at| format!(", sends at {at} (ms)"))
            );
            ExitCode::SUCCESS
        }
        CampaignOutcome::NotAllowed(status) => {
            eprintln!(
                "campaign {id} is {}: only a draft or scheduled campaign changes",
                status.as_str()
            );
            ExitCode::FAILURE
        }
        CampaignOutcome::ConfigOwned => {
            eprintln!("campaign {id} is defined in the configuration file: change it there");
            ExitCode::FAILURE
        }
        CampaignOutcome::Unknown => {
            eprintln!("no campaign {id}: `loyaltyd campaigns list` shows them");
            ExitCode::FAILURE
        }
    }
}

pub(crate) fn campaigns(command: CampaignsCommand) -> anyhow::Result<ExitCode> {
    match command {
        CampaignsCommand::List { config } => {
            let Some(config) = load_config(&config) else {
                return Ok(ExitCode::FAILURE);
            };
            let store = loyaltyd::daemon::open_store(&config)?;
            let list = runtime()?.block_on(store.campaigns())?;
            if list.is_empty() {
                println!("no campaigns");
            }
            for c in list {
                println!(
                    "{} ({}): {} via {} to segment {}; {} targeted, {} held out; sent {}, failed {}, pending {}",
                    c.definition.id,
                    c.definition.name,
                    c.status.as_str(),
                    c.definition.channel,
                    c.definition.segment,
                    c.targeted,
                    c.held_out,
                    c.deliveries.sent,
                    c.deliveries.failed,
                    c.deliveries.pending + c.deliveries.queued
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        CampaignsCommand::Schedule { id, config, at } => {
            let at = match at.as_deref().map(loyaltyd::api::referrals::parse_instant) {
                None => jiff::Timestamp::now().as_millisecond(),
                Some(Some(at)) => at,
                Some(None) => {
                    eprintln!("--at: expected a date (2026-12-01) or an RFC 3339 time");
                    return Ok(ExitCode::FAILURE);
                }
            };
            let Some(config) = load_config(&config) else {
                return Ok(ExitCode::FAILURE);
            };
            let store = loyaltyd::daemon::open_store(&config)?;
            let outcome = runtime()?.block_on(store.transition_campaign(
                id.clone(),
                Transition::Schedule(at),
                "cli".to_owned(),
            ))?;
            Ok(print_outcome(&id, outcome))
        }
        CampaignsCommand::Cancel { id, config } => {
            let Some(config) = load_config(&config) else {
                return Ok(ExitCode::FAILURE);
            };
            let store = loyaltyd::daemon::open_store(&config)?;
            let outcome = runtime()?.block_on(store.transition_campaign(
                id.clone(),
                Transition::Cancel,
                "cli".to_owned(),
            ))?;
            Ok(print_outcome(&id, outcome))
        }
        CampaignsCommand::Report { id, config } => {
            let Some(config) = load_config(&config) else {
                return Ok(ExitCode::FAILURE);
            };
            let store = loyaltyd::daemon::open_store(&config)?;
            match runtime()?.block_on(store.campaign_report(id.clone()))? {
                Some(report) => {
                    println!("{}", serde_json::to_string_pretty(&report)?);
                    Ok(ExitCode::SUCCESS)
                }
                None => {
                    eprintln!("no campaign {id}: `loyaltyd campaigns list` shows them");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
    }
}

/// `loyaltyd scores`: the program's NPS, retention, expected lifetime and
/// loyalty rate, as JSON.
pub(crate) fn scores(config: &std::path::Path) -> anyhow::Result<ExitCode> {
    let Some(config) = load_config(config) else {
        return Ok(ExitCode::FAILURE);
    };
    let store = loyaltyd::daemon::open_store(&config)?;
    let (_, program) = runtime()?.block_on(store.scores(Arc::new(config.program.clone())))?;
    println!("{}", serde_json::to_string_pretty(&program)?);
    Ok(ExitCode::SUCCESS)
}
