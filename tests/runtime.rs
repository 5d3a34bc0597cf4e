//! The WASM runtime, driven by fixtures: `tests/fixtures/tools/NAME/{tool.py,cases.json}`.
//! Each case calls a function with JSON arguments and expects a result or an error type; a
//! normal call follows every failing case to show the runtime keeps serving.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::Value;
use toolsmith::executor::{RunOptions, RunOutcome, run_source};
use toolsmith::runtime::{self, Usage};
use toolsmith_host::{CallOptions, Grant, Limits, Runtime};

fn rt() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        runtime::open(&toolsmith::Config::from_env().unwrap(), Usage::Serving)
            .unwrap_or_else(|e| panic!("the runtime must be built for these tests (scripts/setup.sh): {e}"))
    })
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tools")
}

fn limits_of(case: &Value) -> Limits {
    let mut l = Limits::default();
    if let Some(o) = case.get("limits") {
        if let Some(f) = o.get("fuel").and_then(Value::as_u64) {
            l.fuel = f;
        }
        if let Some(m) = o.get("memory_mb").and_then(Value::as_u64) {
            l.memory_bytes = (m as usize) << 20;
        }
        if let Some(t) = o.get("timeout_ms").and_then(Value::as_u64) {
            l.timeout = Duration::from_millis(t);
        }
    }
    l
}

fn check_case(dir: &Path, source: &str, case: &Value) -> Result<(), String> {
    let name = case["name"].as_str().unwrap_or("?");
    let function =
        case.get("function").and_then(Value::as_str).unwrap_or_else(|| dir.file_name().unwrap().to_str().unwrap());
    let grants = match case.get("grant").and_then(Value::as_str) {
        Some(g) => vec![Grant { host_path: dir.join(g), guest_path: g.to_string(), writable: false }],
        None => vec![],
    };
    let args = case["args"].to_string();
    let opts = RunOptions { limits: limits_of(case), grants, ..RunOptions::default() };
    let out = run_source(rt(), source, "tool.py", function, &args, &opts);
    let ctx = format!("{}: case {name:?}", dir.display());
    match (&out, case.get("result")) {
        (Ok(toolsmith::executor::RunOutput { result, stdout, .. }), Some(expected)) => {
            // Compare as text through serde_json's arbitrary precision: big integers must be exact.
            let got: Value = serde_json::from_str(result.get()).unwrap();
            if &got != expected {
                return Err(format!("{ctx}: expected {expected}, got {got}"));
            }
            if let Some(s) = case.get("stdout").and_then(Value::as_str)
                && stdout != s
            {
                return Err(format!("{ctx}: expected stdout {s:?}, got {stdout:?}"));
            }
            Ok(())
        }
        (Err(e), None) => {
            // A case names the error's kind (`timeout`, `invalid_arguments`) or, for a tool
            // error, the exception the tool raised (`ValueError`, `ImportNotAllowed`).
            let report = e.report();
            let (kind, error) = (report.error_type.as_str(), &report.error);
            let exception = report.exception.as_deref().unwrap_or("");
            let allowed: Vec<&str> = match case.get("error_type_any") {
                Some(v) => v.as_array().unwrap().iter().map(|x| x.as_str().unwrap()).collect(),
                None => vec![case["error_type"].as_str().expect("case has error_type")],
            };
            if !allowed.contains(&kind) && !allowed.contains(&exception) {
                return Err(format!("{ctx}: expected error {allowed:?}, got {kind} ({exception}): {error}"));
            }
            if let Some(s) = case.get("error_contains").and_then(Value::as_str)
                && !error.contains(s)
            {
                return Err(format!("{ctx}: error {error:?} does not mention {s:?}"));
            }
            if error.trim().is_empty() {
                return Err(format!("{ctx}: error without a message"));
            }
            Ok(())
        }
        (other, _) => {
            Err(format!("{ctx}: unexpected outcome {}", serde_json::to_string(&RunOutcome::of(other)).unwrap()))
        }
    }
}

#[test]
fn tool_fixtures() {
    let mut failures = vec![];
    let mut n = 0;
    let mut dirs: Vec<_> = std::fs::read_dir(fixtures()).unwrap().map(|e| e.unwrap().path()).collect();
    dirs.sort();
    for dir in dirs {
        let cases = dir.join("cases.json");
        if !cases.exists() {
            continue;
        }
        let source = std::fs::read_to_string(dir.join("tool.py")).unwrap();
        let cases: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(&cases).unwrap()).unwrap();
        for case in &cases {
            n += 1;
            if let Err(e) = check_case(&dir, &source, case) {
                failures.push(e);
            }
            // Whatever happened, the runtime serves the next call.
            let ok = run_source(rt(), "def ok():\n    return 1\n", "ok.py", "ok", "{}", &RunOptions::default());
            assert!(ok.is_ok(), "runtime stopped serving after {}: {:?}", dir.display(), ok.err());
        }
    }
    assert!(n >= 30, "expected the fixture set, found {n} cases");
    assert!(failures.is_empty(), "{} of {n} cases failed:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn hundred_concurrent_calls_from_threads() {
    let code = Arc::new(
        rt().compile("def square_sum(xs: list) -> int:\n    return sum(x * x for x in xs)\n", "sq.py").unwrap(),
    );
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let code = code.clone();
            std::thread::spawn(move || {
                (0..13)
                    .filter(|i| t * 13 + i < 100)
                    .map(|i| {
                        let k = (t * 13 + i) as i64;
                        // 10^20 is past i64 and f64 precision: it must survive as an exact integer.
                        let args = format!("{{\"xs\": [{k}, {}, 100000000000000000000]}}", k + 1);
                        let out = rt().call(&code, "square_sum", &args, &CallOptions::default()).unwrap();
                        // 10^40 + k² + (k+1)²: 41 digits, beyond every native integer type.
                        let want = format!("1{:040}", k * k + (k + 1) * (k + 1));
                        assert_eq!(out.result.get(), want, "call {k}");
                    })
                    .count()
            })
        })
        .collect();
    let total: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(total, 100);
}

/// Callers outpacing the janitors (8 threads against one janitor a core) drop their own stores;
/// the stock still fills again afterwards: no place of it is left claimed by a janitor.
#[test]
fn the_stock_refills_after_callers_outpaced_the_janitors() {
    let rt = Arc::new(runtime::open(&toolsmith::Config::from_env().unwrap(), Usage::Serving).unwrap());
    assert!(rt.wait_for_stock(Duration::from_secs(30)), "the stock fills at start");
    let code = Arc::new(rt.compile("def inc(n: int) -> int:\n    return n + 1\n", "inc.py").unwrap());
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let (rt, code) = (rt.clone(), code.clone());
            std::thread::spawn(move || {
                for i in 0..25 {
                    let out = rt.call(&code, "inc", &format!("{{\"n\": {}}}", t * 100 + i), &CallOptions::default());
                    assert_eq!(out.unwrap().result.get(), (t * 100 + i + 1).to_string());
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert!(rt.wait_for_stock(Duration::from_secs(30)), "the stock fills again");
}

#[test]
fn compile_error_names_the_line() {
    let e = rt().compile("def f(:\n    pass\n", "broken.py").unwrap_err();
    let toolsmith_host::CallError::Tool(e) = e else { panic!("expected a tool error, got {e}") };
    assert_eq!(e.error_type, "SyntaxError");
    assert_eq!(e.line, Some(1));
}

#[test]
fn bytecode_is_small_and_describe_gives_a_schema() {
    let src = std::fs::read_to_string(fixtures().join("greet/tool.py")).unwrap();
    let code = rt().compile(&src, "greet.py").unwrap();
    assert!(code.len() < 100 * 1024, "bytecode {} bytes", code.len());
    let d = rt().describe(&src, "greet").unwrap();
    let params = &d["parameters"];
    assert_eq!(params["properties"]["name"]["type"], "string");
    assert_eq!(params["required"], serde_json::json!(["name"]));
    assert_eq!(params["properties"]["greeting"]["default"], "Hello");
}

#[test]
fn tests_run_inside_the_runtime() {
    let src = std::fs::read_to_string(fixtures().join("factorial/tool.py")).unwrap();
    let code = rt().compile(&src, "factorial.py").unwrap();
    let tests = r#"
import pytest
from factorial import factorial

def test_small():
    assert factorial(5) == 120

@pytest.mark.parametrize("n,want", [(0, 1), (1, 1), (3, 6), (4, 25)])
def test_table(n, want):
    assert factorial(n) == want

def test_negative():
    with pytest.raises(ValueError, match="non-negative"):
        factorial(-1)
"#;
    let positional = vec!["n".to_string()];
    let tool = toolsmith_host::ToolUnderTest { code: &code, function: "factorial", positional: &positional };
    let report = rt().run_tests(tool, "factorial", tests, &Default::default()).unwrap();
    assert_eq!(report.tool_calls, 6, "each call of the tool ran in an instance of its own");
    assert_eq!((report.passed, report.failed), (5, 1), "{report:?}");
    let failed = report.tests.iter().find(|t| t.outcome == "failed").unwrap();
    assert!(
        failed.message.contains("24") && failed.message.contains("25"),
        "pytest-quality message: {}",
        failed.message
    );
    assert!(!report.success());
}
