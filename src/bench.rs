//! Benchmarks behind `toolsmith bench`: every figure beside a baseline measured in the same run.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;
use toolsmith_host::{CallOptions, Runtime};

use crate::config::Paths;
use crate::runtime::{self, Usage};

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
        samples.sort();
        let n = samples.len().max(1);
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let at = |q: f64| ms(samples[((n as f64 - 1.0) * q).round() as usize]);
        Dist {
            name: name.into(),
            n: samples.len(),
            p50_ms: at(0.50),
            p99_ms: at(0.99),
            mean_ms: samples.iter().map(|d| ms(*d)).sum::<f64>() / n as f64,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ExecReport {
    pub rows: Vec<Dist>,
    /// python3-subprocess p50 divided by the fresh-instance p50.
    pub speedup_vs_subprocess: f64,
    /// Calls a second, back to back on one thread (the stock refills as fast as it can).
    pub sustained_calls_per_s: f64,
    /// Bytecode of the benchmark tool, bytes (the per-tool artifact).
    pub artifact_bytes: usize,
}

const TOOL: &str = "def add(a: int, b: int) -> int:\n    \"\"\"Add two integers.\"\"\"\n    return a + b\n";

/// `toolsmith bench exec`: a fresh-instance call of a small tool against a `python3` subprocess
/// doing the same call, and against a native in-process call (the floor).
pub fn exec(paths: &Paths, calls: usize, subprocess_calls: usize, exe: &Path) -> anyhow::Result<ExecReport> {
    let rt = runtime::open(paths, Usage::Serving)?;
    let mut rows = vec![];

    // New tool → runnable: the source is compiled to bytecode by the already-compiled runtime.
    let mut compile = vec![];
    let mut code = vec![];
    for _ in 0..50.min(calls) {
        rt.wait_for_stock(Duration::from_secs(5));
        let t = Instant::now();
        code = rt.compile(TOOL, "add.py")?;
        compile.push(t.elapsed());
    }
    rows.push(Dist::from_samples("new tool: source → bytecode (runnable)", compile));

    let opts = CallOptions::default();
    let call = |rt: &Runtime, i: usize| -> anyhow::Result<Duration> {
        let args = format!("{{\"a\": {i}, \"b\": 1}}");
        let t = Instant::now();
        let out = rt.call(&code, "add", &args, &opts)?;
        let d = t.elapsed();
        anyhow::ensure!(out.result.get() == (i + 1).to_string(), "wrong result {}", out.result.get());
        Ok(d)
    };
    for i in 0..20 {
        call(&rt, i)?;
    }
    // Latency of a call that finds a ready instance: the stock is refilled between calls, as it
    // is between an assistant's requests.
    let mut fresh = Vec::with_capacity(calls);
    for i in 0..calls {
        rt.wait_for_stock(Duration::from_secs(5));
        fresh.push(call(&rt, i)?);
    }
    let fresh = Dist::from_samples("WASM call, fresh instance (ready in stock)", fresh);

    // Back to back: the stock runs dry and calls instantiate inline.
    let t = Instant::now();
    let mut inline = Vec::with_capacity(calls);
    for i in 0..calls {
        inline.push(call(&rt, i)?);
    }
    let sustained = calls as f64 / t.elapsed().as_secs_f64();
    let inline = Dist::from_samples("WASM call, back to back (stock drained)", inline);

    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("add.py"), TOOL)?;
    // The interpreter itself, not a version manager's shim script in front of it.
    let python = Command::new("python3").args(["-c", "import sys; print(sys.executable)"]).output()?;
    let python = String::from_utf8_lossy(&python.stdout).trim().to_string();
    let mut sub = Vec::with_capacity(subprocess_calls);
    for i in 0..subprocess_calls {
        let script = format!(
            "import json; from add import add; print(json.dumps(add(**json.loads('{{\"a\": {i}, \"b\": 1}}'))))"
        );
        let t = Instant::now();
        let out = Command::new(&python).arg("-c").arg(&script).current_dir(dir.path()).output()?;
        sub.push(t.elapsed());
        anyhow::ensure!(String::from_utf8_lossy(&out.stdout).trim() == (i + 1).to_string(), "python3 baseline failed");
    }
    let sub = Dist::from_samples("baseline: python3 -c subprocess", sub);

    // A fresh `toolsmith run --file` process, runtime cached, against starting python3 for it.
    let mut proc_runs = vec![];
    for _ in 0..subprocess_calls.min(30) {
        let t = Instant::now();
        let out = Command::new(exe)
            .args(["run", "--file", "add.py", "--args", "{\"a\": 1, \"b\": 2}", "--json"])
            .current_dir(dir.path())
            .env("TOOLSMITH_CACHE", &paths.cache)
            .stderr(Stdio::null())
            .output()?;
        proc_runs.push(t.elapsed());
        anyhow::ensure!(out.status.success(), "toolsmith run failed: {}", String::from_utf8_lossy(&out.stdout));
    }
    let proc_dist = Dist::from_samples("fresh `toolsmith run --file` process", proc_runs);

    let mut native = Vec::with_capacity(calls);
    for i in 0..calls {
        let args = format!("{{\"a\": {i}, \"b\": 1}}");
        let t = Instant::now();
        let v: serde_json::Value = serde_json::from_str(std::hint::black_box(&args))?;
        let r = v["a"].as_i64().unwrap_or(0) + v["b"].as_i64().unwrap_or(0);
        std::hint::black_box(serde_json::to_string(&r)?);
        native.push(t.elapsed());
    }
    let native = Dist::from_samples("floor: native Rust in-process (JSON in, add, JSON out)", native);

    let speedup = sub.p50_ms / fresh.p50_ms;
    rows.extend([fresh, inline, sub, proc_dist, native]);
    Ok(ExecReport {
        rows,
        speedup_vs_subprocess: speedup,
        sustained_calls_per_s: sustained,
        artifact_bytes: code.len(),
    })
}

pub fn print_table(rows: &[Dist]) {
    println!("{:<58} {:>6} {:>10} {:>10} {:>10}", "measure", "n", "p50 ms", "p99 ms", "mean ms");
    // Sub-microsecond floors would print as 0.000 ms: give them more digits.
    let ms = |v: f64| if v < 0.01 { format!("{v:.5}") } else { format!("{v:.3}") };
    for r in rows {
        println!("{:<58} {:>6} {:>10} {:>10} {:>10}", r.name, r.n, ms(r.p50_ms), ms(r.p99_ms), ms(r.mean_ms));
    }
}

const SYNTH_TOOL: &str =
    "def word_count(text: str) -> int:\n    \"\"\"Count the words in a text.\"\"\"\n    return len(text.split())\n";
const SYNTH_TESTS: &str = "import pytest\nfrom word_count import word_count\n\n@pytest.mark.parametrize('text,n', [('', 0), ('a b', 2), (' x  y z ', 3)])\ndef test_counts(text, n):\n    assert word_count(text) == n\n";

/// `toolsmith bench synth`: what verifying and registering a new tool costs once the model has
/// answered — `tools add` with Docker and with wasm-only verification, each stage apart — beside
/// the floor of Docker verification (a trivial tool verified in the same image).
pub async fn synth(paths: &Paths, runs: usize) -> anyhow::Result<Vec<Dist>> {
    use crate::synthesis::{Candidate, NeedsLlm, SynthesisEngine, VerifyMode};
    let home = tempfile::tempdir()?;
    let bench_paths = Paths { home: home.path().to_path_buf(), cache: paths.cache.clone() };
    let quiet = |_: &str, _: &serde_json::Value| {};
    let mut rows = vec![];
    for mode in [VerifyMode::Docker, VerifyMode::WasmOnly] {
        let engine = SynthesisEngine::open(&bench_paths, mode, NeedsLlm::No).await?;
        let (mut total, mut verify, mut register) = (vec![], vec![], vec![]);
        for i in 0..runs {
            let name = format!("word_count_{}_{i}", mode.label().replace(['+', '-'], "_"));
            let c = Candidate {
                code: SYNTH_TOOL.replace("word_count", &name),
                tests: SYNTH_TESTS.replace("word_count", &name),
                name,
                ..Candidate::default()
            };
            let t = Instant::now();
            let v = engine
                .verify(&c, &quiet)
                .await
                .map_err(|f| anyhow::anyhow!("{}: {}\n{}", f.step.as_str(), f.error, f.output))?;
            let tv = t.elapsed();
            engine.register(&c, &v, &quiet).await.map_err(|f| anyhow::anyhow!("{}", f.error))?;
            total.push(t.elapsed());
            verify.push(tv);
            register.push(t.elapsed() - tv);
        }
        let label = mode.label();
        rows.push(Dist::from_samples(&format!("tools add, {label}: total"), total));
        rows.push(Dist::from_samples(&format!("  {label}: static checks + tests"), verify));
        rows.push(Dist::from_samples(&format!("  {label}: registration (store + embedding + index)"), register));
    }
    let sandbox = crate::sandbox::SecureSandbox::connect().await?;
    let floor = sandbox.bench_verify(runs).await?;
    rows.push(Dist::from_samples(
        "baseline: trivial tool verified in the Docker image",
        floor.samples_ms.iter().map(|ms| Duration::from_millis(*ms)).collect(),
    ));
    Ok(rows)
}
