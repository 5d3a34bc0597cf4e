//! The one error type of the `toolsmith` crate, and its stable machine-readable kinds.
//!
//! Every face (the CLI's `--json`, the MCP server's error payloads) reports an [`ErrorKind`]: a
//! snake_case name that programs can branch on and that never changes meaning. The message is
//! for people and names what to fix. What a tool itself raised stays visible beside the kind
//! (`exception: "ValueError"`), but only the host decides the kinds of limits: a tool raising an
//! exception class named `Timeout` is still a `tool_error`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use toolsmith_host::{CallError, HostError, ToolError};

use crate::llm::LlmError;
use crate::registry::StoreError;
use crate::sandbox::SandboxError;
use crate::synthesis::Step;

/// What went wrong, as a stable name. `schemas/error-kinds.schema.json` lists each with its meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// No tool (or other named thing) by that name.
    NotFound,
    /// A tool of that name is already registered.
    AlreadyExists,
    /// The name breaks the naming rules or is reserved.
    InvalidName,
    /// The arguments are not a JSON object, break the tool's parameter schema, hold a
    /// non-finite number, or a limit or grant asked for cannot be enforced.
    InvalidArguments,
    /// The request does not give values the tool requires.
    MissingArguments,
    /// The tool raised an exception (its type is in `exception`) or broke the runtime's rules
    /// (an import outside the allow-list, a result that is not JSON).
    ToolError,
    /// The tool used up its fuel (computation) limit.
    FuelExhausted,
    /// The tool needed more memory than its limit.
    MemoryLimit,
    /// The tool ran past its wall-clock limit.
    Timeout,
    /// The tool printed more than its output limit.
    OutputLimit,
    /// The tool's JSON result is larger than its limit.
    ResultTooLarge,
    /// The tool nested too deeply for the runtime's stack.
    StackOverflow,
    /// No model is configured: set `OPENAI_API_KEY` or `OPENAI_BASE_URL`.
    NotConfigured,
    /// The model's endpoint failed or answered something unusable.
    Llm,
    /// Docker or the sandbox image is unavailable or broken.
    Sandbox,
    /// The tool's tests did not pass a verification stage (`stage` says which); nothing was registered.
    VerificationFailed,
    /// The store (database or tool files) failed.
    Store,
    /// The Python runtime component is missing or cannot be loaded.
    RuntimeMissing,
    /// The operation was cancelled before it finished; nothing was changed.
    Cancelled,
    /// This build of Toolsmith does not offer that yet; the message says what to use instead.
    NotImplemented,
    /// A bug or an unexpected failure of Toolsmith itself.
    Internal,
}

impl ErrorKind {
    /// Every kind, in declaration order (for the published list of kinds).
    pub const ALL: [ErrorKind; 21] = [
        ErrorKind::NotFound,
        ErrorKind::AlreadyExists,
        ErrorKind::InvalidName,
        ErrorKind::InvalidArguments,
        ErrorKind::MissingArguments,
        ErrorKind::ToolError,
        ErrorKind::FuelExhausted,
        ErrorKind::MemoryLimit,
        ErrorKind::Timeout,
        ErrorKind::OutputLimit,
        ErrorKind::ResultTooLarge,
        ErrorKind::StackOverflow,
        ErrorKind::NotConfigured,
        ErrorKind::Llm,
        ErrorKind::Sandbox,
        ErrorKind::VerificationFailed,
        ErrorKind::Store,
        ErrorKind::RuntimeMissing,
        ErrorKind::Cancelled,
        ErrorKind::NotImplemented,
        ErrorKind::Internal,
    ];

    /// The snake_case name, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not_found",
            ErrorKind::AlreadyExists => "already_exists",
            ErrorKind::InvalidName => "invalid_name",
            ErrorKind::InvalidArguments => "invalid_arguments",
            ErrorKind::MissingArguments => "missing_arguments",
            ErrorKind::ToolError => "tool_error",
            ErrorKind::FuelExhausted => "fuel_exhausted",
            ErrorKind::MemoryLimit => "memory_limit",
            ErrorKind::Timeout => "timeout",
            ErrorKind::OutputLimit => "output_limit",
            ErrorKind::ResultTooLarge => "result_too_large",
            ErrorKind::StackOverflow => "stack_overflow",
            ErrorKind::NotConfigured => "not_configured",
            ErrorKind::Llm => "llm",
            ErrorKind::Sandbox => "sandbox",
            ErrorKind::VerificationFailed => "verification_failed",
            ErrorKind::Store => "store",
            ErrorKind::RuntimeMissing => "runtime_missing",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::NotImplemented => "not_implemented",
            ErrorKind::Internal => "internal",
        }
    }

    /// Whether the tool's own code or its arguments are at fault (the caller, or a model, can fix
    /// the call), as opposed to the installation or Toolsmith.
    pub fn is_tool_fault(self) -> bool {
        matches!(
            self,
            ErrorKind::InvalidArguments
                | ErrorKind::MissingArguments
                | ErrorKind::ToolError
                | ErrorKind::FuelExhausted
                | ErrorKind::MemoryLimit
                | ErrorKind::Timeout
                | ErrorKind::OutputLimit
                | ErrorKind::ResultTooLarge
                | ErrorKind::StackOverflow
        )
    }

    /// The kind's meaning, one line (the doc comment above, for the published list).
    pub fn meaning(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "no tool (or other named thing) by that name",
            ErrorKind::AlreadyExists => "a tool of that name is already registered",
            ErrorKind::InvalidName => "the name breaks the naming rules or is reserved",
            ErrorKind::InvalidArguments => {
                "the arguments are not a JSON object, break the tool's parameter schema, hold a non-finite number, or ask for a limit or grant that cannot be enforced"
            }
            ErrorKind::MissingArguments => "the request does not give values the tool requires",
            ErrorKind::ToolError => {
                "the tool raised an exception (its type is in `exception`) or broke the runtime's rules (an import outside the allow-list, a result that is not JSON)"
            }
            ErrorKind::FuelExhausted => "the tool used up its fuel (computation) limit",
            ErrorKind::MemoryLimit => "the tool needed more memory than its limit",
            ErrorKind::Timeout => "the tool ran past its wall-clock limit",
            ErrorKind::OutputLimit => "the tool printed more than its output limit",
            ErrorKind::ResultTooLarge => "the tool's JSON result is larger than its limit",
            ErrorKind::StackOverflow => "the tool nested too deeply for the runtime's stack",
            ErrorKind::NotConfigured => "no model is configured: set OPENAI_API_KEY or OPENAI_BASE_URL",
            ErrorKind::Llm => "the model's endpoint failed or answered something unusable",
            ErrorKind::Sandbox => "Docker or the sandbox image is unavailable or broken",
            ErrorKind::VerificationFailed => {
                "the tool's tests did not pass a verification stage (`stage` says which); nothing was registered"
            }
            ErrorKind::Store => "the store (database or tool files) failed",
            ErrorKind::RuntimeMissing => "the Python runtime component is missing or cannot be loaded",
            ErrorKind::Cancelled => "the operation was cancelled before it finished; nothing was changed",
            ErrorKind::NotImplemented => {
                "this build of Toolsmith does not offer that yet; the message says what to use instead"
            }
            ErrorKind::Internal => "a bug or an unexpected failure of Toolsmith itself",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failure at one verification stage, with what the stage printed.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct StageFailure {
    pub stage: Step,
    /// The kind of the underlying failure: `verification_failed` when the tests failed,
    /// `sandbox`/`runtime_missing`/… when the machinery did.
    pub kind: ErrorKind,
    pub error: String,
    /// Test output of the stage (goes back to the model in a repair round).
    pub output: String,
}

impl StageFailure {
    /// The code or its tests are at fault (a repair may help), not the machinery.
    pub fn repairable(&self) -> bool {
        self.kind == ErrorKind::VerificationFailed || self.kind.is_tool_fault()
    }
}

/// Every failure of the `toolsmith` crate. [`Error::kind`] gives its stable name,
/// [`Error::report`] the serializable form the faces print.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no registered tool named {0:?} (see `toolsmith tools list`)")]
    NotFound(String),
    #[error("a tool named {0:?} is already registered: delete it first or choose another name")]
    AlreadyExists(String),
    #[error("{0}")]
    InvalidName(String),
    #[error("{0}")]
    InvalidArguments(String),
    #[error("{0}")]
    MissingArguments(String),
    /// The tool ran and did not produce a result (an exception or a limit).
    #[error("{}", tool_message(.0))]
    Tool(ToolError),
    #[error("{0}")]
    NotConfigured(String),
    #[error(transparent)]
    Llm(LlmError),
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    #[error("not registered: {} failed: {}", .0.stage.as_str(), .0.error)]
    Verification(StageFailure),
    #[error(transparent)]
    Store(StoreError),
    #[error("{0}")]
    RuntimeMissing(String),
    #[error("cancelled: {0}")]
    Cancelled(String),
    #[error("{0}")]
    NotImplemented(String),
    #[error("{0}")]
    Internal(String),
}

fn tool_message(e: &ToolError) -> String {
    match e.kind {
        toolsmith_host::ErrorKind::Guest => format!("{}: {}", e.error_type, e.message),
        _ => e.message.clone(),
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The stable kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::AlreadyExists(_) => ErrorKind::AlreadyExists,
            Error::InvalidName(_) => ErrorKind::InvalidName,
            Error::InvalidArguments(_) => ErrorKind::InvalidArguments,
            Error::MissingArguments(_) => ErrorKind::MissingArguments,
            Error::Tool(t) => tool_kind(t),
            Error::NotConfigured(_) => ErrorKind::NotConfigured,
            Error::Llm(e) => match e {
                LlmError::NotConfigured => ErrorKind::NotConfigured,
                LlmError::MissingArguments { .. } => ErrorKind::MissingArguments,
                _ => ErrorKind::Llm,
            },
            Error::Sandbox(_) => ErrorKind::Sandbox,
            Error::Verification(f) => {
                if f.kind.is_tool_fault() {
                    ErrorKind::VerificationFailed
                } else {
                    f.kind
                }
            }
            Error::Store(e) => match e {
                StoreError::InvalidName(_) => ErrorKind::InvalidName,
                StoreError::Exists(_) => ErrorKind::AlreadyExists,
                _ => ErrorKind::Store,
            },
            Error::RuntimeMissing(_) => ErrorKind::RuntimeMissing,
            Error::Cancelled(_) => ErrorKind::Cancelled,
            Error::NotImplemented(_) => ErrorKind::NotImplemented,
            Error::Internal(_) => ErrorKind::Internal,
        }
    }

    /// The serializable form: kind, message and whatever detail the kind has.
    pub fn report(&self) -> ErrorReport {
        let mut r = ErrorReport::new(self.kind(), self.to_string());
        match self {
            Error::Tool(t) => {
                if t.kind == toolsmith_host::ErrorKind::Guest {
                    r.exception = Some(t.error_type.clone());
                }
                r.traceback = t.traceback.clone();
                r.line = t.line;
                r.stdout = t.stdout.clone();
            }
            Error::Verification(f) => {
                r.stage = Some(f.stage);
                r.error = f.error.clone();
                r.output = Some(f.output.clone()).filter(|o| !o.is_empty() && *o != f.error);
            }
            _ => {}
        }
        r
    }

    pub(crate) fn internal(what: impl std::fmt::Display) -> Error {
        Error::Internal(what.to_string())
    }
}

/// The kind of a tool's failure. Limit kinds come from the host's own observation (a trap, the
/// memory limiter, the result's size), which the guest cannot set; what the guest reports is a
/// tool error whatever its exception is called, except the harness's argument and output checks.
fn tool_kind(t: &ToolError) -> ErrorKind {
    use toolsmith_host::ErrorKind as H;
    match t.kind {
        H::OutOfFuel => ErrorKind::FuelExhausted,
        H::Timeout => ErrorKind::Timeout,
        H::MemoryLimit => ErrorKind::MemoryLimit,
        H::ResultTooLarge => ErrorKind::ResultTooLarge,
        H::Trap if t.error_type == "StackOverflow" => ErrorKind::StackOverflow,
        H::Trap => ErrorKind::Internal,
        H::Guest => match t.error_type.as_str() {
            // The harness's own checks. A tool can raise exceptions of these names too, but it
            // only mislabels its own failure: none of them is a limit of the host.
            "OutputLimitExceeded" => ErrorKind::OutputLimit,
            "InvalidArguments" => ErrorKind::InvalidArguments,
            _ => ErrorKind::ToolError,
        },
    }
}

impl From<CallError> for Error {
    fn from(e: CallError) -> Error {
        match e {
            CallError::Tool(t) => Error::Tool(t),
            CallError::Host(h) => h.into(),
        }
    }
}

impl From<HostError> for Error {
    fn from(e: HostError) -> Error {
        match e {
            HostError::RuntimeMissing { .. } | HostError::RuntimeLoad { .. } => Error::RuntimeMissing(e.to_string()),
            HostError::Grant { .. } | HostError::InvalidLimit { .. } => Error::InvalidArguments(e.to_string()),
            _ => Error::Internal(e.to_string()),
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Error {
        match e {
            StoreError::Exists(name) => Error::AlreadyExists(name),
            StoreError::InvalidName(_) => Error::InvalidName(e.to_string()),
            StoreError::InvalidExample(msg) => Error::InvalidArguments(msg),
            e => Error::Store(e),
        }
    }
}

impl From<LlmError> for Error {
    fn from(e: LlmError) -> Error {
        match e {
            LlmError::NotConfigured => Error::NotConfigured(e.to_string()),
            LlmError::MissingArguments { .. } => Error::MissingArguments(e.to_string()),
            e => Error::Llm(e),
        }
    }
}

impl From<tokio::task::JoinError> for Error {
    fn from(e: tokio::task::JoinError) -> Error {
        Error::Internal(format!("a background task failed: {e}"))
    }
}

/// What a failure looks like on the wire (`--json`, MCP error payloads): the kind under
/// `error_type`, the message under `error`, and the detail the kind carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorReport {
    pub error_type: ErrorKind,
    /// What went wrong and what to do about it.
    pub error: String,
    /// The Python exception type, for `tool_error` (e.g. `ValueError`, `ImportNotAllowed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exception: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceback: Option<String>,
    /// 1-based source line, for errors found when compiling the tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// What the tool printed before it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout: Option<String>,
    /// The verification stage that failed, for `verification_failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<Step>,
    /// The failing stage's test output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

impl ErrorReport {
    pub fn new(kind: ErrorKind, error: impl Into<String>) -> ErrorReport {
        ErrorReport {
            error_type: kind,
            error: error.into(),
            exception: None,
            traceback: None,
            line: None,
            stdout: None,
            stage: None,
            output: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guest(error_type: &str) -> ToolError {
        ToolError {
            kind: toolsmith_host::ErrorKind::Guest,
            error_type: error_type.into(),
            message: "m".into(),
            traceback: None,
            line: None,
            stdout: None,
        }
    }

    #[test]
    fn a_guest_cannot_name_a_host_limit() {
        for name in ["Timeout", "FuelExhausted", "MemoryLimitExceeded", "ResultTooLarge", "StackOverflow"] {
            let e = Error::Tool(guest(name));
            assert_eq!(e.kind(), ErrorKind::ToolError, "{name}");
            assert_eq!(e.report().exception.as_deref(), Some(name));
        }
    }

    #[test]
    fn kinds_serialize_as_their_names() {
        for k in ErrorKind::ALL {
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
    }
}
