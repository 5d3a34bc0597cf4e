//! Per-call limits and the memory limiter that enforces one of them.

use std::time::Duration;

/// What one call may consume. Every field has a named default; override per call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// WebAssembly fuel (≈ instructions). The CPython loop `while True: pass` burns roughly
    /// 1–1.7 × 10¹⁰ a second here, so the default is about a second of pure computation.
    pub fuel: u64,
    /// Largest linear memory the guest may grow to, in bytes.
    pub memory_bytes: usize,
    /// Wall-clock deadline, enforced by epoch interruption (fuel does not see time spent blocked).
    pub timeout: Duration,
    /// Largest JSON result, in bytes.
    pub max_result_bytes: usize,
    /// Largest captured stdout plus stderr, in bytes.
    pub max_output_bytes: usize,
}

impl Limits {
    pub const DEFAULT_FUEL: u64 = 10_000_000_000;
    pub const DEFAULT_MEMORY_BYTES: usize = 256 << 20;
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
    pub const DEFAULT_MAX_RESULT_BYTES: usize = 1 << 20;
    pub const DEFAULT_MAX_OUTPUT_BYTES: usize = 64 << 10;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel: Self::DEFAULT_FUEL,
            memory_bytes: Self::DEFAULT_MEMORY_BYTES,
            timeout: Self::DEFAULT_TIMEOUT,
            max_result_bytes: Self::DEFAULT_MAX_RESULT_BYTES,
            max_output_bytes: Self::DEFAULT_MAX_OUTPUT_BYTES,
        }
    }
}

/// Denies memory growth past the call's limit and remembers that it did, so that the Python
/// `MemoryError` that follows can be reported as the limit it is.
pub(crate) struct MemoryLimiter {
    pub(crate) limit: usize,
    pub(crate) hit: bool,
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.limit {
            self.hit = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, _desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(true)
    }
}
