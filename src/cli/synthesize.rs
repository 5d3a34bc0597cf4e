//! `toolsmith synthesize` and `toolsmith tools add`: the verification pipeline, with or without a model.

use std::path::PathBuf;
use std::process::ExitCode;

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use toolsmith::registry::ToolRecord;
use toolsmith::synthesis::{Candidate, SynthesisEvent, VerifyMode, read_data_dir};
use toolsmith::text::terminal_safe;
use toolsmith::{Config, CreateOptions, Error, ErrorReport};

use super::print_json;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// What the tool should do, in plain language.
    pub prompt: String,
    /// How to verify before registering.
    #[arg(long, value_enum, default_value_t = VerifyMode::Docker)]
    pub verify: VerifyMode,
    /// Repair rounds after failing tests.
    #[arg(long, default_value_t = toolsmith::synthesis::DEFAULT_REPAIR_ROUNDS)]
    pub repair_rounds: u32,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// The tool's name: the function in the code, snake_case.
    #[arg(long)]
    pub name: String,
    /// The Python file defining the function.
    #[arg(long)]
    pub code: PathBuf,
    /// The pytest file testing it (`from NAME import NAME`).
    #[arg(long)]
    pub tests: PathBuf,
    /// Description to index (default: the function's docstring).
    #[arg(long)]
    pub docstring: Option<String>,
    /// A directory of data files the tests read, at the same relative path (e.g. data/).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Example requests for the search, one per line (stored with the tool).
    #[arg(long, value_name = "FILE")]
    pub examples: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = VerifyMode::Docker)]
    pub verify: VerifyMode,
    #[arg(long)]
    pub json: bool,
}

/// A bar over the run's stages on a terminal, a line per event on other stderr, nothing under --json.
fn progress(json: bool, stages: usize) -> impl Fn(&SynthesisEvent) + Send + Sync {
    use std::io::IsTerminal;
    let bar = (!json && std::io::stderr().is_terminal()).then(|| {
        let b = ProgressBar::new(stages as u64);
        b.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed}] [{bar:20}] {pos}/{len} {msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        b.enable_steady_tick(std::time::Duration::from_millis(100));
        b
    });
    move |event: &SynthesisEvent| {
        let line = match event {
            SynthesisEvent::StageStarted { stage } => format!("{} …", stage.as_str()),
            SynthesisEvent::StagePassed { stage, .. } => format!("{} ✓", stage.as_str()),
            SynthesisEvent::StageFailed { stage, error, .. } => {
                format!("{} ✗ {}", stage.as_str(), terminal_safe(error.lines().next().unwrap_or("")))
            }
            SynthesisEvent::RepairRound { round, error, .. } => {
                format!("repair round {round}: {}", terminal_safe(error.lines().next().unwrap_or("")))
            }
            _ => return,
        };
        match (&bar, event) {
            (Some(b), SynthesisEvent::StageStarted { .. }) => b.set_message(line),
            (Some(b), SynthesisEvent::StagePassed { .. }) => {
                b.inc(1);
                b.set_message(line);
                if b.position() >= b.length().unwrap_or(0) {
                    b.finish();
                }
            }
            (Some(b), _) => b.println(line),
            (None, _) if !json => eprintln!("{line}"),
            (None, _) => {}
        }
    }
}

pub async fn run(args: Args, config: Config) -> anyhow::Result<ExitCode> {
    let opts = CreateOptions { verify: args.verify, repair_rounds: args.repair_rounds };
    let cb = progress(args.json, if args.verify == VerifyMode::Docker { 7 } else { 6 });
    let result = async { super::open(config).await?.synthesize_capability(&args.prompt, opts, &cb).await }.await;
    let r = match result {
        Ok(r) => r,
        Err(e) => return Ok(super::fail(&e, args.json)),
    };
    if args.json {
        print_json(&r);
    } else if let (true, Some(m)) = (r.success, &r.metadata) {
        println!(
            "registered {} ({} tests passed; run it with `toolsmith run {} --args '{{…}}'`)",
            r.tool_name, m.wasm_tests_passed, r.tool_name
        );
    } else if let Some(e) = &r.error {
        print_stage_failure(e);
    }
    Ok(if r.success { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn print_stage_failure(e: &ErrorReport) {
    let stage = e.stage.map_or("setup", |s| s.as_str());
    eprintln!("not registered: {stage} failed ({}): {}", e.error_type, terminal_safe(&e.error));
    if let Some(out) = &e.output {
        eprintln!("{}", terminal_safe(out));
    }
}

/// `tools add --json`: `{"success": true, "tool": …}` or `{"success": false, "error_type": …}`.
#[derive(Serialize)]
struct Added<'a> {
    success: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool: Option<&'a ToolRecord>,
    #[serde(flatten)]
    error: Option<ErrorReport>,
}

pub async fn add(a: AddArgs, config: Config) -> Result<ExitCode, Error> {
    let read = |p: &PathBuf| {
        std::fs::read_to_string(p).map_err(|e| Error::InvalidArguments(format!("cannot read {}: {e}", p.display())))
    };
    let data_files = match &a.data {
        Some(d) => read_data_dir(d)
            .map_err(|e| Error::InvalidArguments(format!("cannot read data directory {}: {e}", d.display())))?,
        None => Default::default(),
    };
    let examples = match &a.examples {
        Some(f) => toolsmith::registry::examples::read_file(f).map_err(Error::InvalidArguments)?,
        None => Vec::new(),
    };
    let candidate = Candidate {
        name: a.name.clone(),
        code: read(&a.code)?,
        tests: read(&a.tests)?,
        docstring: a.docstring.clone(),
        data_files,
    };
    let cb = progress(a.json, if a.verify == VerifyMode::Docker { 4 } else { 3 });
    let opts = CreateOptions { verify: a.verify, ..CreateOptions::default() };
    let result =
        async { super::open(config).await?.create_tool_with_examples(&candidate, &examples, opts, &cb).await }.await;
    let ok = result.is_ok();
    if a.json {
        let (tool, error) = match &result {
            Ok(rec) => (Some(rec), None),
            Err(e) => (None, Some(e.report())),
        };
        print_json(&Added { success: ok, tool, error });
    } else {
        match &result {
            Ok(rec) => println!("registered {} (verified {})", rec.name, rec.verification),
            Err(e) => print_stage_failure(&e.report()),
        }
    }
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
