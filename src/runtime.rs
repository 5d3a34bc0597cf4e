//! Where the shared Python runtime comes from, and how the agent opens it.

use std::path::PathBuf;

use toolsmith_host::{HostError, Runtime, RuntimeConfig};

use crate::config::Paths;

/// The runtime component, first found of: `$TOOLSMITH_RUNTIME`; `$TOOLSMITH_HOME/runtime/runtime.wasm`;
/// the build output of this checkout (`guest-runtime/build/runtime.wasm`).
pub fn component_path(paths: &Paths) -> PathBuf {
    if let Some(p) = std::env::var_os("TOOLSMITH_RUNTIME").filter(|v| !v.is_empty()) {
        return PathBuf::from(p);
    }
    let installed = paths.home.join("runtime").join("runtime.wasm");
    if installed.exists() {
        return installed;
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("guest-runtime/build/runtime.wasm")
}

/// How a process will use the runtime, which decides how many instances it keeps ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    /// A CLI command making a handful of calls: stocking would only add start-up work.
    OneShot,
    /// A long-lived server or a benchmark: keep instances ready so calls skip instantiation.
    Serving,
}

/// Open the runtime for this home (compiling and caching it on first use).
pub fn open(paths: &Paths, usage: Usage) -> Result<Runtime, HostError> {
    let mut cfg = RuntimeConfig::new(component_path(paths), paths.cache.clone());
    match usage {
        Usage::OneShot => {
            cfg.max_instances = 4;
            cfg.keep_resident_bytes = 0;
        }
        Usage::Serving => {
            cfg.stock = 4;
        }
    }
    // A tuning knob for the machine at hand (see `toolsmith bench exec`): resident bytes trade
    // page faults on the next call against a memset when a used store is dropped.
    if let Some(mb) = std::env::var("TOOLSMITH_KEEP_RESIDENT_MB").ok().and_then(|v| v.parse::<usize>().ok()) {
        cfg.keep_resident_bytes = mb << 20;
    }
    Runtime::new(cfg)
}
