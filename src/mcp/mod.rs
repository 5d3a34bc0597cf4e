//! The MCP server (`toolsmith serve`): the facade as MCP tools, over stdio.
//!
//! Both eras of the protocol are served by the same handler: a client that starts with the
//! `initialize` handshake (2025-11-25 and older) gets a session, one that sends
//! self-describing requests (2026-07-28: `server/discover`, `_meta` on every request,
//! `subscriptions/listen`) is served statelessly; rmcp tells them apart. The built-in tools
//! ([`tools`]) each call one facade method; every registered tool is also served under its own
//! name. Long operations run as [`jobs`] that report progress, stop when cancelled, and may
//! borrow the client's model. [`transport`] answers malformed input instead of ignoring it.
//!
//! Only this module knows MCP. stdout carries nothing but the protocol; logs go to stderr.

pub mod jobs;
pub mod server;
pub mod tools;
pub mod transport;

use std::time::Duration;

use rmcp::ServiceExt;
use rmcp::service::ServerInitializeError;
use tokio_util::sync::CancellationToken;

pub use server::{DEFAULT_PAGE_SIZE, INSTRUCTIONS, ServeOptions, Server};

use crate::Toolsmith;
use crate::error::Result;

/// How often the store is checked for changes made by other processes (a CLI `tools add`
/// while the server runs), so clients hear of them too.
pub const WATCH_INTERVAL: Duration = Duration::from_secs(2);

/// Serve MCP on stdin/stdout until the client closes stdin.
pub async fn serve_stdio(ts: Toolsmith, opts: ServeOptions) -> Result<()> {
    let (read, write) = rmcp::transport::stdio_pipes();
    let transport = transport::LineTransport::new(read, write).with_max_line(opts.max_message_bytes);
    let closed = transport.closed();
    serve(ts, opts, transport, closed).await
}

/// Serve MCP over `transport` until it closes; `closed` is cancelled when the client's end
/// closes, which stops work still under way for it (rmcp would otherwise wait for it).
pub async fn serve<T>(ts: Toolsmith, opts: ServeOptions, transport: T, closed: CancellationToken) -> Result<()>
where
    T: rmcp::transport::Transport<rmcp::RoleServer, Error = std::io::Error> + 'static,
{
    let server = Server::new(ts.clone(), opts, closed).await?;
    // Load the runtime and the search index while the client starts, not on its first call.
    let warm = ts.clone();
    tokio::spawn(async move {
        if let Err(e) = warm.runtime().await {
            tracing::warn!("the runtime is not available: {e}");
        }
        if let Err(e) = warm.registry().await {
            tracing::warn!("the search index is not available: {e}");
        }
    });
    let running = match server.clone().serve(transport).await {
        Ok(r) => r,
        // The client went away before saying anything: nothing to serve.
        Err(ServerInitializeError::ConnectionClosed(_)) => return Ok(()),
        Err(e) => return Err(crate::Error::Internal(format!("MCP session did not start: {e}"))),
    };
    server.set_peer(running.peer().clone());
    let watcher = server.clone();
    let watch = tokio::spawn(async move {
        let mut tick = tokio::time::interval(WATCH_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            watcher.tools_changed().await;
        }
    });
    let quit = running.waiting().await;
    watch.abort();
    tracing::info!(?quit, "MCP session ended");
    Ok(())
}
