//! LLMClient: the only module that speaks HTTP to a model.
//!
//! Any OpenAI-compatible endpoint works (OpenAI, Ollama, vLLM, llama.cpp's server): requests go
//! to `{base_url}/chat/completions` and `{base_url}/embeddings`. Every request has a timeout
//! and bounded retries; every error names the stage, the endpoint and what came back.
//!
//! ```no_run
//! # async fn demo() -> Result<(), toolsmith::llm::LlmError> {
//! use toolsmith::llm::{LlmClient, LlmConfig};
//! let llm = LlmClient::new(LlmConfig::local("http://localhost:11434/v1"))?;
//! let spec = llm.generate_spec("Calculate the factorial of a number").await?;
//! let tests = llm.generate_tests(&spec).await?;
//! let code = llm.generate_implementation(&spec, &tests).await?;
//! # Ok(()) }
//! ```

mod config;
mod delegate;
mod embedder;
mod error;
mod prompts;
pub mod reply;
mod spec;
mod transport;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Deserialize;
use serde_json::{Map, Value, json};
use tracing::{info, warn};

pub use config::{
    DEFAULT_BASE_URL, DEFAULT_EMBEDDING_MODEL, DEFAULT_MAX_ATTEMPTS, DEFAULT_MAX_RETRY_DELAY, DEFAULT_MODEL,
    DEFAULT_RETRY_BASE_DELAY, DEFAULT_SPEC_CORRECTIONS, DEFAULT_TEMPERATURE, DEFAULT_TIMEOUT, LlmConfig,
};
pub use delegate::{Completion, DEFAULT_MAX_TOKENS, ModelDelegate, ModelRequest};
pub use embedder::OpenAiEmbedder;
pub use error::{InvalidSpec, LlmError, Stage};
pub use spec::{JsonType, Param, SPEC_SCHEMA, Spec};

use transport::Transport;

/// Embedding inputs sent in one request at most.
const EMBEDDING_BATCH: usize = 256;

/// What [`LlmClient::extract_arguments`] extracts arguments for.
#[derive(Debug, Clone)]
pub enum Signature {
    /// A Python signature, e.g. `calculate_factorial(n: int) -> int`.
    Python(String),
    /// A JSON Schema of the arguments object; the reply is checked against it.
    Schema(Value),
}

impl From<&str> for Signature {
    fn from(s: &str) -> Self {
        Signature::Python(s.to_string())
    }
}
impl From<String> for Signature {
    fn from(s: String) -> Self {
        Signature::Python(s)
    }
}
impl From<Value> for Signature {
    fn from(v: Value) -> Self {
        Signature::Schema(v)
    }
}
impl From<&Spec> for Signature {
    fn from(spec: &Spec) -> Self {
        Signature::Schema(spec.arguments_schema())
    }
}

/// Optional request fields a server refused once; they are not sent again by this client.
#[derive(Default)]
struct Refused {
    response_format: AtomicBool,
    temperature: AtomicBool,
}

/// How requests reach the model.
#[derive(Clone)]
enum Backend {
    /// An OpenAI-compatible endpoint.
    Http(Transport),
    /// A model someone else runs (an MCP client's sampling): see [`ModelDelegate`].
    Delegate(Arc<dyn ModelDelegate>),
}

/// The seed's LLMClient, async. Cheap to clone; clones share the HTTP connection pool.
#[derive(Clone)]
pub struct LlmClient {
    config: Arc<LlmConfig>,
    backend: Backend,
    allowed_modules: Arc<Vec<String>>,
    refused: Arc<Refused>,
}

impl std::fmt::Debug for LlmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmClient").field("config", &self.config).finish_non_exhaustive()
    }
}

impl LlmClient {
    /// A client for `config`. [`LlmError::NotConfigured`] when the endpoint is OpenAI's and
    /// there is no key; [`LlmError::Config`] for a base URL that is not http(s).
    ///
    /// The prompts allow the modules of the runtime's allow-list (compiled in); set others with
    /// [`with_allowed_modules`](Self::with_allowed_modules).
    pub fn new(config: LlmConfig) -> Result<LlmClient, LlmError> {
        if config.api_key.is_none() && config.needs_key() {
            return Err(LlmError::NotConfigured);
        }
        let transport = Transport::new(&config)?;
        Ok(LlmClient {
            config: Arc::new(config),
            backend: Backend::Http(transport),
            allowed_modules: Arc::new(crate::runtime::allowed_modules()),
            refused: Arc::default(),
        })
    }

    /// A client whose chat requests go through `delegate` (e.g. the MCP client's own model)
    /// instead of HTTP; `config` still sets the prompts' behaviour (spec corrections). It
    /// gives no embeddings: those stay with the configured embedder.
    pub fn delegated(delegate: Arc<dyn ModelDelegate>, config: LlmConfig) -> LlmClient {
        LlmClient {
            config: Arc::new(config),
            backend: Backend::Delegate(delegate),
            allowed_modules: Arc::new(crate::runtime::allowed_modules()),
            refused: Arc::default(),
        }
    }

    /// Where chat requests go: the endpoint's URL, or the delegate's description.
    fn endpoint(&self, path: &str) -> String {
        match &self.backend {
            Backend::Http(t) => t.url(path),
            Backend::Delegate(d) => d.describe(),
        }
    }

    fn http(&self, stage: Stage) -> Result<&Transport, LlmError> {
        match &self.backend {
            Backend::Http(t) => Ok(t),
            Backend::Delegate(d) => Err(LlmError::Config(format!(
                "{stage}: {} answers chat requests only; embeddings come from the local embedder (TOOLSMITH_EMBEDDER=local)",
                d.describe()
            ))),
        }
    }

    /// Whether the endpoint answers (GET `/models`, one attempt within `timeout`): for
    /// `toolsmith doctor`. `Ok` describes the answer, `Err` what is wrong and what to check.
    pub async fn probe(&self, timeout: std::time::Duration) -> Result<String, String> {
        match &self.backend {
            Backend::Http(t) => t.probe(timeout).await,
            Backend::Delegate(d) => Ok(format!("requests go to {}", d.describe())),
        }
    }

    /// The standard-library modules generated code may import (the runtime's allow-list).
    /// Empty: the prompts say "standard library only".
    pub fn with_allowed_modules(mut self, modules: Vec<String>) -> LlmClient {
        self.allowed_modules = Arc::new(modules);
        self
    }

    pub fn config(&self) -> &LlmConfig {
        &self.config
    }

    pub fn allowed_modules(&self) -> &[String] {
        &self.allowed_modules
    }

    /// A spec for the request, valid against `schemas/spec.schema.json`. An invalid spec is
    /// shown back to the model with its problems, up to `spec_corrections` times.
    pub async fn generate_spec(&self, prompt: &str) -> Result<Spec, LlmError> {
        let stage = Stage::GenerateSpec;
        let (system, user) = prompts::spec(prompt);
        let mut reply = self.chat_raw(stage, &system, &user, true).await?;
        let mut round = 0;
        loop {
            let problems = match reply::extract_json_object(&reply) {
                Ok(v) => match Spec::from_value(v) {
                    Ok(spec) => match self.shadowed_module(&spec) {
                        None => {
                            info!(function = %spec.function_name, "spec generated");
                            return Ok(spec);
                        }
                        Some(problem) => vec![problem],
                    },
                    Err(invalid) => invalid.problems,
                },
                Err(msg) => vec![msg],
            };
            if round >= self.config.spec_corrections {
                return Err(LlmError::InvalidSpec {
                    stage,
                    url: self.endpoint("chat/completions"),
                    invalid: InvalidSpec { problems },
                });
            }
            round += 1;
            warn!(%stage, problems = %problems.join("; "), "the model's spec is invalid; asking for a correction");
            let (system, user) = prompts::spec_correction(prompt, &reply, &problems);
            reply = self.chat_raw(stage, &system, &user, true).await?;
        }
    }

    /// A function named like a module the tool may import would shadow it: `from json import json`.
    fn shadowed_module(&self, spec: &Spec) -> Option<String> {
        let name = &spec.function_name;
        self.allowed_modules.iter().any(|m| m == name).then(|| {
            format!("function_name: {name:?} is the name of a standard-library module; choose a name for the action")
        })
    }

    /// A pytest suite for the spec, importing the function with `from NAME import NAME`.
    pub async fn generate_tests(&self, spec: &Spec) -> Result<String, LlmError> {
        let stage = Stage::GenerateTests;
        let (system, user) = prompts::tests(spec, &self.allowed_modules);
        let reply = self.chat_raw(stage, &system, &user, false).await?;
        let tests = reply::extract_python(&reply, "def test_").map_err(|reason| self.bad_reply(stage, reason))?;
        Ok(with_import(tests, &spec.function_name))
    }

    /// The module `NAME.py` implementing the spec, written to pass `tests`.
    pub async fn generate_implementation(&self, spec: &Spec, tests: &str) -> Result<String, LlmError> {
        let stage = Stage::GenerateImplementation;
        let (system, user) = prompts::implementation(spec, tests, &self.allowed_modules);
        self.code(stage, &system, &user, spec).await
    }

    /// A corrected module, given the code that failed and what the test run printed.
    pub async fn repair_implementation(
        &self,
        spec: &Spec,
        tests: &str,
        code: &str,
        failure_output: &str,
    ) -> Result<String, LlmError> {
        let stage = Stage::RepairImplementation;
        let (system, user) = prompts::repair(spec, tests, code, failure_output, &self.allowed_modules);
        self.code(stage, &system, &user, spec).await
    }

    async fn code(&self, stage: Stage, system: &str, user: &str, spec: &Spec) -> Result<String, LlmError> {
        let reply = self.chat_raw(stage, system, user, false).await?;
        let marker = format!("def {}", spec.function_name);
        reply::extract_python(&reply, &marker).map_err(|reason| self.bad_reply(stage, reason))
    }

    /// The arguments for one call, as a JSON object. With a schema (or a [`Spec`]) the reply is
    /// checked against it, keys it does not allow dropped; [`LlmError::MissingArguments`] when
    /// the request lacks a required argument.
    pub async fn extract_arguments(
        &self,
        prompt: &str,
        signature: impl Into<Signature>,
    ) -> Result<Map<String, Value>, LlmError> {
        let stage = Stage::ExtractArguments;
        let signature = signature.into();
        let shown = match &signature {
            Signature::Python(s) => s.clone(),
            Signature::Schema(v) => {
                format!("JSON Schema of the arguments:\n{}", serde_json::to_string_pretty(v).unwrap_or_default())
            }
        };
        let (system, user) = prompts::arguments(prompt, &shown);
        let reply = self.chat_raw(stage, &system, &user, true).await?;
        let Value::Object(mut args) = reply::extract_json_object(&reply).map_err(|r| self.bad_reply(stage, r))? else {
            unreachable!("extract_json_object returns objects")
        };
        if let Some(missing) = args.get("_missing").and_then(Value::as_array) {
            let missing: Vec<String> = missing.iter().filter_map(|m| m.as_str().map(str::to_string)).collect();
            return Err(LlmError::MissingArguments { missing });
        }
        if let Signature::Schema(schema) = &signature {
            self.check_arguments(stage, schema, &mut args)?;
        }
        Ok(args)
    }

    fn check_arguments(&self, stage: Stage, schema: &Value, args: &mut Map<String, Value>) -> Result<(), LlmError> {
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            // {"arguments": {…}} around the object some models add.
            if args.len() == 1
                && !props.contains_key("arguments")
                && let Some(Value::Object(inner)) = args.get("arguments")
            {
                *args = inner.clone();
            }
            if schema.get("additionalProperties") == Some(&Value::Bool(false)) {
                args.retain(|k, _| {
                    let known = props.contains_key(k);
                    if !known {
                        warn!(%stage, key = %k, "dropping an argument the signature does not have");
                    }
                    known
                });
            }
        }
        let validator = match jsonschema::validator_for(schema) {
            Ok(v) => v,
            Err(e) => return Err(LlmError::Config(format!("extract_arguments: the arguments schema is invalid: {e}"))),
        };
        let problems = spec::schema_problems(&validator, &Value::Object(args.clone()), "is not allowed");
        if problems.is_empty() {
            Ok(())
        } else {
            Err(self.bad_reply(stage, format!("the arguments do not match the signature: {}", problems.join("; "))))
        }
    }

    /// One embedding vector (`{base_url}/embeddings`, the configured embedding model).
    pub async fn generate_embedding(&self, text: &str) -> Result<Vec<f32>, LlmError> {
        let mut v = self.generate_embeddings(&[text]).await?;
        Ok(v.pop().expect("one input gives one vector"))
    }

    /// One vector per text, in order; large batches go in several requests.
    pub async fn generate_embeddings<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<Vec<f32>>, LlmError> {
        let stage = Stage::GenerateEmbedding;
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(EMBEDDING_BATCH) {
            let input: Vec<&str> = chunk.iter().map(AsRef::as_ref).collect();
            let body = json!({"model": self.config.embedding_model, "input": input});
            let reply = self.http(stage)?.post(stage, "embeddings", &body).await?;
            out.extend(self.parse_embeddings(stage, reply, chunk.len())?);
        }
        Ok(out)
    }

    fn parse_embeddings(&self, stage: Stage, reply: Value, expected: usize) -> Result<Vec<Vec<f32>>, LlmError> {
        #[derive(Deserialize)]
        struct Reply {
            data: Vec<Item>,
        }
        #[derive(Deserialize)]
        struct Item {
            embedding: Vec<f32>,
            index: Option<usize>,
        }
        let shown = reply::snippet(&reply.to_string(), 200);
        let mut r: Reply = serde_json::from_value(reply)
            .map_err(|e| self.bad_reply(stage, format!("not an embeddings reply ({e}): {shown}")))?;
        if r.data.len() != expected {
            return Err(self.bad_reply(stage, format!("{} vectors for {expected} inputs", r.data.len())));
        }
        r.data.sort_by_key(|i| i.index.unwrap_or(usize::MAX));
        if r.data.iter().any(|i| i.embedding.is_empty()) {
            return Err(self.bad_reply(stage, "an empty embedding vector".into()));
        }
        Ok(r.data.into_iter().map(|i| i.embedding).collect())
    }

    /// A short natural-language answer to the request from the tool's result.
    pub async fn synthesize_response(&self, prompt: &str, result: &Value) -> Result<String, LlmError> {
        let stage = Stage::SynthesizeResponse;
        let (system, user) = prompts::response(prompt, result);
        let reply = self.chat_raw(stage, &system, &user, false).await?;
        reply::extract_text(&reply).map_err(|r| self.bad_reply(stage, r))
    }

    /// One chat completion for another module's prompt (the planner's, say): the reply text,
    /// reasoning removed.
    pub async fn chat(&self, stage: Stage, system: &str, user: &str) -> Result<String, LlmError> {
        let reply = self.chat_raw(stage, system, user, false).await?;
        reply::extract_text(&reply).map_err(|r| self.bad_reply(stage, r))
    }

    /// [`chat`](Self::chat) asking for a JSON object, parsed leniently.
    pub async fn chat_json(&self, stage: Stage, system: &str, user: &str) -> Result<Value, LlmError> {
        let reply = self.chat_raw(stage, system, user, true).await?;
        reply::extract_json_object(&reply).map_err(|r| self.bad_reply(stage, r))
    }

    /// POST one chat completion and return the assistant's text. An optional field the server
    /// rejects (400/422 naming `response_format` or `temperature`) is dropped and the request
    /// made again, and not sent by this client from then on.
    async fn chat_raw(&self, stage: Stage, system: &str, user: &str, want_json: bool) -> Result<String, LlmError> {
        let transport = match &self.backend {
            Backend::Http(t) => t,
            Backend::Delegate(d) => {
                let request = ModelRequest {
                    stage,
                    system: system.to_string(),
                    user: user.to_string(),
                    want_json,
                    max_tokens: DEFAULT_MAX_TOKENS,
                };
                let text = d.complete(request).await.map_err(|reason| LlmError::Delegate {
                    stage,
                    via: d.describe(),
                    reason,
                })?;
                if text.trim().is_empty() {
                    return Err(self.bad_reply(stage, "the reply has no text".into()));
                }
                return Ok(text);
            }
        };
        loop {
            let mut body = json!({
                "model": self.config.model,
                "messages": [
                    {"role": "system", "content": system},
                    {"role": "user", "content": user},
                ],
            });
            let send_temperature = !self.refused.temperature.load(Ordering::Relaxed);
            if let (Some(t), true) = (self.config.temperature, send_temperature) {
                // Rounded, so 0.2f32 goes out as 0.2 and not 0.20000000298023224.
                body["temperature"] = json!((f64::from(t) * 1000.0).round() / 1000.0);
            }
            let send_format =
                want_json && self.config.json_mode && !self.refused.response_format.load(Ordering::Relaxed);
            if send_format {
                body["response_format"] = json!({"type": "json_object"});
            }
            let refused_field = |e: &LlmError, field: &str| matches!(e, LlmError::Status { status: 400 | 422, body, .. } if body.to_lowercase().contains(field));
            match transport.post(stage, "chat/completions", &body).await {
                Ok(reply) => return self.chat_content(stage, &reply),
                Err(e) if send_format && refused_field(&e, "response_format") => {
                    warn!(%stage, "the server refuses response_format; asking without it from now on");
                    self.refused.response_format.store(true, Ordering::Relaxed);
                }
                Err(e) if send_temperature && self.config.temperature.is_some() && refused_field(&e, "temperature") => {
                    warn!(%stage, "the server refuses temperature; asking without it from now on");
                    self.refused.temperature.store(true, Ordering::Relaxed);
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn chat_content(&self, stage: Stage, reply: &Value) -> Result<String, LlmError> {
        let message = reply.pointer("/choices/0/message");
        let text = match message.and_then(|m| m.get("content")) {
            Some(Value::String(s)) => s.clone(),
            // Content as a list of parts: [{"type": "text", "text": "…"}].
            Some(Value::Array(parts)) => parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).collect(),
            _ => String::new(),
        };
        if !text.trim().is_empty() {
            return Ok(text);
        }
        let reason = if let Some(refusal) = message.and_then(|m| m.get("refusal")).and_then(Value::as_str) {
            format!("the model refused: {refusal}")
        } else if message.is_none() {
            format!("no choices[0].message in the reply: {}", reply::snippet(&reply.to_string(), 200))
        } else {
            let finish = reply.pointer("/choices/0/finish_reason").and_then(Value::as_str).unwrap_or("unknown");
            format!("the reply has no content (finish_reason: {finish})")
        };
        Err(self.bad_reply(stage, reason))
    }

    fn bad_reply(&self, stage: Stage, reason: String) -> LlmError {
        let path = if stage == Stage::GenerateEmbedding { "embeddings" } else { "chat/completions" };
        LlmError::BadReply { stage, url: self.endpoint(path), reason }
    }
}

/// Tests must import the function as the runtime names its module; add the import when the
/// model left it out entirely.
fn with_import(tests: String, name: &str) -> String {
    let imports_it = tests.lines().any(|l| {
        let l = l.trim();
        l.starts_with(&format!("from {name} import")) || l == format!("import {name}")
    });
    if imports_it { tests } else { format!("from {name} import {name}\n{tests}") }
}
