"""``screenpop check`` fails the config line for a file ``serve`` would refuse to start with."""

from __future__ import annotations

from typing import Any

from screenpop.cli.check import config_row
from screenpop.config import settings_from_mapping


def telnyx(public_key: str) -> dict[str, Any]:
    return {
        "agents": {"token_secret": "s" * 32, "directory": [{"id": "a1"}]},
        "providers": [{"name": "telnyx", "kind": "telnyx", "public_key": public_key}],
    }


def test_a_telnyx_key_serve_would_refuse_fails_the_config_line() -> None:
    """A 12-byte ``public_key`` loads, but building the provider refuses it: check must say so."""
    row = config_row(settings_from_mapping(telnyx("MCowBQYDK2VwAyEA"), source="test.yaml", environ={}))
    assert not row.ok
    assert row.detail.startswith("test.yaml: provider 'telnyx': `public_key` should be 32 bytes")


def test_a_32_byte_telnyx_key_passes() -> None:
    row = config_row(settings_from_mapping(telnyx("A" * 43 + "="), source="test.yaml", environ={}))
    assert row.ok, row.detail
