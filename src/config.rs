//! Where Toolsmith keeps its files, and the settings read from the environment.

use std::path::{Path, PathBuf};

/// The directories Toolsmith writes to. Everything lives under `home`, except the cache, which may
/// be shared between homes (tests and CI point many homes at one cache so the runtime is compiled once).
#[derive(Debug, Clone)]
pub struct Paths {
    pub home: PathBuf,
    pub cache: PathBuf,
}

impl Paths {
    /// `$TOOLSMITH_HOME` (default: the platform data dir, e.g. `~/.local/share/toolsmith`) and
    /// `$TOOLSMITH_CACHE` (default: `$TOOLSMITH_HOME/cache`).
    pub fn from_env() -> Paths {
        let home = std::env::var_os("TOOLSMITH_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(default_home);
        let cache = std::env::var_os("TOOLSMITH_CACHE")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join("cache"));
        Paths { home, cache }
    }

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
}

fn default_home() -> PathBuf {
    directories::ProjectDirs::from("", "", "toolsmith")
        .map(|d| d.data_dir().to_path_buf())
        .unwrap_or_else(|| Path::new(".toolsmith").to_path_buf())
}
