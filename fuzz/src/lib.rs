//! The oracles of the fuzz targets in `fuzz_targets/`: what each target
//! feeds the code under test and which properties must hold for every input.
//! A target reports a finding by panicking (libFuzzer then saves the input),
//! so the checks here are assertions.

pub mod config;
pub mod decimal;
pub mod json;
pub mod webhook;

use std::path::PathBuf;

/// The repository root (this crate lives in `fuzz/`).
pub fn repo_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// True about once in `n` draws, and false when the input has run out, so
/// that an input of zeros (or an empty one) is the common case.
pub fn rarely(u: &mut arbitrary::Unstructured<'_>, n: u32) -> arbitrary::Result<bool> {
    Ok(!u.ratio(n.saturating_sub(1).max(1), n.max(2))?)
}
