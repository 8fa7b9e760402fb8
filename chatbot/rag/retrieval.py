"""Hybrid search: vector similarity (Chroma) and BM25 keyword scores (chatbot/rag/keyword.py), fused by a
weighted sum of the normalised scores over the candidates either search found. Score fusion beat
reciprocal-rank fusion by 3-6 points of recall@5 and MRR in bench/retrieval_quality.py: it keeps how far
ahead a strong keyword match is, where RRF keeps only its rank. Each returned Source carries the cosine
similarity of its chunk to the question: that absolute figure, not the fused score, is what the refusal
threshold reads."""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from chatbot.config import Settings
from chatbot.rag.keyword import KeywordIndex
from chatbot.rag.vector_cache import VectorCache
from chatbot.store import KnowledgeStore
from chatbot.types import Chunk, Source

SNIPPET_CHARS = 320
QUERY_VECTORS_KEPT = 64  # recent query embeddings, so that excerpt selection reuses retrieval's
CHUNKS_KEPT = 256  # recently shown chunks (their texts feed the prompt and excerpt selection)
LOAD_BATCH = 2000  # chunks tokenized per keyword-index write when it is first loaded


def fuse_scores(vector: dict[str, float], keyword: dict[str, float], keyword_weight: float) -> list[str]:
    """Ids best first by `w * keyword / max(keyword) + (1 - w) * min-max(vector)` over all candidates.
    `vector` holds the cosine of every candidate; `keyword` the BM25 score of those that have one (0 else).

    >>> fuse_scores({"a": 0.9, "b": 0.5, "c": 0.4}, {"b": 12.0, "c": 1.0}, 0.7)
    ['b', 'a', 'c']
    """
    if not vector:
        return []
    top_kw = max(keyword.values(), default=0.0) or 1.0
    low, high = min(vector.values()), max(vector.values())
    span = (high - low) or 1.0
    fused = {cid: keyword_weight * keyword.get(cid, 0.0) / top_kw + (1 - keyword_weight) * (cos - low) / span
             for cid, cos in vector.items()}
    return sorted(fused, key=lambda cid: -fused[cid])


# What customers type around a question: greetings, thanks and request preambles ("Hello, I need information
# about ...", "Can you tell me about ..."). They carry no topic, yet pull the query's embedding towards every
# page that says "help" or "information"; retrieval searches without them (the model still reads them).
_PREAMBLE = re.compile(
    r"^(?:\s*(?:hi|hello|hey|hiya|good (?:morning|afternoon|evening)|greetings|oh|ok(?:ay)?|so|"
    r"thanks?(?: you)?|please|there)\b[\s,.!]*)+"
    r"|\b(?:i have (?:a|some) questions?(?: (?:about|on|regarding))?|"
    r"(?:can|could) you (?:please )?(?:help me(?: out)?|tell me|give me|show me|provide)(?: (?:some|more|the))?"
    r"(?: (?:details|information|info))?(?: (?:about|on|of|regarding|for))?|"
    r"i(?:'m| am) (?:here|looking|trying)(?: to)?(?: (?:learn|find|get|know))?(?: (?:some|more))?"
    r"(?: (?:information|info|answers))?(?: (?:about|on|regarding|for))?|"
    r"i (?:need|want|would like|'d like)(?: to (?:know|learn|get|find out))?(?: (?:some|more))?"
    r"(?: (?:information|info|details|help|guidance))?(?: (?:about|on|with|regarding|for))?|"
    r"please (?:show|give|tell) me(?: (?:some|more))?(?: (?:information|info|details))?(?: (?:about|on|of))?|"
    r"i was wondering(?: if)?)\b[\s,.:?!]*",
    re.IGNORECASE,
)


def search_query(question: str) -> str:
    """The question without greetings and request preambles, for searching; the question itself when
    nothing else would be left.

    >>> search_query("Hello, I need information about out-of-state licences")
    'out-of-state licences'
    >>> search_query("Oh, hello. I'm here to learn more about health care for spouses. Can you help me out?")
    'health care for spouses.'
    >>> search_query("Can you help me?"), search_query("How do I reset my hub?")
    ('Can you help me?', 'How do I reset my hub?')
    """
    stripped = " ".join(_PREAMBLE.sub(" ", question).split()).strip(" ,")
    return stripped if len(stripped.split()) >= 2 else question


def snippet(chunk: Chunk, limit: int = SNIPPET_CHARS) -> str:
    """The start of a chunk's body for the sources panel, without markdown emphasis marks."""
    return body_snippet(chunk.text, limit)


def body_snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """The start of a text after its heading line, without markdown emphasis marks.

    >>> body_snippet("Returns > Refunds\\nRefunds take **5 days**.")
    'Refunds take 5 days.'
    """
    body = re.sub(r"\*\*|__|`", "", text.split("\n", 1)[-1]).strip()
    return body if len(body) <= limit else body[:limit].rsplit(" ", 1)[0] + " …"


class HybridRetriever:
    """Vector and keyword search over the store. The keyword index follows the knowledge base: the first
    search loads it from the stored chunks, later ones apply only the documents changed since (by this
    replica or another one on the same database). Chunk texts stay in Chroma; the few shown as sources are
    read back per answer and kept in a small cache (a chunk id names its content, so it never goes stale)."""

    def __init__(self, store: KnowledgeStore, settings: Settings):
        self.store = store
        self.settings = settings
        self._lock = threading.Lock()
        self._version = -1
        self._index = KeywordIndex()
        self._queries = VectorCache(QUERY_VECTORS_KEPT)
        self._chunks: OrderedDict[str, Chunk] = OrderedDict()
        self._chunks_lock = threading.Lock()

    def query_vector(self, query: str) -> np.ndarray:
        """The query's embedding; the last QUERY_VECTORS_KEPT are kept (a question is embedded once per
        answer, not once for retrieval and again for excerpt selection)."""
        return self._queries.get([query], lambda texts: [self.store.embeddings.embed_query(texts[0])])[0]

    def refresh(self) -> int:
        """Bring the keyword index up to the knowledge base's version; returns how many documents were
        re-read (all of them the first time)."""
        version = self.store.version()
        if version == self._version:
            return 0
        with self._lock:
            if version == self._version:
                return 0
            if self._version < 0:
                index, docs = KeywordIndex(), set()
                batch: list[tuple[str, str, str]] = []
                for item in self.store.current_chunks():
                    batch.append(item)
                    docs.add(item[1])
                    if len(batch) >= LOAD_BATCH:
                        index.add_many(batch)
                        batch = []
                index.add_many(batch)
                self._index, changed = index, len(docs)
            else:
                changes = self.store.changes_since(self._version)
                for doc_id, _ in changes:
                    self._index.remove_doc(doc_id)
                    self._index.add_many(self.store.doc_chunks(doc_id))
                changed = len(changes)
            self._version = version
            return changed

    def retrieve(self, query: str, k: int | None = None) -> list[Source]:
        """The `k` best chunks for `query`, best first, each scored by cosine similarity."""
        k = k or self.settings.top_k
        self.refresh()
        query = search_query(query)
        if not len(self._index) or not query.strip():
            return []
        qvec = self.query_vector(query)
        n = min(self.settings.candidates, len(self._index))
        found = self.store.collection.query(query_embeddings=[qvec.tolist()], n_results=n,
                                            include=["distances"])
        similarity = {cid: 1.0 - float(d) for cid, d in zip(found["ids"][0], found["distances"][0], strict=True)
                      if cid in self._index}
        keyword = dict(self._index.search(query, n))
        missing = [cid for cid in keyword if cid not in similarity]
        if missing:  # keyword-only hits: score them with their stored vectors
            got = self.store.collection.get(ids=missing, include=["embeddings"])
            for cid, vec in zip(got["ids"], got["embeddings"], strict=True):
                similarity[cid] = float(np.dot(qvec, np.asarray(vec, dtype=np.float32)))
        top = fuse_scores(similarity, keyword, self.settings.keyword_weight)[:k]
        chunks = self.chunks(top)
        return [self._source(chunks[cid], similarity[cid]) for cid in top if cid in chunks]

    def chunks(self, chunk_ids: Sequence[str]) -> dict[str, Chunk]:
        """The chunks with these ids, from the cache or the store."""
        with self._chunks_lock:
            have = {cid: self._chunks[cid] for cid in chunk_ids if cid in self._chunks}
        found = {**have, **self.store.chunks_by_id([cid for cid in chunk_ids if cid not in have])}
        with self._chunks_lock:
            for cid, chunk in found.items():
                self._chunks[cid] = chunk
                self._chunks.move_to_end(cid)
            while len(self._chunks) > CHUNKS_KEPT:
                self._chunks.popitem(last=False)
        return found

    def _source(self, chunk: Chunk, score: float) -> Source:
        return Source(doc_id=chunk.doc_id, title=chunk.title, section=chunk.section, source=chunk.source,
                      snippet=snippet(chunk), score=round(score, 4), page=chunk.page, chunk_id=chunk.chunk_id)

    def idf(self, term: str) -> float:
        """The keyword index's inverse document frequency of a (stemmed) term, as of the last retrieve."""
        return self._index.idf(term)

    def known(self, term: str) -> bool:
        """Whether any indexed chunk holds a (stemmed) term, as of the last retrieve."""
        return self._index.df(term) > 0

    def mentions(self, doc_id: str, term: str) -> bool:
        """Whether a document names a (stemmed) term in any of its chunks, as of the last retrieve."""
        return self._index.doc_has(doc_id, term)

    def chunk_text(self, chunk_id: str) -> str:
        chunk = self.chunks([chunk_id]).get(chunk_id)
        return chunk.text if chunk else ""
