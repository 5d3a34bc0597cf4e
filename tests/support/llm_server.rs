//! A scripted OpenAI-compatible server for tests: a real HTTP/1.1 server on 127.0.0.1 that
//! answers `POST …/chat/completions` and `POST …/embeddings` from queues of replies, and
//! records every request so tests can assert on prompts.
//!
//! Hand-rolled HTTP on tokio (request line, headers, `Content-Length` body, keep-alive): enough
//! for reqwest, and no extra dependency. It runs on its own thread and runtime, so sync tests
//! (e.g. ones that spawn the `toolsmith` binary with `OPENAI_BASE_URL`) and `#[tokio::test]`s
//! can both use it. Dropping the server stops it and closes every connection.
//!
//! ```ignore
//! let server = LlmServer::start();
//! server.on_chat([Reply::status(429), Reply::chat("```python\ndef f(): ...\n```")]);
//! server.on_embeddings([Reply::embedding(vec![0.1, 0.2])]);
//! let llm = LlmClient::new(LlmConfig::local(server.base_url()))?;
//! …
//! assert_eq!(server.chat_requests().len(), 2);
//! assert!(server.chat_requests()[1].user().contains("factorial"));
//! ```
//!
//! When a queue is empty the server answers 400 with a message saying so, which the client
//! reports without retrying: a test that asks more than it scripted fails clearly.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Which endpoint a request was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    Chat,
    Embeddings,
}

impl Route {
    fn of(path: &str) -> Option<Route> {
        let path = path.split('?').next().unwrap_or(path).trim_end_matches('/');
        if path.ends_with("/chat/completions") {
            Some(Route::Chat)
        } else if path.ends_with("/embeddings") {
            Some(Route::Embeddings)
        } else {
            None
        }
    }
}

#[derive(Debug, Clone)]
enum Action {
    Respond,
    /// Read the request, never answer (until the server is dropped): forces a client timeout.
    Hang,
    /// Read the request, close the connection without a word.
    Disconnect,
}

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    status: u16,
    body: String,
    headers: Vec<(String, String)>,
    delay: Option<Duration>,
    action: Action,
}

impl Reply {
    /// 200 with a raw body (JSON content type).
    pub fn raw(status: u16, body: impl Into<String>) -> Reply {
        Reply { status, body: body.into(), headers: Vec::new(), delay: None, action: Action::Respond }
    }

    pub fn json(status: u16, body: Value) -> Reply {
        Reply::raw(status, body.to_string())
    }

    /// A chat completion whose assistant message is `content`.
    pub fn chat(content: impl Into<String>) -> Reply {
        Reply::json(
            200,
            json!({
                "id": "chatcmpl-scripted",
                "object": "chat.completion",
                "created": 0,
                "model": "scripted",
                "choices": [{
                    "index": 0,
                    "message": {"role": "assistant", "content": content.into()},
                    "finish_reason": "stop",
                }],
                "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
            }),
        )
    }

    /// A chat completion whose content is `value` as JSON text.
    pub fn chat_json(value: Value) -> Reply {
        Reply::chat(value.to_string())
    }

    /// An embeddings reply with one vector.
    pub fn embedding(vector: Vec<f32>) -> Reply {
        Reply::embeddings(vec![vector])
    }

    /// An embeddings reply with one vector per input, `index` in order.
    pub fn embeddings(vectors: Vec<Vec<f32>>) -> Reply {
        let data: Vec<Value> = vectors
            .into_iter()
            .enumerate()
            .map(|(i, v)| json!({"object": "embedding", "index": i, "embedding": v}))
            .collect();
        Reply::json(200, json!({"object": "list", "data": data, "model": "scripted"}))
    }

    /// An error status with an OpenAI-shaped body: `{"error": {"message": "scripted HTTP 429", …}}`.
    pub fn status(status: u16) -> Reply {
        Reply::error(status, &format!("scripted HTTP {status}"))
    }

    /// An error status with an OpenAI-shaped body carrying `message`.
    pub fn error(status: u16, message: &str) -> Reply {
        Reply::json(status, json!({"error": {"message": message, "type": "scripted", "code": status}}))
    }

    /// Never answer: the client's timeout fires.
    pub fn hang() -> Reply {
        Reply { action: Action::Hang, ..Reply::raw(0, "") }
    }

    /// Close the connection after reading the request.
    pub fn disconnect() -> Reply {
        Reply { action: Action::Disconnect, ..Reply::raw(0, "") }
    }

    /// Add a response header, e.g. `.header("Retry-After", "1")`.
    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Wait this long before answering.
    pub fn delay(mut self, delay: Duration) -> Reply {
        self.delay = Some(delay);
        self
    }
}

/// A request the server received (recorded before it is answered, so hung ones count too).
#[derive(Debug, Clone)]
pub struct Recorded {
    pub route: Option<Route>,
    pub method: String,
    pub path: String,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }

    /// The body as JSON (`Null` if it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    fn message(&self, role: &str) -> String {
        let body = self.json();
        let messages = body.get("messages").and_then(Value::as_array).cloned().unwrap_or_default();
        messages
            .iter()
            .filter(|m| m.get("role").and_then(Value::as_str) == Some(role))
            .filter_map(|m| m.get("content").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The system message(s) of a chat request.
    pub fn system(&self) -> String {
        self.message("system")
    }

    /// The user message(s) of a chat request.
    pub fn user(&self) -> String {
        self.message("user")
    }

    /// System and user messages together: what the model was told.
    pub fn prompt(&self) -> String {
        format!("{}\n{}", self.system(), self.user())
    }
}

#[derive(Default)]
struct State {
    queues: HashMap<Route, VecDeque<Reply>>,
    requests: Vec<Recorded>,
}

/// The server. See the module documentation.
pub struct LlmServer {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    arrived: Arc<std::sync::Condvar>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LlmServer {
    /// Bind 127.0.0.1 on a free port and serve on a thread of its own.
    pub fn start() -> LlmServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).expect("non-blocking listener");
        let addr = listener.local_addr().expect("local address");
        let state = Arc::new(Mutex::new(State::default()));
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        let served = state.clone();
        // Signalled whenever a request is recorded (see `wait_for_chat`).
        let arrived = Arc::new(std::sync::Condvar::new());
        let signal = arrived.clone();
        let thread = std::thread::Builder::new()
            .name(format!("llm-server-{}", addr.port()))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("server runtime");
                rt.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                    loop {
                        tokio::select! {
                            _ = &mut rx => break,
                            accepted = listener.accept() => {
                                if let Ok((stream, _)) = accepted {
                                    tokio::spawn(serve(stream, served.clone(), signal.clone()));
                                }
                            }
                        }
                    }
                });
                // Dropping the runtime cancels every connection task, hung ones included.
                drop(rt);
            })
            .expect("spawn the server thread");
        LlmServer { addr, state, arrived, shutdown: Some(tx), thread: Some(thread) }
    }

    /// `http://127.0.0.1:PORT/v1`: what `OPENAI_BASE_URL` or `LlmConfig::base_url` is set to.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Queue replies for `/chat/completions`, answered in order.
    pub fn on_chat(&self, replies: impl IntoIterator<Item = Reply>) -> &Self {
        self.push(Route::Chat, replies)
    }

    /// Queue replies for `/embeddings`, answered in order.
    pub fn on_embeddings(&self, replies: impl IntoIterator<Item = Reply>) -> &Self {
        self.push(Route::Embeddings, replies)
    }

    fn push(&self, route: Route, replies: impl IntoIterator<Item = Reply>) -> &Self {
        self.state.lock().unwrap().queues.entry(route).or_default().extend(replies);
        self
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }

    pub fn chat_requests(&self) -> Vec<Recorded> {
        self.requests().into_iter().filter(|r| r.route == Some(Route::Chat)).collect()
    }

    pub fn embedding_requests(&self) -> Vec<Recorded> {
        self.requests().into_iter().filter(|r| r.route == Some(Route::Embeddings)).collect()
    }

    /// Block until `n` chat requests have arrived (or `timeout` passed): a test that must act
    /// while the client waits on a reply (kill it, say) waits for that request, not for a time.
    pub fn wait_for_chat(&self, n: usize, timeout: Duration) -> bool {
        let guard = self.state.lock().unwrap();
        let count = |s: &State| s.requests.iter().filter(|r| r.route == Some(Route::Chat)).count();
        let (guard, _) = self.arrived.wait_timeout_while(guard, timeout, |s| count(s) < n).unwrap();
        count(&guard) >= n
    }

    /// Scripted replies not used yet for `route`.
    pub fn unused(&self, route: Route) -> usize {
        self.state.lock().unwrap().queues.get(&route).map_or(0, VecDeque::len)
    }
}

impl Drop for LlmServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Answer requests on one connection until the client closes it.
async fn serve(mut stream: TcpStream, state: Arc<Mutex<State>>, arrived: Arc<std::sync::Condvar>) {
    let mut buf = Vec::new();
    loop {
        let Some(request) = read_request(&mut stream, &mut buf).await else { return };
        let reply = {
            let mut s = state.lock().unwrap();
            s.requests.push(request.clone());
            arrived.notify_all();
            let n = s.requests.len();
            match request.route {
                Some(route) => s.queues.get_mut(&route).and_then(VecDeque::pop_front).unwrap_or_else(|| {
                    Reply::error(
                        400,
                        &format!("llm_server: nothing scripted for {} {} (request {n})", request.method, request.path),
                    )
                }),
                None => Reply::error(404, &format!("llm_server: no route {} {}", request.method, request.path)),
            }
        };
        match reply.action {
            Action::Hang => std::future::pending::<()>().await,
            Action::Disconnect => return,
            Action::Respond => {}
        }
        if let Some(d) = reply.delay {
            tokio::time::sleep(d).await;
        }
        let mut head = format!(
            "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
            reply.status,
            reason(reply.status),
            reply.body.len()
        );
        for (k, v) in &reply.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        let written = async {
            stream.write_all(head.as_bytes()).await?;
            stream.write_all(reply.body.as_bytes()).await?;
            stream.flush().await
        };
        if written.await.is_err() {
            return;
        }
    }
}

/// One request: head up to the blank line, then `Content-Length` bytes of body. `None` when the
/// connection closes (or sends something this server does not speak).
async fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Recorded> {
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split_whitespace();
    let (method, path) = (first.next()?.to_string(), first.next()?.to_string());
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len: usize = headers.iter().find(|(k, _)| k == "content-length").map_or(Some(0), |(_, v)| v.parse().ok())?;
    let body_start = head_end + 4;
    while buf.len() < body_start + len {
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = String::from_utf8_lossy(&buf[body_start..body_start + len]).into_owned();
    buf.drain(..body_start + len);
    Some(Recorded { route: Route::of(&path), method, path, headers, body })
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Scripted",
    }
}
