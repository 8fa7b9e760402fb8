"""The ingestion pipeline: files in, indexed chunks out. Each file is checked (size, type, content already
indexed under another name), loaded and split; new and changed documents are embedded in batches and
written to the store together. Refusals never touch what is already indexed.

`Ingestor` owns the write lock: ingestion, deletion and repair of the store run one at a time."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from langchain_core.embeddings import Embeddings

from chatbot.config import Settings
from chatbot.ingest.detect import SUPPORTED
from chatbot.ingest.loaders import IngestError, load, safe_name
from chatbot.ingest.split import split
from chatbot.store import KnowledgeStore
from chatbot.types import Chunk, DocInfo, Document, IngestResult, IngestStatus

INGESTIBLE = set(SUPPORTED.split())
# Skipped when walking a folder: the folder's own notes, and historical tickets (fine-tuning data, not KB).
SKIP_NAMES = {"readme.md", "tickets.jsonl"}

Entry = IngestResult | tuple[str, bytes, str | None]
"""A refusal already made, or (file name, content, source) to index."""


@dataclass(frozen=True)
class Prepared:
    """A file that passed the checks: its document and chunks, ready to be embedded and written."""

    label: str
    doc: Document
    chunks: list[Chunk]

    def result(self, status: IngestStatus) -> IngestResult:
        return IngestResult(self.label, status, doc_id=self.doc.doc_id, title=self.doc.title,
                            chunks=len(self.chunks))


class Ingestor:
    def __init__(self, settings: Settings, store: KnowledgeStore, embeddings: Embeddings):
        self.settings = settings
        self.store = store
        self.embeddings = embeddings
        self.lock = threading.Lock()

    # --- what the service calls ----------------------------------------------------------------
    def ingest_bytes(self, name: str, data: bytes, source: str | None = None) -> IngestResult:
        """Index one file's content; an upload (no `source`) is kept in HOME/uploads under a safe name."""
        item = self.prepare(name, data, source)
        if isinstance(item, IngestResult):
            return item
        with self.lock:
            status = self.store.upsert(item.doc, item.chunks)
            if source is None and status != "unchanged":
                uploads = self.settings.home / "uploads"
                uploads.mkdir(exist_ok=True)
                (uploads / safe_name(name)).write_bytes(data)
        return item.result(status)

    def ingest_paths(self, paths: Iterable[str | Path]) -> Iterator[IngestResult]:
        """Index files and folders (recursively); one result per file, refused files included.
        Starts by removing what an interrupted earlier run left behind."""
        self.repair()
        yield from self.ingest(self.read_files(paths))

    def ingest_contents(self, items: Iterable[tuple[str, bytes]]) -> Iterator[IngestResult]:
        """Index many (file name, content) pairs, embedded in batches like a folder; one result per item,
        in order. Nothing is kept in uploads."""
        self.repair()
        yield from self.ingest((name, data, name) for name, data in items)

    def ensure_sample_kb(self) -> list[IngestResult]:
        """Index the sample knowledge base when the store holds no documents (first start)."""
        self.repair()
        if self.store.list() or not self.settings.kb_dir.is_dir():
            return []
        return list(self.ingest(self.read_files([self.settings.kb_dir])))  # repaired just above

    def delete(self, doc_id: str) -> bool:
        with self.lock:
            return self.store.delete(doc_id)

    def repair(self) -> None:
        with self.lock:
            self.store.repair()

    # --- the steps -----------------------------------------------------------------------------
    def read_files(self, paths: Iterable[str | Path]) -> Iterator[Entry]:
        """Each file of `paths` (folders walked) as an entry; one too big is refused unread."""
        for path in expand_paths(paths):
            if not path.is_file():
                yield IngestResult(str(path), "refused", reason="no such file")
            elif refusal := self._too_big(str(path), path.stat().st_size):
                yield refusal
            else:
                yield path.name, path.read_bytes(), str(path)

    def prepare(self, name: str, data: bytes, source: str | None = None,
                pending: Mapping[str, Document] | None = None) -> IngestResult | Prepared:
        """Load and split one file, or say why it is refused or unchanged. `pending` (doc_id -> document)
        holds documents checked but not yet written: the checks count them as written."""
        pending = pending or {}
        name = safe_name(name)
        label = source or name
        if refusal := self._too_big(label, len(data)):
            return refusal
        try:
            doc = load(name, data)
        except IngestError as exc:
            return IngestResult(label, "refused", reason=str(exc))
        if source:
            doc = replace(doc, source=source)
        twin = self._doc_with_content(doc.sha256, pending)
        if twin and twin.doc_id != doc.doc_id:
            return IngestResult(label, "refused", doc_id=twin.doc_id,
                                reason=f"same content as the indexed document {twin.source!r} ({twin.doc_id})")
        prepared = Prepared(label, doc, split(doc, self.settings.chunk_size, self.settings.chunk_overlap))
        current = pending.get(doc.doc_id) or self.store.get(doc.doc_id)
        return prepared.result("unchanged") if current and current.sha256 == doc.sha256 else prepared

    def ingest(self, entries: Iterable[Entry]) -> Iterator[IngestResult]:
        """One result per entry, in order. New and changed documents are gathered until they hold
        `ingest_batch_chunks` chunks and embedded together; their results come once they are written."""
        batch: list[IngestResult | Prepared] = []
        pending: dict[str, Document] = {}  # doc_id -> its latest version in the batch
        chunks = 0
        for entry in entries:
            item = entry if isinstance(entry, IngestResult) else self.prepare(*entry, pending)
            batch.append(item)
            if isinstance(item, Prepared):
                pending[item.doc.doc_id] = item.doc
                chunks += len(item.chunks)
            if not pending or chunks >= self.settings.ingest_batch_chunks:
                yield from self.write(batch)
                batch, pending, chunks = [], {}, 0
        yield from self.write(batch)

    def write(self, batch: list[IngestResult | Prepared]) -> list[IngestResult]:
        """Embed the chunks of the batch's prepared documents in one call, then store them together
        (`upsert_many` takes each document once: a document repeated in the batch starts a new write)."""
        prepared = [item for item in batch if isinstance(item, Prepared)]
        vectors = self.embeddings.embed_documents([c.text for p in prepared for c in p.chunks]) if prepared else []
        writes: list[list[tuple]] = [[]]
        start = 0
        for item in prepared:
            if any(doc.doc_id == item.doc.doc_id for doc, _, _ in writes[-1]):
                writes.append([])
            writes[-1].append((item.doc, item.chunks, vectors[start : start + len(item.chunks)]))
            start += len(item.chunks)
        statuses: list[str] = []
        with self.lock:
            for write in writes:
                statuses += self.store.upsert_many(write) if write else []
        done = iter(statuses)
        return [item.result(next(done)) if isinstance(item, Prepared) else item for item in batch]

    def _too_big(self, label: str, size: int) -> IngestResult | None:
        """The refusal of a file over CHATBOT_MAX_UPLOAD_MB, or None."""
        limit_mb = self.settings.max_upload_mb
        if size <= limit_mb * 1024 * 1024:
            return None
        return IngestResult(label, "refused", reason=f"the file is {size / 1048576:.1f} MB, over the {limit_mb:g} MB "
                                                     "limit")

    def _doc_with_content(self, sha256: str, pending: Mapping[str, Document]) -> Document | DocInfo | None:
        """The document whose current version has this content, pending documents counted as written."""
        for doc in pending.values():
            if doc.sha256 == sha256:
                return doc
        indexed = self.store.find_by_sha(sha256)
        return indexed if indexed and indexed.doc_id not in pending else None


def expand_paths(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Files as given; folders walked recursively for supported extensions (hidden files skipped)."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                rel = child.relative_to(path)
                if child.is_file() and not any(p.startswith(".") for p in rel.parts) \
                        and child.suffix.lower() in INGESTIBLE and child.name.lower() not in SKIP_NAMES:
                    yield child
        else:
            yield path
