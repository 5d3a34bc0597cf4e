//! `toolsmith run`: run a Python file's function, or a registered tool, under limits.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use toolsmith::executor::{RunOptions, RunOutcome};
use toolsmith::text::terminal_safe;
use toolsmith::{Config, Error};
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
    /// Print exactly one JSON object: {"success": true, "result": …} or {"success": false, "error_type": KIND, "error": …}.
    #[arg(long)]
    pub json: bool,
}

/// The flags as limits; a value that does not fit is refused, never wrapped.
fn limits(args: &Args) -> Result<Limits, Error> {
    let memory_bytes = args
        .memory_mb
        .checked_mul(1 << 20)
        .and_then(|b| usize::try_from(b).ok())
        .ok_or_else(|| Error::InvalidArguments(format!("--memory-mb {} is too large", args.memory_mb)))?;
    Ok(Limits { fuel: args.fuel, memory_bytes, timeout: Duration::from_millis(args.timeout_ms), ..Limits::default() })
}

pub async fn run(args: Args, config: Config) -> anyhow::Result<ExitCode> {
    let result = async {
        let opts = RunOptions {
            limits: limits(&args)?,
            grants: args.allow_read.iter().map(Grant::read_only).collect(),
            ..RunOptions::default()
        };
        let ts = super::open(config).await?;
        match (&args.file, &args.name) {
            (Some(file), _) => ts.run_file(file, args.function.as_deref(), &args.args, opts).await,
            (None, Some(name)) => ts.run_tool(name, &args.args, opts).await,
            (None, None) => unreachable!("clap requires a name or --file"),
        }
    }
    .await;
    Ok(print_outcome(&result, args.json))
}

/// The output contract shared by every way of running a tool.
pub fn print_outcome(result: &toolsmith::error::Result<toolsmith::executor::RunOutput>, json: bool) -> ExitCode {
    if json {
        super::print_json(&RunOutcome::of(result));
    } else {
        match result {
            Ok(out) => {
                if !out.stdout.is_empty() {
                    eprint!("{}", terminal_safe(&out.stdout));
                }
                println!("{}", terminal_safe(out.result.get()));
            }
            Err(e) => {
                let r = e.report();
                if let Some(tb) = &r.traceback {
                    eprintln!("{}", terminal_safe(tb));
                }
                eprintln!("error: {}: {}", r.error_type, terminal_safe(&r.error));
            }
        }
    }
    if result.is_ok() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
