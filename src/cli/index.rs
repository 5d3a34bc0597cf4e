//! `toolsmith index rebuild`: re-derive the search indexes from the store.

use std::process::ExitCode;

use toolsmith::config::Paths;
use toolsmith::registry::CapabilityRegistry;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Rebuild the BM25 and vector indexes from the store (safe at any time: they are derived data).
    Rebuild {
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(args: Args, paths: &Paths) -> anyhow::Result<ExitCode> {
    let Cmd::Rebuild { json } = args.cmd;
    let paths = paths.clone();
    let report = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let mut reg = CapabilityRegistry::open(&paths)?;
        match reg.rebuilt.take() {
            Some(r) => Ok(r),
            None => reg.rebuild_index("requested"),
        }
    })
    .await??;
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("indexed {} tool(s) in {:.0} ms ({})", report.tools, report.millis, report.reason);
    }
    Ok(ExitCode::SUCCESS)
}
