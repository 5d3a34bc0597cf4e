"""Collecting test items from an executed test module, the way pytest would: `test*` functions,
`test*` methods of `Test*` classes (without `__init__`), in definition order, each expanded by
its `@pytest.mark.parametrize` marks (stacked marks multiply; ids as pytest makes them).

What was collected is checked against what the source defines (`defined_tests`, read from the AST
before the module runs): a test that is defined but not collected, because a later statement
rebinds its name, a decorator replaced it or its class has an `__init__`, is an error of the run.
pytest would skip such a test silently; a judge must not.
"""

import ast
import enum
import inspect

from _pytest.fixtures import FixtureFunctionDefinition
from _pytest.mark.structures import Mark, MarkDecorator, ParameterSet, get_unpacked_marks

from . import binding

_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


class Item:
    """One test to run: `name` is pytest's node id without the file (`TestX::test_a[1-2]`)."""

    def __init__(self, name, function, cls=None, params=None, marks=(), problem=None):
        self.name = name
        self.function = function
        self.cls = cls
        self.params = params or {}
        self.marks = list(marks)
        self.problem = problem  # a collection problem that makes this item an error

    def marks_named(self, name):
        return [m for m in self.marks if m.name == name]


class FixtureDef:
    def __init__(self, name, function, scope, autouse, params):
        self.name = name
        self.function = function
        self.scope = scope
        self.autouse = autouse
        self.params = params

    def bound_to(self, instance):
        """This fixture, defined in a test class, as a method of `instance`."""
        return FixtureDef(self.name, self.function.__get__(instance), self.scope, self.autouse, self.params)


def fixture_defs(namespace):
    """The `@pytest.fixture` functions in a module or class namespace, by fixture name."""
    defs = {}
    for value in list(vars(namespace).values()):
        if isinstance(value, FixtureFunctionDefinition):
            marker = value._fixture_function_marker
            defs[value.name] = FixtureDef(
                value.name, value._get_wrapped_function(), marker.scope, marker.autouse, marker.params
            )
    return defs


def _own_marks(obj):
    try:
        return list(get_unpacked_marks(obj))
    except Exception:  # noqa: BLE001 - a malformed pytestmark attribute: no marks
        return []


def collect(module):
    items = []
    for name, value in list(vars(module).items()):
        if name.startswith("test") and inspect.isfunction(value):
            items.extend(_expand(name, value, None, _own_marks(value)))
        elif name.startswith("Test") and inspect.isclass(value):
            if "__init__" in vars(value):
                continue  # pytest skips such classes too (with a warning)
            class_marks = _own_marks(value)
            for attr, member in list(vars(value).items()):
                if attr.startswith("test") and inspect.isfunction(member):
                    items.extend(
                        _expand(f"{name}::{attr}", member, value, _own_marks(member) + class_marks)
                    )
    return items


def _argnames(raw):
    if isinstance(raw, str):
        names = [n.strip() for n in raw.split(",") if n.strip()]
        return names, len(names) == 1
    return list(raw), False


def _parameter_sets(mark):
    """(argnames, [(ParameterSet, id)]) of one parametrize mark; raises ValueError when malformed."""
    if len(mark.args) < 2 and "argvalues" not in mark.kwargs:
        raise ValueError("parametrize needs argnames and argvalues")
    raw_names = mark.args[0] if mark.args else mark.kwargs.get("argnames")
    raw_values = mark.args[1] if len(mark.args) > 1 else mark.kwargs.get("argvalues")
    if mark.kwargs.get("indirect"):
        raise ValueError("parametrize(indirect=...) is not supported in the WASM runtime")
    names, force_tuple = _argnames(raw_names)
    sets = [ParameterSet.extract_from(v, force_tuple=force_tuple) for v in raw_values]
    for index, ps in enumerate(sets):
        if len(ps.values) != len(names):
            raise ValueError(
                f"parametrize: argvalues[{index}] has {len(ps.values)} values for {len(names)} argnames {names}"
            )
    ids = mark.kwargs.get("ids")
    resolved = []
    for index, ps in enumerate(sets):
        given = None
        if ps.id is not None:
            given = str(ps.id)
        elif callable(ids):
            parts = [ids(v) for v in ps.values]
            given = "-".join(p if isinstance(p, str) else _idval(v, n, index) for p, v, n in zip(parts, ps.values, names))
        elif ids is not None and index < len(ids) and ids[index] is not None:
            given = str(ids[index])
        if given is None:
            given = "-".join(_idval(v, n, index) for v, n in zip(ps.values, names))
        resolved.append(given)
    return names, list(zip(sets, _disambiguate(resolved)))


def _idval(value, argname, index):
    if isinstance(value, str):
        return value.encode("unicode_escape").decode("ascii")
    if isinstance(value, bytes):
        return value.decode("ascii", "backslashreplace")
    if value is None or isinstance(value, (bool, int, float, complex)):
        return str(value)
    if isinstance(value, enum.Enum):
        return str(value)
    if isinstance(getattr(value, "__name__", None), str) and (inspect.isclass(value) or inspect.isfunction(value)):
        return value.__name__
    return f"{argname}{index}"


def _disambiguate(ids):
    """Make repeated ids unique as pytest does: `a` `a` -> `a0` `a1`, `1` `1` -> `1_0` `1_1`."""
    counts = {}
    for i in ids:
        counts[i] = counts.get(i, 0) + 1
    seen = {}
    result = []
    for i in ids:
        if counts[i] > 1:
            n = seen.get(i, 0)
            seen[i] = n + 1
            suffix = "_" if i and i[-1].isdigit() else ""
            result.append(f"{i}{suffix}{n}")
        else:
            result.append(i)
    return result


def _mark_of(value):
    if isinstance(value, MarkDecorator):
        return value.mark
    return value if isinstance(value, Mark) else None


def _expand(name, function, cls, marks):
    parametrize = [m for m in marks if m.name == "parametrize"]
    others = [m for m in marks if m.name != "parametrize"]
    if not parametrize:
        return [Item(name, function, cls, marks=others)]
    combos = [([], {}, [])]  # (id parts, params, extra marks)
    for mark in parametrize:
        try:
            argnames, sets = _parameter_sets(mark)
        except Exception as exc:  # noqa: BLE001 - report as a collection error of this test
            return [Item(name, function, cls, marks=others, problem=f"{type(exc).__name__}: {exc}")]
        if not sets:
            skip = Mark("skip", (), {"reason": f"got empty parameter set for {argnames}"}, _ispytest=True)
            return [Item(f"{name}[NOTSET]", function, cls, marks=others + [skip])]
        combos = [
            (ids + [pid], {**params, **dict(zip(argnames, ps.values))}, extra + [m for m in map(_mark_of, ps.marks) if m])
            for ids, params, extra in combos
            for ps, pid in sets
        ]
    return [
        Item(f"{name}[{'-'.join(ids)}]", function, cls, params=params, marks=others + extra)
        for ids, params, extra in combos
    ]


# -- what the source defines -----------------------------------------------------------------------


class Definition:
    """A test the source defines: `qualname` as pytest names it (`TestX::test_a`), the line its
    code starts on (the first decorator's), and how many items its literal parametrize lists
    make (None when they are not literal)."""

    def __init__(self, qualname, node, expected, module_body, cls=None):
        self.module_body = module_body
        self.qualname = qualname
        self.node = node
        self.first_line = min([node.lineno] + [d.lineno for d in node.decorator_list])
        self.expected = expected
        self.cls = cls


def _decorator_name(node):
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else None


def _parametrize_count(decorators):
    """The product of the decorators' literal parametrize lists (an empty one makes one skipped
    item); None when one is not a literal list."""
    count = 1
    for decorator in decorators:
        if not (isinstance(decorator, ast.Call) and _decorator_name(decorator) == "parametrize"):
            continue
        values = decorator.args[1] if len(decorator.args) > 1 else None
        for keyword in decorator.keywords:
            if keyword.arg == "argvalues":
                values = keyword.value
        if not isinstance(values, (ast.List, ast.Tuple)) or any(isinstance(e, ast.Starred) for e in values.elts):
            return None
        count *= max(len(values.elts), 1)
    return count


def _is_test_function(node):
    return (
        isinstance(node, _FUNCTIONS)
        and node.name.startswith("test")
        and not any(_decorator_name(d) == "fixture" for d in node.decorator_list)
    )


def defined_tests(tree):
    """The tests a test module's source defines: top-level `test*` functions and the `test*`
    methods of top-level `Test*` classes (fixtures aside)."""
    found = []
    body = list(tree.body)
    for node in body:
        if _is_test_function(node):
            found.append(Definition(node.name, node, _parametrize_count(node.decorator_list), body))
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            per_class = _parametrize_count(node.decorator_list)
            for member in node.body:
                if _is_test_function(member):
                    count = _parametrize_count(member.decorator_list)
                    expected = None if per_class is None or count is None else per_class * count
                    found.append(Definition(f"{node.name}::{member.name}", member, expected, body, node))
    return found


def _code_of(function):
    for _ in range(10):  # through functools.wraps-style wrappers
        code = getattr(function, "__code__", None)
        wrapped = getattr(function, "__wrapped__", None)
        if wrapped is None:
            return code
        function = wrapped
    return None


def _is_defined_by(item, definition, filename):
    code = _code_of(item.function)
    return (
        code is not None
        and code.co_filename == filename
        and code.co_firstlineno == definition.first_line
        and code.co_name == definition.node.name
    )


def _why_not_collected(definition):
    name = definition.node.name
    if definition.cls is not None and any(
        isinstance(n, _FUNCTIONS) and n.name == "__init__" for n in definition.cls.body
    ):
        return f"its class {definition.cls.name} defines __init__, and test classes with one are not collected"
    scope = definition.cls.body if definition.cls is not None else definition.module_body
    later = [
        n for n in binding.scope_bindings(scope, name, module=definition.cls is None)
        if n is not definition.node and getattr(n, "lineno", 0) >= definition.node.lineno
    ]
    if later:
        return "the name is bound again by " + ", ".join(binding.describe_binding(n) for n in later)
    if definition.node.decorator_list:
        return "a decorator may have replaced the function"
    return "something replaced or removed it while the module ran"


def check_collected(definitions, items, filename):
    """[(name, message)] for each defined test that was collected fewer times than it is defined."""
    problems = []
    by_name = {}
    for item in items:
        by_name.setdefault(item.name.split("[", 1)[0], []).append(item)
    for definition in definitions:
        candidates = by_name.get(definition.qualname, [])
        if any(item.problem for item in candidates):
            continue  # already an error of its own (a malformed parametrize)
        mine = [item for item in candidates if _is_defined_by(item, definition, filename)]
        where = f"{definition.qualname} (line {definition.node.lineno})"
        if not mine:
            why = _why_not_collected(definition)
            problems.append(
                (definition.qualname, f"{where} is defined in {filename} but was not collected: {why}; every test the file defines must run")
            )
        elif definition.expected is not None and len(mine) < definition.expected:
            problems.append(
                (
                    definition.qualname,
                    f"{where} was collected {len(mine)} times, but its parametrize lists make {definition.expected}",
                )
            )
    return problems
