"""describe: each tests/cases/describe/NAME.py is a tool; NAME.json holds the expected answer
for the function it names (every key given must match exactly; `docstring` may be left out)."""

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
    code = runtime.compile((CASES / f"{name}.py").read_text(), f"{name}.py")
    got = runtime.describe(code, expected["name"])
    for key, value in expected.items():
        assert got[key] == value, key


def test_docstring_is_the_cleaned_text(runtime):
    code = runtime.compile('def f(x: int):\n    """First line.\n\n    More text.\n    """\n')
    got = runtime.describe(code, "f")
    assert got["docstring"] == "First line.\n\nMore text."
    assert got["summary"] == "First line."


def test_no_docstring_no_annotations(runtime):
    got = runtime.describe(runtime.compile("def f(a, b=3, *rest):\n    pass\n"), "f")
    assert got["parameters"] == {
        "type": "object",
        "properties": {"a": {}, "b": {"default": 3}},
        "required": ["a"],
        "additionalProperties": False,
    }
    assert got["returns"] == {} and got["summary"] == "" and got["docstring"] == ""


def test_defaults_that_are_not_json_are_left_out(runtime):
    got = runtime.describe(runtime.compile("def f(a: set = frozenset(), b: tuple = (1, 2)):\n    pass\n"), "f")
    assert "default" not in got["parameters"]["properties"]["a"]
    assert got["parameters"]["properties"]["b"]["default"] == [1, 2]


def test_describe_errors(runtime, expect_error):
    code = runtime.compile("VALUE = 1\nclass K:\n    pass\ndef f():\n    pass\n")
    expect_error("FunctionNotFound", runtime.describe, code, "g")
    expect_error("FunctionNotFound", runtime.describe, code, "VALUE")
    expect_error("FunctionNotFound", runtime.describe, code, "K")
    broken = runtime.compile("raise ValueError('at import')\n")
    payload = expect_error("ValueError", runtime.describe, broken, "f")
    assert payload["line"] == 1
