"""The settings, as typed values: what the rest of the syncer reads of its configuration."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from syncer.filters import Condition

PROPERTY_SOURCES: Final = frozenset(
    {
        "contact.email",
        "contact.name",
        "contact.id",
        "contact.external_id",
        "company.name",
        "rating.score",
        "rating.remark",
        "conversation.id",
        "ticket.id",
        "ticket.type",
    }
)
UNIT_SOURCES: Final = ("external_id", "email", "id")
CUSTOM_ATTRIBUTE_PREFIX: Final = "custom_attributes."
REGIONS: Final = {
    "us": "https://api.intercom.io",
    "eu": "https://api.eu.intercom.io",
    "au": "https://api.au.intercom.io",
}
CONFIG_ENV: Final = "SYNCER_CONFIG"
MAX_GOAL_NAME: Final = 128


@dataclass(frozen=True, slots=True)
class IntercomSettings:
    token_env: str
    base_url: str
    timeout: float = 30.0
    concurrency: int = 48
    token: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class CollectorSettings:
    endpoint: str
    api_key_env: str
    application: str
    environment: str
    application_version: int = 0
    agent: str = "intercom-absmartly-syncer"
    hash_units: bool = False
    timeout: float = 30.0
    batch_size: int = 500
    max_body_bytes: int = 512 * 1024  # every request body stays under it
    api_key: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class UnitMapping:
    type: str
    source: str  # external_id | email | id | custom_attributes.NAME


@dataclass(frozen=True, slots=True)
class GoalSettings:
    kind: str
    name: str
    enabled: bool
    properties: tuple[tuple[str, str], ...]  # (property name, source)
    # The kinds' own options (kinds.py reads each from its goal's table):
    bot_started: bool = False  # started: count bot-opened ones the contact answered
    quick_replies: bool = False  # messaged: a contact's click on a bot's button counts
    categories: tuple[str, ...] = ("Customer",)  # tickets: the categories that count
    where: tuple[Condition, ...] = ()  # every one must hold (syncer/filters/)
    # AI resolutions: None counts confirmed resolutions only; seconds, assumed ones too,
    # once they have held that long (the contact did not come back; README "Events")
    assumed_hold: int | None = None

    def admits(self, facts: Mapping[str, Any]) -> bool:
        """Whether an event of this goal's kind is one of its events at all, by the kind's
        options (a bot-opened conversation, a button click, a ticket category). An event the
        options leave out is not this goal's: unlike a `where`, nothing is recorded."""
        if facts.get("started.by_bot") and not self.bot_started:
            return False
        if facts.get("message.quick_reply") and not self.quick_replies:
            return False
        if facts.get("ai_agent.resolution_state") == "assumed_resolution":
            held = facts.get("ai_agent.held")
            if self.assumed_hold is None or not isinstance(held, int) or held < self.assumed_hold:
                return False
        category = facts.get("ticket.category")
        return not (isinstance(category, str) and category not in self.categories)


@dataclass(frozen=True, slots=True)
class SyncSettings:
    database: str
    start: int | None  # None: "now", resolved when a fresh database first scans
    password: str = field(default="", repr=False)  # PostgreSQL's, from sync.password_env
    schema: str = ""  # PostgreSQL: the workspace's own schema ("": the default, public)
    # Measured in bench/freshness.py (issue 28): each cycle reads up to now and delivers at
    # once, so freshness is about the poll interval; 3 s costs 20 searches a minute per
    # scan when idle (0.8 % of the budget for the four default goals). `settle` is how far
    # behind now the cursor hands over; the overlap and the reconciliation pass read again.
    poll_interval: int = 3
    settle: int = 10
    overlap: int = 300
    slice_seconds: int = 86_400
    contact_ttl: int = 86_400
    publish_timeout: int = 300
    reconcile_interval: int = 3_600  # 0: off
    reconcile_window: int = 86_400
    reresolve_interval: int = 3_600  # 0: off
    reresolve_days: int = 30
    lease_retry: int = 5  # PostgreSQL: seconds between a standby's tries of the lease
    retain_days: int = 30  # personal data of sent goals kept this long; 0: forever


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """`[webhooks]`: Intercom's app notifications taken as hints to read an object at once
    (syncer/webhooks.py). The secret is read from the environment when `run` starts."""

    listen: str  # host:port, behind the operator's TLS reverse proxy
    path: str
    client_secret_env: str  # the name of the variable, not the secret
    client_secret: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class Config:
    intercom: IntercomSettings
    absmartly: CollectorSettings
    units: tuple[UnitMapping, ...]
    goals: tuple[GoalSettings, ...]  # in config order; names are unique
    sync: SyncSettings
    path: Path | None = None
    metrics_listen: str | None = None  # "host:port" for /metrics and /healthz; None: off
    webhooks: WebhookSettings | None = None  # Intercom's app webhooks as hints; None: off

    def enabled_goals(self) -> list[GoalSettings]:
        return [goal for goal in self.goals if goal.enabled]

    def goals_of(self, kind: str) -> list[GoalSettings]:
        """The enabled goals an event of this kind may count for."""
        return [goal for goal in self.goals if goal.enabled and goal.kind == kind]

    def goal_named(self, name: str) -> GoalSettings | None:
        return next((goal for goal in self.goals if goal.enabled and goal.name == name), None)
