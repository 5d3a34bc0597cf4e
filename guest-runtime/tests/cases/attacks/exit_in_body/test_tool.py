import pytest

from tool import f


def test_f():
    assert f(1) == 1


def test_expecting_anything():
    with pytest.raises(BaseException):
        f(1)


def test_no_tool():
    assert True
