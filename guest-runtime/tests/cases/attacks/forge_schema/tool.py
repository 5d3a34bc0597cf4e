# Everything here that would change what `inspect` or `typing` report about count() runs only
# when the module runs; describe reads the def and nothing else.
def count(text: str, limit: int = 10) -> int:
    """Count words.

    Args:
        text: The text.
        limit: At most this many.
    """
    return min(len(text.split()), limit)


def _anything(**kwargs):
    return kwargs


count.__signature__ = False
count.__annotations__ = {"text": "anything", "return": "anything"}
count.__doc__ = "Forged: takes anything."
count.__wrapped__ = _anything
count.__defaults__ = (object(),)
globals()["count"] = _anything
