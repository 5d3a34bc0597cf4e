//! QueryPlanner: how to answer a request — with which tool, a known pipeline, several steps, or
//! a tool yet to be written.
//!
//! Search alone is a poor judge of reuse: the right tool is in the top 5 for most requests but
//! often scores below any fixed threshold. So the planner shows the model the top candidates
//! (tools and composite tools, with docstrings and argument schemas, plus known workflow
//! patterns) and the model picks one, a multi-step plan, or none (a tool is then written). The
//! model is not asked when the answer is plain: an exact name, a candidate far above the rest,
//! or no candidate at all for a one-step request.

use std::collections::HashSet;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tracing::warn;

use crate::llm::{LlmClient, Stage};

use super::composite::CompositeTool;
use super::tracker::WorkflowPattern;

/// Candidates shown to the model. From `eval retrieval` on MetaTool (dev queries, no examples):
/// the right tool is first for 57.7% of queries and in the top 5 for 79.6%; the model is shown
/// 8, past the measured top 5, since a candidate costs the prompt ~100 tokens and a miss costs
/// a synthesis.
pub const CANDIDATES: usize = 8;
/// Candidates scoring below this are not shown. It sits under the whole measured curve (the
/// right tool scores ≥ 0.3 for 69% of queries), so it drops only what no query needed.
pub const PREFILTER: f32 = 0.2;
/// A top candidate at or above this, `CLEAR_GAP` ahead of the next, is taken without asking the
/// model: on MetaTool a wrong tool scores ≥ 0.75 for 0.1% of queries (≥ 0.5: 8.5%).
pub const CLEAR_SCORE: f32 = 0.75;
pub const CLEAR_GAP: f32 = 0.15;
/// When the user asks for a new tool, an existing one is still reused at this similarity (the
/// seed's rule: asking twice for the same tool should not write it twice).
pub const FORCE_REUSE_SCORE: f32 = 0.9;
/// Composite tools whose description scores below this are not shown.
pub const COMPOSITE_PREFILTER: f32 = 0.3;

/// The seed's strategies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// The user asked for a new tool.
    ForceSynthesis,
    /// A stored composite tool answers the request.
    CompositeTool,
    /// A known workflow pattern (a sequence of tools often run together) answers it.
    WorkflowPattern,
    /// Several independent sub-tasks whose results are combined.
    MultiToolComposition,
    /// Several steps in order, each using what the earlier ones produced.
    MultiToolSequential,
    /// One tool (an existing one, or one to write).
    Single,
}

impl Strategy {
    pub const ALL: [Strategy; 6] = [
        Strategy::ForceSynthesis,
        Strategy::CompositeTool,
        Strategy::WorkflowPattern,
        Strategy::MultiToolComposition,
        Strategy::MultiToolSequential,
        Strategy::Single,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::ForceSynthesis => "force_synthesis",
            Strategy::CompositeTool => "composite_tool",
            Strategy::WorkflowPattern => "workflow_pattern",
            Strategy::MultiToolComposition => "multi_tool_composition",
            Strategy::MultiToolSequential => "multi_tool_sequential",
            Strategy::Single => "single",
        }
    }

    fn parse(s: &str) -> Option<Strategy> {
        Strategy::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// Whether a candidate is a registered tool or a composite tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CandidateKind {
    Tool,
    Composite,
}

/// A tool the planner considered.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct PlanCandidate {
    pub name: String,
    pub kind: CandidateKind,
    /// Search similarity in [0, 1].
    pub score: f32,
    #[serde(skip)]
    pub docstring: String,
    #[serde(skip)]
    pub parameters: Value,
}

/// Who made the choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DecidedBy {
    /// A rule (exact name, clear match, nothing to choose from, a request for a new tool).
    Rule,
    /// The model, shown the candidates.
    Model,
}

/// The seed's plan: `strategy`, `reasoning`, `sub_tasks`, `composite_tool`, `pattern`, plus the
/// tool chosen for a one-step plan and what was considered.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Plan {
    pub strategy: Strategy,
    pub reasoning: String,
    /// The existing tool for `single` and `force_synthesis`; none: a tool is to be written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sub_tasks: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub composite_tool: Option<CompositeTool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<WorkflowPattern>,
    pub candidates: Vec<PlanCandidate>,
    pub decided_by: DecidedBy,
}

impl Plan {
    fn new(strategy: Strategy, reasoning: String, tool: Option<String>, input: &PlanInput<'_>, by: DecidedBy) -> Plan {
        Plan {
            strategy,
            reasoning,
            tool,
            sub_tasks: Vec::new(),
            composite_tool: None,
            pattern: None,
            candidates: input.tools.clone(),
            decided_by: by,
        }
    }
}

/// What the planner works from, gathered by the orchestrator.
pub struct PlanInput<'a> {
    /// The request as the user wrote it.
    pub prompt: &'a str,
    /// The request with the conversation before it (what the model is shown).
    pub prompt_with_context: &'a str,
    /// Tool candidates, best first.
    pub tools: Vec<PlanCandidate>,
    /// Composite candidates (already scored and filtered), best first.
    pub composites: Vec<(CompositeTool, f32)>,
    /// Known patterns whose tools are all registered.
    pub patterns: Vec<WorkflowPattern>,
    /// The tool the session's previous request used, if any.
    pub previous_tool: Option<String>,
}

/// Phrases by which a user asks for a new tool rather than an answer.
const NEW_TOOL_PHRASES: &[&str] = &[
    "create a tool",
    "create a new tool",
    "make a tool",
    "make a new tool",
    "write a tool",
    "write a new tool",
    "build a tool",
    "build a new tool",
    "generate a tool",
    "new tool",
    "synthesize a tool",
    "synthesise a tool",
    "create a function",
    "write a function",
];

/// Words that make a request a sequence of steps.
const STEP_WORDS: &[&str] = &[" then ", " and then ", "after that", "afterwards", "followed by", " finally ", "; "];

/// Whether the user asks for a new tool.
pub fn wants_new_tool(prompt: &str) -> bool {
    let p = format!(" {} ", prompt.to_lowercase());
    NEW_TOOL_PHRASES.iter().any(|x| p.contains(x))
}

/// Whether the request reads as several steps.
pub fn has_steps(prompt: &str) -> bool {
    let p = format!(" {} ", prompt.to_lowercase());
    STEP_WORDS.iter().any(|x| p.contains(x))
}

/// A candidate named in the request as a word (`run profit_margins on …`, `fibonacci of 12`).
fn named<'a>(prompt: &str, tools: &'a [PlanCandidate]) -> Option<&'a PlanCandidate> {
    let lower = prompt.to_lowercase();
    let words: HashSet<&str> = lower.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).collect();
    tools.iter().find(|t| words.contains(t.name.as_str()))
}

/// The decision that needs no model, if there is one.
pub fn by_rule(input: &PlanInput<'_>) -> Option<Plan> {
    let plan = |strategy, reasoning: String, tool: Option<String>| {
        Plan::new(strategy, reasoning, tool, input, DecidedBy::Rule)
    };
    let top = input.tools.first();
    if wants_new_tool(input.prompt) {
        return Some(match top.filter(|t| t.score >= FORCE_REUSE_SCORE) {
            Some(t) => plan(
                Strategy::ForceSynthesis,
                format!("a new tool was asked for, but {} matches it closely ({:.2}): reusing it", t.name, t.score),
                Some(t.name.clone()),
            ),
            None => plan(Strategy::ForceSynthesis, "the request asks for a new tool".into(), None),
        });
    }
    if has_steps(input.prompt) {
        return None;
    }
    if let Some(t) = named(input.prompt, &input.tools) {
        return Some(plan(Strategy::Single, format!("the request names the tool {}", t.name), Some(t.name.clone())));
    }
    if input.tools.is_empty() && input.composites.is_empty() && input.previous_tool.is_none() {
        return Some(plan(Strategy::Single, "no registered tool is close to the request: writing one".into(), None));
    }
    if let Some(t) = top
        && input.composites.is_empty()
    {
        let second = input.tools.get(1).map_or(0.0, |s| s.score);
        if t.score >= CLEAR_SCORE && t.score - second >= CLEAR_GAP {
            return Some(plan(
                Strategy::Single,
                format!("{} matches clearly ({:.2}, next {:.2})", t.name, t.score, second),
                Some(t.name.clone()),
            ));
        }
    }
    None
}

/// The reply schema of the `plan_execution` stage (strict subset).
fn reply_schema() -> Value {
    let strategies: Vec<&str> = Strategy::ALL.iter().map(|s| s.as_str()).collect();
    json!({
        "type": "object",
        "properties": {
            "strategy": {"type": "string", "enum": strategies},
            "reasoning": {"type": "string"},
            "tool": {"type": ["string", "null"]},
            "sub_tasks": {"type": "array", "items": {"type": "string"}},
            "composite_tool": {"type": ["string", "null"]},
            "pattern_id": {"type": ["string", "null"]}
        },
        "required": ["strategy", "reasoning", "tool", "sub_tasks", "composite_tool", "pattern_id"],
        "additionalProperties": false
    })
}

/// Most sub-tasks a plan may have: more is a model running away, not a request.
pub const MAX_SUB_TASKS: usize = 8;

fn prompts(input: &PlanInput<'_>) -> (String, String) {
    let system = "You plan how an agent answers a request with Python tools. Reply with one JSON object:\n\
        {\"strategy\": one of the strategies, \"reasoning\": one sentence, \"tool\": a candidate tool's name or null, \
        \"sub_tasks\": [step descriptions], \"composite_tool\": a composite's name or null, \"pattern_id\": a pattern's id or null}\n\
        Strategies:\n\
        - single: one tool answers it. Set \"tool\" to the candidate that does exactly what is asked; set null when none \
        does (a new tool will be written). A candidate that does something related but different is not a match.\n\
        - composite_tool: one of the composite tools does the whole request; name it in \"composite_tool\".\n\
        - workflow_pattern: one of the known patterns (tools run in that order) does the whole request; give its id.\n\
        - multi_tool_sequential: the request needs several steps in order, each using the previous one's result; \
        list them in \"sub_tasks\", each a self-contained request for one tool.\n\
        - multi_tool_composition: the request needs several independent results combined; list them in \"sub_tasks\".\n\
        - force_synthesis: the user explicitly asks for a new tool to be created.\n\
        Prefer reusing a candidate over writing a new tool when it does what is asked. Never name a tool that is not listed."
        .to_string();
    let mut user = format!("Request: {}\n", input.prompt_with_context);
    if let Some(p) = &input.previous_tool {
        user.push_str(&format!("\nThe previous request in this conversation used the tool {p}.\n"));
    }
    if input.tools.is_empty() {
        user.push_str("\nCandidate tools: none.\n");
    } else {
        user.push_str("\nCandidate tools (best search match first):\n");
        for t in &input.tools {
            let params = t.parameters.get("properties").cloned().unwrap_or(Value::Null);
            user.push_str(&format!(
                "- {} (score {:.2}): {}\n  arguments: {}\n",
                t.name,
                t.score,
                first_paragraph(&t.docstring),
                params
            ));
        }
    }
    if !input.composites.is_empty() {
        user.push_str("\nComposite tools (pipelines of the tools above):\n");
        for (c, score) in &input.composites {
            user.push_str(&format!("- {} (score {score:.2}): {} [{}]\n", c.name, c.description, c.tools().join(" → ")));
        }
    }
    if !input.patterns.is_empty() {
        user.push_str("\nKnown workflow patterns:\n");
        for p in &input.patterns {
            user.push_str(&format!("- {}: {} (run {} times)\n", p.id, p.tools.join(" → "), p.frequency));
        }
    }
    (system, user)
}

fn first_paragraph(doc: &str) -> String {
    let p = doc.trim().split("\n\n").next().unwrap_or("").replace('\n', " ");
    if p.chars().count() > 300 { format!("{}…", p.chars().take(300).collect::<String>()) } else { p }
}

/// Ask the model, and hold its reply to what was offered: a tool, composite or pattern it names
/// must be one shown, a multi-step plan needs two steps; otherwise the plan falls back to the
/// nearest honest reading (a tool to write, a single step).
pub async fn by_model(llm: &LlmClient, input: &PlanInput<'_>) -> crate::Result<Plan> {
    let (system, user) = prompts(input);
    let reply = llm.chat_structured(Stage::Other("plan_execution"), &system, &user, &reply_schema()).await?;
    let text = |k: &str| reply.get(k).and_then(Value::as_str).map(str::to_string);
    let mut strategy = text("strategy").as_deref().and_then(Strategy::parse).unwrap_or(Strategy::Single);
    let reasoning = text("reasoning").unwrap_or_default();
    let mut tool = text("tool").filter(|t| !t.is_empty());
    if let Some(t) = &tool
        && !input.tools.iter().any(|c| &c.name == t)
        && input.previous_tool.as_ref() != Some(t)
    {
        warn!(tool = %t, "the plan names a tool that was not offered; a new one will be written");
        tool = None;
    }
    let sub_tasks: Vec<String> = reply
        .get("sub_tasks")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter().filter_map(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
        })
        .unwrap_or_default();
    let mut plan = Plan::new(strategy, reasoning, tool, input, DecidedBy::Model);
    match strategy {
        Strategy::CompositeTool => {
            let name = text("composite_tool");
            plan.composite_tool =
                input.composites.iter().find(|(c, _)| Some(&c.name) == name.as_ref()).map(|(c, _)| c.clone());
            if plan.composite_tool.is_none() {
                warn!(?name, "the plan names a composite tool that was not offered");
                strategy = Strategy::Single;
            }
        }
        Strategy::WorkflowPattern => {
            let id = text("pattern_id");
            plan.pattern = input.patterns.iter().find(|p| Some(&p.id) == id.as_ref()).cloned();
            if plan.pattern.is_none() {
                warn!(?id, "the plan names a pattern that was not offered");
                strategy = Strategy::Single;
            }
        }
        Strategy::MultiToolComposition | Strategy::MultiToolSequential => {
            if sub_tasks.len() < 2 || sub_tasks.len() > MAX_SUB_TASKS {
                warn!(n = sub_tasks.len(), "a multi-step plan needs 2 to {MAX_SUB_TASKS} steps; answering in one");
                strategy = Strategy::Single;
            } else {
                plan.sub_tasks = sub_tasks;
            }
        }
        Strategy::ForceSynthesis | Strategy::Single => {}
    }
    plan.strategy = strategy;
    Ok(plan)
}
