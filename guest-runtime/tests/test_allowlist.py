"""The allow-list is data published twice (allowed_modules.txt, schemas/allowed-modules.json);
every module on it must be importable by a tool, and the runtime's own modules must not be."""

import json
import pathlib

import pytest

GUEST = pathlib.Path(__file__).resolve().parent.parent
LISTED = [
    line.split("#", 1)[0].strip()
    for line in (GUEST / "allowed_modules.txt").read_text().splitlines()
    if line.split("#", 1)[0].strip()
]
NEVER = ["os", "sys", "subprocess", "socket", "shutil", "ctypes", "importlib", "builtins", "io.open_code", "_pytest", "pytest", "marshal", "gc", "inspect", "signal", "threading"]


def test_the_two_copies_agree():
    published = json.loads((GUEST.parent / "schemas" / "allowed-modules.json").read_text())
    assert published == LISTED


def test_the_list_is_sorted_and_unique():
    assert LISTED == sorted(set(LISTED))
    assert len(LISTED) >= 40


@pytest.mark.parametrize("name", NEVER)
def test_runtime_internals_are_not_allowed(name):
    assert name not in LISTED


def test_the_runtime_reports_the_list(runtime):
    assert runtime.allowed_modules() == LISTED


def test_a_tool_can_import_every_allowed_module(runtime):
    imports = "\n".join(f"import {name}" for name in LISTED if name != "__future__")
    source = f"from __future__ import annotations\n{imports}\n\ndef names() -> list:\n    return sorted(k for k, v in globals().items() if type(v).__name__ == 'module')\n"
    result = runtime.call(runtime.compile(source), "names")["result"]
    assert {name.split(".")[0] for name in LISTED if name != "__future__"} <= set(result)


@pytest.mark.parametrize("name", ["os", "sys", "importlib", "socket"])
def test_refused_everywhere(runtime, expect_error, name):
    expect_error("ImportNotAllowed", runtime.compile, f"import {name}\n")
    code = runtime.compile(f"def f():\n    return __import__('{name}')\n")
    expect_error("ImportNotAllowed", runtime.call, code, "f")
