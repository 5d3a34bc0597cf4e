//! The `toolsmith` binary: parse, call the library, print. No logic lives here.

mod cli;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "toolsmith", version, about = "Writes, verifies and runs its own tools in a WASM sandbox")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a tool: a Python file (`--file`) or a registered tool by name.
    Run(cli::run::Args),
    /// Measure speed against baselines taken in the same run.
    Bench(cli::bench::Args),
    /// Report what is installed, cached and reachable, and what to do about each.
    Doctor(cli::doctor::Args),
    /// Administer the registered tools.
    Tools(cli::tools::Args),
    /// Rebuild the search indexes from the store.
    Index(cli::index::Args),
    /// Evaluate tool retrieval on a labelled data set.
    Eval(cli::eval::Args),
    /// Build or inspect the Docker image that verifies new tools.
    Sandbox(cli::sandbox::Args),
    /// Write, verify and register a new tool from a sentence.
    Synthesize(cli::synthesize::Args),
}

fn main() -> ExitCode {
    // candle re-reads /proc/cpuinfo on every operation unless rayon's thread count is given
    // (2–3 ms a query embedding). Set before any thread exists, so changing the environment is sound.
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        let n = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        // SAFETY: the process is still single-threaded here.
        unsafe { std::env::set_var("RAYON_NUM_THREADS", n.to_string()) };
    }
    // stdout belongs to results (and to the protocol under `serve`): logs go to stderr.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TOOLSMITH_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let paths = toolsmith::config::Paths::from_env();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        match cli.command {
            Command::Run(a) => cli::run::run(a, &paths).await,
            Command::Bench(a) => cli::bench::run(a, &paths).await,
            Command::Doctor(a) => cli::doctor::run(a, &paths).await,
            Command::Tools(a) => cli::tools::run(a, &paths).await,
            Command::Index(a) => cli::index::run(a, &paths).await,
            Command::Eval(a) => cli::eval::run(a, &paths).await,
            Command::Sandbox(a) => cli::sandbox::run(a, &paths).await,
            Command::Synthesize(a) => cli::synthesize::run(a, &paths).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
