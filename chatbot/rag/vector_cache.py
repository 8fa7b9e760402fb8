"""Embedding vectors of recent texts, kept in memory so the same text is not embedded twice: the
retriever's query vectors (reused by excerpt selection) and excerpt selection's sentence vectors."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

import numpy as np


class VectorCache:
    """Vectors by text, the least recently used dropped past `size`; safe to share between threads.

    >>> cache, calls = VectorCache(2), []
    >>> embed = lambda texts: calls.extend(texts) or [[float(len(t))] for t in texts]
    >>> cache.get(["a", "bb"], embed).tolist(), cache.get(["bb", "ccc"], embed).tolist(), calls
    ([[1.0], [2.0]], [[2.0], [3.0]], ['a', 'bb', 'ccc'])
    """

    def __init__(self, size: int):
        self.size = size
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, texts: Sequence[str], embed: Callable[[list[str]], Sequence[Sequence[float]]]) -> np.ndarray:
        """The vectors of `texts` (one row each), calling `embed` once for those not kept."""
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        fresh = embed(missing) if missing else []
        with self._lock:
            for text, vec in zip(missing, fresh, strict=True):
                self._vectors[text] = np.asarray(vec, dtype=np.float32)
            found = {t: self._vectors[t] for t in texts if t in self._vectors}
            for text in found:
                self._vectors.move_to_end(text)
            while len(self._vectors) > self.size:
                self._vectors.popitem(last=False)
        return np.stack([found[t] for t in texts])
