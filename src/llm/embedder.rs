//! The OpenAI-compatible embedder: `/v1/embeddings` of whatever endpoint the LLM client is
//! configured for, behind the same [`AsyncEmbedder`] trait as the local model. Selected with
//! `TOOLSMITH_EMBEDDER=openai`; indexes built with it are keyed by its model and dimensions.

use anyhow::Context;

use super::LlmClient;
use crate::registry::embed::{AsyncEmbedder, EmbedFuture};

pub struct OpenAiEmbedder {
    client: LlmClient,
    id: String,
    dim: usize,
}

impl OpenAiEmbedder {
    /// Connects and asks for one embedding to learn the dimensions (models differ: 384 to 3072).
    pub async fn connect(client: LlmClient) -> anyhow::Result<OpenAiEmbedder> {
        let probe = client
            .generate_embedding("dimension probe")
            .await
            .context("the embeddings endpoint did not answer a probe")?;
        anyhow::ensure!(!probe.is_empty(), "the embeddings endpoint returned an empty vector");
        let id = format!("openai:{}:{}:{}", client.config().base_url, client.config().embedding_model, probe.len());
        Ok(OpenAiEmbedder { client, id, dim: probe.len() })
    }
}

impl AsyncEmbedder for OpenAiEmbedder {
    fn id(&self) -> String {
        self.id.clone()
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn embed(&self, texts: Vec<String>) -> EmbedFuture<'_> {
        Box::pin(async move {
            let mut v = self.client.generate_embeddings(&texts).await.map_err(crate::Error::from)?;
            // Cosine over unit vectors: normalise whatever the service returns.
            for x in &mut v {
                let n = x.iter().map(|a| a * a).sum::<f32>().sqrt();
                if n > 0.0 {
                    x.iter_mut().for_each(|a| *a /= n);
                }
            }
            Ok(v)
        })
    }
}
