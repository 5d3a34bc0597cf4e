//! Traces: what the agent did for each request — the plan, the candidates it considered, each
//! step with its tool run, and each model call's stage, latency and tokens — stored with the
//! request so that `toolsmith traces show ID` explains any answer after the fact.

use rusqlite::{OptionalExtension, params};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ErrorReport;
use crate::llm::ModelCall;
use crate::registry::{Store, StoreError};

use super::plan::Plan;

/// One step of a request: a tool chosen (or written) and run.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct TraceStep {
    /// What the step was for: the request, or a sub-task of it.
    pub task: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_name: Option<String>,
    /// The tool was written for this step.
    pub synthesized: bool,
    /// The arguments of the last attempt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arguments: Option<Value>,
    /// Runs of the tool (1 + retries); 0 when nothing ran.
    pub attempts: u32,
    pub success: bool,
    /// Time inside the tool runs, ms.
    pub tool_ms: f64,
    /// The whole step, ms (model calls and synthesis included).
    pub elapsed_ms: f64,
    #[serde(default, skip_serializing_if = "Option::is_none", flatten)]
    pub error: Option<ErrorReport>,
}

/// Everything recorded of one request.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Trace {
    pub id: String,
    pub session_id: String,
    pub prompt: String,
    pub created_at: String,
    pub success: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_name: Option<String>,
    pub synthesized: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<Plan>,
    pub steps: Vec<TraceStep>,
    pub model_calls: Vec<ModelCall>,
    /// The whole request, ms.
    pub elapsed_ms: f64,
    /// What the agent itself spent: the request less model calls and tool runs, ms.
    pub overhead_ms: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorReport>,
}

/// A line of `traces list`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TraceSummary {
    pub id: String,
    pub session_id: Option<String>,
    pub prompt: String,
    pub strategy: Option<String>,
    pub tool_name: Option<String>,
    pub success: bool,
    pub elapsed_ms: f64,
    pub created_at: String,
}

fn db(source: rusqlite::Error) -> StoreError {
    StoreError::Db { path: "traces".into(), source }
}

/// The stored traces.
pub struct Traces<'a> {
    store: &'a Store,
}

impl<'a> Traces<'a> {
    pub fn new(store: &'a Store) -> Traces<'a> {
        Traces { store }
    }

    pub fn save(&self, t: &Trace) -> Result<(), StoreError> {
        let body = serde_json::to_string(t).unwrap_or_else(|_| "{}".into());
        let strategy = t.plan.as_ref().map(|p| p.strategy.as_str());
        self.store
            .with_connection(|c| {
                c.execute(
                    "INSERT OR REPLACE INTO traces (id, session_id, prompt, strategy, tool_name, success, elapsed_ms, created_at, body)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    params![t.id, t.session_id, t.prompt, strategy, t.tool_name, t.success, t.elapsed_ms, t.created_at, body],
                )
            })?
            .map_err(db)?;
        Ok(())
    }

    /// The latest `limit`, newest first; only `session`'s when given.
    pub fn list(&self, session: Option<&str>, limit: usize) -> Result<Vec<TraceSummary>, StoreError> {
        self.store
            .with_connection(|c| -> rusqlite::Result<Vec<TraceSummary>> {
                let mut stmt = c.prepare_cached(
                    "SELECT id, session_id, prompt, strategy, tool_name, success, elapsed_ms, created_at FROM traces
                     WHERE ?1 IS NULL OR session_id = ?1 ORDER BY created_at DESC, rowid DESC LIMIT ?2",
                )?;
                let rows = stmt.query_map(params![session, limit as i64], |r| {
                    Ok(TraceSummary {
                        id: r.get(0)?,
                        session_id: r.get(1)?,
                        prompt: r.get(2)?,
                        strategy: r.get(3)?,
                        tool_name: r.get(4)?,
                        success: r.get(5)?,
                        elapsed_ms: r.get(6)?,
                        created_at: r.get(7)?,
                    })
                })?;
                rows.collect()
            })?
            .map_err(db)
    }

    pub fn get(&self, id: &str) -> Result<Option<Trace>, StoreError> {
        let body: Option<String> = self
            .store
            .with_connection(|c| c.query_row("SELECT body FROM traces WHERE id = ?1", [id], |r| r.get(0)).optional())?
            .map_err(db)?;
        Ok(body.and_then(|b| serde_json::from_str(&b).ok()))
    }

    /// The request and tool of the session's latest successful request ("do the same for 7"
    /// means that tool).
    pub fn last_answered(&self, session: &str) -> Result<Option<(String, String)>, StoreError> {
        self.store
            .with_connection(|c| {
                c.query_row(
                    "SELECT prompt, tool_name FROM traces WHERE session_id = ?1 AND success = 1 AND tool_name IS NOT NULL
                     ORDER BY created_at DESC, rowid DESC LIMIT 1",
                    [session],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
            })?
            .map_err(db)
    }
}
