import pytest

from tool import f


def test_f():
    assert f(1) == 1


def test_expecting_it():
    with pytest.raises(KeyboardInterrupt):
        f(1)


def test_no_tool():
    assert True
