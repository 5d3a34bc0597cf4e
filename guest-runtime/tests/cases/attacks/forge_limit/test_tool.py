import pytest

from tool import f


def test_an_ordinary_error():
    with pytest.raises(ValueError, match="an ordinary error"):
        f(1)
