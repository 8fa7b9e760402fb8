"""Privacy: conversations older than CHATBOT_RETAIN_DAYS are deleted with their hand-offs (and so the
contacts customers left); an admin can delete one conversation; conversations and hand-offs can be exported
as JSONL or CSV (one row per message / per hand-off)."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, delete, func, select

from chatbot import db

FORMATS = ("jsonl", "csv")


def delete_conversations(engine: Engine, ids: list[str]) -> int:
    """Delete conversations with their messages, hand-offs and delivery attempts (explicitly: SQLite does not
    enforce ON DELETE CASCADE unless told to); returns how many conversations were deleted."""
    deleted = 0
    with engine.begin() as conn:
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            handoff_ids = select(db.handoffs.c.id).where(db.handoffs.c.conversation_id.in_(part))
            conn.execute(delete(db.handoff_attempts).where(db.handoff_attempts.c.handoff_id.in_(handoff_ids)))
            conn.execute(delete(db.handoffs).where(db.handoffs.c.conversation_id.in_(part)))
            conn.execute(delete(db.messages).where(db.messages.c.conversation_id.in_(part)))
            deleted += conn.execute(delete(db.conversations).where(db.conversations.c.id.in_(part))).rowcount
    return deleted


def purge(engine: Engine, retain_days: int, now: datetime | None = None) -> int:
    """Delete the conversations whose last message (or start, if none) is older than `retain_days`."""
    cutoff = (now or db.now()) - timedelta(days=retain_days)
    last = (select(db.messages.c.conversation_id, func.max(db.messages.c.created_at).label("last"))
            .group_by(db.messages.c.conversation_id).subquery())
    with engine.connect() as conn:
        rows = conn.execute(select(db.conversations.c.id, db.conversations.c.created_at, last.c.last)
                            .outerjoin(last, last.c.conversation_id == db.conversations.c.id)).all()
    old = [r.id for r in rows if _naive(r.last or r.created_at) < _naive(cutoff)]
    return delete_conversations(engine, old) if old else 0


def export(engine: Engine, out_dir: Path, fmt: str = "jsonl") -> tuple[Path, Path, int, int]:
    """Write conversations.<fmt> (one row per message) and handoffs.<fmt> (one row per hand-off, with the
    contact: the files are personal data); returns their paths and row counts."""
    if fmt not in FORMATS:
        raise ValueError(f"format is one of {FORMATS}")
    m, h = db.messages.c, db.handoffs.c
    with engine.connect() as conn:
        messages = [{"conversation_id": r.conversation_id, "at": r.created_at.isoformat(), "role": r.role,
                     "text": r.text, "mode": r.mode or "", "model": r.model or "",
                     "declined": "" if r.refused is None else bool(r.refused), "ttft_s": r.ttft_s,
                     "sources": json.loads(r.sources)}
                    for r in conn.execute(select(db.messages).order_by(m.conversation_id, m.id)).all()]
        handoffs = [{"id": r.id, "conversation_id": r.conversation_id, "at": r.created_at.isoformat(),
                     "reason": r.reason, "contact": r.contact, "message": r.message, "status": r.status,
                     "delivery": r.delivery, "attempts": r.attempts}
                    for r in conn.execute(select(db.handoffs).order_by(h.id)).all()]
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = out_dir / f"conversations.{fmt}", out_dir / f"handoffs.{fmt}"
    for path, rows in zip(paths, (messages, handoffs), strict=True):
        if fmt == "jsonl":
            path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        else:
            _write_csv(path, rows)
    return paths[0], paths[1], len(messages), len(handoffs)


def _write_csv(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        if not rows:
            return
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: json.dumps(v, ensure_ascii=False) if isinstance(v, list | dict) else v
                             for k, v in row.items()})


def _naive(at: datetime) -> datetime:
    """Compare stored (naive on SQLite, UTC) and aware times alike."""
    return at.astimezone(UTC).replace(tzinfo=None) if at.tzinfo else at
