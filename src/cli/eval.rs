//! `toolsmith eval retrieval`: how well the search finds the right tool on a labelled data set.

use std::path::PathBuf;
use std::process::ExitCode;

use toolsmith::Config;
use toolsmith::registry::eval::{EVAL_K, EvalOptions, RetrievalReport, evaluate_files};
use toolsmith::registry::index::{FusionParams, SearchMode};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Build a throw-away index from TOOLS and report top-1, top-5, MRR and search latency on QUERIES.
    Retrieval(RetrievalArgs),
}

#[derive(Debug, clap::Args)]
struct RetrievalArgs {
    /// JSON object {"tool_name": "description", ...}.
    #[arg(long)]
    tools: PathBuf,
    /// TSV of `query<TAB>expected_tool_name`, header line first.
    #[arg(long)]
    queries: PathBuf,
    /// Ranking to evaluate; `all` runs the three on one index.
    #[arg(long, value_enum, default_value_t = ModeArg::Hybrid)]
    mode: ModeArg,
    /// Print one JSON object (with `--mode all`, one per mode, keyed by mode).
    #[arg(long)]
    json: bool,
    /// Override the fusion's cosine weight (tuning; default: the production value).
    #[arg(long)]
    dense_weight: Option<f32>,
    /// Override the BM25 score that maps to 0.5 (tuning; default: the production value).
    #[arg(long)]
    bm25_half: Option<f32>,
    /// Override the share of an example's lead over the description that counts (tuning).
    #[arg(long)]
    example_weight: Option<f32>,
    /// Override the BM25 boost of the examples' words (tuning).
    #[arg(long)]
    examples_boost: Option<f32>,
    /// TSV of labelled queries (like QUERIES) learned first as the tools' example requests, as a
    /// running agent learns them; queries of QUERIES that it holds are left out.
    #[arg(long, value_name = "FILE")]
    history: Option<PathBuf>,
    /// At most this many examples learned per tool; several (e.g. 0,1,3,10,30) draw the learning
    /// curve. Default with --history: the registry's bound.
    #[arg(long, value_name = "N", value_delimiter = ',')]
    examples_per_tool: Vec<usize>,
    /// Embed without the cache in $TOOLSMITH_CACHE/embedding-cache.sqlite.
    #[arg(long)]
    no_cache: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ModeArg {
    Hybrid,
    Bm25,
    Vector,
    All,
}

pub async fn run(args: Args, config: Config) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Retrieval(a) => retrieval(a, config).await,
    }
}

async fn retrieval(a: RetrievalArgs, config: Config) -> anyhow::Result<ExitCode> {
    let modes = match a.mode {
        ModeArg::Hybrid => vec![SearchMode::Hybrid],
        ModeArg::Bm25 => vec![SearchMode::Bm25],
        ModeArg::Vector => vec![SearchMode::Vector],
        ModeArg::All => vec![SearchMode::Hybrid, SearchMode::Bm25, SearchMode::Vector],
    };
    let mut fusion = FusionParams::default();
    if let Some(w) = a.dense_weight {
        fusion.dense_weight = w;
    }
    if let Some(h) = a.bm25_half {
        fusion.bm25_half = h;
    }
    if let Some(w) = a.example_weight {
        fusion.example_weight = w;
    }
    if let Some(b) = a.examples_boost {
        fusion.examples_boost = b;
    }
    let with_history = a.history.is_some();
    let opts = EvalOptions {
        tools: a.tools.clone(),
        queries: a.queries.clone(),
        modes,
        fusion,
        history: a.history.clone(),
        examples_per_tool: a.examples_per_tool.clone(),
        cache: !a.no_cache,
    };
    let (tools, queries, reports) = evaluate_files(&config, opts).await?;

    if a.json {
        let object = |r: &RetrievalReport| {
            let mut v = serde_json::json!({"top1": r.top1, "top5": r.top5, "mrr": r.mrr, "p50_ms": r.p50_ms, "p99_ms": r.p99_ms, "n": r.n, "threshold_curve": r.threshold_curve});
            if with_history {
                v["examples_per_tool"] = r.examples_per_tool.into();
                v["examples"] = r.examples.into();
                v["tuned_threshold"] = r.tuned.map(|p| p.threshold).into();
                v["expected_at_tuned"] = r.tuned.map(|p| p.expected_at_or_above).into();
            }
            v
        };
        let caps: std::collections::BTreeSet<usize> = reports.iter().map(|r| r.examples_per_tool).collect();
        let out = if let [one] = reports.as_slice() {
            object(one)
        } else if caps.len() > 1 {
            serde_json::Value::Array(
                reports
                    .iter()
                    .map(|r| {
                        let mut v = object(r);
                        v["mode"] = r.mode.to_string().into();
                        v
                    })
                    .collect(),
            )
        } else {
            serde_json::Value::Object(reports.iter().map(|r| (r.mode.to_string(), object(r))).collect())
        };
        println!("{out}");
        return Ok(ExitCode::SUCCESS);
    }
    println!("{tools} tools, {queries} queries");
    if let Some(skipped) = reports.first().map(|r| r.skipped_in_history).filter(|&s| s > 0) {
        println!("{skipped} queries left out: the history holds them");
    }
    println!(
        "{:<7} {:>5} {:>6} {:>6} {:>6} {:>6} {:>7} {:>8} {:>8} {:>10} {:>9}",
        "mode", "ex/t", "ex", "top1", "top5", "mrr", "mrr@10", "p50 ms", "p99 ms", "embed ms/q", "t@5%"
    );
    for r in &reports {
        let tuned = r.tuned.map_or("-".to_string(), |p| format!("{:.2}:{:.3}", p.threshold, p.expected_at_or_above));
        println!(
            "{:<7} {:>5} {:>6} {:>6.3} {:>6.3} {:>6.3} {:>7.3} {:>8.3} {:>8.3} {:>10.2} {:>9}",
            r.mode,
            r.examples_per_tool,
            r.examples,
            r.top1,
            r.top5,
            r.mrr,
            r.mrr_at_10,
            r.p50_ms,
            r.p99_ms,
            r.embed_ms_per_query,
            tuned
        );
    }
    println!("(latency: one search for {EVAL_K} hits, query embedding excluded; embedding may come from the cache)");
    println!(
        "(t@5%: the lowest threshold at which the best other tool scores at or above it for at most 5% of \
         queries, and the share of queries whose expected tool does)"
    );
    for r in reports.iter().filter(|r| r.mode == SearchMode::Hybrid) {
        println!(
            "hybrid score thresholds ({} examples per tool): share of queries whose expected tool / best other tool scores at or above t",
            r.examples_per_tool
        );
        for p in r.threshold_curve.iter().filter(|p| ((p.threshold * 100.0).round() as u32).is_multiple_of(5)) {
            println!(
                "  t={:.2}  expected {:>5.3}  best other {:>5.3}",
                p.threshold, p.expected_at_or_above, p.best_other_at_or_above
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
