"""The tables made by `metadata.create_all` before migrations: document manifest, KB change log, feedback.

Only missing tables are created, so a database from those days is adopted with its rows.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "documents" not in existing:
        op.create_table(
            "documents",
            sa.Column("doc_id", sa.String(100), primary_key=True),
            sa.Column("title", sa.String(300), nullable=False),
            sa.Column("source", sa.Text, nullable=False),
            sa.Column("doc_type", sa.String(20), nullable=False),
            sa.Column("sha256", sa.String(64), nullable=False),
            sa.Column("chunks", sa.Integer, nullable=False),
            sa.Column("indexed_at", sa.DateTime(timezone=True), nullable=False),
        )
        op.create_index("ix_documents_sha256", "documents", ["sha256"])
    if "kb_changes" not in existing:
        op.create_table(
            "kb_changes",
            sa.Column("version", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("doc_id", sa.String(100), nullable=False),
            sa.Column("action", sa.String(10), nullable=False),
            sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        )
    if "feedback" not in existing:
        op.create_table(
            "feedback",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("comparison_id", sa.String(64), nullable=True),
            sa.Column("question", sa.Text, nullable=False),
            sa.Column("answer", sa.Text, nullable=False),
            sa.Column("arm", sa.String(20), nullable=False),
            sa.Column("model", sa.String(300), nullable=False),
            sa.Column("sources", sa.Text, nullable=False),
            sa.Column("rating", sa.Integer, nullable=False),
            sa.Column("comment", sa.Text, nullable=False),
            sa.Column("preferred", sa.Boolean, nullable=False),
        )
        op.create_index("ix_feedback_comparison_id", "feedback", ["comparison_id"])


def downgrade() -> None:
    op.drop_table("feedback")
    op.drop_table("kb_changes")
    op.drop_table("documents")
