//! `toolsmith serve` (MCP over stdio) and `toolsmith mcp-config` (the client configuration
//! entry that launches it).

use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::json;
use toolsmith::mcp::{self, DEFAULT_PAGE_SIZE, ServeOptions};
use toolsmith::synthesis::VerifyMode;
use toolsmith::{Config, Toolsmith, Usage};
use toolsmith_host::Grant;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A directory every tool run may read, seen by tools at the same relative path. Repeatable.
    #[arg(long = "allow-read", value_name = "DIR")]
    pub allow_read: Vec<PathBuf>,
    /// How create_tool and synthesize_capability verify new tools.
    #[arg(long, value_enum, default_value_t = VerifyMode::Docker)]
    pub verify: VerifyMode,
    /// Tools per tools/list page.
    #[arg(long, default_value_t = DEFAULT_PAGE_SIZE)]
    pub page_size: usize,
    /// Longest message accepted, in MiB; a longer one is answered with an error.
    #[arg(long, default_value_t = (mcp::transport::MAX_LINE_BYTES >> 20) as u64)]
    pub max_message_mb: u64,
}

pub async fn run(args: Args, config: Config) -> anyhow::Result<ExitCode> {
    if let Some(bad) = args.allow_read.iter().find(|d| !d.is_dir()) {
        anyhow::bail!("--allow-read {}: not a directory", bad.display());
    }
    let opts = ServeOptions {
        grants: args.allow_read.iter().map(Grant::read_only).collect(),
        verify: args.verify,
        page_size: args.page_size.max(1),
        max_message_bytes: usize::try_from(args.max_message_mb.max(1).saturating_mul(1 << 20)).unwrap_or(usize::MAX),
    };
    let ts = Toolsmith::open(config, Usage::Serving).await?;
    mcp::serve_stdio(ts, opts).await?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, clap::Args)]
pub struct ConfigArgs {
    /// Directories to grant to every tool run (`serve --allow-read`), made absolute.
    #[arg(long = "allow-read", value_name = "DIR")]
    pub allow_read: Vec<PathBuf>,
    /// How the server verifies new tools.
    #[arg(long, value_enum, default_value_t = VerifyMode::Docker)]
    pub verify: VerifyMode,
}

/// Print the `mcpServers` entry for this binary: its absolute path, this home and the model's
/// endpoint when one is set. The API key is never printed: add it to `env` yourself.
pub async fn config(args: ConfigArgs, config: Config) -> anyhow::Result<ExitCode> {
    let exe = std::env::current_exe()?;
    let exe = exe.canonicalize().unwrap_or(exe);
    let mut argv = vec!["serve".to_string()];
    for d in &args.allow_read {
        let d = d.canonicalize().map_err(|e| anyhow::anyhow!("--allow-read {}: {e}", d.display()))?;
        argv.push("--allow-read".into());
        argv.push(d.display().to_string());
    }
    if args.verify == VerifyMode::WasmOnly {
        argv.extend(["--verify".into(), "wasm-only".into()]);
    }
    let home = config.paths.home.canonicalize().unwrap_or(config.paths.home.clone());
    let mut env = serde_json::Map::new();
    env.insert("TOOLSMITH_HOME".into(), json!(home.display().to_string()));
    if let Ok(llm) = &config.llm {
        if llm.base_url != toolsmith::llm::DEFAULT_BASE_URL {
            env.insert("OPENAI_BASE_URL".into(), json!(llm.base_url));
        }
        if llm.model != toolsmith::llm::DEFAULT_MODEL {
            env.insert("TOOLSMITH_MODEL".into(), json!(llm.model));
        }
    }
    super::print_json(&json!({
        "mcpServers": {"toolsmith": {"command": exe.display().to_string(), "args": argv, "env": env}}
    }));
    eprintln!(
        "Put the entry in your client's MCP configuration (see the README). For OpenAI, add \"OPENAI_API_KEY\" to \"env\"; \
         without a model, synthesize_capability uses the client's own when it offers sampling."
    );
    Ok(ExitCode::SUCCESS)
}
