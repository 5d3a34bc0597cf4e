"""run-tests: each tests/cases/run_tests/NAME/ holds tool.py, test_tool.py and expect.json:
the expected counts, the outcome of every test, substrings of some tests' messages and of the
report. Where expect.json does not say `"pytest_agrees": false`, real pytest must agree on every
outcome too (xfail counts as skipped), so the cases pin pytest's behaviour, not ours."""

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
    code = runtime.compile(tool, "tool.py")
    report = runtime.run_tests(code, "tool", tests, {"max_output_bytes": 200_000}, tmp_dir=tmp_path if expect.get("tmp_path") else None)
    outcomes = {t["name"]: t["outcome"] for t in report["tests"]}
    assert outcomes == expect["outcomes"], report["output"]
    assert {k: report[k] for k in ("passed", "failed", "errors", "skipped")} == expect["counts"]
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


@pytest.fixture
def code(runtime):
    return runtime.compile(TOOL, "adder.py")


def test_both_import_styles(runtime, code):
    tests = "import adder\nfrom adder import add\n\ndef test_a():\n    assert adder.add(1, 2) == add(1, 2) == 3\n"
    report = runtime.run_tests(code, "adder", tests)
    assert report["passed"] == 1 and report["failed"] == 0, report["output"]


def test_report_reads_like_pytest(runtime, code):
    tests = "from adder import add\n\ndef test_ok():\n    assert add(1, 1) == 2\n\ndef test_bad():\n    assert add(1, 1) == 3\n"
    report = runtime.run_tests(code, "adder", tests)
    output = report["output"]
    assert output.startswith("collected 2 items\n")
    assert "test_adder.py::test_ok PASSED" in output and "test_adder.py::test_bad FAILED" in output
    assert "= FAILURES =" in output and "= short test summary info =" in output
    assert "FAILED test_adder.py::test_bad - assert 2 == 3" in output
    assert re.search(r"=+ 1 failed, 1 passed in \d+\.\d\ds =+\n$", output), output


def test_no_tests(runtime, code):
    report = runtime.run_tests(code, "adder", "X = 1\n")
    assert report["tests"] == [] and report["passed"] == report["failed"] == 0
    assert "no tests ran in " in report["output"]


def test_tmp_path_without_a_granted_directory_is_an_error(runtime, code):
    report = runtime.run_tests(code, "adder", "def test_t(tmp_path):\n    pass\n")
    assert report["tests"][0]["outcome"] == "error"
    assert "options.tmp_path is unset" in report["tests"][0]["message"]


def test_tests_may_import_only_allowed_modules(runtime, code, expect_error):
    payload = expect_error("ImportNotAllowed", runtime.run_tests, code, "adder", "import os\n\ndef test_a():\n    pass\n")
    assert payload["module"] == "os" and payload["line"] == 1
    assert "pytest" in payload["message"] and "adder" in payload["message"]
    payload = expect_error("ImportNotAllowed", runtime.run_tests, code, "adder", "import _pytest.assertion.rewrite\n")
    report = runtime.run_tests(code, "adder", "def test_a():\n    __import__('subprocess')\n")
    assert "ImportNotAllowed" in report["tests"][0]["message"]


def test_syntax_error_in_tests(runtime, code, expect_error):
    payload = expect_error("SyntaxError", runtime.run_tests, code, "adder", "def test_a(:\n    pass\n")
    assert payload["line"] == 1 and "test_adder.py" in payload["traceback"]


@pytest.mark.parametrize("module_name", ["json", "pytest", "1abc", "a.b", "class", "", "sys"])
def test_module_name_must_be_a_free_identifier(runtime, code, expect_error, module_name):
    expect_error("InvalidArguments", runtime.run_tests, code, module_name, "def test_a():\n    pass\n")


def test_output_limit_fails_the_test(runtime, code):
    tests = "def test_loud():\n    print('x' * 5000)\n\ndef test_quiet():\n    pass\n"
    report = runtime.run_tests(code, "adder", tests, {"max_output_bytes": 1000})
    outcomes = {t["name"]: t for t in report["tests"]}
    assert outcomes["test_loud"]["outcome"] == "failed"
    assert "OutputLimitExceeded" in outcomes["test_loud"]["message"]
    assert outcomes["test_quiet"]["outcome"] == "passed"


def test_report_is_bounded(runtime, code):
    tests = "".join(f"def test_{i}():\n    assert {i} == -1, 'x' * 300\n\n" for i in range(200))
    report = runtime.run_tests(code, "adder", tests, {"max_output_bytes": 5000})
    assert report["failed"] == 200
    assert len(report["output"].encode()) <= 5000
    assert report["output"].rstrip().endswith("=")  # the closing summary line survives


def test_the_tool_module_is_unregistered_afterwards(runtime, code):
    runtime.run_tests(code, "adder", "def test_a():\n    pass\n")
    if runtime.name == "native":
        assert "adder" not in sys.modules
    report = runtime.run_tests(code, "adder", "def test_a():\n    pass\n")
    assert report["passed"] == 1


def test_dataclasses_in_tool_and_tests(runtime):
    tool = (
        "from __future__ import annotations\nfrom dataclasses import dataclass, field\n\n"
        "@dataclass\nclass Item:\n    name: str\n    tags: list[str] = field(default_factory=list)\n\n"
        "def make(name: str) -> Item:\n    return Item(name)\n"
    )
    tests = (
        "from __future__ import annotations\nfrom dataclasses import dataclass\nfrom inventory import make, Item\n\n"
        "@dataclass\nclass Expected:\n    name: str\n\n"
        "def test_make():\n    assert make('a') == Item('a', [])\n    assert Expected('a').name == make('a').name\n"
    )
    report = runtime.run_tests(runtime.compile(tool, "inventory.py"), "inventory", tests)
    assert report["passed"] == 1, report["output"]


def test_async_tests_fail_clearly(runtime, code):
    report = runtime.run_tests(code, "adder", "async def test_a():\n    pass\n")
    assert report["tests"][0]["outcome"] == "failed"
    assert "async def functions are not natively supported" in report["tests"][0]["message"]


def test_a_broken_skipif_condition_is_that_tests_error(runtime, code):
    tests = "import pytest\n\n@pytest.mark.skipif('undefined_name', reason='x')\ndef test_a():\n    pass\n\ndef test_b():\n    pass\n"
    report = runtime.run_tests(code, "adder", tests)
    outcomes = {t["name"]: t["outcome"] for t in report["tests"]}
    assert outcomes == {"test_a": "error", "test_b": "passed"}
    assert "NameError" in report["tests"][0]["message"]
