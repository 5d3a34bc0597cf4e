//! The compiled runtime on disk. Cranelift takes 5–11 s for the ~20 MB CPython component while
//! mapping the cached machine code takes a few milliseconds, so every process after the first
//! loads it from here.
//!
//! The file name is derived from the component's content hash and the engine's compatibility hash
//! (wasmtime version, configuration such as fuel and epochs, target CPU features): any change to
//! one of them selects another file, so a stale artifact is never loaded.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::HostError;

pub(crate) fn load_component(engine: &Engine, path: &Path, cache_dir: &Path) -> Result<Component, HostError> {
    let meta = std::fs::metadata(path).map_err(|_| HostError::RuntimeMissing { path: path.to_path_buf() })?;
    let cache_err = |source| HostError::Cache { path: cache_dir.to_path_buf(), source };
    std::fs::create_dir_all(cache_dir).map_err(cache_err)?;
    let content = content_hash(path, &meta, cache_dir)?;
    let mut hasher = ShaHasher(Sha256::new());
    content.hash(&mut hasher);
    env!("CARGO_PKG_VERSION").hash(&mut hasher);
    std::env::consts::ARCH.hash(&mut hasher);
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let key = hex::encode(hasher.0.finalize());
    let cwasm = cache_dir.join(format!("runtime-{}.cwasm", &key[..32]));
    if cwasm.exists() {
        // SAFETY: the file was written by `precompile_component` of an engine with this very
        // compatibility hash, into Toolsmith's own cache directory; wasmtime checks the header too.
        match unsafe { Component::deserialize_file(engine, &cwasm) } {
            Ok(c) => return Ok(c),
            Err(e) => tracing::warn!(path = %cwasm.display(), "cached runtime unusable, recompiling: {e:#}"),
        }
    }
    tracing::info!(component = %path.display(), "compiling the Python runtime (once; takes several seconds)");
    let bytes = std::fs::read(path).map_err(|_| HostError::RuntimeMissing { path: path.to_path_buf() })?;
    let compiled = engine
        .precompile_component(&bytes)
        .map_err(|source| HostError::RuntimeLoad { path: path.to_path_buf(), source })?;
    write_atomically(&cwasm, &compiled).map_err(cache_err)?;
    // SAFETY: as above; written just now by this engine.
    unsafe { Component::deserialize_file(engine, &cwasm) }
        .map_err(|source| HostError::RuntimeLoad { path: cwasm.clone(), source })
}

/// The component's SHA-256, remembered per (path, size, mtime) so that a process start does not
/// re-hash 20 MB.
fn content_hash(path: &Path, meta: &std::fs::Metadata, cache_dir: &Path) -> Result<String, HostError> {
    let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let stamp_key = hex::encode(Sha256::digest(format!("{}|{}|{}", abs.display(), meta.len(), mtime)));
    let stamp: PathBuf = cache_dir.join("stamps").join(&stamp_key[..32]);
    if let Ok(h) = std::fs::read_to_string(&stamp)
        && h.len() == 64
    {
        return Ok(h);
    }
    let bytes = std::fs::read(path).map_err(|_| HostError::RuntimeMissing { path: path.to_path_buf() })?;
    let h = hex::encode(Sha256::digest(&bytes));
    let cache_err = |source| HostError::Cache { path: cache_dir.to_path_buf(), source };
    std::fs::create_dir_all(stamp.parent().expect("stamp has a parent")).map_err(cache_err)?;
    write_atomically(&stamp, h.as_bytes()).map_err(cache_err)?;
    Ok(h)
}

/// Write to a temporary sibling and rename, so a crash or a concurrent process never sees half a file.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        unreachable!("only the digest is used")
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}
