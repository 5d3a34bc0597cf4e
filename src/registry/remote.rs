//! The OpenAI-compatible embedder: `/v1/embeddings` of whatever endpoint the LLM client is
//! configured for, behind the same [`Embedder`] trait as the local model. Selected with
//! `TOOLSMITH_EMBEDDER=openai`; indexes built with it are keyed by its model and dimensions.

use anyhow::Context;

use super::embed::Embedder;
use crate::llm::LlmClient;

pub struct OpenAiEmbedder {
    client: LlmClient,
    id: String,
    dim: usize,
}

impl OpenAiEmbedder {
    /// Connects and asks for one embedding to learn the dimensions (models differ: 384 to 3072).
    pub fn connect(client: LlmClient) -> anyhow::Result<OpenAiEmbedder> {
        let probe = block_on(client.generate_embedding("dimension probe"))
            .context("the embeddings endpoint did not answer a probe")?;
        anyhow::ensure!(!probe.is_empty(), "the embeddings endpoint returned an empty vector");
        let id = format!("openai:{}:{}:{}", client.config().base_url, client.config().embedding_model, probe.len());
        Ok(OpenAiEmbedder { client, id, dim: probe.len() })
    }
}

impl Embedder for OpenAiEmbedder {
    fn id(&self) -> String {
        self.id.clone()
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn embed(&self, texts: &[&str]) -> anyhow::Result<Vec<Vec<f32>>> {
        let mut v = block_on(self.client.generate_embeddings(texts))?;
        // Cosine over unit vectors: normalise whatever the service returns.
        for x in &mut v {
            let n = x.iter().map(|a| a * a).sum::<f32>().sqrt();
            if n > 0.0 {
                x.iter_mut().for_each(|a| *a /= n);
            }
        }
        Ok(v)
    }
}

/// The registry is synchronous (it runs on blocking threads); the HTTP client is async.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    match tokio::runtime::Handle::try_current() {
        Ok(h) => tokio::task::block_in_place(|| h.block_on(f)),
        Err(_) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread runtime starts")
            .block_on(f),
    }
}
