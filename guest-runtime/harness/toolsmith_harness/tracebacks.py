"""Turning an exception raised by tool (or test) code into the error object, with the traceback
trimmed to the frames of that code: the harness's and the standard library's frames are noise to
whoever fixes the tool, except the innermost one, which says where the error was raised."""

import os
import traceback

from .errors import Failure

MAX_FRAMES = 30
_HARNESS_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def safe_str(exc):
    try:
        return str(exc)
    except BaseException:  # noqa: BLE001 - a broken __str__ must not break the error path
        return f"<{type(exc).__name__}: str() failed>"


def user_frames(exc, files):
    """The traceback entries of `exc` inside `files`, plus the innermost entry if it is elsewhere
    (but not in the harness)."""
    frames = traceback.extract_tb(exc.__traceback__)
    kept = [f for f in frames if f.filename in files]
    innermost = frames[-1] if frames else None
    if innermost and innermost.filename not in files and not _in_harness(innermost.filename):
        kept.append(innermost)
    if len(kept) > MAX_FRAMES:
        # Deep recursion: StackSummary.format collapses repeats, but keep the list small too.
        kept = kept[:3] + kept[-(MAX_FRAMES - 3):]
    return kept


def _in_harness(filename):
    return os.path.abspath(filename).startswith(_HARNESS_DIR)


def format_trimmed(exc, files):
    try:
        frames = user_frames(exc, files)
        lines = ["Traceback (most recent call last):\n"] if frames else []
        lines += traceback.StackSummary.from_list(frames).format()
        lines += traceback.format_exception_only(type(exc), exc)
        return "".join(lines)
    except BaseException:  # noqa: BLE001
        return f"{type(exc).__name__}: {safe_str(exc)}\n"


def last_line(exc, files):
    try:
        for frame in reversed(traceback.extract_tb(exc.__traceback__)):
            if frame.filename in files:
                return frame.lineno
    except BaseException:  # noqa: BLE001
        pass
    return None


def exception_failure(exc, files, stdout=None, context=None):
    """The Failure for an exception raised by code from `files` (a set of filenames)."""
    message = safe_str(exc)
    if context:
        message = f"{context}: {message}" if message else context
    module = getattr(exc, "name", None) if isinstance(exc, ImportError) else None
    return Failure(
        type(exc).__name__,
        message,
        traceback=format_trimmed(exc, files),
        line=last_line(exc, files),
        module=module if isinstance(module, str) else None,
        stdout=stdout or None,
    )
