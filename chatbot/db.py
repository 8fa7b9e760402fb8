"""The relational database (SQLAlchemy Core): the document manifest and the knowledge-base change log.
SQLite in HOME by default; any SQLAlchemy URL (e.g. PostgreSQL) through CHATBOT_DATABASE_URL."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
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


def now() -> datetime:
    return datetime.now(UTC)


def open_database(url: str) -> Engine:
    """Create the engine and any missing tables."""
    engine = create_engine(url, future=True, pool_pre_ping=True)
    if url.startswith("sqlite"):

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(conn, _record) -> None:  # WAL lets readers and one writer work at once
            cursor = conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=10000")
            cursor.close()

    metadata.create_all(engine)
    return engine
