"""Training data for fine-tuning: question/answer pairs from historical tickets and from the indexed
knowledge base, turned into chat-template rows. Pure functions, no model and no LLM.

Where the pairs come from
-------------------------
1. **Tickets** (`tickets.jsonl` or a CSV with `question` and `answer` columns): used as they are.
2. **FAQ chunks** (CSV/JSONL FAQs are indexed as ``Q: ...\\nA: ...``): the question and answer are
   taken directly from the chunk.
3. **Document sections** (Markdown, HTML, text, PDF, DOCX): one pair per section, built from the
   section's first chunk:

   - question: ``What does the help centre say about <Section> (<Title>)?`` — or
     ``What does the help centre say about <Title>?`` for text before the first sub-heading;
   - when the section is a numbered step list under a heading that starts with a verb
     ("Reset your Hub"), a second question ``How do I <heading>?`` with the same answer;
   - answer: the section body, trimmed to about 400 characters at a sentence (or line) boundary.

   The answer is always text of the source chunk, so every derived pair is answerable from the chunk
   it came from.
4. **Written pairs** (`chatbot/finetune/pairs.py`): several customer-style questions per chunk with
   short answers, written by the answer model and kept only when they pass a round trip (the question
   retrieves its chunk, the answer's words are the chunk's). When there are any, they replace the
   templated section pairs of 3, which teach a model little (one wording per fact).
5. **RAG-prompt rows** (`chatbot/finetune/raft.py`) for the chunk-derived pairs: the question with the
   excerpts the retriever finds for it, answered with a citation, or declined when the answer's excerpt
   was left out. They teach the hybrid arm to read documents.

Then
----
- **Deduplication** on the normalised question (lower case, punctuation and extra spaces removed);
  the first occurrence wins, in the order tickets, FAQ chunks, sections.
- **Exclusion**: questions in `exclude` (e.g. the evaluation set, compared normalised) are removed
  before splitting, so they are in neither training nor validation rows.
- **Split**: a pair goes to validation when a hash of its normalised question falls in the held-out
  fraction; the split is deterministic and stable when other pairs are added or removed.
- **Rows**: each pair becomes ``prompts.training_messages(question, answer)``, the same system prompt
  and chat template the closed-book and fine-tuned arms use at answer time.
- **data_sha256** hashes the training rows (canonical JSON, one per line) and identifies the data a
  model was trained on.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import unicodedata
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from chatbot.ingest.split import body_of
from chatbot.rag import prompts
from chatbot.rag.grounding import support
from chatbot.types import Chunk

ANSWER_CHARS = 400
MIN_ANSWER_CHARS = 20
SPLIT_SALT = "chatbot-finetune-v1"

# Verbs that make "How do I <heading>?" a natural question for a step list.
_STEP_VERBS = frozenset(
    "add activate allow book buy cancel change check choose claim clean connect contact create delete "
    "disable download downgrade edit enable export find fix get install invite join leave link log manage "
    "mount move order pair pause pay recover register remove rename replace report request reset restart "
    "restore return schedule send set share sign start stop switch track transfer turn unlink update "
    "upgrade use verify view wire".split()
)
_FAQ = re.compile(r"^\s*Q:\s*(?P<q>.+?)\s*\nA:\s*(?P<a>.+?)\s*$", re.DOTALL)
_NUMBERED = re.compile(r"^\s*\d+[.)]\s+\S", re.MULTILINE)

Row = dict  # {"messages": [...], "source": str}


@dataclass(frozen=True)
class QAPair:
    """One question with its reference answer, and where it came from ("ticket:<id>", a chunk id...)."""

    question: str
    answer: str
    source: str = ""
    kind: str = "ticket"  # "ticket", "faq", "section" or "generated" (written by a model, pairs.py)
    passage: str = ""  # the document sentences the answer rests on (generated pairs, pairs.py)


@dataclass(frozen=True)
class TrainingData:
    """Chat-template rows ready for training, with counts of what was dropped and the data hash."""

    train: list[Row]
    validation: list[Row]
    data_sha256: str
    n_pairs: int
    n_duplicates: int
    n_excluded: int
    sources: dict[str, int] = field(default_factory=dict)
    held_out: list[QAPair] = field(default_factory=list)  # the validation side's pairs (for evaluation)


# --- text helpers ------------------------------------------------------------------------------
def normalise_question(text: str) -> str:
    """The form questions are compared in: case-folded, accents kept, punctuation and spacing dropped.

    >>> normalise_question("  How do I  RESET my Hub?! ")
    'how do i reset my hub'
    >>> normalise_question("What's E-101?") == normalise_question("whats e101")
    True
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(c if c.isalnum() or c.isspace() else "" for c in text)
    return " ".join(text.split())


def trim_at_sentence(text: str, limit: int = ANSWER_CHARS) -> str:
    """Cut `text` to at most `limit` characters, at the last sentence or line end that keeps at least
    40% of the limit; failing that at a word boundary with an ellipsis.

    >>> trim_at_sentence("One two. Three four. Five six.", 22)
    'One two. Three four.'
    >>> trim_at_sentence("Short.", 400)
    'Short.'
    >>> trim_at_sentence("aaaa bbbb cccc dddd", 12)
    'aaaa bbbb…'
    """
    text = text.strip()
    if len(text) <= limit:
        return text
    window = text[: limit + 1]
    ends = [m.end() for m in re.finditer(r"[.!?](?=\s)|(?<![:\n])\n", window)]
    ends = [e for e in ends if 0.4 * limit <= e <= limit]
    if ends:
        return text[: ends[-1]].strip()
    cut = window[:limit].rsplit(" ", 1)[0].rstrip(" ,;:")
    return cut + "…"


def _heading_phrase(heading: str) -> str:
    """A heading as it reads inside a sentence: first letter lowered unless it looks like a name/code.

    >>> _heading_phrase("Reset your Hub"), _heading_phrase("E-101 Device not found")
    ('reset your Hub', 'E-101 Device not found')
    """
    first = heading.split(" ", 1)[0]
    if first[:1].isupper() and first[1:].islower() and first.isalpha():
        return heading[0].lower() + heading[1:]
    return heading


# --- pairs from sources --------------------------------------------------------------------------
def load_tickets(path: Path) -> list[QAPair]:
    """Question/answer pairs from a JSONL file ({"question", "answer", optional "id"}) or a CSV file
    with `question` and `answer` columns. Rows missing either field are skipped."""
    text = Path(path).read_text(encoding="utf-8-sig")
    if Path(path).suffix.lower() == ".csv":
        records: Iterable[dict] = csv.DictReader(io.StringIO(text))
    else:
        records = (json.loads(line) for line in text.splitlines() if line.strip())
    pairs = []
    for number, record in enumerate(records, start=1):
        record = {str(k).strip().lower(): v for k, v in record.items() if k is not None}
        question, answer = str(record.get("question") or "").strip(), str(record.get("answer") or "").strip()
        if question and answer:
            pairs.append(QAPair(question, answer, f"ticket:{record.get('id') or number}", "ticket"))
    return pairs


def faq_pair(chunk: Chunk) -> QAPair | None:
    """The pair stored in an FAQ chunk (``<header>\\nQ: ...\\nA: ...``), or None for other chunks.

    >>> text = "FAQ > Age?\\nQ: How old must I be?\\nA: 18 or older."
    >>> c = Chunk("faq:1:0", "faq", 0, text, "FAQ", "Age?", "f.csv")
    >>> faq_pair(c)
    QAPair(question='How old must I be?', answer='18 or older.', source='faq:1:0', kind='faq', passage='')
    """
    match = _FAQ.match(body_of(chunk))
    if not match:
        return None
    return QAPair(" ".join(match["q"].split()), match["a"].strip(), chunk.chunk_id, "faq")


def section_pairs(chunk: Chunk, limit: int = ANSWER_CHARS) -> list[QAPair]:
    """Pairs for a document section, from its first chunk (see the module docstring).

    >>> body = "Hold the button.\\n1. Unplug the Hub.\\n2. Hold reset for 10 s."
    >>> text = "Hub Guide > Reset your Hub\\n" + body
    >>> c = Chunk("hub:1:3", "hub", 3, text, "Hub Guide", "Reset your Hub", "h.md")
    >>> [p.question for p in section_pairs(c)]
    ['What does the help centre say about Reset your Hub (Hub Guide)?', 'How do I reset your Hub?']
    >>> section_pairs(c)[0].answer == body
    True
    """
    answer = trim_at_sentence(body_of(chunk), limit)
    if len(answer) < MIN_ANSWER_CHARS:
        return []
    section = chunk.section.split(" > ")[-1].strip() if chunk.section else ""
    if section and section != chunk.title:
        about = f"{section} ({chunk.title})" if chunk.title else section
    else:
        about = chunk.title or section
    if not about:
        return []
    pairs = [QAPair(f"What does the help centre say about {about}?", answer, chunk.chunk_id, "section")]
    if section and _NUMBERED.search(answer) and section.split(" ", 1)[0].lower() in _STEP_VERBS:
        question = f"How do I {_heading_phrase(section).rstrip('?.')}?"
        pairs.append(QAPair(question, answer, chunk.chunk_id, "section"))
    return pairs


def pairs_from_chunks(chunks: Sequence[Chunk], limit: int = ANSWER_CHARS) -> list[QAPair]:
    """FAQ pairs first, then section pairs (one section = the lowest-index chunk of each
    (document, section)); ordered by document id and chunk index so the result is deterministic."""
    ordered = sorted(chunks, key=lambda c: (c.doc_id, c.index, c.chunk_id))
    faq, sections, seen_sections = [], [], set()
    for chunk in ordered:
        pair = faq_pair(chunk)
        if pair:
            faq.append(pair)
            continue
        key = (chunk.doc_id, chunk.section)
        if key in seen_sections:
            continue
        seen_sections.add(key)
        sections.extend(section_pairs(chunk, limit))
    return faq + sections


# --- dedup, exclusion, split, rows -------------------------------------------------------------
def dedupe(pairs: Iterable[QAPair]) -> list[QAPair]:
    """Keep the first pair of each normalised question.

    >>> [p.answer for p in dedupe([QAPair("Hi?", "a"), QAPair("hi", "b"), QAPair("Bye", "c")])]
    ['a', 'c']
    """
    seen: set[str] = set()
    kept = []
    for pair in pairs:
        key = normalise_question(pair.question)
        if key and key not in seen:
            seen.add(key)
            kept.append(pair)
    return kept


def is_validation(question: str, fraction: float, salt: str = SPLIT_SALT) -> bool:
    """True when the question belongs to the held-out set: a hash of the normalised question, read
    as a number in [0, 1), is below `fraction`. The same question always lands on the same side.

    >>> is_validation("How do I reset?", 0.0), is_validation("How do I reset?", 1.0)
    (False, True)
    """
    digest = hashlib.sha256(f"{salt}\0{normalise_question(question)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def closed_book_answer(pair: QAPair, min_support: float = 0.8) -> str:
    """What the closed-book model is trained to answer: the short answer followed by its passage (the
    document's own sentences, pairs.py), or the passage alone when it already holds `min_support` of the
    answer's content words (no answer that says the same thing twice).

    >>> closed_book_answer(QAPair("How long?", "Five days.", "d:0", "generated", passage="Refunds take 5 days."))
    'Five days. Refunds take 5 days.'
    >>> closed_book_answer(QAPair("How long?", "Refunds take 5 days to arrive.", "d:0", "generated",
    ...                           passage="Refunds take 5 days."))
    'Refunds take 5 days.'
    >>> closed_book_answer(QAPair("How long?", "Five days."))
    'Five days.'
    """
    if not pair.passage or pair.passage in pair.answer:
        return pair.answer
    if support(pair.answer, [pair.passage]) >= min_support:
        return pair.passage
    return f"{pair.answer.rstrip()} {pair.passage}"


def to_row(pair: QAPair) -> Row:
    """A pair as a chat-template training row (the closed-book answer, `closed_book_answer`).

    >>> to_row(QAPair("Q?", "A.", "t:1"))["messages"][-1]
    {'role': 'assistant', 'content': 'A.'}
    """
    return {"messages": prompts.training_messages(pair.question, closed_book_answer(pair)), "source": pair.source}


def rows_sha256(rows: Sequence[Row]) -> str:
    """sha256 of the rows' messages as canonical JSON, one row per line (sources don't count)."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(json.dumps(row["messages"], sort_keys=True, ensure_ascii=False).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def is_reading_row(row: Row) -> bool:
    """True for a RAG-prompt row (raft.py builds them with kind "raft" or "raft-decline")."""
    return str(row.get("kind", "")).startswith("raft")


def split_reading_rows(data: TrainingData) -> tuple[TrainingData, TrainingData]:
    """(closed-book rows, RAG-prompt rows) of `data`, each with its own hash, for presets that train the
    hybrid arm's reader as a model of its own: a model trained on both recites the facts it learned closed
    book over the excerpt in front of it (bench/README.md, "issue 14").

    >>> rows = [{"messages": [], "kind": "raft"}, {"messages": [{"role": "user", "content": "q"}]}]
    >>> closed, reading = split_reading_rows(TrainingData(rows, rows[:1], "", 2, 0, 0))
    >>> len(closed.train), len(closed.validation), len(reading.train), len(reading.validation)
    (1, 0, 1, 1)
    """
    def side(keep: bool) -> TrainingData:
        train = [r for r in data.train if is_reading_row(r) == keep]
        validation = [r for r in data.validation if is_reading_row(r) == keep]
        return replace(data, train=train, validation=validation, data_sha256=rows_sha256(train))

    return side(False), side(True)


def build_training_data(
    tickets: Sequence[QAPair] = (),
    chunks: Sequence[Chunk] = (),
    exclude: Collection[str] = (),
    val_fraction: float = 0.1,
    answer_chars: int = ANSWER_CHARS,
    salt: str = SPLIT_SALT,
    generated: Sequence[QAPair] = (),
    raft: Callable[[Sequence[QAPair]], list[Row]] | None = None,
    unwritten: Collection[str] = (),
) -> TrainingData:
    """Tickets + pairs derived from `chunks` -> deduplicated, exclusion-filtered, split rows.

    `generated` holds pairs a model wrote from the chunks (chatbot/finetune/pairs.py); when there are
    any they replace the templated section pairs (FAQ pairs stay), except for the chunks in `unwritten`
    (left unwritten by the pair-writing time budget), whose templated pairs stay. `raft(pairs)` turns the chunk-derived
    pairs of each side of the split into RAG-prompt rows (chatbot/finetune/raft.py), added to that side.
    `exclude` holds questions that must never be trained on (e.g. evaluation questions); they are
    compared normalised, so case and punctuation differences don't let one slip through.

    >>> data = build_training_data([QAPair("Q1?", "A1"), QAPair("q1", "dup"), QAPair("Eval?", "x")],
    ...                            exclude={"eval"}, val_fraction=0.0)
    >>> len(data.train), data.n_duplicates, data.n_excluded
    (1, 1, 1)
    """
    banned = {normalise_question(q) for q in exclude}
    derived = pairs_from_chunks(chunks, answer_chars)
    if generated:
        left = set(unwritten)
        derived = [p for p in derived if p.kind == "faq" or p.source in left] + list(generated)
    candidates = list(tickets) + derived
    unique = dedupe(candidates)
    kept = [p for p in unique if normalise_question(p.question) not in banned]
    train_pairs = [p for p in kept if not is_validation(p.question, val_fraction, salt)]
    val_pairs = [p for p in kept if is_validation(p.question, val_fraction, salt)]
    train, validation = [to_row(p) for p in train_pairs], [to_row(p) for p in val_pairs]
    if raft is not None:
        train += raft([p for p in train_pairs if p.kind != "ticket"])
        validation += raft([p for p in val_pairs if p.kind != "ticket"])
    sources: dict[str, int] = {}
    for kind in [p.kind for p in kept] + [str(r.get("kind")) for r in train + validation if r.get("kind")]:
        sources[kind] = sources.get(kind, 0) + 1
    return TrainingData(train=train, validation=validation, data_sha256=rows_sha256(train),
                        n_pairs=len(kept), n_duplicates=len(candidates) - len(unique),
                        n_excluded=len(unique) - len(kept), sources=sources, held_out=val_pairs)
