//! Toolsmith: an agent that writes, verifies and runs its own tools.
//!
//! [`Toolsmith`] is the front door: every face (the CLI, the orchestrator, the MCP server) calls
//! its methods and nothing else. Module names follow the seed API
//! (`../shared/seed/BACKEND_MODULES.md`) so that a reader who knows it finds each method by its
//! name. See `ARCHITECTURE.md` for the map and the invariants.

pub mod agent;
pub mod bench;
pub mod config;
pub mod doctor;
pub mod error;
pub mod executor;
mod facade;
pub mod llm;
pub mod mcp;
pub mod registry;
pub mod runtime;
pub mod sandbox;
pub mod schemas;
pub mod synthesis;
pub mod text;

pub use config::Config;
pub use error::{Error, ErrorKind, ErrorReport, Result};
pub use facade::{BUILT_IN_TOOL_NAMES, CreateOptions, SearchOptions, ThresholdTuning, ToolDetail, Toolsmith};
pub use runtime::Usage;
