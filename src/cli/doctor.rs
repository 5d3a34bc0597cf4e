//! TODO

#[derive(Debug, clap::Args)]
pub struct Args {}

pub async fn run(_args: Args, _paths: &toolsmith::config::Paths) -> anyhow::Result<std::process::ExitCode> {
    anyhow::bail!("not implemented yet")
}
