//! Text embeddings: the blocking [`Embedder`] trait (CPU models), the [`AsyncEmbedder`] trait
//! the registry uses (a CPU model on blocking threads, or a service over HTTP), the local
//! all-MiniLM-L6-v2 model run with candle on the CPU ([`LocalMiniLm`]), and a content-addressed
//! cache in SQLite ([`CachedEmbedder`], [`CachedAsync`]).
//!
//! Indexes are keyed by the embedder's id: vectors from two embedders are never mixed in one index.

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};
use tokenizers::{PaddingParams, Tokenizer, TruncationParams};

/// Turns texts into vectors of [`Embedder::dim`] floats. Object-safe: the registry holds a
/// `Box<dyn Embedder>` (the local model, or an OpenAI-compatible service).
pub trait Embedder: Send + Sync {
    /// Names the model and its dimensions, e.g. `local:all-MiniLM-L6-v2:384`. An index built with one
    /// id is rebuilt when opened with another.
    fn id(&self) -> String;
    /// Length of every vector [`Embedder::embed`] returns.
    fn dim(&self) -> usize;
    /// One vector per text, in order.
    fn embed(&self, texts: &[&str]) -> anyhow::Result<Vec<Vec<f32>>>;
}

impl<E: Embedder + ?Sized> Embedder for Box<E> {
    fn id(&self) -> String {
        (**self).id()
    }
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn embed(&self, texts: &[&str]) -> anyhow::Result<Vec<Vec<f32>>> {
        (**self).embed(texts)
    }
}

/// A batch of vectors, later; a failure keeps its kind (an unreachable service is `llm`).
pub type EmbedFuture<'a> = Pin<Box<dyn Future<Output = crate::Result<Vec<Vec<f32>>>> + Send + 'a>>;

/// What the registry embeds with: never blocks the async thread it is awaited on.
pub trait AsyncEmbedder: Send + Sync {
    /// See [`Embedder::id`].
    fn id(&self) -> String;
    /// Length of every vector.
    fn dim(&self) -> usize;
    /// One vector per text, in order.
    fn embed(&self, texts: Vec<String>) -> EmbedFuture<'_>;
}

/// A blocking [`Embedder`] made an [`AsyncEmbedder`]: each batch runs on Tokio's blocking threads.
pub struct OnBlockingThreads<E>(pub Arc<E>);

impl<E: Embedder + 'static> AsyncEmbedder for OnBlockingThreads<E> {
    fn id(&self) -> String {
        self.0.id()
    }
    fn dim(&self) -> usize {
        self.0.dim()
    }
    fn embed(&self, texts: Vec<String>) -> EmbedFuture<'_> {
        let inner = self.0.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                inner.embed(&refs).map_err(|e| crate::Error::Internal(format!("embedding failed: {e:#}")))
            })
            .await?
        })
    }
}

/// Directory name of the local model (see `runtime::model_dir` for where it is looked for).
pub const MINILM_DIR_NAME: &str = crate::runtime::MODEL_DIR_NAME;
/// Longest input, in tokens; longer texts are cut (the model was trained on 256-token pieces).
pub const MINILM_MAX_TOKENS: usize = 256;
/// Texts embedded in one forward pass; larger batches only pad more.
const MINILM_BATCH: usize = 32;
const MINILM_FILES: [&str; 3] = ["model.safetensors", "tokenizer.json", "config.json"];

/// sentence-transformers' all-MiniLM-L6-v2 (BERT, 6 layers, 384 dimensions) on the CPU: mean pooling
/// over the attention mask, then L2 normalisation, so a dot product is the cosine.
pub struct LocalMiniLm {
    model: BertModel,
    tokenizer: Tokenizer,
    device: Device,
    dim: usize,
}

impl LocalMiniLm {
    /// Loads the model from `dir` (`model.safetensors`, `tokenizer.json`, `config.json`), offline.
    /// A missing file is an error that says to run `scripts/fetch-model.sh`.
    pub fn load(dir: &Path) -> anyhow::Result<LocalMiniLm> {
        for f in MINILM_FILES {
            if !dir.join(f).is_file() {
                bail!(
                    "the local embedding model is missing: {} not found; run scripts/fetch-model.sh \
                     (it downloads all-MiniLM-L6-v2 into $TOOLSMITH_CACHE/models)",
                    dir.join(f).display()
                );
            }
        }
        let config: Config = serde_json::from_slice(&std::fs::read(dir.join("config.json"))?)
            .with_context(|| format!("reading {}", dir.join("config.json").display()))?;
        let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", dir.join("tokenizer.json").display()))?;
        tokenizer
            .with_truncation(Some(TruncationParams { max_length: MINILM_MAX_TOKENS, ..Default::default() }))
            .map_err(|e| anyhow::anyhow!("configuring truncation: {e}"))?;
        tokenizer.with_padding(Some(PaddingParams::default()));
        let device = Device::Cpu;
        let weights = std::fs::read(dir.join("model.safetensors"))
            .with_context(|| format!("reading {}", dir.join("model.safetensors").display()))?;
        let mut tensors = candle_core::safetensors::load_buffer(&weights, &device)?;
        drop(weights);
        // candle's Linear multiplies by `weight.t()`. Stored as is (out × in, row-major), that
        // transpose is strided, and gemm re-packs the whole weight matrix on every call: for a
        // short query, packing was ~75% of the forward pass. Keeping each linear weight as the
        // transpose of a row-major (in × out) matrix makes `weight.t()` contiguous: measured
        // 8.8–14 ms instead of 14.8–25 ms for a 6-token query, same vectors.
        for (name, t) in tensors.iter_mut() {
            if t.rank() == 2 && name.ends_with(".weight") && !name.contains("embeddings") {
                *t = t.to_dtype(DType::F32)?.t()?.contiguous()?.t()?;
            }
        }
        let vb = VarBuilder::from_tensors(tensors, DType::F32, &device);
        let model =
            BertModel::load(vb, &config).with_context(|| format!("loading BERT weights from {}", dir.display()))?;
        Ok(LocalMiniLm { model, tokenizer, device, dim: config.hidden_size })
    }

    fn embed_batch(&self, texts: &[&str]) -> anyhow::Result<Vec<Vec<f32>>> {
        let encodings =
            self.tokenizer.encode_batch(texts.to_vec(), true).map_err(|e| anyhow::anyhow!("tokenizing: {e}"))?;
        let len = encodings.first().map_or(0, |e| e.get_ids().len());
        let ids: Vec<u32> = encodings.iter().flat_map(|e| e.get_ids().iter().copied()).collect();
        let mask: Vec<u32> = encodings.iter().flat_map(|e| e.get_attention_mask().iter().copied()).collect();
        let ids = Tensor::from_vec(ids, (texts.len(), len), &self.device)?;
        let mask = Tensor::from_vec(mask, (texts.len(), len), &self.device)?;
        let token_types = ids.zeros_like()?;
        let hidden = self.model.forward(&ids, &token_types, Some(&mask))?; // (batch, len, dim)
        // Mean over the real tokens only: padding must not pull the average.
        let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?; // (batch, len, 1)
        let summed = hidden.broadcast_mul(&mask)?.sum(1)?; // (batch, dim)
        let counts = mask.sum(1)?; // (batch, 1)
        let mean = summed.broadcast_div(&counts)?;
        let norms = mean.sqr()?.sum_keepdim(1)?.sqrt()?;
        let unit = mean.broadcast_div(&norms)?;
        Ok(unit.to_vec2::<f32>()?)
    }
}

impl Embedder for LocalMiniLm {
    fn id(&self) -> String {
        format!("local:{MINILM_DIR_NAME}:{}", self.dim)
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn embed(&self, texts: &[&str]) -> anyhow::Result<Vec<Vec<f32>>> {
        // A batch is padded to its longest text: batch texts of similar length together, then put
        // the vectors back in the caller's order.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| texts[i].len());
        let mut out = vec![Vec::new(); texts.len()];
        for chunk in order.chunks(MINILM_BATCH) {
            let batch: Vec<&str> = chunk.iter().map(|&i| texts[i]).collect();
            for (&i, v) in chunk.iter().zip(self.embed_batch(&batch)?) {
                out[i] = v;
            }
        }
        Ok(out)
    }
}

/// Vectors kept in the SQLite table `embedding_cache(model, hash, vector)`, keyed by the
/// embedder's id and the SHA-256 of the text, so a text is embedded once per model.
pub struct EmbeddingCache {
    model: String,
    conn: Mutex<Connection>,
}

impl EmbeddingCache {
    /// The cache for vectors of `model`, in `conn` (the table is created if missing). The
    /// connection waits up to 5 s for a lock held by another writer of the same database, and
    /// commits without waiting for the disk (`synchronous = NORMAL`): a cache row lost to a power
    /// cut is only recomputed, and a query's embedding should not pay an fsync.
    pub fn new(model: String, conn: Connection) -> anyhow::Result<EmbeddingCache> {
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(
            "PRAGMA synchronous = NORMAL;
             CREATE TABLE IF NOT EXISTS embedding_cache (
                 model TEXT NOT NULL,
                 hash TEXT NOT NULL,
                 vector BLOB NOT NULL,
                 PRIMARY KEY (model, hash)
             )",
        )
        .context("creating the embedding_cache table")?;
        Ok(EmbeddingCache { model, conn: Mutex::new(conn) })
    }

    fn connection(&self) -> anyhow::Result<std::sync::MutexGuard<'_, Connection>> {
        self.conn.lock().map_err(|_| anyhow::anyhow!("embedding cache lock poisoned"))
    }

    /// The cached vectors among `hashes` (of `dim` floats; a row of another length, corrupt,
    /// counts as a miss). A cache that cannot be read is logged and counts as empty: it is an
    /// optimisation and never fails an embedding.
    fn lookup(&self, hashes: &[String], dim: usize) -> HashMap<String, Vec<f32>> {
        let found = (|| -> anyhow::Result<HashMap<String, Vec<f32>>> {
            let conn = self.connection()?;
            let mut stmt = conn.prepare_cached("SELECT vector FROM embedding_cache WHERE model = ?1 AND hash = ?2")?;
            let mut found = HashMap::new();
            for h in hashes {
                if found.contains_key(h) {
                    continue;
                }
                let blob: Option<Vec<u8>> = stmt.query_row(params![self.model, h], |r| r.get(0)).optional()?;
                if let Some(v) = blob.map(|b| blob_to_vector(&b)).filter(|v| v.len() == dim) {
                    found.insert(h.clone(), v);
                }
            }
            Ok(found)
        })();
        found.unwrap_or_else(|e| {
            tracing::warn!(model = %self.model, "embedding cache unreadable, embedding anyway: {e:#}");
            HashMap::new()
        })
    }

    /// Remember vectors; a failure is logged (the next call embeds again).
    fn store(&self, hashes: &[String], vectors: &[Vec<f32>]) {
        let stored = (|| -> anyhow::Result<()> {
            let mut conn = self.connection()?;
            let tx = conn.transaction()?;
            {
                let mut ins = tx.prepare_cached(
                    "INSERT OR REPLACE INTO embedding_cache (model, hash, vector) VALUES (?1, ?2, ?3)",
                )?;
                for (h, v) in hashes.iter().zip(vectors) {
                    ins.execute(params![self.model, h, vector_to_blob(v)])?;
                }
            }
            tx.commit()?;
            Ok(())
        })();
        if let Err(e) = stored {
            tracing::warn!(model = %self.model, "embedding cache not updated: {e:#}");
        }
    }
}

/// What one cached embedding needs from the inner embedder: the distinct texts the cache missed,
/// each once.
struct Misses {
    hashes: Vec<String>,
    found: HashMap<String, Vec<f32>>,
    miss_texts: Vec<String>,
    miss_hashes: Vec<String>,
}

impl Misses {
    fn of(cache: &EmbeddingCache, texts: &[&str], dim: usize) -> Misses {
        let hashes: Vec<String> = texts.iter().map(|t| text_hash(t)).collect();
        let found = cache.lookup(&hashes, dim);
        let (mut miss_texts, mut miss_hashes) = (Vec::new(), Vec::<String>::new());
        for (t, h) in texts.iter().zip(&hashes) {
            if !found.contains_key(h) && !miss_hashes.contains(h) {
                miss_texts.push(t.to_string());
                miss_hashes.push(h.clone());
            }
        }
        Misses { hashes, found, miss_texts, miss_hashes }
    }

    /// Store what the inner embedder made and answer in the caller's order.
    fn fill(mut self, cache: &EmbeddingCache, vectors: Vec<Vec<f32>>) -> anyhow::Result<Vec<Vec<f32>>> {
        if vectors.len() != self.miss_texts.len() {
            bail!("{} returned {} vectors for {} texts", cache.model, vectors.len(), self.miss_texts.len());
        }
        if !vectors.is_empty() {
            tracing::debug!(model = %cache.model, hits = self.hashes.len() - vectors.len(), misses = vectors.len(), "embedding cache");
            cache.store(&self.miss_hashes, &vectors);
        }
        self.found.extend(self.miss_hashes.into_iter().zip(vectors));
        Ok(self.hashes.iter().map(|h| self.found[h].clone()).collect())
    }
}

/// A blocking [`Embedder`] that remembers (see [`EmbeddingCache`]). Misses of one call are
/// embedded in one batch.
pub struct CachedEmbedder<E> {
    inner: E,
    cache: EmbeddingCache,
}

impl<E: Embedder> CachedEmbedder<E> {
    /// Wraps `inner`, keeping vectors in `conn`.
    pub fn new(inner: E, conn: Connection) -> anyhow::Result<CachedEmbedder<E>> {
        let cache = EmbeddingCache::new(inner.id(), conn)?;
        Ok(CachedEmbedder { inner, cache })
    }

    /// The wrapped embedder.
    pub fn inner(&self) -> &E {
        &self.inner
    }
}

impl<E: Embedder> Embedder for CachedEmbedder<E> {
    fn id(&self) -> String {
        self.cache.model.clone()
    }
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    fn embed(&self, texts: &[&str]) -> anyhow::Result<Vec<Vec<f32>>> {
        let misses = Misses::of(&self.cache, texts, self.dim());
        let refs: Vec<&str> = misses.miss_texts.iter().map(String::as_str).collect();
        let vectors = if refs.is_empty() { Vec::new() } else { self.inner.embed(&refs)? };
        misses.fill(&self.cache, vectors)
    }
}

/// An [`AsyncEmbedder`] that remembers; the cache's SQLite work runs on blocking threads.
pub struct CachedAsync<A> {
    inner: A,
    cache: Arc<EmbeddingCache>,
}

impl<A: AsyncEmbedder> CachedAsync<A> {
    /// Wraps `inner`, keeping vectors in `conn`.
    pub fn new(inner: A, conn: Connection) -> anyhow::Result<CachedAsync<A>> {
        let cache = Arc::new(EmbeddingCache::new(inner.id(), conn)?);
        Ok(CachedAsync { inner, cache })
    }
}

impl<A: AsyncEmbedder> AsyncEmbedder for CachedAsync<A> {
    fn id(&self) -> String {
        self.cache.model.clone()
    }
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    fn embed(&self, texts: Vec<String>) -> EmbedFuture<'_> {
        Box::pin(async move {
            let (cache, dim) = (self.cache.clone(), self.dim());
            let misses = tokio::task::spawn_blocking(move || {
                let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                Misses::of(&cache, &refs, dim)
            })
            .await?;
            let vectors = if misses.miss_texts.is_empty() {
                Vec::new()
            } else {
                self.inner.embed(misses.miss_texts.clone()).await?
            };
            let cache = self.cache.clone();
            tokio::task::spawn_blocking(move || misses.fill(&cache, vectors))
                .await?
                .map_err(|e| crate::Error::Internal(format!("{e:#}")))
        })
    }
}

fn text_hash(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// A vector as stored in SQLite: little-endian f32s.
pub fn vector_to_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// [`vector_to_blob`] undone.
pub fn blob_to_vector(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// Cosine similarity of two vectors (0 when either is all zeros).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (mut dot, mut na, mut nb) = (0.0f32, 0.0f32, 0.0f32);
    for (x, y) in a.iter().zip(b) {
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na == 0.0 || nb == 0.0 { 0.0 } else { dot / (na.sqrt() * nb.sqrt()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts the texts it is asked to embed; vectors are derived from the text's length.
    struct Counting(std::sync::atomic::AtomicUsize);

    impl Embedder for Counting {
        fn id(&self) -> String {
            "counting:2".into()
        }
        fn dim(&self) -> usize {
            2
        }
        fn embed(&self, texts: &[&str]) -> anyhow::Result<Vec<Vec<f32>>> {
            self.0.fetch_add(texts.len(), std::sync::atomic::Ordering::SeqCst);
            Ok(texts.iter().map(|t| vec![t.len() as f32, 1.0]).collect())
        }
    }

    #[test]
    fn cache_embeds_each_distinct_text_once() {
        let cached = CachedEmbedder::new(Counting(0.into()), Connection::open_in_memory().unwrap()).unwrap();
        let first = cached.embed(&["ab", "abc", "ab"]).unwrap();
        assert_eq!(first, vec![vec![2.0, 1.0], vec![3.0, 1.0], vec![2.0, 1.0]]);
        assert_eq!(cached.inner().0.load(std::sync::atomic::Ordering::SeqCst), 2);
        let second = cached.embed(&["abc", "abcd"]).unwrap();
        assert_eq!(second, vec![vec![3.0, 1.0], vec![4.0, 1.0]]);
        assert_eq!(cached.inner().0.load(std::sync::atomic::Ordering::SeqCst), 3);
        let boxed: Box<dyn Embedder> = Box::new(cached);
        assert_eq!(boxed.id(), "counting:2");
    }

    #[test]
    fn a_broken_cache_still_embeds() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("cache.db");
        let cached = CachedEmbedder::new(Counting(0.into()), Connection::open(&db).unwrap()).unwrap();
        Connection::open(&db).unwrap().execute_batch("DROP TABLE embedding_cache").unwrap();
        assert_eq!(cached.embed(&["ab"]).unwrap(), vec![vec![2.0, 1.0]]);
        assert_eq!(cached.embed(&["ab"]).unwrap(), vec![vec![2.0, 1.0]]);
        assert_eq!(cached.inner().0.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[test]
    fn cosine_of_parallel_and_orthogonal_vectors() {
        assert!((cosine(&[1.0, 2.0], &[2.0, 4.0]) - 1.0).abs() < 1e-6);
        assert_eq!(cosine(&[1.0, 0.0], &[0.0, 3.0]), 0.0);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 0.0]), 0.0);
    }
}
