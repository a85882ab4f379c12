"""PostgreSQL: 64-bit times and ids (SQLite's INTEGER is 64-bit already), and the lease.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

WIDE = {
    "cursors": ("last_value", "floor"),
    "outbox": ("id", "achieved_at"),
    "progress": ("last_contact_reply_at", "floor"),
    "parked": ("window_lo", "window_hi"),
}


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, columns in WIDE.items():
            for column in columns:
                op.alter_column(table, column, type_=sa.BigInteger())
    op.create_table(
        "lease",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("epoch", sa.BigInteger, nullable=False),
        sa.Column("holder", sa.Text, nullable=False),
        sa.Column("since", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("lease")
