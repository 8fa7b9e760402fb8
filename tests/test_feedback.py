"""Feedback round-trips through the database and exports as SFT and preference rows."""

from __future__ import annotations

import json

from chatbot import feedback
from chatbot.db import open_database
from chatbot.types import Answer, Source

SRC = Source("refunds", "Refunds", "Timing", "refunds.md", "5 days", 0.8)


def answer(text: str, arm: str, question: str = "How long do refunds take?") -> Answer:
    return Answer(text=text, sources=(SRC,) if arm != "finetuned" else (), refused=False, mode=arm, model="m",
                  latency_s=1.0, ttft_s=0.5, question=question)


def test_ratings_round_trip_and_export(tmp_path):
    engine = open_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    good = feedback.record(engine, answer("Five business days [1].", "rag"), 1, "clear", "cmp1")
    bad = feedback.record(engine, answer("Two weeks.", "finetuned"), -1, "", "cmp1")
    feedback.record(engine, answer("Maybe?", "rag", "Other question"), 0)
    feedback.mark_preferred(engine, "cmp1", good)
    rows = {r.id: r for r in feedback.ratings(engine)}
    assert rows[good].rating == 1 and rows[good].preferred and rows[good].comment == "clear"
    assert rows[bad].rating == -1 and not rows[bad].preferred and rows[bad].arm == "finetuned"

    sft_path, pref_path, n_sft, n_pref = feedback.export(engine, tmp_path / "out")
    sft = [json.loads(line) for line in sft_path.read_text().splitlines()]
    prefs = [json.loads(line) for line in pref_path.read_text().splitlines()]
    assert (n_sft, n_pref) == (1, 1)
    assert sft[0]["messages"][-1] == {"role": "assistant", "content": "Five business days [1]."}
    assert sft[0]["messages"][-2]["content"] == "How long do refunds take?"
    assert prefs[0]["chosen"] == [{"role": "assistant", "content": "Five business days [1]."}]
    assert prefs[0]["rejected"] == [{"role": "assistant", "content": "Two weeks."}]


def test_preference_moves_when_another_answer_is_marked_better(tmp_path):
    engine = open_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    first = feedback.record(engine, answer("A", "rag"), 0, comparison_id="c")
    second = feedback.record(engine, answer("B", "hybrid"), 0, comparison_id="c")
    feedback.mark_preferred(engine, "c", first)
    feedback.mark_preferred(engine, "c", second)
    preferred = [r.id for r in feedback.ratings(engine) if r.preferred]
    assert preferred == [second]
    _, prefs = feedback.export_rows(feedback.ratings(engine))
    assert prefs == [{"prompt": prefs[0]["prompt"], "chosen": [{"role": "assistant", "content": "B"}],
                      "rejected": [{"role": "assistant", "content": "A"}], "chosen_arm": "hybrid",
                      "rejected_arm": "rag"}]
