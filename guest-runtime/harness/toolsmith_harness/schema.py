"""The `describe` export: a JSON Schema (a draft 2020-12 subset) of a function's parameters,
read from the parsed source. Nothing of the tool runs, so nothing of the tool can forge it
(`__signature__`, `__annotations__`, a wrapper, a patched `inspect`): what a static reading cannot
settle is left open (`{}`) or refused, never guessed.

| annotation                         | schema                                            |
| ---------------------------------- | ------------------------------------------------- |
| int, float, str, bool, None        | integer, number, string, boolean, null            |
| list[T], Sequence[T], Iterable[T]  | array with items                                  |
| set[T], frozenset[T]               | array with items, uniqueItems                     |
| tuple[A, B] / tuple[T, ...]        | array with prefixItems / items                    |
| dict[str, T], Mapping[str, T]      | object with additionalProperties                  |
| Optional[T], T | None, Union[A, B] | type list (or anyOf)                             |
| Literal[...], an Enum class        | enum                                              |
| TypedDict                          | object with properties and required               |
| Annotated[T, "text"]               | T's schema with that description                  |
| NewType, a module-level alias      | the schema of what it stands for                  |
| Any, no annotation, anything else  | {} (any value)                                    |

Names are resolved through the module's imports (`import typing as t`, `from typing import
List`), its classes and its aliases, each bound exactly once at the top level; string annotations
(and `from __future__ import annotations`, which changes nothing in the AST) are parsed too.
"""

import ast

from . import binding, codeblob, docstrings, jsonio
from .errors import FUNCTION_NOT_FOUND, UNSUPPORTED_FUNCTION, Failure

MAX_DEPTH = 20

_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)

_SIMPLE = {"int": "integer", "float": "number", "str": "string", "bool": "boolean"}
_JSON_KIND = {bool: "boolean", int: "integer", float: "number", str: "string"}


def _names(module, *names):
    return {f"{module}.{n}" for n in names}


_ARRAYS = {"builtins.list"} | _names("typing", "List", "Sequence", "MutableSequence", "Iterable", "Collection", "Iterator") | _names(
    "collections.abc", "Sequence", "MutableSequence", "Iterable", "Collection", "Iterator"
)
_SETS = {"builtins.set", "builtins.frozenset"} | _names("typing", "Set", "FrozenSet", "AbstractSet", "MutableSet") | _names(
    "collections.abc", "Set", "MutableSet"
)
_TUPLES = {"builtins.tuple", "typing.Tuple"}
_MAPPINGS = (
    {"builtins.dict", "collections.OrderedDict", "collections.defaultdict"}
    | _names("typing", "Dict", "Mapping", "MutableMapping", "OrderedDict", "DefaultDict")
    | _names("collections.abc", "Mapping", "MutableMapping")
)
_ANY = {"typing.Any", "builtins.object"}
_WRAPPERS = _names("typing", "Required", "NotRequired", "ReadOnly", "Final")
_ENUM_BASES = _names("enum", "Enum", "IntEnum", "StrEnum", "Flag", "IntFlag")
_MIXINS = {"builtins.str": str, "builtins.int": int}
# Names `from typing import *` and `from collections.abc import *` can bind, for reading them.
_STAR_EXPORTS = {
    "typing": {n.split(".", 1)[1] for n in _ARRAYS | _SETS | _TUPLES | _MAPPINGS | _ANY | _WRAPPERS if n.startswith("typing.")}
    | {"Optional", "Union", "Literal", "Annotated", "TypedDict", "NewType", "Text"},
    "collections.abc": {n.rsplit(".", 1)[1] for n in _ARRAYS | _SETS | _MAPPINGS if n.startswith("collections.abc.")},
}


class Unknown:
    """What a name or expression means when a static reading cannot tell."""


UNKNOWN = Unknown()


class ModuleScope:
    """What the tool's top level binds, as far as reading it can tell."""

    def __init__(self, tree):
        self.tree = tree
        self.star_modules = [
            node.module for node in tree.body if isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names)
        ]
        self._cache = {}

    def lookup(self, name):
        """A dotted name ('typing.List', 'builtins.int'), ('class', ClassDef), ('alias', expr) or
        UNKNOWN for a top-level name."""
        if name not in self._cache:
            self._cache[name] = UNKNOWN  # a self-referring alias stays unknown
            self._cache[name] = self._lookup(name)
        return self._cache[name]

    def _lookup(self, name):
        nodes = [n for n in binding.scope_bindings(self.tree.body, name) if not _is_star(n)]
        if not nodes:
            for module in self.star_modules:
                canonical = _canonical_module(module)
                if name in _STAR_EXPORTS.get(canonical, ()):
                    return f"{canonical}.{name}"
            return UNKNOWN if self.star_modules else f"builtins.{name}"
        if len(nodes) != 1:
            return UNKNOWN
        node = nodes[0]
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname == name:
                    return alias.name
                if alias.asname is None and alias.name.split(".")[0] == name:
                    return name
        if isinstance(node, ast.ImportFrom) and not node.level and node.module:
            for alias in node.names:
                if (alias.asname or alias.name) == name:
                    return f"{_canonical_module(node.module)}.{alias.name}"
        if isinstance(node, ast.ClassDef):
            return ("class", node)
        if isinstance(node, ast.Name):
            value = _assigned_value(self.tree, node)
            if value is not None:
                return ("alias", value)
        return UNKNOWN


def _is_star(node):
    return isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names)


def _canonical_module(module):
    return "typing" if module == "typing_extensions" else module


def _assigned_value(tree, target):
    """The value a top-level `name = value`, `name: T = value` or `type name = value` gives the
    Name node `target`, else None."""
    for statement in tree.body:
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1 and statement.targets[0] is target:
            return statement.value
        if isinstance(statement, ast.AnnAssign) and statement.target is target:
            return statement.value
        if getattr(ast, "TypeAlias", None) and isinstance(statement, ast.TypeAlias) and statement.name is target:
            return statement.value
    return None


class Reader:
    """Turns annotation expressions of one module into JSON Schemas."""

    def __init__(self, scope):
        self.scope = scope

    # -- what an expression names -----------------------------------------------------------

    def meaning(self, node, depth=0):
        if depth > MAX_DEPTH:
            return UNKNOWN
        if isinstance(node, ast.Name):
            return self.scope.lookup(node.id)
        if isinstance(node, ast.Attribute):
            base = self.meaning(node.value, depth + 1)
            if isinstance(base, str):
                return _canonical_module(base) + "." + node.attr
            return UNKNOWN
        return UNKNOWN

    def qualified(self, node, depth=0):
        """The dotted name `node` stands for, following aliases (`L = typing.List`), else None."""
        for _ in range(MAX_DEPTH):
            found = self.meaning(node, depth)
            if isinstance(found, tuple) and found[0] == "alias" and isinstance(found[1], (ast.Name, ast.Attribute)):
                node = found[1]
                continue
            if isinstance(found, str):
                return found.replace("typing_extensions.", "typing.", 1)
            return None
        return None

    # -- schemas --------------------------------------------------------------------------------

    def schema(self, node, depth=0):
        """The JSON Schema of values of the annotation expression `node`."""
        if node is None or depth > MAX_DEPTH:
            return {}
        if isinstance(node, ast.Constant):
            if node.value is None:
                return {"type": "null"}
            if isinstance(node.value, str):
                return self.schema(_parse_annotation(node.value), depth + 1)
            return {}
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            return _union([self.schema(member, depth + 1) for member in _union_members(node)])
        if isinstance(node, ast.Subscript):
            return self._generic(node, depth)
        name = self.qualified(node, depth)
        if name is not None:
            return self._named(name, [], depth)
        found = self.meaning(node, depth)
        if isinstance(found, tuple):
            kind, target = found
            if kind == "class":
                return self._class(target, depth)
            if kind == "alias":
                return self._alias(target, depth)
        return {}

    def _generic(self, node, depth):
        origin = self.qualified(node.value, depth)
        if origin is None:
            return {}  # a generic class of the module's own, or a parametrised alias: not followed
        args = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        return self._named(origin, args, depth, subscripted=True)

    def _named(self, name, args, depth, subscripted=False):
        if name.startswith("builtins."):
            short = name.split(".", 1)[1]
            if short in _SIMPLE and not subscripted:
                return {"type": _SIMPLE[short]}
            if short == "None":
                return {"type": "null"}
        if name == "typing.Text":
            return {"type": "string"}
        if name in _ANY:
            return {}
        if name == "typing.Annotated":
            if not args:
                return {}
            schema = dict(self.schema(args[0], depth + 1))
            notes = [a.value for a in args[1:] if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            if notes:
                schema["description"] = " ".join(notes)
            return schema
        if name in _WRAPPERS:
            return self.schema(args[0], depth + 1) if args else {}
        if name == "typing.Optional":
            return _union([self.schema(args[0], depth + 1), {"type": "null"}]) if args else {}
        if name == "typing.Union":
            return _union([self.schema(a, depth + 1) for a in args]) if args else {}
        if name == "typing.Literal":
            values = self._literal_values(args, depth)
            return _enum(values) if values is not None else {}
        if name in _ARRAYS:
            schema = {"type": "array"}
            if args and self.qualified(args[0], depth) not in _ANY:
                schema["items"] = self.schema(args[0], depth + 1)
            return schema
        if name in _SETS:
            schema = {"type": "array", "uniqueItems": True}
            if args:
                schema["items"] = self.schema(args[0], depth + 1)
            return schema
        if name in _TUPLES:
            schema = {"type": "array"}
            if len(args) == 2 and isinstance(args[1], ast.Constant) and args[1].value is Ellipsis:
                schema["items"] = self.schema(args[0], depth + 1)
            elif args and not (len(args) == 1 and isinstance(args[0], ast.Tuple) and not args[0].elts):
                schema["prefixItems"] = [self.schema(a, depth + 1) for a in args]
                schema["items"] = False
                schema["minItems"] = schema["maxItems"] = len(args)
            return schema
        if name in _MAPPINGS:
            schema = {"type": "object"}
            if len(args) == 2 and self.qualified(args[1], depth) not in _ANY:
                schema["additionalProperties"] = self.schema(args[1], depth + 1)
            return schema
        return {}

    def _literal_values(self, args, depth):
        values = []
        for arg in args:
            inner = arg
            if isinstance(arg, ast.Subscript) and self.qualified(arg.value, depth) == "typing.Literal":
                nested = self._literal_values(arg.slice.elts if isinstance(arg.slice, ast.Tuple) else [arg.slice], depth + 1)
                if nested is None:
                    return None
                values += nested
                continue
            member = self.enum_member(inner, depth)
            if member is not None:
                values.append(member[0])
                continue
            try:
                value = ast.literal_eval(inner)
            except Exception:  # noqa: BLE001 - not a literal: the set of values is unknown
                return None
            if value is not None and type(value) not in _JSON_KIND:
                return None
            values.append(value)
        return values

    def _alias(self, value, depth):
        if isinstance(value, ast.Call):
            func = self.qualified(value.func, depth)
            if func == "typing.NewType" and len(value.args) == 2:
                return self.schema(value.args[1], depth + 1)
            if func == "typing.TypedDict" and len(value.args) == 2 and isinstance(value.args[1], ast.Dict):
                fields = value.args[1]
                if any(k is None or not isinstance(k, ast.Constant) or not isinstance(k.value, str) for k in fields.keys):
                    return {}
                total = _keyword_constant(value, "total", True)
                return self._typeddict_schema(
                    [(k.value, v) for k, v in zip(fields.keys, fields.values)], total, depth
                )
            return {}
        return self.schema(value, depth + 1)

    # -- classes the module defines ---------------------------------------------------------

    def _class(self, node, depth):
        kind = self.class_kind(node, depth)
        if kind == "enum":
            values = self.enum_values(node)
            return _enum(values) if values else {}
        if kind == "typeddict":
            total = _keyword_constant(node, "total", True)
            if total is None:
                return {}
            return self._typeddict_schema(self._typeddict_fields(node, depth), total, depth)
        return {}

    def class_kind(self, node, depth=0):
        """'enum', 'typeddict' or None, from the class's bases."""
        for base in node.bases:
            name = self.qualified(base, depth)
            if name in _ENUM_BASES:
                return "enum"
            if name == "typing.TypedDict":
                return "typeddict"
            found = self.meaning(base, depth)
            if isinstance(found, tuple) and found[0] == "class" and found[1] is not node and depth < MAX_DEPTH:
                kind = self.class_kind(found[1], depth + 1)
                if kind:
                    return kind
        return None

    def enum_values(self, node):
        """The member values of an Enum class, or None when the source does not settle them
        (computed values, a custom `__new__` or `_generate_next_value_`, Flag's `auto()`)."""
        bases = {self.qualified(b) for b in node.bases}
        mixins = bases - _ENUM_BASES
        if not mixins <= set(_MIXINS):
            return None  # a subclass of another Enum, or a mixin that may convert the values
        members = self.enum_members(node)
        if members is None:
            return None
        values = list(dict.fromkeys(value for _, value in members))
        if any(type(v) is not _MIXINS[m] for m in mixins for v in values):
            return None  # `class C(str, Enum): A = 1` makes the value "1"
        return values

    def enum_members(self, node):
        """[(name, value)] of an Enum class's members, or None."""
        bases = {self.qualified(b) for b in node.bases}
        members, last = [], 0
        for statement in node.body:
            if isinstance(statement, _FUNCTIONS) and statement.name in ("__new__", "_generate_next_value_", "__init__"):
                return None
            if isinstance(statement, ast.AnnAssign) and statement.value is not None:
                targets, value = [statement.target], statement.value
            elif isinstance(statement, ast.Assign):
                targets, value = statement.targets, statement.value
            else:
                continue
            if len(targets) != 1 or not isinstance(targets[0], ast.Name):
                return None
            name = targets[0].id
            if name.startswith("_"):
                continue  # _ignore_, _order_, dunders: not members
            if isinstance(value, ast.Call) and self.qualified(value.func) == "enum.auto" and not value.args:
                if bases == {"enum.StrEnum"}:
                    member = name.lower()
                elif bases <= {"enum.Enum", "enum.IntEnum"} and isinstance(last, int):
                    member = last + 1
                else:
                    return None
            else:
                try:
                    member = ast.literal_eval(value)
                except Exception:  # noqa: BLE001 - a computed value
                    return None
                if isinstance(member, tuple):
                    member = list(member)
            members.append((name, member))
            last = member
        return members

    def enum_member(self, node, depth=0):
        """(value,) when `node` is `SomeEnum.MEMBER` of an Enum the module defines, else None."""
        if not isinstance(node, ast.Attribute):
            return None
        found = self.meaning(node.value, depth)
        if not (isinstance(found, tuple) and found[0] == "class" and self.class_kind(found[1]) == "enum"):
            return None
        for name, value in self.enum_members(found[1]) or ():
            if name == node.attr:
                return (value,)
        return None

    def _typeddict_fields(self, node, depth):
        fields = []
        for base in node.bases:
            found = self.meaning(base, depth)
            if isinstance(found, tuple) and found[0] == "class" and found[1] is not node and depth < MAX_DEPTH:
                fields += self._typeddict_fields(found[1], depth + 1)
        for statement in node.body:
            if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
                fields.append((statement.target.id, statement.annotation))
        return fields

    def _typeddict_schema(self, fields, total, depth):
        properties, required = {}, []
        for name, annotation in fields:
            properties[name] = self.schema(annotation, depth + 1)
            wrapper = self.qualified(annotation.value, depth) if isinstance(annotation, ast.Subscript) else None
            if wrapper == "typing.Required" or (total and wrapper != "typing.NotRequired"):
                if name not in required:
                    required.append(name)
            elif name in required:
                required.remove(name)
        schema = {"type": "object", "properties": properties, "required": required, "additionalProperties": False}
        if not required:
            del schema["required"]
        return schema


def _keyword_constant(node, name, default):
    for keyword in node.keywords:
        if keyword.arg == name:
            return keyword.value.value if isinstance(keyword.value, ast.Constant) else None
    return default


def _parse_annotation(text):
    try:
        return ast.parse(text.strip(), mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _union_members(node):
    """The operands of `A | B | C` (an iterative walk: the chain may be long)."""
    members, stack = [], [node]
    while stack:
        current = stack.pop()
        if isinstance(current, ast.BinOp) and isinstance(current.op, ast.BitOr):
            stack += [current.right, current.left]
        else:
            members.append(current)
    return members


def _union(members):
    nullable = {"type": "null"} in members
    others = [m for m in members if m != {"type": "null"}]
    if any(m == {} for m in others):
        return {}
    if all(set(m) == {"type"} and isinstance(m["type"], str) for m in others):
        names = []
        for m in others:
            if m["type"] not in names:
                names.append(m["type"])
        if nullable:
            names.append("null")
        return {"type": names[0] if len(names) == 1 else names}
    if len(others) == 1:
        return _nullable(others[0]) if nullable else others[0]
    return {"anyOf": members}


def _nullable(schema):
    """`schema` also accepting null."""
    schema = dict(schema)
    if "enum" in schema and None not in schema["enum"]:
        schema["enum"] = schema["enum"] + [None]
    kind = schema.get("type")
    if isinstance(kind, str) and kind != "null":
        schema["type"] = [kind, "null"]
    elif isinstance(kind, list) and "null" not in kind:
        schema["type"] = kind + ["null"]
    elif "anyOf" in schema and {"type": "null"} not in schema["anyOf"]:
        schema["anyOf"] = schema["anyOf"] + [{"type": "null"}]
    return schema


def _enum(values):
    schema = {"enum": values}
    kinds = {_JSON_KIND.get(type(v)) for v in values}
    if len(kinds) == 1 and None not in kinds:
        schema = {"type": kinds.pop(), "enum": values}
    return schema


# -- the function ----------------------------------------------------------------------------------


def _top_level_functions(tree):
    return sorted(n.name for n in tree.body if isinstance(n, _FUNCTIONS) and not n.name.startswith("_"))


def find_function(tree, function):
    """The one plain top-level `def function`, or a Failure saying why describe will not read it."""
    defined = ", ".join(_top_level_functions(tree)) or "none"
    if not isinstance(function, str) or not function.isidentifier():
        raise Failure(FUNCTION_NOT_FOUND, f"{function!r} is not a function name (functions defined: {defined})")
    nodes = binding.scope_bindings(tree.body, function)
    defs = [n for n in nodes if isinstance(n, _FUNCTIONS)]
    if not defs:
        if not [n for n in nodes if not _is_star(n)]:
            raise Failure(FUNCTION_NOT_FOUND, f"the tool defines no function '{function}' (functions defined: {defined})")
        what = ", ".join(binding.describe_binding(n) for n in nodes)
        raise Failure(
            FUNCTION_NOT_FOUND,
            f"'{function}' is bound by {what}, not by a def (functions defined: {defined})",
        )
    node = defs[-1]
    others = [n for n in nodes if n is not node and not (_is_star(n) and n.lineno < node.lineno)]
    reason = None
    if others:
        what = ", ".join(binding.describe_binding(n) for n in nodes)
        reason = (
            f"'{function}' is bound more than once ({what}): reading the source cannot tell which "
            "one the module ends with"
        )
    elif node not in tree.body:
        reason = f"'{function}' is defined inside a block (line {node.lineno}), not at the top level of the module"
    elif node.decorator_list:
        reason = (
            f"'{function}' is decorated (line {node.decorator_list[0].lineno}): a decorator may replace the "
            "function with anything, and describe reads the source without running it. Keep the "
            "entry point a plain def and call the decorated helper from it"
        )
    if reason:
        raise Failure(UNSUPPORTED_FUNCTION, f"{reason}; the tool's entry point must be one plain top-level def")
    return node


def _default(reader, node):
    """(value, True) for a default JSON can carry, else (None, False)."""
    member = reader.enum_member(node)
    if member is not None:
        value = member[0]
    else:
        try:
            value = ast.literal_eval(node)
        except Exception:  # noqa: BLE001 - not a literal (a call, a name, too deep)
            return None, False
    try:
        return jsonio.plain(value), True
    except Failure:
        return None, False


def _is_none(node):
    return isinstance(node, ast.Constant) and node.value is None


def parameters_schema(reader, node, doc):
    args = node.args
    positional = [*args.posonlyargs, *args.args]
    defaults = dict(zip([a.arg for a in positional[len(positional) - len(args.defaults):]], args.defaults))
    defaults.update({a.arg: d for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None})
    properties, required = {}, []
    for arg in (*positional, *args.kwonlyargs):
        schema = dict(reader.schema(arg.annotation))
        default = defaults.get(arg.arg)
        if default is not None:
            if _is_none(default):
                schema = _nullable(schema)
            value, ok = _default(reader, default)
            if ok:
                schema["default"] = value
        else:
            required.append(arg.arg)
        if doc.params.get(arg.arg):
            schema["description"] = doc.params[arg.arg]
        properties[arg.arg] = schema
    result = {"type": "object", "properties": properties}
    if required:
        result["required"] = required
    if args.kwarg is not None:
        result["additionalProperties"] = reader.schema(args.kwarg.annotation) or True
    else:
        result["additionalProperties"] = False
    return result, [a.arg for a in positional]


def describe_source(source, function, filename="tool.py"):
    tree = codeblob.parse(source, filename)
    node = find_function(tree, function)
    reader = Reader(ModuleScope(tree))
    doc = docstrings.parse(ast.get_docstring(node, clean=True))
    parameters, positional = parameters_schema(reader, node, doc)
    returns = dict(reader.schema(node.returns))
    if doc.returns:
        returns["description"] = doc.returns
    return {
        "name": node.name,
        "summary": doc.summary,
        "docstring": doc.text,
        "parameters": parameters,
        "returns": returns,
        "positional": positional,
    }


def describe(source, function):
    return jsonio.dumps(describe_source(source, function))
