//! Everything Toolsmith is configured by, read once.
//!
//! [`Config::from_env`] is the only place that reads environment variables or
//! `$TOOLSMITH_HOME/config.json`; the binary's `main` calls it and passes the result down, and
//! tests build a [`Config`] directly. Library code below it reads no environment.

use std::path::{Path, PathBuf};

use crate::llm::{LlmConfig, LlmError};

/// The directories Toolsmith writes to. Everything lives under `home`, except the cache, which may
/// be shared between homes (tests and CI point many homes at one cache so the runtime is compiled once).
#[derive(Debug, Clone)]
pub struct Paths {
    pub home: PathBuf,
    pub cache: PathBuf,
}

impl Paths {
    /// A home with its cache inside it.
    pub fn at(home: impl Into<PathBuf>) -> Paths {
        let home = home.into();
        let cache = home.join("cache");
        Paths { home, cache }
    }

    pub fn tools_dir(&self) -> PathBuf {
        self.home.join("tools")
    }
    pub fn db_path(&self) -> PathBuf {
        self.home.join("toolsmith.db")
    }
    pub fn index_dir(&self) -> PathBuf {
        self.home.join("index")
    }
    pub fn models_dir(&self) -> PathBuf {
        self.cache.join("models")
    }
    pub fn config_file(&self) -> PathBuf {
        self.home.join("config.json")
    }
    /// The lock writers of this home coordinate through (see `registry::lock`).
    pub fn lock_file(&self) -> PathBuf {
        self.home.join(".lock")
    }
    /// Scratch space of test runs; what a killed run left is removed on the next start.
    pub fn scratch_dir(&self) -> PathBuf {
        self.cache.join("scratch")
    }
}

/// Which embedder indexes and searches tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EmbedderChoice {
    /// all-MiniLM-L6-v2 on the CPU: no network, no key.
    #[default]
    Local,
    /// The configured OpenAI-compatible endpoint's `/embeddings`.
    OpenAi,
}

/// Everything Toolsmith is configured by. See the module documentation.
#[derive(Debug, Clone)]
pub struct Config {
    pub paths: Paths,
    /// Where installed assets are looked for (`runtime/runtime.wasm`, `models/`), in order:
    /// `TOOLSMITH_DATA_DIR` alone when set; otherwise `share/toolsmith` beside the binary's
    /// `bin/` (an install under any prefix), then the platform data directory
    /// (`~/.local/share/toolsmith`). So an installed binary needs no checkout.
    pub data_dirs: Vec<PathBuf>,
    /// An explicit runtime component (`TOOLSMITH_RUNTIME`), used instead of looking for one.
    pub runtime: Option<PathBuf>,
    pub embedder: EmbedderChoice,
    /// The model's endpoint; `Err` when its settings are unusable (reported when a model is needed).
    pub llm: std::result::Result<LlmConfig, String>,
    /// Bytes of each linear memory kept resident between instances, when overridden
    /// (`TOOLSMITH_KEEP_RESIDENT_MB`; see `toolsmith bench exec`).
    pub keep_resident_bytes: Option<usize>,
    /// The `"search"` section of `config.json`.
    pub search: SearchConfig,
}

/// The `"search"` section of `config.json`: `{"threshold": 0.47}`, written by
/// `toolsmith tune threshold`.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchConfig {
    /// The similarity at which a found tool is reused; absent: the built-in default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f32>,
}

impl SearchConfig {
    /// The section from `file` (which need not exist); an error names the file and the key.
    pub fn read(file: &Path) -> std::result::Result<SearchConfig, String> {
        let root = match read_json(file)? {
            Some(root) => root,
            None => return Ok(SearchConfig::default()),
        };
        let Some(section) = root.get("search") else { return Ok(SearchConfig::default()) };
        let c: SearchConfig =
            serde_json::from_value(section.clone()).map_err(|e| format!("{}: \"search\": {e}", file.display()))?;
        if let Some(t) = c.threshold.filter(|t| !(0.0..=1.0).contains(t)) {
            return Err(format!("{}: \"search\".threshold {t} is not in [0, 1]", file.display()));
        }
        Ok(c)
    }

    /// Write `threshold` into `file`'s `"search"` section, keeping everything else in the file;
    /// written to a temporary file and renamed, so a reader never sees half a file.
    pub fn write_threshold(file: &Path, threshold: f32) -> std::result::Result<(), String> {
        let mut root = read_json(file)?.unwrap_or_else(|| serde_json::json!({}));
        let Some(obj) = root.as_object_mut() else {
            return Err(format!("{}: not a JSON object", file.display()));
        };
        let section = obj.entry("search").or_insert_with(|| serde_json::json!({}));
        let Some(section) = section.as_object_mut() else {
            return Err(format!("{}: \"search\" is not an object", file.display()));
        };
        // Two decimals: the tuning grid's step.
        section.insert("threshold".into(), serde_json::json!((threshold as f64 * 100.0).round() / 100.0));
        let text = serde_json::to_string_pretty(&root).expect("JSON serializes") + "\n";
        let tmp = file.with_extension("json.tmp");
        let io = |e: std::io::Error| format!("writing {}: {e}", file.display());
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, file).map_err(io)
    }
}

/// `file` parsed as JSON; `None` when it does not exist (or its directory is not one: the home
/// itself is then unusable, which opening the store reports as a `store` error).
fn read_json(file: &Path) -> std::result::Result<Option<serde_json::Value>, String> {
    match std::fs::read_to_string(file) {
        Ok(text) => serde_json::from_str(&text).map(Some).map_err(|e| format!("{}: {e}", file.display())),
        Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory) => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", file.display())),
    }
}

impl Config {
    /// A configuration for `home` with every other setting at its default and no model: what
    /// tests start from.
    pub fn at(home: impl Into<PathBuf>) -> Config {
        let paths = Paths::at(home);
        Config {
            data_dirs: vec![default_data_dir()],
            paths,
            runtime: None,
            embedder: EmbedderChoice::Local,
            llm: Ok(LlmConfig::default()),
            keep_resident_bytes: None,
            search: SearchConfig::default(),
        }
    }

    /// Read the process environment and `$TOOLSMITH_HOME/config.json`:
    /// `TOOLSMITH_HOME` (default: the platform data dir, e.g. `~/.local/share/toolsmith`),
    /// `TOOLSMITH_CACHE` (default `$TOOLSMITH_HOME/cache`), `TOOLSMITH_DATA_DIR` (see [`Config::data_dirs`]),
    /// `TOOLSMITH_RUNTIME`, `TOOLSMITH_EMBEDDER` (`local` | `openai`), `TOOLSMITH_KEEP_RESIDENT_MB`,
    /// and the model's `OPENAI_API_KEY`, `OPENAI_BASE_URL`, `TOOLSMITH_MODEL`, `TOOLSMITH_EMBEDDING_MODEL`.
    pub fn from_env() -> std::result::Result<Config, String> {
        Config::resolve(|name| std::env::var(name).ok())
    }

    /// [`Config::from_env`] with the environment given as a lookup function.
    pub fn resolve(env: impl Fn(&str) -> Option<String>) -> std::result::Result<Config, String> {
        let var = |name: &str| env(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let home = var("TOOLSMITH_HOME").map(PathBuf::from).unwrap_or_else(default_data_dir);
        let cache = var("TOOLSMITH_CACHE").map(PathBuf::from).unwrap_or_else(|| home.join("cache"));
        let paths = Paths { home, cache };
        let embedder = match var("TOOLSMITH_EMBEDDER").as_deref() {
            None | Some("local") => EmbedderChoice::Local,
            Some("openai") => EmbedderChoice::OpenAi,
            Some(other) => return Err(format!("TOOLSMITH_EMBEDDER={other:?}: use `local` or `openai`")),
        };
        let keep_resident_bytes = match var("TOOLSMITH_KEEP_RESIDENT_MB") {
            None => None,
            Some(v) => Some(
                v.parse::<usize>()
                    .ok()
                    .and_then(|mb| mb.checked_mul(1 << 20))
                    .ok_or_else(|| format!("TOOLSMITH_KEEP_RESIDENT_MB={v:?}: give a number of MiB"))?,
            ),
        };
        let llm = LlmConfig::resolve(&env, Some(&paths.config_file())).map_err(|e: LlmError| e.to_string());
        let search = SearchConfig::read(&paths.config_file())?;
        let data_dirs = match var("TOOLSMITH_DATA_DIR") {
            Some(d) => vec![PathBuf::from(d)],
            None => {
                let beside_binary =
                    std::env::current_exe().ok().and_then(|exe| Some(exe.parent()?.parent()?.join("share/toolsmith")));
                beside_binary.into_iter().chain([default_data_dir()]).collect()
            }
        };
        Ok(Config {
            data_dirs,
            runtime: var("TOOLSMITH_RUNTIME").map(PathBuf::from),
            paths,
            embedder,
            llm,
            keep_resident_bytes,
            search,
        })
    }

    /// The same configuration for another home (the cache and everything else kept).
    pub fn with_home(mut self, home: impl Into<PathBuf>) -> Config {
        self.paths.home = home.into();
        self
    }
}

/// The platform data directory, e.g. `~/.local/share/toolsmith`.
pub fn default_data_dir() -> PathBuf {
    directories::ProjectDirs::from("", "", "toolsmith")
        .map(|d| d.data_dir().to_path_buf())
        .unwrap_or_else(|| Path::new(".toolsmith").to_path_buf())
}
