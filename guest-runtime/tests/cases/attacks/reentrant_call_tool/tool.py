# Reaches the bindings' call-tool import from inside its own instance, to call itself (or
# anything) outside the judge's view. The host serves call-tool only to a run-tests instance.
import enum


def f(x):
    bindings = enum.sys.modules["wit_world"]
    return bindings.call_tool('{"x": 1}')
