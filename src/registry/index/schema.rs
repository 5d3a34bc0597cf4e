//! The text side of the index: its tantivy schema, the English analyzer, and vector keys.

use sha2::{Digest, Sha256};
use tantivy::schema::{FAST, Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions};
use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
};

use super::super::text::STOP_WORDS;

pub(super) const ANALYZER: &str = "toolsmith_en";

#[derive(Clone, Copy)]
pub(super) struct Fields {
    pub(super) name: Field,
    pub(super) key: Field,
    pub(super) name_words: Field,
    pub(super) description: Field,
    pub(super) params: Field,
    pub(super) examples: Field,
}

pub(super) fn schema() -> (Schema, Fields) {
    let mut sb = Schema::builder();
    let words = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default().set_tokenizer(ANALYZER).set_index_option(IndexRecordOption::WithFreqs),
    );
    let fields = Fields {
        name: sb.add_text_field("name", STRING | STORED),
        key: sb.add_u64_field("key", FAST),
        name_words: sb.add_text_field("name_words", words.clone()),
        description: sb.add_text_field("description", words.clone()),
        params: sb.add_text_field("params", words.clone()),
        examples: sb.add_text_field("examples", words),
    };
    (sb.build(), fields)
}

/// Lower-case, drop long tokens and stop words, stem (English).
pub(super) fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(StopWordFilter::remove(STOP_WORDS.iter().map(|w| w.to_string())))
        .filter(Stemmer::new(Language::English))
        .build()
}

pub(super) fn analyze(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut stream = analyzer.token_stream(text);
    let mut out = Vec::new();
    while let Some(t) = stream.next() {
        out.push(t.text.clone());
    }
    out
}

/// The vector key of a name: the first 8 bytes of its SHA-256.
pub(super) fn key_of(name: &str) -> u64 {
    let d = Sha256::digest(name.as_bytes());
    u64::from_le_bytes(d[..8].try_into().expect("8 bytes"))
}

pub(super) fn vector_options(dim: usize) -> usearch::IndexOptions {
    usearch::IndexOptions {
        dimensions: dim,
        metric: usearch::MetricKind::Cos,
        // The default is BF16: keep full precision (the vectors are small, and scores are compared
        // with a threshold).
        quantization: usearch::ScalarKind::F32,
        connectivity: 0,
        expansion_add: 0,
        expansion_search: 0,
        multi: false,
    }
}

/// The example vectors: several per key (the tool's), so that removing a tool's key removes all
/// of its examples, and a search hit names the tool directly.
/// Built with half the default insertion effort: a tool has tens of examples, so an index has
/// many more of them than descriptions, and a missed neighbour costs little when the tool's
/// other examples are found.
pub(super) fn example_vector_options(dim: usize) -> usearch::IndexOptions {
    usearch::IndexOptions { multi: true, expansion_add: 64, ..vector_options(dim) }
}
