from tool import f


def test_f():
    assert f(1) is not None
