"""Why a delivery failed, in words that carry no secret and none of the note."""

from __future__ import annotations

import aiohttp

from screenpop.errors import Unavailable
from screenpop.sink_api import SinkRefused
from screenpop.sinks.reasons import failure_reason


def _raised_from(outer: Exception, inner: BaseException) -> Exception:
    try:
        raise outer from inner
    except Exception as exc:
        return exc


def test_a_refused_connection_is_named_by_its_errno_not_its_text() -> None:
    """A connection error says `connection refused`, not the URL with its password that aiohttp quotes."""
    key = aiohttp.client_reqrep.ConnectionKey("u:pw@h", 1, False, True, None, None, None)
    inner = aiohttp.ClientConnectorError(key, ConnectionRefusedError(111, "Connect call failed"))
    reason = failure_reason(_raised_from(Unavailable("unreachable"), inner))
    assert reason == "connection refused"


def test_a_disconnect_without_errno_keeps_the_sinks_own_word() -> None:
    """A server that hung up says `unreachable` (the kind's word), not a class name."""
    reason = failure_reason(_raised_from(Unavailable("unreachable"), aiohttp.ServerDisconnectedError()))
    assert reason == "unreachable"


def test_a_refusal_and_a_timeout_say_so() -> None:
    """A refusal keeps its status; a timeout anywhere in the chain is `timed out`."""
    assert failure_reason(SinkRefused("refused: HTTP 422")) == "refused: HTTP 422"
    assert failure_reason(_raised_from(Unavailable("unreachable"), TimeoutError())) == "timed out"
