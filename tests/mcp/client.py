"""Drives `toolsmith serve` with the official MCP Python SDK, as an assistant would.

    python client.py SCENARIO --mode legacy|2026-07-28 --server PATH [--verify wasm-only]

Each scenario launches the server over stdio (the environment's TOOLSMITH_* variables are
passed on; nothing else is, so no model is configured), checks what it says and exits 0, or
raises with what was wrong. `legacy` is the initialize handshake (2025-11-25); `2026-07-28`
is the stateless protocol, negotiated through server/discover (`mode="auto"`). tests/mcp.rs
runs every scenario in both modes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import anyio
import mcp_types as types
from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPError

ARGS: argparse.Namespace

BUILT_INS = [
    "search_tools",
    "execute_tool",
    "create_tool",
    "get_tool",
    "list_tools",
    "delete_tool",
    "synthesize_capability",
    "process_request",
    "plan_execution",
    "get_workflow_patterns",
    "get_tool_relationships",
    "start_session",
    "get_recent_messages",
]


def check(cond: object, what: str) -> None:
    if not cond:
        raise AssertionError(what)


def server(*extra: str) -> StdioServerParameters:
    env = {k: v for k, v in os.environ.items() if k.startswith("TOOLSMITH_")}
    return StdioServerParameters(command=ARGS.server, args=["serve", "--verify", ARGS.verify, *extra], env=env)


def client(*extra: str, **kw) -> Client:
    mode = "legacy" if ARGS.mode == "legacy" else "auto"
    return Client(server(*extra), mode=mode, read_timeout_seconds=120, **kw)


class Changes:
    """Counts tools/list_changed, however it arrives (a notification on a legacy session, a
    subscriptions/listen event on a 2026 one)."""

    def __init__(self) -> None:
        self.count = 0
        self._event = anyio.Event()

    def bump(self) -> None:
        self.count += 1
        self._event.set()
        self._event = anyio.Event()

    async def handler(self, message) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            self.bump()

    async def wait_for(self, n: int) -> None:
        with anyio.fail_after(30):
            while self.count < n:
                await self._event.wait()


async def listen(c: Client, changes: Changes, tg, ready: anyio.Event) -> None:
    async with c.listen(tools_list_changed=True) as sub:
        ready.set()
        async for _event in sub:
            changes.bump()


async def watch_changes(c: Client, changes: Changes, tg) -> None:
    """On a 2026 session, open the subscription and wait until the server acknowledged it."""
    if ARGS.mode == "legacy":
        return
    ready = anyio.Event()
    tg.start_soon(listen, c, changes, tg, ready)
    with anyio.fail_after(30):
        await ready.wait()


async def all_tools(c: Client) -> list[types.Tool]:
    tools, cursor, pages = [], None, 0
    while True:
        page = await c.list_tools(cursor=cursor, cache_mode="bypass")
        tools += page.tools
        pages += 1
        cursor = page.next_cursor
        if not cursor:
            return tools


def structured(r: types.CallToolResult) -> dict:
    check(r.structured_content is not None, f"no structuredContent in {r}")
    return r.structured_content


def ok(r: types.CallToolResult) -> dict:
    check(not r.is_error, f"unexpected error: {r.structured_content or r.content}")
    return structured(r)


def failed(r: types.CallToolResult, kind: str) -> dict:
    check(r.is_error, f"expected an error {kind}, got {r.structured_content}")
    s = structured(r)
    check(s.get("error_type") == kind, f"expected error_type {kind}, got {s}")
    check(s.get("error"), f"an error without a message: {s}")
    return s


async def protocol_error(call, code: int) -> MCPError:
    try:
        r = await call
    except MCPError as e:
        check(e.code == code, f"expected JSON-RPC error {code}, got {e.code}: {e}")
        return e
    raise AssertionError(f"expected JSON-RPC error {code}, got a result: {r}")


async def create(c: Client, name: str, code: str, tests: str, **extra) -> types.CallToolResult:
    return await c.call_tool("create_tool", {"name": name, "code": code, "tests": tests, **extra})


REVERSE = '''def reverse_words(text: str) -> str:
    """Put the words of a sentence in the opposite order."""
    return " ".join(reversed(text.split()))
'''
REVERSE_TESTS = '''from reverse_words import reverse_words

def test_reverses():
    assert reverse_words("a b c") == "c b a"

def test_empty():
    assert reverse_words("") == ""
'''

BURN = '''def burn(n: int) -> int:
    """Sum the integers below n, one at a time."""
    total = 0
    for i in range(n):
        total += i
    return total
'''
BURN_TESTS = "from burn import burn\n\ndef test_small():\n    assert burn(4) == 6\n"

ECHO_LEN = '''def echo_len(text: str) -> int:
    """The number of characters of text."""
    return len(text)
'''
ECHO_LEN_TESTS = "from echo_len import echo_len\n\ndef test_len():\n    assert echo_len('abc') == 3\n"

ADD = '''def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b
'''
ADD_TESTS = "from add import add\n\ndef test_add():\n    assert add(2, 3) == 5\n"


def slow(name: str, seconds: float) -> tuple[str, str]:
    """A tool whose tests take `seconds`: long enough to act while they run."""
    code = f'def {name}(x: int) -> int:\n    """Double x."""\n    return 2 * x\n'
    tests = (
        f"import time\nfrom {name} import {name}\n\n"
        f"def test_slowly():\n    time.sleep({seconds})\n    assert {name}(2) == 4\n"
    )
    return code, tests


# --- scenarios --------------------------------------------------------------------------------


async def lifecycle() -> None:
    changes = Changes()
    async with anyio.create_task_group() as tg:
        async with client("--page-size", "5", message_handler=changes.handler) as c:
            if ARGS.mode == "legacy":
                check(c.protocol_version == "2025-11-25", f"negotiated {c.protocol_version}")
                check(c.server_info and c.server_info.name == "toolsmith", f"server info {c.server_info}")
                check("search_tools" in (c.instructions or ""), f"instructions {c.instructions!r}")
            else:
                check(c.protocol_version == "2026-07-28", f"negotiated {c.protocol_version}")
            check(c.server_capabilities.tools is not None, "no tools capability")
            await watch_changes(c, changes, tg)

            tools = await all_tools(c)
            names = [t.name for t in tools]
            check(names == BUILT_INS, f"built-ins in order, paginated by 5: {names}")
            by_name = {t.name: t for t in tools}
            for t in tools:
                check(t.input_schema.get("type") == "object", f"{t.name} input schema {t.input_schema}")
                check(t.description, f"{t.name} has no description")
            check(by_name["search_tools"].annotations.read_only_hint is True, "search_tools is read-only")
            check(by_name["get_tool"].annotations.read_only_hint is True, "get_tool is read-only")
            check(by_name["delete_tool"].annotations.destructive_hint is True, "delete_tool is destructive")
            check(by_name["create_tool"].annotations.destructive_hint is False, "create_tool is not destructive")
            check(by_name["execute_tool"].output_schema, "execute_tool has an output schema")

            progress: list[tuple[float, str]] = []

            async def on_progress(p: float, total: float | None, message: str | None) -> None:
                progress.append((p, message or ""))

            r = await c.call_tool(
                "create_tool",
                {"name": "reverse_words", "code": REVERSE, "tests": REVERSE_TESTS,
                 "examples": [{"arguments": {"text": "one two"}, "result": "two one"}]},
                progress_callback=on_progress,
            )
            rec = ok(r)
            check(rec["name"] == "reverse_words" and rec["verification"] == "wasm-only", f"record {rec}")
            check("test_example_0" in rec["tests"], "examples become tests")
            messages = [m for _, m in progress]
            for want in ["static_checks: started", "static_checks: passed", "wasm_tests: started",
                         "wasm_tests: passed (3 passed)", "register: passed", "registered reverse_words"]:
                check(want in messages, f"progress {want!r} missing from {messages}")
            check(messages.index("static_checks: started") < messages.index("register: passed"), f"order {messages}")
            values = [p for p, _ in progress]
            check(values == sorted(values) and len(set(values)) == len(values), f"progress grows: {values}")

            await changes.wait_for(1)
            tools = await all_tools(c)
            names = [t.name for t in tools]
            check(names == BUILT_INS + ["reverse_words"], f"the new tool is listed after the built-ins: {names}")
            rw = tools[-1]
            check("opposite order" in (rw.description or ""), f"docstring as description: {rw.description}")
            check(rw.input_schema["properties"]["text"]["type"] == "string", f"schema {rw.input_schema}")

            out = ok(await c.call_tool("reverse_words", {"text": "hello big world"}))
            check(out["result"] == "world big hello", f"called by its own name: {out}")

            found = ok(await c.call_tool("search_tools", {"query": "flip the sequence of words in a phrase"}))
            check(found["matches"] and found["matches"][0]["name"] == "reverse_words", f"search {found}")

            out = ok(await c.call_tool("execute_tool", {"name": "reverse_words", "arguments": {"text": "x y"}}))
            check(out["result"] == "y x", f"execute_tool {out}")

            ok(await create(c, "burn", BURN, BURN_TESTS))
            await changes.wait_for(2)
            s = failed(
                await c.call_tool("execute_tool", {"name": "burn", "arguments": {"n": 10**12}, "limits": {"fuel": 5_000_000}}),
                "fuel_exhausted",
            )
            check("fuel" in s["error"], f"names the limit: {s}")
            failed(
                await c.call_tool("execute_tool", {"name": "burn", "arguments": {"n": 10**12}, "limits": {"timeout_ms": 300}}),
                "timeout",
            )

            # Executions are logged off the call path, so the count may lag: only the shape is checked.
            got = ok(await c.call_tool("get_tool", {"name": "reverse_words"}))
            check(set(got["usage"]) == {"runs", "successes"} and got["code"] == REVERSE, f"get_tool {got}")

            deleted = ok(await c.call_tool("delete_tool", {"name": "reverse_words"}))
            check(deleted == {"deleted": True, "name": "reverse_words"}, f"delete {deleted}")
            await changes.wait_for(3)
            names = [t.name for t in await all_tools(c)]
            check(names == BUILT_INS + ["burn"], f"deleted: {names}")
            await protocol_error(c.call_tool("reverse_words", {"text": "a"}), -32602)
            failed(await c.call_tool("get_tool", {"name": "reverse_words"}), "not_found")
            failed(await c.call_tool("delete_tool", {"name": "reverse_words"}), "not_found")

            session = ok(await c.call_tool("start_session", {}))["session_id"]
            for i in range(2):
                ok(await c.call_tool("execute_tool", {"name": "burn", "arguments": {"n": i}, "session_id": session}))
            msgs = ok(await c.call_tool("get_recent_messages", {"session_id": session}))
            check(msgs == {"session_id": session, "messages": []}, f"messages {msgs}")
            check("patterns" in ok(await c.call_tool("get_workflow_patterns", {})), "patterns")
            rel = ok(await c.call_tool("get_tool_relationships", {"tool_name": "burn", "min_confidence": 0.0}))
            check(isinstance(rel["relationships"], list), f"relationships {rel}")
            for agent_tool in ["process_request", "plan_execution"]:
                s = failed(await c.call_tool(agent_tool, {"user_prompt": "reverse a b"}), "not_configured")
                check("OPENAI_BASE_URL" in s["error"] and "sampling" in s["error"], f"says what to set: {s}")
            failed(await c.call_tool("synthesize_capability", {"user_prompt": "reverse words"}), "not_configured")
            tg.cancel_scope.cancel()


async def bad_input() -> None:
    async with client() as c:
        ok(await create(c, "echo_len", ECHO_LEN, ECHO_LEN_TESTS))
        await protocol_error(c.call_tool("no_such_tool", {}), -32602)
        failed(await c.call_tool("execute_tool", {"name": "echo_len", "arguments": "text"}), "invalid_arguments")
        failed(await c.call_tool("execute_tool", {"name": 5}), "invalid_arguments")
        s = failed(await c.call_tool("execute_tool", {}), "invalid_arguments")
        check("missing field `name`" in s["error"], f"says what is missing: {s}")
        failed(await c.call_tool("execute_tool", {"name": "echo_len", "bogus": 1}), "invalid_arguments")
        failed(await c.call_tool("echo_len", {"text": 5}), "invalid_arguments")
        s = failed(await c.call_tool("echo_len", {}), "invalid_arguments")
        check("text" in s["error"], f"says what is missing: {s}")
        s = failed(await c.call_tool("execute_tool", {"name": "nope", "arguments": {}}), "not_found")
        check("search_tools" in s["error"], f"says where to look: {s}")
        s = failed(
            await c.call_tool("execute_tool", {"name": "echo_len", "arguments": {"text": "a"}, "limits": {"memory_mb": 10**6}}),
            "invalid_arguments",
        )
        check("memory" in s["error"], f"names the limit: {s}")
        failed(await c.call_tool("search_tools", {"query": "x", "limit": -1}), "invalid_arguments")

        big = "x" * 10_000_000
        out = ok(await c.call_tool("echo_len", {"text": big}))
        check(out["result"] == 10_000_000, f"10 MB argument: {out['result']}")

        s = failed(await create(c, "broken", "def broken(x: int) -> int:\n    return x + 1\n",
                                "from broken import broken\n\ndef test_it():\n    assert broken(1) == 3\n"),
                   "verification_failed")
        check(s.get("stage") == "wasm_tests" and "assert" in (s.get("output") or ""), f"stage and output: {s}")
        failed(await c.call_tool("get_tool", {"name": "broken"}), "not_found")
        failed(await create(c, "search_tools", ECHO_LEN.replace("echo_len", "search_tools"), "def test_x():\n    pass\n"),
               "invalid_name")
        failed(await create(c, "echo_len", ECHO_LEN, ECHO_LEN_TESTS), "already_exists")
        failed(await create(c, "no_tests", "def no_tests() -> int:\n    return 1\n", ""), "verification_failed")

        # A request cancelled midway, then the next one.
        code, tests = slow("nap_tool", 0)
        nap = 'import time\n\ndef nap(seconds: float) -> float:\n    """Sleep."""\n    time.sleep(seconds)\n    return seconds\n'
        ok(await create(c, "nap", nap, "from nap import nap\n\ndef test_nap():\n    assert nap(0) == 0\n"))
        with anyio.move_on_after(0.5) as scope:
            await c.call_tool("nap", {"seconds": 5})
        check(scope.cancelled_caught, "the nap call was cancelled")
        out = ok(await c.call_tool("echo_len", {"text": "after"}))
        check(out["result"] == 5, f"served after a cancelled request: {out}")


async def cancel() -> None:
    async with client() as c:
        code, tests = slow("slow_double", 3)
        started = anyio.Event()

        async def on_progress(p: float, total: float | None, message: str | None) -> None:
            if message == "wasm_tests: started":
                started.set()

        async with anyio.create_task_group() as tg:
            async def run() -> None:
                await c.call_tool("create_tool", {"name": "slow_double", "code": code, "tests": tests},
                                  progress_callback=on_progress)
                raise AssertionError("create_tool finished although it was cancelled")

            tg.start_soon(run)
            with anyio.fail_after(60):
                await started.wait()
            tg.cancel_scope.cancel()
        failed(await c.call_tool("get_tool", {"name": "slow_double"}), "not_found")
        check("slow_double" not in [t.name for t in await all_tools(c)], "nothing registered")
        # The name is free and the server serves on: the same tool again, with quick tests.
        code, tests = slow("slow_double", 0)
        ok(await create(c, "slow_double", code, tests))
        out = ok(await c.call_tool("slow_double", {"x": 21}))
        check(out["result"] == 42, f"{out}")


async def concurrent() -> None:
    async with client() as c:
        ok(await create(c, "add", ADD, ADD_TESTS))
        code, tests = slow("slow_triple", 2)
        started, created = anyio.Event(), anyio.Event()
        results: dict[int, int] = {}

        async def on_progress(p: float, total: float | None, message: str | None) -> None:
            if message == "wasm_tests: started":
                started.set()

        async def create_slowly() -> None:
            ok(await c.call_tool("create_tool", {"name": "slow_triple", "code": code, "tests": tests},
                                 progress_callback=on_progress))
            created.set()

        async def call(i: int) -> None:
            out = ok(await c.call_tool("execute_tool", {"name": "add", "arguments": {"a": i, "b": 1000}}))
            results[i] = out["result"]

        async with anyio.create_task_group() as tg:
            tg.start_soon(create_slowly)
            with anyio.fail_after(60):
                await started.wait()
            t0 = time.perf_counter()
            async with anyio.create_task_group() as calls:
                for i in range(50):
                    calls.start_soon(call, i)
            elapsed = time.perf_counter() - t0
            check(not created.is_set(), f"the 50 calls waited for create_tool ({elapsed:.2f} s)")
        check(results == {i: i + 1000 for i in range(50)}, f"results {results}")
        check(created.is_set(), "create_tool finished")
        print(json.dumps({"calls": 50, "seconds": round(elapsed, 3)}))


FIB_SPEC = {
    "function_name": "fibonacci",
    "parameters": [{"name": "n", "type": "integer", "description": "The index, from 0.", "required": True}],
    "return_type": "integer",
    "docstring": "Return the n-th Fibonacci number: fibonacci(0) == 0. Raises ValueError when n is negative.",
}
FIB_TESTS = '''Here are the tests:

```python
import pytest
from fibonacci import fibonacci

@pytest.mark.parametrize("n, expected", [(0, 0), (1, 1), (10, 55)])
def test_values(n, expected):
    assert fibonacci(n) == expected

def test_negative():
    with pytest.raises(ValueError):
        fibonacci(-1)
```
'''
FIB_CODE = '''```python
def fibonacci(n: int) -> int:
    """Return the n-th Fibonacci number."""
    if n < 0:
        raise ValueError("n must be non-negative")
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a
```
'''


async def sampling() -> None:
    asked: list[str] = []

    async def model(ctx, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        """A scripted model: it answers each of Toolsmith's prompts by what the prompt asks for."""
        system = params.system_prompt or ""
        prompt = params.messages[0].content.text
        if "You plan how an agent" in system:
            asked.append("plan")
            text = json.dumps({"strategy": "single", "reasoning": "fibonacci does it", "tool": "fibonacci",
                               "sub_tasks": [], "composite_tool": None, "pattern_id": None})
        elif "arguments of one function call" in system:
            asked.append("arguments")
            check("fibonacci of 12" in prompt, f"the request reaches the extraction: {prompt!r}")
            text = json.dumps({"arguments": {"n": 12}, "missing": []})
        elif "from the result of the tool" in system:
            asked.append("response")
            check("144" in prompt, f"the result reaches the answer: {prompt!r}")
            text = "The 12th Fibonacci number is 144."
        elif "JSON specification" in system:
            asked.append("spec")
            check("Fibonacci" in prompt, f"the request reaches the model: {prompt!r}")
            text = json.dumps(FIB_SPEC)
        elif "pytest" in system and "def test_" not in prompt:
            asked.append("tests")
            text = FIB_TESTS
        else:
            asked.append("implementation")
            text = FIB_CODE
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text=text), model="scripted", stop_reason="endTurn"
        )

    async with client() as c:
        s = failed(await c.call_tool("synthesize_capability", {"user_prompt": "the n-th Fibonacci number"}),
                   "not_configured")
        check("OPENAI_API_KEY" in s["error"] and "sampling" in s["error"], f"says what to set: {s}")

    async with client(sampling_callback=model) as c:
        progress: list[str] = []

        async def on_progress(p: float, total: float | None, message: str | None) -> None:
            progress.append(message or "")

        r = await c.call_tool("synthesize_capability", {"user_prompt": "the n-th Fibonacci number"},
                              progress_callback=on_progress)
        result = ok(r)
        check(result["success"] and result["tool_name"] == "fibonacci", f"synthesis {result}")
        check(asked == ["spec", "tests", "implementation"], f"the client's model was asked {asked}")
        for want in ["spec: started", "tests: passed", "wasm_tests: passed (4 passed)", "registered fibonacci"]:
            check(want in progress, f"progress {want!r} missing from {progress}")
        out = ok(await c.call_tool("fibonacci", {"n": 30}))
        check(out["result"] == 832040, f"fibonacci(30): {out}")
        asked.clear()
        progress.clear()
        r = ok(await c.call_tool("process_request", {"user_prompt": "fibonacci of 12"}, progress_callback=on_progress))
        check(r["success"] and r["tool_name"] == "fibonacci" and r["tool_result"] == 144, f"process_request {r}")
        check(r["response"] == "The 12th Fibonacci number is 144." and not r["synthesized"], f"answer {r}")
        check(asked in (["arguments", "response"], ["plan", "arguments", "response"]), f"model asked {asked}")
        check(any("fibonacci ran" in m for m in progress), f"a step is reported: {progress}")
        raw = ok(await c.call_tool("process_request", {"user_prompt": "fibonacci of 12", "respond": False,
                                                        "session_id": r["session_id"]}))
        check(raw["tool_result"] == 144 and raw["response"] == "144", f"respond=false gives the raw result: {raw}")


FIRST_LINE = '''def first_line(path: str) -> str:
    """The first line of a text file."""
    with open(path) as f:
        return f.readline().rstrip("\\n")
'''
FIRST_LINE_TESTS = "from first_line import first_line\n\ndef test_reads():\n    assert first_line('data/notes.txt') == 'hello'\n"


async def grants() -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as granted, tempfile.TemporaryDirectory() as other:
        for d in (granted, other):
            with open(os.path.join(d, "x.txt"), "w") as f:
                f.write("secret of " + os.path.basename(d) + "\n")
        async with client("--allow-read", granted) as c:
            ok(await create(c, "first_line", FIRST_LINE, FIRST_LINE_TESTS,
                            data_files={"data/notes.txt": "hello\nworld\n"}))
            out = ok(await c.call_tool("first_line", {"path": os.path.join(granted, "x.txt")}))
            check(out["result"] == "secret of " + os.path.basename(granted), f"reads the granted dir: {out}")
            s = failed(await c.call_tool("first_line", {"path": os.path.join(other, "x.txt")}), "tool_error")
            check(s.get("exception") == "FileNotFoundError", f"nothing outside the grant: {s}")
            s = failed(await c.call_tool("first_line", {"path": "/etc/passwd"}), "tool_error")
            check(s.get("exception") == "FileNotFoundError", f"nothing outside the grant: {s}")
            failed(await create(c, "bad_data", FIRST_LINE.replace("first_line", "bad_data"),
                                FIRST_LINE_TESTS.replace("first_line", "bad_data"),
                                data_files={"../escape.txt": "x"}), "invalid_arguments")


async def composite() -> None:
    """The home holds make_list, sum_list and the composite make_list_then_sum_list."""
    changes = Changes()
    async with anyio.create_task_group() as tg:
        async with client(message_handler=changes.handler) as c:
            await watch_changes(c, changes, tg)
            tools = {t.name: t for t in await all_tools(c)}
            comp = tools.get("make_list_then_sum_list")
            check(comp is not None, f"the composite is listed: {sorted(tools)}")
            check("composite" in (comp.description or ""), f"says what it is: {comp.description}")
            check(comp.input_schema.get("required") == ["n"], f"values comes from make_list: {comp.input_schema}")
            out = ok(await c.call_tool("make_list_then_sum_list", {"n": 5}))
            check(out["result"] == 15, f"ran both steps: {out}")
            failed(await c.call_tool("make_list_then_sum_list", {"n": "five"}), "invalid_arguments")
            before = changes.count
            ok(await c.call_tool("delete_tool", {"name": "sum_list"}))
            await changes.wait_for(before + 1)
            names = [t.name for t in await all_tools(c)]
            check("make_list_then_sum_list" not in names, f"gone with its tool: {names}")
            tg.cancel_scope.cancel()


async def docker() -> None:
    async with client() as c:
        progress: list[str] = []

        async def on_progress(p: float, total: float | None, message: str | None) -> None:
            progress.append(message or "")

        rec = ok(await c.call_tool("create_tool", {"name": "add", "code": ADD, "tests": ADD_TESTS},
                                   progress_callback=on_progress))
        check(rec["verification"] == "docker+wasm", f"verified in Docker: {rec}")
        check(progress.index("docker_tests: started") < progress.index("wasm_tests: started"), f"order {progress}")
        out = ok(await c.call_tool("add", {"a": 2, "b": 40}))
        check(out["result"] == 42, f"{out}")


SCENARIOS = {f.__name__: f for f in [lifecycle, bad_input, cancel, concurrent, sampling, grants, composite, docker]}


def main() -> None:
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("scenario", choices=sorted(SCENARIOS))
    p.add_argument("--mode", choices=["legacy", "2026-07-28"], required=True)
    p.add_argument("--server", required=True)
    p.add_argument("--verify", default="wasm-only")
    ARGS = p.parse_args()
    try:
        anyio.run(SCENARIOS[ARGS.scenario])
    except BaseException as e:  # noqa: BLE001 - report the leaves of task-group errors, then fail
        for leaf in leaves(e):
            tb = leaf.__traceback__
            while tb and tb.tb_next:
                tb = tb.tb_next
            where = f"client.py:{tb.tb_lineno}" if tb else "?"
            print(f"FAILED {ARGS.scenario} ({ARGS.mode}) at {where}: {type(leaf).__name__}: {leaf}", file=sys.stderr)
        sys.exit(1)
    print(f"{ARGS.scenario} ({ARGS.mode}): ok", file=sys.stderr)


def leaves(e: BaseException) -> list[BaseException]:
    if isinstance(e, BaseExceptionGroup):
        return [leaf for sub in e.exceptions for leaf in leaves(sub)]
    return [e]


if __name__ == "__main__":
    main()
