import enum

import pytest
from tool import square


class Mode(enum.Enum):
    FAST = 1


@pytest.mark.parametrize("x,expected", [(1, 1), (2, 4), (3, 10)])
def test_single(x, expected):
    assert square(x) == expected


@pytest.mark.parametrize("x", [0, 1])
@pytest.mark.parametrize("y", [2, 3])
def test_stacked(x, y):
    assert square(x) < square(y)


@pytest.mark.parametrize(("x", "expected"), [pytest.param(2, 4, id="two"), pytest.param(5, 0, marks=pytest.mark.skip(reason="slow"))])
def test_param_objects(x, expected):
    assert square(x) == expected


@pytest.mark.parametrize("x", [1, 2], ids=["one", "two"])
def test_ids_list(x):
    assert square(x) > 0


@pytest.mark.parametrize("text", ["a", "a", "héllo", "", None, 1.5, True, Mode.FAST, square, [1]])
def test_id_kinds(text):
    pass


@pytest.mark.parametrize("x", [3], ids=lambda v: f"value-{v}")
def test_ids_callable(x):
    assert square(x) == 9


@pytest.mark.parametrize("x", [])
def test_empty(x):
    pass


@pytest.mark.parametrize("x", [(1, 2)])
def test_tuple_single_arg(x):
    assert x == (1, 2)
