//! The JSON Schemas in `schemas/` describe what really crosses the boundaries. Most are generated
//! from the types (`toolsmith::schemas`): a file that differs from what the types give fails here
//! (`TOOLSMITH_WRITE_SCHEMAS=1 cargo test --test schemas` rewrites them). Real outputs of the CLI
//! are validated against every schema, generated or hand-written.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};
use support::{LlmServer, Reply, fixture};

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
fn generated_schemas_match_the_files() {
    let write = std::env::var("TOOLSMITH_WRITE_SCHEMAS").as_deref() == Ok("1");
    let mut stale = vec![];
    for (file, schema) in toolsmith::schemas::published() {
        let path = schemas_dir().join(&file);
        let text = serde_json::to_string_pretty(&schema).unwrap() + "\n";
        if write {
            std::fs::write(&path, &text).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            stale.push(file.clone());
        }
        // Each is a schema a validator accepts.
        jsonschema::options().with_retriever(LocalSchemas).build(&schema).unwrap_or_else(|e| panic!("{file}: {e}"));
    }
    assert!(
        stale.is_empty(),
        "schemas differ from the types: {stale:?} (TOOLSMITH_WRITE_SCHEMAS=1 cargo test --test schemas)"
    );
}

#[test]
fn every_error_kind_is_published_with_its_meaning() {
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(schemas_dir().join("error-kinds.schema.json")).unwrap()).unwrap();
    let listed: Vec<&str> = schema["oneOf"].as_array().unwrap().iter().map(|k| k["const"].as_str().unwrap()).collect();
    let kinds: Vec<&str> = toolsmith::ErrorKind::ALL.iter().map(|k| k.as_str()).collect();
    assert_eq!(listed, kinds);
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    for k in kinds {
        assert!(readme.contains(&format!("`{k}`")), "README.md does not list the error kind `{k}`");
    }
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
    assert_eq!(failed["error_type"], "timeout");
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
    assert_eq!(synth["error_type"], "not_configured");
    check("error-report.schema.json", &synth);

    let mut c = toolsmith(home.path());
    c.args(["tools", "search", "margin of each product", "--json"]);
    let hits = json_out(c);
    assert_eq!(hits[0]["name"], "profit_margins", "{hits:#}");
    check("tool-matches.schema.json", &hits);
    check("tool-detail.schema.json", &shown);

    // A synthesis that fails at its spec (the scripted model never gives a valid one) still
    // prints one object of the synthesis schema.
    let server = LlmServer::start();
    let wrong = || Reply::chat(fixture("synthesis/fibonacci/spec_wrong_type.json"));
    server.on_chat([wrong(), wrong()]);
    let mut c = toolsmith(home.path());
    c.env("OPENAI_BASE_URL", server.base_url()).env("OPENAI_API_KEY", "sk-test").args([
        "synthesize",
        "add two numbers",
        "--verify",
        "wasm-only",
        "--json",
    ]);
    let synth = json_out(c);
    assert_eq!((synth["success"].as_bool(), synth["stage"].as_str()), (Some(false), Some("spec")), "{synth:#}");
    check("synthesis-result.schema.json", &synth);

    // The agent: a request answered by the registered tool, then what it recorded.
    server.on_chat([
        Reply::chat(
            json!({"strategy": "single", "reasoning": "it fits", "tool": "profit_margins", "sub_tasks": [],
                   "composite_tool": null, "pattern_id": null})
            .to_string(),
        ),
        Reply::chat(json!({"arguments": {"path": "data/sales.csv"}, "missing": []}).to_string()),
    ]);
    let mut c = toolsmith(home.path());
    c.current_dir(work.path()).env("OPENAI_BASE_URL", server.base_url()).env("OPENAI_API_KEY", "sk-test").args([
        "ask",
        "what margin does each product make in data/sales.csv",
        "--allow-read",
        "data",
        "--no-response",
        "--json",
    ]);
    let answer = json_out(c);
    assert_eq!(answer["success"], true, "{answer:#}");
    check("request-result.schema.json", &answer);
    for (args, schema) in [
        (vec!["traces", "list", "--json"], "trace-list.schema.json"),
        (vec!["traces", "show", answer["trace_id"].as_str().unwrap(), "--json"], "trace.schema.json"),
        (vec!["sessions", "list", "--json"], "session-list.schema.json"),
        (vec!["patterns", "--min-frequency", "1", "--json"], "workflow-patterns.schema.json"),
        (vec!["relationships", "--min-confidence", "0", "--json"], "tool-relationships.schema.json"),
    ] {
        let mut c = toolsmith(home.path());
        c.args(&args);
        check(schema, &json_out(c));
    }
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
