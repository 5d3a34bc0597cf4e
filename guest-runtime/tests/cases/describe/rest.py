def scale(values: list[float], factor: float = 2.0, *, clip: bool = False) -> list[float]:
    """Multiply every value by a factor.

    :param values: The numbers to scale.
    :param float factor: The multiplier;
        may be negative.
    :param clip: Clip results to [0, 1].
    :type clip: bool
    :returns: The scaled numbers.
    :rtype: list[float]
    """
    return values
