"""Retention and erasure: each goal's contact id in a column of its own, and the indexes that
let pruning and `forget` find rows without reading the whole outbox.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("contact_id", sa.String, nullable=True))
    outbox = sa.table("outbox", sa.column("id"), sa.column("source"), sa.column("contact_id"))
    bind = op.get_bind()
    rows = bind.execute(sa.select(outbox.c.id, outbox.c.source)).fetchall()
    for row in rows:
        contact = (json.loads(row.source or "{}").get("contact") or {}).get("id")
        if contact is not None:
            bind.execute(
                outbox.update().where(outbox.c.id == row.id).values(contact_id=str(contact))
            )
    op.create_index("outbox_age", "outbox", ["status", "achieved_at"])
    op.create_index("outbox_contact", "outbox", ["contact_id"])


def downgrade() -> None:
    op.drop_index("outbox_contact", "outbox")
    op.drop_index("outbox_age", "outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("contact_id")
