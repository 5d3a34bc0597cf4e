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
                println!("fresh-instance call vs python3 subprocess: {:.0}x faster (p50)", report.speedup_vs_subprocess);
                println!("sustained, back to back on one thread: {:.0} calls/s", report.sustained_calls_per_s);
                println!("per-tool artifact (bytecode): {} bytes", report.artifact_bytes);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
