"""Training rows: template, split, exclusion, dedup and determinism (pure; no model)."""

from __future__ import annotations

import doctest
import json
from pathlib import Path

import pytest

from chatbot.finetune import data
from chatbot.finetune.data import (
    QAPair,
    build_training_data,
    load_tickets,
    normalise_question,
    pairs_from_chunks,
    trim_at_sentence,
)
from chatbot.ingest import load, split
from chatbot.ingest.pipeline import expand_paths
from chatbot.rag import prompts
from chatbot.types import Chunk

ROOT = Path(__file__).resolve().parent.parent


def chunk(doc: str, index: int, title: str, section: str, body: str) -> Chunk:
    header = f"{title} > {section}" if section else title
    return Chunk(f"{doc}:abcd1234:{index}", doc, index, f"{header}\n{body}", title, section, f"{doc}.md")


TICKETS = [QAPair(f"How do I fix problem {n}?", f"Do step {n}.", f"ticket:{n}") for n in range(40)]
CHUNKS = [
    chunk("faq", 0, "Account faq", "How old must I be?",
          "Q: How old must I be?\nA: You must be 18 or older."),
    chunk("hub", 0, "Brightline Hub", "", "The Hub connects all your Brightline devices to the app."),
    chunk("hub", 1, "Brightline Hub", "Reset the Hub",
          "Use this when nothing else works.\n1. Unplug the Hub.\n2. Hold the button for 10 seconds."),
    chunk("hub", 2, "Brightline Hub", "Reset the Hub", "3. Plug it back in and wait for the blue light."),
    chunk("hub", 3, "Brightline Hub", "LED colours", "Blue means setup mode. Red means offline."),
]


def test_doctests() -> None:
    assert doctest.testmod(data).failed == 0


def test_template_is_the_answer_time_template() -> None:
    built = build_training_data(TICKETS[:3], val_fraction=0.0)
    for row, pair in zip(built.train, TICKETS[:3], strict=True):
        assert row["messages"] == prompts.training_messages(pair.question, pair.answer)
        assert row["messages"][:-1] == prompts.closed_book_messages(pair.question)


def test_no_validation_row_in_training() -> None:
    built = build_training_data(TICKETS, CHUNKS, val_fraction=0.3)
    train_q = {normalise_question(r["messages"][1]["content"]) for r in built.train}
    val_q = {normalise_question(r["messages"][1]["content"]) for r in built.validation}
    assert built.train and built.validation
    assert not train_q & val_q
    assert len(built.train) + len(built.validation) == built.n_pairs


def test_excluded_questions_never_in_training() -> None:
    exclude = {"HOW DO I FIX PROBLEM 3", "how do i fix problem 7?!", "How old must I be?"}
    built = build_training_data(TICKETS, CHUNKS, exclude=exclude, val_fraction=0.2)
    banned = {normalise_question(q) for q in exclude}
    rows = built.train + built.validation
    assert not banned & {normalise_question(r["messages"][1]["content"]) for r in rows}
    assert built.n_excluded == 3


def test_exclusion_holds_for_every_split_fraction() -> None:
    exclude = [p.question for p in TICKETS[::2]]
    for fraction in (0.0, 0.5, 1.0):
        built = build_training_data(TICKETS, exclude=exclude, val_fraction=fraction)
        trained = {r["messages"][1]["content"] for r in built.train}
        assert not trained & set(exclude)


def test_dedup_on_normalised_question_keeps_first() -> None:
    pairs = [QAPair("Where is my order?", "first"), QAPair("where is my ORDER", "second"),
             QAPair("Where is my order ?", "third")]
    built = build_training_data(pairs, val_fraction=0.0)
    assert [r["messages"][-1]["content"] for r in built.train] == ["first"]
    assert built.n_duplicates == 2


def test_deterministic_and_stable_split() -> None:
    one = build_training_data(TICKETS, CHUNKS, val_fraction=0.25)
    two = build_training_data(list(TICKETS), list(reversed(CHUNKS)), val_fraction=0.25)
    assert one.train == two.train and one.validation == two.validation
    assert one.data_sha256 == two.data_sha256
    # Adding pairs doesn't move existing ones between train and validation.
    more = build_training_data(TICKETS + [QAPair("A new question?", "x")], CHUNKS, val_fraction=0.25)
    assert all(row in more.validation for row in one.validation)
    assert more.data_sha256 != one.data_sha256 or len(more.train) == len(one.train)


def test_pairs_from_chunks_are_answerable_from_their_chunk() -> None:
    pairs = pairs_from_chunks(CHUNKS)
    by_chunk = {c.chunk_id: c for c in CHUNKS}
    questions = [p.question for p in pairs]
    assert questions == [
        "How old must I be?",
        "What does the help centre say about Brightline Hub?",
        "What does the help centre say about Reset the Hub (Brightline Hub)?",
        "How do I reset the Hub?",
        "What does the help centre say about LED colours (Brightline Hub)?",
    ]
    for pair in pairs:
        assert pair.answer in by_chunk[pair.source].text


def test_trim_at_sentence_boundary() -> None:
    text = " ".join(f"Sentence number {n} is here." for n in range(40))
    trimmed = trim_at_sentence(text, 400)
    assert len(trimmed) <= 400 and trimmed.endswith(".") and text.startswith(trimmed)


def test_load_tickets_jsonl_and_csv(tmp_path: Path) -> None:
    jsonl = tmp_path / "t.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in [
        {"id": "T1", "question": "Q one?", "answer": "A one.", "category": "billing"},
        {"id": "T2", "question": "", "answer": "no question"},
    ]) + "\n")
    csv_file = tmp_path / "t.csv"
    csv_file.write_text('Question,Answer\n"Q, two?",A two.\n')
    assert load_tickets(jsonl) == [QAPair("Q one?", "A one.", "ticket:T1", "ticket")]
    assert load_tickets(csv_file) == [QAPair("Q, two?", "A two.", "ticket:1", "ticket")]


def test_sample_knowledge_base_gives_pairs() -> None:
    kb = ROOT / "knowledge_base"
    if not kb.is_dir():
        pytest.skip("no sample knowledge base")
    chunks = [c for p in expand_paths([kb]) for c in split(load(p.name, p.read_bytes()))]
    built = build_training_data((), chunks)
    assert len(built.train) > 100 and built.sources.get("faq") and built.sources.get("section")
    assert all(len(r["messages"][-1]["content"]) <= 401 for r in built.train)


def test_chunks_left_unwritten_keep_their_templated_pairs() -> None:
    """Written pairs replace the templated ones, except for the chunks the pair-writing budget did not reach."""
    written = [QAPair("Which devices does the Hub connect?", "All your Brightline devices.", CHUNKS[1].chunk_id,
                      "generated")]
    templated = {p.source for p in pairs_from_chunks(CHUNKS) if p.kind != "faq"}
    unwritten = sorted(templated - {CHUNKS[1].chunk_id})
    full = build_training_data(chunks=CHUNKS, generated=written, val_fraction=0.0)
    part = build_training_data(chunks=CHUNKS, generated=written, val_fraction=0.0, unwritten=unwritten)
    assert full.sources.get("section", 0) == 0 and full.sources["generated"] == 1
    assert part.sources["section"] == len([p for p in pairs_from_chunks(CHUNKS) if p.source in unwritten])
    assert part.sources["generated"] == 1 and part.sources["section"] > 0
