//! Example requests per tool: stored with the tool, kept across restarts, removed with it,
//! rebuilt into a deleted index, changing the ranking where a description alone gets it wrong;
//! learned from use (deduplicated, bounded); and the reuse threshold tuned from outcomes.
//!
//! Real store, real index, the real MiniLM embedder (from `$TOOLSMITH_CACHE/models`, see
//! `scripts/fetch-model.sh`), through the facade. Tools are registered without running them
//! (search never runs a tool), so no runtime is needed.

use std::path::Path;

use serde_json::json;
use toolsmith::registry::examples::{ExampleSource, MAX_EXAMPLES_PER_TOOL};
use toolsmith::registry::index::{IndexState, SearchIndex};
use toolsmith::registry::tune::{MIN_ANSWERED, Outcome, tune};
use toolsmith::registry::{Execution, NewTool};
use toolsmith::{Config, ErrorKind, SearchOptions, Toolsmith, Usage};

fn config(home: &Path) -> Config {
    Config::from_env().unwrap().with_home(home)
}

async fn open(home: &Path) -> Toolsmith {
    Toolsmith::open(config(home), Usage::OneShot).await.unwrap()
}

fn tool(name: &str, docstring: &str) -> NewTool {
    NewTool {
        name: name.into(),
        code: format!("def {name}():\n    \"\"\"{docstring}\"\"\"\n    return 0\n"),
        tests: String::new(),
        docstring: docstring.into(),
        parameters: json!({"type": "object", "properties": {}}),
        returns: json!({}),
        bytecode: b"never run".to_vec(),
        verification: "wasm-only".into(),
    }
}

async fn add(ts: &Toolsmith, name: &str, docstring: &str, examples: &[&str]) {
    let examples: Vec<String> = examples.iter().map(|s| s.to_string()).collect();
    ts.registry().await.unwrap().add_tool_with_examples(tool(name, docstring), &examples).await.unwrap();
}

/// Names and similarities, best first, without the usage re-rank.
async fn ranking(ts: &Toolsmith, query: &str) -> Vec<(String, f32)> {
    let opts = SearchOptions { rerank: false, limit: 10, ..SearchOptions::default() };
    ts.search_tools(query, opts).await.unwrap().into_iter().map(|m| (m.tool.name, m.similarity_score)).collect()
}

fn index_on_disk(home: &Path) -> SearchIndex {
    let (index, state) =
        SearchIndex::open(&home.join("index"), "local:all-MiniLM-L6-v2:384", 384).expect("the index opens");
    assert_eq!(state, IndexState::Opened);
    index
}

const MARGINS_DOC: &str = "Compute (revenue - cost) / revenue for every row of a sales table.";
const LIST_DOC: &str = "List each product with its name, category and price.";
const OUTPUT_DOC: &str = "Estimate how much each factory makes of each product per day.";
const MARGIN_QUERY: &str = "what do we earn on every product we sell";
const MARGIN_EXAMPLES: &[&str] = &[
    "how much profit do we keep on every item we sell",
    "what is the markup percentage per product",
    "which of our products are the most profitable",
];

#[tokio::test]
async fn examples_are_stored_with_the_tool_survive_restart_and_go_with_it() {
    let home = tempfile::tempdir().unwrap();
    let ts = open(home.path()).await;
    // An unusable example is refused before anything is stored.
    let err = ts
        .registry()
        .await
        .unwrap()
        .add_tool_with_examples(tool("profit_margins", MARGINS_DOC), &[MARGIN_EXAMPLES[0].into(), " ".into()])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArguments, "{err}");
    assert!(err.to_string().contains("example 2"), "{err}");
    assert!(ts.get_tool_by_name("profit_margins").await.unwrap().is_none());

    add(&ts, "profit_margins", MARGINS_DOC, MARGIN_EXAMPLES).await;
    let texts = |ex: Vec<toolsmith::registry::Example>| ex.into_iter().map(|e| e.text).collect::<Vec<_>>();
    let stored = ts.tool_examples("profit_margins").await.unwrap();
    assert!(stored.iter().all(|e| e.source == ExampleSource::Written));
    assert_eq!(texts(stored), MARGIN_EXAMPLES);
    drop(ts);

    let ts = open(home.path()).await;
    assert_eq!(texts(ts.tool_examples("profit_margins").await.unwrap()), MARGIN_EXAMPLES);
    // What `tools show` and MCP get_tool print carries them too.
    assert_eq!(texts(ts.get_tool("profit_margins").await.unwrap().examples), MARGIN_EXAMPLES);
    assert!(ts.registry().await.unwrap().take_rebuilt().is_none(), "the index matched the store");
    assert_eq!(index_on_disk(home.path()).example_count(), 3);

    assert!(ts.delete_tool("profit_margins").await.unwrap());
    assert_eq!(ts.tool_examples("profit_margins").await.unwrap_err().kind(), ErrorKind::NotFound);
    assert!(ts.store().examples("profit_margins").unwrap().is_empty(), "the rows went with the tool");
    assert_eq!(index_on_disk(home.path()).example_count(), 0);
    // A new tool of the same name starts with none.
    add(&ts, "profit_margins", MARGINS_DOC, &[]).await;
    assert!(ts.tool_examples("profit_margins").await.unwrap().is_empty());
}

#[tokio::test]
async fn examples_change_the_ranking_where_the_description_alone_is_wrong_and_survive_an_index_rebuild() {
    let home = tempfile::tempdir().unwrap();
    let ts = open(home.path()).await;
    add(&ts, "profit_margins", MARGINS_DOC, &[]).await;
    add(&ts, "factory_output", OUTPUT_DOC, &[]).await;
    let before = ranking(&ts, MARGIN_QUERY).await;
    assert_eq!(before[0].0, "factory_output", "the constructed case: the description alone ranks wrong: {before:?}");

    for e in MARGIN_EXAMPLES {
        assert!(ts.add_example("profit_margins", e).await.unwrap(), "{e}");
    }
    let after = ranking(&ts, MARGIN_QUERY).await;
    assert_eq!(after[0].0, "profit_margins", "{after:?}");
    let margins = |r: &[(String, f32)]| r.iter().find(|(n, _)| n == "profit_margins").unwrap().1;
    assert!(margins(&after) > margins(&before), "{before:?} → {after:?}");
    // The other tool's score is its own business.
    let list = |r: &[(String, f32)]| r.iter().find(|(n, _)| n == "factory_output").unwrap().1;
    assert_eq!(list(&after), list(&before));
    drop(ts);

    std::fs::remove_dir_all(home.path().join("index")).unwrap();
    let ts = open(home.path()).await;
    let rebuilt = ts.registry().await.unwrap().take_rebuilt().expect("a deleted index is rebuilt");
    assert_eq!(rebuilt.tools, 2);
    assert_eq!(index_on_disk(home.path()).example_count(), 3);
    let again = ranking(&ts, MARGIN_QUERY).await;
    assert_eq!(again[0].0, "profit_margins", "{again:?}");
    assert!((margins(&again) - margins(&after)).abs() < 1e-5, "{after:?} vs {again:?}");

    // Removing the examples puts the ranking back.
    for e in ts.tool_examples("profit_margins").await.unwrap() {
        assert_eq!(ts.remove_example("profit_margins", e.id).await.unwrap(), e);
    }
    assert_eq!(ts.remove_example("profit_margins", 12345).await.unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(ranking(&ts, MARGIN_QUERY).await[0].0, "factory_output");
}

#[tokio::test]
async fn learning_from_use_makes_a_new_wording_find_the_tool_above_the_threshold() {
    let home = tempfile::tempdir().unwrap();
    let ts = open(home.path()).await;
    add(&ts, "profit_margins", MARGINS_DOC, &[]).await;
    add(&ts, "list_products", LIST_DOC, &[]).await;
    let fourth = "how much margin do the kettles make";
    let threshold = ts.reuse_threshold();
    let before = ts.search_tool(fourth, None).await.unwrap();
    assert!(before.as_ref().is_none_or(|m| m.tool.name != "profit_margins"), "{before:?}");

    // Three successful requests in one phrasing, then the first one again (adds nothing).
    let learned = learn_all(
        &ts,
        &[
            "what margin does the blue kettle make",
            "what margin does the red kettle make",
            "what margin does the steel teapot make",
            "What margin does the blue kettle make?",
        ],
    )
    .await;
    assert_eq!(learned, [true, true, true, false]);
    let stored = ts.tool_examples("profit_margins").await.unwrap();
    assert!(stored.iter().all(|e| e.source == ExampleSource::Learned));
    assert_eq!(stored.len(), 3);

    let after = ts.search_tool(fourth, None).await.unwrap().expect("found above the threshold");
    assert_eq!(after.tool.name, "profit_margins");
    assert!(after.similarity_score >= threshold);

    // Unusable requests and unknown tools are not learned, and not errors.
    assert!(!ts.learn_example("profit_margins", "   ").await.unwrap());
    assert!(!ts.learn_example("no_such_tool", "anything").await.unwrap());
    // Forgetting undoes it.
    assert!(ts.forget_example("profit_margins", "What margin does the BLUE kettle make").await.unwrap());
    assert!(!ts.forget_example("profit_margins", "what margin does the blue kettle make").await.unwrap());
}

async fn learn_all(ts: &Toolsmith, requests: &[&str]) -> Vec<bool> {
    let mut out = Vec::new();
    for r in requests {
        out.push(ts.learn_example("profit_margins", r).await.unwrap());
    }
    out
}

#[tokio::test]
async fn examples_are_bounded_per_tool_keeping_written_and_recent_ones() {
    let home = tempfile::tempdir().unwrap();
    let ts = open(home.path()).await;
    add(&ts, "convert_units", "Convert a quantity between units of measurement.", &["convert 3 feet to meters"]).await;
    let units = ["miles", "kilograms", "liters", "ounces", "pascals", "joules", "kelvin", "acres", "knots", "bytes"];
    let templates = ["how many {b} are in one {a}", "convert {a} into {b}", "what is 12 {a} expressed in {b}"];
    let mut n = 0;
    'outer: for t in templates {
        for a in units {
            for b in units.iter().rev().filter(|b| **b != a) {
                let request = t.replace("{a}", a).replace("{b}", b);
                if ts.learn_example("convert_units", &request).await.unwrap() {
                    n += 1;
                    if n == MAX_EXAMPLES_PER_TOOL + 5 {
                        break 'outer;
                    }
                }
            }
        }
    }
    assert_eq!(n, MAX_EXAMPLES_PER_TOOL + 5, "enough distinct requests");
    let stored = ts.tool_examples("convert_units").await.unwrap();
    assert_eq!(stored.len(), MAX_EXAMPLES_PER_TOOL);
    assert_eq!(stored[0].text, "convert 3 feet to meters", "written examples are kept");
    let newest = ts.store().examples("convert_units").unwrap();
    assert_eq!(stored, newest);
    assert_eq!(index_on_disk(home.path()).example_count(), MAX_EXAMPLES_PER_TOOL);
}

#[test]
fn tuning_finds_the_known_cut_off() {
    // 40 answered requests, their tool first at 0.8; the best other tool at 0.30 for 38 of them
    // and at 0.62 for 2; 10 requests that needed a new tool, where the best existing one scored
    // 0.55. Absent-tool cases: 50. Wrong reuse at t: 12/50 up to 0.55, 2/50 = 4% from 0.56 on.
    let mut outcomes = vec![Outcome { right: Some(0.8), right_first: true, best_other: 0.30 }; 38];
    outcomes.extend([Outcome { right: Some(0.8), right_first: true, best_other: 0.62 }; 2]);
    outcomes.extend([Outcome { right: None, right_first: false, best_other: 0.55 }; 10]);
    let t = tune(&outcomes, 0.05);
    assert_eq!((t.answered, t.synthesized), (40, 10));
    assert_eq!(t.threshold, Some(0.56));
    let p = t.chosen().unwrap();
    assert_eq!((p.correct_reuse, p.wrong_reuse), (1.0, 0.04));
    let below = t.curve.iter().find(|p| p.threshold == 0.55).unwrap();
    assert_eq!(below.wrong_reuse, 0.24);
    // A stricter rate moves it past the 0.62s.
    assert_eq!(tune(&outcomes, 0.0).threshold, Some(0.63));
    // Past the answered requests' own score, nothing is reused.
    assert_eq!(t.curve.iter().find(|p| p.threshold == 0.81).unwrap().correct_reuse, 0.0);
}

#[tokio::test]
async fn tune_threshold_reads_the_registry_history_and_writes_config() {
    let home = tempfile::tempdir().unwrap();
    let ts = open(home.path()).await;
    let tools = [
        ("celsius_to_fahrenheit", "Convert a temperature from degrees Celsius to Fahrenheit."),
        ("count_words", "Count the words in a text."),
        ("reverse_string", "Reverse the characters of a string."),
    ];
    for (n, d) in tools {
        add(&ts, n, d, &[]).await;
    }
    let asks = [
        ("celsius_to_fahrenheit", "how warm is {} celsius in fahrenheit"),
        ("count_words", "how many words are in the sentence '{}'"),
        ("reverse_string", "write '{}' backwards"),
    ];
    let log = |tool: &str, prompt: &str, success: bool| {
        let inputs = json!({});
        ts.store()
            .log_execution(&Execution {
                tool_name: tool,
                session_id: None,
                inputs: &inputs,
                outputs: None,
                success,
                error_type: None,
                execution_time_ms: 1.0,
                user_prompt: prompt,
            })
            .unwrap();
    };
    // Too little history: the default stands, and the command says how much it needs.
    for i in 0..5 {
        let (tool, ask) = asks[i % 3];
        log(tool, &ask.replace("{}", &format!("item {i}")), true);
    }
    let r = ts.tune_threshold(0.05, true).await.unwrap();
    assert_eq!((r.tuning.answered, r.tuning.threshold, r.written_to.as_deref()), (5, None, None));
    assert_eq!(r.min_answered, MIN_ANSWERED);
    assert!(!home.path().join("config.json").exists());

    for i in 5..MIN_ANSWERED + 6 {
        let (tool, ask) = asks[i % 3];
        log(tool, &ask.replace("{}", &format!("{}", i * 7)), true);
    }
    // Failed runs are no evidence.
    log("count_words", "bake a cake", false);
    // A request that needed a new tool, as the agent's trace records it.
    ts.store()
        .with_connection(|c| {
            c.execute(
                "INSERT INTO traces VALUES ('t1', NULL, 'reverse the order of these letters', 'synthesize', \
                 'reverse_string', 1, 5.0, '2026-01-01T00:00:00Z', '{\"synthesized\": true}')",
                [],
            )
        })
        .unwrap()
        .unwrap();
    let r = ts.tune_threshold(0.05, true).await.unwrap();
    assert_eq!((r.tuning.answered, r.tuning.synthesized), (MIN_ANSWERED + 6, 1));
    let t = r.tuning.threshold.expect("enough history");
    let p = r.tuning.chosen().unwrap();
    assert!(p.wrong_reuse <= 0.05 && p.correct_reuse > 0.5, "{:?}", r.tuning);
    let file = r.written_to.expect("written");
    let written: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(written["search"]["threshold"].as_f64().map(|v| v as f32), Some(t));
    // The next process reads it.
    let reread = Config::resolve(|k| match k {
        "TOOLSMITH_HOME" => Some(home.path().display().to_string()),
        _ => std::env::var(k).ok(),
    })
    .unwrap();
    assert_eq!(reread.search.threshold, Some(t));
}
