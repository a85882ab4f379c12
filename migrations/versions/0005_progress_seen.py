"""Per-conversation progress remembers the conversation as it was read (its part count and
`updated_at`), so a part the search index showed late is fetched when its count grows.

Rows written before stay null: the pipeline trusts them as before, except one that may
have come from a search item showing the opening alone, which is fetched once when it
shows more (pipeline.moved).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("progress") as batch:
        batch.add_column(sa.Column("seen", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("progress") as batch:
        batch.drop_column("seen")
