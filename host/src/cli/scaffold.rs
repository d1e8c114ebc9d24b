//! `loyaltyd plugins new`: a connector crate that compiles, with tests, a
//! README and the build settings, ready to be changed into a real one.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// Where the new crate takes the SDK from.
#[derive(Debug, Clone)]
pub enum SdkSource {
    /// A checkout's `sdk/` folder.
    Path(PathBuf),
    /// A git repository holding the SDK.
    Git(String),
}

impl SdkSource {
    /// The dependency as written in `Cargo.toml`.
    fn dependency(&self) -> anyhow::Result<String> {
        let quoted = |text: &str| toml::Value::from(text).to_string();
        Ok(match self {
            Self::Path(path) => {
                // Canonical, not just absolute: through a symbolic link,
                // cargo would look for the SDK's workspace (whose package
                // fields it inherits) above the link instead of above the
                // folder.
                let path = std::fs::canonicalize(path)
                    .with_context(|| format!("resolving {}", path.display()))?;
                if !path.join("Cargo.toml").is_file() {
                    bail!(
                        "{} holds no Cargo.toml: pass the `sdk` folder of a loyalty checkout",
                        path.display()
                    );
                }
                let text = path
                    .to_str()
                    .with_context(|| format!("{} is not UTF-8", path.display()))?;
                format!("{{ path = {} }}", quoted(text))
            }
            Self::Git(url) => format!("{{ git = {} }}", quoted(url)),
        })
    }
}

/// The files of a new connector, relative to its folder, with their text.
const FILES: [(&str, &str); 5] = [
    ("Cargo.toml", include_str!("scaffold/Cargo.toml.in")),
    ("src/lib.rs", include_str!("scaffold/lib.rs.in")),
    ("tests/webhooks.rs", include_str!("scaffold/webhooks.rs.in")),
    ("README.md", include_str!("scaffold/README.md.in")),
    (".gitignore", include_str!("scaffold/gitignore.in")),
];

/// Why a connector name is refused, if it is.
fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    if !chars.next().is_some_and(|c| c.is_ascii_lowercase()) {
        return Err(format!(
            "`{name}` must start with a lower-case letter (a-z)"
        ));
    }
    if let Some(bad) = chars.find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(format!(
            "`{name}` holds `{bad}`: use lower-case letters, digits and `-`, as in `dynamics-crm`"
        ));
    }
    if name.ends_with('-') || name.contains("--") {
        return Err(format!("`{name}` has a stray `-`"));
    }
    Ok(())
}

/// `dynamics-crm` as a Rust type name: `DynamicsCrm`.
fn type_name(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect()
}

/// Creates the connector `name` in the folder `dir`, which must not exist or
/// be empty. Returns the files written.
pub fn create(name: &str, dir: &Path, sdk: &SdkSource) -> anyhow::Result<Vec<PathBuf>> {
    check_name(name).map_err(|reason| anyhow::anyhow!("invalid connector name: {reason}"))?;
    if dir.exists()
        && std::fs::read_dir(dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .next()
            .is_some()
    {
        bail!(
            "{} already exists and is not empty: choose another folder with --dir",
            dir.display()
        );
    }
    let crate_name = name.replace('-', "_");
    let env = name.replace('-', "_").to_ascii_uppercase();
    let dependency = sdk.dependency()?;
    let mut written = Vec::new();
    for (relative, template) in FILES {
        let text = template
            .replace("{{name}}", name)
            .replace("{{crate}}", &crate_name)
            .replace("{{type}}", &type_name(name))
            .replace("{{env}}", &env)
            .replace("{{sdk}}", &dependency);
        let path = dir.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_crate_and_config_friendly() {
        assert!(check_name("dynamics-crm").is_ok());
        assert!(check_name("odoo17").is_ok());
        for (bad, says) in [
            ("", "must start"),
            ("Odoo", "must start"),
            ("9box", "must start"),
            ("pipe_drive", "holds `_`"),
            ("pipe-", "stray"),
            ("a--b", "stray"),
        ] {
            let reason = check_name(bad).err().unwrap_or_default();
            assert!(reason.contains(says), "{bad}: {reason}");
        }
    }

    #[test]
    fn type_names_are_camel_case() {
        assert_eq!(type_name("dynamics-crm"), "DynamicsCrm");
        assert_eq!(type_name("odoo17"), "Odoo17");
    }

    #[test]
    fn every_placeholder_is_filled() {
        let dir = tempfile::tempdir().unwrap();
        let sdk = dir.path().join("sdk");
        std::fs::create_dir(&sdk).unwrap();
        std::fs::write(sdk.join("Cargo.toml"), "").unwrap();
        let target = dir.path().join("acme-erp");
        let files = create("acme-erp", &target, &SdkSource::Path(sdk)).unwrap();
        assert_eq!(files.len(), FILES.len());
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            assert!(!text.contains("{{"), "{}: {text}", file.display());
        }
        let lib = std::fs::read_to_string(target.join("src/lib.rs")).unwrap();
        assert!(lib.contains("pub struct AcmeErp;"), "{lib}");
        let again = create("acme-erp", &target, &SdkSource::Git("x".to_owned()));
        assert!(
            again.is_err_and(|e| e.to_string().contains("not empty")),
            "a second run must not overwrite"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_linked_sdk_is_named_by_its_real_folder() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("checkout/sdk");
        std::fs::create_dir_all(&real).unwrap();
        std::fs::write(real.join("Cargo.toml"), "").unwrap();
        let link = dir.path().join("sdk");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let dependency = SdkSource::Path(link).dependency().unwrap();
        let real = std::fs::canonicalize(&real).unwrap();
        let quoted = toml::Value::from(real.to_str().unwrap()).to_string();
        assert_eq!(dependency, format!("{{ path = {quoted} }}"));
    }

    #[test]
    fn a_path_without_a_crate_is_not_an_sdk() {
        let dir = tempfile::tempdir().unwrap();
        let error = SdkSource::Path(dir.path().to_owned())
            .dependency()
            .unwrap_err();
        assert!(error.to_string().contains("no Cargo.toml"), "{error}");
    }
}
