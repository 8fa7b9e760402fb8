"""Curated answers: the support team writes the right answer to a question once, and customers asking it in
other words get that answer, cited (Dify's "annotation reply").

A curated answer is two things: a document of the knowledge base (kind `curated`, a Markdown page whose
title is the question and whose text is the answer: listed, versioned and deletable like any document, and
retrieved like one), and a row that `Matcher` reads: a question at least CHATBOT_CURATED_MATCH similar to a
curated question gets the curated answer with that document as its source, without the model. A curated
*topic* (action "handoff") instead sends customers asking it to a person."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np
from sqlalchemy import Engine, delete, insert, select, update

from chatbot import db
from chatbot.ingest.pipeline import Ingestor, Prepared
from chatbot.types import Source

KIND = "curated"
ACTIONS = ("answer", "handoff")
MAX_ANSWER_CHARS = 4000


@dataclass(frozen=True)
class Curated:
    id: int
    question: str
    answer: str
    action: str  # answer | handoff
    doc_id: str | None
    created_at: datetime

    def to_dict(self) -> dict:
        return {"id": self.id, "question": self.question, "answer": self.answer, "action": self.action,
                "doc_id": self.doc_id, "created_at": self.created_at.isoformat(timespec="seconds")}

    def source(self, score: float, title: str = "") -> Source:
        """The curated document as an answer's source: its text is the answer."""
        return Source(doc_id=self.doc_id or "", title=title or self.question, section="",
                      source=source_name(self.id), snippet=self.answer, score=score)


def source_name(curated_id: int) -> str:
    """Where a curated document says it came from.

    >>> source_name(7)
    'curated/7'
    """
    return f"{KIND}/{curated_id}"


def markdown(question: str, answer: str) -> bytes:
    """The curated document: the question as its title, the answer as its text.

    >>> markdown("Can I pay by cheque?", "No, we accept cards and PayPal.").decode()
    '# Can I pay by cheque?\\n\\nNo, we accept cards and PayPal.\\n'
    """
    return f"# {' '.join(question.split())}\n\n{answer.strip()}\n".encode()


def add(engine: Engine, ingestor: Ingestor, question: str, answer: str = "", action: str = "answer") -> Curated:
    """Store a curated answer (indexed at once as a `curated` document) or a topic that always hands off."""
    question = " ".join(question.split())
    answer = answer.strip()[:MAX_ANSWER_CHARS]
    if action not in ACTIONS:
        raise ValueError(f"action is one of {ACTIONS}")
    if not question:
        raise ValueError("The question is empty.")
    if action == "answer" and not answer:
        raise ValueError("The answer is empty.")
    with engine.begin() as conn:
        curated_id = int(conn.execute(insert(db.curated).values(
            question=question, answer=answer, action=action, doc_id=None, created_at=db.now())
        ).inserted_primary_key[0])
    if action == "answer":
        item = ingestor.prepare(f"{KIND}-{curated_id}.md", markdown(question, answer), source_name(curated_id))
        if not isinstance(item, Prepared):
            with engine.begin() as conn:
                conn.execute(delete(db.curated).where(db.curated.c.id == curated_id))
            raise ValueError(f"The answer could not be indexed: {item.reason or item.status}")
        doc = replace(item.doc, doc_type=KIND)
        with ingestor.lock:
            ingestor.store.upsert(doc, item.chunks)
        with engine.begin() as conn:
            conn.execute(update(db.curated).where(db.curated.c.id == curated_id).values(doc_id=doc.doc_id))
    found = get(engine, curated_id)
    assert found is not None
    return found


def get(engine: Engine, curated_id: int) -> Curated | None:
    with engine.connect() as conn:
        row = conn.execute(select(db.curated).where(db.curated.c.id == curated_id)).first()
    return _curated(row) if row else None


def listing(engine: Engine) -> list[Curated]:
    """The curated answers in force, newest first: an answer whose document was deleted (e.g. on the Documents
    page) is no longer in force and not listed."""
    query = (select(db.curated).outerjoin(db.documents, db.documents.c.doc_id == db.curated.c.doc_id)
             .where((db.curated.c.action == "handoff") | db.documents.c.doc_id.is_not(None))
             .order_by(db.curated.c.id.desc()))
    with engine.connect() as conn:
        return [_curated(r) for r in conn.execute(query).all()]


def remove(engine: Engine, ingestor: Ingestor, curated_id: int) -> bool:
    """Delete a curated answer and its document; False when there is none."""
    found = get(engine, curated_id)
    if found is None:
        return False
    if found.doc_id:
        ingestor.delete(found.doc_id)
    with engine.begin() as conn:
        conn.execute(delete(db.curated).where(db.curated.c.id == curated_id))
    return True


class Matcher:
    """The curated question closest to a customer's, above a threshold. The curated questions' vectors are
    kept and re-read only when the set in force changes (one small query per question)."""

    def __init__(self, engine: Engine, embed: Callable[[Sequence[str]], list[list[float]]]):
        self.engine = engine
        self.embed = embed
        self._lock = threading.Lock()
        self._key: tuple = ()
        self._items: list[Curated] = []
        self._vectors = np.zeros((0, 1), dtype=np.float32)

    def items(self) -> tuple[list[Curated], np.ndarray]:
        items = listing(self.engine)
        key = tuple((c.id, c.doc_id) for c in items)
        with self._lock:
            if key != self._key:
                vectors = np.asarray(self.embed([c.question for c in items]), dtype=np.float32) if items \
                    else np.zeros((0, 1), dtype=np.float32)
                self._items, self._vectors, self._key = items, normalise(vectors), key
            return self._items, self._vectors

    def match(self, question_vector: Sequence[float], threshold: float) -> tuple[Curated, float] | None:
        items, vectors = self.items()
        if not items:
            return None
        scores = vectors @ normalise(np.asarray(question_vector, dtype=np.float32)[None, :])[0]
        best = int(np.argmax(scores))
        return (items[best], float(scores[best])) if scores[best] >= threshold else None


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1.0, norms)


def _curated(row) -> Curated:
    return Curated(id=row.id, question=row.question, answer=row.answer, action=row.action, doc_id=row.doc_id,
                   created_at=row.created_at)
