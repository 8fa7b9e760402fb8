"""The database on a real PostgreSQL server (skipped, with the reason, where none is installed)."""

from __future__ import annotations

import pytest

from chatbot import feedback
from chatbot.service import make_service
from tests.conftest import make_settings
from tests.servers import postgres_bin, postgres_server

pytestmark = pytest.mark.skipif(postgres_bin() is None, reason="PostgreSQL server binaries not installed "
                                "(Debian package postgresql; .ci/run installs it)")


def test_manifest_changes_and_feedback_on_postgres(tmp_path, embeddings):
    with postgres_server() as url:
        settings = make_settings(tmp_path / "home", database_url=url)
        service = make_service(settings, embeddings=embeddings)
        assert service.ingest_bytes("returns.md", b"# Returns\n\nReturn items within 30 days.").status == "indexed"
        assert service.ingest_bytes("returns.md", b"# Returns\n\nReturn items within 45 days.").status == "updated"
        assert [d.doc_id for d in service.documents()] == ["returns"]
        assert service.store.version() == 2
        assert not (settings.home / "chatbot.db").exists()
        answer = service.retriever.retrieve("return window")
        assert answer and "45 days" in service.retriever.chunk_text(answer[0].chunk_id)
        from chatbot.types import Answer

        rated = Answer("45 days [1].", tuple(answer), False, "rag", "m", 1.0, 0.5, question="Return window?")
        feedback.record(service.engine, rated, 1, "ok")
        assert [r.comment for r in feedback.ratings(service.engine)] == ["ok"]
        assert service.delete("returns") and service.documents() == []
        service.engine.dispose()
