import pytest

from tool import slow


@pytest.mark.parametrize("kind", ["timeout", "fuel", "judge"])
def test_caught_as_the_tools_exception(kind):
    with pytest.raises(Exception) as info:
        slow(kind)
    assert type(info.value).__name__ in ("Timeout", "FuelExhausted", "ToolLimitExceeded")
    assert "pretending" in str(info.value)


def test_uncaught():
    slow("timeout")
