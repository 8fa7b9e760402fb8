"""Smoke test of the evaluation harness with a real small model on a tiny invented dataset: the report
has the promised shape, retrieval finds the obvious documents, and the user's store is never touched."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chatbot.config import PACKAGED_SMALL_CHAT
from chatbot.evaluation.dataset import CorpusRecord, load_dataset
from chatbot.evaluation.harness import file_names, ingest_corpus, ranked_documents, run_eval
from chatbot.evaluation.report import text_table
from chatbot.ingest.loaders import doc_id_for
from chatbot.service import make_service
from tests.conftest import make_settings

CORPUS = [
    {"id": "kb_refunds", "title": "Refund policy",
     "text": "Refunds for annual plans are paid back to the original card within 5 business days."},
    {"id": "kb_router", "title": "Resetting the Zephyr router",
     "text": "Hold the pinhole reset button on the back of the Zephyr router for 10 seconds until the "
             "light blinks orange."},
    {"id": "kb_password", "title": "Changing your password",
     "text": "Open Account, then Security, and choose Change password. The new password needs 12 characters."},
    {"id": "kb-shipping", "title": "Shipping times",
     "text": "Parcels to Norway and Iceland arrive in 7 to 9 days by ground freight."},
    {"id": "kb_invoice", "title": "Downloading invoices",
     "text": "Invoices are listed under Billing, Documents; click the PDF icon to download one."},
]
QUESTIONS = [
    {"id": "q1", "question": "How do I reset the Zephyr router?", "history": [], "gold_ids": ["kb_router"],
     "answer": "Hold the reset button on the back for 10 seconds.", "alt_answers": [], "answerable": True,
     "tags": {"type": "how-to"}},
    {"id": "q2", "question": "How long do parcels to Iceland take?",
     "history": [{"role": "user", "content": "Do you ship to the Nordics?"},
                 {"role": "assistant", "content": "Yes, we ship to Norway and Iceland."}],
     "gold_ids": ["kb-shipping"], "answer": "7 to 9 days.", "alt_answers": ["About a week."],
     "answerable": True, "tags": {"type": "fact"}},
    {"id": "q3", "question": "What is the boiling point of tungsten?", "history": [], "gold_ids": [],
     "answer": "", "alt_answers": [], "answerable": False, "tags": {"type": "off-topic"}},
    {"id": "q4", "question": "Which football team won the 1954 World Cup?", "history": [], "gold_ids": [],
     "answer": "", "alt_answers": [], "answerable": False, "tags": {"type": "off-topic"}},
]


def write_dataset(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for name, rows in (("corpus.jsonl", CORPUS), ("questions.jsonl", QUESTIONS)):
        (folder / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from chatbot.llm.factory import make_chat_model

    settings = make_settings(tmp_path_factory.mktemp("model-home"))
    return make_chat_model(settings.model_copy(update={"chat_model": PACKAGED_SMALL_CHAT, "max_new_tokens": 24}))


def test_file_names_keep_doc_ids_unique():
    names = file_names([CorpusRecord("x_1", "", "a"), CorpusRecord("x-1", "", "b"), CorpusRecord("x.1", "", "c")])
    assert len(set(names.values())) == 3


# Upstream ids of public sets: long, sharing their first 80 slug characters, full of `#`, `|`, `:` and
# spaces, non-ASCII. The harness once looped forever on such ids (the numeric suffix was cut off again).
LONG = "Benefits Planner: Disability | Approval Process | Social Security Administration"
HOSTILE_IDS = [f"{LONG}#1_0::p{i}" for i in range(12)] + ["Überweisung | Gebühren", "Überweisung | Gebühr", "#",
                                                         "a" * 300, "a" * 300 + "b", "   ", "x/../y"]


def test_file_names_terminate_on_colliding_long_ids():
    names = file_names([CorpusRecord(i, "", f"text {n}") for n, i in enumerate(HOSTILE_IDS)])
    assert len(set(names.values())) == len(HOSTILE_IDS)
    assert len({doc_id_for(n) for n in names.values()}) == len(HOSTILE_IDS)


def test_corpus_with_colliding_long_ids_is_indexed_and_scored(tmp_path, store_service):
    """Every record of such a corpus becomes its own document, and a question's gold id finds it."""
    corpus = [CorpusRecord(i, f"Page {n}", f"Topic number {n}: the zebra-{n} procedure takes {n + 2} days.")
              for n, i in enumerate(HOSTILE_IDS)]
    index = ingest_corpus(store_service, corpus)
    assert not index.refused
    assert len(index.doc_to_corpus) == len(HOSTILE_IDS) == len(store_service.documents())
    gold = index.gold_docs([HOSTILE_IDS[7]])
    ranked = ranked_documents(store_service, "How long does the zebra-7 procedure take?")
    assert ranked[0] in gold
    assert index.corpus_ids(ranked[:1]) == [HOSTILE_IDS[7]]


def test_load_dataset_reads_the_format(tmp_path):
    data = load_dataset(write_dataset(tmp_path / "tiny"))
    assert len(data.corpus) == 5 and len(data.questions) == 4
    assert data.questions[1].history[0].role == "user"
    assert data.questions[1].references == ("7 to 9 days.", "About a week.")
    assert data.questions[2].answerable is False


@pytest.mark.slow
def test_harness_smoke(tmp_path, tiny_model):
    dataset = write_dataset(tmp_path / "tiny")
    user = make_settings(tmp_path / "user-home")
    out = tmp_path / "out"
    calls: list[tuple[str, int, int]] = []

    report = run_eval(dataset, make_service, ["rag", "finetuned"], limit=None, seed=0, out_dir=out, settings=user,
                      chat_model=tiny_model, progress=lambda *a: calls.append(a))

    assert report["dataset"] == "tiny" and report["n"] == 4
    assert set(report["arms"]) == {"rag"}
    assert "finetuned" in report["skipped"]  # no fine-tuned model in this home: skipped with the reason
    rag = report["arms"]["rag"]
    assert {"retrieval", "answer", "refusal", "latency", "ci"} <= set(rag)
    assert set(rag["retrieval"]) == {"recall@1", "recall@5", "recall@10", "mrr@10"}
    assert {"token_f1", "rouge_l", "bleu"} <= set(rag["answer"])
    assert {"precision", "recall", "f1"} <= set(rag["refusal"])
    assert {"ttft_p50", "ttft_p95", "total_p50", "total_p95", "tokens_per_s"} <= set(rag["latency"])
    assert rag["retrieval"]["recall@5"] == 1.0  # each question names its document's distinctive words
    assert rag["retrieval"]["mrr@10"] > 0.5
    assert all(0.0 <= rag["answer"][m] <= 1.0 for m in ("token_f1", "rouge_l", "bleu"))
    assert rag["refusal"]["n_unanswerable"] == 2 and rag["refusal"]["n_answerable"] == 2
    assert rag["latency"]["total_p95"] >= rag["latency"]["total_p50"] > 0
    assert rag["repeat_share"] is not None and 0.0 <= rag["repetitive_share"] <= 1.0
    assert set(report["slices"]["type"]) == {"fact", "how-to", "off-topic"}
    assert ("ingest", 5, 5) in calls and ("answer", 8, 8) in calls

    lines = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert [x["id"] for x in lines] == ["q1", "q2", "q3", "q4"]
    assert lines[0]["arms"]["rag"]["retrieved"][0] == "kb_router"  # corpus ids, not slugs
    # the gate's figure per item, and the threshold that would have declined best on these items
    similarity = {x["id"]: x["arms"]["rag"]["top_similarity"] for x in lines}
    assert all(0.0 < v <= 1.0 for v in similarity.values())
    gate = rag["refusal"]["threshold"]
    assert gate is not None and 0.0 <= gate["f1"] <= 1.0
    assert min(similarity.values()) <= gate["min_relevance"] <= max(similarity.values()) + 1e-6
    assert "CHATBOT_MIN_RELEVANCE=" in (out / "report.md").read_text()
    assert json.loads((out / "report.json").read_text())["n"] == 4
    assert "# Evaluation: tiny" in (out / "report.md").read_text()
    assert all((out / name).stat().st_size > 1000 for name in
               ("quality_latency.png", "recall_at_k.png", "refusal_confusion.png"))
    assert "rag" in text_table(report)

    # the user's store is untouched: no vector store or database was created in their home
    assert not (user.home / "chroma").exists() and not (user.home / "chatbot.db").exists()
