"""Two ways to reach the harness, so that the same tests check both:

- `native`: the `toolsmith_harness` package imported into this (native CPython) process;
- `component`: the built guest-runtime/build/runtime.wasm (or $TOOLSMITH_RUNTIME_WASM), driven by
  the `wasmtime` PyPI package, a fresh instance for every export call as the host does. Skipped
  when the component or `wasmtime` is missing; TOOLSMITH_REQUIRE_COMPONENT=1 makes that an error.

`run-tests` reaches the tool through `call-tool`; `ToolHost` plays the Rust host's part in that
(a fresh `call` instance per call, the host's limits marked `"limit": true`).

Tests that take the `runtime` fixture run against both; `native` is the native runtime.
"""

import hashlib
import importlib.metadata
import json
import os
import pathlib
import sys

import pytest

collect_ignore = ["cases"]  # inputs for the harness's test runner, not tests of this suite

sys.set_int_max_str_digits(0)  # results may be integers of any size

GUEST = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(GUEST / "harness"))

import toolsmith_harness  # noqa: E402


class ExportError(Exception):
    """An export's error result; `payload` is the decoded error object."""

    def __init__(self, text):
        super().__init__(text)
        self.text = text
        self.payload = json.loads(text)

    @property
    def error_type(self):
        return self.payload["error_type"]


class HostTrap(Exception):
    """The instance trapped (the component runtime only): what the host reports as a limit."""


MEMORY_LIMIT = 256 << 20  # as the host's StoreLimits
MAX_RESULT_BYTES = 1 << 20  # as the host's Limits::DEFAULT_MAX_RESULT_BYTES
TOOL_CALL_OPTIONS = json.dumps({"max_output_bytes": 64 << 10})


def host_error(error_type, message):
    """An error the host makes itself: a limit, which no test may catch as the tool's exception."""
    return json.dumps({"error_type": error_type, "message": message, "limit": True})


def without_limit(text):
    """The guest's error object with any `limit` key removed: only the host may say a call hit a
    limit, and a tool can make its own instance say anything."""
    try:
        payload = json.loads(text)
    except ValueError:
        return text
    if isinstance(payload, dict):
        payload.pop("limit", None)
        return json.dumps(payload)
    return text


class ToolHost:
    """What the Rust host does for `call-tool` during `run-tests`: each call runs the `call`
    export in a fresh instance holding only the tool (`code`), with the run's directory granted
    at the same path; the guest's errors pass through without a `limit` key, the host's own (a
    trap, a result over MAX_RESULT_BYTES) carry `"limit": true`. `calls` keeps every args text."""

    def __init__(self, runtime, code, function, tmp_dir=None):
        self.runtime = runtime
        self.code = code
        self.function = function
        self.tmp_dir = tmp_dir
        self.calls = []

    def __call__(self, args):
        self.calls.append(args)
        try:
            text = self.runtime.call_text(self.code, self.function, args, TOOL_CALL_OPTIONS, preopen=self.tmp_dir)
        except ExportError as error:
            return False, without_limit(error.text)
        except HostTrap as trap:
            return False, host_error("RuntimeTrap", f"the Python runtime trapped: {trap}")
        size = len(text.encode("utf-8"))
        if size > MAX_RESULT_BYTES:
            return False, host_error("ResultTooLarge", f"the result is {size} bytes of JSON, over the limit of {MAX_RESULT_BYTES} bytes")
        return True, text


class NativeRuntime:
    """The harness in this process. A tool called during `run_tests` runs in this process too
    (a fresh module each call, as `call` makes): hostile tools that patch the interpreter can
    only be tried against the component."""

    name = "native"

    def _run(self, fn, *args):
        try:
            return fn(*args)
        except toolsmith_harness.Failure as failure:
            raise ExportError(failure.to_json()) from None

    def compile(self, source, filename="tool.py"):
        return self._run(toolsmith_harness.compile, source, filename)

    def call(self, code, function, args=None, options=None):
        return self.call_raw(code, function, json.dumps(args or {}), json.dumps(options or {}))

    def call_raw(self, code, function, args_text, options_text="{}"):
        return json.loads(self.call_text(code, function, args_text, options_text))

    def call_text(self, code, function, args_text, options_text="{}", preopen=None):
        return self._run(toolsmith_harness.call, code, function, args_text, options_text)

    def describe(self, source, function):
        return json.loads(self._run(toolsmith_harness.describe, source, function))

    def run_tests(self, tool_source, module_name, function, test_source, options=None, tmp_dir=None, filename="tool.py"):
        """Compile the tool, read its `positional` with describe (unless options give it) and run
        the tests against it through a ToolHost, as the host does. Returns (report, host)."""
        code = self.compile(tool_source, filename)
        options = dict(options or {})
        if "positional" not in options:
            options["positional"] = self.describe(tool_source, function)["positional"]
        if tmp_dir is not None:
            options["tmp_path"] = str(tmp_dir)
        host = ToolHost(self, code, function, tmp_dir)
        return self.run_tests_raw(module_name, function, test_source, json.dumps(options), host, tmp_dir), host

    def run_tests_raw(self, module_name, function, test_source, options_text, call_tool, tmp_dir=None):
        return json.loads(self._run(toolsmith_harness.run_tests, module_name, function, test_source, options_text, call_tool))

    def allowed_modules(self):
        return toolsmith_harness.allowed_modules()


class ComponentRuntime(NativeRuntime):
    """The same interface over the WASM component. A directory given as tmp_dir is preopened at
    the same path inside the guest. `call-tool` is served only to a `run-tests` instance; any
    other instance that calls it gets a limit error."""

    name = "component"

    def __init__(self, wasm_path):
        import wasmtime
        from wasmtime import component

        self._wasmtime = wasmtime
        self._component = component
        self.engine = wasmtime.Engine()
        data = wasm_path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()[:16]
        version = importlib.metadata.version("wasmtime")
        # Compiling the component takes seconds: keep one compiled copy beside it.
        cached = wasm_path.with_name(f"{wasm_path.stem}.{digest}.wasmtime-py-{version}.cwasm")
        if cached.exists():
            self.component = component.Component.deserialize_file(self.engine, str(cached))
        else:
            self.component = component.Component(self.engine, data)
            for stale in wasm_path.parent.glob(f"{wasm_path.stem}.*.cwasm"):
                stale.unlink(missing_ok=True)
            tmp = cached.with_suffix(f".tmp{os.getpid()}")
            tmp.write_bytes(bytes(self.component.serialize()))
            tmp.replace(cached)
        self._active_host = None
        self.linker = self._linker(self._serve_call_tool)
        self.tool_linker = self._linker(self._refuse_call_tool)

    def _linker(self, call_tool):
        linker = self._component.Linker(self.engine)
        linker.add_wasip2()
        with linker.root() as root:
            root.add_func("call-tool", call_tool)
        return linker

    def _serve_call_tool(self, store, args):
        Variant = self._component.Variant
        if self._active_host is None:
            return Variant("err", host_error("CallToolRefused", "call-tool outside run-tests"))
        ok, text = self._active_host(args)
        return Variant("ok" if ok else "err", text)

    def _refuse_call_tool(self, store, args):
        return self._component.Variant("err", host_error("CallToolRefused", "call-tool is only served to run-tests"))

    def _export(self, name, *args, preopen=None, linker=None):
        wasmtime = self._wasmtime
        store = wasmtime.Store(self.engine)
        store.set_limits(memory_size=MEMORY_LIMIT)
        wasi = wasmtime.WasiConfig()
        if preopen is not None:
            wasi.preopen_dir(str(preopen), str(preopen))
        store.set_wasi(wasi)
        instance = (linker or self.tool_linker).instantiate(store, self.component)
        func = instance.get_func(store, name)
        try:
            result = func(store, *args)
        except (wasmtime.Trap, wasmtime.WasmtimeError) as trap:
            raise HostTrap(str(trap).splitlines()[0] if str(trap) else type(trap).__name__) from None
        func.post_return(store)
        return result

    def _result(self, value):
        """Unpack a `result<T, string>`: wasmtime-py gives a Variant when both sides are strings."""
        if isinstance(value, self._component.Variant):
            if value.tag == "err":
                raise ExportError(value.payload)
            return value.payload
        if isinstance(value, str):  # result<list<u8>, string>: a str can only be the error
            raise ExportError(value)
        return bytes(value)

    def compile(self, source, filename="tool.py"):
        return self._result(self._export("compile", source, filename))

    def call_text(self, code, function, args_text, options_text="{}", preopen=None):
        return self._result(self._export("call", code, function, args_text, options_text, preopen=preopen))

    def describe(self, source, function):
        return json.loads(self._result(self._export("describe", source, function)))

    def run_tests_raw(self, module_name, function, test_source, options_text, call_tool, tmp_dir=None):
        self._active_host = call_tool
        try:
            text = self._result(
                self._export("run-tests", module_name, function, test_source, options_text, preopen=tmp_dir, linker=self.linker)
            )
        finally:
            self._active_host = None
        return json.loads(text)

    def allowed_modules(self):
        return list(self._export("allowed-modules"))


def _component_path():
    return pathlib.Path(os.environ.get("TOOLSMITH_RUNTIME_WASM") or GUEST / "build" / "runtime.wasm")


_component_runtime = None


def _component():
    global _component_runtime
    if _component_runtime is None:
        path = _component_path()
        why = None
        if not path.exists():
            why = f"no component at {path} (run guest-runtime/build.sh)"
        else:
            try:
                import wasmtime  # noqa: F401
            except ImportError:
                why = "the wasmtime package is not installed (guest-runtime/test.sh uses the build venv)"
        if why:
            if os.environ.get("TOOLSMITH_REQUIRE_COMPONENT") == "1":
                pytest.fail(why)
            pytest.skip(why)
        _component_runtime = ComponentRuntime(path)
    return _component_runtime


@pytest.fixture(params=["native", "component"], scope="session")
def runtime(request):
    if request.param == "native":
        return NativeRuntime()
    return _component()


@pytest.fixture(scope="session")
def native():
    return NativeRuntime()


@pytest.fixture
def expect_error():
    """`expect_error(error_type, fn, *args)` -> the error payload, checking its error_type."""

    def check(error_type, fn, *args, **kwargs):
        with pytest.raises(ExportError) as info:
            fn(*args, **kwargs)
        assert info.value.error_type == error_type, info.value.payload
        return info.value.payload

    return check
