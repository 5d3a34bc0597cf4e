//! Argument parsing only: each subcommand turns its flags into options, calls one method of the
//! facade (or of `bench`, `doctor`, `eval`) and prints the answer (human text, or one JSON value
//! with `--json`: the `Serialize` form of the typed result).

pub mod agent;
pub mod bench;
pub mod doctor;
pub mod eval;
pub mod index;
pub mod run;
pub mod sandbox;
pub mod serve;
pub mod synthesize;
pub mod tools;
pub mod tune;

use std::process::ExitCode;

use serde::Serialize;
use toolsmith::{Config, Error, Toolsmith, Usage};

/// Open the facade for a one-shot command.
pub async fn open(config: Config) -> Result<Toolsmith, Error> {
    Toolsmith::open(config, Usage::OneShot).await
}

/// Print `value` as JSON on stdout. A reader that went away (`| head`) is not an error.
pub fn print_json(value: &impl Serialize) {
    use std::io::Write;
    let text = serde_json::to_string_pretty(value).expect("outputs serialize");
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}

/// Under `--json` an error is one object on stdout (`{"success": false, "error_type": …}`) so a
/// program reading it always gets an answer; otherwise a line on stderr. Either way: exit 1.
pub fn fail(e: &Error, json: bool) -> ExitCode {
    if json {
        #[derive(Serialize)]
        struct Failed<'a> {
            success: bool,
            #[serde(flatten)]
            report: &'a toolsmith::ErrorReport,
        }
        print_json(&Failed { success: false, report: &e.report() });
    } else {
        eprintln!("error: {}", toolsmith::text::terminal_safe(&e.to_string()));
    }
    ExitCode::FAILURE
}

/// The first non-empty line of a docstring, safe for a terminal.
pub fn first_line(s: &str) -> String {
    toolsmith::text::terminal_safe(s.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim()).into_owned()
}
