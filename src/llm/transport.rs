//! POST JSON, get JSON: per-request timeout, bounded retries with exponential backoff and
//! `Retry-After`, and errors that name the endpoint and the stage.

use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde_json::Value;
use tracing::{debug, warn};

use super::config::LlmConfig;
use super::error::{LlmError, Stage, retryable_status};
use super::reply::snippet;

#[derive(Clone)]
pub(crate) struct Transport {
    http: reqwest::Client,
    base: String,
    api_key: Option<String>,
    timeout: Duration,
    max_attempts: u32,
    base_delay: Duration,
    max_delay: Duration,
}

/// What one attempt came to.
enum Attempt {
    /// Final: a usable reply, or an error retrying will not fix.
    Done(Result<Value, LlmError>),
    /// 429 or 5xx.
    Status { status: u16, body: String, retry_after: Option<Duration> },
    /// No answer: timeout, refused or dropped connection.
    NoAnswer { reason: String },
}

impl Transport {
    pub(crate) fn new(config: &LlmConfig) -> Result<Transport, LlmError> {
        let url = config.checked_base_url()?;
        let mut builder = reqwest::Client::builder().user_agent(concat!("toolsmith/", env!("CARGO_PKG_VERSION")));
        // A model on this machine is reached directly, whatever proxy the environment names.
        let loopback = match url.host_str() {
            Some("localhost") => true,
            Some(h) => h.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback()),
            None => false,
        };
        if loopback {
            builder = builder.no_proxy();
        }
        let http = builder.build().map_err(|e| LlmError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Transport {
            http,
            base: url.as_str().trim_end_matches('/').to_string(),
            api_key: config.api_key.clone(),
            timeout: config.timeout,
            max_attempts: config.max_attempts.max(1),
            base_delay: config.retry_base_delay,
            max_delay: config.max_retry_delay,
        })
    }

    /// `{base_url}/{path}`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.base)
    }

    /// GET `{base_url}/models` once, within `timeout`: whether the endpoint answers and accepts
    /// the key. No retries: this is a health check (`toolsmith doctor`), not a request.
    pub(crate) async fn probe(&self, timeout: Duration) -> Result<String, String> {
        let url = self.url("models");
        let mut req = self.http.get(&url).timeout(timeout);
        if let Some(key) = &self.api_key {
            req = req.bearer_auth(key);
        }
        let resp = req.send().await.map_err(|e| format!("{url}: {}", self.describe(&e)))?;
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        match status {
            200..=299 => {
                let models = serde_json::from_str::<Value>(&text)
                    .ok()
                    .and_then(|v| v.get("data").and_then(Value::as_array).map(Vec::len));
                Ok(match models {
                    Some(n) => format!("{url} answered: {n} models"),
                    None => format!("{url} answered"),
                })
            }
            401 | 403 => Err(format!("{url} refused the key (HTTP {status}): check OPENAI_API_KEY")),
            // Some servers have no model list; an answer is still an answer.
            404 | 405 => Ok(format!("{url} answered HTTP {status} (no model list; the endpoint is up)")),
            _ => Err(format!("{url} answered HTTP {status}: {}", error_message(&text))),
        }
    }

    /// POST `body` to `{base_url}/{path}` and parse the JSON reply, retrying 429, 5xx, timeouts
    /// and connection failures up to `max_attempts` times in all.
    pub(crate) async fn post(&self, stage: Stage, path: &str, body: &Value) -> Result<Value, LlmError> {
        let url = self.url(path);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let started = Instant::now();
            let (reason, retry_after, last) = match self.once(stage, &url, body, attempt).await {
                Attempt::Done(r) => {
                    debug!(%stage, %url, attempt, ms = started.elapsed().as_millis() as u64, ok = r.is_ok(), "model request done");
                    return r;
                }
                Attempt::Status { status, body, retry_after } => {
                    let reason = format!("HTTP {status}");
                    let last = LlmError::Status { stage, url: url.clone(), status, body, attempts: attempt };
                    (reason, retry_after, last)
                }
                Attempt::NoAnswer { reason } => {
                    let last =
                        LlmError::Unreachable { stage, url: url.clone(), attempts: attempt, reason: reason.clone() };
                    (reason, None, last)
                }
            };
            if attempt >= self.max_attempts {
                warn!(%stage, %url, attempts = attempt, "giving up: {reason}");
                return Err(last);
            }
            let delay = self.delay(attempt, retry_after);
            warn!(%stage, %url, attempt, delay_ms = delay.as_millis() as u64, "{reason}; trying again");
            tokio::time::sleep(delay).await;
        }
    }

    async fn once(&self, stage: Stage, url: &str, body: &Value, attempt: u32) -> Attempt {
        let mut req = self.http.post(url).json(body).timeout(self.timeout);
        if let Some(key) = &self.api_key {
            req = req.bearer_auth(key);
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => return Attempt::NoAnswer { reason: self.describe(&e) },
        };
        let status = resp.status().as_u16();
        let retry_after = parse_retry_after(resp.headers());
        let text = match resp.text().await {
            Ok(t) => t,
            Err(e) => return Attempt::NoAnswer { reason: self.describe(&e) },
        };
        if (200..300).contains(&status) {
            return Attempt::Done(serde_json::from_str(&text).map_err(|e| LlmError::BadReply {
                stage,
                url: url.to_string(),
                reason: format!("not JSON ({e}): {}", snippet(&text, 300)),
            }));
        }
        let body = error_message(&text);
        if retryable_status(status) {
            Attempt::Status { status, body, retry_after }
        } else {
            Attempt::Done(Err(LlmError::Status { stage, url: url.to_string(), status, body, attempts: attempt }))
        }
    }

    fn describe(&self, e: &reqwest::Error) -> String {
        if e.is_timeout() {
            return format!("timed out after {:.1} s", self.timeout.as_secs_f64());
        }
        // reqwest's own message names the URL, which the error already does: keep the causes.
        let mut causes = Vec::new();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            let msg = s.to_string();
            if !causes.iter().any(|c: &String| c.contains(&msg)) {
                causes.push(msg);
            }
            source = s.source();
        }
        let kind = if e.is_connect() { "cannot connect" } else { "the connection failed" };
        if causes.is_empty() { format!("{kind}: {e}") } else { format!("{kind}: {}", causes.join(": ")) }
    }

    /// The server's `Retry-After` when it gave one, otherwise `base · 2^(attempt-1)` plus up to
    /// 10 % jitter; never more than `max_retry_delay`.
    fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let d = retry_after.unwrap_or_else(|| {
            let backoff = self.base_delay.saturating_mul(1u32 << (attempt - 1).min(16));
            let jitter = std::collections::hash_map::RandomState::new().build_hasher().finish() % 1000;
            backoff + backoff.mul_f64(jitter as f64 / 10_000.0)
        });
        d.min(self.max_delay)
    }
}

/// `Retry-After` in seconds (fractions accepted). HTTP dates are ignored: backoff applies.
fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim().parse::<f64>().ok()?;
    Duration::try_from_secs_f64(v).ok()
}

/// The useful part of an error body: OpenAI's `{"error": {"message": …}}`, or the body itself,
/// cut short.
fn error_message(text: &str) -> String {
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        let msg = v
            .pointer("/error/message")
            .or_else(|| v.get("error"))
            .or_else(|| v.get("message"))
            .or_else(|| v.get("detail"))
            .and_then(Value::as_str);
        if let Some(m) = msg {
            return snippet(m, 300);
        }
    }
    snippet(text, 300)
}
