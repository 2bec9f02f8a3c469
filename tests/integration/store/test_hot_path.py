"""The writes and the read behind every card, run on the driver's cursor, store what SQLAlchemy would."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa

from screenpop.model import CallEvent, EventKind
from screenpop.store import EventWrite, Store, SummaryWrite

RINGING, ANSWERED = EventKind.RINGING, EventKind.ANSWERED
CALLS = (
    "SELECT call_id, status, caller_raw, caller_e164, caller_name, to_number, queue, answered_by, summary,"
    " received_at, answered_at, ended_at FROM calls"
)


def event(call_id: str, kind: EventKind, provider: str = "pbx", **fields: Any) -> CallEvent:
    return CallEvent(provider=provider, call_id=call_id, event=kind, **fields)


async def stored(store: Store, sql: str) -> list[tuple[Any, ...]]:
    """Rows as the database holds them: no type processing on the way out."""

    def run(conn: sa.Connection) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in conn.exec_driver_sql(sql).all()]

    return await store._db.read(run)


def shape_of(value: Any) -> Any:
    """A stored time reduced to its form (type, text length), so two writes' times compare."""
    if isinstance(value, datetime):
        return ("datetime", value.utcoffset())
    if isinstance(value, str):
        return ("text", len(value), value[4], value[10], value[19])
    return value


async def test_a_batch_stores_the_rows_the_core_statements_store(store: Store) -> None:
    """A call, event, recipients and summary written in a batch are stored as one by one, in the same form."""
    fields = {"from_raw": "+1 415", "caller_name": "Ada", "to": "+1800", "queue": "sales"}
    at = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone(timedelta(hours=2)))
    summary = {"customer": {"name": "Ada"}, "sections": {"crm": "ok"}, "none": None}
    await store.record_event(event("core", ANSWERED, agent="a-1", at=at, **fields), "+14155550132")
    await store.add_recipients("pbx", "core", ["a-1", "a-2"])
    await store.save_summary("pbx", "core", summary, 1)
    await store.record_batch(
        [
            EventWrite(event("raw", ANSWERED, agent="a-1", at=at, **fields), "+14155550132", ("a-1", "a-2")),
            SummaryWrite("pbx", "raw", summary, 1),
        ]
    )
    rows = {r[0]: r[1:] for r in await stored(store, CALLS)}
    assert rows["raw"][:8] == rows["core"][:8]
    assert [shape_of(v) for v in rows["raw"][8:]] == [shape_of(v) for v in rows["core"][8:]]
    assert rows["raw"][9] == rows["core"][9]  # answered_at: the provider's time, in UTC
    events = await stored(
        store, "SELECT c.call_id, e.event, e.at, e.agent FROM call_events e JOIN calls c ON c.id = e.call_pk"
    )
    assert {r[0]: r[1:] for r in events}["raw"] == {r[0]: r[1:] for r in events}["core"]
    agents = "SELECT c.call_id, r.agent_id FROM call_recipients r JOIN calls c ON c.id = r.call_pk ORDER BY 2"
    recipients = await stored(store, agents)
    assert (
        [a for c, a in recipients if c == "raw"]
        == [a for c, a in recipients if c == "core"]
        == ["a-1", "a-2"]
    )
    assert (await store.recent_calls(None, 1))[0]["summary"] == summary


async def test_audit_rows_written_in_batches_are_stored_as_a_notes_audit_row(store: Store) -> None:
    """Queued card rows and a note's audit row (written by SQLAlchemy) are stored in the same form."""
    await store.record_event(event("c-1", RINGING, from_raw="+1415"), "+14155550132")
    await store.add_recipients("pbx", "c-1", ["agent-1"])
    await store.save_note("c-1", "agent-1", "resolved", "fixed", False)
    store.audit_card("agent-1", "c-1", 2, ["crm", "orders"], "pbx")
    await store.flush_audit()
    rows = await stored(store, "SELECT action, at, sections, provider, version FROM audit ORDER BY id")
    (note, at_note, sections_note, *_), (card, at_card, sections_card, provider, version) = rows
    assert (note, card, provider, version) == ("note", "card", "pbx", 2)
    assert shape_of(at_card) == shape_of(at_note)
    assert type(sections_card) is type(sections_note)
    assert [r["sections"] for r in reversed(await store.audit_rows(2))] == [[], ["crm", "orders"]]


async def test_a_refused_audit_row_fails_as_sqlalchemy_reports_it(store: Store) -> None:
    """A refused row raises SQLAlchemy's IntegrityError, which the audit queue sorts as bad data."""
    row = {
        "at": datetime.now(UTC),
        "agent_id": "agent-1",
        "action": "not-an-action",
        "provider": None,
        "call_id": None,
        "number": None,
        "version": None,
        "sections": [],
    }
    with pytest.raises(sa.exc.IntegrityError) as caught:
        await store._db.write(store._sql.insert_audit, [row])
    assert "agent-1" not in str(caught.value)  # parameters are hidden, as the engines hide them
    assert await stored(store, "SELECT count(*) FROM audit") == [(0,)]


async def test_history_leaves_out_only_the_call_of_that_provider(store: Store) -> None:
    """Two providers' calls of one id: history without one provider's shows the other's, with its note."""
    number = "+14155550132"
    for provider in ("pbx", "other"):
        await store.record_event(event("c-1", RINGING, provider, from_raw=number), number)
        await store.add_recipients(provider, "c-1", ["agent-1"])
    await store.save_note("c-1", "agent-1", "callback", "ring back", False)  # the newest c-1: other's

    entries = await store.history(number, 5, "c-1", "pbx")

    assert [(e.call_id, e.agent, e.disposition, e.notes) for e in entries] == [
        ("c-1", "agent-1", "callback", "ring back")
    ]
    assert entries[0].at.endswith("Z") and len(entries[0].at) == len("2026-01-02T03:04:05.678Z")
    assert [e.disposition for e in await store.history(number, 5, "c-1", "other")] == [None]
    assert await store.history(number, 5, "c-1") == ()
    assert len(await store.history(number, 5)) == 2


async def test_history_reads_asked_for_together_are_one_transaction_with_each_its_answer(
    store: Store,
) -> None:
    """Cards asking at once share a read transaction, and each gets its own number's calls and notes."""
    for call_id, number in (("a-1", "+14155550001"), ("b-1", "+14155550002"), ("b-2", "+14155550002")):
        await store.record_event(event(call_id, RINGING, from_raw=number), number)
        await store.add_recipients("pbx", call_id, ["agent-1"])
    await store.save_note("b-1", "agent-1", "sale", "sold", False)
    before = store._histories.transactions

    a, b, b_without_b2 = await asyncio.gather(
        store.history("+14155550001", 5),
        store.history("+14155550002", 5),
        store.history("+14155550002", 5, "b-2", "pbx"),
    )

    assert store._histories.transactions == before + 1
    assert [e.call_id for e in a] == ["a-1"]
    assert [(e.call_id, e.disposition) for e in b] == [("b-2", None), ("b-1", "sale")]
    assert [(e.call_id, e.notes) for e in b_without_b2] == [("b-1", "sold")]


async def test_a_record_batch_carries_the_queued_audit_rows_in_its_transaction(store: Store) -> None:
    """Card audit rows queued before a batch are stored by that batch, with its records."""
    store.audit_card("agent-1", "c-1", 1, ["crm"], "pbx")
    store.audit_card("agent-1", "c-1", 2, ["crm", "orders"], "pbx")

    await store.record_batch(
        [EventWrite(event("c-1", RINGING, from_raw="+1415"), "+14155550132", ("agent-1",))]
    )

    assert store.audit_stats == {"pending": 0, "batches": 1, "dropped": 0}
    assert await stored(store, "SELECT call_id, version FROM audit ORDER BY id") == [("c-1", 1), ("c-1", 2)]
    assert await store.recipients("pbx", "c-1") == ("agent-1",)


async def test_a_refused_audit_row_loses_neither_the_records_nor_the_other_rows(store: Store) -> None:
    """An audit row the database refuses is rolled back alone: the records commit, the good rows follow."""
    store.audit_card("agent-1", "c-1", 1, ["crm"], "pbx")
    store._audit.put({**store._audit.take()[0], "action": "refused"})  # no such action: the CHECK refuses it
    store.audit_card("agent-1", "c-1", 2, ["crm"], "pbx")

    await store.record_batch(
        [EventWrite(event("c-1", RINGING, from_raw="+1415"), "+14155550132", ("agent-1",))]
    )

    assert await store.recipients("pbx", "c-1") == ("agent-1",)
    assert store.audit_stats["pending"] == 2  # back in the audit queue, which finds the one at fault
    await store.flush_audit()
    assert await stored(store, "SELECT version FROM audit") == [(2,)]
    assert store.audit_stats["dropped"] == 1


async def test_history_keeps_the_newest_calls_and_only_their_own_latest_notes(store: Store) -> None:
    """With more calls than the limit, the newest are listed, each with its own latest note or none."""
    number = "+14155550132"
    for n in range(8):
        await store.record_event(event(f"c-{n}", RINGING, from_raw=number), number)
        await store.add_recipients("pbx", f"c-{n}", ["agent-1"])
    for n, text in ((0, "oldest"), (5, "first"), (5, "second"), (7, "newest")):
        await store.save_note(f"c-{n}", "agent-1", "done", text, False)

    entries = await store.history(number, 3, "c-7", "pbx")

    assert [(e.call_id, e.notes) for e in entries] == [("c-6", None), ("c-5", "second"), ("c-4", None)]
