//! The words sent to the model. Each function returns `(system, user)`.

use serde_json::Value;

use super::spec::Spec;

/// Long inputs (failure output, results) are cut to this many characters, head and tail kept.
const MAX_QUOTED: usize = 8000;

fn stdlib_rule(allowed: &[String]) -> String {
    if allowed.is_empty() {
        "Use the Python standard library only; no third-party packages.".to_string()
    } else {
        format!(
            "Import only these standard-library modules (nothing else exists in the sandbox): {}.",
            allowed.join(", ")
        )
    }
}

const SANDBOX_RULES: &str = "The code runs in a sandbox with no network, no subprocesses and no \
environment variables. It may read or write files only at paths it is given as arguments (in tests: \
under pytest's tmp_path).";

pub fn spec(request: &str) -> (String, String) {
    let system = format!(
        "You design one Python function that fulfils a user's request, as a JSON specification.\n\
         Reply with one JSON object and nothing else:\n\
         {{\"function_name\": \"snake_case_name\",\n \
          \"parameters\": [{{\"name\": \"snake_case\", \"type\": \"integer\", \"description\": \"…\", \"required\": true}}],\n \
          \"return_type\": \"integer\",\n \
          \"docstring\": \"What it does, its arguments, what it returns and which errors it raises.\",\n \
          \"examples\": [\"a request a user might make of this function\", \"…\"]}}\n\
         Rules:\n\
         - Types are JSON Schema type names: string, integer, number, boolean, array, object, null \
         (Python str, int, float, bool, list, dict, None). Never write int, str, float, list or dict.\n\
         - function_name and parameter names are snake_case identifiers and not Python keywords; \
         the function name describes the action (e.g. calculate_factorial) and is not a \
         standard-library module name.\n\
         - An optional parameter has \"required\": false and a \"default\" (a JSON value).\n\
         - Arguments and the result are JSON values: no bytes, sets, tuples or objects.\n\
         - Prefer one general, reusable function over one fitted to the example in the request.\n\
         - The docstring says which exceptions are raised for invalid input (ValueError, TypeError).\n\
         - examples: 5 to 10 requests a user might type to get this function run, each one line in \
         the user's words and varied in wording and values (questions, commands, casual and precise); \
         not descriptions of the function.\n\
         {SANDBOX_RULES}"
    );
    (system, format!("Request: {request}"))
}

pub fn spec_correction(request: &str, previous_reply: &str, problems: &[String]) -> (String, String) {
    let (system, _) = spec(request);
    let user = format!(
        "Request: {request}\n\nYour previous specification was:\n{previous_reply}\n\n\
         It is invalid:\n- {}\n\nReply with the corrected JSON object only.",
        problems.join("\n- ")
    );
    (system, user)
}

fn describe(spec: &Spec) -> String {
    format!("Signature: {}\nSpecification:\n{}", spec.python_signature(), spec.to_json_pretty())
}

pub fn tests(spec: &Spec, allowed: &[String]) -> (String, String) {
    let name = &spec.function_name;
    let system = format!(
        "You write pytest test suites for Python functions that do not exist yet: the tests are \
         the contract the implementation must meet.\n\
         Rules:\n\
         - Start with `import pytest` and `from {name} import {name}` exactly; the function lives in \
         the module `{name}`.\n\
         - Plain `assert` statements; `pytest.raises(ValueError)` (or the documented exception) for \
         invalid input; `pytest.approx` for floats; `@pytest.mark.parametrize` for tables of cases; \
         the `tmp_path` fixture for any file the function reads or writes.\n\
         - 5 to 15 test functions named test_*: typical cases, edge cases (empty, zero, negative, \
         boundaries) and the documented errors. Every expected value must be right: work it out \
         step by step; leave a case out rather than guess.\n\
         - Test only what the specification promises; no randomness, clock, network or environment.\n\
         - {}\n\
         {SANDBOX_RULES}\n\
         Reply with one ```python block holding the whole test file.",
        stdlib_rule(allowed)
    );
    (system, describe(spec))
}

fn implementation_rules(spec: &Spec, allowed: &[String]) -> String {
    format!(
        "Rules:\n\
         - Write the whole module `{name}.py`, defining `{sig}` with the specification's docstring. \
         Helpers and constants may be defined at module level; nothing runs on import.\n\
         - {stdlib}\n\
         - Validate arguments and raise the documented exceptions with a clear message.\n\
         - Return JSON-compatible values (str, int, float, bool, None, list, dict). No print(), no input().\n\
         - Solve the general problem; never special-case the values the tests use.\n\
         {SANDBOX_RULES}\n\
         Reply with one ```python block holding the whole module.",
        name = spec.function_name,
        sig = spec.python_signature(),
        stdlib = stdlib_rule(allowed),
    )
}

pub fn implementation(spec: &Spec, tests: &str, allowed: &[String]) -> (String, String) {
    let system = format!(
        "You implement Python functions from a specification so that a given pytest suite passes.\n{}",
        implementation_rules(spec, allowed)
    );
    let user = format!(
        "{}\n\nThe tests (test_{}.py):\n```python\n{}\n```",
        describe(spec),
        spec.function_name,
        tests.trim_end()
    );
    (system, user)
}

pub fn repair(spec: &Spec, tests: &str, code: &str, failure: &str, allowed: &[String]) -> (String, String) {
    let system = format!(
        "You fix Python implementations that fail their pytest suite. Read the failure, find the \
         cause in the implementation, and return the corrected module. The tests are fixed: do not \
         change them, and do not work around them.\n{}",
        implementation_rules(spec, allowed)
    );
    let user = format!(
        "{}\n\nThe tests (test_{name}.py):\n```python\n{}\n```\n\nThe implementation ({name}.py):\n```python\n{}\n```\n\n\
         What failed:\n```\n{}\n```",
        describe(spec),
        tests.trim_end(),
        code.trim_end(),
        head_and_tail(failure.trim_end(), MAX_QUOTED),
        name = spec.function_name,
    );
    (system, user)
}

pub fn arguments(request: &str, signature: &str, feedback: Option<&str>) -> (String, String) {
    let system = "You turn a request into the arguments of one function call.\n\
         Reply with one JSON object and nothing else: {\"arguments\": {parameter name: JSON value}, \
         \"missing\": [names of required parameters the request gives no value for]}.\n\
         - Use the parameter names and JSON types of the signature exactly (integers as numbers, \
         lists as arrays, text as strings).\n\
         - Optional parameters the request does not mention: leave them out (or null).\n\
         - Never invent a value for a required parameter: if the request does not give one, set it \
         to null and list its name in \"missing\".\n\
         - Values may come from the conversation or from earlier steps' results quoted in the request."
        .to_string();
    let mut user = format!("Function:\n{signature}\n\nRequest: {request}");
    if let Some(f) = feedback {
        user.push_str(&format!(
            "\n\nA previous attempt failed; correct the arguments:\n{}",
            head_and_tail(f.trim_end(), MAX_QUOTED / 4)
        ));
    }
    (system, user)
}

pub fn response(request: &str, result: &Value) -> (String, String) {
    let system = "You answer a user's request from the result of the tool that was run for it. \
         Be brief and direct (one to three sentences), state the result exactly as given, and add \
         nothing that the result does not support."
        .to_string();
    let result = serde_json::to_string_pretty(result).unwrap_or_else(|_| result.to_string());
    let user = format!("Request: {request}\n\nTool result:\n{}", head_and_tail(&result, MAX_QUOTED));
    (system, user)
}

/// `s` cut to about `max` characters: the start and the end, which is where pytest puts the
/// failing assertion and the summary.
fn head_and_tail(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        return s.to_string();
    }
    let head: String = s.chars().take(max * 3 / 4).collect();
    let tail: String = s.chars().skip(n - max / 4).collect();
    format!("{head}\n… [{} characters left out] …\n{tail}", n - head.chars().count() - tail.chars().count())
}
