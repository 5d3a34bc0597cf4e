//! The agent's memory: what it learns from use (WorkflowTracker) and what it remembers of a
//! conversation (SessionMemoryManager), both in the store's database. The planner and the
//! orchestrator of issue D build on these.
//!
//! Both are blocking (SQLite); the facade calls them on blocking threads.

pub mod memory;
pub mod tracker;

pub use memory::{Message, SessionMemoryManager};
pub use tracker::{ToolRelationship, WorkflowPattern, WorkflowTracker};
