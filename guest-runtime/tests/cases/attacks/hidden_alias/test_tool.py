from tool import square


def test_one():
    assert square(2) == 4


def test_two():
    assert square(3) == 10


def test_three():
    assert square(1) == 1


test_two = test_one
