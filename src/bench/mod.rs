//! Benchmarks behind `toolsmith bench`: every figure beside a baseline measured in the same run.
//! Tool calls and registrations go through the facade, the path every face takes.

pub mod agent;
pub mod mcp;
pub mod search;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;

use crate::config::Config;
use crate::executor::RunOptions;
use crate::registry::NewTool;
use crate::runtime::Usage;
use crate::synthesis::{Candidate, Step, SynthesisEvent, VerifyMode};
use crate::{CreateOptions, Toolsmith};

/// Median and 99th percentile (nearest rank), in milliseconds: the one formula of every table.
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

/// Latency distribution of one measured thing, in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Dist {
    pub name: String,
    pub n: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub mean_ms: f64,
}

impl Dist {
    pub fn from_samples(name: &str, mut samples: Vec<Duration>) -> Dist {
        let mean_ms = samples.iter().map(|d| d.as_secs_f64() * 1e3).sum::<f64>() / samples.len().max(1) as f64;
        let (p50_ms, p99_ms) = percentiles_ms(&mut samples);
        Dist { name: name.into(), n: samples.len(), p50_ms, p99_ms, mean_ms }
    }
}

pub fn print_table(rows: &[Dist]) {
    println!("{:<62} {:>6} {:>10} {:>10} {:>10}", "measure", "n", "p50 ms", "p99 ms", "mean ms");
    // Sub-microsecond floors would print as 0.000 ms: give them more digits.
    let ms = |v: f64| if v < 0.01 { format!("{v:.5}") } else { format!("{v:.3}") };
    for r in rows {
        println!("{:<62} {:>6} {:>10} {:>10} {:>10}", r.name, r.n, ms(r.p50_ms), ms(r.p99_ms), ms(r.mean_ms));
    }
}

/// Sustained calls a second with some number of concurrent callers.
#[derive(Debug, Clone, Serialize)]
pub struct Rate {
    pub threads: usize,
    pub calls_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExecReport {
    pub rows: Vec<Dist>,
    /// python3-subprocess p50 divided by the fresh-instance p50.
    pub speedup_vs_subprocess: f64,
    /// Through the facade, fresh instance per call, back to back, per number of callers.
    pub sustained: Vec<Rate>,
    /// The same load through `python3` subprocesses (the baseline), per number of callers.
    pub subprocess_sustained: Vec<Rate>,
    /// Bytecode of the benchmark tool, bytes (the per-tool artifact).
    pub artifact_bytes: usize,
}

/// What `toolsmith bench exec` measures.
#[derive(Debug, Clone)]
pub struct ExecOptions {
    /// Calls measured per latency row and per caller count.
    pub calls: usize,
    /// Subprocess calls in the python3 baseline.
    pub subprocess_calls: usize,
    /// Numbers of concurrent callers for the sustained rates.
    pub threads: Vec<usize>,
    /// The `toolsmith` binary, for the fresh-process row.
    pub exe: PathBuf,
}

const TOOL: &str = "def add(a: int, b: int) -> int:\n    \"\"\"Add two integers.\"\"\"\n    return a + b\n";
const TOOL_TESTS: &str = "from add import add\n\ndef test_add():\n    assert add(2, 3) == 5\n";

/// A serving facade over a throw-away home sharing `config`'s cache, with the `add` tool registered.
pub(crate) async fn bench_home(config: &Config) -> anyhow::Result<(tempfile::TempDir, Toolsmith)> {
    let home = tempfile::tempdir()?;
    let ts = Toolsmith::open(config.clone().with_home(home.path()), Usage::Serving).await?;
    let c = Candidate { name: "add".into(), code: TOOL.into(), tests: TOOL_TESTS.into(), ..Candidate::default() };
    ts.create_tool(&c, CreateOptions { verify: VerifyMode::WasmOnly, ..CreateOptions::default() }, &|_| {}).await?;
    Ok((home, ts))
}

async fn call(ts: &Toolsmith, i: usize) -> anyhow::Result<Duration> {
    let args = format!("{{\"a\": {i}, \"b\": 1}}");
    let t = Instant::now();
    let out = ts.run_tool("add", &args, RunOptions::default()).await?;
    let d = t.elapsed();
    anyhow::ensure!(out.result.get() == (i + 1).to_string(), "wrong result {}", out.result.get());
    Ok(d)
}

/// `callers` tasks calling back to back, `calls` in all.
pub(crate) async fn sustained(ts: &Toolsmith, callers: usize, calls: usize) -> anyhow::Result<Rate> {
    let per = calls.div_ceil(callers);
    let started = Instant::now();
    let tasks: Vec<_> = (0..callers)
        .map(|c| {
            let ts = ts.clone();
            tokio::spawn(async move {
                let mut samples = Vec::with_capacity(per);
                for i in 0..per {
                    samples.push(call(&ts, c * per + i).await?);
                }
                anyhow::Ok(samples)
            })
        })
        .collect();
    let mut samples = Vec::with_capacity(per * callers);
    for t in tasks {
        samples.extend(t.await??);
    }
    let calls_per_s = samples.len() as f64 / started.elapsed().as_secs_f64();
    let (p50_ms, p99_ms) = percentiles_ms(&mut samples);
    Ok(Rate { threads: callers, calls_per_s, p50_ms, p99_ms })
}

/// `toolsmith bench exec`: a fresh-instance call of a small registered tool through the facade,
/// against `python3` subprocesses doing the same call and a native in-process call (the floor).
pub async fn exec(config: &Config, o: ExecOptions) -> anyhow::Result<ExecReport> {
    let (_home, ts) = bench_home(config).await?;
    let rt = ts.runtime().await?;
    let mut rows = vec![];

    // New tool → runnable: the source is compiled to bytecode by the already-compiled runtime.
    // (Host calls block: measured on a blocking thread, as the facade makes them.)
    let (rt2, n) = (rt.clone(), 50.min(o.calls));
    let (compile, code) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let (mut compile, mut code) = (vec![], vec![]);
        for _ in 0..n {
            rt2.wait_for_stock(Duration::from_secs(5));
            let t = Instant::now();
            code = rt2.compile(TOOL, "add.py")?;
            compile.push(t.elapsed());
        }
        Ok((compile, code))
    })
    .await??;
    rows.push(Dist::from_samples("new tool: source → bytecode (runnable)", compile));

    for i in 0..20 {
        call(&ts, i).await?;
    }
    // Latency of a call that finds a ready instance: the stock is refilled between calls, as it
    // is between an assistant's requests.
    let mut fresh = Vec::with_capacity(o.calls);
    for i in 0..o.calls {
        rt.wait_for_stock(Duration::from_secs(5));
        fresh.push(call(&ts, i).await?);
    }
    let fresh = Dist::from_samples("run_tool, fresh instance (ready in stock)", fresh);
    // The same call on the host alone: what the facade adds is the difference.
    let (rt2, calls, code2) = (rt.clone(), o.calls, code.clone());
    let host = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<Duration>> {
        let mut host = Vec::with_capacity(calls);
        let opts = toolsmith_host::CallOptions::default();
        for i in 0..calls {
            rt2.wait_for_stock(Duration::from_secs(5));
            let args = format!("{{\"a\": {i}, \"b\": 1}}");
            let t = Instant::now();
            let out = rt2.call(&code2, "add", &args, &opts)?;
            host.push(t.elapsed());
            anyhow::ensure!(out.result.get() == (i + 1).to_string(), "wrong result {}", out.result.get());
        }
        Ok(host)
    })
    .await??;
    let host = Dist::from_samples("  of which the host call (Runtime::call, same thread)", host);
    // The executor on one thread (lookup, validation, log): the rest is the hop between threads.
    let (ex, calls) = (ts.executor().await?.clone(), o.calls);
    let rt2 = rt.clone();
    let executor = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<Duration>> {
        let mut samples = Vec::with_capacity(calls);
        for i in 0..calls {
            rt2.wait_for_stock(Duration::from_secs(5));
            let args = format!("{{\"a\": {i}, \"b\": 1}}");
            let t = Instant::now();
            let out = ex.execute("add", &args, &RunOptions::default())?;
            samples.push(t.elapsed());
            anyhow::ensure!(out.result.get() == (i + 1).to_string(), "wrong result {}", out.result.get());
        }
        Ok(samples)
    })
    .await??;
    let executor = Dist::from_samples("  of which the executor (lookup, check, call, log; same thread)", executor);
    // Moving the blocking call off the async thread and back, with nothing to do.
    let mut hop = Vec::with_capacity(o.calls);
    for _ in 0..o.calls {
        let t = Instant::now();
        tokio::task::spawn_blocking(|| std::hint::black_box(1)).await?;
        hop.push(t.elapsed());
    }
    let hop = Dist::from_samples("  of which moving to a blocking thread and back (empty)", hop);

    let mut rates = vec![];
    for &n in &o.threads {
        rt.wait_for_stock(Duration::from_secs(5));
        rates.push(sustained(&ts, n.max(1), o.calls).await?);
    }

    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("add.py"), TOOL)?;
    let python = python3()?;
    let mut sub_rates = vec![];
    let mut sub = vec![];
    for &n in &o.threads {
        let (rate, samples) = subprocess_rate(&python, dir.path(), n.max(1), o.subprocess_calls)?;
        sub_rates.push(rate);
        if sub.is_empty() {
            sub = samples;
        }
    }
    if sub.is_empty() {
        sub = subprocess_rate(&python, dir.path(), 1, o.subprocess_calls)?.1;
    }
    let sub = Dist::from_samples("baseline: python3 -c subprocess", sub);

    // A fresh `toolsmith run --file` process, runtime cached, against starting python3 for it.
    let mut proc_runs = vec![];
    for _ in 0..o.subprocess_calls.min(30) {
        let t = Instant::now();
        let out = Command::new(&o.exe)
            .args(["run", "--file", "add.py", "--args", "{\"a\": 1, \"b\": 2}", "--json"])
            .current_dir(dir.path())
            .env("TOOLSMITH_CACHE", &config.paths.cache)
            .env("TOOLSMITH_HOME", dir.path().join("home"))
            .stderr(Stdio::null())
            .output()?;
        proc_runs.push(t.elapsed());
        anyhow::ensure!(out.status.success(), "toolsmith run failed: {}", String::from_utf8_lossy(&out.stdout));
    }
    let proc_dist = Dist::from_samples("fresh `toolsmith run --file` process", proc_runs);

    let mut native = Vec::with_capacity(o.calls);
    for i in 0..o.calls {
        let args = format!("{{\"a\": {i}, \"b\": 1}}");
        let t = Instant::now();
        let v: serde_json::Value = serde_json::from_str(std::hint::black_box(&args))?;
        let r = v["a"].as_i64().unwrap_or(0) + v["b"].as_i64().unwrap_or(0);
        std::hint::black_box(serde_json::to_string(&r)?);
        native.push(t.elapsed());
    }
    let native = Dist::from_samples("floor: native Rust in-process (JSON in, add, JSON out)", native);

    let speedup = sub.p50_ms / fresh.p50_ms;
    rows.extend([fresh, executor, host, hop, sub, proc_dist, native]);
    Ok(ExecReport {
        rows,
        speedup_vs_subprocess: speedup,
        sustained: rates,
        subprocess_sustained: sub_rates,
        artifact_bytes: code.len(),
    })
}

/// The interpreter itself, not a version manager's shim script in front of it.
fn python3() -> anyhow::Result<String> {
    let out = Command::new("python3").args(["-c", "import sys; print(sys.executable)"]).output()?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// `threads` threads each starting `python3 -c` for the same call, `calls` in all.
fn subprocess_rate(python: &str, dir: &Path, threads: usize, calls: usize) -> anyhow::Result<(Rate, Vec<Duration>)> {
    let per = calls.div_ceil(threads).max(1);
    let samples = Mutex::new(Vec::with_capacity(per * threads));
    let started = Instant::now();
    std::thread::scope(|s| -> anyhow::Result<()> {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| -> anyhow::Result<()> {
                    for i in 0..per {
                        let script = format!(
                            "import json; from add import add; print(json.dumps(add(**json.loads('{{\"a\": {i}, \"b\": 1}}'))))"
                        );
                        let t = Instant::now();
                        let out = Command::new(python).arg("-c").arg(&script).current_dir(dir).output()?;
                        let d = t.elapsed();
                        anyhow::ensure!(
                            String::from_utf8_lossy(&out.stdout).trim() == (i + 1).to_string(),
                            "python3 baseline failed"
                        );
                        samples.lock().unwrap_or_else(|p| p.into_inner()).push(d);
                    }
                    Ok(())
                })
            })
            .collect();
        handles.into_iter().try_for_each(|h| h.join().map_err(|_| anyhow::anyhow!("a baseline thread panicked"))?)
    })?;
    let mut samples = samples.into_inner().unwrap_or_else(|p| p.into_inner());
    let calls_per_s = samples.len() as f64 / started.elapsed().as_secs_f64();
    let (p50_ms, p99_ms) = percentiles_ms(&mut samples.clone());
    samples.sort();
    Ok((Rate { threads, calls_per_s, p50_ms, p99_ms }, samples))
}

/// What `toolsmith bench memory` found.
#[derive(Debug, Clone, Serialize)]
pub struct MemoryReport {
    pub tools: usize,
    pub calls: usize,
    /// Baseline: the serving process with its runtime, embedder and index loaded but no tools.
    pub rss_empty_bytes: u64,
    /// Idle, with `tools` registered and every one run once.
    pub rss_idle_bytes: u64,
    /// After `calls` more calls (2 callers), idle again.
    pub rss_after_calls_bytes: u64,
    /// Idle after each quarter of the calls: flat from the first quarter on when nothing grows
    /// with the number of calls (what rises before is the instance pool warming up, bounded by
    /// its slots).
    pub rss_by_calls: Vec<RssPoint>,
    pub calls_per_s: f64,
}

/// Resident memory after so many calls.
#[derive(Debug, Clone, Serialize)]
pub struct RssPoint {
    pub calls: usize,
    pub rss_bytes: u64,
}

/// Register `n` variants of the `add` tool (`add_0`, …), compiled but not tested (what is measured
/// is serving many tools, not verifying them); with `run`, call each once.
pub(crate) async fn add_variants(ts: &Toolsmith, n: usize, run: bool) -> anyhow::Result<()> {
    let rt = ts.runtime().await?;
    let reg = ts.registry().await?;
    for i in 0..n {
        let name = format!("add_{i}");
        let code = TOOL.replace("def add", &format!("def {name}"));
        let (rt2, code2, n2) = (rt.clone(), code.clone(), name.clone());
        let bytecode = tokio::task::spawn_blocking(move || rt2.compile(&code2, &format!("{n2}.py"))).await??;
        reg.add_tool(NewTool {
            name: name.clone(),
            tests: TOOL_TESTS.replace("add", &name),
            code,
            docstring: format!("Add two integers, variant {i}."),
            parameters: serde_json::json!({"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}, "required": ["a", "b"]}),
            returns: serde_json::json!({"type": "integer"}),
            bytecode,
            verification: "wasm-only".into(),
        })
        .await
        .with_context(|| format!("registering {name}"))?;
        if run {
            ts.run_tool(&name, "{\"a\": 1, \"b\": 2}", RunOptions::default()).await?;
        }
    }
    Ok(())
}

/// `toolsmith bench memory`: resident memory of a serving facade with `tools` registered, idle
/// and after `calls` calls; it must not grow with the number of calls.
pub async fn memory(config: &Config, tools: usize, calls: usize) -> anyhow::Result<MemoryReport> {
    let (_home, ts) = bench_home(config).await?;
    let rt = ts.runtime().await?;
    rt.wait_for_stock(Duration::from_secs(5));
    let rss_empty_bytes = search::rss_bytes();
    add_variants(&ts, tools, true).await?;
    rt.wait_for_stock(Duration::from_secs(5));
    let rss_idle_bytes = search::rss_bytes();
    let (mut rss_by_calls, mut done, mut busy) = (vec![], 0, Duration::ZERO);
    for quarter in 1..=4 {
        let upto = calls * quarter / 4;
        let t = Instant::now();
        sustained(&ts, 2, upto - done).await?;
        busy += t.elapsed();
        done = upto;
        rt.wait_for_stock(Duration::from_secs(5));
        rss_by_calls.push(RssPoint { calls: done, rss_bytes: search::rss_bytes() });
    }
    Ok(MemoryReport {
        tools,
        calls,
        rss_empty_bytes,
        rss_idle_bytes,
        rss_after_calls_bytes: rss_by_calls.last().map_or(rss_idle_bytes, |p| p.rss_bytes),
        rss_by_calls,
        calls_per_s: done as f64 / busy.as_secs_f64().max(f64::MIN_POSITIVE),
    })
}

/// `toolsmith bench synth`: what verifying and registering a new tool costs once the model has
/// answered — `create_tool` with Docker and with wasm-only verification, verification and
/// registration apart — beside the floor of Docker verification (a trivial tool verified in the
/// same image).
pub async fn synth(config: &Config, runs: usize) -> anyhow::Result<Vec<Dist>> {
    const SYNTH_TOOL: &str =
        "def word_count(text: str) -> int:\n    \"\"\"Count the words in a text.\"\"\"\n    return len(text.split())\n";
    const SYNTH_TESTS: &str = "import pytest\nfrom word_count import word_count\n\n@pytest.mark.parametrize('text,n', [('', 0), ('a b', 2), (' x  y z ', 3)])\ndef test_counts(text, n):\n    assert word_count(text) == n\n";
    // Ten tests, each calling the tool once (each call a fresh instance of its own), beside the
    // same ten not calling it: the difference is what the split of tests and tool costs.
    let ten_calls: String =
        (0..10).map(|k| format!("\ndef test_{k}():\n    assert word_count('w ' * {k}) == {k}\n")).collect::<String>();
    let ten_tests = format!("from word_count import word_count\n{ten_calls}");
    let ten_no_calls = format!(
        "from word_count import word_count\n{}",
        (0..10)
            .map(|k| format!("\ndef test_{k}():\n    assert len(('w ' * {k}).split()) == {k}\n"))
            .collect::<String>()
    );
    let suites: [(VerifyMode, &str, &str); 4] = [
        (VerifyMode::Docker, "", SYNTH_TESTS),
        (VerifyMode::WasmOnly, "", SYNTH_TESTS),
        (VerifyMode::WasmOnly, ", 10 tests calling the tool", &ten_tests),
        (VerifyMode::WasmOnly, ", baseline: 10 tests not calling it", &ten_no_calls),
    ];
    let home = tempfile::tempdir()?;
    let ts = Toolsmith::open(config.clone().with_home(home.path()), Usage::OneShot).await?;
    let mut rows = vec![];
    for (n, (mode, suffix, tests)) in suites.into_iter().enumerate() {
        let (mut total, mut verify, mut register) = (vec![], vec![], vec![]);
        for i in 0..runs {
            let name = format!("word_count_{}_{n}_{i}", mode.label().replace(['+', '-'], "_"));
            let c = Candidate {
                code: SYNTH_TOOL.replace("word_count", &name),
                tests: tests.replace("word_count", &name),
                name,
                ..Candidate::default()
            };
            let registering = Mutex::new(None);
            let events = |e: &SynthesisEvent| {
                if matches!(e, SynthesisEvent::StageStarted { stage: Step::Register }) {
                    *registering.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
                }
            };
            let t = Instant::now();
            ts.create_tool(&c, CreateOptions { verify: mode, ..CreateOptions::default() }, &events).await?;
            let end = Instant::now();
            let reg_start = registering.lock().unwrap_or_else(|p| p.into_inner()).unwrap_or(end);
            total.push(end - t);
            verify.push(reg_start - t);
            register.push(end - reg_start);
        }
        let label = format!("{}{suffix}", mode.label());
        rows.push(Dist::from_samples(&format!("create_tool, {label}: total"), total));
        if suffix.is_empty() {
            rows.push(Dist::from_samples(&format!("  {label}: name check + static checks + tests"), verify));
            rows.push(Dist::from_samples(&format!("  {label}: registration (store + embedding + index)"), register));
        }
    }
    let floor = ts.sandbox().await?.bench_verify(runs).await?;
    rows.push(Dist::from_samples(
        "baseline: trivial tool verified in the Docker image",
        floor.samples_ms.iter().map(|ms| Duration::from_millis(*ms)).collect(),
    ));
    Ok(rows)
}

/// `toolsmith bench workflow`: mining patterns and reading relationships over a synthetic log of
/// `executions` (sessions of 20 calls over 30 tools), beside the floor of reading every logged
/// execution once.
pub async fn workflow(executions: usize) -> anyhow::Result<Vec<Dist>> {
    tokio::task::spawn_blocking(move || {
        let home = tempfile::tempdir()?;
        let p = crate::config::Paths::at(home.path());
        let store = crate::registry::Store::open(&p.db_path(), &p.tools_dir(), &p.lock_file())?;
        let mut rng: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let inputs = serde_json::json!({});
        for i in 0..executions {
            let session = format!("s{}", i / 20);
            // Workflows repeat: a tool is mostly followed by its neighbour.
            let tool = format!("tool_{}", (i % 20 + (next() % 3) as usize * (next() % 2) as usize) % 30);
            store.log_execution(&crate::registry::Execution {
                tool_name: &tool,
                session_id: Some(&session),
                inputs: &inputs,
                outputs: None,
                success: next() % 10 != 0,
                error_type: None,
                execution_time_ms: 1.0,
                user_prompt: "",
            })?;
        }
        let t = crate::agent::WorkflowTracker::new(&store);
        let (mut mine, mut rel, mut scan) = (vec![], vec![], vec![]);
        for _ in 0..10 {
            let s = Instant::now();
            std::hint::black_box(t.get_workflow_patterns(2, 10)?);
            mine.push(s.elapsed());
            let s = Instant::now();
            std::hint::black_box(t.get_tool_relationships(Some("tool_3"), 0.1)?);
            rel.push(s.elapsed());
            let s = Instant::now();
            let n = store.with_connection(|c| -> rusqlite::Result<i64> {
                let mut stmt = c.prepare("SELECT session_id, tool_name, success, execution_time_ms FROM executions")?;
                let mut rows = stmt.query([])?;
                let mut n = 0;
                while rows.next()?.is_some() {
                    n += 1;
                }
                Ok(n)
            })??;
            scan.push(s.elapsed());
            anyhow::ensure!(n as usize == executions, "the log holds {n} executions");
        }
        Ok(vec![
            Dist::from_samples(&format!("get_workflow_patterns over {executions} executions"), mine),
            Dist::from_samples("get_tool_relationships of one tool", rel),
            Dist::from_samples("baseline: reading every logged execution once", scan),
        ])
    })
    .await?
}
