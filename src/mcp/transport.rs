//! The stdio transport: newline-delimited JSON-RPC on stdin and stdout, where every bad line
//! gets an answer.
//!
//! rmcp's own stdio transport ignores a line that is not JSON (so as not to start an error
//! storm with a peer that echoes) and drops an oversized one with a log line: a client that sent
//! either would wait for ever. Here a line that is not JSON is answered with a parse error
//! (-32700, id null), well-formed JSON that is not a JSON-RPC message with an invalid-request
//! error (-32600) carrying its id when it has one, and a line longer than [`MAX_LINE_BYTES`]
//! with an invalid-request error — and the next line is read as usual. Notifications that do
//! not parse are dropped, as JSON-RPC says notifications are never answered. Writing is rmcp's.

use std::future::Future;

use rmcp::RoleServer;
use rmcp::model::{ErrorData, RequestId, ServerJsonRpcMessage};
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use rmcp::transport::async_rw::AsyncRwTransport;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, BufReader};
use tokio_util::sync::CancellationToken;

/// Longest message read by default, in bytes. A 10 MB argument fits; a client sending more is told so.
pub const MAX_LINE_BYTES: usize = 64 << 20;

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// See the module documentation.
pub struct LineTransport<R, W: AsyncWrite + Send + Unpin + 'static> {
    read: BufReader<R>,
    /// The line being read; it survives a cancelled `receive` (the service loop polls it in a
    /// `select!`), so a partly read message is resumed, never lost.
    line: Vec<u8>,
    /// Dropping the rest of an oversized line.
    discarding: bool,
    max_line: usize,
    write: AsyncRwTransport<RoleServer, tokio::io::Empty, W>,
    /// Cancelled at end of input: the client is gone, so work for it can stop.
    closed: CancellationToken,
}

impl<R: AsyncRead + Send + Unpin, W: AsyncWrite + Send + Unpin + 'static> LineTransport<R, W> {
    pub fn new(read: R, write: W) -> Self {
        LineTransport {
            read: BufReader::with_capacity(64 << 10, read),
            line: Vec::new(),
            discarding: false,
            max_line: MAX_LINE_BYTES,
            write: AsyncRwTransport::new_server(tokio::io::empty(), write),
            closed: CancellationToken::new(),
        }
    }

    /// Cancelled when the client closes its end (stdin reaches its end or fails).
    pub fn closed(&self) -> CancellationToken {
        self.closed.clone()
    }

    /// Another cap on a message's size.
    pub fn with_max_line(mut self, bytes: usize) -> Self {
        self.max_line = bytes;
        self
    }

    /// Answer a bad line. The write is spawned so that a `receive` dropped meanwhile loses nothing.
    fn answer(&mut self, error: ErrorData, id: Option<RequestId>) {
        tracing::debug!(code = error.code.0, message = %error.message, "answering a bad message");
        let send = self.write.send(ServerJsonRpcMessage::error(error, id));
        tokio::spawn(async move {
            if let Err(e) = send.await {
                tracing::warn!("cannot answer a bad message: {e}");
            }
        });
    }

    /// One whole line into `self.line` (without its newline); `Ok(false)` at end of input,
    /// `Err(len)` for a line past the cap (already skipped).
    async fn read_line(&mut self) -> std::io::Result<Result<bool, usize>> {
        loop {
            let (consumed, done, oversized) = {
                let available = self.read.fill_buf().await?;
                if available.is_empty() {
                    return Ok(Ok(false));
                }
                let newline = available.iter().position(|b| *b == b'\n');
                let take = newline.map_or(available.len(), |i| i + 1);
                if self.discarding {
                    (take, newline.is_some(), None)
                } else if self.line.len() + take > self.max_line {
                    let seen = self.line.len() + take;
                    self.line.clear();
                    self.discarding = newline.is_none();
                    (take, newline.is_some(), Some(seen))
                } else {
                    self.line.extend_from_slice(&available[..take]);
                    (take, newline.is_some(), None)
                }
            };
            // No await between the copy above and this consume: a cancelled read resumes.
            self.read.consume(consumed);
            if let Some(seen) = oversized {
                return Ok(Err(seen));
            }
            if done {
                if self.discarding {
                    self.discarding = false;
                    continue;
                }
                if self.line.last() == Some(&b'\n') {
                    self.line.pop();
                }
                if self.line.last() == Some(&b'\r') {
                    self.line.pop();
                }
                return Ok(Ok(true));
            }
        }
    }

    /// Parse the line read; `None` when it was answered (or dropped) instead.
    fn parse(&mut self) -> Option<RxJsonRpcMessage<RoleServer>> {
        let line = std::mem::take(&mut self.line);
        let text = line.strip_prefix(UTF8_BOM).unwrap_or(&line);
        if text.iter().all(u8::is_ascii_whitespace) {
            self.line = line;
            self.line.clear();
            return None;
        }
        let parsed = serde_json::from_slice::<RxJsonRpcMessage<RoleServer>>(text);
        let outcome = match parsed {
            Ok(message) => Some(message),
            Err(e)
                if matches!(e.classify(), serde_json::error::Category::Syntax | serde_json::error::Category::Eof) =>
            {
                self.answer(ErrorData::parse_error(format!("not JSON: {e}"), None), None);
                None
            }
            Err(e) => {
                let value: serde_json::Value = serde_json::from_slice(text).unwrap_or_default();
                let id = value.get("id").cloned();
                match id {
                    // A notification that does not parse: never answered, as JSON-RPC says.
                    None if value.get("method").is_some() => {
                        tracing::debug!("ignoring a notification that does not parse: {e}");
                    }
                    id => {
                        let id = id.and_then(|v| serde_json::from_value::<RequestId>(v).ok());
                        self.answer(ErrorData::invalid_request(format!("not a valid JSON-RPC request: {e}"), None), id);
                    }
                }
                None
            }
        };
        // Keep the buffer's capacity for the next line.
        self.line = line;
        self.line.clear();
        outcome
    }
}

impl<R, W> Transport<RoleServer> for LineTransport<R, W>
where
    R: AsyncRead + Send + Unpin,
    W: AsyncWrite + Send + Unpin + 'static,
{
    type Error = std::io::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleServer>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        self.write.send(item)
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleServer>> {
        loop {
            match self.read_line().await {
                Ok(Ok(true)) => {
                    if let Some(m) = self.parse() {
                        return Some(m);
                    }
                }
                Ok(Ok(false)) => {
                    self.closed.cancel();
                    return None;
                }
                Ok(Err(seen)) => {
                    let limit = self.max_line;
                    self.answer(
                        ErrorData::invalid_request(
                            format!(
                                "message refused: longer than {limit} bytes (at least {seen}); send large data in a file the tool is granted"
                            ),
                            None,
                        ),
                        None,
                    );
                }
                Err(e) => {
                    tracing::error!("cannot read stdin: {e}");
                    self.closed.cancel();
                    return None;
                }
            }
        }
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.write.close().await
    }
}
