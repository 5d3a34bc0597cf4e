//! The `toolsmith` binary: read the configuration once, parse, call the library, print.

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
    /// Tune settings from the registry's own history.
    Tune(cli::tune::Args),
    /// Build or inspect the Docker image that verifies new tools.
    Sandbox(cli::sandbox::Args),
    /// Write, verify and register a new tool from a sentence.
    Synthesize(cli::synthesize::Args),
    /// Serve every tool over MCP on stdin/stdout (for AI assistants and IDEs).
    Serve(cli::serve::Args),
    /// Print the MCP client configuration entry that launches this binary's `serve`.
    McpConfig(cli::serve::ConfigArgs),
    /// Answer a request: plan, find or write the tools, run them, answer.
    Ask(cli::agent::AskArgs),
    /// Show how a request would be answered, running nothing.
    Plan(cli::agent::PlanArgs),
    /// Tool sequences users run often; promote one to a composite tool.
    Patterns(cli::agent::PatternsArgs),
    /// Which tool follows which, and how reliably.
    Relationships(cli::agent::RelationshipsArgs),
    /// Conversations and their messages.
    Sessions(cli::agent::SessionsArgs),
    /// What the agent did for each request: plan, steps, model calls.
    Traces(cli::agent::TracesArgs),
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
        // Colours only for a person: an MCP client keeps stderr in a log file.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let config = match toolsmith::Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        let command = async {
            match cli.command {
                Command::Run(a) => cli::run::run(a, config).await,
                Command::Bench(a) => cli::bench::run(a, config).await,
                Command::Doctor(a) => cli::doctor::run(a, config).await,
                Command::Tools(a) => cli::tools::run(a, config).await,
                Command::Index(a) => cli::index::run(a, config).await,
                Command::Eval(a) => cli::eval::run(a, config).await,
                Command::Tune(a) => cli::tune::run(a, config).await,
                Command::Sandbox(a) => cli::sandbox::run(a, config).await,
                Command::Synthesize(a) => cli::synthesize::run(a, config).await,
                Command::Serve(a) => cli::serve::run(a, config).await,
                Command::McpConfig(a) => cli::serve::config(a, config).await,
                Command::Ask(a) => cli::agent::ask(a, config).await,
                Command::Plan(a) => cli::agent::plan(a, config).await,
                Command::Patterns(a) => cli::agent::patterns(a, config).await,
                Command::Relationships(a) => cli::agent::relationships(a, config).await,
                Command::Sessions(a) => cli::agent::sessions(a, config).await,
                Command::Traces(a) => cli::agent::traces(a, config).await,
            }
        };
        // On Ctrl-C or SIGTERM the command's future is dropped: its guards undo what is half
        // done (a staged registration, a verification container) before the process exits.
        let outcome = tokio::select! {
            r = command => Some(r),
            _ = interrupted() => None,
        };
        if outcome.is_none() {
            // The dropped command's guards started removing its containers; wait for them.
            let removed = toolsmith::sandbox::shutdown().await;
            if removed > 0 {
                tracing::info!(removed, "verification containers removed after the interrupt");
            }
        }
        outcome
    });
    // Let clean-up that the dropped work spawned finish, but never hang on a stuck host call.
    rt.shutdown_timeout(std::time::Duration::from_secs(5));
    match result {
        Some(Ok(code)) => code,
        Some(Err(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
        None => {
            eprintln!("interrupted: nothing half-done was kept");
            ExitCode::from(130)
        }
    }
}

/// Resolves on the first SIGINT or SIGTERM.
async fn interrupted() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}
