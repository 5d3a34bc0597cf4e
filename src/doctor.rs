//! Checks behind `toolsmith doctor`.

use serde::Serialize;

use crate::config::Paths;
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

pub async fn check_all(paths: &Paths) -> Vec<Check> {
    let mut checks = vec![Check {
        name: "home",
        status: Status::Ok,
        detail: format!("{} (cache {})", paths.home.display(), paths.cache.display()),
        fix: None,
        required: false,
    }];
    let p = paths.clone();
    checks.push(tokio::task::spawn_blocking(move || check_runtime(&p)).await.expect("runtime check panicked"));
    checks.push(check_model(paths));
    for item in crate::sandbox::status().await.items {
        let status = if item.ok { Status::Ok } else { Status::Missing };
        checks.push(Check { name: item.name, status, detail: item.detail, fix: item.fix, required: false });
    }
    checks.push(check_llm().await);
    checks
}

fn check_runtime(paths: &Paths) -> Check {
    let component = runtime::component_path(paths);
    if !component.exists() {
        return Check {
            name: "python runtime",
            status: Status::Missing,
            detail: format!("no component at {}", component.display()),
            fix: Some("run guest-runtime/build.sh (or scripts/setup.sh), or set TOOLSMITH_RUNTIME".into()),
            required: true,
        };
    }
    let t = std::time::Instant::now();
    match runtime::open(paths, runtime::Usage::OneShot) {
        Ok(rt) => {
            let modules = rt.allowed_modules().map(|m| m.len()).unwrap_or(0);
            Check {
                name: "python runtime",
                status: Status::Ok,
                detail: format!(
                    "{} loaded in {:.0} ms, {modules} allowed modules",
                    component.display(),
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

fn check_model(paths: &Paths) -> Check {
    let dir = crate::registry::embed::LocalMiniLm::default_dir(paths);
    let present = dir.join("model.safetensors").exists() && dir.join("tokenizer.json").exists();
    Check {
        name: "embedding model",
        status: if present { Status::Ok } else { Status::Missing },
        detail: format!("all-MiniLM-L6-v2 at {}", dir.display()),
        fix: (!present).then(|| "run scripts/fetch-model.sh (needed to search and register tools)".into()),
        required: false,
    }
}

async fn check_llm() -> Check {
    match crate::llm::LlmConfig::from_env() {
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
            detail: e.to_string(),
            fix: Some("fix the LLM settings (OPENAI_BASE_URL, TOOLSMITH_MODEL, the config file)".into()),
            required: false,
        },
    }
}
