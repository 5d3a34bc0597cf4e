//! The LLM client against a scripted OpenAI-compatible server on loopback: the real HTTP client,
//! real sockets, replies and failures scripted per test.

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{LlmServer, Reply, Route, fixture, fixture_path};
use toolsmith::llm::{JsonType, LlmClient, LlmConfig, LlmError, Spec, Stage};

/// A client for `server` that gives up quickly: 3 attempts, 5 ms base delay, 400 ms timeout.
fn client(server: &LlmServer) -> LlmClient {
    let mut c = LlmConfig::local(server.base_url());
    c.api_key = Some("sk-test".into());
    c.model = "scripted-model".into();
    c.embedding_model = "scripted-embedder".into();
    c.timeout = Duration::from_millis(400);
    c.retry_base_delay = Duration::from_millis(5);
    LlmClient::new(c).expect("client")
}

fn factorial_spec() -> Spec {
    Spec::from_value(serde_json::from_str(&fixture("llm/spec_factorial.json")).unwrap()).unwrap()
}

const CODE: &str = "```python\ndef calculate_factorial(n: int) -> int:\n    return 1\n```";

#[tokio::test]
async fn spec_is_parsed_from_chatter_and_the_request_is_well_formed() {
    let server = LlmServer::start();
    server.on_chat([Reply::chat(fixture("llm/spec_reply_chatter.md"))]);
    let spec = client(&server).generate_spec("Calculate the factorial of a number").await.unwrap();

    assert_eq!(spec, factorial_spec());
    assert_eq!(spec.parameters[0].ty, JsonType::Integer);
    assert_eq!(spec.python_signature(), "def calculate_factorial(n: int) -> int");
    let reqs = server.chat_requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/v1/chat/completions");
    assert_eq!(r.header("authorization"), Some("Bearer sk-test"));
    let body = r.json();
    assert_eq!(body["model"], "scripted-model");
    // The spec's schema goes as a strict structured output named after the stage.
    assert_eq!(body["response_format"]["type"], "json_schema");
    assert_eq!(body["response_format"]["json_schema"]["name"], "generate_spec");
    assert_eq!(body["response_format"]["json_schema"]["strict"], json!(true));
    assert!(body["response_format"]["json_schema"]["schema"]["properties"]["parameters"].is_object());
    assert_eq!(body["temperature"], json!(0.2));
    assert!(r.user().contains("Calculate the factorial of a number"), "{}", r.user());
    assert!(r.system().contains("JSON Schema type names"), "{}", r.system());
}

#[tokio::test]
async fn spec_with_a_wrong_type_is_rejected_with_a_clear_message() {
    let server = LlmServer::start();
    let wrong = fixture("llm/spec_reply_wrong_type.md");
    server.on_chat([Reply::chat(wrong.clone()), Reply::chat(wrong)]);
    let err = client(&server).generate_spec("factorial").await.unwrap_err();

    let LlmError::InvalidSpec { stage, invalid, .. } = &err else { panic!("expected InvalidSpec, got {err}") };
    assert_eq!(*stage, Stage::GenerateSpec);
    assert_eq!(invalid.problems.len(), 1, "{invalid}");
    let msg = err.to_string();
    let expected = r#"parameters[0].type: "int" is not one of "string", "integer", "number", "boolean", "array", "object", "null""#;
    assert!(msg.contains(expected), "{msg}");
    assert!(msg.contains("generate_spec"), "{msg}");
    // One correction round: the second request shows the model its mistake.
    let reqs = server.chat_requests();
    assert_eq!(reqs.len(), 2);
    assert!(reqs[1].user().contains(r#"parameters[0].type: "int""#), "{}", reqs[1].user());
}

#[tokio::test]
async fn spec_is_corrected_after_one_round() {
    let server = LlmServer::start();
    server.on_chat([
        Reply::chat(fixture("llm/spec_reply_wrong_type.md")),
        Reply::chat(fixture("llm/spec_reply_chatter.md")),
    ]);
    let spec = client(&server).generate_spec("factorial").await.unwrap();
    assert_eq!(spec.function_name, "calculate_factorial");
    assert_eq!(server.chat_requests().len(), 2);
}

/// `tests/fixtures/llm/code/NAME.reply.md` is what the model said; `NAME.expected.py` the code.
#[tokio::test]
async fn code_is_taken_out_of_chatter() {
    let dir = fixture_path("llm/code");
    let mut cases: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".reply.md").map(str::to_string))
        .collect();
    cases.sort();
    assert!(cases.len() >= 4, "fixtures missing in {}", dir.display());
    let server = LlmServer::start();
    server.on_chat(cases.iter().map(|c| Reply::chat(fixture(&format!("llm/code/{c}.reply.md")))));
    let llm = client(&server);
    let spec = factorial_spec();
    for case in &cases {
        let code = llm.generate_implementation(&spec, "def test_x(): pass").await.unwrap();
        assert_eq!(code, fixture(&format!("llm/code/{case}.expected.py")), "case {case}");
    }
    let prompt = server.chat_requests()[0].prompt();
    assert!(prompt.contains("def calculate_factorial(n: int) -> int"), "{prompt}");
    assert!(prompt.contains("def test_x(): pass"), "{prompt}");
    assert!(server.chat_requests()[0].json().get("response_format").is_none());
}

#[tokio::test]
async fn a_reply_without_code_is_an_error() {
    let server = LlmServer::start();
    server.on_chat([Reply::chat("   "), Reply::chat("I'm sorry, I cannot help with that.")]);
    let llm = client(&server);
    let spec = factorial_spec();
    for expected in ["the reply has no content", "no Python code in the reply: I'm sorry"] {
        let err = llm.generate_implementation(&spec, "").await.unwrap_err();
        assert!(matches!(err, LlmError::BadReply { stage: Stage::GenerateImplementation, .. }), "{err}");
        assert!(err.to_string().contains(expected), "{err}");
    }
}

#[tokio::test]
async fn tests_follow_the_rules_and_import_the_function() {
    let server = LlmServer::start();
    server.on_chat([Reply::chat(fixture("llm/tests_reply_no_import.md"))]);
    let llm = client(&server).with_allowed_modules(vec!["math".into(), "re".into()]);
    let tests = llm.generate_tests(&factorial_spec()).await.unwrap();

    assert!(tests.starts_with("from calculate_factorial import calculate_factorial\nimport pytest\n"), "{tests}");
    assert!(tests.contains("def test_negative_raises():"), "{tests}");
    let prompt = server.chat_requests()[0].prompt();
    for rule in [
        "from calculate_factorial import calculate_factorial",
        "pytest.raises",
        "pytest.approx",
        "tmp_path",
        "math, re",
    ] {
        assert!(prompt.contains(rule), "the prompt lacks {rule:?}: {prompt}");
    }
}

#[tokio::test]
async fn repair_shows_the_failure_and_the_old_code() {
    let server = LlmServer::start();
    server.on_chat([Reply::chat(fixture("llm/code/fenced_with_chatter.reply.md"))]);
    let failure = "FAILED test_calculate_factorial.py::test_small_values[5-120] - assert 1 == 120";
    let code = client(&server)
        .repair_implementation(&factorial_spec(), "def test_small_values(): ...", CODE, failure)
        .await
        .unwrap();
    assert!(code.contains("math.factorial(n)"), "{code}");
    let user = server.chat_requests()[0].user();
    assert!(user.contains(failure), "{user}");
    assert!(user.contains("    return 1"), "{user}");
}

/// 429, a timeout, a dropped connection, a 502: each is retried, and the retry succeeds.
#[tokio::test]
async fn one_transient_failure_then_success_is_retried() {
    let cases = [
        ("rate limited", Reply::status(429)),
        ("timed out", Reply::hang()),
        ("dropped connection", Reply::disconnect()),
        ("bad gateway", Reply::status(502)),
    ];
    for (case, failure) in cases {
        let server = LlmServer::start();
        server.on_chat([failure, Reply::chat(CODE)]);
        let code = client(&server).generate_implementation(&factorial_spec(), "").await;
        assert!(code.is_ok_and(|c| c.contains("def calculate_factorial")), "{case}");
        assert_eq!(server.chat_requests().len(), 2, "{case}: the server saw the retry");
    }
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let server = LlmServer::start();
    server.on_chat([Reply::status(429).header("Retry-After", "1"), Reply::chat(CODE)]);
    let started = Instant::now();
    client(&server).generate_implementation(&factorial_spec(), "").await.unwrap();
    // The client's own backoff is 5 ms: only the header explains a one-second wait.
    assert!(started.elapsed() >= Duration::from_millis(950), "{:?}", started.elapsed());
    assert_eq!(server.chat_requests().len(), 2);
}

#[tokio::test]
async fn timeouts_that_never_recover_name_the_endpoint_and_stage() {
    let server = LlmServer::start();
    server.on_chat([Reply::hang(), Reply::hang(), Reply::hang(), Reply::chat(CODE)]);
    let err = client(&server).generate_tests(&factorial_spec()).await.unwrap_err();

    assert!(matches!(err, LlmError::Unreachable { attempts: 3, stage: Stage::GenerateTests, .. }), "{err:?}");
    assert!(err.is_transient());
    let msg = err.to_string();
    let url = format!("{}/chat/completions", server.base_url());
    for part in ["generate_tests", url.as_str(), "3 attempts", "timed out after 0.4 s"] {
        assert!(msg.contains(part), "{part:?} not in: {msg}");
    }
    assert_eq!(server.chat_requests().len(), 3);
    assert_eq!(server.unused(Route::Chat), 1);
}

#[tokio::test]
async fn server_errors_are_retried_until_the_attempts_run_out() {
    let server = LlmServer::start();
    server.on_chat([Reply::status(500), Reply::status(502), Reply::error(503, "model overloaded"), Reply::chat(CODE)]);
    let err = client(&server).generate_implementation(&factorial_spec(), "").await.unwrap_err();

    assert!(matches!(err, LlmError::Status { status: 503, attempts: 3, .. }), "{err:?}");
    let msg = err.to_string();
    let url = format!("{}/chat/completions", server.base_url());
    for part in ["generate_implementation", url.as_str(), "HTTP 503", "3 attempts", "model overloaded"] {
        assert!(msg.contains(part), "{part:?} not in: {msg}");
    }
    assert_eq!(server.chat_requests().len(), 3);
}

#[tokio::test]
async fn unauthorized_is_not_retried() {
    let server = LlmServer::start();
    server.on_chat([Reply::error(401, "Incorrect API key provided"), Reply::chat(CODE)]);
    let err = client(&server).generate_implementation(&factorial_spec(), "").await.unwrap_err();

    assert!(matches!(err, LlmError::Status { status: 401, attempts: 1, .. }), "{err:?}");
    assert!(!err.is_transient());
    let msg = err.to_string();
    assert!(msg.contains("check OPENAI_API_KEY") && msg.contains("Incorrect API key provided"), "{msg}");
    assert_eq!(server.chat_requests().len(), 1);
    assert_eq!(server.unused(Route::Chat), 1);
}

#[tokio::test]
async fn a_refused_response_format_is_dropped() {
    let server = LlmServer::start();
    server.on_chat([
        Reply::error(400, "Unrecognized request argument supplied: response_format"),
        Reply::error(400, "Unrecognized request argument supplied: response_format"),
        Reply::chat(fixture("llm/spec_reply_chatter.md")),
        Reply::chat(r#"{"n": 3}"#),
    ]);
    let llm = client(&server);
    llm.generate_spec("factorial").await.unwrap();
    llm.extract_arguments("factorial of 3", "calculate_factorial(n: int) -> int").await.unwrap();

    let reqs = server.chat_requests();
    let formats: Vec<Value> = reqs.iter().map(|r| r.json()["response_format"]["type"].clone()).collect();
    // json_schema refused, then json_object refused, then none, remembered for later requests.
    assert_eq!(formats, [json!("json_schema"), json!("json_object"), Value::Null, Value::Null]);
}

#[test]
fn no_key_and_the_default_endpoint_is_not_configured() {
    let config = LlmConfig::resolve(|_| None, None).unwrap();
    assert_eq!(config.base_url, "https://api.openai.com/v1");
    let err = LlmClient::new(config).unwrap_err();
    assert!(matches!(err, LlmError::NotConfigured));
    assert!(err.to_string().contains("set OPENAI_API_KEY, or OPENAI_BASE_URL for a local server"), "{err}");

    // A key alone, or a local server alone, is enough.
    let key = LlmConfig::resolve(|n| (n == "OPENAI_API_KEY").then(|| "sk-x".to_string()), None).unwrap();
    assert!(LlmClient::new(key).is_ok());
    let local = LlmConfig::resolve(|n| (n == "OPENAI_BASE_URL").then(|| "http://localhost:11434/v1".to_string()), None);
    let local = LlmClient::new(local.unwrap()).unwrap();
    assert_eq!(local.config().api_key, None);
    assert!(matches!(LlmClient::new(LlmConfig::local("ftp://x")), Err(LlmError::Config(_))));
}

#[test]
fn the_environment_overrides_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.json");
    std::fs::write(
        &file,
        r#"{"llm": {"base_url": "http://gpu-box:8000/v1", "model": "file-model", "timeout_secs": 5, "max_attempts": 4},
            "other_module": {"anything": true}}"#,
    )
    .unwrap();
    let env = |n: &str| match n {
        "TOOLSMITH_MODEL" => Some("env-model".to_string()),
        "TOOLSMITH_EMBEDDING_MODEL" => Some("".to_string()),
        _ => None,
    };
    let c = LlmConfig::resolve(env, Some(&file)).unwrap();
    assert_eq!(c.base_url, "http://gpu-box:8000/v1");
    assert_eq!(c.model, "env-model");
    assert_eq!(c.embedding_model, "text-embedding-3-small", "an empty variable is unset");
    assert_eq!(c.timeout, Duration::from_secs(5));
    assert_eq!(c.max_attempts, 4);

    std::fs::write(&file, r#"{"llm": {"modle": "typo"}}"#).unwrap();
    let err = LlmConfig::resolve(|_| None, Some(&file)).unwrap_err();
    assert!(err.to_string().contains("config.json") && err.to_string().contains("modle"), "{err}");
}

#[tokio::test]
async fn arguments_are_extracted_from_chatter() {
    let server = LlmServer::start();
    server.on_chat([Reply::chat("Sure! The arguments are:\n{\"n\": 5}\nAnything else?")]);
    let args = client(&server)
        .extract_arguments("Calculate factorial of 5", "calculate_factorial(n: int) -> int")
        .await
        .unwrap();
    assert_eq!(Value::Object(args), json!({"n": 5}));
    let user = server.chat_requests()[0].user();
    assert!(user.contains("calculate_factorial(n: int) -> int") && user.contains("Calculate factorial of 5"), "{user}");
}

#[tokio::test]
async fn arguments_are_checked_against_the_spec() {
    let server = LlmServer::start();
    server.on_chat([
        Reply::chat(r#"{"arguments": {"n": 7, "verbose": true}}"#),
        Reply::chat(r#"{"n": "five"}"#),
        Reply::chat(r#"{"_missing": ["n"]}"#),
    ]);
    let llm = client(&server);
    let spec = factorial_spec();

    let args = llm.extract_arguments("factorial of 7", &spec).await.unwrap();
    assert_eq!(Value::Object(args), json!({"n": 7}), "unwrapped, unknown keys dropped");
    let err = llm.extract_arguments("factorial of five", &spec).await.unwrap_err();
    assert!(err.to_string().contains(r#"n: "five" is not of type "integer""#), "{err}");
    let err = llm.extract_arguments("a factorial please", &spec).await.unwrap_err();
    assert!(matches!(&err, LlmError::MissingArguments { missing } if missing == &["n"]), "{err}");
    assert!(server.chat_requests()[0].user().contains("\"required\""), "the schema is shown");
}

#[tokio::test]
async fn embeddings_single_and_batched() {
    let server = LlmServer::start();
    // Out of order on purpose: the client sorts by index.
    let batch = json!({"object": "list", "data": [
        {"object": "embedding", "index": 1, "embedding": [0.0, 1.0]},
        {"object": "embedding", "index": 0, "embedding": [1.0, 0.0]},
    ]});
    server.on_embeddings([Reply::status(503), Reply::embedding(vec![0.25, -0.5, 1.0]), Reply::json(200, batch)]);
    let llm = client(&server);

    assert_eq!(llm.generate_embedding("factorial").await.unwrap(), vec![0.25, -0.5, 1.0]);
    let vs = llm.generate_embeddings(&["first", "second"]).await.unwrap();
    assert_eq!(vs, vec![vec![1.0, 0.0], vec![0.0, 1.0]]);
    assert!(llm.generate_embeddings::<&str>(&[]).await.unwrap().is_empty());

    let reqs = server.embedding_requests();
    assert_eq!(reqs.len(), 3, "one retry after the 503, then the batch");
    assert_eq!(reqs[0].path, "/v1/embeddings");
    assert_eq!(reqs[1].json(), json!({"model": "scripted-embedder", "input": ["factorial"]}));
    assert_eq!(reqs[2].json()["input"], json!(["first", "second"]));
}

#[tokio::test]
async fn a_malformed_embeddings_reply_is_an_error() {
    let server = LlmServer::start();
    server.on_embeddings([Reply::json(200, json!({"data": []}))]);
    let err = client(&server).generate_embedding("x").await.unwrap_err();
    assert!(matches!(err, LlmError::BadReply { stage: Stage::GenerateEmbedding, .. }), "{err}");
    assert!(err.to_string().contains("0 vectors for 1 inputs"), "{err}");
}

#[tokio::test]
async fn the_response_is_synthesized_from_the_result() {
    let server = LlmServer::start();
    server.on_chat([Reply::chat("<think>5! = 120</think>\n\nThe factorial of 5 is 120.\n")]);
    let text = client(&server).synthesize_response("What is 5!?", &json!(120)).await.unwrap();
    assert_eq!(text, "The factorial of 5 is 120.");
    let user = server.chat_requests()[0].user();
    assert!(user.contains("What is 5!?") && user.contains("120"), "{user}");
}

#[tokio::test]
async fn asking_more_than_was_scripted_fails_clearly() {
    let server = LlmServer::start();
    let err = client(&server).synthesize_response("x", &json!(1)).await.unwrap_err();
    assert!(err.to_string().contains("nothing scripted for POST /v1/chat/completions"), "{err}");
}

#[tokio::test]
async fn probe_reports_an_answering_endpoint_and_a_dead_one() {
    let server = LlmServer::start();
    // The scripted server has no model list (404): the endpoint still answered.
    let ok = client(&server).probe(Duration::from_secs(3)).await.unwrap();
    assert!(ok.contains("/models answered HTTP 404"), "{ok}");
    assert_eq!(server.requests()[0].method, "GET");
    let dead = format!("{}/v1", "http://127.0.0.1:9");
    let client = LlmClient::new(LlmConfig::local(dead)).unwrap();
    let err = client.probe(Duration::from_secs(3)).await.unwrap_err();
    assert!(err.contains("127.0.0.1:9/v1/models") && err.contains("connect"), "{err}");
}
