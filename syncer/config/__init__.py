"""The syncer's configuration: `settings` holds the typed values the rest of the syncer reads,
`load` reads and checks them from the TOML file and the environment (one line per mistake,
naming the key), `values` reads one value of a table."""

from syncer.config.load import config_path, load, parse
from syncer.config.settings import (
    CONFIG_ENV,
    CUSTOM_ATTRIBUTE_PREFIX,
    MAX_GOAL_NAME,
    PROPERTY_SOURCES,
    REGIONS,
    UNIT_SOURCES,
    CollectorSettings,
    Config,
    GoalSettings,
    IntercomSettings,
    SyncSettings,
    UnitMapping,
    WebhookSettings,
)

__all__ = [
    "CONFIG_ENV",
    "CUSTOM_ATTRIBUTE_PREFIX",
    "MAX_GOAL_NAME",
    "PROPERTY_SOURCES",
    "REGIONS",
    "UNIT_SOURCES",
    "CollectorSettings",
    "Config",
    "GoalSettings",
    "IntercomSettings",
    "SyncSettings",
    "UnitMapping",
    "WebhookSettings",
    "config_path",
    "load",
    "parse",
]
