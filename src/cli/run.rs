//! `toolsmith run`: run a Python file's function, or a registered tool, under limits.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use toolsmith::config::Paths;
use toolsmith::executor::{self, RunOutcome};
use toolsmith_host::{Grant, Limits};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A registered tool to run (instead of --file).
    #[arg(conflicts_with = "file", required_unless_present = "file")]
    pub name: Option<String>,
    /// A Python file holding the function to run.
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// The function to call (default: the file's stem, e.g. `add` for add.py).
    #[arg(long)]
    pub function: Option<String>,
    /// Keyword arguments as a JSON object.
    #[arg(long, default_value = "{}")]
    pub args: String,
    /// A directory the tool may read, seen by it at the same relative path. Repeatable.
    #[arg(long = "allow-read", value_name = "DIR")]
    pub allow_read: Vec<PathBuf>,
    /// Fuel limit (≈ WebAssembly instructions).
    #[arg(long, default_value_t = Limits::DEFAULT_FUEL)]
    pub fuel: u64,
    /// Memory limit in MiB.
    #[arg(long, default_value_t = (Limits::DEFAULT_MEMORY_BYTES >> 20) as u64)]
    pub memory_mb: u64,
    /// Wall-clock limit in milliseconds.
    #[arg(long, default_value_t = Limits::DEFAULT_TIMEOUT.as_millis() as u64)]
    pub timeout_ms: u64,
    /// Print exactly one JSON object: {"success": true, "result": …} or {"success": false, "error_type": …, "error": …}.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: Args, paths: &Paths) -> anyhow::Result<ExitCode> {
    let limits = Limits {
        fuel: args.fuel,
        memory_bytes: (args.memory_mb as usize) << 20,
        timeout: Duration::from_millis(args.timeout_ms),
        ..Limits::default()
    };
    let grants: Vec<Grant> = args.allow_read.iter().map(Grant::read_only).collect();
    let outcome = match (args.file.clone(), &args.name) {
        (Some(file), _) => {
            let (paths, function, json_args) = (paths.clone(), args.function.clone(), args.args.clone());
            tokio::task::spawn_blocking(move || {
                executor::run_file(&paths, &file, function.as_deref(), &json_args, limits, grants)
            })
            .await?
        }
        (None, Some(name)) => executor::run_registered(paths, name, &args.args, limits, grants).await,
        (None, None) => unreachable!("clap requires a name or --file"),
    };
    Ok(print_outcome(&outcome, args.json))
}

/// The output contract shared by every way of running a tool.
pub fn print_outcome(outcome: &RunOutcome, json: bool) -> ExitCode {
    if json {
        println!("{}", outcome.to_json());
    } else {
        match outcome {
            RunOutcome::Success { result, stdout, .. } => {
                if !stdout.is_empty() {
                    eprint!("{stdout}");
                }
                println!("{}", result.get());
            }
            RunOutcome::Failure { error_type, error, traceback, .. } => {
                if let Some(tb) = traceback {
                    eprintln!("{tb}");
                }
                eprintln!("error: {error_type}: {error}");
            }
        }
    }
    if outcome.success() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
