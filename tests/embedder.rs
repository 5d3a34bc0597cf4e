//! The OpenAI-compatible embedder against a scripted `/embeddings` endpoint, and the registry
//! switching between it and the local model (the index is rebuilt for the new embedder).

mod support;

use std::sync::Arc;

use support::{LlmServer, Reply};
use toolsmith::config::Paths;
use toolsmith::llm::{LlmClient, LlmConfig};
use toolsmith::registry::embed::Embedder;
use toolsmith::registry::remote::OpenAiEmbedder;
use toolsmith::registry::{self, CapabilityRegistry, NewTool};

fn paths(home: &std::path::Path) -> Paths {
    Paths { home: home.to_path_buf(), cache: Paths::from_env().cache }
}

/// A 4-dim "model": the vector says which topic a text is about.
fn topic(text: &str) -> Vec<f32> {
    if text.contains("temperature") { vec![1.0, 0.0, 0.0, 0.0] } else { vec![0.0, 3.0, 4.0, 0.0] }
}

#[test]
fn remote_embedder_learns_dimensions_normalises_and_keys_the_index() {
    let server = LlmServer::start();
    server.on_embeddings([Reply::embedding(vec![0.0, 3.0, 4.0, 0.0])]);
    let client = LlmClient::new(LlmConfig::local(server.base_url())).unwrap();
    let e = OpenAiEmbedder::connect(client).unwrap();
    assert_eq!(e.dim(), 4);
    assert!(e.id().starts_with("openai:") && e.id().ends_with(":4"), "{}", e.id());

    let home = tempfile::tempdir().unwrap();
    let p = paths(home.path());
    let texts = ["celsius to fahrenheit: Convert a temperature.", "word count: Count words."];
    // One reply per request: the tool's embedding at registration, then the query's.
    server.on_embeddings([Reply::embeddings(vec![topic(texts[0])]), Reply::embeddings(vec![topic(texts[1])])]);
    server.on_embeddings([Reply::embeddings(vec![topic("temperature")])]);
    let mut reg = CapabilityRegistry::open_with(&p, registry::open_store(&p).unwrap(), Arc::new(e)).unwrap();
    for (name, doc) in [("celsius_to_fahrenheit", "Convert a temperature."), ("word_count", "Count words.")] {
        reg.add_tool(&NewTool {
            name,
            code: "def f(): pass\n",
            tests: "def test_f(): pass\n",
            docstring: doc,
            parameters: &serde_json::json!({"type": "object"}),
            returns: &serde_json::json!({}),
            bytecode: b"x",
            verification: "wasm-only",
        })
        .unwrap();
    }
    let hits = reg.search("warmth", 2, registry::index::SearchMode::Vector, false).unwrap();
    assert_eq!(hits[0].tool.name, "celsius_to_fahrenheit", "the scripted vectors decide the order");
    let requests = server.embedding_requests();
    assert_eq!(requests.len(), 4, "probe, two tools, one query");
    assert_eq!(requests[3].json()["input"], serde_json::json!(["warmth"]));
    drop(reg);

    // Switching to the local model: the index of the other embedder is rebuilt, nothing is lost.
    let mut reg = CapabilityRegistry::open(&p).unwrap();
    let why = reg.rebuilt.as_ref().expect("an index of another embedder must be rebuilt");
    assert_eq!(why.tools, 2);
    assert_eq!(
        reg.search_tool("convert celsius to fahrenheit", None, false).unwrap().unwrap().tool.name,
        "celsius_to_fahrenheit"
    );
}
