"""Collecting test items from an executed test module, the way pytest would: `test*` functions,
`test*` methods of `Test*` classes (without `__init__`), in definition order, each expanded by
its `@pytest.mark.parametrize` marks (stacked marks multiply; ids as pytest makes them)."""

import enum
import inspect

from _pytest.fixtures import FixtureFunctionDefinition
from _pytest.mark.structures import Mark, MarkDecorator, ParameterSet, get_unpacked_marks


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
