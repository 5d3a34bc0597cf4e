"""The Python side of Toolsmith's WASM runtime: the logic behind the WIT world's exports.

Each export takes and returns plain Python values (str, bytes, list) and fails only by raising
`Failure`, whose `to_json()` is the error object; `app.py` adapts them to componentize-py's
bindings. Nothing here imports the bindings, so the same code runs under a native CPython for the
tests in guest-runtime/tests/.
"""

from . import allowlist, calling, codeblob, schema, testrunner
from .errors import HARNESS_ERROR_TYPES, Failure, guarded

__all__ = [
    "HARNESS_ERROR_TYPES",
    "Failure",
    "allowed_modules",
    "call",
    "compile",
    "describe",
    "run_tests",
]


@guarded
def compile(source, filename):  # noqa: A001 - the WIT export's name
    """Check a tool's source and compile it: the bytes `call` takes."""
    return codeblob.compile_source(source, filename, allowlist.Policy())


@guarded
def call(code, function, args, options):
    """Call `function` of the compiled tool with the JSON object `args`; a JSON text result."""
    return calling.call(code, function, args, options)


@guarded
def describe(source, function):
    """JSON text: name, summary, docstring, parameters (JSON Schema), returns and positional of
    `function`, read from the parsed source (nothing of it runs)."""
    return schema.describe(source, function)


@guarded
def run_tests(module_name, function, test_source, options, call_tool):
    """JSON text: counts, per-test outcomes and a pytest-like report of the test module. The tool
    is reached only through `call_tool(args_json)` -> (ok, text)."""
    return testrunner.run_tests(module_name, function, test_source, options, call_tool)


def allowed_modules():
    return list(allowlist.ALLOWED)
