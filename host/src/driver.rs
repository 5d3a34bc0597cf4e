//! How the blocking API drives wasmtime's async calls, and the deadline that holds while the
//! guest waits in the host.
//!
//! Epoch interruption stops a guest that runs wasm past its deadline, but not one waiting in a
//! host call (`time.sleep`, `select`, a poll): that wait is a future here, and [`bounded`] drops
//! it at the deadline — and with it the call's store, its WASI clocks and polls.

use std::cell::OnceCell;
use std::future::Future;

use crate::{HostError, Limits};

thread_local! {
    /// One current-thread runtime per OS thread that makes calls (a blocking-pool thread, the
    /// janitor, a test's thread), built on its first call: building one costs far more than a call.
    static DRIVER: OnceCell<Result<tokio::runtime::Runtime, String>> = const { OnceCell::new() };
}

/// Run `fut` to completion on this thread's driver. (On an async worker thread Tokio refuses to
/// start a runtime; a blocking-pool thread is fine.)
pub(crate) fn block_on<F: Future>(fut: F) -> Result<F::Output, HostError> {
    DRIVER.with(|cell| {
        let rt = cell.get_or_init(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .thread_name("toolsmith-wasi")
                .build()
                .map_err(|e| e.to_string())
        });
        match rt {
            Ok(rt) => Ok(rt.block_on(fut)),
            Err(e) => Err(HostError::Driver(e.clone())),
        }
    })
}

/// `fut` within the call's time limit; `None` when the deadline passed while it waited in the
/// host. (While the guest runs wasm, the epoch deadline traps it first.)
pub(crate) async fn bounded<T>(limits: &Limits, fut: impl Future<Output = T>) -> Option<T> {
    tokio::time::timeout(limits.timeout, fut).await.ok()
}
