"""Two `serve` processes on one Redis where only one was reloaded (a SIGHUP to one host, a rolling change).

The reloaded instance renders its cards for its new roles only; an agent on
the other instance whose role still hides more must get the call anyway,
without what its role hides.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import yaml

from tests.support.processes import Service, agent_on, ring, service_config, services
from tests.support.waiting import wait_for

RELOAD_WITHIN_S = 5


def _show_credit_to_tier1(path: Path) -> None:
    written = yaml.safe_load(path.read_text())
    written["roles"]["tier1"]["hide"] = []
    path.write_text(yaml.safe_dump(written))


async def _reload_showing_credit_to_tier1(service: Service) -> None:
    _show_credit_to_tier1(Path(service.settings.source))
    os.kill(service.process.pid, signal.SIGHUP)

    async def reloaded() -> bool:
        return "config reloaded from" in service.log_tail(50)

    await wait_for(reloaded, RELOAD_WITHIN_S, f"{service.name} reloaded")


async def test_a_card_from_an_instance_whose_role_hides_less_reaches_the_agent_without_the_hidden_section(
    tmp_path: Path, redis_url: str
) -> None:
    """A now shows `credit` to tier1, B still hides it: a call rung on A pops on B's tier1 agent minus it."""
    config = service_config(f"sqlite+aiosqlite:///{tmp_path}/store.db", redis_url)
    async with services(tmp_path, a=config, b=config) as started:
        a, b = started["a"], started["b"]
        await _reload_showing_credit_to_tier1(a)
        async with agent_on(b, "agent-1") as on_b, agent_on(a, "agent-2") as on_a:
            assert (await ring(a, "c-mixed", agent="agent-1"))[0] == 202
            on_old = (await on_b.card_until_complete("c-mixed"))[-1]["card"]
            assert (await ring(a, "c-new", agent="agent-2"))[0] == 202
            on_new = (await on_a.card_until_complete("c-new"))[-1]["card"]
    assert set(on_new["sections"]) == {"accounting", "credit"}  # A's own agent: A's new config
    assert "Credit hold" in {badge["text"] for badge in on_new["badges"]}
    assert set(on_old["sections"]) == {"accounting"}
    assert on_old["sections"]["accounting"]["data"]["name"] == "Ada Lovelace"
    assert on_old["caller"]["e164"] == "+14155550132"
    assert "Credit hold" not in {badge["text"] for badge in on_old["badges"]}
    assert "5000" not in str(on_old) and "holder" not in str(on_old)
