"""Frozen values that cross module boundaries. LangChain objects and raw dicts stay inside the core."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import ClassVar, Literal

Mode = Literal["rag", "finetuned", "hybrid", "base"]
# The answer arms, in the order they are offered, and their names on screen: RAG answers from the retrieved
# documents with the base model, fine-tuned and base answer closed-book, hybrid is the fine-tuned model with
# retrieval (chatbot/service.py, Service._arm).
ARMS: tuple[Mode, ...] = ("rag", "finetuned", "hybrid", "base")
ARM_LABELS: dict[str, str] = {"rag": "RAG", "finetuned": "Fine-tuned", "hybrid": "Hybrid", "base": "Base model"}
RETRIEVAL_ARMS = frozenset({"rag", "hybrid"})
IngestStatus = Literal["indexed", "unchanged", "updated", "refused"]


# What the answer rules tell the model to reply when the documents lack the answer (chatbot/rag/prompts.py);
# the in-process backends watch for its first token (chatbot/llm/decline_guard.py).
NOT_FOUND = "I don't know."


class ServiceError(RuntimeError):
    """A request the service cannot serve; the message is for the user."""


@dataclass(frozen=True)
class Section:
    """A run of text under one heading path (e.g. "Billing > Refunds"), optionally on one page."""

    heading: str
    text: str
    page: int | None = None


@dataclass(frozen=True)
class Document:
    """A loaded source file: stable id, title, where it came from, and its sections in order."""

    doc_id: str
    title: str
    source: str
    doc_type: str
    sections: tuple[Section, ...]
    sha256: str

    @property
    def text(self) -> str:
        return "\n\n".join(s.text for s in self.sections)


@dataclass(frozen=True)
class Chunk:
    """One indexed piece of a document; `text` is what is embedded and shown to the model."""

    chunk_id: str
    doc_id: str
    index: int
    text: str
    title: str
    section: str
    source: str
    page: int | None = None


@dataclass(frozen=True)
class Source:
    """A retrieved chunk as shown to users: citation [n] refers to the n-th source of an answer."""

    doc_id: str
    title: str
    section: str
    source: str
    snippet: str
    score: float
    page: int | None = None
    chunk_id: str = ""

    # Which document and part of it a source is: what conversations, feedback and answers record of it.
    KEYS: ClassVar[tuple[str, ...]] = ("doc_id", "title", "section", "source")

    def to_dict(self) -> dict:
        return asdict(self)

    def ref(self, *extra: str) -> dict:
        """Which document and part of it the source is (`KEYS`), plus the `extra` fields named.

        >>> Source("refunds", "Refunds", "", "kb/refunds.md", "5 days", 0.8123).ref("score")
        {'doc_id': 'refunds', 'title': 'Refunds', 'section': '', 'source': 'kb/refunds.md', 'score': 0.8123}
        """
        return {k: getattr(self, k) for k in (*self.KEYS, *extra)}


@dataclass(frozen=True)
class Turn:
    role: Literal["user", "assistant"]
    content: str


@dataclass(frozen=True)
class Answer:
    text: str
    sources: tuple[Source, ...]
    refused: bool
    mode: str
    model: str
    latency_s: float
    ttft_s: float
    question: str = ""
    standalone_question: str = ""
    output_tokens: int = 0
    groundedness: float | None = None  # share of answer words found in the retrieved text; None: no retrieval
    decline_probability: float | None = None  # the model's at its first token, where the backend reads it

    @property
    def tokens_per_s(self) -> float:
        # a checked answer is shown once written: too short a window after its first word measures nothing
        gen = self.latency_s - self.ttft_s
        return self.output_tokens / gen if gen > 0.5 and self.output_tokens else 0.0

    def to_dict(self) -> dict:
        return {
            "answer": self.text,
            "refused": self.refused,
            "question": self.question,
            "standalone_question": self.standalone_question,
            "sources": [s.ref("snippet", "score") for s in self.sources],
            "mode": self.mode,
            "model": self.model,
            "latency_s": round(self.latency_s, 3),
            "ttft_s": round(self.ttft_s, 3),
            "groundedness": self.groundedness,
            "decline_probability": self.decline_probability,
        }


@dataclass(frozen=True)
class Comparison:
    """One question answered by several arms (side-by-side mode)."""

    question: str
    answers: tuple[Answer, ...]

    def to_dict(self) -> dict:
        keys = ("answer", "refused", "sources", "latency_s", "ttft_s", "model", "groundedness")
        return {"question": self.question,
                "answers": [{"arm": a.mode, **{k: a.to_dict()[k] for k in keys}} for a in self.answers]}


@dataclass(frozen=True)
class IngestResult:
    path: str
    status: IngestStatus
    doc_id: str = ""
    title: str = ""
    chunks: int = 0
    reason: str = ""

    def line(self) -> str:
        if self.status == "refused":
            return f"refused   {self.path}: {self.reason}"
        return f"{self.status:<9} {self.path} ({self.chunks} chunks, id {self.doc_id})"


@dataclass(frozen=True)
class DocInfo:
    doc_id: str
    title: str
    source: str
    doc_type: str
    chunks: int
    indexed_at: str
    sha256: str = ""

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("doc_id", "title", "source", "chunks", "indexed_at")}


@dataclass(frozen=True)
class StreamEvent:
    """What `Service.stream` yields: the sources, then tokens, then the final answer. A "reset" means the
    answer is being written again (a second look at the whole documents): drop the tokens so far; new
    sources and tokens follow. A "status" (its text in `token`) says what is happening while nothing is shown,
e.g. "Checking the answer…": a checked answer arrives whole once its check is done."""

    kind: Literal["sources", "token", "reset", "status", "done"]
    token: str = ""
    sources: tuple[Source, ...] = field(default_factory=tuple)
    answer: Answer | None = None
