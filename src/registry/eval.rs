//! Measuring the search: retrieval quality on a labelled data set ([`evaluate_retrieval`], behind
//! `toolsmith eval retrieval`). Latency at scale is `crate::bench::search`.
//!
//! It runs the production code: a [`SearchIndex`] built with [`SearchIndex::rebuild_with_examples`]
//! in a throw-away directory, documents embedded with [`IndexDoc::embedding_text`].
//!
//! With a usage history (`--history FILE`, labelled queries like the evaluated ones), each tool
//! first learns the history's queries for it as example requests, by the registry's own policy
//! (`registry::examples`: cleaned, near-duplicates dropped, at most `--examples-per-tool` each),
//! so the evaluation measures what learning from use gives on queries it never saw. An evaluated
//! query that is also in the history is left out (and counted).

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, bail};
use serde::Serialize;

use super::embed::Embedder;
use super::examples;
use super::index::{ExampleVectors, FusionParams, Hit, IndexDoc, SearchIndex, SearchMode};

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
    /// The cap on examples learned per tool from the history (0 without one).
    pub examples_per_tool: usize,
    /// Examples learned in all.
    pub examples: usize,
    /// Queries evaluated.
    pub n: usize,
    /// Queries left out because the history holds them too.
    pub skipped_in_history: usize,
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
    /// The lowest threshold of the curve at which the best other tool clears it for at most
    /// [`super::tune::DEFAULT_MAX_WRONG_RATE`] of the queries, with its point (tuned on these
    /// queries: apply it to others to judge it).
    pub tuned: Option<ThresholdPoint>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct ThresholdPoint {
    pub threshold: f32,
    pub expected_at_or_above: f64,
    pub best_other_at_or_above: f64,
}

/// What `toolsmith eval retrieval` evaluates.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// `{"tool_name": "description", ...}`.
    pub tools: std::path::PathBuf,
    /// TSV of `query<TAB>expected_tool_name`.
    pub queries: std::path::PathBuf,
    pub modes: Vec<SearchMode>,
    pub fusion: FusionParams,
    /// TSV of labelled queries loaded as usage history (example requests) first.
    pub history: Option<std::path::PathBuf>,
    /// Caps on the examples learned per tool: one evaluation each (the learning curve).
    pub examples_per_tool: Vec<usize>,
    /// Keep query and tool embeddings in `$TOOLSMITH_CACHE/embedding-cache.sqlite`.
    pub cache: bool,
}

/// `toolsmith eval retrieval`: load the files, embed with the local model (cached unless asked
/// not to) and evaluate each mode, off the async threads. Returns the tool and query counts too.
pub async fn evaluate_files(
    config: &crate::Config,
    o: EvalOptions,
) -> anyhow::Result<(usize, usize, Vec<RetrievalReport>)> {
    let (model_dir, cache_dir) = (crate::runtime::model_dir(config).path, config.paths.cache.clone());
    tokio::task::spawn_blocking(move || {
        let tools = load_tools_json(&o.tools)?;
        let queries = load_queries_tsv(&o.queries)?;
        let history = match &o.history {
            Some(h) => load_queries_tsv(h)?,
            None => Vec::new(),
        };
        let caps = if o.examples_per_tool.is_empty() {
            vec![if history.is_empty() { 0 } else { examples::MAX_EXAMPLES_PER_TOOL }]
        } else {
            o.examples_per_tool.clone()
        };
        if history.is_empty() && caps.iter().any(|&c| c > 0) {
            bail!("--examples-per-tool needs --history FILE to learn examples from");
        }
        let model = super::embed::LocalMiniLm::load(&model_dir)?;
        let run = |embedder: &dyn Embedder| -> anyhow::Result<Vec<RetrievalReport>> {
            let mut all = Vec::new();
            for &cap in &caps {
                all.extend(evaluate_with_history(&tools, &history, cap, &queries, embedder, &o.modes, o.fusion)?);
            }
            Ok(all)
        };
        let reports = if o.cache {
            std::fs::create_dir_all(&cache_dir).with_context(|| format!("creating {}", cache_dir.display()))?;
            let db = cache_dir.join("embedding-cache.sqlite");
            let conn = rusqlite::Connection::open(&db).with_context(|| format!("opening {}", db.display()))?;
            let cached = super::embed::CachedEmbedder::new(model, conn)?;
            run(&cached)?
        } else {
            run(&model)?
        };
        Ok((tools.len(), queries.len(), reports))
    })
    .await?
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
    evaluate_with_history(tools, &[], 0, queries, embedder, modes, fusion)
}

/// [`evaluate_retrieval`] after each tool learned at most `per_tool` examples from `history`
/// (see the module documentation); queries also in the history are left out.
pub fn evaluate_with_history(
    tools: &[IndexDoc],
    history: &[LabelledQuery],
    per_tool: usize,
    queries: &[LabelledQuery],
    embedder: &dyn Embedder,
    modes: &[SearchMode],
    fusion: FusionParams,
) -> anyhow::Result<Vec<RetrievalReport>> {
    let known: std::collections::HashSet<&str> = tools.iter().map(|t| t.name.as_str()).collect();
    if let Some(q) = queries.iter().chain(history).find(|q| !known.contains(q.expected.as_str())) {
        bail!("query {:?} expects tool {:?}, which is not among the tools", q.query, q.expected);
    }
    let seen: std::collections::HashSet<String> = history.iter().map(|q| examples::normalized(&q.query)).collect();
    let all = queries.len();
    let queries: Vec<LabelledQuery> =
        queries.iter().filter(|q| !seen.contains(&examples::normalized(&q.query))).cloned().collect();
    let skipped_in_history = all - queries.len();
    if queries.is_empty() {
        bail!("no queries to evaluate");
    }
    let (docs, example_vectors) = learn_history(tools, history, per_tool, embedder)?;
    let n_examples: usize = docs.iter().map(|d| d.examples.len()).sum();
    let tmp = tempfile::tempdir().context("creating a temporary index directory")?;
    let index =
        build_index_with_examples(&tmp.path().join("index"), &docs, &example_vectors, embedder)?.with_fusion(fusion);
    let queries = queries.as_slice();

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
            let (p50_ms, p99_ms) = crate::bench::percentiles_ms(&mut latencies);
            let threshold_curve = threshold_curve(&expected_scores, &other_scores);
            let tuned = threshold_curve
                .iter()
                .find(|p| p.best_other_at_or_above <= super::tune::DEFAULT_MAX_WRONG_RATE)
                .copied();
            Ok(RetrievalReport {
                mode,
                examples_per_tool: per_tool,
                examples: n_examples,
                n: queries.len(),
                skipped_in_history,
                top1,
                top5,
                mrr,
                mrr_at_10,
                p50_ms,
                p99_ms,
                embed_ms_per_query: if mode == SearchMode::Bm25 { 0.0 } else { embed_ms_per_query },
                threshold_curve,
                tuned,
            })
        })
        .collect()
}

fn score_of(hits: &[Hit], pick: impl Fn(&Hit) -> bool) -> f32 {
    hits.iter().find(|h| pick(h)).map_or(0.0, |h| h.score)
}

fn threshold_curve(expected: &[f32], other: &[f32]) -> Vec<ThresholdPoint> {
    let share = |xs: &[f32], t: f32| xs.iter().filter(|&&s| s >= t).count() as f64 / xs.len().max(1) as f64;
    (30..=95)
        .map(|i| {
            let t = i as f32 / 100.0;
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
    build_index_with_examples(dir, tools, &[], embedder)
}

/// [`build_index`] of tools with examples, `example_vectors[i]` those of `tools[i]` (or empty).
pub fn build_index_with_examples(
    dir: &Path,
    tools: &[IndexDoc],
    example_vectors: &[Vec<Vec<f32>>],
    embedder: &dyn Embedder,
) -> anyhow::Result<SearchIndex> {
    let texts: Vec<String> = tools.iter().map(IndexDoc::embedding_text).collect();
    let vectors = embed_all(embedder, texts.iter().map(String::as_str))?;
    let (mut index, _) = SearchIndex::open(dir, &embedder.id(), embedder.dim())?;
    let docs: Vec<(IndexDoc, Vec<f32>)> = tools.iter().cloned().zip(vectors).collect();
    index.rebuild_with_examples(&docs, example_vectors, "eval")?;
    Ok(index)
}

/// `tools` with the examples each learns from `history`, in its order, by the registry's
/// policy: cleaned (unusable ones skipped), duplicates and near-duplicates of what the tool has
/// dropped, at most `per_tool` (and [`examples::MAX_EXAMPLES_PER_TOOL`]). Returns the example
/// vectors beside, as [`SearchIndex::rebuild_with_examples`] takes them.
pub fn learn_history(
    tools: &[IndexDoc],
    history: &[LabelledQuery],
    per_tool: usize,
    embedder: &dyn Embedder,
) -> anyhow::Result<(Vec<IndexDoc>, Vec<ExampleVectors>)> {
    let cap = per_tool.min(examples::MAX_EXAMPLES_PER_TOOL);
    let mut docs = tools.to_vec();
    let mut vectors: Vec<Vec<Vec<f32>>> = vec![Vec::new(); docs.len()];
    if cap == 0 || history.is_empty() {
        return Ok((docs, vectors));
    }
    let at: std::collections::HashMap<&str, usize> =
        tools.iter().enumerate().map(|(i, t)| (t.name.as_str(), i)).collect();
    let usable: Vec<(usize, String)> =
        history.iter().filter_map(|q| Some((*at.get(q.expected.as_str())?, examples::clean(&q.query).ok()?))).collect();
    let embedded = embed_all(embedder, usable.iter().map(|(_, t)| t.as_str()))?;
    for ((i, text), v) in usable.into_iter().zip(embedded) {
        let doc = &mut docs[i];
        if doc.examples.len() >= cap
            || doc.examples.iter().any(|e| examples::normalized(e) == examples::normalized(&text))
            || examples::near_duplicate(&v, &vectors[i])
        {
            continue;
        }
        doc.examples.push(text);
        vectors[i].push(v);
    }
    Ok((docs, vectors))
}
