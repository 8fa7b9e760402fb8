"""Query latency of hybrid retrieval (HybridRetriever.retrieve: query embedding + Chroma vector search +
BM25 + fusion) at 1k, 10k, 100k and 300k chunks in the embedded store, and how fast a knowledge-base change
(add, replace, delete one 50-chunk document) becomes searchable on a second replica's retriever.

Building a 100k-chunk index with real embeddings would take hours on a 2-core CPU, so the *document*
vectors come from a fast deterministic hashed bag-of-words embedder (a real `Embeddings`
implementation); the *queries* are embedded by the real model, so every timed query pays the real
embedding cost, the real HNSW search over N vectors and the real keyword search over N chunks.

    .venv/bin/python bench/retrieval.py                          # 1k, 10k, 100k, 300k chunks, 100 queries each
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
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.machine import cpu_name  # noqa: E402
from chatbot.config import Settings  # noqa: E402
from chatbot.db import open_database  # noqa: E402
from chatbot.evaluation.metrics import percentile  # noqa: E402
from chatbot.rag.retrieval import HybridRetriever  # noqa: E402
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


def add_chunks(store: KnowledgeStore, docs: list[tuple[Document, list[Chunk]]], batch: int = 2000) -> None:
    """Write chunks straight into the Chroma collection in large batches, with the metadata the store
    writes, and the documents' manifest rows in one transaction: a 100k index builds in minutes instead of
    the hour that one `upsert` per document would take. What is stored is what `upsert` stores."""
    from sqlalchemy import insert

    from chatbot import db

    chunks = [c for _, cs in docs for c in cs]
    sha_of = {d.doc_id: d.sha256 for d, _ in docs}
    for start in range(0, len(chunks), batch):
        part = chunks[start : start + batch]
        store.collection.add(
            ids=[c.chunk_id for c in part],
            embeddings=store.embeddings.embed_documents([c.text for c in part]),
            documents=[c.text for c in part],
            metadatas=[{"doc_id": c.doc_id, "index": c.index, "title": c.title, "section": c.section,
                        "source": c.source, "sha256": sha_of[c.doc_id]} for c in part],
        )
    with store.engine.begin() as conn:
        conn.execute(insert(db.documents), [dict(doc_id=d.doc_id, title=d.title, source=d.source,
                                                 doc_type=d.doc_type, sha256=d.sha256, chunks=len(cs),
                                                 indexed_at=db.now()) for d, cs in docs])
        conn.execute(insert(db.kb_changes), [dict(doc_id=d.doc_id, action="added", at=db.now()) for d, _ in docs])


def timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    """Wall time of each of `repeat` calls, in milliseconds."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return times


def measure(store: KnowledgeStore, settings: Settings, queries: list[str], rng: random.Random,
            words: list[str]) -> dict[str, Any]:
    """Load the keyword index, time whole retrievals and their parts one query at a time, then time one
    document's add, replace and delete until a second replica's next search shows it."""
    retriever = HybridRetriever(store, settings)
    started = time.perf_counter()
    retriever.refresh()  # the first search of a new replica loads the keyword index from the store
    keyword_load = time.perf_counter() - started
    retriever.retrieve("warm up")
    full = [timed(lambda q=q: retriever.retrieve(q, 10), 1)[0] for q in queries]
    embed = [timed(lambda q=q: store.embeddings.embed_query(q), 1)[0] for q in queries]
    vectors = [store.embeddings.embed_query(q) for q in queries[:20]]
    n = min(settings.candidates, store.chunk_count())
    vector = [timed(lambda v=v: store.collection.query(query_embeddings=[v], n_results=n,
                                                       include=["distances"]), 1)[0] for v in vectors]
    keyword = [timed(lambda q=q: retriever._index.search(q, n), 1)[0] for q in queries]

    def p(values: list[float], q: float) -> float:
        return round(percentile(values, q) or 0.0, 1)

    return {"chunks": store.chunk_count(), "keyword_load_s": round(keyword_load, 2),
            "keyword_index_mb": round(retriever._index.nbytes() / 2**20, 1),
            "retrieve_p50_ms": p(full, 50), "retrieve_p95_ms": p(full, 95),
            "embed_query_p50_ms": p(embed, 50), "vector_p50_ms": p(vector, 50), "vector_p95_ms": p(vector, 95),
            "keyword_p50_ms": p(keyword, 50), "keyword_p95_ms": p(keyword, 95),
            **change_visibility(store, settings, retriever, rng, words)}


def change_visibility(store: KnowledgeStore, settings: Settings, replica: HybridRetriever, rng: random.Random,
                      words: list[str]) -> dict[str, Any]:
    """One replica writes (KnowledgeStore.upsert / delete: manifest, change log, Chroma); the other's next
    retrieve applies the change and must show it. Milliseconds from the write's start to that search's end."""
    (doc, chunks), = synthetic_docs(CHUNKS_PER_DOC, 10**8, rng, words)
    marker = "zqxwv" + doc.doc_id[-3:]
    chunks = [replace(c, text=f"{marker} {c.text}") for c in chunks]
    doc = replace(doc, sha256=hashlib.sha256(marker.encode() + doc.sha256.encode()).hexdigest())
    out: dict[str, Any] = {}
    for step in ("add", "replace", "delete"):
        if step == "replace":
            doc = replace(doc, sha256=hashlib.sha256(doc.sha256.encode()).hexdigest())
        chunks = [replace(c, chunk_id=f"{doc.doc_id}:{doc.sha256[:8]}:{c.index}") for c in chunks]
        started = time.perf_counter()
        if step == "delete":
            store.delete(doc.doc_id)
        else:
            store.upsert(doc, chunks)
        written = time.perf_counter()
        found = replica.retrieve(f"{marker} {chunks[0].text.split()[1]}", 10)
        done = time.perf_counter()
        hits = [s for s in found if s.doc_id == doc.doc_id]
        out[f"{step}_ok"] = not hits if step == "delete" else bool(hits) and hits[0].chunk_id.startswith(
            f"{doc.doc_id}:{doc.sha256[:8]}")
        out[f"{step}_write_ms"] = round((written - started) * 1000, 1)
        out[f"{step}_visible_ms"] = round((done - started) * 1000, 1)
    return out


def run(sizes: list[int], n_queries: int, seed: int, fake_queries: bool) -> list[dict[str, Any]]:
    """Grow one store through `sizes` and measure at each size."""
    from chatbot.llm.factory import make_embeddings

    rng = random.Random(seed)
    words = vocabulary(5000, rng)
    query_model = None if fake_queries else make_embeddings(Settings())
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-retrieval-") as tmp:
        settings = Settings(home=Path(tmp), collection="bench", kb_dir=Path(tmp) / "none")
        engine = open_database(settings.effective_database_url)
        store = KnowledgeStore(settings, HashedIndexEmbeddings(query_model), engine)
        have, build_s = 0, 0.0
        texts: list[str] = []
        for size in sorted(sizes):
            started = time.perf_counter()
            docs = synthetic_docs(size - have, have, rng, words)
            add_chunks(store, docs)
            texts.extend(c.text for _, chunks in docs for c in chunks)
            build_s += time.perf_counter() - started
            have = size
            sample = rng.sample(texts, min(200, size))
            queries = [" ".join(rng.sample(text.split(), 6)) for text in sample][:n_queries]
            row = {"size": size, "index_build_s": round(build_s, 1),
                   **measure(store, settings, queries, rng, words)}
            rows.append(row)
            print(f"measured: {json.dumps(row)}", file=sys.stderr, flush=True)
    return rows


COLUMNS = ("size", "index_build_s", "keyword_load_s", "keyword_index_mb", "retrieve_p50_ms", "retrieve_p95_ms",
           "embed_query_p50_ms", "vector_p50_ms", "vector_p95_ms", "keyword_p50_ms", "keyword_p95_ms",
           "add_visible_ms", "replace_visible_ms", "delete_visible_ms")


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["  ".join(f"{c:>18}" for c in COLUMNS)]
    lines += ["  ".join(f"{row[c]!s:>18}" for c in COLUMNS) for row in rows]
    lines += [f"{row['size']}: a change was not visible on the replica" for row in rows
              if not (row["add_ok"] and row["replace_ok"] and row["delete_ok"])]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000,300000", help="comma-separated chunk counts")
    parser.add_argument("--queries", type=int, default=100, help="timed queries per size")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fake-queries", action="store_true", help="hash queries too (no model load)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    rows = run(sizes, args.queries, args.seed, args.fake_queries)
    note = (f"CPU: {cpu_name()}; document vectors: hashed bag-of-words (fake, for build speed); query vectors: "
            + ("hashed (fake)" if args.fake_queries else "real all-MiniLM-L6-v2") + "; times are wall-clock ms")
    if args.json:
        print(json.dumps({"note": note, "rows": rows}, indent=2))
    else:
        print(note)
        print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
