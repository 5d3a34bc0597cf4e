//! CapabilityRegistry: the store of tools and the hybrid search over them.

pub mod embed;
pub mod index;
pub mod store;
