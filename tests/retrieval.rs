//! Tool retrieval: the hybrid index, its rebuild detection, the local embedder and `eval retrieval`.
//!
//! Tests marked "model" need all-MiniLM-L6-v2 in `$TOOLSMITH_CACHE/models` and fail, naming
//! `scripts/fetch-model.sh`, when it is missing (CI runs that script first). The others use a small
//! deterministic embedder defined here.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use toolsmith::registry::embed::{Embedder, LocalMiniLm, cosine};
use toolsmith::registry::eval::{evaluate_retrieval, load_queries_tsv, load_tools_json};
use toolsmith::registry::index::{DEFAULT_MIN_SCORE, FusionParams, IndexDoc, IndexState, SearchIndex, SearchMode};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/retrieval").join(name)
}

/// The local model, loaded once for the whole file.
fn model() -> &'static LocalMiniLm {
    static MODEL: OnceLock<LocalMiniLm> = OnceLock::new();
    MODEL.get_or_init(|| {
        let dir = toolsmith::runtime::model_dir(&toolsmith::Config::from_env().unwrap()).path;
        match LocalMiniLm::load(&dir) {
            Ok(m) => m,
            Err(e) => panic!("{e:#}"),
        }
    })
}

/// Bag of words hashed into 32 dimensions: similar wording, similar vector. Deterministic.
struct WordHash {
    id: &'static str,
}

impl Embedder for WordHash {
    fn id(&self) -> String {
        self.id.to_string()
    }
    fn dim(&self) -> usize {
        32
    }
    fn embed(&self, texts: &[&str]) -> anyhow::Result<Vec<Vec<f32>>> {
        Ok(texts
            .iter()
            .map(|t| {
                let mut v = vec![0.01f32; 32];
                for w in t.to_lowercase().split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
                    let h = w.bytes().fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32));
                    v[(h % 32) as usize] += 1.0;
                }
                v
            })
            .collect())
    }
}

const HASH: WordHash = WordHash { id: "test:wordhash:32" };

fn docs() -> Vec<IndexDoc> {
    load_tools_json(&fixture("tools.json")).unwrap()
}

fn with_vectors(e: &dyn Embedder, docs: &[IndexDoc]) -> Vec<(IndexDoc, Vec<f32>)> {
    let texts: Vec<String> = docs.iter().map(IndexDoc::embedding_text).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    docs.iter().cloned().zip(e.embed(&refs).unwrap()).collect()
}

fn built_index(dir: &Path, e: &dyn Embedder) -> SearchIndex {
    let (mut index, state) = SearchIndex::open(dir, &e.id(), e.dim()).unwrap();
    assert_eq!(state, IndexState::Fresh);
    index.rebuild(&with_vectors(e, &docs()), "fp-1").unwrap();
    index
}

fn needs_rebuild(dir: &Path, e: &dyn Embedder) -> String {
    match SearchIndex::open(dir, &e.id(), e.dim()).unwrap() {
        (index, IndexState::NeedsRebuild(reason)) => {
            assert!(index.is_empty(), "a rejected index is served as an empty one");
            reason
        }
        (_, other) => panic!("expected NeedsRebuild, got {other:?}"),
    }
}

#[test]
fn a_built_index_reopens_with_its_fingerprint_and_documents() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("index");
    drop(built_index(&dir, &HASH));
    let (index, state) = SearchIndex::open(&dir, &HASH.id(), HASH.dim()).unwrap();
    assert_eq!(state, IndexState::Opened);
    assert_eq!(index.fingerprint(), "fp-1");
    assert_eq!(index.len(), 6);
    let q = HASH.embed(&["count words"]).unwrap().remove(0);
    let hits = index.search("count words", Some(&q), 3, SearchMode::Hybrid).unwrap();
    assert_eq!(hits[0].name, "count_words");
}

#[test]
fn upsert_remove_and_commit_survive_a_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("index");
    let mut index = built_index(&dir, &HASH);
    let doc = IndexDoc::new("roll_dice", "Roll a six-sided die.");
    let v = HASH.embed(&[&doc.embedding_text()]).unwrap().remove(0);
    index.upsert(&doc, &v).unwrap();
    index.upsert(&IndexDoc::new("roll_dice", "Roll one or more dice."), &v).unwrap();
    assert!(index.remove("send_email").unwrap());
    assert!(!index.remove("send_email").unwrap());
    index.set_fingerprint("fp-2");
    index.commit().unwrap();
    drop(index);

    let (index, state) = SearchIndex::open(&dir, &HASH.id(), HASH.dim()).unwrap();
    assert_eq!(state, IndexState::Opened);
    assert_eq!((index.len(), index.fingerprint()), (6, "fp-2"));
    assert!(index.contains("roll_dice") && !index.contains("send_email"));
    let hits = index.search("dice", None, 10, SearchMode::Bm25).unwrap();
    assert_eq!(hits.iter().map(|h| h.name.as_str()).collect::<Vec<_>>(), ["roll_dice"]);
    assert!(index.search("email", None, 10, SearchMode::Bm25).unwrap().is_empty());
}

#[test]
fn deleted_files_need_a_rebuild() {
    for victim in ["manifest.json", "vectors.usearch", "text", "a text segment file"] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("index");
        drop(built_index(&dir, &HASH));
        let path = if victim == "a text segment file" { segment_file(&dir) } else { dir.join(victim) };
        if path.is_dir() {
            std::fs::remove_dir_all(&path).unwrap();
        } else {
            std::fs::remove_file(&path).unwrap();
        }
        let reason = needs_rebuild(&dir, &HASH);
        assert!(!reason.is_empty(), "{victim}");
        // Opening never writes (another process may be reading the files): still rejected.
        let (mut index, state) = SearchIndex::open(&dir, &HASH.id(), HASH.dim()).unwrap();
        assert!(matches!(state, IndexState::NeedsRebuild(_)), "{victim}: {state:?}");
        // The rebuild swaps a whole new index in, which then opens.
        index.rebuild(&with_vectors(&HASH, &docs()), "fp-3").unwrap();
        assert_eq!(index.len(), 6);
        let (index, state) = SearchIndex::open(&dir, &HASH.id(), HASH.dim()).unwrap();
        assert_eq!((state, index.fingerprint(), index.len()), (IndexState::Opened, "fp-3", 6), "{victim}");
    }
}

/// One of tantivy's segment files (postings or terms).
fn segment_file(dir: &Path) -> PathBuf {
    std::fs::read_dir(dir.join("text"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "idx" || x == "term"))
        .expect("a tantivy segment file")
}

#[test]
fn corrupt_files_need_a_rebuild() {
    for what in ["manifest.json", "vectors.usearch", "a text segment"] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("index");
        drop(built_index(&dir, &HASH));
        let path = if what == "a text segment" { segment_file(&dir) } else { dir.join(what) };
        let mut bytes = std::fs::read(&path).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0xff;
        std::fs::write(&path, bytes).unwrap();
        let reason = needs_rebuild(&dir, &HASH);
        assert!(!reason.is_empty(), "{what}");
    }
}

#[test]
fn another_embedder_or_format_needs_a_rebuild() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("index");
    drop(built_index(&dir, &HASH));
    let reason = needs_rebuild(&dir, &WordHash { id: "test:other:32" });
    assert!(reason.contains("test:other:32"), "{reason}");

    drop(built_index(&tmp.path().join("index2"), &HASH));
    let manifest = tmp.path().join("index2/manifest.json");
    let text = std::fs::read_to_string(&manifest).unwrap().replace(
        &format!("\"format_version\": {}", toolsmith::registry::index::FORMAT_VERSION),
        "\"format_version\": 99",
    );
    std::fs::write(&manifest, text).unwrap();
    let reason = needs_rebuild(&tmp.path().join("index2"), &HASH);
    assert!(reason.contains("99"), "{reason}");
}

#[test]
fn bm25_alone_finds_the_three_queries_that_share_a_word() {
    // Needs no model: BM25 mode embeds nothing.
    let queries = load_queries_tsv(&fixture("queries.tsv")).unwrap();
    let reports = evaluate_retrieval(&docs(), &queries, &HASH, &[SearchMode::Bm25], FusionParams::default()).unwrap();
    let r = &reports[0];
    assert_eq!((r.n, r.top1, r.top5, r.mrr), (6, 0.5, 0.5, 0.5));
}

#[test]
fn a_missing_model_names_the_script_that_fetches_it() {
    let empty = tempfile::tempdir().unwrap();
    let err = LocalMiniLm::load(empty.path()).err().expect("no model in an empty directory");
    assert!(format!("{err:#}").contains("scripts/fetch-model.sh"), "{err:#}");
}

// ---- with the local model ----

#[test]
fn model_similarity_matches_the_reference() {
    let v = model().embed(&["A man is eating food.", "A man is eating a piece of bread."]).unwrap();
    assert_eq!(v[0].len(), 384);
    let norm: f32 = v[0].iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-4, "vectors are unit length, got {norm}");
    let c = cosine(&v[0], &v[1]);
    assert!((c - 0.755).abs() < 0.01, "cos = {c}");
    // Batching pads; padding must not change a vector.
    let alone = model().embed(&["A man is eating food."]).unwrap();
    assert!(cosine(&alone[0], &v[0]) > 0.9999);
}

#[test]
fn hybrid_and_vector_find_every_tool_of_the_tiny_set() {
    let queries = load_queries_tsv(&fixture("queries.tsv")).unwrap();
    let modes = [SearchMode::Hybrid, SearchMode::Bm25, SearchMode::Vector];
    let reports = evaluate_retrieval(&docs(), &queries, model(), &modes, FusionParams::default()).unwrap();
    let figures: Vec<(SearchMode, f64, f64, f64)> = reports.iter().map(|r| (r.mode, r.top1, r.top5, r.mrr)).collect();
    assert_eq!(
        figures,
        [(SearchMode::Hybrid, 1.0, 1.0, 1.0), (SearchMode::Bm25, 0.5, 0.5, 0.5), (SearchMode::Vector, 1.0, 1.0, 1.0)]
    );
}

#[test]
fn name_queries_win() {
    let tmp = tempfile::tempdir().unwrap();
    let mut tools = docs();
    // Neighbours that share words with the names asked for.
    tools.push(IndexDoc::new("reverse_list", "Reverse the order of the items of a list."));
    tools.push(IndexDoc::new("string_length", "Number of characters in a string."));
    tools.push(IndexDoc::new("WordCounter", "Tally words in a document."));
    let (mut index, _) = SearchIndex::open(&tmp.path().join("index"), &model().id(), model().dim()).unwrap();
    index.rebuild(&with_vectors(model(), &tools), "fp").unwrap();
    for (query, want) in [
        ("reverse string", "reverse_string"),
        ("reverse_string", "reverse_string"),
        ("reverseString", "reverse_string"),
        ("count words", "count_words"),
        ("word counter", "WordCounter"),
        ("string length", "string_length"),
    ] {
        let q = model().embed(&[query]).unwrap().remove(0);
        let hits = index.search(query, Some(&q), 3, SearchMode::Hybrid).unwrap();
        assert_eq!(hits[0].name, want, "{query}: {hits:?}");
        assert_eq!(hits[0].score, 1.0, "{query}");
        assert!(hits[1].score < 1.0, "{query}: {hits:?}");
    }
}

#[test]
fn scores_are_similarities_cut_by_the_default_threshold() {
    let tmp = tempfile::tempdir().unwrap();
    let index = built_index(&tmp.path().join("index"), model());
    let search = |q: &str| {
        let v = model().embed(&[q]).unwrap().remove(0);
        index.search(q, Some(&v), 6, SearchMode::Hybrid).unwrap()
    };
    for q in
        ["convert 30 degrees celsius to fahrenheit", "reverse the characters of this text", "send an email to my boss"]
    {
        let hits = search(q);
        assert!(hits[0].score >= DEFAULT_MIN_SCORE, "{q}: {hits:?}");
    }
    for q in ["bake sourdough bread at home", "who won the football world cup in 1998"] {
        let hits = search(q);
        assert!(hits.iter().all(|h| h.score < DEFAULT_MIN_SCORE), "{q}: {hits:?}");
    }
    for q in ["reverse string", "how many words are in this paragraph", "bake sourdough bread"] {
        assert!(search(q).iter().all(|h| (0.0..=1.0).contains(&h.score)), "{q}");
    }
}

#[test]
fn eval_cli_prints_the_json_figures() {
    let paths = toolsmith::Config::from_env().unwrap().paths;
    // Fails with the fetch-model.sh message when the model is missing.
    let _ = model();
    let home = tempfile::tempdir().unwrap();
    let out = assert_cmd::Command::cargo_bin("toolsmith")
        .unwrap()
        .env("TOOLSMITH_HOME", home.path())
        .env("TOOLSMITH_CACHE", &paths.cache)
        .args(["eval", "retrieval", "--mode", "bm25", "--json", "--no-cache", "--tools"])
        .arg(fixture("tools.json"))
        .arg("--queries")
        .arg(fixture("queries.tsv"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["top1", "top5", "mrr", "p50_ms", "p99_ms", "n", "threshold_curve"]);
    assert_eq!((v["top1"].as_f64(), v["mrr"].as_f64(), v["n"].as_u64()), (Some(0.5), Some(0.5), Some(6)));
    // The curve's shares only fall as the threshold rises.
    let curve = v["threshold_curve"].as_array().unwrap();
    assert_eq!(curve.len(), 66);
    let found: Vec<f64> = curve.iter().map(|p| p["expected_at_or_above"].as_f64().unwrap()).collect();
    assert!(found.windows(2).all(|w| w[0] >= w[1]) && found[0] > 0.0, "{found:?}");
}

#[test]
fn bench_search_reports_each_size_beside_the_brute_force_baseline() {
    // Shape only: timings are reported, never asserted.
    let bench = toolsmith::bench::search::bench_search(None, &[300, 600], 20, 7, &[1, 2]).unwrap();
    assert_eq!(bench.rows.iter().map(|r| r.tools).collect::<Vec<_>>(), [300, 600]);
    for r in &bench.rows {
        assert!(r.index_bytes > 0 && r.with_embedding_p50_ms.is_none());
        assert_eq!(r.throughput.iter().map(|t| t.threads).collect::<Vec<_>>(), [1, 2]);
        assert!(r.throughput.iter().all(|t| t.queries_per_s > 0.0), "{r:?}");
        assert!(r.hnsw_recall_at_10 >= 0.9, "HNSW misses the exact nearest vector: {r:?}");
    }
}

#[test]
fn open_removes_debris_of_dead_rebuilds_and_keeps_live_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("index");
    drop(built_index(&dir, &HASH));
    // pid 1 is alive; a pid beyond the kernel's maximum never is.
    let live = tmp.path().join(".index.rebuild-1-live");
    let dead = tmp.path().join(".index.rebuild-4294967294-dead");
    let old = tmp.path().join(".index.old-4294967294-dead");
    for d in [&live, &dead, &old] {
        std::fs::create_dir(d).unwrap();
    }
    let (_, state) = SearchIndex::open(&dir, &HASH.id(), HASH.dim()).unwrap();
    assert_eq!(state, IndexState::Opened);
    assert!(live.exists() && !dead.exists() && !old.exists());
}
