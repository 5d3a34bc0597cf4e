"""compile: syntax errors with their line, the import allow-list, and bytes the other exports take."""

import pytest

OK_IMPORTS = [
    "import json\nimport re, math",
    "from collections import Counter, defaultdict",
    "import collections.abc",
    "from urllib.parse import urlparse",
    "from urllib import parse",
    "import xml.etree.ElementTree as ET",
    "from __future__ import annotations",
    "import json.decoder",
]

REFUSED_IMPORTS = [
    ("import os", "os", 1),
    ("import json\nimport sys", "sys", 2),
    ("import os.path", "os.path", 1),
    ("from subprocess import run", "subprocess", 1),
    ("from urllib import request", "urllib.request", 1),
    ("from urllib import *", "urllib.*", 1),
    ("import importlib", "importlib", 1),
    ("def f():\n    import socket\n", "socket", 2),
    ("from . import sibling", ".", 1),
    ("import numpy", "numpy", 1),
]


@pytest.mark.parametrize("source", OK_IMPORTS)
def test_allowed_imports_compile(runtime, source):
    code = runtime.compile(source + "\n")
    assert isinstance(code, bytes) and code


@pytest.mark.parametrize("source,module,line", REFUSED_IMPORTS)
def test_refused_imports_name_module_and_line(runtime, expect_error, source, module, line):
    payload = expect_error("ImportNotAllowed", runtime.compile, source + "\n")
    assert payload["module"] == module
    assert payload["line"] == line
    assert "allowed modules: " in payload["message"] and "json" in payload["message"]


def test_every_refused_import_is_named(runtime, expect_error):
    payload = expect_error("ImportNotAllowed", runtime.compile, "import os\nimport json\nimport sys\n")
    assert "'os' (line 1)" in payload["message"] and "'sys' (line 3)" in payload["message"]


@pytest.mark.parametrize(
    "source,line",
    [
        ("def f(:\n    pass\n", 1),
        ("x = 1\ndef g():\n  return (\n", 3),
        ("def f():\nreturn 1\n", 2),  # IndentationError is reported as a SyntaxError
        ("return 5\n", 1),  # found by the compiler, not the parser
    ],
)
def test_syntax_errors_carry_the_line(runtime, expect_error, source, line):
    payload = expect_error("SyntaxError", runtime.compile, source, "my_tool.py")
    assert payload["line"] == line
    assert f"line {line}" in payload["message"]
    assert "my_tool.py" in payload["traceback"]


def test_filename_is_used_in_tracebacks(runtime, expect_error):
    code = runtime.compile("def f():\n    return 1 / 0\n", "divider.py")
    payload = expect_error("ZeroDivisionError", runtime.call, code, "f")
    assert 'File "divider.py", line 2, in f' in payload["traceback"]
    assert "return 1 / 0" in payload["traceback"]  # the source travels with the code


def test_code_from_elsewhere_is_refused(runtime, expect_error):
    code = runtime.compile("def f():\n    return 1\n")
    header = code[: code.index(b":") + 5]  # the tag and the bytecode magic number
    expect_error("InvalidCode", runtime.call, b"not marshal data", "f")
    expect_error("InvalidCode", runtime.call, header + b"\x00garbage", "f")
    expect_error("InvalidCode", runtime.call, code[:-10], "f")


def test_code_from_another_python_version_is_refused(runtime, native, expect_error):
    code = runtime.compile("def f():\n    return 1\n")
    other = bytearray(code)
    magic_at = code.index(b":") + 1
    other[magic_at] ^= 0xFF  # another CPython's bytecode magic number
    expect_error("InvalidCode", runtime.call, bytes(other), "f")
