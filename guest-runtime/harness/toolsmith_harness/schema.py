"""The `describe` export: a JSON Schema (a draft 2020-12 subset) of a function's parameters,
made from its annotations, defaults and docstring.

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
| Any, no annotation, anything else  | {} (any value)                                    |
"""

import collections
import collections.abc
import enum
import inspect
import types
import typing

from . import codeblob, docstrings, jsonio
from .calling import find_function, load_tool
from .capture import Capture
from .errors import Failure

_SIMPLE = {bool: "boolean", int: "integer", float: "number", str: "string", type(None): "null"}
_SIMPLE_NAMES = {"bool": "boolean", "int": "integer", "float": "number", "str": "string", "None": "null"}
_ARRAYS = {list, collections.abc.Sequence, collections.abc.MutableSequence, collections.abc.Iterable, collections.abc.Collection, collections.abc.Iterator}
_SETS = {set, frozenset, collections.abc.Set, collections.abc.MutableSet}
_MAPPINGS = {dict, collections.abc.Mapping, collections.abc.MutableMapping, collections.OrderedDict, collections.defaultdict}
_UNIONS = {typing.Union, types.UnionType}

try:  # Python 3.14: annotations are evaluated lazily; read unresolvable names as ForwardRefs.
    import annotationlib

    _SIGNATURE_KW = {"annotation_format": annotationlib.Format.FORWARDREF}
except ImportError:  # the native test interpreter (3.11)
    _SIGNATURE_KW = {}


def schema_for(tp, depth=0):
    """The JSON Schema of values of annotation `tp`."""
    if depth > 20 or tp is inspect.Parameter.empty or tp is typing.Any or tp is object:
        return {}
    if tp is None:
        return {"type": "null"}
    if isinstance(tp, str):  # an unresolved string annotation
        return {"type": _SIMPLE_NAMES[tp]} if tp in _SIMPLE_NAMES else {}
    if tp in _SIMPLE:
        return {"type": _SIMPLE[tp]}
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Annotated:
        schema = schema_for(args[0], depth + 1)
        notes = [m for m in args[1:] if isinstance(m, str)]
        if notes:
            schema["description"] = " ".join(notes)
        return schema
    if origin in _UNIONS:
        return _union([schema_for(a, depth + 1) for a in args])
    if origin is typing.Literal:
        return _enum(list(args))
    if tp in _ARRAYS or origin in _ARRAYS:
        schema = {"type": "array"}
        if args and args[0] is not typing.Any:
            schema["items"] = schema_for(args[0], depth + 1)
        return schema
    if tp in _SETS or origin in _SETS:
        schema = {"type": "array", "uniqueItems": True}
        if args:
            schema["items"] = schema_for(args[0], depth + 1)
        return schema
    if tp is tuple or origin is tuple:
        schema = {"type": "array"}
        if len(args) == 2 and args[1] is Ellipsis:
            schema["items"] = schema_for(args[0], depth + 1)
        elif args and args != ((),):
            schema["prefixItems"] = [schema_for(a, depth + 1) for a in args]
            schema["items"] = False
            schema["minItems"] = schema["maxItems"] = len(args)
        return schema
    if tp in _MAPPINGS or origin in _MAPPINGS:
        schema = {"type": "object"}
        if len(args) == 2 and args[1] is not typing.Any:
            schema["additionalProperties"] = schema_for(args[1], depth + 1)
        return schema
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _enum([member.value for member in tp])
    if typing.is_typeddict(tp):
        return _typeddict(tp, depth)
    supertype = getattr(tp, "__supertype__", None)  # typing.NewType
    if supertype is not None:
        return schema_for(supertype, depth + 1)
    return {}


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
    values = [v.value if isinstance(v, enum.Enum) else v for v in values]
    schema = {"enum": values}
    kinds = {_SIMPLE.get(type(v)) for v in values}
    if len(kinds) == 1 and None not in kinds:
        schema = {"type": kinds.pop(), "enum": values}
    return schema


def _typeddict(tp, depth):
    hints = _type_hints(tp)
    required = getattr(tp, "__required_keys__", frozenset(hints))
    schema = {
        "type": "object",
        "properties": {name: schema_for(hint, depth + 1) for name, hint in hints.items()},
        "required": [name for name in hints if name in required],
        "additionalProperties": False,
    }
    if not schema["required"]:
        del schema["required"]
    return schema


def _type_hints(obj):
    try:
        return typing.get_type_hints(obj, include_extras=True)
    except Exception:  # noqa: BLE001 - unresolvable names: fall back to the raw annotations
        return {}


def _resolve(annotation, fn):
    """A string annotation (`from __future__ import annotations`) evaluated in the function's
    module, when get_type_hints could not do the whole signature at once."""
    if not isinstance(annotation, str):
        return annotation
    try:
        return eval(annotation, dict(getattr(fn, "__globals__", {})))  # noqa: S307 - the tool's own code
    except Exception:  # noqa: BLE001 - an undefined name: leave it unresolved
        return annotation


def _json_default(value):
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, tuple):
        value = list(value)
    try:
        jsonio.check_json(value)
    except Failure:
        return None, False
    return value, True


def parameters_schema(fn, doc):
    signature = inspect.signature(fn, **_SIGNATURE_KW)
    hints = _type_hints(fn)
    properties, required = {}, []
    extra = False
    for name, param in signature.parameters.items():
        annotation = hints[name] if name in hints else _resolve(param.annotation, fn)
        if param.kind is param.VAR_POSITIONAL:
            continue  # arguments are passed by keyword only
        if param.kind is param.VAR_KEYWORD:
            extra = schema_for(annotation) or True
            continue
        schema = schema_for(annotation)
        if param.default is not param.empty:
            if param.default is None:
                schema = _nullable(schema)
            value, ok = _json_default(param.default)
            if ok:
                schema["default"] = value
        else:
            required.append(name)
        if name in doc.params and doc.params[name]:
            schema["description"] = doc.params[name]
        properties[name] = schema
    result = {"type": "object", "properties": properties}
    if required:
        result["required"] = required
    result["additionalProperties"] = extra
    return result


def returns_schema(fn, doc):
    hints = _type_hints(fn)
    if "return" in hints:
        annotation = hints["return"]
    else:
        annotation = _resolve(inspect.signature(fn, **_SIGNATURE_KW).return_annotation, fn)
    schema = schema_for(annotation)
    if doc.returns:
        schema["description"] = doc.returns
    return schema


def describe_function(fn):
    doc = docstrings.parse(getattr(fn, "__doc__", None))
    return {
        "name": getattr(fn, "__name__", ""),
        "summary": doc.summary,
        "docstring": doc.text,
        "parameters": parameters_schema(fn, doc),
        "returns": returns_schema(fn, doc),
    }


def describe(code, function):
    blob = codeblob.load(code)
    capture = Capture()
    with capture:
        module = load_tool(blob, capture)
        fn = find_function(module, function)
        with codeblob.registered(module):
            description = describe_function(fn)
    return jsonio.dumps(description)

