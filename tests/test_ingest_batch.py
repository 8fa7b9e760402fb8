"""Folder ingestion embeds the chunks of many documents per call, and stores exactly what ingesting the
files one at a time stores (real Chroma, the real embedding model)."""

from __future__ import annotations

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings

from chatbot.ingest.pipeline import expand_paths
from chatbot.service import make_service
from tests.conftest import make_settings


class CountingEmbeddings(Embeddings):
    """The real embedding model, recording how many texts each `embed_documents` call got."""

    def __init__(self, model: Embeddings):
        self.model = model
        self.calls: list[int] = []

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.calls.append(len(texts))
        return self.model.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.model.embed_query(text)


def article(topic: str, sections: int) -> bytes:
    """A help article with one chunk per section."""
    body = "\n\n".join(f"## {topic} step {i}\n\n" + f"The {topic} step {i} takes {i + 2} minutes. " * 8
                       for i in range(sections))
    return f"# {topic}\n\n{body}\n".encode()


def one_at_a_time(service, paths) -> list:
    """What folder ingestion did before batching: `ingest_bytes` file by file."""
    return [service.ingest_bytes(p.name, p.read_bytes(), source=str(p)) for p in expand_paths(paths)]


def stored(service):
    """(manifest rows, [(chunk id, text, metadata)], vectors), sorted by chunk id."""
    docs = [(d.doc_id, d.title, d.source, d.doc_type, d.sha256, d.chunks) for d in service.documents()]
    got = service.store.collection.get(include=["documents", "metadatas", "embeddings"])
    rows = sorted(zip(got["ids"], got["documents"], got["metadatas"], got["embeddings"], strict=True))
    return docs, [row[:3] for row in rows], np.array([row[3] for row in rows])


def assert_same_store(batched, single):
    docs, chunks, vectors = stored(batched)
    assert (docs, chunks) == stored(single)[:2]
    assert np.allclose(vectors, stored(single)[2], atol=1e-4)


def test_folder_is_embedded_in_few_calls_and_stored_as_one_at_a_time(tmp_path, embeddings):
    folder = tmp_path / "kb"
    folder.mkdir()
    topics = ["Billing", "Router", "Shipping", "Passwords", "Invoices", "Backups"]
    for topic in topics:
        (folder / f"{topic.lower()}.md").write_bytes(article(topic, 3))
    (folder / "router2.md").write_bytes(article("Router", 3))  # same content as router.md
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 broken")
    counting = CountingEmbeddings(embeddings)
    batched = make_service(make_settings(tmp_path / "batched"), embeddings=counting)
    single = make_service(make_settings(tmp_path / "single"), embeddings=embeddings)

    results = list(batched.ingest_paths([folder]))
    assert results == one_at_a_time(single, [folder])
    assert [r.status for r in results].count("indexed") == len(topics)
    assert counting.calls == [len(topics) * 3]  # one call for all six documents
    same = [r for r in results if "same content" in r.reason]
    assert [(r.path, r.status, r.doc_id) for r in same] == [(str(folder / "router2.md"), "refused", "router")]
    assert str(folder / "router.md") in same[0].reason
    assert_same_store(batched, single)
    assert "invoices" in [s.doc_id for s in batched.retriever.retrieve("How long does the Invoices step 2 take?")]

    counting.calls.clear()
    again = list(batched.ingest_paths([folder]))
    assert counting.calls == []  # unchanged documents are not embedded
    assert [r.status for r in again] == [r.status.replace("indexed", "unchanged") for r in results]
    assert [r.reason for r in again] == [r.reason for r in results]


@pytest.mark.parametrize("batch_chunks", [3, 256])
def test_checks_see_earlier_documents_of_the_same_batch(tmp_path, embeddings, batch_chunks):
    old = tmp_path / "old" / "a.md"
    old.parent.mkdir()
    old.write_bytes(article("Alpha", 1))
    folder = tmp_path / "kb"
    (folder / "sub").mkdir(parents=True)
    files = {"a.md": article("Alpha two", 1),  # updates a
             "b.md": article("Beta", 1),
             "sub/a.md": article("Alpha three", 1),  # updates a again, maybe in the same batch
             "sub/b.md": article("Beta", 1),  # b as it is already: unchanged
             "sub/c.md": article("Alpha", 1),  # a's replaced content: free again
             "sub/d.md": article("Beta", 1),  # b's content: refused
             "sub/e.md": article("Epsilon", 1)}
    for name, data in files.items():
        (folder / name).write_bytes(data)
    counting = CountingEmbeddings(embeddings)
    batched = make_service(make_settings(tmp_path / "batched", ingest_batch_chunks=batch_chunks),
                           embeddings=counting)
    single = make_service(make_settings(tmp_path / "single"), embeddings=embeddings)
    list(batched.ingest_paths([old]))
    one_at_a_time(single, [old])
    counting.calls.clear()

    results = list(batched.ingest_paths([folder]))
    assert results == one_at_a_time(single, [folder])
    assert [r.status for r in results] == ["updated", "indexed", "updated", "unchanged", "indexed", "refused",
                                           "indexed"]
    assert "same content" in results[5].reason and results[5].doc_id == "b"
    assert sum(counting.calls) == 5 and len(counting.calls) == (2 if batch_chunks == 3 else 1)
    assert_same_store(batched, single)
