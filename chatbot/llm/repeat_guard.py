"""Keeping a small model out of loops.

A small model answering from what it learned (the closed-book and fine-tuned arms) can fall into a loop:
"available for 1 year, 10 years, 20 years, 30 years, ...". The guard watches the tokens the answer has
generated so far and bans, at each step, every token that would make some n-gram (4 tokens by default)
occur more often than `max_repeats` times. A short support answer repeats a 4-token phrase twice at
most; a third time is a loop. Only the answer's own tokens count, not the prompt's (an answer may quote
the documents). The in-process backends (llama.cpp, transformers) apply it to every answer; a loop it
lets through is cut from the answer text afterwards (chatbot/rag/loops.py)."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Sequence

import numpy as np

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
