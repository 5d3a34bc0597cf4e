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

mod calls;
mod config;
mod delegate;
mod embedder;
mod error;
mod prompts;
pub mod reply;
mod spec;
pub mod structured;
mod transport;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Deserialize;
use serde_json::{Map, Value, json};
use tracing::{info, warn};

pub use calls::{CallLog, ModelCall};
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
/// A refused `json_schema` is remembered per stage (a server may reject one schema it cannot
/// compile and accept the others); a refused `json_object` for every request.
#[derive(Default)]
struct Refused {
    response_format: AtomicBool,
    json_schema: Mutex<HashSet<&'static str>>,
    temperature: AtomicBool,
}

/// What a reply must be.
#[derive(Clone, Copy)]
enum Format<'a> {
    Text,
    /// One JSON object (`response_format: json_object`).
    Json,
    /// One JSON object valid against the schema (`response_format: json_schema`, named after the
    /// stage), falling back to `json_object`, then to nothing, when the server refuses it.
    Schema {
        schema: &'a Value,
        strict: bool,
    },
}

impl Format<'_> {
    fn wants_json(self) -> bool {
        !matches!(self, Format::Text)
    }
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
    /// Where this handle records its calls (see [`LlmClient::with_calls`]).
    calls: Option<Arc<CallLog>>,
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
            calls: None,
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
            calls: None,
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

    /// A handle on the same client (connections, refusals) that records each of its calls in
    /// `log`: the agent makes one per request for the request's trace.
    pub fn with_calls(&self, log: Arc<CallLog>) -> LlmClient {
        LlmClient { calls: Some(log), ..self.clone() }
    }

    pub fn allowed_modules(&self) -> &[String] {
        &self.allowed_modules
    }

    /// A spec for the request, valid against `schemas/spec.schema.json`. An invalid spec is
    /// shown back to the model with its problems, up to `spec_corrections` times.
    pub async fn generate_spec(&self, prompt: &str) -> Result<Spec, LlmError> {
        let stage = Stage::GenerateSpec;
        let (system, user) = prompts::spec(prompt);
        let wire = structured::spec_wire();
        let format = Format::Schema { schema: &wire, strict: true };
        let mut reply = self.chat_raw(stage, &system, &user, format).await?;
        let mut round = 0;
        loop {
            let problems = match reply::extract_json_object(&reply) {
                Ok(mut v) => match Spec::from_value({
                    structured::spec_from_wire(&mut v);
                    v
                }) {
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
            reply = self.chat_raw(stage, &system, &user, format).await?;
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
        let reply = self.chat_raw(stage, &system, &user, Format::Text).await?;
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
        let reply = self.chat_raw(stage, system, user, Format::Text).await?;
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
        self.extract_arguments_with(prompt, signature, None).await
    }

    /// [`extract_arguments`](Self::extract_arguments) after a failed attempt: `feedback` (the
    /// arguments tried and what was wrong with them) is shown to the model.
    ///
    /// With a schema, the request carries it as a structured output: `{"arguments": {…},
    /// "missing": [names]}`, optional arguments nullable (strict mode has no optional keys).
    pub async fn extract_arguments_with(
        &self,
        prompt: &str,
        signature: impl Into<Signature>,
        feedback: Option<&str>,
    ) -> Result<Map<String, Value>, LlmError> {
        let stage = Stage::ExtractArguments;
        let signature = signature.into();
        let (shown, wire) = match &signature {
            Signature::Python(s) => (s.clone(), None),
            Signature::Schema(v) => (
                format!("JSON Schema of the arguments:\n{}", serde_json::to_string_pretty(v).unwrap_or_default()),
                Some(structured::extraction(v)),
            ),
        };
        let (system, user) = prompts::arguments(prompt, &shown, feedback);
        let format = match &wire {
            Some((schema, strict)) => Format::Schema { schema, strict: *strict },
            None => Format::Json,
        };
        let reply = self.chat_raw(stage, &system, &user, format).await?;
        let Value::Object(mut args) = reply::extract_json_object(&reply).map_err(|r| self.bad_reply(stage, r))? else {
            unreachable!("extract_json_object returns objects")
        };
        let props = match &signature {
            Signature::Schema(s) => s.get("properties").and_then(Value::as_object),
            Signature::Python(_) => None,
        };
        let is_param = |k: &str| props.is_some_and(|p| p.contains_key(k));
        let mut missing: Vec<String> = Vec::new();
        for key in ["_missing", "missing"] {
            if is_param(key) {
                continue;
            }
            if let Some(list) = args.remove(key).as_ref().and_then(Value::as_array) {
                missing.extend(list.iter().filter_map(|m| m.as_str().map(str::to_string)));
            }
        }
        // The structured form; a model answering without the format may send the bare object.
        if !is_param("arguments")
            && args.len() == 1
            && let Some(Value::Object(inner)) = args.get("arguments")
        {
            args = inner.clone();
        }
        if let Signature::Schema(schema) = &signature {
            structured::drop_null_optionals(&mut args, schema);
            // A required value left null was not in the request.
            let required = schema.get("required").and_then(Value::as_array);
            for name in required.into_iter().flatten().filter_map(Value::as_str) {
                if args.get(name).is_none_or(Value::is_null) && !missing.iter().any(|m| m == name) {
                    missing.push(name.to_string());
                }
            }
            // Only what the signature has and the reply did not give counts as missing.
            missing.retain(|m| is_param(m) && args.get(m).is_none_or(Value::is_null));
        }
        if !missing.is_empty() {
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
        let reply = self.chat_raw(stage, &system, &user, Format::Text).await?;
        reply::extract_text(&reply).map_err(|r| self.bad_reply(stage, r))
    }

    /// One chat completion for another module's prompt (the planner's, say): the reply text,
    /// reasoning removed.
    pub async fn chat(&self, stage: Stage, system: &str, user: &str) -> Result<String, LlmError> {
        let reply = self.chat_raw(stage, system, user, Format::Text).await?;
        reply::extract_text(&reply).map_err(|r| self.bad_reply(stage, r))
    }

    /// [`chat`](Self::chat) asking for a JSON object, parsed leniently.
    pub async fn chat_json(&self, stage: Stage, system: &str, user: &str) -> Result<Value, LlmError> {
        let reply = self.chat_raw(stage, system, user, Format::Json).await?;
        reply::extract_json_object(&reply).map_err(|r| self.bad_reply(stage, r))
    }

    /// [`chat`](Self::chat) with a structured output: `schema` (in the strict subset, see
    /// [`structured`]) goes as `response_format: json_schema` named after the stage, and the
    /// reply is validated against it whatever the server did with the format.
    pub async fn chat_structured(
        &self,
        stage: Stage,
        system: &str,
        user: &str,
        schema: &Value,
    ) -> Result<Value, LlmError> {
        let reply = self.chat_raw(stage, system, user, Format::Schema { schema, strict: true }).await?;
        let value = reply::extract_json_object(&reply).map_err(|r| self.bad_reply(stage, r))?;
        let validator = jsonschema::validator_for(schema)
            .map_err(|e| LlmError::Config(format!("{stage}: the reply schema is invalid: {e}")))?;
        let problems = spec::schema_problems(&validator, &value, "is not allowed");
        if problems.is_empty() {
            Ok(value)
        } else {
            Err(self.bad_reply(stage, format!("the reply does not match the {stage} schema: {}", problems.join("; "))))
        }
    }

    /// POST one chat completion and return the assistant's text. An optional field the server
    /// rejects (400/422 naming `response_format` or `temperature`) is dropped and the request
    /// made again, and not sent by this client from then on.
    async fn chat_raw(&self, stage: Stage, system: &str, user: &str, format: Format<'_>) -> Result<String, LlmError> {
        let transport = match &self.backend {
            Backend::Http(t) => t,
            Backend::Delegate(d) => {
                let request = ModelRequest {
                    stage,
                    system: system.to_string(),
                    user: user.to_string(),
                    want_json: format.wants_json(),
                    max_tokens: DEFAULT_MAX_TOKENS,
                };
                let started = Instant::now();
                let text =
                    d.complete(request).await.map_err(|reason| LlmError::Delegate { stage, via: d.describe(), reason });
                let ok = text.as_ref().is_ok_and(|t| !t.trim().is_empty());
                self.record(stage, "text", started, (None, None), ok);
                let text = text?;
                if !ok {
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
            let json_ok = self.config.json_mode && !self.refused.response_format.load(Ordering::Relaxed);
            let schema_ok =
                || !self.refused.json_schema.lock().unwrap_or_else(|e| e.into_inner()).contains(stage.as_str());
            let sent = match format {
                Format::Schema { schema, strict } if json_ok && schema_ok() => {
                    body["response_format"] = json!({
                        "type": "json_schema",
                        "json_schema": {"name": stage.as_str(), "schema": schema, "strict": strict},
                    });
                    "json_schema"
                }
                Format::Schema { .. } | Format::Json if json_ok => {
                    body["response_format"] = json!({"type": "json_object"});
                    "json_object"
                }
                _ => "text",
            };
            let refused_field = |e: &LlmError, fields: &[&str]| {
                matches!(e, LlmError::Status { status: 400 | 422, body, .. }
                    if { let b = body.to_lowercase(); fields.iter().any(|f| b.contains(f)) })
            };
            let started = Instant::now();
            let result = transport.post(stage, "chat/completions", &body).await;
            let tokens = result.as_ref().map(ModelCall::tokens).unwrap_or_default();
            self.record(stage, sent, started, tokens, result.is_ok());
            match result {
                Ok(reply) => return self.chat_content(stage, &reply),
                Err(e) if sent == "json_schema" && refused_field(&e, &["response_format", "json_schema", "schema"]) => {
                    warn!(%stage, "the server refuses this json_schema; asking for json_object instead");
                    self.refused.json_schema.lock().unwrap_or_else(|e| e.into_inner()).insert(stage.as_str());
                }
                Err(e) if sent == "json_object" && refused_field(&e, &["response_format", "json_object"]) => {
                    warn!(%stage, "the server refuses response_format; asking without it from now on");
                    self.refused.response_format.store(true, Ordering::Relaxed);
                }
                Err(e)
                    if send_temperature && self.config.temperature.is_some() && refused_field(&e, &["temperature"]) =>
                {
                    warn!(%stage, "the server refuses temperature; asking without it from now on");
                    self.refused.temperature.store(true, Ordering::Relaxed);
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn record(&self, stage: Stage, format: &str, started: Instant, tokens: (Option<u64>, Option<u64>), ok: bool) {
        if let Some(log) = &self.calls {
            log.push(ModelCall {
                stage: stage.as_str().to_string(),
                format: format.to_string(),
                latency_ms: started.elapsed().as_secs_f64() * 1e3,
                prompt_tokens: tokens.0,
                completion_tokens: tokens.1,
                ok,
            });
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
