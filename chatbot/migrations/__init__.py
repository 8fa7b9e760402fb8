"""Schema migrations (Alembic), configured in code: no alembic.ini. `open_database` calls `upgrade`, so
every start brings the database to the newest revision; `chatbot db upgrade` does the same by hand.

A new revision: change the tables in `chatbot/db.py`, then against a scratch database at the newest revision
    export CHATBOT_HOME=$(mktemp -d); .venv/bin/chatbot db upgrade
    .venv/bin/python -c "from alembic import command; from chatbot import migrations; \
        command.revision(migrations.config(), 'what changed', autogenerate=True, rev_id='0003')"
and review the generated file in chatbot/migrations/versions/."""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text

log = logging.getLogger(__name__)
FOLDER = Path(__file__).parent
# Key of the PostgreSQL advisory lock that serialises upgrades of replicas starting at once.
PG_LOCK_KEY = 0x63686174  # "chat"


def config(connection: Connection | None = None) -> Config:
    """Alembic's configuration; env.py migrates `connection` (or opens CHATBOT_DATABASE_URL without one)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(FOLDER))
    cfg.attributes["connection"] = connection
    return cfg


@cache
def head() -> str:
    """The newest revision id."""
    revision = ScriptDirectory.from_config(config()).get_current_head()
    assert revision is not None
    return revision


def current(conn: Connection) -> str | None:
    """The revision the database is at; None for an empty database or one made before migrations."""
    return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine) -> str:
    """Bring the database to the newest revision; returns it. Cheap when it is already there.

    Several processes may start at once: on PostgreSQL the upgrade runs in one transaction under an
    advisory lock, on SQLite under BEGIN IMMEDIATE (the write lock), and whoever gets the lock second
    finds the work done. A database made by the old `create_all` (tables, no alembic_version) is
    adopted: the initial revision creates only the tables that are missing, keeping every row."""
    with engine.connect() as conn:
        if current(conn) == head():
            return head()
    with engine.begin() as conn:
        _lock(conn)
        before = current(conn)
        if before == head():
            return head()
        if before is None and inspect(conn).has_table("documents"):
            log.info("adopting a database created before migrations (tables kept, version recorded)")
        command.upgrade(config(conn), "head")
    log.info("database upgraded from %s to %s", before or "nothing", head())
    return head()


def _lock(conn: Connection) -> None:
    match conn.dialect.name:
        case "postgresql":  # released when the transaction ends
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY})
        case "sqlite":  # take the write lock now, so a concurrent upgrade waits (busy_timeout) instead of racing
            conn.exec_driver_sql("BEGIN IMMEDIATE")
