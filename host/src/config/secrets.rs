//! Reading secret values from the environment or from files. Messages name
//! the variable or file, never the value.

use std::ffi::OsString;
use std::path::Path;

use crate::runtime::Secret;

/// Looks up an environment variable. `load` passes the process environment;
/// tests pass a map, since changing the process environment is unsafe.
pub(crate) type Env<'a> = &'a dyn Fn(&str) -> Option<OsString>;

/// The value of environment variable `name`.
pub(crate) fn from_env(name: &str, env: Env<'_>) -> Result<Secret, String> {
    // Not repeated when malformed: it may be the secret itself, written
    // where its variable's name belongs.
    let mut chars = name.chars();
    let well_formed = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !well_formed {
        return Err(
            "not an environment variable name (letters, digits and `_`): `env` takes the name of the variable holding the secret, e.g. env = \"SHOPIFY_WEBHOOK_SECRET\", never the secret itself"
                .to_owned(),
        );
    }
    let Some(value) = env(name) else {
        return Err(format!(
            "environment variable `{name}` is not set: set it in the daemon's environment, or read the value from a file with `file = \"...\"` instead"
        ));
    };
    let value = os_bytes(value);
    if value.is_empty() {
        return Err(format!(
            "environment variable `{name}` is empty: set it to the secret's value"
        ));
    }
    Ok(Secret::new(value))
}

/// The content of the file at `path` (as written in the configuration) and
/// `resolved` (where that is from here), without one trailing newline. The
/// file must be readable by its owner only.
pub(crate) fn from_file(path: &Path, resolved: &Path) -> Result<Secret, String> {
    let file = describe(path, resolved);
    let shown = resolved.display();
    let metadata = std::fs::metadata(resolved).map_err(|e| {
        format!("cannot read {file}: {e}: create it or correct the path; relative paths start at the configuration file's directory")
    })?;
    if !metadata.is_file() {
        return Err(format!("{file} is not a file"));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(format!(
                "{file} can be read by other users (mode {mode:03o}): run `chmod 600 {shown}`"
            ));
        }
    }
    let mut value = std::fs::read(resolved).map_err(|e| format!("cannot read {file}: {e}"))?;
    if value.ends_with(b"\n") {
        value.pop();
        if value.ends_with(b"\r") {
            value.pop();
        }
    }
    if value.is_empty() {
        return Err(format!("{file} is empty: write the secret's value into it"));
    }
    Ok(Secret::new(value))
}

/// "`secrets/x` (at config/secrets/x)": the path as written and, if it
/// differs, where it resolved to.
pub(crate) fn describe(path: &Path, resolved: &Path) -> String {
    if path == resolved {
        format!("`{}`", path.display())
    } else {
        format!("`{}` (at {})", path.display(), resolved.display())
    }
}

#[cfg(unix)]
fn os_bytes(value: OsString) -> Vec<u8> {
    use std::os::unix::ffi::OsStringExt;
    value.into_vec()
}

#[cfg(not(unix))]
fn os_bytes(value: OsString) -> Vec<u8> {
    value.to_string_lossy().into_owned().into_bytes()
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A fresh directory under the system's temporary directory, removed
    /// when dropped.
    pub(crate) struct TempDir(pub PathBuf);

    impl TempDir {
        pub(crate) fn new() -> Self {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let dir = std::env::temp_dir().join(format!(
                "loyaltyd-config-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }

        /// Writes a file with the given unix mode.
        pub(crate) fn file(&self, name: &str, content: &str, mode: u32) -> PathBuf {
            let path = self.0.join(name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).unwrap();
            }
            std::fs::write(&path, content).unwrap();
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            }
            #[cfg(not(unix))]
            let _ = mode;
            path
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let vars: BTreeMap<String, OsString> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), OsString::from(v)))
            .collect();
        move |name| vars.get(name).cloned()
    }

    #[test]
    fn env_secret_is_read_and_a_missing_one_is_named() {
        let env = env(&[("TOKEN", "hunter2"), ("EMPTY", "")]);
        assert_eq!(from_env("TOKEN", &env).unwrap().expose(), b"hunter2");
        let missing = from_env("NOPE", &env).unwrap_err();
        assert!(missing.contains("`NOPE` is not set"), "{missing}");
        assert!(from_env("EMPTY", &env).unwrap_err().contains("empty"));
        assert!(from_env("", &env).is_err());
        let pasted = from_env("whsec-hunter2/+=", &env).unwrap_err();
        assert!(!pasted.contains("hunter2"), "{pasted}");
    }

    #[test]
    fn file_secret_loses_one_trailing_newline() {
        let dir = TempDir::new();
        let path = dir.file("secret", "s3cr3t\n", 0o600);
        assert_eq!(
            from_file(Path::new("secret"), &path).unwrap().expose(),
            b"s3cr3t"
        );
        let path = dir.file("crlf", "s3cr3t\r\n", 0o600);
        assert_eq!(
            from_file(Path::new("crlf"), &path).unwrap().expose(),
            b"s3cr3t"
        );
        let path = dir.file("two", "s3cr3t\n\n", 0o400);
        assert_eq!(
            from_file(Path::new("two"), &path).unwrap().expose(),
            b"s3cr3t\n"
        );
        let path = dir.file("empty", "\n", 0o600);
        assert!(
            from_file(Path::new("empty"), &path)
                .unwrap_err()
                .contains("is empty")
        );
    }

    #[cfg(unix)]
    #[test]
    fn file_secret_readable_by_others_is_refused_without_reading_it() {
        let dir = TempDir::new();
        for mode in [0o644, 0o640, 0o604, 0o660] {
            let path = dir.file("open", "s3cr3t", mode);
            let error = from_file(Path::new("open"), &path).unwrap_err();
            assert!(error.contains("chmod 600"), "{error}");
            assert!(!error.contains("s3cr3t"), "{error}");
        }
    }

    #[test]
    fn missing_file_secret_names_both_paths() {
        let dir = TempDir::new();
        let error = from_file(Path::new("nope"), &dir.0.join("nope")).unwrap_err();
        assert!(error.starts_with("cannot read `nope` (at "), "{error}");
    }
}
