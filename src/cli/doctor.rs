//! `toolsmith doctor`: what is installed, cached and reachable, and what to do about each.

use std::process::ExitCode;

use toolsmith::Config;
use toolsmith::doctor::{self, Status};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: Args, config: Config) -> anyhow::Result<ExitCode> {
    let checks = doctor::check_all(&config).await;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&checks)?);
    } else {
        for c in &checks {
            let mark = match c.status {
                Status::Ok => "ok  ",
                Status::Warn => "warn",
                Status::Missing => "MISS",
            };
            println!("[{mark}] {:<18} {}", c.name, toolsmith::text::terminal_safe(&c.detail));
            if let Some(fix) = &c.fix {
                println!("       {:<18} → {fix}", "");
            }
        }
    }
    let broken = checks.iter().any(|c| c.status == Status::Missing && c.required);
    Ok(if broken { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
