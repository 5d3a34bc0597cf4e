//! CapabilityRegistry: the store of tools and the hybrid search over them.
//!
//! The store is the truth; the search index is derived from it and rebuilt whenever it does not
//! match the store's generation (missing, corrupt, other version, other embedder, or a crash
//! between the store's commit and the index's).

pub mod embed;
pub mod eval;
pub mod index;
pub mod remote;
pub mod store;
pub mod text;

use std::sync::Arc;

use anyhow::Context;
use serde::Serialize;

use crate::config::Paths;
use embed::{CachedEmbedder, Embedder, LocalMiniLm};
use index::{IndexDoc, IndexState, ParamDoc, SearchIndex, SearchMode};
pub use store::{Execution, NewTool, Store, StoreError, ToolRecord, Usage};

/// Executions per tool that the usage re-rank looks at.
pub const RERANK_RECENT: u32 = 20;
/// Largest change the usage re-rank can make to a score: a tool that always fails loses at most
/// this much, one that always succeeds gains it, and a tool with no history is left alone.
pub const RERANK_WEIGHT: f32 = 0.1;

/// A search answer: the tool and how well it fits (the seed's `similarity_score`).
#[derive(Debug, Clone, Serialize)]
pub struct ToolMatch {
    #[serde(flatten)]
    pub tool: ToolRecord,
    /// Fused similarity in [0, 1]; the threshold applies to it.
    pub similarity_score: f32,
    /// The score after the usage re-rank (orders the results).
    pub rank_score: f32,
    pub usage: Usage,
}

/// What an index rebuild did.
#[derive(Debug, Clone, Serialize)]
pub struct RebuildReport {
    pub tools: usize,
    pub reason: String,
    pub millis: f64,
}

pub struct CapabilityRegistry {
    store: Store,
    index: SearchIndex,
    embedder: Arc<dyn Embedder>,
    /// Why the index was rebuilt when the registry was opened, if it was.
    pub rebuilt: Option<RebuildReport>,
}

/// The local embedder, cached in the store's database. Failing to find the model names the script.
pub fn local_embedder(paths: &Paths) -> anyhow::Result<Arc<dyn Embedder>> {
    let model = LocalMiniLm::load(&LocalMiniLm::default_dir(paths))?;
    Ok(Arc::new(CachedEmbedder::new(model, cache_connection(paths)?)?))
}

fn cache_connection(paths: &Paths) -> anyhow::Result<rusqlite::Connection> {
    std::fs::create_dir_all(&paths.home).with_context(|| format!("creating {}", paths.home.display()))?;
    rusqlite::Connection::open(paths.db_path())
        .with_context(|| format!("opening {} for the embedding cache", paths.db_path().display()))
}

/// The configured embedder: `TOOLSMITH_EMBEDDER` = `local` (default, no network, no key) or
/// `openai` (the LLM endpoint's `/embeddings`).
pub fn configured_embedder(paths: &Paths) -> anyhow::Result<Arc<dyn Embedder>> {
    match std::env::var("TOOLSMITH_EMBEDDER").unwrap_or_default().as_str() {
        "" | "local" => local_embedder(paths),
        "openai" => {
            let remote = remote::OpenAiEmbedder::connect(crate::llm::LlmClient::from_env()?)?;
            Ok(Arc::new(CachedEmbedder::new(remote, cache_connection(paths)?)?))
        }
        other => anyhow::bail!("TOOLSMITH_EMBEDDER={other:?}: use `local` or `openai`"),
    }
}

impl CapabilityRegistry {
    /// Open with the configured embedder (the local model by default).
    pub fn open(paths: &Paths) -> anyhow::Result<CapabilityRegistry> {
        let store = open_store(paths)?;
        let embedder = configured_embedder(paths)?;
        Self::open_with(paths, store, embedder)
    }

    pub fn open_with(paths: &Paths, store: Store, embedder: Arc<dyn Embedder>) -> anyhow::Result<CapabilityRegistry> {
        let (index, state) = SearchIndex::open_or_create(&paths.index_dir(), &embedder.id(), embedder.dim())?;
        let mut reg = CapabilityRegistry { store, index, embedder, rebuilt: None };
        let fingerprint = reg.fingerprint()?;
        let empty = reg.store.count()? == 0;
        if state == IndexState::Fresh && empty {
            // A new home: nothing to index, only the generation to record.
            reg.index.set_fingerprint(fingerprint.clone());
            reg.index.commit()?;
        }
        let reason = match state {
            IndexState::NeedsRebuild(why) => Some(why),
            IndexState::Fresh if !empty => Some("no index on disk".to_string()),
            IndexState::Opened | IndexState::Fresh if reg.index.fingerprint() != fingerprint => Some(format!(
                "index built from store generation {:?}, store is at {fingerprint:?}",
                reg.index.fingerprint()
            )),
            _ => None,
        };
        if let Some(reason) = reason {
            tracing::info!(%reason, "rebuilding the search index from the store");
            reg.rebuilt = Some(reg.rebuild_index(&reason)?);
        }
        Ok(reg)
    }

    fn fingerprint(&self) -> anyhow::Result<String> {
        Ok(fingerprint_of(self.store.generation()?))
    }

    /// Catch up with changes other processes made to the store (a CLI `tools add` while the
    /// server runs): reopen the index they updated, or rebuild it when they did not.
    pub fn refresh(&mut self) -> anyhow::Result<()> {
        let fingerprint = self.fingerprint()?;
        if self.index.fingerprint() == fingerprint {
            return Ok(());
        }
        let (index, state) = SearchIndex::open_or_create(self.index.dir(), &self.embedder.id(), self.embedder.dim())?;
        self.index = index;
        if state == IndexState::Opened && self.index.fingerprint() == fingerprint {
            return Ok(());
        }
        self.rebuilt = Some(self.rebuild_index("the store was changed by another process")?);
        Ok(())
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn embedder(&self) -> &Arc<dyn Embedder> {
        &self.embedder
    }

    /// Re-derive the whole index from the store (embeddings come from the cache when known).
    pub fn rebuild_index(&mut self, reason: &str) -> anyhow::Result<RebuildReport> {
        let t = std::time::Instant::now();
        let tools = self.store.all()?;
        let docs: Vec<IndexDoc> = tools.iter().map(index_doc).collect();
        let texts: Vec<String> = docs.iter().map(IndexDoc::embedding_text).collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let vectors = if refs.is_empty() { vec![] } else { self.embedder.embed(&refs)? };
        let pairs: Vec<(IndexDoc, Vec<f32>)> = docs.into_iter().zip(vectors).collect();
        let fingerprint = self.fingerprint()?;
        self.index.rebuild(&pairs, &fingerprint)?;
        Ok(RebuildReport { tools: pairs.len(), reason: reason.into(), millis: t.elapsed().as_secs_f64() * 1e3 })
    }

    /// The seed's `add_tool`: register a verified tool (store and index). The embedding is made
    /// first, so a failing embedder registers nothing; the store's commit is the point of
    /// registration, and an index that misses it is rebuilt on the next open.
    pub fn add_tool(&mut self, new: &NewTool<'_>) -> anyhow::Result<ToolRecord> {
        store::validate_name(new.name)?;
        let doc =
            IndexDoc { name: new.name.into(), description: new.docstring.into(), params: params_of(new.parameters) };
        let vector = self.embedder.embed(&[&doc.embedding_text()])?.remove(0);
        self.refresh()?;
        let rec = self.store.add(new)?;
        self.index_change(new.name, |index| index.upsert(&doc, &vector));
        Ok(rec)
    }

    /// Ranked matches for `query` (no threshold), re-ranked by usage when `rerank`.
    pub fn search(
        &mut self,
        query: &str,
        limit: usize,
        mode: SearchMode,
        rerank: bool,
    ) -> anyhow::Result<Vec<ToolMatch>> {
        self.refresh()?;
        let embedding = match mode {
            SearchMode::Bm25 => None,
            _ => Some(self.embedder.embed(&[query])?.remove(0)),
        };
        // Re-ranking can lift a tool from just below the cut: look a little deeper than asked.
        let depth = if rerank { limit.max(10) } else { limit };
        let hits = self.index.search(query, embedding.as_deref(), depth, mode)?;
        let mut out = Vec::with_capacity(hits.len());
        for h in hits {
            let Some(tool) = self.store.get(&h.name)? else { continue };
            let usage = self.store.usage(&h.name, RERANK_RECENT)?;
            let rank_score = if rerank { rerank_score(h.score, usage) } else { h.score };
            out.push(ToolMatch { tool, similarity_score: h.score, rank_score, usage });
        }
        out.sort_by(|a, b| b.rank_score.total_cmp(&a.rank_score));
        out.truncate(limit);
        Ok(out)
    }

    /// The seed's `search_tool`: the best tool whose similarity reaches `threshold`
    /// (default [`index::DEFAULT_MIN_SCORE`]), or none.
    pub fn search_tool(
        &mut self,
        query: &str,
        threshold: Option<f32>,
        rerank: bool,
    ) -> anyhow::Result<Option<ToolMatch>> {
        let threshold = threshold.unwrap_or(index::DEFAULT_MIN_SCORE);
        Ok(self.search(query, 10, SearchMode::Hybrid, rerank)?.into_iter().find(|m| m.similarity_score >= threshold))
    }

    pub fn get_tool_by_name(&self, name: &str) -> anyhow::Result<Option<ToolRecord>> {
        Ok(self.store.get(name)?)
    }

    pub fn get_all_tools(&self) -> anyhow::Result<Vec<ToolRecord>> {
        Ok(self.store.all()?)
    }

    pub fn count_tools(&self) -> anyhow::Result<usize> {
        Ok(self.store.count()?)
    }

    pub fn delete_tool(&mut self, name: &str) -> anyhow::Result<bool> {
        self.refresh()?;
        if !self.store.delete(name)? {
            return Ok(false);
        }
        self.index_change(name, |index| index.remove(name).map(|_| ()));
        Ok(true)
    }

    /// Apply one change to the index after the store committed it. The index claims the new
    /// generation only if it held the previous one: a change another process slipped in between
    /// leaves it stale, and `refresh` rebuilds it.
    fn index_change(&mut self, name: &str, change: impl FnOnce(&mut SearchIndex) -> anyhow::Result<()>) {
        let result = (|| -> anyhow::Result<()> {
            let now = self.store.generation()?;
            let in_step = self.index.fingerprint() == fingerprint_of(now.saturating_sub(1));
            change(&mut self.index)?;
            if in_step {
                self.index.set_fingerprint(fingerprint_of(now));
            }
            self.index.commit()
        })();
        if let Err(e) = result {
            tracing::warn!("tool {name}: store updated, index update failed (rebuilt when next opened): {e:#}");
        }
    }

    /// The seed's `cleanup_orphaned_tools`: rows whose files are gone. Returns their names.
    pub fn cleanup_orphaned_tools(&mut self) -> anyhow::Result<Vec<String>> {
        let gone = self.store.cleanup_orphans()?;
        if !gone.is_empty() {
            self.rebuild_index("orphans removed")?;
        }
        Ok(gone)
    }

    pub fn log_execution(&self, e: &Execution<'_>) -> anyhow::Result<()> {
        self.store.log_execution(e)?;
        Ok(())
    }
}

/// What an index records to say which store generation it was built from.
fn fingerprint_of(generation: u64) -> String {
    format!("generation:{generation}")
}

/// Open only the store: enough to run a registered tool, without loading the embedding model.
pub fn open_store(paths: &Paths) -> anyhow::Result<Store> {
    Ok(Store::open(&paths.db_path(), &paths.tools_dir())?)
}

/// The usage re-rank: score + w·c·(success_rate − ½), where c = min(runs, 10)/10 is how much
/// history there is. Bounded by ±w/2, so it reorders close candidates and never turns an
/// irrelevant tool into a relevant one.
pub fn rerank_score(score: f32, usage: Usage) -> f32 {
    match usage.success_rate() {
        None => score,
        Some(rate) => {
            let confidence = usage.runs.min(10) as f32 / 10.0;
            score + RERANK_WEIGHT * confidence * (rate as f32 - 0.5)
        }
    }
}

fn index_doc(t: &ToolRecord) -> IndexDoc {
    IndexDoc { name: t.name.clone(), description: t.docstring.clone(), params: params_of(&t.parameters) }
}

/// Parameter names and descriptions from a JSON Schema object.
fn params_of(schema: &serde_json::Value) -> Vec<ParamDoc> {
    schema
        .get("properties")
        .and_then(|p| p.as_object())
        .map(|props| {
            props
                .iter()
                .map(|(name, s)| ParamDoc {
                    name: name.clone(),
                    description: s.get("description").and_then(|d| d.as_str()).unwrap_or_default().to_string(),
                })
                .collect()
        })
        .unwrap_or_default()
}
