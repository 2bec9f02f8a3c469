"""The IT console (`/admin`) in real Chromium against the real service, as IT uses it.

Connectors are the real ``sql`` kind over a SQLite file and over the test
PostgreSQL server (stopped and started again to open and close its
circuit); webhooks are signed like a phone system signs them (and badly, to
be refused); the config is a file on disk that the page's Reload button
makes the service read again.  Agents are real websocket clients.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import websockets
import yaml
from playwright.async_api import BrowserContext, Page, expect

from screenpop.config import Settings, load_settings
from tests.support.browser import WAIT_MS, origin, screenpop_on, write_accounts
from tests.support.ports import free_port
from tests.support.processes import services
from tests.support.servers import PostgresServer
from tests.support.service import SECRET, Agent, api, event_body, post_event
from tests.support.signers import WEBHOOK_SECRET
from tests.support.tokens import token_for
from tests.support.waiting import wait_for

pytestmark = pytest.mark.browser

ADA = "+14155550132"
WITHIN_S = (
    20.0  # a bound on waiting for an event (a poll every 2 s, a breaker's 1 s reset), never a speed claim
)


def console_config(tmp: Path, port: int, pg_url: str | None = None) -> dict[str, Any]:
    """Two tier1 agents (credit hidden), a supervisor (admin by default), accounting and credit on SQLite."""
    url = write_accounts(tmp / "accounts.db", [(ADA, "A-1001", "Ada Lovelace", 120.5)])
    connectors: list[dict[str, Any]] = [
        {
            "name": "accounting",
            "kind": "sql",
            "url": url,
            "query": "SELECT account_id, name, balance FROM accounts WHERE phone = :e164",
            "identity": {"id": "account_id", "name": "name"},
            "display": {"title": "Accounting", "fields": {"name": {"label": "Name"}}},
        },
        {
            "name": "credit",
            "kind": "sql",
            "url": url,
            "needs": ["accounting.account_id"],
            "query": "SELECT 5000 AS credit_limit, :accounting_account_id AS account",
        },
    ]
    if pg_url is not None:
        connectors.append(
            {
                "name": "ledger",
                "kind": "sql",
                "url": pg_url,
                "query": "SELECT 'L-1' AS ledger_id WHERE CAST(:e164 AS text) = '+14155550132'",
                "timeout_ms": 1500,
                "circuit": {"failures": 2, "reset_s": 1},
            }
        )
    return {
        "server": {"port": port, "allowed_origins": [origin(port)]},
        "store": {"url": f"sqlite+aiosqlite:///{tmp / 'store.db'}"},
        "agents": {
            "token_secret": SECRET,
            "directory": [
                {"id": "agent-1", "role": "tier1", "queues": ["support"]},
                {"id": "agent-2", "role": "tier1", "queues": ["support"]},
                {"id": "it-1", "role": "supervisor", "queues": ["sales"]},
            ],
        },
        "roles": {"tier1": {"hide": ["credit"]}, "supervisor": {}},
        "providers": [{"name": "pbx", "kind": "generic", "secret": WEBHOOK_SECRET}],
        "card": {"deadline_ms": 3000},
        "connectors": connectors,
    }


def write_config(path: Path, config: dict[str, Any]) -> Settings:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return load_settings(path, environ={})


@asynccontextmanager
async def console(chromium: BrowserContext, base: str, token: str) -> AsyncIterator[Page]:
    """/admin signed in with ``token`` (through the fragment, as the README's link does)."""
    page = await chromium.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    await page.goto(f"{base}/admin#token={token}")
    yield page
    assert not [p for p in problems if "Content Security Policy" in p or "Error" in p], problems


async def live(page: Page) -> None:
    """The console has drawn its first status (the connectors table is there)."""
    await page.wait_for_selector("[data-testid=connector-row]", timeout=WAIT_MS)


def connector_state(name: str) -> str:
    return f"[data-testid=connector-row][data-connector={name}] [data-testid=connector-state]"


@asynccontextmanager
async def agent_socket(base: str, settings: Settings, agent_id: str) -> AsyncIterator[Agent]:
    url = base.replace("http://", "ws://") + "/ws"
    async with websockets.connect(url, origin=base) as ws:  # type: ignore[arg-type]
        agent = Agent(ws)
        await ws.send(json.dumps({"type": "hello", "token": token_for(settings, agent_id)}))
        agent.welcome = await agent.next()
        assert agent.welcome["type"] == "welcome"
        yield agent


async def ring(base: str, call_id: str, **extra: Any) -> None:
    status, reply = await post_event(base, event_body(call_id, number=ADA, **extra))
    assert status == 202, reply


async def test_tier1_token_is_not_allowed_on_the_page_or_its_apis(
    chromium: BrowserContext, tmp_path: Path
) -> None:
    """A tier1 token: the page says "not allowed" and shows nothing; every admin API answers 403."""
    port = free_port()
    settings = write_config(tmp_path / "screenpop.yaml", console_config(tmp_path, port))
    async with screenpop_on(settings) as base:
        tier1 = token_for(settings, "agent-1")
        async with console(chromium, base, tier1) as page:
            forbidden = page.locator("[data-testid=forbidden]")
            await forbidden.wait_for(timeout=WAIT_MS)
            assert "Not allowed" in await forbidden.inner_text()
            assert await page.locator("[data-testid=connector-row]").count() == 0
            assert await page.locator("#console").is_hidden()
        for method, path in [
            ("GET", "/api/admin/status"),
            ("GET", "/api/admin/deliveries"),
            ("POST", "/api/admin/reload"),
            ("GET", f"/api/lookup?number={quote(ADA)}&trace=1"),
        ]:
            status, body = await api(base, method, path, tier1)
            assert (status, body["error"]["code"]) == (403, "forbidden"), path


async def test_test_lookup_shows_the_card_as_a_role_sees_it_and_each_trace(
    chromium: BrowserContext, tmp_path: Path
) -> None:
    """The test box draws the card as tier1 sees it (no credit) and every connector's trace."""
    port = free_port()
    settings = write_config(tmp_path / "screenpop.yaml", console_config(tmp_path, port))
    async with screenpop_on(settings) as base, console(chromium, base, token_for(settings, "it-1")) as page:
        await live(page)
        await page.wait_for_selector("[data-testid=lookup-role] option[value=tier1]", state="attached")
        await page.fill("[data-testid=lookup-number]", "(415) 555-0132")
        await page.select_option("[data-testid=lookup-role]", "tier1")
        await page.click("[data-testid=lookup-submit]")
        card = page.locator("[data-testid=lookup-card]")
        await card.locator("[data-testid=caller-name]").wait_for(timeout=WAIT_MS)
        assert await card.locator("[data-testid=caller-name]").inner_text() == "Ada Lovelace"
        assert await card.locator("[data-section=accounting][data-status=ok]").count() == 1
        assert await card.locator("[data-section=credit]").count() == 0  # tier1 never sees credit
        accounting = page.locator("[data-testid=trace][data-connector=accounting]")
        step = await accounting.locator("[data-testid=trace-step]").text_content() or ""
        assert "SELECT account_id, name, balance FROM accounts WHERE phone = :e164" in step
        assert f'params: {{"e164":"{ADA}"}}' in step
        assert '"account_id":"A-1001"' in step  # the raw row before mapping
        # the asker (supervisor) may see credit's trace even when the card is shown as tier1
        assert await page.locator("[data-testid=trace][data-connector=credit][data-status=ok]").count() == 1

        await page.fill("[data-testid=lookup-number]", "+14155550100")
        await page.click("[data-testid=lookup-submit]")
        why = page.locator("[data-testid=trace][data-connector=credit] [data-testid=trace-why]")
        await why.wait_for(timeout=WAIT_MS)
        assert await why.inner_text() == "skipped: needs accounting.account_id (accounting was not_found)"


async def test_a_refused_delivery_shows_with_its_reason(chromium: BrowserContext, tmp_path: Path) -> None:
    """A webhook signed with the wrong secret is listed as refused, with the check that failed."""
    port = free_port()
    settings = write_config(tmp_path / "screenpop.yaml", console_config(tmp_path, port))
    async with screenpop_on(settings) as base, console(chromium, base, token_for(settings, "it-1")) as page:
        await live(page)
        body = event_body("bad-1", number=ADA)
        status, _ = await post_event(base, body, signature="t=1,v1=" + "0" * 64)
        assert status == 401
        refused = page.locator("[data-testid=delivery-row][data-refused=true]")
        await refused.first.wait_for(timeout=WAIT_MS)
        reason = await refused.first.locator("[data-testid=delivery-reason]").inner_text()
        assert "signature" in reason or "timestamp" in reason
        row = page.locator("[data-testid=provider-row][data-provider=pbx]")
        await wait_for(
            lambda: row.locator("[data-testid=provider-refused]").inner_text(),
            within=WITHIN_S,
            what="the refusal counted",
        )
        assert await row.locator("[data-testid=provider-refused]").inner_text() == "1"
        assert reason.split(" (")[0] in await row.locator("[data-testid=provider-last-refusal]").inner_text()
        page_text = await page.locator("body").inner_text()
        assert ADA not in page_text and WEBHOOK_SECRET not in page_text


async def test_connector_goes_open_when_its_database_stops_and_closed_when_it_returns(
    chromium: BrowserContext, tmp_path: Path, postgres_server: PostgresServer, pg_url: str
) -> None:
    """PostgreSQL stopped: the ledger row turns open; started again: closed, as lookups succeed."""
    port = free_port()
    settings = write_config(tmp_path / "screenpop.yaml", console_config(tmp_path, port, pg_url))
    admin = token_for(settings, "it-1")
    path = f"/api/lookup?number={quote(ADA)}"

    async def look_up() -> None:
        status, body = await api(base, "GET", path, admin)
        assert status == 200, body

    async with screenpop_on(settings) as base, console(chromium, base, admin) as page:
        await live(page)
        await look_up()
        await page.wait_for_selector(connector_state("ledger") + "[data-state=closed]", timeout=WAIT_MS)
        await asyncio.to_thread(postgres_server.stop)
        try:

            async def opened() -> bool:
                await look_up()
                return await page.locator(connector_state("ledger") + "[data-state=open]").count() == 1

            await wait_for(opened, within=WITHIN_S, what="ledger shown open", every=0.5)
            health = page.locator(
                "[data-testid=connector-row][data-connector=ledger] [data-testid=connector-health]"
            )
            assert (await health.inner_text()).startswith("circuit open")
        finally:
            # from this thread: the server dies with the thread that started it (pdeathsig), so never
            # through to_thread; the event loop waits the few seconds PostgreSQL takes to start
            postgres_server.start()

        async def closed() -> bool:
            await look_up()
            return await page.locator(connector_state("ledger") + "[data-state=closed]").count() == 1

        await wait_for(closed, within=WITHIN_S, what="ledger shown closed again", every=0.5)


async def test_reload_adds_a_connector_to_open_sockets_and_an_invalid_one_changes_nothing(
    chromium: BrowserContext, tmp_path: Path
) -> None:
    """Reload adding a connector: the next card on an open socket has it; a bad file: error, old config on."""
    port = free_port()
    config_path = tmp_path / "screenpop.yaml"
    config = console_config(tmp_path, port)
    settings = write_config(config_path, config)
    async with (
        screenpop_on(settings) as base,
        agent_socket(base, settings, "agent-1") as agent,
        console(chromium, base, token_for(settings, "it-1")) as page,
    ):
        await live(page)
        await ring(base, "before", agent="agent-1")
        before = (await agent.card_until_complete("before"))[-1]["card"]["sections"]
        assert "orders" not in before

        orders = {
            "name": "orders",
            "kind": "sql",
            "url": config["connectors"][0]["url"],
            "query": "SELECT 3 AS open_orders, :e164 AS phone",
        }
        write_config(config_path, {**config, "connectors": [*config["connectors"], orders]})
        await page.click("[data-testid=reload]")
        result = page.locator("[data-testid=reload-result][data-state=ok]")
        await result.wait_for(timeout=WAIT_MS)
        assert "added orders" in await result.inner_text()
        await page.wait_for_selector("[data-testid=connector-row][data-connector=orders]", timeout=WAIT_MS)
        await ring(base, "after", agent="agent-1")
        after = (await agent.card_until_complete("after"))[-1]["card"]["sections"]
        assert after["orders"]["status"] == "ok" and after["orders"]["data"]["open_orders"] == 3

        config_path.write_text(config_path.read_text().replace("kind: generic", "kind: nonsense"))
        await page.click("[data-testid=reload]")
        error = page.locator("[data-testid=reload-result][data-state=error]")
        await error.wait_for(timeout=WAIT_MS)
        text = await error.inner_text()
        assert "the running config stays" in text and "providers" in text and "kind" in text
        await ring(base, "still", agent="agent-1")  # the old config (pbx generic, orders) still works
        still = (await agent.card_until_complete("still"))[-1]["card"]["sections"]
        assert still["orders"]["status"] == "ok"


async def test_an_agent_removed_from_the_directory_is_disconnected(
    chromium: BrowserContext, tmp_path: Path
) -> None:
    """Reload without agent-2: its open socket is closed with 4401; agent-1's stays open and gets cards."""
    port = free_port()
    config_path = tmp_path / "screenpop.yaml"
    config = console_config(tmp_path, port)
    settings = write_config(config_path, config)
    async with (
        screenpop_on(settings) as base,
        agent_socket(base, settings, "agent-1") as kept,
        agent_socket(base, settings, "agent-2") as removed,
        console(chromium, base, token_for(settings, "it-1")) as page,
    ):
        await live(page)
        queue = page.locator("[data-testid=queue-row][data-queue=support] td")
        await wait_for(lambda: queue.inner_text(), within=WITHIN_S, what="support queue shown")
        assert await queue.inner_text() == "2"
        directory = [a for a in config["agents"]["directory"] if a["id"] != "agent-2"]
        write_config(config_path, {**config, "agents": {**config["agents"], "directory": directory}})
        await page.click("[data-testid=reload]")
        result = page.locator("[data-testid=reload-result][data-state=ok]")
        await result.wait_for(timeout=WAIT_MS)
        assert "1 agent socket closed" in await result.inner_text()
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await removed.next(within=WAIT_MS / 1000)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
        await ring(base, "kept", queue="support")
        assert (await kept.card_until_complete("kept"))[-1]["card"]["sections"]["accounting"][
            "status"
        ] == "ok"
        await expect(queue).to_have_text("1", timeout=WITHIN_S * 1000)


@pytest.mark.redis
async def test_two_instances_are_shown_side_by_side(
    chromium: BrowserContext, tmp_path: Path, redis_url: str, pg_url: str
) -> None:
    """Two real instances over Redis: A's console has a column per instance and lists B's refusal."""
    config = console_config(tmp_path, 0)
    config["store"] = {"url": pg_url}
    config["broker"] = {"url": redis_url}
    async with services(tmp_path, a=config, b=config) as started:
        a, b = started["a"], started["b"]
        async with console(chromium, a.base, a.token("it-1")) as page:
            await live(page)
            columns = page.locator("[data-testid=connectors] thead th")
            await expect(columns).to_have_count(3, timeout=WITHIN_S * 1000)
            assert (await page.locator("[data-testid=instances]").inner_text()).startswith("2 instances")
            cells = page.locator("[data-testid=connector-row][data-connector=accounting] td[data-instance]")
            assert await cells.count() == 2
            labels = {await cells.nth(i).get_attribute("data-instance") for i in range(2)}
            assert len(labels) == 2

            body = event_body("forged-on-b", number=ADA)
            status, _ = await post_event(b.base, body, signature="t=1,v1=" + "0" * 64)
            assert status == 401
            refused = page.locator(
                "[data-testid=provider-row][data-provider=pbx] [data-testid=provider-refused]"
            )
            await expect(refused).to_have_text("1", timeout=WITHIN_S * 1000)
            assert await refused.inner_text() == "1"
            await page.locator("[data-testid=delivery-row][data-refused=true]").first.wait_for(
                timeout=WAIT_MS
            )


async def test_a_token_not_allowed_leaves_the_sign_in_form_for_another(
    chromium: BrowserContext, tmp_path: Path
) -> None:
    """After "Not allowed", the form takes an admin token; the refused token is not kept in the tab."""
    port = free_port()
    settings = write_config(tmp_path / "screenpop.yaml", console_config(tmp_path, port))
    async with (
        screenpop_on(settings) as base,
        console(chromium, base, token_for(settings, "agent-1")) as page,
    ):
        await page.locator("[data-testid=forbidden]").wait_for(timeout=WAIT_MS)
        assert await page.evaluate("sessionStorage.length") == 0
        await page.locator("[data-testid=token-input]").fill(token_for(settings, "it-1"))
        await page.locator("[data-testid=token-input]").press("Enter")
        await live(page)
        assert await page.locator("[data-testid=forbidden]").is_hidden()


async def test_two_consoles_reloading_at_once_apply_the_file_once_each_in_turn(
    chromium: BrowserContext, tmp_path: Path
) -> None:
    """Two tabs reload at once: one adds the connector, the other finds it there; a bad file: both refused."""
    port = free_port()
    config_path = tmp_path / "screenpop.yaml"
    config = console_config(tmp_path, port)
    settings = write_config(config_path, config)
    admin = token_for(settings, "it-1")
    async with (
        screenpop_on(settings) as base,
        console(chromium, base, admin) as one,
        console(chromium, base, admin) as two,
    ):
        await live(one)
        await live(two)
        orders = {
            "name": "orders",
            "kind": "sql",
            "url": config["connectors"][0]["url"],
            "query": "SELECT 1 AS n",
        }
        write_config(config_path, {**config, "connectors": [*config["connectors"], orders]})
        await asyncio.gather(one.click("[data-testid=reload]"), two.click("[data-testid=reload]"))
        said = []
        for page in (one, two):
            result = page.locator("[data-testid=reload-result][data-state=ok]")
            await result.wait_for(timeout=WAIT_MS)
            said.append(await result.inner_text())
        assert sorted("added orders" in s for s in said) == [False, True], said
        assert sorted(s.split(")")[0] for s in said) == ["Reloaded (generation 2", "Reloaded (generation 3"]
        await one.wait_for_selector("[data-testid=connector-row][data-connector=orders]", timeout=WAIT_MS)
        assert await one.locator("[data-testid=connector-row]").count() == 3

        config_path.write_text("connectors: [unclosed\n")
        await asyncio.gather(one.click("[data-testid=reload]"), two.click("[data-testid=reload]"))
        for page in (one, two):
            error = page.locator("[data-testid=reload-result][data-state=error]")
            await error.wait_for(timeout=WAIT_MS)
            assert "the running config stays" in await error.inner_text()
        status, body = await api(base, "GET", "/api/admin/status", admin)
        assert status == 200 and sorted(body["connectors"]) == ["accounting", "credit", "orders"]


async def test_an_expired_token_asks_to_sign_in_and_is_forgotten(
    chromium: BrowserContext, tmp_path: Path
) -> None:
    """An expired admin token: the sign-in form says why, no console shows, the tab keeps no token."""
    port = free_port()
    settings = write_config(tmp_path / "screenpop.yaml", console_config(tmp_path, port))
    expired = token_for(settings, "it-1", expires_in_s=-5)
    async with screenpop_on(settings) as base, console(chromium, base, expired) as page:
        error = page.locator("[data-testid=signin-error]")
        await error.wait_for(timeout=WAIT_MS)
        assert "did not accept that token" in await error.inner_text()
        assert await page.locator("#console").is_hidden()
        assert await page.locator("[data-testid=connector-row]").count() == 0
        assert await page.evaluate("sessionStorage.length") == 0


async def test_a_pasted_token_with_a_stray_character_is_refused_in_words(
    chromium: BrowserContext, tmp_path: Path
) -> None:
    """A token pasted with a trailing "…": the form says it is not a token, not that the server is down."""
    port = free_port()
    settings = write_config(tmp_path / "screenpop.yaml", console_config(tmp_path, port))
    async with screenpop_on(settings) as base:
        page = await chromium.new_page()
        await page.goto(f"{base}/admin")
        await page.locator("[data-testid=token-input]").fill(token_for(settings, "it-1") + "\u2026")
        await page.locator("[data-testid=token-input]").press("Enter")
        error = page.locator("[data-testid=signin-error]")
        await error.wait_for(timeout=WAIT_MS)
        assert "not a token" in await error.inner_text()
        assert await page.locator("#console").is_hidden()
        assert await page.evaluate("sessionStorage.length") == 0
