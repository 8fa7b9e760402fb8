"""An evaluation set made from the live knowledge base, so an admin can measure the arms on their own
documents. Questions are the KB-derived pairs that fine-tuning holds out for validation (same hash split,
see chatbot/finetune/data.py), so a fine-tuned arm is never tested on what it trained on; a few
off-topic questions test refusal. Written in the format of ../shared/eval (corpus.jsonl, questions.jsonl)."""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from chatbot.config import Settings
from chatbot.finetune import registry
from chatbot.finetune.data import dedupe, is_validation, pairs_from_chunks
from chatbot.ingest.split import body_of
from chatbot.types import Chunk

VAL_FRACTION = 0.1  # the fine-tuning presets' validation share
OFF_TOPIC = [
    "What is the capital of Australia?",
    "Can you recommend a good recipe for banana bread?",
    "Who won the football world cup in 1966?",
    "How do I change the oil in a diesel car?",
    "What is the boiling point of ethanol?",
    "Can you write me a poem about the sea?",
]


def kb_dataset(chunks: Sequence[Chunk], min_questions: int = 12,
               held_out: Sequence[dict] | None = None) -> tuple[list[dict], list[dict]]:
    """(corpus records, question records) from the current chunks.

    With `held_out` (the active fine-tuned model's validation pairs, `registry.read_held_out`), asks those:
    written questions about chunks that are still indexed, and held-out tickets. Otherwise uses the
    templated pairs the split holds out; if the KB is so small that fewer than `min_questions` are held
    out, the rest are taken from the training side and tagged `seen_in_training` so reports can slice them.
    """
    texts: dict[str, list[Chunk]] = defaultdict(list)
    for chunk in chunks:
        texts[chunk.doc_id].append(chunk)
    corpus = [{"id": doc_id, "title": parts[0].title,
               "text": "\n\n".join(body_of(c) for c in sorted(parts, key=lambda c: c.index))}
              for doc_id, parts in sorted(texts.items())]
    doc_of = {c.chunk_id: c.doc_id for c in chunks}
    if held_out:
        asked = [p for p in held_out if p["source"] in doc_of or p.get("kind") == "ticket"]
        questions = [{"id": f"kb-{n:04d}", "question": p["question"], "history": [],
                      "gold_ids": [doc_of[p["source"]]] if p["source"] in doc_of else [], "answer": p["answer"],
                      "alt_answers": [], "answerable": True, "tags": {"kind": p.get("kind", ""), "split": "held_out"}}
                     for n, p in enumerate(asked)]
        return corpus, questions + _off_topic()
    pairs = [p for p in dedupe(pairs_from_chunks(chunks)) if p.source in doc_of]
    held_out = [p for p in pairs if is_validation(p.question, VAL_FRACTION)]
    extra = [p for p in pairs if p not in held_out][: max(0, min_questions - len(held_out))]
    questions = [{"id": f"kb-{n:04d}", "question": p.question, "history": [], "gold_ids": [doc_of[p.source]],
                  "answer": p.answer, "alt_answers": [], "answerable": True,
                  "tags": {"kind": p.kind, "split": "held_out" if p in held_out else "seen_in_training"}}
                 for n, p in enumerate(held_out + extra)]
    return corpus, questions + _off_topic()


def _off_topic() -> list[dict]:
    return [{"id": f"off-{n:02d}", "question": q, "history": [], "gold_ids": [], "answer": "",
             "alt_answers": [], "answerable": False, "tags": {"kind": "off_topic"}} for n, q in enumerate(OFF_TOPIC)]


def write_kb_dataset(chunks: Sequence[Chunk], folder: Path, held_out: Sequence[dict] | None = None) -> Path:
    corpus, questions = kb_dataset(chunks, held_out=held_out)
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in (("corpus.jsonl", corpus), ("questions.jsonl", questions)):
        (folder / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return folder


def live_kb_dataset(settings: Settings, chunks: Sequence[Chunk], folder: Path) -> Path:
    """`write_kb_dataset` asking the active fine-tuned model's held-out pairs, when a model is active."""
    active = registry.get_active(settings)
    held_out = registry.read_held_out(active) if active else None
    # the questions depend on which model is active now: say so, an eval started before `--use` asks others
    print(f"questions: held out from training by the active model {active.name}" if held_out and active else
          "questions: templated pairs of the knowledge base (no active fine-tuned model holds any out)",
          file=sys.stderr)
    return write_kb_dataset(chunks, folder, held_out)
