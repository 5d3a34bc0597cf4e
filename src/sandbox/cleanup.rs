//! No container or scratch directory outlives the Toolsmith process that made it.
//!
//! Four layers, each a backstop for the one before:
//! 1. every verification removes its container and directory when it ends, also when its future is
//!    dropped half-way (a drop guard spawns the removal);
//! 2. [`shutdown`] removes whatever this process still has: the CLI awaits it on SIGINT/SIGTERM,
//!    before its runtime (and with it any spawned removal) is gone;
//! 3. the engine removes a container once it stops (auto-remove), and the container stops itself
//!    at its deadline (`timeout -s KILL` as its first process), even if Toolsmith was killed;
//! 4. [`SecureSandbox::cleanup_stale`] (run by [`super::status`], hence `toolsmith sandbox status`
//!    and `doctor`) removes containers and directories whose creator is gone or whose deadline is
//!    long past: what a `kill -9` of Toolsmith during a verification, or an older version, left.
//!
//! A container names its creator in labels: [`LABEL`] = `verify`, [`LABEL_PID`], [`LABEL_PID_START`]
//! (the process's start time, so a reused pid is not mistaken for it), [`LABEL_HOST`] and
//! [`LABEL_DEADLINE`] (Unix seconds by which it must be gone). A scratch directory carries the pid
//! and start time in its name.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bollard::Docker;
use bollard::query_parameters::{
    ListContainersOptionsBuilder, RemoveContainerOptionsBuilder, WaitContainerOptionsBuilder,
};
use futures_util::StreamExt;
use serde::Serialize;

use super::{SandboxError, SecureSandbox};

/// Every verification container carries this label, value `verify`.
pub const LABEL: &str = "io.toolsmith.sandbox";
/// The name of the tool whose tests the container runs.
pub const LABEL_TOOL: &str = "io.toolsmith.tool";
/// The pid of the Toolsmith process that created the container.
pub const LABEL_PID: &str = "io.toolsmith.pid";
/// That process's start time (clock ticks after boot, `/proc/PID/stat` field 22).
pub const LABEL_PID_START: &str = "io.toolsmith.pid-start";
/// The host name of the machine that process runs on: its pid means nothing elsewhere.
pub const LABEL_HOST: &str = "io.toolsmith.host";
/// Unix seconds after which the container must be gone, whoever created it.
pub const LABEL_DEADLINE: &str = "io.toolsmith.deadline";
/// The label of containers made by versions before these labels; they were never auto-removed.
const LEGACY_LABEL: &str = "toolsmith.sandbox";
/// A legacy container older than this is certainly not in use any more.
const LEGACY_MAX_AGE: Duration = Duration::from_secs(600);
/// How long past its deadline a container may still be on its way out before it counts as stale.
const DEADLINE_SLACK: Duration = Duration::from_secs(30);
/// How long a removal already under way may take before it is left to the engine.
const REMOVAL_WAIT: Duration = Duration::from_secs(10);
/// Scratch directories are named `<prefix><pid>-<start>-<random>`.
pub(crate) const SCRATCH_PREFIX: &str = "toolsmith-verify-";

/// Who is running: this process, as labels and scratch directory names record it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Creator {
    pub pid: u32,
    pub start: u64,
    pub host: String,
}

impl Creator {
    pub fn current() -> Creator {
        let pid = std::process::id();
        Creator { pid, start: process_start(pid).unwrap_or(0), host: host_name() }
    }

    /// Labels for a container created now that must be gone by `deadline` from now.
    pub fn labels(&self, tool: &str, deadline: Duration) -> HashMap<String, String> {
        let by = unix_now() + deadline.as_secs() + 1;
        HashMap::from([
            (LABEL.to_string(), "verify".to_string()),
            (LABEL_TOOL.to_string(), tool.to_string()),
            (LABEL_PID.to_string(), self.pid.to_string()),
            (LABEL_PID_START.to_string(), self.start.to_string()),
            (LABEL_HOST.to_string(), self.host.clone()),
            (LABEL_DEADLINE.to_string(), by.to_string()),
        ])
    }

    pub fn scratch_prefix(&self) -> String {
        format!("{SCRATCH_PREFIX}{}-{}-", self.pid, self.start)
    }

    /// Whether that process still runs on this machine (a different start time: a reused pid).
    fn is_alive(pid: u32, start: u64) -> bool {
        process_start(pid).is_some_and(|s| s == start)
    }
}

/// Field 22 of `/proc/PID/stat`; `None` when there is no such process.
fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may itself hold spaces or parentheses.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default()
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Containers and scratch directories of verifications in flight in this process.
#[derive(Default)]
struct Live {
    containers: HashMap<String, Docker>,
    dirs: Vec<PathBuf>,
}

static LIVE: Mutex<Option<Live>> = Mutex::new(None);

fn live<T>(f: impl FnOnce(&mut Live) -> T) -> T {
    let mut guard = LIVE.lock().unwrap_or_else(|e| e.into_inner());
    f(guard.get_or_insert_with(Live::default))
}

pub(crate) fn track_container(docker: &Docker, id: &str) {
    live(|l| l.containers.insert(id.to_string(), docker.clone()));
}

pub(crate) fn untrack_container(id: &str) {
    live(|l| l.containers.remove(id));
}

pub(crate) fn track_dir(path: &Path) {
    live(|l| l.dirs.push(path.to_path_buf()));
}

pub(crate) fn untrack_dir(path: &Path) {
    live(|l| l.dirs.retain(|d| d != path));
}

/// Kill and remove every verification container this process still has, and delete their
/// scratch directories; what the CLI awaits on SIGINT or SIGTERM before it exits, after it
/// stopped awaiting the verification (drop the future first: its drop guard starts the removal,
/// this waits for it). Verifications still running fail. Returns how many containers it removed.
pub async fn shutdown() -> usize {
    let (containers, dirs) = live(|l| (std::mem::take(&mut l.containers), std::mem::take(&mut l.dirs)));
    for dir in &dirs {
        if let Err(e) = std::fs::remove_dir_all(dir)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(dir = %dir.display(), "cannot remove a verification directory: {e}");
        }
    }
    let removals = containers.iter().map(|(id, docker)| remove_container(docker, id));
    futures_util::future::join_all(removals).await;
    // A create request dropped in flight may have reached the engine after the removal above
    // found nothing under its name: whatever still carries this process's labels goes too.
    if let Some(docker) = containers.values().next() {
        let me = Creator::current();
        let filters = HashMap::from([(
            "label".to_string(),
            vec![format!("{LABEL_PID}={}", me.pid), format!("{LABEL_PID_START}={}", me.start)],
        )]);
        let options = ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
        match docker.list_containers(Some(options)).await {
            Ok(left) => {
                let ids: Vec<String> = left.into_iter().filter_map(|c| c.id).collect();
                futures_util::future::join_all(ids.iter().map(|id| remove_container(docker, id))).await;
            }
            Err(e) => tracing::warn!("cannot list this process's verification containers: {e}"),
        }
    }
    containers.len()
}

/// Kill (if running) and remove one container, and return once the engine no longer lists it;
/// gone already is fine.
pub(crate) async fn remove_container(docker: &Docker, id: &str) {
    let options = RemoveContainerOptionsBuilder::default().force(true).v(true).build();
    match docker.remove_container(id, Some(options)).await {
        Ok(()) => {}
        Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => {}
        // 409: the engine's auto-remove is already at it; wait until it is done, so that whoever
        // awaited this finds the container gone.
        Err(bollard::errors::Error::DockerResponseServerError { status_code: 409, .. }) => {
            let removed = WaitContainerOptionsBuilder::default().condition("removed").build();
            let wait = docker.wait_container(id, Some(removed)).into_future();
            if tokio::time::timeout(REMOVAL_WAIT, wait).await.is_err() {
                tracing::warn!(container = id, "the engine did not finish removing the test container in time");
            }
        }
        Err(e) => tracing::warn!(container = id, "could not remove the test container: {e}"),
    }
    untrack_container(id);
}

/// What [`SecureSandbox::cleanup_stale`] found and removed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StaleCleanup {
    /// Names of the containers removed (their creator is gone or their deadline long past).
    pub removed_containers: Vec<String>,
    /// Verification containers left alone: their creator still runs and their deadline is ahead.
    pub in_use: usize,
    /// Scratch directories removed (their creator is gone).
    pub removed_dirs: Vec<PathBuf>,
}

impl SecureSandbox {
    /// Find verification containers and scratch directories (under [`SecureSandbox::scratch_root`])
    /// that no running Toolsmith process will remove — their creator is gone, or their deadline is
    /// long past — and remove them. Safe to run at any time, also beside running verifications.
    pub async fn cleanup_stale(&self) -> Result<StaleCleanup, SandboxError> {
        let mut found = StaleCleanup::default();
        let me = Creator::current();
        let now = unix_now();
        for label in [LABEL, LEGACY_LABEL] {
            let filters = HashMap::from([("label".to_string(), vec![label.to_string()])]);
            let options = ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
            let containers = self
                .docker
                .list_containers(Some(options))
                .await
                .map_err(SandboxError::docker("listing verification containers"))?;
            for c in containers {
                let Some(id) = c.id else { continue };
                let labels = c.labels.unwrap_or_default();
                let stale = if label == LEGACY_LABEL {
                    c.created.is_some_and(|t| now.saturating_sub(t.max(0) as u64) > LEGACY_MAX_AGE.as_secs())
                } else {
                    is_stale(&labels, &me, now)
                };
                if !stale {
                    found.in_use += 1;
                    continue;
                }
                let name = c.names.and_then(|n| n.into_iter().next()).unwrap_or_else(|| id.clone());
                tracing::info!(container = name, "removing a stale verification container");
                remove_container(&self.docker, &id).await;
                found.removed_containers.push(name.trim_start_matches('/').to_string());
            }
        }
        found.removed_dirs = remove_stale_dirs(&self.scratch_root);
        Ok(found)
    }
}

/// A container is stale when its deadline is long past, or when it was made on this machine by a
/// process that no longer runs. Labels that do not parse make it stale: Toolsmith writes them.
fn is_stale(labels: &HashMap<String, String>, me: &Creator, now: u64) -> bool {
    let num = |k: &str| labels.get(k).and_then(|v| v.parse::<u64>().ok());
    let (Some(deadline), Some(pid), Some(start)) = (num(LABEL_DEADLINE), num(LABEL_PID), num(LABEL_PID_START)) else {
        return true;
    };
    if now > deadline + DEADLINE_SLACK.as_secs() {
        return true;
    }
    let here = labels.get(LABEL_HOST).is_some_and(|h| *h == me.host);
    here && !Creator::is_alive(pid as u32, start)
}

fn remove_stale_dirs(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root) else { return Vec::new() };
    let mut removed = Vec::new();
    for path in entries.flatten().map(|e| e.path()) {
        let Some(rest) = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_prefix(SCRATCH_PREFIX)) else {
            continue;
        };
        let mut parts = rest.splitn(3, '-');
        let (Some(pid), Some(start)) =
            (parts.next().and_then(|p| p.parse().ok()), parts.next().and_then(|s| s.parse().ok()))
        else {
            continue;
        };
        if Creator::is_alive(pid, start) {
            continue;
        }
        match std::fs::remove_dir_all(&path) {
            Ok(()) => removed.push(path),
            Err(e) => tracing::warn!(dir = %path.display(), "cannot remove a stale verification directory: {e}"),
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_changed_start_time_is_not() {
        let me = Creator::current();
        assert!(me.start > 0);
        assert!(Creator::is_alive(me.pid, me.start));
        assert!(!Creator::is_alive(me.pid, me.start + 1));
        assert!(!Creator::is_alive(u32::MAX, me.start));
    }

    #[test]
    fn staleness() {
        let me = Creator::current();
        let now = unix_now();
        let mine = me.labels("t", Duration::from_secs(30));
        assert!(!is_stale(&mine, &me, now));
        assert!(is_stale(&mine, &me, now + 31 + DEADLINE_SLACK.as_secs() + 1), "deadline long past");
        let mut dead = mine.clone();
        dead.insert(LABEL_PID_START.into(), (me.start + 1).to_string());
        assert!(is_stale(&dead, &me, now), "creator gone");
        dead.insert(LABEL_HOST.into(), "elsewhere".into());
        assert!(!is_stale(&dead, &me, now), "another machine's pid says nothing here");
        let mut broken = mine;
        broken.remove(LABEL_PID);
        assert!(is_stale(&broken, &me, now));
    }
}
