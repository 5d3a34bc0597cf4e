//! Checks behind `toolsmith doctor`.

use serde::Serialize;

use crate::config::Config;
use crate::runtime;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    Warn,
    Missing,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    pub detail: String,
    /// What to do about it, when it is not ok.
    pub fix: Option<String>,
    /// Whether running tools needs it (verification and synthesis need more).
    pub required: bool,
}

/// Every check, in the order `toolsmith doctor` prints them.
pub async fn check_all(config: &Config) -> Vec<Check> {
    let paths = &config.paths;
    let mut checks = vec![Check {
        name: "home",
        status: Status::Ok,
        detail: format!(
            "{} (cache {}; data dirs {})",
            paths.home.display(),
            paths.cache.display(),
            config.data_dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
        ),
        fix: None,
        required: false,
    }];
    let c = config.clone();
    let runtime_check = tokio::task::spawn_blocking(move || check_runtime(&c)).await;
    checks.push(runtime_check.unwrap_or_else(|e| Check {
        name: "python runtime",
        status: Status::Missing,
        detail: format!("the check failed: {e}"),
        fix: None,
        required: true,
    }));
    checks.push(check_model(config));
    for item in crate::sandbox::status().await.items {
        let status = if item.ok { Status::Ok } else { Status::Missing };
        checks.push(Check { name: item.name, status, detail: item.detail, fix: item.fix, required: false });
    }
    checks.push(check_llm(config).await);
    checks
}

fn check_runtime(config: &Config) -> Check {
    let found = runtime::component(config);
    let component = &found.path;
    if !component.exists() {
        return Check {
            name: "python runtime",
            status: Status::Missing,
            detail: format!("no component found (looked last at {})", component.display()),
            fix: Some(
                "run scripts/install.sh (or guest-runtime/build.sh in a checkout), or set TOOLSMITH_RUNTIME".into(),
            ),
            required: true,
        };
    }
    let t = std::time::Instant::now();
    match runtime::open(config, runtime::Usage::OneShot) {
        Ok(rt) => {
            let modules = rt.allowed_modules().map(|m| m.len()).unwrap_or(0);
            Check {
                name: "python runtime",
                status: Status::Ok,
                detail: format!(
                    "{} (from the {}) loaded in {:.0} ms, {modules} allowed modules",
                    component.display(),
                    found.source,
                    t.elapsed().as_secs_f64() * 1e3
                ),
                fix: None,
                required: true,
            }
        }
        Err(e) => Check {
            name: "python runtime",
            status: Status::Missing,
            detail: e.to_string(),
            fix: Some("rebuild it with guest-runtime/build.sh; delete the cache directory if it is corrupt".into()),
            required: true,
        },
    }
}

fn check_model(config: &Config) -> Check {
    let found = runtime::model_dir(config);
    let dir = &found.path;
    let present = dir.join("model.safetensors").exists() && dir.join("tokenizer.json").exists();
    Check {
        name: "embedding model",
        status: if present { Status::Ok } else { Status::Missing },
        detail: format!("all-MiniLM-L6-v2 at {} (from the {})", dir.display(), found.source),
        fix: (!present)
            .then(|| "run scripts/install.sh or scripts/fetch-model.sh (needed to search and register tools)".into()),
        required: false,
    }
}

async fn check_llm(config: &Config) -> Check {
    match config.llm.clone() {
        Ok(c) if c.api_key.is_none() && c.needs_key() => Check {
            name: "llm",
            status: Status::Warn,
            detail: format!("{} without an API key", c.base_url),
            fix: Some("set OPENAI_API_KEY, or OPENAI_BASE_URL for a local server (Ollama, vLLM, llama.cpp); everything but synthesis works without".into()),
            required: false,
        },
        Ok(c) => {
            let model = c.model.clone();
            let probed = match crate::llm::LlmClient::new(c) {
                Ok(client) => client.probe(std::time::Duration::from_secs(3)).await,
                Err(e) => Err(e.to_string()),
            };
            match probed {
                Ok(detail) => Check { name: "llm", status: Status::Ok, detail: format!("{detail}; model {model}"), fix: None, required: false },
                Err(detail) => Check {
                    name: "llm",
                    status: Status::Warn,
                    detail,
                    fix: Some("start the model server or fix OPENAI_BASE_URL / OPENAI_API_KEY; everything but synthesis works without".into()),
                    required: false,
                },
            }
        }
        Err(e) => Check {
            name: "llm",
            status: Status::Warn,
            detail: e,
            fix: Some("fix the LLM settings (OPENAI_BASE_URL, TOOLSMITH_MODEL, the config file)".into()),
            required: false,
        },
    }
}
