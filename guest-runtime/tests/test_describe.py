"""describe: each tests/cases/describe/NAME.py is a tool; NAME.json holds the expected answer
for the function it names (every key given must match exactly; `docstring` may be left out).
describe reads the source; nothing of the tool runs."""

import json
import pathlib

import pytest

CASES = pathlib.Path(__file__).parent / "cases" / "describe"
NAMES = sorted(p.stem for p in CASES.glob("*.py"))


def test_there_are_cases():
    assert len(NAMES) >= 5


@pytest.mark.parametrize("name", NAMES)
def test_describe_case(runtime, name):
    expected = json.loads((CASES / f"{name}.json").read_text())
    got = runtime.describe((CASES / f"{name}.py").read_text(), expected["name"])
    for key, value in expected.items():
        assert got[key] == value, key
    assert set(got) == {"name", "summary", "docstring", "parameters", "returns", "positional"}


def test_docstring_is_the_cleaned_text(runtime):
    got = runtime.describe('def f(x: int):\n    """First line.\n\n    More text.\n    """\n', "f")
    assert got["docstring"] == "First line.\n\nMore text."
    assert got["summary"] == "First line."


def test_no_docstring_no_annotations(runtime):
    got = runtime.describe("def f(a, b=3, *rest):\n    pass\n", "f")
    assert got["parameters"] == {
        "type": "object",
        "properties": {"a": {}, "b": {"default": 3}},
        "required": ["a"],
        "additionalProperties": False,
    }
    assert got["returns"] == {} and got["summary"] == "" and got["docstring"] == ""
    assert got["positional"] == ["a", "b"]


def test_every_kind_of_parameter(runtime):
    got = runtime.describe("def f(a, b=1, /, c=2, *args, d, e=5, **kw):\n    pass\n", "f")
    params = got["parameters"]
    assert list(params["properties"]) == ["a", "b", "c", "d", "e"]
    assert params["required"] == ["a", "d"]
    assert params["additionalProperties"] is True
    assert got["positional"] == ["a", "b", "c"]
    assert runtime.describe("def f(*, key: str):\n    pass\n", "f")["positional"] == []


def test_defaults_that_are_not_json_are_left_out(runtime):
    got = runtime.describe("def f(a: set = frozenset(), b: tuple = (1, 2), c=1e400, d={1, 2}):\n    pass\n", "f")
    props = got["parameters"]["properties"]
    assert props["b"]["default"] == [1, 2]
    for name in ("a", "c", "d"):
        assert "default" not in props[name], name
    assert "required" not in got["parameters"]  # every parameter has a default, literal or not


def test_defaults_that_are_not_literals_keep_the_parameter_optional(runtime):
    source = "import math\nLIMIT = 10\n\ndef f(a, b=LIMIT, c=math.pi, d=len('x'), e=-3, f=None, g='x' * 3):\n    pass\n"
    props = runtime.describe(source, "f")["parameters"]
    assert props["required"] == ["a"]
    assert {k: v.get("default", "absent") for k, v in props["properties"].items()} == {
        "a": "absent", "b": "absent", "c": "absent", "d": "absent", "e": -3, "f": None, "g": "absent",
    }


def test_annotations_are_read_statically(runtime):
    source = '''
import typing as t
import collections.abc
from enum import Enum, IntEnum, StrEnum, auto
from typing import Optional as Maybe

Vector = list[float]
UserId = t.NewType("UserId", int)
Point = t.TypedDict("Point", {"x": int, "y": int}, total=False)


class Level(IntEnum):
    LOW = auto()
    HIGH = auto()


class Mode(StrEnum):
    FAST = auto()
    SLOW = auto()


class Shade(str, Enum):
    DARK = "dark"
    LIGHT = "light"


def f(
    v: Vector,
    m: t.Dict[str, t.Any],
    p: "t.Literal['a', 'b']",
    s: "Maybe[collections.abc.Sequence[int]]",
    u: UserId,
    pt: Point,
    level: Level,
    mode: Mode = Mode.FAST,
    shade: Shade = Shade.DARK,
    n: "int | float | None" = None,
    unknown: SomethingElse = 3,
    nested: list[list["int"]] = [],
) -> "dict[str, Vector]":
    pass
'''
    got = runtime.describe(source, "f")
    props = got["parameters"]["properties"]
    assert props["v"] == {"type": "array", "items": {"type": "number"}}
    assert props["m"] == {"type": "object"}
    assert props["p"] == {"type": "string", "enum": ["a", "b"]}
    assert props["s"] == {"type": ["array", "null"], "items": {"type": "integer"}}
    assert props["u"] == {"type": "integer"}
    assert props["pt"] == {
        "type": "object",
        "properties": {"x": {"type": "integer"}, "y": {"type": "integer"}},
        "additionalProperties": False,
    }
    assert props["level"] == {"type": "integer", "enum": [1, 2]}
    assert props["mode"] == {"type": "string", "enum": ["fast", "slow"], "default": "fast"}
    assert props["shade"] == {"type": "string", "enum": ["dark", "light"], "default": "dark"}
    assert props["n"] == {"type": ["integer", "number", "null"], "default": None}
    assert props["unknown"] == {"default": 3}
    assert props["nested"] == {"type": "array", "items": {"type": "array", "items": {"type": "integer"}}, "default": []}
    assert got["returns"] == {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "number"}}}


def test_the_tools_code_does_not_run(runtime):
    # Natively a running module body would end this test process.
    source = "import os\nos._exit(3)\nraise SystemExit('ran')\n\ndef f(x: int) -> int:\n    return x\n"
    got = runtime.describe(source, "f")
    assert got["parameters"]["required"] == ["x"]


def test_describe_errors(runtime, expect_error):
    source = "import json\nVALUE = 1\nclass K:\n    pass\ndef f():\n    pass\n"
    assert "functions defined: f" in expect_error("FunctionNotFound", runtime.describe, source, "g")["message"]
    for name, what in (("VALUE", "an assignment (line 2)"), ("K", "a class (line 3)"), ("json", "an import (line 1)")):
        payload = expect_error("FunctionNotFound", runtime.describe, source, name)
        assert what in payload["message"], payload
    payload = expect_error("SyntaxError", runtime.describe, "def f(:\n    pass\n", "f")
    assert payload["line"] == 1


@pytest.mark.parametrize(
    "source,needle",
    [
        ("import functools\n\n@functools.lru_cache\ndef f(x):\n    return x\n", "is decorated (line 3)"),
        ("def f(x):\n    return x\n\ndef f(y):\n    return y\n", "a def (line 1), a def (line 4)"),
        ("def f(x):\n    return x\n\nf = print\n", "an assignment (line 4)"),
        ("def g():\n    global f\n    f = print\n\ndef f(x):\n    return x\n", "an assignment (line 3)"),
        ("def f(x):\n    return x\n\nfrom math import *\n", "'from math import *' (line 4)"),
        ("def f(x):\n    return x\n\ndel f\n", "a del (line 4)"),
        ("if True:\n    def f(x):\n        return x\n", "inside a block (line 2)"),
        ("def f(x):\n    return x\n\nfor f in [print]:\n    pass\n", "an assignment (line 4)"),
        ("def f(x):\n    return x\n\n[(f := print) for _ in range(1)]\n", "an assignment (line 4)"),
    ],
)
def test_functions_describe_will_not_guess_about(runtime, expect_error, source, needle):
    payload = expect_error("UnsupportedFunction", runtime.describe, source, "f")
    assert needle in payload["message"], payload["message"]


def test_bindings_elsewhere_do_not_count(runtime):
    source = (
        "from math import *\n\n"  # before the def: the def rebinds the name
        "def f(x: int):\n    return x\n\n"
        "def g():\n    f = 1\n    return f\n\n"
        "class K:\n    f = 2\n\n"
        "squares = [f for f in range(3)]\n"
    )
    assert runtime.describe(source, "f")["positional"] == ["x"]


def test_parameters_is_always_an_object_schema(runtime):
    for source in ("def f():\n    pass\n", "def f(**kw: int):\n    pass\n", "async def f(x):\n    pass\n"):
        params = runtime.describe(source, "f")["parameters"]
        assert isinstance(params, dict) and params["type"] == "object", source
        assert isinstance(params["properties"], dict)
