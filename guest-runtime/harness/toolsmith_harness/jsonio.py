"""JSON in and out: arguments and options coming in, results going out.

Integers of any size cross exactly (CPython's 4300-digit str/int limit is lifted while
converting; past a few thousand digits CPython converts through `_pylong`, which the warm-up puts
in the snapshot); NaN and infinities do not cross at all, not even as `1e400`, which `float()`
would read as infinity.

A result is copied into plain dicts, lists, strs, ints, floats, bools and None before `json` sees
it, reading containers through the base types' own methods: no code of the tool (an overridden
`items()`, a `__class__` property, a `__repr__`) runs while the answer is made, so nothing can
change the value half-way through serialising it.
"""

import json
import math
import sys

from .capture import DEFAULT_MAX_OUTPUT_BYTES
from .errors import INVALID_ARGUMENTS, INVALID_OPTIONS, RESULT_NOT_JSON, Failure, valid_text

MAX_DEPTH = 200


class _unlimited_digits:
    def __enter__(self):
        self.saved = sys.get_int_max_str_digits()
        sys.set_int_max_str_digits(0)

    def __exit__(self, *exc):
        sys.set_int_max_str_digits(self.saved)
        return False


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text):
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range for a float (numbers must be finite)")
    return value


def loads(text):
    with _unlimited_digits():
        return json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)


def dumps(value):
    with _unlimited_digits():
        return valid_text(json.dumps(value, ensure_ascii=False, allow_nan=False))


def parse_args(text):
    """The keyword arguments in `text`, which must be a JSON object."""
    try:
        value = loads(text)
    except (ValueError, TypeError, RecursionError) as exc:
        raise Failure(INVALID_ARGUMENTS, f"args is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise Failure(
            INVALID_ARGUMENTS,
            f"args must be a JSON object of keyword arguments (got a JSON {json_kind(value)})",
        )
    bad = [k for k in value if not k.isidentifier()]
    if bad:
        raise Failure(INVALID_ARGUMENTS, f"argument names must be Python identifiers: {bad!r}")
    return value


def parse_options(text, known):
    """The options object: `known` maps each accepted key to a checker returning its value."""
    if text is None or text == "":
        value = {}
    else:
        try:
            value = loads(text)
        except (ValueError, TypeError, RecursionError) as exc:
            raise Failure(INVALID_OPTIONS, f"options is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise Failure(INVALID_OPTIONS, f"options must be a JSON object (got a JSON {json_kind(value)})")
    result = {}
    for key, check in known.items():
        try:
            result[key] = check(value.get(key))
        except ValueError as exc:
            raise Failure(INVALID_OPTIONS, f"options.{key}: {exc}") from None
    return result


def max_output_bytes(value):
    if value is None:
        return DEFAULT_MAX_OUTPUT_BYTES
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"must be a non-negative integer, not {value!r}")
    return value


def optional_str(value):
    if value is None or isinstance(value, str):
        return value or None
    raise ValueError(f"must be a string, not {value!r}")


def json_kind(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


_HINTS = {
    "set": "convert it with sorted(...) or list(...)",
    "frozenset": "convert it with sorted(...) or list(...)",
    "bytes": "decode it (.decode()) or base64-encode it",
    "bytearray": "decode it (.decode()) or base64-encode it",
    "datetime": "convert it with .isoformat()",
    "date": "convert it with .isoformat()",
    "time": "convert it with .isoformat()",
    "timedelta": "convert it with .total_seconds()",
    "Decimal": "convert it with str(...) or float(...)",
    "Fraction": "convert it with str(...) or float(...)",
    "complex": "return [z.real, z.imag] or str(z)",
    "generator": "collect it with list(...)",
    "map": "collect it with list(...)",
    "filter": "collect it with list(...)",
    "range": "collect it with list(...)",
}


def type_name(value):
    """The name of `value`'s class, read without running a metaclass's code."""
    name = type.__dict__["__name__"].__get__(type(value), type)
    return str.__str__(name)


def _not_json(path, value, why=None):
    type_name_ = type_name(value)
    if why is None:
        hint = _HINTS.get(type_name_)
        why = "is not a JSON value (use dict, list, str, int, float, bool or None)"
        if hint:
            why += f"; {hint}"
    return Failure(RESULT_NOT_JSON, f"{path}: {type_name_} {why}")


def check_json(value, path="result"):
    """Raise Failure(ResultNotJSON) naming the first place in `value` that JSON cannot hold."""
    plain(value, path)


def plain(value, path="result"):
    """`value` copied into exact JSON types (tuples become lists), or Failure(ResultNotJSON)
    naming the first place that JSON cannot hold. Runs none of the value's own methods."""
    try:
        return _plain(value, path, 0, set())
    except Failure:
        raise
    except Exception as exc:  # noqa: BLE001 - e.g. MemoryError copying a huge value
        raise Failure(RESULT_NOT_JSON, f"{path}: could not be read for serialising ({type(exc).__name__}: {exc})") from None


def _plain(value, path, depth, open_ids):
    kind = type(value)
    if value is None or kind is bool:
        return value
    if issubclass(kind, str):
        return str.__str__(value)
    if issubclass(kind, int):
        return int.__int__(value)
    if issubclass(kind, float):
        number = float.__float__(value)
        if not math.isfinite(number):
            raise _not_json(path, value, f"{number!r} is not a JSON number (no NaN or infinity in JSON)")
        return number
    if issubclass(kind, (dict, list, tuple)):
        if depth >= MAX_DEPTH:
            raise _not_json(path, value, f"is nested more than {MAX_DEPTH} levels deep")
        if id(value) in open_ids:
            raise _not_json(path, value, "contains itself (a circular reference)")
        open_ids.add(id(value))
        if issubclass(kind, dict):
            copy = {}
            for key, item in list(dict.items(value)):
                if not issubclass(type(key), str):
                    raise _not_json(
                        f"{path}[{_safe_repr(key)}]", key, "is not allowed as a key: JSON object keys are strings"
                    )
                key = str.__str__(key)
                copy[key] = _plain(item, f"{path}[{key!r}]", depth + 1, open_ids)
        else:
            items = list(list.__iter__(value)) if issubclass(kind, list) else list(tuple.__iter__(value))
            copy = [_plain(item, f"{path}[{index}]", depth + 1, open_ids) for index, item in enumerate(items)]
        open_ids.discard(id(value))
        return copy
    raise _not_json(path, value)


def _safe_repr(value):
    """repr() of a plain builtin value without running an override (ints, floats, tuples...)."""
    for base in (bool, int, float, bytes):
        if issubclass(type(value), base):
            return base.__repr__(value)
    return f"<{type_name(value)}>"
