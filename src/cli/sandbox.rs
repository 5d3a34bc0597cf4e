//! `toolsmith sandbox`: build or inspect the Docker image that verifies new tools.

use std::process::ExitCode;

use toolsmith::Config;
use toolsmith::sandbox::{self, BuildMethod, BuildMode, SecureSandbox};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub what: What,
}

#[derive(Debug, clap::Subcommand)]
pub enum What {
    /// Build the image unless this version's tag is already in the engine (then reuse it).
    Build {
        /// Never try a registry: debootstrap a Debian root file system and import it.
        #[arg(long)]
        offline: bool,
        #[arg(long)]
        json: bool,
    },
    /// Is Docker reachable, is the image present, does a trivial tool verify? What to do if not.
    Status {
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(args: Args, config: Config) -> anyhow::Result<ExitCode> {
    match args.what {
        What::Build { offline, json } => {
            let sandbox = SecureSandbox::connect().await?;
            if !json && sandbox.image_info().await?.is_none() {
                eprintln!("building {} (offline, the first time: 1–2 minutes)…", sandbox.image());
            }
            let mode = if offline { BuildMode::Offline } else { BuildMode::Auto };
            let built = sandbox.ensure_image(&config.paths.cache, mode).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&built)?);
            } else {
                let how = match built.method {
                    BuildMethod::Reused => "already built: reused",
                    BuildMethod::Dockerfile => "built from the Dockerfile",
                    BuildMethod::Offline => "built offline (debootstrap, import)",
                    BuildMethod::OfflineCachedRootfs => "imported from the cached root file system",
                };
                let mb = built.image.size_bytes.map(|b| format!(", {} MB", b >> 20)).unwrap_or_default();
                println!("{} {how} in {:.1} s ({}{mb})", built.image.tag, built.seconds, built.image.id);
                if let Some(t) = &built.rootfs_tarball {
                    println!("root file system cached at {}", t.display());
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        What::Status { json } => {
            let status = sandbox::status().await;
            if json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                for i in &status.items {
                    println!("[{}] {:<13} {}", if i.ok { "ok  " } else { "MISS" }, i.name, i.detail);
                    if let Some(fix) = &i.fix {
                        println!("       {:<13} → {fix}", "");
                    }
                }
            }
            Ok(if status.ready { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
    }
}
