"""The `call` export: run a tool's code as a fresh module and call one of its functions."""

import inspect
import types

from . import codeblob, jsonio
from .allowlist import Policy
from .capture import Capture, OutputLimit
from .errors import FUNCTION_NOT_FOUND, OUTPUT_LIMIT_EXCEEDED, RESULT_NOT_JSON, Failure
from .tracebacks import exception_failure

TOOL_MODULE_NAME = "__tool__"

CALL_OPTIONS = {"max_output_bytes": jsonio.max_output_bytes}


def public_functions(module):
    return sorted(
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and inspect.isfunction(value) and value.__module__ == module.__name__
    )


def find_function(module, name):
    """`module.name` if it is callable, else Failure(FunctionNotFound) listing what is there."""
    value = vars(module).get(name) if isinstance(name, str) else None
    if value is not None and callable(value) and not isinstance(value, type):
        return value
    defined = ", ".join(public_functions(module)) or "none"
    if value is None:
        message = f"the tool defines no function '{name}' (functions defined: {defined})"
    else:
        message = f"'{name}' is a {type(value).__name__}, not a function (functions defined: {defined})"
    raise Failure(FUNCTION_NOT_FOUND, message)


def output_failure(capture):
    return Failure(
        OUTPUT_LIMIT_EXCEEDED,
        f"the tool printed more than max_output_bytes={capture.limit} bytes to stdout/stderr",
        stdout=capture.stdout.getvalue() or None,
    )


def load_tool(blob, capture, policy=None, name=TOOL_MODULE_NAME):
    """Execute the tool's module body under `capture`; its exceptions become Failures."""
    module = codeblob.new_module(name, blob.filename, policy or Policy())
    try:
        with codeblob.registered(module):
            codeblob.execute(blob, module)
    except OutputLimit:
        raise output_failure(capture) from None
    except BaseException as exc:  # noqa: BLE001 - tool code may raise anything
        raise exception_failure(
            exc, {blob.filename}, capture.stdout.getvalue(), context=None
        ) from None
    return module


def bind(fn, kwargs):
    """(positional, keyword) arguments for `fn` from the JSON object's names: JSON has no
    positional arguments, so parameters declared positional-only (`def f(a, /)`) are passed
    positionally here, in order, with their defaults filling any gap."""
    code = fn.__code__ if type(fn) is types.FunctionType else None
    count = code.co_posonlyargcount if code is not None else 0
    names = code.co_varnames[:count] if count else ()
    given = [i for i, name in enumerate(names) if name in kwargs]
    if not given:
        return (), kwargs
    kwargs = dict(kwargs)
    defaults = fn.__defaults__ or ()
    first_default = code.co_argcount - len(defaults)
    positional = []
    for index in range(given[-1] + 1):
        name = names[index]
        if name in kwargs:
            positional.append(kwargs.pop(name))
        elif index >= first_default:
            positional.append(defaults[index - first_default])
        else:
            raise TypeError(f"{fn.__name__}() missing required positional-only argument: '{name}'")
    return tuple(positional), kwargs


def call(code, function, args, options):
    opts = jsonio.parse_options(options, CALL_OPTIONS)
    kwargs = jsonio.parse_args(args)
    blob = codeblob.load(code)
    capture = Capture(opts["max_output_bytes"])
    with capture:
        module = load_tool(blob, capture)
        fn = find_function(module, function)
        try:
            with codeblob.registered(module):
                positional, keywords = bind(fn, kwargs)
                result = fn(*positional, **keywords)
        except OutputLimit:
            raise output_failure(capture) from None
        except BaseException as exc:  # noqa: BLE001 - tool code may raise anything
            raise exception_failure(exc, {blob.filename}, capture.stdout.getvalue()) from None
    if capture.overflowed:  # the tool caught OutputLimit itself
        raise output_failure(capture)
    stdout = capture.stdout.getvalue()
    try:
        result = jsonio.plain(result)
        try:
            return jsonio.dumps({"result": result, "stdout": stdout, "stderr": capture.stderr.getvalue()})
        except Exception as exc:  # noqa: BLE001 - e.g. MemoryError; the value itself is plain JSON
            raise Failure(RESULT_NOT_JSON, f"result: could not be serialised ({type(exc).__name__}: {exc})") from None
    except Failure as failure:
        if stdout:
            failure.payload["stdout"] = stdout
        raise
