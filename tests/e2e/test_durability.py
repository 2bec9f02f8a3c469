"""Accepted work is never dropped quietly: AMI events, call records and audit rows.

The real service on loopback with its store on the session's real PostgreSQL,
which is stopped and started again here; real SQLite for the recorder's own
queue bounds; the real local AMI server of ``tests/support/ami.py`` for
events that arrive while the service is full.  Whatever has to be given up
shows in ``/metrics``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from screenpop.config import settings_from_mapping
from screenpop.demo import write_demo_databases
from screenpop.errors import RateLimited
from screenpop.metrics import Metrics
from screenpop.model import CallEvent, EventKind
from screenpop.providers.asterisk_ami import AmiListener
from screenpop.store import CallRecorder, Store
from tests.support.agents import agents, call_status, complete_card, has_had, read_until, seen
from tests.support.ami import CALLER, QUEUE_CALL, SECRET, USERNAME, FakeAmi, member, wait_link_state
from tests.support.ami import settings as ami_settings
from tests.support.processes import hit_server, http_connector
from tests.support.servers import PostgresServer, RedisServer
from tests.support.service import ADA, agent_socket, api, base_config, event_body, make, post_event, running
from tests.support.tokens import token_for
from tests.support.waiting import wait_for


def sample(text: str, name: str) -> float:
    """The value of one sample (name with its labels, as exposed) in a Prometheus text page; 0 if absent."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


async def metric(base: str, name: str) -> float:
    status, text = await api(base, "GET", "/metrics")
    assert status == 200
    return sample(str(text), name)


def restart(server: PostgresServer) -> None:
    """Start PostgreSQL again from this (the main) thread.

    Not through ``to_thread``: the server dies with the thread that started
    it (``setpriv --pdeathsig``), and a pool thread ends when idle.
    """
    server.start()


def ringing(call_id: str) -> CallEvent:
    return CallEvent(provider="pbx", call_id=call_id, event=EventKind.RINGING, from_raw=ADA)


@pytest.mark.postgres
async def test_call_rung_while_postgres_is_down_is_recorded_and_annotatable_once_it_is_back(
    postgres_server: PostgresServer, pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A call rung while PostgreSQL is down is stored once it is back, and a note on it then succeeds."""
    caplog.set_level(logging.INFO)
    settings = make(pg_url)
    token = token_for(settings, "agent-1")
    note = {"json": {"disposition": "resolved", "notes": "call back Tuesday"}}
    async with running(settings) as base, agent_socket(base, settings, "agent-1") as agent:
        await asyncio.to_thread(postgres_server.stop)
        try:
            status, _ = await post_event(base, event_body("c-blip", agent="agent-1"))
            assert status == 202
            await agent.card_until_complete("c-blip")

            async def retried() -> float:
                return await metric(base, 'screenpop_retries_total{queue="call_records"}')

            await wait_for(retried, 20, "a call record write retried while the database is down")
        finally:
            restart(postgres_server)

        async def noted() -> bool:
            status, _ = await api(base, "POST", "/api/calls/c-blip/notes", token, **note)
            return status == 201

        await wait_for(noted, 30, "a note accepted on the call rung during the outage")
        _, listed = await api(base, "GET", "/api/calls", token)
        page = str((await api(base, "GET", "/metrics"))[1])
    assert [c["call_id"] for c in listed["calls"]] == ["c-blip"]
    assert sample(page, 'screenpop_dropped_total{queue="call_records",reason="rejected"}') == 0
    assert sample(page, 'screenpop_dropped_total{queue="call_records",reason="queue_full"}') == 0
    assert ADA.removeprefix("+") not in caplog.text  # no SQL parameters (the caller's number) in the logs


@pytest.mark.postgres
async def test_audit_rows_of_a_card_sent_during_an_outage_are_written_once_the_database_is_back(
    postgres_server: PostgresServer, pg_url: str
) -> None:
    """Audit rows queued while PostgreSQL is down are retried and written after it returns, none dropped."""
    metrics = Metrics()
    store = await Store.open(pg_url, audit_interval_s=0.01, observer=metrics)
    try:
        await asyncio.to_thread(postgres_server.stop)
        try:
            store.audit_card("agent-1", "c-1", 1, ["accounting"])

            async def retried() -> bool:
                return (
                    sample(metrics.render(lambda: None).decode(), 'screenpop_retries_total{queue="audit"}')
                    > 0
                )

            await wait_for(retried, 20, "an audit write retried while the database is down")
        finally:
            restart(postgres_server)

        async def written() -> bool:
            return store.audit_stats["pending"] == 0 and len(await store.audit_rows(10)) == 1

        await wait_for(written, 30, "the audit row written after the outage")
    finally:
        await store.close()
    assert store.audit_stats["dropped"] == 0


@pytest.mark.postgres
async def test_audit_rows_still_unwritten_at_shutdown_are_counted_as_dropped(
    postgres_server: PostgresServer, pg_url: str
) -> None:
    """An audit row that cannot be written before the store closes is counted in the metrics as dropped."""
    metrics = Metrics()
    store = await Store.open(pg_url, observer=metrics)
    await asyncio.to_thread(postgres_server.stop)
    try:
        store.audit_card("agent-1", "c-1", 1, ["accounting"])
        await store.close()
    finally:
        restart(postgres_server)
    page = metrics.render(lambda: None).decode()
    assert sample(page, 'screenpop_dropped_total{queue="audit",reason="shutdown"}') == 1


@pytest.mark.postgres
async def test_a_database_error_on_a_write_does_not_carry_the_callers_number(pg_url: str) -> None:
    """A write PostgreSQL refuses raises an error naming no SQL parameter, so no log shows the caller."""
    store = await Store.open(pg_url)
    refused = CallEvent(provider="pbx", call_id="c-1", event=EventKind.RINGING, from_raw="ADA\x00")
    try:
        with pytest.raises(sa.exc.DBAPIError) as caught:
            await store.record_event(refused, ADA)
    finally:
        await store.close()
    assert ADA.removeprefix("+") not in str(caught.value)
    assert "ADA" not in str(caught.value)


@pytest.mark.postgres
async def test_an_audit_row_the_database_refuses_loses_only_itself_and_is_counted(pg_url: str) -> None:
    """A refused audit row is given up alone and counted; the rows queued with it are written."""
    metrics = Metrics()
    store = await Store.open(pg_url, observer=metrics)
    try:
        for agent in ("agent-1", "agent\x00", "agent-3"):  # PostgreSQL text cannot hold a NUL
            store.audit_card(agent, "c-1", 1, ["accounting"])
        await store.flush_audit()
        written = sorted(row["agent_id"] for row in await store.audit_rows(10))
    finally:
        await store.close()
    page = metrics.render(lambda: None).decode()
    assert written == ["agent-1", "agent-3"]
    assert sample(page, 'screenpop_dropped_total{queue="audit",reason="rejected"}') == 1


async def test_call_records_beyond_the_queue_bound_are_counted_as_dropped(tmp_path: Path) -> None:
    """When the recorder's queue is full the record that does not fit is counted in the metrics."""
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path}/store.db")
    metrics = Metrics()
    recorder = CallRecorder(store, metrics, queue_limit=2)
    try:
        for n in range(3):
            recorder.record(ringing(f"c-{n}"), ADA)
        recorder.start()
        await recorder.flush()
        stored = {c["call_id"] for c in await store.recent_calls(None, 10)}
    finally:
        await recorder.close()
        await store.close()
    page = metrics.render(lambda: None).decode()
    assert stored == {"c-0", "c-1"}
    assert sample(page, 'screenpop_dropped_total{queue="call_records",reason="queue_full"}') == 1


async def test_a_record_the_database_refuses_loses_only_itself_and_is_counted(tmp_path: Path) -> None:
    """A refused record in a batch is given up alone and counted; the others of its batch are written."""
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path}/store.db")
    metrics = Metrics()
    recorder = CallRecorder(store, metrics)
    try:
        for call_id in ("c-1", "x" * 300, "c-2"):
            recorder.record(ringing(call_id), ADA)
        recorder.start()
        await recorder.flush()
        stored = {c["call_id"] for c in await store.recent_calls(None, 10)}
    finally:
        await recorder.close()
        await store.close()
    page = metrics.render(lambda: None).decode()
    assert stored == {"c-1", "c-2"}
    assert sample(page, 'screenpop_dropped_total{queue="call_records",reason="rejected"}') == 1


# -- AMI events: AMI never sends an event twice ---------------------------------------------


def agent_called(call_id: str, extension: str, name: str) -> str:
    """One AgentCalled packet (as Asterisk 18+ sends it) ringing a queue member for ``call_id``."""
    return f"Event: AgentCalled\nPrivilege: agent,all\n{CALLER}\n{member(extension, name)}\n\n".replace(
        "1763800000.101", call_id
    )


def hangup(call_id: str) -> str:
    return f"Event: Hangup\nPrivilege: call,all\n{CALLER}\nCause: 16\n\n".replace("1763800000.101", call_id)


def ami_config(tmp_path: Path, ami: FakeAmi) -> dict[str, Any]:
    """The test service's config with one AMI link to ``ami``: Alice (1001) is agent-1, Bob agent-2."""
    config = base_config(f"sqlite+aiosqlite:///{tmp_path}/store.db")
    config["providers"] = [
        {
            "name": "asterisk",
            "kind": "asterisk_ami",
            "host": "127.0.0.1",
            "port": ami.port,
            "username": USERNAME,
            "secret": SECRET,
            "agents": {"PJSIP/1001": "agent-1", "Bob": "agent-2"},
        }
    ]
    return config


async def test_agent_called_while_the_service_is_full_pops_once_when_it_has_room(
    tmp_path: Path, ami: FakeAmi
) -> None:
    """An AgentCalled refused with 429 (max_inflight_calls reached) is retried and pops its card once."""
    async with hit_server() as hit:
        config = ami_config(tmp_path, ami)
        config["server"]["max_inflight_calls"] = 1
        config["card"] = {"deadline_ms": 30_000}
        config["connectors"] = [http_connector("credit", hit.url, timeout_ms=30_000)]
        settings = settings_from_mapping(config, source="<test>", environ={})
        async with running(settings) as base, agents(base, settings, "agent-1", "agent-2") as socks:
            await wait_link_state(base, lambda link: link == "connected")
            hit.hang()  # call A stays in the making: the service is full
            await ami.send(agent_called("call-a", "1001", "Alice"))
            await read_until(socks["agent-1"], lambda f: f["type"] == "card" and f["call_id"] == "call-a")
            await ami.send(agent_called("call-b", "1002", "Bob"))

            async def refused_and_retried() -> float:
                return await metric(base, 'screenpop_retries_total{queue="ami:asterisk"}')

            await wait_for(refused_and_retried, 10, "call B's AgentCalled refused and retried")
            hit.answer()
            await read_until(socks["agent-2"], complete_card("call-b"), within=15)
            await ami.send(hangup("call-b"))
            await read_until(socks["agent-2"], call_status("call-b", "missed"))
            page = str((await api(base, "GET", "/metrics"))[1])
        cards, _ = seen(socks["agent-2"], "call-b")
    assert [c["version"] for c in cards].count(1) == 1
    assert cards[0]["card"]["caller"]["e164"] == ADA
    for reason in ("queue_full", "rejected", "shutdown"):
        assert sample(page, f'screenpop_dropped_total{{queue="ami:asterisk",reason="{reason}"}}') == 0


@pytest.mark.redis
async def test_agent_called_while_redis_is_down_pops_once(
    tmp_path: Path, ami: FakeAmi, redis_server: RedisServer, redis_url: str
) -> None:
    """An AgentCalled arriving while Redis is stopped pops its card once, at the latest when Redis is back."""
    config = ami_config(tmp_path, ami)
    config["broker"] = {"url": redis_url}
    settings = settings_from_mapping(config, source="<test>", environ={})
    async with running(settings) as base, agents(base, settings, "agent-1") as socks:
        await wait_link_state(base, lambda link: link == "connected")
        redis_server.stop()
        try:
            await ami.send(agent_called("call-r", "1001", "Alice"))

            async def popped_or_retried() -> bool:
                popped = await metric(base, "screenpop_card_frames_total") > 0
                return popped or await metric(base, 'screenpop_retries_total{queue="ami:asterisk"}') > 0

            await wait_for(popped_or_retried, 10, "call-r popped or its AgentCalled retried")
        finally:
            redis_server.start()  # from this thread: the server ends with the thread that started it
        await has_had(socks["agent-1"], complete_card("call-r"), within=15)
        await ami.send(hangup("call-r"))
        await read_until(socks["agent-1"], call_status("call-r", "missed"))
        page = str((await api(base, "GET", "/metrics"))[1])
    cards, _ = seen(socks["agent-1"], "call-r")
    assert [c["version"] for c in cards].count(1) == 1
    assert sample(page, 'screenpop_dropped_total{queue="ami:asterisk",reason="rejected"}') == 0


async def test_ami_backlog_beyond_its_bound_drops_the_oldest_and_counts_it(ami: FakeAmi) -> None:
    """While the service refuses, events beyond the link's backlog bound drop the oldest, counted."""
    metrics = Metrics()
    taken: list[CallEvent] = []
    busy = True

    async def accept(event: CallEvent) -> None:
        if busy:
            raise RateLimited("too many calls in progress; retry shortly")
        taken.append(event)

    listener = AmiListener(ami_settings(ami.port), accept, observer=metrics, backlog_limit=2)
    metrics.track_queue(listener.queue_name)
    await listener.start()
    try:
        await wait_for(_true_when(lambda: listener.state == "connected"), 5, "the AMI link up")
        head, first, rest = QUEUE_CALL.split("Event: AgentCalled")  # Newchannel, agent-1's, the rest
        await ami.send(head + "Event: AgentCalled" + first)  # ringing agent-1: taken, refused, retried
        await wait_for(_true_when(lambda: retries(metrics) > 0), 5, "the first event refused and retried")
        await ami.send("Event: AgentCalled" + rest)  # ringing agent-2, answered, ended: one too many
        await wait_for(_true_when(lambda: dropped(metrics) == 1), 5, "the oldest waiting event dropped")
        busy = False
        await wait_for(_true_when(lambda: len(taken) == 3), 5, "the events kept, handed over")
    finally:
        await listener.stop()
    assert [(e.event, e.agent) for e in taken] == [
        (EventKind.RINGING, "agent-1"),  # ringing agent-2 was the oldest waiting when the bound was hit
        (EventKind.ANSWERED, "agent-2"),
        (EventKind.ENDED, None),
    ]
    assert dropped(metrics) == 1


def retries(metrics: Metrics) -> float:
    return sample(metrics.render(lambda: None).decode(), 'screenpop_retries_total{queue="ami:asterisk"}')


def dropped(metrics: Metrics, reason: str = "queue_full") -> float:
    page = metrics.render(lambda: None).decode()
    return sample(page, f'screenpop_dropped_total{{queue="ami:asterisk",reason="{reason}"}}')


def _true_when(condition: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    """``condition`` as the async check ``wait_for`` polls."""

    async def check() -> bool:
        return condition()

    return check


# -- files that two instances share ---------------------------------------------------------


def test_two_demo_writers_in_one_directory_at_once_both_succeed(tmp_path: Path) -> None:
    """Two writers of the demo databases into one directory at once both finish, leaving readable files."""
    write = functools.partial(write_demo_databases, tmp_path, customers=300, seed=7)
    with ThreadPoolExecutor(2) as pool:
        first, second = (job.result() for job in [pool.submit(write), pool.submit(write)])
    assert first.accounts == second.accounts > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["accounting.db", "credit.db", "sales.db"]


@pytest.mark.postgres
async def test_a_call_record_postgres_refuses_loses_only_itself_and_is_counted(pg_url: str) -> None:
    """A record PostgreSQL refuses (a NUL in the caller) is given up alone and counted; the rest is stored."""
    store = await Store.open(pg_url)
    metrics = Metrics()
    recorder = CallRecorder(store, metrics)
    try:
        for call_id, raw in (("c-1", ADA), ("c-2", "ADA\x00"), ("c-3", ADA)):
            recorder.record(
                CallEvent(provider="pbx", call_id=call_id, event=EventKind.RINGING, from_raw=raw), ADA
            )
        recorder.start()
        await recorder.flush()
        stored = {c["call_id"] for c in await store.recent_calls(None, 10)}
    finally:
        await recorder.close()
        await store.close()
    page = metrics.render(lambda: None).decode()
    assert stored == {"c-1", "c-3"}
    assert sample(page, 'screenpop_dropped_total{queue="call_records",reason="rejected"}') == 1


async def test_an_ami_event_the_store_would_refuse_pops_nothing_and_is_counted(
    tmp_path: Path, ami: FakeAmi
) -> None:
    """An AgentCalled with a 300-character call id: no card it could not record, one `rejected`, no stall."""
    settings = settings_from_mapping(ami_config(tmp_path, ami), source="<test>", environ={})
    long_id = "9" * 300
    async with running(settings) as base, agents(base, settings, "agent-1") as socks:
        await wait_link_state(base, lambda link: link == "connected")
        await ami.send(agent_called(long_id, "1001", "Alice"))
        await ami.send(agent_called("call-after", "1001", "Alice"))
        await read_until(socks["agent-1"], complete_card("call-after"))
        rejected = await metric(base, 'screenpop_dropped_total{queue="ami:asterisk",reason="rejected"}')
    cards, _ = seen(socks["agent-1"], long_id)
    assert (cards, rejected) == ([], 1)
