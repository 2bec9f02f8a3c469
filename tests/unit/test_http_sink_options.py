"""An ``http`` sink's headers that could never be sent as configured are refused when the config loads."""

from __future__ import annotations

from typing import Any

import pytest

from screenpop.config import settings_from_mapping
from screenpop.errors import ConfigError
from tests.support.service import base_config

PASSWORD = "pw-9f2c1e"


def load(sink: dict[str, Any]) -> str:
    """The config error's sentence for a config with this one sink."""
    raw = base_config("sqlite+aiosqlite:///x.db", sinks=[{"name": "hook", "kind": "http", **sink}])
    with pytest.raises(ConfigError) as raised:
        settings_from_mapping(raw, source="screenpop.yaml", environ={})
    return str(raised.value)


def test_a_password_in_the_url_beside_an_authorization_header_is_refused_without_echoing_it() -> None:
    """aiohttp refuses every POST with both, so the config is refused, naming the key, not the password."""
    message = load(
        {"url": f"https://crm:{PASSWORD}@crm.example/log", "headers": {"authorization": "Bearer t0ken-x"}}
    )
    assert "sinks[0] (hook)" in message and "Authorization" in message
    assert PASSWORD not in message and "t0ken-x" not in message


def test_an_idempotency_key_header_is_refused() -> None:
    """The key is screenpop's own, one per note; a fixed one would make a sink keep only the first note."""
    message = load({"url": "https://crm.example/log", "headers": {"Idempotency-key": "fixed"}})
    assert "sinks[0] (hook)" in message and "Idempotency-Key" in message


def test_a_password_in_the_url_alone_is_accepted() -> None:
    """Basic credentials in the URL are how some endpoints are addressed: sent as Basic auth."""
    raw = base_config("sqlite+aiosqlite:///x.db")
    raw["sinks"] = [{"name": "hook", "kind": "http", "url": f"https://crm:{PASSWORD}@crm.example/log"}]
    settings = settings_from_mapping(raw, source="screenpop.yaml", environ={})
    assert [s.name for s in settings.sinks] == ["hook"]


def test_a_user_without_a_password_beside_an_authorization_header_is_refused() -> None:
    """aiohttp sends a user alone as Basic auth too, and refuses it beside the header just the same."""
    message = load({"url": "https://crm@crm.example/log", "headers": {"Authorization": "Bearer t0ken-x"}})
    assert "sinks[0] (hook)" in message and "Authorization" in message
