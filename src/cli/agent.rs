//! The agent's commands: `ask`, `plan`, `patterns`, `relationships`, `sessions`, `traces`.

use std::path::PathBuf;
use std::process::ExitCode;

use toolsmith::agent::RequestOptions;
use toolsmith::synthesis::{SynthesisEvent, VerifyMode};
use toolsmith::text::terminal_safe;
use toolsmith::{Config, CreateOptions, Error};
use toolsmith_host::Grant;

use super::{fail, first_line, print_json};

#[derive(Debug, clap::Args)]
pub struct AskArgs {
    /// The request, in plain language.
    pub prompt: String,
    /// Continue this conversation (`toolsmith sessions list`); default: a new one.
    #[arg(long)]
    pub session: Option<String>,
    /// Return the tool's raw result instead of an answer in words (one model call fewer).
    #[arg(long)]
    pub no_response: bool,
    /// A directory the tools may read. Repeatable.
    #[arg(long = "allow-read", value_name = "DIR")]
    pub allow_read: Vec<PathBuf>,
    /// How a tool written for the request is verified.
    #[arg(long, value_enum, default_value_t = VerifyMode::Docker)]
    pub verify: VerifyMode,
    /// Argument-extraction retries after invalid arguments or a tool error.
    #[arg(long, default_value_t = toolsmith::agent::orchestrator::DEFAULT_MAX_RETRIES)]
    pub max_retries: u32,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    pub prompt: String,
    #[arg(long)]
    pub session: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct PatternsArgs {
    #[command(subcommand)]
    pub action: Option<PatternsAction>,
    /// Only sequences run at least this many times.
    #[arg(long, default_value_t = 2)]
    pub min_frequency: u64,
    #[arg(long, default_value_t = 10)]
    pub limit: usize,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Subcommand)]
pub enum PatternsAction {
    /// Make a pattern a composite tool (a named pipeline found by search like any tool).
    Promote {
        /// The pattern's id (`toolsmith patterns`).
        id: String,
        /// The composite's name (default: its tools joined by `_then_`).
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// The composite tools.
    Composites {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, clap::Args)]
pub struct RelationshipsArgs {
    /// Only pairs involving this tool.
    pub tool: Option<String>,
    #[arg(long, default_value_t = 0.5)]
    pub min_confidence: f64,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct SessionsArgs {
    #[command(subcommand)]
    pub action: ListOrShow,
}

#[derive(Debug, clap::Args)]
pub struct TracesArgs {
    #[command(subcommand)]
    pub action: ListOrShow,
}

#[derive(Debug, clap::Subcommand)]
pub enum ListOrShow {
    /// The latest, newest first.
    List {
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Traces only: those of this session.
        #[arg(long)]
        session: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// One, whole.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
}

/// One line per event on stderr (nothing under --json: stdout holds the one JSON value).
fn progress(json: bool) -> impl Fn(&SynthesisEvent) + Send + Sync {
    move |e: &SynthesisEvent| {
        if !json {
            eprintln!("· {}", terminal_safe(&e.describe()));
        }
    }
}

pub async fn ask(args: AskArgs, config: Config) -> anyhow::Result<ExitCode> {
    let opts = RequestOptions {
        respond: !args.no_response,
        max_retries: args.max_retries,
        grants: args.allow_read.iter().map(Grant::read_only).collect(),
        create: CreateOptions { verify: args.verify, ..CreateOptions::default() },
        ..RequestOptions::default()
    };
    let cb = progress(args.json);
    let result =
        async { super::open(config).await?.process_request(&args.prompt, args.session.as_deref(), opts, &cb).await }
            .await;
    let r = match result {
        Ok(r) => r,
        Err(e) => return Ok(fail(&e, args.json)),
    };
    if args.json {
        print_json(&r);
    } else if r.success {
        println!("{}", terminal_safe(&r.response));
        eprintln!(
            "(tool {}{}; session {}; trace {})",
            r.tool_name.as_deref().unwrap_or("-"),
            if r.synthesized { ", written for this request" } else { "" },
            r.session_id,
            r.trace_id
        );
    } else {
        eprintln!(
            "error ({}): {}",
            r.error_type.map_or("error", |k| k.as_str()),
            terminal_safe(r.error.as_deref().unwrap_or(""))
        );
        eprintln!("(session {}; trace {}: `toolsmith traces show {}`)", r.session_id, r.trace_id, r.trace_id);
    }
    Ok(if r.success { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

pub async fn plan(args: PlanArgs, config: Config) -> anyhow::Result<ExitCode> {
    let result =
        async { super::open(config).await?.plan_execution(&args.prompt, args.session.as_deref(), None).await }.await;
    let p = match result {
        Ok(p) => p,
        Err(e) => return Ok(fail(&e, args.json)),
    };
    if args.json {
        print_json(&p);
        return Ok(ExitCode::SUCCESS);
    }
    println!("strategy: {}", p.strategy.as_str());
    println!("reasoning: {}", terminal_safe(&p.reasoning));
    match &p.tool {
        Some(t) => println!("tool: {t}"),
        None if matches!(
            p.strategy,
            toolsmith::agent::Strategy::Single | toolsmith::agent::Strategy::ForceSynthesis
        ) =>
        {
            println!("tool: (a new one will be written)")
        }
        None => {}
    }
    for (i, t) in p.sub_tasks.iter().enumerate() {
        println!("step {}: {}", i + 1, terminal_safe(t));
    }
    if let Some(c) = &p.composite_tool {
        println!("composite tool: {} ({})", c.name, c.tools().join(" → "));
    }
    if let Some(pat) = &p.pattern {
        println!("pattern: {} ({})", pat.id, pat.tools.join(" → "));
    }
    for c in &p.candidates {
        println!("  candidate {} {:.3}", c.name, c.score);
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn patterns(args: PatternsArgs, config: Config) -> anyhow::Result<ExitCode> {
    match args.action {
        Some(PatternsAction::Promote { id, name, json }) => {
            let r = async { super::open(config).await?.promote_pattern(&id, name.as_deref()).await }.await;
            match r {
                Ok(c) if json => print_json(&c),
                Ok(c) => println!("composite tool {} ({})", c.name, c.tools().join(" → ")),
                Err(e) => return Ok(fail(&e, json)),
            }
        }
        Some(PatternsAction::Composites { json }) => {
            let r = async { super::open(config).await?.composite_tools().await }.await;
            match r {
                Ok(cs) if json => print_json(&cs),
                Ok(cs) => {
                    for c in cs {
                        println!("{}  {}", c.name, c.tools().join(" → "));
                    }
                }
                Err(e) => return Ok(fail(&e, json)),
            }
        }
        None => {
            let r =
                async { super::open(config).await?.get_workflow_patterns(args.min_frequency, args.limit).await }.await;
            match r {
                Ok(ps) if args.json => print_json(&ps),
                Ok(ps) => {
                    for p in ps {
                        println!(
                            "{}  ×{}  {:.0}% ok  {:.1} ms  {}",
                            p.id,
                            p.frequency,
                            p.success_rate * 100.0,
                            p.avg_execution_time_ms,
                            p.tools.join(" → ")
                        );
                    }
                }
                Err(e) => return Ok(fail(&e, args.json)),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn relationships(args: RelationshipsArgs, config: Config) -> anyhow::Result<ExitCode> {
    let r =
        async { super::open(config).await?.get_tool_relationships(args.tool.as_deref(), args.min_confidence).await }
            .await;
    match r {
        Ok(rs) if args.json => print_json(&rs),
        Ok(rs) => {
            for x in rs {
                println!("{} → {}  confidence {:.2}  support {}", x.tool_a, x.tool_b, x.confidence, x.support);
            }
        }
        Err(e) => return Ok(fail(&e, args.json)),
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn sessions(args: SessionsArgs, config: Config) -> anyhow::Result<ExitCode> {
    match args.action {
        ListOrShow::List { limit, json, .. } => {
            match async { super::open(config).await?.sessions(limit).await }.await {
                Ok(ss) if json => print_json(&ss),
                Ok(ss) => {
                    for s in ss {
                        println!("{}  {} messages  last active {}", s.id, s.messages, s.last_active_at);
                    }
                }
                Err(e) => return Ok(fail(&e, json)),
            }
        }
        ListOrShow::Show { id, json } => {
            let r = async {
                let ts = super::open(config).await?;
                let all = ts.get_recent_messages(&id, usize::MAX >> 1).await?;
                if all.is_empty() && !ts.sessions(usize::MAX >> 1).await?.iter().any(|s| s.id == id) {
                    return Err(Error::NotFound(format!("no session {id:?}: see `toolsmith sessions list`")));
                }
                Ok(all)
            }
            .await;
            match r {
                Ok(ms) if json => print_json(&ms),
                Ok(ms) => {
                    for m in ms {
                        println!("[{}] {}: {}", m.created_at, m.role, terminal_safe(&m.content));
                    }
                }
                Err(e) => return Ok(fail(&e, json)),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn traces(args: TracesArgs, config: Config) -> anyhow::Result<ExitCode> {
    match args.action {
        ListOrShow::List { limit, session, json } => {
            match async { super::open(config).await?.traces(session.as_deref(), limit).await }.await {
                Ok(ts) if json => print_json(&ts),
                Ok(ts) => {
                    for t in ts {
                        println!(
                            "{}  {}  {:<22} {:<20} {:>8.1} ms  {}",
                            t.id,
                            if t.success { "ok  " } else { "FAIL" },
                            t.strategy.as_deref().unwrap_or("-"),
                            t.tool_name.as_deref().unwrap_or("-"),
                            t.elapsed_ms,
                            first_line(&t.prompt)
                        );
                    }
                }
                Err(e) => return Ok(fail(&e, json)),
            }
        }
        ListOrShow::Show { id, json } => match async { super::open(config).await?.trace(&id).await }.await {
            Ok(t) if json => print_json(&t),
            Ok(t) => {
                println!("trace {}  session {}  {}", t.id, t.session_id, t.created_at);
                println!("request: {}", terminal_safe(&t.prompt));
                if let Some(p) = &t.plan {
                    println!("plan: {} ({:?}): {}", p.strategy.as_str(), p.decided_by, terminal_safe(&p.reasoning));
                    for c in &p.candidates {
                        println!("  candidate {} {:.3}", c.name, c.score);
                    }
                }
                for (i, s) in t.steps.iter().enumerate() {
                    println!(
                        "step {}: {} → {} ({} run(s), tool {:.1} ms, step {:.1} ms){}",
                        i + 1,
                        terminal_safe(&s.task),
                        s.tool_name.as_deref().unwrap_or("-"),
                        s.attempts,
                        s.tool_ms,
                        s.elapsed_ms,
                        s.error
                            .as_ref()
                            .map(|e| format!(" ✗ {}: {}", e.error_type, terminal_safe(&e.error)))
                            .unwrap_or_default()
                    );
                }
                for c in &t.model_calls {
                    println!(
                        "model: {} [{}] {:.1} ms, tokens {}/{}",
                        c.stage,
                        c.format,
                        c.latency_ms,
                        c.prompt_tokens.map_or("?".into(), |n| n.to_string()),
                        c.completion_tokens.map_or("?".into(), |n| n.to_string())
                    );
                }
                println!(
                    "{} in {:.1} ms (agent overhead {:.2} ms)",
                    if t.success { "answered" } else { "failed" },
                    t.elapsed_ms,
                    t.overhead_ms
                );
            }
            Err(e) => return Ok(fail(&e, json)),
        },
    }
    Ok(ExitCode::SUCCESS)
}
