"""The Redis URLs ``broker.url`` accepts, read without connecting: ``redis://``, ``rediss://``, ``redis+sentinel://``.

``redis+sentinel://[[user]:password@]host:port[,host:port…]/SERVICE_NAME[/db]``
names the sentinels (at least one; list them all, so that losing one does
not lose the way to the primary), the service they watch (``sentinel
monitor SERVICE_NAME …``) and the database number (0 when left out).  The
password (percent-encoded) is the Redis servers' own; the sentinels are
asked without one.  Parsing lives here, in the pure config layer, so that
the schema can refuse a malformed URL with a clear sentence before anything
tries to connect; ``screenpop.broker.redis_url`` builds the client from it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

SENTINEL_SCHEME = "redis+sentinel://"
SENTINEL_FORM = "redis+sentinel://[[user]:password@]host:port[,host:port…]/SERVICE_NAME[/db]"
_HOST_PORT = re.compile(r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(?P<port>[0-9]{1,5})$")
_SERVICE = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


@dataclass(frozen=True)
class SentinelUrl:
    """Where the sentinels are, which service to ask them for, and how to log in to its primary."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = None


def is_sentinel_url(url: str) -> bool:
    return url.startswith(SENTINEL_SCHEME)


def parse_sentinel_url(url: str) -> SentinelUrl:
    """Read a ``redis+sentinel://`` URL; ``ValueError`` says what is wrong and shows the form."""
    if not is_sentinel_url(url):
        raise ValueError(f"a Sentinel URL starts with {SENTINEL_SCHEME}; expected {SENTINEL_FORM}")
    rest = url[len(SENTINEL_SCHEME) :]
    netloc, _, path = rest.partition("/")
    auth, at, hosts = netloc.rpartition("@")
    username, password = _credentials(auth) if at else (None, None)
    sentinels = tuple(_host_port(item) for item in hosts.split(","))
    service, db = _service_and_db(path)
    return SentinelUrl(sentinels, service, db, username, password)


def _credentials(auth: str) -> tuple[str | None, str | None]:
    user, colon, password = auth.partition(":")
    if not colon:
        return None, unquote(user) or None  # ``secret@host`` is read as a password, as redis-py does
    return unquote(user) or None, unquote(password) or None


def _host_port(item: str) -> tuple[str, int]:
    found = _HOST_PORT.match(item.strip())
    if found is None:
        shown = item.strip() or "(empty)"
        raise ValueError(f"{shown!r} is not a sentinel's host:port; expected {SENTINEL_FORM}")
    port = int(found["port"])
    if not 1 <= port <= 65535:
        raise ValueError(f"sentinel port {port} is out of range; expected {SENTINEL_FORM}")
    return found["host"].strip("[]"), port


def _service_and_db(path: str) -> tuple[str, int]:
    parts = path.strip("/").split("/") if path.strip("/") else []
    if not parts or not _SERVICE.match(parts[0]):
        raise ValueError(f"the Sentinel URL names no service (the primary's name); expected {SENTINEL_FORM}")
    if len(parts) > 2 or (len(parts) == 2 and not parts[1].isdigit()):
        raise ValueError(f"only a database number may follow the service name; expected {SENTINEL_FORM}")
    return parts[0], int(parts[1]) if len(parts) == 2 else 0
