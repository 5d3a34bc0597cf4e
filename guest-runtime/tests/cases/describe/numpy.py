def moving_average(series: list[float], window: int = 3) -> list[float]:
    """Moving average of a series.

    Parameters
    ----------
    series : list of float
        The values, oldest first.
    window : int, optional
        How many values each average covers.

    Returns
    -------
    list of float
        One average per full window.
    """
    return series
