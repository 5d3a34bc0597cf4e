//! Long operations (`create_tool`, `synthesize_capability`) and the client's model.
//!
//! A long operation runs as a task of its own, a [`Job`], and the request waiting on it drives
//! it: the job's stage events become progress notifications of that request, and when the job
//! asks the client's model something the request answers it —
//! - on a handshake session by sending `sampling/createMessage` and waiting for the reply;
//! - on a 2026-07-28 session, where the server may not send requests, by returning an
//!   input-required result holding the create-message request. The job stays parked here,
//!   keyed by the opaque `requestState`, until the client retries the call with the model's
//!   answer; the retry's request then drives the job on (and gets its progress).
//!
//! Dropping a job (the request was cancelled, the client went away, a parked job expired)
//! aborts its task: the pipeline's future is dropped with it, and its guards undo what is half
//! done, so nothing half-registered is left.

// Sampling is deprecated by SEP-2577, but it is how a client lends its model: on handshake
// sessions as a request, on 2026-07-28 ones inside an input-required result.
#![allow(deprecated)]

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rmcp::model::{
    CallToolResult, CreateMessageRequest, CreateMessageRequestParams, CreateMessageResult, InputRequest, InputRequests,
    InputRequiredResult, InputResponses, ProgressNotificationParam, ProgressToken, SamplingMessage,
};
use rmcp::service::{Peer, RoleServer};
use tokio::sync::{mpsc, oneshot};

use crate::llm::{Completion, ModelDelegate, ModelRequest};
use crate::synthesis::{Step, SynthesisEvent};

/// A parked job whose client never came back is dropped after this long.
pub const PARKED_TTL: Duration = Duration::from_secs(15 * 60);

/// The key of the one input request a job asks at a time.
const INPUT_KEY: &str = "model";

/// Where a request wants its progress: its peer and progress token.
#[derive(Clone)]
pub struct Progress {
    pub peer: Peer<RoleServer>,
    pub token: ProgressToken,
}

/// A model request of the job, with where its answer goes.
struct Ask {
    request: ModelRequest,
    reply: oneshot::Sender<Result<String, String>>,
}

/// The job's side of the client's model: each request is handed to whichever request is
/// driving the job.
struct JobModel {
    asks: mpsc::Sender<Ask>,
}

impl ModelDelegate for JobModel {
    fn describe(&self) -> String {
        "the MCP client's model (sampling)".into()
    }

    fn complete(&self, request: ModelRequest) -> Completion<'_> {
        Box::pin(async move {
            let (reply, answer) = oneshot::channel();
            self.asks.send(Ask { request, reply }).await.map_err(|_| "the call was abandoned".to_string())?;
            answer.await.map_err(|_| "the call was cancelled before the client answered".to_string())?
        })
    }
}

/// What a job's body gets: where its events go and the client's model.
pub struct JobContext {
    pub events: Arc<dyn Fn(&SynthesisEvent) + Send + Sync>,
    pub model: Arc<dyn ModelDelegate>,
}

/// What driving a job came to.
pub enum Driven {
    Done(CallToolResult),
    /// The job waits for the client's model.
    NeedsModel(ModelRequest),
}

/// See the module documentation.
pub struct Job {
    /// The MCP tool whose call started it: a retry must name the same one.
    pub tool: String,
    /// What it works on, for logs (the new tool's name, or the request).
    label: String,
    events: mpsc::UnboundedReceiver<SynthesisEvent>,
    asks: mpsc::Receiver<Ask>,
    task: Option<tokio::task::JoinHandle<CallToolResult>>,
    /// Where the client's answer to the pending model request goes.
    parked: Option<oneshot::Sender<Result<String, String>>>,
    /// Progress notifications sent so far (their `progress` only grows, across requests).
    sent: u32,
    stage: Option<Step>,
}

impl Job {
    /// Start `body` as a task of its own, for a call of `tool`.
    pub fn start<F, Fut>(tool: &str, label: &str, body: F) -> Job
    where
        F: FnOnce(JobContext) -> Fut,
        Fut: Future<Output = CallToolResult> + Send + 'static,
    {
        let (events_tx, events) = mpsc::unbounded_channel();
        let (asks_tx, asks) = mpsc::channel(1);
        let cx = JobContext {
            events: Arc::new(move |e: &SynthesisEvent| {
                let _ = events_tx.send(e.clone());
            }),
            model: Arc::new(JobModel { asks: asks_tx }),
        };
        let task = tokio::spawn(body(cx));
        Job {
            tool: tool.to_string(),
            label: label.to_string(),
            events,
            asks,
            task: Some(task),
            parked: None,
            sent: 0,
            stage: None,
        }
    }

    /// Run the job until it finishes or asks the client's model, sending its events as
    /// progress of `progress`'s request (all of them before this returns).
    pub async fn drive(&mut self, progress: Option<&Progress>) -> Driven {
        // Borrowed field by field: the task is polled while events are reported.
        let Job { events, asks, task, parked, sent, stage, .. } = self;
        let Some(running) = task.as_mut() else {
            return Driven::Done(internal("the job already finished"));
        };
        let outcome = loop {
            tokio::select! {
                biased;
                Some(e) = events.recv() => report(progress, &e, sent, stage).await,
                Some(ask) = asks.recv() => {
                    *parked = Some(ask.reply);
                    break Driven::NeedsModel(ask.request);
                }
                r = &mut *running => {
                    *task = None;
                    break Driven::Done(r.unwrap_or_else(|e| internal(&format!("the job failed: {e}"))));
                }
            }
        };
        while let Ok(e) = events.try_recv() {
            report(progress, &e, sent, stage).await;
        }
        outcome
    }

    /// Hand the client's answer (or why there is none) to the pending model request.
    pub fn answer(&mut self, reply: Result<String, String>) {
        if let Some(tx) = self.parked.take() {
            let _ = tx.send(reply);
        }
    }
}

/// One event as a progress notification of `progress`'s request (counted in `sent`).
async fn report(progress: Option<&Progress>, e: &SynthesisEvent, sent: &mut u32, stage: &mut Option<Step>) {
    if let SynthesisEvent::StageStarted { stage: s } = e {
        *stage = Some(*s);
    }
    let Some(p) = progress else { return };
    *sent += 1;
    let param = ProgressNotificationParam::new(p.token.clone(), f64::from(*sent)).with_message(e.describe());
    if let Err(err) = p.peer.notify_progress(param).await {
        tracing::debug!("cannot send progress: {err}");
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let stage = self.stage.map(Step::as_str).unwrap_or("its start");
            if self.stage == Some(Step::Register) {
                tracing::info!(call = %self.tool, of = %self.label, "cancelled during register: the registration under way completes");
            } else {
                tracing::info!(call = %self.tool, of = %self.label, "cancelled during {stage}: nothing was registered");
            }
        }
    }
}

fn internal(msg: &str) -> CallToolResult {
    super::tools::error_result(&crate::Error::Internal(msg.to_string()))
}

/// Jobs parked between the rounds of a 2026-07-28 call, by `requestState`.
#[derive(Default)]
pub struct Parked {
    jobs: Mutex<HashMap<String, (Job, Instant)>>,
}

impl Parked {
    /// Park `job`; its new opaque handle. Jobs parked for longer than [`PARKED_TTL`] go.
    pub fn park(&self, job: Job) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        let expired: Vec<Job> = {
            let mut jobs = self.jobs.lock().expect("not poisoned");
            let stale: Vec<String> =
                jobs.iter().filter(|(_, (_, at))| at.elapsed() > PARKED_TTL).map(|(k, _)| k.clone()).collect();
            let expired = stale.iter().filter_map(|k| jobs.remove(k)).map(|(j, _)| j).collect();
            jobs.insert(id.clone(), (job, Instant::now()));
            expired
        };
        // Dropped outside the lock: dropping aborts and logs.
        drop(expired);
        id
    }

    /// Park `job` again under the handle it had (a retry that was not its own).
    pub fn put_back(&self, id: &str, job: Job) {
        self.jobs.lock().expect("not poisoned").insert(id.to_string(), (job, Instant::now()));
    }

    pub fn take(&self, id: &str) -> Option<Job> {
        self.jobs.lock().expect("not poisoned").remove(id).map(|(j, _)| j)
    }
}

/// The create-message request for a model request.
pub fn create_message(r: &ModelRequest) -> CreateMessageRequestParams {
    let mut p = CreateMessageRequestParams::new(vec![SamplingMessage::user_text(r.user.clone())], r.max_tokens);
    p.system_prompt = Some(r.system.clone());
    p.metadata = Some(serde_json::json!({"toolsmith_stage": r.stage.as_str(), "json": r.want_json}));
    p
}

/// The text of a create-message result.
pub fn reply_text(r: &CreateMessageResult) -> String {
    r.message.content.clone().into_vec().iter().filter_map(|c| c.as_text().map(|t| t.text.clone())).collect()
}

/// The input-required result asking the client's model `r`, to be answered under `state`.
pub fn input_required(r: &ModelRequest, state: String) -> InputRequiredResult {
    let mut requests = InputRequests::new();
    requests.insert(INPUT_KEY.into(), InputRequest::CreateMessage(CreateMessageRequest::new(create_message(r))));
    InputRequiredResult::new(Some(requests), Some(state))
}

/// The model's text from a retry's input responses, or why it is not there.
pub fn answer_from(responses: Option<&InputResponses>) -> Result<String, String> {
    let value = responses
        .and_then(|r| r.get(INPUT_KEY))
        .ok_or_else(|| format!("the retry carries no inputResponses.{INPUT_KEY}"))?;
    let result: CreateMessageResult = serde_json::from_value(value.clone())
        .map_err(|e| format!("inputResponses.{INPUT_KEY} is not a create-message result: {e}"))?;
    Ok(reply_text(&result))
}

/// Ask the client's model on a handshake session: `sampling/createMessage`.
pub async fn sample(peer: &Peer<RoleServer>, request: &ModelRequest) -> Result<String, String> {
    #[expect(deprecated, reason = "sampling is how a handshake-era client lends its model")]
    let r = peer.create_message(create_message(request)).await;
    r.map(|m| reply_text(&m)).map_err(|e| format!("the client did not answer: {e}"))
}
