//! A real headless Chromium for the browser tests (member portal, admin
//! dashboard, quarterly report): Debian's `chromium`, driven over WebDriver
//! by its `chromium-driver`, with axe-core injected into the page for the
//! accessibility checks. Each test starts its own [`Browser`]; the driver and
//! every browser process it started are gone when it is dropped.

use std::fmt;
use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use fantoccini::wd::Capabilities;
use fantoccini::{Client, ClientBuilder};
use serde::Deserialize;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::repo_root;

/// What to do when the browser or its driver cannot be found.
const NOT_INSTALLED: &str = "chromium-driver is not installed: run `tests/run` (it installs it) \
                             or `apt-get install chromium chromium-driver`";
/// Where Debian installs Chromium.
const DEFAULT_CHROMIUM: &str = "/usr/bin/chromium";
/// How long the driver may take to answer its status endpoint.
const DRIVER_READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a dropped browser's driver may take to quit its sessions before
/// its whole process group is killed.
const DRIVER_QUIT_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the driver is polled while starting and quitting.
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// The flags of a headless Chromium that runs as root in a container: no
/// sandbox (it needs user namespaces), no GPU, no small `/dev/shm`, and a
/// fixed window so screenshots are comparable.
const CHROMIUM_ARGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
];
/// Runs axe-core on the whole document and hands back only what the
/// [`Violation`]s need, so large pages do not ship every checked node back.
const AXE_RUN: &str = r"
const done = arguments[arguments.length - 1];
axe.run(document, { resultTypes: ['violations'] })
  .then((results) => done({
    violations: results.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => n.target
        .map((t) => (Array.isArray(t) ? t.join(' >>> ') : String(t)))
        .join(' | ')),
    })),
  }))
  .catch((e) => done({ error: String((e && e.stack) || e) }));
";

/// A headless Chromium with its own `chromedriver`, its own profile and its
/// own temporary directory.
pub struct Browser {
    client: Client,
    driver: Child,
    driver_addr: SocketAddr,
    artifacts: PathBuf,
    /// The profile and every temporary file of the driver and the browser;
    /// removed after they are gone.
    _temp: TempDir,
}

impl Browser {
    /// Starts `chromedriver` (`LOYALTY_CHROMEDRIVER`, else the one on `PATH`)
    /// on a free loopback port and opens a session of headless Chromium
    /// (`LOYALTY_CHROMIUM`, else `/usr/bin/chromium`).
    pub async fn start() -> Result<Self> {
        let driver_path = chromedriver_path()?;
        let chromium = chromium_path()?;
        let temp = tempfile::Builder::new()
            .prefix("loyalty-browser-")
            .tempdir()
            .context("creating the browser's temporary directory")?;
        let port = free_port()?;
        let driver_addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let log_path = temp.path().join("chromedriver.log");
        let log = std::fs::File::create(&log_path)
            .with_context(|| format!("creating {}", log_path.display()))?;
        let driver = Command::new(&driver_path)
            .arg(format!("--port={port}"))
            // Chromium and the driver put their profile and singleton socket
            // in TMPDIR: here they go with the browser's own directory.
            .env("TMPDIR", temp.path())
            // Its own process group, so a drop can kill the browser it
            // spawned too.
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(log.try_clone().context("duplicating the driver's log")?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("{NOT_INSTALLED} (starting {})", driver_path.display()))?;
        let mut driver = DriverGuard(Some(driver));
        wait_until_ready(&mut driver, driver_addr, &log_path).await?;

        let mut capabilities = Capabilities::new();
        capabilities.insert("browserName".to_owned(), json!("chrome"));
        capabilities.insert(
            "goog:chromeOptions".to_owned(),
            json!({ "binary": chromium.to_string_lossy(), "args": CHROMIUM_ARGS }),
        );
        let client = ClientBuilder::rustls()
            .context("building the WebDriver connector")?
            .capabilities(capabilities)
            .connect(&format!("http://{driver_addr}"))
            .await
            .with_context(|| {
                format!(
                    "opening a headless Chromium session ({}); chromedriver's log:\n{}",
                    chromium.display(),
                    read_log(&log_path)
                )
            })?;
        let driver = driver.0.take().context("the driver guard is empty")?;
        Ok(Self {
            client,
            driver,
            driver_addr,
            artifacts: artifacts_dir(),
            _temp: temp,
        })
    }

    /// Navigates to `url` and waits until the page has loaded.
    pub async fn open(&self, url: &str) -> Result<()> {
        self.client
            .goto(url)
            .await
            .with_context(|| format!("opening {url}"))
    }

    /// The WebDriver client, for finding elements, clicking and typing.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Saves a PNG of the viewport as `screenshots/{name}.png` under the
    /// artifacts directory (`LOYALTY_ARTIFACTS`, else
    /// `target/test-artifacts`) and returns its path.
    pub async fn screenshot(&self, name: &str) -> Result<PathBuf> {
        let png = self
            .client
            .screenshot()
            .await
            .with_context(|| format!("taking the screenshot `{name}`"))?;
        let path = self
            .artifacts
            .join("screenshots")
            .join(format!("{name}.png"));
        let dir = path.parent().context("a screenshot path has a parent")?;
        tokio::fs::create_dir_all(dir)
            .await
            .with_context(|| format!("creating {}", dir.display()))?;
        tokio::fs::write(&path, png)
            .await
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }

    /// Runs axe-core on the current page and returns its violations.
    pub async fn axe(&self) -> Result<AxeReport> {
        let loaded = self
            .client
            .execute("return typeof window.axe === 'object';", Vec::new())
            .await
            .context("checking for axe-core in the page")?;
        if loaded != Value::Bool(true) {
            let source = axe_source().await?;
            self.client
                .execute(&source, Vec::new())
                .await
                .context("injecting axe-core into the page")?;
        }
        let outcome = self
            .client
            .execute_async(AXE_RUN, Vec::new())
            .await
            .context("running axe-core")?;
        if let Some(error) = outcome.get("error") {
            bail!("axe-core failed: {error}");
        }
        serde_json::from_value(outcome).context("reading axe-core's results")
    }

    /// Ends the WebDriver session (Chromium quits) and stops the driver.
    pub async fn close(self) {
        // A failure here leaves a session behind, which dropping the browser
        // ends anyway by shutting the driver down.
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // `/shutdown` makes the driver quit its browsers and delete their
        // profiles; killing only the driver would orphan Chromium.
        request_shutdown(self.driver_addr);
        let deadline = Instant::now() + DRIVER_QUIT_TIMEOUT;
        while Instant::now() < deadline {
            if matches!(self.driver.try_wait(), Ok(Some(_)) | Err(_)) {
                break;
            }
            std::thread::sleep(POLL_INTERVAL);
        }
        kill_process_group(&mut self.driver);
    }
}

/// Kills a driver that failed to start, with the browser it may have spawned.
struct DriverGuard(Option<Child>);

impl Drop for DriverGuard {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            kill_process_group(child);
        }
    }
}

/// What axe-core found wrong with a page.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AxeReport {
    /// Every rule the page breaks.
    pub violations: Vec<Violation>,
}

/// One broken axe-core rule and where on the page.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Violation {
    /// The rule, e.g. `image-alt`.
    pub id: String,
    /// `minor`, `moderate`, `serious` or `critical`.
    pub impact: Option<String>,
    /// What the rule asks for, in a sentence.
    pub help: String,
    /// A CSS selector per offending element (` | ` separates the frames of a
    /// nested document, ` >>> ` the shadow roots).
    pub nodes: Vec<String>,
}

impl AxeReport {
    /// The violations that block people from using the page: impact
    /// `serious` or `critical`.
    pub fn serious(&self) -> Vec<&Violation> {
        self.violations
            .iter()
            .filter(|v| matches!(v.impact.as_deref(), Some("serious" | "critical")))
            .collect()
    }
}

impl fmt::Display for AxeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.violations.is_empty() {
            return write!(f, "no accessibility violations");
        }
        writeln!(f, "{} accessibility violation(s):", self.violations.len())?;
        for violation in &self.violations {
            let impact = violation.impact.as_deref().unwrap_or("unknown impact");
            writeln!(f, "  [{impact}] {}: {}", violation.id, violation.help)?;
            for node in &violation.nodes {
                writeln!(f, "      at {node}")?;
            }
        }
        Ok(())
    }
}

/// `LOYALTY_CHROMEDRIVER`, else `chromedriver` on `PATH`.
fn chromedriver_path() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("LOYALTY_CHROMEDRIVER") {
        let path = PathBuf::from(path);
        if !path.is_file() {
            bail!(
                "{NOT_INSTALLED} (LOYALTY_CHROMEDRIVER names {}, which does not exist)",
                path.display()
            );
        }
        return Ok(path);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("chromedriver"))
        .find(|candidate| candidate.is_file())
        .with_context(|| format!("{NOT_INSTALLED} (no `chromedriver` on PATH)"))
}

/// `LOYALTY_CHROMIUM`, else Debian's `/usr/bin/chromium`.
fn chromium_path() -> Result<PathBuf> {
    let path = std::env::var_os("LOYALTY_CHROMIUM")
        .map_or_else(|| PathBuf::from(DEFAULT_CHROMIUM), PathBuf::from);
    if !path.is_file() {
        bail!("{NOT_INSTALLED} ({} does not exist)", path.display());
    }
    Ok(path)
}

/// Where screenshots and other test artifacts go.
fn artifacts_dir() -> PathBuf {
    std::env::var_os("LOYALTY_ARTIFACTS")
        .map_or_else(|| repo_root().join("target/test-artifacts"), PathBuf::from)
}

/// A loopback port nobody listens on right now.
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("finding a free port")?;
    Ok(listener
        .local_addr()
        .context("reading a bound port")?
        .port())
}

/// Polls the driver's status endpoint until it is ready for sessions.
async fn wait_until_ready(driver: &mut DriverGuard, addr: SocketAddr, log: &Path) -> Result<()> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .context("building an HTTP client")?;
    let url = format!("http://{addr}/status");
    let deadline = Instant::now() + DRIVER_READY_TIMEOUT;
    loop {
        if let Some(child) = driver.0.as_mut()
            && let Some(status) = child.try_wait().context("checking on chromedriver")?
        {
            bail!(
                "chromedriver exited ({status}) while starting:\n{}",
                read_log(log)
            );
        }
        if let Ok(response) = http.get(&url).send().await
            && let Ok(bytes) = response.bytes().await
            && let Ok(body) = serde_json::from_slice::<Value>(&bytes)
            && body.pointer("/value/ready") == Some(&Value::Bool(true))
        {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "chromedriver did not answer on {addr} within {DRIVER_READY_TIMEOUT:?}:\n{}",
                read_log(log)
            );
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// The driver's log, for an error message.
fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| format!("(cannot read {}: {e})", path.display()))
}

/// The axe-core script that `npm ci --prefix tests/browser` installs.
async fn axe_source() -> Result<String> {
    let path = repo_root().join("tests/browser/node_modules/axe-core/axe.min.js");
    tokio::fs::read_to_string(&path).await.with_context(|| {
        format!(
            "axe-core is not installed ({} is missing): run `npm ci --prefix tests/browser` \
             (or `tests/run`, which does it)",
            path.display()
        )
    })
}

/// Asks the driver to quit every session and exit. Blocking, since it runs
/// in `Drop`; a driver that does not answer is killed afterwards anyway.
fn request_shutdown(addr: SocketAddr) {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return;
    };
    let _ = stream.set_read_timeout(Some(DRIVER_QUIT_TIMEOUT));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let request = format!("GET /shutdown HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_ok() {
        let _ = stream.read_to_end(&mut Vec::new());
    }
}

/// Kills the driver's process group (the driver and the Chromium processes
/// it spawned) and reaps the driver.
fn kill_process_group(child: &mut Child) {
    if let Ok(None) = child.try_wait() {
        // No `libc` here: the `kill` program reaches a whole process group.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", child.id())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = child.kill();
    }
    let _ = child.wait();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn violation(id: &str, impact: Option<&str>) -> Violation {
        Violation {
            id: id.to_owned(),
            impact: impact.map(str::to_owned),
            help: format!("{id} help"),
            nodes: vec!["html > body > img".to_owned()],
        }
    }

    #[test]
    fn serious_keeps_serious_and_critical_violations_only() {
        let report = AxeReport {
            violations: vec![
                violation("image-alt", Some("critical")),
                violation("region", Some("moderate")),
                violation("html-has-lang", Some("serious")),
                violation("empty-heading", Some("minor")),
                violation("unknown", None),
            ],
        };
        let ids: Vec<&str> = report.serious().iter().map(|v| v.id.as_str()).collect();
        assert_eq!(ids, ["image-alt", "html-has-lang"]);
    }

    #[test]
    fn a_report_lists_each_violation_with_its_elements() {
        let report = AxeReport {
            violations: vec![
                violation("image-alt", Some("critical")),
                violation("x", None),
            ],
        };
        assert_eq!(
            report.to_string(),
            "2 accessibility violation(s):\n  [critical] image-alt: image-alt help\n      \
             at html > body > img\n  [unknown impact] x: x help\n      at html > body > img\n"
        );
        assert_eq!(
            AxeReport {
                violations: Vec::new()
            }
            .to_string(),
            "no accessibility violations"
        );
    }

    #[test]
    fn axe_results_parse_with_a_missing_impact() {
        let report: AxeReport = serde_json::from_value(json!({
            "violations": [{ "id": "label", "impact": null, "help": "h", "nodes": ["#q"] }]
        }))
        .unwrap();
        assert_eq!(report.violations[0].impact, None);
        assert_eq!(report.violations[0].nodes, ["#q"]);
    }
}
