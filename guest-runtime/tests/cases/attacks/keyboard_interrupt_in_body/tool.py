raise KeyboardInterrupt(3)


def f(x):
    return x
