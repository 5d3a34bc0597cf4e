//! CapabilitySynthesisEngine: from a sentence to a registered tool, test first.
//!
//! spec → tests → implementation → static checks → pytest in Docker → the same tests in the WASM
//! runtime → registration. Failing tests go back to the model for a bounded number of repairs;
//! nothing that failed any stage is ever registered. `verify_and_register` is the same pipeline
//! from the static checks on, for code written by a person (`toolsmith tools add`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde_json::{Value, json};
use toolsmith_host::{CallError, Grant, Runtime, TestOptions};

use crate::llm::{LlmClient, Spec};
use crate::registry::{CapabilityRegistry, NewTool, ToolRecord, store};
use crate::sandbox::SecureSandbox;

/// Repair rounds after the first implementation fails, by default.
pub const DEFAULT_REPAIR_ROUNDS: u32 = 2;

/// How a new tool is verified before registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, clap::ValueEnum)]
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

/// The pipeline's stages, reported to the progress callback as they start and end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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

/// Progress events: `(event, data)` as in the seed's callback, e.g. `("stage_started", {"stage": "spec"})`.
pub type Callback<'a> = &'a (dyn Fn(&str, &Value) + Send + Sync);

/// A failure at one stage, with what the stage printed (test output goes back to the model).
#[derive(Debug, Clone, Serialize)]
pub struct StageFailure {
    pub step: Step,
    pub error: String,
    pub output: String,
    /// The code or its tests are at fault (the model may repair it), not the machinery.
    pub repairable: bool,
}

/// The seed's result fields.
#[derive(Debug, Clone, Serialize)]
pub struct SynthesisResult {
    pub success: bool,
    pub tool_name: String,
    pub spec: Option<Spec>,
    pub code: String,
    pub tests: String,
    pub metadata: Value,
    pub tests_verified: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// Test output of the failing stage, when there was one.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub output: String,
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

/// Everything the pipeline needs; the registry is shared with whoever else serves requests.
pub struct SynthesisEngine {
    pub llm: Option<LlmClient>,
    pub sandbox: Option<SecureSandbox>,
    pub runtime: Arc<Runtime>,
    pub registry: Arc<Mutex<CapabilityRegistry>>,
    pub verify: VerifyMode,
    pub repair_rounds: u32,
}

fn emit(cb: Callback<'_>, event: &str, data: Value) {
    cb(event, &data);
}

fn fail(step: Step, error: impl Into<String>) -> StageFailure {
    StageFailure { step, error: error.into(), output: String::new(), repairable: false }
}

impl SynthesisEngine {
    /// Static checks, Docker, WASM tests: the tool is proven but not registered.
    pub async fn verify(&self, c: &Candidate, cb: Callback<'_>) -> Result<Verified, StageFailure> {
        emit(cb, "stage_started", json!({"stage": Step::StaticChecks.as_str()}));
        if let Err(e) = store::validate_name(&c.name) {
            return Err(fail(Step::StaticChecks, e.to_string()));
        }
        if c.tests.trim().is_empty() {
            return Err(fail(Step::StaticChecks, "no tests: a tool is registered only with tests that pass"));
        }
        let (rt, code, name) = (self.runtime.clone(), c.code.clone(), c.name.clone());
        let checked = tokio::task::spawn_blocking(move || -> Result<(Vec<u8>, Value), CallError> {
            let bytecode = rt.compile(&code, &format!("{name}.py"))?;
            let described = rt.describe(&bytecode, &name)?;
            Ok((bytecode, described))
        })
        .await
        .map_err(|e| fail(Step::StaticChecks, format!("static checks panicked: {e}")))?;
        let (bytecode, described) = checked.map_err(|e| {
            let msg = describe_call_error(&e);
            StageFailure {
                step: Step::StaticChecks,
                output: msg.clone(),
                error: msg,
                repairable: matches!(e, CallError::Tool(_)),
            }
        })?;
        emit(cb, "stage_finished", json!({"stage": Step::StaticChecks.as_str()}));

        let mut docker_ms = None;
        if self.verify == VerifyMode::Docker {
            emit(cb, "stage_started", json!({"stage": Step::DockerTests.as_str()}));
            let Some(sandbox) = &self.sandbox else {
                return Err(fail(
                    Step::DockerTests,
                    "Docker verification was asked for but Docker is not available: start Docker (and run `toolsmith sandbox build`), or pass --verify wasm-only",
                ));
            };
            let r = sandbox
                .verify_tool(&c.name, &c.code, &c.tests, &c.data_files)
                .await
                .map_err(|e| fail(Step::DockerTests, e.to_string()))?;
            if !r.success {
                return Err(StageFailure {
                    step: Step::DockerTests,
                    error: r.error.unwrap_or_else(|| "tests failed in the Docker sandbox".into()),
                    output: r.output,
                    repairable: true,
                });
            }
            docker_ms = Some(r.duration_ms);
            emit(cb, "stage_finished", json!({"stage": Step::DockerTests.as_str(), "duration_ms": r.duration_ms}));
        }

        emit(cb, "stage_started", json!({"stage": Step::WasmTests.as_str()}));
        let (rt, bc, name, tests, data) =
            (self.runtime.clone(), bytecode.clone(), c.name.clone(), c.tests.clone(), c.data_files.clone());
        let report = tokio::task::spawn_blocking(move || -> Result<_, StageFailure> {
            let scratch =
                tempfile::tempdir().map_err(|e| fail(Step::WasmTests, format!("no scratch directory: {e}")))?;
            let grants = stage_data_files(scratch.path(), &data).map_err(|e| fail(Step::WasmTests, e))?;
            let tmp = scratch.path().join(".tmp_path");
            std::fs::create_dir_all(&tmp).map_err(|e| fail(Step::WasmTests, e.to_string()))?;
            let opts = TestOptions { grants, tmp_path: Some(tmp), ..TestOptions::default() };
            rt.run_tests(&bc, &name, &tests, &opts).map_err(|e| {
                let msg = describe_call_error(&e);
                StageFailure {
                    step: Step::WasmTests,
                    error: msg.clone(),
                    output: msg,
                    repairable: matches!(e, CallError::Tool(_)),
                }
            })
        })
        .await
        .map_err(|e| fail(Step::WasmTests, format!("WASM tests panicked: {e}")))??;
        if !report.success() {
            let error = if report.passed + report.failed + report.errors == 0 {
                "the test module defines no tests".to_string()
            } else {
                format!(
                    "{} failed, {} errors, {} passed in the WASM runtime",
                    report.failed, report.errors, report.passed
                )
            };
            return Err(StageFailure { step: Step::WasmTests, error, output: report.output, repairable: true });
        }
        emit(cb, "stage_finished", json!({"stage": Step::WasmTests.as_str(), "passed": report.passed}));

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

    /// Register a verified tool (one transaction, with its embedding).
    pub async fn register(&self, c: &Candidate, v: &Verified, cb: Callback<'_>) -> Result<ToolRecord, StageFailure> {
        emit(cb, "stage_started", json!({"stage": Step::Register.as_str()}));
        let (reg, c2, v2, label) = (self.registry.clone(), c.clone(), v.clone(), self.verify.label());
        let rec = tokio::task::spawn_blocking(move || {
            let mut reg = reg.lock().unwrap_or_else(|p| p.into_inner());
            reg.add_tool(&NewTool {
                name: &c2.name,
                code: &c2.code,
                tests: &c2.tests,
                docstring: &v2.docstring,
                parameters: &v2.parameters,
                returns: &v2.returns,
                bytecode: &v2.bytecode,
                verification: label,
            })
        })
        .await
        .map_err(|e| fail(Step::Register, format!("registration panicked: {e}")))?
        .map_err(|e| fail(Step::Register, format!("{e:#}")))?;
        emit(cb, "stage_finished", json!({"stage": Step::Register.as_str(), "tool_name": rec.name}));
        Ok(rec)
    }

    /// `toolsmith tools add`: verify code written by hand and register it.
    pub async fn verify_and_register(&self, c: &Candidate, cb: Callback<'_>) -> Result<ToolRecord, StageFailure> {
        self.check_free(&c.name, Step::StaticChecks).await?;
        let v = self.verify(c, cb).await?;
        self.register(c, &v, cb).await
    }

    async fn check_free(&self, name: &str, step: Step) -> Result<(), StageFailure> {
        let (reg, n) = (self.registry.clone(), name.to_string());
        let exists =
            tokio::task::spawn_blocking(move || reg.lock().unwrap_or_else(|p| p.into_inner()).store().exists(&n))
                .await
                .map_err(|e| fail(step, e.to_string()))?
                .map_err(|e| fail(step, e.to_string()))?;
        if exists {
            return Err(fail(step, store::StoreError::Exists(name.into()).to_string()));
        }
        Ok(())
    }

    /// The seed's `synthesize_capability`.
    pub async fn synthesize_capability(&self, prompt: &str, cb: Callback<'_>) -> SynthesisResult {
        let mut r = SynthesisResult {
            success: false,
            tool_name: String::new(),
            spec: None,
            code: String::new(),
            tests: String::new(),
            metadata: json!({}),
            tests_verified: false,
            error: None,
            step: None,
            output: String::new(),
        };
        let failed = |mut r: SynthesisResult, f: StageFailure| {
            emit(cb, "stage_failed", json!({"stage": f.step.as_str(), "error": f.error}));
            r.error = Some(f.error);
            r.step = Some(f.step.as_str().into());
            r.output = f.output;
            r
        };
        let Some(llm) = &self.llm else {
            return failed(r, fail(Step::Spec, crate::llm::LlmError::NotConfigured.to_string()));
        };

        emit(cb, "stage_started", json!({"stage": Step::Spec.as_str()}));
        let spec = match llm.generate_spec(prompt).await {
            Ok(s) => s,
            Err(e) => return failed(r, fail(Step::Spec, e.to_string())),
        };
        r.tool_name = spec.function_name.clone();
        r.spec = Some(spec.clone());
        if let Err(e) = store::validate_name(&spec.function_name) {
            return failed(r, fail(Step::Spec, e.to_string()));
        }
        if let Err(f) = self.check_free(&spec.function_name, Step::Spec).await {
            return failed(r, f);
        }
        emit(cb, "stage_finished", json!({"stage": Step::Spec.as_str(), "function_name": spec.function_name}));

        emit(cb, "stage_started", json!({"stage": Step::Tests.as_str()}));
        r.tests = match llm.generate_tests(&spec).await {
            Ok(t) => t,
            Err(e) => return failed(r, fail(Step::Tests, e.to_string())),
        };
        emit(cb, "stage_finished", json!({"stage": Step::Tests.as_str()}));

        emit(cb, "stage_started", json!({"stage": Step::Implementation.as_str()}));
        r.code = match llm.generate_implementation(&spec, &r.tests).await {
            Ok(c) => c,
            Err(e) => return failed(r, fail(Step::Implementation, e.to_string())),
        };
        emit(cb, "stage_finished", json!({"stage": Step::Implementation.as_str()}));

        let mut round = 0;
        let verified = loop {
            let candidate = Candidate {
                name: spec.function_name.clone(),
                code: r.code.clone(),
                tests: r.tests.clone(),
                docstring: Some(spec.docstring.clone()),
                data_files: BTreeMap::new(),
            };
            match self.verify(&candidate, cb).await {
                Ok(v) => break (candidate, v),
                Err(f) if f.repairable && round < self.repair_rounds => {
                    round += 1;
                    emit(cb, "repair", json!({"round": round, "stage": f.step.as_str(), "error": f.error}));
                    let feedback = if f.output.is_empty() { f.error.clone() } else { f.output.clone() };
                    match llm.repair_implementation(&spec, &r.tests, &r.code, &feedback).await {
                        Ok(code) => r.code = code,
                        Err(e) => return failed(r, fail(Step::Implementation, e.to_string())),
                    }
                }
                Err(f) => return failed(r, f),
            }
        };
        let (candidate, v) = verified;
        r.tests_verified = true;
        match self.register(&candidate, &v, cb).await {
            Ok(rec) => {
                r.success = true;
                r.metadata = json!({
                    "file_path": rec.file_path,
                    "test_path": rec.test_path,
                    "parameters": rec.parameters,
                    "verification": rec.verification,
                    "repair_rounds": round,
                    "wasm_tests_passed": v.wasm_tests,
                    "docker_ms": v.docker_ms,
                    "timestamp": rec.timestamp,
                });
                r
            }
            Err(f) => failed(r, f),
        }
    }
}

/// Write data files under `root` at their relative paths and grant each top-level directory
/// read-only at its own name, as the Docker sandbox shows them (cwd-relative).
fn stage_data_files(root: &Path, files: &BTreeMap<String, Vec<u8>>) -> Result<Vec<Grant>, String> {
    let mut tops: Vec<String> = vec![];
    for (rel, bytes) in files {
        let p = Path::new(rel);
        if p.is_absolute() || p.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
            return Err(format!("data file {rel:?} must be a relative path inside the data directory"));
        }
        let mut comps = p.components();
        let top = comps.next().map(|c| c.as_os_str().to_string_lossy().into_owned()).unwrap_or_default();
        if comps.next().is_none() {
            return Err(format!(
                "data file {rel:?} must sit in a directory (e.g. data/{rel}), which the tool is granted"
            ));
        }
        let dest: PathBuf = root.join(p);
        std::fs::create_dir_all(dest.parent().expect("has a parent")).map_err(|e| e.to_string())?;
        std::fs::write(&dest, bytes).map_err(|e| e.to_string())?;
        if !tops.contains(&top) {
            tops.push(top);
        }
    }
    Ok(tops.into_iter().map(|t| Grant { host_path: root.join(&t), guest_path: t, writable: false }).collect())
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

/// Whether the engine will need the model (synthesis) or not (`tools add`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NeedsLlm {
    Yes,
    No,
}

impl SynthesisEngine {
    /// Open everything the pipeline needs, failing early (before any model call) with what to fix:
    /// no Docker or no image when Docker verification is asked for, no model configured.
    pub async fn open(
        paths: &crate::config::Paths,
        verify: VerifyMode,
        needs_llm: NeedsLlm,
    ) -> anyhow::Result<SynthesisEngine> {
        let sandbox = match verify {
            VerifyMode::WasmOnly => None,
            VerifyMode::Docker => {
                let sb = SecureSandbox::connect().await?;
                if sb.image_info().await?.is_none() {
                    anyhow::bail!(crate::sandbox::SandboxError::ImageMissing { tag: sb.image().to_string() });
                }
                Some(sb)
            }
        };
        let p = paths.clone();
        let (runtime, registry) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let rt = crate::runtime::open(&p, crate::runtime::Usage::OneShot)?;
            let reg = CapabilityRegistry::open(&p)?;
            Ok((Arc::new(rt), Arc::new(Mutex::new(reg))))
        })
        .await??;
        let llm = match needs_llm {
            NeedsLlm::No => None,
            NeedsLlm::Yes => {
                let rt = runtime.clone();
                let allowed = tokio::task::spawn_blocking(move || rt.allowed_modules()).await??;
                Some(LlmClient::from_env()?.with_allowed_modules(allowed))
            }
        };
        Ok(SynthesisEngine { llm, sandbox, runtime, registry, verify, repair_rounds: DEFAULT_REPAIR_ROUNDS })
    }
}
