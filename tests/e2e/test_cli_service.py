"""The service as IT staff run it: `screenpop serve`, `demo`, `call`, `token`, and SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import websockets
import yaml

from tests.support.ports import free_port
from tests.support.processes import stop, wait_ready
from tests.support.raw_http import raw_exchange, request_head
from tests.support.service import SECRET, base_config, event_body
from tests.support.signers import sign
from tests.support.tokens import host_token
from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]


def start(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "screenpop", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


@contextlib.contextmanager
def serving(tmp_path: Path, **server: Any) -> Iterator[tuple[int, Path, subprocess.Popen[str]]]:
    """`screenpop serve` on a free port with the test config and these `server` keys; stopped after."""
    port = free_port()
    config = base_config(f"sqlite+aiosqlite:///{tmp_path}/store.db")
    config["server"] = {"port": port, **server}
    config["connectors"][1]["delay_ms"] = 400
    path = tmp_path / "screenpop.yaml"
    path.write_text(yaml.safe_dump(config))
    process = start(["serve", "--config", str(path)])
    try:
        wait_ready(port, process)
        yield port, path, process
    finally:
        stop(process)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[int, Path, subprocess.Popen[str]]]:
    with serving(tmp_path, allowed_origins=["http://agents.example"]) as running:
        yield running


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "screenpop", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


async def call_via_cli(port: int, config: Path, number: str, agent: str) -> subprocess.CompletedProcess[str]:
    """`screenpop call NUMBER --agent AGENT`, signed as the configured provider, to the served port."""
    return await asyncio.to_thread(
        cli, "call", number, "--agent", agent, "--config", str(config), "--url", f"http://127.0.0.1:{port}"
    )


async def hello(port: int, token: str, origin: str | None = None) -> Any:
    ws = await websockets.connect(f"ws://127.0.0.1:{port}/ws", origin=origin)  # type: ignore[arg-type]
    await ws.send(json.dumps({"type": "hello", "token": token}))
    assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "welcome"
    return ws


async def frames_until_complete(ws: Any, within: float = 10) -> list[dict[str, Any]]:
    frames = []
    async with asyncio.timeout(within):
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] == "card":
                frames.append(frame)
                if frame["complete"]:
                    return frames


async def test_call_command_pops_a_card_on_serve(served: tuple[int, Path, subprocess.Popen[str]]) -> None:
    """`screenpop call` signs like the configured provider; `screenpop token` gives a working token."""
    port, config, _ = served
    token = cli("token", "agent-1", "--config", str(config)).stdout.strip()
    ws = await hello(port, token)
    sent = await call_via_cli(port, config, "(415) 555-0132", "agent-1")
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.startswith("202 ")
    frames = await frames_until_complete(ws)
    assert frames[-1]["card"]["caller"]["e164"] == "+14155550132"
    await ws.close()


async def test_call_for_an_agent_nobody_configured_says_where_the_card_goes(
    served: tuple[int, Path, subprocess.Popen[str]],
) -> None:
    """`screenpop call --agent ghost` is sent (202), and one warning line names ghost and the fallback."""
    port, config, _ = served
    sent = await call_via_cli(port, config, "+14155550132", "ghost")
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.startswith("202 ")
    warnings = [line for line in sent.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, sent.stderr
    assert (
        "'ghost'" in warnings[0] and "agents.directory" in warnings[0] and "routing.unrouted" in warnings[0]
    )
    known = await asyncio.to_thread(
        cli,
        "call",
        "+14155550132",
        "--agent",
        "agent-1",
        "--config",
        str(config),
        "--url",
        f"http://127.0.0.1:{port}",
    )
    assert "warning:" not in known.stderr


def test_call_an_agent_twilio_cannot_name_is_one_sentence(tmp_path: Path) -> None:
    """`screenpop call --agent ghost` to a Twilio provider: one error line (it cannot name ghost)."""
    document = base_config(f"sqlite+aiosqlite:///{tmp_path}/s.db")
    document["providers"] = [
        {"name": "twilio", "kind": "twilio", "auth_token": "t0ken-for-tests", "agents": {}}
    ]
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(document))
    result = cli(
        "call", "+14155550132", "--agent", "ghost", "--config", str(config), "--url", "http://127.0.0.1:9"
    )
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "ghost" in result.stderr, result.stderr


async def test_sigterm_finishes_cards_then_closes_1012(
    served: tuple[int, Path, subprocess.Popen[str]],
) -> None:
    """On SIGTERM an in-flight card still completes, sockets close with 1012, and the process exits 0."""
    port, config, process = served
    token = host_token(SECRET, "agent-1")
    ws = await hello(port, token)
    sent = await call_via_cli(port, config, "+14155550132", "agent-1")
    assert sent.returncode == 0
    first = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert first["type"] == "card" and not first["complete"]
    process.send_signal(signal.SIGTERM)
    frames = await frames_until_complete(ws)
    assert frames[-1]["complete"]
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012
    assert await asyncio.to_thread(process.wait, 10) == 0


def test_token_for_unknown_agent_is_one_sentence(tmp_path: Path) -> None:
    """`screenpop token` for an agent not in the directory exits 1 or 2 with one line and no traceback."""
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(base_config(f"sqlite+aiosqlite:///{tmp_path}/s.db")))
    result = cli("token", "nobody", "--config", str(config))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "nobody" in result.stderr


async def test_demo_prints_a_call_line_that_pops_a_card(tmp_path: Path) -> None:
    """`screenpop demo` serves the demo; its printed `screenpop call` line rings a card for its token.

    The IT console link it prints signs in with an admin role: the status API answers its token.
    """
    port = free_port()
    process = start(["demo", "--port", str(port), "--dir", str(tmp_path / "demo")])
    try:
        wait_ready(port, process, within=60)
        assert process.stdout is not None
        printed = ""
        while "screenpop call" not in printed:
            printed += process.stdout.readline()
        token = re.search(r"agent token: (\S+)", printed)
        call_line = re.search(r"(SCREENPOP_DEMO_DIR=\S+ \S*screenpop call .*)", printed)
        assert token and call_line
        ws = await hello(port, token.group(1), origin=f"http://localhost:{port}")  # as the printed page
        env_part, command = call_line.group(1).split(" ", 1)
        argv = shlex.split(command)
        sent = await asyncio.to_thread(cli, *argv[1:], env=dict([env_part.split("=", 1)]))
        assert sent.returncode == 0, sent.stderr
        card = (await frames_until_complete(ws))[-1]["card"]
        await ws.close()
        console = re.search(r"IT console \(.*\): (http://\S+)/admin#token=(\S+)", printed)
        assert console, printed
        async with aiohttp.ClientSession() as session:
            headers = {"Authorization": f"Bearer {console.group(2)}"}
            async with session.get(f"{console.group(1)}/api/admin/status", headers=headers) as reply:
                status = (reply.status, await reply.json())
            async with session.get(f"{console.group(1)}/admin") as page:
                assert page.status == 200
        assert card["customer"]["name"]
        assert card["sections"]["accounting"]["status"] == "ok"
        assert card["sections"]["sales"]["status"] == "ok"
        assert status[0] == 200 and set(status[1]["connectors"]) >= {"accounting", "sales"}, status
    finally:
        stop(process)
    assert process.returncode == 0


async def test_audit_says_who_saw_the_credit_section(served: tuple[int, Path, subprocess.Popen[str]]) -> None:
    """After a queue call, `screenpop audit --number N --section credit` lists the supervisor, not tier1."""
    port, config, _ = served
    tier1 = await hello(port, host_token(SECRET, "agent-1"))
    sup = await hello(port, host_token(SECRET, "agent-3"))
    for agent in ("agent-1", "agent-3"):
        sent = await call_via_cli(port, config, "+14155550132", agent)
        assert sent.returncode == 0
    await frames_until_complete(tier1)
    await frames_until_complete(sup)
    await tier1.close()
    await sup.close()

    async def both_audited() -> subprocess.CompletedProcess[str] | None:
        """The audit once the write-behind trail holds both agents' cards, else None."""
        out = await asyncio.to_thread(cli, "audit", "--number", "(415) 555-0132", "--config", str(config))
        return out if "agent-1" in out.stdout and "agent-3" in out.stdout else None

    everyone = await wait_for(both_audited, 20, "both agents' cards in the audit trail")
    credit = await asyncio.to_thread(
        cli, "audit", "--number", "(415) 555-0132", "--section", "credit", "--config", str(config)
    )
    assert everyone.returncode == 0, everyone.stderr
    assert "agent-1" in everyone.stdout and "agent-3" in everyone.stdout
    lines = [line for line in credit.stdout.splitlines() if " card " in line]
    assert lines and all("agent-3" in line for line in lines)
    assert "agent-1" not in credit.stdout


@pytest.mark.parametrize("event_loop", ["auto", "asyncio"])
async def test_serve_runs_on_the_configured_event_loop(tmp_path: Path, event_loop: str) -> None:
    """`server.event_loop`: the start-up line names the loop, and a card pops and completes on it."""
    with serving(tmp_path, event_loop=event_loop) as (port, path, process):
        ws = await hello(port, host_token(SECRET, "agent-1"))
        sent = await call_via_cli(port, path, "+14155550132", "agent-1")
        assert sent.returncode == 0, sent.stderr
        frames = await frames_until_complete(ws)
        assert frames[-1]["card"]["caller"]["e164"] == "+14155550132"
        # a webhook whose body arrives in two TCP segments is read whole on this loop too
        body = event_body("c-split", agent="agent-1")
        head = request_head(
            "POST",
            "/webhooks/pbx",
            {
                "Content-Type": "application/json",
                "Content-Length": str(len(body)),
                "Screenpop-Signature": sign(body),
            },
        )
        status, _, _ = await raw_exchange(f"http://127.0.0.1:{port}", head, [body[:20], body[20:]])
        assert status == 202
        frames = await frames_until_complete(ws)
        assert frames[-1]["card"]["call_id"] == "c-split"
        await ws.close()
    _, stderr = process.communicate(timeout=10)
    expected = "asyncio" if event_loop == "asyncio" else "uvloop"
    assert re.search(rf"Running on http://\S+ \({expected}\)", stderr), stderr[-2000:]
