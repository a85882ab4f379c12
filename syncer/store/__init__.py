"""The state database: outbox, cursors, per-conversation progress, contact cache."""
