"""Fine-tuning on the live knowledge base, as `chatbot finetune` and the Models page start it: write the
question/answer pairs from the indexed chunks (pairs.py, cached), build the RAG-prompt rows with the
product's own retriever and excerpt selection (raft.py), then train (train.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from langchain_core.language_models import BaseChatModel

from chatbot.config import Settings
from chatbot.finetune.data import QAPair, Row
from chatbot.finetune.pairs import PairCache, write_pairs
from chatbot.finetune.raft import RaftInputs, raft_rows
from chatbot.finetune.registry import ModelRecord
from chatbot.finetune.train import PRESETS, Preset, Progress, finetune
from chatbot.types import Chunk, Source

PairProgress = Callable[[int, int], None]


class KnowledgeBase(Protocol):
    """What training needs from the service."""

    settings: Settings

    def kb_chunks(self) -> list[Chunk]: ...
    def kb_version(self) -> int: ...
    def search(self, question: str, k: int) -> list[Source]: ...
    def excerpts(self, question: str, texts: Sequence[str]) -> list[str]: ...
    def pair_writer(self, preset_model: str = "") -> tuple[BaseChatModel, str]: ...


def pair_cache_path(settings: Settings) -> Path:
    return settings.home / "finetune" / "pairs-cache.jsonl"


def written_pairs(kb: KnowledgeBase, chunks: Sequence[Chunk], per_chunk: int, writer: str = "",
                  progress: PairProgress | None = None, minutes: float | None = None
                  ) -> tuple[list[QAPair], list[str], dict[str, Any]]:
    """The round-trip-checked pairs of every chunk (cached ones are not written again), the chunks left
    unwritten by the time budget `minutes`, and the figures of writing them; `writer` is the preset's pair
    model ("" for the chat model)."""
    started = time.perf_counter()
    model, name = kb.pair_writer(writer)
    pairs, stats = write_pairs(chunks, model, name, lambda q: kb.search(q, 5), per_chunk=per_chunk, k=5,
                               cache=PairCache(pair_cache_path(kb.settings)), progress=progress,
                               budget_s=None if minutes is None else 60 * minutes)
    figures = {"pairs": stats.to_dict(), "pair_model": name, "pairs_s": round(time.perf_counter() - started, 1)}
    return pairs, stats.unwritten, figures


def closed_book_minutes(config: Preset, pairs_s: float) -> float | None:
    """The closed-book model's training budget: the preset's `max_minutes` plus the pair-writing minutes this
    run did not use (cached pairs cost only their round trip), so a later run of a preset takes the same wall
    time as a first one and spends it training (emanual_smarttv: bench/README.md, "issue 14").

    >>> closed_book_minutes(PRESETS["standard"], pairs_s=300.0)
    30.0
    >>> closed_book_minutes(PRESETS["standard"], pairs_s=1500.0)
    15.0
    """
    if config.max_minutes is None or config.pair_minutes is None:
        return config.max_minutes
    return round(config.max_minutes + max(0.0, config.pair_minutes - pairs_s / 60), 1)


def train_on_kb(kb: KnowledgeBase, preset: str = "quick", tickets: Path | None = None, name: str | None = None,
                progress: Progress | None = None, cancel: threading.Event | None = None,
                pair_progress: PairProgress | None = None, base: str | None = None,
                max_steps: int | None = None, exclude: Sequence[str] = (),
                figures: dict[str, Any] | None = None) -> ModelRecord:
    """Write pairs, build RAFT rows and train; questions in `exclude` are never trained on."""
    if preset not in PRESETS:
        raise ValueError(f"Unknown preset {preset!r}; use one of {', '.join(PRESETS)}")
    chunks, version = kb.kb_chunks(), kb.kb_version()
    config = PRESETS[preset]
    generated, unwritten, written = (
        written_pairs(kb, chunks, config.pairs_per_chunk, config.pair_model, pair_progress, config.pair_minutes)
        if chunks else ([], [], {}))
    inputs = RaftInputs(retrieve=kb.search, top_k=kb.settings.top_k, chunks={c.chunk_id: c for c in chunks},
                        select=kb.excerpts)

    def raft(pairs: Sequence[QAPair]) -> list[Row]:
        return raft_rows(pairs, inputs)

    minutes = closed_book_minutes(config, written.get("pairs_s", 0.0))
    if cancel is not None and cancel.is_set():
        from chatbot.finetune.train import TrainingCancelled

        raise TrainingCancelled("Fine-tuning was cancelled; no model was saved.")
    return finetune(kb.settings, base=base, tickets=tickets, chunks=chunks, kb_version=version, preset=preset,
                    name=name, progress=progress, cancel=cancel, max_steps=max_steps, generated=generated,
                    raft=raft, figures={**(figures or {}), **written}, exclude=exclude, unwritten=unwritten,
                    overrides={"max_minutes": minutes})
