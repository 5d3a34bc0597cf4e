//! The synthesis pipeline end to end: a scripted model (tests/support/llm_server.rs) on loopback,
//! the real WASM runtime, the real Docker sandbox and a registry in a temporary home. The
//! library is driven with a callback to see the stages; the `toolsmith` binary is driven as a
//! user would (`synthesize`, `tools add`, `tools count`, `run`).
//!
//! The model's replies live in `tests/fixtures/synthesis/fibonacci/`; `tools add` uses
//! `tests/fixtures/synthesis/sum_column/` (a tool reading `data/x.csv`).
//!
//! Tests that need Docker print a SKIPPED line and return when it is not running, unless
//! `TOOLSMITH_REQUIRE_DOCKER=1`, where they fail. Tests with `--verify wasm-only` always run.

mod support;

use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use serde_json::{Value, json};
use support::{LlmServer, Reply, Route, fixture, fixture_path};
use toolsmith::config::Paths;
use toolsmith::llm::LlmConfig;
use toolsmith::registry::Store;
use toolsmith::sandbox::{BuildMode, SandboxError, SecureSandbox};
use toolsmith::synthesis::{DEFAULT_REPAIR_ROUNDS, SynthesisEvent, SynthesisResult, VerifyMode};
use toolsmith::{Config, CreateOptions, Toolsmith, Usage};

const PROMPT: &str = "a function that returns the n-th Fibonacci number";

// ---------------------------------------------------------------------------------------------
// Docker, once per test binary

enum DockerState {
    Ready,
    Unavailable(String),
}

/// Whether `test` can use Docker. Connects and makes the image ready once per binary (on a
/// thread of its own, so sync tests and `#[tokio::test]`s can both ask). Without Docker: a
/// SKIPPED line and `false`, or a failure under `TOOLSMITH_REQUIRE_DOCKER=1`. A Docker that
/// answers but cannot provide the image is a failure either way.
fn docker(test: &str) -> bool {
    static STATE: OnceLock<Result<DockerState, String>> = OnceLock::new();
    let state = STATE.get_or_init(|| {
        std::thread::spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let sandbox = match SecureSandbox::connect().await {
                    Ok(s) => s,
                    Err(e @ SandboxError::DockerUnavailable { .. }) => {
                        return Ok(DockerState::Unavailable(e.to_string()));
                    }
                    Err(e) => return Err(e.to_string()),
                };
                let built = sandbox
                    .ensure_image(&toolsmith::Config::from_env().unwrap().paths.cache, BuildMode::Auto)
                    .await
                    .map_err(|e| e.to_string())?;
                eprintln!("sandbox image {} {:?} in {:.1} s", built.image.tag, built.method, built.seconds);
                Ok(DockerState::Ready)
            })
        })
        .join()
        .expect("the Docker probe panicked")
    });
    match state {
        Ok(DockerState::Ready) => true,
        Ok(DockerState::Unavailable(e)) => {
            if std::env::var("TOOLSMITH_REQUIRE_DOCKER").as_deref() == Ok("1") {
                panic!("{test}: Docker is required here (TOOLSMITH_REQUIRE_DOCKER=1): {e}");
            }
            eprintln!("SKIPPED {test}: {e} (set TOOLSMITH_REQUIRE_DOCKER=1 to fail instead)");
            false
        }
        Err(e) => panic!("{test}: Docker answers but the sandbox image is not available: {e}"),
    }
}

/// The verification modes `test` can run: wasm-only always, Docker when it is there.
fn modes(test: &str) -> Vec<VerifyMode> {
    let mut m = vec![VerifyMode::WasmOnly];
    if docker(test) {
        m.push(VerifyMode::Docker);
    }
    m
}

/// The stage where wrong code fails its tests in this mode.
fn test_stage(mode: VerifyMode) -> &'static str {
    match mode {
        VerifyMode::Docker => "docker_tests",
        VerifyMode::WasmOnly => "wasm_tests",
    }
}

// ---------------------------------------------------------------------------------------------
// The model's replies

fn reply(name: &str) -> Reply {
    Reply::chat(fixture(&format!("synthesis/fibonacci/{name}")))
}

fn spec() -> Reply {
    reply("spec.json")
}
fn tests() -> Reply {
    reply("tests.reply.md")
}
fn good() -> Reply {
    reply("implementation.reply.md")
}
/// Returns fibonacci(n - 1): `test_known_values[10-55]` fails with `assert 34 == 55`.
fn off_by_one() -> Reply {
    reply("implementation_off_by_one.reply.md")
}
fn imports_os() -> Reply {
    reply("implementation_imports_os.reply.md")
}

// ---------------------------------------------------------------------------------------------
// The library, with a callback

/// Paths for a fresh home sharing the test cache (the compiled runtime, the MiniLM model).
fn paths(home: &Path) -> Paths {
    config(home).paths
}

/// A configuration for a fresh home sharing the test cache, with no model.
fn config(home: &Path) -> Config {
    Config::from_env().unwrap().with_home(home)
}

/// The facade for `home`, asking `server` (no environment involved).
async fn facade(home: &Path, server: &LlmServer) -> Toolsmith {
    let mut c = LlmConfig::local(server.base_url());
    c.api_key = Some("sk-test".into());
    c.model = "scripted-model".into();
    c.retry_base_delay = Duration::from_millis(5);
    let mut config = config(home);
    config.llm = Ok(c);
    Toolsmith::open(config, Usage::OneShot).await.unwrap_or_else(|e| panic!("open: {e:#}"))
}

/// Every progress event, in order, as `(event, fields)`.
#[derive(Default)]
struct Events(Mutex<Vec<(String, Value)>>);

impl Events {
    fn record(&self, event: &SynthesisEvent) {
        let v = serde_json::to_value(event).unwrap();
        self.0.lock().unwrap().push((v["event"].as_str().unwrap().to_string(), v));
    }

    /// `started spec`, `finished spec`, `repair docker_tests`, `failed wasm_tests`, …
    fn trace(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(event, _)| event != "registered")
            .map(|(event, data)| {
                let stage = data["stage"].as_str().unwrap_or("?");
                match event.as_str() {
                    "stage_started" => format!("started {stage}"),
                    "stage_passed" => format!("finished {stage}"),
                    "stage_failed" => format!("failed {stage}"),
                    "repair_round" => format!("repair {stage}"),
                    other => format!("{other} {stage}"),
                }
            })
            .collect()
    }

    fn of(&self, event: &str) -> Vec<Value> {
        self.0.lock().unwrap().iter().filter(|(e, _)| e == event).map(|(_, d)| d.clone()).collect()
    }
}

/// The failing stage, error and output of a result.
fn step(r: &SynthesisResult) -> Option<&'static str> {
    r.error.as_ref().and_then(|e| e.stage).map(|s| s.as_str())
}
fn error(r: &SynthesisResult) -> Option<&str> {
    r.error.as_ref().map(|e| e.error.as_str())
}
fn output(r: &SynthesisResult) -> &str {
    r.error.as_ref().and_then(|e| e.output.as_deref()).unwrap_or("")
}
fn meta(r: &SynthesisResult) -> Value {
    serde_json::to_value(&r.metadata).unwrap()
}

/// `started s`, `finished s` for each stage.
fn through(stages: &[&str]) -> Vec<String> {
    stages.iter().flat_map(|s| [format!("started {s}"), format!("finished {s}")]).collect()
}

/// The verification stages of a mode, in order.
fn verification(mode: VerifyMode) -> Vec<&'static str> {
    match mode {
        VerifyMode::Docker => vec!["static_checks", "docker_tests", "wasm_tests"],
        VerifyMode::WasmOnly => vec!["static_checks", "wasm_tests"],
    }
}

/// One synthesis of [`PROMPT`] in a fresh home, the model answering `replies` in order.
struct Run {
    home: tempfile::TempDir,
    server: LlmServer,
    events: Events,
    r: SynthesisResult,
}

async fn synthesize(mode: VerifyMode, replies: impl IntoIterator<Item = Reply>) -> Run {
    synthesize_with(mode, DEFAULT_REPAIR_ROUNDS, replies).await
}

async fn synthesize_with(mode: VerifyMode, repair_rounds: u32, replies: impl IntoIterator<Item = Reply>) -> Run {
    let home = tempfile::tempdir().unwrap();
    let server = LlmServer::start();
    server.on_chat(replies);
    let ts = facade(home.path(), &server).await;
    let events = Events::default();
    let cb = |e: &SynthesisEvent| events.record(e);
    let r = ts
        .synthesize_capability(PROMPT, CreateOptions { verify: mode, repair_rounds }, &cb)
        .await
        .unwrap_or_else(|e| panic!("synthesis could not start: {e}"));
    Run { home, server, events, r }
}

impl Run {
    fn store(&self) -> Store {
        let p = paths(self.home.path());
        Store::open(&p.db_path(), &p.tools_dir(), &p.lock_file()).unwrap()
    }

    fn count(&self) -> usize {
        self.store().count().unwrap()
    }

    fn assert_nothing_registered(&self, ctx: &str) {
        assert_eq!(self.count(), 0, "{ctx}: a tool was registered");
        assert_eq!(tool_dirs(self.home.path()), Vec::<String>::new(), "{ctx}: files left in tools/");
    }
}

/// What is in `$TOOLSMITH_HOME/tools/` (tool directories and any staging debris).
fn tool_dirs(home: &Path) -> Vec<String> {
    match std::fs::read_dir(paths(home).tools_dir()) {
        Ok(entries) => entries.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect(),
        Err(_) => vec![],
    }
}

#[tokio::test]
async fn stages_run_in_order_and_the_tool_is_registered() {
    if !docker("stages_run_in_order_and_the_tool_is_registered") {
        return;
    }
    let run = synthesize(VerifyMode::Docker, [spec(), tests(), good()]).await;
    let r = &run.r;
    assert!(r.success, "{r:#?}");
    assert!(r.tests_verified);
    assert_eq!((error(r), step(r)), (None, None));
    assert_eq!(r.tool_name, "fibonacci");
    let stages = ["spec", "tests", "implementation", "static_checks", "docker_tests", "wasm_tests", "register"];
    assert_eq!(run.events.trace(), through(&stages));
    let finished = run.events.of("stage_passed");
    assert_eq!(finished[0]["detail"], "fibonacci");
    assert!(finished[4]["detail"].as_str().unwrap().ends_with(" ms"), "{finished:?}");
    assert_eq!(run.events.of("registered")[0]["tool_name"], "fibonacci");

    // The code is the fenced block out of the chatter, not the usage example after it.
    assert_eq!(r.code, fixture("synthesis/fibonacci/implementation.expected.py"));
    assert!(r.tests.starts_with("import pytest\nfrom fibonacci import fibonacci\n"), "{}", r.tests);
    let m = &meta(r);
    assert_eq!(m["verification"], "docker+wasm");
    assert_eq!(m["repair_rounds"], 0);
    assert_eq!(m["wasm_tests_passed"], 7, "5 parametrized cases and 2 tests: {m}");
    assert!(m["docker_ms"].as_u64().is_some(), "{m}");
    assert_eq!(m["parameters"]["required"], json!(["n"]), "{m}");

    assert_eq!(run.count(), 1);
    let rec = run.store().get("fibonacci").unwrap().expect("registered");
    assert_eq!(rec.verification, "docker+wasm");
    assert_eq!(rec.code, r.code);
    // The spec's docstring is what gets indexed.
    assert_eq!(rec.docstring, r.spec.as_ref().unwrap().docstring);

    // The model was asked three times, in order, each with what the previous stage produced.
    let reqs = run.server.chat_requests();
    assert_eq!(reqs.len(), 3);
    assert!(reqs[0].user().contains(PROMPT), "{}", reqs[0].user());
    assert!(reqs[1].prompt().contains("def fibonacci(n: int) -> int"), "{}", reqs[1].prompt());
    assert!(reqs[2].user().contains("def test_negative_raises():"), "{}", reqs[2].user());
    assert!(reqs[2].system().contains("csv"), "the allow-list is in the prompt: {}", reqs[2].system());
}

#[tokio::test]
async fn a_failing_implementation_is_repaired_from_its_test_output() {
    for mode in modes("a_failing_implementation_is_repaired_from_its_test_output") {
        let ctx = format!("{mode:?}");
        let run = synthesize(mode, [spec(), tests(), off_by_one(), good()]).await;
        let r = &run.r;
        assert!(r.success, "{ctx}: {r:#?}");
        assert_eq!(meta(r)["repair_rounds"], 1, "{ctx}");
        assert_eq!(meta(r)["verification"], mode.label(), "{ctx}");
        assert_eq!(r.code, fixture("synthesis/fibonacci/implementation.expected.py"), "{ctx}");
        let failing = test_stage(mode);
        let mut expected = through(&["spec", "tests", "implementation"]);
        let before: Vec<&str> = verification(mode).into_iter().take_while(|s| *s != failing).collect();
        expected.extend(through(&before));
        expected.push(format!("started {failing}"));
        expected.push(format!("repair {failing}"));
        expected.extend(through(&verification(mode)));
        expected.extend(through(&["register"]));
        assert_eq!(run.events.trace(), expected, "{ctx}");
        assert_eq!(run.events.of("repair_round")[0]["round"], 1, "{ctx}");

        // The repair request shows the model the failing test's output and the code that failed.
        let reqs = run.server.chat_requests();
        assert_eq!(reqs.len(), 4, "{ctx}");
        let repair = reqs[3].user();
        for part in ["assert 34 == 55", "range(n - 1)", "def test_negative_raises"] {
            assert!(repair.contains(part), "{ctx}: {part:?} not in the repair request:\n{repair}");
        }
        assert!(reqs[3].system().contains("fix"), "{ctx}: {}", reqs[3].system());
        assert_eq!(run.count(), 1, "{ctx}");
        // The request, then the spec's example requests, are the tool's first examples (the
        // spec's last one is the request again, and kept once).
        let examples: Vec<String> = run.store().examples("fibonacci").unwrap().into_iter().map(|e| e.text).collect();
        let expected = [PROMPT, "what is the 10th fibonacci number", "fib(25)?", "give me fibonacci of 7"];
        assert_eq!(examples, expected, "{ctx}");
    }
}

#[tokio::test]
async fn an_implementation_that_never_passes_is_not_registered() {
    for mode in modes("an_implementation_that_never_passes_is_not_registered") {
        let ctx = format!("{mode:?}");
        // The first implementation and one per repair round (2 by default).
        assert_eq!(DEFAULT_REPAIR_ROUNDS, 2);
        let run = synthesize(mode, [spec(), tests(), off_by_one(), off_by_one(), off_by_one()]).await;
        let r = &run.r;
        let failing = test_stage(mode);
        assert!(!r.success, "{ctx}: {r:#?}");
        assert!(!r.tests_verified, "{ctx}");
        assert_eq!(step(r), Some(failing), "{ctx}: {r:#?}");
        assert!(output(r).contains("assert 34 == 55"), "{ctx}: the failing output is kept: {}", output(r));
        assert!(error(r).is_some_and(|e| e.contains("failed")), "{ctx}: {:?}", r.error);
        let trace = run.events.trace();
        assert_eq!(run.events.of("repair_round").len(), 2, "{ctx}: {trace:?}");
        assert_eq!(trace.last(), Some(&format!("failed {failing}")), "{ctx}");
        assert!(!trace.contains(&"started register".to_string()), "{ctx}");
        assert_eq!(run.server.chat_requests().len(), 5, "{ctx}");
        assert_eq!(run.server.unused(Route::Chat), 0, "{ctx}");
        run.assert_nothing_registered(&ctx);
    }
}

#[tokio::test]
async fn a_spec_with_a_wrong_type_is_corrected() {
    let run = synthesize(VerifyMode::WasmOnly, [reply("spec_wrong_type.json"), spec(), tests(), good()]).await;
    assert!(run.r.success, "{:#?}", run.r);
    assert_eq!(meta(&run.r)["verification"], "wasm-only");
    let stages = ["spec", "tests", "implementation", "static_checks", "wasm_tests", "register"];
    assert_eq!(run.events.trace(), through(&stages), "no docker_tests in wasm-only mode");
    let reqs = run.server.chat_requests();
    assert_eq!(reqs.len(), 4);
    assert!(
        reqs[1].user().contains(r#"parameters[0].type: "int""#),
        "the correction shows the mistake: {}",
        reqs[1].user()
    );
    assert_eq!(run.count(), 1);
}

#[tokio::test]
async fn a_spec_that_stays_wrong_fails_at_spec() {
    let wrong = || reply("spec_wrong_type.json");
    let run = synthesize(VerifyMode::WasmOnly, [wrong(), wrong(), tests()]).await;
    assert!(!run.r.success);
    assert_eq!(step(&run.r), Some("spec"), "{:#?}", run.r);
    let error = error(&run.r).unwrap();
    let expected = r#"parameters[0].type: "int" is not one of "string", "integer", "number", "boolean", "array", "object", "null""#;
    assert!(error.contains(expected), "{error}");
    assert_eq!(run.events.trace(), ["started spec", "failed spec"]);
    assert_eq!(run.server.chat_requests().len(), 2, "no tests are asked for after a bad spec");
    run.assert_nothing_registered("wrong spec");
}

#[tokio::test]
async fn a_reserved_name_fails_at_spec() {
    let run = synthesize(VerifyMode::WasmOnly, [reply("spec_reserved_name.json"), tests(), good()]).await;
    assert!(!run.r.success);
    assert_eq!(step(&run.r), Some("spec"), "{:#?}", run.r);
    assert_eq!(run.r.tool_name, "list_tools");
    let error = error(&run.r).unwrap();
    assert!(error.contains("list_tools") && error.contains("reserved"), "{error}");
    assert_eq!(run.events.trace(), ["started spec", "failed spec"]);
    assert_eq!(run.server.chat_requests().len(), 1);
    run.assert_nothing_registered("reserved name");
}

#[tokio::test]
async fn an_import_outside_the_allow_list_fails_static_checks_and_is_repaired() {
    // Static checks come before either test stage, so the mode does not matter here.
    let run = synthesize(VerifyMode::WasmOnly, [spec(), tests(), imports_os(), good()]).await;
    assert!(run.r.success, "{:#?}", run.r);
    assert_eq!(meta(&run.r)["repair_rounds"], 1);
    let mut expected = through(&["spec", "tests", "implementation"]);
    expected.push("started static_checks".into());
    expected.push("repair static_checks".into());
    expected.extend(through(&["static_checks", "wasm_tests", "register"]));
    assert_eq!(run.events.trace(), expected);
    let repair = run.server.chat_requests()[3].user();
    assert!(repair.contains("import not allowed") && repair.contains("'os'"), "{repair}");

    // Without repairs, the same code stops at static_checks and nothing is registered.
    let run = synthesize_with(VerifyMode::WasmOnly, 0, [spec(), tests(), imports_os()]).await;
    assert!(!run.r.success);
    assert_eq!(step(&run.r), Some("static_checks"), "{:#?}", run.r);
    let error = error(&run.r).unwrap();
    assert!(error.contains("import not allowed") && error.contains("'os'"), "{error}");
    run.assert_nothing_registered("import os");
}

// ---------------------------------------------------------------------------------------------
// The binary

/// `toolsmith` with a fresh home, the shared cache, and no model configuration from outside.
fn toolsmith(home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_toolsmith"));
    c.env("TOOLSMITH_HOME", home)
        .env("TOOLSMITH_CACHE", toolsmith::Config::from_env().unwrap().paths.cache)
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL")
        .env_remove("TOOLSMITH_MODEL");
    c
}

/// `toolsmith` pointed at the scripted model.
fn toolsmith_with(home: &Path, server: &LlmServer) -> Command {
    let mut c = toolsmith(home);
    c.env("OPENAI_BASE_URL", server.base_url())
        .env("OPENAI_API_KEY", "sk-test")
        .env("TOOLSMITH_MODEL", "scripted-model");
    c
}

fn run(mut c: Command) -> Output {
    c.output().expect("run toolsmith")
}

/// stdout as one JSON value, or a failure showing both streams.
fn json_of(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n--- stdout\n{}\n--- stderr\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn cli_count(home: &Path) -> u64 {
    let mut c = toolsmith(home);
    c.args(["tools", "count", "--json"]);
    let o = run(c);
    assert!(o.status.success(), "{}", stderr(&o));
    json_of(&o)["count"].as_u64().unwrap()
}

fn synthesize_cmd(home: &Path, server: &LlmServer, extra: &[&str]) -> Command {
    let mut c = toolsmith_with(home, server);
    c.args(["synthesize", PROMPT, "--json"]).args(extra);
    c
}

#[test]
fn synthesize_then_run_from_the_command_line() {
    if !docker("synthesize_then_run_from_the_command_line") {
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let server = LlmServer::start();
    server.on_chat([spec(), tests(), good()]);
    let o = run(synthesize_cmd(home.path(), &server, &[]));
    let r = json_of(&o);
    assert!(o.status.success(), "{r:#}\n{}", stderr(&o));
    assert_eq!(r["success"], true, "{r:#}");
    assert_eq!(r["tests_verified"], true);
    assert_eq!(r["tool_name"], "fibonacci");
    assert_eq!(r["metadata"]["verification"], "docker+wasm", "Docker is the default");
    assert_eq!(r["spec"]["function_name"], "fibonacci");
    assert!(r.get("error").is_none() && r.get("stage").is_none(), "{r:#}");

    // The environment reached the client: endpoint, key and model.
    let reqs = server.chat_requests();
    assert_eq!(reqs.len(), 3);
    assert_eq!(reqs[0].header("authorization"), Some("Bearer sk-test"));
    assert_eq!(reqs[0].json()["model"], "scripted-model");

    assert_eq!(cli_count(home.path()), 1);
    let mut c = toolsmith(home.path());
    c.args(["run", "fibonacci", "--args", r#"{"n": 10}"#, "--json"]);
    let o = run(c);
    let out = json_of(&o);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    assert_eq!(out["success"], true, "{out}");
    assert_eq!(out["result"], 55, "{out}");
}

#[test]
fn synthesize_that_never_passes_fails_and_registers_nothing() {
    let home = tempfile::tempdir().unwrap();
    let server = LlmServer::start();
    server.on_chat([spec(), tests(), off_by_one(), off_by_one(), good()]);
    let o = run(synthesize_cmd(home.path(), &server, &["--verify", "wasm-only", "--repair-rounds", "1"]));
    let r = json_of(&o);
    assert!(!o.status.success(), "{r:#}");
    assert_eq!(r["success"], false);
    assert_eq!(r["tests_verified"], false);
    assert_eq!(r["stage"], "wasm_tests", "{r:#}");
    assert_eq!(r["error_type"], "verification_failed", "{r:#}");
    assert!(r["output"].as_str().unwrap().contains("assert 34 == 55"), "{r:#}");
    assert_eq!(server.chat_requests().len(), 4, "spec, tests, implementation, one repair");
    assert_eq!(server.unused(Route::Chat), 1);
    assert_eq!(cli_count(home.path()), 0);
    assert_eq!(tool_dirs(home.path()), Vec::<String>::new());
}

#[test]
fn no_model_configured_names_openai_api_key() {
    let home = tempfile::tempdir().unwrap();
    let mut c = toolsmith(home.path());
    c.args(["synthesize", PROMPT, "--verify", "wasm-only", "--json"]);
    let o = run(c);
    assert!(!o.status.success());
    // Under --json the early failure is one JSON object on stdout.
    let r = json_of(&o);
    assert_eq!(r["success"], false, "{r}");
    assert!(r["error"].as_str().unwrap().contains("no LLM configured: set OPENAI_API_KEY"), "{r}");
    assert_eq!(r["error_type"], "not_configured", "{r}");
    assert_eq!(cli_count(home.path()), 0);
}

#[test]
fn an_unreachable_docker_names_verify_wasm_only() {
    let home = tempfile::tempdir().unwrap();
    let socket = format!("unix://{}", home.path().join("no-docker.sock").display());
    let server = LlmServer::start();
    server.on_chat([spec(), tests(), good()]);

    let mut c = synthesize_cmd(home.path(), &server, &["--verify", "docker"]);
    c.env("DOCKER_HOST", &socket);
    let o = run(c);
    assert!(
        !o.status.success(),
        "synthesize with DOCKER_HOST={socket} succeeded:\n{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let r = json_of(&o);
    assert!(r["error"].as_str().unwrap().contains("--verify wasm-only"), "{r}");
    assert_eq!(r["error_type"], "sandbox", "{r}");
    assert_eq!(server.chat_requests().len(), 0, "Docker is checked before the model is asked");

    let data = fixture_path("synthesis/sum_column");
    let mut c = toolsmith(home.path());
    c.current_dir(&data).env("DOCKER_HOST", &socket).args([
        "tools",
        "add",
        "--name",
        "sum_column",
        "--code",
        "tool.py",
        "--tests",
        "test_tool.py",
        "--data",
        "data/",
    ]);
    let o = run(c);
    let err = stderr(&o);
    assert!(
        !o.status.success(),
        "tools add with DOCKER_HOST={socket} succeeded:\n{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(err.contains("--verify wasm-only"), "{err}");
    assert_eq!(cli_count(home.path()), 0);
}

/// One `toolsmith tools add` case on `tests/fixtures/synthesis/sum_column/`.
struct AddCase {
    case: &'static str,
    code: &'static str,
    tests: &'static str,
    verify: VerifyMode,
    /// Ok(verification recorded) or Err((failing step, text in the error or output)).
    expect: Result<&'static str, (&'static str, &'static str)>,
}

const ADD_CASES: &[AddCase] = &[
    AddCase {
        case: "correct, with data files",
        code: "tool.py",
        tests: "test_tool.py",
        verify: VerifyMode::Docker,
        expect: Ok("docker+wasm"),
    },
    AddCase {
        case: "correct, wasm-only",
        code: "tool.py",
        tests: "test_tool.py",
        verify: VerifyMode::WasmOnly,
        expect: Ok("wasm-only"),
    },
    AddCase {
        case: "wrong, refused by pytest in Docker",
        code: "tool_wrong.py",
        tests: "test_tool.py",
        verify: VerifyMode::Docker,
        expect: Err(("docker_tests", "assert 3.5 == 6.5")),
    },
    AddCase {
        case: "wrong, refused by the WASM tests",
        code: "tool_wrong.py",
        tests: "test_tool.py",
        verify: VerifyMode::WasmOnly,
        expect: Err(("wasm_tests", "assert 3.5 == 6.5")),
    },
    AddCase {
        // Real pytest has capsys, so Docker passes; the WASM runtime says it has not.
        case: "capsys, unsupported in the WASM runtime",
        code: "tool.py",
        tests: "test_tool_capsys.py",
        verify: VerifyMode::Docker,
        expect: Err(("wasm_tests", "fixture 'capsys' is not supported in the WASM runtime")),
    },
];

#[test]
fn tools_add_verifies_before_registering() {
    let dir = fixture_path("synthesis/sum_column");
    let mut failures = vec![];
    for c in ADD_CASES {
        if c.verify == VerifyMode::Docker && !docker(&format!("tools_add_verifies_before_registering: {}", c.case)) {
            continue;
        }
        let home = tempfile::tempdir().unwrap();
        let mut cmd = toolsmith(home.path());
        let verify = if c.verify == VerifyMode::Docker { "docker" } else { "wasm-only" };
        cmd.current_dir(&dir).args(["tools", "add", "--name", "sum_column", "--code", c.code, "--tests", c.tests]);
        cmd.args(["--data", "data/", "--verify", verify, "--json"]);
        let o = run(cmd);
        let out = json_of(&o);
        let problem = match c.expect {
            Ok(verification) => check_added(home.path(), &dir, &o, &out, verification),
            Err((step, text)) => check_refused(home.path(), &o, &out, step, text),
        };
        if let Err(p) = problem {
            failures.push(format!("{}: {p}\n{out:#}\n{}", c.case, stderr(&o)));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

fn check_added(home: &Path, dir: &Path, o: &Output, out: &Value, verification: &str) -> Result<(), String> {
    if !o.status.success() || out["success"] != true {
        return Err("not registered".into());
    }
    if out["tool"]["verification"] != verification {
        return Err(format!("verification {} instead of {verification}", out["tool"]["verification"]));
    }
    let mut list = toolsmith(home);
    list.args(["tools", "list", "--json"]);
    let listed = json_of(&run(list));
    if listed[0]["verification"] != verification || listed.as_array().map(Vec::len) != Some(1) {
        return Err(format!("tools list shows {listed}"));
    }
    // The registered tool runs on the same data, granted by the user this time.
    let mut r = toolsmith(home);
    r.current_dir(dir).args(["run", "sum_column", "--args", r#"{"path": "data/x.csv", "column": "qty"}"#]);
    r.args(["--allow-read", "data", "--json"]);
    let ran = json_of(&run(r));
    if ran["result"] != json!(12.0) {
        return Err(format!("run gave {ran}"));
    }
    Ok(())
}

fn check_refused(home: &Path, o: &Output, out: &Value, step: &str, text: &str) -> Result<(), String> {
    if o.status.success() || out["success"] != false {
        return Err("registered".into());
    }
    if out["stage"] != step {
        return Err(format!("failed at {} instead of {step}", out["stage"]));
    }
    let said = format!("{} {}", out["error"].as_str().unwrap_or(""), out["output"].as_str().unwrap_or(""));
    if !said.contains(text) {
        return Err(format!("{text:?} is not in the error or the output"));
    }
    if cli_count(home) != 0 || !tool_dirs(home).is_empty() {
        return Err("something was left in the registry".into());
    }
    Ok(())
}
