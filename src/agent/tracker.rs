//! WorkflowTracker: executions are logged by the executor (with their session); this mines them.
//!
//! - Patterns are the ordered runs of consecutive tools within a session, 2 to 5 long, with how
//!   often they occur, how often every step of an occurrence succeeded, and their mean time.
//!   Mined from the log on demand: one indexed scan, tools interned to integers, windows counted
//!   in a hash map (100k executions in well under 200 ms; `toolsmith bench` measures it).
//! - Relationships are `P(B follows A | A ran)` with its support: read from two small tables the
//!   store keeps up to date as executions are logged, so they cost a lookup, not a scan.

use std::collections::HashMap;

use rusqlite::params;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::registry::{Store, StoreError};

/// Shortest and longest mined sequence.
pub const PATTERN_LENGTHS: std::ops::RangeInclusive<usize> = 2..=5;

/// A sequence of tools that users ran one after another, more than once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WorkflowPattern {
    /// Stable for the same sequence: `p-` and 12 hex digits of its hash.
    pub id: String,
    pub tools: Vec<String>,
    /// Occurrences across all sessions (overlapping ones included).
    pub frequency: u64,
    /// Share of occurrences whose every step succeeded.
    pub success_rate: f64,
    /// Mean time of an occurrence (the sum of its steps), ms.
    pub avg_execution_time_ms: f64,
}

/// How often tool `tool_b` runs right after `tool_a` in a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ToolRelationship {
    pub tool_a: String,
    pub tool_b: String,
    /// `P(tool_b follows | tool_a ran)`: transitions a→b over the times a ran in a session.
    pub confidence: f64,
    /// How many times b followed a.
    pub support: u64,
}

/// The tracker over a store.
pub struct WorkflowTracker<'a> {
    store: &'a Store,
}

/// A pattern's id: stable across processes and releases for the same tool names.
pub fn pattern_id(tools: &[String]) -> String {
    let d = Sha256::digest(tools.join("\u{1f}").as_bytes());
    format!("p-{}", &hex::encode(d)[..12])
}

impl<'a> WorkflowTracker<'a> {
    pub fn new(store: &'a Store) -> WorkflowTracker<'a> {
        WorkflowTracker { store }
    }

    /// The seed's `get_workflow_patterns`: sequences seen at least `min_frequency` times, most
    /// frequent first (longer first among equals, then by name), at most `limit`.
    pub fn get_workflow_patterns(&self, min_frequency: u64, limit: usize) -> Result<Vec<WorkflowPattern>, StoreError> {
        #[derive(Default)]
        struct Acc {
            frequency: u64,
            successes: u64,
            total_ms: f64,
        }
        let mut names: Vec<String> = Vec::new();
        let mut ids: HashMap<String, u32> = HashMap::new();
        let mut counts: HashMap<Vec<u32>, Acc> = HashMap::new();
        let mut session: Option<String> = None;
        let mut run: Vec<(u32, bool, f64)> = Vec::new();
        let mut flush = |run: &mut Vec<(u32, bool, f64)>| {
            for len in PATTERN_LENGTHS {
                for w in run.windows(len) {
                    let acc = counts.entry(w.iter().map(|s| s.0).collect()).or_default();
                    acc.frequency += 1;
                    acc.successes += w.iter().all(|s| s.1) as u64;
                    acc.total_ms += w.iter().map(|s| s.2).sum::<f64>();
                }
            }
            run.clear();
        };
        self.store
            .with_connection(|conn| -> rusqlite::Result<()> {
                let mut stmt = conn.prepare_cached(
                    "SELECT session_id, tool_name, success, execution_time_ms FROM executions
                     WHERE session_id IS NOT NULL ORDER BY session_id, id",
                )?;
                let mut rows = stmt.query([])?;
                while let Some(r) = rows.next()? {
                    let s: String = r.get(0)?;
                    if session.as_deref() != Some(s.as_str()) {
                        flush(&mut run);
                        session = Some(s);
                    }
                    let tool: String = r.get(1)?;
                    let next = names.len() as u32;
                    let id = *ids.entry(tool.clone()).or_insert_with(|| {
                        names.push(tool);
                        next
                    });
                    run.push((id, r.get(2)?, r.get(3)?));
                }
                flush(&mut run);
                Ok(())
            })?
            .map_err(|source| StoreError::Db { path: "executions".into(), source })?;
        let mut patterns: Vec<WorkflowPattern> = counts
            .into_iter()
            .filter(|(_, a)| a.frequency >= min_frequency.max(1))
            .map(|(seq, a)| {
                let tools: Vec<String> = seq.iter().map(|&i| names[i as usize].clone()).collect();
                WorkflowPattern {
                    id: pattern_id(&tools),
                    tools,
                    frequency: a.frequency,
                    success_rate: a.successes as f64 / a.frequency as f64,
                    avg_execution_time_ms: a.total_ms / a.frequency as f64,
                }
            })
            .collect();
        patterns.sort_by(|a, b| {
            b.frequency.cmp(&a.frequency).then(b.tools.len().cmp(&a.tools.len())).then_with(|| a.tools.cmp(&b.tools))
        });
        patterns.truncate(limit);
        Ok(patterns)
    }

    /// How often `tools` ran as consecutive executions in a session (overlaps counted), read
    /// from the sessions that ran its first tool only.
    pub fn sequence_frequency(&self, tools: &[String]) -> Result<u64, StoreError> {
        Ok(occurrences(self.store, tools, false, |_| Ok(()))?.len() as u64)
    }

    /// The seed's `get_tool_relationships`: pairs whose confidence reaches `min_confidence`,
    /// involving `tool_name` (as either side) when given; most confident first.
    pub fn get_tool_relationships(
        &self,
        tool_name: Option<&str>,
        min_confidence: f64,
    ) -> Result<Vec<ToolRelationship>, StoreError> {
        self.store
            .with_connection(|conn| -> rusqlite::Result<Vec<ToolRelationship>> {
                let mut stmt = conn.prepare_cached(
                    "SELECT t.tool_a, t.tool_b, t.count, o.count FROM transitions t
                     JOIN tool_occurrences o ON o.tool_name = t.tool_a
                     WHERE (?1 IS NULL OR t.tool_a = ?1 OR t.tool_b = ?1)
                       AND CAST(t.count AS REAL) / o.count >= ?2
                     ORDER BY CAST(t.count AS REAL) / o.count DESC, t.count DESC, t.tool_a, t.tool_b",
                )?;
                let rows = stmt.query_map(params![tool_name, min_confidence], |r| {
                    let (support, runs): (i64, i64) = (r.get(2)?, r.get(3)?);
                    Ok(ToolRelationship {
                        tool_a: r.get(0)?,
                        tool_b: r.get(1)?,
                        confidence: support as f64 / runs.max(1) as f64,
                        support: support as u64,
                    })
                })?;
                rows.collect()
            })?
            .map_err(|source| StoreError::Db { path: "transitions".into(), source })
    }
}

/// Every occurrence of `tools` as consecutive executions of one session (overlaps counted),
/// oldest first, read from the sessions that ran its first tool only: for each, `read` of each
/// step's row (columns `session_id, tool_name, inputs, outputs`). Without `values`, `inputs` and
/// `outputs` are NULL: a count need not read every logged argument and result.
pub(crate) fn occurrences<T: Clone>(
    store: &Store,
    tools: &[String],
    values: bool,
    read: impl Fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<Vec<T>>, StoreError> {
    if tools.is_empty() {
        return Ok(Vec::new());
    }
    store
        .with_connection(|conn| -> rusqlite::Result<Vec<Vec<T>>> {
            let mut stmt = conn.prepare_cached(
                "SELECT session_id, tool_name, CASE WHEN ?2 THEN inputs END, CASE WHEN ?2 THEN outputs END
                 FROM executions
                 WHERE session_id IN (SELECT DISTINCT session_id FROM executions WHERE tool_name = ?1 AND session_id IS NOT NULL)
                 ORDER BY session_id, id",
            )?;
            let mut rows = stmt.query(params![&tools[0], values])?;
            let (mut found, mut session, mut run) = (Vec::new(), None::<String>, Vec::<(String, T)>::new());
            let scan = |run: &[(String, T)], found: &mut Vec<Vec<T>>| {
                for w in run.windows(tools.len()) {
                    if w.iter().zip(tools).all(|(step, t)| &step.0 == t) {
                        found.push(w.iter().map(|step| step.1.clone()).collect());
                    }
                }
            };
            while let Some(r) = rows.next()? {
                let s: String = r.get(0)?;
                if session.as_deref() != Some(&s) {
                    scan(&run, &mut found);
                    run.clear();
                    session = Some(s);
                }
                run.push((r.get(1)?, read(r)?));
            }
            scan(&run, &mut found);
            Ok(found)
        })?
        .map_err(|source| StoreError::Db { path: "executions".into(), source })
}
