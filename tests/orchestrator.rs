//! The agent end to end: a scripted model on loopback (tests/support/llm_server.rs), the real
//! WASM runtime, the real MiniLM embedder and index, and a store in a temporary home. Tools are
//! registered with `create_tool` (wasm-only verification: no Docker needed); each test scripts
//! exactly the model replies its request should need, so a request that asks the model more (or
//! less) than expected fails on the queue.

mod support;

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};
use support::{LlmServer, Recorded, Reply, Route, fixture};
use toolsmith::agent::{RequestOptions, RequestResult, Strategy};
use toolsmith::llm::LlmConfig;
use toolsmith::synthesis::{Candidate, SynthesisEvent, VerifyMode};
use toolsmith::{Config, CreateOptions, ErrorKind, Toolsmith, Usage};

const FACTORIAL: &str = r#"def calculate_factorial(n: int) -> int:
    """Calculate the factorial of a non-negative integer n (n!)."""
    if n < 0:
        raise ValueError("n must be non-negative")
    r = 1
    for i in range(2, n + 1):
        r *= i
    return r
"#;
const PROFIT: &str = r#"def profit_margins(revenue: list, cost: list) -> list:
    """Compute the profit margin of each product, (revenue - cost) / revenue, from parallel lists of revenue and cost per product."""
    return [round((r - c) / r, 4) for r, c in zip(revenue, cost)]
"#;
const MAKE_LIST: &str = r#"def make_list(n: int) -> list:
    """Make the list of the whole numbers from 1 to n."""
    return list(range(1, n + 1))
"#;
const SUM_LIST: &str = r#"def sum_list(values: list) -> int:
    """Add up a list of numbers and return their sum."""
    return sum(values)
"#;
const REVERSE: &str = r#"def reverse_text(text: str) -> str:
    """Reverse a piece of text, character by character."""
    return text[::-1]
"#;

fn candidate(name: &str, code: &str, test: &str) -> Candidate {
    Candidate {
        name: name.into(),
        code: code.into(),
        tests: format!("from {name} import {name}\n\ndef test_it():\n    {test}\n"),
        ..Candidate::default()
    }
}

fn factorial() -> Candidate {
    candidate("calculate_factorial", FACTORIAL, "assert calculate_factorial(5) == 120")
}
fn profit() -> Candidate {
    candidate("profit_margins", PROFIT, "assert profit_margins([10], [5]) == [0.5]")
}
fn make_list() -> Candidate {
    candidate("make_list", MAKE_LIST, "assert make_list(3) == [1, 2, 3]")
}
fn sum_list() -> Candidate {
    candidate("sum_list", SUM_LIST, "assert sum_list([1, 2]) == 3")
}
fn reverse() -> Candidate {
    candidate("reverse_text", REVERSE, "assert reverse_text('ab') == 'ba'")
}

fn llm_config(server: &LlmServer) -> LlmConfig {
    let mut c = LlmConfig::local(server.base_url());
    c.model = "scripted-model".into();
    c.retry_base_delay = Duration::from_millis(5);
    c
}

/// The facade for `home`, its model the scripted server.
async fn agent(home: &Path, server: &LlmServer) -> Toolsmith {
    let mut config = Config::from_env().unwrap().with_home(home);
    config.llm = Ok(llm_config(server));
    Toolsmith::open(config, Usage::OneShot).await.unwrap_or_else(|e| panic!("open: {e:#}"))
}

async fn register(ts: &Toolsmith, tools: &[Candidate]) {
    let opts = CreateOptions { verify: VerifyMode::WasmOnly, ..CreateOptions::default() };
    for c in tools {
        ts.create_tool(c, opts, &|_| {}).await.unwrap_or_else(|e| panic!("register {}: {e}", c.name));
    }
}

/// A chat reply whose content is `value`, reporting token usage.
fn model(value: Value) -> Reply {
    Reply::json(
        200,
        json!({
            "choices": [{"index": 0, "message": {"role": "assistant", "content": value.to_string()}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 50, "completion_tokens": 7, "total_tokens": 57},
        }),
    )
}

fn args(a: Value) -> Reply {
    model(json!({"arguments": a, "missing": []}))
}

fn plan(strategy: &str, tool: Option<&str>, sub_tasks: &[&str]) -> Reply {
    model(json!({
        "strategy": strategy, "reasoning": "scripted", "tool": tool, "sub_tasks": sub_tasks,
        "composite_tool": null, "pattern_id": null,
    }))
}

fn answer(text: &str) -> Reply {
    Reply::chat(text)
}

fn quiet() -> RequestOptions {
    RequestOptions { respond: false, ..RequestOptions::default() }
}

async fn ask(ts: &Toolsmith, prompt: &str, session: Option<&str>, opts: RequestOptions) -> RequestResult {
    ts.process_request(prompt, session, opts, &|_| {}).await.unwrap_or_else(|e| panic!("{prompt}: {e}"))
}

fn result(r: &RequestResult) -> Value {
    serde_json::from_str(r.tool_result.as_ref().unwrap_or_else(|| panic!("no result: {r:?}")).get()).unwrap()
}

/// The stage (`json_schema.name`) and format type of a recorded chat request.
fn format(r: &Recorded) -> (String, String) {
    let f = &r.json()["response_format"];
    (f["json_schema"]["name"].as_str().unwrap_or("").to_string(), f["type"].as_str().unwrap_or("none").to_string())
}

fn stages(server: &LlmServer) -> Vec<String> {
    server
        .chat_requests()
        .iter()
        .map(|r| {
            let s = r.system();
            let stage = if s.contains("You plan how an agent") {
                "plan"
            } else if s.contains("arguments of one function call") {
                "arguments"
            } else if s.contains("from the result of the tool") {
                "response"
            } else if s.contains("JSON specification") {
                "spec"
            } else if s.contains("pytest test suites") {
                "tests"
            } else {
                "implementation"
            };
            stage.to_string()
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// One tool

#[tokio::test]
async fn a_named_tool_runs_with_two_model_calls_and_one_without_an_answer() {
    let home = tempfile::tempdir().unwrap();
    let server = LlmServer::start();
    let ts = agent(home.path(), &server).await;
    register(&ts, &[factorial(), reverse()]).await;

    server.on_chat([args(json!({"n": 5})), answer("5! is 120.")]);
    let events = Mutex::new(Vec::new());
    let record = |e: &SynthesisEvent| events.lock().unwrap().push(serde_json::to_value(e).unwrap()["event"].clone());
    let r = ts.process_request("calculate_factorial of 5", None, RequestOptions::default(), &record).await.unwrap();
    assert!(r.success, "{r:?}");
    assert_eq!(
        (r.tool_name.as_deref(), result(&r), r.response.as_str()),
        (Some("calculate_factorial"), json!(120), "5! is 120.")
    );
    assert!(!r.synthesized && r.strategy == Some(Strategy::Single));
    assert_eq!(stages(&server), ["arguments", "response"], "a named tool needs no planning call");
    assert_eq!(
        *events.lock().unwrap(),
        [json!("planned"), json!("step_started"), json!("tool_ran"), json!("answered")]
    );
    // The extraction carries the tool's argument schema as a strict structured output.
    let req = &server.chat_requests()[0];
    assert_eq!(format(req), ("extract_arguments".into(), "json_schema".into()));
    let schema = &req.json()["response_format"]["json_schema"];
    assert_eq!(schema["strict"], json!(true));
    assert_eq!(schema["schema"]["properties"]["arguments"]["properties"]["n"]["type"], json!(["integer", "null"]));

    // The trace accounts for each model call, with its tokens.
    let trace = ts.trace(&r.trace_id).await.unwrap();
    assert_eq!(
        trace.model_calls.iter().map(|c| c.stage.as_str()).collect::<Vec<_>>(),
        ["extract_arguments", "synthesize_response"]
    );
    assert_eq!((trace.model_calls[0].prompt_tokens, trace.model_calls[0].completion_tokens), (Some(50), Some(7)));
    assert_eq!(trace.steps.len(), 1);
    assert_eq!((trace.steps[0].attempts, trace.steps[0].arguments.clone()), (1, Some(json!({"n": 5}))));

    // Without an answer in words: one call, and the raw result as the response.
    server.on_chat([args(json!({"n": 6}))]);
    let r = ask(&ts, "calculate_factorial of 6", None, quiet()).await;
    assert_eq!((result(&r), r.response.as_str()), (json!(720), "720"));
    assert_eq!(server.chat_requests().len(), 3);
    assert_eq!(server.unused(Route::Chat), 0);
}

#[tokio::test]
async fn a_paraphrase_reuses_the_tool_the_model_picks_among_the_candidates() {
    let home = tempfile::tempdir().unwrap();
    let server = LlmServer::start();
    let ts = agent(home.path(), &server).await;
    register(&ts, &[profit(), factorial(), reverse()]).await;

    server
        .on_chat([plan("single", Some("profit_margins"), &[]), args(json!({"revenue": [100, 50], "cost": [60, 40]}))]);
    let r = ask(&ts, "what margin does each product make? revenue 100 and 50, cost 60 and 40", None, quiet()).await;
    assert!(r.success && !r.synthesized, "{r:?}");
    assert_eq!((r.tool_name.as_deref(), result(&r)), (Some("profit_margins"), json!([0.4, 0.2])));
    assert_eq!(stages(&server), ["plan", "arguments"]);
    let planning = &server.chat_requests()[0];
    assert_eq!(format(planning), ("plan_execution".into(), "json_schema".into()));
    assert!(planning.user().contains("- profit_margins (score"), "the tool is shown to the model: {}", planning.user());
    assert_eq!(ts.count_tools().await.unwrap(), 3, "nothing was written");

    // A model naming a tool it was not shown is not believed: a tool would be written instead.
    let p = {
        server.on_chat([plan("single", Some("no_such_tool"), &[])]);
        ts.plan_execution("what margin does each product make", None, None).await.unwrap()
    };
    assert_eq!((p.strategy, p.tool), (Strategy::Single, None));
}

#[tokio::test]
async fn wrong_types_and_tool_errors_are_corrected_by_the_retry() {
    let home = tempfile::tempdir().unwrap();
    let server = LlmServer::start();
    let ts = agent(home.path(), &server).await;
    register(&ts, &[factorial()]).await;

    // A string where the schema wants an integer, then a value the tool rejects, then right.
    server.on_chat([args(json!({"n": "five"})), args(json!({"n": -5})), args(json!({"n": 5}))]);
    let r = ask(&ts, "calculate_factorial of five", None, quiet()).await;
    assert!(r.success, "{r:?}");
    assert_eq!(result(&r), json!(120));
    let reqs = server.chat_requests();
    assert_eq!(reqs.len(), 3);
    assert!(reqs[1].user().contains("previous attempt failed") && reqs[1].user().contains("n"), "{}", reqs[1].user());
    assert!(reqs[2].user().contains("ValueError") && reqs[2].user().contains("-5"), "{}", reqs[2].user());
    let trace = ts.trace(&r.trace_id).await.unwrap();
    assert_eq!(trace.steps[0].attempts, 2, "the tool ran twice: -5, then 5");

    // Retries are bounded: max_retries 0 reports the tool's error.
    server.on_chat([args(json!({"n": -1}))]);
    let r = ask(&ts, "calculate_factorial of minus one", None, RequestOptions { max_retries: 0, ..quiet() }).await;
    assert_eq!(r.error_type, Some(ErrorKind::ToolError), "{r:?}");
}

#[tokio::test]
async fn a_request_without_a_required_value_runs_nothing() {
    let home = tempfile::tempdir().unwrap();
    let server = LlmServer::start();
    let ts = agent(home.path(), &server).await;
    register(&ts, &[factorial()]).await;

    server.on_chat([model(json!({"arguments": {"n": null}, "missing": ["n"]}))]);
    let r = ask(&ts, "calculate_factorial please", None, quiet()).await;
    assert!(!r.success);
    assert_eq!(r.error_type, Some(ErrorKind::MissingArguments));
    assert!(r.error.as_deref().unwrap().contains('n'), "{r:?}");
    let detail = ts.get_tool("calculate_factorial").await.unwrap();
    assert_eq!(detail.usage.runs, 0, "nothing ran");
}

#[tokio::test]
async fn a_refused_json_schema_falls_back_to_json_object_then_to_text() {
    let home = tempfile::tempdir().unwrap();
    let server = LlmServer::start();
    let ts = agent(home.path(), &server).await;
    register(&ts, &[factorial()]).await;

    server.on_chat([
        Reply::error(400, "response_format type json_schema is not supported"),
        Reply::error(400, "Unrecognized request argument supplied: response_format"),
        args(json!({"n": 3})),
        Reply::chat(r#"{"n": 4}"#),
    ]);
    let r = ask(&ts, "calculate_factorial of 3", None, quiet()).await;
    assert_eq!(result(&r), json!(6));
    let r = ask(&ts, "calculate_factorial of 4", None, quiet()).await;
    assert_eq!(result(&r), json!(24), "a bare arguments object is accepted too");
    let formats: Vec<String> = server.chat_requests().iter().map(|r| format(r).1).collect();
    assert_eq!(formats, ["json_schema", "json_object", "none", "none"], "refusals are remembered");
}

// ---------------------------------------------------------------------------------------------
// Several steps

#[tokio::test]
async fn a_two_step_workflow_passes_the_first_result_to_the_second() {
    let home = tempfile::tempdir().unwrap();
    let server = LlmServer::start();
    let ts = agent(home.path(), &server).await;
    register(&ts, &[make_list(), sum_list(), factorial()]).await;

    server.on_chat([
        plan("multi_tool_sequential", None, &["make_list up to 4", "sum_list of that list"]),
        args(json!({"n": 4})),
        args(json!({"values": [1, 2, 3, 4]})),
        answer("The sum is 10."),
    ]);
    let r = ask(&ts, "make a list up to 4, then add it up", None, RequestOptions::default()).await;
    assert!(r.success, "{r:?}");
    assert_eq!(
        (r.strategy, result(&r), r.response.as_str()),
        (Some(Strategy::MultiToolSequential), json!(10), "The sum is 10.")
    );
    assert_eq!(r.steps.len(), 2);
    assert_eq!(r.steps.iter().map(|s| s.tool_name.clone().unwrap()).collect::<Vec<_>>(), ["make_list", "sum_list"]);
    let second = &server.chat_requests()[2];
    assert!(second.user().replace(' ', "").contains("Resultofstep1(make_list):[1,2,3,4]"), "{}", second.user());

    // A failing step stops the workflow and is named.
    server.on_chat([
        plan("multi_tool_sequential", None, &["make_list up to 2", "calculate_factorial of -3"]),
        args(json!({"n": 2})),
        args(json!({"n": -3})),
    ]);
    let r = ask(&ts, "make a list then fail", None, RequestOptions { max_retries: 0, ..quiet() }).await;
    assert!(!r.success);
    assert_eq!((r.failed_step, r.error_type), (Some(2), Some(ErrorKind::ToolError)));
    assert!(r.error.as_deref().unwrap().starts_with("step 2 (calculate_factorial of -3) failed"), "{r:?}");

    // Independent sub-tasks: every result, in order.
    server.on_chat([
        plan("multi_tool_composition", None, &["calculate_factorial of 3", "calculate_factorial of 4"]),
        args(json!({"n": 3})),
        args(json!({"n": 4})),
    ]);
    let r = ask(&ts, "factorials of 3 and 4; both", None, quiet()).await;
    assert_eq!((r.strategy, result(&r)), (Some(Strategy::MultiToolComposition), json!([6, 24])));
}

#[tokio::test]
async fn a_workflow_run_often_becomes_a_composite_tool_that_runs_end_to_end() {
    let home = tempfile::tempdir().unwrap();
    let server = LlmServer::start();
    let ts = agent(home.path(), &server).await;
    register(&ts, &[make_list(), sum_list()]).await;

    for n in 2..5 {
        server.on_chat([
            plan("multi_tool_sequential", None, &[&format!("make_list up to {n}"), "sum_list of that list"]),
            args(json!({"n": n})),
            args(json!({"values": (1..=n).collect::<Vec<_>>()})),
        ]);
        let r = ask(&ts, &format!("make a list up to {n}, then add it up"), None, quiet()).await;
        assert!(r.success, "{r:?}");
    }
    // Three runs: promoted, the mapping learned from the log (sum_list takes make_list's result).
    let composites = ts.composite_tools().await.unwrap();
    assert_eq!(composites.len(), 1, "{composites:?}");
    let c = &composites[0];
    assert_eq!(
        (c.name.as_str(), c.tools()),
        ("make_list_then_sum_list", vec!["make_list".to_string(), "sum_list".into()])
    );
    assert_eq!(c.steps[1].inputs.get("values"), Some(&toolsmith::agent::ArgSource::Previous));

    // The composite is a candidate; chosen, its second step needs no model call.
    server.on_chat([
        model(json!({
            "strategy": "composite_tool", "reasoning": "scripted", "tool": null, "sub_tasks": [],
            "composite_tool": "make_list_then_sum_list", "pattern_id": null,
        })),
        args(json!({"n": 10})),
    ]);
    let before = server.chat_requests().len();
    let r = ask(&ts, "the sum of the numbers from one to ten", None, quiet()).await;
    assert!(r.success, "{r:?}");
    assert_eq!((r.strategy, result(&r)), (Some(Strategy::CompositeTool), json!(55)));
    assert_eq!(server.chat_requests().len() - before, 2, "plan and one extraction");
    assert!(server.chat_requests()[before].user().contains("make_list_then_sum_list"));

    // Run directly with its arguments (as an MCP tool of its own is): no model involved.
    let asked = server.chat_requests().len();
    let out = ts
        .run_composite("make_list_then_sum_list", json!({"n": 5}).as_object().unwrap(), Default::default())
        .await
        .unwrap();
    assert_eq!(out.result.get(), "15");
    assert_eq!(server.chat_requests().len(), asked);
    let (_, schema) = ts.composite_tools_with_schemas().await.unwrap().remove(0);
    assert_eq!(schema["required"], json!(["n"]), "values comes from make_list: {schema}");

    // Deleting one of its tools deletes the composite, and the tool list's generation moves.
    let generation = ts.tools_generation().await.unwrap();
    assert!(ts.delete_tool("sum_list").await.unwrap());
    assert!(ts.composite_tools().await.unwrap().is_empty());
    assert!(ts.tools_generation().await.unwrap() > generation);
}

#[tokio::test]
async fn a_known_pattern_is_offered_and_run_in_order() {
    let home = tempfile::tempdir().unwrap();
    let server = LlmServer::start();
    let ts = agent(home.path(), &server).await;
    register(&ts, &[make_list(), sum_list()]).await;
    let never = RequestOptions { promote_after: 0, ..quiet() };
    for n in 2..4 {
        server.on_chat([
            plan("multi_tool_sequential", None, &[&format!("make_list up to {n}"), "sum_list of that list"]),
            args(json!({"n": n})),
            args(json!({"values": (1..=n).collect::<Vec<_>>()})),
        ]);
        ask(&ts, "make a list, then add it up", None, never.clone()).await;
    }
    let patterns = ts.get_workflow_patterns(2, 10).await.unwrap();
    let id = patterns.iter().find(|p| p.tools == ["make_list", "sum_list"]).expect("mined").id.clone();
    server.on_chat([
        model(json!({
            "strategy": "workflow_pattern", "reasoning": "scripted", "tool": null, "sub_tasks": [],
            "composite_tool": null, "pattern_id": id,
        })),
        args(json!({"n": 5})),
        args(json!({"values": [1, 2, 3, 4, 5]})),
    ]);
    let r = ask(&ts, "make a list up to 5 then sum it", None, never).await;
    assert_eq!((r.strategy, result(&r)), (Some(Strategy::WorkflowPattern), json!(15)), "{r:?}");
    let reqs = server.chat_requests();
    let n = reqs.len();
    assert!(reqs[n - 3].user().contains(&id), "the pattern is offered: {}", reqs[n - 3].user());
    assert!(reqs[n - 1].user().replace(' ', "").contains("Resultofstep1(make_list):[1,2,3,4,5]"));
}

// ---------------------------------------------------------------------------------------------
// New tools, sessions, persistence

#[tokio::test]
async fn asking_for_a_new_tool_writes_it_then_runs_it() {
    let home = tempfile::tempdir().unwrap();
    let server = LlmServer::start();
    let ts = agent(home.path(), &server).await;
    let fib = |f: &str| Reply::chat(fixture(&format!("synthesis/fibonacci/{f}")));
    server.on_chat([fib("spec.json"), fib("tests.reply.md"), fib("implementation.reply.md"), args(json!({"n": 10}))]);
    let opts = RequestOptions {
        create: CreateOptions { verify: VerifyMode::WasmOnly, ..CreateOptions::default() },
        ..quiet()
    };
    let r = ask(&ts, "create a tool that returns the n-th Fibonacci number, and give me the 10th", None, opts).await;
    assert!(r.success, "{r:?}");
    assert_eq!((r.strategy, r.synthesized, result(&r)), (Some(Strategy::ForceSynthesis), true, json!(55)));
    assert_eq!(stages(&server), ["spec", "tests", "implementation", "arguments"]);
    assert_eq!(format(&server.chat_requests()[0]), ("generate_spec".into(), "json_schema".into()));
    assert!(ts.get_tool_by_name(r.tool_name.as_deref().unwrap()).await.unwrap().is_some());
}

#[tokio::test]
async fn a_session_remembers_and_survives_a_restart() {
    let home = tempfile::tempdir().unwrap();
    let server = LlmServer::start();
    let (session, trace_id) = {
        let ts = agent(home.path(), &server).await;
        register(&ts, &[factorial(), reverse()]).await;
        server.on_chat([args(json!({"n": 5}))]);
        let first = ask(&ts, "calculate_factorial of 5", None, quiet()).await;
        server.on_chat([plan("single", Some("calculate_factorial"), &[]), args(json!({"n": 7}))]);
        let second = ask(&ts, "now do the same for 7", Some(&first.session_id), quiet()).await;
        assert_eq!((second.session_id.as_str(), result(&second)), (first.session_id.as_str(), json!(5040)));
        let reqs = server.chat_requests();
        assert!(reqs[1].user().contains("previous request in this conversation used the tool calculate_factorial"));
        assert!(reqs[2].user().contains("user: calculate_factorial of 5") && reqs[2].user().contains("assistant: 120"));
        (first.session_id, second.trace_id)
    };
    // A new process over the same home.
    let ts = agent(home.path(), &server).await;
    let messages = ts.get_recent_messages(&session, 10).await.unwrap();
    assert_eq!(
        messages.iter().map(|m| m.content.as_str()).collect::<Vec<_>>(),
        ["calculate_factorial of 5", "120", "now do the same for 7", "5040"]
    );
    assert!(ts.sessions(10).await.unwrap().iter().any(|s| s.id == session && s.messages == 4));
    let traces = ts.traces(Some(&session), 10).await.unwrap();
    assert_eq!(traces.len(), 2);
    assert_eq!(traces[0].id, trace_id, "newest first");
    let t = ts.trace(&trace_id).await.unwrap();
    assert_eq!(t.plan.unwrap().strategy, Strategy::Single);
    let rel = ts.get_tool_relationships(Some("calculate_factorial"), 0.0).await.unwrap();
    assert_eq!((rel[0].tool_b.as_str(), rel[0].support), ("calculate_factorial", 1));
    assert_eq!(ts.trace("no-such-trace").await.unwrap_err().kind(), ErrorKind::NotFound);
}

#[tokio::test]
async fn without_a_model_the_agent_says_what_to_set() {
    let home = tempfile::tempdir().unwrap();
    let mut config = Config::from_env().unwrap().with_home(home.path());
    config.llm = Ok(LlmConfig::default());
    let ts = Toolsmith::open(config, Usage::OneShot).await.unwrap();
    let e = ts.process_request("factorial of 5", None, quiet(), &|_| {}).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotConfigured);
    assert!(e.to_string().contains("OPENAI_API_KEY"), "{e}");
    let e = ts.plan_execution("factorial of 5", None, None).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotConfigured);
    // Everything else works: empty lists, not errors.
    assert!(ts.traces(None, 10).await.unwrap().is_empty());
    assert!(ts.sessions(10).await.unwrap().is_empty());
    assert!(ts.composite_tools().await.unwrap().is_empty());
    assert_eq!(ts.promote_pattern("p-000000000000", None).await.unwrap_err().kind(), ErrorKind::NotFound);
}

// ---------------------------------------------------------------------------------------------
// The binary

fn toolsmith(home: &Path) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_toolsmith"));
    c.env("TOOLSMITH_HOME", home)
        .env("TOOLSMITH_CACHE", Config::from_env().unwrap().paths.cache)
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL")
        .env_remove("TOOLSMITH_MODEL");
    c
}

fn toolsmith_with(home: &Path, server: &LlmServer) -> std::process::Command {
    let mut c = toolsmith(home);
    c.env("OPENAI_BASE_URL", server.base_url()).env("TOOLSMITH_MODEL", "scripted-model");
    c
}

fn json_of(o: &std::process::Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n--- stdout\n{}\n--- stderr\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

#[test]
fn the_cli_lists_empty_logs_as_empty_lists_and_names_what_to_set_without_a_model() {
    let home = tempfile::tempdir().unwrap();
    for args in [
        &["patterns", "--json"][..],
        &["patterns", "composites", "--json"],
        &["relationships", "--json"],
        &["sessions", "list", "--json"],
        &["traces", "list", "--json"],
    ] {
        let o = toolsmith(home.path()).args(args).output().unwrap();
        assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(json_of(&o), json!([]), "{args:?}");
    }
    for args in [&["ask", "factorial of 5"][..], &["plan", "factorial of 5"]] {
        let o = toolsmith(home.path()).args(args).output().unwrap();
        assert!(!o.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("OPENAI_API_KEY") && err.contains("OPENAI_BASE_URL"), "{args:?}: {err}");
    }
    let o = toolsmith(home.path()).args(["traces", "show", "nope", "--json"]).output().unwrap();
    assert!(!o.status.success());
    assert_eq!(json_of(&o)["error_type"], "not_found");
}

#[tokio::test]
async fn ask_then_promote_from_the_cli() {
    let home = tempfile::tempdir().unwrap();
    let server = LlmServer::start();
    {
        let ts = agent(home.path(), &server).await;
        register(&ts, &[make_list(), sum_list()]).await;
    }
    for n in [2, 3] {
        server.on_chat([
            plan("multi_tool_sequential", None, &[&format!("make_list up to {n}"), "sum_list of that list"]),
            args(json!({"n": n})),
            args(json!({"values": (1..=n).collect::<Vec<_>>()})),
            answer(&format!("It is {}.", n * (n + 1) / 2)),
        ]);
        let o =
            toolsmith_with(home.path(), &server).args(["ask", "make a list, then sum it", "--json"]).output().unwrap();
        let r = json_of(&o);
        assert!(o.status.success() && r["success"] == json!(true), "{r}");
        assert_eq!(r["tool_result"], json!(n * (n + 1) / 2));
        assert_eq!(r["strategy"], "multi_tool_sequential");
        let shown = toolsmith(home.path())
            .args(["traces", "show", r["trace_id"].as_str().unwrap(), "--json"])
            .output()
            .unwrap();
        assert_eq!(json_of(&shown)["steps"].as_array().unwrap().len(), 2);
    }
    let o = toolsmith(home.path()).args(["patterns", "--json"]).output().unwrap();
    let patterns = json_of(&o);
    let p =
        patterns.as_array().unwrap().iter().find(|p| p["tools"] == json!(["make_list", "sum_list"])).unwrap().clone();
    assert_eq!(p["frequency"], json!(2));
    let o = toolsmith(home.path())
        .args(["patterns", "promote", p["id"].as_str().unwrap(), "--name", "sum_to_n", "--json"])
        .output()
        .unwrap();
    let c = json_of(&o);
    assert!(o.status.success(), "{c}");
    assert_eq!((c["name"].clone(), c["steps"][1]["inputs"]["values"].clone()), (json!("sum_to_n"), json!("previous")));
    // A second promotion under a taken name says so.
    let o = toolsmith(home.path())
        .args(["patterns", "promote", p["id"].as_str().unwrap(), "--name", "sum_list", "--json"])
        .output()
        .unwrap();
    assert_eq!(json_of(&o)["error_type"], "already_exists");
}

#[tokio::test]
async fn a_sigkill_during_a_workflow_leaves_a_consistent_store() {
    let home = tempfile::tempdir().unwrap();
    let server = LlmServer::start();
    {
        let ts = agent(home.path(), &server).await;
        register(&ts, &[make_list(), sum_list()]).await;
        // One earlier run of the sequence, so a promotion is one run away.
        server.on_chat([
            plan("multi_tool_sequential", None, &["make_list up to 2", "sum_list of that list"]),
            args(json!({"n": 2})),
            args(json!({"values": [1, 2]})),
        ]);
        ask(&ts, "make a list, then sum it", None, RequestOptions { promote_after: 2, ..quiet() }).await;
    }
    server.on_chat([
        plan("multi_tool_sequential", None, &["make_list up to 3", "sum_list of that list"]),
        args(json!({"n": 3})),
        Reply::hang(),
    ]);
    let mut child = toolsmith_with(home.path(), &server)
        .args(["ask", "make a list, then sum it", "--no-response", "--json"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // 3 requests before, then the plan, the first extraction and the hung second one.
    assert!(server.wait_for_chat(6, Duration::from_secs(60)), "the second step's extraction never came");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let db = rusqlite::Connection::open(home.path().join("toolsmith.db")).unwrap();
    let ok: String = db.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(ok, "ok");
    let orphans: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM composite_steps WHERE composite NOT IN (SELECT name FROM composite_tools)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let stepless: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM composite_tools WHERE name NOT IN (SELECT composite FROM composite_steps)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!((orphans, stepless), (0, 0), "no half-written composite");
    let traces: i64 = db.query_row("SELECT COUNT(*) FROM traces", [], |r| r.get(0)).unwrap();
    assert_eq!(traces, 1, "the killed request left no trace row, the finished one its own");
    drop(db);
    // The home still serves: the tools run and the next request is answered.
    let ts = agent(home.path(), &server).await;
    server.on_chat([args(json!({"n": 4}))]);
    let r = ask(&ts, "make_list up to 4", None, quiet()).await;
    assert_eq!(result(&r), json!([1, 2, 3, 4]));
}

#[tokio::test]
async fn answered_requests_are_learned_as_examples_and_a_redo_with_another_tool_forgets_them() {
    let home = tempfile::tempdir().unwrap();
    let server = LlmServer::start();
    let ts = agent(home.path(), &server).await;
    register(&ts, &[factorial(), reverse()]).await;
    let texts = |name: &'static str| {
        let ts = ts.clone();
        async move { ts.tool_examples(name).await.unwrap().into_iter().map(|e| e.text).collect::<Vec<_>>() }
    };

    // A failed run teaches nothing.
    server.on_chat([args(json!({"n": -1}))]);
    let r = ask(&ts, "calculate_factorial of minus one", None, RequestOptions { max_retries: 0, ..quiet() }).await;
    assert!(!r.success);
    assert!(texts("calculate_factorial").await.is_empty());

    // An answered one is an example of its tool.
    server.on_chat([args(json!({"n": 5}))]);
    let first = ask(&ts, "calculate_factorial of 5", None, quiet()).await;
    assert_eq!(texts("calculate_factorial").await, ["calculate_factorial of 5"]);

    // The same words again at once, answered by another tool: the first answer was not right.
    server.on_chat([args(json!({"text": "calculate factorial 5"}))]);
    let redo = ask(&ts, "reverse_text of calculate factorial 5", Some(&first.session_id), quiet()).await;
    assert_eq!(redo.tool_name.as_deref(), Some("reverse_text"));
    assert!(texts("calculate_factorial").await.is_empty(), "forgotten");
    assert_eq!(texts("reverse_text").await, ["reverse_text of calculate factorial 5"]);
}
