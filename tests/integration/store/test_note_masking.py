"""Card numbers in notes never reach the store's tables, on real SQLite and real PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from screenpop.model import CallEvent, EventKind
from screenpop.store import Store

PAN = "4111 1111 1111 1111"
PAN_DIGITS = "4111111111111111"
DASHED = "5555-5555-5555-4444"
DASHED_DIGITS = "5555555555554444"


async def ring(store: Store, call_id: str, number: str = "+14155550132") -> None:
    """A call that rang, with its card delivered to agent-1."""
    event = CallEvent(provider="pbx", call_id=call_id, event=EventKind.RINGING, from_raw=number)
    await store.record_event(event, number)
    await store.add_recipients("pbx", call_id, ("agent-1",))


async def every_stored_value(url: str) -> str:
    """Every row of every table of the store, as one text, read through a separate engine."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda sync: sa.inspect(sync).get_table_names())
            dumped = []
            for name in tables:
                result = await conn.execute(sa.text(f'SELECT * FROM "{name}"'))  # noqa: S608 (names from the schema)
                dumped += [repr(tuple(row)) for row in result.all()]
            return "\n".join(dumped)
    finally:
        await engine.dispose()


def read_store_files(folder: Path) -> bytes:
    """The bytes of the SQLite file and whatever journal or WAL it left beside it."""
    return b"".join(p.read_bytes() for p in sorted(folder.iterdir()) if p.name.startswith("store.db"))


def digits_of(text: str) -> str:
    return "".join(c for c in text if c.isdecimal())


async def test_a_card_number_in_a_note_is_stored_and_answered_masked(store: Store, store_url: str) -> None:
    """The answer, the call list, the history and every table hold only the last four of each card number."""
    await ring(store, "c-1")
    saved = await store.save_note("c-1", "agent-1", f"card {DASHED}", f"paid with {PAN}, order 12345", False)
    assert saved["masked"] == {"card_numbers": 2}
    assert saved["notes"] == "paid with **** **** **** 1111, order 12345"
    assert saved["disposition"] == "card ****-****-****-4444"
    [row] = await store.recent_calls("agent-1", 10)
    assert [n["notes"] for n in row["notes"]] == [saved["notes"]]
    await ring(store, "c-2")
    [earlier] = await store.history("+14155550132", 5, exclude_call_id="c-2")
    assert (earlier.disposition, earlier.notes) == (saved["disposition"], saved["notes"])
    stored = await every_stored_value(store_url)
    assert "**** **** **** 1111" in stored  # the dump really holds the notes
    for digits in (PAN_DIGITS, DASHED_DIGITS):
        assert digits[:12] not in digits_of(stored)


async def test_a_note_without_a_card_number_is_stored_as_typed(store: Store) -> None:
    """An order number failing the Luhn check and a phone number stay as typed, and nothing is counted."""
    await ring(store, "c-1")
    text = "order 4111111111111112, call back on +1 415 555 0132"
    saved = await store.save_note("c-1", "agent-1", "resolved", text, False)
    assert (saved["notes"], saved["masked"]) == (text, {"card_numbers": 0})


async def test_the_sqlite_file_never_holds_the_card_number(tmp_path: Path) -> None:
    """The bytes of the SQLite store (and its journal) never contain the card number's digits."""
    path = tmp_path / "store.db"
    opened = await Store.open(f"sqlite+aiosqlite:///{path}")
    try:
        await ring(opened, "c-1")
        await opened.save_note("c-1", "agent-1", None, f"card {PAN_DIGITS} exp 12/29", False)
    finally:
        await opened.close()
    raw = await asyncio.to_thread(read_store_files, tmp_path)
    assert b"************1111 exp 12/29" in raw
    assert PAN_DIGITS[:12].encode() not in raw


async def test_a_card_number_typed_with_runs_of_separators_reaches_no_table(
    store: Store, store_url: str
) -> None:
    """Two spaces, " - ", dots or a line break between groups: every table keeps only the last four."""
    await ring(store, "c-1")
    typed = "a 4111  1111  1111  1111 b 5555 - 5555 - 5555 - 4444 c 3782.822463.10005 d 6011 1111\n1111 1117"
    saved = await store.save_note("c-1", "agent-1", "resolved", typed, False)
    assert saved["masked"] == {"card_numbers": 4}
    assert (
        saved["notes"]
        == "a ****  ****  ****  1111 b **** - **** - **** - 4444 c ****.******.*0005 d **** ****\n**** 1117"
    )
    stored = digits_of(await every_stored_value(store_url))
    for digits in ("4111111111111111", "5555555555554444", "378282246310005", "6011111111111117"):
        assert digits[:11] not in stored
