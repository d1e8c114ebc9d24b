//! The real `loyaltyd` binary, run as an operator runs it: a generated
//! configuration file in its own directory, secrets in files only the owner
//! can read, logs (`RUST_LOG=info`) in a file. Tests start one per test and
//! it is killed when dropped.

pub mod admin;

use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};

pub use admin::{AdminClient, Snapshot};

/// How long the daemon may take to become ready (the first start compiles
/// the connector).
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long [`Daemon::wait_until`] waits for asynchronous processing.
const WAIT_TIMEOUT: Duration = Duration::from_secs(20);
/// How many of the log's last lines [`Daemon::wait_until_within`] reports.
const LOG_TAIL_LINES: usize = 200;
/// How often it looks.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// The loyalty program rules.
#[derive(Debug, Clone)]
pub struct ProgramRules {
    /// The currency points are earned in.
    pub currency: String,
    /// Points per unit of that currency (decimal string).
    pub points_per_unit: String,
    /// `floor`, `half_up` or `half_even`.
    pub rounding: String,
    /// Currency per program currency unit, e.g. `("USD", "0.92")`.
    pub exchange_rates: Vec<(String, String)>,
}

impl Default for ProgramRules {
    /// Two points per euro, rounded down.
    fn default() -> Self {
        Self {
            currency: "EUR".to_owned(),
            points_per_unit: "2".to_owned(),
            rounding: "floor".to_owned(),
            exchange_rates: vec![("USD".to_owned(), "0.92".to_owned())],
        }
    }
}

/// The Shopify connector's configuration.
#[derive(Debug, Clone)]
pub struct ShopifySetup {
    /// The connector component (`shopify.wasm`).
    pub plugin: PathBuf,
    /// `<shop>.myshopify.com`.
    pub shop_domain: String,
    /// Admin API version.
    pub api_version: String,
    /// Where the Admin API is (the emulator's base URL).
    pub admin_base_url: String,
    /// The app's webhook signing secret.
    pub webhook_secret: String,
    /// The Admin API access token.
    pub admin_access_token: String,
}

/// Everything a daemon is started with.
#[derive(Debug, Clone)]
pub struct Setup {
    /// The admin API token (the configuration holds its SHA-256 only).
    pub admin_token: String,
    /// Program rules.
    pub program: ProgramRules,
    /// The Shopify connector, if any.
    pub shopify: Option<ShopifySetup>,
    /// TOML appended to the generated configuration: more program rules
    /// (`[[program.rewards]]`), more connectors.
    pub extra_toml: String,
    /// Secret files written to `secrets/NAME` (owner-only) before the
    /// daemon starts, for `file = "secrets/NAME"` in `extra_toml`.
    pub secrets: Vec<(String, String)>,
}

/// A running `loyaltyd`.
#[derive(Debug)]
pub struct Daemon {
    child: Mutex<Child>,
    base_url: String,
    dir: PathBuf,
    config_path: PathBuf,
    log_path: PathBuf,
    admin: AdminClient,
    /// Owns the directory of a test daemon; `None` for a kept one.
    temp: Option<tempfile::TempDir>,
}

impl Daemon {
    /// Starts a daemon in a fresh temporary directory, removed when dropped
    /// (kept, and named on stderr, if the test panicked).
    pub async fn start(setup: &Setup) -> anyhow::Result<Self> {
        let temp = tempfile::Builder::new().prefix("loyaltyd-e2e-").tempdir()?;
        let mut daemon = Self::start_in(temp.path(), setup).await?;
        daemon.temp = Some(temp);
        Ok(daemon)
    }

    /// Starts a daemon in `dir`: writes `loyaltyd.toml` and the secret files
    /// there, keeps its data in `dir/data` and its log in `dir/loyaltyd.log`,
    /// and returns once `/readyz` answers.
    pub async fn start_in(dir: &Path, setup: &Setup) -> anyhow::Result<Self> {
        Self::start_with_server_keys(dir, setup, "").await
    }

    /// [`Self::start_in`] with more `[server]` keys (`inbox_batch_max = 1`),
    /// one per line.
    pub async fn start_with_server_keys(
        dir: &Path,
        setup: &Setup,
        server_keys: &str,
    ) -> anyhow::Result<Self> {
        Self::start_configured(dir, setup, server_keys, &default_store()).await
    }

    /// [`Self::start_in`] with another store: `store_toml` is the whole
    /// `[store]` section, its header and any `[store.password]` included,
    /// e.g. `[store]\ntype = "postgres"\nurl = "host=... dbname=..."`.
    /// Daemons started on the same database share it. `server_keys` as
    /// for [`Self::start_with_server_keys`].
    pub async fn start_with_store(
        dir: &Path,
        setup: &Setup,
        server_keys: &str,
        store_toml: &str,
    ) -> anyhow::Result<Self> {
        Self::start_configured(dir, setup, server_keys, store_toml).await
    }

    async fn start_configured(
        dir: &Path,
        setup: &Setup,
        server_keys: &str,
        store_toml: &str,
    ) -> anyhow::Result<Self> {
        fs::create_dir_all(dir)?;
        let dir = dir.canonicalize()?;
        let secrets = dir.join("secrets");
        fs::create_dir_all(&secrets)?;
        fs::set_permissions(&secrets, fs::Permissions::from_mode(0o700))?;
        for (name, value) in &setup.secrets {
            write_secret(&secrets.join(name), value)?;
        }
        if let Some(shopify) = &setup.shopify {
            write_secret(&secrets.join("shopify_webhook"), &shopify.webhook_secret)?;
            write_secret(
                &secrets.join("shopify_admin_token"),
                &shopify.admin_access_token,
            )?;
        }
        let port = free_port()?;
        let base_url = format!("http://127.0.0.1:{port}");
        let config_path = dir.join("loyaltyd.toml");
        fs::write(
            &config_path,
            config_toml(setup, port, &base_url, server_keys, store_toml),
        )?;
        let log_path = dir.join("loyaltyd.log");
        let child = spawn(&config_path, &dir, File::create(&log_path)?)?;
        let daemon = Self {
            child: Mutex::new(child),
            admin: AdminClient::new(&base_url, &setup.admin_token),
            base_url,
            dir,
            config_path,
            log_path,
            temp: None,
        };
        daemon.wait_ready().await?;
        Ok(daemon)
    }

    /// The process id, to send it signals (`kill -HUP`).
    pub fn pid(&self) -> u32 {
        self.child
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .id()
    }

    /// Kills the process with SIGKILL, as a crash, the OOM killer or a
    /// container runtime would: no shutdown, no last commit, nothing
    /// flushed. Reaps it and returns how it ended. Its directory, data and
    /// port stay for [`Daemon::restart`].
    pub fn kill(&self) -> anyhow::Result<ExitStatus> {
        let mut child = self.child.lock().unwrap_or_else(PoisonError::into_inner);
        // `Child::kill` is SIGKILL on Unix, and `Ok` if it has exited already.
        child.kill().context("sending SIGKILL to loyaltyd")?;
        child.wait().context("reaping loyaltyd")
    }

    /// Starts the daemon again, after [`Daemon::kill`] or any other exit,
    /// with the same configuration file, so in the same directory, on the
    /// same data and the same port; returns once `/readyz` answers. The log
    /// goes on in the same file, after a line that marks the restart.
    pub async fn restart(&self) -> anyhow::Result<()> {
        {
            let mut child = self.child.lock().unwrap_or_else(PoisonError::into_inner);
            if child.try_wait()?.is_none() {
                bail!("loyaltyd is still running: kill it before restarting it");
            }
            let mut log = OpenOptions::new().append(true).open(&self.log_path)?;
            writeln!(log, "--- loyalty-e2e harness: restarting loyaltyd ---")?;
            *child = spawn(&self.config_path, &self.dir, log)?;
        }
        self.wait_ready().await
    }

    async fn wait_ready(&self) -> anyhow::Result<()> {
        let client = reqwest::Client::new();
        let url = format!("{}/readyz", self.base_url);
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.exit_status() {
                bail!(
                    "loyaltyd exited ({status}) before it was ready\n{}",
                    self.log_report()
                );
            }
            if let Ok(response) = client.get(&url).send().await
                && response.status().is_success()
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "loyaltyd was not ready after {} s\n{}",
                    READY_TIMEOUT.as_secs(),
                    self.log_report()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The directory it runs in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Its configuration file.
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// Its log file.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    fn log_report(&self) -> String {
        format!(
            "--- {} ---\n{}--- end of log ---",
            self.log_path.display(),
            self.log()
        )
    }

    /// The last `lines` lines of its log, headed by the file's path and how
    /// many lines are left out: what a failure message should show of a
    /// long log.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = self.log();
        let all: Vec<&str> = log.lines().collect();
        let skipped = all.len().saturating_sub(lines);
        format!(
            "--- {} (last {} of {} lines) ---\n{}\n--- end of log ---",
            self.log_path.display(),
            all.len() - skipped,
            all.len(),
            all[skipped..].join("\n")
        )
    }

    /// The admin API.
    pub fn admin(&self) -> &AdminClient {
        &self.admin
    }

    fn exit_status(&self) -> Option<ExitStatus> {
        let mut child = self.child.lock().unwrap_or_else(PoisonError::into_inner);
        child.try_wait().ok().flatten()
    }

    /// Polls the admin API until `condition` holds and returns what it saw
    /// then. Processing is asynchronous: this is how a test waits for it.
    /// Fails after 20 s with the last state seen and the daemon's log.
    pub async fn wait_until(
        &self,
        what: &str,
        condition: impl Fn(&Snapshot) -> bool,
    ) -> anyhow::Result<Snapshot> {
        self.poll(what, WAIT_TIMEOUT, condition, || self.log_report())
            .await
    }

    /// [`Daemon::wait_until`] with a deadline of the caller's choosing, for
    /// long backlogs; a failure shows the last 200 lines of the log.
    pub async fn wait_until_within(
        &self,
        what: &str,
        timeout: Duration,
        condition: impl Fn(&Snapshot) -> bool,
    ) -> anyhow::Result<Snapshot> {
        self.poll(what, timeout, condition, || self.log_tail(LOG_TAIL_LINES))
            .await
    }

    async fn poll(
        &self,
        what: &str,
        timeout: Duration,
        condition: impl Fn(&Snapshot) -> bool,
        log: impl Fn() -> String,
    ) -> anyhow::Result<Snapshot> {
        let deadline = Instant::now() + timeout;
        loop {
            let last = match self.admin.snapshot().await {
                Ok(snapshot) if condition(&snapshot) => return Ok(snapshot),
                Ok(snapshot) => format!("{snapshot:#?}"),
                Err(error) => format!("{error:#}"),
            };
            if let Some(status) = self.exit_status() {
                bail!(
                    "loyaltyd exited ({status}) while waiting until {what}\n{}",
                    log()
                );
            }
            if Instant::now() >= deadline {
                bail!(
                    "timed out after {} s waiting until {what}\nlast state: {last}\n{}",
                    timeout.as_secs(),
                    log()
                );
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let child = self.child.get_mut().unwrap_or_else(PoisonError::into_inner);
        let _ = child.kill();
        let _ = child.wait();
        if std::thread::panicking()
            && let Some(temp) = self.temp.take()
        {
            let kept = temp.keep();
            #[allow(
                clippy::print_stderr,
                reason = "tells the developer of a failed test where its daemon's files are"
            )]
            {
                eprintln!("loyaltyd's directory is kept at {}", kept.display());
            }
        }
    }
}

/// A random token: 32 bytes from the OS, hex-encoded.
pub fn random_token() -> anyhow::Result<String> {
    let mut bytes = [0_u8; 32];
    std::io::Read::read_exact(&mut File::open("/dev/urandom")?, &mut bytes)?;
    Ok(hex::encode(bytes))
}

/// Lower-case hex SHA-256, as `admin_token_sha256` wants it.
pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Starts `loyaltyd run` on `config` in `dir`, logging at `info` to `log`.
fn spawn(config: &Path, dir: &Path, log: File) -> anyhow::Result<Child> {
    let binary = crate::loyaltyd_binary();
    Command::new(&binary)
        .arg("run")
        .arg("--config")
        .arg(config)
        .current_dir(dir)
        .env("RUST_LOG", "info")
        // A log file, not a terminal: no colour escapes.
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))
}

/// A loopback port nobody listens on right now.
fn free_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    Ok(listener.local_addr()?.port())
}

/// Writes a secret readable by its owner only (`loyaltyd` refuses others).
fn write_secret(path: &Path, value: &str) -> anyhow::Result<()> {
    let _ = fs::remove_file(path);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(value.as_bytes())?;
    Ok(())
}

/// A TOML basic string (JSON string escapes are valid TOML escapes).
fn toml_string(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

/// The `[store]` section of every daemon not given another: an SQLite file
/// in its own directory.
const SQLITE_STORE: &str = "[store]\n\
                            type = \"sqlite\"\n\
                            path = \"data/loyalty.db\"\n";

/// Chooses the store of daemons not given another: `postgres` puts each on
/// a fresh database of the PostgreSQL test server.
pub const STORE_VARIABLE: &str = "LOYALTY_TEST_STORE";

/// The `[store]` section of a daemon not given another: [`SQLITE_STORE`],
/// or a fresh PostgreSQL database when [`STORE_VARIABLE`] is `postgres`
/// (tests that read the SQLite file themselves then fail).
fn default_store() -> String {
    match std::env::var(STORE_VARIABLE).as_deref() {
        Ok("postgres") => format!(
            "[store]\ntype = \"postgres\"\nurl = {}\npool_size = 4\n",
            serde_json::Value::from(crate::postgres::postgres_database())
        ),
        _ => SQLITE_STORE.to_owned(),
    }
}

fn config_toml(
    setup: &Setup,
    port: u16,
    base_url: &str,
    server_keys: &str,
    store_toml: &str,
) -> String {
    let s = toml_string;
    let mut toml = String::from(
        "# loyaltyd configuration, generated by the loyalty-e2e harness.\n\
         # Relative paths are relative to this file's directory.\n\n",
    );
    let program = &setup.program;
    let _ = write!(
        toml,
        "[server]\n\
         listen = {listen}\n\
         public_base_url = {base_url}\n\
         admin_token_sha256 = [{token}]\n\
         {server_keys}\n\
         {store}\n\n\
         [runtime]\n\
         cache_dir = \"data/cache\"\n\n\
         [program]\n\
         currency = {currency}\n\
         points_per_unit = {points}\n\
         rounding = {rounding}\n\n\
         [program.exchange_rates]\n",
        listen = s(&format!("127.0.0.1:{port}")),
        base_url = s(base_url),
        token = s(&sha256_hex(&setup.admin_token)),
        server_keys = server_keys.trim_end(),
        store = store_toml.trim_end(),
        currency = s(&program.currency),
        points = s(&program.points_per_unit),
        rounding = s(&program.rounding),
    );
    for (currency, rate) in &program.exchange_rates {
        let _ = writeln!(toml, "{currency} = {}", s(rate));
    }
    if let Some(shopify) = &setup.shopify {
        let admin = s(&shopify.admin_base_url);
        let _ = write!(
            toml,
            "\n[connectors.shopify]\n\
             plugin = {plugin}\n\
             allowed_hosts = [{admin}]\n\
             settings = {{ shop_domain = {shop}, api_version = {version}, admin_base_url = {admin}, external_id_system = \"sap\" }}\n\n\
             [connectors.shopify.secrets.webhook]\n\
             file = \"secrets/shopify_webhook\"\n\n\
             [connectors.shopify.credentials.admin]\n\
             file = \"secrets/shopify_admin_token\"\n\
             inject = \"header\"\n\
             header = \"X-Shopify-Access-Token\"\n\
             hosts = [{admin}]\n",
            plugin = s(&shopify.plugin.to_string_lossy()),
            shop = s(&shopify.shop_domain),
            version = s(&shopify.api_version),
        );
    }
    toml.push('\n');
    toml.push_str(&setup.extra_toml);
    toml
}
