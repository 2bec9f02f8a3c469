"""This instance's agent websockets.

``hub``: the ``Hub``, who may connect and the life of each socket (hello,
welcome and replay, refresh, reload, shutdown).  ``agent_socket``: one tab's
frames, in order, written by a sender that exists only while frames wait.
``outlet``: what all sockets share (the view a role gets, each body encoded
once, the audit).  ``expiries``: every token's ``exp`` on one timer.
``live_calls``: what a tab without a resume position is sent of the window.
"""

from screenpop.hub.agent_socket import QUEUE_LIMIT, AgentSocket, CardOrder
from screenpop.hub.expiries import Expiries
from screenpop.hub.hub import (
    CLOSE_NOT_HELLO,
    CLOSE_ORIGIN,
    CLOSE_RESTART,
    CLOSE_TOO_SLOW,
    CLOSE_UNAUTHORIZED,
    HELLO_TIMEOUT_S,
    Hub,
)
from screenpop.hub.outlet import AuditCard, Outlet, frame_bytes

__all__ = [
    "CLOSE_NOT_HELLO",
    "CLOSE_ORIGIN",
    "CLOSE_RESTART",
    "CLOSE_TOO_SLOW",
    "CLOSE_UNAUTHORIZED",
    "HELLO_TIMEOUT_S",
    "QUEUE_LIMIT",
    "AgentSocket",
    "AuditCard",
    "CardOrder",
    "Expiries",
    "Hub",
    "Outlet",
    "frame_bytes",
]
