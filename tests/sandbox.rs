//! The Docker sandbox against the real engine: what passes, what fails, and what the limits contain
//! (network, writes outside /tmp, processes, memory, time).
//!
//! Without Docker each test prints a SKIPPED line and returns, unless `TOOLSMITH_REQUIRE_DOCKER=1`
//! (CI), where it fails. The image is built (or found) once per test binary through `ensure_image`;
//! the engine keeps it by tag, so later runs reuse it.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use toolsmith::sandbox::{BuildMode, Limits, SandboxError, SecureSandbox, VerificationResult};

/// The image, made ready once for all tests of this binary (each test has its own runtime, so
/// each connects its own client; only the outcome of the build is shared).
static IMAGE: tokio::sync::OnceCell<Result<String, String>> = tokio::sync::OnceCell::const_new();

/// A sandbox with these limits, or `None` (after a loud SKIPPED line) when Docker is not running.
async fn sandbox(test: &str, limits: Limits) -> Option<SecureSandbox> {
    let sandbox = match SecureSandbox::connect().await {
        Ok(s) => s,
        Err(e @ SandboxError::DockerUnavailable { .. }) => {
            if std::env::var("TOOLSMITH_REQUIRE_DOCKER").as_deref() == Ok("1") {
                panic!("{test}: Docker is required here (TOOLSMITH_REQUIRE_DOCKER=1): {e}");
            }
            eprintln!("SKIPPED {test}: {e} (set TOOLSMITH_REQUIRE_DOCKER=1 to fail instead)");
            return None;
        }
        Err(e) => panic!("{test}: {e}"),
    };
    let image = IMAGE
        .get_or_init(|| {
            let s = sandbox.clone();
            async move {
                let built = s
                    .ensure_image(&toolsmith::Config::from_env().unwrap().paths.cache, BuildMode::Auto)
                    .await
                    .map_err(|e| e.to_string())?;
                eprintln!("sandbox image {} {:?} in {:.1} s", built.image.tag, built.method, built.seconds);
                Ok(built.image.tag)
            }
        })
        .await;
    if let Err(e) = image {
        panic!("{test}: the sandbox image is not available: {e}");
    }
    Some(sandbox.with_limits(limits))
}

/// One tool and what verifying it must give.
struct Case {
    tool: &'static str,
    code: &'static str,
    tests: &'static str,
    data: &'static [(&'static str, &'static [u8])],
    /// The deadline, when not the default 30 s.
    timeout: Option<Duration>,
    passes: bool,
    /// Each must appear in the output.
    output_has: &'static [&'static str],
    /// What the error must start with, when the tool fails.
    error_starts: &'static str,
}

const CASE: Case =
    Case { tool: "", code: "", tests: "", data: &[], timeout: None, passes: false, output_has: &[], error_starts: "" };

/// Verify the case's tool and check the result: passed or not, the output, the error, the JSON
/// form, and that no container is left behind. `None` when skipped.
async fn check(case: Case) -> Option<VerificationResult> {
    let limits = Limits { timeout: case.timeout.unwrap_or(Limits::DEFAULT_TIMEOUT), ..Limits::default() };
    let sandbox = sandbox(case.tool, limits).await?;
    let data = case.data.iter().map(|(k, v)| (k.to_string(), v.to_vec())).collect();
    let r = sandbox
        .verify_tool(case.tool, case.code, case.tests, &data)
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", case.tool));
    let ctx = format!("tool {}: {r:#?}", case.tool);
    assert_eq!(r.success, case.passes, "{ctx}");
    for s in case.output_has {
        assert!(r.output.contains(s), "output lacks {s:?}; {ctx}");
    }
    match &r.error {
        None => assert!(case.passes, "{ctx}"),
        Some(e) => assert!(
            !case.passes && e.starts_with(case.error_starts),
            "error should start {:?}; {ctx}",
            case.error_starts
        ),
    }
    let json = serde_json::to_value(&r).unwrap();
    if let Err(e) = schema().validate(&json) {
        panic!("the result does not match schemas/verification-result.schema.json: {e}; {ctx}");
    }
    assert_eq!(leftover_containers(case.tool).await, 0, "containers left behind; {ctx}");
    Some(r)
}

fn schema() -> &'static jsonschema::Validator {
    static V: std::sync::OnceLock<jsonschema::Validator> = std::sync::OnceLock::new();
    V.get_or_init(|| {
        let text = include_str!("../schemas/verification-result.schema.json");
        jsonschema::validator_for(&serde_json::from_str(text).unwrap()).unwrap()
    })
}

/// Containers of this tool still in the engine (verification must always remove its own).
async fn leftover_containers(tool: &str) -> usize {
    let docker = bollard::Docker::connect_with_socket_defaults().unwrap().negotiate_version().await.unwrap();
    let filters = HashMap::from([("label".to_string(), vec![format!("toolsmith.tool={tool}")])]);
    let options =
        bollard::query_parameters::ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
    docker.list_containers(Some(options)).await.unwrap().len()
}

#[tokio::test]
async fn a_passing_tool_passes() {
    let Some(r) = check(Case {
        tool: "factorial",
        code: r#"
def factorial(n):
    return 1 if n < 2 else n * factorial(n - 1)
"#,
        tests: r#"
from factorial import factorial

def test_small():
    assert factorial(5) == 120

def test_zero():
    assert factorial(0) == 1
"#,
        passes: true,
        output_has: &["2 passed"],
        ..CASE
    })
    .await
    else {
        return;
    };
    assert!(r.duration_ms > 0);
}

#[tokio::test]
async fn a_failing_tool_fails_and_shows_the_assertion() {
    check(Case {
        tool: "add",
        code: "def add(a, b):\n    return a - b\n",
        tests: r#"
from add import add

def test_add():
    assert add(2, 3) == 5

def test_zero():
    assert add(0, 0) == 0
"#,
        output_has: &["assert -1 == 5"],
        error_starts: "tests failed: 1 failed, 1 passed",
        ..CASE
    })
    .await;
}

#[tokio::test]
async fn a_tool_that_does_not_compile_fails() {
    check(Case {
        tool: "broken",
        code: "def broken(:\n",
        tests: "from broken import broken\n\ndef test_broken():\n    assert broken()\n",
        output_has: &["SyntaxError"],
        error_starts: "the tests could not run",
        ..CASE
    })
    .await;
}

#[tokio::test]
async fn tests_without_test_functions_fail() {
    check(Case {
        tool: "quiet",
        code: "def quiet():\n    return 1\n",
        tests: "from quiet import quiet\n",
        error_starts: "no tests collected from test_quiet.py: name test functions test_*",
        ..CASE
    })
    .await;
}

#[tokio::test]
async fn runs_as_nobody_without_capabilities() {
    check(Case {
        tool: "who",
        tests: r#"
import os

def test_identity():
    assert (os.getuid(), os.getgid()) == (65534, 65534)

def test_no_capabilities_no_new_privileges():
    status = open('/proc/self/status').read()
    assert 'CapEff:\t0000000000000000' in status
    assert 'CapBnd:\t0000000000000000' in status
    assert 'NoNewPrivs:\t1' in status

def test_cwd():
    assert os.getcwd() == '/work'
"#,
        passes: true,
        output_has: &["3 passed"],
        ..CASE
    })
    .await;
}

#[tokio::test]
async fn the_network_is_unreachable() {
    check(Case {
        tool: "fetch",
        code: r#"
import socket

def fetch(host, port):
    with socket.create_connection((host, port), timeout=5):
        return True
"#,
        tests: "from fetch import fetch\n\ndef test_fetch():\n    assert fetch('1.1.1.1', 80)\n",
        output_has: &["Network is unreachable"],
        error_starts: "tests failed: 1 failed",
        ..CASE
    })
    .await;
}

#[tokio::test]
async fn writes_outside_tmp_are_refused() {
    // `/` as nobody; `/var/tmp` is world-writable, so only the read-only root file system stops it;
    // `/work` is the read-only mount of the tool's own files.
    check(Case {
        tool: "writer",
        tests: r#"
import pytest

@pytest.mark.parametrize('path', ['/evil.txt', '/var/tmp/evil.txt', '/work/evil.txt'])
def test_write(path):
    with open(path, 'w') as f:
        f.write('x')
"#,
        output_has: &[
            "Read-only file system: '/evil.txt'",
            "Read-only file system: '/var/tmp/evil.txt'",
            "Read-only file system: '/work/evil.txt'",
        ],
        error_starts: "tests failed: 3 failed",
        ..CASE
    })
    .await;
}

#[tokio::test]
async fn tmp_path_and_tmp_are_writable() {
    check(Case {
        tool: "tmp_user",
        tests: r#"
import tempfile

def test_tmp_path(tmp_path):
    p = tmp_path / 'out.txt'
    p.write_text('hello')
    assert p.read_text() == 'hello'
    assert str(p).startswith('/tmp/pt/')

def test_tempfile():
    with tempfile.NamedTemporaryFile('w+') as f:
        f.write('x')
        f.seek(0)
        assert f.read() == 'x'
"#,
        passes: true,
        output_has: &["2 passed"],
        ..CASE
    })
    .await;
}

#[tokio::test]
async fn data_files_are_at_their_relative_paths() {
    check(Case {
        tool: "column_sum",
        code: r#"
import csv

def column_sum(path, column):
    with open(path, newline='') as f:
        return sum(float(row[column]) for row in csv.DictReader(f))
"#,
        tests: r#"
from column_sum import column_sum

def test_sum():
    assert column_sum('data/sales.csv', 'amount') == 6.5

def test_top_level_bytes():
    assert open('notes.bin', 'rb').read() == b'\xffraw'
"#,
        data: &[("data/sales.csv", b"item,amount\na,1.5\nb,5\n"), ("notes.bin", b"\xffraw")],
        passes: true,
        output_has: &["2 passed"],
        ..CASE
    })
    .await;
}

#[tokio::test]
async fn only_pytest_is_installed() {
    // Tools are stdlib-only: the image must not let one pass by importing a package the WASM
    // runtime lacks. pytest and its four dependencies are the only distributions.
    check(Case {
        tool: "stdlib_only",
        tests: r#"
import importlib.metadata as md

def test_distributions():
    names = sorted({d.metadata['Name'].lower() for d in md.distributions()})
    assert names == ['attrs', 'iniconfig', 'packaging', 'pluggy', 'pytest']
"#,
        passes: true,
        ..CASE
    })
    .await;
}

#[tokio::test]
async fn a_fork_bomb_hits_the_process_limit() {
    let Some(r) = check(Case {
        tool: "spawn",
        code: r#"
import os, time

def spawn(n):
    children = 0
    for _ in range(n):
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
        children += 1
    return children
"#,
        tests: "from spawn import spawn\n\ndef test_spawn():\n    assert spawn(500) == 500\n",
        output_has: &["BlockingIOError: [Errno 11] Resource temporarily unavailable"],
        error_starts: "tests failed: 1 failed in",
        ..CASE
    })
    .await
    else {
        return;
    };
    let error = r.error.unwrap();
    assert!(error.ends_with("(the sandbox allows 64 processes and threads)"), "{error}");
}

#[tokio::test]
async fn an_endless_fork_bomb_is_killed_at_the_deadline() {
    check(Case {
        tool: "bomb",
        code: r#"
import os

def bomb():
    while True:
        try:
            os.fork()
        except OSError:
            pass
"#,
        tests: "from bomb import bomb\n\ndef test_bomb():\n    bomb()\n",
        timeout: Some(Duration::from_secs(3)),
        error_starts: "timed out after 3 s",
        ..CASE
    })
    .await;
}

#[tokio::test]
async fn memory_exhaustion_is_contained() {
    check(Case {
        tool: "hog",
        code: "def hog():\n    return len(b'x' * (1 << 30))\n",
        tests: "from hog import hog\n\ndef test_hog():\n    assert hog() == 1 << 30\n",
        error_starts: "out of memory: the tests used more than the 512 MB limit and were killed",
        ..CASE
    })
    .await;
}

#[tokio::test]
async fn sleeping_past_the_deadline_is_killed() {
    let Some(r) = check(Case {
        tool: "sleepy",
        code: "import time\n\ndef sleepy():\n    time.sleep(20)\n    return 1\n",
        tests: "from sleepy import sleepy\n\ndef test_sleepy():\n    assert sleepy() == 1\n",
        timeout: Some(Duration::from_secs(3)),
        error_starts: "timed out after 3 s",
        ..CASE
    })
    .await
    else {
        return;
    };
    assert!((3000..15_000).contains(&r.duration_ms), "{} ms", r.duration_ms);
}

#[tokio::test]
async fn a_missing_image_names_the_build_command() {
    let Some(sandbox) = sandbox("a_missing_image", Limits::default()).await else { return };
    let sandbox = sandbox.with_image("toolsmith-sandbox:does-not-exist");
    let err = sandbox.verify_tool("f", "def f(): pass\n", "", &BTreeMap::new()).await.unwrap_err();
    assert!(matches!(err, SandboxError::ImageMissing { .. }), "{err:?}");
    assert!(err.to_string().contains("toolsmith sandbox build"), "{err}");
}

/// `cargo test --test sandbox -- --ignored --nocapture`: verify_tool latency for a trivial tool.
#[tokio::test]
#[ignore]
async fn bench_verify_latency() {
    let Some(sandbox) = sandbox("bench_verify_latency", Limits::default()).await else { return };
    let b = sandbox.bench_verify(10).await.unwrap();
    eprintln!(
        "verify_tool, trivial tool, {} runs: p50 {} ms, min {} ms, max {} ms; {:?}",
        b.runs, b.p50_ms, b.min_ms, b.max_ms, b.samples_ms
    );
}
