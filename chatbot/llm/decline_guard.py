"""Declining on the model's own confidence, read at the answer's first token.

The answer rules let the model reply "I don't know." when the documents lack the answer. Left to greedy
decoding, a small model takes that exit whenever it is a little unsure, and declines questions its
excerpts answer (doc2dial: half the answerable ones). The guard reads, before the first token is chosen,
the probability the model gives to starting its decline; it lets the model decline only when that
probability reaches the threshold (CHATBOT_DECLINE_CONFIDENCE), and otherwise removes the decline from
the choices so the model answers from the documents. Deciding costs nothing: the probability comes with
the logits the first token is sampled from. The in-process backends (llama.cpp, transformers) apply it;
a model server's API offers no hook for it, so there the model declines as it would greedily."""

from __future__ import annotations

import math

import numpy as np


class DeclineGuard:
    """Called on the first token's logits (then a no-op): records `probability`, the softmax probability
    of `token_id` (the decline's first token), and leaves only that token when the model is sure enough
    to decline, or removes it when not. A threshold of 1 or more never lets the model decline.

    >>> guard = DeclineGuard(token_id=0, threshold=0.8)
    >>> logits = guard(np.array([2.0, 0.0, 0.0], dtype=np.float32))
    >>> round(guard.probability, 3), guard.declines, bool(logits[0] == -np.inf)
    (0.787, False, True)
    >>> sure = DeclineGuard(token_id=0, threshold=0.8)
    >>> logits = sure(np.array([5.0, 0.0, 0.0], dtype=np.float32))
    >>> sure.declines, bool(np.isinf(logits[1:]).all())
    (True, True)
    """

    def __init__(self, token_id: int, threshold: float):
        self.token_id = token_id
        self.threshold = threshold
        self.probability: float | None = None

    @property
    def declines(self) -> bool:
        return self.probability is not None and self.threshold < 1 and self.probability >= self.threshold

    def __call__(self, logits: np.ndarray) -> np.ndarray:
        if self.probability is not None:
            return logits
        top = float(np.max(logits))
        total = float(np.sum(np.exp(logits.astype(np.float64) - top)))
        self.probability = math.exp(float(logits[self.token_id]) - top) / total
        if self.declines:
            kept = logits[self.token_id]
            logits[:] = -np.inf
            logits[self.token_id] = kept
        else:
            logits[self.token_id] = -np.inf
        return logits

    def metadata(self) -> dict[str, float]:
        """What a backend reports with its last chunk: {"decline_probability": p} once the guard ran."""
        return {} if self.probability is None else {"decline_probability": round(self.probability, 4)}
