//! `wasi:filesystem/types` as wasmtime-wasi implements it, with two rules of ours on top:
//!
//! - a granted directory serves regular files and directories only. Opening a FIFO blocks in the
//!   kernel until a writer appears (a blocking thread no deadline can reach), and a socket or a
//!   device is not data a tool should read; the guest cannot make such files itself (WASI has no
//!   `mkfifo` or `mknod`), so whatever is there was put there on the host, and opening it is
//!   refused before the OS is asked.
//! - what the guest writes is counted against the call's byte quota ([`Quota`]); past it a write
//!   fails (ENOSPC through `descriptor.write`; the runtime's libc turns any failed stream write
//!   into EIO), so a tool or a test cannot fill the host's disk.
//!
//! Everything else is delegated unchanged.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use wasmtime::component::{HasData, Resource};
use wasmtime_wasi::filesystem::WasiFilesystemCtxView;
use wasmtime_wasi::p2::bindings::filesystem::types::{
    self, DescriptorType, ErrorCode, HostDescriptor, HostDirectoryEntryStream,
};
use wasmtime_wasi::p2::{DynOutputStream, FsResult, OutputStream, Pollable, StreamError, StreamResult};

use crate::State;

/// Bytes the guest may still write in this call, shared by its descriptors and streams.
#[derive(Debug)]
pub(crate) struct Quota {
    left: AtomicU64,
    limit: u64,
    hit: AtomicBool,
}

impl Quota {
    pub(crate) fn new(limit: u64) -> Arc<Quota> {
        Arc::new(Quota { left: AtomicU64::new(limit), limit, hit: AtomicBool::new(false) })
    }

    /// Take `n` bytes, or none at all when fewer are left.
    fn take(&self, n: u64) -> bool {
        let taken = self.left.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| left.checked_sub(n)).is_ok();
        if !taken {
            self.hit.store(true, Ordering::Relaxed);
        }
        taken
    }

    /// The bytes allowed, when a write was refused for going past them.
    pub(crate) fn exceeded(&self) -> Option<u64> {
        self.hit.load(Ordering::Relaxed).then_some(self.limit)
    }

    fn exhausted(&self) -> std::io::Error {
        tracing::debug!(limit = self.limit, "a write went past the call's quota");
        // ENOSPC, what a full disk says. (The runtime's libc reports any failed stream write as
        // EIO, so the guest sees OSError EIO; the host names the quota when that error ends the
        // call.)
        std::io::Error::from_raw_os_error(28)
    }
}

/// The [`HasData`] marker for the guarded filesystem.
pub(crate) struct GuardedFilesystem;

impl HasData for GuardedFilesystem {
    type Data<'a> = GuardedView<'a>;
}

/// wasmtime-wasi's view of a store's filesystem plus the call's quota.
pub(crate) struct GuardedView<'a> {
    inner: WasiFilesystemCtxView<'a>,
    quota: &'a Arc<Quota>,
}

impl GuardedView<'_> {
    pub(crate) fn of(state: &mut State) -> GuardedView<'_> {
        GuardedView {
            inner: WasiFilesystemCtxView { ctx: state.wasi.filesystem(), table: &mut state.table },
            quota: &state.quota,
        }
    }

    /// Wrap a stream just pushed into the table so that its writes draw on the quota.
    fn metered(&mut self, stream: Resource<DynOutputStream>) -> FsResult<Resource<DynOutputStream>> {
        let inner = self.inner.table.delete(stream)?;
        let metered: DynOutputStream = Box::new(Metered { inner, quota: self.quota.clone() });
        Ok(self.inner.table.push(metered)?)
    }
}

fn borrow<T: 'static>(r: &Resource<T>) -> Resource<T> {
    Resource::new_borrow(r.rep())
}

impl types::Host for GuardedView<'_> {
    fn convert_error_code(&mut self, err: wasmtime_wasi::p2::FsError) -> wasmtime::Result<ErrorCode> {
        self.inner.convert_error_code(err)
    }

    fn filesystem_error_code(&mut self, err: Resource<wasmtime::Error>) -> wasmtime::Result<Option<ErrorCode>> {
        self.inner.filesystem_error_code(err)
    }
}

impl HostDescriptor for GuardedView<'_> {
    async fn open_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        path_flags: types::PathFlags,
        path: String,
        oflags: types::OpenFlags,
        flags: types::DescriptorFlags,
    ) -> FsResult<Resource<types::Descriptor>> {
        // `stat` never blocks on a FIFO; a path that does not exist yet is the OS's to create.
        if let Ok(stat) = self.inner.stat_at(borrow(&fd), path_flags, path.clone()).await {
            match stat.type_ {
                DescriptorType::RegularFile | DescriptorType::Directory | DescriptorType::SymbolicLink => {}
                other => {
                    tracing::info!(path, kind = ?other, "refused to open a special file in a granted directory");
                    return Err(ErrorCode::NotPermitted.into());
                }
            }
        }
        self.inner.open_at(fd, path_flags, path, oflags, flags).await
    }

    async fn write(
        &mut self,
        fd: Resource<types::Descriptor>,
        buf: Vec<u8>,
        offset: types::Filesize,
    ) -> FsResult<types::Filesize> {
        if !self.quota.take(buf.len() as u64) {
            return Err(ErrorCode::InsufficientSpace.into());
        }
        self.inner.write(fd, buf, offset).await
    }

    async fn set_size(&mut self, fd: Resource<types::Descriptor>, size: types::Filesize) -> FsResult<()> {
        // Growing a file this way makes it sparse (no blocks), but a later read-modify-write
        // would fill them: growth counts like writing zeroes.
        let current = self.inner.stat(borrow(&fd)).await.map(|s| s.size).unwrap_or(0);
        if size > current && !self.quota.take(size - current) {
            return Err(ErrorCode::InsufficientSpace.into());
        }
        self.inner.set_size(fd, size).await
    }

    fn write_via_stream(
        &mut self,
        fd: Resource<types::Descriptor>,
        offset: types::Filesize,
    ) -> FsResult<Resource<DynOutputStream>> {
        let stream = self.inner.write_via_stream(fd, offset)?;
        self.metered(stream)
    }

    fn append_via_stream(&mut self, fd: Resource<types::Descriptor>) -> FsResult<Resource<DynOutputStream>> {
        let stream = self.inner.append_via_stream(fd)?;
        self.metered(stream)
    }

    // -- delegated unchanged ---------------------------------------------------------------------

    async fn advise(
        &mut self,
        fd: Resource<types::Descriptor>,
        offset: types::Filesize,
        len: types::Filesize,
        advice: types::Advice,
    ) -> FsResult<()> {
        self.inner.advise(fd, offset, len, advice).await
    }

    async fn sync_data(&mut self, fd: Resource<types::Descriptor>) -> FsResult<()> {
        self.inner.sync_data(fd).await
    }

    async fn get_flags(&mut self, fd: Resource<types::Descriptor>) -> FsResult<types::DescriptorFlags> {
        self.inner.get_flags(fd).await
    }

    async fn get_type(&mut self, fd: Resource<types::Descriptor>) -> FsResult<types::DescriptorType> {
        self.inner.get_type(fd).await
    }

    async fn set_times(
        &mut self,
        fd: Resource<types::Descriptor>,
        atim: types::NewTimestamp,
        mtim: types::NewTimestamp,
    ) -> FsResult<()> {
        self.inner.set_times(fd, atim, mtim).await
    }

    async fn read(
        &mut self,
        fd: Resource<types::Descriptor>,
        len: types::Filesize,
        offset: types::Filesize,
    ) -> FsResult<(Vec<u8>, bool)> {
        self.inner.read(fd, len, offset).await
    }

    async fn read_directory(
        &mut self,
        fd: Resource<types::Descriptor>,
    ) -> FsResult<Resource<types::DirectoryEntryStream>> {
        self.inner.read_directory(fd).await
    }

    async fn sync(&mut self, fd: Resource<types::Descriptor>) -> FsResult<()> {
        self.inner.sync(fd).await
    }

    async fn create_directory_at(&mut self, fd: Resource<types::Descriptor>, path: String) -> FsResult<()> {
        self.inner.create_directory_at(fd, path).await
    }

    async fn stat(&mut self, fd: Resource<types::Descriptor>) -> FsResult<types::DescriptorStat> {
        self.inner.stat(fd).await
    }

    async fn stat_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        path_flags: types::PathFlags,
        path: String,
    ) -> FsResult<types::DescriptorStat> {
        self.inner.stat_at(fd, path_flags, path).await
    }

    async fn set_times_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        path_flags: types::PathFlags,
        path: String,
        atim: types::NewTimestamp,
        mtim: types::NewTimestamp,
    ) -> FsResult<()> {
        self.inner.set_times_at(fd, path_flags, path, atim, mtim).await
    }

    async fn link_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        old_path_flags: types::PathFlags,
        old_path: String,
        new_descriptor: Resource<types::Descriptor>,
        new_path: String,
    ) -> FsResult<()> {
        self.inner.link_at(fd, old_path_flags, old_path, new_descriptor, new_path).await
    }

    fn drop(&mut self, fd: Resource<types::Descriptor>) -> wasmtime::Result<()> {
        HostDescriptor::drop(&mut self.inner, fd)
    }

    async fn readlink_at(&mut self, fd: Resource<types::Descriptor>, path: String) -> FsResult<String> {
        self.inner.readlink_at(fd, path).await
    }

    async fn remove_directory_at(&mut self, fd: Resource<types::Descriptor>, path: String) -> FsResult<()> {
        self.inner.remove_directory_at(fd, path).await
    }

    async fn rename_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        old_path: String,
        new_fd: Resource<types::Descriptor>,
        new_path: String,
    ) -> FsResult<()> {
        self.inner.rename_at(fd, old_path, new_fd, new_path).await
    }

    async fn symlink_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        src_path: String,
        dest_path: String,
    ) -> FsResult<()> {
        self.inner.symlink_at(fd, src_path, dest_path).await
    }

    async fn unlink_file_at(&mut self, fd: Resource<types::Descriptor>, path: String) -> FsResult<()> {
        self.inner.unlink_file_at(fd, path).await
    }

    fn read_via_stream(
        &mut self,
        fd: Resource<types::Descriptor>,
        offset: types::Filesize,
    ) -> FsResult<Resource<wasmtime_wasi::p2::DynInputStream>> {
        self.inner.read_via_stream(fd, offset)
    }

    async fn is_same_object(
        &mut self,
        a: Resource<types::Descriptor>,
        b: Resource<types::Descriptor>,
    ) -> wasmtime::Result<bool> {
        self.inner.is_same_object(a, b).await
    }

    async fn metadata_hash(&mut self, fd: Resource<types::Descriptor>) -> FsResult<types::MetadataHashValue> {
        self.inner.metadata_hash(fd).await
    }

    async fn metadata_hash_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        path_flags: types::PathFlags,
        path: String,
    ) -> FsResult<types::MetadataHashValue> {
        self.inner.metadata_hash_at(fd, path_flags, path).await
    }
}

impl HostDirectoryEntryStream for GuardedView<'_> {
    async fn read_directory_entry(
        &mut self,
        stream: Resource<types::DirectoryEntryStream>,
    ) -> FsResult<Option<types::DirectoryEntry>> {
        self.inner.read_directory_entry(stream).await
    }

    fn drop(&mut self, stream: Resource<types::DirectoryEntryStream>) -> wasmtime::Result<()> {
        HostDirectoryEntryStream::drop(&mut self.inner, stream)
    }
}

/// A file's output stream whose writes draw on the call's quota.
struct Metered {
    inner: DynOutputStream,
    quota: Arc<Quota>,
}

impl Metered {
    fn charge(&self, n: usize) -> StreamResult<()> {
        if self.quota.take(n as u64) {
            Ok(())
        } else {
            Err(StreamError::LastOperationFailed(self.quota.exhausted().into()))
        }
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for Metered {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        self.charge(bytes.len())?;
        self.inner.write(bytes)
    }

    fn flush(&mut self) -> StreamResult<()> {
        self.inner.flush()
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        self.inner.check_write()
    }

    async fn blocking_write_and_flush(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        self.charge(bytes.len())?;
        self.inner.blocking_write_and_flush(bytes).await
    }

    fn write_zeroes(&mut self, nelem: usize) -> StreamResult<()> {
        self.charge(nelem)?;
        self.inner.write_zeroes(nelem)
    }

    async fn cancel(&mut self) {
        self.inner.cancel().await
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for Metered {
    async fn ready(&mut self) {
        self.inner.ready().await
    }
}
