//! `toolsmith bench agent`: what the orchestrator itself costs a request answered by an existing
//! tool — planning, search, session memory, trace and log writes — with model time taken out.
//! The model is an OpenAI-compatible endpoint on loopback that answers at once (so what is left
//! is ours), and the same tool run directly through the facade is the baseline.

use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::agent::RequestOptions;
use crate::bench::Dist;
use crate::executor::RunOptions;
use crate::llm::LlmConfig;
use crate::synthesis::{Candidate, VerifyMode};
use crate::{Config, CreateOptions, Toolsmith, Usage};

/// What the benchmark reports.
#[derive(Debug, Serialize)]
pub struct AgentReport {
    pub rows: Vec<Dist>,
    /// Model calls per request for a clearly matching tool, without and with an answer in words.
    pub model_calls_without_response: f64,
    pub model_calls_with_response: f64,
}

/// A model that answers every request at once: arguments for extraction, a sentence otherwise.
async fn instant_model() -> anyhow::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 16384];
                loop {
                    // One request at a time on a keep-alive connection: headers, then the body.
                    let Some(end) = find(&buf, b"\r\n\r\n") else {
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0)))
                        .unwrap_or(0);
                    while buf.len() < end + 4 + len {
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let body: Value = serde_json::from_slice(&buf[end + 4..end + 4 + len]).unwrap_or(Value::Null);
                    buf.drain(..end + 4 + len);
                    let system = body.pointer("/messages/0/content").and_then(Value::as_str).unwrap_or("");
                    let content = if system.contains("arguments of one function call") {
                        json!({"arguments": {"n": 20}, "missing": []}).to_string()
                    } else {
                        "The answer is 2432902008176640000.".to_string()
                    };
                    let reply = json!({
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
                        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                    })
                    .to_string();
                    let out = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{reply}",
                        reply.len()
                    );
                    if sock.write_all(out.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Ok(format!("http://{addr}/v1"))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

const TOOL: &str = "def calculate_factorial(n: int) -> int:\n    \"\"\"Calculate the factorial of a non-negative integer n (n!).\"\"\"\n    r = 1\n    for i in range(2, n + 1):\n        r *= i\n    return r\n";

/// `requests` requests for a registered tool named in the request, over a registry of `tools`
/// tools (the others filler), each in a session of its own and in one long session.
pub async fn agent(config: &Config, requests: usize, tools: usize) -> anyhow::Result<AgentReport> {
    let home = tempfile::tempdir()?;
    let mut config = config.clone().with_home(home.path());
    config.llm = Ok(LlmConfig::local(instant_model().await?));
    let ts = Toolsmith::open(config, Usage::Serving).await?;
    let wasm = CreateOptions { verify: VerifyMode::WasmOnly, ..CreateOptions::default() };
    let tests = "from calculate_factorial import calculate_factorial\n\ndef test_f():\n    assert calculate_factorial(5) == 120\n";
    ts.create_tool(
        &Candidate {
            name: "calculate_factorial".into(),
            code: TOOL.into(),
            tests: tests.into(),
            ..Candidate::default()
        },
        wasm,
        &|_| {},
    )
    .await?;
    for i in 1..tools {
        let name = format!("filler_{i}");
        let code = format!(
            "def {name}(x: int) -> int:\n    \"\"\"Return x plus {i}, filler tool number {i}.\"\"\"\n    return x + {i}\n"
        );
        let tests = format!("from {name} import {name}\n\ndef test_f():\n    assert {name}(0) == {i}\n");
        ts.create_tool(&Candidate { name, code, tests, ..Candidate::default() }, wasm, &|_| {}).await?;
    }
    let prompt = "calculate_factorial of 20";
    // Warm up: the runtime's stock, the embedder, the index, the connections.
    for _ in 0..5 {
        ts.run_tool("calculate_factorial", r#"{"n": 20}"#, RunOptions::default()).await?;
        ts.process_request(prompt, None, RequestOptions { respond: false, ..RequestOptions::default() }, &|_| {})
            .await?;
    }
    let (mut direct, mut total, mut overhead, mut long_session, mut with_response) =
        (vec![], vec![], vec![], vec![], vec![]);
    let (mut calls_quiet, mut calls_respond) = (0usize, 0usize);
    let session = ts.start_session(None).await?;
    for i in 0..requests {
        let t = Instant::now();
        ts.run_tool("calculate_factorial", r#"{"n": 20}"#, RunOptions::default()).await?;
        direct.push(t.elapsed());

        let quiet = RequestOptions { respond: false, ..RequestOptions::default() };
        let t = Instant::now();
        let r = ts.process_request(prompt, None, quiet.clone(), &|_| {}).await?;
        let wall = t.elapsed();
        anyhow::ensure!(r.success, "the request failed: {:?}", r.error);
        let trace = ts.trace(&r.trace_id).await?;
        let model: f64 = trace.model_calls.iter().map(|c| c.latency_ms).sum();
        let tool: f64 = trace.steps.iter().map(|s| s.tool_ms).sum();
        calls_quiet += trace.model_calls.len();
        total.push(wall);
        overhead.push(Duration::from_secs_f64(((wall.as_secs_f64() * 1e3 - model - tool) / 1e3).max(0.0)));

        let t = Instant::now();
        let r = ts.process_request(prompt, Some(&session), quiet, &|_| {}).await?;
        let wall = t.elapsed();
        let trace = ts.trace(&r.trace_id).await?;
        let model: f64 = trace.model_calls.iter().map(|c| c.latency_ms).sum();
        let tool: f64 = trace.steps.iter().map(|s| s.tool_ms).sum();
        long_session.push(Duration::from_secs_f64(((wall.as_secs_f64() * 1e3 - model - tool) / 1e3).max(0.0)));

        if i % 4 == 0 {
            let r = ts.process_request(prompt, None, RequestOptions::default(), &|_| {}).await?;
            let trace = ts.trace(&r.trace_id).await?;
            calls_respond += trace.model_calls.len();
            with_response.push(Duration::from_secs_f64(trace.elapsed_ms / 1e3));
        }
    }
    let rows = vec![
        Dist::from_samples("baseline: run_tool, the same tool and arguments", direct),
        Dist::from_samples("process_request, respond=false: wall time", total),
        Dist::from_samples("  agent overhead (wall − model calls − tool runs)", overhead),
        Dist::from_samples("  agent overhead, in a session growing to N requests", long_session),
        Dist::from_samples("process_request with an answer in words: wall time", with_response),
    ];
    Ok(AgentReport {
        rows,
        model_calls_without_response: calls_quiet as f64 / requests as f64,
        model_calls_with_response: calls_respond as f64 / requests.div_ceil(4) as f64,
    })
}
