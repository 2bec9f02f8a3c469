"""Every YAML example a user copies from README.md and docs/ loads through the real config loader.

Config validation grows stricter over time (unknown query parameters,
duplicate keys, identity keys); an example that it starts to refuse is a
user's first error, so each fenced ``yaml`` block is put into a complete
config the way the text around it tells a user to: a whole config as is, a
top-level block beside the required keys, connector items (or a connector's
own keys) into ``connectors:``, with a stand-in for any connector it
``needs`` that the example does not show.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from screenpop.cli.check import config_row
from screenpop.config import Settings, load_settings, settings_from_mapping
from screenpop.config.schema import ConnectorSettings
from screenpop.plugins import load_kind

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "web_widget" / "README.md"]
FENCE = re.compile(r"^```ya?ml\n(.*?)^```", re.S | re.M)
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")
TELNYX_KEY = "dGVsbnl4LXB1YmxpYy1rZXktdW5zZXQtMDAwMDAwMDA="  # 32 bytes, as the portal gives
CONNECTOR_KEYS = frozenset(ConnectorSettings.model_fields) | frozenset(
    load_kind("sql", "test").Options.model_fields
)
BASE: dict[str, Any] = {
    "server": {"public_url": "http://127.0.0.1:8080"},
    "agents": {
        "token_secret": "${SCREENPOP_AGENT_SECRET}",
        "directory": [{"id": "agent-1", "queues": ["support"]}, {"id": "agent-2", "queues": ["support"]}],
    },
    "roles": {"agent": {}, "tier1": {}, "supervisor": {}},
}
SALES = {"name": "sales", "kind": "sql", "url": "${SALES_DB_URL}", "match": "normalized"}


def examples() -> list[Any]:
    found = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for match in FENCE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append(pytest.param(match.group(1), id=f"{doc.relative_to(ROOT)}:{line}"))
    return found


def environ_for(text: str) -> dict[str, str]:
    """A value of the right shape for every variable the example names."""
    env = {
        "SCREENPOP_AGENT_SECRET": "s" * 40,
        "TELNYX_PUBLIC_KEY": TELNYX_KEY,
        "SALES_DB_URL": "sqlite+aiosqlite:///s.db",
    }
    for name in VARIABLE.findall(text):
        if name.endswith("_URL"):
            env.setdefault(name, f"sqlite+aiosqlite:///{name.lower()}.db")
        env.setdefault(name, "example-value-0123456789abcdef0123")
    return env


def stand_ins(connectors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A rules connector answering each field that an example ``needs`` of a connector it does not show."""
    shown = {item["name"] for item in connectors}
    fields: dict[str, dict[str, Any]] = {}
    for item in connectors:
        for need in item.get("needs", []):
            source, field = need.split(".", 1)
            if source not in shown:
                fields.setdefault(source, {})[field] = 1
    return [{"name": name, "kind": "rules", "rules": [{"then": then}]} for name, then in fields.items()]


def as_config(text: str) -> dict[str, Any]:
    """The complete config a user ends up with after following the example's text."""
    snippet = yaml.safe_load(text)
    config: dict[str, Any] = {
        key: dict(value) if isinstance(value, dict) else value for key, value in BASE.items()
    }
    if isinstance(snippet, list):  # connector items, shown indented as under `connectors:`
        snippet = {"connectors": snippet}
    elif set(snippet) <= CONNECTOR_KEYS and not set(snippet) & set(Settings.model_fields):
        query = "SELECT customer_id, name FROM customers WHERE customer_id IN :keys"
        snippet = {"connectors": [{**SALES, "query": query, **snippet}]}
    for key, value in snippet.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key].update(value)
        else:
            config[key] = value
    config["connectors"] = stand_ins(config.get("connectors", [])) + config.get("connectors", [])
    return config


@pytest.mark.parametrize("text", examples())
def test_the_documented_example_loads(text: str) -> None:
    """The example is accepted as the docs show it (a refused example is a defect of the doc or the code)."""
    settings = settings_from_mapping(as_config(text), source="example.yaml", environ=environ_for(text))
    assert settings.agents.token_secret


def test_examples_are_found() -> None:
    """The extraction is not silently empty (a renamed fence would make every case vanish)."""
    assert len(examples()) >= 20


@pytest.mark.parametrize("path", sorted((ROOT / "config").glob("*.yaml")), ids=lambda p: p.name)
def test_a_shipped_config_passes_the_config_line_of_check(path: Path) -> None:
    """Copied with only its secrets exported, the file builds every provider ``serve`` would start."""
    text = path.read_text(encoding="utf-8")
    environ = {name: value for name, value in environ_for(text).items() if not name.endswith("_URL")}
    environ.pop("TELNYX_PUBLIC_KEY")  # the example's default must be one serve accepts
    settings = load_settings(path, environ=environ)
    row = config_row(settings)
    assert row.ok, row.detail
