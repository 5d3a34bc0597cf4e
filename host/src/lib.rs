//! `toolsmith-host` runs Python tools inside one shared WASM Python runtime.
//!
//! Python source and JSON go in; JSON or a typed error comes out, under limits. This crate knows
//! nothing of LLMs, registries or MCP.
//!
//! ```no_run
//! use toolsmith_host::{Runtime, RuntimeConfig, CallOptions};
//! let rt = Runtime::new(RuntimeConfig::new("runtime.wasm", "/tmp/cache"))?;
//! let code = rt.compile("def add(a: int, b: int) -> int:\n    return a + b\n", "add.py")?;
//! let out = rt.call(&code, "add", r#"{"a": 2, "b": 3}"#, &CallOptions::default())?;
//! assert_eq!(out.result.get(), "5");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Design, from measurements on the target machines:
//! - The CPython component is ~20 MB and takes 5–11 s to compile, so it is compiled once and the
//!   machine code cached on disk ([`cache`]), keyed by the component's content, the wasmtime
//!   version and the engine's configuration (which covers the CPU).
//! - Every call gets a fresh instance in a fresh `Store`: after a guest error CPython's state may
//!   be corrupt, so an instance is never reused.
//! - Instantiation costs ~0.5 ms of libpython start functions whatever the allocator settings, so
//!   a stock of ready instances is kept ([`stock`]); a call takes one, uses it once, and hands the
//!   `Store` back to be dropped off the request path.

mod cache;
mod driver;
mod error;
mod fsguard;
mod judge;
mod limits;
mod stock;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

pub use error::{CallError, ErrorKind, HostError, ToolError};
pub use limits::Limits;

use fsguard::{GuardedFilesystem, GuardedView, Quota};
use limits::MemoryLimiter;
use stock::Stock;

mod bindings {
    wasmtime::component::bindgen!({
        path: "../guest-runtime/wit",
        world: "runtime",
        imports: { default: async | trappable },
        exports: { default: async },
    });
}

/// How often the epoch ticker advances; the wall-clock deadline is counted in these ticks.
const EPOCH_TICK: Duration = Duration::from_millis(1);

/// How the runtime is set up. Build with [`RuntimeConfig::new`] and adjust the public fields.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// The componentize-py Python runtime (`guest-runtime/build.sh` makes it).
    pub component: PathBuf,
    /// Where the compiled machine code is cached.
    pub cache_dir: PathBuf,
    /// Ready instances kept in stock. 0 for a one-shot process (a CLI run), where stocking only
    /// adds work; a few for a server.
    pub stock: usize,
    /// Most instances alive at once (calls in flight + stock + stores waiting to be dropped).
    /// Calls beyond it wait for a slot instead of failing.
    pub max_instances: u32,
    /// Largest memory any call may be granted; per-call limits must stay below it.
    pub max_memory_bytes: usize,
    /// Bytes of each linear memory kept resident between instances: the next instance then
    /// skips its page faults (measured here: a call 0.36 ms instead of 2.6 ms p50) and the
    /// store's drop copies the memory image back instead (~3 ms, on a janitor thread; this
    /// bounds back-to-back throughput). Worth it for a long-lived process; 0 for a one-shot one, whose
    /// exit would pay it for nothing.
    pub keep_resident_bytes: usize,
    /// Threads that refill the stock and drop used stores (one per core by default): each used
    /// store costs one ~4 ms of work, so one thread alone caps a server at ~250 calls/s.
    pub janitors: usize,
}

impl RuntimeConfig {
    pub const DEFAULT_MAX_INSTANCES: u32 = 32;
    pub const DEFAULT_MAX_MEMORY_BYTES: usize = 1 << 30;
    pub const DEFAULT_KEEP_RESIDENT_BYTES: usize = 64 << 20;

    pub fn new(component: impl Into<PathBuf>, cache_dir: impl Into<PathBuf>) -> RuntimeConfig {
        RuntimeConfig {
            component: component.into(),
            cache_dir: cache_dir.into(),
            stock: 0,
            max_instances: Self::DEFAULT_MAX_INSTANCES,
            max_memory_bytes: Self::DEFAULT_MAX_MEMORY_BYTES,
            keep_resident_bytes: Self::DEFAULT_KEEP_RESIDENT_BYTES,
            janitors: std::thread::available_parallelism().map_or(1, |n| n.get()).min(4),
        }
    }
}

/// A directory of the host made visible to one call. The tool sees it at `guest_path`, normally
/// the same relative path the caller used (`data/` → `data/`), so `open("data/sales.csv")` works.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub host_path: PathBuf,
    pub guest_path: String,
    pub writable: bool,
}

impl Grant {
    /// Read-only access to `dir`, seen by the tool under the same (relative) name.
    pub fn read_only(dir: impl AsRef<Path>) -> Grant {
        let dir = dir.as_ref();
        Grant { host_path: dir.to_path_buf(), guest_path: guest_name(dir), writable: false }
    }

    pub fn read_write(dir: impl AsRef<Path>) -> Grant {
        Grant { writable: true, ..Grant::read_only(dir) }
    }
}

fn guest_name(dir: &Path) -> String {
    let s = dir.to_string_lossy();
    let s = s.trim_end_matches('/');
    let s = s.strip_prefix("./").unwrap_or(s);
    if s.is_empty() { ".".into() } else { s.into() }
}

/// Options of one call: limits and the directories granted to it (none by default).
#[derive(Debug, Clone, Default)]
pub struct CallOptions {
    pub limits: Limits,
    pub grants: Vec<Grant>,
}

/// A successful call.
#[derive(Debug, Clone)]
pub struct CallOutput {
    /// The result as JSON text, exactly as the tool produced it (big integers intact).
    pub result: Box<RawValue>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

/// One test's outcome inside the runtime.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestCase {
    pub name: String,
    /// `passed`, `failed`, `error` or `skipped`.
    pub outcome: String,
    #[serde(default)]
    pub message: String,
}

/// Result of running a test module against a tool inside the runtime.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestReport {
    pub passed: u32,
    pub failed: u32,
    #[serde(default)]
    pub errors: u32,
    #[serde(default)]
    pub skipped: u32,
    /// Tests the runner collected (every test the module defines, parametrized cases expanded).
    #[serde(default)]
    pub collected: u32,
    pub tests: Vec<TestCase>,
    #[serde(default)]
    pub output: String,
    /// Calls of the tool the tests made (each in an instance of its own); counted by the host.
    #[serde(default)]
    pub tool_calls: u32,
}

impl TestReport {
    /// All collected tests passed (or were skipped), there was at least one, and the counts agree
    /// with the list: a report that does not add up is a failure, never a pass.
    pub fn success(&self) -> bool {
        let listed = self.tests.len() as u64;
        let counted =
            u64::from(self.passed) + u64::from(self.failed) + u64::from(self.errors) + u64::from(self.skipped);
        self.failed == 0
            && self.errors == 0
            && self.passed > 0
            && counted == listed
            && u64::from(self.collected) == listed
            && self.tests.iter().filter(|t| t.outcome == "passed").count() as u64 == u64::from(self.passed)
    }
}

/// Options of a test run: limits for the whole run (each call of the tool gets the same limits,
/// within what is left of the run's deadline), granted data directories, and a scratch directory
/// served to tests as the `tmp_path` fixture (granted read-write to this run and its calls only).
#[derive(Debug, Clone, Default)]
pub struct TestOptions {
    pub limits: Limits,
    pub grants: Vec<Grant>,
    pub tmp_path: Option<PathBuf>,
}

/// The tool a test run calls: its compiled code, its function and the names a positional
/// argument binds to (the `positional` of [`Runtime::describe`]).
#[derive(Debug, Clone, Copy)]
pub struct ToolUnderTest<'a> {
    pub code: &'a [u8],
    pub function: &'a str,
    pub positional: &'a [String],
}

pub(crate) struct State {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: MemoryLimiter,
    /// Bytes the guest may still write to granted directories.
    quota: Arc<Quota>,
    /// Set only in a test run's instance: how it calls the tool under test.
    judge: Option<judge::Judge>,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// A store with an instance in it, ready for exactly one call.
pub(crate) struct Ready {
    store: Store<State>,
    runtime: bindings::Runtime,
}

impl Ready {
    /// Set the call's limits on a fresh store; start-up ran unmetered.
    fn arm(&mut self, limits: &Limits) -> Result<(), HostError> {
        let state = self.store.data_mut();
        state.limiter = MemoryLimiter { limit: limits.memory_bytes, hit: false };
        state.quota = Quota::new(limits.max_write_bytes);
        self.store.set_fuel(limits.fuel).map_err(HostError::Engine)?;
        // Validated limits keep this far below the epoch counter's range.
        let ticks = (limits.timeout.as_micros() / EPOCH_TICK.as_micros()).max(1) as u64;
        self.store.set_epoch_deadline(ticks);
        Ok(())
    }
}

pub(crate) struct Shared {
    engine: Engine,
    pre: bindings::RuntimePre<State>,
    slots: stock::Slots,
    max_memory_bytes: usize,
}

impl Shared {
    /// Instantiate with no authority at all: no preopens, no env, no args, no network, stdio
    /// discarded (the harness captures `print` itself).
    async fn instantiate(&self, grants: &[Grant]) -> Result<Ready, HostError> {
        let mut b = WasiCtxBuilder::new();
        for g in grants {
            let perms = if g.writable { FsPerms::ReadWrite } else { FsPerms::ReadOnly };
            b.preopened_dir(&g.host_path, &g.guest_path, perms)
                .map_err(|source| HostError::Grant { path: g.host_path.clone(), source })?;
        }
        let state = State {
            wasi: b.build(),
            table: ResourceTable::new(),
            limiter: MemoryLimiter { limit: usize::MAX, hit: false },
            quota: Quota::new(0),
            judge: None,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        // Start-up (libpython's start functions) is the runtime's own work, not the tool's: it
        // runs unmetered and the call's limits are set just before the call.
        store.set_fuel(u64::MAX).map_err(HostError::Engine)?;
        store.set_epoch_deadline(u64::MAX / 2);
        let runtime = self.pre.instantiate_async(&mut store).await.map_err(HostError::Engine)?;
        Ok(Ready { store, runtime })
    }
}

/// The shared Python runtime: one compiled component, a stock of ready instances, and an epoch
/// ticker for deadlines. `Send + Sync`: call it from as many threads as you like.
///
/// Calls block (each drives its call on a Tokio runtime of the calling thread's own, see
/// [`driver`]). From async code, make them inside `tokio::task::spawn_blocking`: Tokio refuses to
/// start a runtime on one of its async worker threads.
pub struct Runtime {
    shared: Arc<Shared>,
    stock: Stock,
    stop_ticker: Arc<AtomicBool>,
}

impl Runtime {
    /// Load the runtime: the cached machine code when it matches, else compile and cache it.
    pub fn new(config: RuntimeConfig) -> Result<Runtime, HostError> {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(config.max_instances)
            .total_core_instances(config.max_instances * 16)
            .max_core_instances_per_component(64)
            .total_memories(config.max_instances * 4)
            .max_memories_per_component(8)
            .total_tables(config.max_instances * 8)
            .max_tables_per_component(16)
            .table_elements(64 * 1024)
            .max_memory_size(config.max_memory_bytes)
            .total_stacks(config.max_instances)
            .linear_memory_keep_resident(config.keep_resident_bytes)
            // Reuse warm slots before cold ones: the slots ever used are then as many as the
            // instances ever alive at once, and resident memory stops growing with them.
            .max_unused_warm_slots(0)
            // PAGEMAP_SCAN resets only dirtied pages, but measured here it brought the page
            // faults back into the call (2.1 ms p50 against 0.36 ms): the memset stays.
            .pagemap_scan(wasmtime::Enabled::No);
        let mut cfg = Config::new();
        // Calls are async (see `driver`), so that a call waiting in WASI (a sleep, a poll) is a
        // future the deadline can drop, store and all: epoch interruption only reaches a guest
        // that is running wasm.
        cfg.wasm_component_model(true)
            .consume_fuel(true)
            .epoch_interruption(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
            .memory_init_cow(true);
        let engine = Engine::new(&cfg).map_err(HostError::Engine)?;
        let component = cache::load_component(&engine, &config.component, &config.cache_dir)?;
        let mut linker: Linker<State> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(HostError::Engine)?;
        // Our filesystem rules replace wasmtime-wasi's definitions of that one interface.
        linker.allow_shadowing(true);
        wasmtime_wasi::p2::bindings::filesystem::types::add_to_linker::<State, GuardedFilesystem>(
            &mut linker,
            GuardedView::of,
        )
        .map_err(HostError::Engine)?;
        linker.allow_shadowing(false);
        bindings::Runtime::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s).map_err(HostError::Engine)?;
        let pre = linker
            .instantiate_pre(&component)
            .map_err(|e| HostError::RuntimeLoad { path: config.component.clone(), source: e })?;
        let pre = bindings::RuntimePre::new(pre)
            .map_err(|e| HostError::RuntimeLoad { path: config.component.clone(), source: e })?;
        let stop_ticker = Arc::new(AtomicBool::new(false));
        {
            let engine = engine.clone();
            let stop = stop_ticker.clone();
            std::thread::Builder::new()
                .name("toolsmith-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(EPOCH_TICK);
                        engine.increment_epoch();
                    }
                })
                .map_err(|e| HostError::Engine(e.into()))?;
        }
        let shared = Arc::new(Shared {
            engine,
            pre,
            slots: stock::Slots::new(config.max_instances as usize),
            max_memory_bytes: config.max_memory_bytes,
        });
        let stock = Stock::start(shared.clone(), config.stock, config.janitors);
        Ok(Runtime { shared, stock, stop_ticker })
    }

    /// Block until the stock is full (or `timeout` passes); for benchmarks that measure a call
    /// on a ready instance rather than the refill rate.
    pub fn wait_for_stock(&self, timeout: Duration) -> bool {
        self.stock.wait_full(timeout)
    }

    /// The largest memory limit a call may ask for (the pool's slot size).
    pub fn max_memory_bytes(&self) -> usize {
        self.shared.max_memory_bytes
    }

    /// Check `limits` against what this runtime can enforce; every call does it first.
    pub fn check_limits(&self, limits: &Limits) -> Result<(), HostError> {
        limits.check(self.shared.max_memory_bytes)
    }

    async fn take(&self, grants: &[Grant], limits: &Limits) -> Result<stock::Lease, HostError> {
        self.check_limits(limits)?;
        let mut lease = if grants.is_empty()
            && let Some(lease) = self.stock.take()
        {
            lease
        } else {
            stock::fresh(&self.shared, grants, self.stock.dropper()).await?
        };
        lease.ready().arm(limits)?;
        Ok(lease)
    }

    /// Check a tool's source and compile it to bytecode for this runtime. Errors carry the line.
    pub fn compile(&self, source: &str, filename: &str) -> Result<Vec<u8>, CallError> {
        driver::block_on(async {
            let limits = Limits::default();
            let mut lease = self.take(&[], &limits).await?;
            let Ready { store, runtime } = lease.ready();
            let outcome = driver::bounded(&limits, runtime.call_compile(&mut *store, source, filename)).await;
            settle(outcome, store, &limits)
        })?
    }

    /// Call `function` of compiled `code` with `args_json` (a JSON object) as keyword arguments.
    pub fn call(
        &self,
        code: &[u8],
        function: &str,
        args_json: &str,
        opts: &CallOptions,
    ) -> Result<CallOutput, CallError> {
        driver::block_on(async {
            let lease = self.take(&opts.grants, &opts.limits).await?;
            call_on(lease, code, function, args_json, &opts.limits).await
        })?
    }

    /// The description of `function` in `source`, read from the parsed source (its code does not
    /// run): name, summary, docstring, the JSON Schema of its parameters, its return schema and
    /// the names positional arguments bind to.
    pub fn describe(&self, source: &str, function: &str) -> Result<serde_json::Value, CallError> {
        driver::block_on(async {
            let limits = Limits::default();
            let mut lease = self.take(&[], &limits).await?;
            let Ready { store, runtime } = lease.ready();
            let outcome = driver::bounded(&limits, runtime.call_describe(&mut *store, source, function)).await;
            let text = settle(outcome, store, &limits)?;
            Ok(parse_reply(&text, "description")?)
        })?
    }

    /// Run a pytest-style test module against `tool`, importable as `module_name`. The tests run
    /// in one instance; every call they make of the tool runs in a fresh instance of its own (see
    /// [`judge`]), so the tool's code never shares an interpreter with the test runner.
    pub fn run_tests(
        &self,
        tool: ToolUnderTest<'_>,
        module_name: &str,
        test_source: &str,
        opts: &TestOptions,
    ) -> Result<TestReport, CallError> {
        let mut grants = opts.grants.clone();
        let tmp_guest = opts.tmp_path.as_ref().map(|p| {
            grants.push(Grant { host_path: p.clone(), guest_path: TMP_GUEST.into(), writable: true });
            TMP_GUEST
        });
        let options = serde_json::json!({
            "max_output_bytes": opts.limits.max_output_bytes,
            "tmp_path": tmp_guest,
            "positional": tool.positional,
        })
        .to_string();
        driver::block_on(async {
            let mut lease = self.take(&grants, &opts.limits).await?;
            let judge = judge::Judge::new(&self.shared, self.stock.dropper(), tool, &grants, &opts.limits);
            let calls = judge.calls();
            lease.ready().store.data_mut().judge = Some(judge);
            let Ready { store, runtime } = lease.ready();
            let run = runtime.call_run_tests(&mut *store, module_name, tool.function, test_source, &options);
            let outcome = driver::bounded(&opts.limits, run).await;
            let text = settle(outcome, store, &opts.limits)?;
            let mut report: TestReport = parse_reply(&text, "test report")?;
            report.tool_calls = calls.get();
            Ok(report)
        })?
    }

    /// The modules a tool may import.
    pub fn allowed_modules(&self) -> Result<Vec<String>, CallError> {
        driver::block_on(async {
            let limits = Limits::default();
            let mut lease = self.take(&[], &limits).await?;
            let Ready { store, runtime } = lease.ready();
            let outcome =
                driver::bounded(&limits, async { runtime.call_allowed_modules(&mut *store).await.map(Ok) }).await;
            settle(outcome, store, &limits)
        })?
    }
}

/// Where a test run's scratch directory appears inside the guest.
const TMP_GUEST: &str = "/tmp/toolsmith-tmp";

impl Drop for Runtime {
    fn drop(&mut self) {
        self.stop_ticker.store(true, Ordering::Relaxed);
    }
}

/// One call of a tool on an armed lease; what both [`Runtime::call`] and the judge's calls of the
/// tool under test run.
pub(crate) async fn call_on(
    mut lease: stock::Lease,
    code: &[u8],
    function: &str,
    args_json: &str,
    limits: &Limits,
) -> Result<CallOutput, CallError> {
    let start = Instant::now();
    let options = serde_json::json!({ "max_output_bytes": limits.max_output_bytes }).to_string();
    let Ready { store, runtime } = lease.ready();
    let outcome = driver::bounded(limits, runtime.call_call(&mut *store, code, function, args_json, &options)).await;
    let text = settle(outcome, store, limits)?;
    drop(lease);
    // Refuse an oversized reply before parsing it; the exact check on the result follows.
    if text.len() > limits.max_result_bytes + 2 * limits.max_output_bytes + 64 {
        return Err(result_too_large(text.len(), limits.max_result_bytes).into());
    }
    #[derive(Deserialize)]
    struct Out {
        result: Box<RawValue>,
        #[serde(default)]
        stdout: String,
        #[serde(default)]
        stderr: String,
    }
    let out: Out = parse_reply(&text, "reply")?;
    if out.result.get().len() > limits.max_result_bytes {
        return Err(result_too_large(out.result.get().len(), limits.max_result_bytes).into());
    }
    Ok(CallOutput { result: out.result, stdout: out.stdout, stderr: out.stderr, elapsed: start.elapsed() })
}

/// Translate how an export call ended — done, failed in the guest, trapped, or dropped at the
/// deadline while it waited in the host — into the call's result.
fn settle<R>(
    outcome: Option<wasmtime::Result<Result<R, String>>>,
    store: &Store<State>,
    limits: &Limits,
) -> Result<R, CallError> {
    let memory_hit = store.data().limiter.hit;
    match outcome {
        None => Err(timeout(limits).into()),
        Some(Ok(Ok(r))) => Ok(r),
        Some(Ok(Err(json))) => {
            let mut e = ToolError::from_guest_json(&json);
            // The limiter's record is the host's, not the guest's: only then is it the limit. The
            // harness reports a MemoryError it could not attribute (compiling) as InternalError.
            if memory_hit && matches!(e.error_type.as_str(), "MemoryError" | "InternalError") {
                e.kind = ErrorKind::MemoryLimit;
                e.error_type = "MemoryLimitExceeded".into();
                e.message = format!(
                    "the tool needed more than its memory limit of {} MiB ({})",
                    limits.memory_bytes >> 20,
                    e.message
                );
            } else if let Some(quota) = store.data().quota.exceeded()
                && e.error_type == "OSError"
            {
                e.message = format!(
                    "{} (the tool wrote more than its quota of {} MiB to granted directories)",
                    e.message,
                    quota >> 20
                );
            }
            Err(e.into())
        }
        Some(Err(err)) => Err(trap_error(err, limits, memory_hit).into()),
    }
}

fn timeout(limits: &Limits) -> ToolError {
    ToolError::limit(
        ErrorKind::Timeout,
        "Timeout",
        format!("the tool ran past its time limit of {} ms", limits.timeout.as_millis()),
    )
}

fn result_too_large(bytes: usize, limit: usize) -> ToolError {
    ToolError::limit(
        ErrorKind::ResultTooLarge,
        "ResultTooLarge",
        format!("the result is {bytes} bytes of JSON, over the limit of {limit} bytes"),
    )
}

/// The harness answers JSON; anything else is a runtime bug, reported rather than lost.
fn parse_reply<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T, ToolError> {
    serde_json::from_str(text).map_err(|e| {
        ToolError::limit(ErrorKind::Trap, "RuntimeProtocolError", format!("unreadable {what} from the runtime: {e}"))
    })
}

fn trap_error(err: wasmtime::Error, limits: &Limits, memory_hit: bool) -> ToolError {
    match err.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => ToolError::limit(
            ErrorKind::OutOfFuel,
            "FuelExhausted",
            format!("the tool used up its fuel limit of {} units of computation", limits.fuel),
        ),
        Some(Trap::Interrupt) => timeout(limits),
        // CPython's recursion guard does not see the wasm stack: C-level recursion (repr or
        // json of a deeply nested value) exhausts it instead of raising RecursionError.
        Some(Trap::StackOverflow) => ToolError::limit(
            ErrorKind::Trap,
            "StackOverflow",
            "the tool nested too deeply and exhausted the runtime's stack (flatten the data or the recursion)".into(),
        ),
        _ if memory_hit => ToolError::limit(
            ErrorKind::MemoryLimit,
            "MemoryLimitExceeded",
            format!("the tool needed more than its memory limit of {} MiB", limits.memory_bytes >> 20),
        ),
        _ => ToolError::limit(ErrorKind::Trap, "RuntimeTrap", format!("the Python runtime trapped: {err:#}")),
    }
}
