//! What can go wrong when talking to a model, each error naming the stage and the endpoint.

use std::fmt;

/// The client method a request was made for: errors and logs name it so a failure in a long
/// pipeline says where it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    GenerateSpec,
    GenerateTests,
    GenerateImplementation,
    RepairImplementation,
    ExtractArguments,
    GenerateEmbedding,
    SynthesizeResponse,
    /// A request made through [`LlmClient::chat`](super::LlmClient::chat) by another module
    /// (e.g. the planner), named by that module.
    Other(&'static str),
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::GenerateSpec => "generate_spec",
            Stage::GenerateTests => "generate_tests",
            Stage::GenerateImplementation => "generate_implementation",
            Stage::RepairImplementation => "repair_implementation",
            Stage::ExtractArguments => "extract_arguments",
            Stage::GenerateEmbedding => "generate_embedding",
            Stage::SynthesizeResponse => "synthesize_response",
            Stage::Other(name) => name,
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A spec that does not match `schemas/spec.schema.json` (or breaks a rule the schema cannot
/// state, such as unique parameter names). Each problem names its place, e.g.
/// `parameters[0].type: "int" is not one of "string", "integer", …`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidSpec {
    pub problems: Vec<String>,
}

impl fmt::Display for InvalidSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid spec ({} problem{}):", self.problems.len(), plural(self.problems.len()))?;
        for p in &self.problems {
            write!(f, "\n  - {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for InvalidSpec {}

/// Every failure of [`LlmClient`](super::LlmClient). The `Display` form is written for the user:
/// it names the stage, the endpoint, what came back and, where there is one, the remedy.
#[derive(Debug)]
pub enum LlmError {
    /// No API key and the endpoint is OpenAI's: nothing can be asked.
    NotConfigured,
    /// The configuration could not be read or is unusable (bad URL, malformed config file).
    Config(String),
    /// The endpoint answered with an error status: at once for a 4xx other than 429, or after the
    /// last attempt for 429 and 5xx.
    Status { stage: Stage, url: String, status: u16, body: String, attempts: u32 },
    /// No answer at all: timeouts, refused or dropped connections, after the last attempt.
    Unreachable { stage: Stage, url: String, attempts: u32, reason: String },
    /// The endpoint answered 2xx but the reply cannot be used (not JSON, no code, no content…).
    BadReply { stage: Stage, url: String, reason: String },
    /// The model's spec is still invalid after the allowed corrections.
    InvalidSpec { stage: Stage, url: String, invalid: InvalidSpec },
    /// `extract_arguments`: the request does not give these required arguments.
    MissingArguments { missing: Vec<String> },
    /// A delegated model (see [`ModelDelegate`](super::ModelDelegate)) gave no answer: the
    /// client refused, went away or cancelled.
    Delegate { stage: Stage, via: String, reason: String },
}

impl LlmError {
    /// The stage the error happened in, when a request was made.
    pub fn stage(&self) -> Option<Stage> {
        match self {
            LlmError::Status { stage, .. }
            | LlmError::Unreachable { stage, .. }
            | LlmError::BadReply { stage, .. }
            | LlmError::InvalidSpec { stage, .. }
            | LlmError::Delegate { stage, .. } => Some(*stage),
            LlmError::MissingArguments { .. } => Some(Stage::ExtractArguments),
            LlmError::NotConfigured | LlmError::Config(_) => None,
        }
    }

    /// True when trying again later may succeed (rate limits, server errors, no answer).
    pub fn is_transient(&self) -> bool {
        match self {
            LlmError::Status { status, .. } => retryable_status(*status),
            LlmError::Unreachable { .. } => true,
            _ => false,
        }
    }
}

/// 429 and every 5xx are worth another attempt; other statuses will not change by retrying.
pub(crate) fn retryable_status(status: u16) -> bool {
    status == 429 || (500..600).contains(&status)
}

fn status_hint(status: u16) -> &'static str {
    match status {
        401 | 403 => " (check OPENAI_API_KEY)",
        404 => " (check OPENAI_BASE_URL and the model name: TOOLSMITH_MODEL, TOOLSMITH_EMBEDDING_MODEL)",
        429 => " (rate limited: try again later, or lower the request rate)",
        _ => "",
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

impl fmt::Display for LlmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LlmError::NotConfigured => f.write_str(
                "no LLM configured: set OPENAI_API_KEY, or OPENAI_BASE_URL for a local server \
                 (e.g. http://localhost:11434/v1 for Ollama)",
            ),
            LlmError::Config(msg) => write!(f, "LLM configuration: {msg}"),
            LlmError::Status { stage, url, status, body, attempts } => {
                write!(f, "{stage}: POST {url} answered HTTP {status}")?;
                if *attempts > 1 {
                    write!(f, " on each of {attempts} attempts")?;
                }
                write!(f, "{}", status_hint(*status))?;
                if !body.is_empty() {
                    write!(f, ": {body}")?;
                }
                Ok(())
            }
            LlmError::Unreachable { stage, url, attempts, reason } => {
                write!(
                    f,
                    "{stage}: no answer from POST {url} after {attempts} attempt{}: {reason}",
                    plural(*attempts as usize)
                )
            }
            LlmError::BadReply { stage, url, reason } => write!(f, "{stage}: unusable reply from {url}: {reason}"),
            LlmError::InvalidSpec { stage, url, invalid } => write!(f, "{stage}: the model at {url} gave an {invalid}"),
            LlmError::MissingArguments { missing } => {
                write!(f, "extract_arguments: the request does not say {}", missing.join(", "))
            }
            LlmError::Delegate { stage, via, reason } => write!(f, "{stage}: no answer from {via}: {reason}"),
        }
    }
}

impl std::error::Error for LlmError {}
