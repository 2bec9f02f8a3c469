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
    for call_id in ("c-7", "c-8"):  # queued together: the writer takes the first and waits for more
        recorder.record(CallEvent(provider="pbx", call_id=call_id, event=EventKind.RINGING), "+14155550132")
    await recorder.close(timeout_s=0.2)  # its 0.2 s of flushing is the writer's turn to take c-7 and gather
    assert recorder.dropped == 2
    assert await store.recent_calls(None, 10) == []
