//! Helpers shared by integration tests: `mod support;` at the top of a test file.
//! Not every test file uses every helper.
#![allow(dead_code, unused_imports)]

pub mod llm_server;

pub use llm_server::{LlmServer, Recorded, Reply, Route};

use std::path::{Path, PathBuf};

/// `tests/fixtures/<relative>`.
pub fn fixture_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(relative)
}

/// The text of `tests/fixtures/<relative>`.
pub fn fixture(relative: &str) -> String {
    let path = fixture_path(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}
