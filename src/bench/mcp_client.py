"""`toolsmith bench mcp`'s client: the official MCP Python SDK driving `toolsmith serve` over stdio.

    python mcp_client.py --server EXE --call-home DIR --list-home DIR --empty-home DIR
                         [--mode legacy|auto] [--calls N] [--starts N] [--concurrent N] [--rounds N]

Prints one JSON object: latency samples (ms) of execute_tool on a small tool, the same tool by
its own name, and a built-in that does no work (the protocol's cost), with the server's own
time per call (`_meta` "dev.toolsmith/server_ms"); serve start to the first tools/list page and
to the whole list, with 1,000 tools and with none; and calls/s of N concurrent execute_tool calls.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import anyio
from mcp import Client, StdioServerParameters

SERVER_MS = "dev.toolsmith/server_ms"


def params(a: argparse.Namespace, home: str) -> StdioServerParameters:
    env = {k: v for k, v in os.environ.items() if k.startswith("TOOLSMITH_")}
    env["TOOLSMITH_HOME"] = home
    return StdioServerParameters(command=a.server, args=["serve", "--verify", "wasm-only"], env=env)


def server_ms(r) -> float | None:
    meta = r.meta or {}
    return meta.get(SERVER_MS)


async def timed(c: Client, name: str, args: dict, n: int) -> tuple[list[float], list[float]]:
    client_ms, srv_ms = [], []
    for i in range(n):
        t = time.perf_counter()
        r = await c.call_tool(name, args(i) if callable(args) else args)
        client_ms.append((time.perf_counter() - t) * 1e3)
        if r.is_error:
            raise RuntimeError(f"{name} failed: {r.structured_content}")
        if (s := server_ms(r)) is not None:
            srv_ms.append(s)
    return client_ms, srv_ms


async def calls(a: argparse.Namespace) -> dict:
    out = {}
    async with Client(params(a, a.call_home), mode=a.mode) as c:
        # Warm: the runtime, the tool's prepared bytecode, the client's schema cache.
        await timed(c, "execute_tool", {"name": "add", "arguments": {"a": 1, "b": 2}}, 50)
        await timed(c, "add", {"a": 1, "b": 2}, 20)
        await timed(c, "get_recent_messages", {"session_id": "none"}, 20)
        rows = {
            "execute_tool add": ("execute_tool", lambda i: {"name": "add", "arguments": {"a": i, "b": 1}}),
            "add by its own name": ("add", lambda i: {"a": i, "b": 1}),
            "built-in doing no work (get_recent_messages)": ("get_recent_messages", {"session_id": "none"}),
        }
        for label, (name, args) in rows.items():
            client_ms, srv_ms = await timed(c, name, args, a.calls)
            out[label] = {"client_ms": client_ms, "server_ms": srv_ms}

        # N concurrent callers, `rounds` times.
        done = 0
        t = time.perf_counter()
        for r in range(a.rounds):
            async with anyio.create_task_group() as tg:
                for i in range(a.concurrent):
                    async def one(i=i) -> None:
                        nonlocal done
                        res = await c.call_tool("execute_tool", {"name": "add", "arguments": {"a": i, "b": r}})
                        if res.is_error or res.structured_content["result"] != i + r:
                            raise RuntimeError(f"wrong: {res}")
                        done += 1
                    tg.start_soon(one)
        out["concurrent"] = {"callers": a.concurrent, "calls": done, "seconds": time.perf_counter() - t}
    return out


async def start_to_list(a: argparse.Namespace, home: str) -> dict:
    first, whole, counts = [], [], []
    for _ in range(a.starts):
        t = time.perf_counter()
        async with Client(params(a, home), mode=a.mode) as c:
            page = await c.list_tools(cache_mode="bypass")
            first.append((time.perf_counter() - t) * 1e3)
            n, cursor = len(page.tools), page.next_cursor
            while cursor:
                page = await c.list_tools(cursor=cursor, cache_mode="bypass")
                n, cursor = n + len(page.tools), page.next_cursor
            whole.append((time.perf_counter() - t) * 1e3)
            counts.append(n)
    return {"first_page_ms": first, "all_pages_ms": whole, "tools": counts[0]}


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--server", required=True)
    p.add_argument("--call-home", required=True)
    p.add_argument("--list-home", required=True)
    p.add_argument("--empty-home", required=True)
    p.add_argument("--mode", default="legacy")
    p.add_argument("--calls", type=int, default=1000)
    p.add_argument("--starts", type=int, default=10)
    p.add_argument("--concurrent", type=int, default=50)
    p.add_argument("--rounds", type=int, default=20)
    a = p.parse_args()
    report = {"mode": a.mode, "calls": await calls(a)}
    report["start_many"] = await start_to_list(a, a.list_home)
    report["start_empty"] = await start_to_list(a, a.empty_home)
    print(json.dumps(report))


if __name__ == "__main__":
    anyio.run(main)
