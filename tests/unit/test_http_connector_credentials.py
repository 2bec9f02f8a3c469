"""An ``http`` connector whose URL carries a user beside an ``Authorization`` header is refused at load.

aiohttp sends the URL's user and password as Basic auth and refuses to
choose between that and the header: the connector loaded and then failed
every call as "connector failed (ValueError)".
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from screenpop.config import settings_from_mapping
from screenpop.errors import ConfigError
from tests.support.service import base_config

PASSWORD = "pw-4d1a7e"


def config_with(url: str, headers: dict[str, str]) -> dict[str, Any]:
    connector = {"name": "crm", "kind": "http", "url": url, "headers": headers, "select": {"id": "$.id"}}
    config = base_config("sqlite+aiosqlite:///x.db")
    config["connectors"] = [*config["connectors"], connector]
    return config


@pytest.mark.parametrize(
    "url", [f"https://crm:{PASSWORD}@crm.example/c?phone={{e164}}", "https://crm@crm.example/c?phone={e164}"]
)
def test_a_user_in_the_url_beside_an_authorization_header_is_refused_without_echoing_them(url: str) -> None:
    with pytest.raises(ConfigError) as raised:
        settings_from_mapping(
            config_with(url, {"Authorization": "Bearer t0ken-q"}), source="s.yaml", environ={}
        )
    message = str(raised.value)
    assert "(crm)" in message and "Authorization" in message
    assert PASSWORD not in message and "t0ken-q" not in message


def test_either_alone_loads() -> None:
    for url, headers in [
        (f"https://crm:{PASSWORD}@crm.example/c?phone={{e164}}", {}),
        ("https://crm.example/c?phone={e164}", {"Authorization": "Bearer t0ken-q"}),
    ]:
        settings = settings_from_mapping(config_with(url, headers), source="s.yaml", environ={})
        assert "crm" in [c.name for c in settings.connectors]


async def test_aiohttp_itself_refuses_both_at_once() -> None:
    """What the load-time refusal stands in for: the request fails before it is sent."""
    async with aiohttp.ClientSession() as session:
        with pytest.raises(ValueError, match="AUTHORIZATION"):
            await session.get("http://crm@127.0.0.1:9/c", headers={"Authorization": "Bearer x"})
