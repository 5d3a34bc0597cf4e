//! `toolsmith index rebuild`: re-derive the search indexes from the store.

use std::process::ExitCode;

use toolsmith::Config;

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

pub async fn run(args: Args, config: Config) -> anyhow::Result<ExitCode> {
    let Cmd::Rebuild { json } = args.cmd;
    let report = match async { super::open(config).await?.rebuild_index().await }.await {
        Ok(r) => r,
        Err(e) => return Ok(super::fail(&e, json)),
    };
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("indexed {} tool(s) in {:.0} ms ({})", report.tools, report.millis, report.reason);
    }
    Ok(ExitCode::SUCCESS)
}
