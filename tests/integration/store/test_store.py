"""The store against real SQLite and real PostgreSQL: schema, calls, notes, history, audit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import create_async_engine

from screenpop.errors import BadRequest, ConfigError, Forbidden, NotFound, Unavailable
from screenpop.model import CallEvent, EventKind
from screenpop.store import EventWrite, Store, SummaryWrite, migrations
from screenpop.store.schema import VERSION_TABLE, calls, metadata
from tests.support.ports import free_port
from tests.support.servers import PostgresServer
from tests.support.waiting import wait_for

TABLES = {
    "calls",
    "call_events",
    "call_recipients",
    "notes",
    "audit",
    "suggestion_feedback",
    "sink_outbox",
    "store_leases",
    VERSION_TABLE,
}
RINGING, ANSWERED, ENDED, MISSED = (EventKind.RINGING, EventKind.ANSWERED, EventKind.ENDED, EventKind.MISSED)


HEAD_REVISION = ScriptDirectory(str(Path(migrations.__file__).parent)).get_current_head()
"""The newest migration, which opening a store must reach."""


def event(call_id: str, kind: EventKind, provider: str = "pbx", **fields: Any) -> CallEvent:
    return CallEvent(provider=provider, call_id=call_id, event=kind, **fields)


async def ring(
    store: Store,
    call_id: str,
    number: str = "+14155550132",
    agents: tuple[str, ...] = ("agent-1",),
    provider: str = "pbx",
) -> None:
    """A call that rang with a card delivered to ``agents``."""
    await store.record_event(event(call_id, RINGING, provider, from_raw=number), number)
    await store.add_recipients(provider, call_id, agents)


def store_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("screenpop-store")]


async def query(url: str, statement: str) -> list[Any]:
    """Rows of a raw query on a separate engine, to see what is really stored."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(sa.text(statement))).all())
    finally:
        await engine.dispose()


# -- schema and start-up -----------------------------------------------------


async def test_open_migrates_an_empty_database_to_the_declared_schema(store_url: str) -> None:
    """Opening an empty database creates every table exactly as store.schema declares it."""
    store = await Store.open(store_url)
    await store.close()
    engine = create_async_engine(store_url)
    try:
        async with engine.connect() as conn:
            names = await conn.run_sync(lambda c: set(sa.inspect(c).get_table_names()))
            diff = await conn.run_sync(
                lambda c: compare_metadata(
                    MigrationContext.configure(
                        c, opts={"compare_type": True, "version_table": VERSION_TABLE}
                    ),
                    metadata,
                )
            )
    finally:
        await engine.dispose()
    assert names == TABLES
    assert diff == []


async def test_sqlite_store_creates_its_directory_and_uses_wal(tmp_path: Path) -> None:
    """A SQLite store creates the database's parent directory and runs in WAL mode."""
    path = tmp_path / "deep" / "dir" / "screenpop.db"
    store = await Store.open(f"sqlite+aiosqlite:///{path}")
    await store.close()
    assert path.exists()
    assert await query(f"sqlite+aiosqlite:///{path}", "PRAGMA journal_mode") == [("wal",)]


async def test_second_open_keeps_data_and_schema_version(store_url: str) -> None:
    """Opening an already migrated database again changes nothing and keeps its calls."""
    first = await Store.open(store_url)
    await first.record_event(event("c-1", RINGING), "+14155550132")
    await first.close()
    second = await Store.open(store_url)
    try:
        again = await second.record_event(event("c-1", RINGING), "+14155550132")
    finally:
        await second.close()
    assert again.duplicate
    assert await query(store_url, "SELECT version_num FROM screenpop_alembic_version") == [(HEAD_REVISION,)]


async def test_two_stores_opening_at_once_both_succeed(store_url: str) -> None:
    """Two instances starting together on one empty database both migrate and work."""
    one, two = await asyncio.gather(Store.open(store_url), Store.open(store_url))
    try:
        await one.ping()
        await two.ping()
        await one.record_event(event("c-1", RINGING), None)
        assert (await two.record_event(event("c-1", RINGING), None)).duplicate
    finally:
        await one.close()
        await two.close()
    assert await query(store_url, "SELECT version_num FROM screenpop_alembic_version") == [(HEAD_REVISION,)]


async def test_sqlite_open_waits_for_a_writer_holding_a_fresh_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Opening a SQLite file while another process holds its write lock waits for it instead of failing."""
    path = tmp_path / "screenpop.db"
    holder = sqlite3.connect(path, isolation_level=None)  # a new file: still in rollback-journal mode
    caplog.set_level(logging.INFO, logger="screenpop.store.connections")
    try:
        holder.execute("CREATE TABLE other_tool (x)")
        holder.execute("BEGIN IMMEDIATE")
        opening = asyncio.create_task(Store.open(f"sqlite+aiosqlite:///{path}"))

        async def busy_or_done() -> bool:
            return opening.done() or "is busy" in caplog.text

        await wait_for(busy_or_done, 10, "the store waiting for the write lock")
        holder.execute("COMMIT")
        store = await asyncio.wait_for(opening, 10)
    finally:
        holder.close()
    try:
        await store.record_event(event("c-1", RINGING), None)
    finally:
        await store.close()
    assert await query(f"sqlite+aiosqlite:///{path}", "PRAGMA journal_mode") == [("wal",)]


async def test_many_stores_opening_one_sqlite_file_at_once_all_succeed(tmp_path: Path) -> None:
    """Three instances starting together on one new SQLite file all open it, round after round."""
    for round_ in range(20):
        url = f"sqlite+aiosqlite:///{tmp_path}/{round_}/screenpop.db"
        opened = await asyncio.gather(*(Store.open(url) for _ in range(3)), return_exceptions=True)
        stores = [s for s in opened if isinstance(s, Store)]
        for store in stores:
            await store.close()
        assert [repr(s) for s in opened if not isinstance(s, Store)] == []


async def test_unreachable_postgres_is_unavailable_with_a_short_reason() -> None:
    """A store URL nobody listens on raises Unavailable saying the connection was refused."""
    url = f"postgresql+asyncpg://screenpop:secret@127.0.0.1:{free_port()}/screenpop"
    with pytest.raises(Unavailable) as caught:
        await Store.open(url)
    assert "connection refused" in str(caught.value)
    assert "secret" not in str(caught.value)


async def test_sqlite_file_that_cannot_be_opened_is_unavailable_and_leaves_no_thread(tmp_path: Path) -> None:
    """A SQLite path that is a directory makes open raise Unavailable, with no store thread left behind."""
    (tmp_path / "screenpop.db").mkdir()
    with pytest.raises(Unavailable, match="unable to open database file"):
        await Store.open(f"sqlite+aiosqlite:///{tmp_path}/screenpop.db")
    assert store_threads() == []


async def test_in_memory_store_reads_back_what_it_wrote() -> None:
    """A store on in-memory SQLite migrates, records and reads back through its one connection."""
    store = await Store.open("sqlite+aiosqlite://")
    try:
        await ring(store, "c-1", agents=("agent-1", "agent-2"))
        await store.save_note("c-1", "agent-1", "resolved", "done", False)
        assert await store.recipients("pbx", "c-1") == ("agent-1", "agent-2")
        [row] = await store.recent_calls("agent-2", 10)
        await store.ping()
    finally:
        await store.close()
    assert [n["notes"] for n in row["notes"]] == ["done"]


async def test_close_leaves_no_store_thread_and_later_use_is_unavailable(tmp_path: Path) -> None:
    """Closing a SQLite store ends its worker threads; using it afterwards raises Unavailable."""
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path}/screenpop.db")
    await store.record_event(event("c-1", RINGING), None)
    await store.ping()
    assert len(store_threads()) == 2
    await store.close()
    assert store_threads() == []
    with pytest.raises(Unavailable, match="closed"):
        await store.ping()


async def test_waiting_for_another_writer_blocks_neither_the_loop_nor_reads(tmp_path: Path) -> None:
    """While another process holds SQLite's write lock, a write waits on its thread and reads still answer."""
    path = tmp_path / "screenpop.db"
    store = await Store.open(f"sqlite+aiosqlite:///{path}")
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        await store.record_event(event("c-1", RINGING, from_raw="x"), "+14155550132")
        holder.execute("BEGIN IMMEDIATE")
        waiting = asyncio.create_task(store.record_event(event("c-2", RINGING), "+14155550132"))
        done, _ = await asyncio.wait({waiting}, timeout=0.2)
        assert not done, "the write went through a held write lock"
        await store.ping()
        history = await store.history("+14155550132", 5)
        assert not waiting.done()
        holder.execute("COMMIT")
        state = await asyncio.wait_for(waiting, 5)
    finally:
        holder.close()
        await store.close()
    assert [h.call_id for h in history] == ["c-1"]
    assert state.should_pop


async def test_store_keeps_working_after_a_caller_is_cancelled(store: Store) -> None:
    """A caller cancelled while its write is under way leaves the store answering later calls."""
    for _ in range(3):
        task = asyncio.create_task(store.record_event(event("c-1", RINGING), None))
        await asyncio.sleep(0)  # allow-sleep: one loop turn, so the write is under way when cancelled
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert (await store.record_event(event("c-2", RINGING), None)).should_pop
    await store.ping()
    assert (await store.recent_calls(None, 1))[0]["call_id"] == "c-2"


async def test_store_url_of_another_database_is_a_config_error() -> None:
    """A store URL whose driver the store does not support is refused as a config error."""
    with pytest.raises(ConfigError, match=r"store\.url"):
        await Store.open("mysql+aiomysql://u:p@127.0.0.1/db")


# -- call events -------------------------------------------------------------


async def test_first_ringing_pops_and_repeat_changes_nothing(store: Store) -> None:
    """The first ringing pops; the same event again is a duplicate that pops nothing."""
    first = await store.record_event(event("c-1", RINGING, from_raw="+1 415"), "+14155550132")
    again = await store.record_event(event("c-1", RINGING, from_raw="other"), "+19995550000")
    assert (first.status, first.duplicate, first.should_pop) == (RINGING, False, True)
    assert (again.status, again.duplicate, again.should_pop) == (RINGING, True, False)
    [row] = await store.recent_calls(None, 10)
    assert row["caller"] == {"raw": "+1 415", "e164": "+14155550132", "name": None}


async def test_concurrent_copies_of_one_ringing_pop_once(store: Store) -> None:
    """Five copies of one ringing arriving together pop exactly one card."""
    states = await asyncio.gather(*(store.record_event(event("c-1", RINGING), None) for _ in range(5)))
    assert sum(s.should_pop for s in states) == 1
    assert sum(s.duplicate for s in states) == 4


async def test_answered_before_ringing_leaves_late_ringing_silent(store: Store) -> None:
    """An answered that arrives first marks the call answered; the late ringing pops nothing."""
    answered = await store.record_event(event("c-1", ANSWERED, agent="agent-2"), None)
    late = await store.record_event(
        event("c-1", RINGING, from_raw="+1 415 555 0132", queue="support"), "+14155550132"
    )
    assert (answered.status, answered.answered_by) == (ANSWERED, "agent-2")
    assert (late.status, late.duplicate, late.should_pop) == (ANSWERED, False, False)
    [row] = await store.recent_calls(None, 10)
    assert (row["caller"]["e164"], row["queue"]) == ("+14155550132", "support")


async def test_ended_call_stays_ended_when_answered_arrives_late(store: Store) -> None:
    """Status only moves forward: an answered after ended keeps the call ended."""
    await store.record_event(event("c-1", RINGING), None)
    await store.record_event(event("c-1", ENDED), None)
    late = await store.record_event(event("c-1", ANSWERED, agent="agent-1"), None)
    missed = await store.record_event(event("c-1", MISSED), None)
    assert (late.status, late.answered_by, late.should_pop) == (ENDED, "agent-1", False)
    assert missed.status is ENDED


async def test_event_times_are_stored_as_aware_utc(store: Store, store_url: str) -> None:
    """A provider time in another zone is kept as the same instant in UTC."""
    at = datetime(2026, 11, 22, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    await store.record_event(event("c-1", ANSWERED, agent="a", at=at), None)
    [row] = await store.recent_calls(None, 1)
    assert row["answered_at"] == "2026-11-22T10:00:00.000Z"
    engine = create_async_engine(store_url)
    try:
        async with engine.connect() as conn:
            stored = (await conn.execute(sa.select(calls.c.answered_at))).scalar_one()
    finally:
        await engine.dispose()
    assert stored == at
    assert stored.tzinfo is UTC


async def test_over_long_call_id_is_a_bad_request(store: Store) -> None:
    """A call id longer than the store keeps is refused as the client's error."""
    with pytest.raises(BadRequest):
        await store.record_event(event("x" * 300, RINGING), None)


async def test_record_batch_stores_what_writing_each_in_order_would(store: Store) -> None:
    """A batch of events, recipients and summaries stores what writing each in order would."""
    summary = {"customer": {"name": "Ada"}, "badges": [], "sections": {"crm": "ok"}}
    await store.record_batch(
        [
            SummaryWrite("pbx", "c-1", {"too": "early"}, 1),
            EventWrite(event("c-1", RINGING, from_raw="+1 415"), "+14155550132", ("agent-1", "agent-2")),
            EventWrite(event("c-2", RINGING), None, ("agent-1", "agent-1")),
            SummaryWrite("pbx", "c-1", summary, 1),
            EventWrite(event("c-1", ANSWERED, agent="agent-2"), None, ("agent-2", "agent-3")),
            SummaryWrite("pbx", "c-2", {"version": 1}, 1),
            SummaryWrite("pbx", "c-2", {"version": 2}, 2),
            SummaryWrite("pbx", "nobody", summary, 1),
            SummaryWrite("pbx", "c-3", {"before": "its call"}, 1),
            EventWrite(event("c-3", RINGING), None),
        ]
    )
    stored = {c["call_id"]: c for c in await store.recent_calls(None, 10)}
    assert set(stored) == {"c-1", "c-2", "c-3"}
    assert stored["c-3"]["summary"] is None
    assert (stored["c-1"]["status"], stored["c-1"]["answered_by"]) == ("answered", "agent-2")
    assert stored["c-1"]["summary"] == summary
    assert stored["c-2"]["summary"] == {"version": 2}
    assert await store.recipients("pbx", "c-1") == ("agent-1", "agent-2", "agent-3")
    assert await store.recipients("pbx", "c-2") == ("agent-1",)


async def test_record_batch_with_a_bad_event_writes_nothing(store: Store) -> None:
    """One over-long call id fails the whole batch, so nothing of it is stored."""
    with pytest.raises(BadRequest):
        await store.record_batch(
            [
                EventWrite(event("c-1", RINGING), None, ("agent-1",)),
                EventWrite(event("x" * 300, RINGING), None),
            ]
        )
    assert await store.recent_calls(None, 10) == []


# -- recipients ---------------------------------------------------------------


async def test_recipients_are_kept_once_each_in_delivery_order(store: Store) -> None:
    """Adding agents twice keeps each once, in the order they got the card."""
    await store.record_event(event("c-1", RINGING), None)
    await store.add_recipients("pbx", "c-1", ["agent-1", "agent-2"])
    await store.add_recipients("pbx", "c-1", ["agent-2", "agent-3"])
    assert await store.recipients("pbx", "c-1") == ("agent-1", "agent-2", "agent-3")
    state = await store.record_event(event("c-1", ANSWERED, agent="agent-2"), None)
    assert state.recipients == ("agent-1", "agent-2", "agent-3")
    assert await store.recipients("pbx", "unknown") == ()
    with pytest.raises(NotFound):
        await store.add_recipients("pbx", "unknown", ["agent-1"])


# -- notes -------------------------------------------------------------------


async def test_every_note_on_a_call_is_kept(store: Store) -> None:
    """Two notes saved on one call are both kept, in order, and both audited."""
    await ring(store, "c-1")
    first = await store.save_note("c-1", "agent-1", "callback", "ring back at 3", False)
    second = await store.save_note("c-1", "agent-1", "resolved", "done", False)
    [row] = await store.recent_calls("agent-1", 10)
    assert [n["id"] for n in row["notes"]] == [first["id"], second["id"]]
    assert [n["notes"] for n in row["notes"]] == ["ring back at 3", "done"]
    assert second["call_id"] == "c-1"
    assert second["agent"] == "agent-1"
    audited = await store.audit_rows(10)
    assert [(a["action"], a["call_id"]) for a in audited] == [("note", "c-1")] * 2


async def test_note_on_unknown_call_is_not_found(store: Store) -> None:
    """A note for a call the store never saw raises NotFound."""
    with pytest.raises(NotFound):
        await store.save_note("nope", "agent-1", "resolved", "", False)


async def test_note_by_agent_without_the_card_is_forbidden(store: Store) -> None:
    """Only agents who got the card (or answered) annotate, unless allowed to annotate any."""
    await ring(store, "c-1", agents=("agent-1",))
    with pytest.raises(Forbidden):
        await store.save_note("c-1", "agent-9", "resolved", "x", False)
    await store.record_event(event("c-1", ANSWERED, agent="agent-7"), None)
    assert (await store.save_note("c-1", "agent-7", "resolved", "x", False))["agent"] == "agent-7"
    assert (await store.save_note("c-1", "boss", None, "checked", True))["agent"] == "boss"
    [row] = await store.recent_calls(None, 10)
    assert [n["agent"] for n in row["notes"]] == ["agent-7", "boss"]


async def test_note_goes_to_the_call_sharing_an_id_that_the_agent_received(store: Store) -> None:
    """Two providers, one call id: each agent's note lands on its own call, a supervisor's on the newer."""
    await ring(store, "c-1", provider="old", agents=("agent-1",))
    await ring(store, "c-1", provider="new", agents=("agent-2",))
    assert (await store.save_note("c-1", "agent-1", "resolved", "x", False))["provider"] == "old"
    assert (await store.save_note("c-1", "agent-2", "resolved", "x", False))["provider"] == "new"
    assert (await store.save_note("c-1", "boss", None, "seen", True))["provider"] == "new"
    with pytest.raises(Forbidden):
        await store.save_note("c-1", "agent-3", "resolved", "x", False)


async def test_audit_rows_name_their_provider_so_shared_call_ids_stay_apart(store: Store) -> None:
    """who_saw gives an audit row of one provider's call that call's number, not another provider's."""
    await ring(store, "c-1", number="+14155550132", provider="old")
    await ring(store, "c-1", number="+14155550199", provider="new")
    store.audit_card("agent-1", "c-1", 1, ["accounting"], provider="new")
    rows = await store.who_saw(agent_id="agent-1")
    assert [(r["call_id"], r["number"]) for r in rows] == [("c-1", "+14155550199")]
    assert await store.who_saw(number="+14155550132") == []
    history = await store.history("+14155550132", 5, "c-1", "new")
    assert [h.call_id for h in history] == ["c-1"]


async def test_empty_or_oversized_note_is_a_bad_request(store: Store) -> None:
    """A note with nothing in it, or too long, is refused as the client's error."""
    await ring(store, "c-1")
    with pytest.raises(BadRequest):
        await store.save_note("c-1", "agent-1", None, "", False)
    with pytest.raises(BadRequest):
        await store.save_note("c-1", "agent-1", "resolved", "x" * 10_001, False)


# -- history and recent calls ----------------------------------------------------


async def test_history_lists_previous_calls_newest_first_with_latest_note(store: Store) -> None:
    """History shows earlier calls of the number, newest first, without the current one."""
    number = "+14155550132"
    await ring(store, "c-1", number)
    await store.record_event(event("c-1", ANSWERED, agent="agent-1"), None)
    await store.save_note("c-1", "agent-1", "callback", "first try", False)
    await store.save_note("c-1", "agent-1", "resolved", "fixed", False)
    await ring(store, "c-2", number, agents=("agent-2",))
    await store.save_note("c-2", "agent-2", "no_answer", "left voicemail", False)
    await ring(store, "other", "+14155559999")
    await ring(store, "c-3", number)

    entries = await store.history(number, 5, exclude_call_id="c-3")

    assert [e.call_id for e in entries] == ["c-2", "c-1"]
    assert (entries[0].agent, entries[0].disposition, entries[0].notes) == (
        "agent-2",
        "no_answer",
        "left voicemail",
    )
    assert (entries[1].agent, entries[1].disposition, entries[1].notes) == ("agent-1", "resolved", "fixed")
    assert entries[0].at > entries[1].at
    assert [e.call_id for e in await store.history(number, 1, "c-3")] == ["c-2"]
    assert await store.history(None, 5, None) == ()


async def test_recent_calls_are_the_agents_own_newest_first(store: Store) -> None:
    """An agent sees the calls it received, newest first; a supervisor (None) sees all."""
    await ring(store, "c-1", agents=("agent-1",))
    await ring(store, "c-2", agents=("agent-2",))
    await ring(store, "c-3", agents=("agent-1", "agent-2"))
    summary = {"customer": {"name": "Ada"}, "badges": [], "sections": {"crm": "ok"}}
    await store.save_summary("pbx", "c-3", summary, 2)

    mine = await store.recent_calls("agent-1", 10)

    assert [c["call_id"] for c in mine] == ["c-3", "c-1"]
    assert mine[0]["summary"] == summary
    assert mine[1]["summary"] is None
    assert mine[0]["received_at"].endswith("Z")
    assert [c["call_id"] for c in await store.recent_calls(None, 2)] == ["c-3", "c-2"]
    with pytest.raises(NotFound):
        await store.save_summary("pbx", "unknown", summary, 2)


async def test_a_summary_never_replaces_a_later_versions(store: Store) -> None:
    """Two instances' summaries of one call land in either order: the later card version's is kept.

    The card's builder writes its summary when the card completes; an
    instance that ran a mid-call update writes the newer version's.  Alone,
    in one batch or in two, an older one arriving last changes nothing; the
    same version again replaces it (a card rebuilt after a restart).
    """
    await ring(store, "c-1")
    await ring(store, "c-2")
    older, newer = {"customer": {"name": "Ada"}}, {"customer": {"name": "Ada Lovelace"}}
    await store.save_summary("pbx", "c-1", newer, 5)
    await store.save_summary("pbx", "c-1", older, 3)
    await store.record_batch([SummaryWrite("pbx", "c-2", newer, 5), SummaryWrite("pbx", "c-2", older, 3)])
    stored = {c["call_id"]: c["summary"] for c in await store.recent_calls(None, 10)}
    assert stored == {"c-1": newer, "c-2": newer}

    await store.record_batch([SummaryWrite("pbx", "c-1", older, 4)])
    await store.save_summary("pbx", "c-2", older, 4)
    stored = {c["call_id"]: c["summary"] for c in await store.recent_calls(None, 10)}
    assert stored == {"c-1": newer, "c-2": newer}

    again = {"customer": {"name": "Ada L."}}
    await store.save_summary("pbx", "c-1", again, 5)
    await store.record_batch([SummaryWrite("pbx", "c-2", again, 6)])
    stored = {c["call_id"]: c["summary"] for c in await store.recent_calls(None, 10)}
    assert stored == {"c-1": again, "c-2": again}


# -- audit -------------------------------------------------------------------


async def test_audit_card_never_waits_and_close_writes_every_row(store_url: str) -> None:
    """audit_card only queues (a plain function: no row is written when it returns); close() writes all."""
    store = await Store.open(store_url)
    assert not asyncio.iscoroutinefunction(store.audit_card)
    for version in range(1000):
        store.audit_card("agent-1", "c-1", version, ["accounting", "credit"])
    assert store.audit_stats["pending"] == 1000  # queued, none written yet: the caller waited for nothing
    await store.close()

    reopened = await Store.open(store_url)
    try:
        rows = await reopened.audit_rows(2000)
    finally:
        await reopened.close()
    assert len(rows) == 1000
    assert sorted(r["version"] for r in rows) == list(range(1000))
    assert rows[0]["sections"] == ["accounting", "credit"]
    assert rows[0]["action"] == "card"
    assert rows[0]["at"].endswith("Z")


async def _audit_rows_reach(store: Store, count: int) -> bool:
    return len(await store.audit_rows(2000)) == count


async def test_audit_writer_flushes_in_batches_without_being_asked(store: Store) -> None:
    """Queued audit rows reach the database on their own, a few hundred per statement."""
    for version in range(1000):
        store.audit_card("agent-1", "c-1", version, ["crm"])
    await wait_for(lambda: _audit_rows_reach(store, 1000), 5, "1,000 audit rows written")
    assert 1 <= store.audit_stats["batches"] <= 10
    assert store.audit_stats["pending"] == 0


async def test_audit_lookup_records_who_looked_up_which_sections(store: Store) -> None:
    """A lookup is audited with the agent, the number and the sections it returned."""
    await store.audit_lookup("boss", "+14155550132", ["accounting", "credit"])
    [row] = await store.audit_rows(10)
    assert (row["agent_id"], row["action"], row["number"], row["call_id"]) == (
        "boss",
        "lookup",
        "+14155550132",
        None,
    )
    assert row["sections"] == ["accounting", "credit"]


@pytest.mark.postgres
async def test_ping_reports_a_lost_database_as_unavailable(
    pg_url: str, postgres_server: PostgresServer
) -> None:
    """When the store's database disappears, ping raises Unavailable with the server's reason."""
    store = await Store.open(pg_url)
    try:
        await store.ping()
        admin = create_async_engine(postgres_server.url, isolation_level="AUTOCOMMIT")
        try:
            async with admin.connect() as conn:
                name = sa.engine.make_url(pg_url).database
                await conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        finally:
            await admin.dispose()
        with pytest.raises(Unavailable, match="does not exist"):
            await store.ping()
    finally:
        await store.close()
