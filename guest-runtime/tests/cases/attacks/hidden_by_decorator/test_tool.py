from tool import square


def hide(function):
    return "nothing to see"


def test_one():
    assert square(2) == 4


@hide
def test_two():
    assert square(3) == 10


def test_three():
    assert square(1) == 1
