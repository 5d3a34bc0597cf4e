import pytest
from tool import Stack


class TestStack:
    def test_push_pop(self):
        s = Stack()
        s.push(1)
        assert s.pop() == 1

    def test_pop_empty(self):
        with pytest.raises(IndexError):
            Stack().pop()

    def test_fresh_instance_per_test(self):
        assert not hasattr(self, "touched")
        self.touched = True

    def test_fresh_instance_again(self):
        assert not hasattr(self, "touched")
        self.touched = True

    @pytest.mark.parametrize("n", [1, 2])
    def test_many(self, n):
        s = Stack()
        for i in range(n):
            s.push(i)
        assert len(s.items) == n

    def test_wrong(self):
        assert Stack().items == [None]

    def helper(self):
        raise AssertionError("not collected")


class TestWithFixtures:
    @pytest.fixture
    def stack(self):
        s = Stack()
        s.push("base")
        return s

    def test_class_fixture(self, stack):
        assert stack.pop() == "base"


@pytest.mark.skip(reason="whole class")
class TestSkipped:
    def test_one(self):
        raise AssertionError("never runs")


class TestWithInit:
    def __init__(self):
        pass

    def test_not_collected(self):
        raise AssertionError("never runs")


class NotATest:
    def test_not_collected(self):
        raise AssertionError("never runs")
