//! The built-in tools: each an input type, an output type and a few lines calling one method of
//! the facade. Input and output schemas are derived from those types; arguments that do not fit
//! the input type are a tool error (`invalid_arguments` or `missing_arguments`, as 2025-11-25
//! asks), as is every failure a model can act on, with the facade's [`ErrorReport`] as its
//! structured content.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use rmcp::ErrorData;
use rmcp::handler::server::tool::{schema_for_input, schema_for_output};
use rmcp::model::{CallToolResponse, CallToolResult, JsonObject, Tool, ToolAnnotations};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use toolsmith_host::Limits;

use super::server::{Call, Server};
use crate::agent::{Message, Plan, RequestResult, ToolRelationship, WorkflowPattern};
use crate::error::{Error, Result};
use crate::executor::RunOutput;
use crate::registry::{ToolMatch, ToolRecord};
use crate::synthesis::{Candidate, SynthesisResult};
use crate::{SearchOptions, ToolDetail};

/// A future answering one call.
pub type Answer = Pin<Box<dyn Future<Output = Result<CallToolResponse, ErrorData>> + Send>>;
type Handler = Arc<dyn Fn(Call, JsonObject) -> Answer + Send + Sync>;

/// One built-in tool: its definition and its handler.
pub struct BuiltIn {
    pub tool: Tool,
    pub handler: Handler,
}

// --- results -------------------------------------------------------------------------------------

/// A successful result: `value` as structured content (and as text, for clients that read only that).
pub fn success(value: &impl Serialize) -> CallToolResult {
    match serde_json::to_value(value) {
        Ok(v) => CallToolResult::structured(v),
        Err(e) => error_result(&Error::Internal(format!("the result does not serialize: {e}"))),
    }
}

/// A tool error: `isError`, the error report as structured content and as text.
pub fn error_result(e: &Error) -> CallToolResult {
    let mut report = e.report();
    if let Error::NotFound(name) = e {
        // The facade's message points at the CLI; a model here has tools to look with.
        report.error = format!("no registered tool named {name:?}: search_tools or list_tools shows what there is");
    }
    CallToolResult::structured_error(serde_json::to_value(&report).expect("reports serialize"))
}

/// Arguments into `P`. Whatever is wrong (a missing, unknown or mistyped field) is
/// `invalid_arguments`, as for a registered tool's arguments that break its schema.
pub fn parse<P: DeserializeOwned>(tool: &str, args: JsonObject) -> Result<P> {
    serde_json::from_value(Value::Object(args))
        .map_err(|e| Error::InvalidArguments(format!("arguments of {tool}: {e} (see the tool's inputSchema)")))
}

/// A tool with its schemas from `P` and `O`.
fn define<P: JsonSchema + 'static, O: JsonSchema + 'static>(
    name: &'static str,
    description: &'static str,
    annotations: ToolAnnotations,
) -> Tool {
    let input = schema_for_input::<P>().expect("built-in inputs are objects");
    Tool::new(name, description, input).with_raw_output_schema(schema_for_output::<O>()).with_annotations(annotations)
}

/// A built-in whose work is one facade call: arguments in, a typed output or an error out.
fn simple<P, O, F, Fut>(tool: Tool, f: F) -> BuiltIn
where
    P: DeserializeOwned + Send + 'static,
    O: Serialize + Send + 'static,
    F: Fn(Server, P) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<O>> + Send + 'static,
{
    let f = Arc::new(f);
    let name = tool.name.to_string();
    let handler: Handler = Arc::new(move |call: Call, args: JsonObject| {
        let (f, name) = (f.clone(), name.clone());
        Box::pin(async move {
            let result = match parse::<P>(&name, args) {
                Ok(p) => f(call.server, p).await.map(|o| success(&o)),
                Err(e) => Err(e),
            };
            Ok(result.unwrap_or_else(|e| error_result(&e)).into())
        })
    });
    BuiltIn { tool, handler }
}

/// A built-in that needs the whole call (progress, the client's model, input rounds).
fn long<P, F, Fut>(tool: Tool, f: F) -> BuiltIn
where
    P: DeserializeOwned + Send + 'static,
    F: Fn(Call, P) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<CallToolResponse, ErrorData>> + Send + 'static,
{
    let f = Arc::new(f);
    let name = tool.name.to_string();
    let handler: Handler = Arc::new(move |call: Call, args: JsonObject| {
        let (f, name) = (f.clone(), name.clone());
        Box::pin(async move {
            match parse::<P>(&name, args) {
                Ok(p) => f(call, p).await,
                Err(e) => Ok(error_result(&e).into()),
            }
        })
    });
    BuiltIn { tool, handler }
}

fn read_only() -> ToolAnnotations {
    ToolAnnotations::new().read_only(true).destructive(false).idempotent(true).open_world(false)
}

/// Adds to the registry; never removes or changes what is there.
fn additive() -> ToolAnnotations {
    ToolAnnotations::new().read_only(false).destructive(false).idempotent(false).open_world(false)
}

// --- inputs and outputs --------------------------------------------------------------------------

/// A call a new tool must answer as given: checked like its tests.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Example {
    /// Keyword arguments of the call.
    pub arguments: JsonObject,
    /// The result the call must return (compared with `==`).
    pub result: Value,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToolParams {
    /// The tool's name: a Python identifier, and the name of the function `code` defines.
    pub name: String,
    /// A Python module defining the function (standard library only; no network, files only where granted).
    pub code: String,
    /// A pytest module testing it, importing it with `from NAME import NAME`.
    pub tests: String,
    /// The tool's description, instead of the function's own docstring.
    #[serde(default)]
    pub docstring: Option<String>,
    /// Files the tests read, `{relative path: text}`, e.g. `{"data/sales.csv": "..."}`: each must sit in a directory.
    #[serde(default)]
    pub data_files: BTreeMap<String, String>,
    /// Calls that must return the given results, checked with the tests.
    #[serde(default)]
    pub examples: Vec<Example>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchToolsParams {
    /// What the tool should do, in a few words.
    pub query: String,
    /// Smallest similarity in [0, 1] to report (default 0: the best `limit` whatever their score;
    /// 0.5 and up is a confident match).
    #[serde(default)]
    pub threshold: Option<f32>,
    /// Most matches to return (default 5, at most 100).
    #[serde(default)]
    pub limit: Option<usize>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct SearchToolsOutput {
    /// Best first.
    pub matches: Vec<ToolMatch>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NameParams {
    /// A registered tool's name.
    pub name: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

/// What `list_tools` says of each tool.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ToolSummary {
    pub name: String,
    pub docstring: String,
    /// JSON Schema of the keyword arguments.
    pub parameters: Value,
    /// `docker+wasm` or `wasm-only`.
    pub verification: String,
    pub timestamp: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ListToolsOutput {
    pub count: usize,
    /// By name.
    pub tools: Vec<ToolSummary>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct DeleteToolOutput {
    pub deleted: bool,
    pub name: String,
}

/// Limits of one call; each defaults to the runtime's.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitsParams {
    /// Fuel (≈ WebAssembly instructions; the default is about a second of computation).
    #[serde(default)]
    pub fuel: Option<u64>,
    /// Memory limit in MiB (default 256).
    #[serde(default)]
    pub memory_mb: Option<u64>,
    /// Wall-clock limit in milliseconds (default 10000).
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

impl LimitsParams {
    fn limits(&self) -> Result<Limits> {
        let d = Limits::default();
        let memory_bytes = match self.memory_mb {
            None => d.memory_bytes,
            Some(mb) => mb
                .checked_mul(1 << 20)
                .and_then(|b| usize::try_from(b).ok())
                .ok_or_else(|| Error::InvalidArguments(format!("limits.memory_mb {mb} is too large")))?,
        };
        Ok(Limits {
            fuel: self.fuel.unwrap_or(d.fuel),
            memory_bytes,
            timeout: self.timeout_ms.map(Duration::from_millis).unwrap_or(d.timeout),
            ..d
        })
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecuteToolParams {
    /// A registered tool's name.
    pub name: String,
    /// Its keyword arguments, as its `parameters` schema says.
    #[serde(default)]
    pub arguments: JsonObject,
    #[serde(default)]
    pub limits: Option<LimitsParams>,
    /// The session the call belongs to (for workflow patterns).
    #[serde(default)]
    pub session_id: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PromptParams {
    /// What the user asked for, in their words.
    pub user_prompt: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProcessRequestParams {
    pub user_prompt: String,
    #[serde(default)]
    pub session_id: Option<String>,
    /// Answer in words (default true), not only with the tool's result.
    #[serde(default)]
    pub respond: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PatternsParams {
    /// Fewest occurrences of a sequence (default 2).
    #[serde(default)]
    pub min_frequency: Option<u64>,
    /// Most patterns (default 10).
    #[serde(default)]
    pub limit: Option<usize>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct PatternsOutput {
    pub patterns: Vec<WorkflowPattern>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RelationshipsParams {
    /// Only pairs involving this tool.
    #[serde(default)]
    pub tool_name: Option<String>,
    /// Smallest confidence in [0, 1] (default 0.5).
    #[serde(default)]
    pub min_confidence: Option<f64>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct RelationshipsOutput {
    pub relationships: Vec<ToolRelationship>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StartSessionParams {
    /// Resume this session (created when new); a new id when absent.
    #[serde(default)]
    pub session_id: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct SessionOutput {
    pub session_id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecentMessagesParams {
    pub session_id: String,
    /// Most messages (default 10), the latest, oldest first.
    #[serde(default)]
    pub limit: Option<usize>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct MessagesOutput {
    pub session_id: String,
    pub messages: Vec<Message>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanParams {
    pub user_prompt: String,
    /// The conversation the request belongs to, for its context.
    #[serde(default)]
    pub session_id: Option<String>,
}

/// The candidate of a `create_tool` call; examples become tests appended to the given ones. A
/// data file path no test run could be given is the caller's to fix, before anything runs.
pub fn candidate(p: CreateToolParams) -> Result<Candidate> {
    if let Some(e) = p.data_files.keys().find_map(|rel| crate::synthesis::data_file_dir(rel).err()) {
        return Err(Error::InvalidArguments(e));
    }
    let mut tests = p.tests;
    if !p.examples.is_empty() {
        tests.push_str(&example_tests(&p.name, &p.examples));
    }
    Ok(Candidate {
        name: p.name,
        code: p.code,
        tests,
        docstring: p.docstring,
        data_files: p.data_files.into_iter().map(|(k, v)| (k, v.into_bytes())).collect(),
    })
}

/// One pytest function per example, comparing the call with its result. The values go in as
/// JSON string literals, so nothing of them is ever Python source.
fn example_tests(name: &str, examples: &[Example]) -> String {
    let lit = |v: &Value| serde_json::to_string(&v.to_string()).expect("strings serialize");
    let mut s = format!(
        "\n\n# Examples given to create_tool.\nimport json as _examples_json\nfrom {name} import {name} as _examples_target\n"
    );
    for (i, ex) in examples.iter().enumerate() {
        let args = lit(&Value::Object(ex.arguments.clone()));
        let want = lit(&ex.result);
        s.push_str(&format!(
            "\n\ndef test_example_{i}():\n    got = _examples_target(**_examples_json.loads({args}))\n    \
             assert _examples_json.loads(_examples_json.dumps(got)) == _examples_json.loads({want})\n"
        ));
    }
    s
}

// --- the table ------------------------------------------------------------------------------------

/// Every built-in tool, in the order `tools/list` shows them.
pub fn built_ins() -> Vec<BuiltIn> {
    vec![
        simple(
            define::<SearchToolsParams, SearchToolsOutput>(
                "search_tools",
                "Find registered tools for a task: ranked matches with their parameters and a similarity_score \
                 (0.5 and up is a confident match). Try this first; run a match with execute_tool.",
                read_only(),
            ),
            |s: Server, p: SearchToolsParams| async move {
                let mut opts = SearchOptions::default();
                opts.threshold = p.threshold.unwrap_or(0.0);
                opts.limit = p.limit.unwrap_or(opts.limit).clamp(1, 100);
                Ok(SearchToolsOutput { matches: s.ts().search_tools(&p.query, opts).await? })
            },
        ),
        simple(
            define::<ExecuteToolParams, RunOutput>(
                "execute_tool",
                "Run a registered tool with keyword arguments (an object, as its parameters schema says) in the WASM \
                 sandbox, under limits. Returns its JSON result and what it printed; a failure says its error_type \
                 (tool_error with the exception, a limit's kind, invalid_arguments, not_found).",
                ToolAnnotations::new().read_only(true).destructive(false).idempotent(false).open_world(false),
            ),
            |s: Server, p: ExecuteToolParams| async move {
                let limits = p.limits.unwrap_or_default().limits()?;
                let args = serde_json::to_string(&p.arguments).map_err(Error::internal)?;
                s.run(&p.name, &args, limits, p.session_id).await
            },
        ),
        long(
            define::<CreateToolParams, ToolRecord>(
                "create_tool",
                "Verify a tool you wrote and register it: `code` defines the function `name`, `tests` is a pytest \
                 module for it. It is registered only if every test passes in the sandbox; a failure says the stage \
                 and the test output. Progress is reported per stage.",
                additive(),
            ),
            |call: Call, p: CreateToolParams| async move {
                match candidate(p) {
                    Ok(c) => call.server.clone().create_tool(call, c).await,
                    Err(e) => Ok(error_result(&e).into()),
                }
            },
        ),
        simple(
            define::<NameParams, ToolDetail>(
                "get_tool",
                "One registered tool: docstring, parameters, code, tests and recent usage.",
                read_only(),
            ),
            |s: Server, p: NameParams| async move { s.ts().get_tool(&p.name).await },
        ),
        simple(
            define::<NoParams, ListToolsOutput>(
                "list_tools",
                "Every registered tool: name, docstring and parameters, by name.",
                read_only(),
            ),
            |s: Server, _: NoParams| async move {
                let tools: Vec<ToolSummary> = s
                    .ts()
                    .get_all_tools()
                    .await?
                    .into_iter()
                    .map(|t| ToolSummary {
                        name: t.name,
                        docstring: t.docstring,
                        parameters: t.parameters,
                        verification: t.verification,
                        timestamp: t.timestamp,
                    })
                    .collect();
                Ok(ListToolsOutput { count: tools.len(), tools })
            },
        ),
        simple(
            define::<NameParams, DeleteToolOutput>(
                "delete_tool",
                "Delete a registered tool: its code, tests and index entry. Cannot be undone.",
                ToolAnnotations::new().read_only(false).destructive(true).idempotent(true).open_world(false),
            ),
            |s: Server, p: NameParams| async move {
                if !s.ts().delete_tool(&p.name).await? {
                    return Err(Error::NotFound(p.name));
                }
                s.tools_changed().await;
                Ok(DeleteToolOutput { deleted: true, name: p.name })
            },
        ),
        long(
            define::<PromptParams, SynthesisResult>(
                "synthesize_capability",
                "Write a new tool from a sentence: a spec, pytest tests and an implementation by a model (Toolsmith's \
                 own, or yours when the client offers sampling), verified like create_tool and registered. Progress \
                 is reported per stage.",
                additive(),
            ),
            |call: Call, p: PromptParams| async move { call.server.clone().synthesize(call, p.user_prompt).await },
        ),
        long(
            define::<ProcessRequestParams, RequestResult>(
                "process_request",
                "Answer a request end to end: plan it, find the registered tools that fit (or write and verify new \
                 ones), extract their arguments, run them and answer. Pass session_id to continue a conversation; \
                 respond=false returns the raw result without an answer in words (one model call fewer). Progress \
                 is reported per step.",
                additive(),
            ),
            |call: Call, p: ProcessRequestParams| async move { call.server.clone().process(call, p).await },
        ),
        long(
            define::<PlanParams, Plan>(
                "plan_execution",
                "How a request would be answered (strategy, tool, sub-tasks, composite tool or pattern, and the \
                 candidates considered), running nothing.",
                read_only(),
            ),
            |call: Call, p: PlanParams| async move { call.server.clone().plan(call, p).await },
        ),
        simple(
            define::<PatternsParams, PatternsOutput>(
                "get_workflow_patterns",
                "Sequences of tools that were run one after another in sessions, most frequent first.",
                read_only(),
            ),
            |s: Server, p: PatternsParams| async move {
                let patterns =
                    s.ts().get_workflow_patterns(p.min_frequency.unwrap_or(2), p.limit.unwrap_or(10)).await?;
                Ok(PatternsOutput { patterns })
            },
        ),
        simple(
            define::<RelationshipsParams, RelationshipsOutput>(
                "get_tool_relationships",
                "Which tool tends to follow which within a session, with the confidence P(b follows | a ran).",
                read_only(),
            ),
            |s: Server, p: RelationshipsParams| async move {
                let relationships =
                    s.ts().get_tool_relationships(p.tool_name.as_deref(), p.min_confidence.unwrap_or(0.5)).await?;
                Ok(RelationshipsOutput { relationships })
            },
        ),
        simple(
            define::<StartSessionParams, SessionOutput>(
                "start_session",
                "Start a session (or resume one by its id): pass its session_id to execute_tool so that runs are grouped.",
                additive(),
            ),
            |s: Server, p: StartSessionParams| async move {
                Ok(SessionOutput { session_id: s.ts().start_session(p.session_id.as_deref()).await? })
            },
        ),
        simple(
            define::<RecentMessagesParams, MessagesOutput>(
                "get_recent_messages",
                "The latest messages of a session, oldest first.",
                read_only(),
            ),
            |s: Server, p: RecentMessagesParams| async move {
                let messages = s.ts().get_recent_messages(&p.session_id, p.limit.unwrap_or(10)).await?;
                Ok(MessagesOutput { session_id: p.session_id, messages })
            },
        ),
    ]
}
