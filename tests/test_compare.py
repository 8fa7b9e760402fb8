"""Fine-tuned, hybrid and side-by-side arms through the service, the CLI JSON shape and the chat page.

The fine-tuned model here is the small packaged model registered in the model registry (training itself
is tested in test_finetune_train.py): these tests are about routing questions to the right arm."""

from __future__ import annotations

import os
import shutil

import pytest
from streamlit.testing.v1 import AppTest

from chatbot.finetune import registry
from chatbot.llm.files import resolve_chat_model
from tests.conftest import ROOT, app_environment
from tests.documents import LANTERN


def register_small_model(settings, name: str = "smol-test") -> registry.ModelRecord:
    source = resolve_chat_model(settings.chat_model, settings.models_dir)
    folder = registry.finetuned_dir(settings) / name
    shutil.copytree(source, folder, copy_function=os.link)
    record = registry.ModelRecord(name=name, base_model=settings.chat_model, method="full", hyperparams={},
                                  train_loss=1.0, val_loss=1.1, trained_at="2026-01-01T00:00:00+00:00",
                                  data_sha256="0" * 64, kb_version=0, duration_s=1.0, path=str(folder))
    registry.write_record(record, folder)
    return registry.set_active(settings, name)


def test_arms_route_to_the_right_model_and_retrieval(service):
    from chatbot.service import ServiceError

    service.ingest_bytes("lantern.md", LANTERN)
    with pytest.raises(ServiceError, match="No fine-tuned model"):
        service.ask("How big is the battery?", mode="finetuned")
    register_small_model(service.settings)
    comparison = service.compare("How big is the SL-300 battery?", ["rag", "finetuned", "hybrid"])
    by_arm = {a.mode: a for a in comparison.answers}
    assert list(by_arm) == ["rag", "finetuned", "hybrid"]
    assert by_arm["rag"].sources and by_arm["hybrid"].sources
    assert by_arm["finetuned"].sources == ()
    assert "fine-tuned" in by_arm["finetuned"].model and "fine-tuned" in by_arm["hybrid"].model
    assert "fine-tuned" not in by_arm["rag"].model
    assert all(a.groundedness is not None and 0 <= a.groundedness <= 1 for a in comparison.answers)
    data = comparison.to_dict()
    assert set(data) == {"question", "answers"}
    assert {"arm", "answer", "refused", "sources", "latency_s", "ttft_s", "model"} <= set(data["answers"][0])


def test_staleness_counts_documents_changed_after_training(fake_service):
    service = fake_service
    service.ingest_bytes("lantern.md", LANTERN)
    record = register_small_model(service.settings)
    record = registry.ModelRecord.from_dict({**record.to_dict(), "kb_version": service.kb_version()})
    assert service.staleness(record) == (0, [])
    service.ingest_bytes("returns.md", b"# Returns\n\nReturn within 30 days.")
    service.delete_document("lantern")
    assert service.staleness(record) == (2, [("returns", "added"), ("lantern", "deleted")])


@pytest.mark.slow  # the chat page on the real models
def test_side_by_side_page(tmp_path, monkeypatch):
    with app_environment(tmp_path, monkeypatch, {"lantern.md": LANTERN}, 16, prepare=register_small_model) as settings:
        at = AppTest.from_file(str(ROOT / "chatbot" / "ui" / "app.py"), default_timeout=300).run()
        assert [o for o in at.radio[0].options] == ["RAG", "Fine-tuned", "Hybrid", "Side by side"]
        at.radio[0].set_value("compare").run()
        at.chat_input[0].set_value("How big is the SL-300 battery?").run()
        assert not at.exception
        labels = [m.value for m in at.markdown if m.value in ("**RAG**", "**Fine-tuned**", "**Hybrid**")]
        assert labels == ["**RAG**", "**Fine-tuned**", "**Hybrid**"]
        better = [b for b in at.button if b.label == "This one is better"]
        assert len(better) == 3
        better[2].click().run()
        assert [b.label for b in at.button if "etter" in b.label].count("✓ Better answer") == 1
        from chatbot.db import open_database
        from chatbot.feedback import ratings

        rows = ratings(open_database(settings.effective_database_url))
        assert [(r.arm, r.preferred) for r in rows] == [("hybrid", True)]
