"""Evaluation datasets: a folder with `corpus.jsonl` (the knowledge base) and `questions.jsonl` (test
questions with gold ids and reference answers), read into frozen dataclasses. See
/work/shared/eval/README.md for the format. Datasets are read from a path given at run time; they are
never copied into the repository."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chatbot.types import Turn


class DatasetError(ValueError):
    """A dataset folder or line that does not follow the format; the message names the file and line."""


@dataclass(frozen=True)
class CorpusRecord:
    """One knowledge-base document of the dataset."""

    id: str
    title: str
    text: str

    def markdown(self) -> str:
        """The document as the Markdown file the harness ingests: the title as heading, then the text."""
        return f"# {self.title}\n\n{self.text}" if self.title else self.text


@dataclass(frozen=True)
class Question:
    """One test question with its conversation so far, gold documents and reference answers."""

    id: str
    question: str
    history: tuple[Turn, ...] = ()
    gold_ids: tuple[str, ...] = ()
    answer: str = ""
    alt_answers: tuple[str, ...] = ()
    answerable: bool | None = True
    tags: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    @property
    def references(self) -> tuple[str, ...]:
        """Every acceptable reference answer, non-empty ones only."""
        return tuple(r for r in (self.answer, *self.alt_answers) if r.strip())

    @property
    def tag_dict(self) -> dict[str, str]:
        return dict(self.tags)


@dataclass(frozen=True)
class Dataset:
    name: str
    path: Path
    corpus: tuple[CorpusRecord, ...]
    questions: tuple[Question, ...]


def _read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    if not path.is_file():
        raise DatasetError(f"{path} is missing")
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{path}:{number}: not JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise DatasetError(f"{path}:{number}: expected a JSON object")
            yield number, row


def parse_record(row: dict[str, Any]) -> CorpusRecord:
    """A corpus line -> CorpusRecord.

    >>> parse_record({"id": "s1", "title": "Wi-Fi", "text": "Open Settings."}).markdown()
    '# Wi-Fi\\n\\nOpen Settings.'
    """
    return CorpusRecord(id=str(row["id"]), title=str(row.get("title") or ""), text=str(row["text"]))


def parse_question(row: dict[str, Any]) -> Question:
    """A questions line -> Question (history as Turns, tags as sorted string pairs).

    >>> q = parse_question({"id": "q1", "question": "How?", "history": [{"role": "user", "content": "Hi"}],
    ...                     "gold_ids": ["s1"], "answer": "Like so.", "tags": {"type": "normal"}})
    >>> q.history[0].content, q.gold_ids, q.tags
    ('Hi', ('s1',), (('type', 'normal'),))
    """
    history = tuple(Turn(role="assistant" if t.get("role") == "assistant" else "user",
                         content=str(t["content"])) for t in row.get("history") or [])
    answerable = row.get("answerable", True)
    return Question(
        id=str(row["id"]),
        question=str(row["question"]),
        history=history,
        gold_ids=tuple(str(g) for g in row.get("gold_ids") or []),
        answer=str(row.get("answer") or ""),
        alt_answers=tuple(str(a) for a in row.get("alt_answers") or []),
        answerable=None if answerable is None else bool(answerable),
        tags=tuple(sorted((str(k), str(v)) for k, v in (row.get("tags") or {}).items())),
    )


def load_dataset(path: str | Path) -> Dataset:
    """Read a dataset folder; raises DatasetError naming the file and line of the first bad record."""
    folder = Path(path)
    corpus, questions = [], []
    for source, parse, out in ((folder / "corpus.jsonl", parse_record, corpus),
                               (folder / "questions.jsonl", parse_question, questions)):
        for number, row in _read_jsonl(source):
            try:
                out.append(parse(row))
            except (KeyError, TypeError) as exc:
                raise DatasetError(f"{source}:{number}: missing or bad field {exc}") from None
    if not corpus or not questions:
        raise DatasetError(f"{folder}: corpus.jsonl and questions.jsonl must both hold records")
    return Dataset(name=folder.resolve().name, path=folder, corpus=tuple(corpus), questions=tuple(questions))


def sample_questions(questions: tuple[Question, ...] | list[Question], limit: int | None,
                     seed: int) -> list[Question]:
    """A seeded sample of at most `limit` questions that keeps the mix of answerable (true), unanswerable
    (false) and underspecified (null) items: each group gets its proportional share, at least one when it
    has any. The sample keeps the dataset's order, so results read like the file.

    >>> qs = [Question(str(i), "q", answerable=i % 4 != 0) for i in range(20)]
    >>> picked = sample_questions(qs, 8, seed=1)
    >>> len(picked), sum(q.answerable is False for q in picked)
    (8, 2)
    """
    items = list(questions)
    if limit is None or limit >= len(items):
        return items
    groups: dict[bool | None, list[int]] = {}
    for position, question in enumerate(items):
        groups.setdefault(question.answerable, []).append(position)
    quotas = _quotas({key: len(members) for key, members in groups.items()}, limit)
    rng = random.Random(seed)
    chosen: list[int] = []
    for key in sorted(groups, key=str):
        chosen.extend(rng.sample(groups[key], quotas[key]))
    return [items[i] for i in sorted(chosen)]


def _quotas(sizes: dict[bool | None, int], limit: int) -> dict[bool | None, int]:
    """Largest-remainder proportional allocation of `limit` slots, at least one per non-empty group.

    >>> _quotas({True: 15, False: 5}, 8)
    {True: 6, False: 2}
    """
    total = sum(sizes.values())
    exact = {key: limit * size / total for key, size in sizes.items()}
    quotas = {key: min(size, max(1, int(exact[key]))) for key, size in sizes.items()}
    by_remainder = sorted(sizes, key=lambda key: exact[key] - int(exact[key]), reverse=True)
    while sum(quotas.values()) < limit:
        grew = False
        for key in by_remainder:
            if sum(quotas.values()) < limit and quotas[key] < sizes[key]:
                quotas[key] += 1
                grew = True
        if not grew:
            break
    while sum(quotas.values()) > limit:  # more groups than slots: trim the largest quotas
        key = max(quotas, key=lambda k: quotas[k])
        quotas[key] -= 1
    return quotas
