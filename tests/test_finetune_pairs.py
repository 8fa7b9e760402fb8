"""Training data for the fine-tuned and hybrid arms: pairs written by the (small, real) model from a tiny
indexed KB with the round-trip filter and the cache, RAG-prompt (RAFT) examples built with the real
retriever and excerpt selection, and the freshness check: one end-to-end training run (its record carries
its figures), then a changed fact that RAG reads and the fine-tuned arm does not."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from chatbot.finetune.data import QAPair, to_row
from chatbot.finetune.pairs import PairCache, answer_support, round_trip, write_pairs
from chatbot.finetune.raft import RaftInputs, raft_row, raft_rows
from chatbot.rag import prompts
from chatbot.rag.citations import cited_numbers
from chatbot.types import NOT_FOUND

DOCS = {
    "lantern.md": "# Lumo Lantern\n\n## Battery\nThe Lumo Lantern runs for 40 hours on one charge. A full charge "
                  "takes 3 hours with the USB-C cable.\n\n## Price\nThe Lumo Lantern costs $79 and comes in green "
                  "or sand.\n",
    "kettle.md": "# Brew Kettle\n\n## Capacity\nThe Brew Kettle holds 1.7 litres and boils in 4 minutes.\n\n"
                 "## Warranty\nThe Brew Kettle has a two-year warranty that covers the heating element.\n",
    "returns.md": "# Returns\n\n## Return window\nYou can return any product within 30 days of delivery for a full "
                  "refund. Returns are free with the prepaid label.\n",
    "shipping.md": "# Shipping\n\n## Delivery times\nStandard delivery takes 3 to 5 business days; express "
                   "delivery arrives the next business day when ordered before 2 pm.\n",
}


@pytest.fixture
def kb(service):
    for name, text in DOCS.items():
        assert service.ingest_bytes(name, text.encode()).status == "indexed"
    return service


def _chunk(kb, phrase: str):
    return next(c for c in kb.kb_chunks() if phrase in c.text)


def test_round_trip_filter_keeps_only_grounded_pairs_that_find_their_chunk(kb) -> None:
    battery = _chunk(kb, "40 hours")
    search = lambda q: kb.search(q, 5)  # noqa: E731
    assert round_trip("How many hours does the Lumo Lantern run on one charge?", "It runs for 40 hours.",
                      battery, search, k=1) == ""
    assert round_trip("How long does the Lumo Lantern run?", "It runs for 90 hours on solar power.",
                      battery, search, k=1) == "grounding", "an answer with words the chunk lacks"
    assert round_trip("How long does standard delivery take for an order?", "The Lumo Lantern runs for 40 hours.",
                      battery, search, k=1) == "retrieval", "a question that finds another chunk"
    assert round_trip("What is this section called?", "Lumo Lantern > Battery", battery, search, k=1) == "form"


def test_small_model_writes_pairs_that_pass_the_round_trip_and_are_cached(kb, small_chat_model,
                                                                          tmp_path: Path) -> None:
    chunks = kb.kb_chunks()
    cache = PairCache(tmp_path / "pairs.jsonl")
    pairs, stats = write_pairs(chunks, small_chat_model, "smollm2", lambda q: kb.search(q, 5), per_chunk=2, k=5,
                               cache=cache)
    by_id = {c.chunk_id: c for c in chunks}
    assert stats.chunks == len(chunks) and stats.cached_chunks == 0 and stats.candidates > 0
    assert stats.kept + stats.failed_form + stats.failed_grounding + stats.failed_retrieval <= stats.candidates
    assert stats.kept == len(pairs) <= stats.candidates <= 2 * len(chunks)
    for pair in pairs:  # every kept pair passes the round trip on its own chunk
        assert pair.kind == "generated" and pair.source in by_id
        assert round_trip(pair.question, pair.answer, by_id[pair.source], lambda q: kb.search(q, 5), 5) == ""
        # its passage is the chunk's own words, and the closed-book row teaches them after the answer
        assert pair.passage and pair.passage.split()[0] in by_id[pair.source].text
        assert set(pair.passage.split()) <= set(by_id[pair.source].text.split())
        target = to_row(pair)["messages"][-1]["content"]
        assert pair.passage in target and len(target.split()) >= len(pair.answer.split())

    class Silent:  # a second run must not call the model: every chunk's pairs come from the cache file
        def bind(self, **_):
            return self

        def invoke(self, *_):
            raise AssertionError("the model was called for a cached chunk")

    again, stats2 = write_pairs(chunks, Silent(), "smollm2", lambda q: kb.search(q, 5), per_chunk=2, k=5,
                                cache=PairCache(tmp_path / "pairs.jsonl"))
    assert again == pairs and stats2.cached_chunks == len(chunks)

    # a time budget stops new writing, never reading the cache: a chunk the cache lacks is left unwritten
    new = replace(chunks[0], chunk_id="new:0", text=chunks[0].text + " The lantern also floats on water.")
    budgeted, stats3 = write_pairs([new, *chunks], Silent(), "smollm2", lambda q: kb.search(q, 5), per_chunk=2,
                                   k=5, cache=PairCache(tmp_path / "pairs.jsonl"), budget_s=0)
    assert budgeted == pairs and stats3.unwritten == ["new:0"] and stats3.to_dict()["unwritten_chunks"] == 1


def _pairs(kb) -> list[QAPair]:
    facts = [("How many hours does the Lumo Lantern run on one charge?", "It runs for 40 hours.", "40 hours"),
             ("How long is the Brew Kettle warranty?", "Two years, covering the heating element.", "two-year"),
             ("How many days do I have to return a product?", "Within 30 days of delivery.", "30 days"),
             ("How long does standard delivery take?", "3 to 5 business days.", "3 to 5"),
             ("How much does the Lumo Lantern cost?", "The Lumo Lantern costs $79.", "$79"),
             ("How much water does the Brew Kettle hold?", "It holds 1.7 litres.", "1.7 litres")]
    return [QAPair(q, a, _chunk(kb, phrase).chunk_id, "generated") for q, a, phrase in facts]


def _inputs(kb, whole_chunks: bool = True) -> RaftInputs:
    """Whole chunks (the second look's form, where every distractor shows), or the excerpts the RAG prompt
    quotes (the selection may drop distractors that bear little on the question, as at answer time)."""
    return RaftInputs(retrieve=kb.search, top_k=3, chunks={c.chunk_id: c for c in kb.kb_chunks()},
                      select=None if whole_chunks else kb.excerpts)


def _quoted(row: dict) -> list[str]:
    return row["messages"][1]["content"].split("<document number=")[1:]


def test_raft_example_with_oracle_cites_it_among_shuffled_distractors(kb) -> None:
    inputs = _inputs(kb)
    positions = set()
    for pair in _pairs(kb):
        row = raft_row(pair, inputs, with_oracle=True)
        assert row is not None and row["kind"] == "raft"
        system, user, answer = row["messages"]
        assert system["content"] == prompts.SYSTEM_PROMPT and user["content"].startswith(prompts.RAG_RULES)
        assert user["content"].endswith(f"Question: {pair.question}")
        documents = _quoted(row)
        assert 2 <= len(documents) <= inputs.top_k, "the oracle comes with distractors"
        cited = cited_numbers(answer["content"], len(documents))
        assert len(cited) == 1
        assert answer_support(pair.answer, documents[cited[0] - 1]) >= 0.8, "the citation points at the oracle"
        positions.add(cited[0])
    assert len(positions) > 1, "the oracle is not always in the same place"

    for pair in _pairs(kb):  # with the product's excerpt selection: the oracle's excerpt still holds the answer
        row = raft_row(pair, _inputs(kb, whole_chunks=False), with_oracle=True)
        documents = _quoted(row)
        cited = cited_numbers(row["messages"][-1]["content"], len(documents))
        assert len(cited) == 1 and answer_support(pair.answer, documents[cited[0] - 1]) >= 0.8


def test_raft_example_without_oracle_declines_and_holds_no_answer(kb) -> None:
    inputs = _inputs(kb)
    for pair in _pairs(kb):
        row = raft_row(pair, inputs, with_oracle=False)
        assert row is not None and row["kind"] == "raft-decline"
        assert row["messages"][-1]["content"] == NOT_FOUND
        oracle_text = inputs.chunks[pair.source].text.split("\n", 1)[1]
        assert oracle_text[:40] not in row["messages"][1]["content"]
    rows = raft_rows(_pairs(kb) * 1, inputs, oracle_share=0.5)
    assert {r["kind"] for r in raft_rows(_pairs(kb), inputs, oracle_share=1.0)} == {"raft"}
    assert len(rows) == len(_pairs(kb))


def test_freshness_fine_tuned_arm_keeps_the_old_fact_rag_reads_the_new_one(service, tmp_path: Path, monkeypatch,
                                                                            capsys) -> None:
    """Train on a price, change it in the document, re-index: the fine-tuned arm still says the old price,
    RAG quotes the new one (and never the old: no document holds it any more), and the model is stale."""
    import argparse
    import json

    from chatbot.cli import finetune as cli
    from chatbot.finetune import registry, train

    doc = "# Lumo Lantern\n\n## Price\nThe Lumo Lantern costs {price} and comes in green or sand.\n"
    assert service.ingest_bytes("lantern.md", doc.format(price="$79").encode()).status == "indexed"
    question = "How much does the Lumo Lantern cost?"
    tickets = tmp_path / "tickets.jsonl"
    tickets.write_text(json.dumps({"question": question, "answer": "The Lumo Lantern costs $79."}) + "\n")
    memorise = train.replace(train.PRESETS["quick"], batch_size=2, learning_rate=1e-3, val_fraction=0.0,
                             pairs_per_chunk=1, pair_model="", max_length=448)
    monkeypatch.setitem(train.PRESETS, "quick", memorise)
    steps: list[int] = []
    chunks_done: list[tuple[int, int]] = []
    record = service.train("quick", tickets, name="fresh", max_steps=20,
                           progress=lambda step, total, loss: steps.append(step),
                           pair_progress=lambda done, total: chunks_done.append((done, total)))
    assert steps == list(range(1, 21)) and chunks_done[-1] == (1, 1)
    figures = record.figures  # the training job's figures are in the record
    assert figures["steps"] == 20 and figures["train_rows"] >= 1 and figures["peak_rss_mb"] > 100
    assert figures["pairs"]["chunks"] == 1 and figures["pair_model"] and figures["stopped"] == "end"
    assert figures["total_s"] >= figures["train_s"] > 0
    assert record.arms == (["finetuned", "hybrid"] if record.hyperparams["sources"].get("raft") else ["finetuned"])
    registry.set_active(service.settings, record.name)

    assert "$79" in service.ask(question, mode="finetuned").text
    assert service.ingest_bytes("lantern.md", doc.format(price="$89").encode()).status == "updated"
    rag = service.ask(question, mode="rag")
    assert "$79" not in rag.text and any("$89" in s.snippet for s in rag.sources)
    assert "$79" in service.ask(question, mode="finetuned").text, "the fine-tuned arm answers from what it learned"

    monkeypatch.setenv("CHATBOT_HOME", str(service.settings.home))
    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["models", "list", "--json"])
    assert args.func(args) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(m["name"], m["stale"], m["documents_changed"]) for m in listed] == [("fresh", True, 1)]
