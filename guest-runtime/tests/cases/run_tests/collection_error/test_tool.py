from tool import f, g


def test_f():
    assert f() == 1
