"""Citation markers: an answer cites the n-th source it was shown as [n] (or [1, 2] for several). One
pattern for them, used by the prompt checks, grounding, the loop check, the evaluation and the UI."""

from __future__ import annotations

import re

CITATION = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")  # group 1: the numbers
# Looser: any bracket of digits, commas and spaces, also one cut off by the token limit ("[1] [2] [").
MARK = re.compile(r"\[[\d,\s]*\]?")


def strip_citations(text: str) -> str:
    """Remove citation markers such as [1] or [1, 2] so they don't count as answer words.

    >>> strip_citations("Press Home [1][2, 3].")
    'Press Home .'
    """
    return " ".join(CITATION.sub(" ", text).split())


def cited_numbers(answer: str, n_sources: int) -> list[int]:
    """Citation numbers that point at a real source, in order of first use.

    >>> cited_numbers("See [2] and [1][2], not [9].", 2)
    [2, 1]
    """
    seen: list[int] = []
    for match in CITATION.finditer(answer):
        for part in match.group(1).split(","):
            number = int(part)
            if 1 <= number <= n_sources and number not in seen:
                seen.append(number)
    return seen


def strip_bad_citations(answer: str, n_sources: int) -> str:
    """Remove citation markers that point at no source.

    >>> strip_bad_citations("Yes [1] [7].", 2)
    'Yes [1].'
    """
    def keep(match: re.Match) -> str:
        numbers = [p.strip() for p in match.group(1).split(",") if 1 <= int(p) <= n_sources]
        return f"[{', '.join(numbers)}]" if numbers else ""

    cleaned = CITATION.sub(keep, answer)
    return re.sub(r"\s+([.,;:!?])", r"\1", re.sub(r"[ \t]{2,}", " ", cleaned)).strip()
