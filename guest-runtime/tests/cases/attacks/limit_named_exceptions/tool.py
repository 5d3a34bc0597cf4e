class Timeout(Exception):
    pass


class FuelExhausted(Exception):
    pass


class ToolLimitExceeded(Exception):
    pass


def slow(kind):
    if kind == "timeout":
        raise Timeout("pretending to run out of time")
    if kind == "fuel":
        raise FuelExhausted("pretending to run out of fuel")
    raise ToolLimitExceeded("pretending to be the judge's limit")
