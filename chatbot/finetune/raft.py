"""Training examples for reading documents: retrieval-augmented fine-tuning (RAFT, Zhang et al. 2024).

The hybrid arm answers with the RAG prompt (`prompts.rag_messages`), so its model is trained on that very
prompt. Each example holds a question, the excerpts the product would quote for it at answer time (the
same retriever, the same excerpt selection and budget) in shuffled order, and as the answer the pair's
short answer citing the number of the excerpt it came from (the "oracle"). In a share of the examples
(`1 - ORACLE_SHARE`) the oracle is left out and only distractors remain; then the answer is the decline,
`types.NOT_FOUND`. The model so learns to find the fact among distractors, cite it, and decline when
it is not there."""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from chatbot.finetune.data import QAPair, Row
from chatbot.finetune.pairs import MIN_ANSWER_SUPPORT, answer_support
from chatbot.rag import prompts
from chatbot.rag.citations import CITATION
from chatbot.types import NOT_FOUND, Chunk, Source

ORACLE_SHARE = 0.8  # RAFT's P: the share of examples whose excerpts hold the answer

Retrieve = Callable[[str, int], Sequence[Source]]
Select = Callable[[str, Sequence[str]], list[str]]  # (question, chunk texts) -> one excerpt per chunk


@dataclass(frozen=True)
class RaftInputs:
    """What building examples needs from the product: its retriever, how many chunks it quotes, its
    excerpt selection (whole chunks when None) and the chunks by id."""

    retrieve: Retrieve
    top_k: int
    chunks: dict[str, Chunk]
    select: Select | None = None


def cite(answer: str, number: int) -> str:
    """The answer with its citation before the final full stop.

    >>> cite("Refunds take 5 days.", 2), cite("It is free", 1)
    ('Refunds take 5 days [2].', 'It is free [1].')
    """
    body = re.sub(r"\s*" + CITATION.pattern, "", answer).strip()
    match = re.match(r"^(.*?)([.!?]*)$", body, re.DOTALL)
    text, end = (match.group(1), match.group(2)) if match else (body, "")
    return f"{text.rstrip()} [{number}]{end or '.'}"


def source_of(chunk: Chunk) -> Source:
    return Source(chunk.doc_id, chunk.title, chunk.section, chunk.source, "", 0.0, chunk.page, chunk.chunk_id)


def raft_row(pair: QAPair, inputs: RaftInputs, with_oracle: bool, seed: int = 0) -> Row | None:
    """One RAFT example for `pair` (its `source` is the chunk id it was written from), or None when it
    cannot be built honestly: the oracle chunk is gone, the excerpts lose the answer, or a distractor
    also states it (then "the documents lack it" would be a false lesson)."""
    oracle = inputs.chunks.get(pair.source)
    if oracle is None:
        return None
    found = [s for s in inputs.retrieve(pair.question, inputs.top_k + 1) if s.chunk_id in inputs.chunks]
    distractors = [s for s in found if s.chunk_id != oracle.chunk_id
                   and not _states(pair.answer, inputs.chunks[s.chunk_id].text)]
    if with_oracle:
        picked = [next((s for s in found if s.chunk_id == oracle.chunk_id), source_of(oracle))]
        picked += distractors[: inputs.top_k - 1]
    else:
        picked = distractors[: inputs.top_k]
    if not picked:
        return None
    random.Random(_seed(pair.question, seed)).shuffle(picked)
    texts = [inputs.chunks[s.chunk_id].text for s in picked]
    excerpts = inputs.select(pair.question, texts) if inputs.select else list(texts)
    if with_oracle:
        at = [s.chunk_id for s in picked].index(oracle.chunk_id)
        if answer_support(pair.answer, excerpts[at]) < MIN_ANSWER_SUPPORT:
            excerpts = list(texts)  # the second look reads whole chunks: train on that form instead
    kept = [(s, e) for s, e in zip(picked, excerpts, strict=True) if e]  # as `chain.in_prompt` drops empties
    sources, quoted = [k[0] for k in kept], [k[1] for k in kept]
    if with_oracle:
        number = [s.chunk_id for s in sources].index(oracle.chunk_id) + 1
        answer = cite(pair.answer, number)
    else:
        if not sources:
            return None
        answer = NOT_FOUND
    messages = prompts.rag_messages(pair.question, sources, quoted) + [{"role": "assistant", "content": answer}]
    return {"messages": messages, "source": pair.source, "kind": "raft" if with_oracle else "raft-decline"}


def raft_rows(pairs: Sequence[QAPair], inputs: RaftInputs, oracle_share: float = ORACLE_SHARE,
              seed: int = 0) -> list[Row]:
    """One example per pair: with its oracle for a share `oracle_share` of them (chosen by a hash of the
    question, so the choice is stable), with distractors only for the rest."""
    rows = []
    for pair in pairs:
        with_oracle = random.Random(_seed(pair.question, seed + 1)).random() < oracle_share
        row = raft_row(pair, inputs, with_oracle, seed)
        if row is not None:
            rows.append(row)
    return rows


def _states(answer: str, text: str) -> bool:
    return answer_support(answer, text) >= MIN_ANSWER_SUPPORT


def _seed(question: str, seed: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}\0{question}".encode()).digest()[:8], "big")
