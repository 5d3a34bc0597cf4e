//! Measuring the search: retrieval quality on a labelled data set ([`evaluate_retrieval`], behind
//! `toolsmith eval retrieval`) and latency at scale ([`bench_search`], behind `toolsmith bench search`).
//!
//! Both run the production code: a [`SearchIndex`] built with [`SearchIndex::rebuild`] in a
//! throw-away directory, documents embedded with [`IndexDoc::embedding_text`].

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;

use super::embed::Embedder;
use super::index::{FusionParams, Hit, IndexDoc, IndexState, SearchIndex, SearchMode};

/// How many hits a timed evaluation search asks for (the expected tool's rank beyond it is found
/// by a second, untimed search over all tools).
pub const EVAL_K: usize = 10;
/// Query texts embedded per call.
const EMBED_BATCH: usize = 64;

/// A query and the name of the tool that answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelledQuery {
    pub query: String,
    pub expected: String,
}

/// Reads `{"tool_name": "description", ...}`.
pub fn load_tools_json(path: &Path) -> anyhow::Result<Vec<IndexDoc>> {
    let raw = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let map: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&raw)
        .with_context(|| format!("{}: expected a JSON object {{name: description}}", path.display()))?;
    map.into_iter()
        .map(|(name, v)| match v {
            serde_json::Value::String(d) => Ok(IndexDoc::new(name, d)),
            other => bail!("{}: the description of {name:?} is not a string: {other}", path.display()),
        })
        .collect()
}

/// Reads `query<TAB>expected_name` lines. The first line is a header; blank lines are skipped, and
/// so are lines without a tab or with an empty side (a warning names each: data sets have a few,
/// e.g. a query broken over two lines).
pub fn load_queries_tsv(path: &Path) -> anyhow::Result<Vec<LabelledQuery>> {
    let raw = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in raw.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        match line.split_once('\t').map(|(q, t)| (q.trim(), t.trim())) {
            Some((q, t)) if !q.is_empty() && !t.is_empty() => {
                out.push(LabelledQuery { query: q.to_string(), expected: t.to_string() })
            }
            _ => tracing::warn!("{}:{}: not query<TAB>tool, skipped", path.display(), i + 1),
        }
    }
    Ok(out)
}

/// Quality and speed of one mode on one data set.
#[derive(Debug, Clone, Serialize)]
pub struct RetrievalReport {
    pub mode: SearchMode,
    /// Queries evaluated.
    pub n: usize,
    /// Share of queries whose expected tool is ranked first.
    pub top1: f64,
    /// Share of queries whose expected tool is in the first five.
    pub top5: f64,
    /// Mean reciprocal rank of the expected tool over the whole ranking (0 when the mode does not
    /// rank it at all, e.g. BM25 with no word in common).
    pub mrr: f64,
    /// The same, counting 0 beyond rank 10.
    pub mrr_at_10: f64,
    /// Search latency (query embedding excluded), median and 99th percentile, in milliseconds.
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Time to embed the queries, per query, in milliseconds (batched; 0 for BM25).
    pub embed_ms_per_query: f64,
    /// For thresholds `t`: share of queries whose expected tool scores ≥ t (it would be found), and
    /// share whose best *other* tool scores ≥ t (a wrong tool would be taken if the right one were
    /// missing from the registry).
    pub threshold_curve: Vec<ThresholdPoint>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ThresholdPoint {
    pub threshold: f32,
    pub expected_at_or_above: f64,
    pub best_other_at_or_above: f64,
}

/// Builds a throw-away index from `tools`, runs every query in each of `modes`, and scores the
/// rankings. Queries are embedded once, in batches, outside the timed search.
pub fn evaluate_retrieval(
    tools: &[IndexDoc],
    queries: &[LabelledQuery],
    embedder: &dyn Embedder,
    modes: &[SearchMode],
    fusion: FusionParams,
) -> anyhow::Result<Vec<RetrievalReport>> {
    if queries.is_empty() {
        bail!("no queries to evaluate");
    }
    let known: std::collections::HashSet<&str> = tools.iter().map(|t| t.name.as_str()).collect();
    if let Some(q) = queries.iter().find(|q| !known.contains(q.expected.as_str())) {
        bail!("query {:?} expects tool {:?}, which is not among the tools", q.query, q.expected);
    }
    let tmp = tempfile::tempdir().context("creating a temporary index directory")?;
    let index = build_index(&tmp.path().join("index"), tools, embedder)?.with_fusion(fusion);

    let needs_vectors = modes.iter().any(|m| *m != SearchMode::Bm25);
    let started = Instant::now();
    let query_vectors =
        if needs_vectors { embed_all(embedder, queries.iter().map(|q| q.query.as_str()))? } else { Vec::new() };
    let embed_ms_per_query = started.elapsed().as_secs_f64() * 1000.0 / queries.len() as f64;

    modes
        .iter()
        .map(|&mode| {
            let mut ranks = Vec::with_capacity(queries.len());
            let mut latencies = Vec::with_capacity(queries.len());
            let mut expected_scores = Vec::with_capacity(queries.len());
            let mut other_scores = Vec::with_capacity(queries.len());
            for (i, q) in queries.iter().enumerate() {
                let emb = query_vectors.get(i).map(Vec::as_slice).filter(|_| mode != SearchMode::Bm25);
                let t = Instant::now();
                let hits = index.search(&q.query, emb, EVAL_K, mode)?;
                latencies.push(t.elapsed());
                other_scores.push(score_of(&hits, |h| h.name != q.expected));
                let mut rank = hits.iter().position(|h| h.name == q.expected);
                let mut expected_score = score_of(&hits, |h| h.name == q.expected);
                if rank.is_none() {
                    let all = index.search(&q.query, emb, tools.len(), mode)?;
                    rank = all.iter().position(|h| h.name == q.expected);
                    expected_score = score_of(&all, |h| h.name == q.expected);
                }
                ranks.push(rank);
                expected_scores.push(expected_score);
            }
            let RankMetrics { top1, top5, mrr, mrr_at_10 } = rank_metrics(&ranks);
            let (p50_ms, p99_ms) = percentiles_ms(&mut latencies);
            Ok(RetrievalReport {
                mode,
                n: queries.len(),
                top1,
                top5,
                mrr,
                mrr_at_10,
                p50_ms,
                p99_ms,
                embed_ms_per_query: if mode == SearchMode::Bm25 { 0.0 } else { embed_ms_per_query },
                threshold_curve: threshold_curve(&expected_scores, &other_scores),
            })
        })
        .collect()
}

fn score_of(hits: &[Hit], pick: impl Fn(&Hit) -> bool) -> f32 {
    hits.iter().find(|h| pick(h)).map_or(0.0, |h| h.score)
}

fn threshold_curve(expected: &[f32], other: &[f32]) -> Vec<ThresholdPoint> {
    let share = |xs: &[f32], t: f32| xs.iter().filter(|&&s| s >= t).count() as f64 / xs.len().max(1) as f64;
    (6..=16)
        .map(|i| {
            let t = i as f32 / 20.0;
            ThresholdPoint {
                threshold: t,
                expected_at_or_above: share(expected, t),
                best_other_at_or_above: share(other, t),
            }
        })
        .collect()
}

/// Ranking quality over a set of queries.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RankMetrics {
    pub top1: f64,
    pub top5: f64,
    pub mrr: f64,
    pub mrr_at_10: f64,
}

/// Metrics from the 0-based rank of each query's expected tool (None: not ranked at all).
pub fn rank_metrics(ranks: &[Option<usize>]) -> RankMetrics {
    let n = ranks.len().max(1) as f64;
    let share = |within: usize| ranks.iter().filter(|r| r.is_some_and(|r| r < within)).count() as f64 / n;
    let mean_rr = |within: usize| {
        ranks.iter().map(|r| r.filter(|&r| r < within).map_or(0.0, |r| 1.0 / (r as f64 + 1.0))).sum::<f64>() / n
    };
    RankMetrics { top1: share(1), top5: share(5), mrr: mean_rr(usize::MAX), mrr_at_10: mean_rr(10) }
}

/// Median and 99th percentile (nearest rank), in milliseconds.
pub fn percentiles_ms(samples: &mut [Duration]) -> (f64, f64) {
    if samples.is_empty() {
        return (0.0, 0.0);
    }
    samples.sort();
    let at = |p: f64| {
        let i = ((p * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1;
        samples[i].as_secs_f64() * 1000.0
    };
    (at(0.50), at(0.99))
}

fn embed_all<'a>(embedder: &dyn Embedder, texts: impl Iterator<Item = &'a str>) -> anyhow::Result<Vec<Vec<f32>>> {
    let texts: Vec<&str> = texts.collect();
    let mut out = Vec::with_capacity(texts.len());
    for chunk in texts.chunks(EMBED_BATCH) {
        out.extend(embedder.embed(chunk)?);
    }
    Ok(out)
}

/// Embeds `tools` and builds an index of them in `dir` (the production path: rebuild).
pub fn build_index(dir: &Path, tools: &[IndexDoc], embedder: &dyn Embedder) -> anyhow::Result<SearchIndex> {
    let texts: Vec<String> = tools.iter().map(IndexDoc::embedding_text).collect();
    let vectors = embed_all(embedder, texts.iter().map(String::as_str))?;
    let (mut index, _) = SearchIndex::open_or_create(dir, &embedder.id(), embedder.dim())?;
    let docs: Vec<(IndexDoc, Vec<f32>)> = tools.iter().cloned().zip(vectors).collect();
    index.rebuild(&docs, "eval")?;
    Ok(index)
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
        let (mut index, _) = SearchIndex::open_or_create(&dir, "bench:synthetic", dim)?;
        index.rebuild(&corpus.docs, "bench")?;
        let build_s = started.elapsed().as_secs_f64();
        let rss_delta_bytes = rss_bytes() as i64 - rss_before as i64;
        drop(index);
        let started = Instant::now();
        let (index, state) = SearchIndex::open_or_create(&dir, "bench:synthetic", dim)?;
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
        let (hybrid_p50_ms, hybrid_p99_ms) = percentiles_ms(&mut hybrid);
        let (bm25_p50_ms, bm25_p99_ms) = percentiles_ms(&mut bm25);
        let (brute_force_p50_ms, brute_force_p99_ms) = percentiles_ms(&mut brute);
        let emb = (!with_embedding.is_empty()).then(|| percentiles_ms(&mut with_embedding));
        rows.push(SearchBenchRow {
            tools: size,
            build_s,
            open_s,
            index_bytes: index.size_on_disk(),
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
        });
        drop(index);
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(SearchBench { dim, queries, queries_with_embedding, embedder_id: embedder.map(|e| e.id()), rows })
}

/// Resident set size of this process, from /proc (0 where there is none).
fn rss_bytes() -> u64 {
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
