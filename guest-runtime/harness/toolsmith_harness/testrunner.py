"""The `run-tests` export: a pytest subset that needs no filesystem and no pytest session.

The tool is not in this interpreter: the test module imports a proxy (`proxy.py`) whose calls go
out through `call-tool`. The test module's asserts are rewritten in memory by pytest's own
`rewrite_asserts`, so failures read as pytest's do. Supported: `test*` functions and `Test*`
classes' `test*` methods, `@pytest.mark.parametrize` (stacked, ids, `pytest.param`),
`skip`/`skipif`/`xfail`/`usefixtures` marks, `pytest.raises`/`approx`/`skip`/`fail`, fixtures
defined with `@pytest.fixture` in the test module (return or yield; non-function scopes are cached
for the run; no `params`), and the built-in `tmp_path` fixture (a fresh directory under
`options.tmp_path` for each test). Any other fixture is an error that says it is not supported in
the WASM runtime. Every test the source defines must be collected (`collect.check_collected`).
"""

import ast
import builtins
import inspect
import itertools
import keyword
import os
import pathlib
import re
import sys
import time
import traceback

import _pytest.assertion.rewrite as rewrite_module
from _pytest.assertion import util as assertion_util
from _pytest.assertion._typing import TruncationBudget
from _pytest.outcomes import Failed, Skipped, XFailed

from . import codeblob, jsonio
from .allowlist import ALLOWED, Policy
from .calling import output_failure
from .capture import Capture, OutputLimit
from .collect import check_collected, collect, defined_tests, fixture_defs
from .errors import INVALID_ARGUMENTS, Failure
from .proxy import ToolFault, ToolSession, tool_frames
from .tracebacks import safe_str, user_frames


def positional_names(value):
    if value is None:
        raise ValueError("is required: the names positional arguments bind to, in order (describe's 'positional')")
    if not isinstance(value, list) or not all(isinstance(n, str) and n.isidentifier() for n in value):
        raise ValueError(f"must be a list of parameter names, not {value!r}")
    if len(set(value)) != len(value):
        raise ValueError(f"names a parameter twice: {value!r}")
    return value


TEST_OPTIONS = {
    "tmp_path": jsonio.optional_str,
    "max_output_bytes": jsonio.max_output_bytes,
    "positional": positional_names,
}
BUILTIN_FIXTURES = ("tmp_path",)
MAX_EXPLANATION_LINES = 40
MAX_CAPTURED_IN_REPORT = 4000
_REWRITE_ALIASES = ("@py_builtins", "@pytest_ar")
_PYTEST_DIR = os.sep + "_pytest" + os.sep

PASSED, FAILED, ERROR, SKIPPED = "passed", "failed", "error", "skipped"


class Outcome:
    def __init__(self, item_name, outcome, message="", short=""):
        self.name = item_name
        self.outcome = outcome
        self.message = message  # the full report of a failure/error, the reason of a skip
        self.short = short  # one line for the short test summary


class FixtureError(Exception):
    """A fixture could not be provided: the test is an error, not a failure."""


# -- preparing the test module ------------------------------------------------------------------


def check_module_name(name):
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise Failure(INVALID_ARGUMENTS, f"module_name must be a Python identifier, not {name!r}")
    taken = name in sys.modules or name in ALLOWED or name in ("pytest", "_pytest", "builtins")
    if taken:
        raise Failure(
            INVALID_ARGUMENTS,
            f"module_name '{name}' is already a module in the runtime; choose another name for the tool",
        )


def check_function_name(name):
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name) or name.startswith("__"):
        raise Failure(INVALID_ARGUMENTS, f"function must be the name of the tool's function, not {name!r}")


def compile_test_module(source, filename, policy):
    """Parse, check imports, count the tests defined, rewrite asserts the pytest way, compile.
    Returns (definitions, code)."""
    tree = codeblob.parse(source, filename)
    policy.check_tree(tree)
    definitions = defined_tests(tree)
    rewrite_module.rewrite_asserts(tree, source.encode("utf-8"), filename)
    # The rewriter imports its helpers; tests may not import those modules themselves, so the
    # helpers are given to the module under the same (unspellable) names instead.
    tree.body = [
        node
        for node in tree.body
        if not (isinstance(node, ast.Import) and all(a.asname in _REWRITE_ALIASES for a in node.names))
    ]
    return definitions, codeblob.compile_tree(tree, filename)


def _reprcompare(op, left, right):
    """pytest's rich comparison explanations (list diffs, dict diffs, approx), no config needed."""
    try:
        explanation = assertion_util.assertrepr_compare(
            op=op,
            left=left,
            right=right,
            verbose=1,
            highlighter=assertion_util.dummy_highlighter,
            assertion_text_diff_style="ndiff",
            truncation_budget=TruncationBudget(max_lines=MAX_EXPLANATION_LINES, max_chars=MAX_EXPLANATION_LINES * 100),
        )
        lines = list(itertools.islice(explanation, MAX_EXPLANATION_LINES + 1))
    except Exception:  # noqa: BLE001 - fall back to the plain rewritten message
        return None
    if not lines:
        return None
    if len(lines) > MAX_EXPLANATION_LINES:
        lines = lines[:MAX_EXPLANATION_LINES] + ["...Full output truncated"]
    return "\n~".join(line.replace("\n", "\\n") for line in lines).replace("%", "%%")


class _assertion_hooks:
    def __enter__(self):
        self.saved = assertion_util._reprcompare, assertion_util._assertion_pass
        assertion_util._reprcompare = _reprcompare
        assertion_util._assertion_pass = None

    def __exit__(self, *exc):
        assertion_util._reprcompare, assertion_util._assertion_pass = self.saved
        return False


# -- running ------------------------------------------------------------------------------------


class Runner:
    def __init__(self, test_module, files, tmp_path, max_output_bytes, session):
        self.session = session
        self.module = test_module
        self.files = files
        self.tmp_root = pathlib.Path(tmp_path) if tmp_path else None
        self.max_output_bytes = max_output_bytes
        self.module_fixtures = fixture_defs(test_module)
        self.cached = {}  # fixture values of module/class/session scope, by name
        self.final_teardowns = []
        self.tmp_counter = 0

    # fixtures

    def _tmp_path(self, item):
        if self.tmp_root is None:
            raise FixtureError(
                "fixture 'tmp_path' is not available: the host granted no directory to this run "
                "(options.tmp_path is unset)"
            )
        stem = re.sub(r"[^\w]", "_", item.name)[:30]
        path = self.tmp_root / f"{stem}{self.tmp_counter}"
        self.tmp_counter += 1
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise FixtureError(f"fixture 'tmp_path': cannot create {path}: {exc}") from None
        return path

    def _fixture(self, name, item, defs, values, teardowns, chain):
        if name in values:
            return values[name]
        if name in chain:
            raise FixtureError(f"fixture '{name}' depends on itself: {' -> '.join(chain + [name])}")
        if name == "tmp_path":
            value = self._tmp_path(item)
        elif name in defs:
            fdef = defs[name]
            if fdef.params:
                raise FixtureError(f"fixture '{name}': fixture params are not supported in the WASM runtime")
            shared = fdef.scope != "function"
            if shared and name in self.cached:
                value = self.cached[name]
            else:
                args = {
                    n: self._fixture(n, item, defs, values, teardowns, chain + [name])
                    for n in _requested(fdef.function)
                }
                value = fdef.function(**args)
                if inspect.isgenerator(value):
                    gen = value
                    value = next(gen)
                    (self.final_teardowns if shared else teardowns).append((name, gen))
                if shared:
                    self.cached[name] = value
        elif name in ("self", "cls"):
            raise FixtureError(f"unexpected parameter '{name}'")
        else:
            known = ", ".join(sorted(set(BUILTIN_FIXTURES) | set(defs))) or "none"
            raise FixtureError(
                f"fixture '{name}' is not supported in the WASM runtime "
                f"(available: {known}; define others with @pytest.fixture in the test module)"
            )
        values[name] = value
        return value

    # one test

    def run(self, item):
        skip = self._skip_reason(item)
        if skip is not None:
            return Outcome(item.name, SKIPPED, skip, skip)
        if item.problem:
            return Outcome(item.name, ERROR, item.problem, item.problem)
        defs = dict(self.module_fixtures)
        instance = None
        if item.cls is not None:
            try:
                instance = item.cls()
            except BaseException as exc:  # noqa: BLE001
                return self._report(item, ERROR, exc, Capture(0))
            defs.update({name: fdef.bound_to(instance) for name, fdef in fixture_defs(item.cls).items()})
        capture = Capture(self.max_output_bytes)
        values, teardowns = dict(item.params), []
        outcome = None
        self.session.faults = []
        with capture:
            function = item.function.__get__(instance) if instance is not None else item.function
            try:
                wanted = self._usefixtures(item, defs)  # autouse and usefixtures first, as pytest
                wanted += [n for n in _requested(function) if n not in values and n not in wanted]
                for name in wanted:
                    self._fixture(name, item, defs, values, teardowns, [])
                kwargs = {n: values[n] for n in _requested(function)}
            except FixtureError as exc:
                outcome = Outcome(item.name, ERROR, f"{item.name}: {exc}", str(exc))
            except BaseException as exc:  # noqa: BLE001 - an error in a fixture
                outcome = self._report(item, ERROR, exc, capture)
            if outcome is None and inspect.iscoroutinefunction(item.function):
                message = "async def functions are not natively supported (no asyncio plugin in the WASM runtime)"
                outcome = Outcome(item.name, FAILED, f"{item.name}: {message}", message)
            if outcome is None:
                try:
                    function(**kwargs)
                    outcome = Outcome(item.name, PASSED)
                except BaseException as exc:  # noqa: BLE001 - the test's outcome
                    kind = exc.outcome if isinstance(exc, ToolFault) else FAILED
                    outcome = self._report(item, kind, exc, capture)
            for name, gen in reversed(teardowns):
                error = _finish(gen)
                if error is not None and outcome.outcome in (PASSED, SKIPPED):
                    outcome = self._report(item, ERROR, error, capture, f"error in teardown of fixture '{name}'")
        if capture.overflowed and outcome.outcome != FAILED:
            failure = output_failure(capture).payload["message"]
            outcome = Outcome(item.name, FAILED, f"{item.name}: OutputLimitExceeded: {failure}", failure)
        outcome = self._apply_xfail(item, outcome)
        # Applied after xfail: a limit or a broken tool is never an expected failure.
        if self.session.faults and outcome.outcome in (PASSED, SKIPPED):
            fault = self.session.faults[0]
            caught = self._report(item, fault.outcome, fault, capture, "the test caught this, but it ends the test:")
            outcome = Outcome(item.name, fault.outcome, caught.message, caught.short)
        return outcome

    def finish(self):
        """Teardown of fixtures shared between tests; returns errors as (name, exception)."""
        errors = []
        for name, gen in reversed(self.final_teardowns):
            error = _finish(gen)
            if error is not None:
                errors.append((name, error))
        return errors

    def _usefixtures(self, item, defs):
        names = [n for m in item.marks_named("usefixtures") for n in m.args]
        names += [name for name, fdef in defs.items() if fdef.autouse and name not in names]
        return names

    def _skip_reason(self, item):
        for mark in item.marks:
            if mark.name == "skip":
                return str(mark.kwargs.get("reason", mark.args[0] if mark.args else "unconditional skip"))
            if mark.name == "skipif":
                if any(self._condition(c) for c in mark.args) or (
                    "condition" in mark.kwargs and self._condition(mark.kwargs["condition"])
                ):
                    return str(mark.kwargs.get("reason", "condition: " + ", ".join(map(str, mark.args))))
        return None

    def _condition(self, condition):
        if isinstance(condition, str):
            return bool(eval(condition, dict(vars(self.module))))  # noqa: S307 - pytest's own semantics
        return bool(condition)

    def _apply_xfail(self, item, outcome):
        marks = [m for m in item.marks_named("xfail") if not m.args or any(self._condition(c) for c in m.args)]
        xfailed_inside = outcome.short.startswith("XFailed")
        if not marks and not xfailed_inside:
            return outcome
        mark = marks[0] if marks else None
        reason = str(mark.kwargs.get("reason", "")) if mark else outcome.short
        strict = bool(mark.kwargs.get("strict", False)) if mark else False
        if outcome.outcome == FAILED:
            return Outcome(item.name, SKIPPED, f"XFAIL {reason}".strip(), f"XFAIL {reason}".strip())
        if outcome.outcome == PASSED and mark is not None:
            if strict:
                return Outcome(item.name, FAILED, f"{item.name}: [XPASS(strict)] {reason}", f"[XPASS(strict)] {reason}")
            return Outcome(item.name, PASSED, f"XPASS {reason}".strip())
        return outcome

    def _report(self, item, kind, exc, capture, context=None):
        if isinstance(exc, Skipped):
            return Outcome(item.name, SKIPPED, exc.msg or "skipped", exc.msg or "skipped")
        if isinstance(exc, OutputLimit):
            failure = output_failure(capture).payload["message"]
            return Outcome(item.name, FAILED, f"{item.name}: OutputLimitExceeded: {failure}", failure)
        lines = []
        if context:
            lines.append(context)
        if getattr(exc, "pytrace", True):
            lines += _frame_lines(exc, self.files)
        lines += _tool_frame_lines(exc)
        error_lines = _error_lines(exc)
        lines += ["E   " + line for line in error_lines]
        stdout, stderr = capture.stdout.getvalue(), capture.stderr.getvalue()
        for title, text in (("stdout", stdout), ("stderr", stderr)):
            if text:
                if len(text) > MAX_CAPTURED_IN_REPORT:
                    text = text[:MAX_CAPTURED_IN_REPORT] + "\n... (truncated)"
                lines.append(f"----- Captured {title} call -----")
                lines.append(text.rstrip("\n"))
        short = error_lines[0] if error_lines else type(exc).__name__
        if isinstance(exc, XFailed):
            short = "XFailed: " + (exc.msg or "")
        return Outcome(item.name, kind, "\n".join(lines), short)


def _frame_lines(exc, files):
    """`file:line: in function` and the source line of each frame of the tool and the tests
    (pytest's --tb=short), without pytest's own frames (pytest.raises, pytest.fail)."""
    lines = []
    for frame in user_frames(exc, files):
        if _PYTEST_DIR in frame.filename:
            continue
        lines.append(f"{frame.filename}:{frame.lineno}: in {frame.name}")
        if frame.line:
            lines.append(f"    {frame.line}")
    return lines


def _tool_frame_lines(exc):
    """The tool's own frames, from the traceback its instance reported (`file:line: in function`)."""
    lines = []
    for filename, line, function, source in proxy_frames(exc):
        lines.append(f"{filename}:{line}: in {function}")
        if source:
            lines.append(f"    {source}")
    return lines


def proxy_frames(exc):
    try:
        return tool_frames(exc)
    except Exception:  # noqa: BLE001 - a traceback text that does not parse: no frames
        return []


def _requested(function):
    try:
        params = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return []
    return [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def _finish(gen):
    """Run a yield fixture's teardown; return the exception it raised, if any."""
    try:
        next(gen)
    except StopIteration:
        return None
    except BaseException as exc:  # noqa: BLE001
        return exc
    return RuntimeError("fixture function has more than one 'yield'")


def _error_lines(exc):
    if isinstance(exc, (Failed, Skipped)):
        return [f"Failed: {line}" if i == 0 else line for i, line in enumerate((exc.msg or "").splitlines() or [""])]
    if isinstance(exc, AssertionError):
        text = safe_str(exc)
        if text:
            return text.splitlines()
    text = "".join(_format_exception_only(exc)).rstrip("\n")
    return text.splitlines() or [type(exc).__name__]


def _format_exception_only(exc):
    try:
        return traceback.format_exception_only(type(exc), exc)
    except BaseException:  # noqa: BLE001
        return [f"{type(exc).__name__}: {safe_str(exc)}"]


# -- the report ---------------------------------------------------------------------------------


def _banner(text, fill="="):
    width = 80
    text = f" {text} " if text else ""
    side = max(width - len(text), 2)
    return fill * (side // 2) + text + fill * (side - side // 2)


def _node(test_filename, name):
    return test_filename if name == test_filename else f"{test_filename}::{name}"


def summary_line(counts, seconds):
    parts = []
    for key, singular in (("failed", "failed"), ("passed", "passed"), ("skipped", "skipped"), ("errors", "error")):
        n = counts[key]
        if n:
            word = singular if key != "errors" or n == 1 else "errors"
            parts.append(f"{n} {word}")
    body = ", ".join(parts) if parts else "no tests ran"
    return f"{body} in {seconds:.2f}s"


_TRUNCATED = "... (truncated to max_output_bytes)"


def _fit(text, room):
    """`text` cut to `room` characters, marking the cut."""
    if len(text) <= room:
        return text
    return text[: max(room - len(_TRUNCATED) - 1, 0)] + "\n" + _TRUNCATED


def render(outcomes, test_filename, counts, seconds, limit, collected):
    """pytest's report: the outcome of each test, the failures and errors, the short test summary
    and the closing line. Within `limit` characters, the closing line and the short summary are
    kept first, then the list, then the details."""
    symbol = {PASSED: "PASSED", FAILED: "FAILED", ERROR: "ERROR", SKIPPED: "SKIPPED"}
    listing = [f"collected {collected} item{'s' if collected != 1 else ''}", ""]
    listing += [f"{_node(test_filename, o.name)} {symbol[o.outcome]}" for o in outcomes]
    details = []
    for kind, title in ((ERROR, "ERRORS"), (FAILED, "FAILURES")):
        bad = [o for o in outcomes if o.outcome == kind]
        if bad:
            details += ["", _banner(title)]
            for o in bad:
                title = o.name if kind == FAILED else f"ERROR at setup of {o.name}"
                if o.name == test_filename:
                    title = f"ERROR collecting {test_filename}"
                details += [_banner(title, "_"), o.message, ""]
    summary = []
    notable = [o for o in outcomes if o.outcome != PASSED]
    if notable:
        summary += [_banner("short test summary info")]
        for o in notable:
            first = o.short.splitlines()[0] if o.short else ""
            summary.append(f"{symbol[o.outcome]} {_node(test_filename, o.name)}" + (f" - {first}" if first else ""))
    final = _banner(summary_line(counts, seconds)) + "\n"
    room = max(limit - len(final), 0)
    summary_text = _fit("\n".join(summary), room // 2 - 1) + "\n" if summary else ""
    room -= len(summary_text)
    listing_text = _fit("\n".join(listing), (room // 2 if details else room) - 1) + "\n"
    room -= len(listing_text)
    details_text = _fit("\n".join(details), room - 1) + "\n" if details and room > len(_TRUNCATED) + 2 else ""
    return listing_text + details_text + summary_text + final


# -- the export ---------------------------------------------------------------------------------


def _load_error(name, exc, files, capture, what, hint=None):
    lines = [f"{what}:"] + _frame_lines(exc, files) + _tool_frame_lines(exc)
    error_lines = _error_lines(exc)
    lines += ["E   " + line for line in error_lines]
    if hint:
        lines.append(hint)
    if capture.stdout.getvalue():
        lines += ["----- Captured stdout -----", capture.stdout.getvalue()[:MAX_CAPTURED_IN_REPORT]]
    return Outcome(name, ERROR, "\n".join(lines), error_lines[0] if error_lines else type(exc).__name__)


def run_tests(module_name, function, test_source, options, call_tool):
    """`call_tool(args_json)` -> (True, call's Ok text) or (False, its error text): the WIT import
    inside the component, a stand-in natively."""
    opts = jsonio.parse_options(options, TEST_OPTIONS)
    check_module_name(module_name)
    check_function_name(function)
    test_filename = f"test_{module_name}.py"
    policy = Policy(extra=("pytest", module_name))
    definitions, code = compile_test_module(test_source, test_filename, policy)
    files = {test_filename}
    started = time.perf_counter()
    session = ToolSession(module_name, function, opts["positional"], call_tool)
    tool_module = session.module()
    test_module = codeblob.new_module(f"test_{module_name}", test_filename, policy)
    test_module.__dict__["@py_builtins"] = builtins
    test_module.__dict__["@pytest_ar"] = rewrite_module
    outcomes, items = [], []
    load_capture = Capture(opts["max_output_bytes"])
    with codeblob.registered(tool_module), codeblob.registered(test_module), _assertion_hooks():
        loaded = False
        with load_capture:
            try:
                codeblob.remember_source(test_filename, test_source)
                exec(code, test_module.__dict__)
                loaded = True
            except BaseException as exc:  # noqa: BLE001 - a collection error
                hint = None
                if isinstance(exc, ImportError) and exc.name == module_name:
                    hint = (
                        f"only '{function}', the function under test, can be imported from '{module_name}' "
                        "(the tool's code does not run in the test instance)"
                    )
                outcomes.append(_load_error(test_filename, exc, files, load_capture, "the test module raised", hint))
        if loaded:
            runner = Runner(test_module, files, opts["tmp_path"], opts["max_output_bytes"], session)
            items = collect(test_module)
            for item in items:
                try:
                    outcomes.append(runner.run(item))
                except BaseException as exc:  # noqa: BLE001 - e.g. a skipif condition that raises
                    outcomes.append(_load_error(item.name, exc, files, Capture(0), "error while running the test"))
            for name, exc in runner.finish():
                outcomes.append(_load_error(f"teardown of {name}", exc, files, Capture(0), f"error in teardown of fixture '{name}'"))
            taken = {o.name for o in outcomes}
            for name, message in check_collected(definitions, items, test_filename):
                if name in taken:
                    name = f"{name} (not collected)"
                outcomes.append(Outcome(name, ERROR, message, message.splitlines()[0]))
    seconds = time.perf_counter() - started
    counts = {
        "passed": sum(o.outcome == PASSED for o in outcomes),
        "failed": sum(o.outcome == FAILED for o in outcomes),
        "errors": sum(o.outcome == ERROR for o in outcomes),
        "skipped": sum(o.outcome == SKIPPED for o in outcomes),
    }
    result = dict(counts)
    result["collected"] = len(items)
    result["tests"] = [{"name": o.name, "outcome": o.outcome, "message": o.message} for o in outcomes]
    result["output"] = render(outcomes, test_filename, counts, seconds, max(opts["max_output_bytes"], 4096), len(items))
    return jsonio.dumps(result)
