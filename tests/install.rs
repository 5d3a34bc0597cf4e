//! The installed binary runs without the checkout it was built from: `scripts/install.sh` puts it
//! under a fresh prefix, and from `/`, with a fresh home and none of the variables the project's
//! scripts set, it finds the runtime and the model where the install put them (`doctor` says so),
//! runs a file and registers and finds a tool.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn installed(prefix: &Path, home: &Path, fake_home: &Path) -> Command {
    let mut c = Command::new(prefix.join("bin/toolsmith"));
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", fake_home)
        .env("TOOLSMITH_HOME", home)
        .current_dir("/");
    c
}

fn json(mut c: Command) -> Value {
    let o = c.output().unwrap();
    assert!(
        o.status.success(),
        "{c:?}: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{c:?}: not JSON ({e})"))
}

#[test]
fn the_installed_binary_needs_no_checkout() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let prefix = tempfile::tempdir().unwrap();
    let o = Command::new("bash")
        .arg(root.join("scripts/install.sh"))
        .env("PREFIX", prefix.path())
        .env("TOOLSMITH_BIN", env!("CARGO_BIN_EXE_toolsmith"))
        .output()
        .unwrap();
    assert!(o.status.success(), "install.sh failed: {}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), prefix.path().join("bin/toolsmith").display().to_string());

    let (home, fake_home, work) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let run = |args: &[&str]| {
        let mut c = installed(prefix.path(), home.path(), fake_home.path());
        c.args(args);
        c
    };
    let checks = json(run(&["doctor", "--json"]));
    let share = prefix.path().join("share/toolsmith");
    for name in ["python runtime", "embedding model"] {
        let check = checks.as_array().unwrap().iter().find(|c| c["name"] == name).unwrap();
        let detail = check["detail"].as_str().unwrap();
        assert_eq!(check["status"], "ok", "{check}");
        assert!(detail.contains("(from the data dir)") && detail.contains(&*share.to_string_lossy()), "{check}");
    }

    let tool = work.path().join("times.py");
    std::fs::write(
        &tool,
        "def times(a: int, b: int) -> int:\n    \"\"\"Multiply two integers.\"\"\"\n    return a * b\n",
    )
    .unwrap();
    let tests = work.path().join("test_times.py");
    std::fs::write(&tests, "from times import times\n\ndef test_it():\n    assert times(6, 7) == 42\n").unwrap();
    let out = json(run(&["run", "--file", &tool.to_string_lossy(), "--args", r#"{"a": 6, "b": 7}"#, "--json"]));
    assert_eq!(out["result"], 42, "{out}");
    let added = json(run(&[
        "tools",
        "add",
        "--name",
        "times",
        "--code",
        &tool.to_string_lossy(),
        "--tests",
        &tests.to_string_lossy(),
        "--verify",
        "wasm-only",
        "--json",
    ]));
    assert_eq!(added["success"], true, "{added}");
    let hits = json(run(&["tools", "search", "multiply two numbers", "--json"]));
    assert_eq!(hits[0]["name"], "times", "{hits}");
}
