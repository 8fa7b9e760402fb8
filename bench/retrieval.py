"""Query latency of hybrid retrieval (HybridRetriever.retrieve: query embedding + Chroma vector search +
BM25 + fusion) at 1k, 10k and 100k chunks in the embedded store.

Building a 100k-chunk index with real embeddings would take hours on a 2-core CPU, so the *document*
vectors come from a fast deterministic hashed bag-of-words embedder (a real `Embeddings`
implementation); the *queries* are embedded by the real model, so every timed query pays the real
embedding cost, the real HNSW search over N vectors and the real BM25 scan over N chunks.

    .venv/bin/python bench/retrieval.py                          # 1k, 10k, 100k chunks, 100 queries each
    .venv/bin/python bench/retrieval.py --sizes 1000,10000 --queries 50 --json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chatbot.config import Settings  # noqa: E402
from chatbot.db import open_database  # noqa: E402
from chatbot.evaluation.metrics import percentile  # noqa: E402
from chatbot.retrieval import HybridRetriever  # noqa: E402
from chatbot.store import KnowledgeStore  # noqa: E402
from chatbot.types import Chunk, Document, Section  # noqa: E402

DIM = 384  # all-MiniLM-L6-v2's width, so HNSW works on vectors of the real size
CHUNKS_PER_DOC = 50
WORDS_PER_CHUNK = 90


class HashedIndexEmbeddings(Embeddings):
    """Documents: a signed hashed bag of words (deterministic, ~10k texts/s). Queries: the real model
    when one is given, so query latency is measured honestly."""

    def __init__(self, query_model: Embeddings | None = None, dim: int = DIM):
        self.query_model = query_model
        self.dim = dim
        self._slots: dict[str, tuple[int, float]] = {}

    def _slot(self, word: str) -> tuple[int, float]:
        if word not in self._slots:
            h = zlib.crc32(word.encode())
            self._slots[word] = (h % self.dim, 1.0 if h & 1 << 20 else -1.0)
        return self._slots[word]

    def _hashed(self, text: str) -> list[float]:
        vec = np.zeros(self.dim, dtype=np.float32)
        for word in text.lower().split():
            index, sign = self._slot(word)
            vec[index] += sign
        norm = float(np.linalg.norm(vec)) or 1.0
        return (vec / norm).tolist()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._hashed(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.query_model.embed_query(text) if self.query_model else self._hashed(text)


def vocabulary(size: int, rng: random.Random) -> list[str]:
    """Pronounceable pseudo-words, so BM25 sees a realistic spread of term frequencies."""
    syllables = [c + v for c in "bcdfghklmnprstvz" for v in "aeiou"]
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))))
    return sorted(words)


def synthetic_docs(n_chunks: int, start: int, rng: random.Random, words: list[str]) -> list[tuple[Document,
                                                                                               list[Chunk]]]:
    """Documents of CHUNKS_PER_DOC chunks with Zipf-distributed words, numbered from `start`."""
    weights = [1 / (rank + 1) for rank in range(len(words))]
    out = []
    for d in range(start // CHUNKS_PER_DOC, (start + n_chunks) // CHUNKS_PER_DOC):
        doc_id = f"synthetic-{d:05d}"
        texts = [" ".join(rng.choices(words, weights, k=WORDS_PER_CHUNK)) for _ in range(CHUNKS_PER_DOC)]
        sha = hashlib.sha256("\n".join(texts).encode()).hexdigest()
        doc = Document(doc_id, f"Synthetic {d}", f"{doc_id}.md", "markdown",
                       tuple(Section("", t) for t in texts), sha)
        chunks = [Chunk(f"{doc_id}:{sha[:8]}:{i}", doc_id, i, t, doc.title, "", doc.source)
                  for i, t in enumerate(texts)]
        out.append((doc, chunks))
    return out


def add_chunks(store: KnowledgeStore, chunks: list[Chunk], batch: int = 2000) -> None:
    """Write chunks straight into the Chroma collection in large batches, with the metadata the store
    writes. Skipping the per-document manifest makes a 100k index buildable in minutes; the manifest
    plays no part in query latency."""
    for start in range(0, len(chunks), batch):
        part = chunks[start : start + batch]
        store.collection.add(
            ids=[c.chunk_id for c in part],
            embeddings=store.embeddings.embed_documents([c.text for c in part]),
            documents=[c.text for c in part],
            metadatas=[{"doc_id": c.doc_id, "index": c.index, "title": c.title, "section": c.section,
                        "source": c.source, "sha256": c.chunk_id.split(":")[1]} for c in part],
        )


def paged_chunks(store: KnowledgeStore, page: int = 5000) -> list[Chunk]:
    """Every chunk, read `page` at a time: embedded Chroma's one-shot get() of every row overflows
    SQLite's bound-variable limit somewhere past 30k chunks."""
    out: list[Chunk] = []
    while True:
        data = store.collection.get(include=["documents", "metadatas"], limit=page, offset=len(out))
        if not data["ids"]:
            return out
        out += [Chunk(cid, str(m["doc_id"]), int(m.get("index", 0)), text, str(m.get("title", "")),
                      str(m.get("section", "")), str(m.get("source", "")))
                for cid, text, m in zip(data["ids"], data["documents"], data["metadatas"], strict=True)]


def timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    """Wall time of each of `repeat` calls, in milliseconds."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return times


def measure(store: KnowledgeStore, settings: Settings, queries: list[str]) -> dict[str, Any]:
    """Build the keyword index, then time whole retrievals and their parts, one query at a time."""
    retriever = HybridRetriever(store, settings)
    note = ""
    started = time.perf_counter()
    try:
        retriever.retrieve("warm up")  # builds the BM25 index over every chunk
    except Exception as exc:  # noqa: BLE001 - reported in the output, then measured with a workaround
        note = f"KnowledgeStore.chunks() failed ({type(exc).__name__}: {exc}); measured with a paged read"
        store.chunks = lambda: paged_chunks(store)  # type: ignore[method-assign]
        started = time.perf_counter()
        retriever.retrieve("warm up")
    bm25_build = time.perf_counter() - started
    full = [timed(lambda q=q: retriever.retrieve(q, 10), 1)[0] for q in queries]
    embed = [timed(lambda q=q: store.embeddings.embed_query(q), 1)[0] for q in queries]
    vectors = [store.embeddings.embed_query(q) for q in queries[:20]]
    n = min(settings.candidates, store.chunk_count())
    vector = [timed(lambda v=v: store.collection.query(query_embeddings=[v], n_results=n,
                                                       include=["distances"]), 1)[0] for v in vectors]
    keyword = [timed(lambda q=q: retriever._bm25.search(q, n), 1)[0] for q in queries[:20]]

    def p(values: list[float], q: float) -> float:
        return round(percentile(values, q) or 0.0, 1)

    return {"chunks": store.chunk_count(), "note": note, "bm25_build_s": round(bm25_build, 2),
            "retrieve_p50_ms": p(full, 50), "retrieve_p95_ms": p(full, 95),
            "embed_query_p50_ms": p(embed, 50), "vector_p50_ms": p(vector, 50), "vector_p95_ms": p(vector, 95),
            "bm25_p50_ms": p(keyword, 50), "bm25_p95_ms": p(keyword, 95)}


def run(sizes: list[int], n_queries: int, seed: int, fake_queries: bool) -> list[dict[str, Any]]:
    """Grow one store through `sizes` and measure at each size."""
    from chatbot.models import make_embeddings

    rng = random.Random(seed)
    words = vocabulary(5000, rng)
    query_model = None if fake_queries else make_embeddings(Settings())
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-retrieval-") as tmp:
        settings = Settings(home=Path(tmp), collection="bench", kb_dir=Path(tmp) / "none")
        store = KnowledgeStore(settings, HashedIndexEmbeddings(query_model), open_database(settings.database))
        have, build_s = 0, 0.0
        texts: list[str] = []
        for size in sorted(sizes):
            started = time.perf_counter()
            new = [c for _, chunks in synthetic_docs(size - have, have, rng, words) for c in chunks]
            add_chunks(store, new)
            texts.extend(c.text for c in new)
            build_s += time.perf_counter() - started
            have = size
            sample = rng.sample(texts, min(200, size))
            queries = [" ".join(rng.sample(text.split(), 6)) for text in sample][:n_queries]
            row = {"size": size, "index_build_s": round(build_s, 1), **measure(store, settings, queries)}
            rows.append(row)
            print(f"measured: {json.dumps(row)}", file=sys.stderr, flush=True)
    return rows


COLUMNS = ("size", "index_build_s", "bm25_build_s", "retrieve_p50_ms", "retrieve_p95_ms",
           "embed_query_p50_ms", "vector_p50_ms", "vector_p95_ms", "bm25_p50_ms", "bm25_p95_ms")


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["  ".join(f"{c:>18}" for c in COLUMNS)]
    lines += ["  ".join(f"{row[c]!s:>18}" for c in COLUMNS) for row in rows]
    lines += [f"{row['size']}: {row['note']}" for row in rows if row["note"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="comma-separated chunk counts")
    parser.add_argument("--queries", type=int, default=100, help="timed queries per size")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fake-queries", action="store_true", help="hash queries too (no model load)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    rows = run(sizes, args.queries, args.seed, args.fake_queries)
    note = ("document vectors: hashed bag-of-words (fake, for build speed); query vectors: "
            + ("hashed (fake)" if args.fake_queries else "real all-MiniLM-L6-v2") + "; times are wall-clock ms")
    if args.json:
        print(json.dumps({"note": note, "rows": rows}, indent=2))
    else:
        print(note)
        print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
