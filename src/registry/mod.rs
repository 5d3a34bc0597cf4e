//! CapabilityRegistry: the store of tools and the hybrid search over them.
//!
//! The store is the truth; the search index is derived from it and rebuilt whenever it does not
//! match the store's generation (missing, corrupt, other version, other embedder, or a crash
//! between the store's commit and the index's).
//!
//! Many callers at once: every method takes `&self`. Searches share the in-memory index behind a
//! read lock; changes to the set of tools take the home's write lock (see [`lock`]), so threads
//! of one process and other processes sharing the home (a CLI command while the server runs)
//! never see half a change. Blocking work (SQLite, the index, a CPU embedder) runs on Tokio's
//! blocking threads, inside these methods.

pub mod embed;
pub mod eval;
pub mod examples;
pub mod index;
pub mod lock;
pub mod store;
pub mod text;
pub mod tune;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use embed::AsyncEmbedder;
pub use examples::{Example, ExampleSource};
use index::{IndexDoc, IndexState, ParamDoc, SearchIndex, SearchMode};
pub use lock::{ReadLock, WriteLock};
pub use store::{ExampleAdded, ExampleRef, Execution, NewTool, PastRequest, Store, StoreError, ToolRecord, Usage};

/// Executions per tool that the usage re-rank looks at.
pub const RERANK_RECENT: u32 = 20;
/// Largest change the usage re-rank can make to a score: a tool that always fails loses at most
/// this much, one that always succeeds gains it, and a tool with no history is left alone.
pub const RERANK_WEIGHT: f32 = 0.1;

/// A search answer: the tool and how well it fits (the seed's `similarity_score`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
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
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct RebuildReport {
    pub tools: usize,
    pub reason: String,
    pub millis: f64,
}

/// What adding an example request to a tool did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExampleOutcome {
    /// Stored (and indexed).
    Added(Example),
    /// The tool has this request already, or one so close that it adds nothing
    /// ([`examples::NEAR_DUPLICATE_COSINE`]).
    Duplicate,
    /// The tool has [`examples::MAX_EXAMPLES_PER_TOOL`] examples, all written: none is dropped for
    /// a learned one.
    Full,
    /// There is no tool of that name.
    NoTool,
}

/// Which store counter a change of the index follows.
#[derive(Debug, Clone, Copy)]
enum Counter {
    Tools,
    Examples,
}

/// The registry. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct CapabilityRegistry {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<Store>,
    index: RwLock<SearchIndex>,
    index_dir: PathBuf,
    embedder: Arc<dyn AsyncEmbedder>,
    rebuilt: Mutex<Option<RebuildReport>>,
}

/// Run blocking work off the async threads.
pub(crate) async fn blocking<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> Result<R> {
    Ok(tokio::task::spawn_blocking(f).await?)
}

/// One store call off the async threads.
pub(crate) async fn on_store<R: Send + 'static>(
    store: &Arc<Store>,
    f: impl FnOnce(&Store) -> std::result::Result<R, StoreError> + Send + 'static,
) -> Result<R> {
    let st = store.clone();
    Ok(blocking(move || f(&st)).await??)
}

impl CapabilityRegistry {
    /// Open the registry over `store`, with its index in `index_dir`; an index that does not
    /// match the store is rebuilt (reported by [`CapabilityRegistry::take_rebuilt`]).
    pub async fn open(
        store: Arc<Store>,
        index_dir: PathBuf,
        embedder: Arc<dyn AsyncEmbedder>,
    ) -> Result<CapabilityRegistry> {
        let (id, dim, st, dir) = (embedder.id(), embedder.dim(), store.clone(), index_dir.clone());
        let (index, state, generation) = blocking(move || -> Result<_> {
            st.try_remove_debris()?;
            let _shared = st.read_lock()?;
            let (index, state) = SearchIndex::open(&dir, &id, dim).map_err(Error::internal)?;
            Ok((index, state, st.index_generations()?))
        })
        .await??;
        let reason = match &state {
            IndexState::NeedsRebuild(why) => Some(why.clone()),
            IndexState::Fresh => Some("no index on disk".to_string()),
            IndexState::Opened if index.fingerprint() != fingerprint_of(generation) => Some(format!(
                "index built from store generation {:?}, store is at {:?}",
                index.fingerprint(),
                fingerprint_of(generation)
            )),
            IndexState::Opened => None,
        };
        let reg = CapabilityRegistry {
            inner: Arc::new(Inner { store, index: RwLock::new(index), index_dir, embedder, rebuilt: Mutex::new(None) }),
        };
        if let Some(reason) = reason {
            let report = reg.rebuild_if(&reason, true).await?;
            // A new home's first (empty) index is no news.
            let quiet = state == IndexState::Fresh && report.as_ref().is_some_and(|r| r.tools == 0);
            if !quiet {
                *reg.inner.rebuilt.lock().unwrap_or_else(|p| p.into_inner()) = report;
            }
        }
        Ok(reg)
    }

    /// Why the index was rebuilt since the last call, if it was.
    pub fn take_rebuilt(&self) -> Option<RebuildReport> {
        self.inner.rebuilt.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.inner.store
    }

    pub fn embedder(&self) -> &Arc<dyn AsyncEmbedder> {
        &self.inner.embedder
    }

    fn fingerprint_in_memory(&self) -> String {
        self.inner.index.read().unwrap_or_else(|p| p.into_inner()).fingerprint().to_string()
    }

    /// Catch up with changes other processes made to the store (a CLI `tools add` while the
    /// server runs): reopen the index they updated, or rebuild it when they did not.
    pub async fn refresh(&self) -> Result<()> {
        let generation = on_store(&self.inner.store, Store::index_generations).await?;
        if self.fingerprint_in_memory() == fingerprint_of(generation) {
            return Ok(());
        }
        let inner = self.inner.clone();
        let reopened = blocking(move || -> Result<bool> {
            let _shared = inner.store.read_lock()?;
            let (id, dim) = (inner.embedder.id(), inner.embedder.dim());
            let (index, state) = SearchIndex::open(&inner.index_dir, &id, dim).map_err(Error::internal)?;
            let now = fingerprint_of(inner.store.index_generations()?);
            if state == IndexState::Opened && index.fingerprint() == now {
                *inner.index.write().unwrap_or_else(|p| p.into_inner()) = index;
                return Ok(true);
            }
            Ok(false)
        })
        .await??;
        if !reopened {
            let report = self.rebuild_if("the store was changed by another process", false).await?;
            if report.is_some() {
                *self.inner.rebuilt.lock().unwrap_or_else(|p| p.into_inner()) = report;
            }
        }
        Ok(())
    }

    /// Re-derive the whole index from the store (embeddings come from the cache when known).
    pub async fn rebuild_index(&self, reason: &str) -> Result<RebuildReport> {
        Ok(self.rebuild_if(reason, true).await?.expect("an unconditional rebuild reports"))
    }

    /// Rebuild under the write lock; unless `always`, only when the index on disk still does not
    /// match the store once the lock is held (another caller may have rebuilt meanwhile).
    async fn rebuild_if(&self, reason: &str, always: bool) -> Result<Option<RebuildReport>> {
        let t = std::time::Instant::now();
        let inner = self.inner.clone();
        let (lock, tools, generation) = blocking(move || -> Result<_> {
            let lock = inner.store.write_lock()?;
            let generation = inner.store.index_generations()?;
            if !always {
                let (id, dim) = (inner.embedder.id(), inner.embedder.dim());
                let (index, state) = SearchIndex::open(&inner.index_dir, &id, dim).map_err(Error::internal)?;
                if state == IndexState::Opened && index.fingerprint() == fingerprint_of(generation) {
                    *inner.index.write().unwrap_or_else(|p| p.into_inner()) = index;
                    return Ok((lock, None, generation));
                }
            }
            Ok((lock, Some((inner.store.all()?, inner.store.all_examples()?)), generation))
        })
        .await??;
        let Some((tools, mut examples)) = tools else { return Ok(None) };
        let docs: Vec<IndexDoc> = tools
            .iter()
            .map(|t| {
                let texts = examples.remove(&t.name).unwrap_or_default().into_iter().map(|e| e.text).collect();
                IndexDoc { examples: texts, ..index_doc(t) }
            })
            .collect();
        // One batch: descriptions, then every example in order.
        let mut texts: Vec<String> = docs.iter().map(IndexDoc::embedding_text).collect();
        texts.extend(docs.iter().flat_map(|d| d.examples.iter().cloned()));
        let mut vectors = if texts.is_empty() { vec![] } else { self.inner.embedder.embed(texts).await? };
        let mut example_vectors: Vec<Vec<Vec<f32>>> = Vec::with_capacity(docs.len());
        let mut rest = vectors.split_off(docs.len().min(vectors.len())).into_iter();
        for d in &docs {
            example_vectors.push(rest.by_ref().take(d.examples.len()).collect());
        }
        let n = docs.len();
        let inner = self.inner.clone();
        blocking(move || -> Result<()> {
            let pairs: Vec<(IndexDoc, Vec<f32>)> = docs.into_iter().zip(vectors).collect();
            let mut index = inner.index.write().unwrap_or_else(|p| p.into_inner());
            index
                .rebuild_with_examples(&pairs, &example_vectors, &fingerprint_of(generation))
                .map_err(Error::internal)?;
            drop(lock);
            Ok(())
        })
        .await??;
        tracing::info!(%reason, tools = n, "rebuilt the search index from the store");
        Ok(Some(RebuildReport { tools: n, reason: reason.into(), millis: t.elapsed().as_secs_f64() * 1e3 }))
    }

    /// The seed's `add_tool`: register a verified tool (store and index). The embedding is made
    /// first, so a failing embedder registers nothing; the store's commit is the point of
    /// registration, and an index that misses it is rebuilt on the next open.
    pub async fn add_tool(&self, new: NewTool) -> Result<ToolRecord> {
        self.add_tool_with_examples(new, &[]).await
    }

    /// [`CapabilityRegistry::add_tool`] with example requests of the tool (one request each; see
    /// [`examples::clean_all`]), stored in the same transaction and indexed with it. An unusable
    /// example is an `invalid_arguments` error naming it, and nothing is registered.
    pub async fn add_tool_with_examples(&self, new: NewTool, examples: &[String]) -> Result<ToolRecord> {
        store::validate_name(&new.name)?;
        let examples = examples::clean_all(examples).map_err(Error::InvalidArguments)?;
        let doc = IndexDoc {
            name: new.name.clone(),
            description: new.docstring.clone(),
            params: params_of(&new.parameters),
            examples: examples.clone(),
        };
        let mut texts = vec![doc.embedding_text()];
        texts.extend(examples.iter().cloned());
        let mut vectors = self.inner.embedder.embed(texts).await?;
        let example_vectors = vectors.split_off(1);
        let vector = vectors.remove(0);
        self.refresh().await?;
        let inner = self.inner.clone();
        blocking(move || -> Result<ToolRecord> {
            let lock = inner.store.write_lock()?;
            let rec = inner.store.add_with_examples(&new, &examples, &lock)?;
            inner.index_change(&new.name, &lock, Counter::Tools, |index| {
                index.upsert_with_examples(&doc, &vector, &example_vectors)
            });
            Ok(rec)
        })
        .await?
    }

    /// The vector of `text` as search embeds queries (cached): for ranking things that are not
    /// in the index, such as composite tools.
    pub async fn embed_query(&self, text: &str) -> Result<Vec<f32>> {
        Ok(self.inner.embedder.embed(vec![text.to_string()]).await?.remove(0))
    }

    /// A tool's example requests, oldest first; `None` when there is no such tool.
    pub async fn examples(&self, name: &str) -> Result<Option<Vec<Example>>> {
        let name = name.to_string();
        on_store(&self.inner.store, move |st| if st.exists(&name)? { st.examples(&name).map(Some) } else { Ok(None) })
            .await
    }

    /// Add an example request to a tool (store and index): refused as a duplicate when the tool
    /// has the same or a nearly identical request; when the tool is full, the most redundant
    /// older learned example makes room ([`examples::eviction`]). An unusable text (empty, too
    /// long, control characters) is an `invalid_arguments` error.
    pub async fn add_example(&self, name: &str, text: &str, source: ExampleSource) -> Result<ExampleOutcome> {
        let text = examples::clean(text).map_err(Error::InvalidArguments)?;
        self.refresh().await?;
        let Some((tool, existing, mut vectors)) = self.tool_with_vectors(name, Some(&text)).await? else {
            return Ok(ExampleOutcome::NoTool);
        };
        let new_vector = vectors.get(&text).cloned().ok_or_else(|| Error::internal("the example was not embedded"))?;
        let existing_vectors: Vec<Vec<f32>> = existing.iter().filter_map(|e| vectors.get(&e.text).cloned()).collect();
        if examples::near_duplicate(&new_vector, &existing_vectors) {
            return Ok(ExampleOutcome::Duplicate);
        }
        let evict = if existing.len() >= examples::MAX_EXAMPLES_PER_TOOL {
            match examples::eviction(&existing, &existing_vectors) {
                Some(i) => Some(existing[i].id),
                None => return Ok(ExampleOutcome::Full),
            }
        } else {
            None
        };
        vectors.insert(text.clone(), new_vector);
        let (inner, name) = (self.inner.clone(), name.to_string());
        blocking(move || -> Result<ExampleOutcome> {
            let lock = inner.store.write_lock()?;
            match inner.store.add_example(&name, &text, source, evict, &lock)? {
                ExampleAdded::Added(e) => {
                    inner.reindex_examples(&tool, &vectors, &lock);
                    Ok(ExampleOutcome::Added(e))
                }
                ExampleAdded::Duplicate => Ok(ExampleOutcome::Duplicate),
                ExampleAdded::NoTool => Ok(ExampleOutcome::NoTool),
            }
        })
        .await?
    }

    /// Remove one example of a tool (store and index); the example removed, or `None` when the
    /// tool has no such example (or there is no such tool).
    pub async fn remove_example(&self, name: &str, which: ExampleRef<'_>) -> Result<Option<Example>> {
        self.refresh().await?;
        let Some((tool, _, vectors)) = self.tool_with_vectors(name, None).await? else { return Ok(None) };
        let (inner, name) = (self.inner.clone(), name.to_string());
        let which = match which {
            ExampleRef::Id(id) => Ok(id),
            ExampleRef::Text(t) => Err(t.to_string()),
        };
        blocking(move || -> Result<Option<Example>> {
            let lock = inner.store.write_lock()?;
            let which = match &which {
                Ok(id) => ExampleRef::Id(*id),
                Err(t) => ExampleRef::Text(t),
            };
            let removed = inner.store.remove_example(&name, which, &lock)?;
            if removed.is_some() {
                inner.reindex_examples(&tool, &vectors, &lock);
            }
            Ok(removed)
        })
        .await?
    }

    /// A tool, its examples, and the embeddings of its text, of each example and of `extra`,
    /// keyed by text (from the embedder's cache, but for what is new).
    async fn tool_with_vectors(
        &self,
        name: &str,
        extra: Option<&str>,
    ) -> Result<Option<(ToolRecord, Vec<Example>, HashMap<String, Vec<f32>>)>> {
        let n = name.to_string();
        let found = on_store(&self.inner.store, move |st| -> std::result::Result<_, StoreError> {
            let Some(tool) = st.get(&n)? else { return Ok(None) };
            Ok(Some((tool, st.examples(&n)?)))
        })
        .await?;
        let Some((tool, existing)) = found else { return Ok(None) };
        let mut texts = vec![index_doc(&tool).embedding_text()];
        texts.extend(existing.iter().map(|e| e.text.clone()));
        texts.extend(extra.map(str::to_string));
        let vectors = self.inner.embedder.embed(texts.clone()).await?;
        Ok(Some((tool, existing, texts.into_iter().zip(vectors).collect())))
    }

    /// Ranked matches for `query` (no threshold), re-ranked by usage when `rerank`.
    pub async fn search(&self, query: &str, limit: usize, mode: SearchMode, rerank: bool) -> Result<Vec<ToolMatch>> {
        self.refresh().await?;
        let embedding = match mode {
            SearchMode::Bm25 => None,
            _ => Some(self.inner.embedder.embed(vec![query.to_string()]).await?.remove(0)),
        };
        let (inner, query) = (self.inner.clone(), query.to_string());
        blocking(move || inner.search_blocking(&query, embedding.as_deref(), limit, mode, rerank)).await?
    }

    /// The seed's `search_tool`: the best tool whose similarity reaches `threshold`
    /// (default [`index::DEFAULT_MIN_SCORE`]), or none.
    pub async fn search_tool(&self, query: &str, threshold: Option<f32>, rerank: bool) -> Result<Option<ToolMatch>> {
        let threshold = threshold.unwrap_or(index::DEFAULT_MIN_SCORE);
        Ok(self
            .search(query, 10, SearchMode::Hybrid, rerank)
            .await?
            .into_iter()
            .find(|m| m.similarity_score >= threshold))
    }

    pub async fn get_tool_by_name(&self, name: &str) -> Result<Option<ToolRecord>> {
        let name = name.to_string();
        on_store(&self.inner.store, move |st| st.get(&name)).await
    }

    pub async fn get_all_tools(&self) -> Result<Vec<ToolRecord>> {
        on_store(&self.inner.store, Store::all).await
    }

    pub async fn count_tools(&self) -> Result<usize> {
        on_store(&self.inner.store, Store::count).await
    }

    /// Delete a tool from the store and the index; `false` when there was none.
    pub async fn delete_tool(&self, name: &str) -> Result<bool> {
        self.refresh().await?;
        let (inner, name) = (self.inner.clone(), name.to_string());
        blocking(move || -> Result<bool> {
            let lock = inner.store.write_lock()?;
            if !inner.store.delete(&name, &lock)? {
                return Ok(false);
            }
            inner.index_change(&name, &lock, Counter::Tools, |index| index.remove(&name).map(|_| ()));
            Ok(true)
        })
        .await?
    }

    /// Score past requests against the registry as it is now, for [`tune::tune`]: each one's
    /// tool's score and rank, and the best score of any other tool (for a request that needed a
    /// new tool, other than the one written for it). A tool's examples nearly identical to the
    /// request are not counted (the request itself was likely learned from it).
    pub async fn score_past_requests(&self, requests: &[PastRequest]) -> Result<Vec<tune::Outcome>> {
        self.refresh().await?;
        if requests.is_empty() {
            return Ok(Vec::new());
        }
        let vectors = self.inner.embedder.embed(requests.iter().map(|r| r.prompt.clone()).collect()).await?;
        let (inner, requests) = (self.inner.clone(), requests.to_vec());
        blocking(move || -> Result<Vec<tune::Outcome>> {
            let index = inner.index.read().unwrap_or_else(|p| p.into_inner());
            let fusion =
                index::FusionParams { ignore_examples_above: Some(examples::NEAR_DUPLICATE_COSINE), ..index.fusion() };
            let all = index.len();
            let mut out = Vec::with_capacity(requests.len());
            for (r, v) in requests.iter().zip(&vectors) {
                let hits =
                    index.search_with(&r.prompt, Some(v), all, SearchMode::Hybrid, &fusion).map_err(Error::internal)?;
                let right = hits.iter().position(|h| h.name == r.tool);
                let best_other = hits.iter().find(|h| h.name != r.tool).map_or(0.0, |h| h.score);
                out.push(tune::Outcome {
                    right: if r.synthesized { None } else { Some(right.map_or(0.0, |i| hits[i].score)) },
                    right_first: !r.synthesized && right == Some(0),
                    best_other,
                });
            }
            Ok(out)
        })
        .await?
    }

    /// The seed's `cleanup_orphaned_tools`: rows whose files are gone. Returns their names.
    pub async fn cleanup_orphaned_tools(&self) -> Result<Vec<String>> {
        let st = self.inner.store.clone();
        let gone = blocking(move || -> Result<Vec<String>> {
            let lock = st.write_lock()?;
            Ok(st.cleanup_orphans(&lock)?)
        })
        .await??;
        if !gone.is_empty() {
            self.rebuild_index("orphans removed").await?;
        }
        Ok(gone)
    }
}

impl Inner {
    /// Apply one change to the index after the store committed it, under the same write lock.
    /// The index claims the new generation only if it held the previous one; otherwise it stays
    /// stale and the next refresh rebuilds it.
    fn index_change(
        &self,
        name: &str,
        _lock: &WriteLock,
        counter: Counter,
        change: impl FnOnce(&mut SearchIndex) -> anyhow::Result<()>,
    ) {
        let result = (|| -> anyhow::Result<()> {
            let now = self.store.index_generations()?;
            let before = match counter {
                Counter::Tools => (now.0.saturating_sub(1), now.1),
                Counter::Examples => (now.0, now.1.saturating_sub(1)),
            };
            let mut index = self.index.write().unwrap_or_else(|p| p.into_inner());
            let in_step = index.fingerprint() == fingerprint_of(before);
            if !in_step {
                // Another process changed the tools since this index was loaded: load what it
                // committed, and apply the change only if that matches the previous generation.
                let (fresh, state) = SearchIndex::open(&self.index_dir, &self.embedder.id(), self.embedder.dim())?;
                if state != IndexState::Opened || fresh.fingerprint() != fingerprint_of(before) {
                    anyhow::bail!("the index on disk is behind the store");
                }
                *index = fresh;
            }
            change(&mut index)?;
            index.set_fingerprint(fingerprint_of(now));
            index.commit()
        })();
        if let Err(e) = result {
            tracing::warn!("tool {name}: store updated, index not (it is rebuilt on the next search): {e:#}");
        }
    }

    /// After a change of `tool`'s examples committed under `lock`: index the tool with the
    /// examples the store now holds, from `vectors` (text → embedding). A text without a vector
    /// (another writer changed the tool meanwhile) leaves the index stale, to be rebuilt.
    fn reindex_examples(&self, tool: &ToolRecord, vectors: &HashMap<String, Vec<f32>>, lock: &WriteLock) {
        let name = tool.name.clone();
        self.index_change(&name, lock, Counter::Examples, |index| {
            let now = self.store.get(&name)?.filter(|t| t == tool);
            let Some(now) = now else { anyhow::bail!("the tool changed meanwhile") };
            let texts: Vec<String> = self.store.examples(&name)?.into_iter().map(|e| e.text).collect();
            let doc = IndexDoc { examples: texts, ..index_doc(&now) };
            let missing = || anyhow::anyhow!("an example was added meanwhile");
            let vector = vectors.get(&doc.embedding_text()).ok_or_else(missing)?;
            let example_vectors: Vec<Vec<f32>> = doc
                .examples
                .iter()
                .map(|t| vectors.get(t).cloned().ok_or_else(missing))
                .collect::<anyhow::Result<_>>()?;
            index.upsert_with_examples(&doc, vector, &example_vectors)
        });
    }

    fn search_blocking(
        &self,
        query: &str,
        embedding: Option<&[f32]>,
        limit: usize,
        mode: SearchMode,
        rerank: bool,
    ) -> Result<Vec<ToolMatch>> {
        // Re-ranking can lift a tool from just below the cut: look a little deeper than asked.
        let depth = if rerank { limit.max(10) } else { limit };
        let hits = {
            let index = self.index.read().unwrap_or_else(|p| p.into_inner());
            index.search(query, embedding, depth, mode).map_err(Error::internal)?
        };
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
}

/// What an index records to say which store generations (tools, examples) it was built from.
fn fingerprint_of((tools, examples): (u64, u64)) -> String {
    format!("generation:{tools}+examples:{examples}")
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
    IndexDoc {
        name: t.name.clone(),
        description: t.docstring.clone(),
        params: params_of(&t.parameters),
        examples: Vec::new(),
    }
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
