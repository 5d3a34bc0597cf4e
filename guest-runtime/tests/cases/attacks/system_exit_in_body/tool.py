raise SystemExit(3)


def f(x):
    return x
