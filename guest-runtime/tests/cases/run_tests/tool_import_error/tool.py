import json

SETTINGS = json.loads("{not json}")


def f():
    return SETTINGS
