//! The on-disk cache of compiled components, so a restart does not recompile
//! (compiling takes ~100 ms per connector, loading a cached one ~0.2 ms).

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use wasmtime::Engine;
use wasmtime::component::Component;

/// Compiled components keyed by the wasm's SHA-256 and the engine's
/// compatibility hash, so a changed component or a changed engine never loads
/// a stale artifact.
#[derive(Debug)]
pub(crate) struct CompileCache {
    dir: PathBuf,
    engine_key: String,
}

impl CompileCache {
    pub(crate) fn new(dir: PathBuf, engine: &Engine) -> Self {
        let mut hasher = std::hash::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Self {
            dir,
            engine_key: format!("{:016x}", hasher.finish()),
        }
    }

    fn path_for(&self, wasm_sha256: &str) -> PathBuf {
        self.dir
            .join(format!("{wasm_sha256}-{}.cwasm", self.engine_key))
    }

    /// The cached compilation, if present and loadable.
    pub(crate) fn load(&self, engine: &Engine, wasm_sha256: &str) -> Option<Component> {
        let path = self.path_for(wasm_sha256);
        if !path.exists() {
            return None;
        }
        match deserialize(engine, &path) {
            Ok(component) => Some(component),
            Err(error) => {
                tracing::warn!(path = %path.display(), error = %format!("{error:#}"), "ignoring unusable compiled component");
                None
            }
        }
    }

    /// Stores a compilation. Written to a temporary file and renamed, so a
    /// crash never leaves a truncated artifact behind.
    pub(crate) fn store(&self, wasm_sha256: &str, component: &Component) {
        let path = self.path_for(wasm_sha256);
        let result = (|| -> anyhow::Result<()> {
            std::fs::create_dir_all(&self.dir)?;
            let bytes = component.serialize().map_err(anyhow::Error::from)?;
            let tmp = path.with_extension(format!("tmp{}", std::process::id()));
            std::fs::write(&tmp, bytes)?;
            std::fs::rename(&tmp, &path)?;
            Ok(())
        })();
        if let Err(error) = result {
            tracing::warn!(path = %path.display(), error = %format!("{error:#}"), "cannot cache compiled component");
        }
    }
}

#[allow(
    unsafe_code,
    reason = "wasmtime requires `unsafe` to load precompiled code"
)]
fn deserialize(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
    // SAFETY: the file was written by `CompileCache::store` of this same
    // program into the daemon's own data directory, and its name carries the
    // engine compatibility hash, so it is a serialized component produced by a
    // compatible engine.
    unsafe { Component::deserialize_file(engine, path) }
}
