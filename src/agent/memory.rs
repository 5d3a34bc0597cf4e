//! SessionMemoryManager: a conversation's messages, so that "now do the same for 7" means
//! something after "factorial of 5".

use rusqlite::{OptionalExtension, params};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::registry::store::now;
use crate::registry::{Store, StoreError};

/// Messages of the history put in front of a new request by default.
pub const DEFAULT_CONTEXT_MESSAGES: usize = 10;
/// Longest message quoted into a prompt, in characters; longer ones are cut (with a mark).
pub const MAX_QUOTED_CHARS: usize = 2000;

/// One message of a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Message {
    /// `user` or `assistant`.
    pub role: String,
    pub content: String,
    pub created_at: String,
}

/// A line of `sessions list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SessionSummary {
    pub id: String,
    pub created_at: String,
    pub last_active_at: String,
    pub messages: u64,
}

/// Sessions and their messages, in the store's database.
pub struct SessionMemoryManager<'a> {
    store: &'a Store,
}

fn db(source: rusqlite::Error) -> StoreError {
    StoreError::Db { path: "sessions".into(), source }
}

impl<'a> SessionMemoryManager<'a> {
    pub fn new(store: &'a Store) -> SessionMemoryManager<'a> {
        SessionMemoryManager { store }
    }

    /// The seed's `start_session`: the session `id` (created when new), or a new one.
    pub fn start_session(&self, id: Option<&str>) -> Result<String, StoreError> {
        let id = id.map(str::to_string).unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let at = now();
        self.store
            .with_connection(|c| {
                c.execute(
                    "INSERT INTO sessions VALUES (?1, ?2, ?2) ON CONFLICT(id) DO UPDATE SET last_active_at = ?2",
                    params![id, at],
                )
            })?
            .map_err(db)?;
        Ok(id)
    }

    /// The most recently active sessions first, at most `limit`.
    pub fn list(&self, limit: usize) -> Result<Vec<SessionSummary>, StoreError> {
        self.store
            .with_connection(|c| -> rusqlite::Result<Vec<SessionSummary>> {
                let mut stmt = c.prepare_cached(
                    "SELECT s.id, s.created_at, s.last_active_at, (SELECT COUNT(*) FROM messages m WHERE m.session_id = s.id)
                     FROM sessions s ORDER BY s.last_active_at DESC, s.rowid DESC LIMIT ?1",
                )?;
                let rows = stmt.query_map([limit as i64], |r| {
                    Ok(SessionSummary {
                        id: r.get(0)?,
                        created_at: r.get(1)?,
                        last_active_at: r.get(2)?,
                        messages: r.get::<_, i64>(3)? as u64,
                    })
                })?;
                rows.collect()
            })?
            .map_err(db)
    }

    /// Whether a session of this id exists.
    pub fn exists(&self, id: &str) -> Result<bool, StoreError> {
        self.store
            .with_connection(|c| c.query_row("SELECT 1 FROM sessions WHERE id = ?1", [id], |_| Ok(())).optional())?
            .map(|o| o.is_some())
            .map_err(db)
    }

    /// The seed's `append_message` (the session is created if it is new).
    pub fn append_message(&self, session_id: &str, role: &str, content: &str) -> Result<(), StoreError> {
        self.start_session(Some(session_id))?;
        self.store
            .with_connection(|c| {
                c.execute(
                    "INSERT INTO messages (session_id, role, content, created_at) VALUES (?1, ?2, ?3, ?4)",
                    params![session_id, role, content, now()],
                )
            })?
            .map_err(db)?;
        Ok(())
    }

    /// The seed's `get_recent_messages`: the latest `limit`, oldest first.
    pub fn get_recent_messages(&self, session_id: &str, limit: usize) -> Result<Vec<Message>, StoreError> {
        let mut messages = self
            .store
            .with_connection(|c| -> rusqlite::Result<Vec<Message>> {
                let mut stmt = c.prepare_cached(
                    "SELECT role, content, created_at FROM messages WHERE session_id = ?1 ORDER BY id DESC LIMIT ?2",
                )?;
                let rows = stmt.query_map(params![session_id, limit as i64], |r| {
                    Ok(Message { role: r.get(0)?, content: r.get(1)?, created_at: r.get(2)? })
                })?;
                rows.collect()
            })?
            .map_err(db)?;
        messages.reverse();
        Ok(messages)
    }

    /// The seed's `build_prompt_with_context`: the recent conversation, then the new request.
    /// With no history the request is returned as it is.
    pub fn build_prompt_with_context(&self, session_id: &str, user_prompt: &str) -> Result<String, StoreError> {
        let history = self.get_recent_messages(session_id, DEFAULT_CONTEXT_MESSAGES)?;
        if history.is_empty() {
            return Ok(user_prompt.to_string());
        }
        let mut s = String::from("Conversation so far (oldest first):\n");
        for m in &history {
            let mut text: String = m.content.chars().take(MAX_QUOTED_CHARS).collect();
            if m.content.chars().count() > MAX_QUOTED_CHARS {
                text.push_str(" […]");
            }
            s.push_str(&format!("{}: {}\n", m.role, text));
        }
        s.push_str("\nCurrent request (it may refer to the conversation above): ");
        s.push_str(user_prompt);
        Ok(s)
    }
}
