"""Scale-out paths against real servers on loopback: a Chroma server and an OpenAI-compatible model
server (`transformers serve`), chosen by settings alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatbot.llm.files import resolve_chat_model
from chatbot.service import make_service
from tests.conftest import make_settings
from tests.documents import LANTERN
from tests.servers import chroma_server, openai_model_server


def test_chroma_server_ingest_ask_delete(tmp_path, embeddings, small_chat_model):
    with chroma_server(tmp_path / "chroma-server") as url:
        settings = make_settings(tmp_path / "home", chroma_url=url)
        service = make_service(settings, chat_model=small_chat_model, embeddings=embeddings)
        assert service.ingest_bytes("lantern.md", LANTERN).status == "indexed"
        assert not (settings.home / "chroma").exists()  # nothing embedded: the server holds the vectors
        answer = service.ask("How big is the SL-300 battery?")
        assert answer.sources and answer.sources[0].doc_id == "lantern"
        # A second replica (same server, same database) sees the same knowledge base.
        replica = make_service(settings, chat_model=small_chat_model, embeddings=embeddings)
        assert replica.retriever.retrieve("lantern battery")[0].doc_id == "lantern"
        assert service.delete_document("lantern")
        assert replica.retriever.retrieve("lantern battery") == []
        assert service.store.chunk_count() == 0


@pytest.mark.slow  # a real model behind a model server
def test_openai_compatible_model_server(tmp_path, embeddings):
    settings = make_settings(tmp_path / "home")
    folder = Path(resolve_chat_model(settings.chat_model, settings.models_dir)).resolve()
    with openai_model_server(folder, tmp_path) as base_url:
        remote = make_settings(tmp_path / "home", chat_backend="openai", openai_base_url=base_url,
                               chat_model=str(folder), max_new_tokens=24)
        service = make_service(remote, embeddings=embeddings)
        service.ingest_bytes("lantern.md", LANTERN)
        events = list(service.stream("How big is the SL-300 battery?"))
        answer = events[-1].answer
        assert sum(e.kind == "token" for e in events) >= 1
        assert answer.text.strip() and answer.model == str(folder)
        assert answer.sources[0].doc_id == "lantern"
        assert service.ask("What is the capital of Australia?").refused


@pytest.mark.slow  # a real model behind a model server
def test_openai_backend_warms_up_and_holds_a_conversation_in_the_cli_and_the_app(tmp_path, monkeypatch, capsys):
    """The app starts on the OpenAI-compatible backend (warm-up sends the server's own length option) and
    a follow-up is rewritten through it (the rewrite binds its length too), in the CLI and in the app."""
    import json

    from streamlit.testing.v1 import AppTest

    from chatbot.cli import main
    from tests.conftest import ROOT, app_environment

    folder = Path(resolve_chat_model(make_settings(tmp_path / "m").chat_model, tmp_path / "m" / "models")).resolve()
    with openai_model_server(folder, tmp_path) as base_url, \
            app_environment(tmp_path, monkeypatch, {"lantern.md": LANTERN}, max_new_tokens=24) as settings:
        for key, value in {"CHAT_BACKEND": "openai", "OPENAI_BASE_URL": base_url, "CHAT_MODEL": str(folder)}.items():
            monkeypatch.setenv(f"CHATBOT_{key}", value)
        assert main(["ingest", str(settings.kb_dir)]) == 0
        capsys.readouterr()
        assert main(["ask", "How big is the SL-300 battery?", "--json"]) == 0
        first = json.loads(capsys.readouterr().out)
        assert first["answer"].strip() and first["sources"]
        assert main(["ask", "and how long does it last?", "--conversation", first["conversation_id"], "--json"]) == 0
        second = json.loads(capsys.readouterr().out)
        assert second["answer"].strip() and second["standalone_question"]

        at = AppTest.from_file(str(ROOT / "chatbot" / "ui" / "app.py"), default_timeout=300).run()  # warms up
        assert not at.exception
        for question in ("How big is the SL-300 battery?", "and how long does it last?"):
            at.chat_input[0].set_value(question).run()
            assert not at.exception
        assert len([m for m in at.chat_message if m.name == "assistant"]) == 2
        assert not [w for w in at.warning if "something went wrong" in w.value]
