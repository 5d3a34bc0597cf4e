//! `toolsmith bench mcp`: the MCP server as a client sees it, through the official Python SDK
//! over stdio (`mcp_client.py`, run by a python that has the `mcp` package: see
//! `scripts/mcp-client.sh`). Every figure has its baseline from the same run:
//! - an `execute_tool` round trip on a small tool, beside a built-in tool that does no work
//!   (what the protocol and the client cost) and the server's own time per call;
//! - serve start to the answer of `tools/list` with 1,000 registered tools, beside an empty home;
//! - calls/s of 50 concurrent `execute_tool` calls from one client, beside two callers calling
//!   the facade in-process (`bench exec --threads 2`).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::{Dist, Rate, add_variants, bench_home, sustained};
use crate::Toolsmith;
use crate::config::Config;
use crate::runtime::Usage;

const CLIENT: &str = include_str!("mcp_client.py");

/// What to measure.
#[derive(Debug, Clone)]
pub struct McpOptions {
    /// A python with the `mcp` package (2.3).
    pub python: PathBuf,
    /// The `toolsmith` binary to serve with.
    pub exe: PathBuf,
    pub calls: usize,
    /// Registered tools for the start-to-list measurement.
    pub tools: usize,
    /// Server starts measured per home.
    pub starts: usize,
    /// Concurrent callers.
    pub concurrent: usize,
    /// `legacy` (initialize handshake) and/or `auto` (2026-07-28 through server/discover).
    pub modes: Vec<String>,
}

/// One protocol era's figures.
#[derive(Debug, Clone, Serialize)]
pub struct McpModeReport {
    pub mode: String,
    pub rows: Vec<Dist>,
    /// Concurrent `execute_tool` calls through MCP.
    pub concurrent: Rate,
}

#[derive(Debug, Clone, Serialize)]
pub struct McpReport {
    pub modes: Vec<McpModeReport>,
    /// Two callers calling the facade in-process: the target for the concurrent rate.
    pub facade_two_callers: Rate,
    pub tools: usize,
}

#[derive(Deserialize)]
struct Samples {
    client_ms: Vec<f64>,
    server_ms: Vec<f64>,
}

#[derive(Deserialize)]
struct Concurrent {
    callers: usize,
    calls: usize,
    seconds: f64,
}

#[derive(Deserialize)]
struct Starts {
    first_page_ms: Vec<f64>,
    all_pages_ms: Vec<f64>,
    tools: usize,
}

#[derive(Deserialize)]
struct ClientReport {
    calls: std::collections::BTreeMap<String, serde_json::Value>,
    start_many: Starts,
    start_empty: Starts,
}

fn dist(name: &str, ms: &[f64]) -> Dist {
    Dist::from_samples(name, ms.iter().map(|m| std::time::Duration::from_secs_f64(m / 1e3)).collect())
}

pub async fn mcp(config: &Config, o: McpOptions) -> anyhow::Result<McpReport> {
    let (call_home, ts) = bench_home(config).await?;
    // The in-process baseline first, alone on the machine.
    let facade_two_callers = sustained(&ts, 2, o.calls.max(1000)).await?;
    drop(ts);

    let list_home = tempfile::tempdir()?;
    {
        let ts = Toolsmith::open(config.clone().with_home(list_home.path()), Usage::Serving).await?;
        add_variants(&ts, o.tools, false).await?;
    }
    let empty_home = tempfile::tempdir()?;
    let script = tempfile::Builder::new().suffix(".py").tempfile()?;
    std::fs::write(script.path(), CLIENT)?;

    let mut modes = vec![];
    for mode in &o.modes {
        let report =
            run_client(config, &o, mode, script.path(), call_home.path(), list_home.path(), empty_home.path())?;
        modes.push(summarize(mode, report)?);
    }
    Ok(McpReport { modes, facade_two_callers, tools: o.tools })
}

#[allow(clippy::too_many_arguments)]
fn run_client(
    config: &Config,
    o: &McpOptions,
    mode: &str,
    script: &Path,
    call_home: &Path,
    list_home: &Path,
    empty_home: &Path,
) -> anyhow::Result<ClientReport> {
    let mut c = Command::new(&o.python);
    c.arg(script)
        .arg("--server")
        .arg(&o.exe)
        .arg("--call-home")
        .arg(call_home)
        .arg("--list-home")
        .arg(list_home)
        .arg("--empty-home")
        .arg(empty_home)
        .args(["--mode", mode, "--calls", &o.calls.to_string(), "--starts", &o.starts.to_string()])
        .args(["--concurrent", &o.concurrent.to_string()])
        .env("TOOLSMITH_CACHE", &config.paths.cache)
        .env("TOOLSMITH_LOG", "warn");
    if let Some(rt) = &config.runtime {
        c.env("TOOLSMITH_RUNTIME", rt);
    }
    let out = c.output().with_context(|| format!("running {}", o.python.display()))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        if stderr.contains("No module named 'mcp'") {
            anyhow::bail!(
                "{} has no `mcp` package: pass --python the interpreter scripts/mcp-client.sh prints",
                o.python.display()
            );
        }
        anyhow::bail!("the MCP bench client failed:\n{stderr}");
    }
    serde_json::from_slice(&out.stdout).context("the MCP bench client's report")
}

fn summarize(mode: &str, r: ClientReport) -> anyhow::Result<McpModeReport> {
    let mut rows = vec![];
    for (label, v) in &r.calls {
        if label == "concurrent" {
            continue;
        }
        let s: Samples = serde_json::from_value(v.clone())?;
        rows.push(dist(&format!("{label}: round trip"), &s.client_ms));
        rows.push(dist(&format!("{label}: server time"), &s.server_ms));
    }
    let c: Concurrent = serde_json::from_value(r.calls.get("concurrent").cloned().context("no concurrent figures")?)?;
    let many = r.start_many.tools;
    rows.push(dist(&format!("serve start → first tools/list page ({many} tools)"), &r.start_many.first_page_ms));
    rows.push(dist(&format!("serve start → every tools/list page ({many} tools)"), &r.start_many.all_pages_ms));
    rows.push(dist(
        &format!("serve start → tools/list, baseline ({} tools)", r.start_empty.tools),
        &r.start_empty.first_page_ms,
    ));
    let concurrent =
        Rate { threads: c.callers, calls_per_s: c.calls as f64 / c.seconds.max(1e-9), p50_ms: 0.0, p99_ms: 0.0 };
    Ok(McpModeReport { mode: mode.to_string(), rows, concurrent })
}
