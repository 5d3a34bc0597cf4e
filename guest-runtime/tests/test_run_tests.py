"""run-tests: each tests/cases/run_tests/NAME/ holds tool.py, test_tool.py and expect.json:
the function under test, the expected counts, the outcome of every test, substrings of some
tests' messages and of the report. Where expect.json does not say `"pytest_agrees": false`, real
pytest must agree on every outcome too (xfail counts as skipped), so the cases pin pytest's
behaviour, not ours. The tool is reached only through call-tool (conftest's ToolHost)."""

import json
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

CASES = pathlib.Path(__file__).parent / "cases" / "run_tests"
NAMES = sorted(p.name for p in CASES.iterdir() if (p / "expect.json").exists())


def load_case(name):
    case = CASES / name
    return (case / "tool.py").read_text(), (case / "test_tool.py").read_text(), json.loads((case / "expect.json").read_text())


def test_there_are_cases():
    assert len(NAMES) >= 6


@pytest.mark.parametrize("name", NAMES)
def test_case(runtime, name, tmp_path):
    tool, tests, expect = load_case(name)
    tmp_dir = tmp_path if expect.get("tmp_path") else None
    report, _ = runtime.run_tests(tool, "tool", expect["function"], tests, {"max_output_bytes": 200_000}, tmp_dir=tmp_dir)
    outcomes = {t["name"]: t["outcome"] for t in report["tests"]}
    assert outcomes == expect["outcomes"], report["output"]
    assert {k: report[k] for k in ("passed", "failed", "errors", "skipped")} == expect["counts"]
    assert report["collected"] == expect.get("collected", len(outcomes))
    messages = {t["name"]: t["message"] for t in report["tests"]}
    for test_name, needles in expect.get("messages", {}).items():
        for needle in needles:
            assert needle in messages[test_name], (test_name, messages[test_name])
    for needle in expect.get("output", []):
        assert needle in report["output"], report["output"]


_VERBOSE_LINE = re.compile(r"^test_tool\.py::(\S+) (PASSED|FAILED|SKIPPED|XFAIL|XPASS|ERROR)\b")
_PYTEST_OUTCOME = {"PASSED": "passed", "FAILED": "failed", "SKIPPED": "skipped", "XFAIL": "skipped", "XPASS": "passed", "ERROR": "error"}


@pytest.mark.parametrize("name", [n for n in NAMES if load_case(n)[2].get("pytest_agrees", True)])
def test_real_pytest_agrees(name, tmp_path):
    for file in ("tool.py", "test_tool.py"):
        shutil.copy(CASES / name / file, tmp_path / file)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-v", "-rA", "-p", "no:cacheprovider", "test_tool.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    outcomes = {}
    for line in run.stdout.splitlines():
        match = _VERBOSE_LINE.match(line)
        if match:
            outcomes[match.group(1)] = _PYTEST_OUTCOME[match.group(2)]
        elif line.startswith("ERROR test_tool.py - ") or line == "ERROR test_tool.py":
            outcomes["test_tool.py"] = "error"
    assert outcomes == load_case(name)[2]["outcomes"], run.stdout


TOOL = "def add(a, b):\n    return a + b\n"


def run(runtime, tests, options=None, tool=TOOL, function="add"):
    report, _ = runtime.run_tests(tool, "adder", function, tests, options)
    return report


def outcome_of(report, name):
    return next(t for t in report["tests"] if t["name"] == name)


def test_both_import_styles(runtime):
    tests = "import adder\nfrom adder import add\n\ndef test_a():\n    assert adder.add(1, 2) == add(1, 2) == 3\n"
    report = run(runtime, tests)
    assert report["passed"] == 1 and report["failed"] == 0, report["output"]


def test_report_reads_like_pytest(runtime):
    tests = "from adder import add\n\ndef test_ok():\n    assert add(1, 1) == 2\n\ndef test_bad():\n    assert add(1, 1) == 3\n"
    report = run(runtime, tests)
    output = report["output"]
    assert output.startswith("collected 2 items\n") and report["collected"] == 2
    assert "test_adder.py::test_ok PASSED" in output and "test_adder.py::test_bad FAILED" in output
    assert "= FAILURES =" in output and "= short test summary info =" in output
    assert "FAILED test_adder.py::test_bad - assert 2 == 3" in output
    assert re.search(r"=+ 1 failed, 1 passed in \d+\.\d\ds =+\n$", output), output


def test_each_call_goes_out_as_a_json_object_of_keywords(runtime):
    tests = "from adder import add\n\ndef test_a():\n    assert add(1, b=[2]) == 3\n"
    report, host = runtime.run_tests(TOOL, "adder", "add", tests)
    assert report["failed"] == 1  # 1 + [2] is a TypeError in the tool's instance
    assert "TypeError: unsupported operand" in report["tests"][0]["message"]
    assert [json.loads(c) for c in host.calls] == [{"a": 1, "b": [2]}]


@pytest.mark.parametrize(
    "call,needle",
    [
        ("add({1}, 2)", "argument 'a': set is not a JSON value"),
        ("add(float('nan'), 2)", "argument 'a': float nan is not a JSON number"),
        ("add(1, {'k': b'x'})", "argument 'b'['k']: bytes is not a JSON value"),
        ("add(1, {2: 3})", "argument 'b'[2]: int is not allowed as a key"),
        ("add(1, 2, 3)", "add() takes 2 positional arguments but 3 were given"),
        ("add(1, a=2)", "add() got multiple values for argument 'a'"),
    ],
)
def test_arguments_that_cannot_cross_are_a_type_error(runtime, call, needle):
    tests = f"import pytest\nfrom adder import add\n\ndef test_a():\n    with pytest.raises(TypeError) as info:\n        {call}\n    assert {needle!r} in str(info.value)\n"
    report, host = runtime.run_tests(TOOL, "adder", "add", tests)
    assert report["passed"] == 1, report["output"]
    assert host.calls == []


def test_exceptions_come_back_under_their_class(runtime):
    tool = (
        "import json\n\n"
        "class BadInput(Exception):\n    pass\n\n"
        "def fail(kind):\n"
        "    if kind == 'value': raise ValueError('bad value')\n"
        "    if kind == 'key': {}['missing']\n"
        "    if kind == 'zero': return 1 / 0\n"
        "    if kind == 'unicode': b'\\xff'.decode('utf-8')\n"
        "    if kind == 'json': json.loads('{')\n"
        "    if kind == 'own': raise BadInput('no good')\n"
        "    if kind == 'exit': raise SystemExit(4)\n"
    )
    tests = (
        "import json\nimport pytest\nfrom failing import fail\n\n"
        "def test_value():\n    with pytest.raises(ValueError, match='^bad value$'):\n        fail('value')\n\n"
        "def test_key():\n    with pytest.raises(KeyError) as info:\n        fail('key')\n    assert type(info.value) is KeyError and info.value.args == ('missing',)\n\n"
        "def test_zero():\n    with pytest.raises(ZeroDivisionError, match='division by zero'):\n        fail('zero')\n\n"
        "def test_unicode():\n    with pytest.raises(UnicodeDecodeError, match='invalid start byte'):\n        fail('unicode')\n\n"
        "def test_json():\n    with pytest.raises(json.JSONDecodeError, match='Expecting property name'):\n        fail('json')\n\n"
        "def test_own():\n    with pytest.raises(Exception) as info:\n        fail('own')\n"
        "    assert type(info.value).__name__ == 'BadInput' and str(info.value) == 'no good'\n"
        "    assert not isinstance(info.value, (ValueError, TypeError))\n\n"
        "def test_exit():\n    with pytest.raises(SystemExit):\n        fail('exit')\n\n"
        "def test_unexpected():\n    fail('own')\n"
    )
    report, _ = runtime.run_tests(tool, "failing", "fail", tests, filename="failing.py")
    assert report["passed"] == 7, report["output"]
    unexpected = outcome_of(report, "test_unexpected")
    assert unexpected["outcome"] == "failed"
    assert "failing.py:12: in fail" in unexpected["message"] and "E   failing.BadInput: no good" in unexpected["message"]


def test_big_integers_cross_both_ways(runtime):
    tool = "def scale(n: int) -> int:\n    return n * 10**10000\n"
    tests = "from big import scale\n\ndef test_scale():\n    n = 7 * 10**7000\n    assert scale(n) == n * 10**10000\n"
    report, _ = runtime.run_tests(tool, "big", "scale", tests, filename="big.py")
    assert report["passed"] == 1, report["output"]


def test_a_limit_of_the_host_cannot_be_caught(runtime):
    tool = "def huge(n):\n    return 'x' * n\n"
    tests = (
        "import pytest\nfrom huge import huge\n\n"
        "def test_raises():\n    with pytest.raises(Exception):\n        huge(2_000_000)\n\n"
        "def test_swallowed():\n    try:\n        huge(2_000_000)\n    except BaseException:\n        pass\n\n"
        "@pytest.mark.xfail(reason='expected')\ndef test_xfail():\n    huge(2_000_000)\n\n"
        "def test_small():\n    assert huge(3) == 'xxx'\n"
    )
    report, _ = runtime.run_tests(tool, "huge", "huge", tests, filename="huge.py")
    outcomes = {t["name"]: t["outcome"] for t in report["tests"]}
    assert outcomes == {"test_raises": "failed", "test_swallowed": "failed", "test_xfail": "failed", "test_small": "passed"}
    for name in ("test_raises", "test_swallowed", "test_xfail"):
        message = outcome_of(report, name)["message"]
        assert "ToolLimitExceeded: ResultTooLarge: the result is" in message, message
    assert "the test caught this, but it ends the test" in outcome_of(report, "test_swallowed")["message"]


def test_a_reply_that_is_not_calls_is_an_error(native):
    tests = "import pytest\nfrom adder import add\n\ndef test_a():\n    with pytest.raises(BaseException):\n        add(1, 2)\n"
    for answer in ((True, "not json"), (True, '{"result": 3}'), (False, '{"message": "x"}'), (True, '{"result": 1e400, "stdout": "", "stderr": ""}')):
        options = json.dumps({"positional": ["a", "b"]})
        report = native.run_tests_raw("adder", "add", tests, options, lambda args, answer=answer: answer)
        assert report["tests"][0]["outcome"] == "error", (answer, report["output"])
        assert "ToolReplyError" in report["tests"][0]["message"]


def test_options_name_the_positional_parameters(runtime, expect_error):
    tests = "from adder import add\n\ndef test_a():\n    assert add(1, 2) == 3\n"
    for options in ({}, {"positional": "a"}, {"positional": ["a", "a"]}, {"positional": ["1a"]}):
        expect_error("InvalidOptions", runtime.run_tests_raw, "adder", "add", tests, json.dumps(options), None)
    report = run(runtime, tests, {"positional": ["a"]})
    assert "takes 1 positional argument but 2 were given" in report["tests"][0]["message"]


@pytest.mark.parametrize("function", ["", "1f", "class", "__getattr__"])
def test_function_must_be_a_plain_name(runtime, expect_error, function):
    options = json.dumps({"positional": []})
    expect_error("InvalidArguments", runtime.run_tests_raw, "adder", function, "def test_a():\n    pass\n", options, None)


def test_no_tests(runtime):
    report = run(runtime, "X = 1\n")
    assert report["tests"] == [] and report["passed"] == report["failed"] == report["collected"] == 0
    assert "no tests ran in " in report["output"]


def test_tmp_path_without_a_granted_directory_is_an_error(runtime):
    report = run(runtime, "def test_t(tmp_path):\n    pass\n")
    assert report["tests"][0]["outcome"] == "error"
    assert "options.tmp_path is unset" in report["tests"][0]["message"]


def test_tests_may_import_only_allowed_modules(runtime, expect_error):
    payload = expect_error("ImportNotAllowed", run, runtime, "import os\n\ndef test_a():\n    pass\n")
    assert payload["module"] == "os" and payload["line"] == 1
    assert "pytest" in payload["message"] and "adder" in payload["message"]
    payload = expect_error("ImportNotAllowed", run, runtime, "import _pytest.assertion.rewrite\n")
    report = run(runtime, "def test_a():\n    __import__('subprocess')\n")
    assert "ImportNotAllowed" in report["tests"][0]["message"]


def test_syntax_error_in_tests(runtime, expect_error):
    payload = expect_error("SyntaxError", run, runtime, "def test_a(:\n    pass\n")
    assert payload["line"] == 1 and "test_adder.py" in payload["traceback"]


@pytest.mark.parametrize("module_name", ["json", "pytest", "1abc", "a.b", "class", "", "sys"])
def test_module_name_must_be_a_free_identifier(runtime, expect_error, module_name):
    options = json.dumps({"positional": ["a", "b"]})
    expect_error("InvalidArguments", runtime.run_tests_raw, module_name, "add", "def test_a():\n    pass\n", options, None)


def test_output_limit_fails_the_test(runtime):
    tests = "def test_loud():\n    print('x' * 5000)\n\ndef test_quiet():\n    pass\n"
    report = run(runtime, tests, {"max_output_bytes": 1000})
    outcomes = {t["name"]: t for t in report["tests"]}
    assert outcomes["test_loud"]["outcome"] == "failed"
    assert "OutputLimitExceeded" in outcomes["test_loud"]["message"]
    assert outcomes["test_quiet"]["outcome"] == "passed"


def test_what_the_tool_prints_counts_against_the_tests_output(runtime):
    tool = "def loud(n):\n    print('y' * n)\n    return n\n"
    tests = "from loud import loud\n\ndef test_loud():\n    loud(3000)\n\ndef test_quiet():\n    assert loud(10) == 10\n"
    report, _ = runtime.run_tests(tool, "loud", "loud", tests, {"max_output_bytes": 1000}, filename="loud.py")
    assert outcome_of(report, "test_loud")["outcome"] == "failed"
    assert "OutputLimitExceeded" in outcome_of(report, "test_loud")["message"]
    assert outcome_of(report, "test_quiet")["outcome"] == "passed"


def test_report_is_bounded(runtime):
    tests = "".join(f"def test_{i}():\n    assert {i} == -1, 'x' * 300\n\n" for i in range(200))
    report = run(runtime, tests, {"max_output_bytes": 5000})
    assert report["failed"] == 200 and report["collected"] == 200
    assert len(report["output"].encode()) <= 5000
    assert report["output"].rstrip().endswith("=")  # the closing summary line survives


def test_the_tool_module_is_unregistered_afterwards(runtime):
    run(runtime, "def test_a():\n    pass\n")
    if runtime.name == "native":
        assert "adder" not in sys.modules
    report = run(runtime, "def test_a():\n    pass\n")
    assert report["passed"] == 1


def test_dataclasses_in_tests(runtime):
    tool = "def make(name: str) -> dict:\n    return {'name': name, 'tags': []}\n"
    tests = (
        "from __future__ import annotations\nfrom dataclasses import dataclass, asdict, field\nfrom inventory import make\n\n"
        "@dataclass\nclass Expected:\n    name: str\n    tags: list[str] = field(default_factory=list)\n\n"
        "def test_make():\n    assert make('a') == asdict(Expected('a'))\n"
    )
    report, _ = runtime.run_tests(tool, "inventory", "make", tests, filename="inventory.py")
    assert report["passed"] == 1, report["output"]


def test_async_tests_fail_clearly(runtime):
    report = run(runtime, "async def test_a():\n    pass\n")
    assert report["tests"][0]["outcome"] == "failed"
    assert "async def functions are not natively supported" in report["tests"][0]["message"]


def test_a_broken_skipif_condition_is_that_tests_error(runtime):
    tests = "import pytest\n\n@pytest.mark.skipif('undefined_name', reason='x')\ndef test_a():\n    pass\n\ndef test_b():\n    pass\n"
    report = run(runtime, tests)
    outcomes = {t["name"]: t["outcome"] for t in report["tests"]}
    assert outcomes == {"test_a": "error", "test_b": "passed"}
    assert "NameError" in report["tests"][0]["message"]


def test_positional_only_parameters_bind_through_the_proxy(runtime):
    tool = "def clamp(value, low=0, /, high=10):\n    return max(low, min(value, high))\n"
    tests = (
        "from clamp import clamp\n\n"
        "def test_positions():\n    assert [clamp(-5), clamp(5, 6), clamp(50, 0, 20), clamp(50, high=30)] == [0, 6, 20, 30]\n"
    )
    report, host = runtime.run_tests(tool, "clamp", "clamp", tests, filename="clamp.py")
    assert report["passed"] == 1, report["output"]
    assert json.loads(host.calls[1]) == {"value": 5, "low": 6}
