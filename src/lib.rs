//! Toolsmith: an agent that writes, verifies and runs its own tools.
//!
//! Module names follow the seed API (`../shared/seed/BACKEND_MODULES.md`) so that a reader who knows
//! it finds each method by its name. See `ARCHITECTURE.md` for the map and the invariants.

pub mod bench;
pub mod config;
pub mod doctor;
pub mod executor;
pub mod llm;
pub mod registry;
pub mod runtime;
pub mod sandbox;
pub mod synthesis;
