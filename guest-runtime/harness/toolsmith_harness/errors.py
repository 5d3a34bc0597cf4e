"""The error objects every export returns on failure.

An export fails by raising `Failure`; `app.py` turns it into the WIT `result`'s error string,
a JSON object `{"error_type", "message", "traceback"?, "line"?, "module"?, "stdout"?}`.
"""

import json
import traceback

# error_type values the harness itself produces. Any other error_type is the class name of a
# Python exception raised by tool code (ZeroDivisionError, KeyError, RecursionError, ...).
SYNTAX_ERROR = "SyntaxError"
IMPORT_NOT_ALLOWED = "ImportNotAllowed"
FUNCTION_NOT_FOUND = "FunctionNotFound"
UNSUPPORTED_FUNCTION = "UnsupportedFunction"
INVALID_ARGUMENTS = "InvalidArguments"
INVALID_OPTIONS = "InvalidOptions"
INVALID_CODE = "InvalidCode"
OUTPUT_LIMIT_EXCEEDED = "OutputLimitExceeded"
RESULT_NOT_JSON = "ResultNotJSON"
INTERNAL_ERROR = "InternalError"

HARNESS_ERROR_TYPES = (
    SYNTAX_ERROR,
    IMPORT_NOT_ALLOWED,
    FUNCTION_NOT_FOUND,
    UNSUPPORTED_FUNCTION,
    INVALID_ARGUMENTS,
    INVALID_OPTIONS,
    INVALID_CODE,
    OUTPUT_LIMIT_EXCEEDED,
    RESULT_NOT_JSON,
    INTERNAL_ERROR,
)


def valid_text(text):
    """`text` as valid Unicode: a WIT string cannot hold lone surrogates (the glue traps on
    them), so pairs are joined and lone ones become U+FFFD."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


class Failure(Exception):
    """An export's error result. `payload` is the JSON-ready error object."""

    def __init__(self, error_type, message, **extra):
        super().__init__(message)
        self.payload = {"error_type": error_type, "message": message}
        for key, value in extra.items():
            if value is not None:
                self.payload[key] = value

    @property
    def error_type(self):
        return self.payload["error_type"]

    def to_json(self):
        return valid_text(json.dumps(self.payload, ensure_ascii=False))


def internal_failure(exc):
    """A harness bug or a state the harness did not expect: never let it escape an export."""
    try:
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    except BaseException:  # noqa: BLE001 - the error path must not fail
        text = None
    try:
        message = f"toolsmith harness failed: {type(exc).__name__}: {exc}"
    except BaseException:  # noqa: BLE001 - a broken __str__
        message = "toolsmith harness failed: " + type(exc).__name__
    return Failure(INTERNAL_ERROR, message, traceback=text)


def guarded(export):
    """Wrap an export so that only `Failure` leaves it: anything else becomes InternalError."""

    def wrapper(*args):
        try:
            return export(*args)
        except Failure:
            raise
        except BaseException as exc:  # noqa: BLE001 - see module docstring
            raise internal_failure(exc) from None

    wrapper.__name__ = export.__name__
    wrapper.__doc__ = export.__doc__
    wrapper.__wrapped__ = export
    return wrapper
