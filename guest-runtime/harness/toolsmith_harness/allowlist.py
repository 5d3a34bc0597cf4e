"""Which modules tool code may import, checked twice: statically in `compile` (the AST's
Import/ImportFrom nodes) and dynamically by the `__import__` tool code runs with.

The list is data, `allowed_modules.txt`: next to this package in the built component (build.sh
copies it there), or in `guest-runtime/` when the harness runs from the repository.

A name is allowed when it is listed, when it is inside a listed module (`json.decoder`), or when
it is a package holding a listed module (`xml` for `xml.etree.ElementTree`); from such a package
only the listed submodules may be imported (`from urllib import parse`, not `request`).
"""

import ast
import builtins
import importlib
import os

from .errors import IMPORT_NOT_ALLOWED, Failure

LIST_FILE = "allowed_modules.txt"
_HERE = os.path.dirname(os.path.abspath(__file__))
_CANDIDATES = (
    os.path.join(_HERE, "..", LIST_FILE),  # the staged build: harness dir + the list
    os.path.join(_HERE, "..", "..", LIST_FILE),  # the repository: guest-runtime/
)


def parse_list(text):
    """Module names from the list file's text: one a line, `#` comments, blanks ignored."""
    names = []
    for raw in text.splitlines():
        name = raw.split("#", 1)[0].strip()
        if name and name not in names:
            names.append(name)
    return names


def load_list():
    for path in _CANDIDATES:
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                return parse_list(f.read())
    raise RuntimeError(f"{LIST_FILE} not found next to the harness (looked in {_CANDIDATES})")


ALLOWED = tuple(load_list())

# Modules CPython's own C code imports on demand, through the `__import__` of the frame that is
# running: `_pylong` for int<->str conversions past a few thousand digits, `_strptime` for
# `time.strptime` and `datetime.strptime`. The tool's `__import__` cannot tell that import from a
# tool's `__import__("_pylong")`, so it lets these through; `import _pylong` in a tool's source is
# still refused by the static check. The warm-up imports them: they exist only if it does.
INTERPRETER_INTERNAL = ("_pylong", "_strptime")


def import_all(names=ALLOWED):
    """Import every allowed module (at build time, so each is in the snapshot).

    Returns `[(name, error text)]` for the ones that failed."""
    failed = []
    for name in names:
        try:
            importlib.import_module(name)
        except BaseException as exc:  # noqa: BLE001 - report them all
            failed.append((name, f"{type(exc).__name__}: {exc}"))
    return failed


class ImportNotAllowed(ImportError):
    """Raised by the tool's `__import__` for a module outside the allow-list.

    Its class name is the error_type a call reports when it escapes."""

    __module__ = "builtins"  # tracebacks print it as `ImportNotAllowed: ...`


class Policy:
    """The modules one piece of code may import: the allow-list plus `extra` (e.g. pytest and
    the tool's module for a test module)."""

    def __init__(self, extra=()):
        self.names = frozenset(ALLOWED) | frozenset(extra)

    def kind(self, name):
        """"module" when `name` may be imported with everything in it, "package" when only its
        listed submodules may be, None when it is not allowed."""
        if name in self.names:
            return "module"
        parts = name.split(".")
        for i in range(1, len(parts)):
            if ".".join(parts[:i]) in self.names:
                return "module"
        prefix = name + "."
        if any(n.startswith(prefix) for n in self.names):
            return "package"
        return None

    def refused(self, module, fromlist=()):
        """The first dotted name in `import module` / `from module import *fromlist` that is not
        allowed, or None."""
        kind = self.kind(module)
        if kind is None:
            return module
        if kind == "package":
            for name in fromlist or ():
                full = f"{module}.{name}"
                if name == "*" or self.kind(full) is None:
                    return full
        return None

    def describe(self):
        return "allowed modules: " + ", ".join(sorted(self.names))

    def not_allowed_message(self, module):
        return f"import of '{module}' is not allowed in a tool; {self.describe()}"

    # -- the static check ------------------------------------------------------------------

    def check_tree(self, tree):
        """Raise Failure(ImportNotAllowed) for the first disallowed import in a parsed module;
        the message names every one."""
        bad = []  # (dotted name, line)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    refused = self.refused(alias.name)
                    if refused:
                        bad.append((refused, node.lineno))
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    dots = "." * node.level
                    bad.append((dots + (node.module or ""), node.lineno))
                    continue
                refused = self.refused(node.module, [a.name for a in node.names])
                if refused:
                    bad.append((refused, node.lineno))
        if not bad:
            return
        bad.sort(key=lambda item: item[1])
        module, line = bad[0]
        where = "; ".join(f"'{m}' (line {n})" for m, n in bad)
        relative = any(m.startswith(".") for m, _ in bad)
        message = f"import not allowed: {where}. A tool runs as a single module; {self.describe()}"
        if relative:
            message += ". Relative imports are not supported"
        raise Failure(IMPORT_NOT_ALLOWED, message, module=module, line=line)

    # -- the dynamic check -----------------------------------------------------------------

    def make_import(self):
        real_import = builtins.__import__
        policy = self

        def __import__(name, globals=None, locals=None, fromlist=(), level=0):  # noqa: A002
            if level:
                raise ImportNotAllowed(
                    f"relative import of '{'.' * level}{name}' is not allowed: a tool is a single module"
                )
            if name in INTERPRETER_INTERNAL and not fromlist:
                return real_import(name, globals, locals, fromlist, 0)
            refused = policy.refused(name, fromlist)
            if refused:
                raise ImportNotAllowed(policy.not_allowed_message(refused), name=refused)
            return real_import(name, globals, locals, fromlist, 0)

        return __import__

    def builtins_dict(self):
        """A copy of the builtins whose `__import__` enforces this policy."""
        restricted = dict(vars(builtins))
        restricted["__import__"] = self.make_import()
        return restricted
