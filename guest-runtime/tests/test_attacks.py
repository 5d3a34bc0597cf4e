"""Hostile tools and test files: each tests/cases/attacks/NAME/ holds tool.py, maybe test_tool.py,
and expect.json saying what the runtime must answer:

- `describe` (keys that must match) or `describe_error` (+ `describe_error_message` substrings);
- `outcomes`, `counts`, `collected`, `messages` / `not_in_messages` (substrings) of run-tests;
- `call`: `{"args", "error_type", "limit"?}` or `{"args", "trap": true}` for the call export itself;
- `component_only`: why the attack cannot be tried natively (it would patch or end this process).
"""

import json
import pathlib

import pytest

from conftest import HostTrap

CASES = pathlib.Path(__file__).parent / "cases" / "attacks"
NAMES = sorted(p.name for p in CASES.iterdir() if (p / "expect.json").exists())


def load(name):
    case = CASES / name
    tests = case / "test_tool.py"
    return (case / "tool.py").read_text(), tests.read_text() if tests.exists() else None, json.loads((case / "expect.json").read_text())


def maybe_skip(runtime, expect):
    if runtime.name == "native" and expect.get("component_only"):
        pytest.skip(expect["component_only"])


def test_there_are_cases():
    assert len(NAMES) >= 12


@pytest.mark.parametrize("name", NAMES)
def test_describe_is_unaffected(runtime, expect_error, name):
    tool, _, expect = load(name)
    if "describe_error" in expect:
        payload = expect_error(expect["describe_error"], runtime.describe, tool, expect["function"])
        for needle in expect.get("describe_error_message", []):
            assert needle in payload["message"], payload["message"]
        return
    got = runtime.describe(tool, expect["function"])  # never runs the hostile module body
    for key, value in expect.get("describe", {}).items():
        assert got[key] == value, key
    assert got["parameters"]["type"] == "object"


@pytest.mark.parametrize("name", [n for n in NAMES if load(n)[1] is not None])
def test_run_tests_reports_honestly(runtime, name):
    tool, tests, expect = load(name)
    maybe_skip(runtime, expect)
    report, _ = runtime.run_tests(tool, "tool", expect["function"], tests, {"max_output_bytes": 100_000})
    outcomes = {t["name"]: t["outcome"] for t in report["tests"]}
    assert outcomes == expect["outcomes"], report["output"]
    assert {k: report[k] for k in ("passed", "failed", "errors", "skipped")} == expect["counts"]
    assert report["collected"] == expect["collected"]
    messages = {t["name"]: t["message"] for t in report["tests"]}
    for test_name, needles in expect.get("messages", {}).items():
        for needle in needles:
            assert needle in messages[test_name], (test_name, messages[test_name])
    for test_name, needles in expect.get("not_in_messages", {}).items():
        for needle in needles:
            assert needle not in messages[test_name], (test_name, messages[test_name])


@pytest.mark.parametrize("name", [n for n in NAMES if "call" in load(n)[2]])
def test_the_call_itself(runtime, expect_error, name):
    tool, _, expect = load(name)
    maybe_skip(runtime, expect)
    code = runtime.compile(tool)
    call = expect["call"]
    if call.get("trap"):
        with pytest.raises(HostTrap):
            runtime.call(code, expect["function"], call["args"])
    else:
        payload = expect_error(call["error_type"], runtime.call, code, expect["function"], call["args"])
        # A tool can make its own instance claim a limit: only the host may (ToolHost drops it).
        assert payload.get("limit") == call.get("limit")
