//! The second backend of [`LlmClient`](super::LlmClient): a model reached through whoever called
//! Toolsmith rather than over HTTP — an MCP client lending its own model (sampling). The LLM
//! module still builds every prompt and parses every reply; a delegate only carries one
//! system + user message pair to the model and brings the text back, so synthesis, extraction
//! and responses work the same whichever backend answers.

use std::future::Future;
use std::pin::Pin;

use super::error::Stage;

/// One request for a completion, as the delegate carries it to the model.
#[derive(Debug, Clone)]
pub struct ModelRequest {
    /// The client method the request is made for (named in errors and shown to the user).
    pub stage: Stage,
    pub system: String,
    pub user: String,
    /// The reply must be one JSON object (the prompt says so; the reply is parsed leniently).
    pub want_json: bool,
    /// Longest reply asked for, in tokens.
    pub max_tokens: u32,
}

/// Replies longer than this are not needed by any prompt: a module with its tests fits.
pub const DEFAULT_MAX_TOKENS: u32 = 8192;

/// The future a delegate answers with: the reply text, or why there is none.
pub type Completion<'a> = Pin<Box<dyn Future<Output = Result<String, String>> + Send + 'a>>;

/// Carries requests to a model that someone else runs. Implemented by the MCP server; the LLM
/// module knows nothing of how the request travels.
pub trait ModelDelegate: Send + Sync {
    /// Where requests go, for errors and logs (e.g. "the MCP client's model").
    fn describe(&self) -> String;
    /// Ask the model; the text of its reply.
    fn complete(&self, request: ModelRequest) -> Completion<'_>;
}
