"""The live-KB evaluation set and the Evaluation page: start a run from the page, then read its report."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from chatbot.evaluation.live_kb import OFF_TOPIC, kb_dataset
from chatbot.finetune.data import is_validation
from chatbot.ingest import load, split
from tests.conftest import ROOT, app_environment

KB = {f"topic-{i}.md": (f"# Topic {i}\n\n" + "\n\n".join(f"## Part {i}.{j}\n\nPart {i}.{j} says the answer is "
                                                        f"{i * 10 + j}." for j in range(6))).encode()
      for i in range(4)}


def test_kb_dataset_uses_held_out_questions_with_real_gold_ids():
    chunks = [c for name, data in KB.items() for c in split(load(name, data))]
    corpus, questions = kb_dataset(chunks, min_questions=0)
    assert {r["id"] for r in corpus} == {f"topic-{i}" for i in range(4)}
    answerable = [q for q in questions if q["answerable"]]
    assert all(is_validation(q["question"], 0.1) for q in answerable)
    assert all(q["gold_ids"][0] in {r["id"] for r in corpus} for q in answerable)
    assert [q["question"] for q in questions if not q["answerable"]] == OFF_TOPIC
    _, padded = kb_dataset(chunks, min_questions=10)
    assert sum(q["answerable"] for q in padded) >= 10


def test_kb_dataset_asks_the_active_models_held_out_pairs():
    chunks = [c for name, data in KB.items() for c in split(load(name, data))]
    about = chunks[3]
    held_out = [{"question": "What does part 0.2 say the answer is?", "answer": "2.", "source": about.chunk_id,
                 "kind": "generated"},
                {"question": "Where is my parcel?", "answer": "Track it in the app.", "source": "ticket:T9",
                 "kind": "ticket"},
                {"question": "About a chunk that is gone?", "answer": "x", "source": "gone:0", "kind": "generated"}]
    _, questions = kb_dataset(chunks, held_out=held_out)
    asked = [(q["question"], q["gold_ids"], q["tags"]["split"]) for q in questions if q["answerable"]]
    assert asked == [("What does part 0.2 say the answer is?", [about.doc_id], "held_out"),
                     ("Where is my parcel?", [], "held_out")]
    assert [q["question"] for q in questions if not q["answerable"]] == OFF_TOPIC


@pytest.mark.slow  # the page runs an evaluation on the real model
def test_evaluation_page_runs_and_shows_a_report(tmp_path, monkeypatch):
    with app_environment(tmp_path, monkeypatch, KB, 8):
        at = AppTest.from_file(str(ROOT / "chatbot" / "ui" / "app.py"), default_timeout=300).run()
        at.switch_page("views/evaluation.py").run()
        assert not at.exception
        at.number_input[0].set_value(4)
        at.button[0].click().run()
        from chatbot.ui.state import get_service

        service = get_service()
        deadline = time.monotonic() + 400
        while service.evaluation is None or service.evaluation.running:
            assert time.monotonic() < deadline, "evaluation did not finish"
            time.sleep(1)
        assert service.evaluation.status == "done", service.evaluation.error
        at.run()
        assert not at.exception
        past, retrieval = at.dataframe[0].value, at.dataframe[1].value  # past runs, then the report
        assert list(past["status"]) == ["done"] and list(past["result"]) == [str(service.evaluation.out_dir)]
        assert list(retrieval["arm"]) == ["RAG"]
        assert 0 <= float(retrieval["recall@5"][0]) <= 1
        assert any("Reference:" in m.value for m in at.markdown)
        report = json.loads((Path(service.evaluation.out_dir) / "report.json").read_text())
        best = report["arms"]["rag"]["refusal"]["threshold"]
        shown = [c.value for c in at.caption if "CHATBOT_MIN_RELEVANCE=" in c.value]
        assert (f"CHATBOT_MIN_RELEVANCE={best['min_relevance']}" in shown[0]) if best else not shown
