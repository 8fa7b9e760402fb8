"""The keyword half of retrieval: a BM25 index updated in place. Keyword matching catches what embeddings
blur: product names, error codes ("E-104") and menu paths. Words are reduced to their Snowball (Porter 2)
stems, so "connecting" finds "connection"; k1 = 0.9, b = 0.4 are Anserini's defaults, which also scored
best on the evaluation tuning half (bench/README.md).

The index holds term statistics, not texts: per term the slots of the chunks that hold it and how often
(numpy arrays), per slot the chunk's length and id. A search scores every posting of the query's terms
with vector arithmetic (about 1 ms for a term found in all of 100k chunks, where a Python loop took
300 ms), and adding or removing one document touches only its own chunks, so a knowledge-base change
never rebuilds the index (bench/README.md, issue 15)."""

from __future__ import annotations

import math
import re
import threading
from collections import Counter, defaultdict
from collections.abc import Iterable
from functools import lru_cache

import numpy as np
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


@lru_cache(maxsize=262144)
def _norm(word: str) -> str:
    """The Snowball stem of a word ("connecting" -> "connect"); digits are left alone. Cached: a help
    centre's vocabulary is small next to its word count, and stemming is most of tokenizing."""
    if word.isdigit():
        return word
    with _STEMMER_LOCK:
        return _STEMMER.stemWord(word)


def _idf(df: int, n: int) -> float:
    """BM25's inverse document frequency of a term held by `df` of `n` chunks (never negative)."""
    return math.log(1 + (n - df + 0.5) / (df + 0.5))


class _Column:
    """A growable numpy array (amortised O(1) appends); `values` is a view of the filled part."""

    def __init__(self, dtype: type, capacity: int = 4):
        self._data = np.zeros(capacity, dtype=dtype)
        self.size = 0

    def extend(self, values: np.ndarray) -> None:
        need = self.size + len(values)
        if need > len(self._data):
            grown = np.zeros(max(need, 2 * len(self._data)), dtype=self._data.dtype)
            grown[: self.size] = self._data[: self.size]
            self._data = grown
        self._data[self.size : need] = values
        self.size = need

    @property
    def values(self) -> np.ndarray:
        return self._data[: self.size]

    def replace(self, values: np.ndarray) -> None:
        self._data, self.size = np.array(values, dtype=self._data.dtype), len(values)


class KeywordIndex:
    """Okapi BM25 over chunks that come and go. `add` and `remove_doc` change only the chunks named;
    `search` returns (chunk id, score) best first. Safe to share between threads.

    >>> index = KeywordIndex()
    >>> index.add("a:1", "a", "Error E-104 means the hub lost internet")
    >>> index.add("b:1", "b", "Refunds reach your card in 5 days")
    >>> [cid for cid, _ in index.search("what is E-104?", 5)]
    ['a:1']
    >>> index.remove_doc("a")
    1
    >>> index.search("E-104", 5), len(index)
    ([], 1)
    """

    def __init__(self, k1: float = 0.9, b: float = 0.4):
        self.k1, self.b = k1, b
        self._lock = threading.RLock()
        self._term_ids: dict[str, int] = {}
        self._slots: list[_Column] = []  # per term: the slots holding it
        self._tfs: list[_Column] = []  # per term: how often each of those slots holds it
        self._df: list[int] = []  # per term: live chunks holding it
        self._ids: list[str | None] = []  # per slot: chunk id (None once removed)
        self._lengths = _Column(np.float32)  # per slot: token count (0 once removed)
        self._slot_terms: dict[int, np.ndarray] = {}  # live slot -> its term ids
        self._slot_of: dict[str, int] = {}
        self._doc_slots: dict[str, list[int]] = defaultdict(list)
        self._total_length = 0.0

    @classmethod
    def of_texts(cls, texts: Iterable[str], **params: float) -> KeywordIndex:
        """An index of `texts` whose chunk ids are their positions ("0", "1", ...)."""
        index = cls(**params)
        for position, text in enumerate(texts):
            index.add(str(position), str(position), text)
        return index

    def __len__(self) -> int:
        return len(self._slot_of)

    def __contains__(self, chunk_id: object) -> bool:
        return chunk_id in self._slot_of

    def nbytes(self) -> int:
        """Bytes held in the index's arrays (postings, lengths, per-chunk term lists); ids and the term
        dictionary come on top."""
        with self._lock:
            columns = [*self._slots, *self._tfs, self._lengths]
            return sum(c._data.nbytes for c in columns) + sum(t.nbytes for t in self._slot_terms.values())

    def add(self, chunk_id: str, doc_id: str, text: str) -> None:
        """Index one chunk (a chunk id already indexed is replaced)."""
        self.add_many([(chunk_id, doc_id, text)])

    def add_many(self, chunks: Iterable[tuple[str, str, str]]) -> None:
        """Index (chunk id, doc id, text) triples; each term's postings grow once per call."""
        latest = {cid: (doc, text) for cid, doc, text in chunks}  # a chunk id given twice: the last text
        counted = [(cid, doc, Counter(tokenize(text))) for cid, (doc, text) in latest.items()]
        with self._lock:
            new_slots: dict[int, list[int]] = defaultdict(list)
            new_tfs: dict[int, list[int]] = defaultdict(list)
            lengths = []
            for chunk_id, doc_id, counts in counted:
                if chunk_id in self._slot_of:
                    self._remove_slot(self._slot_of[chunk_id])
                slot = len(self._ids)
                self._ids.append(chunk_id)
                self._slot_of[chunk_id] = slot
                self._doc_slots[doc_id].append(slot)
                lengths.append(float(sum(counts.values())))
                terms = np.empty(len(counts), dtype=np.int32)
                for position, (term, tf) in enumerate(counts.items()):
                    tid = self._term_ids.get(term)
                    if tid is None:
                        tid = self._term_ids[term] = len(self._df)
                        self._slots.append(_Column(np.int32))
                        self._tfs.append(_Column(np.float32))
                        self._df.append(0)
                    new_slots[tid].append(slot)
                    new_tfs[tid].append(tf)
                    self._df[tid] += 1
                    terms[position] = tid
                self._slot_terms[slot] = terms
            self._lengths.extend(np.array(lengths, dtype=np.float32))
            self._total_length += sum(lengths)
            for tid, slots in new_slots.items():
                self._slots[tid].extend(np.array(slots, dtype=np.int32))
                self._tfs[tid].extend(np.array(new_tfs[tid], dtype=np.float32))

    def remove_doc(self, doc_id: str) -> int:
        """Drop every chunk of `doc_id`; returns how many there were."""
        with self._lock:
            slots = self._doc_slots.pop(doc_id, [])
            live = [s for s in slots if self._ids[s] is not None]
            for slot in live:
                self._remove_slot(slot)
            if len(self._ids) > 1024 and len(self._slot_of) < len(self._ids) // 2:
                self._compact()
            return len(live)

    def _remove_slot(self, slot: int) -> None:
        chunk_id = self._ids[slot]
        if chunk_id is None:
            return
        self._ids[slot] = None
        del self._slot_of[chunk_id]
        self._total_length -= float(self._lengths.values[slot])
        self._lengths.values[slot] = 0.0
        for tid in self._slot_terms.pop(slot):
            self._df[tid] -= 1

    def _compact(self) -> None:
        """Renumber the live slots from 0 and drop the removed ones' postings (after many removals)."""
        alive = np.array([cid is not None for cid in self._ids])
        new_slot = np.cumsum(alive) - 1
        for slots, tfs in zip(self._slots, self._tfs, strict=True):
            keep = alive[slots.values]
            tfs.replace(tfs.values[keep])
            slots.replace(new_slot[slots.values[keep]])
        self._lengths.replace(self._lengths.values[alive])
        self._slot_terms = {int(new_slot[s]): terms for s, terms in self._slot_terms.items()}
        self._ids = [cid for cid in self._ids if cid is not None]
        self._slot_of = {cid: slot for slot, cid in enumerate(self._ids)}
        self._doc_slots = defaultdict(list, {doc: [int(new_slot[s]) for s in slots if alive[s]]
                                             for doc, slots in self._doc_slots.items()})

    def idf(self, term: str) -> float:
        """Inverse document frequency of a (stemmed) term over the live chunks."""
        tid = self._term_ids.get(term)
        return _idf(self._df[tid] if tid is not None else 0, len(self._slot_of))

    def df(self, term: str) -> int:
        """How many live chunks hold a (stemmed) term."""
        tid = self._term_ids.get(term)
        return self._df[tid] if tid is not None else 0

    def doc_has(self, doc_id: str, term: str) -> bool:
        """Whether any live chunk of `doc_id` holds a (stemmed) term."""
        tid = self._term_ids.get(term)
        if tid is None:
            return False
        with self._lock:
            slots = set(self._doc_slots.get(doc_id, ()))
            return any(int(s) in slots and self._lengths.values[s] > 0 for s in self._slots[tid].values)

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        """The `k` best-scoring chunks for the query's terms, best first (chunks with no term left out)."""
        terms = [self._term_ids[t] for t in set(tokenize(query)) if t in self._term_ids]
        with self._lock:
            n = len(self._slot_of)
            if not n or not terms or k <= 0:
                return []
            lengths = self._lengths.values
            norm = self.k1 * (1 - self.b + self.b * lengths / (self._total_length / n))
            scores = np.zeros(len(lengths), dtype=np.float32)
            for tid in terms:
                if not self._df[tid]:
                    continue
                slots, tfs = self._slots[tid].values, self._tfs[tid].values
                live = lengths[slots] > 0
                scores[slots] += _idf(self._df[tid], n) * tfs * (self.k1 + 1) / (tfs + norm[slots]) * live
            hits = np.flatnonzero(scores)
            if len(hits) > k:
                hits = hits[np.argpartition(-scores[hits], k - 1)[:k]]
            hits = hits[np.argsort(-scores[hits], kind="stable")]
            return [(self._ids[s], float(scores[s])) for s in hits]  # type: ignore[misc]
