//! `toolsmith bench`: speed beside a baseline measured in the same run.

use std::process::ExitCode;

use toolsmith::bench;
use toolsmith::config::Paths;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub what: What,
}

#[derive(Debug, clap::Subcommand)]
pub enum What {
    /// Tool calls: fresh WASM instance vs a python3 subprocess vs native in-process.
    Exec {
        /// Calls measured per WASM row.
        #[arg(long, default_value_t = 2000)]
        calls: usize,
        /// Subprocess calls in the python3 baseline.
        #[arg(long, default_value_t = 100)]
        subprocess_calls: usize,
        #[arg(long)]
        json: bool,
    },
    /// Tool search latency at 1k, 10k and 100k synthetic tools, beside a brute-force scan.
    Search {
        /// Corpus sizes.
        #[arg(long, value_delimiter = ',', default_value = "1000,10000,100000")]
        sizes: Vec<usize>,
        #[arg(long, default_value_t = 500)]
        queries: usize,
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

pub async fn run(args: Args, paths: &Paths) -> anyhow::Result<ExitCode> {
    match args.what {
        What::Exec { calls, subprocess_calls, json } => {
            let exe = std::env::current_exe()?;
            let paths = paths.clone();
            let report =
                tokio::task::spawn_blocking(move || bench::exec(&paths, calls, subprocess_calls, &exe)).await??;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                bench::print_table(&report.rows);
                println!();
                println!(
                    "fresh-instance call vs python3 subprocess: {:.0}x faster (p50)",
                    report.speedup_vs_subprocess
                );
                println!("sustained, back to back on one thread: {:.0} calls/s", report.sustained_calls_per_s);
                println!("per-tool artifact (bytecode): {} bytes", report.artifact_bytes);
            }
        }
        What::Search { sizes, queries, json } => {
            let paths = paths.clone();
            let report = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
                // The bare model, not the cached one: the benchmark's queries repeat from run to
                // run, and a cache hit is not what "with query embedding" means.
                let dir = toolsmith::registry::embed::LocalMiniLm::default_dir(&paths);
                let model = toolsmith::registry::embed::LocalMiniLm::load(&dir).ok();
                let embedder = model.as_ref().map(|m| m as &dyn toolsmith::registry::embed::Embedder);
                toolsmith::registry::eval::bench_search(embedder, &sizes, queries, 7)
            })
            .await??;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "{:>7} {:>8} {:>9} {:>17} {:>17} {:>17} {:>17} {:>7}",
                    "tools",
                    "build s",
                    "index MB",
                    "hybrid p50/p99",
                    "+embed p50/p99",
                    "bm25 p50/p99",
                    "brute p50/p99",
                    "recall"
                );
                for r in &report.rows {
                    let emb = match (r.with_embedding_p50_ms, r.with_embedding_p99_ms) {
                        (Some(a), Some(b)) => format!("{a:.2}/{b:.2}"),
                        _ => "-".into(),
                    };
                    println!(
                        "{:>7} {:>8.2} {:>9.1} {:>17} {:>17} {:>17} {:>17} {:>7.3}",
                        r.tools,
                        r.build_s,
                        r.index_bytes as f64 / 1e6,
                        format!("{:.3}/{:.3}", r.hybrid_p50_ms, r.hybrid_p99_ms),
                        emb,
                        format!("{:.3}/{:.3}", r.bm25_p50_ms, r.bm25_p99_ms),
                        format!("{:.3}/{:.3}", r.brute_force_p50_ms, r.brute_force_p99_ms),
                        r.hnsw_recall_at_10
                    );
                }
                println!("(ms; brute = exact cosine over every vector, the baseline)");
            }
        }
        What::Synth { runs, json } => {
            let report = bench::synth(paths, runs).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                bench::print_table(&report);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
