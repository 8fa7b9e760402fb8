"""Fact recall in the prompt (chatbot/evaluation/prompt_recall.py) on a tiny dataset and fake models: a fact
the excerpt budget cuts is reported missing, and present when the prompt quotes whole chunks (budget 0)."""

from __future__ import annotations

import json
from pathlib import Path

from chatbot.cli.evaluation import main as eval_main
from chatbot.evaluation.metrics import token_coverage
from chatbot.evaluation.prompt_recall import CEILING, run_prompt_recall, text_table
from chatbot.service import make_service

CORPUS = [
    {"id": "kb_router", "title": "Resetting the Zephyr router",
     "text": "To reset the Zephyr router, hold the pinhole reset button on the Zephyr router. "
             "Keep holding the reset button of the router until the light blinks. "
             "Then wait for the router to restart. "
             "Opening hours of the Ghent office are nine to five. "
             "Spare power adapters cost 19 euros in the Lumora webshop."},
    {"id": "kb_refunds", "title": "Refund policy",
     "text": "Refunds for annual plans are paid back to the original card within 5 business days."},
]
QUESTIONS = [
    {"id": "q1", "question": "How do I reset the Zephyr router?", "history": [], "gold_ids": ["kb_router"],
     "answer": "Spare power adapters cost 19 euros in the Lumora webshop.", "alt_answers": [], "answerable": True},
    {"id": "q2", "question": "Can I reset the Zephyr router?", "history": [], "gold_ids": ["kb_router"],
     "answer": "Yes", "alt_answers": [], "answerable": True},  # no span to find: left out
    {"id": "q3", "question": "What is the boiling point of tungsten?", "history": [], "gold_ids": [],
     "answer": "", "alt_answers": [], "answerable": False},
]


def write_dataset(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for name, rows in (("corpus.jsonl", CORPUS), ("questions.jsonl", QUESTIONS)):
        (folder / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def test_token_coverage_takes_the_best_reference():
    assert token_coverage("Hold the reset button for 10 seconds.", ["hold reset 10 seconds", "call us"]) == 1.0
    assert token_coverage("Hold the reset button.", ["Hold reset for 10 seconds"]) == 0.5
    assert token_coverage("anything", []) == 0.0


def test_a_fact_cut_by_the_budget_is_missing_and_whole_chunks_hold_it(tmp_path, settings, echo_model,
                                                                       hashed_embeddings):
    def factory(s, **_):
        return make_service(s, chat_model=echo_model, embeddings=hashed_embeddings)

    report = run_prompt_recall(write_dataset(tmp_path / "tiny"), factory, [60, 0], settings=settings,
                               out_dir=tmp_path / "out")
    assert report["n"] == 1 and report["setup"]["no_span_reference"] == 1
    assert report["gold_retrieved"] == 1.0 and report["gate_passed"] == 1.0
    cut, whole, ceiling = (report["budgets"][k] for k in ("60", "0", CEILING))
    assert cut["all"]["coverage"] < 0.5 and cut["all"]["fact_in_prompt"] == 0.0
    assert whole["all"]["coverage"] == 1.0 and whole["all"]["fact_in_prompt"] == 1.0
    assert whole["gold_retrieved"]["fact_in_prompt"] == 1.0 and ceiling["all"]["fact_in_prompt"] == 1.0
    assert cut["chars_mean"] < whole["chars_mean"]
    rows = [json.loads(line) for line in (tmp_path / "out" / "prompt_recall-k4.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["q1"] and rows[0]["coverage"]["60"] < 0.5
    assert "ceiling" in text_table(report)


def test_prompt_only_flags_belong_together(capsys):
    assert eval_main(["--dataset", "x", "--top-k", "6"]) == 2
    assert "--prompt-only" in capsys.readouterr().err
