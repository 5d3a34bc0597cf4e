//! Where the shared Python runtime and the embedding model come from, and how the agent opens
//! the runtime.
//!
//! An installed binary must work without the checkout it was built from, so each asset is looked
//! for in order: an explicit setting (`TOOLSMITH_RUNTIME`), the data directories the install step
//! fills (`share/toolsmith` beside the binary, `~/.local/share/toolsmith`), and for the model
//! first the cache the project's scripts fill; the checkout's build output is the runtime's last
//! resort. The module allow-list is small and compiled in.

use std::path::PathBuf;

use toolsmith_host::{HostError, Runtime, RuntimeConfig};

use crate::config::Config;

/// Directory name of the local embedding model.
pub const MODEL_DIR_NAME: &str = "all-MiniLM-L6-v2";

/// An asset and where it was found (`doctor` reports both).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Located {
    pub path: PathBuf,
    /// `TOOLSMITH_RUNTIME`, `data dir`, `cache` or `checkout`; `none` when nothing was found
    /// (then `path` is the first place looked).
    pub source: &'static str,
}

/// The runtime component. See the module documentation for the order.
pub fn component(config: &Config) -> Located {
    if let Some(p) = &config.runtime {
        return Located { path: p.clone(), source: "TOOLSMITH_RUNTIME" };
    }
    // What the install step put in a data dir comes first, so an installed binary never depends
    // on the checkout it was built from; the checkout's own build is the fallback of `cargo run`
    // in a working tree (the project's scripts name it with TOOLSMITH_RUNTIME, so their runs
    // always use the component they just built).
    let candidates = config
        .data_dirs
        .iter()
        .map(|d| (d.join("runtime/runtime.wasm"), "data dir"))
        .chain([(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("guest-runtime/build/runtime.wasm"), "checkout")]);
    first_existing(candidates, |p| p.is_file())
}

/// The local embedding model's directory.
pub fn model_dir(config: &Config) -> Located {
    let candidates = [(config.paths.models_dir().join(MODEL_DIR_NAME), "cache")]
        .into_iter()
        .chain(config.data_dirs.iter().map(|d| (d.join("models").join(MODEL_DIR_NAME), "data dir")));
    first_existing(candidates, |p| p.join("model.safetensors").is_file())
}

fn first_existing(
    candidates: impl Iterator<Item = (PathBuf, &'static str)>,
    present: impl Fn(&std::path::Path) -> bool,
) -> Located {
    let mut first = None;
    for (path, source) in candidates {
        if present(&path) {
            return Located { path, source };
        }
        first.get_or_insert(path);
    }
    Located { path: first.unwrap_or_default(), source: "none" }
}

/// How a process will use the runtime, which decides how many instances it keeps ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    /// A CLI command making a handful of calls: stocking would only add start-up work.
    OneShot,
    /// A long-lived server or a benchmark: keep instances ready so calls skip instantiation.
    Serving,
}

/// Open the runtime (compiling and caching it on first use).
pub fn open(config: &Config, usage: Usage) -> Result<Runtime, HostError> {
    let mut cfg = RuntimeConfig::new(component(config).path, config.paths.cache.clone());
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
    if let Some(bytes) = config.keep_resident_bytes {
        cfg.keep_resident_bytes = bytes;
    }
    Runtime::new(cfg)
}

/// The modules a tool may import, as the runtime was built with them (`schemas/allowed-modules.json`).
pub fn allowed_modules() -> Vec<String> {
    const LIST: &str = include_str!("../schemas/allowed-modules.json");
    serde_json::from_str(LIST).expect("schemas/allowed-modules.json is a JSON array of module names")
}
