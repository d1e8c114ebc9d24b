//! `[server.tls]`: the certificate and key files, read and checked when the
//! configuration is loaded so that a daemon with a bad pair does not start.

use std::path::{Path, PathBuf};

use toml::Spanned;

use crate::config::document::{Document, KeyPath};
use crate::config::schema;
use crate::config::secrets;
use crate::http_edge::{Tls, TlsError};

/// The certificate and key of `[server.tls]` at `key`: `Some(None)` without
/// the table, `None` if anything is wrong (reported).
pub(super) fn tls(
    document: &mut Document<'_>,
    key: &KeyPath,
    tls: Option<Spanned<schema::Tls>>,
    dir: &Path,
) -> Option<Option<Tls>> {
    let Some(tls) = tls else {
        return Some(None);
    };
    let span = tls.span();
    let tls = tls.into_inner();
    let cert_file = super::required(
        document,
        key,
        "cert_file",
        tls.cert_file,
        "name the PEM certificate chain, e.g. cert_file = \"tls/cert.pem\"",
    );
    let key_file = super::required(
        document,
        key,
        "key_file",
        tls.key_file,
        "name the PEM private key, readable by its owner only, e.g. key_file = \"tls/key.pem\"",
    );
    let cert = cert_file.as_ref().and_then(|file| {
        let resolved = dir.join(file.get_ref());
        std::fs::read(&resolved)
            .map_err(|e| {
                let shown = secrets::describe(file.get_ref(), &resolved);
                document.error(
                    file.span(),
                    &key.key("cert_file"),
                    format!("cannot read {shown}: {e}: create it or correct the path; relative paths start at the configuration file's directory"),
                );
            })
            .ok()
    });
    let private_key = key_file.as_ref().and_then(|file| {
        let resolved = dir.join(file.get_ref());
        secrets::from_file(file.get_ref(), &resolved)
            .map_err(|message| document.error(file.span(), &key.key("key_file"), message))
            .ok()
    });
    let (Some(cert), Some(private_key), Some(cert_file), Some(key_file)) =
        (cert, private_key, cert_file, key_file)
    else {
        return None;
    };
    let described =
        |file: &Spanned<PathBuf>| secrets::describe(file.get_ref(), &dir.join(file.get_ref()));
    match Tls::from_pem(&cert, private_key.expose()) {
        Ok(tls) => Some(Some(tls)),
        Err(TlsError::Certificate(message)) => {
            let shown = described(&cert_file);
            document.error(
                cert_file.span(),
                &key.key("cert_file"),
                format!("{shown} {message}"),
            );
            None
        }
        Err(TlsError::Key(message)) => {
            let shown = described(&key_file);
            document.error(
                key_file.span(),
                &key.key("key_file"),
                format!("{shown} {message}"),
            );
            None
        }
        Err(TlsError::Mismatch(message)) => {
            document.error(span, key, message);
            None
        }
    }
}
