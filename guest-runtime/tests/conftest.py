"""Two ways to reach the harness, so that the same tests check both:

- `native`: the `toolsmith_harness` package imported into this (native CPython) process;
- `component`: the built guest-runtime/build/runtime.wasm (or $TOOLSMITH_RUNTIME_WASM), driven by
  the `wasmtime` PyPI package, a fresh instance for every export call as the host does. Skipped
  when the component or `wasmtime` is missing; TOOLSMITH_REQUIRE_COMPONENT=1 makes that an error.

Tests that take the `runtime` fixture run against both; `harness` is the native package.
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
        self.payload = json.loads(text)

    @property
    def error_type(self):
        return self.payload["error_type"]


class NativeRuntime:
    name = "native"

    def _run(self, fn, *args):
        try:
            return fn(*args)
        except toolsmith_harness.Failure as failure:
            raise ExportError(failure.to_json()) from None

    def compile(self, source, filename="tool.py"):
        return self._run(toolsmith_harness.compile, source, filename)

    def call(self, code, function, args=None, options=None):
        text = self._run(toolsmith_harness.call, code, function, json.dumps(args or {}), json.dumps(options or {}))
        return json.loads(text)

    def call_raw(self, code, function, args_text, options_text="{}"):
        return json.loads(self._run(toolsmith_harness.call, code, function, args_text, options_text))

    def describe(self, code, function):
        return json.loads(self._run(toolsmith_harness.describe, code, function))

    def run_tests(self, code, module_name, test_source, options=None, tmp_dir=None):
        options = dict(options or {})
        if tmp_dir is not None:
            options["tmp_path"] = str(tmp_dir)
        return json.loads(self._run(toolsmith_harness.run_tests, code, module_name, test_source, json.dumps(options)))

    def allowed_modules(self):
        return toolsmith_harness.allowed_modules()


MEMORY_LIMIT = 256 << 20  # as the host's StoreLimits


class ComponentRuntime(NativeRuntime):
    """The same interface over the WASM component. A directory given as tmp_dir is preopened at
    the same path inside the guest."""

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
        self.linker = component.Linker(self.engine)
        self.linker.add_wasip2()

    def _export(self, name, *args, preopen=None):
        wasmtime = self._wasmtime
        store = wasmtime.Store(self.engine)
        store.set_limits(memory_size=MEMORY_LIMIT)
        wasi = wasmtime.WasiConfig()
        if preopen is not None:
            wasi.preopen_dir(str(preopen), str(preopen))
        store.set_wasi(wasi)
        instance = self.linker.instantiate(store, self.component)
        func = instance.get_func(store, name)
        result = func(store, *args)
        func.post_return(store)
        return result

    def _result(self, value):
        """Unpack a `result<T, string>`: wasmtime-py gives a Variant when both sides are strings."""
        if isinstance(value, self._component._types.Variant):
            if value.tag == "err":
                raise ExportError(value.payload)
            return value.payload
        if isinstance(value, str):  # result<list<u8>, string>: a str can only be the error
            raise ExportError(value)
        return bytes(value)

    def compile(self, source, filename="tool.py"):
        return self._result(self._export("compile", source, filename))

    def call(self, code, function, args=None, options=None):
        return self.call_raw(code, function, json.dumps(args or {}), json.dumps(options or {}))

    def call_raw(self, code, function, args_text, options_text="{}"):
        return json.loads(self._result(self._export("call", code, function, args_text, options_text)))

    def describe(self, code, function):
        return json.loads(self._result(self._export("describe", code, function)))

    def run_tests(self, code, module_name, test_source, options=None, tmp_dir=None):
        options = dict(options or {})
        if tmp_dir is not None:
            options["tmp_path"] = str(tmp_dir)
        text = self._result(
            self._export("run-tests", code, module_name, test_source, json.dumps(options), preopen=tmp_dir)
        )
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
