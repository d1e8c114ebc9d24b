//! Shared helpers of the end-to-end tests: building the wasm components from
//! source and locating them, and databases on the PostgreSQL test server.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use anyhow::{Context, bail};

pub mod bench;
pub mod browser;
pub mod daemon;
pub mod demo_book;
pub mod hubspot;
pub mod landscape;
pub mod pipedrive;
pub mod postgres;
pub mod salesforce;
pub mod sap;
pub mod shopify;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The settings through which the hostile test connector declares the
/// hosts it calls (`{host1}` to `{host3}` in its `describe`): one per
/// allowed origin.
pub fn declared_hosts(allowed: &[String]) -> std::collections::BTreeMap<String, String> {
    assert!(allowed.len() <= 3, "the hostile connector declares 3 hosts");
    allowed
        .iter()
        .enumerate()
        .map(|(n, origin)| (format!("host{}", n + 1), origin.clone()))
        .collect()
}

/// Builds the test components (`tests/components`) once per process and
/// returns the path of the named one (`echo`, `hostile`).
pub fn test_component(name: &str) -> PathBuf {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        build_workspace(&repo_root().join("tests/components")).map_err(|e| format!("{e:#}"))
    });
    match dir {
        Ok(dir) => dir.join(format!("{name}.wasm")),
        Err(e) => panic!("cannot build the test components: {e}"),
    }
}

/// Builds the official connectors (`plugins/`) once per process and returns
/// the path of the named one (`shopify`).
pub fn official_plugin(name: &str) -> PathBuf {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        build_workspace(&repo_root().join("plugins")).map_err(|e| format!("{e:#}"))
    });
    match dir {
        Ok(dir) => dir.join(format!("{name}.wasm")),
        Err(e) => panic!("cannot build the official connectors: {e}"),
    }
}

/// The `loyaltyd` binary of this tree, built once per process with the
/// running executable's profile and target directory (so `cargo test
/// --release` reuses the release artifacts it has just built).
pub fn loyaltyd_binary() -> PathBuf {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match BUILT.get_or_init(|| build_loyaltyd().map_err(|e| format!("{e:#}"))) {
        Ok(binary) => binary.clone(),
        Err(e) => panic!("cannot build loyaltyd: {e}"),
    }
}

fn build_loyaltyd() -> anyhow::Result<PathBuf> {
    let (target_dir, profile_dir) = running_profile()?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(repo_root())
        .args(["build", "--locked", "-p", "loyaltyd", "--bin", "loyaltyd"])
        .arg("--target-dir")
        .arg(&target_dir);
    match profile_dir.as_str() {
        "debug" => {}
        "release" => {
            command.arg("--release");
        }
        custom => {
            command.args(["--profile", custom]);
        }
    }
    let status = command
        .env_remove("CARGO_MAKEFLAGS")
        .status()
        .context("running cargo build -p loyaltyd")?;
    if !status.success() {
        bail!("cargo build -p loyaltyd failed ({status})");
    }
    Ok(target_dir
        .join(profile_dir)
        .join(format!("loyaltyd{}", std::env::consts::EXE_SUFFIX)))
}

/// The target directory and profile directory (`release`, `debug`) of the
/// running executable: `target/release/deps/config_ui-...` for a test,
/// `target/release/loyalty-demo` for a binary.
fn running_profile() -> anyhow::Result<(PathBuf, String)> {
    let exe = std::env::current_exe().context("locating the running executable")?;
    let mut dir = exe.parent().context("the executable has no directory")?;
    if dir.file_name().is_some_and(|name| name == "deps") {
        dir = dir.parent().context("`deps` has no parent")?;
    }
    let profile = dir
        .file_name()
        .context("the profile directory has no name")?
        .to_string_lossy()
        .into_owned();
    let target = dir
        .parent()
        .context("the profile directory has no parent")?;
    Ok((target.to_path_buf(), profile))
}

/// Builds a wasm workspace (its `.cargo/config.toml` selects the target) into
/// the shared `target/wasm` directory and returns the directory holding the
/// `.wasm` files.
pub fn build_workspace(workspace: &Path) -> anyhow::Result<PathBuf> {
    ensure_wasm_target()?;
    let target_dir = repo_root().join("target/wasm");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(workspace)
        .args(["build", "--release", "--locked", "--target-dir"])
        .arg(&target_dir)
        // Flags meant for the host build must not leak into the wasm build.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_MAKEFLAGS")
        .status()
        .with_context(|| format!("running cargo in {}", workspace.display()))?;
    if !status.success() {
        bail!("cargo build in {} failed ({status})", workspace.display());
    }
    Ok(target_dir.join("wasm32-wasip2/release"))
}

/// Installs the `wasm32-wasip2` standard library through rustup if the
/// toolchain lacks it.
pub fn ensure_wasm_target() -> anyhow::Result<()> {
    let output = Command::new("rustc")
        .args(["--print", "target-libdir", "--target", "wasm32-wasip2"])
        .output()
        .context("running rustc")?;
    let libdir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    if output.status.success() && libdir.is_dir() {
        return Ok(());
    }
    let status = Command::new("rustup")
        .args(["target", "add", "wasm32-wasip2"])
        .status()
        .context("running rustup target add wasm32-wasip2")?;
    if !status.success() {
        bail!("rustup target add wasm32-wasip2 failed ({status})");
    }
    Ok(())
}
