//! The agent: planning, tool reuse, argument extraction, multi-tool workflows, workflow learning,
//! session memory and traces. The orchestrator's entry points are methods of the facade
//! ([`Toolsmith::process_request`](crate::Toolsmith::process_request), `plan_execution`, …);
//! the parts below are blocking (SQLite) and the facade calls them on blocking threads.

pub mod composite;
pub mod memory;
pub mod orchestrator;
pub mod plan;
pub mod trace;
pub mod tracker;

pub use composite::{ArgSource, CompositeStep, CompositeTool};
pub use memory::{Message, SessionMemoryManager, SessionSummary};
pub use orchestrator::{RequestOptions, RequestResult, StepResult};
pub use plan::{Plan, PlanCandidate, Strategy};
pub use trace::{Trace, TraceStep, TraceSummary};
pub use tracker::{ToolRelationship, WorkflowPattern, WorkflowTracker};
