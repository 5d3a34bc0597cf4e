"""The sandbox container's supervisor: it keeps the code under test out of the judge's process.

Toolsmith starts it as `timeout -s KILL <limit> python3 -I -B launcher.py NAME DEADLINE_MS`, as
root holding only CAP_SETUID, CAP_SETGID, CAP_SETPCAP and CAP_KILL (no-new-privileges, read-only
root file system, no network). It starts two kinds of children, each with an empty capability
bounding set and without any of its own file descriptors:

- the judge: pytest with the `toolsmith_judge` plugin, as user toolsmith-judge (65533), writing
  to the container's stdout. `from NAME import NAME` in the tests binds a proxy that sends each
  call, as JSON, to this process over a socket pair only the judge holds;
- for each call, a fresh tool process as user nobody (65534): it imports /tool/NAME.py, calls the
  function and returns the result (or the exception, by type and message) as JSON. Afterwards
  every process of that user is killed, so nothing it started outlives the call.

Only this process writes the container's stderr, and it writes exactly one line there: the
verdict, `{"toolsmith_verdict": {...}}`, holding facts (the tests the file defines, what pytest's
own report counted, crashes, the deadline, out-of-memory kills). Toolsmith judges those facts;
nothing the tool prints can reach that stream, and the tool's user can neither signal nor trace
the judge or this process.

Toolsmith embeds this file and hashes it into the image tag: editing it makes a new image.
"""

import ctypes
import json
import os
import selectors
import signal
import socket
import sys
import time
import traceback

JUDGE_UID = JUDGE_GID = 65533
TOOL_UID = TOOL_GID = 65534
WORK = "/work"
TOOL_DIR = "/tool"
# A result or request larger than this is refused rather than buffered.
MAX_MESSAGE = 16 << 20
# What a tool process may print per call that is kept (and shown in the test's captured output).
MAX_OUTPUT = 64 << 10
MAX_CRASHES_KEPT = 10
ENV = {"HOME": "/tmp", "LANG": "C.UTF-8", "PATH": "/usr/local/bin:/usr/bin:/bin"}

PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
_libc = ctypes.CDLL(None, use_errno=True)


class Deadline(Exception):
    """The run's time is up."""


def main():
    name, deadline_ms = sys.argv[1], int(sys.argv[2])
    deadline = time.monotonic() + deadline_ms / 1000
    sys.set_int_max_str_digits(0)
    # Orphans of the tool (a forked child whose parent returned) are reparented here, so they
    # can be reaped and none holds a slot of the process limit after the sweep.
    _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    run = Run(name, deadline)
    try:
        run.run()
    except Deadline:
        run.verdict["timed_out"] = True
    except BaseException:
        run.verdict["launcher_error"] = traceback.format_exc()[-4000:]
    run.verdict["oom_kills"] = oom_kills() - run.oom_before
    try:
        sys.stdout.flush()
    except OSError:
        pass
    os.write(2, (json.dumps({"toolsmith_verdict": run.verdict}) + "\n").encode())
    # Exiting ends the container: the kernel kills whatever is left in its PID namespace.
    os._exit(0)


class Run:
    def __init__(self, name, deadline):
        self.name = name
        self.deadline = deadline
        self.statuses = {}  # pid -> exit code of reaped children (negative: killed by that signal)
        self.oom_before = oom_kills()
        self.verdict = {
            "tool_error": None,
            "defined": None,
            "defined_error": None,
            "report": None,
            "judge_exit": None,
            "calls": 0,
            "crash_count": 0,
            "crashes": [],
            "timed_out": False,
            "oom_kills": 0,
            "launcher_error": None,
        }

    def remaining(self):
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise Deadline()
        return left

    def run(self):
        inspected = self.in_tool_process(inspect, self.name)
        if inspected.get("value") is None:
            self.verdict["launcher_error"] = f"inspecting the tool and its tests failed: {inspected}"
            return
        found = inspected["value"]
        self.verdict["defined"] = found["defined"]
        self.verdict["defined_error"] = found["defined_error"]
        if found["tool_error"]:
            self.verdict["tool_error"] = found["tool_error"]
            print(f"the tool {self.name}.py does not compile:\n{found['tool_error']}", flush=True)
            return
        self.judge()

    # The judge

    def judge(self):
        ours, theirs = socket.socketpair()
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            try:
                ours.close()
                os.dup2(theirs.fileno(), 3)
                os.dup2(1, 2)  # pytest's stderr joins its stdout; the container's stderr is ours alone
                redirect_stdin()
                os.closerange(4, 1 << 16)
                drop_to(JUDGE_UID, JUDGE_GID)
                env = dict(ENV, PYTHONPATH="/opt/toolsmith", TOOLSMITH_JUDGE_FD="3", PYTHONDONTWRITEBYTECODE="1",
                           PYTHONUNBUFFERED="1")
                argv = [sys.executable, "-P", "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "toolsmith_judge",
                        "--basetemp=/tmp/pt", f"test_{self.name}.py"]
                os.execve(sys.executable, argv, env)
            finally:
                os._exit(127)
        theirs.close()
        pidfd = os.pidfd_open(pid)
        sel = selectors.DefaultSelector()
        sel.register(ours, selectors.EVENT_READ, "socket")
        sel.register(pidfd, selectors.EVENT_READ, "exit")
        buf = b""
        while True:
            events = sel.select(self.remaining())
            kinds = {key.data for key, _ in events}
            if "exit" in kinds:
                # What the judge sent before it exited is buffered in the socket: read it without
                # waiting for an end of stream that a child of the tests could hold back.
                ours.setblocking(False)
                while True:
                    try:
                        data = ours.recv(1 << 16)
                    except BlockingIOError:
                        break
                    if not data:
                        break
                    buf = self.judge_lines(ours, buf + data)
                self.reap()
                self.verdict["judge_exit"] = self.statuses.get(pid)
                return
            if "socket" in kinds:
                data = ours.recv(1 << 16)
                if not data:
                    sel.unregister(ours)
                buf = self.judge_lines(ours, buf + data)

    def judge_lines(self, sock, buf):
        if len(buf) > MAX_MESSAGE:
            raise RuntimeError("the judge sent an oversized message")
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            self.judge_message(sock, line)
        return buf

    def judge_message(self, sock, line):
        msg = json.loads(line)
        op = msg.get("op")
        if op == "report" and self.verdict["report"] is None:
            self.verdict["report"] = msg.get("report")
        elif op == "call":
            reply = self.call(msg)
            sock.settimeout(self.remaining())
            try:
                sock.sendall((json.dumps(reply) + "\n").encode())
            except socket.timeout:
                raise Deadline()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the judge is gone; its exit is handled by the caller
            finally:
                sock.settimeout(None)

    # Calls

    def call(self, request):
        self.verdict["calls"] += 1
        reply = self.in_tool_process(call_tool, self.name, request)
        if "value" in reply or "error" in reply:
            return reply
        self.verdict["crash_count"] += 1
        if len(self.verdict["crashes"]) < MAX_CRASHES_KEPT:
            self.verdict["crashes"].append(reply["died"])
        return reply

    def in_tool_process(self, fn, *args):
        """Run fn(*args) in a fresh process as the tool's user; its JSON answer, the output it
        printed (`output`), or `died` saying how it ended without one."""
        result_r, result_w = os.pipe()
        out_r, out_w = os.pipe()
        sys.stdout.flush()
        try:
            pid = os.fork()
        except OSError as e:
            for fd in (result_r, result_w, out_r, out_w):
                os.close(fd)
            return {"died": f"the tool process could not be started: {e}"}
        if pid == 0:
            try:
                os.dup2(out_w, 1)
                os.dup2(out_w, 2)
                os.dup2(result_w, 3)
                redirect_stdin()
                os.closerange(4, 1 << 16)
                with open("/proc/self/oom_score_adj", "w") as f:
                    f.write("1000")  # under memory pressure the tool goes first, never the judge
                drop_to(TOOL_UID, TOOL_GID)
                os.umask(0)
                os.chdir(WORK)
                os.environ.clear()
                os.environ.update(ENV)
                answer = fn(*args)
                sys.stdout.flush()
                sys.stderr.flush()
                write_all(3, answer.encode())
            finally:
                os._exit(0)
        for fd in (result_w, out_w):
            os.close(fd)
        pidfd = os.pidfd_open(pid)
        result, output, dropped = bytearray(), bytearray(), 0
        too_big = False
        sel = selectors.DefaultSelector()
        sel.register(result_r, selectors.EVENT_READ, "result")
        sel.register(out_r, selectors.EVENT_READ, "output")
        sel.register(pidfd, selectors.EVENT_READ, "exit")
        exited, open_pipes = False, 2
        try:
            while not exited or open_pipes:
                for key, _ in sel.select(self.remaining()):
                    if key.data == "exit":
                        sel.unregister(pidfd)
                        exited = True
                        # Whatever it started dies with it: then the pipes' last writers are gone.
                        self.sweep()
                        continue
                    data = os.read(key.fd, 1 << 16)
                    if not data:
                        sel.unregister(key.fd)
                        open_pipes -= 1
                    elif key.data == "result":
                        result += data
                        if len(result) > MAX_MESSAGE:
                            too_big = True
                            sel.unregister(key.fd)
                            open_pipes -= 1
                            self.sweep()
                    else:
                        keep = max(0, MAX_OUTPUT - len(output))
                        output += data[:keep]
                        dropped += len(data) - min(keep, len(data))
        finally:
            sel.close()
            self.sweep()
            for fd in (result_r, out_r, pidfd):
                os.close(fd)
        text = output.decode("utf-8", "replace")
        if dropped:
            text += f"\n[... {dropped} bytes of the tool's output left out ...]\n"
        status = self.statuses.get(pid)
        if too_big:
            return {"died": f"the tool's result exceeded {MAX_MESSAGE >> 20} MiB", "output": text}
        try:
            answer = json.loads(result) if result else None
        except (ValueError, RecursionError):
            answer = None
        if not isinstance(answer, dict) or not (("value" in answer) ^ ("error" in answer)):
            how = f"was killed by signal {-status}" if status is not None and status < 0 else f"exited with status {status}"
            return {"died": f"the tool process {how} without returning a result or raising", "output": text}
        answer["output"] = text
        return answer

    def sweep(self):
        """Kill every process of the tool's user and reap them."""
        for _ in range(200):
            found = False
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                try:
                    with open(f"/proc/{pid}/status") as f:
                        status = f.read()
                except OSError:
                    continue
                fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
                uids = fields.get("Uid", "").split()
                if str(TOOL_UID) in uids and not fields.get("State", "").strip().startswith(("Z", "X")):
                    found = True
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except OSError:
                        pass
            self.reap()
            if not found:
                return
        raise RuntimeError("the tool's processes could not all be killed")

    def reap(self):
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.statuses[pid] = os.waitstatus_to_exitcode(status)


def drop_to(uid, gid):
    """Become uid:gid for good, with no capability left even in the bounding set."""
    for cap in range(64):
        _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    if os.getuid() != uid or os.geteuid() != uid or os.getgid() != gid:
        raise SystemExit("dropping privileges failed")


def redirect_stdin():
    fd = os.open("/dev/null", os.O_RDONLY)
    os.dup2(fd, 0)
    if fd != 0:
        os.close(fd)


def write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def oom_kills():
    """Processes the kernel killed for memory in this container's cgroup so far."""
    for path in ("/sys/fs/cgroup/memory.events", "/sys/fs/cgroup/memory/memory.oom_control"):
        try:
            with open(path) as f:
                for line in f:
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        return int(value)
        except (OSError, ValueError):
            continue
    return 0


# What runs in the tool's process (as nobody). Each returns the JSON text of its answer.


def inspect(name):
    """Does the tool compile, and which tests does its test file define (pytest's default
    naming: functions test*, classes Test* with methods test*, at the top level)?"""
    import ast

    found = {"tool_error": None, "defined": None, "defined_error": None}
    try:
        with open(f"{TOOL_DIR}/{name}.py", "rb") as f:
            compile(f.read(), f"{name}.py", "exec", dont_inherit=True)
    except BaseException as e:
        found["tool_error"] = "".join(traceback.format_exception_only(type(e), e))[-4000:]
    try:
        with open(f"{WORK}/test_{name}.py", "rb") as f:
            tree = ast.parse(f.read(), f"test_{name}.py")
        defined = []

        def walk(body, prefix):
            for node in body:
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
                    defined.append(prefix + node.name)
                elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
                    walk(node.body, f"{prefix}{node.name}::")

        walk(tree.body, "")
        found["defined"] = defined[:10000]
    except BaseException as e:
        found["defined_error"] = "".join(traceback.format_exception_only(type(e), e))[-4000:]
    return json.dumps({"value": found})


def call_tool(name, request):
    import builtins
    import importlib.util

    try:
        args, kwargs = request.get("args", []), request.get("kwargs", {})
        sys.path.insert(0, TOOL_DIR)
        spec = importlib.util.spec_from_file_location(name, f"{TOOL_DIR}/{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        fn = getattr(module, name, None)
        if not callable(fn):
            raise AttributeError(f"the tool module {name}.py defines no function {name}")
        value = fn(*args, **kwargs)
    except BaseException as e:
        return json.dumps({"error": describe(e, builtins)})
    try:
        return json.dumps({"value": value}, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as e:
        return json.dumps({"error": {"type": "ResultNotJSON", "base": "TypeError", "args": None,
                                     "message": f"the result of {name} is not JSON: {e}", "traceback": ""}})


def describe(e, builtins):
    base = next((c.__name__ for c in type(e).__mro__
                 if getattr(builtins, c.__name__, None) is c and issubclass(c, Exception)), None)
    try:
        message = str(e)
    except BaseException:
        message = f"<unprintable {type(e).__name__}>"
    try:
        args = json.loads(json.dumps(list(e.args), allow_nan=False))
    except BaseException:
        args = None
    try:
        tb = "".join(traceback.format_exception(type(e), e, e.__traceback__))[-8000:]
    except BaseException:
        tb = ""
    return {"type": type(e).__name__, "base": base, "args": args, "message": message, "traceback": tb}


if __name__ == "__main__":
    main()
