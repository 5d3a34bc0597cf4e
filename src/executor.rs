//! ToolExecutor: runs tools in the WASM runtime with one outcome shape for every path (a file, a
//! registered tool, an MCP call).
//!
//! Running a registered tool is lookup → run → log. The lookup borrows a store connection for a
//! few microseconds; nothing of the store is held while the tool runs, so a server's calls run
//! side by side. The parameter schema's validator and the bytecode are prepared once per tool
//! version (its code hash) and shared by every later call.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;
use toolsmith_host::{CallOptions, Grant, Limits, Runtime};

use crate::error::{Error, ErrorReport, Result};
use crate::registry::store::Runnable;
use crate::registry::{Execution, Store};

/// Options of one run: limits, granted directories, and what the execution log records.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub limits: Limits,
    /// Directories the tool may read (or write, when granted so), seen at their relative names.
    pub grants: Vec<Grant>,
    /// The session the run belongs to (workflow mining groups executions by it).
    pub session_id: Option<String>,
    /// The request that led to the run, if any.
    pub user_prompt: String,
}

/// A successful run.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RunOutput {
    /// The result as JSON, exactly as the tool produced it (big integers intact).
    #[schemars(with = "Value")]
    pub result: Box<RawValue>,
    /// What the tool printed.
    pub stdout: String,
    pub elapsed_ms: f64,
}

/// The seed's outcome fields, as every face prints them: `{"success": true, "result": …}` or
/// `{"success": false, "error_type": KIND, "error": …}` with the kind's detail.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RunOutcome {
    pub success: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<Value>")]
    pub result: Option<Box<RawValue>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stdout: Option<String>,
    #[serde(flatten)]
    pub error: Option<ErrorReport>,
}

impl RunOutcome {
    pub fn of(r: &Result<RunOutput>) -> RunOutcome {
        match r {
            Ok(out) => RunOutcome {
                success: true,
                result: Some(out.result.clone()),
                stdout: Some(out.stdout.clone()).filter(|s| !s.is_empty()),
                error: None,
            },
            Err(e) => RunOutcome { success: false, result: None, stdout: None, error: Some(e.report()) },
        }
    }
}

/// A tool version made ready to run: its bytecode and its compiled argument validator.
struct Prepared {
    code_hash: String,
    bytecode: Arc<Vec<u8>>,
    validator: jsonschema::Validator,
}

/// Runs tools. `Send + Sync`; calls block (the facade makes them on blocking threads).
pub struct ToolExecutor {
    runtime: Arc<Runtime>,
    store: Arc<Store>,
    prepared: Mutex<HashMap<String, Arc<Prepared>>>,
    log: Logger,
}

/// What the execution log records of one run, owned, on its way to the logger thread.
struct Logged {
    tool_name: String,
    session_id: Option<String>,
    inputs: Value,
    outputs: Option<Value>,
    success: bool,
    error_type: Option<&'static str>,
    execution_time_ms: f64,
    user_prompt: String,
}

/// What the logger thread receives.
enum ToLog {
    Run(Box<Logged>),
    /// Answer once everything sent before is written.
    Sync(std::sync::mpsc::Sender<()>),
}

/// How long the logger lets runs accumulate before it writes them.
const LOG_COALESCE: std::time::Duration = std::time::Duration::from_millis(20);

/// Writes the execution log off the call path: a run answers as soon as the tool returns, and
/// runs that finish while a commit is in progress are written together in the next one. Dropping
/// it writes what is pending before it returns, so a one-shot command loses nothing.
struct Logger {
    tx: Mutex<Option<std::sync::mpsc::Sender<ToLog>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Logger {
    fn start(store: Arc<Store>) -> Logger {
        let (tx, rx) = std::sync::mpsc::channel::<ToLog>();
        let thread = std::thread::Builder::new()
            .name("toolsmith-log".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    if let ToLog::Sync(done) = first {
                        let _ = done.send(());
                        continue;
                    }
                    // Measured: writing each run as it comes competed with the next call for the
                    // two cores (+0.2 ms a call); waiting a moment lets a burst share one commit.
                    std::thread::sleep(LOG_COALESCE);
                    let mut batch = vec![first];
                    batch.extend(rx.try_iter());
                    let (mut runs, mut waiting) = (Vec::new(), Vec::new());
                    for m in batch {
                        match m {
                            ToLog::Run(l) => runs.push(*l),
                            ToLog::Sync(done) => waiting.push(done),
                        }
                    }
                    let rows: Vec<Execution<'_>> = runs
                        .iter()
                        .map(|l| Execution {
                            tool_name: &l.tool_name,
                            session_id: l.session_id.as_deref(),
                            inputs: &l.inputs,
                            outputs: l.outputs.as_ref(),
                            success: l.success,
                            error_type: l.error_type,
                            execution_time_ms: l.execution_time_ms,
                            user_prompt: &l.user_prompt,
                        })
                        .collect();
                    if let Err(e) = store.log_executions(&rows) {
                        tracing::warn!(runs = rows.len(), "executions not logged: {e}");
                    }
                    for done in waiting {
                        let _ = done.send(());
                    }
                }
            })
            .ok();
        if thread.is_none() {
            tracing::warn!("no logger thread: executions are not logged");
        }
        Logger { tx: Mutex::new(Some(tx)), thread: Mutex::new(thread) }
    }

    fn send(&self, l: Logged) {
        if let Some(tx) = self.tx.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            let _ = tx.send(ToLog::Run(Box::new(l)));
        }
    }

    /// Wait until every run sent so far is written (at most the coalescing delay).
    fn sync(&self) {
        let (done, wait) = std::sync::mpsc::channel();
        if let Some(tx) = self.tx.lock().unwrap_or_else(|p| p.into_inner()).as_ref()
            && tx.send(ToLog::Sync(done)).is_ok()
        {
            let _ = wait.recv();
        }
    }

    /// Write everything sent so far and stop.
    fn flush(&self) {
        drop(self.tx.lock().unwrap_or_else(|p| p.into_inner()).take());
        if let Some(t) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = t.join();
        }
    }
}

impl Drop for ToolExecutor {
    fn drop(&mut self) {
        self.log.flush();
    }
}

impl ToolExecutor {
    pub fn new(runtime: Arc<Runtime>, store: Arc<Store>) -> ToolExecutor {
        let log = Logger::start(store.clone());
        ToolExecutor { runtime, store, prepared: Mutex::new(HashMap::new()), log }
    }

    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    /// Block until every run so far is in the execution log: what reads the log (pattern
    /// mining) then sees this process's own runs.
    pub fn sync_log(&self) {
        self.log.sync();
    }

    /// The seed's `execute_tool`: look the tool up, validate the arguments against its parameter
    /// schema, run it under `opts`, log the execution.
    pub fn execute(&self, name: &str, args_json: &str, opts: &RunOptions) -> Result<RunOutput> {
        let args = parse_args(args_json)?;
        let (prepared, own_grants) = self.prepare(name)?;
        let problems: Vec<String> = prepared
            .validator
            .iter_errors(&args)
            .map(|e| {
                let at = e.instance_path().to_string();
                if at.is_empty() { e.to_string() } else { format!("{at}: {e}") }
            })
            .collect();
        if !problems.is_empty() {
            return Err(Error::InvalidArguments(format!("arguments of {name}: {}", problems.join("; "))));
        }
        let start = Instant::now();
        let mut call = call_options(opts);
        // The tool's own grants beside the caller's: a tool never reads what neither names.
        for dir in own_grants {
            if call.grants.iter().any(|g| g.host_path == Path::new(&dir)) {
                continue;
            }
            if Path::new(&dir).is_dir() {
                call.grants.push(Grant::read_only(dir));
            } else {
                tracing::warn!(tool = %name, %dir, "a granted directory is gone: the tool runs without it");
            }
        }
        let r = self.runtime.call(&prepared.bytecode, name, args_json, &call);
        let elapsed_ms = start.elapsed().as_secs_f64() * 1e3;
        let r: Result<RunOutput> =
            r.map(|out| RunOutput { result: out.result, stdout: out.stdout, elapsed_ms }).map_err(Error::from);
        self.log.send(Logged {
            tool_name: name.to_string(),
            session_id: opts.session_id.clone(),
            inputs: args,
            outputs: r.as_ref().ok().and_then(|o| serde_json::from_str::<Value>(o.result.get()).ok()),
            success: r.is_ok(),
            error_type: r.as_ref().err().map(|e| e.kind().as_str()),
            execution_time_ms: elapsed_ms,
            user_prompt: opts.user_prompt.clone(),
        });
        r
    }

    /// The tool's bytecode and validator, prepared once per version.
    /// Also the directories the tool itself is granted, which are read on every call so that a
    /// grant or revocation applies to the next one.
    fn prepare(&self, name: &str) -> Result<(Arc<Prepared>, Vec<String>)> {
        let Some(Runnable { code_hash, parameters, grants }) = self.store.runnable(name)? else {
            return Err(Error::NotFound(name.to_string()));
        };
        if let Some(p) = self.cache().get(name).filter(|p| p.code_hash == code_hash) {
            return Ok((p.clone(), grants));
        }
        if !parameters.is_object() {
            return Err(Error::Internal(format!(
                "the stored parameter schema of {name} is not a JSON Schema object: delete and re-register the tool"
            )));
        }
        let validator = jsonschema::validator_for(&parameters)
            .map_err(|e| Error::Internal(format!("the stored parameter schema of {name} is invalid: {e}")))?;
        let bytecode =
            self.store.bytecode(name).map_err(|e| Error::Internal(format!("{e} (try `toolsmith tools cleanup`)")))?;
        let p = Arc::new(Prepared { code_hash, bytecode: Arc::new(bytecode), validator });
        self.cache().insert(name.to_string(), p.clone());
        Ok((p, grants))
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Prepared>>> {
        self.prepared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Forget a tool's prepared form (after it is deleted or replaced).
    pub fn forget(&self, name: &str) {
        self.cache().remove(name);
    }
}

fn call_options(opts: &RunOptions) -> CallOptions {
    CallOptions { limits: opts.limits.clone(), grants: opts.grants.clone() }
}

/// Compile `source` and call `function` once.
pub fn run_source(
    rt: &Runtime,
    source: &str,
    filename: &str,
    function: &str,
    args_json: &str,
    opts: &RunOptions,
) -> Result<RunOutput> {
    let start = Instant::now();
    parse_args(args_json)?;
    let code = rt.compile(source, filename)?;
    let out = rt.call(&code, function, args_json, &call_options(opts))?;
    Ok(RunOutput { result: out.result, stdout: out.stdout, elapsed_ms: start.elapsed().as_secs_f64() * 1e3 })
}

/// Arguments must be a JSON object (they become keyword arguments) of finite numbers.
pub fn parse_args(args_json: &str) -> Result<Value> {
    let v = match serde_json::from_str::<Value>(args_json) {
        Ok(v @ Value::Object(_)) => v,
        Ok(other) => {
            return Err(Error::InvalidArguments(format!(
                "arguments must be a JSON object of keyword arguments, got {}",
                json_kind(&other)
            )));
        }
        Err(e) => return Err(Error::InvalidArguments(format!("arguments are not valid JSON: {e}"))),
    };
    if let Some(at) = non_finite(&v, &mut String::new()) {
        return Err(Error::InvalidArguments(format!(
            "argument {at} is a number out of the range of a float (it would reach the tool as infinity)"
        )));
    }
    Ok(v)
}

/// The path of the first float literal that overflows (`1e400`). Integer literals of any size
/// are fine: they become Python ints.
fn non_finite(v: &Value, path: &mut String) -> Option<String> {
    match v {
        Value::Number(n) => {
            let text = n.to_string();
            let float = text.contains(['.', 'e', 'E']);
            (float && !text.parse::<f64>().is_ok_and(f64::is_finite)).then(|| path.clone())
        }
        Value::Array(items) => items.iter().enumerate().find_map(|(i, x)| {
            let len = path.len();
            path.push_str(&format!("[{i}]"));
            let found = non_finite(x, path);
            path.truncate(len);
            found
        }),
        Value::Object(map) => map.iter().find_map(|(k, x)| {
            let len = path.len();
            path.push_str(&format!("/{k}"));
            let found = non_finite(x, path);
            path.truncate(len);
            found
        }),
        _ => None,
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overflowing_floats_are_refused_and_big_integers_are_not() {
        let e = parse_args(r#"{"x": {"y": [1, 1e400]}}"#).unwrap_err();
        assert_eq!(e.kind(), crate::error::ErrorKind::InvalidArguments);
        assert!(e.to_string().contains("/x/y[1]"), "{e}");
        assert!(parse_args(&format!(r#"{{"n": {}}}"#, "9".repeat(7000))).is_ok());
        assert!(parse_args(r#"{"f": 1.5e300}"#).is_ok());
        assert_eq!(parse_args("[1]").unwrap_err().kind(), crate::error::ErrorKind::InvalidArguments);
    }
}
