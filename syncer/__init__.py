"""Intercom support activity to ABsmartly goal events, without Series webhooks."""

__version__ = "0.1.0"
