"""Hybrid search: vector similarity (Chroma) and BM25 keyword scores, fused by weighted reciprocal rank.
Each returned Source carries the cosine similarity of its chunk to the question: that absolute figure,
not the fused rank, is what the refusal threshold reads."""

from __future__ import annotations

import re
import threading

import numpy as np

from chatbot.config import Settings
from chatbot.keyword import BM25
from chatbot.store import KnowledgeStore
from chatbot.types import Chunk, Source

RRF_K = 60
SNIPPET_CHARS = 320


def fuse(rankings: list[tuple[list[str], float]], k: int = RRF_K) -> list[tuple[str, float]]:
    """Weighted reciprocal-rank fusion of several rankings of ids, best first.

    >>> fuse([(["a", "b"], 0.5), (["b", "c"], 0.5)])[0][0]
    'b'
    """
    scores: dict[str, float] = {}
    for ids, weight in rankings:
        for rank, item in enumerate(ids):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank + 1)
    return sorted(scores.items(), key=lambda kv: -kv[1])


def snippet(chunk: Chunk, limit: int = SNIPPET_CHARS) -> str:
    """The start of a chunk's body for the sources panel, without markdown emphasis marks."""
    body = re.sub(r"\*\*|__|`", "", chunk.text.split("\n", 1)[-1]).strip()
    return body if len(body) <= limit else body[:limit].rsplit(" ", 1)[0] + " …"


class HybridRetriever:
    def __init__(self, store: KnowledgeStore, settings: Settings):
        self.store = store
        self.settings = settings
        self._lock = threading.Lock()
        self._version = -1
        self._chunks: list[Chunk] = []
        self._by_id: dict[str, Chunk] = {}
        self._bm25 = BM25([])

    def _refresh(self) -> None:
        """Rebuild the keyword index when the knowledge base changed (also after another replica's edit)."""
        version = self.store.version()
        if version == self._version:
            return
        with self._lock:
            if version == self._version:
                return
            chunks = self.store.chunks()
            self._bm25 = BM25([c.text for c in chunks])
            self._chunks = chunks
            self._by_id = {c.chunk_id: c for c in chunks}
            self._version = version

    def retrieve(self, query: str, k: int | None = None) -> list[Source]:
        """The `k` best chunks for `query`, best first, each scored by cosine similarity."""
        k = k or self.settings.top_k
        self._refresh()
        if not self._chunks or not query.strip():
            return []
        qvec = np.asarray(self.store.embeddings.embed_query(query), dtype=np.float32)
        n = min(self.settings.candidates, len(self._chunks))
        found = self.store.collection.query(query_embeddings=[qvec.tolist()], n_results=n,
                                            include=["distances"])
        vector_ids = found["ids"][0]
        similarity = {cid: 1.0 - float(d) for cid, d in zip(vector_ids, found["distances"][0], strict=True)}
        keyword_ids = [self._chunks[pos].chunk_id for pos, _ in self._bm25.search(query, n)]
        weight = self.settings.keyword_weight
        fused = fuse([(vector_ids, 1.0 - weight), (keyword_ids, weight)])
        top = [cid for cid, _ in fused if cid in self._by_id][:k]
        missing = [cid for cid in top if cid not in similarity]
        if missing:  # keyword-only hits: score them with their stored vectors
            got = self.store.collection.get(ids=missing, include=["embeddings"])
            for cid, vec in zip(got["ids"], got["embeddings"], strict=True):
                similarity[cid] = float(np.dot(qvec, np.asarray(vec, dtype=np.float32)))
        return [self._source(self._by_id[cid], similarity.get(cid, 0.0)) for cid in top]

    def _source(self, chunk: Chunk, score: float) -> Source:
        return Source(doc_id=chunk.doc_id, title=chunk.title, section=chunk.section, source=chunk.source,
                      snippet=snippet(chunk), score=round(score, 4), page=chunk.page, chunk_id=chunk.chunk_id)

    def chunk_text(self, chunk_id: str) -> str:
        chunk = self._by_id.get(chunk_id)
        return chunk.text if chunk else ""
