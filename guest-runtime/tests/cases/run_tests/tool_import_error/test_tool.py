from tool import f


def test_f():
    assert f()
