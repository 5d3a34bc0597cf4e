//! What each model call cost, for traces: stage, latency, tokens (from the reply's `usage`).

use std::sync::Mutex;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One request to the model (retries of the same request included in its latency).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ModelCall {
    /// The client method, e.g. `extract_arguments`, `plan_execution`.
    pub stage: String,
    /// The structured-output mode the request went with: `json_schema`, `json_object` or `text`.
    pub format: String,
    pub latency_ms: f64,
    /// Tokens, as the server reported them; absent when it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completion_tokens: Option<u64>,
    /// Whether a usable reply came back.
    pub ok: bool,
}

impl ModelCall {
    /// Token counts of an OpenAI-style reply's `usage`.
    pub(crate) fn tokens(reply: &Value) -> (Option<u64>, Option<u64>) {
        let usage = reply.get("usage");
        let get = |k: &str| usage.and_then(|u| u.get(k)).and_then(Value::as_u64);
        (get("prompt_tokens"), get("completion_tokens"))
    }
}

/// The calls made through one client handle ([`LlmClient::with_calls`](super::LlmClient::with_calls)):
/// one per request the agent serves, so concurrent requests keep separate accounts.
#[derive(Debug, Default)]
pub struct CallLog {
    calls: Mutex<Vec<ModelCall>>,
}

impl CallLog {
    pub(crate) fn push(&self, call: ModelCall) {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).push(call);
    }

    /// Every call so far, in order.
    pub fn snapshot(&self) -> Vec<ModelCall> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// How many calls were made.
    pub fn len(&self) -> usize {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Total time spent waiting on the model, ms.
    pub fn total_ms(&self) -> f64 {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|c| c.latency_ms).sum()
    }
}
