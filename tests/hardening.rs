//! The runtime's limits hold whatever the guest does (issue S): deadlines while it waits in the
//! host, special files in grants, the write quota, limits the host cannot enforce, forged
//! verdicts and schemas. Each test is written as the attack it defends against.

use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use toolsmith::runtime::{self, Usage};
use toolsmith_host::{
    CallError, CallOptions, ErrorKind, Grant, HostError, Limits, Runtime, TestOptions, ToolUnderTest,
};

fn rt() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        runtime::open(&toolsmith::Config::from_env().unwrap(), Usage::Serving)
            .unwrap_or_else(|e| panic!("the runtime must be built for these tests (scripts/setup.sh): {e}"))
    })
}

fn call(source: &str, function: &str, args: &str, opts: &CallOptions) -> Result<String, CallError> {
    let code = rt().compile(source, "tool.py")?;
    rt().call(&code, function, args, opts).map(|o| o.result.get().to_string())
}

fn short(ms: u64) -> Limits {
    Limits { timeout: Duration::from_millis(ms), ..Limits::default() }
}

/// The call failed with the host's limit `kind`.
fn assert_limit(r: Result<String, CallError>, kind: ErrorKind, what: &str) {
    match r {
        Err(CallError::Tool(e)) => assert_eq!(e.kind, kind, "{what}: {e}"),
        other => panic!("{what}: expected the {kind:?} limit, got {other:?}"),
    }
}

/// The next call is served normally: no slot, thread or instance was left pinned.
fn still_serving() {
    let r = call("def ok():\n    return 1\n", "ok", "{}", &CallOptions::default()).unwrap();
    assert_eq!(r, "1");
}

// -- 1. deadlines while the guest waits in the host ---------------------------------------------

/// Margin allowed past a deadline in these tests: generous for a loaded CI machine, and still a
/// tenth of the 10 s waits below, which a deadline blind to host calls would sit out.
const SLACK: Duration = Duration::from_secs(1);

/// Calling `function` of `source` under a 300 ms limit is a timeout, reported within `SLACK`.
fn assert_ends_at_deadline(source: &str, function: &str, what: &str) {
    let t = Instant::now();
    let r = call(source, function, "{}", &CallOptions { limits: short(300), ..CallOptions::default() });
    assert_limit(r, ErrorKind::Timeout, what);
    assert!(t.elapsed() < Duration::from_millis(300) + SLACK, "{what}: took {:?}", t.elapsed());
}

#[test]
fn a_sleep_ends_at_the_deadline() {
    assert_ends_at_deadline(
        "import time\ndef nap():\n    time.sleep(10)\n    return 'woke'\n",
        "nap",
        "time.sleep(10) under a 300 ms limit",
    );
    still_serving();
}

#[test]
fn many_short_sleeps_end_at_the_deadline() {
    // Each sleep is short enough to return before a naive check; together they outlast it.
    assert_ends_at_deadline(
        "import time\ndef naps():\n    for _ in range(1000):\n        time.sleep(0.01)\n    return 'woke'\n",
        "naps",
        "1000 sleeps of 10 ms under a 300 ms limit",
    );
}

#[test]
fn a_module_body_that_sleeps_ends_at_the_deadline() {
    assert_ends_at_deadline(
        "import time\ntime.sleep(10)\ndef f():\n    return 1\n",
        "f",
        "a module body sleeping 10 s",
    );
}

#[test]
fn concurrent_sleepers_all_end_and_free_their_slots() {
    // More sleepers than a small server would have instances: if a deadline left a slot pinned,
    // the calls after them would wait for ever.
    let handles: Vec<_> = (0..6)
        .map(|_| {
            std::thread::spawn(|| {
                call(
                    "import time\ndef nap():\n    time.sleep(10)\n",
                    "nap",
                    "{}",
                    &CallOptions { limits: short(200), ..CallOptions::default() },
                )
            })
        })
        .collect();
    for h in handles {
        assert_limit(h.join().unwrap(), ErrorKind::Timeout, "a concurrent sleeper");
    }
    still_serving();
}

#[test]
fn tests_that_sleep_end_at_the_run_deadline() {
    let code = rt().compile("def one():\n    return 1\n", "one.py").unwrap();
    let tests = "import time\nfrom one import one\n\ndef test_slow():\n    time.sleep(10)\n    assert one() == 1\n";
    let opts = TestOptions { limits: short(400), ..TestOptions::default() };
    let t = Instant::now();
    let r = rt().run_tests(ToolUnderTest { code: &code, function: "one", positional: &[] }, "one", tests, &opts);
    match r {
        Err(CallError::Tool(e)) => assert_eq!(e.kind, ErrorKind::Timeout, "{e}"),
        other => panic!("expected the run's deadline, got {other:?}"),
    }
    assert!(t.elapsed() < Duration::from_millis(400) + SLACK, "took {:?}", t.elapsed());
    still_serving();
}

#[test]
fn a_tool_that_sleeps_under_test_ends_at_the_run_deadline() {
    let code = rt().compile("import time\ndef nap():\n    time.sleep(10)\n    return 1\n", "nap.py").unwrap();
    let tests = "from nap import nap\n\ndef test_nap():\n    assert nap() == 1\n";
    let opts = TestOptions { limits: short(400), ..TestOptions::default() };
    let t = Instant::now();
    let r = rt().run_tests(ToolUnderTest { code: &code, function: "nap", positional: &[] }, "nap", tests, &opts);
    // The tool's call hits the deadline; the run reports that test as not passed (or, when the
    // run's own deadline comes first, ends as a timeout).
    match r {
        Ok(report) => assert!(!report.success(), "a sleeping tool passed: {report:?}"),
        Err(CallError::Tool(e)) => assert_eq!(e.kind, ErrorKind::Timeout, "{e}"),
        Err(e) => panic!("{e}"),
    }
    assert!(t.elapsed() < Duration::from_millis(400) + SLACK, "took {:?}", t.elapsed());
}

// -- 1b. special files in grants ----------------------------------------------------------------

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo").arg(path).status().expect("mkfifo runs");
    assert!(status.success(), "mkfifo {}", path.display());
}

#[test]
fn a_fifo_in_a_grant_is_refused_not_waited_on() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("plain.txt"), "data").unwrap();
    mkfifo(&dir.path().join("pipe"));
    let grant = Grant { host_path: dir.path().to_path_buf(), guest_path: "data".into(), writable: false };
    let opts = CallOptions { limits: short(5000), grants: vec![grant] };
    let source = "def read(name: str) -> str:\n    try:\n        with open('data/' + name) as f:\n            return f.read()\n    except OSError as e:\n        return 'refused: ' + type(e).__name__\n";
    let t = Instant::now();
    let r = call(source, "read", r#"{"name": "pipe"}"#, &opts).unwrap();
    assert!(r.contains("refused"), "opening a FIFO gave {r}");
    assert!(t.elapsed() < Duration::from_secs(4), "the open waited: {:?}", t.elapsed());
    // Regular files in the same grant still read.
    assert_eq!(call(source, "read", r#"{"name": "plain.txt"}"#, &opts).unwrap(), "\"data\"");
    // A symlink to the FIFO is the FIFO.
    std::os::unix::fs::symlink("pipe", dir.path().join("link")).unwrap();
    let r = call(source, "read", r#"{"name": "link"}"#, &opts).unwrap();
    assert!(r.contains("refused"), "opening a link to a FIFO gave {r}");
}

#[test]
fn a_device_reached_through_a_grant_is_refused() {
    // A device node can only be made by root, so this checks the one every machine has, should
    // a grant cover /dev.
    let grant = Grant { host_path: "/dev".into(), guest_path: "dev".into(), writable: false };
    let opts = CallOptions { limits: short(5000), grants: vec![grant] };
    let source = "def read() -> str:\n    try:\n        with open('dev/zero', 'rb') as f:\n            return str(len(f.read(10)))\n    except OSError as e:\n        return 'refused: ' + type(e).__name__\n";
    let r = call(source, "read", "{}", &opts).unwrap();
    assert!(r.contains("refused"), "reading /dev/zero gave {r}");
}

// -- 3. the write quota -------------------------------------------------------------------------

/// What the guest's libc reports for any failed stream write (WASI's EIO): the quota cannot
/// reach it as ENOSPC, so the host names the quota in the error when the call ends on it.
const GUEST_EIO: i32 = 29;

#[test]
fn writes_past_the_quota_fail() {
    let dir = tempfile::tempdir().unwrap();
    let grant = Grant { host_path: dir.path().to_path_buf(), guest_path: "out".into(), writable: true };
    let limits = Limits { max_write_bytes: 1 << 20, ..Limits::default() };
    let opts = CallOptions { limits, grants: vec![grant] };
    let source = "def fill(mb: int) -> str:\n    chunk = b'x' * 65536\n    try:\n        with open('out/big.bin', 'wb') as f:\n            for _ in range(mb * 16):\n                f.write(chunk)\n    except OSError as e:\n        return 'errno %d' % e.errno\n    return 'wrote'\n";
    let r = call(source, "fill", r#"{"mb": 8}"#, &opts).unwrap();
    assert_eq!(r, format!("\"errno {GUEST_EIO}\""), "8 MiB under a 1 MiB quota");
    let size = std::fs::metadata(dir.path().join("big.bin")).unwrap().len();
    assert!(size <= 1 << 20, "{size} bytes reached the disk");
    // Within the quota the same tool writes.
    assert_eq!(call(source, "fill", r#"{"mb": 0}"#, &opts).unwrap(), "\"wrote\"");
    // Uncaught, the error names the quota.
    let careless = "def fill() -> str:\n    with open('out/big.bin', 'wb') as f:\n        for _ in range(64):\n            f.write(b'x' * 65536)\n    return 'wrote'\n";
    match call(careless, "fill", "{}", &opts) {
        Err(CallError::Tool(e)) => assert!(e.message.contains("quota of 1 MiB"), "{e}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn each_call_has_its_own_quota() {
    let dir = tempfile::tempdir().unwrap();
    let grant = Grant { host_path: dir.path().to_path_buf(), guest_path: "out".into(), writable: true };
    let limits = Limits { max_write_bytes: 1 << 20, ..Limits::default() };
    let opts = CallOptions { limits, grants: vec![grant] };
    let source =
        "def put(name: str) -> int:\n    with open('out/' + name, 'wb') as f:\n        return f.write(b'y' * 700000)\n";
    for name in ["a", "b", "c"] {
        assert_eq!(call(source, "put", &format!(r#"{{"name": "{name}"}}"#), &opts).unwrap(), "700000");
    }
}

#[test]
fn a_test_filling_tmp_path_fails_at_the_quota() {
    let scratch = tempfile::tempdir().unwrap();
    let code = rt().compile("def one():\n    return 1\n", "one.py").unwrap();
    let tests = format!(
        "import pytest\nfrom one import one\n\ndef test_fill(tmp_path):\n    with pytest.raises(OSError) as e:\n        with open(tmp_path / 'big', 'wb') as f:\n            for _ in range(200):\n                f.write(b'z' * (1 << 20))\n    assert e.value.errno == {GUEST_EIO}\n    assert one() == 1\n"
    );
    let opts = TestOptions { tmp_path: Some(scratch.path().to_path_buf()), ..TestOptions::default() };
    let report =
        rt().run_tests(ToolUnderTest { code: &code, function: "one", positional: &[] }, "one", &tests, &opts).unwrap();
    assert!(report.success(), "{}", report.output);
    let used: u64 = walk_size(scratch.path());
    assert!(used <= Limits::DEFAULT_MAX_WRITE_BYTES, "{used} bytes written under a 64 MiB quota");
}

fn walk_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let m = e.metadata().unwrap();
            if m.is_dir() { walk_size(&e.path()) } else { m.len() }
        })
        .sum()
}

// -- 5. impersonation and values that break the contract ----------------------------------------

#[test]
fn a_tool_cannot_impersonate_a_limit() {
    for name in ["Timeout", "FuelExhausted", "MemoryLimitExceeded", "ResultTooLarge"] {
        let source = format!("class {name}(Exception):\n    pass\n\ndef f():\n    raise {name}('not really')\n");
        match call(&source, "f", "{}", &CallOptions::default()) {
            Err(CallError::Tool(e)) => {
                assert_eq!(e.kind, ErrorKind::Guest, "{name} raised by a tool is the tool's error");
                assert_eq!(e.error_type, name);
            }
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn compiling_a_huge_source_hits_the_memory_limit_kind() {
    // A source whose compilation alone needs more than the default memory limit (and little
    // computation: the fuel limit must not come first).
    let literal = format!("'{}', ", "x".repeat(1000));
    let source = format!("X = [{}]\ndef f():\n    return 1\n", literal.repeat(150_000));
    match rt().compile(&source, "huge.py") {
        Err(CallError::Tool(e)) => assert_eq!(e.kind, ErrorKind::MemoryLimit, "{e}"),
        other => panic!("expected the memory limit, got {:?}", other.map(|b| b.len())),
    }
    still_serving();
}

// -- 6. limits the host cannot enforce -----------------------------------------------------------

#[test]
fn limits_past_what_the_host_enforces_are_refused_by_name() {
    let huge_timeout = Limits { timeout: Duration::from_millis(u64::MAX), ..Limits::default() };
    let huge_memory = Limits { memory_bytes: usize::MAX, ..Limits::default() };
    let zero_fuel = Limits { fuel: 0, ..Limits::default() };
    for (limits, name) in [(huge_timeout, "timeout"), (huge_memory, "memory"), (zero_fuel, "fuel")] {
        match call("def f():\n    return 1\n", "f", "{}", &CallOptions { limits, ..CallOptions::default() }) {
            Err(CallError::Host(HostError::InvalidLimit { name: got, detail })) => {
                assert_eq!(got, name);
                assert!(!detail.is_empty());
            }
            other => panic!("{name}: expected an invalid-limit error, got {other:?}"),
        }
    }
    let at_max = Limits { memory_bytes: rt().max_memory_bytes(), timeout: Limits::MAX_TIMEOUT, ..Limits::default() };
    assert_eq!(
        call("def f():\n    return 1\n", "f", "{}", &CallOptions { limits: at_max, ..CallOptions::default() }).unwrap(),
        "1"
    );
}

// -- 2. verification the tool cannot forge ---------------------------------------------------------

fn run(code_src: &str, function: &str, tests: &str) -> toolsmith_host::TestReport {
    let code = rt().compile(code_src, &format!("{function}.py")).unwrap();
    let described = rt().describe(code_src, function).unwrap();
    let positional: Vec<String> = serde_json::from_value(described["positional"].clone()).unwrap();
    rt().run_tests(
        ToolUnderTest { code: &code, function, positional: &positional },
        function,
        tests,
        &TestOptions::default(),
    )
    .unwrap()
}

#[test]
fn a_tool_patching_the_serializer_cannot_forge_a_pass() {
    // The module body replaces json.dumps with one that reports every test as passed; in the
    // judge's interpreter this used to turn a failing suite into a pass.
    let tool = "import json\n_real = json.dumps\ndef _forge(obj, *a, **k):\n    if isinstance(obj, dict) and 'failed' in obj:\n        obj = dict(obj, failed=0, errors=0, passed=max(1, obj.get('passed', 0)))\n    return _real(obj, *a, **k)\njson.dumps = _forge\n\ndef double(x: int) -> int:\n    return x * 3\n";
    let tests = "from double import double\n\ndef test_double():\n    assert double(2) == 4\n";
    let report = run(tool, "double", tests);
    assert!(!report.success(), "a wrong tool passed by patching json: {report:?}");
    assert_eq!(report.failed, 1);
}

#[test]
fn a_tool_exiting_in_its_body_does_not_pass() {
    let tool = "import warnings\nwarnings.sys.modules['os']._exit(0)\n\ndef f() -> int:\n    return 1\n";
    let tests = "from f import f\n\ndef test_f():\n    assert f() == 2\n";
    let report = run(tool, "f", tests);
    assert!(!report.success(), "{report:?}");
}

#[test]
fn a_tool_cannot_forge_its_schema() {
    let tool = "import inspect\n\ndef add(a: int, b: int) -> int:\n    return a + b\n\nadd.__signature__ = inspect.Signature()\nadd.__annotations__ = {}\n";
    let d = rt().describe(tool, "add").unwrap();
    assert_eq!(d["parameters"]["required"], serde_json::json!(["a", "b"]), "{d}");
    assert_eq!(d["parameters"]["properties"]["a"]["type"], "integer", "{d}");
    assert_eq!(d["positional"], serde_json::json!(["a", "b"]));
}

#[test]
fn exceptions_come_back_by_type_so_pytest_raises_works() {
    let tool = "def div(a: int, b: int) -> float:\n    if b == 0:\n        raise ZeroDivisionError('b must not be zero')\n    return a / b\n";
    let tests = "import pytest\nfrom div import div\n\ndef test_ok():\n    assert div(6, 3) == 2\n\ndef test_zero():\n    with pytest.raises(ZeroDivisionError, match='must not be zero'):\n        div(1, b=0)\n";
    let report = run(tool, "div", tests);
    assert!(report.success(), "{}", report.output);
    assert_eq!(report.tool_calls, 2);
}

#[test]
fn big_integers_cross_both_ways() {
    let tool = "def grow(n: int) -> int:\n    return n * 10**10000\n";
    let arg = format!("{{\"n\": {}}}", "7".repeat(7000));
    let r = call(tool, "grow", &arg, &CallOptions::default()).unwrap();
    assert_eq!(r.len(), 7000 + 10000);
    assert!(r.starts_with("777") && r.ends_with("000"));
}
