//! AgentOrchestrator, ToolExecutor.execute_with_retry and CompositionPlanner, as methods of the
//! facade: a request is planned, each step finds (or writes) its tool, the model extracts its
//! arguments, the tool runs, and the answer, the conversation and the trace are stored.
//!
//! Every model call of a request goes through one client handle that records it, so the trace
//! accounts for each call (stage, latency, tokens) even when requests run side by side.

use std::sync::Arc;
use std::time::Instant;

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use toolsmith_host::{Grant, Limits};
use tracing::{info, warn};

use crate::error::{Error, ErrorKind, ErrorReport, Result};
use crate::executor::{RunOptions, RunOutput};
use crate::facade::{BUILT_IN_TOOL_NAMES, CreateOptions, Toolsmith};
use crate::llm::{CallLog, LlmClient, LlmError, Signature};
use crate::registry::embed::cosine;
use crate::registry::index::SearchMode;
use crate::registry::store::now;
use crate::registry::{ToolRecord, blocking};
use crate::synthesis::{Events, SynthesisEvent};

use super::composite::{ArgSource, CompositeStep, CompositeTool, Composites, default_name, learn_mapping};
use super::memory::SessionMemoryManager;
use super::plan::{self, CandidateKind, Plan, PlanCandidate, PlanInput, Strategy};
use super::trace::{Trace, TraceStep, Traces};
use super::tracker::{WorkflowPattern, WorkflowTracker, pattern_id};

/// Retries of argument extraction after invalid arguments or a tool error (the seed's default).
pub const DEFAULT_MAX_RETRIES: u32 = 2;
/// A multi-step sequence run this many times (in its sessions) becomes a composite tool.
pub const DEFAULT_PROMOTE_AFTER: u64 = 3;
/// Results quoted into a later step's extraction prompt are cut to this many characters.
const QUOTED_RESULT_CHARS: usize = 4000;

/// How to serve one request.
#[derive(Clone)]
pub struct RequestOptions {
    /// Answer in words (one more model call); `false` returns the raw result.
    pub respond: bool,
    pub max_retries: u32,
    pub limits: Limits,
    pub grants: Vec<Grant>,
    /// How new tools are verified.
    pub create: CreateOptions,
    /// A model to use instead of the configured one (an MCP client's, through sampling).
    pub llm: Option<LlmClient>,
    /// Promote a multi-step sequence after this many runs; 0: never automatically.
    pub promote_after: u64,
}

impl Default for RequestOptions {
    fn default() -> RequestOptions {
        RequestOptions {
            respond: true,
            max_retries: DEFAULT_MAX_RETRIES,
            limits: Limits::default(),
            grants: Vec::new(),
            create: CreateOptions::default(),
            llm: None,
            promote_after: DEFAULT_PROMOTE_AFTER,
        }
    }
}

/// One step's outcome, as a multi-step result lists them.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct StepResult {
    pub task: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_name: Option<String>,
    pub success: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<Value>")]
    pub result: Option<Box<RawValue>>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorReport>,
}

/// The seed's `process_request` result, plus the strategy, the steps and the trace id.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RequestResult {
    pub success: bool,
    /// The answer in words, or the error.
    pub response: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_name: Option<String>,
    /// The raw result: the tool's, the last step's (sequential), or every step's (composition).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<Value>")]
    pub tool_result: Option<Box<RawValue>>,
    /// A new tool was written for the request.
    pub synthesized: bool,
    pub session_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strategy: Option<Strategy>,
    /// Each step, for multi-step strategies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepResult>,
    pub trace_id: String,
    /// Set when the request failed: the error message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_type: Option<ErrorKind>,
    /// A step that failed, by number (1-based), when the request had several.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_step: Option<usize>,
}

/// What one step did.
struct StepRun {
    trace: TraceStep,
    result: Option<Box<RawValue>>,
    error: Option<ErrorReport>,
}

impl StepRun {
    fn failed(mut trace: TraceStep, report: ErrorReport, started: Instant) -> StepRun {
        trace.success = false;
        trace.elapsed_ms = ms(started);
        trace.error = Some(report.clone());
        StepRun { trace, result: None, error: Some(report) }
    }
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e3
}

fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!("{}… [cut]", s.chars().take(max).collect::<String>())
    }
}

/// What every step of one request uses: its model handle, options and event sink.
struct Cx<'a> {
    llm: &'a LlmClient,
    opts: &'a RequestOptions,
    run: &'a RunOptions,
    events: Events<'a>,
}

/// The state of a workflow: earlier steps' results, quoted into later steps' requests.
#[derive(Default)]
struct Earlier {
    results: Vec<(String, String)>,
}

impl Earlier {
    fn prompt(&self, task: &str, original: &str) -> String {
        if self.results.is_empty() && task == original {
            return task.to_string();
        }
        let mut s = String::new();
        if task != original {
            s.push_str(&format!("Overall request: {original}\n"));
        }
        for (i, (tool, result)) in self.results.iter().enumerate() {
            s.push_str(&format!("Result of step {} ({tool}): {}\n", i + 1, cut(result, QUOTED_RESULT_CHARS)));
        }
        s.push_str(&format!("This step: {task}"));
        s
    }
}

impl Toolsmith {
    fn agent_llm(&self, opts: &RequestOptions, calls: &Arc<CallLog>) -> Result<LlmClient> {
        let llm = match &opts.llm {
            Some(l) => l.clone(),
            None => self.llm()?.clone(),
        };
        Ok(llm.with_calls(calls.clone()))
    }

    /// What the planner works from: candidates for `prompt` (tools, composites, and patterns
    /// when the request reads as several steps) and the session's previous tool.
    async fn plan_input<'a>(
        &self,
        prompt: &'a str,
        prompt_with_context: &'a str,
        session: Option<&str>,
    ) -> Result<PlanInput<'a>> {
        let reg = self.registry().await?;
        let hits = reg.search(prompt, plan::CANDIDATES, SearchMode::Hybrid, true).await?;
        let tools: Vec<PlanCandidate> = hits
            .into_iter()
            .filter(|m| m.similarity_score >= plan::PREFILTER)
            .map(|m| PlanCandidate {
                name: m.tool.name,
                kind: CandidateKind::Tool,
                score: m.similarity_score,
                docstring: m.tool.docstring,
                parameters: m.tool.parameters,
            })
            .collect();
        let steps = plan::has_steps(prompt);
        if steps {
            self.sync_log().await?;
        }
        let st = self.store().clone();
        let session = session.map(str::to_string);
        let (stored, patterns, previous_tool) = blocking(move || -> Result<_> {
            let composites = Composites::new(&st).all_with_embeddings()?;
            let mut patterns = Vec::new();
            if steps {
                // Only what can run: every tool of the pattern still registered.
                for p in WorkflowTracker::new(&st).get_workflow_patterns(2, 20)? {
                    if patterns.len() == 5 {
                        break;
                    }
                    let mut runnable = true;
                    for t in &p.tools {
                        runnable = runnable && st.exists(t)?;
                    }
                    if runnable {
                        patterns.push(p);
                    }
                }
            }
            let previous = match &session {
                Some(s) => Traces::new(&st).last_answered(s)?.map(|(_, tool)| tool),
                None => None,
            };
            Ok((composites, patterns, previous))
        })
        .await??;
        let mut composites = Vec::new();
        if !stored.is_empty() {
            let q = reg.embed_query(prompt).await?;
            for (c, emb) in stored {
                let score = emb.map_or(0.0, |e| if e.len() == q.len() { cosine(&q, &e) } else { 0.0 });
                if score >= plan::COMPOSITE_PREFILTER {
                    composites.push((c, score));
                }
            }
            composites.sort_by(|a, b| b.1.total_cmp(&a.1));
            composites.truncate(3);
        }
        Ok(PlanInput { prompt, prompt_with_context, tools, composites, patterns, previous_tool })
    }

    async fn plan_with(&self, llm: &LlmClient, input: &PlanInput<'_>) -> Result<Plan> {
        if let Some(p) = plan::by_rule(input) {
            return Ok(p);
        }
        plan::by_model(llm, input).await
    }

    /// The seed's `QueryPlanner.plan_execution`: the strategy for `prompt` (in `session_id`'s
    /// conversation, when given), without running anything.
    pub async fn plan_execution(&self, prompt: &str, session_id: Option<&str>, llm: Option<LlmClient>) -> Result<Plan> {
        let opts = RequestOptions { llm, ..RequestOptions::default() };
        let llm = self.agent_llm(&opts, &Arc::default())?;
        let context = self.context(prompt, session_id).await?;
        let input = self.plan_input(prompt, &context, session_id).await?;
        self.plan_with(&llm, &input).await
    }

    async fn context(&self, prompt: &str, session_id: Option<&str>) -> Result<String> {
        let Some(id) = session_id else { return Ok(prompt.to_string()) };
        let (st, id, p) = (self.store().clone(), id.to_string(), prompt.to_string());
        Ok(blocking(move || SessionMemoryManager::new(&st).build_prompt_with_context(&id, &p)).await??)
    }

    /// The seed's `ToolExecutor.execute_with_retry`: the model extracts the arguments from
    /// `prompt` against the tool's schema, they are checked, the tool runs. Invalid arguments
    /// and tool errors go back to the extraction with the error, at most `max_retries` times;
    /// limits and infrastructure failures do not. A request lacking a required value fails
    /// with `missing_arguments` and runs nothing. `fixed` arguments (from an earlier step) are
    /// not asked of the model. Returns the outcome, the last arguments and the runs made.
    pub async fn execute_with_retry(
        &self,
        llm: &LlmClient,
        tool: &ToolRecord,
        prompt: &str,
        fixed: &Map<String, Value>,
        max_retries: u32,
        run: &RunOptions,
    ) -> (Result<RunOutput>, Option<Value>, u32, f64) {
        let schema = without(&tool.parameters, fixed);
        let needs_model = schema.get("properties").and_then(Value::as_object).is_some_and(|p| !p.is_empty());
        let mut feedback: Option<String> = None;
        let (mut runs, mut tool_ms) = (0u32, 0.0);
        let mut last_args = None;
        for attempt in 0..=max_retries {
            let mut args = if needs_model {
                match llm.extract_arguments_with(prompt, Signature::Schema(schema.clone()), feedback.as_deref()).await {
                    Ok(a) => a,
                    Err(e @ LlmError::BadReply { .. }) if attempt < max_retries => {
                        warn!(tool = %tool.name, error = %e, "unusable arguments; asking again");
                        feedback = Some(e.to_string());
                        continue;
                    }
                    Err(e) => return (Err(e.into()), last_args, runs, tool_ms),
                }
            } else {
                Map::new()
            };
            args.extend(fixed.iter().map(|(k, v)| (k.clone(), v.clone())));
            let args = Value::Object(args);
            let args_json = args.to_string();
            last_args = Some(args);
            runs += 1;
            let started = Instant::now();
            let out = self.run_tool(&tool.name, &args_json, run.clone()).await;
            tool_ms += ms(started);
            match out {
                Err(e)
                    if matches!(e.kind(), ErrorKind::InvalidArguments | ErrorKind::ToolError)
                        && attempt < max_retries
                        && needs_model =>
                {
                    let r = e.report();
                    info!(tool = %tool.name, kind = %r.error_type, "the run failed; extracting the arguments again");
                    feedback = Some(format!(
                        "Arguments tried: {args_json}\nThe tool failed with {}{}: {}",
                        r.error_type,
                        r.exception.as_deref().map(|x| format!(" ({x})")).unwrap_or_default(),
                        r.error
                    ));
                }
                out => return (out, last_args, runs, tool_ms),
            }
        }
        unreachable!("the last attempt returns")
    }

    /// Step `index`: find the tool (`tool`, or write one for `task`), then run it on `prompt`.
    async fn run_step(
        &self,
        cx: &Cx<'_>,
        index: usize,
        task: &str,
        prompt: &str,
        tool: Option<String>,
        fixed: &Map<String, Value>,
    ) -> StepRun {
        let (llm, events) = (cx.llm, cx.events);
        let started = Instant::now();
        let mut trace = TraceStep { task: task.to_string(), tool_name: tool.clone(), ..TraceStep::default() };
        events(&SynthesisEvent::StepStarted {
            step: index as u32 + 1,
            task: task.to_string(),
            tool_name: tool.clone(),
        });
        let name = match tool {
            Some(t) => t,
            None => match self.synthesize_capability_with(llm, task, cx.opts.create, events).await {
                Ok(r) if r.success => {
                    trace.synthesized = true;
                    trace.tool_name = Some(r.tool_name.clone());
                    r.tool_name
                }
                Ok(r) => {
                    let report = r.error.unwrap_or_else(|| ErrorReport::new(ErrorKind::Internal, "synthesis failed"));
                    return StepRun::failed(trace, report, started);
                }
                Err(e) => return StepRun::failed(trace, e.report(), started),
            },
        };
        let record = match self.get_tool_by_name(&name).await {
            Ok(Some(r)) => r,
            Ok(None) => return StepRun::failed(trace, Error::NotFound(name).report(), started),
            Err(e) => return StepRun::failed(trace, e.report(), started),
        };
        let (out, args, runs, tool_ms) =
            self.execute_with_retry(llm, &record, prompt, fixed, cx.opts.max_retries, cx.run).await;
        trace.arguments = args;
        trace.attempts = runs;
        trace.tool_ms = tool_ms;
        let step = match out {
            Ok(o) => {
                trace.success = true;
                trace.elapsed_ms = ms(started);
                StepRun { trace, result: Some(o.result), error: None }
            }
            Err(e) => StepRun::failed(trace, e.report(), started),
        };
        events(&SynthesisEvent::ToolRan {
            step: index as u32 + 1,
            tool_name: name,
            success: step.error.is_none(),
            elapsed_ms: step.trace.tool_ms,
            error_type: step.error.as_ref().map(|e| e.error_type),
        });
        step
    }

    /// The tool for one sub-task of a workflow, found as for a request (or none: write one).
    async fn choose_tool(&self, llm: &LlmClient, task: &str) -> Result<Option<String>> {
        let input = self.plan_input(task, task, None).await?;
        // A sub-task is one step: whatever strategy the model answered, its tool is the choice.
        let plan = match plan::by_rule(&input) {
            Some(p) => p,
            None => plan::by_model(llm, &input).await?,
        };
        Ok(plan.tool)
    }

    /// The seed's `CompositionPlanner.execute_workflow`: each sub-task finds or writes its tool
    /// and runs with the earlier steps' results in view; the first failing step stops it.
    async fn execute_workflow(&self, cx: &Cx<'_>, sub_tasks: &[String], prompt: &str, steps: &mut Vec<StepRun>) {
        let mut earlier = Earlier::default();
        for (i, task) in sub_tasks.iter().enumerate() {
            let started = Instant::now();
            let tool = match self.choose_tool(cx.llm, task).await {
                Ok(t) => t,
                Err(e) => {
                    let trace = TraceStep { task: task.clone(), ..TraceStep::default() };
                    steps.push(StepRun::failed(trace, e.report(), started));
                    return;
                }
            };
            let step = self.run_step(cx, i, task, &earlier.prompt(task, prompt), tool, &Map::new()).await;
            let ok = step.error.is_none();
            if let (Some(r), Some(t)) = (&step.result, &step.trace.tool_name) {
                earlier.results.push((t.clone(), r.get().to_string()));
            }
            steps.push(step);
            if !ok {
                return;
            }
        }
    }

    /// The seed's `CompositionPlanner.execute_pattern`: the pattern's tools in order; a step's
    /// parameter mapped to the previous result gets it as it is, the rest are extracted.
    async fn execute_pattern(&self, cx: &Cx<'_>, pipeline: &[CompositeStep], prompt: &str, steps: &mut Vec<StepRun>) {
        let mut earlier = Earlier::default();
        let mut previous: Option<Value> = None;
        for (i, s) in pipeline.iter().enumerate() {
            let mut fixed = Map::new();
            if let Some(prev) = &previous {
                for (param, source) in &s.inputs {
                    if *source == ArgSource::Previous {
                        fixed.insert(param.clone(), prev.clone());
                    }
                }
            }
            let task = format!("{} (step {} of {})", s.tool, i + 1, pipeline.len());
            let step = self.run_step(cx, i, &task, &earlier.prompt(&task, prompt), Some(s.tool.clone()), &fixed).await;
            let ok = step.error.is_none();
            if let Some(r) = &step.result {
                earlier.results.push((s.tool.clone(), r.get().to_string()));
                previous = serde_json::from_str(r.get()).ok();
            }
            steps.push(step);
            if !ok {
                return;
            }
        }
    }

    /// The seed's `AgentOrchestrator.process_request`: plan, run, answer, remember. Fails only
    /// when it cannot start (no model configured, the store unusable); everything after is in
    /// the result, and in the trace stored under its `trace_id`.
    pub async fn process_request(
        &self,
        prompt: &str,
        session_id: Option<&str>,
        opts: RequestOptions,
        events: Events<'_>,
    ) -> Result<RequestResult> {
        let started = Instant::now();
        if prompt.trim().is_empty() {
            return Err(Error::InvalidArguments("the request is empty: say what you want done".into()));
        }
        let calls = Arc::new(CallLog::default());
        let llm = self.agent_llm(&opts, &calls)?;
        let session = self.start_session(session_id).await?;
        let trace_id = uuid::Uuid::new_v4().to_string();
        let run = RunOptions {
            limits: opts.limits.clone(),
            grants: opts.grants.clone(),
            session_id: Some(session.clone()),
            user_prompt: prompt.to_string(),
        };
        let context = self.context(prompt, Some(&session)).await?;
        let mut steps: Vec<StepRun> = Vec::new();
        let planned = async {
            let input = self.plan_input(prompt, &context, Some(&session)).await?;
            self.plan_with(&llm, &input).await
        }
        .await;
        let plan = match planned {
            Ok(plan) => {
                events(&SynthesisEvent::Planned {
                    strategy: plan.strategy.as_str().to_string(),
                    reasoning: plan.reasoning.clone(),
                    tool_name: plan.tool.clone(),
                });
                Some(plan)
            }
            Err(e) => {
                steps.push(StepRun::failed(
                    TraceStep { task: prompt.to_string(), ..TraceStep::default() },
                    e.report(),
                    started,
                ));
                None
            }
        };
        if let Some(plan) = &plan {
            let cx = Cx { llm: &llm, opts: &opts, run: &run, events };
            match plan.strategy {
                Strategy::Single | Strategy::ForceSynthesis => {
                    steps.push(self.run_step(&cx, 0, prompt, &context, plan.tool.clone(), &Map::new()).await);
                }
                Strategy::CompositeTool => {
                    let c = plan.composite_tool.as_ref().expect("checked by the planner");
                    self.execute_pattern(&cx, &c.steps, &context, &mut steps).await;
                }
                Strategy::WorkflowPattern => {
                    let p = plan.pattern.as_ref().expect("checked by the planner");
                    let pipeline: Vec<CompositeStep> =
                        p.tools.iter().map(|t| CompositeStep { tool: t.clone(), inputs: Default::default() }).collect();
                    self.execute_pattern(&cx, &pipeline, &context, &mut steps).await;
                }
                Strategy::MultiToolComposition | Strategy::MultiToolSequential => {
                    self.execute_workflow(&cx, &plan.sub_tasks, &context, &mut steps).await;
                }
            }
        }
        let failed = steps.iter().position(|s| s.error.is_some());
        let success = failed.is_none() && !steps.is_empty();
        let multi = steps.len() > 1
            || plan
                .as_ref()
                .is_some_and(|p| p.sub_tasks.len() > 1 || p.composite_tool.is_some() || p.pattern.is_some());
        let tool_result: Option<Box<RawValue>> = if !success {
            None
        } else if plan.as_ref().is_some_and(|p| p.strategy == Strategy::MultiToolComposition) {
            let all: Vec<&str> = steps.iter().filter_map(|s| s.result.as_ref().map(|r| r.get())).collect();
            RawValue::from_string(format!("[{}]", all.join(","))).ok()
        } else {
            steps.last().and_then(|s| s.result.clone())
        };
        let tool_name = steps.last().and_then(|s| s.trace.tool_name.clone());
        let synthesized = steps.iter().any(|s| s.trace.synthesized);
        let error = failed.map(|i| {
            let e = steps[i].error.clone().expect("a failed step has its error");
            if multi {
                ErrorReport { error: format!("step {} ({}) failed: {}", i + 1, steps[i].trace.task, e.error), ..e }
            } else {
                e
            }
        });
        let response = match (&tool_result, &error) {
            (Some(r), None) if opts.respond => {
                let value: Value = serde_json::from_str(r.get()).unwrap_or(Value::Null);
                match llm.synthesize_response(prompt, &value).await {
                    Ok(text) => text,
                    Err(e) => {
                        warn!(error = %e, "no answer in words; giving the result as it is");
                        r.get().to_string()
                    }
                }
            }
            (Some(r), None) => r.get().to_string(),
            (_, Some(e)) => e.error.clone(),
            (None, None) => String::new(),
        };
        events(&SynthesisEvent::Answered { success });
        let step_results: Vec<StepResult> = if multi {
            steps
                .iter()
                .map(|s| StepResult {
                    task: s.trace.task.clone(),
                    tool_name: s.trace.tool_name.clone(),
                    success: s.error.is_none(),
                    result: s.result.clone(),
                    error: s.error.clone(),
                })
                .collect()
        } else {
            Vec::new()
        };
        let elapsed = ms(started);
        let tool_time: f64 = steps.iter().map(|s| s.trace.tool_ms).sum();
        let trace = Trace {
            id: trace_id.clone(),
            session_id: session.clone(),
            prompt: prompt.to_string(),
            created_at: now(),
            success,
            tool_name: tool_name.clone(),
            synthesized,
            plan: plan.clone(),
            steps: steps.iter().map(|s| s.trace.clone()).collect(),
            model_calls: calls.snapshot(),
            elapsed_ms: elapsed,
            overhead_ms: (elapsed - calls.total_ms() - tool_time).max(0.0),
            error: error.clone(),
        };
        let sequence: Vec<String> = if success && multi {
            steps.iter().filter_map(|s| s.trace.tool_name.clone()).collect()
        } else {
            Vec::new()
        };
        let (st, sess, user, answer, promote_after) =
            (self.store().clone(), session.clone(), prompt.to_string(), response.clone(), opts.promote_after);
        let previous = blocking(move || -> Result<Option<(String, String)>> {
            let previous = Traces::new(&st).last_answered(&sess)?;
            let memory = SessionMemoryManager::new(&st);
            memory.append_message(&sess, "user", &user)?;
            memory.append_message(&sess, "assistant", &answer)?;
            Traces::new(&st).save(&trace)?;
            Ok(previous)
        })
        .await??;
        if success && !multi {
            let tool = tool_name.clone().expect("a successful step names its tool");
            // Learned only when search found the tool for these words (or it was written for
            // them): a follow-up that leans on the conversation ("the same for 7") is no example.
            let found = synthesized || plan.as_ref().is_some_and(|p| p.candidates.iter().any(|c| c.name == tool));
            let redo = previous.filter(|(p, t)| *t != tool && same_request(p, prompt)).map(|(p, t)| (t, p));
            self.learn(found.then(|| (tool, prompt.to_string())), redo).await;
        }
        if sequence.len() >= 2
            && promote_after > 0
            && let Err(e) = self.maybe_promote(&sequence, promote_after).await
        {
            warn!(error = %e, "automatic promotion of the workflow failed");
        }
        Ok(RequestResult {
            success,
            response,
            tool_name,
            tool_result,
            synthesized,
            session_id: session,
            strategy: plan.map(|p| p.strategy),
            steps: step_results,
            trace_id,
            error: error.as_ref().map(|e| e.error.clone()),
            error_type: error.as_ref().map(|e| e.error_type),
            failed_step: if multi { failed.map(|i| i + 1) } else { None },
        })
    }

    /// Learn `learned` (tool, request) as an example of the tool, and forget `redone`: a request
    /// the user made again right after, answered by another tool, was not answered well. Off the
    /// request's path when serving (an index update costs more than the request itself).
    async fn learn(&self, learned: Option<(String, String)>, redone: Option<(String, String)>) {
        let ts = self.clone();
        let work = async move {
            if let Some((tool, request)) = redone
                && let Err(e) = ts.forget_example(&tool, &request).await
            {
                warn!(%tool, error = %e, "a redone request's example was not forgotten");
            }
            if let Some((tool, request)) = learned
                && let Err(e) = ts.learn_example(&tool, &request).await
            {
                warn!(%tool, error = %e, "the request was not learned as an example");
            }
        };
        if self.is_serving() {
            tokio::spawn(work);
        } else {
            work.await;
        }
    }

    /// Promote `tools` when the sequence has run `after` times and is not a composite yet.
    async fn maybe_promote(&self, tools: &[String], after: u64) -> Result<Option<CompositeTool>> {
        self.sync_log().await?;
        let id = pattern_id(tools);
        let (st, t, id2) = (self.store().clone(), tools.to_vec(), id.clone());
        let frequency = blocking(move || -> Result<Option<u64>> {
            if Composites::new(&st).by_pattern(&id2)?.is_some() {
                return Ok(None);
            }
            Ok(Some(WorkflowTracker::new(&st).sequence_frequency(&t)?))
        })
        .await??;
        match frequency {
            Some(n) if n >= after => {
                let pattern = WorkflowPattern {
                    id,
                    tools: tools.to_vec(),
                    frequency: n,
                    success_rate: 1.0,
                    avg_execution_time_ms: 0.0,
                };
                info!(tools = %tools.join(" → "), runs = n, "promoting a workflow to a composite tool");
                self.promote(&pattern, None).await.map(Some)
            }
            _ => Ok(None),
        }
    }

    /// Promote a workflow pattern to a composite tool (`toolsmith patterns promote ID`): its
    /// argument mapping learned from the log, its description from its tools' docstrings.
    pub async fn promote(&self, pattern: &WorkflowPattern, name: Option<&str>) -> Result<CompositeTool> {
        let name = name.map(str::to_string).unwrap_or_else(|| default_name(&pattern.tools));
        let (st, tools) = (self.store().clone(), pattern.tools.clone());
        let (steps, description) = blocking(move || -> Result<(Vec<CompositeStep>, String)> {
            let mut docs = Vec::new();
            for t in &tools {
                let rec =
                    st.get(t)?.ok_or_else(|| Error::NotFound(format!("the pattern's tool {t:?} is not registered")))?;
                docs.push(format!(
                    "{}: {}",
                    t,
                    rec.docstring.trim().split("\n\n").next().unwrap_or("").replace('\n', " ")
                ));
            }
            let steps = learn_mapping(&st, &tools)?;
            Ok((steps, format!("Runs {} in order. {}", tools.join(", then "), docs.join(" Then "))))
        })
        .await??;
        let embedding = self.registry().await?.embed_query(&description).await?;
        let composite =
            CompositeTool { name, description, pattern_id: Some(pattern.id.clone()), steps, created_at: now() };
        let (st, c) = (self.store().clone(), composite.clone());
        blocking(move || Composites::new(&st).insert(&c, Some(&embedding), BUILT_IN_TOOL_NAMES)).await??;
        Ok(composite)
    }

    /// Promote the mined pattern of this id (see [`Toolsmith::get_workflow_patterns`]).
    pub async fn promote_pattern(&self, id: &str, name: Option<&str>) -> Result<CompositeTool> {
        let patterns = self.get_workflow_patterns(1, usize::MAX).await?;
        let p = patterns
            .into_iter()
            .find(|p| p.id == id)
            .ok_or_else(|| Error::NotFound(format!("no workflow pattern {id:?}: see `toolsmith patterns`")))?;
        self.promote(&p, name).await
    }

    /// Run a composite tool with the arguments of its steps given directly (no model): a step's
    /// parameter mapped to the previous result gets it, every other one is taken from `args` by
    /// name. The last step's output, with every step's printout and time.
    pub async fn run_composite(&self, name: &str, args: &Map<String, Value>, run: RunOptions) -> Result<RunOutput> {
        let (st, n) = (self.store().clone(), name.to_string());
        let c =
            blocking(move || Composites::new(&st).get(&n)).await??.ok_or_else(|| Error::NotFound(name.to_string()))?;
        let (mut previous, mut stdout, mut elapsed, mut last) = (None::<Value>, String::new(), 0.0, None);
        for s in &c.steps {
            let rec = self
                .get_tool_by_name(&s.tool)
                .await?
                .ok_or_else(|| Error::NotFound(format!("{} (a step of {name})", s.tool)))?;
            let mut a = Map::new();
            for p in rec.parameters.get("properties").and_then(Value::as_object).into_iter().flat_map(|m| m.keys()) {
                match (s.inputs.get(p), &previous) {
                    (Some(ArgSource::Previous), Some(prev)) => {
                        a.insert(p.clone(), prev.clone());
                    }
                    _ => {
                        if let Some(v) = args.get(p) {
                            a.insert(p.clone(), v.clone());
                        }
                    }
                }
            }
            let out = self.run_tool(&s.tool, &Value::Object(a).to_string(), run.clone()).await?;
            previous = serde_json::from_str(out.result.get()).ok();
            stdout.push_str(&out.stdout);
            elapsed += out.elapsed_ms;
            last = Some(out);
        }
        let last = last.ok_or_else(|| Error::Internal(format!("composite {name} has no steps")))?;
        Ok(RunOutput { result: last.result, stdout, elapsed_ms: elapsed })
    }

    /// Every composite tool with the JSON Schema of the arguments [`Toolsmith::run_composite`]
    /// takes: its steps' parameters that do not come from the previous step.
    pub async fn composite_tools_with_schemas(&self) -> Result<Vec<(CompositeTool, Value)>> {
        let mut out = Vec::new();
        for c in self.composite_tools().await? {
            let (mut props, mut required) = (Map::new(), Vec::<Value>::new());
            for (i, s) in c.steps.iter().enumerate() {
                let Some(rec) = self.get_tool_by_name(&s.tool).await? else { continue };
                let req: Vec<&str> = rec
                    .parameters
                    .get("required")
                    .and_then(Value::as_array)
                    .map(|r| r.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                for (p, schema) in rec.parameters.get("properties").and_then(Value::as_object).into_iter().flatten() {
                    if i > 0 && s.inputs.get(p) == Some(&ArgSource::Previous) {
                        continue;
                    }
                    props.entry(p.clone()).or_insert_with(|| schema.clone());
                    if req.contains(&p.as_str()) && !required.iter().any(|r| r == p) {
                        required.push(Value::String(p.clone()));
                    }
                }
            }
            let schema = serde_json::json!({"type": "object", "properties": props, "required": required});
            out.push((c, schema));
        }
        Ok(out)
    }

    /// Every composite tool.
    pub async fn composite_tools(&self) -> Result<Vec<CompositeTool>> {
        let st = self.store().clone();
        Ok(blocking(move || Composites::new(&st).all()).await??)
    }

    /// Delete a composite tool; `false` when there was none.
    pub async fn delete_composite(&self, name: &str) -> Result<bool> {
        let (st, n) = (self.store().clone(), name.to_string());
        Ok(blocking(move || Composites::new(&st).delete(&n)).await??)
    }

    /// The latest traces, newest first (only `session`'s when given).
    pub async fn traces(&self, session: Option<&str>, limit: usize) -> Result<Vec<super::trace::TraceSummary>> {
        let (st, s) = (self.store().clone(), session.map(str::to_string));
        Ok(blocking(move || Traces::new(&st).list(s.as_deref(), limit)).await??)
    }

    /// One trace; `not_found` when there is none.
    pub async fn trace(&self, id: &str) -> Result<Trace> {
        let (st, i) = (self.store().clone(), id.to_string());
        blocking(move || Traces::new(&st).get(&i)).await??.ok_or_else(|| Error::NotFound(format!("no trace {id:?}")))
    }

    /// Sessions, most recently active first.
    pub async fn sessions(&self, limit: usize) -> Result<Vec<super::memory::SessionSummary>> {
        let st = self.store().clone();
        Ok(blocking(move || SessionMemoryManager::new(&st).list(limit)).await??)
    }
}

/// `schema` without the properties in `fixed` (they are given, not extracted).
fn without(schema: &Value, fixed: &Map<String, Value>) -> Value {
    if fixed.is_empty() {
        return schema.clone();
    }
    let mut s = schema.clone();
    if let Some(props) = s.get_mut("properties").and_then(Value::as_object_mut) {
        props.retain(|k, _| !fixed.contains_key(k));
    }
    if let Some(req) = s.get_mut("required").and_then(Value::as_array_mut) {
        req.retain(|r| r.as_str().is_none_or(|r| !fixed.contains_key(r)));
    }
    s
}

/// Whether two requests say the same thing in other words: most of their words are shared.
fn same_request(a: &str, b: &str) -> bool {
    let words = |s: &str| -> std::collections::HashSet<String> {
        s.to_lowercase().split(|c: char| !c.is_alphanumeric()).filter(|w| w.len() > 2).map(str::to_string).collect()
    };
    let (a, b) = (words(a), words(b));
    let union = a.union(&b).count();
    union > 0 && a.intersection(&b).count() * 2 >= union
}
