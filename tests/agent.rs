//! The agent's memory in the store: workflow patterns and tool relationships mined from a
//! constructed execution log whose answers are known exactly, and session messages, both
//! surviving a reopen of the store.

use std::path::Path;

use serde_json::json;
use toolsmith::agent::{SessionMemoryManager, WorkflowTracker, tracker::pattern_id};
use toolsmith::registry::{Execution, Store};

fn store(home: &Path) -> Store {
    Store::open(&home.join("toolsmith.db"), &home.join("tools"), &home.join(".lock")).unwrap()
}

fn log(store: &Store, session: &str, tools: &[(&str, bool, f64)]) {
    for &(tool, success, ms) in tools {
        store
            .log_execution(&Execution {
                tool_name: tool,
                session_id: Some(session),
                inputs: &json!({}),
                outputs: None,
                success,
                error_type: None,
                execution_time_ms: ms,
                user_prompt: "",
            })
            .unwrap();
    }
}

/// Three sessions: `load → clean → plot` twice (one with a failed plot), and `load → plot`.
fn constructed(store: &Store) {
    log(store, "s1", &[("load", true, 1.0), ("clean", true, 2.0), ("plot", true, 3.0)]);
    log(store, "s2", &[("load", true, 1.0), ("clean", true, 2.0), ("plot", false, 5.0)]);
    log(store, "s3", &[("load", true, 1.0), ("plot", true, 3.0)]);
    // Without a session, nothing is mined from it.
    store
        .log_execution(&Execution {
            tool_name: "load",
            session_id: None,
            inputs: &json!({}),
            outputs: None,
            success: true,
            error_type: None,
            execution_time_ms: 1.0,
            user_prompt: "",
        })
        .unwrap();
}

#[test]
fn patterns_and_relationships_of_a_known_log() {
    let home = tempfile::tempdir().unwrap();
    let s = store(home.path());
    constructed(&s);
    let t = WorkflowTracker::new(&s);
    let patterns = t.get_workflow_patterns(2, 10).unwrap();
    let seqs: Vec<(Vec<&str>, u64)> =
        patterns.iter().map(|p| (p.tools.iter().map(String::as_str).collect(), p.frequency)).collect();
    assert_eq!(
        seqs,
        [(vec!["load", "clean", "plot"], 2), (vec!["clean", "plot"], 2), (vec!["load", "clean"], 2)],
        "load→plot happens once, below min_frequency 2"
    );
    let lcp = &patterns[0];
    assert_eq!(lcp.success_rate, 0.5);
    assert_eq!(lcp.avg_execution_time_ms, 7.0, "(6 + 8) / 2");
    assert_eq!(lcp.id, pattern_id(&lcp.tools));
    assert_eq!(t.get_workflow_patterns(1, 10).unwrap().len(), 4, "with load→plot");
    assert_eq!(t.get_workflow_patterns(2, 1).unwrap().len(), 1, "the limit");

    // load ran 3 times in sessions: clean followed twice, plot once.
    let rel = t.get_tool_relationships(Some("load"), 0.0).unwrap();
    let pairs: Vec<(&str, &str, f64, u64)> =
        rel.iter().map(|r| (r.tool_a.as_str(), r.tool_b.as_str(), r.confidence, r.support)).collect();
    assert_eq!(pairs, [("load", "clean", 2.0 / 3.0, 2), ("load", "plot", 1.0 / 3.0, 1)]);
    let confident: Vec<(String, String)> =
        t.get_tool_relationships(None, 0.5).unwrap().into_iter().map(|r| (r.tool_a, r.tool_b)).collect();
    assert_eq!(confident, [("clean".into(), "plot".into()), ("load".into(), "clean".into())]);
}

#[test]
fn relationships_are_backfilled_when_an_old_store_is_migrated() {
    let home = tempfile::tempdir().unwrap();
    {
        let s = store(home.path());
        constructed(&s);
    }
    // Make it an old store: version 1, without the aggregates, then open it again.
    let db = rusqlite::Connection::open(home.path().join("toolsmith.db")).unwrap();
    db.execute_batch(
        "DROP TABLE composite_tools; DROP TABLE composite_steps; DROP TABLE traces; DROP TABLE tool_examples;
         DROP TABLE grants; DROP TABLE transitions; DROP TABLE tool_occurrences; DROP TABLE messages; DROP TABLE sessions;
         DROP INDEX executions_by_session; PRAGMA user_version = 1;",
    )
    .unwrap();
    drop(db);
    let s = store(home.path());
    let rel = WorkflowTracker::new(&s).get_tool_relationships(Some("clean"), 0.0).unwrap();
    assert_eq!((rel[0].tool_b.as_str(), rel[0].confidence, rel[0].support), ("plot", 1.0, 2));
}

#[test]
fn a_session_remembers_its_messages_across_a_reopen() {
    let home = tempfile::tempdir().unwrap();
    let id = {
        let s = store(home.path());
        let m = SessionMemoryManager::new(&s);
        let id = m.start_session(None).unwrap();
        assert_eq!(m.build_prompt_with_context(&id, "factorial of 5").unwrap(), "factorial of 5");
        m.append_message(&id, "user", "factorial of 5").unwrap();
        m.append_message(&id, "assistant", "120").unwrap();
        id
    };
    let s = store(home.path());
    let m = SessionMemoryManager::new(&s);
    assert!(m.exists(&id).unwrap());
    assert_eq!(m.start_session(Some(&id)).unwrap(), id, "an existing session is resumed");
    let recent = m.get_recent_messages(&id, 10).unwrap();
    assert_eq!(
        recent.iter().map(|x| (x.role.as_str(), x.content.as_str())).collect::<Vec<_>>(),
        [("user", "factorial of 5"), ("assistant", "120")]
    );
    assert_eq!(m.get_recent_messages(&id, 1).unwrap()[0].content, "120", "the latest, oldest first");
    let prompt = m.build_prompt_with_context(&id, "now do the same for 7").unwrap();
    assert!(
        prompt.contains("user: factorial of 5\nassistant: 120\n") && prompt.ends_with("now do the same for 7"),
        "{prompt}"
    );
    assert!(m.get_recent_messages("no-such-session", 10).unwrap().is_empty());
}
