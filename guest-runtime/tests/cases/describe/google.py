from typing import Literal, Optional


def top_words(text: str, n: int = 10, case: Literal["keep", "lower"] = "lower", stop: Optional[list[str]] = None) -> list[dict]:
    """Count the most frequent words of a text.

    Words are runs of letters; the count is case-insensitive unless asked.

    Args:
        text: The text to read.
        n (int): How many words to return,
            most frequent first.
        case: Whether to keep the case of words.
        stop: Words to leave out.

    Returns:
        A list of {"word", "count"} objects.

    Raises:
        ValueError: if n is negative.
    """
    return []
