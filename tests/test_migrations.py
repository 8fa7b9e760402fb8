"""Alembic migrations: a fresh database is built by them, a database made by the old `create_all` is
adopted with its rows, and the migrated schema equals the tables declared in chatbot/db.py."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, insert, inspect, select

from chatbot import db, migrations
from chatbot.cli import main


def schema_diff(engine) -> list:
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn), db.metadata)


def test_fresh_sqlite_database_is_built_by_the_migrations(tmp_path):
    engine = db.open_database(f"sqlite:///{tmp_path / 'fresh.db'}")
    assert set(db.metadata.tables) | {"alembic_version"} == set(inspect(engine).get_table_names())
    with engine.connect() as conn:
        assert migrations.current(conn) == migrations.head()
    assert schema_diff(engine) == []
    assert migrations.upgrade(engine) == migrations.head()  # again: nothing to do


def test_database_from_create_all_is_adopted_with_its_rows(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = create_engine(url)
    # What the code before migrations did: create_all of the manifest, change log and feedback.
    db.metadata.create_all(old, tables=[db.documents, db.kb_changes, db.feedback])
    with old.begin() as conn:
        conn.execute(insert(db.documents).values(doc_id="returns", title="Returns", source="returns.md",
                                                 doc_type="md", sha256="a" * 64, chunks=2, indexed_at=db.now()))
        conn.execute(insert(db.kb_changes).values(doc_id="returns", action="added", at=db.now()))
    old.dispose()

    engine = db.open_database(url)
    with engine.connect() as conn:
        assert migrations.current(conn) == migrations.head()
        assert conn.execute(select(db.documents.c.doc_id, db.documents.c.chunks)).all() == [("returns", 2)]
        assert conn.execute(select(db.kb_changes.c.version)).scalars().all() == [1]
    assert schema_diff(engine) == []


def test_db_upgrade_command(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CHATBOT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CHATBOT_DATABASE_URL", raising=False)
    assert main(["db", "upgrade"]) == 0
    assert f"is at revision {migrations.head()}" in capsys.readouterr().out
    assert (tmp_path / "home" / "chatbot.db").is_file()
