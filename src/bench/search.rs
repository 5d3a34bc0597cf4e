//! `toolsmith bench search`: search latency and throughput at scale on synthetic tools, beside an
//! exact brute-force scan measured in the same run.

use std::time::Instant;

use anyhow::{Context, bail};
use serde::Serialize;

use super::percentiles_ms;
use crate::registry::embed::Embedder;
use crate::registry::index::{IndexDoc, IndexState, SearchIndex, SearchMode};

/// Queries a second of hybrid search (query vector given) from `threads` threads sharing one index.
#[derive(Debug, Clone, Serialize)]
pub struct Throughput {
    pub threads: usize,
    pub queries_per_s: f64,
}

/// Latency of the search at one corpus size, beside a brute-force baseline from the same run.
#[derive(Debug, Clone, Serialize)]
pub struct SearchBenchRow {
    /// Synthetic tools in the index.
    pub tools: usize,
    /// Time of [`SearchIndex::rebuild`] with the vectors given (embedding the tools excluded).
    pub build_s: f64,
    /// Time to open the built index again (what every new process pays): checksums, loading the
    /// vectors, reading the names.
    pub open_s: f64,
    /// Index size on disk.
    pub index_bytes: u64,
    /// Resident memory after opening the index, minus before building it (may be 0 when the
    /// allocator reuses freed memory).
    pub rss_delta_bytes: i64,
    /// Hybrid search with the query vector given: median and 99th percentile, ms.
    pub hybrid_p50_ms: f64,
    pub hybrid_p99_ms: f64,
    /// Hybrid search including embedding the query with the local model, ms (None without one).
    pub with_embedding_p50_ms: Option<f64>,
    pub with_embedding_p99_ms: Option<f64>,
    /// BM25 alone, ms.
    pub bm25_p50_ms: f64,
    pub bm25_p99_ms: f64,
    /// Baseline: exact cosine against every vector in a flat array, top-k kept, ms.
    pub brute_force_p50_ms: f64,
    pub brute_force_p99_ms: f64,
    /// Share of queries where the HNSW top-10 holds the brute-force best vector.
    pub hnsw_recall_at_10: f64,
    /// Sustained hybrid queries a second with 1, 2, … threads on the same index.
    pub throughput: Vec<Throughput>,
    /// The same tools with example requests, searched with the same queries (None when asked for
    /// no examples).
    pub with_examples: Option<ExamplesRow>,
}

/// The index of one size rebuilt with `examples_per_tool` example vectors per tool.
#[derive(Debug, Clone, Serialize)]
pub struct ExamplesRow {
    pub examples_per_tool: usize,
    /// Time of [`SearchIndex::rebuild_with_examples`], vectors given.
    pub build_s: f64,
    pub open_s: f64,
    pub index_bytes: u64,
    /// Hybrid search with the query vector given (description and examples), ms; compare with
    /// the row's `hybrid_p50_ms`, the description-only index of the same run.
    pub hybrid_p50_ms: f64,
    pub hybrid_p99_ms: f64,
}

/// Result of [`bench_search`].
#[derive(Debug, Clone, Serialize)]
pub struct SearchBench {
    pub dim: usize,
    /// Queries timed per size (without embedding), and with embedding.
    pub queries: usize,
    pub queries_with_embedding: usize,
    pub embedder_id: Option<String>,
    pub rows: Vec<SearchBenchRow>,
}

/// Measures search latency at each size in `sizes` (e.g. 1k, 10k, 100k) on synthetic tools:
/// generated names and descriptions from a small vocabulary, and clustered random unit vectors of
/// `dim` dimensions (one cluster per verb–object pair, so nearest neighbours are meaningful).
/// With `embedder`, also times embedding each query text before the search (its `dim` is used).
/// Deterministic for a given `seed`. Indexes are written under a temporary directory.
pub fn bench_search(
    embedder: Option<&dyn Embedder>,
    sizes: &[usize],
    queries: usize,
    seed: u64,
    threads: &[usize],
) -> anyhow::Result<SearchBench> {
    bench_search_with_examples(embedder, sizes, queries, seed, threads, 0)
}

/// [`bench_search`], and each size again with `examples_per_tool` example vectors per tool
/// (near the tool's own, as paraphrases are), searched with the same queries.
pub fn bench_search_with_examples(
    embedder: Option<&dyn Embedder>,
    sizes: &[usize],
    queries: usize,
    seed: u64,
    threads: &[usize],
    examples_per_tool: usize,
) -> anyhow::Result<SearchBench> {
    let dim = embedder.map_or(384, |e| e.dim());
    let queries_with_embedding = if embedder.is_some() { queries.min(100) } else { 0 };
    let tmp = tempfile::tempdir().context("creating a temporary directory")?;
    let mut rows = Vec::new();
    for &size in sizes {
        let mut rng = SplitMix(seed ^ size as u64);
        let corpus = Synthetic::new(&mut rng, size, dim);
        let dir = tmp.path().join(format!("index-{size}"));
        let rss_before = rss_bytes();
        let started = Instant::now();
        let (mut index, _) = SearchIndex::open(&dir, "bench:synthetic", dim)?;
        index.rebuild(&corpus.docs, "bench")?;
        let build_s = started.elapsed().as_secs_f64();
        let rss_delta_bytes = rss_bytes() as i64 - rss_before as i64;
        drop(index);
        let started = Instant::now();
        let (index, state) = SearchIndex::open(&dir, "bench:synthetic", dim)?;
        let open_s = started.elapsed().as_secs_f64();
        if state != IndexState::Opened {
            bail!("the bench index did not reopen: {state:?}");
        }
        tracing::info!(size, build_s, open_s, "bench index built");

        let qs: Vec<(String, Vec<f32>)> = (0..queries).map(|_| corpus.query(&mut rng)).collect();
        let mut hybrid = Vec::new();
        let mut bm25 = Vec::new();
        let mut brute = Vec::new();
        let mut recalled = 0usize;
        for (text, vector) in &qs {
            let t = Instant::now();
            index.search(text, Some(vector), 10, SearchMode::Hybrid)?;
            hybrid.push(t.elapsed());
            let t = Instant::now();
            index.search(text, None, 10, SearchMode::Bm25)?;
            bm25.push(t.elapsed());
            let t = Instant::now();
            let best = corpus.brute_force(vector, 10);
            brute.push(t.elapsed());
            let vector_hits = index.search(text, Some(vector), 10, SearchMode::Vector)?;
            if vector_hits.iter().any(|h| h.name == corpus.docs[best[0]].0.name) {
                recalled += 1;
            }
        }
        let mut with_embedding = Vec::new();
        if let Some(e) = embedder {
            for (text, _) in qs.iter().take(queries_with_embedding) {
                let t = Instant::now();
                let v = e.embed(&[text.as_str()])?.pop().context("the embedder returned no vector")?;
                index.search(text, Some(&v), 10, SearchMode::Hybrid)?;
                with_embedding.push(t.elapsed());
            }
        }
        let throughput =
            threads.iter().map(|&n| throughput(&index, &qs, n.max(1))).collect::<anyhow::Result<Vec<_>>>()?;
        let index_bytes = index.size_on_disk();
        drop(index);
        let with_examples = if examples_per_tool > 0 {
            Some(examples_row(&tmp.path().join(format!("examples-{size}")), &corpus, &qs, examples_per_tool, &mut rng)?)
        } else {
            None
        };
        let (hybrid_p50_ms, hybrid_p99_ms) = percentiles_ms(&mut hybrid);
        let (bm25_p50_ms, bm25_p99_ms) = percentiles_ms(&mut bm25);
        let (brute_force_p50_ms, brute_force_p99_ms) = percentiles_ms(&mut brute);
        let emb = (!with_embedding.is_empty()).then(|| percentiles_ms(&mut with_embedding));
        rows.push(SearchBenchRow {
            tools: size,
            build_s,
            open_s,
            index_bytes,
            rss_delta_bytes,
            hybrid_p50_ms,
            hybrid_p99_ms,
            with_embedding_p50_ms: emb.map(|e| e.0),
            with_embedding_p99_ms: emb.map(|e| e.1),
            bm25_p50_ms,
            bm25_p99_ms,
            brute_force_p50_ms,
            brute_force_p99_ms,
            hnsw_recall_at_10: recalled as f64 / qs.len().max(1) as f64,
            throughput,
            with_examples,
        });
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(SearchBench { dim, queries, queries_with_embedding, embedder_id: embedder.map(|e| e.id()), rows })
}

/// Builds `corpus` with `per_tool` example vectors and texts per tool in `dir`, and times `qs`.
fn examples_row(
    dir: &std::path::Path,
    corpus: &Synthetic,
    qs: &[(String, Vec<f32>)],
    per_tool: usize,
    rng: &mut SplitMix,
) -> anyhow::Result<ExamplesRow> {
    let mut docs = corpus.docs.clone();
    let mut vectors = Vec::with_capacity(docs.len());
    for (doc, v) in docs.iter_mut() {
        let words: Vec<&str> = doc.name.split('_').collect();
        doc.examples = (0..per_tool)
            .map(|i| format!("please {} {} the {} {i}", words[0], rng.pick(FILLER), words.get(1).unwrap_or(&"")))
            .collect();
        vectors.push((0..per_tool).map(|_| unit(v.iter().map(|x| x + 0.05 * rng.gaussish()).collect())).collect());
    }
    let started = Instant::now();
    let (mut index, _) = SearchIndex::open(dir, "bench:synthetic", corpus.docs[0].1.len())?;
    index.rebuild_with_examples(&docs, &vectors, "bench")?;
    let build_s = started.elapsed().as_secs_f64();
    drop(index);
    let started = Instant::now();
    let (index, state) = SearchIndex::open(dir, "bench:synthetic", corpus.docs[0].1.len())?;
    let open_s = started.elapsed().as_secs_f64();
    if state != IndexState::Opened {
        bail!("the bench index with examples did not reopen: {state:?}");
    }
    let mut hybrid = Vec::with_capacity(qs.len());
    for (text, vector) in qs {
        let t = Instant::now();
        index.search(text, Some(vector), 10, SearchMode::Hybrid)?;
        hybrid.push(t.elapsed());
    }
    let (hybrid_p50_ms, hybrid_p99_ms) = percentiles_ms(&mut hybrid);
    let index_bytes = index.size_on_disk();
    drop(index);
    let _ = std::fs::remove_dir_all(dir);
    Ok(ExamplesRow { examples_per_tool: per_tool, build_s, open_s, index_bytes, hybrid_p50_ms, hybrid_p99_ms })
}

/// Every thread runs all of `qs` against the shared index; the rate counts all of them.
fn throughput(index: &SearchIndex, qs: &[(String, Vec<f32>)], threads: usize) -> anyhow::Result<Throughput> {
    let started = Instant::now();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| -> anyhow::Result<()> {
                    for (text, vector) in qs {
                        index.search(text, Some(vector), 10, SearchMode::Hybrid)?;
                    }
                    Ok(())
                })
            })
            .collect();
        handles.into_iter().try_for_each(|h| h.join().map_err(|_| anyhow::anyhow!("a search thread panicked"))?)
    })?;
    let queries_per_s = (threads * qs.len()) as f64 / started.elapsed().as_secs_f64();
    Ok(Throughput { threads, queries_per_s })
}

/// Resident set size of this process, from /proc (0 where there is none).
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// A small deterministic generator (SplitMix64): the bench needs reproducible data, not a crate.
struct SplitMix(u64);

impl SplitMix {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    /// Roughly normal: the sum of four uniforms, centred.
    fn gaussish(&mut self) -> f32 {
        (0..4).map(|_| (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32).sum::<f32>() - 2.0
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
}

const VERBS: &[&str] = &[
    "parse",
    "convert",
    "compute",
    "fetch",
    "format",
    "validate",
    "sort",
    "filter",
    "merge",
    "split",
    "count",
    "extract",
    "encode",
    "decode",
    "compress",
    "hash",
    "render",
    "summarize",
    "translate",
    "search",
];
const OBJECTS: &[&str] = &[
    "csv",
    "json",
    "date",
    "string",
    "image",
    "url",
    "email",
    "matrix",
    "list",
    "text",
    "number",
    "file",
    "table",
    "log",
    "invoice",
    "calendar",
    "currency",
    "temperature",
    "address",
    "color",
];
const QUALIFIERS: &[&str] = &[
    "fast",
    "batch",
    "utc",
    "unicode",
    "nested",
    "weighted",
    "streaming",
    "sparse",
    "daily",
    "remote",
    "secure",
    "cached",
    "localized",
    "recursive",
    "incremental",
];
const FILLER: &[&str] = &[
    "records",
    "values",
    "fields",
    "rows",
    "entries",
    "items",
    "columns",
    "pages",
    "bytes",
    "tokens",
    "reports",
    "files",
    "timestamps",
    "names",
    "numbers",
];

struct Synthetic {
    docs: Vec<(IndexDoc, Vec<f32>)>,
    centres: Vec<Vec<f32>>,
}

impl Synthetic {
    fn new(rng: &mut SplitMix, size: usize, dim: usize) -> Synthetic {
        let centres: Vec<Vec<f32>> =
            (0..VERBS.len() * OBJECTS.len()).map(|_| unit((0..dim).map(|_| rng.gaussish()).collect())).collect();
        let docs = (0..size)
            .map(|i| {
                let (v, o) = (rng.below(VERBS.len()), rng.below(OBJECTS.len()));
                let q = rng.pick(QUALIFIERS);
                let name = format!("{}_{}_{}_{i}", VERBS[v], OBJECTS[o], q);
                let description = format!(
                    "{} the {} {} with {} {} and {} {}.",
                    VERBS[v],
                    q,
                    OBJECTS[o],
                    rng.pick(QUALIFIERS),
                    rng.pick(FILLER),
                    rng.pick(OBJECTS),
                    rng.pick(FILLER)
                );
                let c = &centres[v * OBJECTS.len() + o];
                let vector = unit(c.iter().map(|x| x + 0.08 * rng.gaussish()).collect());
                (IndexDoc::new(name, description), vector)
            })
            .collect();
        Synthetic { docs, centres }
    }

    /// A query near a random cluster, in words and as a vector.
    fn query(&self, rng: &mut SplitMix) -> (String, Vec<f32>) {
        let (v, o) = (rng.below(VERBS.len()), rng.below(OBJECTS.len()));
        let text = format!("{} {} {}", VERBS[v], rng.pick(QUALIFIERS), OBJECTS[o]);
        let vector = unit(self.centres[v * OBJECTS.len() + o].iter().map(|x| x + 0.08 * rng.gaussish()).collect());
        (text, vector)
    }

    /// Indices of the `k` most similar vectors by an exact linear scan (the baseline).
    fn brute_force(&self, q: &[f32], k: usize) -> Vec<usize> {
        let mut best: Vec<(f32, usize)> = Vec::with_capacity(k + 1);
        for (i, (_, v)) in self.docs.iter().enumerate() {
            let s: f32 = q.iter().zip(v).map(|(a, b)| a * b).sum();
            if best.len() < k || s > best[best.len() - 1].0 {
                let at = best.partition_point(|(b, _)| *b >= s);
                best.insert(at, (s, i));
                best.truncate(k);
            }
        }
        best.into_iter().map(|(_, i)| i).collect()
    }
}

fn unit(mut v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
    v
}

/// `toolsmith bench search` off the async threads: with the local model from `model_dir` when it
/// loads (the bare model, not the cached one: the benchmark's queries repeat from run to run, and
/// a cache hit is not what "with query embedding" means), without query embedding otherwise.
pub async fn run(
    model_dir: std::path::PathBuf,
    sizes: Vec<usize>,
    queries: usize,
    threads: Vec<usize>,
    examples_per_tool: usize,
) -> anyhow::Result<SearchBench> {
    tokio::task::spawn_blocking(move || {
        let model = crate::registry::embed::LocalMiniLm::load(&model_dir).ok();
        let embedder = model.as_ref().map(|m| m as &dyn Embedder);
        bench_search_with_examples(embedder, &sizes, queries, 7, &threads, examples_per_tool)
    })
    .await?
}
