//! The index on disk: opening and checking it, committing changes, and rebuilding it beside the
//! live one and swapping it in, so that a reader never sees half an index.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tantivy::schema::Value;
use tantivy::{ReloadPolicy, TantivyDocument};

use super::schema::{ANALYZER, Fields, analyzer, example_vector_options, key_of, schema, vector_options};
use super::{FORMAT_VERSION, FusionParams, IndexDoc, IndexState, SearchIndex};

const MANIFEST: &str = "manifest.json";
const TEXT_DIR: &str = "text";
const VECTORS: &str = "vectors.usearch";
const EXAMPLES: &str = "examples.usearch";

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
    /// Example vectors in `examples.usearch`, and its SHA-256.
    #[serde(default)]
    pub example_count: usize,
    #[serde(default)]
    pub examples_sha256: String,
}

impl SearchIndex {
    /// Opens the index in `dir`. Never fails because of what is in `dir` and never writes to it:
    /// no index, or bad files, give an empty index in memory with [`IndexState::Fresh`] or
    /// [`IndexState::NeedsRebuild`], for the caller to [`SearchIndex::rebuild`] (which swaps a
    /// complete new index into `dir`). Other processes may be reading `dir` meanwhile, so it is
    /// only ever replaced whole.
    pub fn open(dir: &Path, embedder_id: &str, dim: usize) -> anyhow::Result<(SearchIndex, IndexState)> {
        remove_debris(dir);
        let has_files = [MANIFEST, TEXT_DIR, VECTORS, EXAMPLES].iter().any(|f| dir.join(f).exists());
        if !has_files {
            return Ok((Self::in_memory(dir, embedder_id, dim)?, IndexState::Fresh));
        }
        match Self::open_existing(dir, embedder_id, dim) {
            Ok(index) => Ok((index, IndexState::Opened)),
            Err(e) => {
                let reason = format!("{e:#}");
                tracing::warn!(dir = %dir.display(), %reason, "search index needs a rebuild");
                Ok((Self::in_memory(dir, embedder_id, dim)?, IndexState::NeedsRebuild(reason)))
            }
        }
    }

    /// An empty index that lives in memory until [`SearchIndex::rebuild`] writes it to `dir`.
    fn in_memory(dir: &Path, embedder_id: &str, dim: usize) -> anyhow::Result<SearchIndex> {
        let (schema, fields) = schema();
        let text = tantivy::Index::create_in_ram(schema);
        let (vectors, examples) = new_vector_indexes(dim)?;
        let mut index = Self::assemble(dir, embedder_id, dim, fields, text, (vectors, examples), "")?;
        index.on_disk = false;
        Ok(index)
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
        let (vectors, examples) = new_vector_indexes(dim)?;
        vectors.load_from_buffer(&bytes).map_err(|e| anyhow::anyhow!("vector file unreadable: {e}"))?;
        drop(bytes);
        if vectors.dimensions() != dim || vectors.scalar_kind() != usearch::ScalarKind::F32 {
            bail!("vector file has {} dims or another scalar kind", vectors.dimensions());
        }
        let bytes = std::fs::read(dir.join(EXAMPLES)).context("example vector file missing")?;
        if hex::encode(Sha256::digest(&bytes)) != manifest.examples_sha256 {
            bail!("example vector file corrupt (checksum differs from the manifest)");
        }
        examples.load_from_buffer(&bytes).map_err(|e| anyhow::anyhow!("example vector file unreadable: {e}"))?;
        drop(bytes);
        if examples.dimensions() != dim || !examples.multi() || examples.size() != manifest.example_count {
            bail!(
                "example vector file has {} dims and {} vectors, the manifest says {dim} and {}",
                examples.dimensions(),
                examples.size(),
                manifest.example_count
            );
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
        let mut index =
            Self::assemble(dir, embedder_id, dim, fields, text, (vectors, examples), &manifest.fingerprint)?;
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
        let mut index = Self::assemble(dir, embedder_id, dim, fields, text, new_vector_indexes(dim)?, fingerprint)?;
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
        (vectors, examples): (usearch::Index, usearch::Index),
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
            examples,
            names: HashMap::new(),
            fingerprint: fingerprint.to_string(),
            fusion: FusionParams::default(),
            on_disk: true,
        })
    }

    /// Makes the changes durable and visible. The manifest is removed first and written last, so a
    /// crash half-way leaves an index that opens as [`IndexState::NeedsRebuild`].
    pub fn commit(&mut self) -> anyhow::Result<()> {
        if !self.on_disk {
            bail!("the index in {} was never built: rebuild it from the store", self.dir.display());
        }
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
        let mut example_bytes = vec![0u8; self.examples.serialized_length()];
        self.examples
            .save_to_buffer(&mut example_bytes)
            .map_err(|e| anyhow::anyhow!("serialising example vectors: {e}"))?;
        write_atomically(&self.dir.join(EXAMPLES), &example_bytes)?;
        let manifest = Manifest {
            format_version: FORMAT_VERSION,
            embedder_id: self.embedder_id.clone(),
            dim: self.dim,
            doc_count: self.names.len(),
            fingerprint: self.fingerprint.clone(),
            vectors_sha256: hex::encode(Sha256::digest(&bytes)),
            example_count: self.examples.size(),
            examples_sha256: hex::encode(Sha256::digest(&example_bytes)),
        };
        write_atomically(&manifest_path, &serde_json::to_vec_pretty(&manifest)?)?;
        Ok(())
    }

    /// Replaces the whole index with `docs` (each with its embedding, none with examples) and
    /// records `fingerprint`; see [`SearchIndex::rebuild_with_examples`].
    pub fn rebuild(&mut self, docs: &[(IndexDoc, Vec<f32>)], fingerprint: &str) -> anyhow::Result<()> {
        self.rebuild_with_examples(docs, &[], fingerprint)
    }

    /// Replaces the whole index with `docs` (each with its embedding) and records `fingerprint`.
    /// `example_vectors[i]` holds one vector per example of `docs[i]`; it may be empty when no
    /// document has examples. The new index is built in a sibling directory and renamed into place.
    pub fn rebuild_with_examples(
        &mut self,
        docs: &[(IndexDoc, Vec<f32>)],
        example_vectors: &[Vec<Vec<f32>>],
        fingerprint: &str,
    ) -> anyhow::Result<()> {
        if !example_vectors.is_empty() && example_vectors.len() != docs.len() {
            bail!("{} documents and {} lists of example vectors", docs.len(), example_vectors.len());
        }
        let mut seen = HashSet::new();
        for (i, (doc, v)) in docs.iter().enumerate() {
            self.check_vector(&doc.name, v)?;
            self.check_examples(doc, example_vectors.get(i).map_or(&[], Vec::as_slice))?;
            if !seen.insert(doc.name.as_str()) {
                bail!("tool {:?} appears twice", doc.name);
            }
        }
        let tmp = sibling(&self.dir, REBUILD_TAG);
        let built = (|| -> anyhow::Result<()> {
            let mut fresh = Self::create_empty(&tmp, &self.embedder_id, self.dim, fingerprint)?;
            fresh.bulk_load(docs, example_vectors)?;
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

    /// Adds many documents to an empty index: text in one writer, vectors on up to four threads.
    fn bulk_load(&mut self, docs: &[(IndexDoc, Vec<f32>)], example_vectors: &[Vec<Vec<f32>>]) -> anyhow::Result<()> {
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
        let n_examples: usize = example_vectors.iter().map(Vec::len).sum();
        self.examples
            .reserve_capacity_and_threads(n_examples.max(64), threads)
            .map_err(|e| anyhow::anyhow!("reserving example vector space: {e}"))?;
        let chunk = docs.len().div_ceil(threads).max(1);
        let (vectors, examples) = (&self.vectors, &self.examples);
        let no_examples: &[Vec<f32>] = &[];
        std::thread::scope(|s| {
            let handles: Vec<_> = docs
                .chunks(chunk)
                .zip(keys.chunks(chunk))
                .enumerate()
                .map(|(c, (ds, ks))| {
                    s.spawn(move || -> anyhow::Result<()> {
                        for (i, ((doc, v), k)) in ds.iter().zip(ks).enumerate() {
                            vectors
                                .add(*k, v.as_slice())
                                .map_err(|e| anyhow::anyhow!("adding the vector of {:?}: {e}", doc.name))?;
                            let exs = example_vectors.get(c * chunk + i).map_or(no_examples, Vec::as_slice);
                            for e in exs {
                                examples
                                    .add(*k, e.as_slice())
                                    .map_err(|e| anyhow::anyhow!("adding an example of {:?}: {e}", doc.name))?;
                            }
                        }
                        Ok(())
                    })
                })
                .collect();
            handles.into_iter().try_for_each(|h| h.join().map_err(|_| anyhow::anyhow!("a vector thread panicked"))?)
        })
    }
}

/// An empty description index and an empty (multi-key) example index.
fn new_vector_indexes(dim: usize) -> anyhow::Result<(usearch::Index, usearch::Index)> {
    Ok((
        usearch::Index::new(&vector_options(dim)).context("creating the vector index")?,
        usearch::Index::new(&example_vector_options(dim)).context("creating the example vector index")?,
    ))
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
