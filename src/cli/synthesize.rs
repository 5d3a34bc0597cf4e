//! `toolsmith synthesize` and `toolsmith tools add`: the verification pipeline, with or without a model.

use std::path::PathBuf;
use std::process::ExitCode;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use toolsmith::config::Paths;
use toolsmith::synthesis::{Candidate, NeedsLlm, SynthesisEngine, VerifyMode, read_data_dir};

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
    #[arg(long, value_enum, default_value_t = VerifyMode::Docker)]
    pub verify: VerifyMode,
    #[arg(long)]
    pub json: bool,
}

/// A bar over the run's stages on a terminal, a line per event on other stderr, nothing under --json.
fn progress(json: bool, stages: usize) -> impl Fn(&str, &Value) + Send + Sync {
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
    move |event: &str, data: &Value| {
        let stage = data.get("stage").and_then(Value::as_str).unwrap_or("");
        let line = match event {
            "stage_started" => format!("{stage} …"),
            "stage_finished" => format!("{stage} ✓"),
            "stage_failed" => format!("{stage} ✗ {}", data.get("error").and_then(Value::as_str).unwrap_or("")),
            "repair" => {
                format!("repair round {}: {}", data["round"], data.get("error").and_then(Value::as_str).unwrap_or(""))
            }
            _ => return,
        };
        match &bar {
            Some(b) if event == "stage_started" => b.set_message(line),
            Some(b) if event == "stage_finished" => {
                b.inc(1);
                b.set_message(line);
                if b.position() >= b.length().unwrap_or(0) {
                    b.finish();
                }
            }
            Some(b) => b.println(line),
            None if !json => eprintln!("{line}"),
            None => {}
        }
    }
}

/// Under --json, a failure before the pipeline starts (no model, no Docker, no image) is still
/// one JSON object on stdout, so a program reading it always gets an answer.
fn early_failure(json: bool, step: &str, e: anyhow::Error) -> anyhow::Result<ExitCode> {
    if !json {
        return Err(e);
    }
    println!("{}", json!({"success": false, "step": step, "error": format!("{e:#}")}));
    Ok(ExitCode::FAILURE)
}

pub async fn run(args: Args, paths: &Paths) -> anyhow::Result<ExitCode> {
    let mut engine = match SynthesisEngine::open(paths, args.verify, NeedsLlm::Yes).await {
        Ok(e) => e,
        Err(e) => return early_failure(args.json, "setup", e),
    };
    engine.repair_rounds = args.repair_rounds;
    let cb = progress(args.json, if args.verify == VerifyMode::Docker { 7 } else { 6 });
    let r = engine.synthesize_capability(&args.prompt, &cb).await;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else if r.success {
        println!(
            "registered {} ({} tests passed; run it with `toolsmith run {} --args '{{…}}'`)",
            r.tool_name, r.metadata["wasm_tests_passed"], r.tool_name
        );
    } else {
        eprintln!("synthesis failed at {}: {}", r.step.as_deref().unwrap_or("?"), r.error.as_deref().unwrap_or(""));
        if !r.output.is_empty() {
            eprintln!("{}", r.output);
        }
    }
    Ok(if r.success { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

pub async fn add(a: AddArgs, paths: &Paths) -> anyhow::Result<ExitCode> {
    let read =
        |p: &PathBuf| std::fs::read_to_string(p).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", p.display()));
    let data_files = match &a.data {
        Some(d) => read_data_dir(d).map_err(|e| anyhow::anyhow!("cannot read data directory {}: {e}", d.display()))?,
        None => Default::default(),
    };
    let candidate = Candidate {
        name: a.name.clone(),
        code: read(&a.code)?,
        tests: read(&a.tests)?,
        docstring: a.docstring.clone(),
        data_files,
    };
    let engine = match SynthesisEngine::open(paths, a.verify, NeedsLlm::No).await {
        Ok(e) => e,
        Err(e) => return early_failure(a.json, "setup", e),
    };
    let cb = progress(a.json, if a.verify == VerifyMode::Docker { 4 } else { 3 });
    match engine.verify_and_register(&candidate, &cb).await {
        Ok(rec) => {
            if a.json {
                println!("{}", json!({"success": true, "tool": rec}));
            } else {
                println!("registered {} (verified {})", rec.name, rec.verification);
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(f) => {
            if a.json {
                println!("{}", json!({"success": false, "step": f.step, "error": f.error, "output": f.output}));
            } else {
                eprintln!("not registered: {} failed: {}", f.step.as_str(), f.error);
                if !f.output.is_empty() && f.output != f.error {
                    eprintln!("{}", f.output);
                }
            }
            Ok(ExitCode::FAILURE)
        }
    }
}
