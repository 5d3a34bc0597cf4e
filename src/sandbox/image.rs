//! The sandbox image: its tag, building it ([`SecureSandbox::ensure_image`]) and what
//! `toolsmith sandbox status` reports ([`status`]).
//!
//! Two ways to build the same contents (CPython 3.11, pytest 7.2.1 and its four dependencies,
//! nothing else; the judge's user and files, `launcher.py` and `toolsmith_judge.py`, in
//! `/opt/toolsmith`):
//! - from `Dockerfile` through the engine's build API, when a registry is reachable;
//! - offline, with `build-offline.sh`: debootstrap a minimal Debian bookworm root file system into
//!   a tarball (cached under the cache directory), import it through the engine's image-create
//!   API (what `docker import` does) as the base `toolsmith-sandbox-base:<hash of its recipe>`,
//!   then build the Dockerfile's judge layer (everything after its `# judge layer` line) on top:
//!   no registry and no docker CLI are needed, and a change to the judge alone rebuilds in seconds.
//!
//! All these files are embedded in the binary and hashed into the tag, so a changed recipe is a
//! new tag and an unchanged one is built once per engine.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::query_parameters::{BuildImageOptionsBuilder, CreateImageOptionsBuilder};
use futures_util::StreamExt;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{SandboxError, SecureSandbox, is_not_found};

const REPO: &str = "toolsmith-sandbox";
const BASE_REPO: &str = "toolsmith-sandbox-base";
const DOCKERFILE: &str = include_str!("Dockerfile");
const BUILD_OFFLINE: &str = include_str!("build-offline.sh");
/// Where the Dockerfile's judge layer starts: the part built on the offline base too.
const JUDGE_LAYER_MARKER: &str = "# judge layer\n";
/// The files the Dockerfile copies into the image, by name.
const CONTEXT_FILES: [(&str, &str); 2] =
    [("launcher.py", include_str!("launcher.py")), ("toolsmith_judge.py", include_str!("toolsmith_judge.py"))];
/// What the Dockerfile's ENV, USER, WORKDIR and CMD say, applied to the imported root file system.
const IMPORT_CHANGES: [&str; 5] = [
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
    "USER nobody",
    "WORKDIR /work",
    r#"CMD ["python3"]"#,
];
/// Per-request limit for build and import calls (bollard's default is 2 minutes).
const BUILD_REQUEST_TIMEOUT: Duration = Duration::from_secs(900);

fn hash_of<'a>(parts: impl IntoIterator<Item = &'a str>) -> String {
    let mut h = Sha256::new();
    for part in parts {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())[..12].to_string()
}

fn inputs_hash() -> String {
    let changes = IMPORT_CHANGES.join("\n");
    hash_of([DOCKERFILE, BUILD_OFFLINE, &changes].into_iter().chain(CONTEXT_FILES.iter().flat_map(|(n, c)| [*n, *c])))
}

/// The offline base's recipe alone: the debootstrap tarball and the imported base are reused
/// across changes of the judge layer.
fn base_hash() -> String {
    hash_of([BUILD_OFFLINE, &IMPORT_CHANGES.join("\n")])
}

fn judge_layer() -> &'static str {
    let at = DOCKERFILE.find(JUDGE_LAYER_MARKER).expect("the Dockerfile has a judge layer marker");
    &DOCKERFILE[at..]
}

/// `toolsmith-sandbox:<first 12 hex digits of the SHA-256 of the build inputs>`.
pub fn image_tag() -> String {
    format!("{REPO}:{}", inputs_hash())
}

/// How [`SecureSandbox::ensure_image`] may build a missing image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BuildMode {
    /// From the Dockerfile; if that fails (no registry to pull the base image from), offline.
    Auto,
    /// Offline only: debootstrap and import, never a registry.
    Offline,
}

/// How the image came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BuildMethod {
    /// The tag was already in the engine: nothing was built.
    Reused,
    /// Built from the Dockerfile.
    Dockerfile,
    /// Root file system built with debootstrap, then imported.
    Offline,
    /// Imported from the root file system tarball an earlier offline build cached.
    OfflineCachedRootfs,
}

/// The answer of [`SecureSandbox::ensure_image`] (and of `toolsmith sandbox build --json`).
#[derive(Debug, Clone, Serialize)]
pub struct BuiltImage {
    pub method: BuildMethod,
    /// Time taken by this call.
    pub seconds: f64,
    /// The offline root file system tarball, when one was built or used.
    pub rootfs_tarball: Option<PathBuf>,
    pub image: ImageInfo,
}

/// An image in the engine.
#[derive(Debug, Clone, Serialize)]
pub struct ImageInfo {
    pub tag: String,
    pub id: String,
    pub size_bytes: Option<i64>,
}

impl SecureSandbox {
    /// The sandbox image, if the engine has it.
    pub async fn image_info(&self) -> Result<Option<ImageInfo>, SandboxError> {
        match self.docker.inspect_image(&self.image).await {
            Ok(i) => Ok(Some(ImageInfo { tag: self.image.clone(), id: i.id.unwrap_or_default(), size_bytes: i.size })),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(SandboxError::Docker { stage: format!("looking up the image {}", self.image), source: e }),
        }
    }

    /// Make sure the engine has the sandbox image: reuse the tag if present, otherwise build it as
    /// `mode` allows. The offline build caches its root file system tarball in
    /// `<cache_dir>/sandbox/` (a cold offline build takes 1–2 minutes and needs root and
    /// debootstrap; importing a cached tarball, seconds).
    pub async fn ensure_image(&self, cache_dir: &Path, mode: BuildMode) -> Result<BuiltImage, SandboxError> {
        let started = Instant::now();
        let done = |method, rootfs_tarball, image| BuiltImage {
            method,
            seconds: started.elapsed().as_secs_f64(),
            rootfs_tarball,
            image,
        };
        if let Some(image) = self.image_info().await? {
            return Ok(done(BuildMethod::Reused, None, image));
        }
        let docker = self.docker.clone().with_timeout(BUILD_REQUEST_TIMEOUT);
        let (method, tarball) = match mode {
            BuildMode::Auto => match build_from_dockerfile(&docker, &self.image, DOCKERFILE).await {
                Ok(()) => (BuildMethod::Dockerfile, None),
                Err(detail) => {
                    tracing::warn!("the Dockerfile build failed (no registry?): {detail}; building offline instead");
                    build_offline(&docker, &self.image, cache_dir).await?
                }
            },
            BuildMode::Offline => build_offline(&docker, &self.image, cache_dir).await?,
        };
        let image = self.image_info().await?.ok_or_else(|| SandboxError::Build {
            stage: "checking the new image".into(),
            detail: format!("{} is not in the engine after the build", self.image),
        })?;
        tracing::info!(tag = self.image, ?method, "sandbox image ready");
        Ok(done(method, tarball, image))
    }
}

/// Build `dockerfile` with the judge's files as its context; on failure, what went wrong.
async fn build_from_dockerfile(docker: &Docker, tag: &str, dockerfile: &str) -> Result<(), String> {
    let mut context = tar::Builder::new(Vec::new());
    for (name, text) in [("Dockerfile", dockerfile)].into_iter().chain(CONTEXT_FILES) {
        let mut header = tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        context.append_data(&mut header, name, text.as_bytes()).map_err(|e| e.to_string())?;
    }
    let context = context.into_inner().map_err(|e| e.to_string())?;
    let options = BuildImageOptionsBuilder::default().dockerfile("Dockerfile").t(tag).rm(true).forcerm(true).build();
    let mut progress = docker.build_image(options, None, Some(bollard::body_full(context.into())));
    while let Some(step) = progress.next().await {
        let step = step.map_err(|e| e.to_string())?;
        if let Some(line) = step.stream.as_deref().map(str::trim_end).filter(|l| !l.is_empty()) {
            tracing::debug!("docker build: {line}");
        }
    }
    Ok(())
}

async fn build_offline(
    docker: &Docker,
    tag: &str,
    cache_dir: &Path,
) -> Result<(BuildMethod, Option<PathBuf>), SandboxError> {
    let hash = base_hash();
    let base = format!("{BASE_REPO}:{hash}");
    let dir = cache_dir.join("sandbox");
    let tarball = dir.join(format!("rootfs-{hash}.tar.gz"));
    let method = if image_exists(docker, &base).await? || tarball.exists() {
        BuildMethod::OfflineCachedRootfs
    } else {
        run_build_script(&dir, &tarball, &hash).await?;
        BuildMethod::Offline
    };
    if !image_exists(docker, &base).await? {
        import_rootfs(docker, &base, &tarball).await?;
    }
    let dockerfile = format!("FROM {base}\n{}", judge_layer());
    build_from_dockerfile(docker, tag, &dockerfile)
        .await
        .map_err(|detail| SandboxError::Build { stage: format!("building the judge layer on {base}"), detail })?;
    remove_stale_files(&dir, &hash);
    Ok((method, Some(tarball)))
}

async fn image_exists(docker: &Docker, tag: &str) -> Result<bool, SandboxError> {
    match docker.inspect_image(tag).await {
        Ok(_) => Ok(true),
        Err(e) if is_not_found(&e) => Ok(false),
        Err(e) => Err(SandboxError::Docker { stage: format!("looking up the image {tag}"), source: e }),
    }
}

/// Run `build-offline.sh`, its output going to `build-<hash>.log` beside the tarball.
async fn run_build_script(dir: &Path, tarball: &Path, hash: &str) -> Result<(), SandboxError> {
    let failed =
        |detail: String| SandboxError::Build { stage: "building the root file system with debootstrap".into(), detail };
    std::fs::create_dir_all(dir).map_err(SandboxError::io(format!("creating {}", dir.display())))?;
    let log_path = dir.join(format!("build-{hash}.log"));
    let log = std::fs::File::create(&log_path).map_err(SandboxError::io(format!("creating {}", log_path.display())))?;
    let log_err = log.try_clone().map_err(SandboxError::io("opening the build log"))?;
    // A file rather than `sh -s`: the script's own commands (debootstrap, dpkg) must not read it.
    let script = dir.join(format!("build-offline-{hash}.sh"));
    std::fs::write(&script, BUILD_OFFLINE).map_err(SandboxError::io(format!("writing {}", script.display())))?;
    tracing::info!(log = %log_path.display(), "building the sandbox root file system with debootstrap");
    let status = tokio::process::Command::new("sh")
        .arg(&script)
        .arg(tarball)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .status()
        .await
        .map_err(|e| failed(format!("cannot run sh: {e}")))?;
    let _ = std::fs::remove_file(&script);
    if status.success() {
        return Ok(());
    }
    let text = std::fs::read_to_string(&log_path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(12)..].join("\n");
    Err(failed(format!("{status}:\n{tail}\n(full log: {})", log_path.display())))
}

/// What `docker import` does: the tarball becomes a one-layer image with the Dockerfile's settings.
async fn import_rootfs(docker: &Docker, tag: &str, tarball: &Path) -> Result<(), SandboxError> {
    let body = tokio::fs::read(tarball).await.map_err(SandboxError::io(format!("reading {}", tarball.display())))?;
    let (repo, version) = tag.split_once(':').unwrap_or((tag, "latest"));
    let options = CreateImageOptionsBuilder::default()
        .from_src("-")
        .repo(repo)
        .tag(version)
        .changes(IMPORT_CHANGES.iter().map(|c| c.to_string()).collect())
        .message("toolsmith sandbox: Debian bookworm minbase, python3, python3-pytest (build-offline.sh)")
        .build();
    let mut progress = docker.create_image(Some(options), Some(bollard::body_full(body.into())), None);
    while let Some(step) = progress.next().await {
        step.map_err(|e| SandboxError::Build {
            stage: "importing the root file system".into(),
            detail: format!("{e} (if {} is damaged, delete it to rebuild it)", tarball.display()),
        })?;
    }
    Ok(())
}

/// Tarballs and logs of earlier recipes can never be used again.
fn remove_stale_files(dir: &Path, hash: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for path in entries.flatten().map(|e| e.path()) {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let ours = (name.starts_with("rootfs-") && name.ends_with(".tar.gz"))
            || (name.starts_with("build-") && name.ends_with(".log"));
        if ours && !name.contains(hash) {
            match std::fs::remove_file(&path) {
                Ok(()) => tracing::info!(path = %path.display(), "removed a stale sandbox build file"),
                Err(e) => tracing::warn!(path = %path.display(), "cannot remove a stale sandbox build file: {e}"),
            }
        }
    }
}

/// One line of `toolsmith sandbox status`.
#[derive(Debug, Clone, Serialize)]
pub struct StatusItem {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
    /// What to do about it, when it is not ok.
    pub fix: Option<String>,
}

/// Whether new tools can be verified here, and what to do if not.
#[derive(Debug, Clone, Serialize)]
pub struct SandboxStatus {
    /// The image this build of Toolsmith verifies in.
    pub tag: String,
    /// Docker answers, the image is present and a trivial tool verifies.
    pub ready: bool,
    pub items: Vec<StatusItem>,
}

/// Check Docker, remove stale verification containers and directories
/// ([`SecureSandbox::cleanup_stale`]), check the image, and (when Docker and the image are there)
/// verify a trivial tool end to end.
pub async fn status() -> SandboxStatus {
    let tag = image_tag();
    let item =
        |name, ok, detail: String, fix: Option<&str>| StatusItem { name, ok, detail, fix: fix.map(String::from) };
    let sandbox = match SecureSandbox::connect().await {
        Ok(s) => s,
        Err(e) => {
            return SandboxStatus {
                ready: false,
                items: vec![
                    item(
                        "docker",
                        false,
                        e.to_string(),
                        Some(
                            "start Docker (e.g. `sudo service docker start`), or verify new tools with --verify wasm-only",
                        ),
                    ),
                    item(
                        "image",
                        false,
                        format!("{tag}: unknown, Docker is not reachable"),
                        Some("start Docker, then `toolsmith sandbox build`"),
                    ),
                ],
                tag,
            };
        }
    };
    let mut items = vec![match sandbox.docker.version().await {
        Ok(v) => item(
            "docker",
            true,
            format!(
                "Docker {} (API {}) at /var/run/docker.sock",
                v.version.unwrap_or_default(),
                sandbox.docker.client_version(),
            ),
            None,
        ),
        Err(e) => item("docker", false, e.to_string(), Some("check that the Docker daemon is healthy")),
    }];
    items.push(match sandbox.cleanup_stale().await {
        Ok(c) if c.removed_containers.is_empty() && c.removed_dirs.is_empty() => {
            item("leftovers", true, format!("no stale verification containers ({} in use)", c.in_use), None)
        }
        Ok(c) => item(
            "leftovers",
            true,
            format!(
                "removed {} stale verification container(s) [{}] and {} directory(ies) left by runs that ended",
                c.removed_containers.len(),
                c.removed_containers.join(", "),
                c.removed_dirs.len()
            ),
            None,
        ),
        Err(e) => item("leftovers", false, e.to_string(), Some("check that the Docker daemon is healthy")),
    });
    let build = "build it: `toolsmith sandbox build` (offline, the first time: 1–2 minutes)";
    let present = match sandbox.image_info().await {
        Ok(Some(i)) => {
            let mb = i.size_bytes.map(|b| format!(", {} MB", b >> 20)).unwrap_or_default();
            items.push(item("image", true, format!("{tag} present ({}{mb})", short_id(&i.id)), None));
            true
        }
        Ok(None) => {
            items.push(item("image", false, format!("{tag} is missing"), Some(build)));
            false
        }
        Err(e) => {
            items.push(item("image", false, e.to_string(), Some("check that the Docker daemon is healthy")));
            false
        }
    };
    if present {
        let rebuild = format!("rebuild it: `docker rmi {tag}`, then `toolsmith sandbox build`");
        items.push(match sandbox.bench_verify(1).await {
            Ok(b) => item("verification", true, format!("a trivial tool verified in {} ms", b.p50_ms), None),
            Err(e) => item("verification", false, e.to_string(), Some(&rebuild)),
        });
    }
    SandboxStatus { ready: items.iter().all(|i| i.ok), items, tag }
}

fn short_id(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..hex.len().min(12)]
}
