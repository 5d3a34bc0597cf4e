from tool import square


def test_one():
    assert square(2) == 4


def test_two():
    assert square(3) == 10


def test_three():
    assert square(1) == 1


def test_two():  # noqa: F811 - the point: pytest would collect only this one
    assert square(3) == 9
