"""The relational database (SQLAlchemy Core): the document manifest, the knowledge-base change log and
feedback. SQLite in HOME by default; any SQLAlchemy URL (e.g. PostgreSQL) through CHATBOT_DATABASE_URL.
The tables here are the current schema; `chatbot/migrations/` holds the steps that build it."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
)

from chatbot import migrations

metadata = MetaData()

documents = Table(
    "documents",
    metadata,
    Column("doc_id", String(100), primary_key=True),
    Column("title", String(300), nullable=False),
    Column("source", Text, nullable=False),
    Column("doc_type", String(20), nullable=False),
    Column("sha256", String(64), nullable=False, index=True),
    Column("chunks", Integer, nullable=False),
    Column("indexed_at", DateTime(timezone=True), nullable=False),
)

# One row per change to the knowledge base; its id is the KB version after the change.
kb_changes = Table(
    "kb_changes",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=True),
    Column("doc_id", String(100), nullable=False),
    Column("action", String(10), nullable=False),  # added | updated | deleted
    Column("at", DateTime(timezone=True), nullable=False),
)


# Ratings of answers: thumbs up (+1) / down (-1), an optional comment, and in side-by-side mode which
# answer of a comparison the user preferred. The export turns these into SFT and preference data.
feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("comparison_id", String(64), nullable=True, index=True),
    Column("question", Text, nullable=False),
    Column("answer", Text, nullable=False),
    Column("arm", String(20), nullable=False),
    Column("model", String(300), nullable=False),
    Column("sources", Text, nullable=False),  # JSON list of {doc_id, title, section, source}
    Column("rating", Integer, nullable=False),  # +1, -1, or 0 (no thumb, e.g. only "better")
    Column("comment", Text, nullable=False, default=""),
    Column("preferred", Boolean, nullable=False, default=False),
)


def now() -> datetime:
    return datetime.now(UTC)


def open_database(url: str) -> Engine:
    """Create the engine and upgrade the database to the newest migration (a no-op when it is there)."""
    engine = create_engine(url, future=True, pool_pre_ping=True)
    if url.startswith("sqlite"):

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(conn, _record) -> None:  # WAL lets readers and one writer work at once
            cursor = conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=10000")
            cursor.close()

    migrations.upgrade(engine)
    return engine
