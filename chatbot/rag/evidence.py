"""Tight context: from the retrieved chunks keep only the sentences that bear on the question.

On a CPU the prompt is most of the wait for the first token (llama.cpp reads ~100-200 tokens/s here),
and four whole chunks are ~400 tokens. `select_excerpts` scores every sentence, list item and table row
of the retrieved chunks against the question (embedding similarity plus how much of the question's
keyword weight it covers), then keeps the best ones, in document order, up to a character budget.
Each kept unit brings the next one of its chunk (answers tend to follow what matches the question),
lines that introduce a list ("To reset the hub:") or ask a question (an FAQ's "Q: ...?") bring up to
five, table rows bring the table's header row, and each excerpt keeps its heading line ("Title > Section").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from langchain_core.embeddings import Embeddings

from chatbot.rag.keyword import tokenize
from chatbot.rag.sentences import split_sentences
from chatbot.rag.vector_cache import VectorCache

# A unit scoring under this share of the best unit's score is left out even when the budget has room:
# filler costs prompt-reading time and distracts a small model.
RELATIVE_FLOOR = 0.5
_TABLE_RULE = re.compile(r"^\|?[\s:|-]+\|?$")


@dataclass(frozen=True)
class Unit:
    """One selectable piece of a chunk: `text` is shown; `lead` (a table header) is shown before it."""

    chunk: int
    line: int
    text: str
    lead: str = ""


def units(text: str, chunk: int = 0) -> tuple[str, list[Unit]]:
    """(heading line, selectable units) of one chunk's text.

    >>> text = "Returns > Refunds\\nRefunds take 5 days. Ask us first.\\n| Plan | Days |\\n|---|---|\\n| Plus | 60 |"
    >>> head, found = units(text)
    >>> head, [u.text for u in found], found[-1].lead
    ('Returns > Refunds', ['Refunds take 5 days.', 'Ask us first.', '| Plus | 60 |'], '| Plan | Days |')
    """
    head, _, body = text.partition("\n")
    found: list[Unit] = []
    table_head = ""
    for number, (_, line) in enumerate(unwrapped(body.splitlines())):  # numbered by logical line
        if not line or _TABLE_RULE.match(line) and "-" in line:
            continue
        if line.startswith("|"):
            if not table_head:
                table_head = line
                continue
            found.append(Unit(chunk, number, line, lead=table_head))
            continue
        table_head = ""
        if " | " in line and ": " in line:  # a row naming its cells' columns (chatbot/ingest/tables.py): whole
            found.append(Unit(chunk, number, line))
            continue
        for sentence in split_sentences(line, also_starting="*"):
            if sentence.strip():
                found.append(Unit(chunk, number, sentence.strip()))
    return head, found


# A line this long that ends without a sentence's end was wrapped at the page's width (PDF text, HTML source,
# hard-wrapped Markdown or plain text): the next line continues its sentence.
WRAPPED_LINE_CHARS = 40
_NEW_ITEM = re.compile(r"^(?:[-*•#|>]|\d+[.)]\s|[A-Z][\w ]{0,20}:\s)")


def unwrapped(lines: Sequence[str]) -> list[tuple[int, str]]:
    """(number of the first line, text) of each logical line: a line continuing a wrapped sentence is
    joined to it, so "covered for" / "5 years." is one sentence, not two half-statements. A line that starts a
    list item, a table row, a heading or a "Label: value" line is never joined.

    >>> unwrapped(["The Duo's steam boiler, unlike the rest of the machine, is covered for", "5 years.", "",
    ...            "Contact support", "Call us on 555 0101."])
    [(0, "The Duo's steam boiler, unlike the rest of the machine, is covered for 5 years."), \
(3, 'Contact support'), (4, 'Call us on 555 0101.')]
    """
    out: list[tuple[int, str]] = []
    joinable = False
    for number, raw in enumerate(lines):
        line = raw.strip()
        if not line:
            joinable = False
            continue
        if joinable and not _NEW_ITEM.match(line):
            out[-1] = (out[-1][0], f"{out[-1][1]} {line}")
        else:
            out.append((number, line))
        last = out[-1][1]
        joinable = (len(raw.rstrip()) >= WRAPPED_LINE_CHARS and not last.endswith((".", "!", "?", ":", ";"))
                    and " | " not in last and not last.startswith("|"))
    return out


class ExcerptSelector:
    """Picks the question's evidence out of retrieved chunks; sentence vectors are cached (LRU)."""

    def __init__(self, embeddings: Embeddings, idf: Callable[[str], float], cache_size: int = 20000,
                 query_vector: Callable[[str], np.ndarray] | None = None):
        self.embeddings = embeddings
        self.idf = idf
        # the retriever's (cached) query embedding when given, so the question is not embedded twice
        self.query_vector = query_vector or (lambda q: np.asarray(embeddings.embed_query(q), dtype=np.float32))
        self._sentences = VectorCache(cache_size)

    def _vectors(self, found: Sequence[Unit]) -> np.ndarray:
        """Each unit's vector, read with its table header (cached)."""
        return self._sentences.get([f"{u.lead} {u.text}".strip() for u in found], self.embeddings.embed_documents)

    def scores(self, question: str, found: Sequence[Unit]) -> list[float]:
        """Half cosine similarity, half the share of the question's keyword weight (idf) a unit holds."""
        asked = {term: self.idf(term) for term in set(tokenize(question))}
        weight = sum(asked.values()) or 1.0
        qvec = self.query_vector(question)
        cosine = self._vectors(found) @ qvec
        return [0.5 * float(c) + 0.5 * sum(asked.get(t, 0.0) for t in set(tokenize(f"{u.lead} {u.text}"))) / weight
                for u, c in zip(found, cosine, strict=True)]

    def best_similarity(self, question: str, texts: Sequence[str]) -> float:
        """The highest cosine similarity of any unit of `texts` to the question (0 when there is none)."""
        found = [u for index, text in enumerate(texts) for u in units(text, index)[1]]
        if not found:
            return 0.0
        return float(np.max(self._vectors(found) @ self.query_vector(question)))

    def select(self, question: str, texts: Sequence[str], budget: int) -> list[str]:
        """One excerpt per chunk ("" for a chunk with nothing kept), together at most `budget`
        characters of body text, best units first, none scoring under RELATIVE_FLOOR of the best; the best
        unit is always kept. `budget <= 0` keeps whole chunks."""
        if budget <= 0 or not texts:
            return list(texts)
        heads, found = [], []
        for index, text in enumerate(texts):
            head, parts = units(text, index)
            heads.append(head)
            found.extend(parts)
        if not found:
            return list(texts)
        score = self.scores(question, found)
        order = sorted(range(len(found)), key=lambda i: -score[i])
        kept: set[int] = set()
        used = 0
        floor = RELATIVE_FLOOR * score[order[0]]
        for rank, i in enumerate(order):
            if rank and score[i] < floor:
                break
            group = [i] + _continuation(found, i)
            cost = sum(len(found[j].text) + 1 for j in group if j not in kept)
            if rank and used + cost > budget:
                continue
            kept.update(group)
            used += cost
        return [_excerpt(heads[c], [u for j, u in enumerate(found) if j in kept and u.chunk == c])
                for c in range(len(texts))]


def _continuation(found: Sequence[Unit], i: int) -> list[int]:
    """Units that a unit needs after it: an answer often follows what matches the question best, so the
    next unit of the same chunk always comes along; a line ending in ':' (a list follows) or '?' (an
    FAQ's "Q:" line, its answer follows) brings up to five."""
    reach = 5 if found[i].text.endswith((":", "?")) else 1
    return [j for j in range(i + 1, min(i + 1 + reach, len(found))) if found[j].chunk == found[i].chunk]


def _excerpt(head: str, kept: Sequence[Unit]) -> str:
    """The heading line, then the kept units in document order; a table header once before its rows.

    >>> _excerpt("T > S", [Unit(0, 1, "A."), Unit(0, 1, "B."), Unit(0, 4, "C.")])
    'T > S\\nA. B. …\\nC.'
    """
    if not kept:
        return ""
    lines: list[str] = [head]
    last_line, last_lead = None, ""
    for unit in kept:
        if unit.lead and unit.lead != last_lead:
            lines.append(unit.lead)
        last_lead = unit.lead
        if last_line == unit.line:
            lines[-1] += " " + unit.text
        elif last_line is not None and unit.line > last_line + 1 and not unit.lead:
            lines[-1] += " …"
            lines.append(unit.text)
        else:
            lines.append(unit.text)
        last_line = unit.line
    return "\n".join(lines)
