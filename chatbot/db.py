"""The relational database (SQLAlchemy Core): the document manifest, the knowledge-base change log,
feedback, conversations and background jobs. SQLite in HOME by default; any SQLAlchemy URL (e.g.
PostgreSQL) through CHATBOT_DATABASE_URL. The tables here are the current schema;
`chatbot/migrations/` holds the revisions that build it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    select,
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


# One row per chat session (a browser session's conversation, or a scripted one).
conversations = Table(
    "conversations",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# The messages of a conversation in order: a user's question, then its answer (one per arm side by side).
messages = Table(
    "messages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("conversation_id", String(64), ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False,
           index=True),
    Column("role", String(20), nullable=False),  # user | assistant
    Column("text", Text, nullable=False),
    Column("mode", String(20), nullable=True),  # the arm that answered (rag, finetuned, ...); None for the user
    Column("model", String(300), nullable=True),
    Column("refused", Boolean, nullable=True),
    Column("sources", Text, nullable=False),  # JSON list of {doc_id, title, section, source, score}
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("ttft_s", Float, nullable=True),  # an answer's wait for its first word (migration 0005)
)

# Background jobs (fine-tuning, evaluation): lifecycle and a short result, for history across restarts.
jobs = Table(
    "jobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(20), nullable=False),  # training | evaluation
    Column("status", String(20), nullable=False),  # running | done | cancelled | failed | interrupted
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    # written every few seconds while the job runs: a running row that stops hearing from its process
    # (killed, restarted) is marked interrupted
    Column("heartbeat_at", DateTime(timezone=True), nullable=True),
    Column("error", Text, nullable=False),
    Column("result", String(500), nullable=False),  # the model's name, the report's folder, ...
)


# Keys of the HTTP API (chatbot/api/): only a SHA-256 of the key is kept; `prefix` (its first characters)
# lets an admin tell keys apart in a list. scope: chat (public widgets) | admin (documents over the API).
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False),
    Column("prefix", String(16), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True, index=True),
    Column("scope", String(20), nullable=False),
    Column("rate_per_minute", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Column("last_used_at", DateTime(timezone=True), nullable=True),
)


# --- the support team's loop (issue 28; migration 0005) ---------------------------------------------------
# A customer's request for a person: the contact they left (admins only: it never reaches a prompt), the
# queue status, and the delivery to the helpdesk webhook (stored before it is sent; retried with back-off).
handoffs = Table(
    "handoffs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("conversation_id", String(64), ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False,
           index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("reason", String(20), nullable=False),  # declined | asked | topic
    Column("contact", String(300), nullable=False),
    Column("message", Text, nullable=False),
    Column("status", String(20), nullable=False),  # open | resolved
    Column("resolved_at", DateTime(timezone=True), nullable=True),
    Column("delivery", String(20), nullable=False),  # pending | delivered | failed | off (no webhook set)
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=True),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
)

# Every delivery attempt of a hand-off to the webhook, shown on the queue page.
handoff_attempts = Table(
    "handoff_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("handoff_id", Integer, ForeignKey("handoffs.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("error", Text, nullable=False),
)

# Curated answers written by the support team: action "answer" is also a KB document (doc_id, kind curated)
# and answers a question this similar without the model; action "handoff" sends the topic to a person.
curated = Table(
    "curated",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("question", Text, nullable=False),
    Column("answer", Text, nullable=False),
    Column("action", String(20), nullable=False),  # answer | handoff
    Column("doc_id", String(100), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Question embeddings kept for the insights' topic clusters: key = sha256 of the model name and the text.
question_vectors = Table(
    "question_vectors",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("vector", LargeBinary, nullable=False),  # float32
)


def changes_since(engine: Engine, version: int) -> list[tuple[str, str]]:
    """(doc_id, last action) for each document changed after knowledge-base `version`."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(kb_changes.c.doc_id, kb_changes.c.action).where(kb_changes.c.version > version)
            .order_by(kb_changes.c.version)
        ).all()
    return list({doc_id: action for doc_id, action in rows}.items())


def now() -> datetime:
    return datetime.now(UTC)


def open_database(url: str) -> Engine:
    """Create the engine and upgrade the database to the newest migration (a no-op when it is there).
    A SQLite file's folder is created first: on a machine where the app never ran, HOME does not exist."""
    engine = create_engine(url, pool_pre_ping=True)
    if url.startswith("sqlite"):
        database = engine.url.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(conn, _record) -> None:  # WAL lets readers and one writer work at once
            cursor = conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=10000")
            cursor.close()

    migrations.upgrade(engine)
    return engine
