"""A call record the writer has taken from its queue is never lost unseen when the writer stops."""

from __future__ import annotations

import pytest

import screenpop.store.call_records as call_records
from screenpop.model import CallEvent, EventKind
from screenpop.store import CallRecorder, Store


async def test_a_shutdown_while_a_batch_gathers_counts_it_as_given_up(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch taken from the queue was neither written nor counted when the writer stopped."""
    monkeypatch.setattr(call_records, "LINGER_S", 60.0)  # the writer is still gathering when it stops
    recorder = CallRecorder(store)
    recorder.start()
    ringing = CallEvent(provider="pbx", call_id="c-7", event=EventKind.RINGING)
    recorder.record(ringing, "+14155550132", ["ada"])
    await recorder.close(timeout_s=0.2)
    assert recorder.dropped == 1
