"""Ingest, replace and delete against real Chroma and SQLite in a temporary home."""

from __future__ import annotations

from tests import files

DOC_V1 = b"# Returns\n\n## Window\n\nYou can return items within 30 days of delivery.\n"
DOC_V2 = b"# Returns\n\n## Window\n\nYou can return items within 45 days of delivery.\n\n## Fees\n\nFree.\n"
OTHER = b"# Shipping\n\n## Speed\n\nStandard shipping takes 3 to 5 business days.\n"


def chunk_texts(service) -> list[str]:
    return sorted(c.text for c in service.store.chunks())


def test_ingest_unchanged_updated_delete(store_service):
    s = store_service
    first = s.ingest_bytes("returns.md", DOC_V1)
    assert (first.status, first.doc_id) == ("indexed", "returns")
    assert s.ingest_bytes("returns.md", DOC_V1).status == "unchanged"
    version = s.store.version()
    updated = s.ingest_bytes("returns.md", DOC_V2)
    assert updated.status == "updated"
    texts = chunk_texts(s)
    assert any("45 days" in t for t in texts) and not any("30 days" in t for t in texts)
    assert s.store.version() == version + 1
    assert s.ingest_bytes("shipping.md", OTHER).status == "indexed"
    listed = {d.doc_id: d for d in s.documents()}
    assert set(listed) == {"returns", "shipping"}
    assert listed["returns"].chunks == updated.chunks == 2
    assert s.delete_document("returns")
    assert [d.doc_id for d in s.documents()] == ["shipping"]
    assert all("Returns" not in t for t in chunk_texts(s))
    assert not s.delete_document("returns")
    assert s.store.changes_since(version) == [("returns", "deleted"), ("shipping", "added")]


def test_refused_files_leave_the_store_unchanged(store_service):
    s = store_service
    s.ingest_bytes("returns.md", DOC_V1)
    before = (s.documents(), chunk_texts(s), s.store.version())
    bad = [("returns.md", b""), ("returns.pdf", b"%PDF-1.4 garbage"), ("x.docx", b"nope"),
           ("scan.pdf", files.image_only_pdf()), ("copy-of-returns.md", DOC_V1),
           ("big.md", b"# Big\n\n" + b"word " * (1024 * 1024 // 5 + 10))]
    s.settings.max_upload_mb = 1.0
    for name, data in bad:
        result = s.ingest_bytes(name, data)
        assert result.status == "refused", name
        assert result.reason and result.path == name
    assert "same content" in s.ingest_bytes("copy-of-returns.md", DOC_V1).reason
    assert "over the 1 MB limit" in s.ingest_bytes("big.md", bad[-1][1]).reason
    assert (s.documents(), chunk_texts(s), s.store.version()) == before


def test_repair_removes_orphans_of_an_interrupted_update(store_service):
    from chatbot.ingest import load, split

    s = store_service
    s.ingest_bytes("returns.md", DOC_V1)
    # Simulate a crash after step 1 of an update: new chunks added, manifest not yet switched.
    new = load("returns.md", DOC_V2)
    s.store.vectors.add_texts([c.text for c in split(new)], ids=[c.chunk_id for c in split(new)],
                              metadatas=[{"doc_id": "returns", "sha256": new.sha256, "index": 0}] * len(split(new)))
    assert any("45 days" in t for t in chunk_texts(s))
    assert s.store.repair() == len(split(new))
    assert not any("45 days" in t for t in chunk_texts(s))
    assert s.ingest_bytes("returns.md", DOC_V2).status == "updated"


def test_folder_ingest_reports_each_file(store_service, tmp_path):
    folder = tmp_path / "kb"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.md").write_bytes(OTHER)
    (folder / "sub" / "b.md").write_bytes(DOC_V1)
    (folder / "sub" / "broken.pdf").write_bytes(b"%PDF-1.4 broken")
    (folder / "README.md").write_text("# notes")
    results = {r.path.split("/")[-1]: r for r in store_service.ingest_paths([folder])}
    assert set(results) == {"a.md", "b.md", "broken.pdf"}
    assert results["broken.pdf"].status == "refused"
    assert "broken.pdf" in results["broken.pdf"].line() and "corrupt" in results["broken.pdf"].line()
    assert {d.doc_id for d in store_service.documents()} == {"a", "b"}


def test_large_collections_are_read_in_pages(store_service, monkeypatch):
    import chatbot.store

    s = store_service
    s.ingest_bytes("returns.md", DOC_V2)
    s.ingest_bytes("shipping.md", OTHER)
    everything = chunk_texts(s)
    monkeypatch.setattr(chatbot.store, "PAGE", 2)  # 3 chunks: pages of 2 and 1
    assert len(everything) == 3 and chunk_texts(s) == everything
    assert s.store.repair() == 0 and len(s.documents()) == 2
