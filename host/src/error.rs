//! Errors of the host. A [`ToolError`] is what a tool did (raised, ran out of a limit, returned
//! something that is not JSON); a [`HostError`] is what went wrong around it (no runtime, a broken
//! cache). The split lets callers tell "fix your tool" from "fix your installation".

use serde::{Deserialize, Serialize};

/// What stopped a call, as a stable machine-readable name (the `error_type` of the CLI's JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The guest reported an error; `error_type` is its name (a Python exception class, or one of
    /// the harness's own: `SyntaxError`, `ImportNotAllowed`, `ResultNotJSON`, `OutputLimitExceeded`,
    /// `FunctionNotFound`, …).
    Guest,
    /// The fuel limit was used up.
    OutOfFuel,
    /// The wall-clock deadline passed.
    Timeout,
    /// The guest asked for more memory than the limit allows.
    MemoryLimit,
    /// The JSON result exceeded its size limit.
    ResultTooLarge,
    /// The guest trapped for another reason (a bug in the runtime, not in the tool).
    Trap,
}

/// A tool-level failure: the call ran and did not produce a result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{error_type}: {message}")]
pub struct ToolError {
    pub kind: ErrorKind,
    /// Python exception class name or the limit's name, e.g. `ZeroDivisionError`, `Timeout`.
    pub error_type: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceback: Option<String>,
    /// 1-based source line, for compile errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// Output the tool printed before it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout: Option<String>,
}

impl ToolError {
    pub(crate) fn limit(kind: ErrorKind, error_type: &str, message: String) -> ToolError {
        ToolError { kind, error_type: error_type.into(), message, traceback: None, line: None, stdout: None }
    }

    /// Parse the harness's JSON error object; anything unparseable is itself reported, not lost.
    pub(crate) fn from_guest_json(text: &str) -> ToolError {
        #[derive(Deserialize)]
        struct Guest {
            error_type: String,
            message: String,
            traceback: Option<String>,
            line: Option<u32>,
            stdout: Option<String>,
        }
        match serde_json::from_str::<Guest>(text) {
            Ok(g) => ToolError {
                kind: ErrorKind::Guest,
                error_type: g.error_type,
                message: g.message,
                traceback: g.traceback.filter(|t| !t.is_empty()),
                line: g.line,
                stdout: g.stdout.filter(|s| !s.is_empty()),
            },
            Err(e) => ToolError::limit(
                ErrorKind::Trap,
                "RuntimeProtocolError",
                format!("the runtime returned an error that is not the expected JSON ({e}): {text:.200}"),
            ),
        }
    }
}

/// A failure of the host itself: the runtime component is missing, the cache is unwritable, the
/// engine cannot be configured. The message names what to do.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error(
        "the Python runtime component was not found at {path}: build it with `guest-runtime/build.sh` (or set TOOLSMITH_RUNTIME)"
    )]
    RuntimeMissing { path: std::path::PathBuf },
    #[error("cannot load the Python runtime component {path}: {source:#}")]
    RuntimeLoad { path: std::path::PathBuf, source: wasmtime::Error },
    #[error("cache directory {path}: {source}")]
    Cache { path: std::path::PathBuf, source: std::io::Error },
    #[error("cannot grant directory {path} to the tool: {source:#}")]
    Grant { path: std::path::PathBuf, source: wasmtime::Error },
    #[error("wasmtime: {0:#}")]
    Engine(wasmtime::Error),
    #[error("invalid {name} limit: {detail}")]
    InvalidLimit { name: &'static str, detail: String },
    #[error("cannot start the thread's call driver: {0}")]
    Driver(String),
}

/// Either kind of failure of one call.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error(transparent)]
    Tool(#[from] ToolError),
    #[error(transparent)]
    Host(#[from] HostError),
}
