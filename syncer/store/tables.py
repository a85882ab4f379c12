"""Table definitions (SQLAlchemy Core). Migrations in `migrations/` create them."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Index, Integer, MetaData, String, Table, Text

metadata = MetaData()

cursors = Table(
    "cursors",
    metadata,
    Column("name", String, primary_key=True),  # the scan kind, or "kind@since" for a catch-up
    Column("last_value", BigInteger, nullable=False),  # every slice up to here was read, stored
    Column("floor", BigInteger, nullable=False),  # the earliest time this cursor reads from
    Column("updated_at", Float, nullable=False),
)

outbox = Table(
    "outbox",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("key", String, nullable=False, unique=True),
    Column("kind", String, nullable=False),
    Column("name", String, nullable=False),
    Column("achieved_at", BigInteger, nullable=False),  # ms
    Column("units", Text, nullable=True),  # canonical JSON [[type, uid], ...]; null if unattributed
    Column("properties", Text, nullable=False),  # JSON object
    Column("source", Text, nullable=False),  # JSON {"contact", "facts"}: to re-resolve later
    Column("status", String, nullable=False),  # pending | sent | dead | unattributed
    Column("reason", Text, nullable=True),  # why unattributed or dead
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Float, nullable=False, default=0.0),
    Column("last_error", Text, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("sent_at", Float, nullable=True),
    Column("contact_id", String, nullable=True),  # whose event: for `forget`
)
Index("outbox_due", outbox.c.status, outbox.c.next_attempt_at, outbox.c.id)
Index("outbox_age", outbox.c.status, outbox.c.achieved_at)
Index("outbox_contact", outbox.c.contact_id)

progress = Table(
    "progress",
    metadata,
    Column("conversation_id", String, primary_key=True),
    # The last_contact_reply_at whose messages were all stored, from `floor` on.
    Column("last_contact_reply_at", BigInteger, nullable=False),
    Column("floor", BigInteger, nullable=False),
    # JSON {field: value} of the conversation as read then: the fields a new part moves
    # (its part count, `updated_at`); null in rows written before 0005.
    Column("seen", Text, nullable=True),
)

cache = Table(
    "cache",
    metadata,
    Column("kind", String, primary_key=True),  # contact | company
    Column("id", String, primary_key=True),
    Column("data", Text, nullable=True),  # JSON, or null when Intercom said it does not exist
    Column("fetched_at", Float, nullable=False),
)

meta = Table(
    "meta",
    metadata,
    Column("key", String, primary_key=True),
    Column("value", Text, nullable=False),
)

# Objects whose request kept failing after the retries: the scan moved on without them, and
# they are retried (with backoff) until read, so their events are delayed, never lost.
parked = Table(
    "parked",
    metadata,
    Column("kind", String, primary_key=True),  # conversation | contact | company
    Column("object_id", String, primary_key=True),
    Column("window_lo", BigInteger, nullable=False),  # a conversation's events are kept in
    Column("window_hi", BigInteger, nullable=False),  # [window_lo, window_hi] once it is read
    Column("request", Text, nullable=False),  # "GET /conversations/123"
    Column("reason", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("first_seen", Float, nullable=False),
    Column("last_seen", Float, nullable=False),
    Column("next_attempt_at", Float, nullable=False),
)

# Objects read but unusable (no id, no time) or read short (over Intercom's 500 parts): one
# row per object, so re-reading an overlap does not count it again.
skipped = Table(
    "skipped",
    metadata,
    Column("what", String, primary_key=True),  # unreadable | truncated
    Column("object", String, primary_key=True),  # "SCAN: conversation '12'"
    Column("reason", Text, nullable=False),
    Column("at", Float, nullable=False),
)

# PostgreSQL's active instance: who holds the lease, and the epoch every fenced write checks.
# A new holder raises the epoch, so a writer that lost the lease can never commit again.
lease = Table(
    "lease",
    metadata,
    Column("id", Integer, primary_key=True),  # always 1
    Column("epoch", BigInteger, nullable=False),
    Column("holder", Text, nullable=False),  # host and pid
    Column("since", Float, nullable=False),
)
