"""The settings, as typed values: what the rest of the syncer reads of its configuration."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from syncer.filters import Condition
from syncer.timeparse import DAY

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


def bounded(
    default: float, *, minimum: float = 0, maximum: float | None = None, key: str = ""
) -> Any:
    """A number setting, declared once: its default and bounds here, read by the parser
    (`config.values.Table.declared`); `key` where the file's name differs from the field's.
    A float setting is seconds in (0, maximum]."""
    meta = {"minimum": minimum, "maximum": maximum, "key": key}
    return field(default=default, metadata=meta)


def secret() -> Any:
    """A secret's value, read from the environment variable its `*_env` key names: never
    shown (repr), and masked in every line the syncer prints (`Config.secrets`)."""
    return field(default="", repr=False, metadata={"secret": True})


@dataclass(frozen=True, slots=True)
class IntercomSettings:
    token_env: str
    base_url: str
    timeout: float = bounded(30.0, maximum=600.0)
    concurrency: int = bounded(48, minimum=1, maximum=256)
    token: str = secret()


@dataclass(frozen=True, slots=True)
class CollectorSettings:
    endpoint: str
    api_key_env: str
    application: str
    environment: str
    application_version: int = bounded(0)
    agent: str = "intercom-absmartly-syncer"
    hash_units: bool = False
    timeout: float = bounded(30.0, maximum=600.0)
    batch_size: int = bounded(500, minimum=1, maximum=500)  # the Collector takes at most 500
    # Every request body stays under it.
    max_body_bytes: int = bounded(512 * 1024, minimum=16 * 1024, maximum=16 * 1024 * 1024)
    api_key: str = secret()


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
    password: str = secret()  # PostgreSQL's, from sync.password_env
    schema: str = ""  # PostgreSQL: the workspace's own schema ("": the default, public)
    # Measured in bench/freshness.py (issue 28): each cycle reads up to now and delivers at
    # once, so freshness is about the poll interval; 3 s costs 20 searches a minute per
    # scan when idle (0.8 % of the budget for the four default goals). `settle` is how far
    # behind now the cursor hands over; the overlap and the reconciliation pass read again.
    poll_interval: int = bounded(3, minimum=2, maximum=3_600)
    settle: int = bounded(10, maximum=3_600)
    overlap: int = bounded(300, maximum=DAY)
    slice_seconds: int = bounded(DAY, minimum=60, maximum=366 * DAY, key="slice")
    contact_ttl: int = bounded(DAY, maximum=30 * DAY)
    publish_timeout: int = bounded(300, minimum=1, maximum=DAY)
    reconcile_interval: int = bounded(3_600, maximum=7 * DAY)  # 0: off, else at least 60
    reconcile_window: int = bounded(DAY, minimum=60, maximum=30 * DAY)
    reresolve_interval: int = bounded(3_600, maximum=7 * DAY)  # 0: off, else at least 60
    reresolve_days: int = bounded(30, minimum=1, maximum=366)
    lease_retry: int = bounded(5, minimum=1, maximum=60)  # PostgreSQL: a standby's tries
    retain_days: int = bounded(30, maximum=3_650)  # personal data of sent goals; 0: forever


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """`[webhooks]`: Intercom's app notifications taken as hints to read an object at once
    (syncer/webhooks.py). The secret is read from the environment when `run` starts."""

    listen: str  # host:port, behind the operator's TLS reverse proxy
    path: str
    client_secret_env: str  # the name of the variable, not the secret
    client_secret: str = secret()


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

    def secrets(self) -> tuple[str, ...]:
        """Every secret's value, found by its declaration (`secret()`), for the redactor: a
        secret setting added later is masked without a list to keep."""
        sections = (self.intercom, self.absmartly, self.sync, self.webhooks)
        return tuple(
            getattr(section, spec.name)
            for section in sections
            if section is not None
            for spec in dataclasses.fields(section)
            if spec.metadata.get("secret") and getattr(section, spec.name)
        )

    def enabled_goals(self) -> list[GoalSettings]:
        return [goal for goal in self.goals if goal.enabled]

    def goals_of(self, kind: str) -> list[GoalSettings]:
        """The enabled goals an event of this kind may count for."""
        return [goal for goal in self.goals if goal.enabled and goal.kind == kind]

    def goal_named(self, name: str) -> GoalSettings | None:
        return next((goal for goal in self.goals if goal.enabled and goal.name == name), None)
