"""Bounded capture of what tool code prints.

stdout and stderr share one budget of `max_output_bytes` (UTF-8). Writing past it keeps what fits,
marks the capture as overflowed and raises `OutputLimit`, a BaseException so that a tool's
`except Exception` cannot swallow it; the export then reports OutputLimitExceeded even if the
tool caught it some other way.
"""

import io
import sys

DEFAULT_MAX_OUTPUT_BYTES = 1 << 20


class OutputLimit(BaseException):
    pass


class _Budget:
    def __init__(self, limit):
        self.limit = limit
        self.used = 0
        self.overflowed = False


class BoundedWriter(io.TextIOBase):
    def __init__(self, budget, name):
        super().__init__()
        self._budget = budget
        self._parts = []
        self.name = name

    @property
    def encoding(self):
        return "utf-8"

    def writable(self):
        return True

    def write(self, text):
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        budget = self._budget
        if budget.overflowed:
            raise OutputLimit(budget.limit)
        size = len(text.encode("utf-8", "surrogatepass"))
        room = budget.limit - budget.used
        if size <= room:
            self._parts.append(text)
            budget.used += size
            return len(text)
        kept = text.encode("utf-8", "surrogatepass")[:room].decode("utf-8", "ignore")
        self._parts.append(kept)
        budget.used = budget.limit
        budget.overflowed = True
        raise OutputLimit(budget.limit)

    def getvalue(self):
        return "".join(self._parts)


class Capture:
    """`with Capture(limit) as cap:` redirects sys.stdout/sys.stderr into `cap.stdout`/`cap.stderr`."""

    def __init__(self, limit=DEFAULT_MAX_OUTPUT_BYTES):
        self.budget = _Budget(limit)
        self.stdout = BoundedWriter(self.budget, "<stdout>")
        self.stderr = BoundedWriter(self.budget, "<stderr>")

    @property
    def overflowed(self):
        return self.budget.overflowed

    @property
    def limit(self):
        return self.budget.limit

    def __enter__(self):
        self._saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = self.stdout, self.stderr
        return self

    def __exit__(self, *exc):
        sys.stdout, sys.stderr = self._saved
        return False
