"""The hub writes frames as bytes from a body encoded once: they must equal the broker's frame, encoded."""

from __future__ import annotations

import json

import pytest

from screenpop.broker import body_tail, frame_with_id
from screenpop.hub import frame_bytes

BODIES = [
    '{"type":"card","call_id":"c-1","version":2,"card":{"caller":{"name":"Zoë Ørsted"}}}',
    '{ "type": "call", "call_id": "c-1", "status": "answered" }',
    "{}",
    "{ \n }",
    '{"type":"card","note":"\\u2028 and \\"quotes\\""}',
]


@pytest.mark.parametrize("body", BODIES)
def test_frame_bytes_are_the_brokers_frame_encoded(body: str) -> None:
    """Any JSON object body gets the same frame, byte for byte, as ``frame_with_id`` then UTF-8."""
    event_id = "1733300000000-7"
    frame = frame_bytes(event_id, body_tail(body).encode())
    assert frame == frame_with_id(event_id, body).encode()
    decoded = json.loads(frame)
    assert next(iter(decoded)) == "event_id"
    assert decoded == {"event_id": event_id, **json.loads(body)}
