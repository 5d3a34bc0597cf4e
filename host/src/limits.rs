//! Per-call limits and the memory limiter that enforces one of them.

use std::time::Duration;

use crate::HostError;

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
    /// Bytes the tool may write to granted directories in one call (a test run: in the whole
    /// run, the tool's calls each on their own); past it a write fails (OSError).
    pub max_write_bytes: u64,
}

impl Limits {
    pub const DEFAULT_FUEL: u64 = 10_000_000_000;
    pub const DEFAULT_MEMORY_BYTES: usize = 256 << 20;
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
    pub const DEFAULT_MAX_RESULT_BYTES: usize = 1 << 20;
    pub const DEFAULT_MAX_OUTPUT_BYTES: usize = 64 << 10;
    /// As the Docker sandbox's `/tmp`.
    pub const DEFAULT_MAX_WRITE_BYTES: u64 = 64 << 20;
    /// The longest deadline: beyond it a call is a job for something other than a tool call.
    pub const MAX_TIMEOUT: Duration = Duration::from_secs(3600);
    pub const MAX_RESULT_BYTES: usize = 256 << 20;
    pub const MAX_OUTPUT_BYTES: usize = 64 << 20;
    pub const MAX_WRITE_BYTES: u64 = 1 << 40;

    /// Every limit is one the host can enforce: none is zero, none is past its maximum (the
    /// memory limit's is the runtime's pool slot, `max_memory_bytes`).
    pub fn check(&self, max_memory_bytes: usize) -> Result<(), HostError> {
        let bad = |name: &'static str, detail: String| Err(HostError::InvalidLimit { name, detail });
        if self.fuel == 0 {
            return bad("fuel", "must be at least 1".into());
        }
        if self.memory_bytes == 0 || self.memory_bytes > max_memory_bytes {
            return bad(
                "memory",
                format!(
                    "{} MiB is outside 1 byte ..= {} MiB, the most this runtime can give a call",
                    self.memory_bytes >> 20,
                    max_memory_bytes >> 20
                ),
            );
        }
        if self.timeout.is_zero() || self.timeout > Self::MAX_TIMEOUT {
            return bad(
                "timeout",
                format!("{} ms is outside 1 ..= {} ms", self.timeout.as_millis(), Self::MAX_TIMEOUT.as_millis()),
            );
        }
        if self.max_result_bytes == 0 || self.max_result_bytes > Self::MAX_RESULT_BYTES {
            return bad(
                "max_result_bytes",
                format!("{} is outside 1 ..= {}", self.max_result_bytes, Self::MAX_RESULT_BYTES),
            );
        }
        if self.max_output_bytes > Self::MAX_OUTPUT_BYTES {
            return bad("max_output_bytes", format!("{} is over {}", self.max_output_bytes, Self::MAX_OUTPUT_BYTES));
        }
        if self.max_write_bytes > Self::MAX_WRITE_BYTES {
            return bad("max_write_bytes", format!("{} is over {}", self.max_write_bytes, Self::MAX_WRITE_BYTES));
        }
        Ok(())
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel: Self::DEFAULT_FUEL,
            memory_bytes: Self::DEFAULT_MEMORY_BYTES,
            timeout: Self::DEFAULT_TIMEOUT,
            max_result_bytes: Self::DEFAULT_MAX_RESULT_BYTES,
            max_output_bytes: Self::DEFAULT_MAX_OUTPUT_BYTES,
            max_write_bytes: Self::DEFAULT_MAX_WRITE_BYTES,
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
