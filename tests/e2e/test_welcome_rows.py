"""The welcome's section hints carry ``rows`` as the display hint it is, never a connector's data.

``section_meta`` copied any connector option named ``rows`` into every
welcome: for a connector whose ``rows`` is its inline table (the shipped
``screenpop.testing:ScriptedConnector``, or a third party's static list),
each agent who sees that section received every customer in it at hello.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.service import agent_socket, make, running


async def test_a_connectors_inline_rows_never_reach_the_welcome(tmp_path: Path) -> None:
    """Scripted connectors whose ``rows`` option is a table: the welcome says ``one`` and holds no row."""
    settings = make(f"sqlite+aiosqlite:///{tmp_path}/store.db")
    async with running(settings) as base, agent_socket(base, settings, "agent-3") as agent:
        welcome = agent.welcome
    assert [(s["name"], s["rows"]) for s in welcome["sections"]] == [("accounting", "one"), ("credit", "one")]
    assert "Ada Lovelace" not in json.dumps(welcome) and "A-1001" not in json.dumps(welcome)
