"""A small in-memory BM25 index. Keyword matching catches what embeddings blur: product names, error
codes ("E-104") and menu paths. Words are reduced to their Snowball (Porter 2) stems, so "connecting"
finds "connection"; k1 = 0.9, b = 0.4 are Anserini's defaults, which also scored best on the
evaluation tuning half (bench/README.md)."""

from __future__ import annotations

import math
import re
import threading
from collections import Counter, defaultdict
from functools import lru_cache

import snowballstemmer

STOPWORDS = frozenset(
    "a an and are as at be but by can do does for from how i if in is it its me my of on or our so that the "
    "their there this to was we what when where which who why will with you your".split()
)
_TOKEN = re.compile(r"[a-z0-9]+(?:[-_./][a-z0-9]+)*")


def tokenize(text: str) -> list[str]:
    """Lower-case word stems; compound tokens such as error codes are kept whole *and* split.

    >>> tokenize("Error E-104 on the Hub's LEDs; connecting")
    ['error', 'e-104', 'e', '104', 'hub', 'led', 'connect']
    """
    out: list[str] = []
    for match in _TOKEN.finditer(text.lower()):
        token = match.group()
        parts = re.split(r"[-_./]", token)
        if len(parts) > 1:
            out.append(token)
            out.extend(_norm(p) for p in parts if p and p not in STOPWORDS)
        elif token not in STOPWORDS and len(token) > 0:
            out.append(_norm(token))
    return [t for t in out if t and t != "s"]


_STEMMER = snowballstemmer.stemmer("english")
_STEMMER_LOCK = threading.Lock()  # a Snowball stemmer keeps per-call state: one caller at a time


@lru_cache(maxsize=65536)
def codes(text: str) -> set[str]:
    """Code-like tokens in `text`: words joined by - _ . / with at least one digit (error codes,
    model numbers, versions). A question naming a code that a document also names is about that document,
    whatever its language or wording.

    >>> sorted(codes("Was bedeutet E-104? Firmware 2.4.1, not 2026"))
    ['2.4.1', 'e-104']
    """
    return {m.group() for m in _TOKEN.finditer(text.lower())
            if any(c in m.group() for c in "-_./") and any(c.isdigit() for c in m.group())}


def _norm(word: str) -> str:
    """The Snowball stem of a word ("connecting" -> "connect"); digits are left alone."""
    if word.isdigit():
        return word
    with _STEMMER_LOCK:
        return _STEMMER.stemWord(word)


class BM25:
    """Okapi BM25 over a fixed list of texts; `search` returns (position, score) best first."""

    def __init__(self, texts: list[str], k1: float = 0.9, b: float = 0.4):
        self.k1, self.b = k1, b
        self.postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        self.lengths: list[int] = []
        for position, text in enumerate(texts):
            counts = Counter(tokenize(text))
            self.lengths.append(sum(counts.values()))
            for term, tf in counts.items():
                self.postings[term].append((position, tf))
        self.n = len(texts)
        self.avg_len = (sum(self.lengths) / self.n) if self.n else 0.0

    def idf(self, term: str) -> float:
        df = len(self.postings.get(term, ()))
        return math.log(1 + (self.n - df + 0.5) / (df + 0.5))

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        scores: dict[int, float] = defaultdict(float)
        for term in set(tokenize(query)):
            postings = self.postings.get(term)
            if not postings:
                continue
            idf = self.idf(term)
            for position, tf in postings:
                norm = self.k1 * (1 - self.b + self.b * self.lengths[position] / self.avg_len)
                scores[position] += idf * tf * (self.k1 + 1) / (tf + norm)
        return sorted(scores.items(), key=lambda kv: -kv[1])[:k]
