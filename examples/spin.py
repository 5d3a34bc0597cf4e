def spin():
    """Never returns."""
    while True:
        pass
