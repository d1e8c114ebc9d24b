//! The deployment files in `deploy/` are checked as far as this machine can
//! check them. The systemd unit carries every hardening directive the README
//! promises, and its own command lines (with the built binary and a
//! generated configuration in place of the installed paths) validate, run,
//! reload and stop the real daemon; `systemd-analyze` verifies it where
//! installed. The Containerfile copies only what the repository holds and
//! builds packages and binaries that exist.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use loyalty_e2e::daemon::sha256_hex;
use loyalty_e2e::{loyaltyd_binary, repo_root, test_component};
use serde_json::Value;

/// Where the unit expects the binary and the configuration.
const INSTALLED_BINARY: &str = "/usr/local/bin/loyaltyd";
const INSTALLED_CONFIG: &str = "/etc/loyalty/loyalty.toml";
const ADMIN_TOKEN: &str = "operations-files-admin-token";

/// `[Service]` directives the unit must set, with their exact values.
const SERVICE: &[(&str, &str)] = &[
    ("Type", "exec"),
    ("User", "loyalty"),
    ("Group", "loyalty"),
    ("KillSignal", "SIGTERM"),
    ("Restart", "on-failure"),
    ("StateDirectory", "loyalty"),
    ("ConfigurationDirectory", "loyalty"),
    ("UMask", "0077"),
    ("NoNewPrivileges", "yes"),
    ("ProtectSystem", "strict"),
    ("ProtectHome", "yes"),
    ("PrivateTmp", "yes"),
    ("PrivateDevices", "yes"),
    ("ProtectKernelTunables", "yes"),
    ("ProtectKernelModules", "yes"),
    ("ProtectKernelLogs", "yes"),
    ("ProtectControlGroups", "yes"),
    ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
    ("RestrictNamespaces", "yes"),
    ("LockPersonality", "yes"),
    ("SystemCallArchitectures", "native"),
    ("SystemCallFilter", "@system-service"),
    ("CapabilityBoundingSet", ""),
];

/// A systemd unit file: (section, key, value) in file order; a key set
/// several times appears several times.
struct Unit(Vec<(String, String, String)>);

impl Unit {
    fn parse(text: &str) -> Self {
        let mut entries = Vec::new();
        let mut section = String::new();
        let mut pending = String::new();
        for line in text.lines() {
            let line = line.trim();
            if pending.is_empty() && (line.is_empty() || line.starts_with(['#', ';'])) {
                continue;
            }
            if let Some(continued) = line.strip_suffix('\\') {
                pending.push_str(continued);
                pending.push(' ');
                continue;
            }
            let line = std::mem::take(&mut pending) + line;
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                name.clone_into(&mut section);
                continue;
            }
            let (key, value) = line.split_once('=').expect("KEY=VALUE");
            entries.push((
                section.clone(),
                key.trim().to_owned(),
                value.trim().to_owned(),
            ));
        }
        Self(entries)
    }

    fn values(&self, section: &str, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(s, k, _)| s == section && k == key)
            .map(|(_, _, v)| v.as_str())
            .collect()
    }

    fn service(&self, key: &str) -> &str {
        match self.values("Service", key)[..] {
            [value] => value,
            ref values => panic!("[Service] {key} is set {} times", values.len()),
        }
    }
}

fn unit_text() -> String {
    fs::read_to_string(repo_root().join("deploy/loyaltyd.service")).unwrap()
}

fn unit() -> Unit {
    Unit::parse(&unit_text())
}

/// A command line of the unit with the built binary, `config` and the
/// daemon's pid in place of the installed paths and `$MAINPID`.
fn command_line(line: &str, config: &Path, main_pid: Option<u32>) -> Command {
    assert!(
        !line.contains(['"', '\'']) && !line.starts_with(['-', '+', '!', '@', ':']),
        "the test splits command lines on spaces: {line}"
    );
    let binary = loyaltyd_binary();
    let mut words = line.split_whitespace().map(|word| match word {
        INSTALLED_BINARY => binary.clone().into_os_string(),
        INSTALLED_CONFIG => config.as_os_str().to_owned(),
        "$MAINPID" => main_pid.expect("no main process").to_string().into(),
        other => other.into(),
    });
    let mut command = Command::new(words.next().unwrap());
    command.args(words);
    command
}

fn run(line: &str, config: &Path, main_pid: Option<u32>) -> Output {
    command_line(line, config, main_pid).output().unwrap()
}

/// A free loopback port.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    listener.local_addr().unwrap().port()
}

/// A valid configuration in `dir` with absolute paths, as an installed one
/// has, and one connector; returns its path and port.
fn valid_config(dir: &Path) -> (PathBuf, u16) {
    let port = free_port();
    let path = dir.join("loyalty.toml");
    let s = |text: &str| Value::from(text).to_string();
    fs::write(
        &path,
        format!(
            "[server]\n\
             listen = {listen}\n\
             public_base_url = \"https://loyalty.example\"\n\
             admin_token_sha256 = [{token}]\n\n\
             [store]\n\
             type = \"sqlite\"\n\
             path = {store}\n\n\
             [runtime]\n\
             cache_dir = {cache}\n\n\
             [program]\n\
             currency = \"EUR\"\n\
             points_per_unit = \"2\"\n\
             rounding = \"floor\"\n\n\
             [connectors.shop]\n\
             plugin = {plugin}\n",
            listen = s(&format!("127.0.0.1:{port}")),
            token = s(&sha256_hex(ADMIN_TOKEN)),
            store = s(&dir.join("state/loyalty.db").to_string_lossy()),
            cache = s(&dir.join("cache").to_string_lossy()),
            plugin = s(&test_component("echo").to_string_lossy()),
        ),
    )
    .unwrap();
    (path, port)
}

async fn ready(port: u16) -> bool {
    reqwest::get(format!("http://127.0.0.1:{port}/readyz"))
        .await
        .is_ok_and(|r| r.status().is_success())
}

async fn wait_ready(daemon: &mut Child, port: u16, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready(port).await {
        let log = fs::read_to_string(log).unwrap_or_default();
        assert!(daemon.try_wait().unwrap().is_none(), "it exited:\n{log}");
        assert!(Instant::now() < deadline, "not ready after 60 s:\n{log}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `TimeoutStopSec` in seconds (`15`, `15s`).
fn stop_timeout(unit: &Unit) -> u64 {
    unit.service("TimeoutStopSec")
        .trim_end_matches('s')
        .parse()
        .unwrap()
}

#[test]
fn the_unit_sets_every_hardening_directive() {
    let unit = unit();
    for (key, value) in SERVICE {
        assert_eq!(unit.service(key), *value, "[Service] {key}");
    }
    for key in [
        "ExecStartPre",
        "ExecStart",
        "ExecReload",
        "TimeoutStopSec",
        "CacheDirectory",
    ] {
        assert!(!unit.values("Service", key).is_empty(), "{key} is missing");
    }
    // wasmtime maps compiled connectors executable: the option would stop
    // every connector from loading, so it stays out, with the reason.
    assert!(unit.values("Service", "MemoryDenyWriteExecute").is_empty());
    let text = unit_text();
    let reason = text
        .lines()
        .skip_while(|l| !(l.starts_with('#') && l.contains("MemoryDenyWriteExecute")))
        .take_while(|l| l.starts_with('#'))
        .collect::<Vec<_>>()
        .join(" ");
    assert!(reason.contains("wasmtime"), "no reason given: {reason}");
    assert_eq!(unit.values("Install", "WantedBy"), ["multi-user.target"]);
}

#[test]
fn the_unit_validates_before_it_starts_and_before_it_reloads() {
    let unit = unit();
    let validate = format!("{INSTALLED_BINARY} validate --config {INSTALLED_CONFIG}");
    assert_eq!(unit.values("Service", "ExecStartPre"), [validate.as_str()]);
    assert_eq!(
        unit.service("ExecStart"),
        format!("{INSTALLED_BINARY} run --config {INSTALLED_CONFIG}")
    );
    assert_eq!(
        unit.values("Service", "ExecReload"),
        [validate.as_str(), "/bin/kill -HUP $MAINPID"]
    );
}

#[test]
fn the_unit_waits_longer_than_the_daemons_shutdown_grace() {
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = valid_config(dir.path());
    let grace = loyaltyd::config::load(&config)
        .unwrap()
        .server
        .shutdown_grace_seconds;
    let timeout = stop_timeout(&unit());
    assert!(
        timeout > grace,
        "TimeoutStopSec={timeout} would SIGKILL a daemon still draining (shutdown_grace_seconds = {grace})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_units_command_lines_validate_run_reload_and_stop_the_daemon() {
    let unit = unit();
    let dir = tempfile::tempdir().unwrap();
    let (config, port) = valid_config(dir.path());

    let pre = run(unit.service("ExecStartPre"), &config, None);
    assert!(pre.status.success(), "{pre:?}");

    let log = dir.path().join("loyaltyd.log");
    let file = fs::File::create(&log).unwrap();
    let mut daemon = command_line(unit.service("ExecStart"), &config, None)
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .unwrap();
    wait_ready(&mut daemon, port, &log).await;
    let pid = daemon.id();

    // systemctl reload: every line in order, each must succeed.
    for line in unit.values("Service", "ExecReload") {
        let output = run(line, &config, Some(pid));
        assert!(output.status.success(), "{line}: {output:?}");
    }
    // A reload is not a restart: the same process keeps serving.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(daemon.try_wait().unwrap().is_none(), "SIGHUP ended it");
    assert!(ready(port).await, "not ready after the reload");

    // systemctl stop: KillSignal, then SIGKILL after TimeoutStopSec.
    let signal = unit.service("KillSignal").trim_start_matches("SIG");
    let sent = Command::new("kill")
        .args(["-s", signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let deadline = Instant::now() + Duration::from_secs(stop_timeout(&unit));
    let status = loop {
        if let Some(status) = daemon.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            daemon.kill().unwrap();
            panic!("still running after TimeoutStopSec: systemd would SIGKILL it");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status}");
}

#[test]
fn a_broken_config_stops_the_start_and_the_reload_naming_the_key() {
    let unit = unit();
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = valid_config(dir.path());
    let text = fs::read_to_string(&config).unwrap();
    fs::write(&config, text.replace("rounding = ", "roundng = ")).unwrap();
    let first_reload = unit.values("Service", "ExecReload")[0];
    for line in [unit.service("ExecStartPre"), first_reload] {
        let output = run(line, &config, None);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{line}: {stderr}");
        assert!(
            stderr.contains(&format!("{}:", config.display()))
                && stderr.contains("program.roundng: unknown key `roundng`"),
            "{line}: {stderr}"
        );
    }
}

#[test]
fn systemd_analyze_verifies_the_unit_where_installed() {
    let Ok(version) = Command::new("systemd-analyze").arg("--version").output() else {
        return;
    };
    if !version.status.success() {
        return;
    }
    // `verify` requires the executables to exist: point it at the built one.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("loyaltyd.service");
    let binary = loyaltyd_binary();
    fs::write(
        &path,
        unit_text().replace(INSTALLED_BINARY, &binary.to_string_lossy()),
    )
    .unwrap();
    let verify = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&verify.stderr);
    assert!(verify.status.success() && stderr.is_empty(), "{stderr}");

    // The exposure score (0 to 10, lower is safer) stays at most 2.0.
    let security = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--threshold=20"])
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&security.stderr);
    if stderr.contains("unrecognized option") {
        return;
    }
    let stdout = String::from_utf8_lossy(&security.stdout);
    assert!(
        security.status.success(),
        "{}",
        stdout.lines().last().unwrap_or_default()
    );
}

/// The Containerfile's instructions, continuation lines joined, comments
/// left out: (instruction, arguments).
fn containerfile() -> Vec<(String, String)> {
    let text = fs::read_to_string(repo_root().join("deploy/Containerfile")).unwrap();
    let mut instructions = Vec::new();
    let mut pending = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && pending.is_empty()) {
            continue;
        }
        if let Some(continued) = line.strip_suffix('\\') {
            pending.push_str(continued);
            pending.push(' ');
            continue;
        }
        let line = std::mem::take(&mut pending) + line;
        let (instruction, arguments) = line.split_once(' ').unwrap();
        instructions.push((instruction.to_owned(), arguments.trim().to_owned()));
    }
    instructions
}

/// A target of a package: its name and kinds (`bin`, `cdylib`, ...).
type Target = (String, Vec<String>);

/// `cargo metadata --no-deps` of the workspace at `dir`: each package's
/// name with its targets.
fn packages(dir: &Path) -> Vec<(String, Vec<Target>)> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args([
            "metadata",
            "--no-deps",
            "--offline",
            "--format-version",
            "1",
        ])
        .arg("--manifest-path")
        .arg(dir.join("Cargo.toml"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let metadata: Value = serde_json::from_slice(&output.stdout).unwrap();
    metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let targets = p["targets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| {
                    let kinds = t["kind"].as_array().unwrap();
                    let kinds = kinds.iter().map(|k| k.as_str().unwrap().to_owned());
                    (t["name"].as_str().unwrap().to_owned(), kinds.collect())
                })
                .collect();
            (p["name"].as_str().unwrap().to_owned(), targets)
        })
        .collect()
}

#[test]
fn every_path_the_containerfile_copies_is_in_the_repository() {
    let root = repo_root();
    let copies: Vec<String> = containerfile()
        .into_iter()
        .filter(|(instruction, arguments)| instruction == "COPY" && !arguments.starts_with("--"))
        .map(|(_, arguments)| arguments)
        .collect();
    assert!(copies.len() >= 5, "{copies:?}");
    for arguments in copies {
        let words: Vec<&str> = arguments.split_whitespace().collect();
        let (_, sources) = words.split_last().unwrap();
        for source in sources {
            let tracked = Command::new("git")
                .current_dir(&root)
                .args(["ls-files", "--", source])
                .output()
                .unwrap();
            assert!(
                root.join(source).exists() && !tracked.stdout.is_empty(),
                "COPY {source}: not in the repository"
            );
        }
    }
}

#[test]
fn the_containerfile_builds_packages_and_binaries_that_exist() {
    let root = repo_root();
    let instructions = containerfile();
    let workspace = fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let rust_version = workspace
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .unwrap()
        .trim_matches('"');
    assert_eq!(
        instructions[0],
        (
            "FROM".to_owned(),
            format!("docker.io/library/rust:{rust_version}-bookworm AS builder")
        ),
        "the builder's toolchain is the workspace's rust-version"
    );
    let runs: Vec<&str> = instructions
        .iter()
        .filter(|(i, _)| i == "RUN")
        .map(|(_, a)| a.as_str())
        .collect();
    let plugins_target = fs::read_to_string(root.join("plugins/.cargo/config.toml")).unwrap();
    assert!(plugins_target.contains("target = \"wasm32-wasip2\""));
    assert!(
        runs.contains(&"rustup target add wasm32-wasip2"),
        "{runs:?}"
    );

    // Each `cargo build` names packages (and binaries) of the workspace it
    // runs in; what they build is what the runtime stage copies.
    let mut built: Vec<String> = Vec::new();
    for run in runs.iter().filter(|r| r.contains("cargo build")) {
        let (dir, command) = match run.strip_prefix("cd ") {
            Some(rest) => rest.split_once(" && ").unwrap(),
            None => ("", *run),
        };
        let packages = packages(&root.join(dir));
        let words: Vec<&str> = command.split_whitespace().collect();
        assert!(
            words.contains(&"--locked") && words.contains(&"--release"),
            "{run}"
        );
        for pair in words.windows(2) {
            let (flag, name) = (pair[0], pair[1]);
            match flag {
                "-p" => {
                    let Some((_, targets)) = packages.iter().find(|(p, _)| p == name) else {
                        panic!("{run}: no package `{name}` in {dir:?}");
                    };
                    if dir == "plugins" {
                        assert!(
                            targets
                                .iter()
                                .any(|(_, kinds)| kinds.iter().any(|k| k == "cdylib")),
                            "`{name}` is not a component"
                        );
                        built.push(format!(
                            "/src/plugins/target/wasm32-wasip2/release/{name}.wasm"
                        ));
                    }
                }
                "--bin" => {
                    let found = packages
                        .iter()
                        .flat_map(|(_, targets)| targets)
                        .any(|(target, kinds)| target == name && kinds.iter().any(|k| k == "bin"));
                    assert!(found, "{run}: no binary `{name}` in {dir:?}");
                    built.push(format!("/src/target/release/{name}"));
                }
                _ => {}
            }
        }
    }
    for (_, arguments) in instructions
        .iter()
        .filter(|(i, a)| i == "COPY" && a.starts_with("--from=builder"))
    {
        let words: Vec<&str> = arguments.split_whitespace().skip(1).collect();
        let (_, sources) = words.split_last().unwrap();
        for source in sources {
            assert!(built.iter().any(|b| b == source), "{source} is never built");
        }
    }

    let last = |name: &str| {
        instructions
            .iter()
            .rev()
            .find(|(i, _)| i == name)
            .map(|(_, a)| a.as_str())
    };
    assert_eq!(
        last("ENTRYPOINT"),
        Some(r#"["loyaltyd", "run", "--config", "/etc/loyalty/loyalty.toml"]"#)
    );
    assert_eq!(last("EXPOSE"), Some("8080"));
    assert_eq!(last("VOLUME"), Some("/var/lib/loyalty"));
    let user = last("USER").unwrap();
    assert!(
        !user.starts_with("root") && !user.starts_with('0'),
        "{user}"
    );
    // A health check needs a client in the image; loyaltyd would be it.
    let help = Command::new(loyaltyd_binary())
        .arg("--help")
        .output()
        .unwrap();
    let has_health = String::from_utf8_lossy(&help.stdout)
        .lines()
        .any(|l| l.trim_start().starts_with("health "));
    assert_eq!(last("HEALTHCHECK").is_some(), has_health);
}
