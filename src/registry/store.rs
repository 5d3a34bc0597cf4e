//! The store: an embedded SQLite database plus one directory of files per tool.
//!
//! Tool files live in `tools/<name>/` (`tool.py`, `test_tool.py`, `tool.bytecode`, `meta.json`)
//! so a person can read them; the database holds the metadata, usage and history, and is the
//! source of truth for what is registered. A tool directory without a row is debris of an
//! interrupted registration, removed by the next writer; a row without its directory is an
//! orphan (`cleanup_orphaned_tools`).
//!
//! Registration order, so that a crash at any point leaves all or nothing:
//! 1. write every file into `tools/.staging-<pid>-<uuid>/`;
//! 2. under the home's write lock, in one transaction: insert the row, bump the generation,
//!    rename the staging directory into place, commit. A crash before the commit leaves a
//!    directory without a row (debris); the search indexes record the generation they were built
//!    from and are rebuilt when it differs.
//!
//! Several processes share a home (a CLI command while the server runs). Debris is only what no
//! live process owns: a staging directory whose process is gone, or an unclaimed directory seen
//! under the write lock (the only place a rename and its commit happen).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::examples::{Example, ExampleSource, MAX_EXAMPLES_PER_TOOL, clean, clean_all, normalized};
use super::lock::{HomeLock, ReadLock, WriteLock};

/// Staging directories are `.staging-<pid>-<uuid>`: the pid tells debris from work in progress.
const STAGING_PREFIX: &str = ".staging-";

/// Each entry upgrades the schema by one version (`PRAGMA user_version`). Never edit a shipped
/// entry: append a new one.
const MIGRATIONS: &[&str] = &[
    // 1: tools, their executions, and store-wide counters.
    "CREATE TABLE tools (
        name TEXT PRIMARY KEY,
        docstring TEXT NOT NULL,
        code TEXT NOT NULL,
        tests TEXT NOT NULL,
        parameters TEXT NOT NULL,
        returns TEXT NOT NULL DEFAULT '{}',
        code_hash TEXT NOT NULL,
        verification TEXT NOT NULL,
        created_at TEXT NOT NULL
     );
     CREATE TABLE executions (
        id INTEGER PRIMARY KEY,
        tool_name TEXT NOT NULL,
        session_id TEXT,
        inputs TEXT NOT NULL,
        outputs TEXT,
        success INTEGER NOT NULL,
        error_type TEXT,
        execution_time_ms REAL NOT NULL,
        user_prompt TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL
     );
     CREATE INDEX executions_by_tool ON executions(tool_name, id);
     CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
     INSERT INTO meta VALUES ('generation', '0');",
    // 2: sessions and their messages (SessionMemoryManager), and the tracker's aggregates of
    // which tool follows which within a session, kept as executions are logged so that
    // relationships are a lookup, not a scan of the whole history; backfilled from it here.
    "CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        created_at TEXT NOT NULL,
        last_active_at TEXT NOT NULL
     );
     CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        session_id TEXT NOT NULL,
        role TEXT NOT NULL,
        content TEXT NOT NULL,
        created_at TEXT NOT NULL
     );
     CREATE INDEX messages_by_session ON messages(session_id, id);
     CREATE INDEX executions_by_session ON executions(session_id, id);
     CREATE TABLE tool_occurrences (tool_name TEXT PRIMARY KEY, count INTEGER NOT NULL);
     CREATE TABLE transitions (
        tool_a TEXT NOT NULL,
        tool_b TEXT NOT NULL,
        count INTEGER NOT NULL,
        PRIMARY KEY (tool_a, tool_b)
     );
     CREATE INDEX transitions_by_b ON transitions(tool_b);
     INSERT INTO tool_occurrences
        SELECT tool_name, COUNT(*) FROM executions WHERE session_id IS NOT NULL GROUP BY tool_name;
     INSERT INTO transitions
        SELECT tool_name, next, COUNT(*) FROM (
            SELECT tool_name, LEAD(tool_name) OVER (PARTITION BY session_id ORDER BY id) AS next
            FROM executions WHERE session_id IS NOT NULL)
        WHERE next IS NOT NULL GROUP BY tool_name, next;",
    // 3: directories a tool may read on every run, besides what a caller grants
    // (`toolsmith tools grant`); absolute, canonical paths.
    "CREATE TABLE grants (
        tool_name TEXT NOT NULL,
        path TEXT NOT NULL,
        PRIMARY KEY (tool_name, path)
     );",
    // 4: the agent's composite tools (a promoted workflow pattern: named steps over registered
    // tools, each with its argument mapping) with one row per step so that deleting a tool finds
    // the composites using it; every request's trace; and the example requests of each tool
    // (written with it or learned from use) that search indexes beside its description.
    "CREATE TABLE composite_tools (
        name TEXT PRIMARY KEY,
        description TEXT NOT NULL,
        pattern_id TEXT,
        steps TEXT NOT NULL,
        embedding BLOB,
        created_at TEXT NOT NULL
     );
     CREATE TABLE composite_steps (
        composite TEXT NOT NULL,
        position INTEGER NOT NULL,
        tool_name TEXT NOT NULL,
        PRIMARY KEY (composite, position)
     );
     CREATE INDEX composite_steps_by_tool ON composite_steps(tool_name);
     CREATE TABLE traces (
        id TEXT PRIMARY KEY,
        session_id TEXT,
        prompt TEXT NOT NULL,
        strategy TEXT,
        tool_name TEXT,
        success INTEGER NOT NULL,
        elapsed_ms REAL NOT NULL,
        created_at TEXT NOT NULL,
        body TEXT NOT NULL
     );
     CREATE INDEX traces_by_time ON traces(created_at, id);
     CREATE INDEX traces_by_session ON traces(session_id, created_at);
     CREATE TABLE tool_examples (
        id INTEGER PRIMARY KEY,
        tool_name TEXT NOT NULL,
        text TEXT NOT NULL,
        source TEXT NOT NULL,
        created_at TEXT NOT NULL,
        UNIQUE (tool_name, text)
     );
     CREATE INDEX tool_examples_by_tool ON tool_examples(tool_name, id);",
];

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "invalid tool name {0:?}: use a snake_case Python identifier (letters, digits, underscores; not starting with a digit)"
    )]
    InvalidName(String),
    #[error("a tool named {0:?} is already registered: delete it first or choose another name")]
    Exists(String),
    #[error("the database {path}: {source}")]
    Db { path: PathBuf, source: rusqlite::Error },
    #[error(
        "the database {path} has schema version {found}, newer than this toolsmith knows ({known}): upgrade toolsmith"
    )]
    TooNew { path: PathBuf, found: i64, known: i64 },
    #[error("tool files under {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    /// An example request that cannot be stored (the message says why).
    #[error("{0}")]
    InvalidExample(String),
}

/// What [`Store::add_example`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExampleAdded {
    Added(Example),
    /// The tool already has this request (after [`normalized`]).
    Duplicate,
    /// There is no tool of that name.
    NoTool,
}

/// A past request and how it was answered: what `toolsmith tune threshold` learns from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PastRequest {
    pub prompt: String,
    /// The registered tool that answered it, or the one written for it.
    pub tool: String,
    /// No right tool existed: `tool` had to be written for it.
    pub synthesized: bool,
}

/// Which example [`Store::remove_example`] removes.
#[derive(Debug, Clone, Copy)]
pub enum ExampleRef<'a> {
    Id(i64),
    /// The example equal to this text after [`normalized`].
    Text(&'a str),
}

/// Everything stored about a tool. The seed's fields (`name`, `code`, `file_path`, `test_path`,
/// `docstring`, `timestamp`) plus what the runtime and the executor need.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct ToolRecord {
    pub name: String,
    pub docstring: String,
    pub code: String,
    pub tests: String,
    /// JSON Schema of the keyword arguments.
    pub parameters: serde_json::Value,
    pub returns: serde_json::Value,
    pub code_hash: String,
    /// How the tool was verified: `docker+wasm`, or `wasm-only` when the user asked for that.
    pub verification: String,
    pub file_path: String,
    pub test_path: String,
    pub timestamp: String,
}

/// What running a tool needs of its row.
#[derive(Debug, Clone)]
pub struct Runnable {
    pub code_hash: String,
    /// JSON Schema of the keyword arguments.
    pub parameters: serde_json::Value,
    /// Directories it may always read (`toolsmith tools grant`).
    pub grants: Vec<String>,
}

/// What registration takes: the seed's `add_tool` arguments plus the artefacts verification made.
#[derive(Debug, Clone)]
pub struct NewTool {
    pub name: String,
    pub code: String,
    pub tests: String,
    pub docstring: String,
    pub parameters: serde_json::Value,
    pub returns: serde_json::Value,
    pub bytecode: Vec<u8>,
    pub verification: String,
}

/// Usage of one tool over its recent executions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Usage {
    pub runs: u32,
    pub successes: u32,
}

impl Usage {
    pub fn success_rate(&self) -> Option<f64> {
        (self.runs > 0).then(|| self.successes as f64 / self.runs as f64)
    }
}

/// One logged execution (the seed's `WorkflowTracker.log_execution` fields).
#[derive(Debug, Clone, Serialize)]
pub struct Execution<'a> {
    pub tool_name: &'a str,
    pub session_id: Option<&'a str>,
    pub inputs: &'a serde_json::Value,
    pub outputs: Option<&'a serde_json::Value>,
    pub success: bool,
    pub error_type: Option<&'a str>,
    pub execution_time_ms: f64,
    pub user_prompt: &'a str,
}

/// The store. `Send + Sync`: every method takes `&self` and borrows a connection from a small
/// pool for the length of one statement or transaction, so concurrent callers (a server's
/// requests) only wait for SQLite's own locking. Writers of the set of tools (add, delete,
/// clean-up) hold the home's [`WriteLock`], which other processes sharing the home respect too.
pub struct Store {
    pool: Mutex<Vec<Connection>>,
    db_path: PathBuf,
    tools_dir: PathBuf,
    lock: HomeLock,
}

/// A connection on loan from the pool; it goes back when dropped.
struct Conn<'a> {
    conn: Option<Connection>,
    store: &'a Store,
}

impl std::ops::Deref for Conn<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn.as_ref().expect("held until drop")
    }
}

impl std::ops::DerefMut for Conn<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        self.conn.as_mut().expect("held until drop")
    }
}

impl Drop for Conn<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            let mut pool = self.store.pool.lock().unwrap_or_else(|p| p.into_inner());
            // A burst may have opened more; keep a few for the next one.
            if pool.len() < POOL_KEEP {
                pool.push(c);
            }
        }
    }
}

/// Idle connections kept for reuse.
const POOL_KEEP: usize = 8;

pub fn validate_name(name: &str) -> Result<(), StoreError> {
    let mut chars = name.chars();
    let ok = matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= 64;
    if !ok {
        return Err(StoreError::InvalidName(name.into()));
    }
    Ok(())
}

pub(crate) fn now() -> String {
    time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

impl Store {
    /// Open (creating, migrating) the store in `home` layout: the database at `db_path`, tool
    /// directories under `tools_dir`, writers coordinating through `lock_path`.
    pub fn open(db_path: &Path, tools_dir: &Path, lock_path: &Path) -> Result<Store, StoreError> {
        let io = |source| StoreError::Io { path: tools_dir.to_path_buf(), source };
        std::fs::create_dir_all(tools_dir).map_err(io)?;
        if let Some(parent) = db_path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let lock = HomeLock::new(lock_path).map_err(io)?;
        let store = Store {
            pool: Mutex::new(Vec::new()),
            db_path: db_path.to_path_buf(),
            tools_dir: tools_dir.to_path_buf(),
            lock,
        };
        // A database being created is in rollback-journal mode until its first connection
        // switches it to WAL, and there SQLite answers some lock conflicts with an immediate
        // "database is locked" instead of waiting: processes creating a home at once take turns.
        // An existing home is opened without waiting for anyone.
        let fresh = std::fs::metadata(db_path).map_or(true, |m| m.len() == 0);
        let creating = if fresh { Some(store.write_lock()?) } else { None };
        let mut conn = store.conn()?;
        migrate(&mut conn, db_path)?;
        drop(conn);
        drop(creating);
        Ok(store)
    }

    fn connect(&self) -> Result<Connection, StoreError> {
        let db = |source| StoreError::Db { path: self.db_path.clone(), source };
        let conn = Connection::open(&self.db_path).map_err(db)?;
        // Set first: the pragmas below may wait for another process's lock.
        conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(db)?;
        // WAL: readers (the MCP server, a CLI) don't block the writer; NORMAL sync is durable
        // across process crashes, which is the failure registration is built for.
        conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;")
            .map_err(db)?;
        Ok(conn)
    }

    fn conn(&self) -> Result<Conn<'_>, StoreError> {
        let idle = self.pool.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match idle {
            Some(c) => c,
            None => self.connect()?,
        };
        Ok(Conn { conn: Some(conn), store: self })
    }

    /// Take the home's write lock (blocking until other writers, in this process or another,
    /// are done). Changes to the set of tools need it.
    pub fn write_lock(&self) -> Result<WriteLock, StoreError> {
        self.lock.exclusive().map_err(|source| StoreError::Io { path: self.lock.path().to_path_buf(), source })
    }

    /// Take the home's lock shared: no writer changes the tools or the index while it is held.
    pub fn read_lock(&self) -> Result<ReadLock, StoreError> {
        self.lock.shared().map_err(|source| StoreError::Io { path: self.lock.path().to_path_buf(), source })
    }

    fn db_err(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |source| StoreError::Db { path: self.db_path.clone(), source }
    }

    /// Run `f` on a pooled connection (for tables other modules keep in the same database).
    pub fn with_connection<R>(&self, f: impl FnOnce(&mut Connection) -> R) -> Result<R, StoreError> {
        let mut c = self.conn()?;
        Ok(f(&mut c))
    }

    pub fn tool_dir(&self, name: &str) -> PathBuf {
        self.tools_dir.join(name)
    }

    /// What the search index is derived from, as two counters: the tools' [`Store::generation`]
    /// and one bumped by every change of an existing tool's examples (kept apart so that learning
    /// an example is not announced as a change of the set of tools).
    pub fn index_generations(&self) -> Result<(u64, u64), StoreError> {
        self.conn()?
            .query_row(
                "SELECT (SELECT value FROM meta WHERE key = 'generation'),
                        COALESCE((SELECT value FROM meta WHERE key = 'examples_generation'), '0')",
                [],
                |r| Ok((r.get::<_, String>(0)?.parse().unwrap_or(0), r.get::<_, String>(1)?.parse().unwrap_or(0))),
            )
            .map_err(self.db_err())
    }

    /// Counter bumped by every change of the set of tools; indexes record the value they match.
    pub fn generation(&self) -> Result<u64, StoreError> {
        let v: String = self
            .conn()?
            .query_row("SELECT value FROM meta WHERE key = 'generation'", [], |r| r.get(0))
            .map_err(self.db_err())?;
        Ok(v.parse().unwrap_or(0))
    }

    /// [`Store::remove_debris`] if no writer holds the lock now (opening never waits for one).
    pub fn try_remove_debris(&self) -> Result<(), StoreError> {
        let lock = self
            .lock
            .try_exclusive()
            .map_err(|source| StoreError::Io { path: self.lock.path().to_path_buf(), source })?;
        if let Some(lock) = lock {
            self.remove_debris(&lock)?;
        }
        Ok(())
    }

    /// Remove directories that no row claims: staging leftovers of dead processes, and renames
    /// whose commit never happened. Only under the write lock, the one place a rename and its
    /// commit happen, so what it removes is owned by no live registration.
    pub fn remove_debris(&self, _lock: &WriteLock) -> Result<Vec<PathBuf>, StoreError> {
        let io = |source| StoreError::Io { path: self.tools_dir.clone(), source };
        let mut removed = Vec::new();
        for entry in std::fs::read_dir(&self.tools_dir).map_err(io)? {
            let entry = entry.map_err(io)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !entry.file_type().map_err(io)?.is_dir() {
                continue;
            }
            let debris = match name.strip_prefix(STAGING_PREFIX) {
                // Staging is written before the lock is taken: keep what a live process is writing.
                Some(rest) => !rest.split('-').next().and_then(|p| p.parse::<u32>().ok()).is_some_and(process_alive),
                None => name.starts_with('.') || !self.exists(&name)?,
            };
            if debris {
                tracing::info!(dir = %entry.path().display(), "removing debris of an interrupted registration");
                std::fs::remove_dir_all(entry.path()).map_err(io)?;
                removed.push(entry.path());
            }
        }
        Ok(removed)
    }

    pub fn exists(&self, name: &str) -> Result<bool, StoreError> {
        self.conn()?
            .query_row("SELECT 1 FROM tools WHERE name = ?1", [name], |_| Ok(()))
            .optional()
            .map(|o| o.is_some())
            .map_err(self.db_err())
    }

    /// Register a tool: all files and the row, or nothing (see the module doc), under the
    /// caller's write lock.
    pub fn add(&self, t: &NewTool, lock: &WriteLock) -> Result<ToolRecord, StoreError> {
        self.add_with_examples(t, &[], lock)
    }

    /// [`Store::add`] with the tool's example requests (source `written`), in the same
    /// transaction. They are cleaned and deduplicated by [`clean_all`]; an unusable one is an
    /// error and nothing is registered.
    pub fn add_with_examples(
        &self,
        t: &NewTool,
        examples: &[String],
        lock: &WriteLock,
    ) -> Result<ToolRecord, StoreError> {
        validate_name(&t.name)?;
        let examples = clean_all(examples).map_err(StoreError::InvalidExample)?;
        if self.exists(&t.name)? {
            return Err(StoreError::Exists(t.name.clone()));
        }
        let staging = self.tools_dir.join(format!("{STAGING_PREFIX}{}-{}", std::process::id(), uuid::Uuid::new_v4()));
        let result = self.stage(t, &staging).and_then(|rec| {
            self.commit_staged(&rec, &examples, &staging, lock)?;
            Ok(rec)
        });
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&staging);
        }
        result
    }

    /// Write every file of the tool into `staging`; no lock needed, the directory is this call's.
    fn stage(&self, t: &NewTool, staging: &Path) -> Result<ToolRecord, StoreError> {
        let io = |source| StoreError::Io { path: staging.to_path_buf(), source };
        let code_hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(t.code.as_bytes()));
        let final_dir = self.tool_dir(&t.name);
        let rec = ToolRecord {
            name: t.name.clone(),
            docstring: t.docstring.clone(),
            code: t.code.clone(),
            tests: t.tests.clone(),
            parameters: t.parameters.clone(),
            returns: t.returns.clone(),
            code_hash,
            verification: t.verification.clone(),
            file_path: final_dir.join("tool.py").display().to_string(),
            test_path: final_dir.join("test_tool.py").display().to_string(),
            timestamp: now(),
        };
        std::fs::create_dir_all(staging).map_err(io)?;
        write_synced(&staging.join("tool.py"), t.code.as_bytes()).map_err(io)?;
        write_synced(&staging.join("test_tool.py"), t.tests.as_bytes()).map_err(io)?;
        write_synced(&staging.join("tool.bytecode"), &t.bytecode).map_err(io)?;
        let meta = serde_json::to_vec_pretty(&rec).expect("a record serializes");
        write_synced(&staging.join("meta.json"), &meta).map_err(io)?;
        Ok(rec)
    }

    /// In one transaction, under the write lock: insert the row, bump the generation, move the
    /// staged directory into place, commit.
    fn commit_staged(
        &self,
        rec: &ToolRecord,
        examples: &[String],
        staging: &Path,
        lock: &WriteLock,
    ) -> Result<(), StoreError> {
        self.remove_debris(lock)?;
        let io = |source| StoreError::Io { path: staging.to_path_buf(), source };
        let db = |source| StoreError::Db { path: self.db_path.clone(), source };
        let final_dir = self.tool_dir(&rec.name);
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db)?;
        let taken =
            tx.query_row("SELECT 1 FROM tools WHERE name = ?1", [&rec.name], |_| Ok(())).optional().map_err(db)?;
        if taken.is_some() {
            // Another writer registered the same name since the first check.
            return Err(StoreError::Exists(rec.name.clone()));
        }
        tx.execute(
            "INSERT INTO tools (name, docstring, code, tests, parameters, returns, code_hash, verification, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                rec.name,
                rec.docstring,
                rec.code,
                rec.tests,
                rec.parameters.to_string(),
                rec.returns.to_string(),
                rec.code_hash,
                rec.verification,
                rec.timestamp
            ],
        )
        .map_err(db)?;
        for text in examples {
            tx.execute(
                "INSERT INTO tool_examples (tool_name, text, source, created_at) VALUES (?1, ?2, 'written', ?3)",
                params![rec.name, text, rec.timestamp],
            )
            .map_err(db)?;
        }
        bump_generation(&tx).map_err(db)?;
        if final_dir.exists() {
            // A directory no row claims (checked in this transaction): debris, replace it.
            std::fs::remove_dir_all(&final_dir).map_err(io)?;
        }
        std::fs::rename(staging, &final_dir).map_err(io)?;
        if let Err(e) = tx.commit() {
            let _ = std::fs::remove_dir_all(&final_dir);
            return Err(db(e));
        }
        Ok(())
    }

    pub fn get(&self, name: &str) -> Result<Option<ToolRecord>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare_cached(
                "SELECT name, docstring, code, tests, parameters, returns, code_hash, verification, created_at
                 FROM tools WHERE name = ?1",
            )
            .map_err(self.db_err())?;
        stmt.query_row([name], |r| self.row_to_record(r)).optional().map_err(self.db_err())
    }

    fn row_to_record(&self, r: &rusqlite::Row<'_>) -> rusqlite::Result<ToolRecord> {
        let name: String = r.get(0)?;
        let dir = self.tool_dir(&name);
        let parse = |s: String| serde_json::from_str(&s).unwrap_or(serde_json::Value::Null);
        Ok(ToolRecord {
            docstring: r.get(1)?,
            code: r.get(2)?,
            tests: r.get(3)?,
            parameters: parse(r.get(4)?),
            returns: parse(r.get(5)?),
            code_hash: r.get(6)?,
            verification: r.get(7)?,
            file_path: dir.join("tool.py").display().to_string(),
            test_path: dir.join("test_tool.py").display().to_string(),
            timestamp: r.get(8)?,
            name,
        })
    }

    pub fn all(&self) -> Result<Vec<ToolRecord>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare_cached(
                "SELECT name, docstring, code, tests, parameters, returns, code_hash, verification, created_at
                 FROM tools ORDER BY name",
            )
            .map_err(self.db_err())?;
        let rows = stmt.query_map([], |r| self.row_to_record(r)).map_err(self.db_err())?;
        rows.collect::<Result<_, _>>().map_err(self.db_err())
    }

    pub fn count(&self) -> Result<usize, StoreError> {
        self.conn()?
            .query_row("SELECT COUNT(*) FROM tools", [], |r| r.get::<_, i64>(0))
            .map(|n| n as usize)
            .map_err(self.db_err())
    }

    /// The stored bytecode, read from the tool's directory.
    pub fn bytecode(&self, name: &str) -> Result<Vec<u8>, StoreError> {
        let p = self.tool_dir(name).join("tool.bytecode");
        std::fs::read(&p).map_err(|source| StoreError::Io { path: p, source })
    }

    /// What running a tool needs, without its source and tests, in one query.
    pub fn runnable(&self, name: &str) -> Result<Option<Runnable>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare_cached(
                "SELECT code_hash, parameters,
                        (SELECT json_group_array(path) FROM grants WHERE tool_name = tools.name)
                 FROM tools WHERE name = ?1",
            )
            .map_err(self.db_err())?;
        stmt.query_row([name], |r| {
            let params: String = r.get(1)?;
            let grants: String = r.get(2)?;
            Ok(Runnable {
                code_hash: r.get(0)?,
                parameters: serde_json::from_str(&params).unwrap_or(serde_json::Value::Null),
                grants: serde_json::from_str(&grants).unwrap_or_default(),
            })
        })
        .optional()
        .map_err(self.db_err())
    }

    /// The directories a tool may always read, sorted.
    pub fn grants(&self, name: &str) -> Result<Vec<String>, StoreError> {
        let conn = self.conn()?;
        let mut stmt =
            conn.prepare_cached("SELECT path FROM grants WHERE tool_name = ?1 ORDER BY path").map_err(self.db_err())?;
        let rows = stmt.query_map([name], |r| r.get(0)).map_err(self.db_err())?;
        rows.collect::<Result<_, _>>().map_err(self.db_err())
    }

    /// Let a tool always read `path` (`revoke`: no longer); `false` when there is no such tool.
    pub fn set_grant(&self, name: &str, path: &str, revoke: bool) -> Result<bool, StoreError> {
        let db = |source| StoreError::Db { path: self.db_path.clone(), source };
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db)?;
        let exists = tx.query_row("SELECT 1 FROM tools WHERE name = ?1", [name], |_| Ok(())).optional().map_err(db)?;
        if exists.is_none() {
            return Ok(false);
        }
        if revoke {
            tx.execute("DELETE FROM grants WHERE tool_name = ?1 AND path = ?2", params![name, path]).map_err(db)?;
        } else {
            tx.execute("INSERT OR IGNORE INTO grants VALUES (?1, ?2)", params![name, path]).map_err(db)?;
        }
        tx.commit().map_err(db)?;
        Ok(true)
    }

    /// A tool's example requests, oldest first.
    pub fn examples(&self, name: &str) -> Result<Vec<Example>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare_cached("SELECT id, text, source, created_at FROM tool_examples WHERE tool_name = ?1 ORDER BY id")
            .map_err(self.db_err())?;
        let rows = stmt.query_map([name], row_to_example).map_err(self.db_err())?;
        rows.collect::<Result<_, _>>().map_err(self.db_err())
    }

    /// Every registered tool's examples, oldest first (what an index rebuild reads).
    pub fn all_examples(&self) -> Result<std::collections::HashMap<String, Vec<Example>>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare_cached(
                "SELECT tool_name, id, text, source, created_at FROM tool_examples
                 WHERE tool_name IN (SELECT name FROM tools) ORDER BY tool_name, id",
            )
            .map_err(self.db_err())?;
        let mut out: std::collections::HashMap<String, Vec<Example>> = std::collections::HashMap::new();
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    Example {
                        id: r.get(1)?,
                        text: r.get(2)?,
                        source: ExampleSource::parse(&r.get::<_, String>(3)?),
                        created_at: r.get(4)?,
                    },
                ))
            })
            .map_err(self.db_err())?;
        for row in rows {
            let (tool, ex) = row.map_err(self.db_err())?;
            out.entry(tool).or_default().push(ex);
        }
        Ok(out)
    }

    /// Add one example request to a tool, under the caller's write lock, in one transaction:
    /// refused as a duplicate when the tool has the same request ([`normalized`]); `evict` (an
    /// example id of the tool) is removed in the same transaction, and so are the oldest learned
    /// examples past [`MAX_EXAMPLES_PER_TOOL`] whatever the caller chose, so the bound holds under
    /// any interleaving of writers. Bumps the examples' generation.
    pub fn add_example(
        &self,
        name: &str,
        text: &str,
        source: ExampleSource,
        evict: Option<i64>,
        _lock: &WriteLock,
    ) -> Result<ExampleAdded, StoreError> {
        let text = clean(text).map_err(StoreError::InvalidExample)?;
        let db = |source| StoreError::Db { path: self.db_path.clone(), source };
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db)?;
        let exists = tx.query_row("SELECT 1 FROM tools WHERE name = ?1", [name], |_| Ok(())).optional().map_err(db)?;
        if exists.is_none() {
            return Ok(ExampleAdded::NoTool);
        }
        let key = normalized(&text);
        let duplicate = {
            let mut stmt = tx.prepare_cached("SELECT text FROM tool_examples WHERE tool_name = ?1").map_err(db)?;
            let texts = stmt.query_map([name], |r| r.get::<_, String>(0)).map_err(db)?;
            let mut dup = false;
            for t in texts {
                dup |= normalized(&t.map_err(db)?) == key;
            }
            dup
        };
        if duplicate {
            return Ok(ExampleAdded::Duplicate);
        }
        if let Some(id) = evict {
            tx.execute("DELETE FROM tool_examples WHERE tool_name = ?1 AND id = ?2", params![name, id]).map_err(db)?;
        }
        let created_at = now();
        tx.execute(
            "INSERT INTO tool_examples (tool_name, text, source, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![name, text, source.as_str(), created_at],
        )
        .map_err(db)?;
        let id = tx.last_insert_rowid();
        tx.execute(
            "DELETE FROM tool_examples WHERE id IN (
                SELECT id FROM tool_examples WHERE tool_name = ?1 AND source = 'learned' AND id != ?2 ORDER BY id
                LIMIT MAX(0, (SELECT COUNT(*) FROM tool_examples WHERE tool_name = ?1) - ?3))",
            params![name, id, MAX_EXAMPLES_PER_TOOL as i64],
        )
        .map_err(db)?;
        bump_counter(&tx, "examples_generation").map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(ExampleAdded::Added(Example { id, text, source, created_at }))
    }

    /// Remove one example of a tool, under the caller's write lock; the removed example, or
    /// `None` when the tool has no such example. Bumps the examples' generation.
    pub fn remove_example(
        &self,
        name: &str,
        which: ExampleRef<'_>,
        _lock: &WriteLock,
    ) -> Result<Option<Example>, StoreError> {
        let found = self.examples(name)?.into_iter().find(|e| match which {
            ExampleRef::Id(id) => e.id == id,
            ExampleRef::Text(t) => normalized(&e.text) == normalized(t),
        });
        let Some(found) = found else { return Ok(None) };
        let db = |source| StoreError::Db { path: self.db_path.clone(), source };
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db)?;
        let n = tx.execute("DELETE FROM tool_examples WHERE id = ?1", [found.id]).map_err(db)?;
        if n == 0 {
            return Ok(None);
        }
        bump_counter(&tx, "examples_generation").map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(Some(found))
    }

    /// Delete a tool: the row first (the commit is the point of no return), then its files,
    /// under the caller's write lock.
    pub fn delete(&self, name: &str, _lock: &WriteLock) -> Result<bool, StoreError> {
        let db = |source| StoreError::Db { path: self.db_path.clone(), source };
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db)?;
        let n = tx.execute("DELETE FROM tools WHERE name = ?1", [name]).map_err(db)?;
        if n == 0 {
            return Ok(false);
        }
        // A later tool of the same name starts with no grants.
        tx.execute("DELETE FROM grants WHERE tool_name = ?1", [name]).map_err(db)?;
        tx.execute("DELETE FROM tool_examples WHERE tool_name = ?1", [name]).map_err(db)?;
        // A composite cannot run without each of its tools: it goes with any of them.
        tx.execute(
            "DELETE FROM composite_tools WHERE name IN (SELECT composite FROM composite_steps WHERE tool_name = ?1)",
            [name],
        )
        .map_err(db)?;
        tx.execute("DELETE FROM composite_steps WHERE composite NOT IN (SELECT name FROM composite_tools)", [])
            .map_err(db)?;
        bump_generation(&tx).map_err(db)?;
        tx.commit().map_err(db)?;
        let dir = self.tool_dir(name);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|source| StoreError::Io { path: dir, source })?;
        }
        Ok(true)
    }

    /// Rows whose files are gone (deleted by hand): remove them. Returns their names.
    pub fn cleanup_orphans(&self, lock: &WriteLock) -> Result<Vec<String>, StoreError> {
        let orphans: Vec<String> = self
            .all()?
            .into_iter()
            .filter(|t| !Path::new(&t.file_path).exists() || !self.tool_dir(&t.name).join("tool.bytecode").exists())
            .map(|t| t.name)
            .collect();
        for name in &orphans {
            self.delete(name, lock)?;
        }
        self.remove_debris(lock)?;
        Ok(orphans)
    }

    /// Log one execution. Within a session, the tracker's aggregates (how often each tool ran,
    /// which tool followed which) are updated in the same transaction.
    pub fn log_execution(&self, e: &Execution<'_>) -> Result<i64, StoreError> {
        self.log_executions(std::slice::from_ref(e))
    }

    /// Log executions in order, in one transaction (the executor's logger batches what arrives
    /// while a commit is in progress). Returns the id of the last.
    pub fn log_executions(&self, batch: &[Execution<'_>]) -> Result<i64, StoreError> {
        let mut conn = self.conn()?;
        let db = |source| StoreError::Db { path: self.db_path.clone(), source };
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db)?;
        for e in batch {
            log_one(&tx, e).map_err(db)?;
        }
        let id = tx.last_insert_rowid();
        tx.commit().map_err(db)?;
        Ok(id)
    }

    /// The labelled history, oldest first, of tools still registered, each (prompt, tool, kind)
    /// once: successful executions with their prompt, unless the same prompt was run next in the
    /// session with another tool (the user redid it: the first tool was not the answer); and the
    /// agent's traces of requests that needed a new tool (`"synthesized": true` in their body).
    pub fn past_requests(&self) -> Result<Vec<PastRequest>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare_cached(
                "SELECT user_prompt, tool_name FROM (
                    SELECT user_prompt, tool_name, success,
                           LEAD(user_prompt) OVER (PARTITION BY session_id ORDER BY id) AS next_prompt,
                           LEAD(tool_name) OVER (PARTITION BY session_id ORDER BY id) AS next_tool,
                           session_id, id
                    FROM executions)
                 WHERE success = 1 AND user_prompt != ''
                   AND NOT (session_id IS NOT NULL AND next_prompt = user_prompt AND next_tool != tool_name)
                   AND tool_name IN (SELECT name FROM tools)
                 ORDER BY id",
            )
            .map_err(self.db_err())?;
        let answered = stmt
            .query_map([], |r| Ok(PastRequest { prompt: r.get(0)?, tool: r.get(1)?, synthesized: false }))
            .map_err(self.db_err())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.db_err())?;
        let mut stmt = conn
            .prepare_cached(
                "SELECT prompt, tool_name FROM traces
                 WHERE tool_name IN (SELECT name FROM tools) AND prompt != '' AND json_valid(body)
                   AND json_extract(body, '$.synthesized') = 1
                 ORDER BY created_at, id",
            )
            .map_err(self.db_err())?;
        let synthesized = stmt
            .query_map([], |r| Ok(PastRequest { prompt: r.get(0)?, tool: r.get(1)?, synthesized: true }))
            .map_err(self.db_err())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.db_err())?;
        let mut seen = std::collections::HashSet::new();
        Ok(answered
            .into_iter()
            .chain(synthesized)
            .filter(|p| seen.insert((normalized(&p.prompt), p.tool.clone(), p.synthesized)))
            .collect())
    }

    /// Success counts over each tool's `recent` latest executions.
    pub fn usage(&self, name: &str, recent: u32) -> Result<Usage, StoreError> {
        self.conn()?
            .query_row(
                "SELECT COUNT(*), COALESCE(SUM(success), 0) FROM
                   (SELECT success FROM executions WHERE tool_name = ?1 ORDER BY id DESC LIMIT ?2)",
                params![name, recent],
                |r| Ok(Usage { runs: r.get::<_, i64>(0)? as u32, successes: r.get::<_, i64>(1)? as u32 }),
            )
            .map_err(self.db_err())
    }
}

fn log_one(tx: &rusqlite::Transaction<'_>, e: &Execution<'_>) -> rusqlite::Result<()> {
    if let Some(session) = e.session_id {
        let previous: Option<String> = tx
            .query_row(
                "SELECT tool_name FROM executions WHERE session_id = ?1 ORDER BY id DESC LIMIT 1",
                [session],
                |r| r.get(0),
            )
            .optional()?;
        tx.execute(
            "INSERT INTO tool_occurrences VALUES (?1, 1) ON CONFLICT(tool_name) DO UPDATE SET count = count + 1",
            [e.tool_name],
        )?;
        if let Some(a) = previous {
            tx.execute(
                "INSERT INTO transitions VALUES (?1, ?2, 1) ON CONFLICT(tool_a, tool_b) DO UPDATE SET count = count + 1",
                [a.as_str(), e.tool_name],
            )?;
        }
    }
    tx.prepare_cached(
        "INSERT INTO executions (tool_name, session_id, inputs, outputs, success, error_type, execution_time_ms, user_prompt, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        e.tool_name,
        e.session_id,
        e.inputs.to_string(),
        e.outputs.map(|o| o.to_string()),
        e.success,
        e.error_type,
        e.execution_time_ms,
        e.user_prompt,
        now()
    ])?;
    Ok(())
}

fn row_to_example(r: &rusqlite::Row<'_>) -> rusqlite::Result<Example> {
    Ok(Example {
        id: r.get(0)?,
        text: r.get(1)?,
        source: ExampleSource::parse(&r.get::<_, String>(2)?),
        created_at: r.get(3)?,
    })
}

/// Add one to the counter `key` of the `meta` table, in `tx`. The key is created on first use:
/// stores migrated before a counter existed have none (read as 0 by [`read_counter`]).
pub(crate) fn bump_counter(tx: &rusqlite::Transaction<'_>, key: &str) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO meta VALUES (?1, '1') ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1",
        [key],
    )?;
    Ok(())
}

/// The counter `key` of the `meta` table; 0 when it was never bumped.
pub(crate) fn read_counter(conn: &Connection, key: &str) -> rusqlite::Result<u64> {
    let v: Option<String> = conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0)).optional()?;
    Ok(v.and_then(|v| v.parse().ok()).unwrap_or(0))
}

fn bump_generation(tx: &rusqlite::Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'", [])?;
    Ok(())
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let db = |source| StoreError::Db { path: path.to_path_buf(), source };
    let known = MIGRATIONS.len() as i64;
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(db)?;
    if version == known {
        return Ok(());
    }
    // Immediate, and the version read again inside: two processes opening a new home at once
    // must not both run the same migration.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(db)?;
    if version > known {
        return Err(StoreError::TooNew { path: path.to_path_buf(), found: version, known });
    }
    for sql in MIGRATIONS.iter().skip(version as usize) {
        tx.execute_batch(sql).map_err(db)?;
    }
    tx.pragma_update(None, "user_version", known).map_err(db)?;
    tx.commit().map_err(db)?;
    Ok(())
}

/// Whether a process of this id is running (Linux: `/proc`). Our own id counts as alive: other
/// threads of this process may be staging.
pub(crate) fn process_alive(pid: u32) -> bool {
    pid == std::process::id() || (pid != 0 && Path::new("/proc").join(pid.to_string()).exists())
}

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}
