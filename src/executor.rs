//! ToolExecutor: runs tools in the WASM runtime and reports one outcome shape for every path
//! (a file, a registered tool, an MCP call).

use std::path::Path;

use serde_json::value::RawValue;
use toolsmith_host::{CallError, CallOptions, Grant, Limits, Runtime};

use crate::config::Paths;
use crate::runtime::{self, Usage};

/// The outcome of running a tool: the seed's `success`/`result`/`error`/`error_type` fields.
#[derive(Debug, Clone)]
pub enum RunOutcome {
    Success { result: Box<RawValue>, stdout: String, elapsed_ms: f64 },
    Failure { error_type: String, error: String, traceback: Option<String>, elapsed_ms: f64 },
}

impl RunOutcome {
    pub fn success(&self) -> bool {
        matches!(self, RunOutcome::Success { .. })
    }

    pub fn failure(error_type: impl Into<String>, error: impl Into<String>) -> RunOutcome {
        RunOutcome::Failure { error_type: error_type.into(), error: error.into(), traceback: None, elapsed_ms: 0.0 }
    }

    pub fn from_call(r: Result<toolsmith_host::CallOutput, CallError>, elapsed_ms: f64) -> RunOutcome {
        match r {
            Ok(out) => RunOutcome::Success { result: out.result, stdout: out.stdout, elapsed_ms },
            Err(CallError::Tool(e)) => {
                RunOutcome::Failure { error_type: e.error_type, error: e.message, traceback: e.traceback, elapsed_ms }
            }
            Err(CallError::Host(e)) => RunOutcome::failure(host_error_type(&e), e.to_string()),
        }
    }

    /// `{"success": true, "result": …}` or `{"success": false, "error_type": "…", "error": "…"}`.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            RunOutcome::Success { result, stdout, .. } => {
                let mut v = serde_json::json!({"success": true, "result": result});
                if !stdout.is_empty() {
                    v["stdout"] = stdout.clone().into();
                }
                v
            }
            RunOutcome::Failure { error_type, error, traceback, .. } => {
                let mut v = serde_json::json!({"success": false, "error_type": error_type, "error": error});
                if let Some(tb) = traceback {
                    v["traceback"] = tb.clone().into();
                }
                v
            }
        }
    }
}

pub fn host_error_type(e: &toolsmith_host::HostError) -> &'static str {
    use toolsmith_host::HostError::*;
    match e {
        RuntimeMissing { .. } => "RuntimeMissing",
        RuntimeLoad { .. } => "RuntimeLoadError",
        Cache { .. } => "CacheError",
        Grant { .. } => "GrantError",
        Engine(_) => "EngineError",
    }
}

/// Compile `source` and call `function` once: the `toolsmith run --file` path.
pub fn run_source(
    rt: &Runtime,
    source: &str,
    filename: &str,
    function: &str,
    args_json: &str,
    limits: Limits,
    grants: Vec<Grant>,
) -> RunOutcome {
    let start = std::time::Instant::now();
    if let Err(e) = check_args_object(args_json) {
        return e;
    }
    let code = match rt.compile(source, filename) {
        Ok(c) => c,
        Err(e) => return RunOutcome::from_call(Err(e), 0.0),
    };
    let r = rt.call(&code, function, args_json, &CallOptions { limits, grants });
    RunOutcome::from_call(r, start.elapsed().as_secs_f64() * 1e3)
}

pub fn run_file(
    paths: &Paths,
    file: &Path,
    function: Option<&str>,
    args_json: &str,
    limits: Limits,
    grants: Vec<Grant>,
) -> RunOutcome {
    let source = match std::fs::read_to_string(file) {
        Ok(s) => s,
        Err(e) => return RunOutcome::failure("FileNotFound", format!("cannot read {}: {e}", file.display())),
    };
    let function = match function {
        Some(f) => f.to_string(),
        None => file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
    };
    if let Some(bad) = grants.iter().find(|g| !g.host_path.is_dir()) {
        return RunOutcome::failure("GrantError", format!("--allow-read {}: not a directory", bad.host_path.display()));
    }
    let rt = match runtime::open(paths, Usage::OneShot) {
        Ok(rt) => rt,
        Err(e) => return RunOutcome::failure(host_error_type(&e), e.to_string()),
    };
    let filename = file.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "tool.py".into());
    run_source(&rt, &source, &filename, &function, args_json, limits, grants)
}

/// Run a registered tool from its stored bytecode (`toolsmith run NAME`): arguments are checked
/// against the tool's parameter schema first, and the execution is logged for the usage re-rank.
pub async fn run_registered(
    paths: &Paths,
    name: &str,
    args_json: &str,
    limits: Limits,
    grants: Vec<Grant>,
) -> RunOutcome {
    let (paths, name, args_json) = (paths.clone(), name.to_string(), args_json.to_string());
    tokio::task::spawn_blocking(move || {
        let store = match crate::registry::open_store(&paths) {
            Ok(s) => s,
            Err(e) => return RunOutcome::failure("StoreError", format!("{e:#}")),
        };
        let rt = match runtime::open(&paths, Usage::OneShot) {
            Ok(rt) => rt,
            Err(e) => return RunOutcome::failure(host_error_type(&e), e.to_string()),
        };
        execute(&store, &rt, &name, &args_json, limits, grants, None, "")
    })
    .await
    .unwrap_or_else(|e| RunOutcome::failure("InternalError", format!("the run panicked: {e}")))
}

/// The ToolExecutor's core: look the tool up, validate, run, log. Shared by the CLI and the server.
#[allow(clippy::too_many_arguments)]
pub fn execute(
    store: &crate::registry::Store,
    rt: &Runtime,
    name: &str,
    args_json: &str,
    limits: Limits,
    grants: Vec<Grant>,
    session_id: Option<&str>,
    user_prompt: &str,
) -> RunOutcome {
    let tool = match store.get(name) {
        Ok(Some(t)) => t,
        Ok(None) => {
            return RunOutcome::failure(
                "ToolNotFound",
                format!("no registered tool named {name:?} (see `toolsmith tools list`)"),
            );
        }
        Err(e) => return RunOutcome::failure("StoreError", e.to_string()),
    };
    let args: serde_json::Value = match check_args_object(args_json) {
        Ok(v) => v,
        Err(e) => return e,
    };
    if let Err(msg) = validate_args(&tool.parameters, &args) {
        return RunOutcome::failure("InvalidArguments", format!("arguments of {name}: {msg}"));
    }
    let code = match store.bytecode(name) {
        Ok(c) => c,
        Err(e) => return RunOutcome::failure("StoreError", format!("{e} (try `toolsmith tools cleanup`)")),
    };
    let start = std::time::Instant::now();
    let r = rt.call(&code, name, args_json, &CallOptions { limits, grants });
    let outcome = RunOutcome::from_call(r, start.elapsed().as_secs_f64() * 1e3);
    let (outputs, error_type, elapsed_ms) = match &outcome {
        RunOutcome::Success { result, elapsed_ms, .. } => (serde_json::from_str(result.get()).ok(), None, *elapsed_ms),
        RunOutcome::Failure { error_type, elapsed_ms, .. } => (None, Some(error_type.as_str()), *elapsed_ms),
    };
    let logged = store.log_execution(&crate::registry::Execution {
        tool_name: name,
        session_id,
        inputs: &args,
        outputs: outputs.as_ref(),
        success: outcome.success(),
        error_type,
        execution_time_ms: elapsed_ms,
        user_prompt,
    });
    if let Err(e) = logged {
        tracing::warn!("execution of {name} not logged: {e}");
    }
    outcome
}

/// Check arguments against a tool's parameter schema; the message lists every problem by path.
pub fn validate_args(schema: &serde_json::Value, args: &serde_json::Value) -> Result<(), String> {
    if !schema.is_object() {
        return Ok(());
    }
    let validator = jsonschema::validator_for(schema).map_err(|e| format!("the tool's schema is invalid: {e}"))?;
    let problems: Vec<String> = validator
        .iter_errors(args)
        .map(|e| {
            let at = e.instance_path().to_string();
            if at.is_empty() { e.to_string() } else { format!("{at}: {e}") }
        })
        .collect();
    if problems.is_empty() { Ok(()) } else { Err(problems.join("; ")) }
}

/// Arguments must be a JSON object (they become keyword arguments).
fn check_args_object(args_json: &str) -> Result<serde_json::Value, RunOutcome> {
    match serde_json::from_str::<serde_json::Value>(args_json) {
        Ok(v @ serde_json::Value::Object(_)) => Ok(v),
        Ok(other) => Err(RunOutcome::failure(
            "InvalidArguments",
            format!("arguments must be a JSON object of keyword arguments, got {}", json_kind(&other)),
        )),
        Err(e) => Err(RunOutcome::failure("InvalidArguments", format!("arguments are not valid JSON: {e}"))),
    }
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}
