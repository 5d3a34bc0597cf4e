//! The JSON Schemas published under `schemas/` for what crosses a boundary, generated from the
//! types that produce it, so they cannot drift: `tests/schemas.rs` fails when a file differs from
//! what the types give, and rewrites them all with `TOOLSMITH_WRITE_SCHEMAS=1`. The MCP server's
//! input and output schemas come from the same types.
//!
//! Hand-written and checked against real output instead: `spec.schema.json` (the contract the
//! model's spec is validated against at run time), the host's test report and the sandbox's
//! verification result (crates and modules without schema derives), and the retrieval report.

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{Value, json};

use crate::agent::{
    CompositeTool, Plan, RequestResult, SessionSummary, ToolRelationship, Trace, TraceSummary, WorkflowPattern,
};
use crate::error::{ErrorKind, ErrorReport};
use crate::executor::RunOutcome;
use crate::facade::ToolDetail;
use crate::registry::{Example, ToolMatch, ToolRecord};
use crate::synthesis::{SynthesisEvent, SynthesisResult};

const BASE: &str = "https://toolsmith.dev/schemas/";

fn of<T: JsonSchema>(file: &str, description: &str) -> (String, Value) {
    let schema: Schema = SchemaGenerator::default().into_root_schema_for::<T>();
    let mut v = serde_json::to_value(schema).expect("a schema serializes");
    if let Value::Object(m) = &mut v {
        m.insert("$id".into(), json!(format!("{BASE}{file}")));
        m.insert("description".into(), json!(description));
    }
    (file.to_string(), v)
}

/// Every generated schema: `(file name under schemas/, schema)`.
pub fn published() -> Vec<(String, Value)> {
    vec![
        of::<RunOutcome>(
            "run-outcome.schema.json",
            "What `toolsmith run --json` prints, and what running a tool returns everywhere else: `result` on success, `error_type` (an error kind) and `error` on failure.",
        ),
        of::<ToolRecord>("tool-record.schema.json", "Everything stored about a registered tool (also its meta.json)."),
        of::<ToolDetail>("tool-detail.schema.json", "A tool with its recent usage (`tools show --json`)."),
        of::<Vec<ToolMatch>>("tool-matches.schema.json", "Search results, best first (`tools search --json`)."),
        of::<Vec<Example>>(
            "tool-examples.schema.json",
            "A tool's example requests, oldest first (`examples` of `tools examples NAME --json`).",
        ),
        of::<SynthesisResult>(
            "synthesis-result.schema.json",
            "What `toolsmith synthesize --json` prints: the seed's fields, and the error's kind, message and stage on failure.",
        ),
        of::<SynthesisEvent>(
            "synthesis-event.schema.json",
            "One progress event of a synthesis, a create_tool or an agent request, as the CLI and MCP progress notifications see it.",
        ),
        of::<RequestResult>(
            "request-result.schema.json",
            "What `toolsmith ask --json` prints and MCP process_request returns: the seed's fields, the strategy, the steps and the trace id.",
        ),
        of::<Plan>(
            "plan.schema.json",
            "How a request would be answered (`toolsmith plan --json`, MCP plan_execution).",
        ),
        of::<Trace>("trace.schema.json", "Everything recorded of one request (`toolsmith traces show ID --json`)."),
        of::<Vec<TraceSummary>>("trace-list.schema.json", "The latest traces (`toolsmith traces list --json`)."),
        of::<Vec<SessionSummary>>("session-list.schema.json", "Sessions (`toolsmith sessions list --json`)."),
        of::<Vec<WorkflowPattern>>(
            "workflow-patterns.schema.json",
            "Mined tool sequences (`toolsmith patterns --json`).",
        ),
        of::<Vec<ToolRelationship>>(
            "tool-relationships.schema.json",
            "Which tool follows which (`toolsmith relationships --json`).",
        ),
        of::<CompositeTool>(
            "composite-tool.schema.json",
            "A workflow promoted to a stored pipeline (`toolsmith patterns promote ID --json`).",
        ),
        of::<ErrorReport>("error-report.schema.json", "A failure on the wire: its kind, message and detail."),
        error_kinds(),
    ]
}

/// The error kinds with their meanings, as one enumeration.
fn error_kinds() -> (String, Value) {
    let kinds: Vec<Value> =
        ErrorKind::ALL.iter().map(|k| json!({"const": k.as_str(), "description": k.meaning()})).collect();
    let v = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": format!("{BASE}error-kinds.schema.json"),
        "title": "ErrorKind",
        "description": "The stable names of failures (`error_type` in --json output and MCP error payloads). Programs branch on these; messages are for people.",
        "oneOf": kinds,
    });
    ("error-kinds.schema.json".into(), v)
}
