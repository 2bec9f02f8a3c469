"""Retention against real SQLite and PostgreSQL: exactly the rows past their age go, one purger at a time."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from screenpop.store import RetentionPolicy, Store
from screenpop.store.retention import GIVEN_UP, LEASE_S, RetentionSQL
from screenpop.store.schema import (
    audit,
    call_events,
    call_recipients,
    calls,
    notes,
    sink_outbox,
    suggestion_feedback,
)
from tests.support.store_rows import dump, insert

NOW = datetime(2026, 12, 4, 3, 0, tzinfo=UTC)
"""The purge's injected time: no test waits for days to pass."""
HOUR = timedelta(hours=1)
POLICY = RetentionPolicy(calls_days=30, notes_days=20, audit_days=60)


def days(n: int) -> timedelta:
    return timedelta(days=n)


def call_row(call_id: str, received: datetime, number: str = "+14155550132") -> dict[str, Any]:
    return {
        "provider": "pbx",
        "call_id": call_id,
        "caller_e164": number,
        "status": "ended",
        "received_at": received,
        "summary": {"views": [{"hidden": [], "summary": {"customer": {"ids": {"accounting": "A-1"}}}}]},
    }


async def seed_call(url: str, call_id: str, received: datetime, note_at: datetime | None = None) -> int:
    """A call with an event, a recipient, feedback and (optionally) a note saved at ``note_at``."""
    (pk,) = await insert(url, [(calls, call_row(call_id, received))])
    children: list[tuple[sa.Table, dict[str, Any]]] = [
        (call_events, {"call_pk": pk, "event": "ringing", "received_at": received}),
        (call_recipients, {"call_pk": pk, "agent_id": "agent-1", "added_at": received}),
        (
            suggestion_feedback,
            {
                "call_pk": pk,
                "agent_id": "agent-1",
                "section": "insight",
                "product": "SKU-1",
                "outcome": "accepted",
                "answered_at": received,
            },
        ),
    ]
    if note_at is not None:
        children.append((notes, note_row(pk, note_at)))
    await insert(url, children)
    return pk


def note_row(call_pk: int, at: datetime) -> dict[str, Any]:
    return {
        "call_pk": call_pk,
        "agent_id": "agent-1",
        "disposition": "resolved",
        "notes": "n",
        "created_at": at,
    }


def audit_row(at: datetime) -> dict[str, Any]:
    return {
        "at": at,
        "agent_id": "agent-1",
        "action": "card",
        "provider": "pbx",
        "call_id": "x",
        "sections": [],
    }


def outbox_row(version: int, created: datetime, delivered: datetime | None) -> dict[str, Any]:
    return {
        "sink": "crm",
        "call_pk": 999_999,
        "provider": "pbx",
        "call_id": "gone",
        "version": version,
        "idempotency_key": f"gone:{version}",
        "caller_e164": "+14155550132",
        "customer_ids": {},
        "payload": {"notes": "n"},
        "created_at": created,
        "next_attempt_at": created,
        "delivered_at": delivered,
    }


async def test_purge_removes_exactly_the_rows_past_their_age(store: Store, store_url: str) -> None:
    """Calls, notes, audit rows and delivered sink entries just past their age go; those just younger stay."""
    old_call = await seed_call(store_url, "old", NOW - days(30) - HOUR, note_at=NOW - days(10))
    young_call = await seed_call(store_url, "young", NOW - days(30) + HOUR)
    note_ids = await insert(
        store_url,
        [
            (notes, note_row(young_call, NOW - days(20) - HOUR)),
            (notes, note_row(young_call, NOW - days(20) + HOUR)),
        ],
    )
    audit_ids = await insert(
        store_url, [(audit, audit_row(NOW - days(60) - HOUR)), (audit, audit_row(NOW - days(60) + HOUR))]
    )
    outbox_ids = await insert(
        store_url,
        [
            (
                sink_outbox,
                outbox_row(1, NOW - days(20) - HOUR, NOW - days(19)),
            ),  # a note's copy past notes_days
            (sink_outbox, outbox_row(2, NOW - days(20) + HOUR, NOW - days(19))),  # delivered, younger
            (sink_outbox, outbox_row(3, NOW - days(20) + HOUR, None)),  # pending, younger: it may still go
        ],
    )

    report = await store.purge_expired(POLICY, NOW, holder="instance-a")

    assert report is not None
    tables = await dump(store_url)
    assert [r["id"] for r in tables["calls"]] == [young_call]
    for child in ("call_events", "call_recipients", "suggestion_feedback"):
        assert [r["call_pk"] for r in tables[child]] == [young_call], child
    assert [r["id"] for r in tables["notes"]] == [note_ids[1]]
    assert [r["id"] for r in tables["audit"]] == [audit_ids[1]]
    copies = {r["id"]: r for r in tables["sink_outbox"]}
    assert sorted(copies) == outbox_ids  # the sent copy past notes_days keeps only its key …
    assert [copies[i]["payload"] for i in outbox_ids] == [{}, {"notes": "n"}, {"notes": "n"}]
    assert copies[outbox_ids[0]]["caller_e164"] is None  # … not the note, not the number
    assert report.counts == {
        "calls": 1,
        "call_events": 1,
        "call_recipients": 1,
        "suggestion_feedback": 1,
        "notes": 2,  # the old call's own note went with it, then one note past notes_days
        "audit": 1,
        "sink_outbox": 1,
    }
    assert old_call not in [r["call_pk"] for r in tables["notes"]]


async def test_zero_days_keep_everything_forever(store: Store, store_url: str) -> None:
    """A policy of zeros (retention omitted) deletes nothing, however old the rows are."""
    await seed_call(store_url, "ancient", NOW - days(5000), note_at=NOW - days(5000))
    await insert(
        store_url, [(audit, audit_row(NOW - days(5000))), (sink_outbox, outbox_row(1, NOW, NOW - days(5000)))]
    )
    before = await dump(store_url)

    report = await store.purge_expired(RetentionPolicy(), NOW, holder="instance-a")

    assert report is not None and report.total == 0
    assert await dump(store_url) == before


async def test_purge_runs_in_bounded_batches(store: Store, store_url: str) -> None:
    """Ten old calls purged three at a time: four transactions of calls (3+3+3+1), two of the sink outbox.

    (One for delivered entries, one for the notes' copies past their age.)
    """
    for n in range(10):
        await seed_call(store_url, f"old-{n}", NOW - days(31))
    report = await store.purge_expired(RetentionPolicy(calls_days=30), NOW, holder="instance-a", batch_rows=3)
    assert report is not None
    assert report.counts["calls"] == 10
    assert report.max_batch_rows == 3
    assert report.batches == 6
    assert (await dump(store_url))["calls"] == []


async def test_a_second_instance_does_not_purge_while_the_first_holds_the_lease(store_url: str) -> None:
    """While another instance holds the purge lease nothing is purged; once its lease has run out, it is."""
    first, second = await Store.open(store_url), await Store.open(store_url)
    try:
        await seed_call(store_url, "old", NOW - days(31))
        await take_lease(store_url, "instance-a", NOW)

        assert await second.purge_expired(POLICY, NOW, holder="instance-b") is None
        assert len((await dump(store_url))["calls"]) == 1

        later = NOW + timedelta(seconds=LEASE_S + 1)  # instance-a crashed: its lease runs out
        report = await second.purge_expired(POLICY, later, holder="instance-b")
        assert report is not None and report.counts["calls"] == 1
        assert await first.purge_expired(POLICY, later, holder="instance-a") is not None  # released again
    finally:
        await first.close()
        await second.close()


async def test_two_purgers_at_once_one_purges(store_url: str) -> None:
    """Two instances start a purge at the same moment: one purges everything, the other deletes nothing."""
    stores = [await Store.open(store_url), await Store.open(store_url)]
    try:
        for n in range(20):
            await seed_call(store_url, f"old-{n}", NOW - days(31))
        reports = await asyncio.gather(
            *(
                s.purge_expired(RetentionPolicy(calls_days=30), NOW, holder=f"i-{i}", batch_rows=2)
                for i, s in enumerate(stores)
            )
        )
        # The other either stood aside (None: the lease was held) or came after the first had
        # finished and found nothing left; never do both delete part of the rows.
        done = [r for r in reports if r is not None and r.total > 0]
        assert len(done) == 1, reports
        assert done[0].counts["calls"] == 20
        assert (await dump(store_url))["calls"] == []
    finally:
        for s in stores:
            await s.close()


async def take_lease(url: str, holder: str, now: datetime) -> None:
    """Another instance's purge in progress: its lease row, taken through its own connection."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            sql = RetentionSQL(engine.dialect.name)
            assert await conn.run_sync(lambda c: sql.take_lease(c, holder, now, LEASE_S))
    finally:
        await engine.dispose()


async def test_a_notes_copy_waiting_for_a_sink_lives_no_longer_than_the_note(
    store: Store, store_url: str
) -> None:
    """A sink entry (the note's text and the caller's number) goes once older than notes_days, sent or not.

    A sink that is down for good, or removed from the config, must not keep
    the caller's number and notes past the age the company keeps notes for;
    nor may a delivered copy outlive the note until the audit's longer age.
    """
    outbox_ids = await insert(
        store_url,
        [
            (sink_outbox, outbox_row(1, NOW - days(20) - HOUR, None)),  # pending, past notes_days
            (sink_outbox, outbox_row(2, NOW - days(20) - HOUR, NOW - days(19))),  # delivered, same age
            (sink_outbox, outbox_row(3, NOW - days(20) + HOUR, None)),  # pending, younger: it may still go
        ],
    )

    report = await store.purge_expired(POLICY, NOW, holder="instance-a")

    assert report is not None and report.counts == {"sink_outbox": 2}
    left = sorted((await dump(store_url))["sink_outbox"], key=lambda r: r["id"])
    # each copy past the note's age keeps only its key (a later note must not reuse its version) …
    assert [(r["id"], r["payload"], r["caller_e164"]) for r in left] == [
        (outbox_ids[0], {}, None),
        (outbox_ids[1], {}, None),
        (outbox_ids[2], {"notes": "n"}, "+14155550132"),
    ]
    assert (
        left[0]["delivered_at"] is not None and left[0]["last_error"] == GIVEN_UP
    )  # … the unsent one says so
    only_calls = await store.purge_expired(RetentionPolicy(calls_days=1), NOW + days(2), holder="instance-a")
    assert only_calls is not None and only_calls.counts == {"sink_outbox": 3}  # 2 keys end, 1 copy is blanked
    (last,) = (await dump(store_url))["sink_outbox"]
    assert (last["id"], last["payload"], last["caller_e164"]) == (
        outbox_ids[2],
        {},
        None,
    )  # no copy outlives its call
