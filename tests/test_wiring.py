"""The service's wiring on fake models (tests/fakes.py): arms routed to the right model and retrieval,
side by side streamed arm by arm and recorded once, and the commands that need no model loading none."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from chatbot.types import ServiceError
from tests.conftest import ROOT
from tests.documents import LANTERN
from tests.fakes import EchoChatModel, HashedEmbeddings

MODEL_LIBRARIES = ("torch", "transformers", "llama_cpp", "sentence_transformers")


def test_fakes_are_deterministic_langchain_models():
    model, embeddings = EchoChatModel(), HashedEmbeddings()
    assert model.invoke("hello there").content == "Echo: hello there"
    assert "".join(str(c.content) for c in model.stream("one two three")) == "Echo: one two three"
    assert EchoChatModel(replies=["Scripted."]).invoke("x").content == "Scripted."
    one, again = embeddings.embed_query("battery life"), embeddings.embed_documents(["battery life"])[0]
    assert one == again and abs(sum(v * v for v in one) - 1) < 1e-9


def test_rag_and_hybrid_retrieve_base_and_finetuned_answer_closed_book(fake_service, echo_model):
    fake_service.ingest_bytes("lantern.md", LANTERN)
    rag = fake_service.ask("SL-300 lantern battery mAh", mode="rag")
    assert not rag.refused and [s.doc_id for s in rag.sources] == ["lantern"]
    assert "5200 mAh" in echo_model.calls[-1][-1].content  # the prompt quoted the document
    base = fake_service.ask("SL-300 lantern battery mAh", mode="base")
    assert base.sources == () and "5200" not in echo_model.calls[-1][-1].content
    assert (rag.mode, base.mode, rag.model) == ("rag", "base", "echo")
    with pytest.raises(ServiceError, match="No fine-tuned model"):
        fake_service.ask("SL-300 battery", mode="finetuned")
    with pytest.raises(ServiceError, match="Unknown mode"):
        fake_service.ask("SL-300 battery", mode="nonsense")


def test_stream_compare_streams_each_arm_then_records_one_turn(fake_service):
    fake_service.ingest_bytes("lantern.md", LANTERN)
    seen: list[tuple[str, str]] = []
    for arm, events in fake_service.stream_compare("SL-300 lantern battery mAh", ["rag", "finetuned", "base"],
                                                   conversation_id="side-by-side"):
        try:
            seen += [(arm, event.kind) for event in events]
        except ServiceError:  # no fine-tuned model: that arm fails, the next one still answers
            seen.append((arm, "error"))
    assert [kind for arm, kind in seen if kind in ("done", "error")] == ["done", "error", "done"]
    assert [arm for arm, kind in seen if kind == "done"] == ["rag", "base"]
    messages = fake_service.conversation("side-by-side")
    assert [(m.role, m.mode) for m in messages] == [("user", None), ("assistant", "rag"), ("assistant", "base")]
    assert messages[1].sources[0]["doc_id"] == "lantern"


def test_compare_gives_closed_book_answers_their_groundedness(fake_service):
    fake_service.ingest_bytes("lantern.md", LANTERN)
    comparison = fake_service.compare("SL-300 lantern battery mAh", ["rag", "base"])
    assert [a.mode for a in comparison.answers] == ["rag", "base"]
    assert all(a.groundedness is not None for a in comparison.answers)
    assert json.loads(json.dumps(comparison.to_dict()))["answers"][1]["arm"] == "base"


def test_docs_list_loads_no_model_code(tmp_path):
    """`chatbot docs list` reads the database: it imports none of the model libraries."""
    code = ("import sys; from chatbot.cli import main; rc = main(['docs', 'list', '--json']); "
            f"print([m for m in {MODEL_LIBRARIES!r} if m in sys.modules]); sys.exit(rc)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "CHATBOT_HOME": str(tmp_path / "h")})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"
