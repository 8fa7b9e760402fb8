"""The knowledge store: Chroma holds the chunks and their vectors; the database manifest says which
version of each document is current.

Write order makes every step safe to kill: (1) add the new version's chunks (their ids carry the
content hash), (2) commit the manifest row, (3) delete the old version's chunks. Chunks that don't
match the manifest are orphans of an interrupted run, and `repair()` removes them."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from urllib.parse import urlparse

from langchain_chroma import Chroma
from langchain_core.embeddings import Embeddings
from sqlalchemy import Engine, delete, func, insert, select, update

from chatbot import db
from chatbot.config import Settings
from chatbot.types import Chunk, DocInfo, Document

log = logging.getLogger(__name__)
ADD_BATCH = 1024  # chunks per Chroma write
PAGE = 5000


def open_chroma_client(settings: Settings):
    """Embedded persistent Chroma in HOME, or a Chroma server when CHATBOT_CHROMA_URL is set."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_url:
        url = urlparse(settings.chroma_url)
        return chromadb.HttpClient(
            host=url.hostname or "localhost",
            port=url.port or (443 if url.scheme == "https" else 8000),
            ssl=url.scheme == "https",
            settings=chroma_settings,
        )
    settings.chroma_dir.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(settings.chroma_dir), settings=chroma_settings)


class KnowledgeStore:
    def __init__(self, settings: Settings, embeddings: Embeddings, engine: Engine, client=None):
        self.engine = engine
        self.embeddings = embeddings
        client = client or open_chroma_client(settings)
        # LangChain's view of the collection (for LangChain retrievers); the store itself reads and writes
        # through chromadb's public client API.
        self.vectors = Chroma(
            collection_name=settings.collection,
            embedding_function=embeddings,
            client=client,
            collection_configuration={"hnsw": {"space": "cosine"}},
        )
        self.collection = client.get_collection(settings.collection, embedding_function=None)

    # --- reads ---------------------------------------------------------------------------------
    def get(self, doc_id: str) -> DocInfo | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(db.documents).where(db.documents.c.doc_id == doc_id)).first()
        return _doc_info(row) if row else None

    def find_by_sha(self, sha256: str) -> DocInfo | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(db.documents).where(db.documents.c.sha256 == sha256)).first()
        return _doc_info(row) if row else None

    def list(self) -> list[DocInfo]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(db.documents).order_by(db.documents.c.title)).all()
        return [_doc_info(r) for r in rows]

    def version(self) -> int:
        """The knowledge-base version: the number of changes ever made (0 for a new store)."""
        with self.engine.connect() as conn:
            return conn.execute(select(func.coalesce(func.max(db.kb_changes.c.version), 0))).scalar_one()

    def changes_since(self, version: int) -> list[tuple[str, str]]:
        """(doc_id, last action) for each document changed after `version`."""
        return db.changes_since(self.engine, version)

    def chunks(self) -> list[Chunk]:
        """Every stored chunk (for fine-tuning data)."""
        return [_chunk(cid, text, meta) for cid, text, meta in self._all(["documents", "metadatas"])]

    def current_chunks(self) -> Iterator[tuple[str, str, str]]:
        """(chunk id, doc id, text) of every chunk of every current document version, read in pages (for
        the keyword index: a replica keeps none of these texts)."""
        current = self._current_shas()
        for cid, text, meta in self._all(["documents", "metadatas"]):
            doc_id = str(meta.get("doc_id"))
            if current.get(doc_id) == meta.get("sha256"):
                yield cid, doc_id, text

    def doc_chunks(self, doc_id: str) -> list[tuple[str, str, str]]:
        """(chunk id, doc id, text) of the current version of one document ([] once it is deleted)."""
        info = self.get(doc_id)
        if info is None:
            return []
        got = self.collection.get(where={"doc_id": doc_id}, include=["documents", "metadatas"])
        return [(cid, doc_id, text) for cid, text, meta in zip(got["ids"], got["documents"], got["metadatas"],
                                                                strict=True)
                if meta.get("sha256") == info.sha256]

    def chunks_by_id(self, chunk_ids: Sequence[str]) -> dict[str, Chunk]:
        """The stored chunks among `chunk_ids`, by id."""
        if not chunk_ids:
            return {}
        got = self.collection.get(ids=list(chunk_ids), include=["documents", "metadatas"])
        return {cid: _chunk(cid, text, meta)
                for cid, text, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True)}

    def _current_shas(self) -> dict[str, str]:
        with self.engine.connect() as conn:
            return dict(conn.execute(select(db.documents.c.doc_id, db.documents.c.sha256)).all())

    def _all(self, include: list[str]):
        """(id, document, metadata) of every stored chunk, read in pages: one read of a large collection
        exceeds SQLite's limit on query variables (seen at 100k chunks)."""
        offset = 0
        while True:
            page = self.collection.get(include=include, limit=PAGE, offset=offset)
            ids = page["ids"]
            docs = page.get("documents") or [None] * len(ids)
            metas = page.get("metadatas") or [None] * len(ids)
            yield from zip(ids, docs, metas, strict=True)
            if len(ids) < PAGE:
                return
            offset += PAGE

    def chunk_count(self) -> int:
        return self.collection.count()

    # --- writes --------------------------------------------------------------------------------
    def upsert(self, doc: Document, chunks: list[Chunk], vectors: Sequence[Sequence[float]] | None = None) -> str:
        """Make `chunks` the current version of `doc`. Returns 'indexed', 'updated' or 'unchanged'.
        `vectors`, one per chunk, are stored as given; without them the chunks are embedded here."""
        old = self.get(doc.doc_id)
        if old and old.sha256 == doc.sha256:
            return "unchanged"
        if vectors is None:
            vectors = self.embeddings.embed_documents([c.text for c in chunks]) if chunks else []
        return self.upsert_many([(doc, chunks, vectors)])[0]

    def upsert_many(self, items: Sequence[tuple[Document, list[Chunk], Sequence[Sequence[float]]]]) -> list[str]:
        """`upsert` for several documents with their vectors: every new chunk goes to Chroma in as few
        calls as possible, then each document's manifest row is committed and its old chunks deleted, in
        the order the module docstring gives (a run killed half-way leaves only orphans)."""
        if len({doc.doc_id for doc, _, _ in items}) != len(items):
            raise ValueError("upsert_many takes each document once")
        olds, statuses, rows = [], [], []
        for doc, chunks, vectors in items:
            if len(vectors) != len(chunks):
                raise ValueError(f"{len(vectors)} vectors for {len(chunks)} chunks")
            old = self.get(doc.doc_id)
            olds.append(old)
            statuses.append("unchanged" if old and old.sha256 == doc.sha256 else "")
            if not statuses[-1]:
                rows += [(c, doc.sha256, v) for c, v in zip(chunks, vectors, strict=True)]
        for start in range(0, len(rows), ADD_BATCH):
            batch = rows[start : start + ADD_BATCH]
            self.collection.upsert(ids=[c.chunk_id for c, _, _ in batch], documents=[c.text for c, _, _ in batch],
                                   metadatas=[_metadata(c, sha) for c, sha, _ in batch],
                                   embeddings=[list(v) for _, _, v in batch])
        for position, (doc, chunks, _) in enumerate(items):
            if not statuses[position]:
                statuses[position] = self._commit_version(doc, chunks, olds[position])
        return statuses

    def _commit_version(self, doc: Document, chunks: list[Chunk], old: DocInfo | None) -> str:
        """Switch the manifest to the new version (its chunks are stored), then drop the old chunks."""
        row = dict(title=doc.title, source=doc.source, doc_type=doc.doc_type, sha256=doc.sha256,
                   chunks=len(chunks), indexed_at=db.now())
        with self.engine.begin() as conn:
            if old:
                conn.execute(update(db.documents).where(db.documents.c.doc_id == doc.doc_id).values(**row))
            else:
                conn.execute(insert(db.documents).values(doc_id=doc.doc_id, **row))
            conn.execute(insert(db.kb_changes).values(doc_id=doc.doc_id, action="updated" if old else "added",
                                                      at=db.now()))
        self._delete_chunks(doc.doc_id, keep={c.chunk_id for c in chunks})
        return "updated" if old else "indexed"

    def delete(self, doc_id: str) -> bool:
        with self.engine.begin() as conn:
            gone = conn.execute(delete(db.documents).where(db.documents.c.doc_id == doc_id)).rowcount
            if gone:
                conn.execute(insert(db.kb_changes).values(doc_id=doc_id, action="deleted", at=db.now()))
        self._delete_chunks(doc_id, keep=set())
        return bool(gone)

    def repair(self) -> int:
        """Remove chunks that belong to no current document version; drop manifest rows whose chunks are
        incomplete (so that the next ingest redoes them). Returns how many chunks were removed."""
        current = {d.doc_id: d for d in self.list()}
        orphans, counts = [], dict.fromkeys(current, 0)
        for cid, _, meta in self._all(["metadatas"]):
            info = current.get(str(meta.get("doc_id")))
            if info is None or meta.get("sha256") != info.sha256:
                orphans.append(cid)
            else:
                counts[info.doc_id] += 1
        for start in range(0, len(orphans), 1000):
            self.collection.delete(ids=orphans[start : start + 1000])
        for doc_id, count in counts.items():
            if count != current[doc_id].chunks:
                log.warning("Document %s has %d of %d chunks; it will be re-indexed", doc_id, count,
                            current[doc_id].chunks)
                self.delete(doc_id)
        return len(orphans)

    def _delete_chunks(self, doc_id: str, keep: Iterable[str]) -> None:
        keep = set(keep)
        ids = self.collection.get(where={"doc_id": doc_id}, include=[])["ids"]
        stale = [i for i in ids if i not in keep]
        if stale:
            self.collection.delete(ids=stale)


def _metadata(chunk: Chunk, sha256: str) -> dict:
    meta = {"doc_id": chunk.doc_id, "index": chunk.index, "title": chunk.title, "section": chunk.section,
            "source": chunk.source, "sha256": sha256}
    if chunk.page is not None:
        meta["page"] = chunk.page
    return meta


def _chunk(chunk_id: str, text: str, meta: dict) -> Chunk:
    return Chunk(chunk_id=chunk_id, doc_id=str(meta["doc_id"]), index=int(meta.get("index", 0)), text=text,
                 title=str(meta.get("title", "")), section=str(meta.get("section", "")),
                 source=str(meta.get("source", "")), page=meta.get("page"))


def _doc_info(row) -> DocInfo:
    return DocInfo(doc_id=row.doc_id, title=row.title, source=row.source, doc_type=row.doc_type,
                   chunks=row.chunks, indexed_at=row.indexed_at.isoformat(timespec="seconds"),
                   sha256=row.sha256)
