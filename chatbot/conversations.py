"""Conversations in the database: one row per chat session and its messages in order (a question, then
its answer, or one answer per arm in side-by-side mode). The chat page keeps the live conversation in
its session; this is the record that outlives the session and the replica that served it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, insert, select

from chatbot import db
from chatbot.types import Answer, Turn


@dataclass(frozen=True)
class Message:
    role: str  # user | assistant
    text: str
    created_at: datetime
    mode: str | None = None  # the arm that answered; None for the user's message
    model: str | None = None
    refused: bool | None = None
    sources: tuple[dict, ...] = ()  # {doc_id, title, section, source, score}


def new_id() -> str:
    """A fresh conversation id (32 hex characters)."""
    return uuid.uuid4().hex


def check_id(conversation_id: str) -> str:
    """Conversation ids are 1-64 printable ASCII characters without spaces (a session's uuid).

    >>> check_id("3f2a9c")
    '3f2a9c'
    """
    if not (0 < len(conversation_id) <= 64 and conversation_id.isascii() and conversation_id.isprintable()
            and " " not in conversation_id):
        raise ValueError("a conversation id is 1-64 ASCII characters without spaces")
    return conversation_id


def record_turn(engine: Engine, conversation_id: str, question: str, answers: Sequence[Answer]) -> None:
    """Store the user's question and its answers in one transaction; the conversation's row is created
    with its first turn."""
    check_id(conversation_id)
    at = db.now()
    with engine.begin() as conn:
        exists = conn.execute(select(db.conversations.c.id).where(db.conversations.c.id == conversation_id)).first()
        if exists is None:
            conn.execute(insert(db.conversations).values(id=conversation_id, created_at=at))
        rows = [dict(conversation_id=conversation_id, role="user", text=question, mode=None, model=None,
                     refused=None, sources="[]", created_at=at, ttft_s=None)]
        rows += [dict(conversation_id=conversation_id, role="assistant", text=a.text, mode=a.mode, model=a.model,
                      refused=a.refused, sources=_sources_json(a), created_at=at, ttft_s=round(a.ttft_s, 4))
                 for a in answers]
        conn.execute(insert(db.messages), rows)


def messages(engine: Engine, conversation_id: str) -> list[Message]:
    """The conversation's messages in the order they were written (empty for an unknown id)."""
    with engine.connect() as conn:
        rows = conn.execute(select(db.messages).where(db.messages.c.conversation_id == conversation_id)
                            .order_by(db.messages.c.id)).all()
    return [Message(role=r.role, text=r.text, created_at=r.created_at, mode=r.mode, model=r.model,
                    refused=r.refused, sources=tuple(json.loads(r.sources))) for r in rows]


def turns(recorded: Sequence[Message]) -> list[Turn]:
    """A conversation's messages as the turns a follow-up is read against: each question and the first
    answer given to it (side by side turns record one answer per arm)."""
    out: list[Turn] = []
    for message in recorded:
        if message.role == "user":
            out.append(Turn("user", message.text))
        elif out and out[-1].role == "user":
            out.append(Turn("assistant", message.text))
    return out


def _sources_json(answer: Answer) -> str:
    return json.dumps([{**s.ref(), "score": round(s.score, 4)} for s in answer.sources], ensure_ascii=False)
