def divide(a, b):
    print(f"dividing {a} by {b}")
    if b == 0:
        raise ValueError("cannot divide by zero")
    return a / b
