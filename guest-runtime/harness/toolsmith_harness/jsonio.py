"""JSON in and out: arguments and options coming in, results going out.

Integers of any size cross exactly (CPython's 4300-digit str/int limit is lifted while
converting); NaN and infinities do not cross at all.
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


def loads(text):
    with _unlimited_digits():
        return json.loads(text, parse_constant=_reject_constant)


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


def _not_json(path, value, why=None):
    type_name = type(value).__name__
    if why is None:
        hint = _HINTS.get(type_name)
        why = "is not a JSON value (use dict, list, str, int, float, bool or None)"
        if hint:
            why += f"; {hint}"
    return Failure(RESULT_NOT_JSON, f"{path}: {type_name} {why}")


def check_json(value, path="result"):
    """Raise Failure(ResultNotJSON) naming the first place in `value` that JSON cannot hold."""
    _check(value, path, 0, set())


def _check(value, path, depth, open_ids):
    if value is None or isinstance(value, (str, bool, int)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _not_json(path, value, f"{value!r} is not a JSON number (no NaN or infinity in JSON)")
        return
    if isinstance(value, (dict, list, tuple)):
        if depth >= MAX_DEPTH:
            raise _not_json(path, value, f"is nested more than {MAX_DEPTH} levels deep")
        if id(value) in open_ids:
            raise _not_json(path, value, "contains itself (a circular reference)")
        open_ids.add(id(value))
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise _not_json(
                        f"{path}[{key!r}]", key, "is not allowed as a key: JSON object keys are strings"
                    )
                _check(item, f"{path}[{key!r}]", depth + 1, open_ids)
        else:
            for index, item in enumerate(value):
                _check(item, f"{path}[{index}]", depth + 1, open_ids)
        open_ids.discard(id(value))
        return
    raise _not_json(path, value)
