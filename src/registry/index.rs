//! The hybrid search index over registered tools: BM25 (tantivy) over words, HNSW (usearch) over
//! embeddings, fused into one similarity in `[0, 1]`.
//!
//! The index is derived data: the store is the truth, and an index that is missing, corrupt, of
//! another format or built by another embedder is reported as [`IndexState::NeedsRebuild`] so the
//! caller rebuilds it from the store. Opening never panics on bad files.
//!
//! # On disk
//! `dir` belongs to the index entirely: `manifest.json` (format version, embedder id, dimensions,
//! document count, the caller's content fingerprint and a checksum of the vector file),
//! `text/` (tantivy) and `vectors.usearch`. [`SearchIndex::rebuild`] writes a sibling directory and
//! swaps it in by renaming, so a reader never sees half an index; [`SearchIndex::commit`] removes the
//! manifest first and writes it last, so a crash in between is seen as "manifest missing".
//!
//! # Scoring
//! See [`FusionParams`] for the formula and [`DEFAULT_MIN_SCORE`] for the "no tool fits" threshold.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::{FAST, Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value};
use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
};
use tantivy::{DocAddress, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

use super::embed::cosine;
use super::text::{STOP_WORDS, name_as_text};

/// Version of the on-disk layout; an index of another version is rebuilt.
pub const FORMAT_VERSION: u32 = 1;

/// Below this hybrid score, no registered tool fits the request (the caller synthesises one).
///
/// Why 0.5: it is chosen for precision, because a wrongly reused tool answers wrongly without a
/// word, while a miss only costs a synthesis. Measured on held-out MetaTool queries (6,967, with
/// `toolsmith eval retrieval`): when the right tool is *not* in the registry (simulated by the
/// best-scoring other tool), some tool still clears 0.5 for 8.7% of queries (33% at 0.4, 18% at
/// 0.45, 4% at 0.55); when it is there, it clears 0.5 for 31% of queries (51% at 0.4). MetaTool's
/// tools overlap (several weather and news tools), so the first figure overstates wrong fits, and
/// conversational MetaTool queries score lower than requests that paraphrase a docstring. A query
/// that is a tool's name scores 1.0.
pub const DEFAULT_MIN_SCORE: f32 = 0.5;

const MANIFEST: &str = "manifest.json";
const TEXT_DIR: &str = "text";
const VECTORS: &str = "vectors.usearch";
const ANALYZER: &str = "toolsmith_en";
const WRITER_MEMORY: usize = 50_000_000;

/// What the index knows of one tool: its name and the text it is found by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexDoc {
    /// The tool's name (unique in the index), e.g. `reverse_string`.
    pub name: String,
    /// The docstring or description.
    pub description: String,
    /// Parameters: name and description of each.
    #[serde(default)]
    pub params: Vec<ParamDoc>,
}

/// One parameter of a tool, as the index sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParamDoc {
    pub name: String,
    pub description: String,
}

impl IndexDoc {
    /// A tool with a description and no parameters.
    pub fn new(name: impl Into<String>, description: impl Into<String>) -> IndexDoc {
        IndexDoc { name: name.into(), description: description.into(), params: Vec::new() }
    }

    /// The text to embed for this tool: its name as words, then its description, then its
    /// parameters, e.g. `reverse string: Reverse a string. Parameters: text (the string to reverse).`
    /// Use the same function at indexing time and at evaluation time.
    pub fn embedding_text(&self) -> String {
        let mut s = format!("{}: {}", name_as_text(&self.name), self.description.trim());
        if !self.params.is_empty() {
            s.push_str(" Parameters: ");
            let parts: Vec<String> = self
                .params
                .iter()
                .map(|p| {
                    if p.description.trim().is_empty() {
                        name_as_text(&p.name)
                    } else {
                        format!("{} ({})", name_as_text(&p.name), p.description.trim())
                    }
                })
                .collect();
            s.push_str(&parts.join(", "));
            s.push('.');
        }
        s
    }

    fn params_text(&self) -> String {
        let parts: Vec<String> =
            self.params.iter().map(|p| format!("{} {}", name_as_text(&p.name), p.description)).collect();
        parts.join("\n")
    }
}

/// Which signals rank the hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchMode {
    /// BM25 and embeddings fused (see [`FusionParams`]); BM25 alone when no query embedding is given.
    #[default]
    Hybrid,
    /// Words only.
    Bm25,
    /// Embeddings only; needs a query embedding.
    Vector,
}

impl std::str::FromStr for SearchMode {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<SearchMode> {
        match s {
            "hybrid" => Ok(SearchMode::Hybrid),
            "bm25" => Ok(SearchMode::Bm25),
            "vector" => Ok(SearchMode::Vector),
            other => bail!("unknown search mode {other:?}: use hybrid, bm25 or vector"),
        }
    }
}

impl std::fmt::Display for SearchMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(match self {
            SearchMode::Hybrid => "hybrid",
            SearchMode::Bm25 => "bm25",
            SearchMode::Vector => "vector",
        })
    }
}

/// One search result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    pub name: String,
    /// The similarity the mode ranks by, in `[0, 1]`; compare with [`DEFAULT_MIN_SCORE`] in hybrid mode.
    pub score: f32,
    /// Raw BM25 score (unbounded), when the words were scored; 0 when no word matched.
    pub bm25: Option<f32>,
    /// Cosine similarity of the query and tool embeddings, when a query embedding was given.
    pub cosine: Option<f32>,
}

/// What [`SearchIndex::open_or_create`] found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexState {
    /// There was no index: an empty one was created.
    Fresh,
    /// A valid index of this format and embedder was opened; compare [`SearchIndex::fingerprint`]
    /// with the store's to know whether it is up to date.
    Opened,
    /// The files were missing, corrupt, of another format or of another embedder (the reason says
    /// which): they were replaced by an empty index, to be filled by [`SearchIndex::rebuild`].
    NeedsRebuild(String),
}

/// The contents of `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    pub embedder_id: String,
    pub dim: usize,
    pub doc_count: usize,
    /// Supplied by the caller (e.g. a hash of the store's tools), so it can tell a stale index.
    pub fingerprint: String,
    /// SHA-256 of `vectors.usearch`: the vector file is trusted only if it matches.
    pub vectors_sha256: String,
}

/// How the hybrid score is made.
///
/// ```text
/// bm25n  = bm25 / (bm25 + bm25_half)                       saturating, in [0, 1)
/// cos⁺   = max(cosine(query, tool), 0)                      in [0, 1]
/// fused  = dense_weight · cos⁺ + (1 − dense_weight) · bm25n in [0, 1]
/// score  = 1 if the query's words are the tool name's words, else fused
/// ```
///
/// Why this shape:
/// - A *score* fusion, not reciprocal rank fusion: RRF discards how far apart the candidates are, and
///   on MetaTool it ranked worse than dense retrieval alone. A convex combination of two
///   similarities in `[0, 1]` keeps the magnitudes, so the result is itself a similarity that one
///   threshold can cut ([`DEFAULT_MIN_SCORE`]).
/// - Dense-weighted: the embedding carries paraphrase ("find papers" ↔ "academic research"), BM25
///   mostly breaks ties on rare, exact words (names, jargon), so it gets the smaller weight.
/// - BM25 is unbounded and grows with the query's length; `b / (b + h)` maps it to `[0, 1)` without
///   depending on the other candidates (dividing by the query's best score would give a weak
///   one-word match the full 1.0 and make the threshold meaningless). `h` is the BM25 score that
///   counts as "half a match", about one rare word matched once.
/// - Exact name queries must win (`reverse string` → `reverse_string`): words are compared after the
///   same analysis as BM25 (split identifiers, lower-case, stop words removed, stemmed).
///
/// Tuned on a third of the MetaTool dev queries (every third line) and checked on the other two
/// thirds: the scores form a plateau (top-1 within 0.005 for `dense_weight` 0.7–0.85 with
/// `bm25_half` 4–16); other BM25 normalisations (by the query's best score, by the number of query
/// words) did no better. Held-out (top-1 / top-5 / MRR): 0.573 / 0.797 / 0.676; dense alone
/// 0.546 / 0.768 / 0.648, BM25 alone 0.410 / 0.634 / 0.508.
///
/// Candidates are the union of the `candidates` best of each signal; a vector-only candidate outside
/// the BM25 list gets its BM25 taken as 0 (it is below the `candidates`-th BM25 score anyway), a
/// BM25-only candidate gets its exact cosine from its stored vector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FusionParams {
    /// Weight of the cosine; `1 − dense_weight` goes to BM25.
    pub dense_weight: f32,
    /// The BM25 score that maps to 0.5.
    pub bm25_half: f32,
    /// How many candidates each signal contributes before fusion.
    pub candidates: usize,
    /// BM25 boost of the name's words over the description's.
    pub name_boost: f32,
    /// BM25 boost of the parameters' words.
    pub params_boost: f32,
}

impl Default for FusionParams {
    fn default() -> FusionParams {
        FusionParams { dense_weight: 0.8, bm25_half: 8.0, candidates: 50, name_boost: 1.5, params_boost: 0.5 }
    }
}

#[derive(Clone, Copy)]
struct Fields {
    name: Field,
    key: Field,
    name_words: Field,
    description: Field,
    params: Field,
}

fn schema() -> (Schema, Fields) {
    let mut sb = Schema::builder();
    let words = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default().set_tokenizer(ANALYZER).set_index_option(IndexRecordOption::WithFreqs),
    );
    let fields = Fields {
        name: sb.add_text_field("name", STRING | STORED),
        key: sb.add_u64_field("key", FAST),
        name_words: sb.add_text_field("name_words", words.clone()),
        description: sb.add_text_field("description", words.clone()),
        params: sb.add_text_field("params", words),
    };
    (sb.build(), fields)
}

/// Lower-case, drop long tokens and stop words, stem (English).
fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(StopWordFilter::remove(STOP_WORDS.iter().map(|w| w.to_string())))
        .filter(Stemmer::new(Language::English))
        .build()
}

fn analyze(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut stream = analyzer.token_stream(text);
    let mut out = Vec::new();
    while let Some(t) = stream.next() {
        out.push(t.text.clone());
    }
    out
}

/// The vector key of a name: the first 8 bytes of its SHA-256.
fn key_of(name: &str) -> u64 {
    let d = Sha256::digest(name.as_bytes());
    u64::from_le_bytes(d[..8].try_into().expect("8 bytes"))
}

fn vector_options(dim: usize) -> usearch::IndexOptions {
    usearch::IndexOptions {
        dimensions: dim,
        metric: usearch::MetricKind::Cos,
        // The default is BF16: keep full precision (the vectors are small, and scores are compared
        // with a threshold).
        quantization: usearch::ScalarKind::F32,
        connectivity: 0,
        expansion_add: 0,
        expansion_search: 0,
        multi: false,
    }
}

/// The hybrid index. See the module documentation.
pub struct SearchIndex {
    dir: PathBuf,
    embedder_id: String,
    dim: usize,
    fields: Fields,
    analyzer: TextAnalyzer,
    text: tantivy::Index,
    reader: IndexReader,
    writer: Option<IndexWriter<TantivyDocument>>,
    vectors: usearch::Index,
    /// Vector key → tool name, for every document.
    names: HashMap<u64, String>,
    fingerprint: String,
    fusion: FusionParams,
}

impl SearchIndex {
    /// Opens the index in `dir`, or creates an empty one. Never fails because of what is in `dir`:
    /// bad files give [`IndexState::NeedsRebuild`] and an empty index. Fails only when `dir`
    /// cannot be written.
    pub fn open_or_create(dir: &Path, embedder_id: &str, dim: usize) -> anyhow::Result<(SearchIndex, IndexState)> {
        remove_debris(dir);
        let manifest_path = dir.join(MANIFEST);
        let has_files = [MANIFEST, TEXT_DIR, VECTORS].iter().any(|f| dir.join(f).exists());
        if !has_files {
            let index = Self::create_empty(dir, embedder_id, dim, "")?;
            return Ok((index, IndexState::Fresh));
        }
        let reason = match Self::open_existing(dir, embedder_id, dim) {
            Ok(index) => return Ok((index, IndexState::Opened)),
            Err(e) => format!("{e:#}"),
        };
        tracing::warn!(dir = %dir.display(), %reason, "search index needs a rebuild");
        let _ = std::fs::remove_file(&manifest_path);
        let index = Self::create_empty(dir, embedder_id, dim, "")?;
        Ok((index, IndexState::NeedsRebuild(reason)))
    }

    fn open_existing(dir: &Path, embedder_id: &str, dim: usize) -> anyhow::Result<SearchIndex> {
        let raw = std::fs::read(dir.join(MANIFEST)).context("manifest missing")?;
        let manifest: Manifest = serde_json::from_slice(&raw).context("manifest unreadable")?;
        if manifest.format_version != FORMAT_VERSION {
            bail!("index format {} (this build reads {FORMAT_VERSION})", manifest.format_version);
        }
        if manifest.embedder_id != embedder_id || manifest.dim != dim {
            bail!("built by embedder {} ({} dims), now {embedder_id} ({dim} dims)", manifest.embedder_id, manifest.dim);
        }
        let vectors_path = dir.join(VECTORS);
        let bytes = std::fs::read(&vectors_path).context("vector file missing")?;
        if hex::encode(Sha256::digest(&bytes)) != manifest.vectors_sha256 {
            bail!("vector file corrupt (checksum differs from the manifest)");
        }
        let vectors = usearch::Index::new(&vector_options(dim)).context("creating the vector index")?;
        vectors.load_from_buffer(&bytes).map_err(|e| anyhow::anyhow!("vector file unreadable: {e}"))?;
        drop(bytes);
        if vectors.dimensions() != dim || vectors.scalar_kind() != usearch::ScalarKind::F32 {
            bail!("vector file has {} dims or another scalar kind", vectors.dimensions());
        }

        let text = tantivy::Index::open_in_dir(dir.join(TEXT_DIR)).context("text index unreadable")?;
        let corrupt = text.validate_checksum().context("text index unreadable")?;
        if !corrupt.is_empty() {
            bail!("text index corrupt: {} file(s) fail their checksum", corrupt.len());
        }
        let (expected_schema, fields) = schema();
        if text.schema() != expected_schema {
            bail!("text index has another schema");
        }
        let mut index = Self::assemble(dir, embedder_id, dim, fields, text, vectors, &manifest.fingerprint)?;
        index.load_names()?;
        let (n_text, n_vec) = (index.names.len(), index.vectors.size());
        if n_text != manifest.doc_count || n_vec != manifest.doc_count {
            bail!("document counts differ: manifest {}, text {n_text}, vectors {n_vec}", manifest.doc_count);
        }
        if let Some(missing) = index.names.keys().find(|k| !index.vectors.contains(**k)) {
            bail!("tool {:?} has no vector", index.names[missing]);
        }
        Ok(index)
    }

    /// Reads name and key of every live document.
    fn load_names(&mut self) -> anyhow::Result<()> {
        let searcher = self.reader.searcher();
        let mut names = HashMap::new();
        for segment in searcher.segment_readers() {
            let store = segment.get_store_reader(1)?;
            for doc_id in segment.doc_ids_alive() {
                let doc: TantivyDocument = store.get(doc_id)?;
                let name = doc
                    .get_first(self.fields.name)
                    .and_then(|v| v.as_str())
                    .context("a document has no name")?
                    .to_string();
                names.insert(key_of(&name), name);
            }
        }
        self.names = names;
        Ok(())
    }

    /// An empty index written to `dir` (its previous index files, if any, are replaced).
    fn create_empty(dir: &Path, embedder_id: &str, dim: usize, fingerprint: &str) -> anyhow::Result<SearchIndex> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let text_dir = dir.join(TEXT_DIR);
        if text_dir.exists() {
            std::fs::remove_dir_all(&text_dir).with_context(|| format!("removing {}", text_dir.display()))?;
        }
        std::fs::create_dir_all(&text_dir)?;
        let (schema, fields) = schema();
        let text = tantivy::Index::create_in_dir(&text_dir, schema)
            .with_context(|| format!("creating the text index in {}", text_dir.display()))?;
        let vectors = usearch::Index::new(&vector_options(dim)).context("creating the vector index")?;
        let mut index = Self::assemble(dir, embedder_id, dim, fields, text, vectors, fingerprint)?;
        index.commit()?;
        Ok(index)
    }

    /// The index over opened parts, with no names loaded yet.
    fn assemble(
        dir: &Path,
        embedder_id: &str,
        dim: usize,
        fields: Fields,
        text: tantivy::Index,
        vectors: usearch::Index,
        fingerprint: &str,
    ) -> anyhow::Result<SearchIndex> {
        text.tokenizers().register(ANALYZER, analyzer());
        let reader = text.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        Ok(SearchIndex {
            dir: dir.to_path_buf(),
            embedder_id: embedder_id.to_string(),
            dim,
            fields,
            analyzer: analyzer(),
            text,
            reader,
            writer: None,
            vectors,
            names: HashMap::new(),
            fingerprint: fingerprint.to_string(),
            fusion: FusionParams::default(),
        })
    }

    /// Replaces the fusion parameters (the defaults are tuned on MetaTool; see [`FusionParams`]).
    pub fn with_fusion(mut self, fusion: FusionParams) -> SearchIndex {
        self.fusion = fusion;
        self
    }

    pub fn fusion(&self) -> FusionParams {
        self.fusion
    }

    /// The directory the index lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The embedder the vectors came from.
    pub fn embedder_id(&self) -> &str {
        &self.embedder_id
    }

    /// The fingerprint recorded by the last commit (empty for a fresh or reset index).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Sets the fingerprint the next [`SearchIndex::commit`] records.
    pub fn set_fingerprint(&mut self, fingerprint: impl Into<String>) {
        self.fingerprint = fingerprint.into();
    }

    /// Number of tools in the index (committed or not).
    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Whether a tool of this name is indexed.
    pub fn contains(&self, name: &str) -> bool {
        self.names.contains_key(&key_of(name))
    }

    /// Bytes the index takes on disk.
    pub fn size_on_disk(&self) -> u64 {
        fn walk(p: &Path) -> u64 {
            match std::fs::metadata(p) {
                Ok(m) if m.is_dir() => {
                    std::fs::read_dir(p).map(|rd| rd.flatten().map(|e| walk(&e.path())).sum()).unwrap_or(0)
                }
                Ok(m) => m.len(),
                Err(_) => 0,
            }
        }
        walk(&self.dir)
    }

    fn writer(&mut self) -> anyhow::Result<&mut IndexWriter<TantivyDocument>> {
        if self.writer.is_none() {
            self.writer = Some(
                self.text.writer_with_num_threads(1, WRITER_MEMORY).context("opening the text index for writing")?,
            );
        }
        Ok(self.writer.as_mut().expect("just set"))
    }

    fn check_vector(&self, name: &str, embedding: &[f32]) -> anyhow::Result<()> {
        if embedding.len() != self.dim {
            bail!("embedding of {name:?} has {} dims, the index {} ({})", embedding.len(), self.dim, self.embedder_id);
        }
        if embedding.iter().any(|x| !x.is_finite()) {
            bail!("embedding of {name:?} has a non-finite value");
        }
        Ok(())
    }

    fn text_doc(&self, doc: &IndexDoc, key: u64) -> TantivyDocument {
        let mut d = TantivyDocument::default();
        d.add_text(self.fields.name, &doc.name);
        d.add_u64(self.fields.key, key);
        d.add_text(self.fields.name_words, name_as_text(&doc.name));
        d.add_text(self.fields.description, &doc.description);
        d.add_text(self.fields.params, doc.params_text());
        d
    }

    fn claim_key(&self, name: &str) -> anyhow::Result<u64> {
        let key = key_of(name);
        match self.names.get(&key) {
            Some(other) if other != name => bail!("tools {other:?} and {name:?} hash to the same key"),
            _ => Ok(key),
        }
    }

    fn reserve_for(&self, n: usize) -> anyhow::Result<()> {
        if self.vectors.capacity() < n {
            self.vectors
                .reserve(n.max(self.vectors.capacity() * 2).max(64))
                .map_err(|e| anyhow::anyhow!("reserving vector space: {e}"))?;
        }
        Ok(())
    }

    /// Adds a tool, or replaces the tool of the same name. Visible to search after [`SearchIndex::commit`]
    /// for BM25, at once for vectors.
    pub fn upsert(&mut self, doc: &IndexDoc, embedding: &[f32]) -> anyhow::Result<()> {
        self.check_vector(&doc.name, embedding)?;
        let key = self.claim_key(&doc.name)?;
        let text_doc = self.text_doc(doc, key);
        let name_field = self.fields.name;
        let writer = self.writer()?;
        writer.delete_term(Term::from_field_text(name_field, &doc.name));
        writer.add_document(text_doc)?;
        if self.vectors.contains(key) {
            self.vectors.remove(key).map_err(|e| anyhow::anyhow!("replacing the vector of {:?}: {e}", doc.name))?;
        }
        self.reserve_for(self.vectors.size() + 1)?;
        self.vectors.add(key, embedding).map_err(|e| anyhow::anyhow!("adding the vector of {:?}: {e}", doc.name))?;
        self.names.insert(key, doc.name.clone());
        Ok(())
    }

    /// Removes a tool; returns whether it was there.
    pub fn remove(&mut self, name: &str) -> anyhow::Result<bool> {
        let key = key_of(name);
        if self.names.get(&key).is_none_or(|n| n != name) {
            return Ok(false);
        }
        let name_field = self.fields.name;
        self.writer()?.delete_term(Term::from_field_text(name_field, name));
        self.vectors.remove(key).map_err(|e| anyhow::anyhow!("removing the vector of {name:?}: {e}"))?;
        self.names.remove(&key);
        Ok(true)
    }

    /// Makes the changes durable and visible. The manifest is removed first and written last, so a
    /// crash half-way leaves an index that opens as [`IndexState::NeedsRebuild`].
    pub fn commit(&mut self) -> anyhow::Result<()> {
        let manifest_path = self.dir.join(MANIFEST);
        match std::fs::remove_file(&manifest_path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("removing {}", manifest_path.display())),
        }
        if let Some(mut writer) = self.writer.take() {
            writer.commit().context("committing the text index")?;
            writer.wait_merging_threads().context("finishing text index merges")?;
        }
        self.reader.reload().context("reloading the text index")?;

        let mut bytes = vec![0u8; self.vectors.serialized_length()];
        self.vectors.save_to_buffer(&mut bytes).map_err(|e| anyhow::anyhow!("serialising vectors: {e}"))?;
        write_atomically(&self.dir.join(VECTORS), &bytes)?;
        let manifest = Manifest {
            format_version: FORMAT_VERSION,
            embedder_id: self.embedder_id.clone(),
            dim: self.dim,
            doc_count: self.names.len(),
            fingerprint: self.fingerprint.clone(),
            vectors_sha256: hex::encode(Sha256::digest(&bytes)),
        };
        write_atomically(&manifest_path, &serde_json::to_vec_pretty(&manifest)?)?;
        Ok(())
    }

    /// Replaces the whole index with `docs` (each with its embedding) and records `fingerprint`. The
    /// new index is built in a sibling directory and renamed into place.
    pub fn rebuild(&mut self, docs: &[(IndexDoc, Vec<f32>)], fingerprint: &str) -> anyhow::Result<()> {
        let mut seen = HashSet::new();
        for (doc, v) in docs {
            self.check_vector(&doc.name, v)?;
            if !seen.insert(doc.name.as_str()) {
                bail!("tool {:?} appears twice", doc.name);
            }
        }
        let tmp = sibling(&self.dir, REBUILD_TAG);
        let built = (|| -> anyhow::Result<()> {
            let mut fresh = Self::create_empty(&tmp, &self.embedder_id, self.dim, fingerprint)?;
            fresh.bulk_load(docs)?;
            fresh.commit()
        })();
        if let Err(e) = built {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e.context("rebuilding the search index"));
        }
        // Swap: the old directory goes aside, the new one takes its name, the old one is deleted.
        self.writer = None;
        let old = sibling(&self.dir, OLD_TAG);
        if self.dir.exists() {
            std::fs::rename(&self.dir, &old).with_context(|| format!("moving {} aside", self.dir.display()))?;
        }
        std::fs::rename(&tmp, &self.dir)
            .with_context(|| format!("moving the rebuilt index to {}", self.dir.display()))?;
        let _ = std::fs::remove_dir_all(&old);
        let fusion = self.fusion;
        *self = Self::open_existing(&self.dir, &self.embedder_id, self.dim)
            .context("reopening the rebuilt index")?
            .with_fusion(fusion);
        Ok(())
    }

    /// Adds many documents to an empty index: text in one writer, vectors on two threads.
    fn bulk_load(&mut self, docs: &[(IndexDoc, Vec<f32>)]) -> anyhow::Result<()> {
        let mut keys = Vec::with_capacity(docs.len());
        for (doc, _) in docs {
            let key = self.claim_key(&doc.name)?;
            let text_doc = self.text_doc(doc, key);
            self.writer()?.add_document(text_doc)?;
            self.names.insert(key, doc.name.clone());
            keys.push(key);
        }
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(4);
        self.vectors
            .reserve_capacity_and_threads(docs.len().max(64), threads)
            .map_err(|e| anyhow::anyhow!("reserving vector space: {e}"))?;
        let chunk = docs.len().div_ceil(threads).max(1);
        let vectors = &self.vectors;
        std::thread::scope(|s| {
            let handles: Vec<_> = docs
                .chunks(chunk)
                .zip(keys.chunks(chunk))
                .map(|(ds, ks)| {
                    s.spawn(move || -> anyhow::Result<()> {
                        for ((doc, v), k) in ds.iter().zip(ks) {
                            vectors
                                .add(*k, v.as_slice())
                                .map_err(|e| anyhow::anyhow!("adding the vector of {:?}: {e}", doc.name))?;
                        }
                        Ok(())
                    })
                })
                .collect();
            handles.into_iter().try_for_each(|h| h.join().map_err(|_| anyhow::anyhow!("a vector thread panicked"))?)
        })
    }

    /// The `k` best tools for a query. `query_embedding` comes from the index's embedder; without it,
    /// hybrid mode ranks by BM25 alone and vector mode is an error. Scores are in `[0, 1]`, best first.
    pub fn search(
        &self,
        query_text: &str,
        query_embedding: Option<&[f32]>,
        k: usize,
        mode: SearchMode,
    ) -> anyhow::Result<Vec<Hit>> {
        if k == 0 || self.names.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(q) = query_embedding {
            self.check_vector("the query", q)?;
        }
        let mode = match (mode, query_embedding) {
            (SearchMode::Vector, None) => bail!("vector search needs a query embedding"),
            (SearchMode::Hybrid, None) => SearchMode::Bm25,
            (m, _) => m,
        };
        let n = self.fusion.candidates.max(k);
        // The query as an identifier too, so `reverseString` and `reverse_string` match the name's words.
        let mut analyzer = self.analyzer.clone();
        let name_words = analyze(&mut analyzer, &name_as_text(query_text));
        let mut query_words = analyze(&mut analyzer, query_text);
        query_words.extend(name_words.iter().cloned());

        // name → (bm25, cosine)
        let mut cands: HashMap<u64, (Option<f32>, Option<f32>)> = HashMap::new();
        if mode != SearchMode::Vector {
            for (key, score) in self.bm25(&query_words, n)? {
                cands.entry(key).or_default().0 = Some(score);
            }
        }
        if let Some(q) = query_embedding.filter(|_| mode != SearchMode::Bm25) {
            let found = self
                .vectors
                .search(q, n.min(self.vectors.size()))
                .map_err(|e| anyhow::anyhow!("vector search: {e}"))?;
            for (key, dist) in found.keys.iter().zip(&found.distances) {
                let c = cands.entry(*key).or_default();
                c.1 = Some(1.0 - dist);
                if mode == SearchMode::Hybrid {
                    c.0.get_or_insert(0.0);
                }
            }
            if mode == SearchMode::Hybrid {
                let mut buf = vec![0f32; self.dim];
                for (key, c) in cands.iter_mut().filter(|(_, c)| c.1.is_none()) {
                    let found =
                        self.vectors.get(*key, &mut buf).map_err(|e| anyhow::anyhow!("reading a vector: {e}"))?;
                    c.1 = (found > 0).then(|| cosine(q, &buf));
                }
            }
        }

        let mut hits: Vec<Hit> = cands
            .into_iter()
            .filter_map(|(key, (bm25, cos))| {
                let name = self.names.get(&key)?;
                let score = match mode {
                    SearchMode::Bm25 => self.bm25_norm(bm25.unwrap_or(0.0)),
                    SearchMode::Vector => cos.unwrap_or(0.0).max(0.0),
                    SearchMode::Hybrid => {
                        if !name_words.is_empty() && analyze(&mut analyzer, &name_as_text(name)) == name_words {
                            1.0
                        } else {
                            let w = self.fusion.dense_weight;
                            w * cos.unwrap_or(0.0).max(0.0) + (1.0 - w) * self.bm25_norm(bm25.unwrap_or(0.0))
                        }
                    }
                };
                Some(Hit { name: name.clone(), score: score.clamp(0.0, 1.0), bm25, cosine: cos })
            })
            .collect();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.name.cmp(&b.name)));
        hits.truncate(k);
        Ok(hits)
    }

    fn bm25_norm(&self, bm25: f32) -> f32 {
        let b = bm25.max(0.0);
        b / (b + self.fusion.bm25_half)
    }

    /// BM25 over name words, description and parameters: (key, score) of the `n` best.
    fn bm25(&self, words: &[String], n: usize) -> anyhow::Result<Vec<(u64, f32)>> {
        let mut unique: Vec<&String> = Vec::new();
        for w in words {
            if !unique.contains(&w) {
                unique.push(w);
            }
        }
        if unique.is_empty() {
            return Ok(Vec::new());
        }
        let f = self.fields;
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for w in unique {
            for (field, boost) in
                [(f.name_words, self.fusion.name_boost), (f.description, 1.0), (f.params, self.fusion.params_boost)]
            {
                if boost <= 0.0 {
                    continue;
                }
                let q = TermQuery::new(Term::from_field_text(field, w), IndexRecordOption::WithFreqs);
                clauses.push((Occur::Should, Box::new(BoostQuery::new(Box::new(q), boost))));
            }
        }
        let searcher = self.reader.searcher();
        let top: Vec<(f32, DocAddress)> =
            searcher.search(&BooleanQuery::new(clauses), &TopDocs::with_limit(n).order_by_score())?;
        let mut columns = HashMap::new();
        let mut out = Vec::with_capacity(top.len());
        for (score, addr) in top {
            let column = match columns.entry(addr.segment_ord) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(searcher.segment_reader(addr.segment_ord).fast_fields().u64("key")?)
                }
            };
            if let Some(key) = column.first(addr.doc_id) {
                out.push((key, score));
            }
        }
        Ok(out)
    }
}

const REBUILD_TAG: &str = "rebuild";
const OLD_TAG: &str = "old";

/// A new sibling of `dir` for a rebuild: `.{name}.{tag}-{pid}-{uuid}`. The pid tells
/// [`remove_debris`] whether its maker is still running.
fn sibling(dir: &Path, tag: &str) -> PathBuf {
    let name = dir.file_name().map_or_else(|| "index".into(), |n| n.to_string_lossy().into_owned());
    let parent = dir.parent().unwrap_or(Path::new("."));
    parent.join(format!(".{name}.{tag}-{}-{}", std::process::id(), uuid::Uuid::new_v4()))
}

/// Removes what rebuilds killed half-way left beside `dir`: a half-built new index, or the old
/// one moved aside. A leftover whose process is still alive (per `/proc`) is another rebuild in
/// progress and is kept. Failures are logged: debris costs space, not correctness.
fn remove_debris(dir: &Path) {
    let Some(name) = dir.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return;
    };
    let parent = dir.parent().unwrap_or(Path::new("."));
    let Ok(entries) = std::fs::read_dir(parent) else { return };
    let prefixes = [format!(".{name}.{REBUILD_TAG}-"), format!(".{name}.{OLD_TAG}-")];
    let alive = |pid: u32| pid == std::process::id() || Path::new("/proc").join(pid.to_string()).exists();
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = prefixes.iter().find_map(|p| file_name.strip_prefix(p.as_str())) else {
            continue;
        };
        let pid = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|p| p != 0 && alive(p)) {
            continue;
        }
        tracing::info!(path = %entry.path().display(), "removing what an interrupted index rebuild left");
        if let Err(e) = std::fs::remove_dir_all(entry.path()) {
            tracing::warn!(path = %entry.path().display(), "cannot remove index debris: {e}");
        }
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming {} into place", tmp.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedding_text_spells_out_name_and_parameters() {
        let mut doc = IndexDoc::new("reverseString", "Reverse a string.");
        assert_eq!(doc.embedding_text(), "reverse string: Reverse a string.");
        doc.params.push(ParamDoc { name: "input_text".into(), description: "the string".into() });
        assert_eq!(doc.embedding_text(), "reverse string: Reverse a string. Parameters: input text (the string).");
    }

    #[test]
    fn analysis_stems_and_drops_filler() {
        assert_eq!(analyze(&mut analyzer(), "Can you please reverse these Strings?"), ["revers", "string"]);
        assert_eq!(analyze(&mut analyzer(), &name_as_text("reverse_string")), ["revers", "string"]);
    }
}
