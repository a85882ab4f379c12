"""Parked objects (retried until read) and skipped objects (counted once each).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "parked",
        sa.Column("kind", sa.String, primary_key=True),
        sa.Column("object_id", sa.String, primary_key=True),
        sa.Column("window_lo", sa.Integer, nullable=False),
        sa.Column("window_hi", sa.Integer, nullable=False),
        sa.Column("request", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("first_seen", sa.Float, nullable=False),
        sa.Column("last_seen", sa.Float, nullable=False),
        sa.Column("next_attempt_at", sa.Float, nullable=False),
    )
    op.create_table(
        "skipped",
        sa.Column("what", sa.String, primary_key=True),
        sa.Column("object", sa.String, primary_key=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("skipped")
    op.drop_table("parked")
