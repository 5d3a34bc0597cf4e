//! Running one tool's tests in a fresh container: [`SecureSandbox::verify_tool`].
//!
//! Inside the container (see `launcher.py`) the judge — pytest with the `toolsmith_judge` plugin,
//! as user toolsmith-judge — and the tool — a fresh process per call, as nobody — never share a
//! process: `from NAME import NAME` binds a proxy that sends each call as JSON to the launcher.
//! The container's stdout is pytest's output; its stderr carries one line, the launcher's
//! verdict, which nothing else in the container can write. [`judge`] decides from that verdict
//! alone: pytest's own counts (collected, passed, failed, errors), the tests the file defines, the
//! tool processes that died without a result, the deadline and the memory limit. No verdict, no
//! pass.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::models::{ContainerCreateBody, HostConfig, HostConfigLogConfig, Mount, MountType};
use bollard::query_parameters::{AttachContainerOptionsBuilder, CreateContainerOptionsBuilder};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use super::cleanup::{self, Creator};
use super::{Limits, SandboxError, SecureSandbox, VerificationResult, is_not_found};

/// Where the tests, the data files and the proxy module appear in the container, read-only; the
/// working directory of the judge and of the tool.
const WORKDIR: &str = "/work";
/// Where the tool's own module appears, read-only; only the tool's processes import it.
const TOOLDIR: &str = "/tool";
/// The launcher starts as root holding only what it needs to start the judge and the tool's
/// processes as their own users (and to kill what the tool leaves behind); they hold nothing.
const LAUNCHER_CAPS: [&str; 4] = ["SETUID", "SETGID", "SETPCAP", "KILL"];
/// The container stops itself this long after the launcher's own deadline (`timeout -s KILL`),
/// and the host removes it this long after that: each limit backs up the one before.
const IN_CONTAINER_GRACE: Duration = Duration::from_secs(1);
const HOST_GRACE: Duration = Duration::from_secs(3);
/// The launcher's stderr holds only its verdict (lists capped inside); more is not read.
const MAX_VERDICT_BYTES: usize = 4 << 20;
/// The shortest and longest deadline a verification accepts.
const MIN_TIMEOUT: Duration = Duration::from_secs(1);
const MAX_TIMEOUT: Duration = Duration::from_secs(3600);
/// Data files that would configure pytest instead of being read by the tests.
const PYTEST_CONFIG: [&str; 5] = ["conftest.py", "pytest.ini", "tox.ini", "setup.cfg", "pyproject.toml"];

impl SecureSandbox {
    /// Run the pytest tests of one tool in a fresh container and say whether they pass.
    ///
    /// The tests, `test_<function_name>.py` holding `test_code`, and each entry of `data_files` (a
    /// relative path without `..` → its bytes) sit in one directory the container sees read-only
    /// at `/work`, the working directory. `<function_name>.py` there is a proxy: the tool's code
    /// runs in a process of its own for each call (arguments and results as JSON, exceptions by
    /// type and message), so the tests can import only `function_name` itself from it. pytest's
    /// `tmp_path` and anything else writable live in the `/tmp` tmpfs, shared with the tool.
    ///
    /// The container and the directory are removed afterwards, also on timeout or error, and also
    /// when this future is dropped before it completes (see [`super::shutdown`] for a process
    /// that exits right after). `Ok` with `success: false` means the tool failed; `Err` means the
    /// sandbox could not run it (see [`SandboxError`]).
    pub async fn verify_tool(
        &self,
        function_name: &str,
        function_code: &str,
        test_code: &str,
        data_files: &BTreeMap<String, Vec<u8>>,
    ) -> Result<VerificationResult, SandboxError> {
        let started = Instant::now();
        let timeout = self.limits.timeout;
        if !(MIN_TIMEOUT..=MAX_TIMEOUT).contains(&timeout) {
            return Err(SandboxError::InvalidInput {
                tool: function_name.to_string(),
                reason: format!(
                    "the sandbox timeout must be between {} and {}, got {timeout:?}",
                    seconds(MIN_TIMEOUT),
                    seconds(MAX_TIMEOUT)
                ),
            });
        }
        let creator = Creator::current();
        let dir = Scratch::write(&self.scratch_root, &creator, function_name, function_code, test_code, data_files)?;
        let container = self.create(function_name, &creator, &dir.0).await?;
        let ran = self.run(&container.id).await;
        container.remove().await;
        drop(dir);
        let ran = ran?;
        let error = judge(function_name, &self.limits, &ran);
        let ms = started.elapsed().as_millis() as u64;
        tracing::debug!(tool = function_name, exit = ?ran.exit, calls = ran.verdict.as_ref().map(|v| v.calls), ms, "verified");
        let mut output = ran.output;
        if ran.verdict.is_none() && !ran.stderr.trim().is_empty() {
            output += &format!("\n[the sandbox's launcher wrote:]\n{}", ran.stderr);
        }
        Ok(VerificationResult { success: error.is_none(), output, error, duration_ms: ms })
    }

    /// Verify a tiny passing tool `runs` times in a row, one after another, and report the
    /// latency: what one verification costs on this machine, set-up and removal included.
    pub async fn bench_verify(&self, runs: usize) -> Result<VerifyBench, SandboxError> {
        let mut samples_ms = Vec::with_capacity(runs);
        for _ in 0..runs {
            let r = self.verify_tool(BENCH_TOOL.0, BENCH_TOOL.1, BENCH_TOOL.2, &BTreeMap::new()).await?;
            if !r.success {
                return Err(SandboxError::Broken {
                    detail: format!("a trivial tool did not pass: {}\n{}", r.error.unwrap_or_default(), r.output),
                });
            }
            samples_ms.push(r.duration_ms);
        }
        Ok(VerifyBench::from_samples(samples_ms))
    }

    async fn create(&self, function_name: &str, creator: &Creator, dir: &Path) -> Result<Container, SandboxError> {
        let l = &self.limits;
        let bind = |sub: &str, target: &str| Mount {
            target: Some(target.into()),
            source: Some(dir.join(sub).to_string_lossy().into_owned()),
            typ: Some(MountType::BIND),
            read_only: Some(true),
            ..Default::default()
        };
        let host_config = HostConfig {
            mounts: Some(vec![bind("work", WORKDIR), bind("tool", TOOLDIR)]),
            // The engine removes the container once it stops, whatever becomes of Toolsmith.
            auto_remove: Some(true),
            network_mode: Some("none".into()),
            readonly_rootfs: Some(true),
            tmpfs: Some(HashMap::from([("/tmp".to_string(), format!("rw,noexec,nosuid,nodev,size={}", l.tmp_bytes))])),
            memory: Some(l.memory_bytes),
            memory_swap: Some(l.memory_bytes),
            nano_cpus: Some(l.nano_cpus),
            pids_limit: Some(l.pids),
            cap_drop: Some(vec!["ALL".into()]),
            cap_add: Some(LAUNCHER_CAPS.iter().map(|c| c.to_string()).collect()),
            security_opt: Some(vec!["no-new-privileges".into()]),
            // Output is read through the attach stream (and capped there): nothing goes to disk, so
            // a tool printing in a loop cannot fill the engine's log files.
            log_config: Some(HostConfigLogConfig { typ: Some("none".into()), config: None }),
            ..Default::default()
        };
        // `timeout` is the container's first process: when it ends, the kernel kills everything
        // else in the container and the engine removes it, even if Toolsmith is gone.
        let hard_limit = l.timeout + IN_CONTAINER_GRACE;
        let cmd = vec![
            "timeout".to_string(),
            "-s".into(),
            "KILL".into(),
            format!("{:.3}", hard_limit.as_secs_f64()),
            "python3".into(),
            "-I".into(),
            "-B".into(),
            "/opt/toolsmith/launcher.py".into(),
            function_name.to_string(),
            l.timeout.as_millis().to_string(),
        ];
        let config = ContainerCreateBody {
            image: Some(self.image.clone()),
            cmd: Some(cmd),
            env: Some(vec!["PYTHONDONTWRITEBYTECODE=1".into(), "PYTHONUNBUFFERED=1".into(), "HOME=/tmp".into()]),
            working_dir: Some(WORKDIR.into()),
            user: Some("0:0".into()),
            network_disabled: Some(true),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            tty: Some(false),
            labels: Some(creator.labels(function_name, l.timeout + HOST_GRACE)),
            host_config: Some(host_config),
            ..Default::default()
        };
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        let name = format!("toolsmith-verify-{function_name}-{}", &suffix[..8]);
        let options = CreateContainerOptionsBuilder::default().name(&name).build();
        // Claimed (tracked, removed on drop) under its name before the engine is asked: an
        // interrupt that lands while the request is in flight would otherwise drop the only
        // record of a container the engine has already made, and a container that never starts
        // is never auto-removed.
        let mut container = Container::new(&self.docker, name);
        match self.docker.create_container(Some(options), config).await {
            Ok(_) => Ok(container),
            Err(e) => {
                container.removed = true;
                cleanup::untrack_container(&container.id);
                Err(if is_not_found(&e) {
                    SandboxError::ImageMissing { tag: self.image.clone() }
                } else {
                    SandboxError::Docker {
                        stage: format!("creating the container for tool `{function_name}`"),
                        source: e,
                    }
                })
            }
        }
    }

    /// Start the container, collect its output and verdict, and wait for it to exit or for the
    /// host's deadline (the container's own comes first).
    async fn run(&self, id: &str) -> Result<Ran, SandboxError> {
        let attach = AttachContainerOptionsBuilder::default().stream(true).stdout(true).stderr(true).build();
        let mut stream = self
            .docker
            .attach_container(id, Some(attach))
            .await
            .map_err(SandboxError::docker("attaching to the test container"))?
            .output;
        self.docker.start_container(id, None).await.map_err(SandboxError::docker("starting the test container"))?;
        let started = Instant::now();
        let mut out = Capped::new(self.limits.max_output_bytes);
        let mut err = Capped::new(MAX_VERDICT_BYTES);
        let finished = tokio::time::timeout(self.limits.timeout + IN_CONTAINER_GRACE + HOST_GRACE, async {
            let drain = async {
                while let Some(chunk) = stream.next().await {
                    match chunk {
                        Ok(LogOutput::StdErr { message }) => err.push(&message),
                        Ok(chunk) => out.push(chunk.as_ref()),
                        Err(e) => {
                            tracing::warn!(container = id, "reading the test output failed: {e}");
                            break;
                        }
                    }
                }
            };
            let (_, code) = tokio::join!(drain, wait_exit(&self.docker, id));
            code
        })
        .await;
        let ran_for = started.elapsed();
        let exit = match finished {
            // Still running: removing it (forced) kills it.
            Err(_) => Exit::TimedOut,
            // Auto-removed before the wait was registered: the verdict says what happened.
            Ok(Err(e)) if is_not_found(&e) => Exit::Code(None),
            Ok(code) => Exit::Code(Some(code.map_err(SandboxError::docker("waiting for the test container"))?)),
        };
        let stderr = err.finish();
        Ok(Ran { output: out.finish(), verdict: parse_verdict(&stderr), stderr, exit, ran_for })
    }
}

/// The tool [`SecureSandbox::bench_verify`] verifies: name, code, tests.
const BENCH_TOOL: (&str, &str, &str) = (
    "add_numbers",
    "def add_numbers(a, b):\n    return a + b\n",
    "from add_numbers import add_numbers\n\ndef test_add_numbers():\n    assert add_numbers(2, 3) == 5\n",
);

/// Latency of back-to-back verifications of a trivial tool ([`SecureSandbox::bench_verify`]).
#[derive(Debug, Clone, Serialize)]
pub struct VerifyBench {
    pub runs: usize,
    pub p50_ms: u64,
    pub min_ms: u64,
    pub max_ms: u64,
    /// Each run's time, in the order they ran (the first includes any cold caches).
    pub samples_ms: Vec<u64>,
}

impl VerifyBench {
    fn from_samples(samples_ms: Vec<u64>) -> VerifyBench {
        let mut sorted = samples_ms.clone();
        sorted.sort_unstable();
        VerifyBench {
            runs: sorted.len(),
            p50_ms: sorted.get(sorted.len() / 2).copied().unwrap_or(0),
            min_ms: sorted.first().copied().unwrap_or(0),
            max_ms: sorted.last().copied().unwrap_or(0),
            samples_ms,
        }
    }
}

/// A created container, removed (forcibly, so also while running) by [`Container::remove`] or,
/// if the verification future is dropped half-way, by a task spawned on drop. Tracked meanwhile
/// for [`super::shutdown`].
struct Container {
    docker: Docker,
    id: String,
    removed: bool,
}

impl Container {
    fn new(docker: &Docker, id: String) -> Container {
        cleanup::track_container(docker, &id);
        Container { docker: docker.clone(), id, removed: false }
    }

    async fn remove(mut self) {
        self.removed = true;
        cleanup::remove_container(&self.docker, &self.id).await;
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        if self.removed {
            return;
        }
        let (docker, id) = (self.docker.clone(), std::mem::take(&mut self.id));
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move { cleanup::remove_container(&docker, &id).await });
            }
            // Still tracked: `shutdown` removes it, or the engine once its deadline stops it.
            Err(_) => tracing::warn!(container = id, "verification abandoned outside a runtime"),
        }
    }
}

/// The verification's directory: `work/` (tests, data files, the proxy module) and `tool/` (the
/// tool's module), removed when dropped, whichever way the verification ends.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(dir = %self.0.display(), "cannot remove the verification directory: {e}");
        }
        cleanup::untrack_dir(&self.0);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exit {
    /// The container's exit code, when the engine still knew it.
    Code(Option<i64>),
    /// The host's deadline passed with the container still running.
    TimedOut,
}

/// What came out of the container.
struct Ran {
    /// pytest's output (the container's stdout), capped.
    output: String,
    /// The launcher's verdict, if it wrote one.
    verdict: Option<Verdict>,
    /// The container's stderr: the verdict line, or the launcher's own failure.
    stderr: String,
    exit: Exit,
    ran_for: Duration,
}

/// The facts the launcher reports (`launcher.py`, `Run.verdict`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct Verdict {
    /// The tool's module does not compile (it was not run).
    tool_error: Option<String>,
    /// The tests the test file defines (`test*` functions and `Test*::test*` methods at the top
    /// level), or why the file could not be read.
    defined: Option<Vec<String>>,
    defined_error: Option<String>,
    /// What the judge's plugin counted from pytest's own reports; `None`: it never reported.
    report: Option<Report>,
    /// pytest's exit code (negative: killed by that signal).
    judge_exit: Option<i64>,
    calls: u64,
    /// Tool processes that ended without a result or an exception, and how.
    crash_count: u64,
    crashes: Vec<String>,
    timed_out: bool,
    oom_kills: i64,
    launcher_error: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct Report {
    /// Each collected test, `name` or `Class::name`, parameters left out.
    collected: Vec<String>,
    passed: u64,
    failed: u64,
    errors: u64,
    skipped: u64,
    xfailed: u64,
    xpassed: u64,
    exitstatus: i64,
}

fn parse_verdict(stderr: &str) -> Option<Verdict> {
    #[derive(Deserialize)]
    struct Line {
        toolsmith_verdict: Verdict,
    }
    let line = stderr.lines().rev().find(|l| l.starts_with(r#"{"toolsmith_verdict""#))?;
    match serde_json::from_str::<Line>(line) {
        Ok(l) => Some(l.toolsmith_verdict),
        Err(e) => {
            tracing::warn!("the sandbox's verdict does not parse: {e}");
            None
        }
    }
}

/// The container's exit status: bollard reports a non-zero one as an error, which here it is not.
async fn wait_exit(docker: &Docker, id: &str) -> Result<i64, bollard::errors::Error> {
    match docker.wait_container(id, None).next().await {
        Some(Ok(r)) => Ok(r.status_code),
        Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Ok(code),
        Some(Err(e)) => Err(e),
        None => {
            Err(bollard::errors::Error::DockerStreamError { error: "the wait stream ended without a status".into() })
        }
    }
}

/// Why the run did not pass, in one line; `None` when it did. Only the launcher's verdict can
/// make it pass: pytest's own counts, all defined tests collected, at least one passed, nothing
/// failed, no tool process died without a result.
fn judge(function_name: &str, limits: &Limits, ran: &Ran) -> Option<String> {
    let output = ran.output.as_str();
    let summary = output.lines().rev().map(str::trim).find(|l| !l.is_empty()).unwrap_or("no output");
    let timed_out = format!("timed out after {}", seconds(limits.timeout));
    let Some(v) = &ran.verdict else {
        if ran.exit == Exit::TimedOut || ran.ran_for >= limits.timeout {
            return Some(timed_out);
        }
        let code = match ran.exit {
            Exit::Code(Some(c)) => format!("exit code {c}"),
            _ => "exit code unknown".into(),
        };
        let why = ran.stderr.lines().rev().map(str::trim).find(|l| !l.is_empty()).unwrap_or("nothing on stderr");
        return Some(format!("the sandbox ended without a verdict ({code}): {why}"));
    };
    if v.timed_out || ran.exit == Exit::TimedOut {
        return Some(timed_out);
    }
    if v.oom_kills > 0 {
        return Some(format!(
            "out of memory: the tests used more than the {} MB limit and were killed",
            limits.memory_bytes >> 20
        ));
    }
    if let Some(e) = &v.launcher_error {
        let last = e.lines().rev().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
        return Some(format!("the sandbox's launcher failed: {last}"));
    }
    if let Some(e) = &v.tool_error {
        let last = e.lines().rev().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
        return Some(format!("the tool does not compile: {last}"));
    }
    if v.crash_count > 0 {
        let first = v.crashes.first().map(String::as_str).unwrap_or("");
        let times = if v.crash_count == 1 { "once".to_string() } else { format!("{} times", v.crash_count) };
        return Some(format!("the tool's process ended without a result or an exception {times}: {first}"));
    }
    let Some(r) = &v.report else {
        let code = v.judge_exit.map_or("unknown".to_string(), |c| c.to_string());
        return Some(format!("the test run ended without the judge's report (pytest exit code {code}): {summary}"));
    };
    let test_file = format!("test_{function_name}.py");
    let no_tests = format!("no tests collected from {test_file}: name test functions test_*");
    match r.exitstatus {
        0 if r.failed == 0 && r.errors == 0 => {}
        0 | 1 => {
            let mut e = format!("tests failed: {summary}");
            // What fork(), clone() and thread creation raise at the process limit.
            if output.contains("Resource temporarily unavailable") {
                e += &format!(" (the sandbox allows {} processes and threads)", limits.pids);
            }
            return Some(e);
        }
        2 => {
            let mut e = format!("the tests could not run (pytest was interrupted, e.g. by an import error): {summary}");
            if output.contains("cannot import name") {
                e += &format!(
                    " (only `{function_name}` itself can be imported from `{function_name}`: the tool runs in a process of its own)"
                );
            }
            return Some(e);
        }
        5 => return Some(no_tests),
        c => return Some(format!("pytest failed (exit code {c}): {summary}")),
    }
    let Some(defined) = &v.defined else {
        let why = v.defined_error.as_deref().unwrap_or("unknown");
        return Some(format!("{test_file} could not be read to count its tests: {why}"));
    };
    if defined.is_empty() || r.collected.is_empty() {
        return Some(no_tests);
    }
    let collected: HashSet<&str> = r.collected.iter().map(String::as_str).collect();
    let mut seen = HashSet::new();
    let missing: Vec<String> = defined
        .iter()
        .filter_map(|d| {
            if !seen.insert(d.as_str()) {
                Some(format!("{d} (defined twice: only the last definition runs)"))
            } else if !collected.contains(d.as_str()) {
                Some(d.clone())
            } else {
                None
            }
        })
        .collect();
    if !missing.is_empty() {
        let shown: Vec<&str> = missing.iter().take(5).map(String::as_str).collect();
        let more = if missing.len() > 5 { format!(" and {} more", missing.len() - 5) } else { String::new() };
        return Some(format!(
            "pytest ran fewer tests than {test_file} defines ({} defined, {} not run: {}{more})",
            defined.len(),
            missing.len(),
            shown.join(", ")
        ));
    }
    if v.judge_exit != Some(0) {
        let code = v.judge_exit.map_or("unknown".to_string(), |c| c.to_string());
        return Some(format!("pytest exited with code {code} after reporting success: {summary}"));
    }
    if r.passed == 0 {
        return Some(format!(
            "no test passed ({} skipped, {} xfailed, {} xpassed): a tool is verified only by tests that run",
            r.skipped, r.xfailed, r.xpassed
        ));
    }
    None
}

fn seconds(d: Duration) -> String {
    if d.subsec_millis() == 0 { format!("{} s", d.as_secs()) } else { format!("{:.1} s", d.as_secs_f64()) }
}

/// Output kept within a byte budget: the first quarter, then the most recent bytes.
struct Capped {
    head_max: usize,
    tail_max: usize,
    head: Vec<u8>,
    tail: VecDeque<u8>,
    dropped: usize,
}

impl Capped {
    fn new(max: usize) -> Capped {
        let head_max = max / 4;
        Capped { head_max, tail_max: max - head_max, head: Vec::new(), tail: VecDeque::new(), dropped: 0 }
    }

    fn push(&mut self, mut bytes: &[u8]) {
        let room = self.head_max - self.head.len();
        let into_head = room.min(bytes.len());
        self.head.extend_from_slice(&bytes[..into_head]);
        bytes = &bytes[into_head..];
        self.tail.extend(bytes);
        let excess = self.tail.len().saturating_sub(self.tail_max);
        self.tail.drain(..excess);
        self.dropped += excess;
    }

    fn finish(mut self) -> String {
        if self.dropped > 0 {
            self.head.extend_from_slice(format!("\n[… {} bytes of output left out …]\n", self.dropped).as_bytes());
        }
        self.head.extend(self.tail);
        String::from_utf8_lossy(&self.head).into_owned()
    }
}

impl Scratch {
    /// The tool's files in a fresh directory under `root` that the container's users can read.
    fn write(
        root: &Path,
        creator: &Creator,
        function_name: &str,
        function_code: &str,
        test_code: &str,
        data_files: &BTreeMap<String, Vec<u8>>,
    ) -> Result<Scratch, SandboxError> {
        let invalid = |reason: String| SandboxError::InvalidInput { tool: function_name.to_string(), reason };
        if !is_identifier(function_name) {
            return Err(invalid(format!("the function name must be a Python identifier, got {function_name:?}")));
        }
        let code_file = format!("{function_name}.py");
        let test_file = format!("test_{function_name}.py");
        for path in data_files.keys() {
            check_relative(path).map_err(|why| invalid(format!("data file {path:?}: {why}")))?;
            let p = Path::new(path);
            if p == Path::new(&code_file) || p == Path::new(&test_file) {
                return Err(invalid(format!("data file {path:?} would replace the tool's code or tests")));
            }
            let file_name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if file_name == "conftest.py" || (p.components().count() == 1 && PYTEST_CONFIG.contains(&file_name)) {
                return Err(invalid(format!("data file {path:?} would configure pytest; name it otherwise")));
            }
        }
        let dir = tempfile::Builder::new()
            .prefix(&creator.scratch_prefix())
            .tempdir_in(root)
            .map_err(SandboxError::io(format!("creating the verification directory under {}", root.display())))?
            .keep();
        cleanup::track_dir(&dir);
        let scratch = Scratch(dir);
        let write = |rel: &str, bytes: &[u8]| -> Result<(), SandboxError> {
            let path = scratch.0.join(rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(SandboxError::io(format!("creating the directory of {rel:?}")))?;
            }
            std::fs::write(&path, bytes).map_err(SandboxError::io(format!("writing {rel:?}")))
        };
        write(&format!("tool/{code_file}"), function_code.as_bytes())?;
        write(&format!("work/{code_file}"), proxy_module(function_name).as_bytes())?;
        write(&format!("work/{test_file}"), test_code.as_bytes())?;
        for (rel, bytes) in data_files {
            write(&format!("work/{rel}"), bytes)?;
        }
        // The container's users are not the owner; tempdir made the directory 0700 and the umask
        // decides the rest.
        open_up(&scratch.0).map_err(SandboxError::io("making the verification directory readable"))?;
        Ok(scratch)
    }
}

/// What `from NAME import NAME` finds in the judge: a function that calls the tool in its own process.
fn proxy_module(function_name: &str) -> String {
    format!(
        "# The tool runs in a process of its own, as another user; this module forwards each call to it.\n\
         from toolsmith_judge import proxy as _proxy\n\n{function_name} = _proxy({function_name:?})\n\
         __all__ = [{function_name:?}]\ndel _proxy\n"
    )
}

/// Directories 0755, files 0644, all the way down.
fn open_up(path: &Path) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(path)?;
    if meta.is_dir() {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))?;
        for entry in std::fs::read_dir(path)? {
            open_up(&entry?.path())?;
        }
    } else if meta.is_file() {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))?;
    }
    Ok(())
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// A data file's path must stay inside the working directory.
fn check_relative(path: &str) -> Result<(), &'static str> {
    let mut normal = 0;
    for c in Path::new(path).components() {
        match c {
            Component::Normal(_) => normal += 1,
            Component::CurDir => {}
            Component::ParentDir => return Err("`..` is not allowed"),
            Component::RootDir | Component::Prefix(_) => return Err("must be a relative path"),
        }
    }
    if normal == 0 { Err("names no file") } else { Ok(()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_paths_stay_inside() {
        assert!(check_relative("data/x.csv").is_ok());
        assert!(check_relative("./x.csv").is_ok());
        assert_eq!(check_relative("../x"), Err("`..` is not allowed"));
        assert_eq!(check_relative("a/../../x"), Err("`..` is not allowed"));
        assert_eq!(check_relative("/etc/passwd"), Err("must be a relative path"));
        assert_eq!(check_relative(""), Err("names no file"));
        assert_eq!(check_relative("./"), Err("names no file"));
    }

    fn write(name: &str, data: &BTreeMap<String, Vec<u8>>) -> Result<Scratch, SandboxError> {
        let root = std::env::temp_dir();
        Scratch::write(&root, &Creator::current(), name, "def f(): pass\n", "", data)
    }

    #[test]
    fn bad_inputs_are_refused_before_docker() {
        let files = |k: &str| BTreeMap::from([(k.to_string(), b"x".to_vec())]);
        let err = |name: &str, data: BTreeMap<String, Vec<u8>>| write(name, &data).err().unwrap().to_string();
        assert!(err("../evil", BTreeMap::new()).contains("Python identifier"), "{}", err("../evil", BTreeMap::new()));
        assert!(err("f", files("../up.txt")).contains("`..` is not allowed"));
        assert!(err("f", files("/abs.txt")).contains("must be a relative path"));
        assert!(err("f", files("test_f.py")).contains("would replace"));
        assert!(err("f", files("sub/conftest.py")).contains("would configure pytest"));
        assert!(err("f", files("pytest.ini")).contains("would configure pytest"));
        assert!(write("f", &files("data/pytest.ini")).is_ok());
    }

    #[test]
    fn the_tool_is_apart_from_the_tests_and_the_directory_goes_with_its_guard() {
        let data = BTreeMap::from([("d/e/x.csv".to_string(), b"1,2".to_vec())]);
        let scratch = write("f", &data).unwrap();
        let dir = scratch.0.clone();
        let mode = |p: &str| std::fs::metadata(dir.join(p)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(""), 0o755);
        assert_eq!(mode("work/d/e"), 0o755);
        assert_eq!(mode("work/d/e/x.csv"), 0o644);
        assert_eq!(std::fs::read_to_string(dir.join("tool/f.py")).unwrap(), "def f(): pass\n");
        assert!(std::fs::read_to_string(dir.join("work/f.py")).unwrap().contains("f = _proxy(\"f\")"));
        drop(scratch);
        assert!(!dir.exists());
    }

    #[test]
    fn output_keeps_head_and_tail() {
        let mut c = Capped::new(16);
        c.push(b"0123");
        c.push(b"abcdefghijklmnopqrstuvwxyz");
        let s = c.finish();
        assert!(s.starts_with("0123\n[… 14 bytes of output left out …]\n"), "{s}");
        assert!(s.ends_with("stuvwxyz") && s.contains("opqr"), "{s}");
    }

    fn ran(output: &str, verdict: Option<&str>) -> Ran {
        let stderr = verdict.map(|v| format!("{{\"toolsmith_verdict\": {v}}}\n")).unwrap_or_default();
        Ran {
            output: output.into(),
            verdict: parse_verdict(&stderr),
            stderr,
            exit: Exit::Code(Some(0)),
            ran_for: Duration::from_millis(400),
        }
    }

    const PASSED: &str = concat!(
        r#"{"defined": ["test_a", "T::test_b"], "judge_exit": 0, "calls": 2, "report": "#,
        r#"{"collected": ["test_a", "T::test_b", "T::test_b"], "passed": 3, "exitstatus": 0}}"#
    );

    #[test]
    fn verdicts() {
        let l = Limits { timeout: Duration::from_secs(3), ..Limits::default() };
        let j = |output: &str, v: Option<&str>| judge("f", &l, &ran(output, v));
        assert_eq!(j("3 passed in 0.01s\n", Some(PASSED)), None);
        // pytest's words and exit code alone are not enough: the verdict is.
        assert_eq!(
            j("3 passed in 0.01s\n", None).unwrap(),
            "the sandbox ended without a verdict (exit code 0): nothing on stderr"
        );
        let no_report = r#"{"defined": ["test_a"], "judge_exit": 0}"#;
        assert!(j("1 passed", Some(no_report)).unwrap().starts_with("the test run ended without the judge's report"));
        let fewer = PASSED.replace(r#""T::test_b", "T::test_b""#, r#""T::test_c""#);
        assert_eq!(
            j("", Some(&fewer)).unwrap(),
            "pytest ran fewer tests than test_f.py defines (2 defined, 1 not run: T::test_b)"
        );
        let twice = PASSED.replace(r#"["test_a", "T::test_b"]"#, r#"["test_a", "test_a", "T::test_b"]"#);
        assert!(j("", Some(&twice)).unwrap().contains("test_a (defined twice"));
        let crashed = PASSED.replace(r#""calls": 2"#, r#""crash_count": 1, "crashes": ["exited with status 0"]"#);
        assert!(j("", Some(&crashed)).unwrap().ends_with("once: exited with status 0"));
        let failed = r#"{"defined": ["test_a"], "report": {"collected": ["test_a"], "failed": 1, "exitstatus": 1}}"#;
        assert_eq!(j("x\n1 failed in 0.02s\n\n", Some(failed)).unwrap(), "tests failed: 1 failed in 0.02s");
        let skipped = r#"{"defined": ["test_a"], "judge_exit": 0, "report": {"collected": ["test_a"], "skipped": 1}}"#;
        assert!(j("", Some(skipped)).unwrap().starts_with("no test passed (1 skipped"));
        let none = r#"{"defined": [], "report": {"exitstatus": 5}}"#;
        assert_eq!(j("", Some(none)).unwrap(), "no tests collected from test_f.py: name test functions test_*");
        assert_eq!(j("", Some(r#"{"timed_out": true}"#)).unwrap(), "timed out after 3 s");
        assert!(j("", Some(r#"{"oom_kills": 1}"#)).unwrap().contains("512 MB"));
        assert!(
            j("", Some(r#"{"tool_error": "  File x\nSyntaxError: bad\n"}"#)).unwrap().ends_with("SyntaxError: bad")
        );
        let mut late = ran("", None);
        late.ran_for = Duration::from_secs(4);
        assert_eq!(judge("f", &l, &late).unwrap(), "timed out after 3 s");
    }
}
