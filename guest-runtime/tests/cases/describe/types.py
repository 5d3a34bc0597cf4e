import enum
from typing import Annotated, Any, Dict, List, Optional, Tuple, TypedDict, Union


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Row(TypedDict):
    name: str
    score: float


def kitchen_sink(
    counts: dict[str, int],
    pair: tuple[int, str],
    many: Tuple[int, ...],
    tags: set[str],
    maybe: int | None,
    either: Union[int, str],
    color: Color,
    row: Row,
    legacy: List[Dict[str, Any]],
    note: Annotated[str, "A free-form note."],
    anything: Any,
    untyped,
    nullable_default: Optional[Color] = None,
    **extra: int,
) -> Tuple[bool, Optional[str]]:
    pass
