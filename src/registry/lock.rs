//! The lock that writers of one home coordinate through, across threads and processes.
//!
//! An advisory `flock` on `$TOOLSMITH_HOME/.lock`: exclusive for changing the set of tools and
//! the search index (store transaction, index commit or rebuild, removing debris), shared for
//! reading the index from disk. Each acquisition opens its own file description, so threads of
//! one process exclude each other as processes do. The kernel drops the lock when its holder
//! dies, so a killed writer never leaves the home locked.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

/// The lock file of a home.
#[derive(Debug, Clone)]
pub struct HomeLock {
    path: PathBuf,
}

/// Held exclusively until dropped.
#[derive(Debug)]
pub struct WriteLock {
    _file: File,
}

/// Held shared until dropped.
#[derive(Debug)]
pub struct ReadLock {
    _file: File,
}

impl HomeLock {
    /// The lock at `path` (created if missing).
    pub fn new(path: &Path) -> std::io::Result<HomeLock> {
        let lock = HomeLock { path: path.to_path_buf() };
        lock.open()?;
        Ok(lock)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn open(&self) -> std::io::Result<File> {
        OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&self.path)
    }

    /// Wait for the exclusive lock.
    pub fn exclusive(&self) -> std::io::Result<WriteLock> {
        let file = self.open()?;
        file.lock()?;
        Ok(WriteLock { _file: file })
    }

    /// The exclusive lock if no one holds the lock now; `None` otherwise.
    pub fn try_exclusive(&self) -> std::io::Result<Option<WriteLock>> {
        let file = self.open()?;
        match file.try_lock() {
            Ok(()) => Ok(Some(WriteLock { _file: file })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        }
    }

    /// Wait for the shared lock.
    pub fn shared(&self) -> std::io::Result<ReadLock> {
        let file = self.open()?;
        file.lock_shared()?;
        Ok(ReadLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writers_exclude_each_other_and_readers_within_one_process() {
        let dir = tempfile::tempdir().unwrap();
        let lock = HomeLock::new(&dir.path().join(".lock")).unwrap();
        let w = lock.exclusive().unwrap();
        let probe = lock.open().unwrap();
        assert!(probe.try_lock_shared().is_err(), "a reader must wait for a writer");
        drop(w);
        let r1 = lock.shared().unwrap();
        let _r2 = lock.shared().unwrap();
        assert!(probe.try_lock().is_err(), "a writer must wait for readers");
        drop(r1);
    }
}
