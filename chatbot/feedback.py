"""Feedback on answers: record ratings, and export them as training data.

`export_rows` is pure: ratings in, (SFT rows, preference rows) out. SFT rows are thumbs-up answers in
the fine-tuning chat format; preference rows pair, for one question, a preferred or thumbs-up answer
(chosen) with a thumbs-down or not-preferred answer (rejected)."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, insert, select, update

from chatbot import db
from chatbot.rag import prompts
from chatbot.types import Answer


@dataclass(frozen=True)
class Rating:
    id: int
    question: str
    answer: str
    arm: str
    model: str
    rating: int
    comment: str = ""
    preferred: bool = False
    comparison_id: str | None = None


def record(engine: Engine, answer: Answer, rating: int, comment: str = "",
           comparison_id: str | None = None) -> int:
    """Store a rating (+1 / -1 / 0) of an answer; returns its id (to update it later)."""
    if rating not in (-1, 0, 1):
        raise ValueError("rating must be -1, 0 or +1")
    sources = json.dumps([s.ref() for s in answer.sources])
    with engine.begin() as conn:
        result = conn.execute(insert(db.feedback).values(
            created_at=db.now(), comparison_id=comparison_id, question=answer.question, answer=answer.text,
            arm=answer.mode, model=answer.model, sources=sources, rating=rating, comment=comment[:4000],
            preferred=False))
        return int(result.inserted_primary_key[0])


def mark_preferred(engine: Engine, comparison_id: str, feedback_id: int) -> None:
    """In a side-by-side comparison, mark one answer as the better one (and no other)."""
    with engine.begin() as conn:
        conn.execute(update(db.feedback).where(db.feedback.c.comparison_id == comparison_id)
                     .values(preferred=False))
        conn.execute(update(db.feedback).where(db.feedback.c.id == feedback_id).values(preferred=True))


def ratings(engine: Engine) -> list[Rating]:
    with engine.connect() as conn:
        rows = conn.execute(select(db.feedback).order_by(db.feedback.c.id)).all()
    return [Rating(id=r.id, question=r.question, answer=r.answer, arm=r.arm, model=r.model, rating=r.rating,
                   comment=r.comment or "", preferred=bool(r.preferred), comparison_id=r.comparison_id)
            for r in rows]


def export_rows(items: list[Rating]) -> tuple[list[dict], list[dict]]:
    """(SFT rows, preference rows) from ratings.

    >>> up = Rating(1, "Q?", "good", "rag", "m", 1)
    >>> down = Rating(2, "Q?", "bad", "finetuned", "m", -1)
    >>> sft, pref = export_rows([up, down])
    >>> sft[0]["messages"][-1]["content"], pref[0]["chosen"], pref[0]["rejected"]
    ('good', [{'role': 'assistant', 'content': 'good'}], [{'role': 'assistant', 'content': 'bad'}])
    """
    sft = [{"messages": prompts.training_messages(r.question, r.answer), "arm": r.arm, "model": r.model}
           for r in items if r.rating > 0 or (r.preferred and r.rating >= 0)]
    groups: dict[str, list[Rating]] = defaultdict(list)
    for r in items:
        groups[r.comparison_id or f"q:{r.question.strip().lower()}"].append(r)
    prefs = []
    for group in groups.values():
        good = [r for r in group if r.preferred] or [r for r in group if r.rating > 0]
        bad = [r for r in group if r.rating < 0] or ([r for r in group if not r.preferred]
                                                     if any(r.preferred for r in group) else [])
        for chosen in good:
            for rejected in bad:
                if chosen.id != rejected.id and chosen.answer != rejected.answer:
                    prefs.append({"prompt": prompts.closed_book_messages(chosen.question),
                                  "chosen": _reply(chosen.answer), "rejected": _reply(rejected.answer),
                                  "chosen_arm": chosen.arm, "rejected_arm": rejected.arm})
    return sft, prefs


def _reply(text: str) -> list[dict[str, str]]:
    """An answer as TRL's conversational preference format holds it, like the prompt: a list of messages."""
    return [{"role": "assistant", "content": text}]


def export(engine: Engine, out_dir: Path) -> tuple[Path, Path, int, int]:
    """Write sft.jsonl and preferences.jsonl into out_dir; returns their paths and row counts."""
    sft, prefs = export_rows(ratings(engine))
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = out_dir / "sft.jsonl", out_dir / "preferences.jsonl"
    for path, rows in zip(paths, (sft, prefs), strict=True):
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return paths[0], paths[1], len(sft), len(prefs)
