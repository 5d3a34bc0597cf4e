//! Argument parsing only: each subcommand turns its flags into a call of one library function and
//! prints the answer (human text, or one JSON object with `--json`).

pub mod bench;
pub mod doctor;
pub mod eval;
pub mod index;
pub mod run;
pub mod sandbox;
pub mod synthesize;
pub mod tools;
