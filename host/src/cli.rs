//! Subcommands. The only place that prints to stdout.

#![allow(clippy::print_stdout, reason = "command-line output")]

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use loyaltyd::runtime::{Grants, Limits, MemoryState, PluginSpec, Runtime, RuntimeOptions};

/// Self-hosted B2B loyalty engine.
#[derive(Debug, Parser)]
#[command(name = "loyaltyd", version)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Work with connector plugins.
    Plugins {
        #[command(subcommand)]
        command: PluginsCommand,
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
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Plugins {
            command: PluginsCommand::Inspect { file },
        } => inspect(file),
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
    println!("hosts:       {}", list(&info.hosts));
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

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "-".to_owned()
    } else {
        items.join(", ")
    }
}
