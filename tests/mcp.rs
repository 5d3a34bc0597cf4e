//! `toolsmith serve` driven by a real client: the official MCP Python SDK (`tests/mcp/client.py`,
//! installed into a private venv by `scripts/mcp-client.sh`), once with the initialize handshake
//! and once with the stateless 2026-07-28 protocol, for every scenario. What the SDK cannot
//! send (bytes that are not JSON, oversized messages) is written to the server's stdin here.
//!
//! New tools are verified `--verify wasm-only`, so Docker is not needed, except by
//! `docker_verification_*`, which skips loudly without Docker unless `TOOLSMITH_REQUIRE_DOCKER=1`.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The venv's python (made on first use, then reused from the cache).
fn python() -> &'static Path {
    static PY: OnceLock<PathBuf> = OnceLock::new();
    PY.get_or_init(|| {
        let out = Command::new("bash")
            .arg(root().join("scripts/mcp-client.sh"))
            .stderr(Stdio::inherit())
            .output()
            .expect("bash runs");
        assert!(out.status.success(), "scripts/mcp-client.sh failed: the MCP tests need the mcp package from PyPI");
        let text = String::from_utf8(out.stdout).unwrap();
        PathBuf::from(text.lines().last().expect("the venv's python").trim())
    })
}

/// The environment a server of `home` runs with: the shared cache (runtime, model), and the
/// runtime component the test process was given, if any. No model variables.
fn env_for(c: &mut Command, home: &Path) {
    let config = toolsmith::Config::from_env().unwrap();
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::var("HOME").unwrap_or_default())
        .env("TOOLSMITH_HOME", home)
        .env("TOOLSMITH_CACHE", &config.paths.cache)
        .env("TOOLSMITH_LOG", "info");
    if let Some(rt) = &config.runtime {
        c.env("TOOLSMITH_RUNTIME", rt);
    }
}

struct Ran {
    stdout: String,
    stderr: String,
}

/// Run one scenario of `client.py` against a fresh home; panics with its output on failure.
fn scenario(name: &str, mode: &str, verify: &str, home: &Path) -> Ran {
    let mut c = Command::new(python());
    env_for(&mut c, home);
    c.arg(root().join("tests/mcp/client.py")).args([
        name,
        "--mode",
        mode,
        "--verify",
        verify,
        "--server",
        env!("CARGO_BIN_EXE_toolsmith"),
    ]);
    let out = c.output().expect("python runs");
    let ran = Ran {
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    };
    if !out.status.success() {
        let failures: Vec<&str> = ran.stderr.lines().filter(|l| l.starts_with("FAILED")).collect();
        panic!(
            "{name} ({mode}) failed: {}\n--- stderr (server and client) ---\n{}",
            failures.join("\n"),
            tail(&ran.stderr, 80)
        );
    }
    ran
}

fn tail(s: &str, lines: usize) -> String {
    let all: Vec<&str> = s.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// `toolsmith tools list --json` of a home, after the server has gone.
fn registered(home: &Path) -> Vec<Value> {
    let mut c = Command::new(env!("CARGO_BIN_EXE_toolsmith"));
    env_for(&mut c, home);
    let out = c.args(["tools", "list", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice::<Vec<Value>>(&out.stdout).unwrap()
}

macro_rules! both_modes {
    ($($legacy:ident, $modern:ident => $scenario:literal, $check:expr;)*) => {$(
        #[test]
        fn $legacy() {
            let home = tempfile::tempdir().unwrap();
            let ran = scenario($scenario, "legacy", "wasm-only", home.path());
            ($check)(&ran, home.path());
        }
        #[test]
        fn $modern() {
            let home = tempfile::tempdir().unwrap();
            let ran = scenario($scenario, "2026-07-28", "wasm-only", home.path());
            ($check)(&ran, home.path());
        }
    )*};
}

fn nothing(_: &Ran, _: &Path) {}

const MAKE_LIST: &str = "def make_list(n: int) -> list:\n    \"\"\"Make the list of the whole numbers from 1 to n.\"\"\"\n    return list(range(1, n + 1))\n";
const SUM_LIST: &str =
    "def sum_list(values: list) -> int:\n    \"\"\"Add up a list of numbers.\"\"\"\n    return sum(values)\n";

/// A home holding `make_list`, `sum_list` and the composite `make_list_then_sum_list`, promoted
/// from three sessions that ran one after the other (so `values` is learned to come from
/// `make_list`), made through the library as the agent makes it.
fn home_with_a_composite(home: &Path) {
    use toolsmith::executor::RunOptions;
    use toolsmith::synthesis::{Candidate, VerifyMode};
    use toolsmith::{CreateOptions, Toolsmith, Usage};
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let config = toolsmith::Config::from_env().unwrap().with_home(home);
        let ts = Toolsmith::open(config, Usage::OneShot).await.unwrap();
        let opts = CreateOptions { verify: VerifyMode::WasmOnly, ..CreateOptions::default() };
        for (name, code, test) in
            [("make_list", MAKE_LIST, "make_list(2) == [1, 2]"), ("sum_list", SUM_LIST, "sum_list([1, 2]) == 3")]
        {
            let c = Candidate {
                name: name.into(),
                code: code.into(),
                tests: format!("from {name} import {name}\n\ndef test_it():\n    assert {test}\n"),
                ..Candidate::default()
            };
            ts.create_tool(&c, opts, &|_| {}).await.unwrap();
        }
        for n in 2..5 {
            let run = || RunOptions { session_id: Some(format!("s{n}")), ..RunOptions::default() };
            ts.run_tool("make_list", &json!({"n": n}).to_string(), run()).await.unwrap();
            let values: Vec<i64> = (1..=n).collect();
            ts.run_tool("sum_list", &json!({"values": values}).to_string(), run()).await.unwrap();
        }
        let patterns = ts.get_workflow_patterns(3, 10).await.unwrap();
        let p = patterns.iter().find(|p| p.tools == ["make_list", "sum_list"]).expect("the pattern is mined");
        ts.promote(p, None).await.unwrap();
    });
}

fn composite_in(mode: &str) {
    let home = tempfile::tempdir().unwrap();
    home_with_a_composite(home.path());
    scenario("composite", mode, "wasm-only", home.path());
}

#[test]
fn a_composite_tool_is_an_mcp_tool_of_its_own_legacy() {
    composite_in("legacy");
}

#[test]
fn a_composite_tool_is_an_mcp_tool_of_its_own_2026() {
    composite_in("2026-07-28");
}

/// The server logged the cancellation at the stage it stopped, and only the second, quick
/// `slow_double` is in the store once the server is gone.
fn cancelled_cleanly(ran: &Ran, home: &Path) {
    assert!(
        ran.stderr.contains("cancelled during wasm_tests: nothing was registered"),
        "the server did not stop the cancelled create_tool:\n{}",
        tail(&ran.stderr, 40)
    );
    let tools = registered(home);
    let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["slow_double"]);
    assert!(tools[0]["tests"].as_str().unwrap().contains("time.sleep(0)"), "the quick version is registered");
}

fn fifty_calls(ran: &Ran, _: &Path) {
    let report: Value = serde_json::from_str(ran.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(report["calls"], 50);
    eprintln!("50 concurrent execute_tool calls during a create_tool: {} s", report["seconds"]);
}

both_modes! {
    lifecycle_legacy, lifecycle_2026 => "lifecycle", nothing;
    bad_input_legacy, bad_input_2026 => "bad_input", nothing;
    cancel_create_tool_legacy, cancel_create_tool_2026 => "cancel", cancelled_cleanly;
    fifty_concurrent_calls_during_create_tool_legacy, fifty_concurrent_calls_during_create_tool_2026 => "concurrent", fifty_calls;
    clients_model_synthesizes_legacy, clients_model_synthesizes_2026 => "sampling", nothing;
    allow_read_grants_a_directory_and_nothing_else_legacy, allow_read_grants_a_directory_and_nothing_else_2026 => "grants", nothing;
}

fn docker_ready() -> bool {
    let up = Command::new("docker").arg("info").output().is_ok_and(|o| o.status.success());
    if !up {
        assert_ne!(std::env::var("TOOLSMITH_REQUIRE_DOCKER").as_deref(), Ok("1"), "Docker is required here");
        eprintln!(
            "SKIPPED docker_verification: Docker is not running (set TOOLSMITH_REQUIRE_DOCKER=1 to fail instead)"
        );
        return false;
    }
    let home = tempfile::tempdir().unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_toolsmith"));
    env_for(&mut c, home.path());
    let built = c.args(["sandbox", "build"]).output().unwrap();
    assert!(built.status.success(), "the sandbox image: {}", String::from_utf8_lossy(&built.stderr));
    true
}

#[test]
fn docker_verification_legacy() {
    if docker_ready() {
        let home = tempfile::tempdir().unwrap();
        scenario("docker", "legacy", "docker", home.path());
    }
}

#[test]
fn docker_verification_2026() {
    if docker_ready() {
        let home = tempfile::tempdir().unwrap();
        scenario("docker", "2026-07-28", "docker", home.path());
    }
}

/// A server whose stdin and stdout the test holds: lines in, parsed messages out.
struct Raw {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    lines: mpsc::Receiver<String>,
    home: tempfile::TempDir,
}

impl Raw {
    fn start(args: &[&str]) -> Raw {
        let home = tempfile::tempdir().unwrap();
        let mut c = Command::new(env!("CARGO_BIN_EXE_toolsmith"));
        env_for(&mut c, home.path());
        let mut child = c
            .arg("serve")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                if tx.send(line.unwrap()).is_err() {
                    break;
                }
            }
        });
        Raw { child, stdin, lines, home }
    }

    fn send(&mut self, line: &str) {
        self.stdin.write_all(line.as_bytes()).unwrap();
        self.stdin.write_all(b"\n").unwrap();
        self.stdin.flush().unwrap();
    }

    /// The next message; every line on stdout must be one JSON-RPC message.
    fn next(&self) -> Value {
        let line = self.lines.recv_timeout(Duration::from_secs(30)).expect("the server answers");
        let v: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("stdout carries only protocol: {e}: {line}"));
        assert_eq!(v["jsonrpc"], "2.0", "{v}");
        v
    }

    fn request(&mut self, id: u64, method: &str, params: Value) -> Value {
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string());
        let v = self.next();
        assert_eq!(v["id"], id, "answers in order here: {v}");
        v
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn initialize(raw: &mut Raw) {
    let init = raw.request(
        1,
        "initialize",
        json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}),
    );
    assert_eq!(init["result"]["serverInfo"]["name"], "toolsmith", "{init}");
    raw.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
}

#[test]
fn malformed_messages_are_answered_and_the_next_one_served() {
    let mut raw = Raw::start(&["--verify", "wasm-only", "--max-message-mb", "1"]);
    // Before the handshake too.
    raw.send("{this is not json");
    let e = raw.next();
    assert_eq!(e["error"]["code"], -32700, "{e}");
    assert!(e["id"].is_null(), "{e}");
    initialize(&mut raw);

    raw.send("[1, 2");
    assert_eq!(raw.next()["error"]["code"], -32700);
    raw.send(r#"{"jsonrpc":"2.0","id":"x7","method":5}"#);
    let e = raw.next();
    assert_eq!((e["id"].clone(), e["error"]["code"].clone()), (json!("x7"), json!(-32600)), "{e}");
    raw.send(r#"{"jsonrpc":"1.0","id":8,"method":"tools/list"}"#);
    let e = raw.next();
    assert_eq!((e["id"].clone(), e["error"]["code"].clone()), (json!(8), json!(-32600)), "{e}");
    // A notification that does not parse gets no answer: the next answer is the next request's.
    raw.send(r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":7}"#);
    let big =
        format!(r#"{{"jsonrpc":"2.0","id":9,"method":"tools/list","params":{{"pad":"{}"}}}}"#, "x".repeat(2 << 20));
    raw.send(&big);
    let e = raw.next();
    assert_eq!(e["error"]["code"], -32600, "oversized: {e}");
    assert!(e["error"]["message"].as_str().unwrap().contains("longer than 1048576 bytes"), "{e}");
    // Unknown methods and tools are protocol errors; a tool's bad arguments are tool errors.
    assert_eq!(raw.request(10, "no/such/method", json!({}))["error"]["code"], -32601);
    assert_eq!(raw.request(11, "tools/call", json!({"name": "nope", "arguments": {}}))["error"]["code"], -32602);
    assert_eq!(raw.request(12, "tools/list", json!({"cursor": "garbage"}))["error"]["code"], -32602);
    let r = raw.request(13, "tools/call", json!({"name": "get_tool", "arguments": {"name": ["x"]}}));
    assert_eq!(r["result"]["isError"], true, "{r}");
    assert_eq!(r["result"]["structuredContent"]["error_type"], "invalid_arguments", "{r}");
    let listed = raw.request(14, "tools/list", json!({}));
    assert_eq!(listed["result"]["tools"].as_array().unwrap().len(), toolsmith::BUILT_IN_TOOL_NAMES.len(), "{listed}");
}

#[test]
fn a_2026_request_without_its_metadata_is_refused_and_the_next_one_served() {
    let mut raw = Raw::start(&["--verify", "wasm-only"]);
    let e = raw.request(1, "tools/list", json!({}));
    assert_eq!(e["error"]["code"], -32602, "no _meta: {e}");
    let meta = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "0"},
        "io.modelcontextprotocol/clientCapabilities": {},
    });
    let d = raw.request(2, "server/discover", json!({"_meta": meta}));
    assert!(d["result"]["supportedVersions"].as_array().unwrap().contains(&json!("2026-07-28")), "{d}");
    assert!(d["result"]["instructions"].as_str().unwrap_or_default().contains("search_tools"), "{d}");
    let listed = raw.request(3, "tools/list", json!({"_meta": meta}));
    assert_eq!(listed["result"]["tools"][0]["name"], "search_tools", "{listed}");
}

#[test]
fn a_tool_added_by_another_process_is_announced() {
    let mut raw = Raw::start(&["--verify", "wasm-only"]);
    initialize(&mut raw);
    let src = tempfile::tempdir().unwrap();
    std::fs::write(
        src.path().join("triple.py"),
        "def triple(x: int) -> int:\n    \"\"\"Triple x.\"\"\"\n    return 3 * x\n",
    )
    .unwrap();
    std::fs::write(
        src.path().join("test_triple.py"),
        "from triple import triple\n\ndef test_it():\n    assert triple(2) == 6\n",
    )
    .unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_toolsmith"));
    env_for(&mut c, raw.home.path());
    let added = c
        .args(["tools", "add", "--name", "triple", "--verify", "wasm-only", "--code"])
        .arg(src.path().join("triple.py"))
        .arg("--tests")
        .arg(src.path().join("test_triple.py"))
        .output()
        .unwrap();
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    // The server polls the store; the notification is the first message it sends unasked.
    let note = raw.next();
    assert_eq!(note["method"], "notifications/tools/list_changed", "{note}");
    let listed = raw.request(2, "tools/list", json!({}));
    let names: Vec<&str> =
        listed["result"]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names.last(), Some(&"triple"), "{names:?}");
    let r = raw.request(3, "tools/call", json!({"name": "triple", "arguments": {"x": 14}}));
    assert_eq!(r["result"]["structuredContent"]["result"], 42, "{r}");
}

/// `toolsmith …` on a server's home.
fn cli(home: &Path, args: &[&str]) -> Value {
    let mut c = Command::new(env!("CARGO_BIN_EXE_toolsmith"));
    env_for(&mut c, home);
    let out = c.args(args).arg("--json").output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_tool_reads_the_directories_granted_to_it_and_nothing_else() {
    let mut raw = Raw::start(&["--verify", "wasm-only"]);
    initialize(&mut raw);
    let (granted, other, src) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for d in [&granted, &other] {
        std::fs::write(d.path().join("x.txt"), "inside\n").unwrap();
    }
    std::fs::write(
        src.path().join("peek.py"),
        "def peek(path: str) -> str:\n    \"\"\"Read a file.\"\"\"\n    return open(path).read()\n",
    )
    .unwrap();
    std::fs::write(src.path().join("test_peek.py"), "from peek import peek\n\ndef test_missing():\n    import pytest\n    with pytest.raises(OSError):\n        peek('nope.txt')\n").unwrap();
    let home = raw.home.path().to_path_buf();
    let (code, tests) = (src.path().join("peek.py"), src.path().join("test_peek.py"));
    cli(
        &home,
        &[
            "tools",
            "add",
            "--name",
            "peek",
            "--verify",
            "wasm-only",
            "--code",
            code.to_str().unwrap(),
            "--tests",
            tests.to_str().unwrap(),
        ],
    );
    let peek = |raw: &mut Raw, id: u64, dir: &Path| {
        let r = raw.request(id, "tools/call", json!({"name": "peek", "arguments": {"path": dir.join("x.txt")}}));
        r["result"].clone()
    };
    let denied = peek(&mut raw, 2, granted.path());
    assert_eq!(denied["structuredContent"]["exception"], "FileNotFoundError", "no grant yet: {denied}");

    let g = cli(&home, &["tools", "grant", "peek", "--read", granted.path().to_str().unwrap()]);
    let canonical = granted.path().canonicalize().unwrap().display().to_string();
    assert_eq!(g["grants"], json!([canonical]));
    assert_eq!(cli(&home, &["tools", "show", "peek"])["grants"], json!([canonical]), "tools show says it");
    let read = peek(&mut raw, 3, &granted.path().canonicalize().unwrap());
    assert_eq!(read["structuredContent"]["result"], "inside\n", "{read}");
    let elsewhere = peek(&mut raw, 4, &other.path().canonicalize().unwrap());
    assert_eq!(elsewhere["structuredContent"]["exception"], "FileNotFoundError", "{elsewhere}");

    cli(&home, &["tools", "grant", "peek", "--read", granted.path().to_str().unwrap(), "--revoke"]);
    let revoked = peek(&mut raw, 5, &granted.path().canonicalize().unwrap());
    assert_eq!(revoked["structuredContent"]["exception"], "FileNotFoundError", "revoked: {revoked}");
}

#[test]
fn mcp_config_names_this_binary_and_home() {
    let home = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_toolsmith"));
    env_for(&mut c, home.path());
    let out = c.args(["mcp-config", "--verify", "wasm-only", "--allow-read"]).arg(data.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let entry = &v["mcpServers"]["toolsmith"];
    let exe = Path::new(env!("CARGO_BIN_EXE_toolsmith")).canonicalize().unwrap();
    assert_eq!(entry["command"], exe.display().to_string());
    let data = data.path().canonicalize().unwrap().display().to_string();
    assert_eq!(entry["args"], json!(["serve", "--allow-read", data, "--verify", "wasm-only"]));
    assert_eq!(entry["env"]["TOOLSMITH_HOME"], home.path().canonicalize().unwrap().display().to_string());
    assert!(entry["env"].get("OPENAI_API_KEY").is_none(), "the key is never printed");
}

#[test]
fn the_checked_in_mcp_json_launches_the_installed_serve() {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(root().join("mcp.json")).unwrap()).unwrap();
    let entry = &v["mcpServers"]["toolsmith"];
    assert_eq!(entry["command"], "toolsmith");
    assert_eq!(entry["args"][0], "serve");
    assert!(entry["env"].get("TOOLSMITH_HOME").is_some(), "{entry}");
}
