"""`/api/lookup?number=+44…` typed as is (a browser's address bar, curl) looks up the number with its `+`.

Form decoding reads a literal `+` in a query as a space, so
`number=+442079460018` arrived as `" 442079460018"`, was read as a US
number and answered `valid: false`, while a US number happened to work.
A number never starts with a space; a leading `+` sent as such is kept.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.raw_http import raw_exchange, request_head
from tests.support.service import make, running
from tests.support.tokens import token_for


@pytest.mark.parametrize(
    ("query", "e164"),
    [
        ("number=+442079460018", "+442079460018"),  # the + typed as is
        ("number=%2B442079460018", "+442079460018"),  # the + encoded
        ("number=%28415%29+555-0132", "+14155550132"),  # a form-encoded space inside stays a space
        ("attr_x=1&number=+33142685300", "+33142685300"),  # not the first parameter
    ],
)
async def test_a_leading_plus_is_kept(tmp_path: Path, query: str, e164: str) -> None:
    """The caller's E.164 is the number typed, whether its `+` was encoded or not."""
    settings = make(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    headers = {"Authorization": f"Bearer {token_for(settings, 'agent-3')}"}
    async with running(settings) as base:
        status, _, body = await raw_exchange(base, request_head("GET", f"/api/lookup?{query}", headers), [])
    assert status == 200, body
    assert json.loads(body)["caller"]["e164"] == e164
