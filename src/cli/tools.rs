//! `toolsmith tools …`: administer the registry.

use std::path::PathBuf;
use std::process::ExitCode;

use toolsmith::registry::index::SearchMode;
use toolsmith::text::terminal_safe;
use toolsmith::{Config, SearchOptions};

use super::{first_line, print_json};

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
    /// Show a tool's example requests (what search matches beside its description), or edit them.
    Examples {
        name: String,
        /// Add this request as an example.
        #[arg(long, conflicts_with = "remove")]
        add: Option<String>,
        /// Remove the example with this number (as listed).
        #[arg(long, value_name = "N")]
        remove: Option<i64>,
        #[arg(long)]
        json: bool,
    },
    /// Let a tool read a directory on every run (whoever calls it), or no longer with --revoke.
    Grant {
        name: String,
        /// The directory, seen by the tool at its absolute path.
        #[arg(long = "read", value_name = "DIR")]
        read: PathBuf,
        #[arg(long)]
        revoke: bool,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(args: Args, config: Config) -> anyhow::Result<ExitCode> {
    let json = match &args.cmd {
        Cmd::List { json }
        | Cmd::Show { json, .. }
        | Cmd::Search { json, .. }
        | Cmd::Delete { json, .. }
        | Cmd::Cleanup { json }
        | Cmd::Count { json }
        | Cmd::Grant { json, .. }
        | Cmd::Examples { json, .. } => *json,
        Cmd::Add(a) => a.json,
    };
    match run_cmd(args.cmd, config).await {
        Ok(code) => Ok(code),
        Err(e) => Ok(super::fail(&e, json)),
    }
}

async fn run_cmd(cmd: Cmd, config: Config) -> Result<ExitCode, toolsmith::Error> {
    if let Cmd::Add(a) = cmd {
        return super::synthesize::add(a, config).await;
    }
    let ts = super::open(config).await?;
    match cmd {
        Cmd::List { json } => {
            let tools = ts.get_all_tools().await?;
            if json {
                print_json(&tools);
            } else if tools.is_empty() {
                println!("no tools registered (create one with `toolsmith tools add` or `toolsmith synthesize`)");
            } else {
                for t in &tools {
                    println!("{:<32} {}", t.name, first_line(&t.docstring));
                }
            }
        }
        Cmd::Show { name, json } => {
            let d = ts.get_tool(&name).await?;
            if json {
                print_json(&d);
            } else {
                let t = &d.tool;
                println!(
                    "{}  ({}; verified {}; {} recent runs, {} ok)",
                    t.name, t.timestamp, t.verification, d.usage.runs, d.usage.successes
                );
                println!("\n{}\n", terminal_safe(&t.docstring));
                println!(
                    "parameters: {}",
                    terminal_safe(&serde_json::to_string_pretty(&t.parameters).unwrap_or_default())
                );
                if !d.grants.is_empty() {
                    println!("reads on every run: {}", terminal_safe(&d.grants.join(", ")));
                }
                if !d.examples.is_empty() {
                    println!("example requests ({}):", d.examples.len());
                    for e in &d.examples {
                        println!("  {}", terminal_safe(&e.text));
                    }
                }
                println!("\n# {}\n{}", t.file_path, terminal_safe(&t.code));
            }
        }
        Cmd::Search { query, threshold, no_rerank, limit, mode, json } => {
            let opts = SearchOptions { threshold: threshold.unwrap_or(0.0), limit, mode, rerank: !no_rerank };
            let hits = ts.search_tools(&query, opts).await?;
            if json {
                print_json(&hits);
            } else if hits.is_empty() {
                println!("no tool matches {:?}", terminal_safe(&query));
            } else {
                for m in &hits {
                    println!("{:.3}  {:<32} {}", m.similarity_score, m.tool.name, first_line(&m.tool.docstring));
                }
            }
        }
        Cmd::Delete { name, json } => {
            let deleted = ts.delete_tool(&name).await?;
            if json {
                print_json(&serde_json::json!({"deleted": deleted, "name": name}));
            } else if deleted {
                println!("deleted {name}");
            } else {
                println!("no tool named {:?}", terminal_safe(&name));
            }
            if !deleted {
                return Ok(ExitCode::FAILURE);
            }
        }
        Cmd::Cleanup { json } => {
            let gone = ts.cleanup_orphaned_tools().await?;
            if json {
                print_json(&serde_json::json!({"removed": gone.len(), "names": gone}));
            } else {
                println!(
                    "removed {} orphaned tool(s){}",
                    gone.len(),
                    if gone.is_empty() { String::new() } else { format!(": {}", gone.join(", ")) }
                );
            }
        }
        Cmd::Count { json } => {
            let n = ts.count_tools().await?;
            if json {
                print_json(&serde_json::json!({"count": n}));
            } else {
                println!("{n}");
            }
        }
        Cmd::Grant { name, read, revoke, json } => {
            let grants = ts.grant_read(&name, &read, revoke).await?;
            if json {
                print_json(&serde_json::json!({"name": name, "grants": grants}));
            } else if grants.is_empty() {
                println!("{name} reads no directory of its own");
            } else {
                println!("{name} reads on every run: {}", terminal_safe(&grants.join(", ")));
            }
        }
        Cmd::Examples { name, add, remove, json } => {
            let change = match (add, remove) {
                (Some(text), _) => Some(("added", ts.add_example(&name, &text).await?)),
                (None, Some(id)) => {
                    ts.remove_example(&name, id).await?;
                    Some(("removed", true))
                }
                (None, None) => None,
            };
            let examples = ts.tool_examples(&name).await?;
            if json {
                let mut v = serde_json::json!({"name": name, "examples": examples});
                if let Some((what, done)) = change {
                    v[what] = done.into();
                }
                print_json(&v);
            } else {
                if let Some(("added", false)) = change {
                    println!("not added: {name} has this request, or one nearly identical, already");
                }
                if examples.is_empty() {
                    println!("{name} has no example requests (add one with --add TEXT)");
                }
                for e in &examples {
                    println!("{:>5}  {:<7}  {}", e.id, e.source.as_str(), terminal_safe(&e.text));
                }
            }
        }
        Cmd::Add(_) => unreachable!("handled above"),
    }
    Ok(ExitCode::SUCCESS)
}
