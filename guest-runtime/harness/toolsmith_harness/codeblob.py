"""Compiling tool source to the opaque bytes the host stores, and loading them back as a fresh
module.

The bytes are `HEADER + marshal.dumps((filename, source, code))`: the code object compiled by this
interpreter, plus the source so that tracebacks can show the tool's lines. HEADER holds this
CPython's bytecode magic number: code made by another version is refused as InvalidCode before
marshal reads it (unmarshalling another version's code object can crash the interpreter).
"""

import ast
import importlib.util
import linecache
import marshal
import sys
import traceback
import types

from .errors import INVALID_CODE, SYNTAX_ERROR, Failure

HEADER = b"toolsmith-code-v1:" + importlib.util.MAGIC_NUMBER


class Blob:
    __slots__ = ("filename", "source", "code")

    def __init__(self, filename, source, code):
        self.filename = filename
        self.source = source
        self.code = code


def _syntax_failure(exc, filename):
    if isinstance(exc, SyntaxError):
        line = exc.lineno
        where = f" (line {line}" + (f", column {exc.offset})" if exc.offset else ")") if line else ""
        message = f"{exc.msg}{where}"
        if type(exc) is not SyntaxError:
            message = f"{type(exc).__name__}: {message}"
        text = "".join(traceback.format_exception_only(type(exc), exc))
        return Failure(SYNTAX_ERROR, message, line=line, traceback=text)
    # Python 3.11 raises ValueError for a NUL byte in the source.
    return Failure(SYNTAX_ERROR, f"{filename}: {exc}")


def parse(source, filename):
    """`ast.parse`, with a SyntaxError turned into Failure(SyntaxError) carrying its line."""
    if not isinstance(source, str):
        raise Failure(SYNTAX_ERROR, f"source must be text, not {type(source).__name__}")
    try:
        return ast.parse(source, filename)
    except (SyntaxError, ValueError) as exc:
        raise _syntax_failure(exc, filename) from None
    except (RecursionError, MemoryError) as exc:
        raise Failure(SYNTAX_ERROR, f"{filename}: the source is nested too deeply to parse ({type(exc).__name__})") from None


def compile_tree(tree, filename):
    """Compile a checked AST; some errors (`return` outside a function) only show up here."""
    try:
        return compile(tree, filename, "exec", dont_inherit=True, optimize=0)
    except (SyntaxError, ValueError) as exc:
        raise _syntax_failure(exc, filename) from None


def compile_source(source, filename, policy):
    """Parse, check imports against `policy`, compile; return the blob bytes."""
    filename = filename or "tool.py"
    tree = parse(source, filename)
    policy.check_tree(tree)
    code = compile_tree(tree, filename)
    return HEADER + marshal.dumps((filename, source, code))


def load(data):
    """The Blob inside bytes made by `compile_source`, or Failure(InvalidCode)."""
    data = bytes(data)
    if not data.startswith(HEADER):
        raise Failure(
            INVALID_CODE,
            "code was not made by this runtime's compile (or by another Python version): compile the tool again",
        )
    try:
        value = marshal.loads(data[len(HEADER):])
    except (EOFError, ValueError, TypeError) as exc:
        raise Failure(INVALID_CODE, f"code is damaged ({exc}): compile the tool again") from None
    if not (
        isinstance(value, tuple)
        and len(value) == 3
        and isinstance(value[0], str)
        and isinstance(value[1], str)
        and isinstance(value[2], types.CodeType)
    ):
        raise Failure(INVALID_CODE, "code has an unknown layout: compile the tool again")
    return Blob(*value)


def remember_source(filename, source):
    """Let tracebacks show lines of code that exists only in memory."""
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)


def new_module(name, filename, policy):
    module = types.ModuleType(name)
    module.__file__ = filename
    module.__builtins__ = policy.builtins_dict()
    return module


class registered:
    """Put `module` in sys.modules under its name for the duration (dataclasses, typing and
    `from <module> import f` look there), restoring what was there before."""

    def __init__(self, module):
        self.module = module
        self.name = module.__name__

    def __enter__(self):
        self.saved = sys.modules.get(self.name)
        sys.modules[self.name] = self.module
        return self.module

    def __exit__(self, *exc):
        if self.saved is None:
            sys.modules.pop(self.name, None)
        else:
            sys.modules[self.name] = self.saved
        return False


def execute(blob, module):
    """Run the blob's code as `module`'s body (exceptions propagate)."""
    remember_source(blob.filename, blob.source)
    exec(blob.code, module.__dict__)
    return module
