//! The front door: [`Toolsmith`], the one API the CLI, the orchestrator and the MCP server use.
//!
//! It owns every component, built from one [`Config`]: the store (opened at once: it is
//! cheap), and, each on first use, the shared runtime, the embedder and the search index, the
//! LLM client and the Docker sandbox — so `tools count` never loads a model and `run NAME` never
//! opens Docker. Its methods are async and mirror the seed's names; blocking work (host calls,
//! SQLite, Docker verification, embedding) is moved off the async threads inside them. Options
//! (verification mode, repair rounds, limits, grants) are per call.
//!
//! `Toolsmith` is cheap to clone and `Send + Sync`: a server shares one between its requests.

use std::path::Path;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;
use toolsmith_host::{Grant, Runtime};

use crate::agent::{Message, SessionMemoryManager, ToolRelationship, WorkflowPattern, WorkflowTracker};
use crate::config::{Config, EmbedderChoice};
use crate::error::{Error, Result};
use crate::executor::{RunOptions, RunOutput, ToolExecutor};
use crate::llm::{LlmClient, OpenAiEmbedder};
use crate::registry::embed::{AsyncEmbedder, CachedAsync, CachedEmbedder, LocalMiniLm, OnBlockingThreads};
use crate::registry::index::{DEFAULT_MIN_SCORE, SearchMode};
use crate::registry::{
    CapabilityRegistry, Example, ExampleOutcome, ExampleRef, ExampleSource, RERANK_RECENT, RebuildReport, Store,
    ToolMatch, ToolRecord, Usage, blocking, on_store,
};
use crate::runtime::{self, Usage as RuntimeUsage};
use crate::sandbox::{SandboxError, SecureSandbox};
use crate::synthesis::{Candidate, DEFAULT_REPAIR_ROUNDS, Events, Pipeline, SynthesisResult, VerifyMode};

/// The names of the MCP server's built-in tools: no registered tool may take them, whichever
/// face registers it, since every registered tool is also served under its own name.
pub const BUILT_IN_TOOL_NAMES: &[&str] = &[
    "process_request",
    "synthesize_capability",
    "create_tool",
    "search_tools",
    "get_tool",
    "list_tools",
    "delete_tool",
    "execute_tool",
    "plan_execution",
    "get_workflow_patterns",
    "get_tool_relationships",
    "start_session",
    "get_recent_messages",
];

/// How to search.
#[derive(Debug, Clone, Copy)]
pub struct SearchOptions {
    /// Smallest similarity reported.
    pub threshold: f32,
    pub limit: usize,
    pub mode: SearchMode,
    /// Reorder close candidates by their recent success rate.
    pub rerank: bool,
}

impl Default for SearchOptions {
    fn default() -> SearchOptions {
        SearchOptions { threshold: 0.0, limit: 5, mode: SearchMode::Hybrid, rerank: true }
    }
}

/// How to verify a new tool.
#[derive(Debug, Clone, Copy)]
pub struct CreateOptions {
    pub verify: VerifyMode,
    /// Repair rounds after failing tests (synthesis only).
    pub repair_rounds: u32,
}

impl Default for CreateOptions {
    fn default() -> CreateOptions {
        CreateOptions { verify: VerifyMode::Docker, repair_rounds: DEFAULT_REPAIR_ROUNDS }
    }
}

/// A tool with its recent usage (`tools show`, MCP `get_tool`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ToolDetail {
    #[serde(flatten)]
    pub tool: ToolRecord,
    pub usage: Usage,
    /// Directories it may read on every run (`toolsmith tools grant`), besides what a caller grants.
    pub grants: Vec<String>,
    /// Example requests search matches beside the docstring (`toolsmith tools examples`).
    pub examples: Vec<crate::registry::examples::Example>,
}

/// What `toolsmith tune threshold` found and did.
#[derive(Debug, Clone, Serialize)]
pub struct ThresholdTuning {
    #[serde(flatten)]
    pub tuning: crate::registry::tune::Tuning,
    /// Requests answered by a tool that tuning needs ([`crate::registry::tune::MIN_ANSWERED`]).
    pub min_answered: usize,
    /// The threshold in use before.
    pub previous: f32,
    /// The `config.json` the tuned value was written to; `None` when nothing was written (too
    /// little history, no threshold meets the rate, or not asked to write).
    pub written_to: Option<String>,
}

/// See the module documentation.
#[derive(Clone)]
pub struct Toolsmith {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    usage: RuntimeUsage,
    store: Arc<Store>,
    executor: OnceCell<Arc<ToolExecutor>>,
    registry: OnceCell<CapabilityRegistry>,
    sandbox: OnceCell<SecureSandbox>,
    llm: std::result::Result<LlmClient, String>,
}

impl Toolsmith {
    /// Open the store of `config`'s home; everything else opens on first use. `usage` says
    /// whether this process serves many calls (keep instances ready) or makes a few.
    pub async fn open(config: Config, usage: RuntimeUsage) -> Result<Toolsmith> {
        let paths = config.paths.clone();
        let store = blocking(move || -> Result<Store> {
            crate::synthesis::remove_stale_scratch(&paths.scratch_dir());
            Ok(Store::open(&paths.db_path(), &paths.tools_dir(), &paths.lock_file())?)
        })
        .await??;
        let llm = match &config.llm {
            Ok(c) => LlmClient::new(c.clone()).map_err(|e| e.to_string()),
            Err(e) => Err(e.clone()),
        };
        Ok(Toolsmith {
            inner: Arc::new(Inner {
                config,
                usage,
                store: Arc::new(store),
                executor: OnceCell::new(),
                registry: OnceCell::new(),
                sandbox: OnceCell::new(),
                llm,
            }),
        })
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Whether this process serves many requests (work that can wait is done off their path).
    pub fn is_serving(&self) -> bool {
        matches!(self.inner.usage, RuntimeUsage::Serving)
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.inner.store
    }

    /// The shared runtime, loaded (and compiled, the first time on this machine) on first use.
    pub async fn runtime(&self) -> Result<Arc<Runtime>> {
        Ok(self.executor().await?.runtime().clone())
    }

    pub(crate) async fn executor(&self) -> Result<&Arc<ToolExecutor>> {
        self.inner
            .executor
            .get_or_try_init(|| async {
                let (config, usage, store) = (self.inner.config.clone(), self.inner.usage, self.inner.store.clone());
                blocking(move || -> Result<Arc<ToolExecutor>> {
                    let rt = runtime::open(&config, usage)?;
                    Ok(Arc::new(ToolExecutor::new(Arc::new(rt), store)))
                })
                .await?
            })
            .await
    }

    /// The registry with its search index (loading the embedder on first use).
    pub async fn registry(&self) -> Result<&CapabilityRegistry> {
        self.inner
            .registry
            .get_or_try_init(|| async {
                let embedder = self.embedder().await?;
                CapabilityRegistry::open(self.inner.store.clone(), self.inner.config.paths.index_dir(), embedder).await
            })
            .await
    }

    async fn embedder(&self) -> Result<Arc<dyn AsyncEmbedder>> {
        let config = &self.inner.config;
        let db = config.paths.db_path();
        let cache_conn = move || -> Result<rusqlite::Connection> {
            let conn = rusqlite::Connection::open(&db)
                .map_err(|e| Error::Internal(format!("opening {} for the embedding cache: {e}", db.display())))?;
            // Other processes write the same database: wait for their locks as the store does.
            let _ = conn.busy_timeout(std::time::Duration::from_secs(10));
            Ok(conn)
        };
        match config.embedder {
            EmbedderChoice::Local => {
                let dir = runtime::model_dir(config).path;
                blocking(move || -> Result<Arc<dyn AsyncEmbedder>> {
                    let model = LocalMiniLm::load(&dir).map_err(|e| Error::RuntimeMissing(format!("{e:#}")))?;
                    let cached = CachedEmbedder::new(model, cache_conn()?).map_err(Error::internal)?;
                    Ok(Arc::new(OnBlockingThreads(Arc::new(cached))))
                })
                .await?
            }
            EmbedderChoice::OpenAi => {
                let remote = OpenAiEmbedder::connect(self.llm()?.clone()).await.map_err(|e| match e
                    .downcast::<crate::llm::LlmError>()
                {
                    Ok(llm) => llm.into(),
                    Err(e) => Error::Internal(format!("{e:#}")),
                })?;
                let conn = blocking(cache_conn).await??;
                Ok(Arc::new(CachedAsync::new(remote, conn).map_err(Error::internal)?))
            }
        }
    }

    /// The model client, or `not_configured` naming what to set.
    pub fn llm(&self) -> Result<&LlmClient> {
        self.inner.llm.as_ref().map_err(|e| Error::NotConfigured(e.clone()))
    }

    /// Whether a model of Toolsmith's own is configured (an endpoint, with a key where it needs one).
    pub fn has_llm(&self) -> bool {
        self.inner.llm.is_ok()
    }

    /// The Docker sandbox with its image present, connected on first use.
    pub async fn sandbox(&self) -> Result<&SecureSandbox> {
        Ok(self
            .inner
            .sandbox
            .get_or_try_init(|| async {
                let sb = SecureSandbox::connect().await?;
                if sb.image_info().await?.is_none() {
                    return Err(SandboxError::ImageMissing { tag: sb.image().to_string() });
                }
                Ok(sb)
            })
            .await?)
    }

    // --- running tools -------------------------------------------------------------------------

    /// The seed's `execute_tool`: run a registered tool with JSON arguments (checked against its
    /// parameter schema), under `opts`; the execution is logged.
    pub async fn run_tool(&self, name: &str, args_json: &str, opts: RunOptions) -> Result<RunOutput> {
        check_grants(&opts.grants)?;
        let ex = self.executor().await?.clone();
        let (name, args) = (name.to_string(), args_json.to_string());
        blocking(move || ex.execute(&name, &args, &opts)).await?
    }

    /// Compile `source` and call `function` once, registering nothing.
    pub async fn run_source(
        &self,
        source: &str,
        filename: &str,
        function: &str,
        args_json: &str,
        opts: RunOptions,
    ) -> Result<RunOutput> {
        check_grants(&opts.grants)?;
        let ex = self.executor().await?.clone();
        let (source, filename, function, args) =
            (source.to_string(), filename.to_string(), function.to_string(), args_json.to_string());
        blocking(move || crate::executor::run_source(ex.runtime(), &source, &filename, &function, &args, &opts)).await?
    }

    /// [`Toolsmith::run_source`] of a file; `function` defaults to the file's stem.
    pub async fn run_file(
        &self,
        file: &Path,
        function: Option<&str>,
        args_json: &str,
        opts: RunOptions,
    ) -> Result<RunOutput> {
        let source = tokio::fs::read_to_string(file)
            .await
            .map_err(|e| Error::InvalidArguments(format!("cannot read {}: {e}", file.display())))?;
        let function = match function {
            Some(f) => f.to_string(),
            None => file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
        };
        let filename = file.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "tool.py".into());
        self.run_source(&source, &filename, &function, args_json, opts).await
    }

    // --- the registry ----------------------------------------------------------------------------

    /// Ranked matches for `query` at or above `opts.threshold`.
    pub async fn search_tools(&self, query: &str, opts: SearchOptions) -> Result<Vec<ToolMatch>> {
        let hits = self.registry().await?.search(query, opts.limit, opts.mode, opts.rerank).await?;
        Ok(hits.into_iter().filter(|m| m.similarity_score >= opts.threshold).collect())
    }

    /// The seed's `search_tool`: the best tool at or above `threshold` (default
    /// [`Toolsmith::reuse_threshold`]), or none.
    pub async fn search_tool(&self, query: &str, threshold: Option<f32>) -> Result<Option<ToolMatch>> {
        self.registry().await?.search_tool(query, Some(threshold.unwrap_or(self.reuse_threshold())), true).await
    }

    /// The similarity at which a found tool is reused rather than a new one written: the value
    /// `toolsmith tune threshold` wrote into `config.json`, else [`DEFAULT_MIN_SCORE`].
    pub fn reuse_threshold(&self) -> f32 {
        self.inner.config.search.threshold.unwrap_or(DEFAULT_MIN_SCORE)
    }

    /// `toolsmith tune threshold`: replay the registry's history (see
    /// [`crate::registry::Store::past_requests`]), choose the reuse threshold that reuses the most
    /// while a wrong tool clears it for at most `max_wrong_rate` of the requests whose right
    /// tool is absent ([`crate::registry::tune`]), and, when `write`, store it in `config.json`
    /// (read by the next process). Too little history leaves the threshold as it is.
    pub async fn tune_threshold(&self, max_wrong_rate: f64, write: bool) -> Result<ThresholdTuning> {
        if !(0.0..=1.0).contains(&max_wrong_rate) {
            return Err(Error::InvalidArguments(format!("a wrong-reuse rate of {max_wrong_rate} is not in [0, 1]")));
        }
        let requests = on_store(&self.inner.store, Store::past_requests).await?;
        let outcomes = self.registry().await?.score_past_requests(&requests).await?;
        let tuning = crate::registry::tune::tune(&outcomes, max_wrong_rate);
        let mut written_to = None;
        if let (Some(t), true) = (tuning.threshold, write) {
            let file = self.inner.config.paths.config_file();
            let f = file.clone();
            blocking(move || crate::config::SearchConfig::write_threshold(&f, t)).await?.map_err(Error::Internal)?;
            written_to = Some(file.display().to_string());
        }
        Ok(ThresholdTuning {
            tuning,
            min_answered: crate::registry::tune::MIN_ANSWERED,
            previous: self.reuse_threshold(),
            written_to,
        })
    }

    // --- example requests ------------------------------------------------------------------------

    /// A tool's example requests, oldest first; `not_found` when there is no such tool.
    pub async fn tool_examples(&self, name: &str) -> Result<Vec<Example>> {
        self.registry().await?.examples(name).await?.ok_or_else(|| Error::NotFound(name.to_string()))
    }

    /// Learn from use: `request` was answered successfully by `tool`, so it becomes one of the
    /// tool's example requests (store and index). `true` when stored; `false` when it adds
    /// nothing (the tool has the same or a nearly identical request, it is not a usable example,
    /// or the tool is gone). At the bound, an older, redundant learned example makes room.
    pub async fn learn_example(&self, tool: &str, request: &str) -> Result<bool> {
        if let Err(why) = crate::registry::examples::clean(request) {
            tracing::debug!(tool, "not learned: {why}");
            return Ok(false);
        }
        let outcome = self.registry().await?.add_example(tool, request, ExampleSource::Learned).await?;
        Ok(matches!(outcome, ExampleOutcome::Added(_)))
    }

    /// Undo [`Toolsmith::learn_example`] (the request turned out not to be answered by `tool`):
    /// `true` when the tool had that request (compared as [`crate::registry::examples::normalized`]).
    pub async fn forget_example(&self, tool: &str, request: &str) -> Result<bool> {
        Ok(self.registry().await?.remove_example(tool, ExampleRef::Text(request)).await?.is_some())
    }

    /// Add an example request by hand (`tools examples NAME --add TEXT`): `true` when stored,
    /// `false` when the tool has it (or a nearly identical one) already. `not_found` without
    /// the tool; `invalid_arguments` for an unusable text.
    pub async fn add_example(&self, name: &str, text: &str) -> Result<bool> {
        match self.registry().await?.add_example(name, text, ExampleSource::Written).await? {
            ExampleOutcome::Added(_) => Ok(true),
            ExampleOutcome::Duplicate | ExampleOutcome::Full => Ok(false),
            ExampleOutcome::NoTool => Err(Error::NotFound(name.to_string())),
        }
    }

    /// Remove the example numbered `id` (`tools examples NAME --remove ID`); the example removed.
    /// `not_found` when the tool or the example does not exist.
    pub async fn remove_example(&self, name: &str, id: i64) -> Result<Example> {
        let reg = self.registry().await?;
        if reg.examples(name).await?.is_none() {
            return Err(Error::NotFound(name.to_string()));
        }
        reg.remove_example(name, ExampleRef::Id(id))
            .await?
            .ok_or_else(|| Error::NotFound(format!("example {id} of {name} (see `toolsmith tools examples {name}`)")))
    }

    pub async fn get_tool_by_name(&self, name: &str) -> Result<Option<ToolRecord>> {
        let name = name.to_string();
        on_store(&self.inner.store, move |st| st.get(&name)).await
    }

    /// A tool with its recent usage; `not_found` when there is none.
    pub async fn get_tool(&self, name: &str) -> Result<ToolDetail> {
        let (st, name) = (self.inner.store.clone(), name.to_string());
        blocking(move || -> Result<ToolDetail> {
            let tool = st.get(&name)?.ok_or_else(|| Error::NotFound(name.clone()))?;
            let usage = st.usage(&name, RERANK_RECENT)?;
            let grants = st.grants(&name)?;
            let examples = st.examples(&name)?;
            Ok(ToolDetail { tool, usage, grants, examples })
        })
        .await?
    }

    pub async fn get_all_tools(&self) -> Result<Vec<ToolRecord>> {
        on_store(&self.inner.store, Store::all).await
    }

    pub async fn count_tools(&self) -> Result<usize> {
        on_store(&self.inner.store, Store::count).await
    }

    /// A number that changes whenever the set of tools does, whichever process changed it: a
    /// face caching the list compares it to know when to reload (and tell its clients).
    pub async fn tools_generation(&self) -> Result<u64> {
        on_store(&self.inner.store, |st| {
            Ok(st.generation()? + crate::agent::composite::Composites::new(st).generation()?)
        })
        .await
    }

    /// Let a tool read `dir` on every run (`revoke`: no longer); its grants after the change.
    /// The directory is kept as its canonical absolute path, where the tool sees it.
    pub async fn grant_read(&self, name: &str, dir: &Path, revoke: bool) -> Result<Vec<String>> {
        let path = match dir.canonicalize() {
            Ok(p) if p.is_dir() => p,
            Ok(_) => return Err(Error::InvalidArguments(format!("{}: not a directory", dir.display()))),
            // A directory that went can still be revoked by the name it was granted under.
            Err(_) if revoke => dir.to_path_buf(),
            Err(e) => return Err(Error::InvalidArguments(format!("{}: {e}", dir.display()))),
        };
        let (st, name, path) = (self.inner.store.clone(), name.to_string(), path.display().to_string());
        blocking(move || -> Result<Vec<String>> {
            if !st.set_grant(&name, &path, revoke)? {
                return Err(Error::NotFound(name));
            }
            Ok(st.grants(&name)?)
        })
        .await?
    }

    /// Delete a tool (row, files, index entry); `false` when there was none.
    pub async fn delete_tool(&self, name: &str) -> Result<bool> {
        let deleted = self.registry().await?.delete_tool(name).await?;
        if let Some(ex) = self.inner.executor.get() {
            ex.forget(name);
        }
        Ok(deleted)
    }

    /// The seed's `cleanup_orphaned_tools`: remove tools whose files were deleted by hand.
    pub async fn cleanup_orphaned_tools(&self) -> Result<Vec<String>> {
        self.registry().await?.cleanup_orphaned_tools().await
    }

    /// Re-derive the search index from the store. When opening the registry already rebuilt
    /// it (it did not match the store), that rebuild is reported instead of doing a second.
    pub async fn rebuild_index(&self) -> Result<RebuildReport> {
        let reg = self.registry().await?;
        match reg.take_rebuilt() {
            Some(r) => Ok(r),
            None => reg.rebuild_index("requested").await,
        }
    }

    // --- new tools -------------------------------------------------------------------------------

    async fn pipeline<'a>(
        &'a self,
        opts: CreateOptions,
        llm: Option<&'a LlmClient>,
        events: Events<'a>,
    ) -> Result<Pipeline<'a>> {
        let sandbox = match opts.verify {
            VerifyMode::WasmOnly => None,
            VerifyMode::Docker => Some(self.sandbox().await?),
        };
        Ok(Pipeline {
            runtime: self.runtime().await?,
            registry: self.registry().await?,
            sandbox,
            llm,
            verify: opts.verify,
            repair_rounds: opts.repair_rounds,
            reserved: BUILT_IN_TOOL_NAMES,
            scratch: self.inner.config.paths.scratch_dir(),
            events,
        })
    }

    /// The seed's `create_tool` (`toolsmith tools add`): verify a tool written outside (by a
    /// person or another agent) and register it. Fails early, before any test runs, when what
    /// `opts` asks for is missing (Docker, its image, the runtime, the embedder).
    pub async fn create_tool(
        &self,
        candidate: &Candidate,
        opts: CreateOptions,
        events: Events<'_>,
    ) -> Result<ToolRecord> {
        self.create_tool_with_examples(candidate, &[], opts, events).await
    }

    /// [`Toolsmith::create_tool`] with example requests of the tool (`tools add --examples FILE`),
    /// stored with it in the same transaction. An unusable example is an `invalid_arguments`
    /// error naming it, before anything runs.
    pub async fn create_tool_with_examples(
        &self,
        candidate: &Candidate,
        examples: &[String],
        opts: CreateOptions,
        events: Events<'_>,
    ) -> Result<ToolRecord> {
        let examples = crate::registry::examples::clean_all(examples).map_err(Error::InvalidArguments)?;
        let p = self.pipeline(opts, None, events).await?;
        p.create_tool(candidate, &examples).await.map_err(Error::Verification)
    }

    /// The seed's `synthesize_capability`: write, verify and register a tool from a sentence.
    /// Setup failures (no model, no Docker) are errors; everything after is in the result.
    pub async fn synthesize_capability(
        &self,
        prompt: &str,
        opts: CreateOptions,
        events: Events<'_>,
    ) -> Result<SynthesisResult> {
        let llm = self.llm()?;
        self.synthesize_capability_with(llm, prompt, opts, events).await
    }

    /// [`Toolsmith::synthesize_capability`] asking another model than the configured one (the
    /// MCP server passes a client lending its own, see [`LlmClient::delegated`]).
    pub async fn synthesize_capability_with(
        &self,
        llm: &LlmClient,
        prompt: &str,
        opts: CreateOptions,
        events: Events<'_>,
    ) -> Result<SynthesisResult> {
        let p = self.pipeline(opts, Some(llm), events).await?;
        Ok(p.synthesize_capability(prompt).await)
    }

    // --- the agent's memory ----------------------------------------------------------------------

    /// The seed's `start_session`: the session `id` (created when new), or a new one.
    pub async fn start_session(&self, id: Option<&str>) -> Result<String> {
        let id = id.map(str::to_string);
        on_store(&self.inner.store, move |st| SessionMemoryManager::new(st).start_session(id.as_deref())).await
    }

    /// The seed's `get_recent_messages`: the latest `limit` of a session, oldest first (none for
    /// a session never started).
    pub async fn get_recent_messages(&self, session_id: &str, limit: usize) -> Result<Vec<Message>> {
        let id = session_id.to_string();
        on_store(&self.inner.store, move |st| SessionMemoryManager::new(st).get_recent_messages(&id, limit)).await
    }

    /// Wait until this process's runs so far are in the execution log (a no-op before any run).
    pub async fn sync_log(&self) -> Result<()> {
        if let Some(ex) = self.inner.executor.get() {
            let ex = ex.clone();
            blocking(move || ex.sync_log()).await?;
        }
        Ok(())
    }

    /// The seed's `get_workflow_patterns`: tool sequences run at least `min_frequency` times.
    pub async fn get_workflow_patterns(&self, min_frequency: u64, limit: usize) -> Result<Vec<WorkflowPattern>> {
        self.sync_log().await?;
        on_store(&self.inner.store, move |st| WorkflowTracker::new(st).get_workflow_patterns(min_frequency, limit))
            .await
    }

    /// The seed's `get_tool_relationships`: which tool follows which, at least `min_confidence`.
    pub async fn get_tool_relationships(
        &self,
        tool_name: Option<&str>,
        min_confidence: f64,
    ) -> Result<Vec<ToolRelationship>> {
        self.sync_log().await?;
        let tool = tool_name.map(str::to_string);
        on_store(&self.inner.store, move |st| {
            WorkflowTracker::new(st).get_tool_relationships(tool.as_deref(), min_confidence)
        })
        .await
    }
}

/// Granted directories must exist and be directories: say which one is not.
fn check_grants(grants: &[Grant]) -> Result<()> {
    match grants.iter().find(|g| !g.host_path.is_dir()) {
        Some(bad) => Err(Error::InvalidArguments(format!("--allow-read {}: not a directory", bad.host_path.display()))),
        None => Ok(()),
    }
}
