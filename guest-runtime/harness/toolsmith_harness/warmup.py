"""What `app.py` runs once at build time, before componentize-py snapshots the heap.

Only modules imported at build time exist in the component, so this imports the allow-list and
pytest, then drives every export through its success and error paths (lazy imports inside
traceback formatting, pytest's assertion explanations and so on land in the snapshot too). It
also checks the answers: a harness that misbehaves inside the guest fails the build.
"""

import gc
import json
import linecache
import sys

import pytest  # noqa: F401 - into the snapshot: tests import it

from . import allowlist
from . import allowed_modules, call, compile, describe, run_tests  # noqa: A004
from .errors import Failure, valid_text

_TOOL = '''
"""A warm-up tool."""
from __future__ import annotations

import math
from typing import Literal, Optional


def stats(values: list[float], mode: Literal["mean", "max"] = "mean", label: Optional[str] = None) -> dict:
    """Summarise numbers.

    Args:
        values: The numbers.
        mode: What to compute.
        label: A name for the result.

    Returns:
        The summary.
    """
    print("computing", len(values))
    value = sum(values) / len(values) if mode == "mean" else max(values)
    return {"value": value, "label": label, "big": math.factorial(30)}


def fails(n: int) -> int:
    """:param n: divisor"""
    return 1 // n


def not_json():
    return {"x": {1, 2}}


def sneaky():
    return __import__("os")


def chatty():
    while True:
        print("x" * 1000)


def deep(n=0):
    return deep(n + 1)
'''

_TESTS = '''
import pytest
from warm_tool import stats, fails


@pytest.fixture
def numbers():
    yield [1.0, 2.0, 3.0]


def test_mean(numbers):
    assert stats(numbers)["value"] == pytest.approx(2.0)


@pytest.mark.parametrize("values,expected", [([1.0], 1.0), pytest.param([2.0, 4.0], 4.0, id="pair")])
@pytest.mark.parametrize("mode", ["max"])
def test_max(values, expected, mode):
    assert stats(values, mode)["value"] == expected


def test_fails():
    with pytest.raises(ZeroDivisionError, match="division"):
        fails(0)


def test_wrong():
    assert [stats([1.0])["value"], 2] == [1.0, 3]


def test_text():
    assert "abc\\ndef" == "abc\\nxyz"


def test_tmp(tmp_path):
    pass


def test_skipped():
    pytest.skip("warm-up")


class TestErrors:
    def test_error(self):
        fails(0)
'''


def _expect(condition, what):
    if not condition:
        raise RuntimeError(f"toolsmith harness warm-up failed: {what}")


def _failure(fn, *args):
    try:
        fn(*args)
    except Failure as failure:
        return failure.payload
    raise RuntimeError(f"toolsmith harness warm-up: {fn.__name__} did not fail")


def run():
    failed = allowlist.import_all()
    _expect(not failed, f"allowed modules that do not import: {failed}")
    _expect(allowed_modules() == list(allowlist.ALLOWED), "allowed_modules")

    code = compile(_TOOL, "warm_tool.py")
    _expect(_failure(compile, "import os\n", "t.py")["error_type"] == "ImportNotAllowed", "compile refuses os")
    _expect(_failure(compile, "def f(:\n", "t.py")["error_type"] == "SyntaxError", "compile reports syntax")

    ok = json.loads(call(code, "stats", '{"values": [1, 2.5]}', '{"max_output_bytes": 1000}'))
    _expect(ok["result"]["big"] == 265252859812191058636308480000000, "big integers")
    for function, error_type in (
        ("fails", "ZeroDivisionError"),
        ("not_json", "ResultNotJSON"),
        ("sneaky", "ImportNotAllowed"),
        ("chatty", "OutputLimitExceeded"),
        ("deep", "RecursionError"),
        ("missing", "FunctionNotFound"),
    ):
        args = '{"n": 0}' if function == "fails" else "{}"
        got = _failure(call, code, function, args, '{"max_output_bytes": 5000}')
        _expect(got["error_type"] == error_type, f"call {function}: {got}")
    _expect(_failure(call, code, "stats", "[1]", "{}")["error_type"] == "InvalidArguments", "args")
    _expect(_failure(call, b"junk", "stats", "{}", "{}")["error_type"] == "InvalidCode", "code")

    _expect(valid_text("a\ud83d\ude00\ud800") == "a\U0001F600\ufffd", "lone surrogates")  # the utf-16 codec
    _expect(json.loads(Failure("X", "m\udc80").to_json())["message"] == "m\ufffd", "Failure.to_json")

    described = json.loads(describe(code, "stats"))
    _expect(described["parameters"]["required"] == ["values"], f"describe: {described}")
    json.loads(describe(code, "fails"))

    report = json.loads(run_tests(code, "warm_tool", _TESTS, '{"max_output_bytes": 100000}'))
    counts = {k: report[k] for k in ("passed", "failed", "errors", "skipped")}
    _expect(counts == {"passed": 4, "failed": 3, "errors": 1, "skipped": 1}, f"run_tests: {counts}\n{report['output']}")
    broken = json.loads(run_tests(code, "warm_tool", "raise ValueError('x')\n", "{}"))
    _expect(broken["errors"] == 1, "run_tests collection error")
    _expect(_failure(run_tests, code, "warm_tool", "import os\n", "{}")["error_type"] == "ImportNotAllowed", "test imports")

    # Leave no trace of the warm-up in the snapshot's state.
    for name in [n for n in linecache.cache if n in ("warm_tool.py", "test_warm_tool.py", "t.py")]:
        del linecache.cache[name]
    _expect("warm_tool" not in sys.modules and "__tool__" not in sys.modules, "modules left registered")
    gc.collect()
