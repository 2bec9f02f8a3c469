"""`screenpop ami-replay FILE --url URL`: a recorded Asterisk call replayed into a running service.

The option was parsed and then ignored: the events were printed and nothing
was sent.  Here the real command runs as its own process against the real
service on loopback, and the agents' sockets must receive the recorded call
as the AMI listener would have popped it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from screenpop.config import settings_from_mapping
from tests.support.agents import agents, call_status, has_had, seen
from tests.support.ami import AGENTS, QUEUE_CALL, SECRET, USERNAME
from tests.support.processes import screenpop_command
from tests.support.service import base_config, running

ROOT = Path(__file__).resolve().parents[2]
CALL = "1763800000.101"  # the recording's Linkedid


def cli_config(store_url: str, with_generic: bool = True) -> dict[str, Any]:
    """The service's config, plus the Asterisk link whose recording is replayed (never connected to)."""
    config = base_config(store_url)
    ami = {
        "name": "asterisk",
        "kind": "asterisk_ami",
        "host": "127.0.0.1",
        "port": 5038,
        "username": USERNAME,
        "secret": SECRET,
        "agents": AGENTS,
    }
    config["providers"] = [*config["providers"], ami] if with_generic else [ami]
    return config


async def replay(tmp_path: Path, config: dict[str, Any], *args: str) -> tuple[int, str, str]:
    path = tmp_path / "cli.yaml"
    path.write_text(yaml.safe_dump(config))
    capture = tmp_path / "capture.txt"
    capture.write_text(QUEUE_CALL.replace("\n", "\r\n"))
    return await screenpop_command("ami-replay", str(capture), "--config", str(path), *args)


async def test_a_replayed_recording_pops_and_answers_as_the_listener_would(tmp_path: Path) -> None:
    store_url = f"sqlite+aiosqlite:///{tmp_path}/store.db"
    settings = settings_from_mapping(base_config(store_url), source="<test>", environ={})
    async with running(settings) as base, agents(base, settings, "agent-1", "agent-2") as socks:
        code, out, err = await replay(tmp_path, cli_config(store_url), "--url", base)
        assert code == 0, err
        assert out.count("ringing") == 2 and "answered" in out
        for agent in socks.values():  # the recording ends the call within ms: its card is a ring's
            await has_had(agent, call_status(CALL, "ended"))
    for agent in socks.values():
        cards, calls = seen(agent, CALL)
        assert {c["card"]["caller"]["e164"] for c in cards} == {"+14155550132"}
        assert [c["version"] for c in cards if c["version"] == 1] == [1]
        assert calls[0] == (CALL, "answered", "agent-2") and calls[-1] == (CALL, "ended", None)


async def test_replaying_needs_a_generic_provider_and_a_url(tmp_path: Path) -> None:
    store_url = f"sqlite+aiosqlite:///{tmp_path}/store.db"
    code, _, err = await replay(
        tmp_path, cli_config(store_url, with_generic=False), "--url", "http://127.0.0.1:9"
    )
    assert code == 2 and "kind: generic" in err and "Traceback" not in err
    code, _, err = await replay(tmp_path, cli_config(store_url), "--url", "ftp://example.com")
    assert code == 1 and "is not an http:// or https:// URL" in err and "Traceback" not in err
