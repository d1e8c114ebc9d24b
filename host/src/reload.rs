//! Hot reload of connectors: on SIGHUP or `POST
//! /api/v1/connectors/{name}/reload`, the configuration file is read again
//! and each connector's component is loaded from it (its file, limits and
//! grants) off the async workers, then swapped in. Calls already running
//! finish on the old component; a connector whose new configuration or
//! component does not load keeps running the old one.
//!
//! Only connectors reload. Adding or removing a connector, or changing its
//! polling, the program or any other section, takes a restart; a reload
//! lists what changed.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

use crate::config::{self, Config};
use crate::runtime::{Plugin, PluginSpec, Runtime};

/// Reloads the daemon's connectors.
pub struct Reloader {
    runtime: Arc<Runtime>,
    config_path: PathBuf,
    plugins: BTreeMap<String, Plugin>,
    program_version: String,
    /// What a restart applies, section by section, as it ran at start.
    sections: BTreeMap<String, String>,
    /// One reload at a time: two would compile the same component twice.
    running: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Reloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloader")
            .field("config_path", &self.config_path)
            .finish_non_exhaustive()
    }
}

/// What happened to one connector.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Reloaded {
    /// The connector.
    pub connector: String,
    /// The SHA-256 of the component it ran before.
    pub sha256_before: String,
    /// The SHA-256 of the component it runs now (the old one if the reload
    /// failed).
    pub sha256: String,
    /// Whether the new component was swapped in.
    pub reloaded: bool,
    /// Why not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The outcome of a reload.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Report {
    /// Per connector reloaded (or tried).
    pub connectors: Vec<Reloaded>,
    /// Changes that a reload does not apply.
    pub restart_needed: Vec<String>,
}

/// Why nothing was reloaded.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The configuration file has errors: everything keeps running as is.
    #[error("the configuration has errors; nothing was reloaded:\n{0}")]
    Config(String),
    /// The connector asked for is not running.
    #[error("no connector `{0}` is running")]
    Unknown(String),
}

impl Reloader {
    /// A reloader for the daemon started from `config`.
    pub fn new(runtime: Arc<Runtime>, config: &Config, plugins: BTreeMap<String, Plugin>) -> Self {
        Self {
            runtime,
            config_path: config.path.clone(),
            plugins,
            program_version: config.program.version.clone(),
            sections: sections(config),
            running: tokio::sync::Mutex::new(()),
        }
    }

    /// Reads the configuration again and reloads `only` that connector, or
    /// every running connector.
    pub async fn reload(&self, only: Option<&str>) -> Result<Report, ReloadError> {
        if let Some(name) = only
            && !self.plugins.contains_key(name)
        {
            return Err(ReloadError::Unknown(name.to_owned()));
        }
        let _one = self.running.lock().await;
        let path = self.config_path.clone();
        let config = tokio::task::spawn_blocking(move || config::load(&path))
            .await
            .map_err(|e| ReloadError::Config(format!("reading the configuration stopped: {e}")))?
            .map_err(|errors| ReloadError::Config(errors.to_string()))?;
        let mut report = Report {
            connectors: Vec::new(),
            restart_needed: self.restart_needed(&config),
        };
        for (name, plugin) in &self.plugins {
            if only.is_some_and(|only| only != name) {
                continue;
            }
            let Some(connector) = config.connectors.get(name) else {
                continue;
            };
            let spec = PluginSpec {
                name: name.clone(),
                wasm: connector.plugin.clone(),
                limits: connector.limits.clone(),
                grants: connector.grants.clone(),
                state: plugin.state(),
            };
            let sha256_before = plugin.wasm_sha256();
            let runtime = self.runtime.clone();
            let target = plugin.clone();
            // Compiling takes a second or more: keep it off the workers that
            // serve requests and run the other connectors.
            let loaded = tokio::task::spawn_blocking(move || runtime.reload(&target, spec))
                .await
                .map_err(|e| e.to_string())
                .and_then(|result| result.map_err(|e| e.to_string()));
            let entry = match loaded {
                Ok(()) => Reloaded {
                    connector: name.clone(),
                    sha256_before,
                    sha256: plugin.wasm_sha256(),
                    reloaded: true,
                    error: None,
                },
                Err(error) => Reloaded {
                    connector: name.clone(),
                    sha256: sha256_before.clone(),
                    sha256_before,
                    reloaded: false,
                    error: Some(error),
                },
            };
            if entry.reloaded {
                tracing::info!(
                    connector = name.as_str(),
                    before = entry.sha256_before.as_str(),
                    sha256 = entry.sha256.as_str(),
                    "connector reloaded"
                );
            } else {
                tracing::error!(
                    connector = name.as_str(),
                    error = entry.error.as_deref().unwrap_or_default(),
                    "connector reload failed; the old component keeps running"
                );
            }
            report.connectors.push(entry);
        }
        for change in &report.restart_needed {
            tracing::warn!(change = change.as_str(), "takes a restart to apply");
        }
        Ok(report)
    }

    fn restart_needed(&self, config: &Config) -> Vec<String> {
        let mut changes = Vec::new();
        for name in config.connectors.keys() {
            if !self.plugins.contains_key(name) {
                changes.push(format!("connector `{name}` was added"));
            }
        }
        for name in self.plugins.keys() {
            if !config.connectors.contains_key(name) {
                changes.push(format!(
                    "connector `{name}` was removed (it keeps running until the restart)"
                ));
            }
        }
        let now = sections(config);
        for (section, running) in &self.sections {
            if now
                .get(section)
                .is_some_and(|configured| configured != running)
            {
                changes.push(format!("`{section}` changed"));
            }
        }
        if config.program.version != self.program_version {
            changes.push(format!(
                "the program rules changed (version {} runs, {} is configured)",
                self.program_version, config.program.version
            ));
        }
        changes
    }
}

/// A fingerprint of each section that only a restart applies: the
/// connectors' own settings reload, these do not. Secrets show redacted in
/// them, so a changed secret file is not reported.
fn sections(config: &Config) -> BTreeMap<String, String> {
    let mut sections = BTreeMap::from([
        ("[server]".to_owned(), format!("{:?}", config.server)),
        ("[store]".to_owned(), format!("{:?}", config.store)),
        ("[runtime]".to_owned(), format!("{:?}", config.runtime)),
        ("[identity]".to_owned(), format!("{:?}", config.identity)),
        ("[[segments]]".to_owned(), format!("{:?}", config.segments)),
        (
            "[[campaigns]]".to_owned(),
            format!("{:?}", config.campaigns),
        ),
        ("[[goals]]".to_owned(), format!("{:?}", config.goals)),
        ("[portal]".to_owned(), format!("{:?}", config.portal)),
        (
            "[statements]".to_owned(),
            format!("{:?}", config.statements),
        ),
    ]);
    for (name, connector) in &config.connectors {
        sections.insert(
            format!("[connectors.{name}.poll]"),
            format!("{:?}", connector.poll),
        );
    }
    sections
}
