"""Question/answer pairs written by a language model from the indexed chunks, for teaching a model facts.

A model learns a fact by fine-tuning only when it sees it asked several ways; one templated question per
section does not teach it. So the answer model reads each chunk and writes several customer-style
questions about it, one fact each, with a short answer in the chunk's own words. A pair is kept only if
it is well formed (a question, an answer that is not a heading) and passes a round trip:

- **retrieval**: the question, searched with the product's own retriever, finds its chunk among the top
  `k` (the question is about this chunk and is worded so a customer's question would find it);
- **grounding**: at least `MIN_ANSWER_SUPPORT` of the answer's content words are words of the chunk (the
  answer states the chunk's fact, not something the model made up).

A kept pair also carries its **passage**: the chunk's own sentence(s) that the answer rests on (the
sentence sharing most words with the answer and question, and the ones after it up to `PASSAGE_WORDS`).
The closed-book model is trained to answer with the short answer followed by that passage
(`data.closed_book_answer`): it learns the documents' wording (menu paths, steps, limits) rather than
only the answer model's paraphrase of it, and answers at the length support answers have. Evaluation
references and the RAG-prompt rows keep the short answer.

Writing pairs is the slow part of training (one model call per chunk), so pairs are cached per chunk
text and generator model in HOME/finetune/pairs-cache.jsonl: retraining after a document changed only
writes pairs for the chunks that changed."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from langchain_core.language_models import BaseChatModel

from chatbot.finetune.data import QAPair, normalise_question
from chatbot.ingest.split import body_of
from chatbot.rag.grounding import content_tokens
from chatbot.rag.sentences import split_sentences
from chatbot.types import Chunk, Source

log = logging.getLogger(__name__)

PROMPT_VERSION = "pairs-v1"  # part of the cache key: change it when the prompt changes
MIN_BODY_CHARS = 25  # chunks with less text than this (a heading, a stub) get no questions
MIN_ANSWER_SUPPORT = 0.8
PASSAGE_WORDS = 45  # longest passage kept with a pair; a longer best sentence (a menu listing) is cut
PAIR_INSTRUCTION = (
    "Below is a passage from a company's help centre. Write {n} different questions that a customer might "
    "ask and that the passage answers. Each question asks about one fact (a number, a time limit, a price, "
    "a step, a name, a condition), is worded the way a customer would write it, and names the product or "
    "topic it is about. After each question write a short answer of one sentence that states the fact "
    "in the passage's own words. Use exactly this format:\n"
    "Q: <question>\nA: <answer>\n\nPassage:\n{passage}"
)

Retrieve = Callable[[str], Sequence[Source]]
Progress = Callable[[int, int], None]


@dataclass
class PairStats:
    """What pair writing did: chunks read, candidates written, and why candidates were dropped."""

    chunks: int = 0
    cached_chunks: int = 0
    candidates: int = 0
    kept: int = 0
    failed_form: int = 0
    failed_grounding: int = 0
    failed_retrieval: int = 0
    unwritten: list[str] = field(default_factory=list)  # chunks left for a later run by the time budget

    def to_dict(self) -> dict:
        figures = asdict(self)
        figures["unwritten_chunks"] = len(figures.pop("unwritten"))
        return figures


def pair_messages(chunk: Chunk, n: int) -> list[dict[str, str]]:
    """The prompt asking for `n` pairs about one chunk (its title and section path come with its text)."""
    return [{"role": "user", "content": PAIR_INSTRUCTION.format(n=n, passage=chunk.text.strip())}]


def parse_pairs(text: str) -> list[tuple[str, str]]:
    """(question, answer) pairs from "Q: ... / A: ..." lines; numbering, bold marks and blank lines are
    tolerated, a question without an answer is dropped.

    >>> parse_pairs("1. Q: How long is the warranty?\\nA: Two years.\\n\\n**Q:** Is it free?\\n**A:** Yes, it is.")
    [('How long is the warranty?', 'Two years.'), ('Is it free?', 'Yes, it is.')]
    >>> parse_pairs("Q: No answer here?\\nQ: What about this one?\\nA: This.")
    [('What about this one?', 'This.')]
    """
    pairs, question = [], ""
    for raw in text.splitlines():
        line = re.sub(r"^[\s\d.)#*-]*", "", raw).replace("**", "").strip()
        match = re.match(r"^(Q|A|Question|Answer)\s*[:.]\s*(.+)$", line, re.IGNORECASE)
        if not match:
            continue
        kind, body = match.group(1)[0].upper(), match.group(2).strip()
        if kind == "Q":
            question = body
        elif question:
            pairs.append((question, body))
            question = ""
    return pairs


def answer_support(answer: str, chunk_text: str) -> float:
    """Share of the answer's content words that the chunk contains (1.0 for an answer with none).

    >>> answer_support("Refunds take 5 days.", "Refunds are paid within 5 business days.")
    0.75
    """
    words = content_tokens(answer)
    if not words:
        return 0.0
    return len(words & content_tokens(chunk_text)) / len(words)


def supporting_passage(question: str, answer: str, chunk: Chunk, max_words: int = PASSAGE_WORDS) -> str:
    r"""The chunk sentence that shares most content words with the answer (each counted twice) and the
    question, followed by the next sentences while the passage stays within `max_words` (a best sentence
    longer than that, as a run of menu items without full stops, is cut to `max_words` words).

    >>> c = Chunk("d:0", "d", 0, "Returns > Refunds\nSend the parcel back. Refunds are paid within 5 days. "
    ...           "The card is credited.\nGift cards are final.", "Returns", "Refunds", "r.md")
    >>> supporting_passage("How long do refunds take?", "Five days.", c)
    'Refunds are paid within 5 days. The card is credited. Gift cards are final.'
    >>> supporting_passage("How long do refunds take?", "Five days.", c, max_words=8)
    'Refunds are paid within 5 days.'
    >>> supporting_passage("How long do refunds take?", "Five days.", c, max_words=4)
    'Refunds are paid within'
    """
    sentences = [s.strip() for line in body_of(chunk).splitlines() for s in split_sentences(line.strip())
                 if s.strip()]
    if not sentences:
        return ""
    answer_words, question_words = content_tokens(answer), content_tokens(question)

    def score(sentence: str) -> int:
        words = content_tokens(sentence)
        return 2 * len(words & answer_words) + len(words & question_words)

    best = max(range(len(sentences)), key=lambda i: (score(sentences[i]), -i))
    passage = [" ".join(sentences[best].split()[:max_words])]
    used = len(passage[0].split())
    for sentence in sentences[best + 1:]:
        used += len(sentence.split())
        if used > max_words:
            break
        passage.append(sentence)
    return " ".join(passage)


def well_formed(question: str, answer: str, chunk: Chunk) -> bool:
    r"""A real question (ends with "?", four words or more) with an answer that is not a heading of the chunk
    or a leftover of the format.

    >>> c = Chunk("d:0", "d", 0, "Shipping > Stores\nUse the store of your country.", "Shipping", "Stores", "s.md")
    >>> well_formed("Which store should I order from?", "The store of your country.", c)
    True
    >>> well_formed("Which store to use?", "Shipping > Stores", c), well_formed("Stores.", "Use it.", c)
    (False, False)
    """
    first_line = chunk.text.split("\n", 1)[0].casefold()
    return (question.rstrip().endswith("?") and len(question.split()) >= 4 and "q:" not in answer.casefold()
            and answer.strip().rstrip(".").casefold() not in first_line)


def round_trip(question: str, answer: str, chunk: Chunk, retrieve: Retrieve, k: int) -> str:
    """"" when the pair passes, else why not ("form", "grounding" or "retrieval")."""
    if not well_formed(question, answer, chunk):
        return "form"
    if answer_support(answer, chunk.text) < MIN_ANSWER_SUPPORT:
        return "grounding"
    if chunk.chunk_id not in [s.chunk_id for s in list(retrieve(question))[:k]]:
        return "retrieval"
    return ""


class PairCache:
    """Written candidates per (generator model, prompt version, chunk text), one JSON line each."""

    def __init__(self, path: Path | None):
        self.path = path
        self._rows: dict[str, list[list[str]]] = {}
        if path is not None and path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    row = json.loads(line)
                    self._rows[row["key"]] = row["pairs"]
                except (ValueError, KeyError, TypeError):
                    continue  # a torn last line after a crash: that chunk is written again

    @staticmethod
    def key(model_name: str, chunk: Chunk, n: int) -> str:
        text = f"{PROMPT_VERSION}\0{model_name}\0{n}\0{chunk.text}"
        return hashlib.sha256(text.encode()).hexdigest()

    def get(self, key: str) -> list[tuple[str, str]] | None:
        found = self._rows.get(key)
        return None if found is None else [(q, a) for q, a in found]

    def put(self, key: str, pairs: Sequence[tuple[str, str]]) -> None:
        self._rows[key] = [list(p) for p in pairs]
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as out:
                out.write(json.dumps({"key": key, "pairs": self._rows[key]}, ensure_ascii=False) + "\n")


def write_pairs(chunks: Sequence[Chunk], model: BaseChatModel, model_name: str, retrieve: Retrieve,
                per_chunk: int = 4, k: int = 5, cache: PairCache | None = None,
                progress: Progress | None = None, budget_s: float | None = None) -> tuple[list[QAPair], PairStats]:
    """Pairs for every chunk with enough text, each passing the round trip; deduplicated on the normalised
    question. Pairs carry the chunk id as `source` and kind "generated".

    With `budget_s`, no new chunk is sent to the model after that many seconds: the chunks left are listed in
    `stats.unwritten` (their templated pairs stand in). Cached chunks come first and cost nothing, so each
    later run covers more of the knowledge base."""
    from chatbot.llm.factory import with_options

    started = time.perf_counter()
    cache = cache or PairCache(None)
    writer = with_options(model, max_new_tokens=48 * per_chunk)
    stats = PairStats()
    kept: list[QAPair] = []
    seen: set[str] = set()
    todo = [c for c in chunks if len(body_of(c).strip()) >= MIN_BODY_CHARS]
    todo.sort(key=lambda c: cache.get(PairCache.key(model_name, c, per_chunk)) is None)  # stable: cached first
    for done, chunk in enumerate(todo, start=1):
        key = PairCache.key(model_name, chunk, per_chunk)
        candidates = cache.get(key)
        if candidates is None and budget_s is not None and time.perf_counter() - started > budget_s:
            stats.unwritten.append(chunk.chunk_id)
            if progress:
                progress(done, len(todo))
            continue
        if candidates is None:
            reply = writer.invoke([(m["role"], m["content"]) for m in pair_messages(chunk, per_chunk)])
            candidates = parse_pairs(str(reply.content))[:per_chunk]
            cache.put(key, candidates)
        else:
            stats.cached_chunks += 1
        stats.chunks += 1
        for question, answer in candidates:
            stats.candidates += 1
            verdict = round_trip(question, answer, chunk, retrieve, k)
            if verdict == "form":
                stats.failed_form += 1
            elif verdict == "grounding":
                stats.failed_grounding += 1
            elif verdict == "retrieval":
                stats.failed_retrieval += 1
            elif normalise_question(question) not in seen:
                seen.add(normalise_question(question))
                kept.append(QAPair(question, answer, chunk.chunk_id, "generated",
                                   passage=supporting_passage(question, answer, chunk)))
        if progress:
            progress(done, len(todo))
    stats.kept = len(kept)
    return kept, stats


def by_chunk(pairs: Iterable[QAPair]) -> dict[str, list[QAPair]]:
    """Pairs grouped by the chunk they were written from."""
    groups: dict[str, list[QAPair]] = {}
    for pair in pairs:
        groups.setdefault(pair.source, []).append(pair)
    return groups
