//! Running one tool's tests in a fresh container: [`SecureSandbox::verify_tool`].

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path};
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig, HostConfigLogConfig, Mount, MountType};
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder,
};
use futures_util::StreamExt;
use serde::Serialize;

use super::{Limits, SandboxError, SecureSandbox, VerificationResult, is_not_found};

/// Where the tool's files appear in the container, read-only; also the working directory.
const WORKDIR: &str = "/work";
/// `nobody:nogroup`, present in both the Dockerfile and the debootstrap image.
const NOBODY: &str = "65534:65534";
/// Every container this module creates carries this label (value `verify`), and `toolsmith.tool`
/// with the tool's name, so that a stray one can be found with `docker ps -a --filter label=…`.
pub(crate) const LABEL: &str = "toolsmith.sandbox";

impl SecureSandbox {
    /// Run the pytest tests of one tool in a fresh container and say whether they pass.
    ///
    /// The files, in one directory the container sees read-only at `/work` (its working directory):
    /// `<function_name>.py` holds `function_code`, `test_<function_name>.py` holds `test_code`, and
    /// each entry of `data_files` (a relative path without `..` → its bytes) sits at its path.
    /// pytest's `tmp_path` and anything else writable live in the `/tmp` tmpfs.
    ///
    /// The container is removed afterwards, also on timeout or error. `Ok` with `success: false`
    /// means the tool failed; `Err` means the sandbox could not run it (see [`SandboxError`]).
    pub async fn verify_tool(
        &self,
        function_name: &str,
        function_code: &str,
        test_code: &str,
        data_files: &BTreeMap<String, Vec<u8>>,
    ) -> Result<VerificationResult, SandboxError> {
        let started = Instant::now();
        let dir = write_workdir(function_name, function_code, test_code, data_files)?;
        let container = self.create(function_name, dir.path()).await?;
        let ran = self.run(&container.id).await;
        container.remove().await;
        let (output, exit) = ran?;
        let error = judge(function_name, &self.limits, &output, exit);
        tracing::debug!(tool = function_name, ?exit, ms = started.elapsed().as_millis() as u64, "verified");
        Ok(VerificationResult {
            success: error.is_none(),
            output,
            error,
            duration_ms: started.elapsed().as_millis() as u64,
        })
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

    async fn create(&self, function_name: &str, dir: &Path) -> Result<Container, SandboxError> {
        let l = &self.limits;
        let host_config = HostConfig {
            mounts: Some(vec![Mount {
                target: Some(WORKDIR.into()),
                source: Some(dir.to_string_lossy().into_owned()),
                typ: Some(MountType::BIND),
                read_only: Some(true),
                ..Default::default()
            }]),
            network_mode: Some("none".into()),
            readonly_rootfs: Some(true),
            tmpfs: Some(HashMap::from([("/tmp".to_string(), format!("rw,noexec,nosuid,nodev,size={}", l.tmp_bytes))])),
            memory: Some(l.memory_bytes),
            memory_swap: Some(l.memory_bytes),
            nano_cpus: Some(l.nano_cpus),
            pids_limit: Some(l.pids),
            cap_drop: Some(vec!["ALL".into()]),
            security_opt: Some(vec!["no-new-privileges".into()]),
            // Output is read through the attach stream (and capped there): nothing goes to disk, so
            // a tool printing in a loop cannot fill the engine's log files.
            log_config: Some(HostConfigLogConfig { typ: Some("none".into()), config: None }),
            ..Default::default()
        };
        let config = ContainerCreateBody {
            image: Some(self.image.clone()),
            cmd: Some(
                ["python3", "-m", "pytest", "-q", "-p", "no:cacheprovider", "--basetemp=/tmp/pt"]
                    .into_iter()
                    .map(String::from)
                    .chain([format!("test_{function_name}.py")])
                    .collect(),
            ),
            env: Some(vec!["PYTHONDONTWRITEBYTECODE=1".into(), "PYTHONUNBUFFERED=1".into(), "HOME=/tmp".into()]),
            working_dir: Some(WORKDIR.into()),
            user: Some(NOBODY.into()),
            network_disabled: Some(true),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            tty: Some(false),
            labels: Some(HashMap::from([
                (LABEL.to_string(), "verify".to_string()),
                ("toolsmith.tool".to_string(), function_name.to_string()),
            ])),
            host_config: Some(host_config),
            ..Default::default()
        };
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        let name = format!("toolsmith-verify-{function_name}-{}", &suffix[..8]);
        let options = CreateContainerOptionsBuilder::default().name(&name).build();
        match self.docker.create_container(Some(options), config).await {
            Ok(created) => Ok(Container { docker: self.docker.clone(), id: created.id, removed: false }),
            Err(e) if is_not_found(&e) => Err(SandboxError::ImageMissing { tag: self.image.clone() }),
            Err(e) => Err(SandboxError::Docker {
                stage: format!("creating the container for tool `{function_name}`"),
                source: e,
            }),
        }
    }

    /// Start the container, collect its output and wait for it to exit or for the deadline.
    async fn run(&self, id: &str) -> Result<(String, Exit), SandboxError> {
        let attach = AttachContainerOptionsBuilder::default().stream(true).stdout(true).stderr(true).build();
        let mut stream = self
            .docker
            .attach_container(id, Some(attach))
            .await
            .map_err(SandboxError::docker("attaching to the test container"))?
            .output;
        self.docker.start_container(id, None).await.map_err(SandboxError::docker("starting the test container"))?;
        let mut out = Capped::new(self.limits.max_output_bytes);
        let finished = tokio::time::timeout(self.limits.timeout, async {
            let drain = async {
                while let Some(chunk) = stream.next().await {
                    match chunk {
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
        let exit = match finished {
            // The container is still running: removing it (forced) kills it.
            Err(_) => Exit::TimedOut,
            Ok(code) => {
                let code = code.map_err(SandboxError::docker("waiting for the test container"))?;
                let state = self
                    .docker
                    .inspect_container(id, None)
                    .await
                    .map_err(SandboxError::docker("inspecting the test container"))?
                    .state;
                let oom_killed = state.and_then(|s| s.oom_killed).unwrap_or(false);
                Exit::Code { code, oom_killed }
            }
        };
        Ok((out.finish(), exit))
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
/// if the verification future is dropped half-way, by a task spawned on drop.
struct Container {
    docker: Docker,
    id: String,
    removed: bool,
}

impl Container {
    async fn remove(mut self) {
        self.removed = true;
        remove_container(&self.docker, &self.id).await;
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
                rt.spawn(async move { remove_container(&docker, &id).await });
            }
            Err(_) => tracing::warn!(container = id, "verification abandoned outside a runtime: container left behind"),
        }
    }
}

async fn remove_container(docker: &Docker, id: &str) {
    let options = RemoveContainerOptionsBuilder::default().force(true).v(true).build();
    if let Err(e) = docker.remove_container(id, Some(options)).await {
        tracing::warn!(container = id, "could not remove the test container: {e}");
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exit {
    Code { code: i64, oom_killed: bool },
    TimedOut,
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

/// Why the run did not pass, in one line; `None` when it did.
fn judge(function_name: &str, limits: &Limits, output: &str, exit: Exit) -> Option<String> {
    let summary = output.lines().rev().map(str::trim).find(|l| !l.is_empty()).unwrap_or("no output");
    let code = match exit {
        Exit::TimedOut => return Some(format!("timed out after {}", seconds(limits.timeout))),
        Exit::Code { oom_killed: true, .. } => {
            return Some(format!(
                "out of memory: the tests used more than the {} MB limit and were killed",
                limits.memory_bytes >> 20
            ));
        }
        Exit::Code { code, .. } => code,
    };
    Some(match code {
        0 => return None,
        1 => {
            let mut e = format!("tests failed: {summary}");
            // What fork(), clone() and thread creation raise at the process limit.
            if output.contains("Resource temporarily unavailable") {
                e += &format!(" (the sandbox allows {} processes and threads)", limits.pids);
            }
            e
        }
        2 => format!("the tests could not run (pytest was interrupted, e.g. by an import error): {summary}"),
        5 => format!("no tests collected from test_{function_name}.py: name test functions test_*"),
        3 | 4 => format!("pytest failed (exit code {code}): {summary}"),
        c if c > 128 => format!("the test run was killed by signal {} (exit code {c}): {summary}", c - 128),
        c => format!("pytest exited with code {c}: {summary}"),
    })
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

/// The tool's files in a fresh temporary directory that `nobody` can read.
fn write_workdir(
    function_name: &str,
    function_code: &str,
    test_code: &str,
    data_files: &BTreeMap<String, Vec<u8>>,
) -> Result<tempfile::TempDir, SandboxError> {
    let invalid = |reason: String| SandboxError::InvalidInput { tool: function_name.to_string(), reason };
    if !is_identifier(function_name) {
        return Err(invalid(format!("the function name must be a Python identifier, got {function_name:?}")));
    }
    let code_file = format!("{function_name}.py");
    let test_file = format!("test_{function_name}.py");
    for path in data_files.keys() {
        check_relative(path).map_err(|why| invalid(format!("data file {path:?}: {why}")))?;
        if Path::new(path) == Path::new(&code_file) || Path::new(path) == Path::new(&test_file) {
            return Err(invalid(format!("data file {path:?} would replace the tool's code or tests")));
        }
    }
    let dir = tempfile::Builder::new()
        .prefix("toolsmith-verify-")
        .tempdir()
        .map_err(SandboxError::io("creating the verification directory"))?;
    let write = |rel: &str, bytes: &[u8]| -> Result<(), SandboxError> {
        let path = dir.path().join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(SandboxError::io(format!("creating the directory of {rel:?}")))?;
        }
        std::fs::write(&path, bytes).map_err(SandboxError::io(format!("writing {rel:?}")))
    };
    write(&code_file, function_code.as_bytes())?;
    write(&test_file, test_code.as_bytes())?;
    for (rel, bytes) in data_files {
        write(rel, bytes)?;
    }
    // The container runs as nobody; tempdir made the directory 0700 and the umask decides the rest.
    open_up(dir.path()).map_err(SandboxError::io("making the verification directory readable"))?;
    Ok(dir)
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

    #[test]
    fn bad_inputs_are_refused_before_docker() {
        let files = |k: &str| BTreeMap::from([(k.to_string(), b"x".to_vec())]);
        let err =
            |name: &str, data: BTreeMap<String, Vec<u8>>| write_workdir(name, "", "", &data).unwrap_err().to_string();
        assert!(err("../evil", BTreeMap::new()).contains("Python identifier"), "{}", err("../evil", BTreeMap::new()));
        assert!(err("f", files("../up.txt")).contains("`..` is not allowed"));
        assert!(err("f", files("/abs.txt")).contains("must be a relative path"));
        assert!(err("f", files("test_f.py")).contains("would replace"));
    }

    #[test]
    fn workdir_is_readable_by_others() {
        let data = BTreeMap::from([("d/e/x.csv".to_string(), b"1,2".to_vec())]);
        let dir = write_workdir("f", "def f(): pass\n", "", &data).unwrap();
        let mode = |p: &str| std::fs::metadata(dir.path().join(p)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(""), 0o755);
        assert_eq!(mode("d/e"), 0o755);
        assert_eq!(mode("d/e/x.csv"), 0o644);
        assert_eq!(std::fs::read_to_string(dir.path().join("f.py")).unwrap(), "def f(): pass\n");
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

    #[test]
    fn verdicts() {
        let l = Limits { timeout: Duration::from_secs(3), ..Limits::default() };
        let code = |c| Exit::Code { code: c, oom_killed: false };
        assert_eq!(judge("f", &l, "1 passed in 0.01s\n", code(0)), None);
        assert_eq!(judge("f", &l, "", Exit::TimedOut).unwrap(), "timed out after 3 s");
        assert_eq!(judge("f", &l, "x\n1 failed in 0.02s\n\n", code(1)).unwrap(), "tests failed: 1 failed in 0.02s");
        assert!(judge("f", &l, "", Exit::Code { code: 137, oom_killed: true }).unwrap().contains("512 MB"));
        assert!(judge("f", &l, "", code(5)).unwrap().contains("test_f.py"));
        assert!(judge("f", &l, "", code(137)).unwrap().contains("signal 9"));
    }
}
