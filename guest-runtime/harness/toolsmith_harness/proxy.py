"""The tool under test as a test module sees it during `run-tests`: a module holding one function
that sends its arguments out through the `call-tool` import, to a fresh instance holding only the
tool. The tool's code never runs in the judge's interpreter, so it cannot patch the judge.

A call's answer comes back as one of:

- the tool's result (what it printed goes to the test's captured output);
- the tool's exception, re-raised under its class name: the builtin class when it names one
  (`pytest.raises(ValueError, match=...)` works), an exception class of an allowed stdlib module
  when exactly one has that name (`json.JSONDecodeError`), else a class made for that name;
- a `ToolFault`, a BaseException that `pytest.raises(Exception)` cannot catch and that fails the
  test even if it is caught: a limit of the host (`"limit": true`: time, fuel, memory, result
  size, a trap), the tool's module failing while it loads (which pytest would report as an error
  collecting the tests), or a reply that is not what `call` answers.
"""

import ast
import builtins
import re
import sys
import types

from . import allowlist, jsonio
from .errors import Failure

# Error types of the harness that `call` can answer with, and the builtin class a test would
# expect for them (`pytest.raises(TypeError)` around a call with arguments that do not fit).
_HARNESS_BASES = {
    "InvalidArguments": TypeError,
    "ImportNotAllowed": ImportError,
}
# Builtin classes that cannot be made from a message alone.
_NOT_FROM_MESSAGE = {"BaseExceptionGroup", "ExceptionGroup"}
_FIRST_FRAME = re.compile(r'^  File "(.*)", line (\d+), in (.*)$', re.MULTILINE)


class ToolFault(BaseException):
    """A tool call ended in something no test may catch as the tool's exception."""

    __module__ = "toolsmith"  # reports read `toolsmith.ToolLimitExceeded: Timeout: ...`
    outcome = "failed"


class ToolLimitExceeded(ToolFault):
    """The host stopped the call: time, fuel, memory, result size, a trap."""

    __module__ = "toolsmith"


class ToolLoadError(ToolFault):
    """The tool's module raised while it was being loaded, so no call of it can work."""

    __module__ = "toolsmith"
    outcome = "error"


class ToolReplyError(ToolFault):
    """`call-tool` answered something that is not `call`'s reply."""

    __module__ = "toolsmith"
    outcome = "error"


_stdlib_exceptions = None


def stdlib_exceptions():
    """Exception classes of the allowed stdlib modules, by class name, for names exactly one class
    has (`csv.Error` and `binascii.Error` share theirs: neither is used)."""
    global _stdlib_exceptions
    if _stdlib_exceptions is None:
        found = {}
        for module_name in allowlist.ALLOWED:
            module = sys.modules.get(module_name)
            for attr, value in list(vars(module).items()) if module is not None else ():
                if (
                    isinstance(value, type)
                    and issubclass(value, BaseException)
                    and value.__name__ == attr
                    and not attr.startswith("_")
                    and not hasattr(builtins, attr)
                ):
                    found.setdefault(attr, set()).add(value)
        _stdlib_exceptions = {name: classes.pop() for name, classes in found.items() if len(classes) == 1}
    return _stdlib_exceptions


def _no_init(self, *args, **kwargs):
    pass


def _message_str(self):
    return self.args[0] if self.args else ""


class ToolSession:
    """One run's proxy: the module a test imports, the exception classes made for the tool's
    error types, and the faults of the test now running."""

    def __init__(self, module_name, function, positional, call_tool):
        self.module_name = module_name
        self.function = function
        self.positional = tuple(positional)
        self.call_tool = call_tool
        self.faults = []
        self._classes = {}

    # -- the module ------------------------------------------------------------------------

    def module(self):
        module = types.ModuleType(self.module_name, f"The tool under test; only {self.function}() is here.")
        module.__dict__[self.function] = self._proxy()
        module.__dict__["__all__"] = [self.function]
        module.__dict__["__getattr__"] = self._missing
        return module

    def _missing(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(f"module '{self.module_name}' has no attribute '{name}'")
        raise AttributeError(
            f"module '{self.module_name}' has no attribute '{name}': only '{self.function}', the function "
            "under test, is available in tests (the tool's code does not run in the test instance)",
            name=name,
            obj=sys.modules.get(self.module_name),
        )

    def _proxy(self):
        session = self

        def tool(*args, **kwargs):
            return session.call(args, kwargs)

        tool.__name__ = tool.__qualname__ = self.function
        tool.__module__ = self.module_name
        tool.__doc__ = f"Calls the tool's {self.function}() in an instance of its own, through call-tool."
        return tool

    # -- one call --------------------------------------------------------------------------

    def call(self, args, kwargs):
        text = self.encode(args, kwargs)
        answer = self.call_tool(text)
        if not (isinstance(answer, tuple) and len(answer) == 2 and type(answer[1]) is str):
            raise self._fault(ToolReplyError(f"call-tool answered {type(answer).__name__}, not (ok, text)"))
        ok, reply = answer
        return self._result(reply) if ok is True else self._raise(reply)

    def encode(self, args, kwargs):
        """The JSON object of keyword arguments, or TypeError as Python would raise it."""
        name = self.function
        limit = len(self.positional)
        if len(args) > limit:
            given = len(args)
            raise TypeError(
                f"{name}() takes {limit} positional argument{'' if limit == 1 else 's'} but {given} "
                f"{'was' if given == 1 else 'were'} given"
            )
        bound = dict(zip(self.positional, args))
        for key, value in kwargs.items():
            if key in bound:
                raise TypeError(f"{name}() got multiple values for argument '{key}'")
            bound[key] = value
        plain = {}
        for key, value in bound.items():
            try:
                plain[key] = jsonio.plain(value, f"argument '{key}'")
            except Failure as failure:
                raise TypeError(
                    f"{name}(): {failure.payload['message']} (a tool is called with JSON arguments)"
                ) from None
        return jsonio.dumps(plain)

    def _result(self, reply):
        value = self._decode(reply, "reply")
        if not (
            isinstance(value, dict)
            and {"result", "stdout", "stderr"} <= set(value)
            and type(value["stdout"]) is str
            and type(value["stderr"]) is str
        ):
            raise self._fault(ToolReplyError(f"call-tool's reply is not {{result, stdout, stderr}}: {reply[:200]}"))
        self._echo(value["stdout"], value["stderr"])
        return value["result"]

    def _raise(self, reply):
        error = self._decode(reply, "error")
        if not (isinstance(error, dict) and type(error.get("error_type")) is str and type(error.get("message")) is str):
            raise self._fault(ToolReplyError(f"call-tool's error is not {{error_type, message}}: {reply[:200]}"))
        for key in ("traceback", "stdout"):
            if type(error.get(key)) is not str:
                error.pop(key, None)
        self._echo(error.get("stdout", ""), "")
        error_type, message = error["error_type"], error["message"]
        if error.get("limit") is True:
            fault = ToolLimitExceeded(f"{error_type}: {message}")
            fault.toolsmith_error = error
            raise self._fault(fault)
        if _raised_while_loading(error.get("traceback", "")):
            fault = ToolLoadError(f"the tool module '{self.module_name}' raised {error_type} while loading: {message}")
            fault.toolsmith_error = error
            raise self._fault(fault)
        exc = self.exception(error_type, message)
        exc.toolsmith_error = error
        raise exc

    def _decode(self, text, what):
        try:
            return jsonio.loads(text)
        except (ValueError, RecursionError) as exc:
            raise self._fault(ToolReplyError(f"call-tool's {what} is not JSON ({exc}): {text[:200]}")) from None

    def _fault(self, fault):
        self.faults.append(fault)
        return fault

    @staticmethod
    def _echo(stdout, stderr):
        if stdout:
            sys.stdout.write(stdout)
        if stderr:
            sys.stderr.write(stderr)

    # -- the tool's exception, rebuilt ----------------------------------------------------------

    def exception(self, error_type, message):
        real = getattr(builtins, error_type, None)
        if not (isinstance(real, type) and issubclass(real, BaseException)) or error_type in _NOT_FROM_MESSAGE:
            real = stdlib_exceptions().get(error_type)
        if real is not None:
            exc = _from_message(real, message) or self._lookalike(real, error_type, message)
            if exc is not None:
                return exc
        return self._made(error_type, _HARNESS_BASES.get(error_type, Exception))(message)

    def _lookalike(self, real, name, message):
        """An instance of a subclass of `real` named `name` whose str() is `message`, for classes
        that need more than a message to be made (UnicodeDecodeError, JSONDecodeError)."""
        key = ("lookalike", real)
        try:
            if key not in self._classes:
                namespace = {"__init__": _no_init, "__str__": _message_str, "__module__": real.__module__, "__qualname__": name}
                self._classes[key] = type(name, (real,), namespace)
            return self._classes[key](message)
        except Exception:  # noqa: BLE001 - a class that cannot be subclassed
            return None

    def _made(self, name, base):
        key = ("made", name)
        if key not in self._classes:
            try:
                self._classes[key] = type(name, (base,), {"__module__": self.module_name, "__qualname__": name})
            except (TypeError, ValueError):  # a name type() refuses (a NUL in it)
                self._classes[key] = type("ToolError", (base,), {"__module__": self.module_name})
        return self._classes[key]


def _from_message(cls, message):
    """`cls(message)` when that gives back the same message (KeyError's str() is the repr of its
    key, so its key is read back from the message)."""
    candidates = [message]
    if issubclass(cls, KeyError):
        try:
            candidates.insert(0, ast.literal_eval(message))
        except Exception:  # noqa: BLE001 - not a literal key
            pass
    for argument in candidates:
        try:
            exc = cls(argument)
            if type(exc) is cls and str(exc) == message:
                return exc
        except Exception:  # noqa: BLE001 - a class that wants other arguments
            pass
    return None


def _raised_while_loading(traceback_text):
    """Whether the tool's traceback starts in its module body rather than in the function: the
    outermost frame of a call is the function, of a failed load the module."""
    match = _FIRST_FRAME.search(traceback_text or "")
    return bool(match) and match.group(3) == "<module>"


def tool_frames(exc):
    """[(file, line, function, source line)] of the tool's traceback carried by `exc`."""
    error = getattr(exc, "toolsmith_error", None)
    text = error.get("traceback", "") if isinstance(error, dict) else ""
    frames = []
    lines = text.splitlines()
    for index, line in enumerate(lines):
        match = _FIRST_FRAME.match(line)
        if match:
            source = lines[index + 1].strip() if index + 1 < len(lines) and lines[index + 1].startswith("    ") else ""
            frames.append((match.group(1), int(match.group(2)), match.group(3), source))
    return frames
