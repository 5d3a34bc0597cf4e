class Skipped(Exception):
    pass


class XFailed(Exception):
    pass


class OutputLimit(Exception):
    pass


def f(kind):
    raise {"skip": Skipped, "xfail": XFailed, "output": OutputLimit}[kind]("not a pytest outcome")
