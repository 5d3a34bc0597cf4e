//! The fused search: BM25 and cosine candidates, one similarity in `[0, 1]`.

use std::collections::HashMap;

use anyhow::bail;
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::{DocAddress, Term};

use super::super::embed::cosine;
use super::super::text::name_as_text;
use super::schema::analyze;
use super::{Hit, SearchIndex, SearchMode};

/// A candidate's signals: BM25, cosine with the description, best cosine with an example.
type Signals = (Option<f32>, Option<f32>, Option<f32>);

/// Example hits asked of the example index per candidate wanted: a tool's examples are close to
/// each other, so one query finds several of the same tool.
const EXAMPLE_HITS_PER_CANDIDATE: usize = 4;

/// How the hybrid score is made.
///
/// ```text
/// bm25n  = bm25 / (bm25 + bm25_half)                       saturating, in [0, 1)
/// d      = max(cosine(query, description), 0)               in [0, 1]
/// e      = max over the tool's examples of cosine(query, example), 0 without examples
/// cos⁺   = d + example_weight · max(e − d, 0)               in [0, 1]
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
/// Examples (requests users made of the tool, see `registry::examples`) are scored by their best
/// match (max-sim), which lifts a tool only when some example is closer to the query than its
/// description: a tool never scores lower for having examples, and a cold registry scores as
/// before. BM25 reads the examples as one more field (`examples_boost`). How `example_weight` and
/// `examples_boost` were chosen: ARCHITECTURE.md, "Search score".
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
    /// Share of the lead of the best example over the description that counts (1: max-sim).
    pub example_weight: f32,
    /// BM25 boost of the examples' words.
    pub examples_boost: f32,
    /// Examples at least this close to the query are not counted (tuning on past requests: a
    /// request the tool learned is not scored against itself). `None` in production.
    pub ignore_examples_above: Option<f32>,
}

impl Default for FusionParams {
    fn default() -> FusionParams {
        FusionParams {
            dense_weight: 0.8,
            bm25_half: 8.0,
            candidates: 50,
            name_boost: 1.5,
            params_boost: 0.5,
            example_weight: 0.75,
            examples_boost: 0.5,
            ignore_examples_above: None,
        }
    }
}

impl SearchIndex {
    /// The `k` best tools for a query. `query_embedding` comes from the index's embedder; without it,
    /// hybrid mode ranks by BM25 alone and vector mode is an error. Scores are in `[0, 1]`, best first.
    pub fn search(
        &self,
        query_text: &str,
        query_embedding: Option<&[f32]>,
        k: usize,
        mode: SearchMode,
    ) -> anyhow::Result<Vec<Hit>> {
        self.search_with(query_text, query_embedding, k, mode, &self.fusion)
    }

    /// [`SearchIndex::search`] with other fusion parameters than the index's.
    pub fn search_with(
        &self,
        query_text: &str,
        query_embedding: Option<&[f32]>,
        k: usize,
        mode: SearchMode,
        fusion: &FusionParams,
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
        let n = fusion.candidates.max(k);
        // The query as an identifier too, so `reverseString` and `reverse_string` match the name's words.
        let mut analyzer = self.analyzer.clone();
        let name_words = analyze(&mut analyzer, &name_as_text(query_text));
        let mut query_words = analyze(&mut analyzer, query_text);
        query_words.extend(name_words.iter().cloned());

        let mut cands: HashMap<u64, Signals> = HashMap::new();
        if mode != SearchMode::Vector {
            for (key, score) in self.bm25(&query_words, n, fusion)? {
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
            if self.examples.size() > 0 {
                // Several examples of one tool may come back: ask for more than `n`.
                let found = self
                    .examples
                    .search(q, (n * EXAMPLE_HITS_PER_CANDIDATE).min(self.examples.size()))
                    .map_err(|e| anyhow::anyhow!("example vector search: {e}"))?;
                // A tool with an example among the nearest has its best example among them too
                // (it is nearer still): its best match is read off the hits. Only the others are
                // compared with each of their examples (and every tool, when some examples are
                // to be ignored).
                let mut from_hits: HashMap<u64, f32> = HashMap::new();
                for (key, dist) in found.keys.iter().zip(&found.distances) {
                    let c = cands.entry(*key).or_default();
                    if mode == SearchMode::Hybrid {
                        c.0.get_or_insert(0.0);
                    }
                    let best = from_hits.entry(*key).or_insert(f32::MIN);
                    *best = best.max(1.0 - dist);
                }
                let mut buf = Vec::new();
                for (key, c) in cands.iter_mut() {
                    c.2 = match (from_hits.get(key), fusion.ignore_examples_above) {
                        (Some(&best), None) => Some(best),
                        _ => self.best_example(*key, q, fusion.ignore_examples_above, &mut buf)?,
                    };
                }
            }
            let mut buf = vec![0f32; self.dim];
            for (key, c) in cands.iter_mut().filter(|(_, c)| c.1.is_none()) {
                let found = self.vectors.get(*key, &mut buf).map_err(|e| anyhow::anyhow!("reading a vector: {e}"))?;
                c.1 = (found > 0).then(|| cosine(q, &buf));
            }
        }

        let mut hits: Vec<Hit> = cands
            .into_iter()
            .filter_map(|(key, (bm25, cos, example))| {
                let name = self.names.get(&key)?;
                let dense = || {
                    let d = cos.unwrap_or(0.0).max(0.0);
                    let e = example.unwrap_or(0.0).max(0.0);
                    d + fusion.example_weight * (e - d).max(0.0)
                };
                let score = match mode {
                    SearchMode::Bm25 => bm25_norm(bm25.unwrap_or(0.0), fusion),
                    SearchMode::Vector => dense(),
                    SearchMode::Hybrid => {
                        if !name_words.is_empty() && analyze(&mut analyzer, &name_as_text(name)) == name_words {
                            1.0
                        } else {
                            let w = fusion.dense_weight;
                            w * dense() + (1.0 - w) * bm25_norm(bm25.unwrap_or(0.0), fusion)
                        }
                    }
                };
                Some(Hit {
                    name: name.clone(),
                    score: score.clamp(0.0, 1.0),
                    bm25,
                    cosine: cos,
                    example_cosine: example,
                })
            })
            .collect();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.name.cmp(&b.name)));
        hits.truncate(k);
        Ok(hits)
    }

    /// The best cosine of `q` and the examples of the tool `key` (exact: every example is read),
    /// `None` when it has none. `buf` is scratch space, reused across calls.
    fn best_example(
        &self,
        key: u64,
        q: &[f32],
        ignore_above: Option<f32>,
        buf: &mut Vec<f32>,
    ) -> anyhow::Result<Option<f32>> {
        let count = self.examples.count(key);
        if count == 0 {
            return Ok(None);
        }
        buf.resize(count * self.dim, 0.0);
        let got = self.examples.get(key, buf.as_mut_slice()).map_err(|e| anyhow::anyhow!("reading examples: {e}"))?;
        let ignored = |c: &f32| ignore_above.is_some_and(|t| *c >= t);
        Ok(buf.chunks_exact(self.dim).take(got).map(|v| cosine(q, v)).filter(|c| !ignored(c)).reduce(f32::max))
    }

    /// BM25 over name words, description and parameters: (key, score) of the `n` best.
    fn bm25(&self, words: &[String], n: usize, fusion: &FusionParams) -> anyhow::Result<Vec<(u64, f32)>> {
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
            for (field, boost) in [
                (f.name_words, fusion.name_boost),
                (f.description, 1.0),
                (f.params, fusion.params_boost),
                (f.examples, fusion.examples_boost),
            ] {
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

fn bm25_norm(bm25: f32, fusion: &FusionParams) -> f32 {
    let b = bm25.max(0.0);
    b / (b + fusion.bm25_half)
}
