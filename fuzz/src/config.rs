//! The `config` target: arbitrary text through the configuration parser
//! ([`loyaltyd::config::parse`]), beside a fixture directory that holds the
//! files configurations name (placeholder components, secret files, terms),
//! so that valid inputs load completely and invalid ones fail where a real
//! operator's would.
//!
//! Properties: the parser never panics; a failure lists at least one
//! problem, in file order, each at a line of the text and none of them the
//! "incomplete" fallback; neither problems nor a loaded configuration's
//! debug output show a secret value the text does not itself contain; a
//! loaded program's version is the digest of its rules.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use loyaltyd::config::{self, ConfigErrors};

/// The value of every environment variable the configuration names (except
/// those with `UNSET` in their name, which are not set).
pub const ENV_VALUE: &str = "env-secret-5b1f0c9e8d27a463";
/// The content of every secret file of the fixture directory.
pub const FILE_SECRET: &str = "file-secret-c4e9a1d07f3b6258";

/// The environment the parser sees.
pub fn env(name: &str) -> Option<OsString> {
    (!name.contains("UNSET")).then(|| OsString::from(ENV_VALUE))
}

/// Files configurations commonly name, relative to the configuration file's
/// directory (`tests/ui` and `examples` name these), and whether they are
/// secrets.
const FIXTURE_FILES: &[(&str, bool)] = &[
    ("plugins/placeholder.wasm", false),
    ("plugins/shopify.wasm", false),
    ("plugins/hubspot.wasm", false),
    ("../valid/plugins/placeholder.wasm", false),
    ("secrets/webhook", true),
    ("secrets/hubspot_client_secret", true),
    ("secrets/shopify_webhook", true),
    ("terms/2026-01.md", false),
    ("terms/2026-07.md", false),
];

/// The configuration file's path: `fuzz/target/config-fixture/ui/loyalty.toml`,
/// beside the fixture files, created once per process. It is never read.
pub fn config_path() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/config-fixture/ui");
        if let Err(e) = make_fixture(&dir) {
            panic!("cannot create the fixture directory {}: {e}", dir.display());
        }
        dir.join("loyalty.toml")
    })
}

fn make_fixture(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for (name, secret) in FIXTURE_FILES {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let (content, mode) = if *secret {
            (format!("{FILE_SECRET}\n"), 0o600)
        } else if name.ends_with(".md") {
            ("# Terms\n\nPoints expire after two years.\n".to_owned(), 0o644)
        } else {
            (String::new(), 0o644)
        };
        // Written aside and renamed, so that parallel fuzzing jobs never see
        // a half-written file.
        let aside = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&aside, content)?;
        std::fs::set_permissions(&aside, std::fs::Permissions::from_mode(mode))?;
        std::fs::rename(&aside, &path)?;
    }
    Ok(())
}

/// Parses `text` and checks the properties above.
pub fn check(text: &str) {
    let path = config_path();
    let may_show = |secret: &str| text.contains(secret);
    match config::parse(path, text, &env) {
        Ok(config) => {
            let debug = format!("{config:?}");
            for secret in [ENV_VALUE, FILE_SECRET] {
                assert!(
                    may_show(secret) || !debug.contains(secret),
                    "a secret value reached the configuration's debug output"
                );
            }
            assert_eq!(
                config::program_version(&config.program),
                config.program.version,
                "the program's version is not the digest of its rules"
            );
            let _ = config.runtime_options();
        }
        Err(errors) => check_errors(text, path, &errors),
    }
}

fn check_errors(text: &str, path: &Path, errors: &ConfigErrors) {
    assert!(!errors.0.is_empty(), "a failed parse reported no problem");
    let lines = text.split('\n').count();
    let mut previous = (0, 0);
    for error in &errors.0 {
        assert_eq!(error.file, path, "{error}");
        assert!(
            error.line <= lines,
            "problem at line {} of a {lines}-line text: {error}",
            error.line
        );
        assert!(
            (error.line, error.column) >= previous,
            "problems out of file order: {errors}"
        );
        previous = (error.line, error.column);
        assert_ne!(
            error.message, "the configuration is incomplete",
            "a check failed without saying why"
        );
    }
    let shown = errors.to_string();
    for secret in [ENV_VALUE, FILE_SECRET] {
        assert!(
            text.contains(secret) || !shown.contains(secret),
            "a secret value reached a problem message: {shown}"
        );
    }
}
