//! Composite tools: a workflow pattern promoted to a named, stored pipeline of registered tools.
//!
//! Each step names a registered tool and, for each of its parameters, where the value comes
//! from: the request (extracted by the model) or the previous step's result (passed as it is,
//! no model call). The mapping is learned from the log at promotion: a parameter whose value
//! equalled the previous step's output in most logged occurrences of the pattern takes it.
//!
//! A composite and its step rows are written in one transaction, so a crash leaves all or
//! nothing; deleting any of its tools deletes it (`Store::delete`).

use std::collections::BTreeMap;

use rusqlite::{OptionalExtension, TransactionBehavior, params};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::registry::embed::{blob_to_vector, vector_to_blob};
use crate::registry::store::validate_name;
use crate::registry::{Store, StoreError};

/// Occurrences of a pattern read from the log to learn its argument mapping.
const MAPPING_SAMPLE: usize = 200;

/// Where a step's parameter gets its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ArgSource {
    /// Extracted from the request by the model.
    Request,
    /// The previous step's result, as it is.
    Previous,
}

/// One step of a composite tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CompositeStep {
    pub tool: String,
    /// Parameter name → where its value comes from. Parameters not listed come from the request.
    #[serde(default)]
    pub inputs: BTreeMap<String, ArgSource>,
}

/// A stored pipeline of registered tools.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CompositeTool {
    pub name: String,
    pub description: String,
    /// The workflow pattern it was promoted from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pattern_id: Option<String>,
    pub steps: Vec<CompositeStep>,
    pub created_at: String,
}

impl CompositeTool {
    pub fn tools(&self) -> Vec<String> {
        self.steps.iter().map(|s| s.tool.clone()).collect()
    }
}

fn db(source: rusqlite::Error) -> StoreError {
    StoreError::Db { path: "composite_tools".into(), source }
}

/// A composite's default name: its tools joined, cut to a valid identifier length.
pub fn default_name(tools: &[String]) -> String {
    let mut name = tools.join("_then_");
    if name.len() > 64 {
        let hash = crate::agent::tracker::pattern_id(tools);
        name.truncate(64 - 13);
        name = format!("{}_{}", name.trim_end_matches('_'), &hash[2..]);
    }
    name
}

/// A composite with its description's vector (none when stored without one).
pub type WithEmbedding = (CompositeTool, Option<Vec<f32>>);

/// One logged occurrence of a pattern: each step's inputs and outputs.
type Occurrence = Vec<(Value, Option<Value>)>;

/// The stored composites.
pub struct Composites<'a> {
    store: &'a Store,
}

impl<'a> Composites<'a> {
    pub fn new(store: &'a Store) -> Composites<'a> {
        Composites { store }
    }

    /// Store `c` (with `embedding`, its description's vector for search). Refuses a name that
    /// is invalid, reserved, or taken by a tool or another composite, and steps naming a tool
    /// that is not registered.
    pub fn insert(&self, c: &CompositeTool, embedding: Option<&[f32]>, reserved: &[&str]) -> crate::Result<()> {
        validate_name(&c.name)?;
        if reserved.contains(&c.name.as_str()) {
            return Err(crate::Error::InvalidName(format!("{:?} is the name of a built-in tool", c.name)));
        }
        if c.steps.len() < 2 {
            return Err(crate::Error::InvalidArguments("a composite tool needs at least two steps".into()));
        }
        let steps = serde_json::to_string(&c.steps).map_err(crate::Error::internal)?;
        let blob: Option<Vec<u8>> = embedding.map(vector_to_blob);
        // Under the write lock: tool registration checks names under it too.
        let _lock = self.store.write_lock()?;
        self.store
            .with_connection(|conn| -> crate::Result<()> {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db)?;
                let taken: bool = tx
                    .query_row(
                        "SELECT EXISTS(SELECT 1 FROM tools WHERE name = ?1) OR EXISTS(SELECT 1 FROM composite_tools WHERE name = ?1)",
                        [&c.name],
                        |r| r.get(0),
                    )
                    .map_err(db)?;
                if let Some(p) = &c.pattern_id {
                    let existing: Option<String> = tx
                        .query_row("SELECT name FROM composite_tools WHERE pattern_id = ?1", [p], |r| r.get(0))
                        .optional()
                        .map_err(db)?;
                    if let Some(name) = existing {
                        return Err(crate::Error::AlreadyExists(format!(
                            "pattern {p} is already the composite tool {name:?}"
                        )));
                    }
                }
                if taken {
                    return Err(crate::Error::AlreadyExists(format!(
                        "{:?} is taken by a tool or a composite tool: choose another name",
                        c.name
                    )));
                }
                for s in &c.steps {
                    let known: bool = tx
                        .query_row("SELECT EXISTS(SELECT 1 FROM tools WHERE name = ?1)", [&s.tool], |r| r.get(0))
                        .map_err(db)?;
                    if !known {
                        return Err(crate::Error::NotFound(format!("step tool {:?} is not registered", s.tool)));
                    }
                }
                tx.execute(
                    "INSERT INTO composite_tools (name, description, pattern_id, steps, embedding, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![c.name, c.description, c.pattern_id, steps, blob, c.created_at],
                )
                .map_err(db)?;
                for (i, s) in c.steps.iter().enumerate() {
                    tx.execute("INSERT INTO composite_steps VALUES (?1, ?2, ?3)", params![c.name, i as i64, s.tool])
                        .map_err(db)?;
                }
                bump_generation(&tx).map_err(db)?;
                tx.commit().map_err(db)?;
                Ok(())
            })
            .map_err(crate::Error::from)?
    }

    /// A counter bumped whenever a composite is added or deleted (the MCP server lists
    /// composites as tools and announces changes by it). Kept apart from the store's generation,
    /// which the search index matches: composites are not in the index.
    pub fn generation(&self) -> Result<u64, StoreError> {
        self.store.with_connection(|c| crate::registry::store::read_counter(c, GENERATION_KEY))?.map_err(db)
    }

    fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<WithEmbedding> {
        let steps: String = r.get(3)?;
        let blob: Option<Vec<u8>> = r.get(4)?;
        let steps = serde_json::from_str(&steps)
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(3, rusqlite::types::Type::Text, Box::new(e)))?;
        let embedding = blob.as_deref().map(blob_to_vector);
        Ok((
            CompositeTool {
                name: r.get(0)?,
                description: r.get(1)?,
                pattern_id: r.get(2)?,
                steps,
                created_at: r.get(5)?,
            },
            embedding,
        ))
    }

    /// Every composite, by name, with its embedding.
    pub fn all_with_embeddings(&self) -> Result<Vec<WithEmbedding>, StoreError> {
        self.store
            .with_connection(|c| -> rusqlite::Result<Vec<_>> {
                let mut stmt = c.prepare_cached(
                    "SELECT name, description, pattern_id, steps, embedding, created_at FROM composite_tools ORDER BY name",
                )?;
                stmt.query_map([], Self::read)?.collect()
            })?
            .map_err(db)
    }

    pub fn all(&self) -> Result<Vec<CompositeTool>, StoreError> {
        Ok(self.all_with_embeddings()?.into_iter().map(|(c, _)| c).collect())
    }

    pub fn get(&self, name: &str) -> Result<Option<CompositeTool>, StoreError> {
        self.store
            .with_connection(|c| {
                c.query_row(
                    "SELECT name, description, pattern_id, steps, embedding, created_at FROM composite_tools WHERE name = ?1",
                    [name],
                    Self::read,
                )
                .optional()
            })?
            .map(|o| o.map(|(c, _)| c))
            .map_err(db)
    }

    /// The composite promoted from a pattern, if any.
    pub fn by_pattern(&self, pattern_id: &str) -> Result<Option<String>, StoreError> {
        self.store
            .with_connection(|c| {
                c.query_row("SELECT name FROM composite_tools WHERE pattern_id = ?1", [pattern_id], |r| r.get(0))
                    .optional()
            })?
            .map_err(db)
    }

    pub fn delete(&self, name: &str) -> Result<bool, StoreError> {
        self.store
            .with_connection(|conn| -> rusqlite::Result<bool> {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let n = tx.execute("DELETE FROM composite_tools WHERE name = ?1", [name])?;
                tx.execute("DELETE FROM composite_steps WHERE composite = ?1", [name])?;
                bump_generation(&tx)?;
                tx.commit()?;
                Ok(n > 0)
            })?
            .map_err(db)
    }
}

fn bump_generation(tx: &rusqlite::Transaction<'_>) -> rusqlite::Result<()> {
    crate::registry::store::bump_counter(tx, GENERATION_KEY)
}

const GENERATION_KEY: &str = "composites_generation";

/// The argument mapping of a pattern, learned from its logged occurrences: for step `i > 0`,
/// a parameter whose logged value equalled step `i-1`'s output in more than half of the
/// occurrences comes from the previous step; the rest from the request.
pub fn learn_mapping(store: &Store, tools: &[String]) -> Result<Vec<CompositeStep>, StoreError> {
    // (inputs, outputs) of each step of each occurrence, newest occurrences first.
    let mut occurrences: Vec<Occurrence> = crate::agent::tracker::occurrences(store, tools, true, |r| {
        let (inputs, outputs): (String, Option<String>) = (r.get(2)?, r.get(3)?);
        Ok((serde_json::from_str(&inputs).unwrap_or(Value::Null), outputs.and_then(|o| serde_json::from_str(&o).ok())))
    })?;
    occurrences.reverse();
    occurrences.truncate(MAPPING_SAMPLE);
    let mut steps: Vec<CompositeStep> =
        tools.iter().map(|t| CompositeStep { tool: t.clone(), inputs: BTreeMap::new() }).collect();
    for i in 1..tools.len() {
        let mut hits: BTreeMap<String, usize> = BTreeMap::new();
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for occ in &occurrences {
            let (inputs, _) = &occ[i];
            let Some(previous) = &occ[i - 1].1 else { continue };
            for (param, value) in inputs.as_object().into_iter().flatten() {
                *seen.entry(param.clone()).or_default() += 1;
                if value == previous {
                    *hits.entry(param.clone()).or_default() += 1;
                }
            }
        }
        for (param, n) in seen {
            let source =
                if hits.get(&param).copied().unwrap_or(0) * 2 > n { ArgSource::Previous } else { ArgSource::Request };
            steps[i].inputs.insert(param, source);
        }
    }
    Ok(steps)
}
