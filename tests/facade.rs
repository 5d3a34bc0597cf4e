//! The facade serving many callers, and every error kind as `--json` shows it.
//!
//! One serving `Toolsmith` takes runs and searches from 16 tasks at once while another registers
//! and deletes tools; several `toolsmith` processes share one home. Then each error kind is
//! produced through the binary and read back from its JSON.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use toolsmith::executor::RunOptions;
use toolsmith::synthesis::{Candidate, VerifyMode};
use toolsmith::{Config, CreateOptions, ErrorKind, SearchOptions, Toolsmith, Usage};

fn registry_fixture(name: &str) -> Candidate {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/registry/tools").join(name);
    Candidate {
        name: name.into(),
        code: std::fs::read_to_string(dir.join("tool.py")).unwrap(),
        tests: std::fs::read_to_string(dir.join("test_tool.py")).unwrap(),
        ..Candidate::default()
    }
}

fn wasm_only() -> CreateOptions {
    CreateOptions { verify: VerifyMode::WasmOnly, ..CreateOptions::default() }
}

/// A tool named `name` whose tests pass: `name(a, b) = a * b`.
fn product_tool(name: &str) -> Candidate {
    Candidate {
        name: name.into(),
        code: format!("def {name}(a: int, b: int) -> int:\n    \"\"\"Multiply two integers.\"\"\"\n    return a * b\n"),
        tests: format!("from {name} import {name}\n\ndef test_it():\n    assert {name}(6, 7) == 42\n"),
        ..Candidate::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_callers_run_and_search_while_another_registers_and_deletes() {
    let home = tempfile::tempdir().unwrap();
    let ts = Toolsmith::open(Config::from_env().unwrap().with_home(home.path()), Usage::Serving).await.unwrap();
    for name in ["add_numbers", "reverse_string", "count_vowels"] {
        ts.create_tool(&registry_fixture(name), wasm_only(), &|_| {}).await.unwrap();
    }
    let writer = {
        let ts = ts.clone();
        tokio::spawn(async move {
            for i in 0..6 {
                let name = format!("scratch_product_{i}");
                ts.create_tool(&product_tool(&name), wasm_only(), &|_| {}).await.unwrap();
                let out = ts.run_tool(&name, r#"{"a": 6, "b": 7}"#, RunOptions::default()).await.unwrap();
                assert_eq!(out.result.get(), "42");
                assert!(ts.delete_tool(&name).await.unwrap());
            }
        })
    };
    let callers: Vec<_> = (0..16)
        .map(|c| {
            let ts = ts.clone();
            tokio::spawn(async move {
                for i in 0..12u64 {
                    if (c + i) % 3 == 0 {
                        let hits = ts
                            .search_tools("reverse the characters of a string", SearchOptions::default())
                            .await
                            .unwrap();
                        assert_eq!(hits[0].tool.name, "reverse_string", "caller {c}, round {i}");
                    } else {
                        // 10^20 is past every native integer: it must come back exact.
                        let args = format!(r#"{{"a": {}, "b": 100000000000000000000}}"#, c * 1000 + i);
                        let out = ts.run_tool("add_numbers", &args, RunOptions::default()).await.unwrap();
                        assert_eq!(out.result.get(), format!("1000000000000000{:05}", c * 1000 + i), "caller {c}");
                    }
                }
            })
        })
        .collect();
    for c in callers {
        c.await.unwrap();
    }
    writer.await.unwrap();
    assert_eq!(ts.count_tools().await.unwrap(), 3, "the writer's tools are gone, the rest are there");
    let hits = ts.search_tools("multiply two integers", SearchOptions::default()).await.unwrap();
    assert!(hits.iter().all(|h| !h.tool.name.starts_with("scratch_")), "deleted tools left the index: {hits:?}");
    // The execution log is written off the call path; closing the facade writes what is pending.
    drop(ts);
    let db = rusqlite::Connection::open(home.path().join("toolsmith.db")).unwrap();
    let runs: i64 = db
        .query_row("SELECT COUNT(*) FROM executions WHERE tool_name = 'add_numbers' AND success = 1", [], |r| r.get(0))
        .unwrap();
    assert_eq!(runs, (0..16u64).map(|c| (0..12u64).filter(|i| (c + i) % 3 != 0).count() as i64).sum::<i64>());
}

// ---------------------------------------------------------------------------------------------
// Several processes, one home

fn toolsmith(home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_toolsmith"));
    c.env("TOOLSMITH_HOME", home)
        .env("TOOLSMITH_CACHE", Config::from_env().unwrap().paths.cache)
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL");
    c
}

fn write_tool(dir: &Path, c: &Candidate) -> (PathBuf, PathBuf) {
    let (code, tests) = (dir.join(format!("{}.py", c.name)), dir.join(format!("test_{}.py", c.name)));
    std::fs::write(&code, &c.code).unwrap();
    std::fs::write(&tests, &c.tests).unwrap();
    (code, tests)
}

#[test]
fn eight_processes_add_tools_to_one_home_while_another_reads_it() {
    let home = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    let adds: Vec<_> = (0..8)
        .map(|i| {
            let (code, tests) = write_tool(src.path(), &product_tool(&format!("parallel_{i}")));
            toolsmith(home.path())
                .args(["tools", "add", "--name", &format!("parallel_{i}"), "--verify", "wasm-only", "--json"])
                .arg("--code")
                .arg(code)
                .arg("--tests")
                .arg(tests)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    // Readers meanwhile: counting and searching must neither fail nor break a writer.
    let mut reads = 0;
    let mut pending = adds;
    let mut outputs = vec![];
    while !pending.is_empty() {
        let o = toolsmith(home.path()).args(["tools", "count", "--json"]).output().unwrap();
        assert!(o.status.success(), "a count failed while tools were added: {}", String::from_utf8_lossy(&o.stderr));
        reads += 1;
        let (done, running): (Vec<_>, Vec<_>) =
            pending.into_iter().partition_map(|mut c| match c.try_wait().unwrap() {
                Some(_) => Ok(c),
                None => Err(c),
            });
        outputs.extend(done.into_iter().map(|c| c.wait_with_output().unwrap()));
        pending = running;
    }
    for o in &outputs {
        let v: Value = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
        assert_eq!(v["success"], true, "an add failed beside the others: {v}\n{}", String::from_utf8_lossy(&o.stderr));
    }
    assert!(reads > 0);
    let o = toolsmith(home.path())
        .args(["tools", "search", "multiply two integers", "--limit", "10", "--json"])
        .output()
        .unwrap();
    let hits: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(hits.as_array().unwrap().len(), 8, "every tool is found: {hits:#}");
}

/// `Iterator::partition` into two types, for the loop above.
trait PartitionMap: Iterator + Sized {
    fn partition_map<A, B>(self, f: impl Fn(Self::Item) -> Result<A, B>) -> (Vec<A>, Vec<B>) {
        let (mut a, mut b) = (vec![], vec![]);
        for x in self {
            match f(x) {
                Ok(v) => a.push(v),
                Err(v) => b.push(v),
            }
        }
        (a, b)
    }
}
impl<I: Iterator> PartitionMap for I {}

// ---------------------------------------------------------------------------------------------
// Every error kind, as --json shows it

fn kinds_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/errors/kinds.py")
}

/// Run `args` with `--json` and return the failure object (the command must fail).
fn failure(mut c: Command) -> Value {
    let o = c.arg("--json").output().unwrap();
    assert!(!o.status.success(), "{c:?} succeeded: {}", String::from_utf8_lossy(&o.stdout));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "{c:?}: stdout is not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

fn run_kinds(home: &Path, function: &str, extra: &[&str]) -> Command {
    let mut c = toolsmith(home);
    c.arg("run").arg("--file").arg(kinds_file()).args(["--function", function]).args(extra);
    c
}

#[test]
fn every_error_kind_reaches_the_json_output() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let src = tempfile::tempdir().unwrap();
    let mut seen = std::collections::BTreeMap::new();
    let mut expect = |what: &str, kind: &str, v: Value| {
        assert_eq!(v["success"], false, "{what}: {v:#}");
        assert_eq!(v["error_type"], kind, "{what}: {v:#}");
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{what}: no message: {v:#}");
        seen.insert(kind.to_string(), v);
    };

    expect(
        "unknown tool",
        "not_found",
        failure({
            let mut c = toolsmith(h);
            c.args(["run", "nope"]);
            c
        }),
    );
    let (code, tests) = write_tool(src.path(), &product_tool("times"));
    let add = |name: &str, tests: &Path| {
        let mut c = toolsmith(h);
        c.args(["tools", "add", "--name", name, "--verify", "wasm-only", "--code"])
            .arg(&code)
            .arg("--tests")
            .arg(tests);
        c
    };
    let o = add("times", &tests).arg("--json").output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    expect("same name twice", "already_exists", failure(add("times", &tests)));
    expect("bad name", "invalid_name", failure(add("Times-Two", &tests)));
    let failing = src.path().join("test_failing.py");
    std::fs::write(&failing, "from times import times\n\ndef test_wrong():\n    assert times(2, 2) == 5\n").unwrap();
    let v = failure({
        let mut c = add("times", &failing);
        c.env("TOOLSMITH_HOME", src.path().join("other-home"));
        c
    });
    assert_eq!(v["stage"], "wasm_tests", "{v:#}");
    expect("failing tests", "verification_failed", v);
    expect("arguments not an object", "invalid_arguments", failure(run_kinds(h, "raises", &["--args", "[1]"])));
    let v = failure({
        let mut c = toolsmith(h);
        c.args(["run", "times", "--args", r#"{"a": "six", "b": 7}"#]);
        c
    });
    assert!(v["error"].as_str().unwrap().contains("/a"), "the schema's complaint names the argument: {v:#}");
    let v = failure(run_kinds(h, "raises", &[]));
    assert_eq!(v["exception"], "ValueError", "{v:#}");
    assert!(v["traceback"].as_str().unwrap().contains("no good"), "{v:#}");
    expect("an exception", "tool_error", v);
    let v = failure(run_kinds(h, "impersonate", &[]));
    assert_eq!((v["error_type"].as_str(), v["exception"].as_str()), (Some("tool_error"), Some("Timeout")), "{v:#}");
    expect("fuel", "fuel_exhausted", failure(run_kinds(h, "spin", &["--fuel", "100000000", "--timeout-ms", "60000"])));
    expect(
        "deadline",
        "timeout",
        failure(run_kinds(h, "spin", &["--timeout-ms", "200", "--fuel", "1000000000000000"])),
    );
    expect("memory", "memory_limit", failure(run_kinds(h, "memory_bomb", &["--memory-mb", "64"])));
    // Limits the host cannot enforce are refused by name, with the maximum; nothing panics or wraps.
    for (flag, value, max) in [("--timeout-ms", "18446744073709551615", "3600000"), ("--memory-mb", "100000", "1024")] {
        let v = failure(run_kinds(h, "spin", &[flag, value]));
        assert!(v["error"].as_str().unwrap().contains(max), "{flag} {value}: the maximum is named: {v:#}");
        expect(flag, "invalid_arguments", v);
    }
    expect("output", "output_limit", failure(run_kinds(h, "shout", &[])));
    expect("result size", "result_too_large", failure(run_kinds(h, "huge_result", &[])));
    expect("nesting", "stack_overflow", failure(run_kinds(h, "deep", &[])));
    expect(
        "no model",
        "not_configured",
        failure({
            let mut c = toolsmith(h);
            c.args(["synthesize", "add two numbers", "--verify", "wasm-only"]);
            c
        }),
    );
    expect(
        "the model's endpoint refuses",
        "llm",
        failure({
            let server = support::LlmServer::start();
            server.on_chat([support::Reply::status(401)]);
            let mut c = toolsmith(h);
            c.env("OPENAI_BASE_URL", server.base_url()).env("OPENAI_API_KEY", "sk-wrong");
            c.args(["synthesize", "add two numbers", "--verify", "wasm-only"]);
            c
        }),
    );
    expect(
        "no Docker",
        "sandbox",
        failure({
            let mut c = toolsmith(h);
            c.args(["tools", "add", "--name", "times_again", "--verify", "docker", "--code"]).arg(&code);
            c.arg("--tests")
                .arg(&tests)
                .env("DOCKER_HOST", format!("unix://{}", src.path().join("no-docker.sock").display()));
            c
        }),
    );
    expect(
        "a home that cannot be created",
        "store",
        failure({
            let mut c = toolsmith(h);
            c.env("TOOLSMITH_HOME", kinds_file().join("not-a-directory")).args(["tools", "count"]);
            c
        }),
    );
    expect(
        "no runtime",
        "runtime_missing",
        failure({
            let mut c = run_kinds(h, "raises", &[]);
            c.env("TOOLSMITH_RUNTIME", src.path().join("missing.wasm"));
            c
        }),
    );
    // A stored schema that is not a schema (written behind the store's back) is Toolsmith's
    // problem, not the caller's: it is reported, and nothing runs unchecked.
    let db = rusqlite::Connection::open(h.join("toolsmith.db")).unwrap();
    db.execute("UPDATE tools SET parameters = 'false' WHERE name = 'times'", []).unwrap();
    expect(
        "a broken stored schema",
        "internal",
        failure({
            let mut c = toolsmith(h);
            c.args(["run", "times", "--args", r#"{"a": 1, "b": 2}"#]);
            c
        }),
    );

    // Kinds no command can produce yet (the agent's argument extraction, MCP cancellation)
    // come from their library errors.
    let missing: toolsmith::Error = toolsmith::llm::LlmError::MissingArguments { missing: vec!["n".into()] }.into();
    assert_eq!(missing.kind(), ErrorKind::MissingArguments);
    assert_eq!(toolsmith::Error::Cancelled("by the client".into()).report().error_type, ErrorKind::Cancelled);
    // `not_implemented` is kept for faces that offer a tool before the build has it.
    let ni = toolsmith::Error::NotImplemented("the agent".into()).report().error_type;
    assert_eq!(ni, ErrorKind::NotImplemented);
    let covered: Vec<&str> =
        seen.keys().map(String::as_str).chain(["missing_arguments", "cancelled", "not_implemented"]).collect();
    for k in ErrorKind::ALL {
        assert!(covered.contains(&k.as_str()), "no test produces the kind {k}");
    }
}

// ---------------------------------------------------------------------------------------------
// What tools wrote reaches a terminal escaped

#[test]
fn control_sequences_from_tools_are_escaped_for_people_and_exact_in_json() {
    let home = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    // Retitle the window, clear the screen, write the clipboard (OSC 52), in the docstring and
    // in what the tool prints and returns.
    let nasty = "\\x1b]0;pwned\\x07\\x1b[2J\\x1b]52;c;ZWNobyBoaQ==\\x07";
    let c = Candidate {
        name: "noisy".into(),
        code: format!(
            "def noisy() -> str:\n    \"\"\"Says hello{nasty}.\"\"\"\n    print('out{nasty}')\n    return 'back{nasty}'\n"
        ),
        tests: "from noisy import noisy\n\ndef test_it():\n    assert noisy().startswith('back')\n".into(),
        ..Candidate::default()
    };
    let (code, tests) = write_tool(src.path(), &c);
    let o = toolsmith(home.path())
        .args(["tools", "add", "--name", "noisy", "--verify", "wasm-only", "--code"])
        .arg(&code)
        .arg("--tests")
        .arg(&tests)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for args in
        [&["tools", "list"][..], &["tools", "show", "noisy"], &["tools", "search", "says hello"], &["run", "noisy"]]
    {
        let o = toolsmith(home.path()).args(args).output().unwrap();
        assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
        for (stream, bytes) in [("stdout", &o.stdout), ("stderr", &o.stderr)] {
            assert!(
                !bytes.contains(&0x1b) && !bytes.contains(&0x07),
                "{args:?} printed a raw control character on {stream}"
            );
        }
        let text = String::from_utf8_lossy(&o.stdout) + String::from_utf8_lossy(&o.stderr);
        assert!(text.contains("\\x1b]52"), "{args:?}: the sequence is shown escaped: {text}");
    }
    // --json stays exact: the JSON string decodes to the very characters.
    let o = toolsmith(home.path()).args(["run", "noisy", "--json"]).output().unwrap();
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["result"], format!("back\u{1b}]0;pwned\u{7}\u{1b}[2J\u{1b}]52;c;ZWNobyBoaQ==\u{7}"));
}

// ---------------------------------------------------------------------------------------------
// Ctrl-C during a Docker verification

/// The labelled verification containers whose creator is `pid`.
fn containers_of(pid: u32) -> Vec<String> {
    let o = Command::new("docker")
        .args(["ps", "-aq", "--filter", &format!("label={}={pid}", toolsmith::sandbox::LABEL_PID)])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).split_whitespace().map(str::to_string).collect()
}

#[test]
fn an_interrupted_verification_leaves_no_container() {
    let docker_up = Command::new("docker").arg("info").output().is_ok_and(|o| o.status.success());
    if !docker_up {
        assert_ne!(std::env::var("TOOLSMITH_REQUIRE_DOCKER").as_deref(), Ok("1"), "Docker is required here");
        eprintln!("SKIPPED an_interrupted_verification_leaves_no_container: Docker is not running");
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    let mut c = product_tool("slow_product");
    // The tests wait far longer than the test does: only an interrupt ends them early.
    c.tests = "import time\nfrom slow_product import slow_product\n\ndef test_slow():\n    time.sleep(25)\n    assert slow_product(6, 7) == 42\n".into();
    let (code, tests) = write_tool(src.path(), &c);
    let mut child = toolsmith(home.path())
        .args(["tools", "add", "--name", "slow_product", "--verify", "docker", "--code"])
        .arg(&code)
        .arg("--tests")
        .arg(&tests)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    // Wait (bounded) for its container to exist: the interrupt must come mid-verification.
    let started = std::time::Instant::now();
    while containers_of(pid).is_empty() {
        assert!(started.elapsed() < std::time::Duration::from_secs(60), "no verification container appeared");
        assert!(child.try_wait().unwrap().is_none(), "tools add ended before its container started");
        std::thread::yield_now();
    }
    let killed = Command::new("kill").args(["-INT", &pid.to_string()]).status().unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "interrupted, not finished");
    assert!(containers_of(pid).is_empty(), "the container outlived the interrupted run");
    let o = toolsmith(home.path()).args(["tools", "count", "--json"]).output().unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&o.stdout).unwrap()["count"], 0, "nothing registered");
}
