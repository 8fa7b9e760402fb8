"""What customers asked and where the bot failed, for a period: volume per day and the shares answered,
declined, rated down and handed off; the first-token wait per day; the *gaps* (declined and rated-down
questions grouped by topic over their embeddings, largest first, with the documents retrieval came closest
to); the most- and never-cited documents; and a summary per conversation for the browser.

`build` reads the recorded conversations (chatbot/conversations.py), ratings (chatbot/feedback.py) and
hand-offs (chatbot/handoffs.py) from the database; `cluster` is the pure grouping step. Question embeddings
are kept in `question_vectors`, so a page build embeds only questions it has not seen."""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError

from chatbot import db

# Answers that are not the bot's own: a curated answer (the support team's), and the reply to "can I talk to
# someone?" (chatbot/service.py). They are counted as answered and as hand-off requests, not as declines.
CURATED_MODEL = "curated answer"
PERSON_MODEL = "support team"
EXAMPLES = 5


@dataclass(frozen=True)
class Asked:
    """One customer question and the (first) answer it got."""

    conversation_id: str
    at: datetime
    question: str
    answer: str
    arm: str
    model: str
    declined: bool
    sources: tuple[dict, ...]
    ttft_s: float | None
    rated_down: bool = False
    comment: str = ""

    @property
    def outcome(self) -> str:
        """answered | declined | curated | person (asked for a person)."""
        if self.model == PERSON_MODEL:
            return "person"
        if self.model == CURATED_MODEL:
            return "curated"
        return "declined" if self.declined else "answered"


@dataclass(frozen=True)
class Day:
    day: str
    questions: int
    answered: int
    declined: int
    rated_down: int
    handed_off: int  # conversations whose hand-off was created that day
    ttft_p50_s: float | None


@dataclass(frozen=True)
class Gap:
    """A topic the bot could not answer: its most central question, how often it was asked, where retrieval
    came closest, and whether a curated answer (or a hand-off topic) now covers it."""

    representative: str
    count: int
    share: float  # of all questions of the period
    declined: int
    rated_down: int
    closest: tuple[dict, ...]  # {doc_id, title, count}
    examples: tuple[str, ...]
    questions: tuple[str, ...]  # every distinct question of the topic
    resolved_by: str = ""  # the curated question that now answers it


@dataclass(frozen=True)
class DocUse:
    doc_id: str
    title: str
    citations: int


@dataclass(frozen=True)
class ConversationSummary:
    id: str
    started: datetime
    questions: int
    first_question: str
    declined: int
    rated_down: int
    handed_off: bool
    arms: tuple[str, ...]
    comments: tuple[str, ...]
    text: str = field(default="", repr=False)  # every question and answer, lower-cased, for the text search


@dataclass(frozen=True)
class Insights:
    days: int
    since: datetime
    questions: int
    conversations: int
    totals: dict[str, int]  # answered, declined, rated_down, handed_off, curated, person
    daily: tuple[Day, ...]
    gaps: tuple[Gap, ...]
    most_cited: tuple[DocUse, ...]
    never_cited: tuple[DocUse, ...]
    summaries: tuple[ConversationSummary, ...]
    build_s: float = 0.0

    def to_dict(self, conversations: bool = False) -> dict:
        out = {"days": self.days, "since": self.since.isoformat(timespec="seconds"), "questions": self.questions,
               "conversations": self.conversations, "totals": self.totals,
               "shares": {k: round(v / self.questions, 4) if self.questions else 0.0 for k, v in self.totals.items()},
               "daily": [asdict(d) for d in self.daily],
               "gaps": [{k: v for k, v in asdict(g).items() if k != "questions"} | {"resolved": bool(g.resolved_by)}
                        for g in self.gaps],
               "most_cited": [asdict(d) for d in self.most_cited],
               "never_cited": [asdict(d) for d in self.never_cited],
               "build_s": round(self.build_s, 3)}
        if conversations:
            out["conversation_list"] = [{k: v.isoformat(timespec="seconds") if isinstance(v, datetime) else v
                                         for k, v in asdict(s).items() if k != "text"} for s in self.summaries]
        return out


Embed = Callable[[Sequence[str]], list[list[float]]]


def build(engine: Engine, embed: Embed, model_name: str, days: int = 30, *, now: datetime | None = None,
          similarity: float = 0.55, curated: Sequence[tuple[str, Sequence[float]]] = (),
          curated_match: float = 0.75) -> Insights:
    """The insights of the last `days` days. `embed` embeds questions not yet kept (under `model_name`);
    `curated` holds (curated question, its vector): a gap whose questions mostly match one at least
    `curated_match` shows as resolved by it."""
    started = time.perf_counter()
    now = now or db.now()
    since = now - timedelta(days=days)
    asked = read_asked(engine, since)
    handoff_days = _handoff_days(engine, since)
    totals = Counter(a.outcome for a in asked)
    totals["rated_down"] = sum(a.rated_down for a in asked)
    totals["handed_off"] = len(handoff_days)
    totals = {k: int(totals.get(k, 0)) for k in ("answered", "declined", "rated_down", "handed_off", "curated",
                                                  "person")}
    failed = [a for a in asked if a.outcome == "declined" or a.rated_down]
    gaps = find_gaps(engine, failed, len(asked), embed, model_name, similarity, curated, curated_match)
    cited, never = document_use(engine, asked)
    summaries = summarise(asked, set(handoff_days))
    return Insights(days=days, since=since, questions=len(asked), conversations=len(summaries), totals=totals,
                    daily=tuple(daily(asked, handoff_days)), gaps=tuple(gaps), most_cited=tuple(cited[:10]),
                    never_cited=tuple(never), summaries=tuple(summaries), build_s=time.perf_counter() - started)


def read_asked(engine: Engine, since: datetime) -> list[Asked]:
    """Every question asked since `since` with its first answer, and whether that answer was rated down."""
    m = db.messages.c
    query = (select(m.conversation_id, m.role, m.text, m.mode, m.model, m.refused, m.sources, m.created_at,
                    m.ttft_s).where(m.created_at >= since).order_by(m.conversation_id, m.id))
    f = db.feedback.c
    with engine.connect() as conn:
        rows = conn.execute(query).all()
        ratings = conn.execute(select(f.question, f.answer, f.rating, f.comment)
                               .where(f.created_at >= since)).all()
    down: dict[tuple[str, str], str] = {}
    for r in ratings:
        if r.rating < 0:
            down[(r.question, r.answer)] = r.comment or down.get((r.question, r.answer), "")
    comments = {(r.question, r.answer): r.comment for r in ratings if r.comment}
    out: list[Asked] = []
    question = None
    for r in rows:
        if r.role == "user":
            question = r
        elif question is not None and question.conversation_id == r.conversation_id:
            key = (question.text, r.text)
            out.append(Asked(conversation_id=r.conversation_id, at=_aware(question.created_at), question=question.text,
                             answer=r.text, arm=r.mode or "", model=r.model or "", declined=bool(r.refused),
                             sources=tuple(json.loads(r.sources)) if r.sources and r.sources != "[]" else (),
                             ttft_s=r.ttft_s, rated_down=key in down, comment=down.get(key) or comments.get(key, "")))
            question = None  # side by side: the first arm's answer stands for the turn
    return out


def daily(asked: Sequence[Asked], handoff_days: dict[str, str]) -> list[Day]:
    """One row per day with questions (oldest first)."""
    by_day: dict[str, list[Asked]] = defaultdict(list)
    for a in asked:
        by_day[a.at.date().isoformat()].append(a)
    handed = Counter(handoff_days.values())
    out = []
    for day in sorted(set(by_day) | set(handed)):
        items = by_day.get(day, [])
        waits = [a.ttft_s for a in items if a.ttft_s is not None and a.outcome in ("answered", "declined")]
        out.append(Day(day=day, questions=len(items),
                       answered=sum(a.outcome in ("answered", "curated") for a in items),
                       declined=sum(a.outcome == "declined" for a in items),
                       rated_down=sum(a.rated_down for a in items), handed_off=handed.get(day, 0),
                       ttft_p50_s=round(float(np.median(waits)), 3) if waits else None))
    return out


def cluster(vectors: np.ndarray, weights: Sequence[int] | None = None, similarity: float = 0.55) -> list[list[int]]:
    """Group unit vectors by topic: repeatedly take the item with the most (weighted) ungrouped neighbours at
    least `similarity` similar, and group it with them. Returns groups of row indices, the first item of
    each its centre, largest (by weight) first.

    >>> v = np.array([[1, 0], [0.96, 0.28], [0, 1], [0.28, 0.96], [0.6, 0.8]], dtype=np.float32)
    >>> cluster(v, similarity=0.9)
    [[3, 2, 4], [0, 1]]
    """
    n = len(vectors)
    if n == 0:
        return []
    w = np.asarray(weights if weights is not None else [1] * n, dtype=np.float32)
    near = (vectors @ vectors.T) >= similarity
    counts = near.astype(np.float32) @ w
    free = np.ones(n, dtype=bool)
    groups: list[list[int]] = []
    while free.any():
        centre = int(np.argmax(np.where(free, counts, -1.0)))
        members = np.flatnonzero(near[centre] & free)
        members = np.concatenate([[centre], members[members != centre]])
        free[members] = False
        counts -= near[:, members].astype(np.float32) @ w[members]
        groups.append([int(i) for i in members])
    groups.sort(key=lambda g: -float(w[g].sum()))
    return groups


def find_gaps(engine: Engine, failed: Sequence[Asked], total: int, embed: Embed, model_name: str,
              similarity: float, curated: Sequence[tuple[str, Sequence[float]]], curated_match: float) -> list[Gap]:
    """Declined and rated-down questions grouped by topic, largest first."""
    if not failed:
        return []
    by_text: dict[str, list[Asked]] = defaultdict(list)
    for a in failed:
        by_text[" ".join(a.question.split())].append(a)
    texts = list(by_text)
    vectors = _unit(kept_vectors(engine, texts, embed, model_name))
    weights = [len(by_text[t]) for t in texts]
    curated_vectors = _unit(np.asarray([v for _, v in curated], dtype=np.float32)) if curated else None
    gaps = []
    for group in cluster(vectors, weights, similarity):
        items = [a for i in group for a in by_text[texts[i]]]
        closest = Counter()
        titles: dict[str, str] = {}
        for a in items:
            for s in a.sources:
                closest[s.get("doc_id", "")] += 1
                titles.setdefault(s.get("doc_id", ""), s.get("title", ""))
        resolved_by = ""
        if curated_vectors is not None:
            scores = vectors[group] @ curated_vectors.T  # member x curated question
            best = scores.argmax(axis=1)
            hits = Counter(int(b) for b, s in zip(best, scores.max(axis=1), strict=True) if s >= curated_match)
            if scores[0].max() >= curated_match:  # its central question is answered
                resolved_by = curated[int(best[0])][0]
            elif hits and hits.most_common(1)[0][1] * 2 >= len(group):  # most of its questions are
                resolved_by = curated[hits.most_common(1)[0][0]][0]
        gaps.append(Gap(representative=texts[group[0]], count=len(items), share=len(items) / total if total else 0.0,
                        declined=sum(a.outcome == "declined" for a in items),
                        rated_down=sum(a.rated_down for a in items),
                        closest=tuple({"doc_id": d, "title": titles[d], "count": c}
                                      for d, c in closest.most_common(3) if d),
                        examples=tuple(texts[i] for i in group[:EXAMPLES]),
                        questions=tuple(texts[i] for i in group), resolved_by=resolved_by))
    return gaps


def document_use(engine: Engine, asked: Sequence[Asked]) -> tuple[list[DocUse], list[DocUse]]:
    """(documents cited by answers, most first; documents of the KB no answer cited)."""
    counts: Counter[str] = Counter()
    for a in asked:
        if a.outcome in ("answered", "curated"):
            counts.update({s.get("doc_id", "") for s in a.sources})
    with engine.connect() as conn:
        docs = dict(conn.execute(select(db.documents.c.doc_id, db.documents.c.title)).all())
    cited = [DocUse(d, docs.get(d, d), n) for d, n in counts.most_common() if d]
    never = [DocUse(d, t, 0) for d, t in sorted(docs.items(), key=lambda x: x[1]) if counts[d] == 0]
    return cited, never


def summarise(asked: Sequence[Asked], handed_off: set[str]) -> list[ConversationSummary]:
    """One summary per conversation, newest first."""
    by_conv: dict[str, list[Asked]] = defaultdict(list)
    for a in asked:
        by_conv[a.conversation_id].append(a)
    out = [ConversationSummary(
        id=cid, started=items[0].at, questions=len(items), first_question=items[0].question,
        declined=sum(a.outcome == "declined" for a in items), rated_down=sum(a.rated_down for a in items),
        handed_off=cid in handed_off, arms=tuple(sorted({a.arm for a in items if a.arm})),
        comments=tuple(a.comment for a in items if a.comment),
        text=" ".join(f"{a.question} {a.answer}" for a in items).lower()) for cid, items in by_conv.items()]
    out.sort(key=lambda s: s.started, reverse=True)
    return out


def filter_conversations(summaries: Sequence[ConversationSummary], *, declined: bool = False,
                         rated_down: bool = False, handed_off: bool = False, arm: str = "",
                         text: str = "") -> list[ConversationSummary]:
    """The conversation browser's filters; each one given narrows the list.

    >>> s = ConversationSummary("c1", datetime(2026, 1, 1), 1, "Refund?", 1, 0, False, ("rag",), (), "refund? no")
    >>> [len(filter_conversations([s], declined=True)), len(filter_conversations([s], rated_down=True)),
    ...  len(filter_conversations([s], text="REFUND")), len(filter_conversations([s], arm="hybrid"))]
    [1, 0, 1, 0]
    """
    needle = text.strip().lower()
    return [s for s in summaries
            if (not declined or s.declined) and (not rated_down or s.rated_down) and (not handed_off or s.handed_off)
            and (not arm or arm in s.arms) and (not needle or needle in s.text)]


def kept_vectors(engine: Engine, texts: Sequence[str], embed: Embed, model_name: str) -> np.ndarray:
    """The embeddings of `texts`: those kept in the database, the others embedded now and kept."""
    keys = [_key(model_name, t) for t in texts]
    found: dict[str, bytes] = {}
    with engine.connect() as conn:
        for start in range(0, len(keys), 500):
            part = keys[start : start + 500]
            found.update(conn.execute(select(db.question_vectors.c.key, db.question_vectors.c.vector)
                                      .where(db.question_vectors.c.key.in_(part))).all())
    missing = [i for i, k in enumerate(keys) if k not in found]
    if missing:
        fresh = np.asarray(embed([texts[i] for i in missing]), dtype=np.float32)
        rows = {keys[i]: v.tobytes() for i, v in zip(missing, fresh, strict=True)}
        with engine.begin() as conn:
            conn.execute(insert(db.question_vectors), [{"key": k, "vector": v} for k, v in rows.items()])
        found.update(rows)
    return np.stack([np.frombuffer(found[k], dtype=np.float32) for k in keys])


def keep_vector(engine: Engine, text: str, vector: Sequence[float], model_name: str) -> None:
    """Keep a question's embedding computed elsewhere (the retriever's), so the page need not embed it."""
    key = _key(model_name, " ".join(text.split()))
    try:
        with engine.begin() as conn:
            if conn.execute(select(db.question_vectors.c.key).where(db.question_vectors.c.key == key)).first() is None:
                conn.execute(insert(db.question_vectors).values(key=key,
                                                                vector=np.asarray(vector, np.float32).tobytes()))
    except IntegrityError:  # kept by another answer meanwhile
        pass


def _key(model_name: str, text: str) -> str:
    return hashlib.sha256(f"{model_name}\0{text}".encode()).hexdigest()


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1.0, norms)


def _handoff_days(engine: Engine, since: datetime) -> dict[str, str]:
    """conversation id -> the day of its first hand-off, for hand-offs since `since`."""
    h = db.handoffs.c
    with engine.connect() as conn:
        rows = conn.execute(select(h.conversation_id, h.created_at).where(h.created_at >= since)
                            .order_by(h.id)).all()
    out: dict[str, str] = {}
    for r in rows:
        out.setdefault(r.conversation_id, _aware(r.created_at).date().isoformat())
    return out


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)
