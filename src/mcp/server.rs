//! The MCP handler: tool listing (built-ins, then every registered tool under its own name),
//! calls, list-change notifications, cancellation and the client's model.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, Implementation, InputResponses, ListToolsResult,
    MetaObject, PaginatedRequestParams, ProtocolVersion, ServerCapabilities, ServerConfig, SubscriptionFilter, Tool,
    ToolAnnotations,
};
use rmcp::service::{Peer, RequestContext, RoleServer, SubscriptionContext};
use rmcp::{ErrorData, ServerHandler};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use toolsmith_host::{Grant, Limits};

use super::jobs::{self, Driven, Job, Parked, Progress};
use super::tools::{self, BuiltIn, error_result, success};
use crate::error::{Error, Result};
use crate::executor::{RunOptions, RunOutput};
use crate::llm::{LlmClient, LlmConfig};
use crate::registry::ToolRecord;
use crate::synthesis::{Candidate, VerifyMode};
use crate::{CreateOptions, Toolsmith};

/// What a client is told about using the server (`initialize` and `server/discover`).
pub const INSTRUCTIONS: &str = "Toolsmith keeps verified Python tools that run in a WASM sandbox (no network; files only \
in granted directories). For a task, call search_tools with a few words; if a match fits (similarity_score 0.5 or \
more), run it with execute_tool (name and an arguments object) or call it by its own name. If none fits, write the \
function and pytest tests and call create_tool: it is registered only when the tests pass. synthesize_capability \
writes one from a sentence. Failures are isError results whose error_type says what to fix.";

/// The `_meta` key of a call result holding the server's time for the call, in ms.
pub const SERVER_MS: &str = "dev.toolsmith/server_ms";

/// Tools per `tools/list` page.
pub const DEFAULT_PAGE_SIZE: usize = 100;

/// How `toolsmith serve` runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Directories every tool run may read (`serve --allow-read`).
    pub grants: Vec<Grant>,
    /// How `create_tool` and `synthesize_capability` verify a new tool.
    pub verify: VerifyMode,
    pub page_size: usize,
    /// Longest message read; a longer one is refused with an error (and the next one read).
    pub max_message_bytes: usize,
}

impl Default for ServeOptions {
    fn default() -> ServeOptions {
        ServeOptions {
            grants: vec![],
            verify: VerifyMode::Docker,
            page_size: DEFAULT_PAGE_SIZE,
            max_message_bytes: super::transport::MAX_LINE_BYTES,
        }
    }
}

/// The handler; cheap to clone.
#[derive(Clone)]
pub struct Server {
    inner: Arc<Inner>,
}

struct Inner {
    ts: Toolsmith,
    opts: ServeOptions,
    built_ins: Vec<BuiltIn>,
    /// Registered tools as MCP tools, for the store generation they were read at.
    listing: Mutex<Option<(u64, Arc<Vec<Tool>>)>>,
    /// The generation clients were last told about.
    announced: AtomicU64,
    /// Wakes `subscriptions/listen` streams when the set of tools changes.
    changes: watch::Sender<u64>,
    parked: Parked,
    /// The session's peer (a stdio server has one), for notifications no request causes.
    peer: OnceLock<Peer<RoleServer>>,
    /// The client closed its end.
    closed: CancellationToken,
}

/// One `tools/call` as a built-in sees it.
pub struct Call {
    pub server: Server,
    pub ctx: RequestContext<RoleServer>,
    pub input_responses: Option<InputResponses>,
    pub request_state: Option<String>,
}

impl Server {
    pub async fn new(ts: Toolsmith, opts: ServeOptions, closed: CancellationToken) -> Result<Server> {
        let generation = ts.tools_generation().await?;
        Ok(Server {
            inner: Arc::new(Inner {
                ts,
                opts,
                built_ins: tools::built_ins(),
                listing: Mutex::new(None),
                announced: AtomicU64::new(generation),
                changes: watch::Sender::new(generation),
                parked: Parked::default(),
                peer: OnceLock::new(),
                closed,
            }),
        })
    }

    pub fn ts(&self) -> &Toolsmith {
        &self.inner.ts
    }

    /// The session's peer, once the client has been heard from.
    pub fn set_peer(&self, peer: Peer<RoleServer>) {
        let _ = self.inner.peer.set(peer);
    }

    /// Run a registered tool with the server's grants.
    pub async fn run(&self, name: &str, args: &str, limits: Limits, session_id: Option<String>) -> Result<RunOutput> {
        let opts = RunOptions { limits, grants: self.inner.opts.grants.clone(), session_id, ..RunOptions::default() };
        self.inner.ts.run_tool(name, args, opts).await
    }

    /// Tell clients the set of tools changed, if it did since they were last told (this
    /// process or another changed the store): `notifications/tools/list_changed` on a
    /// handshake session, the `subscriptions/listen` streams otherwise.
    pub async fn tools_changed(&self) {
        let generation = match self.inner.ts.tools_generation().await {
            Ok(g) => g,
            Err(e) => return tracing::warn!("cannot read the store's generation: {e}"),
        };
        if self.inner.announced.swap(generation, Ordering::SeqCst) == generation {
            return;
        }
        self.inner.changes.send_replace(generation);
        if let Some(peer) = self.inner.peer.get()
            && peer.peer_info().is_some()
            && let Err(e) = peer.notify_tool_list_changed().await
        {
            tracing::debug!("cannot send tools/list_changed: {e}");
        }
    }

    fn create_options(&self) -> CreateOptions {
        CreateOptions { verify: self.inner.opts.verify, ..CreateOptions::default() }
    }

    /// `create_tool`: verify and register, as a job reporting progress.
    pub async fn create_tool(self, call: Call, candidate: Candidate) -> Result<CallToolResponse, ErrorData> {
        let (ts, opts) = (self.inner.ts.clone(), self.create_options());
        let label = candidate.name.clone();
        let job = Job::start("create_tool", &label, move |cx| async move {
            match ts.create_tool(&candidate, opts, &*cx.events).await {
                Ok(rec) => success(&rec),
                Err(e) => error_result(&e),
            }
        });
        self.drive(call, job).await
    }

    /// A job that needs a model: Toolsmith's own, or the client's (sampling) when Toolsmith has
    /// none and the client offers it. `body` gets the facade, the delegated client (`None`:
    /// use Toolsmith's own) and the job's events.
    async fn with_model<F, Fut>(
        self,
        call: Call,
        tool: &'static str,
        label: &str,
        body: F,
    ) -> Result<CallToolResponse, ErrorData>
    where
        F: FnOnce(Toolsmith, Option<LlmClient>, Arc<dyn Fn(&crate::synthesis::SynthesisEvent) + Send + Sync>) -> Fut
            + Send
            + 'static,
        Fut: std::future::Future<Output = CallToolResult> + Send + 'static,
    {
        let ts = self.inner.ts.clone();
        let own = ts.has_llm();
        if !own && !client_samples(&call.ctx) {
            return Ok(error_result(&Error::NotConfigured(format!(
                "{tool} needs a model: set OPENAI_API_KEY (OpenAI) or OPENAI_BASE_URL (a local \
                 OpenAI-compatible server) where Toolsmith is launched, or use a client that lends its own model \
                 (MCP sampling)"
            )))
            .into());
        }
        let label: String = label.chars().take(80).collect();
        let job = Job::start(tool, &label, move |cx| async move {
            let llm = (!own).then(|| LlmClient::delegated(cx.model, LlmConfig::default()));
            body(ts, llm, cx.events).await
        });
        self.drive(call, job).await
    }

    /// `synthesize_capability`, as a job reporting each stage.
    pub async fn synthesize(self, call: Call, prompt: String) -> Result<CallToolResponse, ErrorData> {
        let opts = self.create_options();
        let label = prompt.clone();
        self.with_model(call, "synthesize_capability", &label, move |ts, llm, events| async move {
            let result = match &llm {
                None => ts.synthesize_capability(&prompt, opts, &*events).await,
                Some(llm) => ts.synthesize_capability_with(llm, &prompt, opts, &*events).await,
            };
            outcome(result, |r| r.success)
        })
        .await
    }

    /// `process_request`, as a job reporting each step; the server's grants apply.
    pub async fn process(self, call: Call, p: tools::ProcessRequestParams) -> Result<CallToolResponse, ErrorData> {
        let opts = crate::agent::RequestOptions {
            respond: p.respond.unwrap_or(true),
            grants: self.inner.opts.grants.clone(),
            create: self.create_options(),
            ..crate::agent::RequestOptions::default()
        };
        let label = p.user_prompt.clone();
        let server = self.clone();
        self.with_model(call, "process_request", &label, move |ts, llm, events| async move {
            let opts = crate::agent::RequestOptions { llm, ..opts };
            let r = ts.process_request(&p.user_prompt, p.session_id.as_deref(), opts, &*events).await;
            // A request may have written a tool: the list may have changed.
            server.tools_changed().await;
            outcome(r, |r| r.success)
        })
        .await
    }

    /// `plan_execution`: the plan, running nothing.
    pub async fn plan(self, call: Call, p: tools::PlanParams) -> Result<CallToolResponse, ErrorData> {
        let label = p.user_prompt.clone();
        self.with_model(call, "plan_execution", &label, move |ts, llm, _| async move {
            match ts.plan_execution(&p.user_prompt, p.session_id.as_deref(), llm).await {
                Ok(plan) => success(&plan),
                Err(e) => error_result(&e),
            }
        })
        .await
    }

    /// Drive `job` for this request: progress to its token, model requests to the client
    /// (`sampling/createMessage` on a handshake session; on a 2026 one the job is parked and
    /// an input-required result returned).
    async fn drive(&self, call: Call, mut job: Job) -> Result<CallToolResponse, ErrorData> {
        let progress = call.ctx.meta.get_progress_token().map(|token| Progress { peer: call.ctx.peer.clone(), token });
        loop {
            match job.drive(progress.as_ref()).await {
                Driven::Done(result) => {
                    self.tools_changed().await;
                    return Ok(result.into());
                }
                Driven::NeedsModel(request) if !is_modern(&call.ctx) => {
                    let reply = jobs::sample(&call.ctx.peer, &request).await;
                    job.answer(reply);
                }
                Driven::NeedsModel(request) => {
                    let state = self.inner.parked.park(job);
                    return Ok(jobs::input_required(&request, state).into());
                }
            }
        }
    }

    /// A retry of a 2026 call with the client's answer: drive its parked job on.
    async fn resume(&self, name: &str, call: Call, state: &str) -> Result<CallToolResponse, ErrorData> {
        let Some(mut job) = self.inner.parked.take(state) else {
            return Ok(error_result(&Error::InvalidArguments(format!(
                "requestState {state:?} is unknown or expired (a call waits {} minutes for the client's answer): call {name} again without it",
                jobs::PARKED_TTL.as_secs() / 60
            )))
            .into());
        };
        if job.tool != name {
            let tool = job.tool.clone();
            // Put it back: the retry named another tool, the job is still the other call's.
            self.inner.parked.put_back(state, job);
            return Ok(error_result(&Error::InvalidArguments(format!(
                "requestState belongs to a call of {tool}, not {name}"
            )))
            .into());
        }
        job.answer(jobs::answer_from(call.input_responses.as_ref()));
        self.drive(call, job).await
    }

    /// Every tool in `tools/list` order: the built-ins, then the registered ones and the
    /// composite tools by name.
    async fn all_tools(&self) -> Result<(Arc<Vec<Tool>>, usize)> {
        let generation = self.inner.ts.tools_generation().await?;
        let cached = self.inner.listing.lock().expect("not poisoned").clone();
        let registered = match cached {
            Some((g, tools)) if g == generation => tools,
            _ => {
                let mut tools: Vec<Tool> = self.inner.ts.get_all_tools().await?.iter().map(as_mcp_tool).collect();
                for (c, schema) in self.inner.ts.composite_tools_with_schemas().await? {
                    tools.push(as_mcp_composite(&c, schema));
                }
                // One order for tools and composites: `after:NAME` cursors rely on it.
                tools.sort_by(|a, b| a.name.cmp(&b.name));
                let tools = Arc::new(tools);
                *self.inner.listing.lock().expect("not poisoned") = Some((generation, tools.clone()));
                tools
            }
        };
        let mut all: Vec<Tool> = self.inner.built_ins.iter().map(|b| b.tool.clone()).collect();
        let built_ins = all.len();
        all.extend(registered.iter().cloned());
        Ok((Arc::new(all), built_ins))
    }

    async fn dispatch(
        &self,
        request: CallToolRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let name = request.name.to_string();
        let args = request.arguments.unwrap_or_default();
        let call = Call {
            server: self.clone(),
            ctx,
            input_responses: request.input_responses,
            request_state: request.request_state,
        };
        if let Some(state) = call.request_state.clone() {
            return self.resume(&name, call, &state).await;
        }
        if let Some(b) = self.inner.built_ins.iter().find(|b| b.tool.name == name) {
            return (b.handler)(call, args).await;
        }
        let args = serde_json::to_string(&args).map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        let mut ran = self.run(&name, &args, Limits::default(), None).await;
        if matches!(ran, Err(Error::NotFound(_))) {
            let args: serde_json::Map<String, Value> = serde_json::from_str(&args).unwrap_or_default();
            let opts = RunOptions { grants: self.inner.opts.grants.clone(), ..RunOptions::default() };
            ran = match self.inner.ts.run_composite(&name, &args, opts).await {
                // Not a composite either: the tool's own answer stands.
                Err(Error::NotFound(n)) if n == name => ran,
                other => other,
            };
        }
        match ran {
            Ok(out) => Ok(success(&out).into()),
            Err(Error::NotFound(_)) => Err(ErrorData::invalid_params(
                format!("unknown tool {name:?}: see tools/list, or search_tools"),
                Some(json!({"name": name})),
            )),
            Err(e) => Ok(error_result(&e).into()),
        }
    }
}

/// A registered tool as an MCP tool: its name, docstring and parameter schema. It reads only
/// what is granted and reaches no network.
fn as_mcp_tool(t: &ToolRecord) -> Tool {
    let input = match &t.parameters {
        Value::Object(m) => m.clone(),
        _ => serde_json::Map::from_iter([("type".to_string(), json!("object"))]),
    };
    // The declared return type is the tool's annotation, which its tests need not have held it
    // to: it is described, not imposed, so a client never rejects a result over it.
    let output = json!({
        "type": "object",
        "properties": {
            "result": {"description": format!("The tool's result; declared type: {}", t.returns)},
            "stdout": {"type": "string", "description": "What the tool printed."},
            "elapsed_ms": {"type": "number"},
        },
        "required": ["result", "stdout", "elapsed_ms"],
    });
    let Value::Object(output) = output else { unreachable!("an object literal") };
    Tool::new(t.name.clone(), t.docstring.clone(), Arc::new(input))
        .with_raw_output_schema(Arc::new(output))
        .with_annotations(ToolAnnotations::new().read_only(true).destructive(false).open_world(false))
}

/// A composite tool as an MCP tool: its steps' arguments (those not passed along) in, the last
/// step's output out.
fn as_mcp_composite(c: &crate::agent::CompositeTool, schema: Value) -> Tool {
    let input = match schema {
        Value::Object(m) => m,
        _ => serde_json::Map::from_iter([("type".to_string(), json!("object"))]),
    };
    let description = format!("{} (a composite tool: {})", c.description, c.tools().join(" → "));
    Tool::new(c.name.clone(), description, Arc::new(input))
        .with_annotations(ToolAnnotations::new().read_only(true).destructive(false).open_world(false))
}

/// The request is on the stateless 2026-07-28 protocol (or later).
fn is_modern(ctx: &RequestContext<RoleServer>) -> bool {
    ctx.protocol_version().is_some_and(|v| v.as_str() >= ProtocolVersion::V_2026_07_28.as_str())
}

/// The client declared it can lend its model.
fn client_samples(ctx: &RequestContext<RoleServer>) -> bool {
    ctx.client_capabilities().is_some_and(|c| c.sampling.is_some())
}

/// `after:NAME` cursors: a page starts after the last tool of the previous one, so a tool
/// added or deleted between pages neither repeats nor hides another.
fn page_start(tools: &[Tool], built_ins: usize, cursor: Option<&str>) -> Result<usize, ErrorData> {
    let Some(cursor) = cursor else { return Ok(0) };
    let Some(last) = cursor.strip_prefix("after:") else {
        return Err(ErrorData::invalid_params(format!("invalid cursor {cursor:?}: pass a nextCursor as given"), None));
    };
    if let Some(i) = tools.iter().position(|t| t.name == last) {
        return Ok(i + 1);
    }
    // Deleted since: registered tools are sorted by name, built-ins never go.
    Ok(built_ins + tools[built_ins..].partition_point(|t| t.name.as_ref() <= last))
}

impl ServerHandler for Server {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().enable_tool_list_changed().build())
            .with_server_info(
                Implementation::new("toolsmith", env!("CARGO_PKG_VERSION"))
                    .with_title("Toolsmith")
                    .with_description("Writes, verifies and runs its own Python tools in a WASM sandbox"),
            )
            .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        self.set_peer(ctx.peer.clone());
        let (tools, built_ins) = self.all_tools().await.map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        let start = page_start(&tools, built_ins, request.as_ref().and_then(|r| r.cursor.as_deref()))?;
        let end = (start + self.inner.opts.page_size.max(1)).min(tools.len());
        let page: Vec<Tool> = tools.get(start..end).map(<[Tool]>::to_vec).unwrap_or_default();
        let mut result = ListToolsResult::with_all_items(page);
        if end < tools.len() {
            result.next_cursor = Some(format!("after:{}", tools[end - 1].name));
        }
        Ok(result)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        self.set_peer(ctx.peer.clone());
        let (ct, name, started) = (ctx.ct.clone(), request.name.to_string(), Instant::now());
        // Dropping the call's future on cancellation stops it: a job it owns aborts with it.
        tokio::select! {
            r = self.dispatch(request, ctx) => r.map(|mut r| {
                // The server's own time, so a client can tell the protocol's cost from the work's.
                if let CallToolResponse::Complete(done) = &mut r {
                    let ms = (started.elapsed().as_secs_f64() * 1e6).round() / 1e3;
                    done.meta.get_or_insert_with(MetaObject::new).0.insert(SERVER_MS.into(), json!(ms));
                }
                r
            }),
            _ = ct.cancelled() => {
                tracing::info!(tool = %name, "call cancelled by the client");
                Err(ErrorData::internal_error("cancelled", None))
            }
            _ = self.inner.closed.cancelled() => {
                tracing::info!(tool = %name, "call abandoned: the client closed the connection");
                Err(ErrorData::internal_error("the client closed the connection", None))
            }
        }
    }

    fn accepted_subscription_filter(&self, requested: &SubscriptionFilter) -> Option<SubscriptionFilter> {
        Some(requested.supported_by(&self.get_info().capabilities))
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        let mut changes = self.inner.changes.subscribe();
        changes.mark_unchanged();
        let wants_tools = context.accepted().tools_list_changed == Some(true);
        loop {
            tokio::select! {
                changed = changes.changed() => {
                    if changed.is_err() {
                        return Ok(());
                    }
                    if wants_tools && let Err(e) = context.sink().notify_tool_list_changed().await {
                        tracing::debug!("subscription closed: {e}");
                        return Ok(());
                    }
                }
                _ = context.cancelled() => return Ok(()),
                _ = self.inner.closed.cancelled() => return Ok(()),
            }
        }
    }
}

/// A result that reports its own success: the whole result either way, `isError` when it failed.
fn outcome<T: serde::Serialize>(r: Result<T>, succeeded: impl Fn(&T) -> bool) -> CallToolResult {
    match r {
        Ok(v) => {
            let mut out = success(&v);
            if !succeeded(&v) {
                out.is_error = Some(true);
            }
            out
        }
        Err(e) => error_result(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(name: &str) -> Tool {
        Tool::new(name.to_string(), "", Arc::new(serde_json::Map::new()))
    }

    #[test]
    fn pages_resume_after_the_last_name_even_when_it_went() {
        let tools: Vec<Tool> = ["b1", "b2", "alpha", "gamma", "zeta"].iter().map(|n| tool(n)).collect();
        assert_eq!(page_start(&tools, 2, None).unwrap(), 0);
        assert_eq!(page_start(&tools, 2, Some("after:b2")).unwrap(), 2);
        assert_eq!(page_start(&tools, 2, Some("after:gamma")).unwrap(), 4);
        // "beta" was deleted between pages: the next page starts at the first name after it.
        assert_eq!(page_start(&tools, 2, Some("after:beta")).unwrap(), 3);
        assert_eq!(page_start(&tools, 2, Some("after:zz")).unwrap(), 5);
        assert!(page_start(&tools, 2, Some("12")).is_err());
    }

    #[test]
    fn the_built_ins_are_the_reserved_names() {
        let mut names: Vec<String> = tools::built_ins().iter().map(|b| b.tool.name.to_string()).collect();
        let mut reserved: Vec<String> = crate::BUILT_IN_TOOL_NAMES.iter().map(|s| s.to_string()).collect();
        names.sort();
        reserved.sort();
        assert_eq!(names, reserved);
    }

    #[test]
    fn built_in_schemas_are_objects_and_read_only_tools_say_so() {
        for b in tools::built_ins() {
            assert_eq!(b.tool.input_schema.get("type"), Some(&json!("object")), "{}", b.tool.name);
            let a = b.tool.annotations.as_ref().expect("annotated");
            let read_only =
                ["search_tools", "get_tool", "list_tools", "get_workflow_patterns"].contains(&b.tool.name.as_ref());
            if read_only {
                assert_eq!(a.read_only_hint, Some(true), "{}", b.tool.name);
            }
            assert_eq!(a.destructive_hint, Some(b.tool.name == "delete_tool"), "{}", b.tool.name);
        }
    }
}
