"""call: a fresh module per call, keyword arguments from JSON, exact JSON results, typed errors."""

import json

import pytest

TOOL = '''
import math
import statistics
from collections import Counter

counter = 0


def factorial(n: int) -> int:
    return math.factorial(n)


def summary(values, label="values"):
    print(f"summarising {len(values)} {label}")
    return {"mean": statistics.mean(values), "label": label, "tags": ("a", "b"), "counts": Counter("aab")}


def bump():
    global counter
    counter += 1
    return counter


def echo(**kwargs):
    return kwargs


def nested_set():
    return {"rows": [{"ok": 1}, {"bad": {1, 2}}]}


def infinite():
    return [1.0, float("inf")]


def int_keys():
    return {1: "a"}


def circular():
    a = []
    a.append(a)
    return a


def divide(a, b):
    return helper(a, b)


def helper(a, b):
    return a / b


def recurse(n=0):
    return recurse(n + 1)


def chatty(n):
    for _ in range(n):
        print("x" * 100)
    return "done"


def swallow_limit():
    try:
        print("y" * 10_000)
    except BaseException:
        pass
    return "caught"


def sneaky_import():
    return __import__("os").listdir("/")


def sneaky_importlib():
    return __builtins__["__import__"]("importlib")


def exits():
    raise SystemExit(3)


def sys_import():
    exec("import sys")
    return 1


def memory():
    try:
        return bytearray(1 << 62)
    except OverflowError:  # a 32-bit interpreter (wasm32): past the store's memory limit
        return bytearray((1 << 31) - 1)


NOT_A_FUNCTION = 42
'''


@pytest.fixture
def code(runtime):
    return runtime.compile(TOOL, "tool.py")


def test_result_and_output(runtime, code):
    out = runtime.call(code, "summary", {"values": [1, 2, 3], "label": "numbers"})
    assert out["result"] == {"mean": 2, "label": "numbers", "tags": ["a", "b"], "counts": {"a": 2, "b": 1}}
    assert out["stdout"] == "summarising 3 numbers\n"
    assert out["stderr"] == ""


def test_big_integers_are_exact(runtime, code):
    assert runtime.call(code, "factorial", {"n": 30})["result"] == 265252859812191058636308480000000
    big = runtime.call(code, "factorial", {"n": 2000})["result"]  # 5736 digits, past CPython's str limit
    import math

    assert big == math.factorial(2000)


def test_big_integer_arguments(runtime, code):
    huge = 10**5000 + 7
    out = runtime.call_raw(code, "echo", json.dumps({"n": huge}))
    assert out["result"] == {"n": huge}


def test_huge_integers_both_ways(runtime):
    # Past ~6,000 digits in and ~9,000 out CPython converts through _pylong, which the
    # component has only because the warm-up imported it.
    code = runtime.compile("def f(n: int) -> int:\n    return n * 10**10000 + 1\n")
    n = 7 * 10**7000 + 3
    assert runtime.call_raw(code, "f", json.dumps({"n": n}))["result"] == n * 10**10000 + 1
    assert runtime.call(code, "f", {"n": 1})["result"] == 10**10000 + 1


def test_the_interpreters_own_imports_work_in_tool_code(runtime, expect_error):
    code = runtime.compile(
        "import datetime, time\n"
        "def f():\n    return [str(datetime.datetime.strptime('2024-02-29', '%Y-%m-%d').date()), time.strptime('2024', '%Y')[0]]\n"
    )
    assert runtime.call(code, "f")["result"] == ["2024-02-29", 2024]
    expect_error("ImportNotAllowed", runtime.compile, "import _pylong\n")
    expect_error("ImportNotAllowed", runtime.compile, "from _strptime import _strptime\n")


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"])
def test_non_finite_numbers_are_invalid_arguments(runtime, expect_error, code, number):
    payload = expect_error("InvalidArguments", runtime.call_raw, code, "echo", f'{{"x": {number}, "y": [1.5]}}')
    assert number.lstrip("-") in payload["message"]


def test_positional_only_parameters_are_passed_by_name(runtime, expect_error):
    code = runtime.compile("def f(a, b=2, /, c=3, *, d=4):\n    return [a, b, c, d]\n")
    assert runtime.call(code, "f", {"a": 1})["result"] == [1, 2, 3, 4]
    assert runtime.call(code, "f", {"a": 1, "b": 5, "d": 6})["result"] == [1, 5, 3, 6]
    payload = expect_error("TypeError", runtime.call, code, "f", {"b": 5})
    assert "missing required positional-only argument: 'a'" in payload["message"]


def test_a_result_is_read_without_running_its_methods(runtime):
    # Each value's overrides would change the answer (or the dict being serialised) if the
    # serialiser called them; it reads the containers' contents instead.
    source = """
class Sneaky(dict):
    def items(self):
        PARENT["added"] = 1
        return [("forged", True)]

class Liar(str):
    def __str__(self):
        return "forged"

class Number(int):
    def __repr__(self):
        return "999"

PARENT = {}

def f():
    PARENT.clear()
    PARENT["child"] = Sneaky(real=1)
    PARENT["text"] = Liar("real")
    PARENT["n"] = Number(7)
    PARENT["more"] = [Sneaky(x=2)]
    return PARENT
"""
    result = runtime.call(runtime.compile(source), "f")["result"]
    assert result == {"child": {"real": 1}, "text": "real", "n": 7, "more": [{"x": 2}]}


def test_an_object_posing_as_a_dict_is_not_json(runtime, expect_error):
    source = "class Fake:\n    __class__ = dict\n    def items(self):\n        return []\n\ndef f():\n    return {'x': Fake()}\n"
    payload = expect_error("ResultNotJSON", runtime.call, runtime.compile(source), "f")
    assert payload["message"].startswith("result['x']: Fake is not a JSON value"), payload


def test_non_ascii_text_survives(runtime, code):
    assert runtime.call(code, "echo", {"name": "Zoë — 東京 🐍"})["result"] == {"name": "Zoë — 東京 🐍"}


def test_each_call_gets_a_fresh_module(runtime, code):
    assert runtime.call(code, "bump")["result"] == 1
    assert runtime.call(code, "bump")["result"] == 1


@pytest.mark.parametrize(
    "function,where",
    [
        ("nested_set", "result['rows'][1]['bad']: set"),
        ("infinite", "result[1]: float inf"),
        ("int_keys", "result[1]: int"),
        ("circular", "result[0]: list"),
    ],
)
def test_results_that_are_not_json(runtime, expect_error, code, function, where):
    payload = expect_error("ResultNotJSON", runtime.call, code, function)
    assert payload["message"].startswith(where), payload["message"]


def test_exceptions_keep_the_tools_frames_only(runtime, expect_error, code):
    payload = expect_error("ZeroDivisionError", runtime.call, code, "divide", {"a": 1, "b": 0})
    assert payload["message"] == "division by zero"
    lines = TOOL.splitlines()
    raising, calling = lines.index("    return a / b") + 1, lines.index("    return helper(a, b)") + 1
    assert payload["line"] == raising
    trace = payload["traceback"]
    assert trace.startswith("Traceback (most recent call last):")
    assert f'File "tool.py", line {calling}, in divide' in trace
    assert f'File "tool.py", line {raising}, in helper' in trace
    assert "toolsmith_harness" not in trace and "calling.py" not in trace


def test_recursion_error(runtime, expect_error, code):
    payload = expect_error("RecursionError", runtime.call, code, "recurse")
    assert "Previous line repeated" in payload["traceback"]


def test_memory_error(runtime, expect_error, code):
    expect_error("MemoryError", runtime.call, code, "memory")


def test_system_exit_is_an_error_not_an_exit(runtime, expect_error, code):
    expect_error("SystemExit", runtime.call, code, "exits")


def test_output_limit(runtime, expect_error, code):
    out = runtime.call(code, "chatty", {"n": 3}, {"max_output_bytes": 1000})
    assert out["result"] == "done"
    payload = expect_error("OutputLimitExceeded", runtime.call, code, "chatty", {"n": 30}, {"max_output_bytes": 1000})
    assert "1000" in payload["message"]
    assert len(payload["stdout"].encode()) == 1000


def test_output_limit_cannot_be_swallowed(runtime, expect_error, code):
    expect_error("OutputLimitExceeded", runtime.call, code, "swallow_limit", {}, {"max_output_bytes": 100})


@pytest.mark.parametrize("function,module", [("sneaky_import", "os"), ("sneaky_importlib", "importlib"), ("sys_import", "sys")])
def test_imports_at_run_time_are_checked(runtime, expect_error, code, function, module):
    payload = expect_error("ImportNotAllowed", runtime.call, code, function)
    assert payload["module"] == module


def test_function_not_found(runtime, expect_error, code):
    payload = expect_error("FunctionNotFound", runtime.call, code, "nope")
    assert "factorial" in payload["message"]
    payload = expect_error("FunctionNotFound", runtime.call, code, "NOT_A_FUNCTION")
    assert "int" in payload["message"]


@pytest.mark.parametrize("args_text", ["[1, 2]", "3", "null", '"x"', "{not json", '{"n": NaN}'])
def test_arguments_must_be_a_json_object(runtime, expect_error, code, args_text):
    expect_error("InvalidArguments", runtime.call_raw, code, "factorial", args_text)


def test_wrong_keyword_is_a_type_error(runtime, expect_error, code):
    payload = expect_error("TypeError", runtime.call, code, "factorial", {"m": 3})
    assert "unexpected keyword argument 'm'" in payload["message"]


@pytest.mark.parametrize("options_text", ["[]", '{"max_output_bytes": -1}', '{"max_output_bytes": "big"}'])
def test_bad_options(runtime, expect_error, code, options_text):
    expect_error("InvalidOptions", runtime.call_raw, code, "factorial", '{"n": 1}', options_text)


def test_module_level_errors_are_reported(runtime, expect_error):
    code = runtime.compile("import json\nprint('loading')\nCONFIG = json.loads('{bad')\n\ndef f():\n    return 1\n")
    payload = expect_error("JSONDecodeError", runtime.call, code, "f")
    assert payload["line"] == 3
    assert payload["stdout"] == "loading\n"


def test_main_block_does_not_run(runtime):
    code = runtime.compile("def f():\n    return 1\n\nif __name__ == '__main__':\n    raise SystemExit('ran')\n")
    assert runtime.call(code, "f")["result"] == 1


def test_dataclasses_and_future_annotations_work(runtime):
    source = (
        "from __future__ import annotations\nfrom dataclasses import dataclass, asdict\n\n"
        "@dataclass\nclass Point:\n    x: int\n    y: int = 0\n\n"
        "def point(x: int) -> dict:\n    return asdict(Point(x))\n"
    )
    assert runtime.call(runtime.compile(source), "point", {"x": 2})["result"] == {"x": 2, "y": 0}


def test_stdlib_modules_are_usable(runtime):
    source = (
        "import csv, io, re, hashlib, base64, datetime, decimal, zlib, uuid, random\n"
        "def f(text: str) -> dict:\n"
        "    rows = list(csv.DictReader(io.StringIO(text)))\n"
        "    return {\n"
        "        'rows': rows,\n"
        "        'sha': hashlib.sha256(text.encode()).hexdigest()[:8],\n"
        "        'b64': base64.b64encode(zlib.decompress(zlib.compress(b'hi'))).decode(),\n"
        "        'words': re.findall(r'[a-z]+', text),\n"
        "        'day': datetime.date(2024, 2, 29).isoformat(),\n"
        "        'sum': str(decimal.Decimal('0.1') + decimal.Decimal('0.2')),\n"
        "        'uuid_len': len(str(uuid.uuid4())),\n"
        "        'rand': 0 <= random.random() < 1,\n"
        "    }\n"
    )
    result = runtime.call(runtime.compile(source), "f", {"text": "a,b\n1,2\n"})["result"]
    assert result["rows"] == [{"a": "1", "b": "2"}]
    assert result["b64"] == "aGk=" and result["day"] == "2024-02-29" and result["sum"] == "0.3"
    assert result["uuid_len"] == 36 and result["rand"] is True


def test_lone_surrogates_cannot_break_the_answer(runtime, expect_error):
    code = runtime.compile(
        "def pair():\n    return '\\ud83d\\ude00'\n"
        "def lone():\n    print('\\udc80')\n    return 'a\\ud800b'\n"
        "def fails():\n    raise ValueError('\\ud800')\n"
    )
    assert runtime.call(code, "pair")["result"] == "\U0001F600"
    out = runtime.call(code, "lone")
    assert out["result"] == "a\ufffdb" and out["stdout"] == "\ufffd\n"
    assert expect_error("ValueError", runtime.call, code, "fails")["message"] == "\ufffd"


def test_a_tool_patching_json_cannot_break_the_answer(runtime, expect_error):
    if runtime.name == "native":
        pytest.skip("natively the tool would patch this test process's json module")
    code = runtime.compile("import json\n\ndef f():\n    json.dumps = lambda *a, **k: 42\n    return 1\n")
    payload = expect_error("InternalError", runtime.call, code, "f")
    assert payload["message"]
