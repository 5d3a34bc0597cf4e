def run_stack(ops):
    """Apply ["push", x] and ["pop"] operations in order; what was popped and what is left."""
    items, popped = [], []
    for op in ops:
        if op[0] == "push":
            items.append(op[1])
        elif op[0] == "pop":
            popped.append(items.pop())
        else:
            raise ValueError(f"unknown operation {op[0]!r}")
    return {"popped": popped, "left": items}
