//! The Docker sandbox that verifies a new tool before it is registered: the tool's pytest tests run
//! in a throwaway container with no network, a read-only root file system, a small `/tmp`, memory,
//! CPU and process limits and a deadline kept by the container itself. Inside, the judge (pytest)
//! and the tool never share a process: they run as two unprivileged users without capabilities,
//! each call of the tool in a fresh process, and only the judge's own count of pytest's reports
//! can make a verification pass (see `verify.rs`).
//!
//! **Architecture Invariant:** no container outlives Toolsmith: auto-removed by the engine, stopped
//! at its deadline from inside, labelled with its creator, removed when a verification is dropped,
//! by [`shutdown`] on a signal, and by [`SecureSandbox::cleanup_stale`] afterwards (see `cleanup.rs`).
//!
//! **Architecture Invariant:** this module is the only one that talks to Docker. It knows nothing of
//! LLMs, the registry or MCP: source text in, a [`VerificationResult`] or a [`SandboxError`] out.
//!
//! The split between the two answers: a [`VerificationResult`] with `success: false` is the tool's
//! fault (a failing test, a timeout, too much memory) and goes back to whoever wrote the tool; a
//! [`SandboxError`] is the installation's (Docker down, image missing) and names the remedy.
//!
//! The image, `toolsmith-sandbox:<hash of its build inputs>`, is built once by
//! `toolsmith sandbox build` ([`SecureSandbox::ensure_image`]) and reused while the inputs — the
//! embedded `Dockerfile` and `build-offline.sh` — are unchanged.
//!
//! ```no_run
//! # async fn demo() -> Result<(), toolsmith::sandbox::SandboxError> {
//! use std::collections::BTreeMap;
//! use toolsmith::sandbox::SecureSandbox;
//!
//! let sandbox = SecureSandbox::connect().await?;
//! let result = sandbox
//!     .verify_tool(
//!         "double",
//!         "def double(x):\n    return 2 * x\n",
//!         "from double import double\n\ndef test_double():\n    assert double(2) == 4\n",
//!         &BTreeMap::new(),
//!     )
//!     .await?;
//! assert!(result.success, "{}", result.output);
//! # Ok(()) }
//! ```

mod cleanup;
mod image;
mod verify;

use std::path::{Path, PathBuf};
use std::time::Duration;

use bollard::Docker;
use serde::{Deserialize, Serialize};

pub use cleanup::{LABEL, LABEL_DEADLINE, LABEL_HOST, LABEL_PID, LABEL_PID_START, LABEL_TOOL, StaleCleanup, shutdown};
pub use image::{BuildMethod, BuildMode, BuiltImage, ImageInfo, SandboxStatus, StatusItem, image_tag, status};
pub use verify::VerifyBench;

/// What the sandbox allows a test run. Every field has a named default; see [`Limits::default`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock deadline for the test run, from container start to exit, between 1 s and 1 h.
    /// Past it the container stops itself (the host removes it 4 s later if it has not) and the
    /// run is reported as timed out. Default [`Limits::DEFAULT_TIMEOUT`] (30 s).
    pub timeout: Duration,
    /// Memory, with no swap on top (`memory_swap` is set equal). Default 512 MiB.
    pub memory_bytes: i64,
    /// CPU time, in billionths of one CPU. Default 500 000 000 (half of one CPU).
    pub nano_cpus: i64,
    /// Processes and threads inside the container. Default 64: enough for pytest and a pool of
    /// workers, too few for a fork bomb to matter.
    pub pids: i64,
    /// Size of the `/tmp` tmpfs (pytest's `tmp_path` lives there; counts against memory).
    /// Default 64 MiB.
    pub tmp_bytes: i64,
    /// Output kept in [`VerificationResult::output`]: the start and, mostly, the end (where pytest
    /// prints its failures and summary). Default 64 KiB.
    pub max_output_bytes: usize,
}

impl Limits {
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
    pub const DEFAULT_MEMORY_BYTES: i64 = 512 << 20;
    pub const DEFAULT_NANO_CPUS: i64 = 500_000_000;
    pub const DEFAULT_PIDS: i64 = 64;
    pub const DEFAULT_TMP_BYTES: i64 = 64 << 20;
    pub const DEFAULT_MAX_OUTPUT_BYTES: usize = 64 << 10;
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            timeout: Limits::DEFAULT_TIMEOUT,
            memory_bytes: Limits::DEFAULT_MEMORY_BYTES,
            nano_cpus: Limits::DEFAULT_NANO_CPUS,
            pids: Limits::DEFAULT_PIDS,
            tmp_bytes: Limits::DEFAULT_TMP_BYTES,
            max_output_bytes: Limits::DEFAULT_MAX_OUTPUT_BYTES,
        }
    }
}

/// The answer of [`SecureSandbox::verify_tool`] (the seed's `success`, `output`, `error`, plus the
/// time taken). `schemas/verification-result.schema.json` describes its JSON form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub struct VerificationResult {
    /// Every collected test passed.
    pub success: bool,
    /// What pytest printed (stdout and stderr, in order), cut to [`Limits::max_output_bytes`].
    pub output: String,
    /// Why it did not pass, in one line: failed tests with pytest's summary, "timed out after 30 s",
    /// the memory limit, no tests collected, … `None` on success.
    pub error: Option<String>,
    /// Wall-clock time of the whole verification, container set-up and removal included.
    pub duration_ms: u64,
}

/// What went wrong around a verification or an image build: the installation, not the tool.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("Docker is not running ({detail}): start it, or verify with --verify wasm-only")]
    DockerUnavailable { detail: String },
    #[error("the sandbox image {tag} is missing: build it with `toolsmith sandbox build`")]
    ImageMissing { tag: String },
    #[error("cannot verify tool `{tool}`: {reason}")]
    InvalidInput { tool: String, reason: String },
    #[error("building the sandbox image failed while {stage}: {detail}")]
    Build { stage: String, detail: String },
    #[error("the sandbox does not work: {detail}")]
    Broken { detail: String },
    #[error("Docker failed while {stage}: {source}")]
    Docker {
        stage: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("{stage}: {source}")]
    Io {
        stage: String,
        #[source]
        source: std::io::Error,
    },
}

impl SandboxError {
    fn docker(stage: impl Into<String>) -> impl FnOnce(bollard::errors::Error) -> SandboxError {
        let stage = stage.into();
        move |source| SandboxError::Docker { stage, source }
    }
    fn io(stage: impl Into<String>) -> impl FnOnce(std::io::Error) -> SandboxError {
        let stage = stage.into();
        move |source| SandboxError::Io { stage, source }
    }
}

/// A connection to the local Docker engine, the image tag this build of Toolsmith uses, and the
/// limits every verification runs under.
#[derive(Debug, Clone)]
pub struct SecureSandbox {
    docker: Docker,
    image: String,
    limits: Limits,
    scratch_root: PathBuf,
}

impl SecureSandbox {
    /// Connect to Docker at `/var/run/docker.sock` (and agree on an API version, which also checks
    /// the daemon answers), with the default [`Limits`] and the image [`image_tag`].
    pub async fn connect() -> Result<SecureSandbox, SandboxError> {
        let unavailable = |e: bollard::errors::Error| SandboxError::DockerUnavailable { detail: e.to_string() };
        // `connect_with_defaults` honours DOCKER_HOST (a socket elsewhere, rootless Docker); without it, the usual socket.
        let docker = Docker::connect_with_defaults().map_err(unavailable)?;
        // bollard speaks API 1.53 by default; older engines refuse it, so step down to theirs.
        let docker = docker.negotiate_version().await.map_err(unavailable)?;
        Ok(SecureSandbox { docker, image: image_tag(), limits: Limits::default(), scratch_root: std::env::temp_dir() })
    }

    /// Use these limits for every later verification.
    pub fn with_limits(mut self, limits: Limits) -> SecureSandbox {
        self.limits = limits;
        self
    }

    /// Verify in another image than [`image_tag`], e.g. one built elsewhere from the same recipe.
    pub fn with_image(mut self, tag: impl Into<String>) -> SecureSandbox {
        self.image = tag.into();
        self
    }

    /// Make each verification's directory (the tests, data files and tool, bind-mounted into the
    /// container) under `dir` instead of the system's temporary directory, e.g. under the
    /// Toolsmith cache. It must be on a file system the Docker engine can bind-mount from.
    pub fn with_scratch_root(mut self, dir: impl Into<PathBuf>) -> SecureSandbox {
        self.scratch_root = dir.into();
        self
    }

    /// Where verification directories are made (default: the system's temporary directory).
    pub fn scratch_root(&self) -> &Path {
        &self.scratch_root
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The image verifications run in, `toolsmith-sandbox:<hash>`.
    pub fn image(&self) -> &str {
        &self.image
    }
}

fn is_not_found(e: &bollard::errors::Error) -> bool {
    matches!(e, bollard::errors::Error::DockerResponseServerError { status_code: 404, .. })
}
