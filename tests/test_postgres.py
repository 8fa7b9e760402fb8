"""The database on a real PostgreSQL server (skipped, with the reason, where none is installed)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import inspect

from chatbot import db, feedback, jobs, migrations
from chatbot.service import make_service
from tests.conftest import make_settings
from tests.documents import LANTERN_BATTERY
from tests.servers import postgres_bin, postgres_server

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(postgres_bin() is None, reason="PostgreSQL server binaries not installed "
                                 "(Debian package postgresql; .ci/run installs it)")]


def test_migrations_manifest_changes_and_feedback_on_postgres(tmp_path, embeddings):
    with postgres_server() as url:
        # Four replicas starting at once: the advisory lock lets one migrate, the others find it done.
        with ThreadPoolExecutor(4) as pool:
            engines = list(pool.map(db.open_database, [url] * 4))
        with engines[0].connect() as conn:
            assert migrations.current(conn) == migrations.head()
            assert set(db.metadata.tables) <= set(inspect(conn).get_table_names())
        from tests.test_migrations import schema_diff

        assert schema_diff(engines[0]) == []
        for engine in engines:
            engine.dispose()

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
        service.record_turn("session-1", [rated])
        assert [(m.role, m.text) for m in service.conversation("session-1")] == [("user", "Return window?"),
                                                                                 ("assistant", "45 days [1].")]
        job = jobs.TrainingJob(preset="quick")
        jobs.start(job, lambda job: None, service.engine).join(30)
        assert [(r.kind, r.status) for r in service.recent_jobs()] == [("training", "done")]
        assert service.delete_document("returns") and service.documents() == []
        service.engine.dispose()


def test_two_replicas_on_a_chroma_server_and_postgres_see_each_others_changes(tmp_path, embeddings):
    """Upload through one replica, answer through the other at once; replace and delete likewise. Each
    replica's keyword index follows the change log, with no restart and no rebuild."""
    from tests.servers import chroma_server

    with postgres_server() as url, chroma_server(tmp_path / "chroma-server") as chroma_url:
        settings = make_settings(tmp_path / "home", database_url=url, chroma_url=chroma_url)
        one, two = (make_service(settings, embeddings=embeddings) for _ in range(2))
        assert one.ingest_bytes("returns.md", b"# Returns\n\nReturn items within 30 days.").status == "indexed"
        assert two.retriever.retrieve("return window")[0].doc_id == "returns"  # loads two's index
        assert one.ingest_bytes("lantern.md", LANTERN_BATTERY).status == "indexed"
        top = two.retriever.retrieve("SL-300 battery")
        assert top[0].doc_id == "lantern" and "5200 mAh" in two.retriever.chunk_text(top[0].chunk_id)
        assert two.ingest_bytes("lantern.md", LANTERN_BATTERY.replace(b"5200", b"6400")).status == "updated"
        top = one.retriever.retrieve("SL-300 battery")
        assert top[0].doc_id == "lantern" and "6400 mAh" in one.retriever.chunk_text(top[0].chunk_id)
        assert sum(s.doc_id == "lantern" for s in one.retriever.retrieve("SL-300 battery", k=5)) == 1
        assert one.delete_document("lantern")
        assert all(s.doc_id != "lantern" for s in two.retriever.retrieve("SL-300 lantern battery", k=5))
        assert two.retriever.refresh() == 0 and len(two.retriever._index) == one.store.chunk_count()
