"""A note or feedback sent to another instance right after the pop reaches the call (written behind)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.support.service import api, event_body, make, post_event, running, sharing_the_tests_loop
from tests.support.tokens import token_for


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"


async def test_a_note_right_after_the_pop_on_the_other_instance_is_saved(
    store_url: str, redis_url: str
) -> None:
    """Ringing taken by A, note and feedback sent at once to B: 201 both, not 404 "no call".

    The call record is written behind A's 202; B only waited for its own
    pending records, so for the first tens of milliseconds (longer under
    load) B answered 404 and a host application's note was lost.
    """
    settings = make(store_url, broker={"url": redis_url})
    token = token_for(settings, "agent-1")
    answer = {"section": "accounting", "product": "SKU-1", "outcome": "accepted"}
    shared = sharing_the_tests_loop(settings)
    async with running(shared) as a, running(shared) as b:
        results = []
        for n in range(3):
            status, _ = await post_event(a, event_body(f"c-fast-{n}", agent="agent-1"))
            assert status == 202
            note, fb = await asyncio.gather(
                api(b, "POST", f"/api/calls/c-fast-{n}/notes", token, json={"notes": "at once"}),
                api(b, "POST", f"/api/calls/c-fast-{n}/feedback", token, json=answer),
            )
            results.append((note[0], fb[0]))
        status, unknown = await api(b, "POST", "/api/calls/c-never/notes", token, json={"notes": "x"})
    assert results == [(201, 201)] * 3
    assert (status, unknown["error"]["code"]) == (404, "not_found")
