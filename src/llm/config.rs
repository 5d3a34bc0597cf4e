//! Where the model lives and how patiently to ask it.
//!
//! Precedence, lowest first: the defaults below, the `"llm"` section of
//! `$TOOLSMITH_HOME/config.json`, the environment (`OPENAI_API_KEY`, `OPENAI_BASE_URL`,
//! `TOOLSMITH_MODEL`, `TOOLSMITH_EMBEDDING_MODEL`), then whatever the caller sets on the struct.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::error::LlmError;

/// OpenAI's endpoint, the default `base_url`. It is the only endpoint that needs a key.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
pub const DEFAULT_MODEL: &str = "gpt-4o-mini";
/// 1536 dimensions, like the seed's embeddings.
pub const DEFAULT_EMBEDDING_MODEL: &str = "text-embedding-3-small";
/// Per request, covering connect, send and the whole reply: generating a module can take a while.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
/// Attempts per request, the first included.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;
/// The wait before the second attempt; it doubles for each further one.
pub const DEFAULT_RETRY_BASE_DELAY: Duration = Duration::from_millis(1000);
/// No wait between attempts is longer, even when the server's `Retry-After` asks for more.
pub const DEFAULT_MAX_RETRY_DELAY: Duration = Duration::from_secs(30);
pub const DEFAULT_TEMPERATURE: f32 = 0.2;
/// How many times `generate_spec` shows the model what is wrong with its spec and asks again.
pub const DEFAULT_SPEC_CORRECTIONS: u32 = 1;

/// Settings for [`LlmClient`](super::LlmClient). Build it with [`LlmConfig::resolve`] (what
/// `Config::from_env` does), or
/// [`LlmConfig::local`] for a server you name, then adjust fields.
#[derive(Clone)]
pub struct LlmConfig {
    /// The OpenAI-compatible API root; requests go to `{base_url}/chat/completions` and
    /// `{base_url}/embeddings`. Ollama: `http://localhost:11434/v1`; vLLM and llama.cpp's
    /// server: `http://HOST:PORT/v1`.
    pub base_url: String,
    /// Sent as `Authorization: Bearer …`. Required for OpenAI's endpoint only.
    pub api_key: Option<String>,
    pub model: String,
    pub embedding_model: String,
    pub timeout: Duration,
    pub max_attempts: u32,
    pub retry_base_delay: Duration,
    pub max_retry_delay: Duration,
    /// `None` leaves it to the server (some reasoning models accept no other value).
    pub temperature: Option<f32>,
    /// Ask for `response_format: {"type": "json_object"}` where JSON is wanted. Servers that
    /// reject it are asked again without it; replies are parsed leniently either way.
    pub json_mode: bool,
    pub spec_corrections: u32,
}

impl Default for LlmConfig {
    fn default() -> Self {
        LlmConfig {
            base_url: DEFAULT_BASE_URL.to_string(),
            api_key: None,
            model: DEFAULT_MODEL.to_string(),
            embedding_model: DEFAULT_EMBEDDING_MODEL.to_string(),
            timeout: DEFAULT_TIMEOUT,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            retry_base_delay: DEFAULT_RETRY_BASE_DELAY,
            max_retry_delay: DEFAULT_MAX_RETRY_DELAY,
            temperature: Some(DEFAULT_TEMPERATURE),
            json_mode: true,
            spec_corrections: DEFAULT_SPEC_CORRECTIONS,
        }
    }
}

impl fmt::Debug for LlmConfig {
    // By hand, so the key never reaches a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LlmConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .field("model", &self.model)
            .field("embedding_model", &self.embedding_model)
            .field("timeout", &self.timeout)
            .field("max_attempts", &self.max_attempts)
            .field("retry_base_delay", &self.retry_base_delay)
            .field("max_retry_delay", &self.max_retry_delay)
            .field("temperature", &self.temperature)
            .field("json_mode", &self.json_mode)
            .field("spec_corrections", &self.spec_corrections)
            .finish()
    }
}

/// The `"llm"` section of `config.json`; every key optional, unknown keys refused so a typo is
/// noticed.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSection {
    base_url: Option<String>,
    api_key: Option<String>,
    model: Option<String>,
    embedding_model: Option<String>,
    timeout_secs: Option<f64>,
    max_attempts: Option<u32>,
    retry_base_delay_ms: Option<u64>,
    max_retry_delay_secs: Option<f64>,
    temperature: Option<f32>,
    json_mode: Option<bool>,
    spec_corrections: Option<u32>,
}

impl LlmConfig {
    /// The defaults with `base_url` set: a local server that needs no key.
    pub fn local(base_url: impl Into<String>) -> LlmConfig {
        LlmConfig { base_url: base_url.into(), ..LlmConfig::default() }
    }

    /// The settings from `file` (`$TOOLSMITH_HOME/config.json`; it need not exist), then the
    /// environment, given as a lookup function (`crate::config::Config::from_env` passes the
    /// process's). Empty variables count as unset.
    pub fn resolve(env: impl Fn(&str) -> Option<String>, file: Option<&Path>) -> Result<LlmConfig, LlmError> {
        let mut c = LlmConfig::default();
        if let Some(path) = file {
            c.apply_file(path)?;
        }
        let env = |name: &str| env(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        if let Some(v) = env("OPENAI_BASE_URL") {
            c.base_url = v;
        }
        if let Some(v) = env("OPENAI_API_KEY") {
            c.api_key = Some(v);
        }
        if let Some(v) = env("TOOLSMITH_MODEL") {
            c.model = v;
        }
        if let Some(v) = env("TOOLSMITH_EMBEDDING_MODEL") {
            c.embedding_model = v;
        }
        Ok(c)
    }

    fn apply_file(&mut self, path: &Path) -> Result<(), LlmError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(LlmError::Config(format!("cannot read {}: {e}", path.display()))),
        };
        let bad = |e: serde_json::Error| LlmError::Config(format!("{}: {e}", path.display()));
        let root: serde_json::Value = serde_json::from_str(&text).map_err(bad)?;
        let Some(section) = root.get("llm") else { return Ok(()) };
        let s: FileSection = serde_json::from_value(section.clone())
            .map_err(|e| LlmError::Config(format!("{}: \"llm\": {e}", path.display())))?;
        let secs = |v: f64, key: &str| {
            Duration::try_from_secs_f64(v).map_err(|_| {
                LlmError::Config(format!("{}: \"llm\".{key} must be a non-negative number", path.display()))
            })
        };
        if let Some(v) = s.base_url {
            self.base_url = v;
        }
        if let Some(v) = s.api_key.filter(|k| !k.is_empty()) {
            self.api_key = Some(v);
        }
        if let Some(v) = s.model {
            self.model = v;
        }
        if let Some(v) = s.embedding_model {
            self.embedding_model = v;
        }
        if let Some(v) = s.timeout_secs {
            self.timeout = secs(v, "timeout_secs")?;
        }
        if let Some(v) = s.max_attempts {
            self.max_attempts = v;
        }
        if let Some(v) = s.retry_base_delay_ms {
            self.retry_base_delay = Duration::from_millis(v);
        }
        if let Some(v) = s.max_retry_delay_secs {
            self.max_retry_delay = secs(v, "max_retry_delay_secs")?;
        }
        if let Some(v) = s.temperature {
            self.temperature = Some(v);
        }
        if let Some(v) = s.json_mode {
            self.json_mode = v;
        }
        if let Some(v) = s.spec_corrections {
            self.spec_corrections = v;
        }
        Ok(())
    }

    /// The base URL without a trailing slash; an error for anything that is not http(s).
    pub(crate) fn checked_base_url(&self) -> Result<reqwest::Url, LlmError> {
        let trimmed = self.base_url.trim().trim_end_matches('/');
        let url = reqwest::Url::parse(trimmed)
            .map_err(|e| LlmError::Config(format!("OPENAI_BASE_URL {trimmed:?} is not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(LlmError::Config(format!("OPENAI_BASE_URL {trimmed:?} must be an http:// or https:// URL")));
        }
        Ok(url)
    }

    /// The endpoint needs a key: OpenAI's own API.
    pub(crate) fn needs_key(&self) -> bool {
        self.checked_base_url().is_ok_and(|u| u.host_str() == Some("api.openai.com"))
    }
}
