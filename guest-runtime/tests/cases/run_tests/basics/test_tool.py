import pytest

import tool
from tool import divide


def test_divide():
    assert divide(6, 3) == 2


def test_divide_wrong():
    expected = 3
    assert divide(6, 3) == expected


def test_list_diff():
    assert [divide(2, 2), divide(4, 2), 3.0] == [1.0, 2.0, 4.0]


def test_raises_with_match():
    with pytest.raises(ValueError, match="divide by zero"):
        divide(1, 0)


def test_raises_wrong_message():
    with pytest.raises(ValueError, match="negative"):
        divide(1, 0)


def test_does_not_raise():
    with pytest.raises(ValueError):
        divide(1, 1)


def test_approx():
    assert divide(1, 3) == pytest.approx(0.333333, rel=1e-3)


def test_unexpected_exception():
    tool.divide(1, 0)


def test_keywords():
    assert divide(b=4, a=2) == 0.5


def test_too_many_positional():
    with pytest.raises(TypeError, match="takes 2 positional arguments but 3 were given"):
        divide(1, 2, 3)


def test_twice():
    with pytest.raises(TypeError, match="got multiple values for argument 'a'"):
        divide(1, a=2)


def test_only_the_function():
    with pytest.raises(AttributeError):
        tool.helper


def test_skip_inside():
    pytest.skip("not today")


@pytest.mark.skip(reason="marked")
def test_skip_mark():
    raise AssertionError("never runs")


@pytest.mark.skipif(True, reason="condition holds")
def test_skipif():
    raise AssertionError("never runs")


@pytest.mark.skipif(False, reason="condition fails")
def test_skipif_false():
    assert True


@pytest.mark.xfail(reason="known bug")
def test_xfail():
    assert divide(1, 1) == 3


def test_fail_call():
    pytest.fail("explicit failure")


def test_prints_then_fails():
    print("debug: about to fail")
    assert divide(1, 1) == 3


def helper_not_a_test():
    raise AssertionError("not collected")


SEEN = []


@pytest.fixture
def marker():
    SEEN.append("marker")


@pytest.mark.usefixtures("marker")
def test_usefixtures():
    assert SEEN == ["marker"]


def test_xfail_call():
    pytest.xfail("later")
