"""The last line of defence against loops: the answer's words. A loop the decoding guard
(chatbot/llm/repeat_guard.py) let through, spelled in other tokens, ends the answer at the last full
sentence before it."""

from __future__ import annotations

import re
from collections import defaultdict

from chatbot.llm.repeat_guard import MAX_REPEATS, NGRAM
from chatbot.rag.citations import CITATION

_WORD_PUNCT = re.compile(r"[^\w\s]|_")
_ARTICLES = frozenset({"a", "an", "the"})


def loop_start(text: str, n: int = NGRAM, times: int = MAX_REPEATS + 1) -> int | None:
    """Where the answer starts saying some word n-gram for the `times`-th time, as a character offset, or
    None. Words are compared as the evaluation compares them (lower case, punctuation, citations and articles
    ignored), so a loop spelled in other tokens ("PayPal Express, PayPal Exp...") is still one.

    >>> text = "Pay with PayPal Express, PayPal Express, PayPal Express, PayPal Express."
    >>> text[:loop_start(text)]
    'Pay with PayPal Express, PayPal Express, '
    >>> loop_start("Refunds take 5 days [1]. Refunds take 5 days [2].") is None
    True
    """
    words = [(m.start(), word) for m in re.finditer(r"\S+", CITATION.sub(" ", text))
             if (word := _WORD_PUNCT.sub("", m.group().lower())) and word not in _ARTICLES]
    seen: dict[tuple[str, ...], int] = defaultdict(int)
    for end in range(n, len(words) + 1):
        gram = tuple(w for _, w in words[end - n:end])
        seen[gram] += 1
        if seen[gram] >= times:
            return words[end - n][0]
    return None


def cut_loop(text: str) -> str:
    """The answer up to where it starts looping, ended at the last full sentence before that point (or the
    last clause, when the loop begins in the first sentence); the text unchanged when it does not loop.

    >>> cut_loop("You can pay by card. Options: PayPal Express, PayPal Express, PayPal Express, PayPal Express")
    'You can pay by card.'
    >>> cut_loop("It is available for 1 year, 1 year, 1 year, 1 year, 1 year.")
    'It is available for 1 year, 1 year.'
    """
    start = loop_start(text)
    if start is None:
        return text
    head = text[:start].rstrip()
    if not head or head.endswith((".", "!", "?")):
        return head or text  # a loop from the first word on: nothing better to show
    sentence = max(head.rfind(". "), head.rfind("! "), head.rfind("? "), head.rfind("\n"))
    if sentence > 0:
        return head[: sentence + 1].rstrip()
    return head.rstrip(" ,;:-–—").removesuffix(" and").removesuffix(" or").rstrip(" ,;") + "."
