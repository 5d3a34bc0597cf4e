import pytest

from tool import f


@pytest.mark.parametrize("kind", ["skip", "xfail", "output"])
def test_f(kind):
    f(kind)
