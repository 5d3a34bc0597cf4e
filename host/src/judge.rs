//! The judge's side of a test run: how the test instance calls the tool under test.
//!
//! The tool's code is never loaded into the instance that runs the tests and builds their report
//! — a module body could otherwise patch whatever the report is built with. Each call the tests
//! make comes out through the `call-tool` import and runs, as JSON, in a fresh instance holding
//! only the tool, exactly as a real call would; its exceptions go back by type and message.

use std::sync::Arc;
use std::time::Instant;

use crate::stock;
use crate::{CallError, ErrorKind, Grant, Limits, Shared, State, ToolUnderTest};

/// What a test run's instance needs to call the tool.
pub(crate) struct Judge {
    shared: Arc<Shared>,
    dropper: stock::Dropper,
    code: Arc<[u8]>,
    function: String,
    grants: Vec<Grant>,
    limits: Limits,
    deadline: Instant,
    calls: Counter,
}

/// Calls made so far, readable after the run's store is gone.
#[derive(Clone, Default)]
pub(crate) struct Counter(Arc<std::sync::atomic::AtomicU32>);

impl Counter {
    pub(crate) fn get(&self) -> u32 {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Judge {
    pub(crate) fn new(
        shared: &Arc<Shared>,
        dropper: stock::Dropper,
        tool: ToolUnderTest<'_>,
        grants: &[Grant],
        limits: &Limits,
    ) -> Judge {
        Judge {
            shared: shared.clone(),
            dropper,
            code: tool.code.into(),
            function: tool.function.to_string(),
            grants: grants.to_vec(),
            limits: limits.clone(),
            deadline: Instant::now() + limits.timeout,
            calls: Counter::default(),
        }
    }

    pub(crate) fn calls(&self) -> Counter {
        self.calls.clone()
    }

    /// One call of the tool: `Ok` is the guest's `call` reply; `Err` its error object, or the
    /// host's own for a limit (`"limit": true`). A failure of the host itself traps the run.
    async fn call(&self, args: String) -> wasmtime::Result<Result<String, String>> {
        self.calls.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let left = self.deadline.saturating_duration_since(Instant::now());
        let limits = Limits { timeout: left.min(self.limits.timeout), ..self.limits.clone() };
        if left.is_zero() {
            return Ok(Err(limit_json(ErrorKind::Timeout, "Timeout", "the test run's time limit passed")));
        }
        let mut lease = stock::fresh(&self.shared, &self.grants, self.dropper.clone()).await?;
        lease.ready().arm(&limits)?;
        match crate::call_on(lease, &self.code, &self.function, &args, &limits).await {
            Ok(out) => Ok(Ok(serde_json::json!({
                "result": out.result,
                "stdout": out.stdout,
                "stderr": out.stderr,
            })
            .to_string())),
            Err(CallError::Tool(e)) if e.kind == ErrorKind::Guest => Ok(Err(serde_json::json!({
                "error_type": e.error_type,
                "message": e.message,
                "traceback": e.traceback,
                "stdout": e.stdout,
                "limit": false,
            })
            .to_string())),
            Err(CallError::Tool(e)) => Ok(Err(limit_json(e.kind, &e.error_type, &e.message))),
            Err(CallError::Host(e)) => Err(e.into()),
        }
    }
}

fn limit_json(kind: ErrorKind, error_type: &str, message: &str) -> String {
    serde_json::json!({ "error_type": error_type, "message": message, "kind": kind, "limit": true }).to_string()
}

impl crate::bindings::RuntimeImports for State {
    async fn call_tool(&mut self, args: String) -> wasmtime::Result<Result<String, String>> {
        match &self.judge {
            Some(judge) => judge.call(args).await,
            None => Ok(Err(serde_json::json!({
                "error_type": "RuntimeError",
                "message": "call-tool is only available while tests run",
                "limit": false,
            })
            .to_string())),
        }
    }
}
