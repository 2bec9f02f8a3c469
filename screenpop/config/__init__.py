"""The config file: YAML -> ${ENV} -> validated, frozen Settings; cross-checks; load.

``schema`` holds the pydantic models, ``envsubst`` the ``${NAME}`` substitution,
``errors`` the one-sentence error text, ``cross_checks`` what spans several
blocks, and ``loading`` reads a file and runs the rest in that order. The rest
of screenpop imports from here.
"""

from __future__ import annotations

from screenpop.config.cross_checks import connector_order, cross_check
from screenpop.config.errors import describe_validation_error, is_secret_key, key_path
from screenpop.config.loading import load_settings, settings_from_mapping
from screenpop.config.origins import browser_origin
from screenpop.config.schema import (
    MAX_DISPOSITION,
    SUPERVISOR_ROLE,
    AgentEntry,
    AgentsSettings,
    BadgeRule,
    BrokerSettings,
    CardSettings,
    CircuitSettings,
    ConnectorSettings,
    DisplayField,
    DisplaySettings,
    FieldFormat,
    LineSettings,
    NumbersSettings,
    ProviderSettings,
    RetentionSettings,
    RoleSettings,
    RoutingSettings,
    ServerSettings,
    Settings,
    StoreSettings,
    check_database_url,
)

__all__ = [
    "MAX_DISPOSITION",
    "SUPERVISOR_ROLE",
    "AgentEntry",
    "AgentsSettings",
    "BadgeRule",
    "BrokerSettings",
    "CardSettings",
    "CircuitSettings",
    "ConnectorSettings",
    "DisplayField",
    "DisplaySettings",
    "FieldFormat",
    "LineSettings",
    "NumbersSettings",
    "ProviderSettings",
    "RetentionSettings",
    "RoleSettings",
    "RoutingSettings",
    "ServerSettings",
    "Settings",
    "StoreSettings",
    "browser_origin",
    "check_database_url",
    "connector_order",
    "cross_check",
    "describe_validation_error",
    "is_secret_key",
    "key_path",
    "load_settings",
    "settings_from_mapping",
]
