"""The judge's side of a Docker verification: a pytest plugin and the proxy the tests call.

Loaded into pytest with `-p toolsmith_judge` by the sandbox's launcher, in the judge's process
(user toolsmith-judge), which never runs the tool's code:

- `proxy(NAME)` is what `from NAME import NAME` binds (the module /work/NAME.py is a stub that
  calls it): each call sends its arguments as JSON to the launcher, which runs the tool in a fresh
  process as another user and sends back the JSON result, or the exception by type and message,
  so that `pytest.raises(ValueError)` works. A tool process that ends without either raises
  `ToolProcessDied`, which is not an `Exception`: `pytest.raises(Exception)` cannot swallow it.
- the hooks count pytest's own reports (collected items, outcomes per phase) and send them to the
  launcher when the session finishes. A run that ends without that report fails.

Toolsmith embeds this file and hashes it into the image tag: editing it makes a new image.
"""

import builtins
import json
import os
import pathlib
import socket
import sys
import threading

import pytest

sys.set_int_max_str_digits(0)

_fd = os.environ.pop("TOOLSMITH_JUDGE_FD", None)
_channel = socket.socket(fileno=int(_fd)) if _fd is not None else None
_lock = threading.Lock()
_counts = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0, "xfailed": 0, "xpassed": 0}
_collected = []


class ToolProcessDied(BaseException):
    """The tool's process ended (os._exit, a signal, the memory limit) without a result."""


def _request(message):
    if _channel is None:
        raise RuntimeError("toolsmith_judge: no channel to the launcher (not inside the sandbox)")
    with _lock:
        _channel.sendall((json.dumps(message, allow_nan=False) + "\n").encode())
        buf = bytearray()
        while not buf.endswith(b"\n"):
            chunk = _channel.recv(1 << 16)
            if not chunk:
                raise ToolProcessDied("the sandbox's launcher closed the channel")
            buf += chunk
    return json.loads(buf)


def proxy(name):
    """A function that calls the tool `name` in its own process."""

    def call(*args, **kwargs):
        try:
            message = {"op": "call", "args": list(args), "kwargs": kwargs}
            json.dumps(message, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise TypeError(f"the arguments of {name} must be JSON values (as when the tool really runs): {e}") from None
        reply = _request(message)
        if reply.get("output"):
            sys.stdout.write(reply["output"])
        if "value" in reply:
            return reply["value"]
        if "error" in reply:
            error = reply["error"]
            if error.get("traceback"):
                sys.stderr.write(f"the tool's traceback (in its own process):\n{error['traceback']}")
            raise _rebuild(name, error)
        raise ToolProcessDied(reply.get("died", "the tool process ended without a result"))

    call.__name__ = call.__qualname__ = name
    call.__module__ = name
    return call


def _rebuild(tool, error):
    """The tool's exception as an instance of the same builtin class, or of a class of the same
    name derived from its nearest builtin base."""
    name, message, args = str(error.get("type")), str(error.get("message")), error.get("args")
    base = getattr(builtins, str(error.get("base")), None)
    if not (isinstance(base, type) and issubclass(base, Exception)):
        base = Exception
    cls = base if name == base.__name__ else type(name, (base,), {"__module__": tool, "__str__": lambda self: message})
    try:
        return cls(*args) if isinstance(args, list) else cls(message)
    except Exception:
        return cls(message)


def pytest_collection_finish(session):
    for item in session.items:
        cls = getattr(item, "cls", None)
        base = getattr(item, "originalname", None) or item.name
        _collected.append(f"{cls.__name__}::{base}" if cls is not None else base)


def pytest_runtest_logreport(report):
    if report.when == "call":
        xfail = hasattr(report, "wasxfail")
        if report.passed:
            _counts["xpassed" if xfail else "passed"] += 1
        elif report.failed:
            _counts["failed"] += 1
        else:
            _counts["xfailed" if xfail else "skipped"] += 1
    elif report.failed:
        _counts["errors"] += 1
    elif report.skipped and report.when == "setup":
        _counts["skipped"] += 1


def pytest_collectreport(report):
    if report.failed:
        _counts["errors"] += 1


def pytest_sessionfinish(session, exitstatus):
    report = dict(_counts, collected=_collected[:10000], exitstatus=int(exitstatus))
    try:
        with _lock:
            _channel.sendall((json.dumps({"op": "report", "report": report}) + "\n").encode())
    except (AttributeError, OSError):
        pass


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef, request):
    """tmp_path is scratch space shared with the tool (it runs as another user): pytest makes its
    directories 0700, so open them, up to the base directory."""
    outcome = yield
    if fixturedef.argname not in ("tmp_path", "tmpdir"):
        return
    try:
        path = pathlib.Path(str(outcome.get_result()))
        base = request.config._tmp_path_factory.getbasetemp()
    except Exception:
        return
    for p in [path, *path.parents]:
        os.chmod(p, 0o777)
        if p == base:
            break
