"""Erasure on real SQLite and PostgreSQL: no row of the caller is left in any table, and it is audited."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from screenpop.model import CallEvent, EventKind
from screenpop.store import ErasureTarget, FeedbackWrite, Store
from screenpop.store.schema import sink_outbox
from tests.support.store_rows import dump, insert, rows_mentioning, text_of

ADA, BOB = "+14155550132", "+14155550199"
ADA_CALLS = ("ada-1", "ada-2")
NOW = datetime(2026, 12, 4, 3, 0, tzinfo=UTC)


def summary(customer_id: str) -> dict[str, Any]:
    """A stored card summary as ``card.card_summaries`` keeps it: one view per role."""
    customer = {"name": "Someone", "ids": {"accounting": customer_id}, "matches": 1, "conflicts": []}
    return {"views": [{"hidden": [], "summary": {"customer": customer, "badges": [], "sections": {}}}]}


async def a_call(store: Store, store_url: str, call_id: str, number: str, customer_id: str) -> None:
    """A call with all it leaves behind: events, recipient, summary, note, feedback, audit, sink entries."""
    await store.record_event(CallEvent("pbx", call_id, EventKind.RINGING, from_raw=number), number)
    await store.record_event(CallEvent("pbx", call_id, EventKind.ANSWERED, agent="agent-1"), number)
    await store.add_recipients("pbx", call_id, ["agent-1"])
    await store.save_summary("pbx", call_id, summary(customer_id), 1)
    await store.save_note(call_id, "agent-1", "resolved", f"called about {call_id}", False)
    await store.save_feedback(call_id, "agent-1", FeedbackWrite("insight", "SKU-1", "accepted"))
    store.audit_card("agent-1", call_id, 1, ["accounting"], provider="pbx")
    pk = next(r["id"] for r in (await dump(store_url))["calls"] if r["call_id"] == call_id)
    await insert(
        store_url,
        [
            (sink_outbox, outbox(pk, call_id, number, customer_id, 1, None)),
            (sink_outbox, outbox(pk, call_id, number, customer_id, 2, NOW)),
        ],
    )


def outbox(
    pk: int, call_id: str, number: str, customer_id: str, version: int, delivered: datetime | None
) -> dict[str, Any]:
    return {
        "sink": "crm",
        "call_pk": pk,
        "provider": "pbx",
        "call_id": call_id,
        "version": version,
        "idempotency_key": f"{call_id}:{version}",
        "caller_e164": number,
        "customer_ids": {"accounting": customer_id},
        "payload": {"call_id": call_id, "e164": number, "notes": "n"},
        "created_at": NOW,
        "next_attempt_at": NOW,
        "delivered_at": delivered,
    }


async def two_callers(store: Store, store_url: str) -> None:
    """Ada (two calls, a supervisor lookup, a sink entry whose call is gone already) and Bob (one call)."""
    for call_id in ADA_CALLS:
        await a_call(store, store_url, call_id, ADA, "A-1001")
    await a_call(store, store_url, "bob-1", BOB, "A-2002")
    await store.audit_lookup("agent-3", ADA, ["accounting"])
    await store.audit_lookup("agent-3", BOB, ["accounting"])
    await insert(store_url, [(sink_outbox, outbox(424242, "ada-gone", ADA, "A-1001", 1, None))])
    await store.flush_audit()


def bobs(tables: dict[str, list[dict[str, Any]]]) -> list[str]:
    return sorted(rows_mentioning(tables, [BOB, "bob-1", "A-2002"]))


async def test_erase_by_number_leaves_no_row_of_the_caller_in_any_table(store: Store, store_url: str) -> None:
    """No table of the schema holds a row naming Ada's number, calls or customer id; Bob's rows all stay."""
    await two_callers(store, store_url)
    before = await dump(store_url)
    assert rows_mentioning(before, [ADA, *ADA_CALLS]), "the test must start with Ada's rows in the store"

    counts, found, _ = await store.erase(ErasureTarget(number=ADA))
    await store.audit_erasure("dpo", counts)

    after = await dump(store_url)
    assert rows_mentioning(after, [ADA, *ADA_CALLS, "ada-gone", "A-1001"]) == []
    assert bobs(after) == bobs(before)
    assert sorted(c for _, _, c in found) == list(ADA_CALLS)
    ada_audit = rows_mentioning({"audit": before["audit"]}, [ADA, *ADA_CALLS])
    assert counts == {
        "calls": 2,
        "call_events": 4,
        "call_recipients": 2,
        "notes": 2,
        "suggestion_feedback": 2,
        "audit": len(ada_audit),
        "sink_outbox": 5,
    }
    assert len(ada_audit) >= 3  # a card row per call and the supervisor's lookup of the number


async def test_erasure_is_audited_without_the_identity_and_is_idempotent(
    store: Store, store_url: str
) -> None:
    """Each run audits one 'erase' row (by whom, counts, never the number); a second run removes nothing."""
    await two_callers(store, store_url)
    first, _, _ = await store.erase(ErasureTarget(number=ADA))
    await store.audit_erasure("dpo", first)
    second, found, _ = await store.erase(ErasureTarget(number=ADA))
    await store.audit_erasure("dpo", second)

    assert found == [] and set(second.values()) == {0}
    erasures = [r for r in (await dump(store_url))["audit"] if r["action"] == "erase"]
    assert [r["agent_id"] for r in erasures] == ["dpo", "dpo"]
    assert [r["sections"] for r in erasures] == [first, second]
    assert all(r["number"] is None and r["call_id"] is None for r in erasures)
    assert not any(needle in text_of(r) for r in erasures for needle in (ADA, "ada-1", "ada-2", "A-1001"))


async def test_erase_by_customer_removes_the_calls_whose_card_named_that_customer(
    store: Store, store_url: str
) -> None:
    """--customer accounting:A-1001 removes calls whose summary names it, from any number, and sink rows."""
    await two_callers(store, store_url)
    await a_call(store, store_url, "ada-other-phone", "+14155550177", "A-1001")
    before = await dump(store_url)

    counts, found, left = await store.erase(ErasureTarget(connector="accounting", customer_id="A-1001"))

    after = await dump(store_url)
    assert sorted(c for _, _, c in found) == [*ADA_CALLS, "ada-other-phone"]
    assert rows_mentioning(after, ["A-1001", *ADA_CALLS, "ada-other-phone", "ada-gone"]) == []
    assert bobs(after) == bobs(before)
    assert counts["calls"] == 3
    assert left == {"calls": 0, "lookups": 1}  # the supervisor's lookup of Ada's number: erase --number


async def test_erase_by_customer_counts_what_is_left_of_the_numbers_they_called_from(
    store: Store, store_url: str
) -> None:
    """A call from the customer's number whose card did not name them, and lookups of it, are counted, kept.

    The number may be shared (a switchboard, a family phone), so `--customer`
    does not erase it; the counts tell IT that `--number` is needed when the
    number is the customer's own.
    """
    await two_callers(store, store_url)
    await a_call(store, store_url, "ada-unnamed", ADA, "")  # the lookup found nobody that time
    await store.audit_lookup("agent-3", ADA, ["accounting"])
    await store.flush_audit()

    _, found, left = await store.erase(ErasureTarget(connector="accounting", customer_id="A-1001"))

    assert sorted(c for _, _, c in found) == list(ADA_CALLS)
    assert left == {"calls": 1, "lookups": 2}
    _, _, by_number = await store.erase(ErasureTarget(number=ADA))
    assert by_number == {}


async def test_erase_by_number_finds_calls_stored_without_their_e164(store: Store, store_url: str) -> None:
    """Calls whose row kept only the raw number (first seen answered or ended, or an unparsed number) go too.

    The service records ``caller_e164`` NULL for a call whose first event is
    not a ring (after a restart, a lost ring webhook, an erased call's late
    ``ended``), and for a number the phone library cannot read; such rows
    keep the caller's number as the phone system sent it.
    """
    for call_id, raw, kind in (
        ("ada-late", "(415) 555-0132", EventKind.ANSWERED),
        ("ada-tel", "tel:+14155550132", EventKind.ENDED),
        ("ext-1", "ext. 4711", EventKind.ENDED),
        ("bob-late", "(415) 555-0199", EventKind.ENDED),
    ):
        await store.record_event(CallEvent("pbx", call_id, kind, from_raw=raw, agent="agent-1"), None)
    await store.save_note("ada-late", "agent-1", "resolved", "late note", False)
    # an agent dialled Ada: the row keeps the agent's line as caller, Ada as the number dialled
    dialled = CallEvent(
        "pbx", "ada-out", EventKind.ANSWERED, from_raw="201", to="415 555 0132", agent="agent-1"
    )
    await store.record_event(dialled, None)

    us = "US"
    ada, _, _ = await store.erase(ErasureTarget(number=ADA, default_region=us))
    short, found, _ = await store.erase(ErasureTarget(number="4711", default_region=us))

    left = [r["call_id"] for r in (await dump(store_url))["calls"]]
    assert left == ["bob-late"]
    assert (ada["calls"], ada["notes"], short["calls"]) == (3, 1, 1)
    assert [c for _, _, c in found] == ["ext-1"]


async def test_erase_takes_audit_rows_of_the_call_from_its_provider_or_from_before_providers_were_kept(
    store: Store, store_url: str
) -> None:
    """An audit row naming ada-1 of pbx, or ada-1 with no provider (before 0002), goes; ada-1 of sip stays."""
    await a_call(store, store_url, "ada-1", ADA, "A-1001")
    store.audit_card("agent-1", "ada-1", 2, ["accounting"], provider=None)
    store.audit_card("agent-1", "ada-1", 3, ["accounting"], provider="sip")
    await store.flush_audit()

    await store.erase(ErasureTarget(number=ADA))

    left = [(r["provider"], r["call_id"], r["version"]) for r in (await dump(store_url))["audit"]]
    assert left == [("sip", "ada-1", 3)]
