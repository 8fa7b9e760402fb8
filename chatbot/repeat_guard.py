"""Keeping a small model out of loops.

A small model answering from what it learned (the closed-book and fine-tuned arms) can fall into a loop:
"available for 1 year, 10 years, 20 years, 30 years, ...". The guard watches the tokens the answer has
generated so far and bans, at each step, every token that would make some n-gram (4 tokens by default)
occur more often than `max_repeats` times. A short support answer repeats a 4-token phrase twice at
most; a third time is a loop. Only the answer's own tokens count, not the prompt's (an answer may quote
the documents). The in-process backends (llama.cpp, transformers) apply it to every answer."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Sequence

import numpy as np

from chatbot.grounding import CITATION

NGRAM = 4
MAX_REPEATS = 2


class RepeatGuard:
    """Called with (all token ids so far, the next token's logits); the first call marks where the prompt
    ends. Sets to -inf the logits of tokens that would repeat an n-gram a (max_repeats + 1)-th time.

    Tokens are compared by `key(token_id)` (the backend gives the token's text, stripped and lower-cased)
    without punctuation, and pieces that are only punctuation or space are skipped, so a model cannot dodge
    the guard with another spelling of the same piece (" Refunds" for "refunds", "2FA," for "2FA"); every
    token id that completed the n-gram before is banned.

    >>> guard = RepeatGuard(n=2, max_repeats=1)
    >>> logits = guard([9, 9], np.zeros(4, dtype=np.float32))        # the prompt: nothing generated yet
    >>> logits = guard([9, 9, 1, 2, 1], np.zeros(4, dtype=np.float32))  # "1 2" seen once, then 1
    >>> [int(i) for i in np.flatnonzero(np.isinf(logits))]            # 2 would make "1 2" a second time
    [2]
    >>> spelled = RepeatGuard(n=2, max_repeats=1, key=lambda t: {1: "a", 3: "a,", 0: ","}.get(t, str(t)))
    >>> logits = spelled([9], np.zeros(4, dtype=np.float32))
    >>> [int(i) for i in np.flatnonzero(np.isinf(spelled([9, 1, 2, 0, 3], np.zeros(4, dtype=np.float32))))]
    [2]
    """

    def __init__(self, n: int = NGRAM, max_repeats: int = MAX_REPEATS, key: Callable[[int], str] | None = None):
        self.n, self.max_repeats = n, max_repeats
        self.key = key or str
        self.prompt_length: int | None = None
        self.banned_steps = 0  # how many steps had a token banned (reported, for the evaluation)
        self._keys: list[str] = []  # keys of the generated tokens so far

    def __call__(self, ids: Sequence[int], logits: np.ndarray) -> np.ndarray:
        if self.prompt_length is None:
            self.prompt_length = len(ids)
        generated = [int(i) for i in ids[self.prompt_length:]]
        while len(self._keys) < len(generated):
            self._keys.append(re.sub(r"[\W_]+", "", self.key(generated[len(self._keys)])))
        # n-grams over the pieces that carry letters or digits: "2FA," repeats "2FA", punctuation doesn't count
        kept = [(t, k) for t, k in zip(generated, self._keys, strict=False) if k]
        out, keys = [t for t, _ in kept], [k for _, k in kept]
        if len(out) < self.n - 1:
            return logits
        counts: dict[tuple[str, ...], int] = defaultdict(int)
        completions: dict[tuple[str, ...], set[int]] = defaultdict(set)
        for start in range(len(out) - self.n + 1):
            gram = tuple(keys[start:start + self.n])
            counts[gram] += 1
            completions[gram[:-1]].add(out[start + self.n - 1])
        head = tuple(keys[len(out) - self.n + 1:])
        repeated = {gram[-1] for gram, count in counts.items() if gram[:-1] == head and count >= self.max_repeats}
        banned = [t for t in completions.get(head, ()) if keys[out.index(t)] in repeated]
        if banned:
            self.banned_steps += 1
            logits[banned] = -np.inf
        return logits

    def metadata(self) -> dict[str, int]:
        return {"repeat_bans": self.banned_steps}


# --- the answer's words: the last line of defence ------------------------------------------------
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
