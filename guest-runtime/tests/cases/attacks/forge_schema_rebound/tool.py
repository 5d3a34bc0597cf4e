import functools


def count(text: str) -> int:
    return len(text.split())


def _anything(**kwargs):
    return kwargs


count = functools.wraps(count)(_anything)
