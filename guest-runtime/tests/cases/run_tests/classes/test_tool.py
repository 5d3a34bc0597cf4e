import pytest
from tool import run_stack


class TestStack:
    def test_push_pop(self):
        assert run_stack([["push", 1], ["pop"]]) == {"popped": [1], "left": []}

    def test_pop_empty(self):
        with pytest.raises(IndexError):
            run_stack([["pop"]])

    def test_tuples_are_arguments_too(self):
        result = run_stack([("push", 1), ("push", (2, 3)), ("pop",)])
        assert [list(item) for item in result["popped"]] == [[2, 3]] and result["left"] == [1]

    def test_fresh_instance_per_test(self):
        assert not hasattr(self, "touched")
        self.touched = True

    def test_fresh_instance_again(self):
        assert not hasattr(self, "touched")
        self.touched = True

    @pytest.mark.parametrize("n", [1, 2])
    def test_many(self, n):
        assert len(run_stack([["push", i] for i in range(n)])["left"]) == n

    def test_wrong(self):
        assert run_stack([])["left"] == [None]

    def helper(self):
        raise AssertionError("not collected")


class TestWithFixtures:
    @pytest.fixture
    def ops(self):
        return [["push", "base"]]

    def test_class_fixture(self, ops):
        assert run_stack(ops + [["pop"]])["popped"] == ["base"]


@pytest.mark.skip(reason="whole class")
class TestSkipped:
    def test_one(self):
        raise AssertionError("never runs")


class NotATest:
    def test_not_collected(self):
        raise AssertionError("never runs")
