//! The JSON Schemas in `schemas/` describe what really crosses the boundaries: real outputs of
//! the CLI and the library are validated against them here, so a schema cannot drift from the code.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn schemas_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas")
}

/// Resolves `https://toolsmith.dev/schemas/NAME` to `schemas/NAME`: no network.
struct LocalSchemas;

impl jsonschema::Retrieve for LocalSchemas {
    fn retrieve(&self, uri: &jsonschema::Uri<String>) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let name = uri.as_str().rsplit('/').next().unwrap_or_default();
        Ok(serde_json::from_str(&std::fs::read_to_string(schemas_dir().join(name))?)?)
    }
}

fn check(schema_file: &str, instance: &Value) {
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(schemas_dir().join(schema_file)).unwrap()).unwrap();
    let v = jsonschema::options().with_retriever(LocalSchemas).build(&schema).unwrap();
    let errors: Vec<String> = v.iter_errors(instance).map(|e| format!("{}: {e}", e.instance_path())).collect();
    assert!(errors.is_empty(), "{schema_file} rejects {instance:#}:\n{}", errors.join("\n"));
}

fn toolsmith(home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_toolsmith"));
    c.env("TOOLSMITH_HOME", home).env_remove("OPENAI_API_KEY").env_remove("OPENAI_BASE_URL");
    c
}

fn json_out(mut c: Command) -> Value {
    let o = c.output().unwrap();
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!("not JSON ({e}): {}\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
    })
}

#[test]
fn cli_outputs_match_their_schemas() {
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let ex = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    for f in ["profit_margins.py", "test_profit_margins.py", "factorial.py", "spin.py"] {
        std::fs::copy(ex.join(f), work.path().join(f)).unwrap();
    }
    std::fs::create_dir(work.path().join("data")).unwrap();
    std::fs::copy(ex.join("data/sales.csv"), work.path().join("data/sales.csv")).unwrap();

    let mut c = toolsmith(home.path());
    c.current_dir(work.path()).args(["run", "--file", "factorial.py", "--args", r#"{"n": 30}"#, "--json"]);
    let ok = json_out(c);
    assert_eq!(ok["success"], true);
    check("run-outcome.schema.json", &ok);

    let mut c = toolsmith(home.path());
    c.current_dir(work.path()).args(["run", "--file", "spin.py", "--timeout-ms", "100", "--json"]);
    let failed = json_out(c);
    assert_eq!(failed["error_type"], "Timeout");
    check("run-outcome.schema.json", &failed);

    let mut c = toolsmith(home.path());
    c.current_dir(work.path()).args([
        "tools",
        "add",
        "--name",
        "profit_margins",
        "--code",
        "profit_margins.py",
        "--tests",
        "test_profit_margins.py",
        "--data",
        "data",
        "--verify",
        "wasm-only",
        "--json",
    ]);
    let added = json_out(c);
    assert_eq!(added["success"], true, "{added}");
    check("tool-record.schema.json", &added["tool"]);

    let mut c = toolsmith(home.path());
    c.args(["tools", "show", "profit_margins", "--json"]);
    let shown = json_out(c);
    check("tool-record.schema.json", &shown);
    let meta: Value =
        serde_json::from_str(&std::fs::read_to_string(home.path().join("tools/profit_margins/meta.json")).unwrap())
            .unwrap();
    check("tool-record.schema.json", &meta);

    // No model configured: the early failure is still one object of the synthesis schema.
    let mut c = toolsmith(home.path());
    c.args(["synthesize", "add two numbers", "--verify", "wasm-only", "--json"]);
    let synth = json_out(c);
    assert_eq!(synth["success"], false);
    check("synthesis-result.schema.json", &synth);
}

#[test]
fn eval_report_matches_its_schema() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/retrieval");
    let home = tempfile::tempdir().unwrap();
    let mut c = toolsmith(home.path());
    c.args(["eval", "retrieval", "--tools"])
        .arg(fixtures.join("tools.json"))
        .arg("--queries")
        .arg(fixtures.join("queries.tsv"))
        .args(["--mode", "hybrid", "--json"]);
    let report = json_out(c);
    check("retrieval-report.schema.json", &report);
}

#[test]
fn a_schema_rejects_what_it_should() {
    // The checker itself must be able to fail: a record missing its hash is refused.
    let bad = serde_json::json!({"name": "x", "verification": "sometimes"});
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(schemas_dir().join("tool-record.schema.json")).unwrap()).unwrap();
    assert!(!jsonschema::is_valid(&schema, &bad));
}
