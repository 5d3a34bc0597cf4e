//! Getting JSON and Python out of what models actually write: fenced or bare, with chatter
//! before and after, with or without a reasoning model's `<think>` block.

use serde_json::Value;

/// Drop `<think>…</think>` blocks (reasoning models served by Ollama, vLLM, llama.cpp). An
/// unclosed block swallows the rest of the reply.
pub fn strip_thinking(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("<think>") {
        out.push_str(&rest[..start]);
        match rest[start..].find("</think>") {
            Some(end) => rest = &rest[start + end + "</think>".len()..],
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// A fenced block: its info string (`python`, `json`, or empty) and its body.
struct Fence<'a> {
    lang: String,
    body: Vec<&'a str>,
}

/// The fenced blocks of a Markdown reply. An unclosed fence runs to the end (a reply cut off
/// by a token limit still yields what it has).
fn fences(text: &str) -> Vec<Fence<'_>> {
    let mut out = Vec::new();
    let mut open: Option<Fence> = None;
    for line in text.lines() {
        let t = line.trim();
        match open.as_mut() {
            None => {
                if let Some(info) = t.strip_prefix("```") {
                    open = Some(Fence { lang: info.trim().to_ascii_lowercase(), body: Vec::new() });
                }
            }
            Some(f) => {
                if t == "```" {
                    out.extend(open.take());
                } else {
                    f.body.push(line);
                }
            }
        }
    }
    out.extend(open);
    out
}

/// The first JSON object in a reply: the whole reply, a fenced block, or the first `{…}` that
/// parses, with anything around it ignored.
pub fn extract_json_object(text: &str) -> Result<Value, String> {
    let text = strip_thinking(text);
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("the reply is empty".into());
    }
    if let Ok(v @ Value::Object(_)) = serde_json::from_str::<Value>(trimmed) {
        return Ok(v);
    }
    for f in fences(trimmed) {
        if let Ok(v @ Value::Object(_)) = serde_json::from_str::<Value>(&f.body.join("\n")) {
            return Ok(v);
        }
    }
    // Bare JSON with chatter around it: parse from each `{` and stop at the end of the value.
    for (i, _) in trimmed.match_indices('{').take(64) {
        let mut values = serde_json::Deserializer::from_str(&trimmed[i..]).into_iter::<Value>();
        if let Some(Ok(v @ Value::Object(_))) = values.next() {
            return Ok(v);
        }
    }
    Err(format!("no JSON object in the reply: {}", snippet(trimmed, 200)))
}

/// Python source from a reply. Fenced blocks marked python/py (or unmarked) are preferred, the
/// longest one containing `marker` (e.g. `def factorial`) first. Without fences the code starts
/// at the first line that looks like Python, and trailing prose is dropped.
pub fn extract_python(text: &str, marker: &str) -> Result<String, String> {
    let text = strip_thinking(text);
    let blocks: Vec<String> = fences(&text)
        .into_iter()
        .filter(|f| matches!(f.lang.as_str(), "" | "python" | "py" | "python3" | "pytest"))
        .map(|f| f.body.join("\n"))
        .filter(|b| !b.trim().is_empty())
        .collect();
    let code = if blocks.is_empty() {
        bare_python(&text)
    } else {
        let with_marker = blocks.iter().filter(|b| b.contains(marker)).max_by_key(|b| b.len());
        with_marker.or_else(|| blocks.iter().max_by_key(|b| b.len())).cloned().unwrap_or_default()
    };
    let code = code.trim_matches('\n').trim_end().to_string();
    if code.trim().is_empty() {
        return Err(if text.trim().is_empty() {
            "the reply is empty".to_string()
        } else {
            format!("no Python code in the reply: {}", snippet(text.trim(), 200))
        });
    }
    if !code.contains(marker) {
        return Err(format!("the code has no `{marker}`: {}", snippet(&code, 200)));
    }
    Ok(code + "\n")
}

fn looks_like_code_start(line: &str) -> bool {
    const STARTS: [&str; 9] = ["import ", "from ", "def ", "async def ", "class ", "@", "#", "\"\"\"", "'''"];
    STARTS.iter().any(|s| line.starts_with(s))
}

/// An unindented line of prose such as "This function returns…" or "Note that…".
fn looks_like_prose(line: &str) -> bool {
    let mut words = line.split_whitespace();
    let (Some(first), Some(_)) = (words.next(), words.next()) else { return false };
    let capitalized_word = first.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && first.chars().skip(1).all(|c| c.is_ascii_lowercase() || c == ',' || c == ':' || c == '\'');
    let code_like = line.contains(" = ") || line.trim_end().ends_with(':') || line.contains("(");
    capitalized_word && !code_like && !matches!(first, "True" | "False" | "None")
}

fn bare_python(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let Some(start) = lines.iter().position(|l| looks_like_code_start(l)) else { return String::new() };
    let mut end = lines.len();
    while end > start {
        let l = lines[end - 1];
        let unindented = !l.starts_with(' ') && !l.starts_with('\t');
        if l.trim().is_empty() || (unindented && looks_like_prose(l)) {
            end -= 1;
        } else {
            break;
        }
    }
    lines[start..end].join("\n")
}

/// Plain text from a reply: reasoning removed, whitespace trimmed.
pub fn extract_text(text: &str) -> Result<String, String> {
    let t = strip_thinking(text).trim().to_string();
    if t.is_empty() { Err("the reply is empty".into()) } else { Ok(t) }
}

/// At most `max` characters of `s` on one line, for error messages.
pub(crate) fn snippet(s: &str, max: usize) -> String {
    let one_line: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        let cut: String = one_line.chars().take(max).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_with_chatter_and_thinking() {
        let v = extract_json_object("<think>{\"no\": 1}</think>Sure! Here it is: {\"a\": [1, 2]} Hope that helps {x}")
            .unwrap();
        assert_eq!(v, serde_json::json!({"a": [1, 2]}));
        assert!(extract_json_object("no json at all").is_err());
    }

    #[test]
    fn bare_code_loses_its_prose() {
        let code = extract_python(
            "Here you go:\nimport math\n\ndef f(x):\n    return math.sqrt(x)\n\nThis function returns the root.",
            "def f",
        )
        .unwrap();
        assert_eq!(code, "import math\n\ndef f(x):\n    return math.sqrt(x)\n");
    }
}
