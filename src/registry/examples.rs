//! Example requests of a tool: what users ask of it, written with the tool or learned from use,
//! and indexed beside its description (a tool is scored by its best-matching example too; see
//! [`super::index::FusionParams`]).
//!
//! This module is the policy, shared by the registry and `eval retrieval` so that an evaluation
//! learns exactly as a running agent does: what counts as a usable example ([`clean`]), when two
//! are the same request ([`normalized`], [`near_duplicate`]), and which one goes when a tool has
//! [`MAX_EXAMPLES_PER_TOOL`] ([`eviction`]).

use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::embed::cosine;

/// Examples kept per tool. Past it, learning a new one drops an old one ([`eviction`]): the
/// store stays small and a search compares a candidate with at most this many vectors.
pub const MAX_EXAMPLES_PER_TOOL: usize = 50;
/// The longest example, in characters: a request, not a document.
pub const MAX_EXAMPLE_CHARS: usize = 500;
/// Two requests whose embeddings are at least this close are the same request worded a little
/// differently (a changed number, a typo): the second adds nothing to the search and is not
/// kept. MiniLM gives real paraphrases 0.6–0.9, and "convert 5 km to miles" / "convert 7 km to
/// miles" about 0.97.
pub const NEAR_DUPLICATE_COSINE: f32 = 0.95;
/// The newest examples are never evicted: the last quarter of the bound.
const KEEP_NEWEST: usize = MAX_EXAMPLES_PER_TOOL / 4;

/// Where an example came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExampleSource {
    /// Given with the tool (`tools add --examples`, the spec of a synthesis, `tools examples --add`).
    Written,
    /// A request the tool answered successfully.
    Learned,
}

impl ExampleSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ExampleSource::Written => "written",
            ExampleSource::Learned => "learned",
        }
    }

    pub(crate) fn parse(s: &str) -> ExampleSource {
        if s == "learned" { ExampleSource::Learned } else { ExampleSource::Written }
    }
}

/// One stored example request of a tool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Example {
    /// Stable number (`toolsmith tools examples NAME --remove ID`).
    pub id: i64,
    pub text: String,
    pub source: ExampleSource,
    pub created_at: String,
}

/// The example as stored: trimmed, runs of whitespace made one space. An error says what is
/// wrong with it: empty, longer than [`MAX_EXAMPLE_CHARS`], or holding control characters (an
/// example is shown on terminals and sent to models).
pub fn clean(text: &str) -> Result<String, String> {
    let cleaned = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if cleaned.is_empty() {
        return Err("an example request is empty".into());
    }
    let n = cleaned.chars().count();
    if n > MAX_EXAMPLE_CHARS {
        return Err(format!("an example request has {n} characters, at most {MAX_EXAMPLE_CHARS} are kept"));
    }
    if cleaned.chars().any(char::is_control) {
        return Err(format!("the example request {:?} holds control characters", short(&cleaned)));
    }
    Ok(cleaned)
}

/// [`clean`] each of `texts`, dropping the ones [`normalized`] makes equal to an earlier one.
/// More than [`MAX_EXAMPLES_PER_TOOL`] is an error, as is any unusable text (its position named).
pub fn clean_all(texts: &[String]) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, t) in texts.iter().enumerate() {
        let c = clean(t).map_err(|e| format!("example {}: {e}", i + 1))?;
        if seen.insert(normalized(&c)) {
            out.push(c);
        }
    }
    if out.len() > MAX_EXAMPLES_PER_TOOL {
        return Err(format!(
            "{} distinct example requests given, at most {MAX_EXAMPLES_PER_TOOL} are kept per tool: keep the most varied",
            out.len()
        ));
    }
    Ok(out)
}

/// Reads an examples file: one request per line, blank lines skipped, then [`clean_all`].
pub fn read_file(path: &Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let lines: Vec<String> = text.lines().filter(|l| !l.trim().is_empty()).map(str::to_string).collect();
    clean_all(&lines).map_err(|e| format!("{}: {e}", path.display()))
}

/// What makes two texts the same request: lower case, words only (punctuation and spacing
/// dropped), e.g. `Reverse "hello"!` and `reverse hello`.
pub fn normalized(text: &str) -> String {
    text.to_lowercase().split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ")
}

/// Whether `vector` is within [`NEAR_DUPLICATE_COSINE`] of any of `existing`.
pub fn near_duplicate(vector: &[f32], existing: &[Vec<f32>]) -> bool {
    existing.iter().any(|e| cosine(vector, e) >= NEAR_DUPLICATE_COSINE)
}

/// Which example to drop so that a new one fits, given a tool's examples oldest first and their
/// vectors: among the learned ones older than the newest [`KEEP_NEWEST`], the most redundant
/// (closest to another example of the tool), so the examples stay recent and varied. Written
/// examples are kept: someone chose them. `None` when every example is written.
pub fn eviction(examples: &[Example], vectors: &[Vec<f32>]) -> Option<usize> {
    let old = examples.len().saturating_sub(KEEP_NEWEST);
    let redundancy = |i: usize| {
        vectors
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, v)| cosine(&vectors[i], v))
            .fold(f32::MIN, f32::max)
    };
    let learned = |i: &usize| examples[*i].source == ExampleSource::Learned;
    // Ties go to the oldest.
    let mut best: Option<(usize, f32)> = None;
    for i in (0..old).filter(learned) {
        let r = redundancy(i);
        if best.is_none_or(|(_, b)| r > b) {
            best = Some((i, r));
        }
    }
    best.map(|(i, _)| i).or_else(|| (0..examples.len()).find(learned))
}

/// The first words of `s`, for messages.
fn short(s: &str) -> String {
    let mut out: String = s.chars().take(60).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(id: i64, source: ExampleSource) -> Example {
        Example { id, text: format!("request {id}"), source, created_at: String::new() }
    }

    #[test]
    fn cleaning_trims_and_refuses_what_is_unusable() {
        assert_eq!(clean("  reverse \t this   text ").unwrap(), "reverse this text");
        assert!(clean("   ").unwrap_err().contains("empty"));
        assert!(clean(&"x".repeat(MAX_EXAMPLE_CHARS + 1)).unwrap_err().contains("at most"));
        assert!(clean("bell \u{7} here").unwrap_err().contains("control"));
        let all = clean_all(&["Reverse \"hello\"!".into(), "reverse hello".into(), "flip it".into()]).unwrap();
        assert_eq!(all, ["Reverse \"hello\"!", "flip it"]);
        assert!(clean_all(&["ok".into(), "".into()]).unwrap_err().starts_with("example 2:"));
    }

    #[test]
    fn eviction_keeps_written_and_newest_and_drops_the_most_redundant() {
        let n = MAX_EXAMPLES_PER_TOOL;
        let mut examples: Vec<Example> = (0..n as i64).map(|i| ex(i, ExampleSource::Learned)).collect();
        examples[0].source = ExampleSource::Written;
        // Orthogonal vectors, except 3 and 4 which are the same request, and 0 (written) and the
        // newest, which are too.
        let mut vectors: Vec<Vec<f32>> = (0..n).map(|i| (0..n).map(|j| (i == j) as u8 as f32).collect()).collect();
        vectors[4] = vectors[3].clone();
        vectors[n - 1] = vectors[0].clone();
        assert_eq!(eviction(&examples, &vectors), Some(3));
        let written: Vec<Example> = (0..3).map(|i| ex(i, ExampleSource::Written)).collect();
        assert_eq!(eviction(&written, &vectors[..3]), None);
    }
}
