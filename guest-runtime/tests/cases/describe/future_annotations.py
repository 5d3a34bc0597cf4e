from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Undeclared:
    x: int


def lookup(key: str, table: dict[str, float], missing: NotDefinedAnywhere = None, limit: int | None = 5) -> float | None:
    """Look a key up.

    Args:
        key: What to find.
    """
    return table.get(key)
