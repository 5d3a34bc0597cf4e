//! `toolsmith bench`: speed beside a baseline measured in the same run.

use std::process::ExitCode;

use toolsmith::Config;
use toolsmith::bench;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub what: What,
}

#[derive(Debug, clap::Subcommand)]
pub enum What {
    /// Tool calls through the facade: fresh WASM instance vs python3 subprocesses vs native in-process.
    Exec {
        /// Calls measured per row and per caller count.
        #[arg(long, default_value_t = 2000)]
        calls: usize,
        /// Subprocess calls in the python3 baseline.
        #[arg(long, default_value_t = 100)]
        subprocess_calls: usize,
        /// Concurrent callers for the sustained rates, e.g. 1,2.
        #[arg(long, value_delimiter = ',', default_value = "1,2")]
        threads: Vec<usize>,
        #[arg(long)]
        json: bool,
    },
    /// Tool search latency and throughput at 1k, 10k and 100k synthetic tools, beside a brute-force scan.
    Search {
        /// Corpus sizes.
        #[arg(long, value_delimiter = ',', default_value = "1000,10000,100000")]
        sizes: Vec<usize>,
        #[arg(long, default_value_t = 500)]
        queries: usize,
        /// Threads for the throughput rows, e.g. 1,2.
        #[arg(long, value_delimiter = ',', default_value = "1,2")]
        threads: Vec<usize>,
        /// Each size again with this many example requests per tool (0: not).
        #[arg(long, default_value_t = 20)]
        examples_per_tool: usize,
        #[arg(long)]
        json: bool,
    },
    /// Resident memory of a serving process with many tools, idle and after many calls.
    Memory {
        #[arg(long, default_value_t = 1000)]
        tools: usize,
        #[arg(long, default_value_t = 100_000)]
        calls: usize,
        #[arg(long)]
        json: bool,
    },
    /// The orchestrator's own cost per request for an existing tool (model answering at once,
    /// model and tool time taken out), beside running the tool directly.
    Agent {
        #[arg(long, default_value_t = 200)]
        requests: usize,
        /// Registered tools (one real, the rest filler).
        #[arg(long, default_value_t = 100)]
        tools: usize,
        #[arg(long)]
        json: bool,
    },
    /// Workflow mining and tool relationships over a large synthetic execution log.
    Workflow {
        #[arg(long, default_value_t = 100_000)]
        executions: usize,
        #[arg(long)]
        json: bool,
    },
    /// The MCP server through the official Python SDK over stdio: call round trips beside a no-work
    /// built-in, serve start to tools/list with many tools, 50 concurrent calls beside the facade's rate.
    Mcp {
        /// A python with the `mcp` package (the path `scripts/mcp-client.sh` prints).
        #[arg(long)]
        python: std::path::PathBuf,
        #[arg(long, default_value_t = 1000)]
        calls: usize,
        #[arg(long, default_value_t = 1000)]
        tools: usize,
        /// Server starts measured per home.
        #[arg(long, default_value_t = 10)]
        starts: usize,
        #[arg(long, default_value_t = 50)]
        concurrent: usize,
        /// `legacy` (initialize handshake), `auto` (2026-07-28 through server/discover).
        #[arg(long, value_delimiter = ',', default_value = "legacy,auto")]
        modes: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Verification and registration overhead of a new tool (no model time), beside bare Docker.
    Synth {
        #[arg(long, default_value_t = 10)]
        runs: usize,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(args: Args, config: Config) -> anyhow::Result<ExitCode> {
    match args.what {
        What::Exec { calls, subprocess_calls, threads, json } => {
            let exe = std::env::current_exe()?;
            let report = bench::exec(&config, bench::ExecOptions { calls, subprocess_calls, threads, exe }).await?;
            if json {
                super::print_json(&report);
            } else {
                bench::print_table(&report.rows);
                println!();
                println!(
                    "fresh-instance call vs python3 subprocess: {:.0}x faster (p50)",
                    report.speedup_vs_subprocess
                );
                println!(
                    "{:<34} {:>8} {:>12} {:>9} {:>9}",
                    "sustained, back to back", "callers", "calls/s", "p50 ms", "p99 ms"
                );
                for (label, rates) in [
                    ("run_tool (fresh instance)", &report.sustained),
                    ("baseline: python3 subprocess", &report.subprocess_sustained),
                ] {
                    for r in rates {
                        println!(
                            "{label:<34} {:>8} {:>12.0} {:>9.3} {:>9.3}",
                            r.threads, r.calls_per_s, r.p50_ms, r.p99_ms
                        );
                    }
                }
                println!("per-tool artifact (bytecode): {} bytes", report.artifact_bytes);
            }
        }
        What::Search { sizes, queries, threads, examples_per_tool, json } => {
            let dir = toolsmith::runtime::model_dir(&config).path;
            let report = bench::search::run(dir, sizes, queries, threads, examples_per_tool).await?;
            if json {
                super::print_json(&report);
            } else {
                println!(
                    "{:>7} {:>8} {:>9} {:>17} {:>17} {:>17} {:>17} {:>7}  queries/s by threads",
                    "tools",
                    "build s",
                    "index MB",
                    "hybrid p50/p99",
                    "+embed p50/p99",
                    "bm25 p50/p99",
                    "brute p50/p99",
                    "recall",
                );
                for r in &report.rows {
                    let emb = match (r.with_embedding_p50_ms, r.with_embedding_p99_ms) {
                        (Some(a), Some(b)) => format!("{a:.2}/{b:.2}"),
                        _ => "-".into(),
                    };
                    let qps: Vec<String> =
                        r.throughput.iter().map(|t| format!("{}: {:.0}", t.threads, t.queries_per_s)).collect();
                    println!(
                        "{:>7} {:>8.2} {:>9.1} {:>17} {:>17} {:>17} {:>17} {:>7.3}  {}",
                        r.tools,
                        r.build_s,
                        r.index_bytes as f64 / 1e6,
                        format!("{:.3}/{:.3}", r.hybrid_p50_ms, r.hybrid_p99_ms),
                        emb,
                        format!("{:.3}/{:.3}", r.bm25_p50_ms, r.bm25_p99_ms),
                        format!("{:.3}/{:.3}", r.brute_force_p50_ms, r.brute_force_p99_ms),
                        r.hnsw_recall_at_10,
                        qps.join(", ")
                    );
                }
                println!("(ms; brute = exact cosine over every vector, the baseline)");
                for r in &report.rows {
                    if let Some(e) = &r.with_examples {
                        println!(
                            "{:>7} tools x {} examples: build {:.2} s, open {:.2} s, index {:.1} MB, hybrid p50/p99 {:.3}/{:.3} ms (description only, same run: {:.3}/{:.3})",
                            r.tools,
                            e.examples_per_tool,
                            e.build_s,
                            e.open_s,
                            e.index_bytes as f64 / 1e6,
                            e.hybrid_p50_ms,
                            e.hybrid_p99_ms,
                            r.hybrid_p50_ms,
                            r.hybrid_p99_ms
                        );
                    }
                }
            }
        }
        What::Memory { tools, calls, json } => {
            let r = bench::memory(&config, tools, calls).await?;
            if json {
                super::print_json(&r);
            } else {
                let mb = |b: u64| b as f64 / (1 << 20) as f64;
                println!("resident memory of a serving process (MiB):");
                println!("  baseline, runtime + embedder + index, no tools: {:>8.1}", mb(r.rss_empty_bytes));
                println!("  {} tools registered, each run once, idle:    {:>8.1}", r.tools, mb(r.rss_idle_bytes));
                for p in &r.rss_by_calls {
                    println!("  after {:>7} more calls, idle:                {:>8.1}", p.calls, mb(p.rss_bytes));
                }
                println!("  ({:.0} calls/s, 2 callers)", r.calls_per_s);
            }
        }
        What::Agent { requests, tools, json } => {
            let r = bench::agent::agent(&config, requests, tools).await?;
            if json {
                super::print_json(&r);
            } else {
                bench::print_table(&r.rows);
                println!(
                    "model calls per request: {:.2} with respond=false, {:.2} with an answer in words",
                    r.model_calls_without_response, r.model_calls_with_response
                );
            }
        }
        What::Workflow { executions, json } => {
            let rows = bench::workflow(executions).await?;
            if json {
                super::print_json(&rows);
            } else {
                bench::print_table(&rows);
            }
        }
        What::Mcp { python, calls, tools, starts, concurrent, modes, json } => {
            let exe = std::env::current_exe()?;
            let o = bench::mcp::McpOptions { python, exe, calls, tools, starts, concurrent, modes };
            let r = bench::mcp::mcp(&config, o).await?;
            if json {
                super::print_json(&r);
            } else {
                for m in &r.modes {
                    println!(
                        "protocol: {}",
                        if m.mode == "legacy" {
                            "initialize handshake (2025-11-25)"
                        } else {
                            "2026-07-28 (server/discover)"
                        }
                    );
                    bench::print_table(&m.rows);
                    println!(
                        "{} concurrent execute_tool calls from one client: {:.0} calls/s ({:.0}% of the facade's 2 callers)\n",
                        m.concurrent.threads,
                        m.concurrent.calls_per_s,
                        100.0 * m.concurrent.calls_per_s / r.facade_two_callers.calls_per_s
                    );
                }
                println!(
                    "baseline: 2 callers on the facade in-process (bench exec --threads 2): {:.0} calls/s",
                    r.facade_two_callers.calls_per_s
                );
            }
        }
        What::Synth { runs, json } => {
            let report = bench::synth(&config, runs).await?;
            if json {
                super::print_json(&report);
            } else {
                bench::print_table(&report);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
