//! `toolsmith tools …`: administer the registry.

use std::process::ExitCode;

use serde_json::json;
use toolsmith::config::Paths;
use toolsmith::registry::index::SearchMode;
use toolsmith::registry::{self, CapabilityRegistry};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// List registered tools.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one tool: docstring, parameters, code, tests, usage.
    Show {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Find tools for a request (hybrid BM25 + embeddings, re-ranked by usage).
    Search {
        query: String,
        /// Smallest similarity in [0, 1] to report.
        #[arg(long)]
        threshold: Option<f32>,
        /// Order by similarity alone, ignoring usage.
        #[arg(long)]
        no_rerank: bool,
        #[arg(long, default_value_t = 5)]
        limit: usize,
        #[arg(long, default_value = "hybrid")]
        mode: SearchMode,
        #[arg(long)]
        json: bool,
    },
    /// Delete a tool (its row, files and index entry).
    Delete {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Remove tools whose files were deleted by hand.
    Cleanup {
        #[arg(long)]
        json: bool,
    },
    /// How many tools are registered.
    Count {
        #[arg(long)]
        json: bool,
    },
    /// Verify and register a tool written by hand (no LLM).
    Add(super::synthesize::AddArgs),
}

pub async fn run(args: Args, paths: &Paths) -> anyhow::Result<ExitCode> {
    if let Cmd::Add(a) = args.cmd {
        return super::synthesize::add(a, paths).await;
    }
    let paths = paths.clone();
    tokio::task::spawn_blocking(move || run_sync(args.cmd, &paths)).await?
}

fn run_sync(cmd: Cmd, paths: &Paths) -> anyhow::Result<ExitCode> {
    match cmd {
        Cmd::List { json } => {
            let tools = registry::open_store(paths)?.all()?;
            if json {
                let list: Vec<_> = tools
                    .iter()
                    .map(|t| json!({"name": t.name, "docstring": t.docstring, "parameters": t.parameters, "verification": t.verification, "timestamp": t.timestamp}))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else if tools.is_empty() {
                println!("no tools registered (create one with `toolsmith tools add` or `toolsmith synthesize`)");
            } else {
                for t in &tools {
                    println!("{:<32} {}", t.name, first_line(&t.docstring));
                }
            }
        }
        Cmd::Show { name, json } => {
            let store = registry::open_store(paths)?;
            let Some(t) = store.get(&name)? else {
                anyhow::bail!("no registered tool named {name:?} (see `toolsmith tools list`)");
            };
            let usage = store.usage(&name, registry::RERANK_RECENT)?;
            if json {
                let mut v = serde_json::to_value(&t)?;
                v["usage"] = serde_json::to_value(usage)?;
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                println!(
                    "{}  ({}; verified {}; {} recent runs, {} ok)",
                    t.name, t.timestamp, t.verification, usage.runs, usage.successes
                );
                println!("\n{}\n", t.docstring);
                println!("parameters: {}", serde_json::to_string_pretty(&t.parameters)?);
                println!("\n# {}\n{}", t.file_path, t.code);
            }
        }
        Cmd::Search { query, threshold, no_rerank, limit, mode, json } => {
            let mut reg = CapabilityRegistry::open(paths)?;
            let threshold = threshold.unwrap_or(0.0);
            let hits: Vec<_> = reg
                .search(&query, limit, mode, !no_rerank)?
                .into_iter()
                .filter(|m| m.similarity_score >= threshold)
                .collect();
            if json {
                let list: Vec<_> = hits
                    .iter()
                    .map(|m| json!({"name": m.tool.name, "similarity_score": m.similarity_score, "rank_score": m.rank_score, "docstring": m.tool.docstring, "usage": m.usage}))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else if hits.is_empty() {
                println!("no tool matches {query:?}");
            } else {
                for m in &hits {
                    println!("{:.3}  {:<32} {}", m.similarity_score, m.tool.name, first_line(&m.tool.docstring));
                }
            }
        }
        Cmd::Delete { name, json } => {
            let deleted = CapabilityRegistry::open(paths)?.delete_tool(&name)?;
            if json {
                println!("{}", json!({"deleted": deleted, "name": name}));
            } else if deleted {
                println!("deleted {name}");
            } else {
                println!("no tool named {name:?}");
            }
            if !deleted {
                return Ok(ExitCode::FAILURE);
            }
        }
        Cmd::Cleanup { json } => {
            let gone = CapabilityRegistry::open(paths)?.cleanup_orphaned_tools()?;
            if json {
                println!("{}", json!({"removed": gone.len(), "names": gone}));
            } else {
                println!(
                    "removed {} orphaned tool(s){}",
                    gone.len(),
                    if gone.is_empty() { String::new() } else { format!(": {}", gone.join(", ")) }
                );
            }
        }
        Cmd::Count { json } => {
            let n = registry::open_store(paths)?.count()?;
            if json {
                println!("{}", json!({"count": n}));
            } else {
                println!("{n}");
            }
        }
        Cmd::Add(_) => unreachable!("handled above"),
    }
    Ok(ExitCode::SUCCESS)
}

fn first_line(s: &str) -> &str {
    s.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim()
}
