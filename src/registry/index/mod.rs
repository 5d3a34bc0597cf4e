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

//! # Layout of this module
//! `schema.rs`: the tantivy schema and the analyzer; `disk.rs`: opening, committing and the
//! rebuild's swap on disk; `search.rs`: the fused search. This file: the types and the in-memory
//! changes.

mod disk;
mod schema;
mod search;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{IndexReader, IndexWriter, TantivyDocument, Term};

use super::text::name_as_text;
pub use disk::Manifest;
use schema::{Fields, key_of};
pub use search::FusionParams;

/// Version of the on-disk layout; an index of another version is rebuilt. 2: example requests
/// (a text field and `examples.usearch`).
pub const FORMAT_VERSION: u32 = 2;
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
    /// Example requests (see `registry::examples`): words for BM25 here, one vector each beside
    /// the description's.
    #[serde(default)]
    pub examples: Vec<String>,
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
        IndexDoc { name: name.into(), description: description.into(), params: Vec::new(), examples: Vec::new() }
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

/// One tool's example vectors, one per example, in its examples' order.
pub type ExampleVectors = Vec<Vec<f32>>;

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
    /// Best cosine of the query and the tool's example requests, when it has any and a query
    /// embedding was given.
    pub example_cosine: Option<f32>,
}

/// What [`SearchIndex::open`] found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexState {
    /// There was no index: an empty one is in memory, to be filled by [`SearchIndex::rebuild`].
    Fresh,
    /// A valid index of this format and embedder was opened; compare [`SearchIndex::fingerprint`]
    /// with the store's to know whether it is up to date.
    Opened,
    /// The files were missing, corrupt, of another format or of another embedder (the reason says
    /// which): an empty index is in memory instead, to be filled by [`SearchIndex::rebuild`].
    NeedsRebuild(String),
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
    /// Example vectors, several per tool key.
    examples: usearch::Index,
    /// Vector key → tool name, for every document.
    names: HashMap<u64, String>,
    fingerprint: String,
    fusion: FusionParams,
    /// False for an index that only exists in memory: it must be rebuilt before commits.
    on_disk: bool,
}

impl SearchIndex {
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

    /// Number of example vectors in the index (committed or not).
    pub fn example_count(&self) -> usize {
        self.examples.size()
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
        for e in &doc.examples {
            d.add_text(self.fields.examples, e);
        }
        d
    }

    fn claim_key(&self, name: &str) -> anyhow::Result<u64> {
        let key = key_of(name);
        match self.names.get(&key) {
            Some(other) if other != name => bail!("tools {other:?} and {name:?} hash to the same key"),
            _ => Ok(key),
        }
    }

    fn reserve_for(vectors: &usearch::Index, n: usize) -> anyhow::Result<()> {
        if vectors.capacity() < n {
            vectors
                .reserve(n.max(vectors.capacity() * 2).max(64))
                .map_err(|e| anyhow::anyhow!("reserving vector space: {e}"))?;
        }
        Ok(())
    }

    /// Checks that `example_vectors` has one vector per example of `doc`.
    fn check_examples(&self, doc: &IndexDoc, example_vectors: &[Vec<f32>]) -> anyhow::Result<()> {
        if example_vectors.len() != doc.examples.len() {
            bail!(
                "tool {:?} has {} examples and {} example vectors",
                doc.name,
                doc.examples.len(),
                example_vectors.len()
            );
        }
        example_vectors.iter().try_for_each(|v| self.check_vector(&doc.name, v))
    }

    /// Adds a tool without examples, or replaces the tool of the same name (see
    /// [`SearchIndex::upsert_with_examples`]).
    pub fn upsert(&mut self, doc: &IndexDoc, embedding: &[f32]) -> anyhow::Result<()> {
        self.upsert_with_examples(doc, embedding, &[])
    }

    /// Adds a tool with one vector per example of `doc`, or replaces the tool of the same name
    /// (its examples too). Visible to search after [`SearchIndex::commit`] for BM25, at once for
    /// vectors.
    pub fn upsert_with_examples(
        &mut self,
        doc: &IndexDoc,
        embedding: &[f32],
        example_vectors: &[Vec<f32>],
    ) -> anyhow::Result<()> {
        self.check_vector(&doc.name, embedding)?;
        self.check_examples(doc, example_vectors)?;
        let key = self.claim_key(&doc.name)?;
        let text_doc = self.text_doc(doc, key);
        let name_field = self.fields.name;
        let writer = self.writer()?;
        writer.delete_term(Term::from_field_text(name_field, &doc.name));
        writer.add_document(text_doc)?;
        if self.vectors.contains(key) {
            self.vectors.remove(key).map_err(|e| anyhow::anyhow!("replacing the vector of {:?}: {e}", doc.name))?;
        }
        Self::reserve_for(&self.vectors, self.vectors.size() + 1)?;
        self.vectors.add(key, embedding).map_err(|e| anyhow::anyhow!("adding the vector of {:?}: {e}", doc.name))?;
        if self.examples.contains(key) {
            self.examples.remove(key).map_err(|e| anyhow::anyhow!("replacing the examples of {:?}: {e}", doc.name))?;
        }
        Self::reserve_for(&self.examples, self.examples.size() + example_vectors.len())?;
        for v in example_vectors {
            self.examples.add(key, v).map_err(|e| anyhow::anyhow!("adding an example of {:?}: {e}", doc.name))?;
        }
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
        if self.examples.contains(key) {
            self.examples.remove(key).map_err(|e| anyhow::anyhow!("removing the examples of {name:?}: {e}"))?;
        }
        self.names.remove(&key);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use schema::{analyze, analyzer};

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
