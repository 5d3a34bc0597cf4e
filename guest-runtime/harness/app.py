"""componentize-py entry point for the `runtime` world (guest-runtime/wit/runtime.wit).

A thin adapter: the logic lives in `toolsmith_harness`, which does not import the bindings and is
tested natively. Nothing may escape an export (the glue would trap), so every method turns any
exception into the WIT `result`'s error string.

The module body runs once, at build time: `warmup.run()` imports everything a tool may use and
exercises each export so their lazy imports are in the snapshot.

`call-tool`, the world's one import, is `wit_world.call_tool` in componentize-py 0.25.1's
bindings: it returns the Ok string and raises `componentize_py_types.Err` holding the error
string. The harness takes it as a plain function returning (ok, text).
"""

import wit_world
from componentize_py_types import Err

import toolsmith_harness as harness
from toolsmith_harness import warmup

_INTERNAL = (
    '{"error_type": "InternalError", "message": "toolsmith harness failed while reporting an error"}'
)


def _error(exc):
    try:
        if isinstance(exc, harness.Failure):
            text = exc.to_json()
            if type(text) is str:
                return Err(text)
    except BaseException:  # noqa: BLE001 - the error path must not fail
        pass
    return Err(_INTERNAL)


def _export(kind, fn, *args):
    """`fn(*args)`, which must return a `kind`; anything else becomes the error result.

    (In `call`, tool code shares the stdlib's module objects with the harness and could patch
    them: a wrongly typed answer must not reach the glue.)"""
    try:
        value = fn(*args)
    except BaseException as exc:  # noqa: BLE001
        raise _error(exc) from None
    if type(value) is not kind:
        raise Err(_INTERNAL)
    return value


def _call_tool(args):
    try:
        return True, wit_world.call_tool(args)
    except Err as err:
        return False, err.value


class WitWorld:
    def compile(self, source: str, filename: str) -> bytes:
        return _export(bytes, harness.compile, source, filename)

    def call(self, code: bytes, function: str, args: str, options: str) -> str:
        return _export(str, harness.call, code, function, args, options)

    def describe(self, source: str, function: str) -> str:
        return _export(str, harness.describe, source, function)

    def run_tests(self, module_name: str, function: str, test_source: str, options: str) -> str:
        return _export(str, harness.run_tests, module_name, function, test_source, options, _call_tool)

    def allowed_modules(self) -> list[str]:
        try:
            return [str(name) for name in harness.allowed_modules()]
        except BaseException:  # noqa: BLE001
            return []


warmup.run()
