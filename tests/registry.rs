//! CapabilityRegistry: the seed's API (add, get, all, count, delete, cleanup), the similarity
//! threshold, the usage re-rank, name queries, index rebuilds, and registration under SIGKILL.
//!
//! Tools are the fixtures in `tests/fixtures/registry/tools/NAME/{tool.py,test_tool.py}`, compiled,
//! described and tested by the real runtime; embeddings come from the local MiniLM model, loaded
//! once per test process. Each test works in its own temporary `TOOLSMITH_HOME` and shares
//! `$TOOLSMITH_CACHE` (runtime and model).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use serde_json::{Value, json};
use toolsmith::config::Paths;
use toolsmith::registry::embed::{AsyncEmbedder, Embedder, LocalMiniLm, OnBlockingThreads};
use toolsmith::registry::index::{DEFAULT_MIN_SCORE, IndexState, Manifest, SearchIndex, SearchMode};
use toolsmith::registry::{
    CapabilityRegistry, Execution, NewTool, RERANK_RECENT, RERANK_WEIGHT, RebuildReport, Store, ToolMatch, ToolRecord,
    Usage, rerank_score,
};
use toolsmith::runtime::{self, Usage as RuntimeUsage};
use toolsmith::{BUILT_IN_TOOL_NAMES, Config, CreateOptions, Error, ErrorKind, Toolsmith};
use toolsmith_host::{Runtime, TestOptions, ToolUnderTest};

// ---------------------------------------------------------------------------------------------
// Homes, fixtures, embedders

/// A temporary home sharing the configured cache.
struct Home {
    dir: tempfile::TempDir,
    paths: Paths,
}

fn home() -> Home {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let paths = Paths { home: dir.path().to_path_buf(), cache: toolsmith::Config::from_env().unwrap().paths.cache };
    Home { dir, paths }
}

impl Home {
    fn tools_dir(&self) -> PathBuf {
        self.paths.tools_dir()
    }

    fn manifest(&self) -> Option<Manifest> {
        let raw = std::fs::read(self.paths.index_dir().join("manifest.json")).ok()?;
        serde_json::from_slice(&raw).ok()
    }

    /// The `toolsmith` binary, pointed at this home.
    fn cli(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_toolsmith"));
        c.env("TOOLSMITH_HOME", &self.paths.home).env("TOOLSMITH_CACHE", &self.paths.cache).env("RUST_LOG", "warn");
        c
    }
}

fn rt() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        runtime::open(&Config::from_env().unwrap(), RuntimeUsage::OneShot)
            .unwrap_or_else(|e| panic!("the runtime must be built for these tests (scripts/setup.sh): {e}"))
    })
}

/// The local model, loaded once; the registry uses it exactly as `CapabilityRegistry::open` would
/// (same id), minus the embedding cache.
fn minilm() -> Arc<dyn Embedder> {
    static MODEL: OnceLock<Arc<dyn Embedder>> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            let dir = runtime::model_dir(&Config::from_env().unwrap()).path;
            Arc::new(LocalMiniLm::load(&dir).unwrap_or_else(|e| {
                panic!("set TOOLSMITH_CACHE to a cache holding the MiniLM model (scripts/fetch-model.sh): {e:#}")
            }))
        })
        .clone()
}

/// A 384-dimension embedder made of one function per text, standing in for a model.
struct TestEmbedder {
    id: &'static str,
    embed_one: fn(&str) -> anyhow::Result<Vec<f32>>,
}

impl Embedder for TestEmbedder {
    fn id(&self) -> String {
        self.id.into()
    }
    fn dim(&self) -> usize {
        384
    }
    fn embed(&self, texts: &[&str]) -> anyhow::Result<Vec<Vec<f32>>> {
        texts.iter().map(|t| (self.embed_one)(t)).collect()
    }
}

/// Deterministic: every word is hashed (FNV-1a) into one of 384 buckets.
const WORD_HASH: TestEmbedder = TestEmbedder {
    id: "test:word-hash:384",
    embed_one: |text| {
        let mut v = vec![0f32; 384];
        for word in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
            let h = word
                .to_lowercase()
                .bytes()
                .fold(0xcbf29ce484222325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100000001b3));
            v[(h % 384) as usize] += 1.0;
        }
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm == 0.0 {
            v[0] = 1.0;
        } else {
            v.iter_mut().for_each(|x| *x /= norm);
        }
        Ok(v)
    },
};

/// Its service is down.
const OFFLINE: TestEmbedder =
    TestEmbedder { id: "test:offline:384", embed_one: |_| anyhow::bail!("the embedding service is unreachable") };

/// The registry driven from synchronous tests: each call runs on a runtime of its own, as a
/// server's requests would on theirs.
struct Reg {
    rt: tokio::runtime::Runtime,
    reg: CapabilityRegistry,
    /// What opening rebuilt, if anything.
    rebuilt: Option<RebuildReport>,
}

impl Reg {
    fn add_tool(&mut self, t: &NewTool) -> Result<ToolRecord, Error> {
        self.rt.block_on(self.reg.add_tool(t.clone()))
    }
    fn search(&mut self, q: &str, limit: usize, mode: SearchMode, rerank: bool) -> Result<Vec<ToolMatch>, Error> {
        self.rt.block_on(self.reg.search(q, limit, mode, rerank))
    }
    fn search_tool(&mut self, q: &str, threshold: Option<f32>, rerank: bool) -> Result<Option<ToolMatch>, Error> {
        self.rt.block_on(self.reg.search_tool(q, threshold, rerank))
    }
    fn get_tool_by_name(&self, name: &str) -> Result<Option<ToolRecord>, Error> {
        self.rt.block_on(self.reg.get_tool_by_name(name))
    }
    fn get_all_tools(&self) -> Result<Vec<ToolRecord>, Error> {
        self.rt.block_on(self.reg.get_all_tools())
    }
    fn count_tools(&self) -> Result<usize, Error> {
        self.rt.block_on(self.reg.count_tools())
    }
    fn delete_tool(&mut self, name: &str) -> Result<bool, Error> {
        self.rt.block_on(self.reg.delete_tool(name))
    }
    fn cleanup_orphaned_tools(&mut self) -> Result<Vec<String>, Error> {
        self.rt.block_on(self.reg.cleanup_orphaned_tools())
    }
    fn store(&self) -> &Store {
        self.reg.store()
    }
    fn log_execution(&self, e: &Execution<'_>) -> Result<i64, toolsmith::registry::StoreError> {
        self.store().log_execution(e)
    }
}

fn test_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn open_store(paths: &Paths) -> Result<Store, toolsmith::registry::StoreError> {
    Store::open(&paths.db_path(), &paths.tools_dir(), &paths.lock_file())
}

fn open_with(h: &Home, embedder: Arc<dyn Embedder>) -> Reg {
    struct Shared(Arc<dyn Embedder>);
    impl Embedder for Shared {
        fn id(&self) -> String {
            self.0.id()
        }
        fn dim(&self) -> usize {
            self.0.dim()
        }
        fn embed(&self, texts: &[&str]) -> anyhow::Result<Vec<Vec<f32>>> {
            self.0.embed(texts)
        }
    }
    let rt = test_runtime();
    let store = Arc::new(open_store(&h.paths).expect("store opens"));
    let embedder: Arc<dyn AsyncEmbedder> = Arc::new(OnBlockingThreads(Arc::new(Shared(embedder))));
    let reg = rt.block_on(CapabilityRegistry::open(store, h.paths.index_dir(), embedder)).expect("registry opens");
    let rebuilt = reg.take_rebuilt();
    Reg { rt, reg, rebuilt }
}

fn open(h: &Home) -> Reg {
    open_with(h, minilm())
}

/// The registry as the binary opens it: through the facade, with the cached local embedder.
fn open_real(h: &Home) -> Reg {
    let rt = test_runtime();
    let config = Config::from_env().unwrap().with_home(&h.paths.home);
    let reg = rt.block_on(async {
        let ts = Toolsmith::open(config, RuntimeUsage::OneShot).await.unwrap();
        ts.registry().await.unwrap().clone()
    });
    let rebuilt = reg.take_rebuilt();
    Reg { rt, reg, rebuilt }
}

/// A fixture tool with what verification makes of it.
struct Fixture {
    name: String,
    code: String,
    tests: String,
    docstring: String,
    parameters: Value,
    returns: Value,
    bytecode: Vec<u8>,
}

impl Fixture {
    fn new_tool(&self) -> NewTool {
        NewTool {
            name: self.name.clone(),
            code: self.code.clone(),
            tests: self.tests.clone(),
            docstring: self.docstring.clone(),
            parameters: self.parameters.clone(),
            returns: self.returns.clone(),
            bytecode: self.bytecode.clone(),
            verification: "wasm-only".into(),
        }
    }
}

/// Every fixture, compiled, described and tested once (a fixture whose tests fail is a broken test).
fn fixtures() -> &'static BTreeMap<String, Fixture> {
    static ALL: OnceLock<BTreeMap<String, Fixture>> = OnceLock::new();
    ALL.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/registry/tools");
        let mut all = BTreeMap::new();
        for entry in std::fs::read_dir(&root).unwrap_or_else(|e| panic!("{}: {e}", root.display())) {
            let dir = entry.unwrap().path();
            let name = dir.file_name().unwrap().to_str().unwrap().to_string();
            let code = std::fs::read_to_string(dir.join("tool.py")).unwrap();
            let tests = std::fs::read_to_string(dir.join("test_tool.py")).unwrap();
            let bytecode = rt().compile(&code, &format!("{name}.py")).unwrap_or_else(|e| panic!("{name}: {e:?}"));
            let described = rt().describe(&code, &name).unwrap_or_else(|e| panic!("{name}: {e:?}"));
            let positional: Vec<String> = serde_json::from_value(described["positional"].clone()).unwrap_or_default();
            let tool = ToolUnderTest { code: &bytecode, function: &name, positional: &positional };
            let report = rt().run_tests(tool, &name, &tests, &TestOptions::default()).unwrap();
            assert!(report.success(), "fixture {name}: its tests fail: {}", report.output);
            let docstring =
                described["docstring"].as_str().unwrap_or_else(|| panic!("{name}: no docstring")).to_string();
            let fixture = Fixture {
                name: name.clone(),
                code,
                tests,
                docstring,
                parameters: described["parameters"].clone(),
                returns: described.get("returns").cloned().unwrap_or(json!({})),
                bytecode,
            };
            all.insert(name, fixture);
        }
        all
    })
}

fn fixture(name: &str) -> &'static Fixture {
    fixtures().get(name).unwrap_or_else(|| panic!("no fixture {name}"))
}

const STRING_AND_MATH: &[&str] = &[
    "reverse_string",
    "count_vowels",
    "capitalize_words",
    "is_palindrome",
    "add_numbers",
    "calculate_factorial",
    "fibonacci_number",
    "greatest_common_divisor",
];

fn add_all(reg: &mut Reg, names: &[&str]) {
    for n in names {
        reg.add_tool(&fixture(n).new_tool()).unwrap_or_else(|e| panic!("registering {n}: {e:#}"));
    }
}

fn names(matches: &[ToolMatch]) -> Vec<&str> {
    matches.iter().map(|m| m.tool.name.as_str()).collect()
}

fn top(reg: &mut Reg, query: &str) -> Option<String> {
    reg.search(query, 1, SearchMode::Hybrid, false).unwrap().first().map(|m| m.tool.name.clone())
}

/// Everything under `dir`, as sorted relative paths (empty when it does not exist).
fn listing(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, p: &Path, out: &mut Vec<String>) {
        let Ok(rd) = std::fs::read_dir(p) else { return };
        for e in rd.flatten() {
            out.push(e.path().strip_prefix(root).unwrap().display().to_string());
            if e.file_type().unwrap().is_dir() {
                walk(root, &e.path(), out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// What interrupted index rebuilds leave beside the index (`.index.rebuild-*`, `.index.old-*`).
fn index_debris(h: &Home) -> Vec<String> {
    listing(h.dir.path()).into_iter().filter(|p| p.starts_with(".index") && !p.contains('/')).collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// The index on disk as the next process sees it; it must open cleanly with this embedder.
fn index_on_disk(h: &Home, embedder: &dyn Embedder) -> SearchIndex {
    let (index, state) = SearchIndex::open(&h.paths.index_dir(), &embedder.id(), embedder.dim()).unwrap();
    assert_eq!(state, IndexState::Opened, "the index on disk must open as it is");
    index
}

/// The index holds exactly the store's tools.
fn assert_index_matches_store(h: &Home, embedder: &dyn Embedder) {
    let rows: Vec<String> = open_store(&h.paths).unwrap().all().unwrap().into_iter().map(|t| t.name).collect();
    let index = index_on_disk(h, embedder);
    assert_eq!(index.len(), rows.len(), "index documents vs store rows ({rows:?})");
    for name in &rows {
        assert!(index.contains(name), "{name} is registered but not indexed");
    }
}

fn json_stdout(out: &std::process::Output) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!("stdout is not JSON ({e}): {stdout}\nstderr: {}", String::from_utf8_lossy(&out.stderr))
    })
}

// ---------------------------------------------------------------------------------------------
// 1. The seed's API

#[test]
fn add_get_all_count_delete() {
    let h = home();
    let mut reg = open(&h);
    assert_eq!(reg.count_tools().unwrap(), 0);
    assert!(reg.get_all_tools().unwrap().is_empty());

    let f = fixture("reverse_string");
    let rec = reg.add_tool(&f.new_tool()).unwrap();
    assert_eq!(rec.name, "reverse_string");
    assert_eq!(rec.docstring, "Reverse the order of the characters in a string.");
    assert_eq!(rec.verification, "wasm-only");
    assert_eq!(rec.parameters["properties"]["text"]["type"], "string", "parameters: {}", rec.parameters);
    let dir = h.tools_dir().join("reverse_string");
    assert_eq!(Path::new(&rec.file_path), dir.join("tool.py"));
    assert_eq!(Path::new(&rec.test_path), dir.join("test_tool.py"));
    assert_eq!(std::fs::read_to_string(&rec.file_path).unwrap(), f.code);
    assert_eq!(std::fs::read_to_string(&rec.test_path).unwrap(), f.tests);
    assert_eq!(std::fs::read(dir.join("tool.bytecode")).unwrap(), f.bytecode);
    let meta: Value = serde_json::from_slice(&std::fs::read(dir.join("meta.json")).unwrap()).unwrap();
    assert_eq!(meta, serde_json::to_value(&rec).unwrap());
    assert_eq!(listing(&dir), ["meta.json", "test_tool.py", "tool.bytecode", "tool.py"]);
    assert_eq!(listing(&h.tools_dir()).len(), 5, "nothing else under tools/: {:?}", listing(&h.tools_dir()));

    assert_eq!(reg.get_tool_by_name("reverse_string").unwrap().as_ref(), Some(&rec));
    assert_eq!(reg.get_tool_by_name("no_such_tool").unwrap(), None);
    add_all(&mut reg, &["add_numbers", "count_vowels"]);
    let all: Vec<String> = reg.get_all_tools().unwrap().into_iter().map(|t| t.name).collect();
    assert_eq!(all, ["add_numbers", "count_vowels", "reverse_string"]);
    assert_eq!(reg.count_tools().unwrap(), 3);
    assert_eq!(top(&mut reg, "reverse string").as_deref(), Some("reverse_string"));

    assert!(reg.delete_tool("reverse_string").unwrap());
    assert!(!dir.exists(), "a deleted tool's directory goes with it");
    assert_eq!(reg.get_tool_by_name("reverse_string").unwrap(), None);
    assert_eq!(reg.count_tools().unwrap(), 2);
    assert_ne!(top(&mut reg, "reverse string").as_deref(), Some("reverse_string"), "a deleted tool is not found");
    assert!(!reg.delete_tool("reverse_string").unwrap(), "deleting twice reports not found");
    drop(reg);
    assert_index_matches_store(&h, &*minilm());
    assert!(open(&h).rebuilt.is_none(), "add and delete keep the index in step with the store");
}

#[test]
fn cleanup_removes_rows_whose_files_were_deleted_by_hand() {
    let h = home();
    let mut reg = open(&h);
    add_all(&mut reg, &["reverse_string", "count_vowels", "add_numbers"]);
    assert!(reg.cleanup_orphaned_tools().unwrap().is_empty(), "nothing to clean in a healthy store");

    std::fs::remove_dir_all(h.tools_dir().join("reverse_string")).unwrap();
    std::fs::remove_file(h.tools_dir().join("count_vowels/tool.bytecode")).unwrap();
    let mut gone = reg.cleanup_orphaned_tools().unwrap();
    gone.sort();
    assert_eq!(gone, ["count_vowels", "reverse_string"]);
    assert_eq!(reg.count_tools().unwrap(), 1);
    assert_eq!(reg.get_tool_by_name("reverse_string").unwrap(), None);
    assert!(!h.tools_dir().join("count_vowels").exists(), "the orphan's remaining files go too");
    let found = reg.search("reverse string", 10, SearchMode::Hybrid, false).unwrap();
    assert_eq!(names(&found), ["add_numbers"], "orphans leave the index");
    assert!(reg.cleanup_orphaned_tools().unwrap().is_empty());
    drop(reg);
    assert_index_matches_store(&h, &*minilm());
}

#[test]
fn bad_reserved_and_duplicate_names_are_refused_and_leave_nothing() {
    let h = home();
    let mut reg = open(&h);
    add_all(&mut reg, &["reverse_string"]);
    let snapshot = |reg: &Reg| {
        (reg.get_all_tools().unwrap(), listing(&h.tools_dir()), listing(&h.paths.index_dir()), h.manifest())
    };
    let before = snapshot(&reg);
    let f = fixture("add_numbers");

    let too_long = "a".repeat(65);
    for bad in ["Bad-Name", "1abc", "BadName", "bad name", "", "naïve", too_long.as_str()] {
        let err = reg.add_tool(&NewTool { name: bad.into(), ..f.new_tool() }).expect_err(bad);
        assert_eq!(err.kind(), ErrorKind::InvalidName, "{bad:?}: {err:#}");
        let msg = err.to_string();
        assert!(msg.contains(&format!("{bad:?}")) && msg.contains("snake_case"), "{bad:?}: unclear message: {msg}");
    }
    // The store itself reserves nothing; the facade keeps the MCP server's names free for every face.
    let ts = reg
        .rt
        .block_on(Toolsmith::open(Config::from_env().unwrap().with_home(&h.paths.home), RuntimeUsage::OneShot))
        .unwrap();
    for &reserved in BUILT_IN_TOOL_NAMES {
        let c = toolsmith::synthesis::Candidate {
            name: reserved.into(),
            code: f.code.clone(),
            tests: f.tests.clone(),
            ..Default::default()
        };
        let opts = CreateOptions { verify: toolsmith::synthesis::VerifyMode::WasmOnly, ..CreateOptions::default() };
        let err = reg.rt.block_on(ts.create_tool(&c, opts, &|_| {})).expect_err(reserved);
        assert_eq!(err.report().error_type, ErrorKind::InvalidName, "{reserved}: {err:#}");
        let msg = err.to_string();
        assert!(msg.contains(reserved) && msg.contains("reserved"), "{reserved}: unclear message: {msg}");
    }
    // The same name again, even with other code: refused, and the first one is untouched.
    let other = fixture("count_vowels");
    let err = reg.add_tool(&NewTool { name: "reverse_string".into(), ..other.new_tool() }).expect_err("duplicate");
    assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err:#}");
    assert!(err.to_string().contains("already registered"), "{err}");

    assert_eq!(snapshot(&reg), before, "a refused add writes nothing");
    let kept = std::fs::read_to_string(h.tools_dir().join("reverse_string/tool.py")).unwrap();
    assert_eq!(kept, fixture("reverse_string").code);

    // Boundaries that are fine.
    let longest = "a".repeat(64);
    for good in [longest.as_str(), "_private_helper", "v2_add"] {
        reg.add_tool(&NewTool { name: good.into(), ..f.new_tool() }).unwrap_or_else(|e| panic!("{good}: {e:#}"));
    }
    assert_eq!(reg.count_tools().unwrap(), 4);
}

#[test]
fn a_failing_embedder_registers_nothing() {
    let h = home();
    let mut reg = open_with(&h, Arc::new(OFFLINE));
    let err = reg.add_tool(&fixture("reverse_string").new_tool()).expect_err("the embedder is down");
    assert!(format!("{err:#}").contains("unreachable"), "{err:#}");
    assert_eq!(reg.count_tools().unwrap(), 0);
    assert!(listing(&h.tools_dir()).is_empty(), "{:?}", listing(&h.tools_dir()));
}

#[test]
fn debris_of_interrupted_registrations_is_removed_on_open() {
    let h = home();
    let mut reg = open(&h);
    add_all(&mut reg, &["reverse_string"]);
    drop(reg);
    // A staging directory and a renamed directory whose commit never happened.
    for d in [".staging-0000", "count_vowels"] {
        std::fs::create_dir_all(h.tools_dir().join(d)).unwrap();
        std::fs::write(h.tools_dir().join(d).join("tool.py"), "half").unwrap();
    }
    let mut reg = open(&h);
    assert_eq!(listing(&h.tools_dir()).iter().filter(|p| !p.contains('/')).collect::<Vec<_>>(), ["reverse_string"]);
    // The name is free again.
    add_all(&mut reg, &["count_vowels"]);
    assert_eq!(
        std::fs::read_to_string(h.tools_dir().join("count_vowels/tool.py")).unwrap(),
        fixture("count_vowels").code
    );
}

#[test]
fn log_execution_feeds_usage_over_recent_runs() {
    let h = home();
    let mut reg = open(&h);
    add_all(&mut reg, &["add_numbers"]);
    assert_eq!(reg.store().usage("add_numbers", RERANK_RECENT).unwrap(), Usage::default());
    log_runs(&reg, "add_numbers", false, 5);
    log_runs(&reg, "add_numbers", true, RERANK_RECENT as usize);
    assert_eq!(
        reg.store().usage("add_numbers", RERANK_RECENT).unwrap(),
        Usage { runs: RERANK_RECENT, successes: RERANK_RECENT },
        "only the latest runs count"
    );
    assert_eq!(
        reg.store().usage("add_numbers", 100).unwrap(),
        Usage { runs: RERANK_RECENT + 5, successes: RERANK_RECENT }
    );
}

#[test]
fn an_open_registry_finds_tools_another_process_registered() {
    // The MCP server holds a registry open while `toolsmith tools add` runs in another terminal.
    let h = home();
    let mut server = open(&h);
    add_all(&mut server, &["add_numbers"]);
    let fixture_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/registry/tools/reverse_string");
    let out = h
        .cli()
        .args(["tools", "add", "--name", "reverse_string", "--verify", "wasm-only", "--json", "--code"])
        .arg(fixture_dir.join("tool.py"))
        .arg("--tests")
        .arg(fixture_dir.join("test_tool.py"))
        .output()
        .unwrap();
    assert_eq!(json_stdout(&out)["success"], true, "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(server.count_tools().unwrap(), 2, "the store is shared");
    assert_eq!(
        top(&mut server, "reverse string").as_deref(),
        Some("reverse_string"),
        "the server's search sees it too"
    );
    add_all(&mut server, &["count_vowels"]);
    assert_eq!(top(&mut server, "reverse string").as_deref(), Some("reverse_string"), "and still after its own add");
    drop(server);
    assert_index_matches_store(&h, &*minilm());
}

// ---------------------------------------------------------------------------------------------
// 2. search_tool's threshold

#[test]
fn search_tool_threshold() {
    let h = home();
    let mut reg = open(&h);
    add_all(&mut reg, &["add_numbers", "calculate_factorial", "fibonacci_number", "greatest_common_divisor"]);

    let query = "compute n factorial for a whole number";
    let hit = reg.search_tool(query, None, true).unwrap().expect("a relevant query finds a tool");
    assert_eq!(hit.tool.name, "calculate_factorial");
    assert!((0.0..=1.0).contains(&hit.similarity_score), "{}", hit.similarity_score);
    assert!(hit.similarity_score >= DEFAULT_MIN_SCORE);
    assert_eq!(hit.tool, reg.get_tool_by_name("calculate_factorial").unwrap().unwrap(), "the whole record comes back");

    let unrelated = "translate a poem into French";
    let best = reg.search(unrelated, 1, SearchMode::Hybrid, false).unwrap();
    assert!(reg.search_tool(unrelated, None, true).unwrap().is_none(), "no math tool fits {unrelated:?}: {best:?}");
    let anything = reg.search_tool(unrelated, Some(0.0), true).unwrap().expect("threshold 0 accepts the best tool");
    assert!((0.0..DEFAULT_MIN_SCORE).contains(&anything.similarity_score), "{}", anything.similarity_score);

    for q in [query, unrelated] {
        let best = reg.search_tool(q, Some(0.0), false).unwrap().unwrap().similarity_score;
        assert!(reg.search_tool(q, Some(best), false).unwrap().is_some(), "{q}: the threshold is inclusive");
        assert!(
            reg.search_tool(q, Some(best + 1e-4), false).unwrap().is_none(),
            "{q}: nothing above the best score {best}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 3. The usage re-rank

fn log_runs(reg: &Reg, tool: &str, success: bool, n: usize) {
    for _ in 0..n {
        reg.log_execution(&Execution {
            tool_name: tool,
            session_id: None,
            inputs: &json!({"csv_text": "a\n1\n", "column": "a"}),
            outputs: success.then_some(&json!(1.0)),
            success,
            error_type: (!success).then_some("ValueError"),
            execution_time_ms: 1.0,
            user_prompt: "test",
        })
        .unwrap();
    }
}

#[test]
fn rerank_prefers_the_tool_that_works() {
    let h = home();
    let mut reg = open(&h);
    add_all(&mut reg, &["sum_csv_column", "total_csv_column", "reverse_string", "add_numbers"]);
    let query = "add up all the values in one column of a csv spreadsheet";

    let plain = reg.search(query, 2, SearchMode::Hybrid, false).unwrap();
    let mut pair = names(&plain);
    pair.sort();
    assert_eq!(pair, ["sum_csv_column", "total_csv_column"], "both CSV tools lead: {plain:?}");
    let (leader, runner_up) = (plain[0].tool.name.clone(), plain[1].tool.name.clone());
    let gap = plain[0].similarity_score - plain[1].similarity_score;
    // With full history the re-rank moves each by RERANK_WEIGHT/2: it can swap a pair this close.
    assert!(gap < RERANK_WEIGHT * 0.9, "the fixtures must be near-equivalent for this query: gap {gap} ({plain:?})");

    // The similarity leader always fails, the runner-up always succeeds.
    log_runs(&reg, &leader, false, 12);
    log_runs(&reg, &runner_up, true, 12);

    let by_similarity = reg.search(query, 2, SearchMode::Hybrid, false).unwrap();
    assert_eq!(names(&by_similarity), [leader.as_str(), runner_up.as_str()], "rerank=false ignores usage");
    for m in &by_similarity {
        assert_eq!(m.rank_score, m.similarity_score);
    }
    let reranked = reg.search(query, 2, SearchMode::Hybrid, true).unwrap();
    assert_eq!(
        names(&reranked),
        [runner_up.as_str(), leader.as_str()],
        "rerank=true: the working tool first: {reranked:?}"
    );
    for m in &reranked {
        let plain = by_similarity.iter().find(|p| p.tool.name == m.tool.name).unwrap();
        assert_eq!(m.similarity_score, plain.similarity_score, "re-ranking leaves the similarity alone");
        assert_eq!(m.rank_score, rerank_score(m.similarity_score, m.usage));
    }
    assert_eq!(reranked[0].usage, Usage { runs: 12, successes: 12 });
    assert_eq!(reranked[1].usage, Usage { runs: 12, successes: 0 });
    assert_eq!(reg.search_tool(query, Some(0.0), true).unwrap().unwrap().tool.name, runner_up);
    assert_eq!(reg.search_tool(query, Some(0.0), false).unwrap().unwrap().tool.name, leader);

    // The leader is fixed: its recent runs all succeed, the old failures fall out of the window,
    // and with equal records similarity decides again.
    log_runs(&reg, &leader, true, RERANK_RECENT as usize);
    let recovered = reg.search(query, 2, SearchMode::Hybrid, true).unwrap();
    assert_eq!(names(&recovered), [leader.as_str(), runner_up.as_str()], "{recovered:?}");
}

#[test]
fn rerank_score_is_bounded_and_needs_history() {
    for score in [0.0f32, 0.42, 1.0] {
        assert_eq!(rerank_score(score, Usage::default()), score, "no history, no change");
        let best = rerank_score(score, Usage { runs: 50, successes: 50 });
        let worst = rerank_score(score, Usage { runs: 50, successes: 0 });
        assert!((best - score - RERANK_WEIGHT / 2.0).abs() < 1e-6, "{best}");
        assert!((score - worst - RERANK_WEIGHT / 2.0).abs() < 1e-6, "{worst}");
        let one_run = rerank_score(score, Usage { runs: 1, successes: 1 });
        assert!(score < one_run && one_run < best, "one run is weak evidence: {one_run}");
        assert_eq!(rerank_score(score, Usage { runs: 10, successes: 5 }), score, "a coin flip changes nothing");
    }
}

// ---------------------------------------------------------------------------------------------
// 4. Name queries win

#[test]
fn name_queries_find_the_named_tool() {
    let h = home();
    let mut reg = open(&h);
    add_all(&mut reg, STRING_AND_MATH);
    for q in ["reverse string", "reverse_string", "Reverse String", "reverseString"] {
        let found = reg.search(q, 3, SearchMode::Hybrid, true).unwrap();
        assert_eq!(found.first().map(|m| m.tool.name.as_str()), Some("reverse_string"), "{q:?}: {found:?}");
        assert!(found[0].similarity_score >= DEFAULT_MIN_SCORE, "{q:?}: {found:?}");
    }
    for name in STRING_AND_MATH {
        assert_eq!(top(&mut reg, &name.replace('_', " ")).as_deref(), Some(*name));
    }
    drop(reg);

    let out = h.cli().args(["tools", "search", "reverse string", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let list = json_stdout(&out);
    assert_eq!(list[0]["name"], "reverse_string", "{list:#}");
    assert_eq!(list.as_array().unwrap().len(), 5, "the default limit is 5: {list:#}");
}

// ---------------------------------------------------------------------------------------------
// 5. Index rebuilds

fn expect_rebuild(h: &Home, embedder: Arc<dyn Embedder>, reason_mentions: &str) -> Reg {
    let count = open_store(&h.paths).unwrap().count().unwrap();
    let reg = open_with(h, embedder);
    let report = reg.rebuilt.as_ref().unwrap_or_else(|| panic!("expected a rebuild ({reason_mentions})"));
    assert_eq!(report.tools, count);
    assert!(report.reason.contains(reason_mentions), "reason {:?} should mention {reason_mentions:?}", report.reason);
    reg
}

fn corrupt(path: &Path) {
    assert!(path.is_file(), "{} exists", path.display());
    std::fs::write(path, b"\x00garbage, not an index file\xff").unwrap();
}

#[test]
fn index_is_rebuilt_when_missing_corrupt_stale_or_of_another_embedder() {
    let h = home();
    let index_dir = h.paths.index_dir();
    let mut reg = open(&h);
    add_all(&mut reg, &["reverse_string", "count_vowels", "add_numbers", "calculate_factorial"]);
    drop(reg);
    assert!(open(&h).rebuilt.is_none(), "an index in step with the store is kept");

    // Missing: through the real `open` (the cached embedder has the same id).
    std::fs::remove_dir_all(&index_dir).unwrap();
    let mut reg = open_real(&h);
    let report = reg.rebuilt.as_ref().expect("a missing index is rebuilt");
    assert_eq!(report.tools, 4);
    assert_eq!(top(&mut reg, "reverse string").as_deref(), Some("reverse_string"));
    drop(reg);
    assert_index_matches_store(&h, &*minilm());

    // Corrupt: each part of the index on its own.
    corrupt(&index_dir.join("manifest.json"));
    drop(expect_rebuild(&h, minilm(), "manifest"));
    corrupt(&index_dir.join("vectors.usearch"));
    drop(expect_rebuild(&h, minilm(), "vector"));
    corrupt(&index_dir.join("text/meta.json"));
    drop(expect_rebuild(&h, minilm(), "text"));
    std::fs::remove_file(index_dir.join("manifest.json")).unwrap();
    let mut reg = expect_rebuild(&h, minilm(), "manifest");
    assert_eq!(top(&mut reg, "count vowels").as_deref(), Some("count_vowels"));
    drop(reg);
    assert_index_matches_store(&h, &*minilm());

    // Stale: an old copy of the index put back after the store moved on, both ways.
    let old = h.dir.path().join("index-before");
    copy_dir(&index_dir, &old);
    let mut reg = open(&h);
    add_all(&mut reg, &["fibonacci_number"]);
    drop(reg);
    let newer = h.dir.path().join("index-after-add");
    copy_dir(&index_dir, &newer);
    std::fs::remove_dir_all(&index_dir).unwrap();
    copy_dir(&old, &index_dir);
    let mut reg = expect_rebuild(&h, minilm(), "generation");
    assert_eq!(top(&mut reg, "fibonacci number").as_deref(), Some("fibonacci_number"), "the tool the old index missed");
    assert!(reg.delete_tool("reverse_string").unwrap());
    drop(reg);
    std::fs::remove_dir_all(&index_dir).unwrap();
    copy_dir(&newer, &index_dir);
    let mut reg = expect_rebuild(&h, minilm(), "generation");
    let found = reg.search("reverse string", 10, SearchMode::Hybrid, false).unwrap();
    assert!(
        !names(&found).contains(&"reverse_string"),
        "a deleted tool does not come back with an old index: {found:?}"
    );
    drop(reg);
    assert_index_matches_store(&h, &*minilm());

    // Another embedder: rebuilt with its vectors, kept while it stays, rebuilt again on the way back.
    let hash: Arc<dyn Embedder> = Arc::new(WORD_HASH);
    let mut reg = expect_rebuild(&h, hash.clone(), "embedder");
    assert_eq!(h.manifest().unwrap().embedder_id, "test:word-hash:384");
    assert_eq!(top(&mut reg, "how many vowels does this text have").as_deref(), Some("count_vowels"));
    drop(reg);
    assert_index_matches_store(&h, &WORD_HASH);
    assert!(open_with(&h, hash).rebuilt.is_none());
    drop(expect_rebuild(&h, minilm(), "embedder"));
    assert_eq!(h.manifest().unwrap().embedder_id, minilm().id());
    assert!(index_debris(&h).is_empty(), "rebuilds leave nothing behind: {:?}", index_debris(&h));
}

#[test]
fn leftovers_of_an_interrupted_index_rebuild_are_removed_on_open() {
    let h = home();
    let mut reg = open(&h);
    add_all(&mut reg, &["reverse_string", "add_numbers"]);
    drop(reg);
    // What a process killed inside `SearchIndex::rebuild` leaves: the half-built new index, and
    // (killed between its two renames) the old one moved aside with no index in its place.
    copy_dir(&h.paths.index_dir(), &h.dir.path().join(".index.rebuild-00000000-0000-0000-0000-000000000000"));
    std::fs::rename(h.paths.index_dir(), h.dir.path().join(".index.old-00000000-0000-0000-0000-000000000000")).unwrap();
    let mut reg = expect_rebuild(&h, minilm(), "no index");
    assert_eq!(top(&mut reg, "reverse string").as_deref(), Some("reverse_string"));
    drop(reg);
    assert!(
        index_debris(&h).is_empty(),
        "opening should remove what interrupted rebuilds left: {:?}",
        index_debris(&h)
    );
}

#[test]
fn a_new_home_has_nothing_to_rebuild() {
    let h = home();
    let reg = open(&h);
    assert!(reg.rebuilt.is_none(), "an empty store and a fresh index agree, yet: {:?}", reg.rebuilt);
}

#[test]
fn cli_index_rebuild() {
    let h = home();
    let mut reg = open(&h);
    add_all(&mut reg, &["reverse_string", "is_palindrome"]);
    drop(reg);

    let rebuild = || {
        let out = h.cli().args(["index", "rebuild", "--json"]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        json_stdout(&out)
    };
    let report = rebuild();
    assert_eq!(report["tools"], 2, "{report}");
    assert_eq!(report["reason"], "requested", "{report}");
    assert!(report["millis"].as_f64().is_some(), "{report}");

    std::fs::remove_dir_all(h.paths.index_dir()).unwrap();
    let report = rebuild();
    assert_eq!(report["tools"], 2, "{report}");
    assert_ne!(report["reason"], "requested", "a rebuild on open says why: {report}");
    assert_index_matches_store(&h, &*minilm());
    let mut reg = open(&h);
    assert!(reg.rebuilt.is_none());
    assert_eq!(top(&mut reg, "is palindrome").as_deref(), Some("is_palindrome"));
}

// ---------------------------------------------------------------------------------------------
// 6. Registration killed at random points

/// xorshift64*: enough randomness for kill delays, reproducible from the printed seed.
struct Rng(u64);

impl Rng {
    fn from_env_or_clock() -> Rng {
        let seed = std::env::var("REGISTRY_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
        });
        eprintln!("crash test seed: REGISTRY_CRASH_SEED={seed}");
        Rng(seed | 1)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545F4914F6CDD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn crash_tool_name(i: usize) -> String {
    format!("tool_{i}")
}

/// `tools add` of `tool_i`, which returns `x + i`.
fn crash_add(h: &Home, src: &Path, i: usize) -> Command {
    let name = crash_tool_name(i);
    let code = src.join(format!("{name}.py"));
    let tests = src.join(format!("test_{name}.py"));
    let source = format!("def {name}(x: int) -> int:\n    \"\"\"Add {i} to x.\"\"\"\n    return x + {i}\n");
    std::fs::write(&code, source).unwrap();
    let test = format!("from {name} import {name}\n\n\ndef test_adds():\n    assert {name}(1) == {}\n", i + 1);
    std::fs::write(&tests, test).unwrap();
    let mut c = h.cli();
    c.args(["tools", "add", "--name", &name, "--verify", "wasm-only", "--json", "--code"])
        .arg(&code)
        .arg("--tests")
        .arg(&tests)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

#[derive(Default, Debug)]
struct CrashStats {
    killed: usize,
    registered_after_kill: usize,
    absent_after_kill: usize,
    debris_before_open: usize,
    /// Rebuilds by the check's open, i.e. of an index the killed child left stale.
    rebuilds: usize,
    /// Children started on an index without its manifest.
    child_rebuilds: usize,
    /// Directories an interrupted index rebuild left in the home, still there after an open.
    index_debris: Vec<String>,
}

/// After a kill: every tool is all there or not there at all, and the index agrees with the store.
/// Returns whether `tool_{newest}` is registered.
fn check_after_kill(h: &Home, newest: usize, must_exist: &[usize], stats: &mut CrashStats) -> bool {
    // What the next process finds, before anything repairs it.
    let debris = listing(&h.tools_dir()).iter().filter(|p| !p.contains('/') && p.starts_with('.')).count();
    stats.debris_before_open += debris;
    let generation: u64 = rusqlite::Connection::open(h.paths.db_path())
        .unwrap()
        .query_row("SELECT value FROM meta WHERE key = 'generation'", [], |r| r.get::<_, String>(0))
        .unwrap()
        .parse()
        .unwrap();
    // Registration bumps the tools' generation only; examples of existing tools have their own.
    let examples: u64 = rusqlite::Connection::open(h.paths.db_path())
        .unwrap()
        .query_row("SELECT COALESCE((SELECT value FROM meta WHERE key = 'examples_generation'), '0')", [], |r| {
            r.get::<_, String>(0)
        })
        .unwrap()
        .parse()
        .unwrap();
    let fingerprint = format!("generation:{generation}+examples:{examples}");
    let stale = h.manifest().is_none_or(|m| m.fingerprint != fingerprint);

    let mut reg = open(h);
    match (&reg.rebuilt, stale) {
        (Some(r), _) => {
            stats.rebuilds += 1;
            assert!(stale, "rebuilt ({}) although the index matched store generation {generation}", r.reason);
        }
        (None, true) => panic!("stale index not rebuilt: store generation {generation}, manifest {:?}", h.manifest()),
        (None, false) => {}
    }
    let rows: Vec<String> = reg.get_all_tools().unwrap().into_iter().map(|t| t.name).collect();
    let top_level: Vec<String> = listing(&h.tools_dir()).into_iter().filter(|p| !p.contains('/')).collect();
    assert_eq!(top_level, rows, "after open, tools/ holds exactly the registered tools (no staging debris)");

    for i in 0..=newest {
        let name = crash_tool_name(i);
        let dir = h.tools_dir().join(&name);
        match reg.get_tool_by_name(&name).unwrap() {
            Some(rec) => {
                assert_eq!(listing(&dir), ["meta.json", "test_tool.py", "tool.bytecode", "tool.py"], "{name}");
                assert_eq!(std::fs::read_to_string(&rec.file_path).unwrap(), rec.code, "{name}");
                assert!(!std::fs::read(dir.join("tool.bytecode")).unwrap().is_empty(), "{name}");
                let meta: Value = serde_json::from_slice(&std::fs::read(dir.join("meta.json")).unwrap()).unwrap();
                assert_eq!(meta["name"], name.as_str());
                assert_eq!(
                    top(&mut reg, &name).as_deref(),
                    Some(name.as_str()),
                    "{name} is registered, so search finds it"
                );
            }
            None => {
                assert!(!must_exist.contains(&i), "{name} was registered by a process that finished, and is gone");
                assert!(!dir.exists(), "{name} has files but no row");
            }
        }
    }
    drop(reg);
    assert_index_matches_store(h, &*minilm());
    assert!(open(h).rebuilt.is_none(), "after one open the index is stable");
    // Leftovers of an interrupted index rebuild (checked at the end, so every kill is looked at).
    for d in index_debris(h) {
        if !stats.index_debris.contains(&d) {
            stats.index_debris.push(d);
        }
    }
    open_store(&h.paths).unwrap().exists(&crash_tool_name(newest)).unwrap()
}

fn run_crash_tool(h: &Home, i: usize) {
    let out = h.cli().args(["run", &crash_tool_name(i), "--args", r#"{"x": 1}"#, "--json"]).output().unwrap();
    let v = json_stdout(&out);
    assert_eq!(v, json!({"success": true, "result": i + 1}), "toolsmith run {}", crash_tool_name(i));
}

#[test]
fn registration_killed_at_random_points_is_all_or_nothing() {
    const KILLS: usize = 30;
    let h = home();
    let src = tempfile::tempdir().unwrap();
    let mut rng = Rng::from_env_or_clock();
    let mut stats = CrashStats::default();
    let started = Instant::now();

    // Two undisturbed registrations: the command works, and the second (warm) one says how long
    // a registration takes, to spread the kills over it.
    let mut full = std::time::Duration::ZERO;
    let mut must_exist = vec![];
    for i in 0..2 {
        let t = Instant::now();
        let out = crash_add(&h, src.path(), i).output().unwrap();
        full = t.elapsed();
        assert!(
            out.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(json_stdout(&out)["success"], true);
        must_exist.push(i);
        assert!(check_after_kill(&h, i, &must_exist, &mut stats));
        run_crash_tool(&h, i);
    }

    for i in 2..2 + KILLS {
        // Now and then the child starts on a stale index, so that some kills land in its rebuild.
        if rng.unit() < 0.3 {
            std::fs::remove_file(h.paths.index_dir().join("manifest.json")).unwrap();
            stats.child_rebuilds += 1;
        }
        let mut child = crash_add(&h, src.path(), i).spawn().unwrap();
        // Kill somewhere between start-up and a little after a full registration would be done.
        std::thread::sleep(full.mul_f64(0.2 + 1.0 * rng.unit()));
        let finished = child.try_wait().unwrap();
        if finished.is_none() {
            child.kill().unwrap();
            stats.killed += 1;
        }
        let status = child.wait().unwrap();
        if let Some(s) = finished {
            assert!(s.success(), "tools add {} failed on its own: {:?}", crash_tool_name(i), child.wait_with_output());
            must_exist.push(i);
        }
        let registered = check_after_kill(&h, i, &must_exist, &mut stats);
        if finished.is_none() {
            if registered {
                stats.registered_after_kill += 1;
            } else {
                stats.absent_after_kill += 1;
            }
        }
        if registered {
            run_crash_tool(&h, i);
        }
        eprintln!("tool_{i}: {status:?}, registered: {registered}");
    }
    eprintln!("{stats:?}; full registration {full:?}; test took {:?}", started.elapsed());
    assert!(stats.killed > 0, "no registration was interrupted: the test proved nothing ({stats:?})");
    assert!(
        stats.index_debris.is_empty(),
        "interrupted index rebuilds left debris no open removes: {:?}",
        stats.index_debris
    );
}

/// Processes creating one home at once: the database is in rollback-journal mode until the first
/// connection makes it WAL, where SQLite answers some conflicts with "database is locked" at
/// once. Threads stand for processes here (each store has its own connections and lock file
/// descriptor, as a process has).
#[test]
fn many_stores_creating_one_home_at_once_all_open_it() {
    for round in 0..20 {
        let home = tempfile::tempdir().unwrap();
        let paths = Paths { home: home.path().to_path_buf(), cache: home.path().join("cache") };
        let barrier = Arc::new(std::sync::Barrier::new(8));
        let opened: Vec<_> = (0..8)
            .map(|_| {
                let (paths, barrier) = (paths.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    let st =
                        toolsmith::registry::Store::open(&paths.db_path(), &paths.tools_dir(), &paths.lock_file())?;
                    st.count()
                })
            })
            .collect();
        for t in opened {
            let n = t.join().unwrap().unwrap_or_else(|e| panic!("round {round}: {e}"));
            assert_eq!(n, 0);
        }
    }
}
