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

from . import allowlist, jsonio, proxy
from . import allowed_modules, call, compile, describe, run_tests  # noqa: A004
from .errors import Failure, valid_text

_TOOL = '''
"""A warm-up tool."""
from __future__ import annotations

import datetime
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


def big(n: int, /) -> int:
    return n * 10**10000


def when(text: str) -> str:
    return str(datetime.datetime.strptime(text, "%Y-%m-%d").date())
'''

_TESTS = '''
import json

import pytest

import warm_tool
from warm_tool import stats


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
        stats([])


def test_wrong():
    assert [stats([1.0])["value"], 2] == [1.0, 3]


def test_text():
    assert "abc\\ndef" == "abc\\nxyz"


def test_tmp(tmp_path):
    pass


def test_skipped():
    pytest.skip("warm-up")


def test_not_json():
    with pytest.raises(TypeError, match="set"):
        stats({1.0})


def test_too_many():
    with pytest.raises(TypeError, match="positional"):
        stats([1.0], "mean", None, 4)


def test_limit():
    with pytest.raises(BaseException):
        stats([-1.0])


def test_attribute():
    with pytest.raises(AttributeError):
        warm_tool.other


def test_json_error():
    with pytest.raises(json.JSONDecodeError):
        stats([-2.0])


def test_load_error():
    stats([-3.0])


def test_dup():
    pass


def test_dup():
    pass


class TestErrors:
    def test_error(self):
        stats([])
'''

_LOAD_TRACEBACK = 'Traceback (most recent call last):\n  File "warm_tool.py", line 3, in <module>\n    x = 1\nValueError: at load\n'


def _call_tool_for(code):
    """The stand-in for the host's `call-tool` (imports cannot be called at build time): the
    harness's own `call`, and the host's limit and the tool's odd answers on cue."""

    def call_tool(args):
        values = json.loads(args).get("values")
        if values == [-1.0]:
            return False, json.dumps({"error_type": "Timeout", "message": "warm-up", "limit": True})
        if values == [-2.0]:
            return False, json.dumps({"error_type": "JSONDecodeError", "message": "Expecting value"})
        if values == [-3.0]:
            return False, json.dumps({"error_type": "ValueError", "message": "at load", "traceback": _LOAD_TRACEBACK})
        try:
            return True, call(code, "stats", args, '{"max_output_bytes": 100000}')
        except Failure as failure:
            return False, failure.to_json()

    return call_tool


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
    internal = [n for n in allowlist.INTERPRETER_INTERNAL if n != "_pylong" or sys.version_info >= (3, 12)]
    failed = allowlist.import_all() + allowlist.import_all(internal)
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

    huge = 7 * 10**7000
    out = jsonio.loads(call(code, "big", jsonio.dumps({"n": huge}), "{}"))
    _expect(out["result"] == huge * 10**10000, "integers of 17,000 digits, both ways (_pylong)")
    _expect(json.loads(call(code, "when", '{"text": "2024-02-29"}', "{}"))["result"] == "2024-02-29", "strptime")
    _expect(_failure(call, code, "big", '{"n": 1e400}', "{}")["error_type"] == "InvalidArguments", "1e400")

    described = json.loads(describe(_TOOL, "stats"))
    _expect(described["parameters"]["required"] == ["values"], f"describe: {described}")
    _expect(described["positional"] == ["values", "mode", "label"], f"describe: {described}")
    _expect(json.loads(describe(_TOOL, "big"))["positional"] == ["n"], "describe big")
    _expect(_failure(describe, _TOOL, "math")["error_type"] == "FunctionNotFound", "describe an import")
    _expect(_failure(describe, "@f\ndef g(): pass\n", "g")["error_type"] == "UnsupportedFunction", "describe decorated")

    options = json.dumps({"max_output_bytes": 100000, "positional": described["positional"]})
    report = json.loads(run_tests("warm_tool", "stats", _TESTS, options, _call_tool_for(code)))
    counts = {k: report[k] for k in ("passed", "failed", "errors", "skipped", "collected")}
    expected = {"passed": 9, "failed": 4, "errors": 3, "skipped": 1, "collected": 16}
    _expect(counts == expected, f"run_tests: {counts}\n{report['output']}")
    _expect(proxy.stdlib_exceptions().get("JSONDecodeError") is json.JSONDecodeError, "stdlib exceptions")
    broken = json.loads(run_tests("warm_tool", "stats", "raise ValueError('x')\n", options, _call_tool_for(code)))
    _expect(broken["errors"] == 1, "run_tests collection error")
    missing = json.loads(run_tests("warm_tool", "stats", "from warm_tool import other\n", options, _call_tool_for(code)))
    _expect("only 'stats'" in missing["tests"][0]["message"], f"run_tests import hint: {missing}")
    refused = _failure(run_tests, "warm_tool", "stats", "import os\n", options, _call_tool_for(code))
    _expect(refused["error_type"] == "ImportNotAllowed", "test imports")

    # Leave no trace of the warm-up in the snapshot's state.
    for name in [n for n in linecache.cache if n in ("warm_tool.py", "test_warm_tool.py", "t.py")]:
        del linecache.cache[name]
    _expect("warm_tool" not in sys.modules and "__tool__" not in sys.modules, "modules left registered")
    gc.collect()
