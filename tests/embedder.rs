//! The OpenAI-compatible embedder against a scripted `/embeddings` endpoint, and the registry
//! switching between it and the local model (the index is rebuilt for the new embedder).

mod support;

use std::sync::Arc;

use support::{LlmServer, Reply};
use toolsmith::llm::{LlmClient, LlmConfig, OpenAiEmbedder};
use toolsmith::registry::embed::AsyncEmbedder;
use toolsmith::registry::index::SearchMode;
use toolsmith::registry::{CapabilityRegistry, NewTool, Store};
use toolsmith::{Config, Toolsmith, Usage};

/// A 4-dim "model": the vector says which topic a text is about.
fn topic(text: &str) -> Vec<f32> {
    if text.contains("temperature") { vec![1.0, 0.0, 0.0, 0.0] } else { vec![0.0, 3.0, 4.0, 0.0] }
}

#[tokio::test]
async fn remote_embedder_learns_dimensions_normalises_and_keys_the_index() {
    let server = LlmServer::start();
    server.on_embeddings([Reply::embedding(vec![0.0, 3.0, 4.0, 0.0])]);
    let client = LlmClient::new(LlmConfig::local(server.base_url())).unwrap();
    let e = OpenAiEmbedder::connect(client).await.unwrap();
    assert_eq!(e.dim(), 4);
    assert!(e.id().starts_with("openai:") && e.id().ends_with(":4"), "{}", e.id());

    let home = tempfile::tempdir().unwrap();
    let config = Config::from_env().unwrap().with_home(home.path());
    let p = &config.paths;
    let texts = ["celsius to fahrenheit: Convert a temperature.", "word count: Count words."];
    // One reply per request: the tool's embedding at registration, then the query's.
    server.on_embeddings([Reply::embeddings(vec![topic(texts[0])]), Reply::embeddings(vec![topic(texts[1])])]);
    server.on_embeddings([Reply::embeddings(vec![topic("temperature")])]);
    let store = Arc::new(Store::open(&p.db_path(), &p.tools_dir(), &p.lock_file()).unwrap());
    let reg = CapabilityRegistry::open(store, p.index_dir(), Arc::new(e)).await.unwrap();
    for (name, doc) in [("celsius_to_fahrenheit", "Convert a temperature."), ("word_count", "Count words.")] {
        reg.add_tool(NewTool {
            name: name.into(),
            code: "def f(): pass\n".into(),
            tests: "def test_f(): pass\n".into(),
            docstring: doc.into(),
            parameters: serde_json::json!({"type": "object"}),
            returns: serde_json::json!({}),
            bytecode: b"x".to_vec(),
            verification: "wasm-only".into(),
        })
        .await
        .unwrap();
    }
    let hits = reg.search("warmth", 2, SearchMode::Vector, false).await.unwrap();
    assert_eq!(hits[0].tool.name, "celsius_to_fahrenheit", "the scripted vectors decide the order");
    let requests = server.embedding_requests();
    assert_eq!(requests.len(), 4, "probe, two tools, one query");
    assert_eq!(requests[3].json()["input"], serde_json::json!(["warmth"]));
    drop(reg);

    // Switching to the local model: the index of the other embedder is rebuilt, nothing is lost.
    let ts = Toolsmith::open(config.clone(), Usage::OneShot).await.unwrap();
    let why = ts.registry().await.unwrap().take_rebuilt().expect("an index of another embedder must be rebuilt");
    assert_eq!(why.tools, 2);
    let found = ts.search_tool("convert celsius to fahrenheit", None).await.unwrap().unwrap();
    assert_eq!(found.tool.name, "celsius_to_fahrenheit");
}
