//! CapabilitySynthesisEngine: from a sentence to a registered tool, test first.
//!
//! spec → tests → implementation → static checks → pytest in Docker → the same tests in the WASM
//! runtime → registration. Failing tests go back to the model for a bounded number of repairs;
//! nothing that failed any stage is ever registered. [`Pipeline::create_tool`] is the same
//! pipeline from the static checks on, for code written by a person or another agent
//! (`toolsmith tools add`, MCP `create_tool`). The facade (`crate::Toolsmith`) assembles a
//! [`Pipeline`] from its parts for each call.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use toolsmith_host::{CallError, Grant, Runtime, TestOptions, ToolUnderTest};

use crate::error::{Error, ErrorKind, ErrorReport, StageFailure};
use crate::llm::{LlmClient, Spec};
use crate::registry::{CapabilityRegistry, NewTool, ToolRecord, blocking, store};
use crate::sandbox::SecureSandbox;

/// Repair rounds after the first implementation fails, by default.
pub const DEFAULT_REPAIR_ROUNDS: u32 = 2;

/// How a new tool is verified before registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum VerifyMode {
    /// pytest in the Docker sandbox, then the same tests in the WASM runtime (the default).
    #[default]
    Docker,
    /// Only the WASM runtime; for machines without Docker, when the user asks. Recorded on the tool.
    WasmOnly,
}

impl VerifyMode {
    pub fn label(self) -> &'static str {
        match self {
            VerifyMode::Docker => "docker+wasm",
            VerifyMode::WasmOnly => "wasm-only",
        }
    }
}

/// The pipeline's stages, reported as they start and end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Spec,
    Tests,
    Implementation,
    StaticChecks,
    DockerTests,
    WasmTests,
    Register,
}

impl Step {
    pub const ALL: [Step; 7] = [
        Step::Spec,
        Step::Tests,
        Step::Implementation,
        Step::StaticChecks,
        Step::DockerTests,
        Step::WasmTests,
        Step::Register,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Step::Spec => "spec",
            Step::Tests => "tests",
            Step::Implementation => "implementation",
            Step::StaticChecks => "static_checks",
            Step::DockerTests => "docker_tests",
            Step::WasmTests => "wasm_tests",
            Step::Register => "register",
        }
    }
}

/// What happened during a synthesis, a `create_tool` or an agent request, as it happens: the
/// CLI's progress display and the MCP server's progress notifications both consume these.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum SynthesisEvent {
    StageStarted {
        stage: Step,
    },
    StagePassed {
        stage: Step,
        /// E.g. how many tests passed, or how long Docker took.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    StageFailed {
        stage: Step,
        kind: ErrorKind,
        error: String,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        output: String,
    },
    /// The model is asked to repair the implementation after `stage` failed.
    RepairRound {
        round: u32,
        stage: Step,
        error: String,
    },
    Registered {
        tool_name: String,
    },
    /// The agent chose how to answer a request.
    Planned {
        strategy: String,
        reasoning: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tool_name: Option<String>,
    },
    /// A step of a request starts (1-based); its tool when already known.
    StepStarted {
        step: u32,
        task: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tool_name: Option<String>,
    },
    /// A step's tool ran (after any retries).
    ToolRan {
        step: u32,
        tool_name: String,
        success: bool,
        elapsed_ms: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error_type: Option<ErrorKind>,
    },
    /// The request is answered.
    Answered {
        success: bool,
    },
}

impl SynthesisEvent {
    /// One line for a person (progress messages, a terminal).
    pub fn describe(&self) -> String {
        match self {
            SynthesisEvent::StageStarted { stage } => format!("{}: started", stage.as_str()),
            SynthesisEvent::StagePassed { stage, detail: Some(d) } => format!("{}: passed ({d})", stage.as_str()),
            SynthesisEvent::StagePassed { stage, detail: None } => format!("{}: passed", stage.as_str()),
            SynthesisEvent::StageFailed { stage, kind, error, .. } => {
                format!("{}: failed ({kind}): {}", stage.as_str(), error.lines().next().unwrap_or(""))
            }
            SynthesisEvent::RepairRound { round, stage, .. } => {
                format!("repair round {round} after {} failed", stage.as_str())
            }
            SynthesisEvent::Registered { tool_name } => format!("registered {tool_name}"),
            SynthesisEvent::Planned { strategy, reasoning, tool_name } => match tool_name {
                Some(t) => format!("plan: {strategy} with {t} ({reasoning})"),
                None => format!("plan: {strategy} ({reasoning})"),
            },
            SynthesisEvent::StepStarted { step, task, .. } => format!("step {step}: {task}"),
            SynthesisEvent::ToolRan { step, tool_name, success: true, elapsed_ms, .. } => {
                format!("step {step}: {tool_name} ran ({elapsed_ms:.1} ms)")
            }
            SynthesisEvent::ToolRan { step, tool_name, error_type, .. } => {
                format!("step {step}: {tool_name} failed ({})", error_type.map_or("error", |k| k.as_str()))
            }
            SynthesisEvent::Answered { success } => (if *success { "answered" } else { "failed" }).to_string(),
        }
    }
}

/// Where events go. `&|_| {}` ignores them.
pub type Events<'a> = &'a (dyn Fn(&SynthesisEvent) + Send + Sync);

/// What a successful synthesis registered, beside the tool itself.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SynthesisMetadata {
    pub file_path: String,
    pub test_path: String,
    pub parameters: Value,
    pub verification: String,
    pub repair_rounds: u32,
    pub wasm_tests_passed: u32,
    pub docker_ms: Option<u64>,
    pub timestamp: String,
}

/// The seed's result fields; on failure the error's kind, message and stage.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SynthesisResult {
    pub success: bool,
    pub tool_name: String,
    /// The spec the model wrote (`schemas/spec.schema.json`).
    #[schemars(with = "Option<Value>")]
    pub spec: Option<Spec>,
    pub code: String,
    pub tests: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<SynthesisMetadata>,
    pub tests_verified: bool,
    #[serde(flatten)]
    pub error: Option<ErrorReport>,
}

/// A tool to verify: its code, tests and data files (relative path → bytes).
#[derive(Debug, Clone, Default)]
pub struct Candidate {
    pub name: String,
    pub code: String,
    pub tests: String,
    /// Overrides the function's own docstring.
    pub docstring: Option<String>,
    pub data_files: BTreeMap<String, Vec<u8>>,
}

/// What verification produced: everything registration needs.
#[derive(Debug, Clone)]
pub struct Verified {
    pub bytecode: Vec<u8>,
    pub parameters: Value,
    pub returns: Value,
    pub docstring: String,
    pub docker_ms: Option<u64>,
    pub wasm_tests: u32,
}

/// One run of the pipeline, over the facade's parts.
pub struct Pipeline<'a> {
    pub runtime: Arc<Runtime>,
    pub registry: &'a CapabilityRegistry,
    /// Present when `verify` is [`VerifyMode::Docker`].
    pub sandbox: Option<&'a SecureSandbox>,
    /// Present for synthesis.
    pub llm: Option<&'a LlmClient>,
    pub verify: VerifyMode,
    pub repair_rounds: u32,
    /// Names the faces keep for themselves (the MCP server's built-in tools).
    pub reserved: &'a [&'a str],
    /// Where test runs get their scratch space.
    pub scratch: PathBuf,
    pub events: Events<'a>,
}

fn fail(stage: Step, kind: ErrorKind, error: impl Into<String>) -> StageFailure {
    StageFailure { stage, kind, error: error.into(), output: String::new() }
}

fn from_error(stage: Step, e: Error) -> StageFailure {
    let kind = e.kind();
    fail(stage, kind, e.to_string())
}

/// A failure at `stage` from the runtime: the code's fault (repairable) or the machinery's.
fn from_call(stage: Step, e: CallError) -> StageFailure {
    let msg = describe_call_error(&e);
    let kind = match Error::from(e).kind() {
        k if k.is_tool_fault() => ErrorKind::VerificationFailed,
        k => k,
    };
    StageFailure { stage, kind, output: msg.clone(), error: msg }
}

impl Pipeline<'_> {
    fn emit(&self, e: SynthesisEvent) {
        (self.events)(&e);
    }

    fn started(&self, stage: Step) {
        self.emit(SynthesisEvent::StageStarted { stage });
    }

    fn passed(&self, stage: Step, detail: Option<String>) {
        self.emit(SynthesisEvent::StagePassed { stage, detail });
    }

    /// The name is a valid, free, unreserved tool name.
    async fn check_name(&self, name: &str, stage: Step) -> Result<(), StageFailure> {
        if let Err(e) = store::validate_name(name) {
            return Err(from_error(stage, e.into()));
        }
        if self.reserved.contains(&name) {
            return Err(fail(
                stage,
                ErrorKind::InvalidName,
                format!("the name {name:?} is reserved for one of Toolsmith's own tools: choose another"),
            ));
        }
        match self.registry.get_tool_by_name(name).await {
            Ok(None) => Ok(()),
            Ok(Some(_)) => Err(from_error(stage, Error::AlreadyExists(name.to_string()))),
            Err(e) => Err(from_error(stage, e)),
        }
    }

    /// Static checks, Docker, WASM tests: the tool is proven but not registered.
    pub async fn verify(&self, c: &Candidate) -> Result<Verified, StageFailure> {
        self.started(Step::StaticChecks);
        if c.tests.trim().is_empty() {
            return Err(fail(
                Step::StaticChecks,
                ErrorKind::VerificationFailed,
                "no tests: a tool is registered only with tests that pass",
            ));
        }
        let (rt, code, name) = (self.runtime.clone(), c.code.clone(), c.name.clone());
        let checked = blocking(move || -> Result<(Vec<u8>, Value), CallError> {
            let bytecode = rt.compile(&code, &format!("{name}.py"))?;
            // From the parsed source: the tool's code does not run, so it cannot forge this.
            let described = rt.describe(&code, &name)?;
            Ok((bytecode, described))
        })
        .await
        .map_err(|e| from_error(Step::StaticChecks, e))?;
        let (bytecode, described) = checked.map_err(|e| from_call(Step::StaticChecks, e))?;
        check_parameters(&described["parameters"])
            .map_err(|e| fail(Step::StaticChecks, ErrorKind::VerificationFailed, e))?;
        let positional: Vec<String> = described["positional"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        self.passed(Step::StaticChecks, None);

        let mut docker_ms = None;
        if self.verify == VerifyMode::Docker {
            self.started(Step::DockerTests);
            let Some(sandbox) = self.sandbox else {
                return Err(fail(
                    Step::DockerTests,
                    ErrorKind::Sandbox,
                    "Docker verification was asked for but Docker is not available: start Docker (and run `toolsmith sandbox build`), or pass --verify wasm-only",
                ));
            };
            let r = sandbox
                .verify_tool(&c.name, &c.code, &c.tests, &c.data_files)
                .await
                .map_err(|e| from_error(Step::DockerTests, e.into()))?;
            if !r.success {
                return Err(StageFailure {
                    stage: Step::DockerTests,
                    kind: ErrorKind::VerificationFailed,
                    error: r.error.unwrap_or_else(|| "tests failed in the Docker sandbox".into()),
                    output: r.output,
                });
            }
            docker_ms = Some(r.duration_ms);
            self.passed(Step::DockerTests, Some(format!("{} ms", r.duration_ms)));
        }

        self.started(Step::WasmTests);
        let (rt, bc, name, tests, data, scratch_root) = (
            self.runtime.clone(),
            bytecode.clone(),
            c.name.clone(),
            c.tests.clone(),
            c.data_files.clone(),
            self.scratch.clone(),
        );
        let report = blocking(move || -> Result<_, StageFailure> {
            let scratch = scratch_dir(&scratch_root)
                .map_err(|e| fail(Step::WasmTests, ErrorKind::Internal, format!("no scratch directory: {e}")))?;
            let grants = stage_data_files(scratch.path(), &data)
                .map_err(|e| fail(Step::WasmTests, ErrorKind::InvalidArguments, e))?;
            let tmp = scratch.path().join(".tmp_path");
            std::fs::create_dir_all(&tmp).map_err(|e| fail(Step::WasmTests, ErrorKind::Internal, e.to_string()))?;
            let opts = TestOptions { grants, tmp_path: Some(tmp), ..TestOptions::default() };
            let tool = ToolUnderTest { code: &bc, function: &name, positional: &positional };
            rt.run_tests(tool, &name, &tests, &opts).map_err(|e| from_call(Step::WasmTests, e))
        })
        .await
        .map_err(|e| from_error(Step::WasmTests, e))??;
        if !report.success() {
            let error = if report.passed + report.failed + report.errors == 0 {
                "the test module defines no tests".to_string()
            } else {
                format!(
                    "{} failed, {} errors, {} passed in the WASM runtime",
                    report.failed, report.errors, report.passed
                )
            };
            return Err(StageFailure {
                stage: Step::WasmTests,
                kind: ErrorKind::VerificationFailed,
                error,
                output: report.output,
            });
        }
        self.passed(Step::WasmTests, Some(format!("{} passed", report.passed)));

        let docstring = c
            .docstring
            .clone()
            .filter(|d| !d.trim().is_empty())
            .unwrap_or_else(|| described.get("docstring").and_then(Value::as_str).unwrap_or_default().to_string());
        Ok(Verified {
            bytecode,
            parameters: described.get("parameters").cloned().unwrap_or_else(|| json!({"type": "object"})),
            returns: described.get("returns").cloned().unwrap_or_else(|| json!({})),
            docstring,
            docker_ms,
            wasm_tests: report.passed,
        })
    }

    /// Register a verified tool with its example requests (one transaction, with its embeddings).
    pub async fn register(&self, c: &Candidate, v: &Verified, examples: &[String]) -> Result<ToolRecord, StageFailure> {
        self.started(Step::Register);
        let rec = self
            .registry
            .add_tool_with_examples(
                NewTool {
                    name: c.name.clone(),
                    code: c.code.clone(),
                    tests: c.tests.clone(),
                    docstring: v.docstring.clone(),
                    parameters: v.parameters.clone(),
                    returns: v.returns.clone(),
                    bytecode: v.bytecode.clone(),
                    verification: self.verify.label().to_string(),
                },
                examples,
            )
            .await
            .map_err(|e| from_error(Step::Register, e))?;
        self.passed(Step::Register, None);
        self.emit(SynthesisEvent::Registered { tool_name: rec.name.clone() });
        Ok(rec)
    }

    /// The seed's `create_tool` (`toolsmith tools add`): verify code written outside and register
    /// it with its example requests (checked before anything runs).
    pub async fn create_tool(&self, c: &Candidate, examples: &[String]) -> Result<ToolRecord, StageFailure> {
        let r = async {
            self.check_name(&c.name, Step::StaticChecks).await?;
            let examples = crate::registry::examples::clean_all(examples)
                .map_err(|e| fail(Step::StaticChecks, ErrorKind::InvalidArguments, e))?;
            let v = self.verify(c).await?;
            self.register(c, &v, &examples).await
        }
        .await;
        if let Err(f) = &r {
            self.emit_failed(f);
        }
        r
    }

    fn emit_failed(&self, f: &StageFailure) {
        self.emit(SynthesisEvent::StageFailed {
            stage: f.stage,
            kind: f.kind,
            error: f.error.clone(),
            output: f.output.clone(),
        });
    }

    /// The seed's `synthesize_capability`.
    pub async fn synthesize_capability(&self, prompt: &str) -> SynthesisResult {
        let mut r = SynthesisResult {
            success: false,
            tool_name: String::new(),
            spec: None,
            code: String::new(),
            tests: String::new(),
            metadata: None,
            tests_verified: false,
            error: None,
        };
        match self.synthesize_into(prompt, &mut r).await {
            Ok(()) => r,
            Err(f) => {
                self.emit_failed(&f);
                let mut report = Error::Verification(f.clone()).report();
                report.error_type = if f.kind.is_tool_fault() { ErrorKind::VerificationFailed } else { f.kind };
                r.error = Some(report);
                r
            }
        }
    }

    async fn synthesize_into(&self, prompt: &str, r: &mut SynthesisResult) -> Result<(), StageFailure> {
        let Some(llm) = self.llm else {
            return Err(from_error(Step::Spec, crate::llm::LlmError::NotConfigured.into()));
        };
        self.started(Step::Spec);
        let spec = llm.generate_spec(prompt).await.map_err(|e| from_error(Step::Spec, e.into()))?;
        r.tool_name = spec.function_name.clone();
        r.spec = Some(spec.clone());
        self.check_name(&spec.function_name, Step::Spec).await?;
        self.passed(Step::Spec, Some(spec.function_name.clone()));

        self.started(Step::Tests);
        r.tests = llm.generate_tests(&spec).await.map_err(|e| from_error(Step::Tests, e.into()))?;
        self.passed(Step::Tests, None);

        self.started(Step::Implementation);
        r.code = llm
            .generate_implementation(&spec, &r.tests)
            .await
            .map_err(|e| from_error(Step::Implementation, e.into()))?;
        self.passed(Step::Implementation, None);

        let mut round = 0;
        let (candidate, v) = loop {
            let candidate = Candidate {
                name: spec.function_name.clone(),
                code: r.code.clone(),
                tests: r.tests.clone(),
                docstring: Some(spec.docstring.clone()),
                data_files: BTreeMap::new(),
            };
            match self.verify(&candidate).await {
                Ok(v) => break (candidate, v),
                Err(f) if f.repairable() && round < self.repair_rounds => {
                    round += 1;
                    self.emit(SynthesisEvent::RepairRound { round, stage: f.stage, error: f.error.clone() });
                    let feedback = if f.output.is_empty() { f.error.clone() } else { f.output.clone() };
                    r.code = llm
                        .repair_implementation(&spec, &r.tests, &r.code, &feedback)
                        .await
                        .map_err(|e| from_error(Step::Implementation, e.into()))?;
                }
                Err(f) => return Err(f),
            }
        };
        r.tests_verified = true;
        let rec = self.register(&candidate, &v, &synthesis_examples(prompt, &spec)).await?;
        r.success = true;
        r.metadata = Some(SynthesisMetadata {
            file_path: rec.file_path,
            test_path: rec.test_path,
            parameters: rec.parameters,
            verification: rec.verification,
            repair_rounds: round,
            wasm_tests_passed: v.wasm_tests,
            docker_ms: v.docker_ms,
            timestamp: rec.timestamp,
        });
        Ok(())
    }
}

/// The example requests a synthesised tool is registered with: the request it was made for,
/// then the spec's. The spec's were validated with it; the request is kept only if it is a
/// usable example (a long request is still a fine thing to synthesise from).
fn synthesis_examples(prompt: &str, spec: &Spec) -> Vec<String> {
    let mut out: Vec<String> = crate::registry::examples::clean(prompt).into_iter().collect();
    out.extend(spec.examples.iter().flatten().filter_map(|e| crate::registry::examples::clean(e).ok()));
    let mut seen = std::collections::HashSet::new();
    out.retain(|e| seen.insert(crate::registry::examples::normalized(e)));
    out.truncate(crate::registry::examples::MAX_EXAMPLES_PER_TOOL);
    out
}

/// A fresh scratch directory for one test run, named after this process so that what a killed
/// run leaves is recognised and removed by [`remove_stale_scratch`].
/// A parameter schema the registry may store: a JSON Schema object of type `object` with
/// `properties`, which the executor's validation can hold arguments to. (`true`, `{}` or a
/// non-object schema would let any arguments through.)
fn check_parameters(schema: &Value) -> Result<(), String> {
    let ok = schema.get("type").and_then(Value::as_str) == Some("object")
        && schema.get("properties").is_some_and(Value::is_object);
    if ok {
        Ok(())
    } else {
        let shown: String = schema.to_string().chars().take(200).collect();
        Err(format!("the tool's parameter schema must be a JSON Schema object with properties, not {shown}"))
    }
}

fn scratch_dir(root: &Path) -> std::io::Result<tempfile::TempDir> {
    std::fs::create_dir_all(root)?;
    tempfile::Builder::new().prefix(&format!("run-{}-", std::process::id())).tempdir_in(root)
}

/// Remove scratch directories of processes that are gone (a run killed before its clean-up).
pub fn remove_stale_scratch(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else { return };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let pid = name.strip_prefix("run-").and_then(|r| r.split('-').next()).and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|p| !store::process_alive(p)) {
            tracing::info!(dir = %e.path().display(), "removing the scratch space of an interrupted test run");
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// Write data files under `root` at their relative paths and grant each top-level directory
/// read-only at its own name, as the Docker sandbox shows them (cwd-relative).
fn stage_data_files(root: &Path, files: &BTreeMap<String, Vec<u8>>) -> Result<Vec<Grant>, String> {
    let mut tops: Vec<String> = vec![];
    for (rel, bytes) in files {
        let top = data_file_dir(rel)?;
        let p = Path::new(rel);
        let dest: PathBuf = root.join(p);
        std::fs::create_dir_all(dest.parent().expect("has a parent")).map_err(|e| e.to_string())?;
        std::fs::write(&dest, bytes).map_err(|e| e.to_string())?;
        if !tops.contains(&top) {
            tops.push(top);
        }
    }
    Ok(tops.into_iter().map(|t| Grant { host_path: root.join(&t), guest_path: t, writable: false }).collect())
}

/// The top directory of a data file's path, or why the path is not one a test run can be given:
/// it must be relative, stay inside, and sit in a directory (which the run is granted).
pub fn data_file_dir(rel: &str) -> Result<String, String> {
    let p = Path::new(rel);
    if p.is_absolute() || p.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
        return Err(format!("data file {rel:?} must be a relative path inside the data directory"));
    }
    let mut comps = p.components();
    let top = comps.next().map(|c| c.as_os_str().to_string_lossy().into_owned()).unwrap_or_default();
    if comps.next().is_none() {
        return Err(format!("data file {rel:?} must sit in a directory (e.g. data/{rel}), which the tool is granted"));
    }
    Ok(top)
}

/// Read a data directory into relative path → bytes, keeping the directory's own name
/// (`--data data/` gives `data/sales.csv`).
pub fn read_data_dir(dir: &Path) -> std::io::Result<BTreeMap<String, Vec<u8>>> {
    let base = dir.parent().unwrap_or(Path::new(""));
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(base).unwrap_or(&p).to_string_lossy().trim_start_matches("./").to_string();
                out.insert(rel, std::fs::read(&p)?);
            }
        }
    }
    Ok(out)
}

fn describe_call_error(e: &CallError) -> String {
    match e {
        CallError::Tool(t) => {
            let mut s = format!("{}: {}", t.error_type, t.message);
            if let Some(line) = t.line {
                s.push_str(&format!(" (line {line})"));
            }
            if let Some(tb) = &t.traceback {
                s.push('\n');
                s.push_str(tb);
            }
            s
        }
        CallError::Host(h) => h.to_string(),
    }
}
