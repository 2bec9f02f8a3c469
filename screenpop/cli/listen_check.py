"""``check``'s ``server`` row: can ``serve`` listen where the config says, on this machine?

``serve`` refuses to start on an address that is not this machine's
(``server.host`` copied from another server's config) or that does not
resolve; ``check`` passed such a config, so the first anyone heard of it
was a service that would not start.  A port that is already taken is
only a warning: the usual reason is the running screenpop whose config
is being checked.
"""

from __future__ import annotations

import errno
import socket

from screenpop.config import Settings

LISTENING = "server"


def listen_row_parts(settings: Settings) -> tuple[bool, bool, str]:
    """(ok, warning, detail) for binding ``server.host``:``server.port`` as ``serve`` would."""
    host, port = settings.server.host, settings.server.port
    shown = f"{host or '*'}:{port}"
    try:
        # as asyncio's create_server: an empty host is every interface, a name each address it has
        addresses = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        return False, False, f"cannot listen on {shown}: the host does not resolve ({_reason(exc)})"
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as serve's does
            try:
                probe.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    return True, True, f"{shown} is in use (a running screenpop, or another program)"
                return False, False, f"cannot listen on {shown}: {_reason(exc)}"
    return True, False, f"{shown} free to listen on"


def _reason(exc: BaseException) -> str:
    return str(exc.strerror if isinstance(exc, OSError) and exc.strerror else exc)
